//! Rendering diagnostics at the edge, with codespan-reporting.

use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, Config};
use livejit_backend::runtime::RuntimeError;
use livejit_backend::versions::Source;
use livejit_backend::CompileErrors;
use livejit_frontend::{Diagnostic, Span};

fn clamp(span: Span, text: &str) -> std::ops::Range<usize> {
    let end = span.end.min(text.len());
    let start = span.start.min(end);
    start..end
}

/// Renders one diagnostic against `source` as codespan-style text.
pub fn diagnostic(source: &Source, d: &Diagnostic) -> String {
    let file = SimpleFile::new(source.name.as_str(), source.text.as_str());
    let labels = d
        .labels
        .iter()
        .map(|l| {
            let range = clamp(l.span, &source.text);
            let label = if l.primary {
                CsLabel::primary((), range)
            } else {
                CsLabel::secondary((), range)
            };
            label.with_message(l.message.clone())
        })
        .collect();
    let cs = CsDiagnostic::error()
        .with_message(d.message.clone())
        .with_labels(labels)
        .with_notes(d.notes.clone());
    term::emit_into_string(&Config::default(), &file, &cs)
        .unwrap_or_else(|_| format!("error: {}\n", d.message))
}

/// Renders every diagnostic of a rejected input.
pub fn compile_errors(errors: &CompileErrors) -> String {
    errors
        .diagnostics
        .iter()
        .map(|d| diagnostic(&errors.source, d))
        .collect()
}

/// Renders a runtime error: message, location, call chain.
pub fn runtime_error(e: &RuntimeError) -> String {
    let mut d = match &e.at {
        Some((_, span)) => Diagnostic::error(e.message.clone(), *span, ""),
        None => Diagnostic::plain(e.message.clone()),
    };
    if !e.chain.is_empty() {
        d = d.with_note(e.chain.clone());
    }
    match &e.at {
        Some((source, _)) => diagnostic(source, &d),
        None => format!("error: {}\n  = {}\n", e.message, e.chain),
    }
}

/// Where an interrupted evaluation stopped: `in F (vN) at FILE:LINE` (for top-level code, F
/// is the input name).
pub fn interrupted_at(e: &RuntimeError) -> String {
    match &e.at {
        Some((source, span)) => format!(
            "in {} at {}:{}",
            e.function,
            source.name,
            livejit_backend::session::line_of(&source.text, span.start)
        ),
        None => format!("in {}", e.function),
    }
}
