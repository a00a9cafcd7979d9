//! Source text -> spanned tokens (stage 1 of the front end).
//!
//! The lexer never fails as a whole: a character that starts no token is reported and skipped,
//! a bad escape is reported and the string kept, so the parser always gets a token stream and
//! every problem in a file is reported in one go.
//!
//! It is written by hand, one pass over the bytes: the chumsky lexer it replaced spent most of
//! the front end's time on backtracking between alternatives. That lexer is kept as the
//! specification in this module's tests (`reference`), and a property test checks that both
//! give the same tokens, spans and diagnostics for arbitrary input.

use crate::{Diagnostic, Span};
use chumsky::span::SimpleSpan;
use std::fmt;

/// One token of the language.
#[derive(Clone, Debug)]
pub enum Token<'src> {
    /// An identifier (anything that is not a keyword).
    Ident(&'src str),
    /// An integer literal, underscores removed. Kept wider than `i64` so the parser can fold
    /// `-9223372036854775808` and report out-of-range literals itself; literals too large for
    /// `u128` saturate (they are out of range either way).
    Int(u128),
    /// A float literal.
    Float(f64),
    /// A string literal with its escapes decoded: bytes, since `\xHH` may make it non-UTF-8.
    Str(Vec<u8>),
    /// A keyword (`fn`, `let`, ...), including `true` and `false`.
    Kw(Kw),
    /// An operator or punctuation, as written (`+`, `+=`, `..`, `(`, ...).
    Punct(&'static str),
}

/// The reserved words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kw {
    /// `fn`
    Fn,
    /// `let`
    Let,
    /// `global`
    Global,
    /// `struct`
    Struct,
    /// `loop`
    Loop,
    /// `if`
    If,
    /// `else`
    Else,
    /// `while`
    While,
    /// `for`
    For,
    /// `in`
    In,
    /// `break`
    Break,
    /// `continue`
    Continue,
    /// `return`
    Return,
    /// `true`
    True,
    /// `false`
    False,
}

impl Kw {
    /// The keyword as written.
    pub fn as_str(self) -> &'static str {
        match self {
            Kw::Fn => "fn",
            Kw::Let => "let",
            Kw::Global => "global",
            Kw::Struct => "struct",
            Kw::Loop => "loop",
            Kw::If => "if",
            Kw::Else => "else",
            Kw::While => "while",
            Kw::For => "for",
            Kw::In => "in",
            Kw::Break => "break",
            Kw::Continue => "continue",
            Kw::Return => "return",
            Kw::True => "true",
            Kw::False => "false",
        }
    }

    /// Looks a keyword up by its spelling.
    pub fn from_name(s: &str) -> Option<Kw> {
        Some(match s {
            "fn" => Kw::Fn,
            "let" => Kw::Let,
            "global" => Kw::Global,
            "struct" => Kw::Struct,
            "loop" => Kw::Loop,
            "if" => Kw::If,
            "else" => Kw::Else,
            "while" => Kw::While,
            "for" => Kw::For,
            "in" => Kw::In,
            "break" => Kw::Break,
            "continue" => Kw::Continue,
            "return" => Kw::Return,
            "true" => Kw::True,
            "false" => Kw::False,
            _ => return None,
        })
    }
}

/// Every operator and punctuation token. Longer spellings come first so that the lexer's
/// ordered choice takes `<<` before `<` and `..` is never split.
pub const PUNCTS: [&str; 42] = [
    "..", "<<=", ">>=", "&=", "|=", "^=", ".", "->", "+=", "-=", "*=", "/=", "%=", "<<", ">>",
    "<=", ">=", "==", "!=", "&&", "||", "+", "-", "*", "/", "%", "<", ">", "=", "!", "&", "|", "^",
    "(", ")", "[", "]", "{", "}", ",", ";", ":",
];

// By hand rather than derived: operators are compared very often by the parser, and a
// derived comparison of `&str` calls `memcmp`.
impl PartialEq for Token<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Token::Punct(a), Token::Punct(b)) => {
                // Spellings are at most three bytes: compare them as one number.
                let pack = |s: &str| {
                    s.bytes()
                        .fold(s.len() as u32, |acc, b| (acc << 8) | u32::from(b))
                };
                if a.len() <= 3 && b.len() <= 3 {
                    pack(a) == pack(b)
                } else {
                    a == b
                }
            }
            (Token::Kw(a), Token::Kw(b)) => a == b,
            (Token::Ident(a), Token::Ident(b)) => a == b,
            (Token::Int(a), Token::Int(b)) => a == b,
            (Token::Float(a), Token::Float(b)) => a == b,
            (Token::Str(a), Token::Str(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Token::Ident(s) => write!(f, "identifier `{s}`"),
            Token::Int(n) => write!(f, "integer literal `{n}`"),
            Token::Float(x) => write!(f, "float literal `{x:?}`"),
            Token::Str(_) => write!(f, "string literal"),
            Token::Kw(k) => write!(f, "`{}`", k.as_str()),
            Token::Punct(p) => write!(f, "`{p}`"),
        }
    }
}

/// The start of the message for a character that starts no token (and is dropped).
pub const BAD_CHAR: &str = "unexpected character";

/// A token with its location.
pub type Spanned<'src> = (Token<'src>, SimpleSpan);

/// Converts a chumsky span to ours.
pub(crate) fn span(s: SimpleSpan) -> Span {
    Span::new(s.start, s.end)
}

/// Parses a decimal literal (underscores allowed) into a `u128`, saturating on overflow.
fn int_value(text: &str) -> u128 {
    text.bytes()
        .filter(u8::is_ascii_digit)
        .fold(0u128, |acc, d| {
            acc.saturating_mul(10).saturating_add(u128::from(d - b'0'))
        })
}

/// The operator or punctuation at the start of `rest`, longest spelling first (the same choice
/// as trying [`PUNCTS`] in order).
fn punct(rest: &[u8]) -> Option<&'static str> {
    let at = |i: usize| rest.get(i).copied().unwrap_or(0);
    let (a, b, c) = (at(0), at(1), at(2));
    Some(match (a, b) {
        (b'.', b'.') => "..",
        (b'.', _) => ".",
        (b'<', b'<') if c == b'=' => "<<=",
        (b'<', b'<') => "<<",
        (b'<', b'=') => "<=",
        (b'<', _) => "<",
        (b'>', b'>') if c == b'=' => ">>=",
        (b'>', b'>') => ">>",
        (b'>', b'=') => ">=",
        (b'>', _) => ">",
        (b'&', b'=') => "&=",
        (b'&', b'&') => "&&",
        (b'&', _) => "&",
        (b'|', b'=') => "|=",
        (b'|', b'|') => "||",
        (b'|', _) => "|",
        (b'^', b'=') => "^=",
        (b'^', _) => "^",
        (b'-', b'>') => "->",
        (b'-', b'=') => "-=",
        (b'-', _) => "-",
        (b'+', b'=') => "+=",
        (b'+', _) => "+",
        (b'*', b'=') => "*=",
        (b'*', _) => "*",
        (b'/', b'=') => "/=",
        (b'/', _) => "/",
        (b'%', b'=') => "%=",
        (b'%', _) => "%",
        (b'=', b'=') => "==",
        (b'=', _) => "=",
        (b'!', b'=') => "!=",
        (b'!', _) => "!",
        (b'(', _) => "(",
        (b')', _) => ")",
        (b'[', _) => "[",
        (b']', _) => "]",
        (b'{', _) => "{",
        (b'}', _) => "}",
        (b',', _) => ",",
        (b';', _) => ";",
        (b':', _) => ":",
        _ => return None,
    })
}

/// The lexer's state: the text, the position, and what it found.
struct Lexer<'src> {
    src: &'src str,
    bytes: &'src [u8],
    pos: usize,
    tokens: Vec<Spanned<'src>>,
    errors: Vec<Diagnostic>,
}

impl<'src> Lexer<'src> {
    fn error(&mut self, start: usize, end: usize, msg: String) {
        self.errors
            .push(Diagnostic::error(msg, Span::new(start, end), ""));
    }

    /// The character at `pos` (which is always on a character boundary).
    fn char_at(&self, pos: usize) -> Option<char> {
        self.src[pos..].chars().next()
    }

    /// Skips whitespace (Unicode's, as chumsky's `padded`) and `//` comments.
    fn skip_padding(&mut self) {
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return;
            };
            if b == b' ' || b == b'\n' || b == b'\t' || b == b'\r' {
                self.pos += 1;
            } else if b == b'/' && self.bytes.get(self.pos + 1) == Some(&b'/') {
                // Up to the newline, which is whitespace.
                self.pos = match self.bytes[self.pos..].iter().position(|&c| c == b'\n') {
                    Some(n) => self.pos + n,
                    None => self.bytes.len(),
                };
            } else if b < 0x80 {
                if (b as char).is_whitespace() {
                    self.pos += 1;
                } else {
                    return;
                }
            } else {
                match self.char_at(self.pos) {
                    Some(c) if c.is_whitespace() => self.pos += c.len_utf8(),
                    _ => return,
                }
            }
        }
    }

    /// `[0-9][0-9_]*` at `pos`: its end, or `None` if no digit is there.
    fn digits(&self, pos: usize) -> Option<usize> {
        if !self.bytes.get(pos)?.is_ascii_digit() {
            return None;
        }
        let mut end = pos + 1;
        while self
            .bytes
            .get(end)
            .is_some_and(|b| b.is_ascii_digit() || *b == b'_')
        {
            end += 1;
        }
        Some(end)
    }

    /// A number starting at `start` (a digit). A `.` only belongs to it when a digit follows,
    /// so `1..5` is `1`, `..`, `5`; an exponent only when digits follow it.
    fn number(&mut self, start: usize) -> Token<'src> {
        let mut end = self.digits(start).unwrap_or(start + 1);
        let mut float = false;
        if self.bytes.get(end) == Some(&b'.') {
            if let Some(e) = self.digits(end + 1) {
                end = e;
                float = true;
            }
        }
        if matches!(self.bytes.get(end), Some(b'e' | b'E')) {
            let mut p = end + 1;
            if matches!(self.bytes.get(p), Some(b'+' | b'-')) {
                p += 1;
            }
            if let Some(e) = self.digits(p) {
                end = e;
                float = true;
            }
        }
        self.pos = end;
        let text = &self.src[start..end];
        if float {
            let cleaned: String = text.chars().filter(|&c| c != '_').collect();
            // The scan above only admits valid float syntax, so parsing cannot fail; fall
            // back to NaN rather than panic all the same.
            Token::Float(cleaned.parse().unwrap_or(f64::NAN))
        } else {
            Token::Int(int_value(text))
        }
    }

    /// A string literal starting at `start` (its `"`). `None` if the text ends right after a
    /// backslash inside it: then there is no string here at all (the `"` is a bad character,
    /// and nothing inside the literal is reported), as the chumsky lexer decided.
    fn string(&mut self, start: usize) -> Option<Token<'src>> {
        let mut bytes = Vec::new();
        let mut errors = Vec::new();
        let mut pos = start + 1;
        let closed = loop {
            // Copy the run of plain bytes up to the next `"` or `\` at once.
            let rest = &self.bytes[pos..];
            let run = rest
                .iter()
                .position(|&b| b == b'"' || b == b'\\')
                .unwrap_or(rest.len());
            bytes.extend_from_slice(&rest[..run]);
            pos += run;
            match self.bytes.get(pos) {
                None => break false,
                Some(b'"') => {
                    pos += 1;
                    break true;
                }
                Some(_) => {
                    // A backslash and the character after it.
                    let c = self.char_at(pos + 1)?;
                    let hex = |i: usize| {
                        self.bytes
                            .get(i)
                            .and_then(|&b| (b as char).to_digit(16))
                            .map(|d| d as u8)
                    };
                    if c == 'x' {
                        if let (Some(h), Some(l)) = (hex(pos + 2), hex(pos + 3)) {
                            bytes.push(h * 16 + l);
                            pos += 4;
                            continue;
                        }
                    }
                    let end = pos + 1 + c.len_utf8();
                    let byte = match c {
                        'n' => Some(b'\n'),
                        't' => Some(b'\t'),
                        'r' => Some(b'\r'),
                        '0' => Some(0),
                        '"' => Some(b'"'),
                        '\\' => Some(b'\\'),
                        _ => None,
                    };
                    match byte {
                        Some(b) => bytes.push(b),
                        None => {
                            // Unknown escapes are reported, and the character kept as written
                            // so that one typo does not hide later errors.
                            let msg = if c == 'x' {
                                "`\\x` must be followed by two hex digits".to_string()
                            } else {
                                format!("unknown character escape `\\{}`", c.escape_debug())
                            };
                            errors.push((pos, end, msg));
                            bytes.extend_from_slice(&self.bytes[pos + 1..end]);
                        }
                    }
                    pos = end;
                }
            }
        };
        for (s, e, msg) in errors {
            self.error(s, e, msg);
        }
        if !closed {
            self.error(start, pos, "unterminated string literal".to_string());
        }
        self.pos = pos;
        Some(Token::Str(bytes))
    }

    /// The token at `pos` (after padding), or `None` for a bad character (reported, skipped).
    fn token(&mut self) -> Option<Token<'src>> {
        let start = self.pos;
        let b = self.bytes[start];
        if b.is_ascii_digit() {
            return Some(self.number(start));
        }
        if b == b'"' {
            if let Some(t) = self.string(start) {
                return Some(t);
            }
        } else if let Some(p) = punct(&self.bytes[start..]) {
            self.pos += p.len();
            return Some(Token::Punct(p));
        } else if b.is_ascii_alphabetic() || b == b'_' {
            let mut end = start + 1;
            while self
                .bytes
                .get(end)
                .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
            {
                end += 1;
            }
            self.pos = end;
            let s = &self.src[start..end];
            return Some(match Kw::from_name(s) {
                Some(k) => Token::Kw(k),
                None => Token::Ident(s),
            });
        }
        // Last resort: any other character is reported and dropped.
        let c = self.char_at(start).unwrap_or('\u{FFFD}');
        self.pos = start + c.len_utf8();
        self.error(
            start,
            self.pos,
            format!("{BAD_CHAR} `{}`", c.escape_debug()),
        );
        None
    }
}

/// Splits `src` into tokens. Returns every token that could be formed (bad characters are
/// skipped) and a diagnostic for each lexical error, in source order.
pub fn lex(src: &str) -> (Vec<Spanned<'_>>, Vec<Diagnostic>) {
    let mut lx = Lexer {
        src,
        bytes: src.as_bytes(),
        pos: 0,
        // About one token per 3.5 bytes of typical code.
        tokens: Vec::with_capacity(src.len() / 3),
        errors: Vec::new(),
    };
    loop {
        lx.skip_padding();
        if lx.pos >= src.len() {
            break;
        }
        let start = lx.pos;
        if let Some(t) = lx.token() {
            lx.tokens.push((t, SimpleSpan::from(start..lx.pos)));
        }
    }
    (lx.tokens, lx.errors)
}
/// The chumsky lexer the hand-written one replaced: the specification it is tested against.
#[cfg(test)]
mod reference {
    use super::{int_value, span, Kw, Spanned, Token, BAD_CHAR, PUNCTS};
    use crate::{Diagnostic, Span};
    use chumsky::error::EmptyErr;
    use chumsky::inspector::TruncateState;
    use chumsky::prelude::*;

    /// Lexical errors found so far (span, message). Truncated when the lexer backtracks.
    type Errors = TruncateState<(SimpleSpan, String)>;

    /// chumsky's own errors are never shown by the lexer (every character starts some token, or
    /// is reported as a bad one), so they are zero-sized: failed alternatives then cost nothing,
    /// which makes lexing much faster than with `Rich` errors. Our errors are collected in the
    /// parser state instead.
    type LexErr = extra::Full<EmptyErr, Errors, ()>;

    /// Digits with `_` separators (`1_000`). A leading `_` would be an identifier, so the first
    /// character must be a digit.
    fn digits<'src>() -> impl Parser<'src, &'src str, &'src str, LexErr> + Clone {
        one_of('0'..='9')
            .then(one_of('0'..='9').or(just('_')).repeated())
            .to_slice()
    }

    pub(super) fn lexer<'src>() -> impl Parser<'src, &'src str, Vec<Spanned<'src>>, LexErr> {
        // A `.` only belongs to a number when a digit follows it, so `1..5` is `1`, `..`, `5`.
        let frac = just('.').then(digits());
        let exp = one_of("eE").then(one_of("+-").or_not()).then(digits());
        let number = digits()
            .then(frac.or_not())
            .then(exp.or_not())
            .to_slice()
            .map(|text: &str| {
                if text.contains(['.', 'e', 'E']) {
                    let cleaned: String = text.chars().filter(|&c| c != '_').collect();
                    // The grammar above only admits valid float syntax, so parsing cannot fail;
                    // fall back to NaN rather than panic all the same.
                    Token::Float(cleaned.parse().unwrap_or(f64::NAN))
                } else {
                    Token::Int(int_value(text))
                }
            });

        // An escape is a backslash and any character; unknown ones are reported but lexing goes on
        // (the character is kept as written) so one typo does not hide later errors. `\xHH` is a
        // byte, so a literal decodes to bytes, not to a `String`.
        let hex = one_of("0123456789abcdefABCDEF");
        let hex_escape = just("\\x")
            .ignore_then(hex.then(hex))
            .map(|(h, l): (char, char)| {
                // Both are hex digits (the grammar above), so `to_digit(16)` cannot fail.
                let d = |c: char| c.to_digit(16).unwrap_or(0) as u8;
                Piece::Byte(d(h) * 16 + d(l))
            });
        let escape = just('\\')
            .ignore_then(any())
            .map_with(|c: char, e| match c {
                'n' => Piece::Byte(b'\n'),
                't' => Piece::Byte(b'\t'),
                'r' => Piece::Byte(b'\r'),
                '0' => Piece::Byte(0),
                '"' => Piece::Byte(b'"'),
                '\\' => Piece::Byte(b'\\'),
                other => {
                    let at = e.span();
                    let msg = if other == 'x' {
                        "`\\x` must be followed by two hex digits".to_string()
                    } else {
                        format!("unknown character escape `\\{}`", other.escape_debug())
                    };
                    push_error(e.state(), at, msg);
                    Piece::Char(other)
                }
            });
        // Any other character between the quotes (NUL, control bytes, newlines) is kept as it is.
        let string = just('"')
            .ignore_then(
                none_of("\\\"")
                    .map(Piece::Char)
                    .or(hex_escape)
                    .or(escape)
                    .repeated()
                    .collect::<Vec<Piece>>(),
            )
            .then(just('"').to(true).or(end().to(false)))
            .map_with(|(pieces, closed), e| {
                if !closed {
                    let at = e.span();
                    push_error(e.state(), at, "unterminated string literal".to_string());
                }
                let mut bytes = Vec::with_capacity(pieces.len());
                for p in pieces {
                    match p {
                        Piece::Byte(b) => bytes.push(b),
                        Piece::Char(c) => {
                            bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes())
                        }
                    }
                }
                Token::Str(bytes)
            });

        // `just` wants a pattern borrowed for the input's lifetime; `to` keeps the `'static` text.
        let punct = choice(PUNCTS.map(|p: &'static str| just(p as &'src str).to(Token::Punct(p))));

        let word = text::ascii::ident().map(|s: &str| match Kw::from_name(s) {
            Some(k) => Token::Kw(k),
            None => Token::Ident(s),
        });

        // Last resort: any other character is reported and dropped.
        let bad = any().map_with(|c: char, e| {
            let at = e.span();
            let msg = format!("{BAD_CHAR} `{}`", c.escape_debug());
            push_error(e.state(), at, msg);
        });

        let token = choice((
            number.map(Some),
            string.map(Some),
            // `//` must be tried before `/`: comments are handled as padding below, so here a
            // comment start never reaches `punct`.
            punct.map(Some),
            word.map(Some),
            // `map`, not `to`: chumsky skips `map_with` of parsers whose output is unused.
            bad.map(|()| None),
        ))
        .map_with(|t, e| t.map(|t| (t, e.span())));

        let comment = just("//")
            .then(any().and_is(just('\n').not()).repeated())
            .padded();

        token
            .padded_by(comment.repeated())
            .padded()
            .repeated()
            .collect::<Vec<_>>()
            .map(|ts| ts.into_iter().flatten().collect())
            .then_ignore(comment.repeated())
            // Trailing whitespace with no token after it (a file holding only a newline).
            .then_ignore(text::whitespace())
            .then_ignore(end())
    }

    /// One element of a string literal: a source character or an escaped byte.
    #[derive(Clone, Copy)]
    enum Piece {
        Char(char),
        Byte(u8),
    }

    /// Records a lexical error (a function so that the state's type is known to inference).
    fn push_error(state: &mut Errors, at: SimpleSpan, msg: String) {
        state.push((at, msg));
    }

    /// The reference lexer's answer, as [`super::lex`] gives it.
    pub(super) fn lex(src: &str) -> (Vec<Spanned<'_>>, Vec<Diagnostic>) {
        let mut errors = Errors::default();
        let (tokens, errs) = lexer()
            .parse_with_state(src, &mut errors)
            .into_output_errors();
        let mut diags: Vec<Diagnostic> = errors
            .0
            .into_iter()
            .map(|(at, msg)| Diagnostic::error(msg, span(at), ""))
            .collect();
        if !errs.is_empty() {
            diags.push(Diagnostic::error(
                "could not split this input into tokens",
                Span::new(0, src.len()),
                "",
            ));
        }
        (tokens.unwrap_or_default(), diags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(src: &str) -> Vec<Token<'_>> {
        let (t, d) = lex(src);
        assert!(d.is_empty(), "unexpected diagnostics for {src:?}: {d:?}");
        t.into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn integers() {
        assert_eq!(
            toks("0 42 1_000_000"),
            vec![Token::Int(0), Token::Int(42), Token::Int(1_000_000)]
        );
        assert_eq!(toks("9223372036854775808"), vec![Token::Int(1 << 63)]);
        // Far beyond u128: saturates instead of panicking; the parser reports the range.
        assert_eq!(toks(&"9".repeat(60)), vec![Token::Int(u128::MAX)]);
    }

    #[test]
    fn floats() {
        assert_eq!(
            toks("1.5 0.25 2e10 1.5e-3 1.5E3 1e+2"),
            vec![
                Token::Float(1.5),
                Token::Float(0.25),
                Token::Float(2e10),
                Token::Float(1.5e-3),
                Token::Float(1.5e3),
                Token::Float(100.0)
            ]
        );
    }

    #[test]
    fn range_is_not_a_float() {
        assert_eq!(
            toks("1..5"),
            vec![Token::Int(1), Token::Punct(".."), Token::Int(5)]
        );
        assert_eq!(
            toks("0..n"),
            vec![Token::Int(0), Token::Punct(".."), Token::Ident("n")]
        );
    }

    #[test]
    fn strings_and_escapes() {
        assert_eq!(
            toks(r#""a\n\t\"\\b""#),
            vec![Token::Str(b"a\n\t\"\\b".to_vec())]
        );
        assert_eq!(toks(r#""""#), vec![Token::Str(Vec::new())]);
        assert_eq!(
            toks(r#""\r\0\x41\xff\x00""#),
            vec![Token::Str(b"\r\0A\xff\0".to_vec())]
        );
    }

    #[test]
    fn raw_bytes_in_strings_are_kept() {
        // NUL, control bytes and newlines between the quotes are part of the literal.
        assert_eq!(
            toks("\"x\0yz\u{1}\n\u{7f}é\""),
            vec![Token::Str("x\0yz\u{1}\n\u{7f}é".as_bytes().to_vec())]
        );
    }

    #[test]
    fn bad_hex_escape_is_located() {
        let (_, d) = lex(r#""\x4g""#);
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].primary_span(), Some(Span::new(1, 3)));
    }

    #[test]
    fn whitespace_only_input_has_no_tokens() {
        assert_eq!(toks("\n"), vec![]);
        assert_eq!(toks("   \n\t\n"), vec![]);
        assert_eq!(toks("x // c\n   \n"), vec![Token::Ident("x")]);
    }

    #[test]
    fn bad_escape_is_located() {
        let (t, d) = lex(r#"print("a\qb")"#);
        assert_eq!(d.len(), 1);
        assert!(
            d[0].message.contains("unknown character escape"),
            "{}",
            d[0].message
        );
        assert_eq!(d[0].primary_span(), Some(Span::new(8, 10)));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn unterminated_string() {
        let (_, d) = lex("print(\"abc");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "unterminated string literal");
        assert_eq!(d[0].primary_span(), Some(Span::new(6, 10)));
    }

    #[test]
    fn keywords_idents_and_operators() {
        assert_eq!(
            toks("fn f_1 global let x += -> << >>= && || ! != == // comment\n }"),
            vec![
                Token::Kw(Kw::Fn),
                Token::Ident("f_1"),
                Token::Kw(Kw::Global),
                Token::Kw(Kw::Let),
                Token::Ident("x"),
                Token::Punct("+="),
                Token::Punct("->"),
                Token::Punct("<<"),
                Token::Punct(">>="),
                Token::Punct("&&"),
                Token::Punct("||"),
                Token::Punct("!"),
                Token::Punct("!="),
                Token::Punct("=="),
                Token::Punct("}"),
            ]
        );
        assert_eq!(
            toks("true false _x"),
            vec![
                Token::Kw(Kw::True),
                Token::Kw(Kw::False),
                Token::Ident("_x")
            ]
        );
    }

    #[test]
    fn fields_and_new_operators() {
        assert_eq!(
            toks("p.x xs[0].y 1.5 a..b x <<= 1 &= |= ^= struct loop"),
            vec![
                Token::Ident("p"),
                Token::Punct("."),
                Token::Ident("x"),
                Token::Ident("xs"),
                Token::Punct("["),
                Token::Int(0),
                Token::Punct("]"),
                Token::Punct("."),
                Token::Ident("y"),
                Token::Float(1.5),
                Token::Ident("a"),
                Token::Punct(".."),
                Token::Ident("b"),
                Token::Ident("x"),
                Token::Punct("<<="),
                Token::Int(1),
                Token::Punct("&="),
                Token::Punct("|="),
                Token::Punct("^="),
                Token::Kw(Kw::Struct),
                Token::Kw(Kw::Loop),
            ]
        );
    }

    #[test]
    fn spans_are_byte_offsets() {
        let (t, _) = lex("é + x");
        // The bad character is two bytes long; later spans count bytes.
        assert_eq!(t[1].1.start, 5);
    }

    #[test]
    fn bad_characters_are_skipped_and_reported() {
        let (t, d) = lex("a @ b $ c");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].message, "unexpected character `@`");
        assert_eq!(d[0].primary_span(), Some(Span::new(2, 3)));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn comment_at_end_of_input() {
        assert_eq!(toks("x // no newline"), vec![Token::Ident("x")]);
        assert_eq!(toks("// only a comment"), vec![]);
        assert_eq!(toks(""), vec![]);
    }
}

/// The hand-written lexer against the chumsky one it replaced, on arbitrary text and on text
/// made of the language's own pieces (where the interesting boundaries are).
#[cfg(test)]
mod equivalence {
    use super::*;
    use proptest::prelude::*;

    /// Tokens (with spans) and diagnostics (message and span), comparable.
    fn summary(out: (Vec<Spanned<'_>>, Vec<Diagnostic>)) -> (String, Vec<(String, Option<Span>)>) {
        let (tokens, diags) = out;
        (
            format!("{tokens:?}"),
            diags
                .iter()
                .map(|d| (d.message.clone(), d.primary_span()))
                .collect(),
        )
    }

    fn same(src: &str) {
        assert_eq!(
            summary(lex(src)),
            summary(reference::lex(src)),
            "for {src:?}"
        );
    }

    const PIECES: &[&str] = &[
        "1", "0", "12_3", "_", "9", ".", "..", "e", "E", "+", "-", "x", "\"", "\\", "\\x", "4f",
        "g", "\\q", "\\n", "\\\"", "/", "//", "\n", " ", "\t", "\u{a0}", "\u{2003}", "é", "@", "$",
        "<", "<<", "=", ">", "&", "|", "^", "!", "*", "%", "(", ")", "[", "]", "{", "}", ",", ";",
        ":", "fn", "let", "foo", "_a1", "\r", "\u{b}", "\u{1c}", "\0", "'", "`", "1.5", "2e",
        "3e+", "1e-9", "\\é", "\\\n",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn pieces(parts in prop::collection::vec(prop::sample::select(PIECES), 0..24)) {
            same(&parts.concat());
        }

        #[test]
        fn any_text(src in "\\PC{0,40}") {
            same(&src);
        }

        #[test]
        fn ascii_text(src in "[ -~\n\t]{0,60}") {
            same(&src);
        }
    }

    #[test]
    fn edge_cases() {
        for src in [
            "",
            "\"abc\\",
            "\"\\q\\",
            "\"\\x4",
            "\"\\x4g\"",
            "1.e5",
            "1._5",
            "1.5.x",
            "1e",
            "1e+",
            "1_e5",
            "0x1f",
            "a//b\nc",
            "//",
            "/ /",
            "\"unterminated\n",
            "\u{a0}x\u{2028}",
            "a...b",
            "&&=",
            "<<<=",
            "->>",
            "\"\\\u{0}\"",
            "9".repeat(50).as_str(),
        ] {
            same(src);
        }
    }
}
