//! Where one input ends: an input continues onto the next line only while a bracket is open.
//!
//! Brackets inside string literals and `//` comments do not count. A closing bracket without
//! an opener does not keep the input open (the parser reports it).

/// Whether `text` has no open bracket left, so it can be processed.
pub fn is_complete(text: &str) -> bool {
    depth(text) <= 0
}

/// Net bracket depth of `text` (`(`, `[`, `{` open; `)`, `]`, `}` close).
pub fn depth(text: &str) -> i64 {
    let mut depth = 0i64;
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => in_string = false,
                // A string never spans lines in practice: an unterminated one must not swallow
                // the rest of the session.
                '\n' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
    }
    depth
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
    fn stray_closer_does_not_hang() {
        assert!(is_complete("}"));
    }
}
