//! Where one input ends: an input continues onto the next line while a bracket or a string
//! literal is still open (docs/language.md, "The REPL").
//!
//! Brackets inside string literals and `//` comments do not count. A closing bracket without
//! an opener does not keep the input open (the parser reports it).

/// Bracket and string state of the text seen so far; fed line by line, so a reader never
/// rescans what it has already seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scanner {
    /// Net bracket depth (`(`, `[`, `{` open; `)`, `]`, `}` close).
    depth: i64,
    /// Inside a string literal (which may span lines).
    in_string: bool,
    /// The last byte fed was the `\` of an escape inside a string.
    escape: bool,
}

impl Scanner {
    /// Feeds more text (any split point, even inside a line).
    pub fn feed(&mut self, text: &[u8]) {
        let mut i = 0;
        while i < text.len() {
            let c = text[i];
            i += 1;
            if self.in_string {
                if self.escape {
                    self.escape = false;
                } else if c == b'\\' {
                    self.escape = true;
                } else if c == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'/' if text.get(i) == Some(&b'/') => {
                    while i < text.len() && text[i] != b'\n' {
                        i += 1;
                    }
                }
                b'(' | b'[' | b'{' => self.depth += 1,
                b')' | b']' | b'}' => self.depth -= 1,
                _ => {}
            }
        }
    }

    /// No bracket or string is open: the input can be processed.
    pub fn is_complete(&self) -> bool {
        self.depth <= 0 && !self.in_string
    }
}

/// Whether `text` has no open bracket or string left, so it can be processed.
pub fn is_complete(text: &str) -> bool {
    let mut s = Scanner::default();
    s.feed(text.as_bytes());
    s.is_complete()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_brackets_continue_the_input() {
        assert!(!is_complete("fn f() {"));
        assert!(!is_complete("let xs = [1,"));
        assert!(is_complete("fn f() { 1 }"));
        assert!(is_complete("1 + 2"));
    }

    #[test]
    fn strings_and_comments_do_not_count() {
        assert!(is_complete("print(\"{\")"));
        assert!(is_complete("let x = 1; // {"));
        assert!(!is_complete("fn f() { // }"));
        assert!(is_complete("print(\"\\\"{\")"));
    }

    #[test]
    fn an_open_string_continues_the_input() {
        assert!(!is_complete("print(\"two\n"));
        assert!(is_complete("print(\"two\nlines\")\n"));
        assert!(!is_complete("let s = \"a\\\"\n"));
        // Fed in pieces, the state carries over.
        let mut s = Scanner::default();
        s.feed(b"print(\"a {\n");
        assert!(!s.is_complete());
        s.feed(b"} b\")\n");
        assert!(s.is_complete());
    }

    #[test]
    fn stray_closer_does_not_hang() {
        assert!(is_complete("}"));
    }
}
