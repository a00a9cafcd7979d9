//! Every user-facing line the back end's data turns into: diagnostics (with
//! codespan-reporting), status events, and the answers of `:list`, `:versions` and `:tasks`.

use crate::commands::{Listing, Reply};
use crate::out::Stream;
use codespan_reporting::diagnostic::{Diagnostic as CsDiagnostic, Label as CsLabel};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::termcolor::ColorChoice;
use codespan_reporting::term::{self, Config};
use livejit_backend::{
    CompileErrors, ErrorKind, Event, RuntimeError, Source, TaskKind, TaskRow, TaskState, VersionRow,
};
use livejit_frontend::{Diagnostic, Span};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

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
    let rendered = if COLOUR.load(Relaxed) {
        let mut ansi = term::termcolor::Ansi::new(Vec::new());
        term::emit_to_write_style(&mut ansi, &Config::default(), &file, &cs)
            .ok()
            .and_then(|()| String::from_utf8(ansi.into_inner()).ok())
    } else {
        term::emit_into_string(&Config::default(), &file, &cs).ok()
    };
    rendered.unwrap_or_else(|| format!("error: {}\n", d.message))
}

/// Whether diagnostics are coloured (see [`colour_for`]).
static COLOUR: AtomicBool = AtomicBool::new(false);

/// Colours diagnostics (ANSI, codespan-reporting's styles) from now on, or stops.
pub fn set_colour(on: bool) {
    COLOUR.store(on, Relaxed);
}

/// Whether output to a stream should be coloured: codespan-reporting's `ColorChoice::Auto`
/// rule — the stream is a terminal and `NO_COLOR` is unset or empty.
pub fn colour_for(stream_is_terminal: bool) -> ColorChoice {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if stream_is_terminal && !no_color {
        ColorChoice::Always
    } else {
        ColorChoice::Never
    }
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

/// A reply of an input as the text it shows and the stream it goes to.
pub fn reply(r: &Reply) -> (Stream, String) {
    match r {
        Reply::Output { stream, text } => (*stream, text.clone()),
        Reply::Diagnostics { errors } => (Stream::Err, compile_errors(errors)),
        Reply::RuntimeError { error } if error.kind == ErrorKind::Interrupted => (
            Stream::Err,
            format!("interrupted {}\n", interrupted_at(error)),
        ),
        Reply::RuntimeError { error } => (Stream::Err, runtime_error(error)),
        Reply::Listing(l) => (Stream::Out, listing(l)),
        Reply::Versions { rows } => (Stream::Out, versions(rows)),
        Reply::Tasks { rows } => (Stream::Out, tasks(rows)),
        Reply::Event { event: e } => (Stream::Err, event(e)),
    }
}

/// A status event as its stderr line(s).
pub fn event(event: &Event) -> String {
    match event {
        Event::Defined { name, version: 1 } => format!("defined {name}\n"),
        Event::Defined { name, version } => format!("redefined {name} (v{version})\n"),
        Event::Freed { name, version } => format!("freed {name} v{version}\n"),
        Event::TaskStarted { id } => format!("task {id} started\n"),
        Event::TaskEnded { id, value: None } => format!("task {id} ended\n"),
        Event::TaskEnded { id, value: Some(v) } => format!("task {id} ended: {v}\n"),
        Event::TaskCrashed { id, message } => format!("task {id} crashed: {message}\n"),
        Event::TaskError { id, error } if error.kind == ErrorKind::Interrupted => {
            format!("task {id} killed {}\n", interrupted_at(error))
        }
        Event::TaskError { id, error } => format!("task {id} failed\n{}", runtime_error(error)),
    }
}

/// `:list`: structs, functions with signature and current version, then globals with type
/// and value.
pub fn listing(l: &Listing) -> String {
    let mut out = String::new();
    for s in &l.structs {
        out.push_str(s);
        out.push('\n');
    }
    for f in &l.functions {
        out.push_str(&format!("fn {}{}  v{}\n", f.name, f.signature, f.version));
    }
    for g in &l.globals {
        out.push_str(&format!("global {}: {} = {}\n", g.name, g.ty, g.value));
    }
    out
}

/// `:versions NAME`: one line per version, oldest first: state, tier (`fast` or `opt`), frames,
/// code size, origin.
pub fn versions(rows: &[VersionRow]) -> String {
    let mut out = String::new();
    for v in rows {
        let size = match v.code_size {
            Some(n) => format!("{n} B"),
            None => "-".to_string(),
        };
        out.push_str(&format!(
            "v{:<3} {:<8}  {:<4}  frames {:<3}  code {:<8}  {}\n",
            v.version,
            v.state.to_string(),
            v.tier.to_string(),
            v.frames,
            size,
            v.origin
        ));
    }
    out
}

/// `:tasks`: one line per background task, running or ended: id, state (`running`, `ended`,
/// `failed`, `killed`, `crashed`), run time, expression; and one per service request in
/// flight: id, `running`, run time, `request METHOD PATH`.
pub fn tasks(rows: &[TaskRow]) -> String {
    if rows.is_empty() {
        return "no tasks\n".to_string();
    }
    rows.iter()
        .map(|t| {
            let state = match t.state {
                TaskState::Running => "running",
                TaskState::Ended => "ended",
                TaskState::Failed => "failed",
                TaskState::Killed => "killed",
                TaskState::Crashed => "crashed",
            };
            let what = match t.kind {
                TaskKind::Spawned => "",
                TaskKind::Request => "request ",
            };
            format!(
                "{}  {state}  {:.1}s  {what}{}\n",
                t.id,
                t.elapsed.as_secs_f64(),
                t.label
            )
        })
        .collect()
}

/// Where an interrupted evaluation stopped: `in F (vN) at FILE:LINE` (for top-level code, F
/// is the input name).
pub fn interrupted_at(e: &RuntimeError) -> String {
    match &e.at {
        Some((source, span)) => format!(
            "in {} at {}:{}",
            e.function,
            source.name,
            livejit_backend::line_of(&source.text, span.start)
        ),
        None => format!("in {}", e.function),
    }
}
