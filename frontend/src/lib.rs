//! The livejit front end: source text -> tokens -> AST -> typed AST.
//!
//! Pure by design: no IO, no unsafe code, no LLVM. Every stage reports problems as plain
//! [`Diagnostic`] values; rendering (codespan-reporting) happens at the edge, in the REPL.
#![forbid(unsafe_code)]

pub mod ast;
pub mod diag;
pub mod lexer;
pub mod parser;
pub mod tast;
pub mod typeck;
pub mod types;

pub use diag::{Diagnostic, Label};
pub use types::{Elem, FnSig, Type};

/// A byte range in one source text (a file or a REPL input).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Span {
    /// Offset of the first byte.
    pub start: usize,
    /// Offset one past the last byte.
    pub end: usize,
}

impl Span {
    /// A span covering `start..end`.
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both `self` and `other`.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// The message of the error for a byte sequence that is not UTF-8.
pub const INVALID_UTF8: &str = "source text is not valid UTF-8";

/// Checks that `bytes` (a file or an input, as read) are UTF-8 source text.
///
/// The front end works on `&str`; this is the check in front of it, so readers can take bytes
/// and an invalid byte anywhere (a literal, a comment, between tokens) is a located compile
/// error rather than a failed read. The diagnostic's span covers the first invalid sequence
/// (its bytes); the text before it is valid, so its line and column are exact.
pub fn source_text(bytes: &[u8]) -> Result<&str, Diagnostic> {
    std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        // `error_len` is None for a sequence cut short by the end of the text.
        let len = e.error_len().unwrap_or(bytes.len() - at).max(1);
        let shown: Vec<String> = bytes[at..at + len]
            .iter()
            .map(|b| format!("0x{b:02X}"))
            .collect();
        Diagnostic::error(
            INVALID_UTF8,
            Span::new(at, at + len),
            format!("invalid byte sequence {}", shown.join(" ")),
        )
    })
}

/// Parse and type-check one source text against the names the session already knows.
///
/// This is the whole front end in one call: the driver uses it for REPL inputs and files alike.
/// All diagnostics found are returned (the parser recovers, the checker keeps going).
pub fn compile_front(src: &str, env: &dyn typeck::Env) -> Result<tast::TProgram, Vec<Diagnostic>> {
    let (program, mut diags) = parser::parse(src);
    let Some(program) = program else {
        return Err(diags);
    };
    match typeck::check(program, src, env) {
        Ok(typed) if diags.is_empty() => Ok(typed),
        Ok(_) => Err(diags),
        Err(more) => {
            diags.extend(more);
            diags.sort_by_key(|d| d.labels.first().map(|l| l.span.start).unwrap_or(0));
            Err(diags)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_is_located() {
        assert_eq!(source_text(b"print(1)\n").ok(), Some("print(1)\n"));
        let d = source_text(b"print(1)\n// \xff\n").unwrap_err();
        assert_eq!(d.message, INVALID_UTF8);
        assert_eq!(d.primary_span(), Some(Span::new(12, 13)));
        // A multi-byte sequence cut short at the end.
        let d = source_text(b"x \xe2\x82").unwrap_err();
        assert_eq!(d.primary_span(), Some(Span::new(2, 4)));
        let d = source_text(b"\x80").unwrap_err();
        assert_eq!(d.primary_span(), Some(Span::new(0, 1)));
    }
}
