//! REPL commands and the processing of one input.

use crate::out::{self, Stream};
use crate::render;
use livejit_backend::{
    CompileErrors, ErrorKind, EvalResult, Event, FnSummary, Interrupter, Outcome, Preview,
    Reporter, RuntimeError, Session, Source, TaskRow, VersionRow,
};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// One REPL command, for `:help`, `:help CMD` and completion.
pub struct CommandHelp {
    /// Its name, without the colon.
    pub name: &'static str,
    /// Other spellings.
    pub aliases: &'static [&'static str],
    /// What it takes (`FILE`, `[ID]`), empty for nothing.
    pub args: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// Its argument is a path (completed as one).
    pub takes_path: bool,
    /// A short example session.
    pub example: &'static str,
}

const fn cmd(
    name: &'static str,
    aliases: &'static [&'static str],
    args: &'static str,
    summary: &'static str,
    example: &'static str,
) -> CommandHelp {
    CommandHelp {
        name,
        aliases,
        args,
        summary,
        takes_path: false,
        example,
    }
}

const fn path_cmd(
    name: &'static str,
    aliases: &'static [&'static str],
    args: &'static str,
    summary: &'static str,
    example: &'static str,
) -> CommandHelp {
    CommandHelp {
        takes_path: true,
        ..cmd(name, aliases, args, summary, example)
    }
}

/// Every command, in the order `:help` lists them.
pub const COMMANDS: &[CommandHelp] = &[
    path_cmd(
        "load",
        &["l"],
        "FILE",
        "load or reload a file as one transaction, then run its top-level code",
        ":load examples/sort_swap.src",
    ),
    cmd(
        "reload",
        &["r"],
        "",
        "reload every loaded file that changed",
        ":reload",
    ),
    path_cmd(
        "watch",
        &[],
        "[FILE]",
        "load, then reload on every save until :unwatch FILE (alone: list watched files)",
        ":watch examples/numeric.src",
    ),
    path_cmd(
        "unwatch",
        &[],
        "FILE",
        "stop reloading a watched file",
        ":unwatch examples/numeric.src",
    ),
    cmd(
        "list",
        &[],
        "",
        "functions (signature, current version) and globals (type, value; long arrays cut)",
        ":list",
    ),
    cmd(
        "versions",
        &[],
        "NAME",
        "every version of a function: state, tier (fast/opt), active frames, code size, origin",
        ":versions sort",
    ),
    cmd(
        "source",
        &[],
        "NAME [N]",
        "source of the current version or of version N",
        ":source sort 1",
    ),
    cmd(
        "rollback",
        &[],
        "NAME",
        "reinstall the previous version as a new version",
        ":rollback sort",
    ),
    cmd(
        "type",
        &["t"],
        "EXPR",
        "type of an expression (not evaluated), or a function's signature",
        ":type gcd        (fn gcd(a: int, b: int) -> int)\n:type 1.5 * 2.0  (float)",
    ),
    cmd(
        "time",
        &[],
        "EXPR",
        "evaluate and report the wall time",
        ":time fib(25)",
    ),
    cmd(
        "ir",
        &[],
        "NAME",
        "LLVM IR of the code now in the slot (optimized once tiered up)",
        ":ir gcd",
    ),
    cmd(
        "asm",
        &[],
        "NAME",
        "machine code now in the slot of the current version",
        ":asm gcd",
    ),
    cmd(
        "spawn",
        &[],
        "EXPR",
        "run in a background task (ids 1, 2, 3...); the REPL stays usable",
        ":spawn main_loop()",
    ),
    cmd("tasks", &[], "", "list tasks (running and ended)", ":tasks"),
    cmd("kill", &[], "ID", "interrupt a task", ":kill 1"),
    cmd(
        "wait",
        &[],
        "[ID]",
        "wait for a task (or all tasks) to end; with an id, print its value or error",
        ":wait 1",
    ),
    cmd(
        "sleep",
        &[],
        "MS",
        "pause the REPL (for scripts)",
        ":sleep 500",
    ),
    cmd(
        "opt",
        &[],
        "[0-3]",
        "optimizing tier level for new definitions (default 2; 0: fast tier only; alone: show it)",
        ":opt 3",
    ),
    cmd(
        "help",
        &["h", "?"],
        "[CMD]",
        "all commands, or one with an example",
        ":help load",
    ),
    cmd(
        "quit",
        &["q", "exit"],
        "",
        "leave the REPL (Ctrl-D works too; Ctrl-C interrupts an evaluation)",
        ":quit",
    ),
];

/// The command called `name` (or one of its aliases).
pub fn find_command(name: &str) -> Option<&'static CommandHelp> {
    let name = name.strip_prefix(':').unwrap_or(name);
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
}

/// `:help`: every command on one line each.
fn help_text() -> String {
    let mut out = String::from(
        "Inputs are items (fn, global, let) and statements; the last expression's value is printed.\n\
         An input continues onto the next line while a bracket or a string is open; Alt-Enter\n\
         starts a new line of the same input. Tab completes names, fields and paths.\n\n",
    );
    for c in COMMANDS {
        let head = format!(":{} {}", c.name, c.args);
        out.push_str(&format!("{:<20}{}\n", head.trim_end(), c.summary));
    }
    out.push_str(
        "\n:help CMD explains one command. Paths may start with ~ and may be quoted: \
         :load \"my dir/a.src\".",
    );
    out
}

/// `:help CMD`: one command, its aliases and an example.
fn help_one(c: &CommandHelp) -> String {
    let mut out = format!(":{} {}\n  {}\n", c.name, c.args, c.summary);
    if !c.aliases.is_empty() {
        let aliases: Vec<String> = c.aliases.iter().map(|a| format!(":{a}")).collect();
        out.push_str(&format!("  also: {}\n", aliases.join(", ")));
    }
    out.push_str("example:\n");
    for line in c.example.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// A note for an input that is a bare `quit`, `exit` or `help` (with an optional `;` or
/// `()`), which users type expecting the command.
fn command_word_note(text: &str) -> Option<String> {
    let word = text.trim().trim_end_matches(';').trim();
    let word = word.strip_suffix("()").unwrap_or(word).trim();
    match word {
        "quit" | "exit" => Some("to leave the REPL, type `:quit` (or press Ctrl-D)".into()),
        "help" => Some("for the list of commands, type `:help`".into()),
        _ => None,
    }
}

/// What Ctrl-C reaches in one REPL (see [`Repl::foreground`]): its foreground evaluation,
/// and its `:wait` or `:sleep`, which stop when the count of presses changes.
#[derive(Clone)]
pub struct Foreground {
    interrupter: Interrupter,
    presses: Arc<AtomicU64>,
}

impl Foreground {
    /// Whether a foreground evaluation is running.
    pub fn running(&self) -> bool {
        self.interrupter.foreground_running()
    }
}

/// What Ctrl-C does: interrupts the foreground evaluation if one runs, and stops a `:wait` or
/// `:sleep` in progress. With nothing running it has no effect.
pub fn interrupt_now(foreground: &Foreground) {
    foreground.presses.fetch_add(1, SeqCst);
    foreground.interrupter.interrupt_foreground();
}

/// What `:list` shows, as data.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Listing {
    /// Struct definitions as written (`struct P { x: float, y: float }`).
    pub structs: Vec<String>,
    /// Functions with signature and live version.
    pub functions: Vec<FnSummary>,
    /// Globals with type and value (long values cut, see [`LIST_PREVIEW`]).
    pub globals: Vec<GlobalLine>,
}

/// One global for `:list`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GlobalLine {
    /// Its name.
    pub name: String,
    /// Its type as the language writes it.
    pub ty: String,
    /// Its value, as `:list` previews it.
    pub value: String,
}

/// Everything an input answers, as data: made by [`Repl`], rendered at the edge (the local
/// REPL renders it at once, the control socket sends it and its client renders it).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    /// Text: program output, or a command's plain answer or short error.
    Output {
        /// stdout or stderr.
        stream: Stream,
        /// The text, newline included.
        text: String,
    },
    /// The input was rejected: nothing was installed.
    Diagnostics {
        /// Its errors, with the source they point into.
        errors: CompileErrors,
    },
    /// The input's code stopped with a runtime error (or was interrupted).
    RuntimeError {
        /// The error.
        error: RuntimeError,
    },
    /// `:list`.
    Listing(Listing),
    /// `:versions NAME`.
    Versions {
        /// One row per version, oldest first.
        rows: Vec<VersionRow>,
    },
    /// `:tasks`.
    Tasks {
        /// One row per task.
        rows: Vec<TaskRow>,
    },
    /// Something that happened (a status line, a task's start or end).
    Event {
        /// What happened.
        event: Event,
    },
}

/// Where a [`Repl`]'s answers go.
pub type Sink = Arc<dyn Fn(Reply) + Send + Sync>;

/// The local sink: renders each reply and writes it ([`out::emit`]).
pub fn local_sink() -> Sink {
    Arc::new(|reply: Reply| {
        let (stream, text) = render::reply(&reply);
        out::emit(stream, text);
    })
}

/// Where status lines also go (besides the local stderr), if set: the control socket's
/// clients.
static STATUS: OnceLock<StatusRoute> = OnceLock::new();

/// Receives every status line (see [`route_status`]).
pub type StatusRoute = Box<dyn Fn(&Event) + Send + Sync>;

/// Sends every status line (`defined`, `redefined`, `freed`) to `f` as well, from now on.
/// Only the first call has an effect.
pub fn route_status(f: StatusRoute) {
    let _ = STATUS.set(f);
}

/// Writes `text` (a line, newline added) to `sink` as `stream` output.
macro_rules! say {
    ($sink:expr, $stream:ident, $($arg:tt)*) => {
        ($sink)(Reply::Output {
            stream: Stream::$stream,
            text: format!("{}\n", format_args!($($arg)*)),
        })
    };
}

/// How much of a long value `:list` shows (`print` and final values are always whole).
pub const LIST_PREVIEW: Preview = Preview {
    items: 10,
    bytes: 200,
};

/// How often `:wait`, `:sleep` and the idle input loop look at `:watch`ed files.
pub const WATCH_PERIOD: Duration = Duration::from_millis(200);

/// A file under `:watch`.
struct Watched {
    /// As the user wrote it (after `~` expansion): the name diagnostics use.
    shown: String,
    /// Canonical path, so that `:unwatch ./w.src` finds `w.src`.
    canonical: PathBuf,
    /// The bytes last seen.
    seen: Vec<u8>,
}

/// The path argument of a command: `~` and `~/...` expand to `$HOME`; a path in double quotes
/// may contain spaces. Anything after the path is an error.
pub fn parse_path(arg: &str) -> Result<String, String> {
    let arg = arg.trim();
    let path = if let Some(rest) = arg.strip_prefix('"') {
        let end = rest
            .find('"')
            .ok_or_else(|| "unterminated quoted path".to_string())?;
        if !rest[end + 1..].trim().is_empty() {
            return Err(format!(
                "unexpected `{}` after the path",
                rest[end + 1..].trim()
            ));
        }
        &rest[..end]
    } else {
        arg
    };
    if path.is_empty() {
        return Err("empty path".into());
    }
    let home = || std::env::var("HOME").unwrap_or_default();
    Ok(if path == "~" {
        home()
    } else if let Some(rest) = path.strip_prefix("~/") {
        format!("{}/{rest}", home().trim_end_matches('/'))
    } else {
        path.to_string()
    })
}

/// The REPL's state: the session plus what the commands need.
pub struct Repl {
    session: Session,
    /// Files loaded so far, with the bytes last loaded.
    loaded: Vec<(String, Vec<u8>)>,
    /// Files under `:watch`.
    watched: Vec<Watched>,
    /// When the watched files were last looked at.
    last_watch: Instant,
    /// Set by `:quit`.
    pub quit: bool,
    /// Where answers go.
    sink: Sink,
    /// Ctrl-C presses so far (see [`Foreground`]).
    presses: Arc<AtomicU64>,
    /// The files a remote client sent with the input being processed (`None`: a local REPL,
    /// which reads its own file system).
    sent: Option<HashMap<String, Vec<u8>>>,
}

/// The local reporter: status lines to stderr and to [`route_status`]'s receiver.
fn report(event: Event) {
    if let Some(f) = STATUS.get() {
        f(&event);
    }
    out::emit(Stream::Err, render::event(&event));
}

/// The files of one input, by path (`None` for a local REPL's).
pub type SentFiles = Option<HashMap<String, Vec<u8>>>;

impl Repl {
    /// Starts a session.
    pub fn new() -> Result<Repl, String> {
        let mut session = Session::new(Arc::new(report))?;
        // Benchmarking knob (bench/run.sh): measure what the safepoint polls cost.
        if std::env::var_os("LIVEJIT_NO_POLLS").is_some() {
            session.set_polls(false);
        }
        Ok(Repl::with_session(session))
    }

    /// A REPL on another handle of the same session (see [`Session::handle`]), for a control
    /// client: its task events (start, end) go to `tasks` with the sink of the input that
    /// spawned them; status lines go to everyone as for the session itself. Its answers go to
    /// the sink of each input ([`Repl::process_remote`]).
    pub fn attach(&self, tasks: Reporter) -> Result<Repl, String> {
        let reporter: Reporter = Arc::new(move |e: Event| match e {
            Event::Defined { .. } | Event::Freed { .. } => report(e),
            other => tasks(other),
        });
        Ok(Repl::with_session(self.session.handle(reporter)?))
    }

    fn with_session(session: Session) -> Repl {
        Repl {
            session,
            loaded: Vec::new(),
            watched: Vec::new(),
            last_watch: Instant::now(),
            quit: false,
            sink: local_sink(),
            presses: Arc::new(AtomicU64::new(0)),
            sent: None,
        }
    }

    /// Processes one input of a remote client: answers go to `sink`, program output of the
    /// input and of the tasks it spawns to `output`, and file arguments come from `files`.
    pub fn process_remote(
        &mut self,
        text: &[u8],
        files: HashMap<String, Vec<u8>>,
        sink: Sink,
        output: livejit_backend::OutputSink,
    ) -> bool {
        self.sink = sink;
        self.sent = Some(files);
        self.session.set_output(Some(output));
        let ok = self.process_bytes(text);
        self.quit = false;
        self.sent = None;
        self.session.set_output(None);
        self.sink = local_sink();
        ok
    }

    /// Installs files as one transaction, then runs their top-level code (`livejit push`):
    /// answers go to `sink`, program output to `output`. Returns (installed, succeeded).
    pub fn push(
        &mut self,
        files: &[(String, Vec<u8>)],
        sink: Sink,
        output: livejit_backend::OutputSink,
    ) -> (bool, bool) {
        self.sink = sink;
        self.session.set_output(Some(output));
        let r = self.push_files(files);
        self.session.set_output(None);
        self.sink = local_sink();
        r
    }

    fn push_files(&mut self, files: &[(String, Vec<u8>)]) -> (bool, bool) {
        let mut texts = Vec::new();
        for (path, bytes) in files {
            if bytes.len() as u64 > crate::source::max_input() {
                say!(
                    self.sink,
                    Err,
                    "error: `{path}` is larger than the input size limit"
                );
                return (false, false);
            }
            match livejit_frontend::source_text(bytes) {
                Ok(text) => texts.push((path.clone(), text.to_string())),
                Err(d) => return (false, self.invalid_utf8(path, bytes, d)),
            }
        }
        if texts.is_empty() {
            say!(self.sink, Err, "error: nothing to push");
            return (false, false);
        }
        match self.session.eval_files(&texts) {
            EvalResult::Rejected(errors) => {
                for errors in errors.by_file() {
                    (self.sink)(Reply::Diagnostics { errors });
                }
                (false, false)
            }
            other => (true, self.ran(other, "")),
        }
    }

    /// The foreground task slot and Ctrl-C count, for Ctrl-C ([`interrupt_now`]).
    pub fn foreground(&self) -> Foreground {
        Foreground {
            interrupter: self.session.interrupter(),
            presses: self.presses.clone(),
        }
    }

    /// Makes SIGINT act as Ctrl-C ([`interrupt_now`]): it interrupts the foreground
    /// evaluation, `:wait` or `:sleep`. With nothing running it is ignored in the REPL and in
    /// script mode, and ends the process (status 130) when `exit_when_idle` (`livejit run`).
    /// At the interactive prompt the line editor reads the key itself (and restores this
    /// handler afterwards); the input loop then calls [`interrupt_now`].
    pub fn install_interrupt_handler(&self, exit_when_idle: bool) {
        let foreground = self.foreground();
        let _ = ctrlc::set_handler(move || {
            let running = foreground.running();
            if exit_when_idle && !running {
                std::process::exit(130);
            }
            interrupt_now(&foreground);
        });
    }

    /// Starts the session's request pool for `livejit serve --http` (see
    /// [`Session::serve`]): `handle` must exist with the handler signature, which stays
    /// pinned while the service runs.
    pub fn serve(
        &mut self,
        threads: usize,
        timeout: Duration,
    ) -> Result<livejit_backend::Service, String> {
        self.session.serve("handle", threads, timeout)
    }

    /// Interrupts background tasks before exit.
    pub fn shutdown(&mut self) {
        self.session.interrupt_all();
    }

    /// Processes one complete input (a command, or source). Returns false if it failed.
    pub fn process(&mut self, text: &str) -> bool {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return true;
        }
        if let Some(cmd) = trimmed.strip_prefix(':') {
            return self.command(cmd);
        }
        let name = self.session.next_input_name();
        self.eval(&name, text)
    }

    fn eval(&mut self, name: &str, text: &str) -> bool {
        let result = self.session.eval(name, text);
        self.ran(result, text)
    }

    /// Reports how an evaluation of `text` went; true if it succeeded.
    fn ran(&self, result: EvalResult, text: &str) -> bool {
        match result {
            EvalResult::Ok => true,
            EvalResult::Rejected(mut errors) => {
                if let (Some(note), Some(d)) =
                    (command_word_note(text), errors.diagnostics.first_mut())
                {
                    d.notes.push(note);
                }
                (self.sink)(Reply::Diagnostics { errors });
                false
            }
            EvalResult::RuntimeError(error) => {
                (self.sink)(Reply::RuntimeError { error });
                false
            }
            EvalResult::Crashed(m) => {
                say!(self.sink, Err, "error: internal error in the runtime: {m}");
                false
            }
        }
    }

    /// A source file's bytes: from the client that sent the input, or (local REPL) from
    /// the file system.
    fn read_source(&self, path: &str) -> Result<Vec<u8>, String> {
        match &self.sent {
            None => crate::source::read_file(path),
            Some(files) => {
                let bytes = files
                    .get(path)
                    .ok_or_else(|| format!("cannot read `{path}`: not sent by the client"))?;
                let limit = crate::source::max_input();
                if bytes.len() as u64 > limit {
                    return Err(format!(
                        "`{path}` is larger than the input size limit ({limit} bytes)"
                    ));
                }
                Ok(bytes.clone())
            }
        }
    }

    /// Processes one input given as bytes: bytes that are not UTF-8 are a located compile
    /// error (the input fails), anything else goes to [`Repl::process`].
    pub fn process_bytes(&mut self, bytes: &[u8]) -> bool {
        match livejit_frontend::source_text(bytes) {
            Ok(text) => self.process(text),
            Err(d) => {
                let name = self.session.next_input_name();
                self.invalid_utf8(&name, bytes, d)
            }
        }
    }

    /// Loads (or reloads) a file: one transaction, then its top-level code.
    pub fn load(&mut self, path: &str) -> bool {
        let bytes = match self.read_source(path) {
            Ok(b) => b,
            Err(e) => {
                say!(self.sink, Err, "error: {e}");
                return false;
            }
        };
        match self.loaded.iter_mut().find(|(p, _)| p == path) {
            Some(entry) => entry.1 = bytes.clone(),
            None => self.loaded.push((path.to_string(), bytes.clone())),
        }
        match livejit_frontend::source_text(&bytes) {
            Ok(text) => self.eval(path, text),
            Err(d) => self.invalid_utf8(path, &bytes, d),
        }
    }

    fn command(&mut self, cmd: &str) -> bool {
        let (name, arg) = match cmd.find(char::is_whitespace) {
            Some(i) => (&cmd[..i], cmd[i..].trim()),
            None => (cmd, ""),
        };
        let sink = self.sink.clone();
        let need = |what: &str| -> bool {
            if arg.is_empty() {
                say!(sink, Err, "error: `:{name}` needs {what}");
                false
            } else {
                true
            }
        };
        match name {
            "help" | "h" | "?" if arg.is_empty() => {
                say!(self.sink, Out, "{}", help_text());
                true
            }
            "help" | "h" | "?" => match find_command(arg) {
                Some(c) => {
                    (self.sink)(Reply::Output {
                        stream: Stream::Out,
                        text: help_one(c),
                    });
                    true
                }
                None => {
                    say!(
                        self.sink,
                        Err,
                        "error: no command `:{}` (try :help)",
                        arg.trim_start_matches(':')
                    );
                    false
                }
            },
            "quit" | "q" | "exit" => {
                self.quit = true;
                true
            }
            "load" | "l" => need("a file") && self.with_path(arg, |r, p| r.load(&p)),
            "reload" | "r" => self.reload(),
            "watch" if arg.is_empty() => {
                if self.watched.is_empty() {
                    say!(self.sink, Out, "no watched files");
                }
                for w in &self.watched {
                    say!(self.sink, Out, "{}", w.shown);
                }
                true
            }
            "watch" => self.with_path(arg, |r, p| r.watch(&p)),
            "unwatch" => need("a file") && self.with_path(arg, |r, p| r.unwatch(&p)),
            "list" => {
                let globals = self.session.globals_preview(LIST_PREVIEW);
                (self.sink)(Reply::Listing(Listing {
                    structs: self.session.structs(),
                    functions: self.session.functions(),
                    globals: globals
                        .into_iter()
                        .map(|g| GlobalLine {
                            name: g.name,
                            ty: g.ty.to_string(),
                            value: g.value,
                        })
                        .collect(),
                }));
                true
            }
            "versions" => {
                if !need("a function name") {
                    return false;
                }
                match self.session.versions(arg) {
                    Ok(rows) => {
                        (self.sink)(Reply::Versions { rows });
                        true
                    }
                    Err(e) => self.answer(Err(e)),
                }
            }
            "source" => {
                if !need("a function name") {
                    return false;
                }
                let parts: Vec<&str> = arg.split_whitespace().collect();
                let (fname, n) = match parts[..] {
                    [fname] => (fname, None),
                    [fname, n] => match n.trim_start_matches('v').parse::<u32>() {
                        Ok(n) => (fname, Some(n)),
                        Err(_) => {
                            say!(
                                self.sink,
                                Err,
                                "error: `:source NAME [N]` takes a version number"
                            );
                            return false;
                        }
                    },
                    _ => {
                        say!(
                            self.sink,
                            Err,
                            "error: `:source NAME [N]` takes a name and at most one version"
                        );
                        return false;
                    }
                };
                let r = self.session.source_of(fname, n).map(|s| format!("{s}\n"));
                self.answer(r)
            }
            "rollback" => {
                if !need("a function name") {
                    return false;
                }
                match self.session.previous_version(arg) {
                    Ok((n, text)) => {
                        // The source name is the new version's origin in `:versions`, and
                        // tells the next `:rollback` which version this one counts as.
                        let input = format!("<rollback of v{n}>");
                        self.eval(&input, &text)
                    }
                    Err(e) => {
                        say!(self.sink, Err, "error: {e}");
                        false
                    }
                }
            }
            "type" | "t" => {
                if !need("an expression") {
                    return false;
                }
                if let Some(sig) = self.signature_of(arg) {
                    say!(self.sink, Out, "{sig}");
                    return true;
                }
                let input = self.session.next_input_name();
                match self.session.type_of(&input, arg) {
                    Ok(ty) => {
                        say!(self.sink, Out, "{ty}");
                        true
                    }
                    Err(errors) => self.rejected(errors),
                }
            }
            "time" => {
                if !need("an expression") {
                    return false;
                }
                let input = self.session.next_input_name();
                let start = Instant::now();
                let ok = self.eval(&input, arg);
                if ok {
                    say!(
                        self.sink,
                        Out,
                        "time: {:.3} ms",
                        start.elapsed().as_secs_f64() * 1e3
                    );
                }
                ok
            }
            "ir" => need("a function name") && self.answer(self.session.ir_of(arg)),
            "asm" => need("a function name") && self.answer(self.session.asm_of(arg)),
            "spawn" => {
                if !need("an expression") {
                    return false;
                }
                let input = self.session.next_input_name();
                match self.session.spawn(&input, arg) {
                    Ok(_) => true,
                    Err(errors) => self.rejected(errors),
                }
            }
            "tasks" => {
                let rows = self.session.tasks();
                (self.sink)(Reply::Tasks { rows });
                true
            }
            "kill" => match arg.parse::<u64>() {
                Ok(id) => {
                    let r = self.session.kill(id).map(|()| String::new());
                    self.answer(r)
                }
                Err(_) => {
                    say!(self.sink, Err, "error: `:kill ID` takes a task id");
                    false
                }
            },
            "wait" => {
                let id = if arg.is_empty() {
                    None
                } else {
                    match arg.parse::<u64>() {
                        Ok(id) => Some(id),
                        Err(_) => {
                            say!(self.sink, Err, "error: `:wait [ID]` takes a task id");
                            return false;
                        }
                    }
                };
                self.wait(id)
            }
            "sleep" => match arg.parse::<u64>() {
                Ok(ms) => {
                    let deadline = Instant::now() + Duration::from_millis(ms);
                    let start = self.presses.load(SeqCst);
                    while Instant::now() < deadline {
                        if self.presses.load(SeqCst) != start {
                            say!(self.sink, Err, "interrupted in `:sleep`");
                            return false;
                        }
                        self.idle();
                        let left = deadline.saturating_duration_since(Instant::now());
                        std::thread::sleep(left.min(Duration::from_millis(5)));
                    }
                    true
                }
                Err(_) => {
                    say!(
                        self.sink,
                        Err,
                        "error: `:sleep MS` takes a number of milliseconds"
                    );
                    false
                }
            },
            "opt" => match arg.parse::<u8>() {
                Ok(level @ 0..=3) => {
                    self.session.set_opt(level);
                    true
                }
                _ if arg.is_empty() => {
                    say!(self.sink, Out, "{}", self.session.opt());
                    true
                }
                _ => {
                    say!(self.sink, Err, "error: `:opt` takes a level from 0 to 3");
                    false
                }
            },
            _ => {
                say!(
                    self.sink,
                    Err,
                    "error: unknown command `:{name}` (try :help)"
                );
                false
            }
        }
    }

    /// `:wait [ID]`: blocks until task ID (or every task) has ended, or Ctrl-C. With an id, an
    /// ended task's value is printed (stdout) or its error (stderr, and the input fails), however
    /// long ago it ended.
    fn wait(&mut self, id: Option<u64>) -> bool {
        let explicit = id.is_some();
        let ids = match id {
            Some(id) => vec![id],
            None => self.session.task_ids(),
        };
        let start = self.presses.load(SeqCst);
        let mut ok = true;
        for id in ids {
            let outcome = loop {
                match self.session.task_outcome(id) {
                    Err(e) => {
                        say!(self.sink, Err, "error: {e}");
                        return false;
                    }
                    Ok(Some(outcome)) => break outcome,
                    Ok(None) => {}
                }
                if self.presses.load(SeqCst) != start {
                    say!(self.sink, Err, "interrupted in `:wait`");
                    return false;
                }
                self.idle();
                std::thread::sleep(Duration::from_millis(2));
            };
            // `:wait` alone only waits: each task's end was already reported when it happened.
            if explicit {
                ok &= self.report_outcome(id, &outcome);
            }
        }
        ok
    }

    /// Loads `path` and keeps watching it: [`Repl::idle`] reloads it when it changes. A file
    /// that cannot be read is an error and is not watched.
    fn watch(&mut self, path: &str) -> bool {
        if self.sent.is_some() {
            // A remote client keeps its own watch list and sends changed files itself.
            let ok = self.load(path);
            say!(self.sink, Err, "watching {path}");
            return ok;
        }
        // A file that cannot be read (missing, a device, too large) is an error and is not
        // watched.
        let text = match crate::source::read_file(path) {
            Ok(t) => t,
            Err(e) => {
                say!(self.sink, Err, "error: {e}");
                return false;
            }
        };
        let canonical = match std::fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) => {
                say!(self.sink, Err, "error: cannot watch `{path}`: {e}");
                return false;
            }
        };
        let ok = self.load(path);
        self.watched.retain(|w| w.canonical != canonical);
        self.watched.push(Watched {
            shown: path.to_string(),
            canonical,
            seen: text,
        });
        say!(self.sink, Err, "watching {path}");
        ok
    }

    fn unwatch(&mut self, path: &str) -> bool {
        let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
        let before = self.watched.len();
        self.watched
            .retain(|w| w.canonical != canonical && w.shown != path);
        if self.watched.len() == before {
            say!(self.sink, Err, "error: `{path}` is not watched");
            return false;
        }
        say!(self.sink, Err, "stopped watching {path}");
        true
    }

    /// Called between inputs and during `:wait` / `:sleep`: at most every [`WATCH_PERIOD`],
    /// reloads each watched file whose text changed since it was last seen.
    /// Returns whether it reloaded anything.
    pub fn idle(&mut self) -> bool {
        if self.last_watch.elapsed() < WATCH_PERIOD {
            return false;
        }
        self.last_watch = Instant::now();
        let mut changed = Vec::new();
        for w in &mut self.watched {
            // A file being rewritten may be briefly missing or empty: wait for a real text.
            match crate::source::read_file(&w.shown) {
                Ok(text) if !text.is_empty() && text != w.seen => {
                    w.seen = text;
                    changed.push(w.shown.clone());
                }
                _ => {}
            }
        }
        let reloaded = !changed.is_empty();
        for path in changed {
            say!(self.sink, Err, "{path} changed, reloading");
            self.load(&path);
        }
        reloaded
    }

    fn reload(&mut self) -> bool {
        let mut ok = true;
        let files: Vec<(String, Vec<u8>)> = self.loaded.clone();
        for (path, old) in files {
            if self.sent.as_ref().is_some_and(|f| !f.contains_key(&path)) {
                // Loaded by another client or by the service itself: not this client's file.
                continue;
            }
            match self.read_source(&path) {
                Ok(text) if text == old => {}
                Ok(_) => ok &= self.load(&path),
                Err(e) => {
                    say!(self.sink, Err, "error: {e}");
                    ok = false;
                }
            }
        }
        ok
    }

    /// `:type NAME` for a function or builtin that no global shadows: `fn NAME(params) -> T`.
    fn signature_of(&self, name: &str) -> Option<String> {
        let data = self.session.completion_data();
        if data.global_type(name).is_some() {
            return None;
        }
        let f = data.callable(name)?;
        Some(format!("fn {}{}", f.name, f.signature()))
    }

    /// What an editor can complete now (see [`Session::completion_data`]).
    pub fn completion_data(&self) -> livejit_backend::CompletionData {
        self.session.completion_data()
    }

    fn rejected(&self, errors: CompileErrors) -> bool {
        (self.sink)(Reply::Diagnostics { errors });
        false
    }

    /// Reports source bytes that are not UTF-8 (`d` from [`livejit_frontend::source_text`]).
    /// Rendered against the text with invalid sequences replaced by U+FFFD: everything before
    /// the first one is unchanged, so the location (line, column) is exact.
    fn invalid_utf8(&self, name: &str, bytes: &[u8], mut d: livejit_frontend::Diagnostic) -> bool {
        for l in &mut d.labels {
            l.span.end = l.span.start + char::REPLACEMENT_CHARACTER.len_utf8();
        }
        self.rejected(CompileErrors {
            source: Source::new(name, &String::from_utf8_lossy(bytes)),
            diagnostics: vec![d],
        })
    }

    /// A command's answer: its text on stdout, or its error on stderr.
    fn answer(&self, r: Result<String, String>) -> bool {
        match r {
            Ok(text) => {
                if !text.is_empty() {
                    (self.sink)(Reply::Output {
                        stream: Stream::Out,
                        text,
                    });
                }
                true
            }
            Err(e) => {
                say!(self.sink, Err, "error: {e}");
                false
            }
        }
    }

    /// Runs `f` on the parsed path argument, or reports why it is not a path.
    fn with_path(&mut self, arg: &str, f: impl FnOnce(&mut Repl, String) -> bool) -> bool {
        match parse_path(arg) {
            Ok(p) => f(self, p),
            Err(e) => {
                say!(self.sink, Err, "error: {e}");
                false
            }
        }
    }

    /// Prints how task `id` ended (for `:wait ID`): its value on stdout, or its error on
    /// stderr. Returns false for an error.
    fn report_outcome(&self, id: u64, outcome: &Outcome) -> bool {
        match outcome {
            Outcome::Done(Some(v)) => {
                say!(self.sink, Out, "{v}");
                true
            }
            Outcome::Done(None) => true,
            Outcome::Failed(e) => {
                let text = task_failure(id, e);
                (self.sink)(Reply::Output {
                    stream: Stream::Err,
                    text,
                });
                false
            }
            Outcome::Crashed(m) => {
                say!(self.sink, Err, "error: task {id} crashed: {m}");
                false
            }
        }
    }
}

/// A failed task, as `:wait ID` reports it.
fn task_failure(id: u64, e: &RuntimeError) -> String {
    if e.kind == ErrorKind::Interrupted {
        format!("task {id} killed {}\n", render::interrupted_at(e))
    } else {
        format!("task {id} failed\n{}", render::runtime_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_found_by_name_alias_and_colon() {
        assert_eq!(find_command("load").map(|c| c.name), Some("load"));
        assert_eq!(find_command(":l").map(|c| c.name), Some("load"));
        assert_eq!(find_command("exit").map(|c| c.name), Some("quit"));
        assert!(find_command("nope").is_none());
        for c in COMMANDS {
            assert!(
                !c.example.is_empty() && c.example.starts_with(':'),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn only_bare_command_words_get_a_note() {
        assert!(command_word_note("quit").is_some());
        assert!(command_word_note(" exit; ").is_some());
        assert!(command_word_note("help()").is_some());
        assert!(command_word_note("quit + 1").is_none());
        assert!(command_word_note("helper").is_none());
    }
}
