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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
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

/// Parse and type-check one source text against the names the session already knows.
///
/// This is the whole front end in one call: the driver uses it for REPL inputs and files alike.
/// All diagnostics found are returned (the parser recovers, the checker keeps going).
pub fn compile_front(src: &str, env: &dyn typeck::Env) -> Result<tast::TProgram, Vec<Diagnostic>> {
    let (program, mut diags) = parser::parse(src);
    let Some(program) = program else {
        return Err(diags);
    };
    match typeck::check(&program, src, env) {
        Ok(typed) if diags.is_empty() => Ok(typed),
        Ok(_) => Err(diags),
        Err(more) => {
            diags.extend(more);
            diags.sort_by_key(|d| d.labels.first().map(|l| l.span.start).unwrap_or(0));
            Err(diags)
        }
    }
}
