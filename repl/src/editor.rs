//! The line editor's helper (rustyline): completion, highlighting, signature hints, and the
//! hooks that tell the output [`Screen`] where the editor is.
//!
//! Names, signatures, types and fields come from the session as data
//! ([`CompletionData`], refreshed by the session thread after every input and reload), never
//! from re-parsing what was typed. Highlighting is lexical (keywords, numbers, strings,
//! comments, matching brackets), so it works on half-typed input.
//!
//! Continuation lines: rustyline draws the lines after a newline in its buffer without any
//! prompt (a continuation prompt is not supported). So every line is read by its own
//! `readline`: the input loop keeps reading, with the prompt [`CONTINUATION`], while a bracket
//! or a string is open, or after Alt-Enter (which accepts the line but not the input).

use crate::commands::{find_command, COMMANDS};
use crate::out::Screen;
use livejit_backend::CompletionData;
use livejit_frontend::lexer::Kw;
use rustyline::completion::{Completer, FilenameCompleter, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::{Hint, Hinter};
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Cmd, ConditionalEventHandler, Context, Event, EventContext, RepeatCount};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, RwLock};

/// The first line's prompt.
pub const PROMPT: &str = "livejit> ";
/// The prompt of the further lines of one input.
pub const CONTINUATION: &str = "...> ";

const RESET: &str = "\x1b[0m";
const KEYWORD: &str = "\x1b[1;35m";
const NUMBER: &str = "\x1b[33m";
const STRING: &str = "\x1b[32m";
const COMMENT: &str = "\x1b[90m";
const COMMAND: &str = "\x1b[1;36m";
const CALLABLE: &str = "\x1b[34m";
const BRACKET_MATCH: &str = "\x1b[1;4m";
const BRACKET_UNMATCHED: &str = "\x1b[1;31m";
const HINT: &str = "\x1b[90m";
const PROMPT_STYLE: &str = "\x1b[1;32m";

/// The completion data the helper reads; the session thread replaces it.
pub type SharedData = Arc<RwLock<CompletionData>>;

/// rustyline's helper for the REPL.
pub struct ReplHelper {
    data: SharedData,
    screen: Option<Arc<Screen>>,
    files: FilenameCompleter,
}

impl ReplHelper {
    /// A helper reading `data`; it tells `screen` when a line is accepted.
    pub fn new(data: SharedData, screen: Option<Arc<Screen>>) -> ReplHelper {
        ReplHelper {
            data,
            screen,
            files: FilenameCompleter::new(),
        }
    }

    fn with_data<T>(&self, f: impl FnOnce(&CompletionData) -> T) -> T {
        f(&self.data.read().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A prompt that tells the screen when the editor has started (it reads its prompt only once
/// the terminal is in raw mode).
pub struct EditorPrompt {
    raw: &'static str,
    styled: String,
    screen: Option<Arc<Screen>>,
}

impl EditorPrompt {
    /// `raw`, coloured when `colour`.
    pub fn new(raw: &'static str, colour: bool, screen: Option<Arc<Screen>>) -> EditorPrompt {
        let styled = if colour {
            let text = raw.trim_end();
            format!("{PROMPT_STYLE}{text}{RESET}{}", &raw[text.len()..])
        } else {
            raw.to_string()
        };
        EditorPrompt {
            raw,
            styled,
            screen,
        }
    }

    fn up(&self) {
        if let Some(s) = &self.screen {
            s.prompt_up();
        }
    }
}

impl rustyline::Prompt for EditorPrompt {
    fn raw(&self) -> &str {
        self.up();
        self.raw
    }

    fn styled(&self) -> &str {
        self.up();
        &self.styled
    }
}

/// Alt-Enter: accept this line but go on with the same input (the flag tells the loop).
pub struct ContinueInput(pub Arc<AtomicBool>);

impl ConditionalEventHandler for ContinueInput {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, _: &EventContext) -> Option<Cmd> {
        self.0.store(true, SeqCst);
        Some(Cmd::AcceptLine)
    }
}

/// Ctrl-C, and Ctrl-D on an empty line: the editor returns, so the screen must hold output
/// until it has. Performs the key's usual command.
pub struct Leaving {
    /// The screen to tell.
    pub screen: Option<Arc<Screen>>,
    /// Only when the line is empty (Ctrl-D; on a non-empty line it deletes a character).
    pub only_if_empty: bool,
}

impl ConditionalEventHandler for Leaving {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext) -> Option<Cmd> {
        if !self.only_if_empty || ctx.line().is_empty() {
            if let Some(s) = &self.screen {
                s.closing();
            }
        }
        None
    }
}

/// A signature hint: shown greyed after the cursor, never inserted.
pub struct SignatureHint(String);

impl Hint for SignatureHint {
    fn display(&self) -> &str {
        &self.0
    }
    fn completion(&self) -> Option<&str> {
        None
    }
}

impl Validator for ReplHelper {
    /// Every line is accepted (the input loop decides whether the input goes on, see the
    /// module doc); accepting it ends this `readline`, which the screen must know first.
    fn validate(&self, _: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        if let Some(s) = &self.screen {
            s.closing();
        }
        Ok(ValidationResult::Valid(None))
    }
}

impl Hinter for ReplHelper {
    type Hint = SignatureHint;

    fn hint(&self, line: &str, pos: usize, _: &Context<'_>) -> Option<SignatureHint> {
        if pos < line.len() {
            return None;
        }
        if let Some(h) = command_hint(line) {
            return Some(SignatureHint(h));
        }
        self.with_data(|d| signature_hint(line, d))
            .map(SignatureHint)
    }
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        Cow::Owned(self.with_data(|d| highlight(line, pos, d)))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        Cow::Owned(format!("{HINT}{hint}{RESET}"))
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        // Bracket matching depends on the cursor: redraw on every move.
        true
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        match complete(
            line,
            pos,
            &self.data.read().unwrap_or_else(|e| e.into_inner()),
        ) {
            Completion::Paths => self.files.complete(line, pos, ctx),
            Completion::Items(start, items) => Ok((start, items)),
        }
    }
}

impl rustyline::Helper for ReplHelper {}

/// What to complete at the cursor.
pub enum Completion {
    /// A file path (rustyline's file name completer).
    Paths,
    /// These replacements for the text from the byte offset on.
    Items(usize, Vec<Pair>),
}

fn pair(display: String, replacement: String) -> Pair {
    Pair {
        display,
        replacement,
    }
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Completion at `pos` of `line`: commands, their path or name arguments, names (functions,
/// builtins, globals, structs) and fields after `x.`.
pub fn complete(line: &str, pos: usize, data: &CompletionData) -> Completion {
    let before = &line[..pos];
    let indent = before.len() - before.trim_start().len();
    if let Some(cmd_text) = before.trim_start().strip_prefix(':') {
        let Some(space) = cmd_text.find(char::is_whitespace) else {
            let items = COMMANDS
                .iter()
                .filter(|c| c.name.starts_with(cmd_text))
                .map(|c| pair(format!(":{}", c.name), format!(":{}", c.name)))
                .collect();
            return Completion::Items(indent, items);
        };
        let Some(c) = find_command(&cmd_text[..space]) else {
            return Completion::Items(pos, Vec::new());
        };
        if c.takes_path {
            return Completion::Paths;
        }
        let word_start = word_start(before);
        let word = &before[word_start..];
        let items = match c.name {
            "help" => COMMANDS
                .iter()
                .filter(|h| h.name.starts_with(word))
                .map(|h| pair(h.name.to_string(), h.name.to_string()))
                .collect(),
            "versions" | "source" | "rollback" | "ir" | "asm" => data
                .functions
                .iter()
                .filter(|f| f.name.starts_with(word))
                .map(|f| pair(format!("{}{}", f.name, f.signature()), f.name.clone()))
                .collect(),
            "type" | "t" | "time" | "spawn" => return complete_code(before, data),
            _ => Vec::new(),
        };
        return Completion::Items(word_start, items);
    }
    complete_code(before, data)
}

fn word_start(before: &str) -> usize {
    before
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_ident(*c))
        .last()
        .map_or(before.len(), |(i, _)| i)
}

/// Names, or fields after `receiver.`.
fn complete_code(before: &str, data: &CompletionData) -> Completion {
    let start = word_start(before);
    let word = &before[start..];
    if word.starts_with(|c: char| c.is_ascii_digit()) {
        return Completion::Items(start, Vec::new());
    }
    let mut items: Vec<Pair> = Vec::new();
    if let Some(recv_end) = before[..start].strip_suffix('.').map(str::len) {
        let receiver = &before[word_start(&before[..recv_end])..recv_end];
        let own = data
            .global_type(receiver)
            .and_then(|ty| data.struct_info(ty))
            .map(|s| vec![s]);
        let structs = own.unwrap_or_else(|| data.structs.iter().collect());
        for s in structs {
            for f in &s.fields {
                if f.name.starts_with(word) && !items.iter().any(|p| p.replacement == f.name) {
                    items.push(pair(format!("{}: {}", f.name, f.ty), f.name.clone()));
                }
            }
        }
        return Completion::Items(start, items);
    }
    for f in data.functions.iter().chain(&data.builtins) {
        if f.name.starts_with(word) {
            items.push(pair(
                format!("{}{}", f.name, f.signature()),
                format!("{}(", f.name),
            ));
        }
    }
    for g in &data.globals {
        if g.name.starts_with(word) {
            items.push(pair(format!("{}: {}", g.name, g.ty), g.name.clone()));
        }
    }
    for s in &data.structs {
        if s.name.starts_with(word) {
            items.push(pair(format!("struct {}", s.name), s.name.clone()));
        }
    }
    items.sort_by(|a, b| a.replacement.cmp(&b.replacement));
    Completion::Items(start, items)
}

/// After `:load ` and the like: what the command takes (`FILE`).
fn command_hint(line: &str) -> Option<String> {
    let rest = line.trim_start().strip_prefix(':')?;
    let name = rest.strip_suffix(' ')?;
    let c = find_command(name)?;
    (!c.args.is_empty() && !name.contains(char::is_whitespace)).then(|| c.args.to_string())
}

/// The kinds of lexical pieces highlighting and hints look at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Piece {
    Code,
    Str,
    Comment,
}

/// Splits `line` into code, string literals and `//` comments: (kind, start, end).
fn pieces(line: &str) -> Vec<(Piece, usize, usize)> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut code_start = 0;
    while i < b.len() {
        let kind = match b[i] {
            b'"' => Piece::Str,
            b'/' if b.get(i + 1) == Some(&b'/') => Piece::Comment,
            _ => {
                i += 1;
                continue;
            }
        };
        if code_start < i {
            out.push((Piece::Code, code_start, i));
        }
        let start = i;
        i += 1;
        match kind {
            Piece::Str => {
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => i += 1,
                    }
                }
            }
            _ => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
        }
        i = i.min(b.len());
        out.push((kind, start, i));
        code_start = i;
    }
    if code_start < b.len() {
        out.push((Piece::Code, code_start, b.len()));
    }
    out
}

/// For each bracket in code: its partner's offset, or `None` if unmatched.
fn bracket_pairs(line: &str) -> Vec<(usize, Option<usize>)> {
    let mut stack: Vec<(usize, u8)> = Vec::new();
    let mut out: Vec<(usize, Option<usize>)> = Vec::new();
    for (kind, start, end) in pieces(line) {
        if kind != Piece::Code {
            continue;
        }
        for (i, &c) in line.as_bytes()[start..end].iter().enumerate() {
            let i = start + i;
            match c {
                b'(' | b'[' | b'{' => {
                    stack.push((i, c));
                    out.push((i, None));
                }
                b')' | b']' | b'}' => {
                    let want = match c {
                        b')' => b'(',
                        b']' => b'[',
                        _ => b'{',
                    };
                    match stack.last() {
                        Some(&(open, o)) if o == want => {
                            stack.pop();
                            out.push((i, Some(open)));
                            if let Some(e) = out.iter_mut().find(|(p, _)| *p == open) {
                                e.1 = Some(i);
                            }
                        }
                        _ => out.push((i, None)),
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// `line` with ANSI colours: keywords, numbers, strings, comments, the command word, known
/// functions, and the bracket at (or just before) the cursor with its partner; an unmatched
/// closing bracket is red. Display width is unchanged.
pub fn highlight(line: &str, pos: usize, data: &CompletionData) -> String {
    let pairs = bracket_pairs(line);
    let at = |p: usize| pairs.iter().find(|(i, _)| *i == p).copied();
    let current = pos
        .checked_sub(1)
        .and_then(at)
        .filter(|(_, m)| m.is_some())
        .or_else(|| at(pos).filter(|(_, m)| m.is_some()));
    let marked: Vec<usize> = current
        .map(|(i, m)| vec![i, m.unwrap_or(i)])
        .unwrap_or_default();
    let mut out = String::with_capacity(line.len() * 2);
    let cmd_end = if line.trim_start().starts_with(':') {
        let indent = line.len() - line.trim_start().len();
        line[indent..]
            .find(char::is_whitespace)
            .map_or(line.len(), |e| indent + e)
    } else {
        0
    };
    if cmd_end > 0 {
        out.push_str(COMMAND);
        out.push_str(&line[..cmd_end]);
        out.push_str(RESET);
    }
    for (kind, start, end) in pieces(line) {
        let start = start.max(cmd_end);
        if start >= end {
            continue;
        }
        let text = &line[start..end];
        match kind {
            Piece::Str => paint(&mut out, STRING, text),
            Piece::Comment => paint(&mut out, COMMENT, text),
            Piece::Code => code(&mut out, line, start, end, &pairs, &marked, data),
        }
    }
    out
}

fn paint(out: &mut String, style: &str, text: &str) {
    out.push_str(style);
    out.push_str(text);
    out.push_str(RESET);
}

fn code(
    out: &mut String,
    line: &str,
    start: usize,
    end: usize,
    pairs: &[(usize, Option<usize>)],
    marked: &[usize],
    data: &CompletionData,
) {
    let mut i = start;
    while i < end {
        let rest = &line[i..end];
        let c = rest.chars().next().unwrap_or(' ');
        if c.is_ascii_digit() {
            let n = rest
                .char_indices()
                .find(|&(j, ch)| {
                    !(ch.is_ascii_alphanumeric()
                        || ch == '_'
                        || (ch == '.' && rest[j + 1..].starts_with(|d: char| d.is_ascii_digit())))
                })
                .map_or(rest.len(), |(j, _)| j);
            paint(out, NUMBER, &rest[..n]);
            i += n;
        } else if is_ident(c) {
            let n = rest.find(|ch: char| !is_ident(ch)).unwrap_or(rest.len());
            let word = &rest[..n];
            if Kw::from_name(word).is_some() {
                paint(out, KEYWORD, word);
            } else if data.callable(word).is_some() && data.global_type(word).is_none() {
                paint(out, CALLABLE, word);
            } else {
                out.push_str(word);
            }
            i += n;
        } else if "()[]{}".contains(c) {
            if marked.contains(&i) {
                paint(out, BRACKET_MATCH, &rest[..1]);
            } else if ")]}".contains(c) && pairs.iter().any(|&(p, m)| p == i && m.is_none()) {
                paint(out, BRACKET_UNMATCHED, &rest[..1]);
            } else {
                out.push(c);
            }
            i += 1;
        } else {
            out.push(c);
            i += c.len_utf8();
        }
    }
}

/// The signature of the function whose call the cursor (at the end of `line`) is in, from the
/// current argument on: after `gcd(`, `a: int, b: int) -> int`; after `gcd(1, `,
/// `b: int) -> int`. Only at the start of an argument, so it never sits after typed text.
pub fn signature_hint(line: &str, data: &CompletionData) -> Option<String> {
    // Open brackets in code: (offset, callee for `(`, commas seen at its level).
    let mut stack: Vec<(usize, Option<&str>, usize)> = Vec::new();
    let mut last_piece = Piece::Code;
    for (kind, start, end) in pieces(line) {
        last_piece = kind;
        if kind != Piece::Code {
            continue;
        }
        for (j, c) in line[start..end].char_indices() {
            let i = start + j;
            match c {
                '(' => {
                    let head = line[..i].trim_end();
                    let name = &head[word_start(head)..];
                    let name = (!name.is_empty()).then_some(name);
                    stack.push((i, name, 0));
                }
                '[' | '{' => stack.push((i, None, 0)),
                ')' | ']' | '}' => {
                    stack.pop();
                }
                ',' => {
                    if let Some(top) = stack.last_mut() {
                        top.2 += 1;
                    }
                }
                _ => {}
            }
        }
    }
    if last_piece != Piece::Code {
        return None;
    }
    let &(open, name, arg) = stack.last()?;
    let tail = &line[open + 1..];
    let since = tail.rfind(',').map_or(tail, |c| &tail[c + 1..]);
    if !since.trim().is_empty() {
        return None;
    }
    let f = data.callable(name?)?;
    let params: Vec<&str> = match f.params.get(arg..) {
        Some(p) if !p.is_empty() => p.iter().map(String::as_str).collect(),
        _ => match f.params.last() {
            Some(last) if last.ends_with("...") => vec![last.as_str()],
            _ => return None,
        },
    };
    let mut hint = format!("{})", params.join(", "));
    if let Some(r) = &f.ret {
        hint.push_str(" -> ");
        hint.push_str(r);
    }
    Some(hint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use livejit_backend::{Callable, StructInfo, Typed};

    fn data() -> CompletionData {
        CompletionData {
            functions: vec![Callable {
                name: "gcd".into(),
                params: vec!["a: int".into(), "b: int".into()],
                ret: Some("int".into()),
            }],
            builtins: vec![Callable {
                name: "print".into(),
                params: vec!["values...".into()],
                ret: None,
            }],
            globals: vec![
                Typed {
                    name: "hits".into(),
                    ty: "int".into(),
                },
                Typed {
                    name: "p".into(),
                    ty: "Point".into(),
                },
            ],
            structs: vec![
                StructInfo {
                    name: "Point".into(),
                    fields: vec![
                        Typed {
                            name: "x".into(),
                            ty: "int".into(),
                        },
                        Typed {
                            name: "y".into(),
                            ty: "int".into(),
                        },
                    ],
                },
                StructInfo {
                    name: "Size".into(),
                    fields: vec![Typed {
                        name: "w".into(),
                        ty: "int".into(),
                    }],
                },
            ],
        }
    }

    fn replacements(c: Completion) -> (usize, Vec<String>) {
        match c {
            Completion::Items(start, items) => {
                (start, items.into_iter().map(|p| p.replacement).collect())
            }
            Completion::Paths => (usize::MAX, vec!["<paths>".into()]),
        }
    }

    #[test]
    fn completes_commands_names_fields_and_paths() {
        let d = data();
        assert_eq!(
            replacements(complete(":lo", 3, &d)),
            (0, vec![":load".into()])
        );
        assert_eq!(
            replacements(complete("1 + gc", 6, &d)),
            (4, vec!["gcd(".into()])
        );
        assert_eq!(
            replacements(complete("hi", 2, &d)),
            (0, vec!["hits".into()])
        );
        assert_eq!(
            replacements(complete("p.", 2, &d)),
            (2, vec!["x".into(), "y".into()])
        );
        // Unknown receiver: every field name.
        assert_eq!(
            replacements(complete("q.", 2, &d)),
            (2, vec!["x".into(), "y".into(), "w".into()])
        );
        assert!(matches!(complete(":load ex", 8, &d), Completion::Paths));
        assert!(matches!(complete(":watch ex", 9, &d), Completion::Paths));
        assert_eq!(
            replacements(complete(":versions g", 11, &d)),
            (10, vec!["gcd".into()])
        );
        assert_eq!(
            replacements(complete(":help lo", 8, &d)),
            (6, vec!["load".into()])
        );
        assert_eq!(
            replacements(complete(":type gc", 8, &d)),
            (6, vec!["gcd(".into()])
        );
    }

    #[test]
    fn hints_show_the_rest_of_the_signature() {
        let d = data();
        assert_eq!(
            signature_hint("gcd(", &d).as_deref(),
            Some("a: int, b: int) -> int")
        );
        assert_eq!(
            signature_hint("1 + gcd(4, ", &d).as_deref(),
            Some("b: int) -> int")
        );
        assert_eq!(signature_hint("gcd(4", &d), None);
        assert_eq!(signature_hint("gcd(4, 6)", &d), None);
        assert_eq!(
            signature_hint("print(1, ", &d).as_deref(),
            Some("values...)")
        );
        assert_eq!(signature_hint("print(\"gcd(", &d), None);
        assert_eq!(signature_hint("nope(", &d), None);
        assert_eq!(command_hint(":load ").as_deref(), Some("FILE"));
        assert_eq!(command_hint(":list "), None);
    }

    #[test]
    fn highlighting_keeps_the_text_and_matches_brackets() {
        let d = data();
        let line = "fn f(x: int) -> int { x + 12 } // done \"q\"";
        let h = highlight(line, 0, &d);
        let plain = strip(&h);
        assert_eq!(plain, line);
        assert!(h.contains(&format!("{KEYWORD}fn{RESET}")));
        assert!(h.contains(&format!("{NUMBER}12{RESET}")));
        assert!(h.contains(&format!("{COMMENT}// done \"q\"{RESET}")));
        // Cursor after `)`: it and its `(` are marked.
        let h = highlight("gcd(1, 2)", 9, &d);
        assert_eq!(h.matches(BRACKET_MATCH).count(), 2, "{h:?}");
        assert!(highlight("1)", 0, &d).contains(BRACKET_UNMATCHED));
        let h = highlight(":load \"a b.src\"", 0, &d);
        assert_eq!(strip(&h), ":load \"a b.src\"");
        assert!(h.starts_with(COMMAND));
    }

    fn strip(s: &str) -> String {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}
