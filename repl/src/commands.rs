//! REPL commands and the processing of one input.

use crate::render;
use livejit_backend::session::{EvalResult, Event, Session};
use livejit_backend::versions::Source;
use livejit_backend::CompileErrors;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const HELP: &str = "\
Inputs are items (fn, global, let) and statements; the last expression's value is printed.
An input continues onto the next line while a bracket is open.

:load FILE          load or reload a file as one transaction, then run its top-level code
:reload             reload every loaded file that changed
:watch FILE         load, then reload on every save until :unwatch FILE
:list               functions (signature, current version) and globals (type, value)
:versions NAME      every version of a function: state, active frames, code size, origin
:source NAME [N]    source of the current version or of version N
:rollback NAME      reinstall the previous version as a new version
:type EXPR          type of an expression (not evaluated)
:time EXPR          evaluate and report the wall time
:ir NAME / :asm NAME   optimized LLVM IR / machine code of the current version
:spawn EXPR         run in a background task (ids 1, 2, 3...)
:tasks              list running tasks
:kill ID            interrupt a task
:wait [ID]          wait for a task (or all tasks) to end
:sleep MS           pause the REPL
:opt 0-3            optimization level for new definitions (default 2)
:help / :quit       this text / leave (Ctrl-D works too; Ctrl-C interrupts an evaluation)";

/// Pauses the calling thread for `pause` of wall-clock time.
///
/// Not one `thread::sleep`: the REPL thread is registered with the garbage collector, so each
/// collection interrupts it with a signal and suspends it in the handler until the world
/// restarts, and `nanosleep` then resumes with the time that was left when the signal came:
/// every pause was added to the sleep (`:sleep 1000` took 13 s under a task allocating
/// arrays). `park_timeout` waits against an absolute deadline (a futex), and the loop checks the
/// deadline, so the total is the time asked for plus at most one collection.
pub fn sleep_for(pause: Duration) {
    let deadline = Instant::now() + pause;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// The pause a well-formed `:sleep MS` input asks for. The input loops sleep without holding
/// the REPL lock, so `:watch` reloads can happen meanwhile.
pub fn sleep_request(text: &str) -> Option<Duration> {
    let arg = text.trim().strip_prefix(":sleep")?;
    if !arg.starts_with(char::is_whitespace) {
        return None;
    }
    arg.trim().parse().ok().map(Duration::from_millis)
}

/// The REPL's state: the session plus what the commands need.
pub struct Repl {
    session: Session,
    /// Files loaded so far, with the bytes last loaded.
    loaded: Vec<(String, Vec<u8>)>,
    /// Files under `:watch`, with the bytes last seen.
    watched: Vec<(String, Vec<u8>)>,
    /// Set by `:quit`.
    pub quit: bool,
}

/// The line editor's printer while the interactive REPL runs: messages that arrive while the
/// user is typing are printed above the prompt, which is then redrawn.
type TerminalPrinter = Box<dyn FnMut(String) + Send>;

static TERMINAL: Mutex<Option<TerminalPrinter>> = Mutex::new(None);

/// Sends asynchronous output (status lines, background task output) through `printer`.
pub fn use_terminal_printer(printer: TerminalPrinter) {
    *TERMINAL.lock().unwrap_or_else(|e| e.into_inner()) = Some(printer);
    livejit_backend::runtime::route_program_output(Box::new(|line: &str| {
        print_async(format!("{line}\n"), false)
    }));
}

/// Prints text that may arrive at any time: through the line editor when interactive, else to
/// stderr (`to_stderr`) or stdout.
fn print_async(text: String, to_stderr: bool) {
    if let Some(p) = TERMINAL.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        p(text);
        return;
    }
    if to_stderr {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    } else {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

fn report(event: Event) {
    let text = match event {
        Event::Status(s) => format!("{s}\n"),
        Event::TaskError { id, error } => {
            format!("task {id} failed\n{}", render::runtime_error(&error))
        }
    };
    print_async(text, true);
}

impl Repl {
    /// Starts a session.
    pub fn new() -> Result<Repl, String> {
        let mut session = Session::new(Arc::new(report))?;
        // Benchmarking knob (bench/run.sh): measure what the safepoint polls cost.
        if std::env::var_os("LIVEJIT_NO_POLLS").is_some() {
            session.set_polls(false);
        }
        Ok(Repl {
            session,
            loaded: Vec::new(),
            watched: Vec::new(),
            quit: false,
        })
    }

    /// Makes Ctrl-C interrupt the foreground evaluation. At the prompt rustyline reads the key
    /// itself; in script mode with nothing running, Ctrl-C ends the process as usual. Call it
    /// after the line editor exists: rustyline installs its own SIGINT handler when created.
    pub fn install_interrupt_handler(&self, interactive: bool) {
        let foreground = self.session.foreground.clone();
        let _ = ctrlc::set_handler(move || {
            let fg = foreground.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match fg {
                Some(ctx) => ctx.interrupt(),
                None if !interactive => std::process::exit(130),
                None => {}
            }
        });
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
        match self.session.eval(name, text) {
            EvalResult::Ok => true,
            EvalResult::Rejected(errors) => {
                eprint!("{}", render::compile_errors(&errors));
                false
            }
            EvalResult::RuntimeError(e) => {
                eprint!("{}", render::runtime_error(&e));
                false
            }
            EvalResult::Crashed(m) => {
                eprintln!("error: internal error in the runtime: {m}");
                false
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
                invalid_utf8(&name, bytes, d)
            }
        }
    }

    /// Loads (or reloads) a file: one transaction, then its top-level code.
    pub fn load(&mut self, path: &str) -> bool {
        let bytes = match crate::source::read_file(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: {e}");
                return false;
            }
        };
        match self.loaded.iter_mut().find(|(p, _)| p == path) {
            Some(entry) => entry.1 = bytes.clone(),
            None => self.loaded.push((path.to_string(), bytes.clone())),
        }
        match livejit_frontend::source_text(&bytes) {
            Ok(text) => self.eval(path, text),
            Err(d) => invalid_utf8(path, &bytes, d),
        }
    }

    fn command(&mut self, cmd: &str) -> bool {
        let (name, arg) = match cmd.find(char::is_whitespace) {
            Some(i) => (&cmd[..i], cmd[i..].trim()),
            None => (cmd, ""),
        };
        let need = |what: &str| -> bool {
            if arg.is_empty() {
                eprintln!("error: `:{name}` needs {what}");
                false
            } else {
                true
            }
        };
        match name {
            "help" | "h" | "?" => {
                println!("{HELP}");
                true
            }
            "quit" | "q" | "exit" => {
                self.quit = true;
                true
            }
            "load" | "l" => need("a file") && self.load(arg),
            "reload" | "r" => self.reload(),
            "watch" => need("a file") && self.watch(arg),
            "unwatch" => {
                if !need("a file") {
                    return false;
                }
                let before = self.watched.len();
                self.watched.retain(|(p, _)| p != arg);
                if self.watched.len() == before {
                    eprintln!("error: `{arg}` is not watched");
                    return false;
                }
                eprintln!("stopped watching {arg}");
                true
            }
            "list" => {
                print!("{}", self.session.listing());
                true
            }
            "versions" => need("a function name") && answer(self.session.versions_listing(arg)),
            "source" => {
                if !need("a function name") {
                    return false;
                }
                let mut parts = arg.split_whitespace();
                let fname = parts.next().unwrap_or_default();
                let n = match parts
                    .next()
                    .map(|n| n.trim_start_matches('v').parse::<u32>())
                {
                    None => None,
                    Some(Ok(n)) => Some(n),
                    Some(Err(_)) => {
                        eprintln!("error: `:source NAME [N]` takes a version number");
                        return false;
                    }
                };
                let r = self.session.source_of(fname, n).map(|s| format!("{s}\n"));
                answer(r)
            }
            "rollback" => {
                if !need("a function name") {
                    return false;
                }
                match self.session.previous_source(arg) {
                    Ok(text) => {
                        let input = format!("<rollback {arg}>");
                        self.eval(&input, &text)
                    }
                    Err(e) => {
                        eprintln!("error: {e}");
                        false
                    }
                }
            }
            "type" | "t" => {
                if !need("an expression") {
                    return false;
                }
                let input = self.session.next_input_name();
                match self.session.type_of(&input, arg) {
                    Ok(ty) => {
                        println!("{ty}");
                        true
                    }
                    Err(errors) => self.rejected(&errors),
                }
            }
            "time" => {
                if !need("an expression") {
                    return false;
                }
                let input = self.session.next_input_name();
                let start = Instant::now();
                let ok = self.eval(&input, arg);
                println!("time: {:.3} ms", start.elapsed().as_secs_f64() * 1e3);
                ok
            }
            "ir" => need("a function name") && answer(self.session.ir_of(arg)),
            "asm" => need("a function name") && answer(self.session.asm_of(arg)),
            "spawn" => {
                if !need("an expression") {
                    return false;
                }
                let input = self.session.next_input_name();
                match self.session.spawn(&input, arg) {
                    Ok(_) => true,
                    Err(errors) => self.rejected(&errors),
                }
            }
            "tasks" => {
                print!("{}", self.session.tasks_listing());
                true
            }
            "kill" => match arg.parse::<u64>() {
                Ok(id) => status(self.session.kill(id)),
                Err(_) => {
                    eprintln!("error: `:kill ID` takes a task id");
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
                            eprintln!("error: `:wait [ID]` takes a task id");
                            return false;
                        }
                    }
                };
                status(self.session.wait(id))
            }
            "sleep" => match arg.parse::<u64>() {
                Ok(ms) => {
                    sleep_for(Duration::from_millis(ms));
                    true
                }
                Err(_) => {
                    eprintln!("error: `:sleep MS` takes a number of milliseconds");
                    false
                }
            },
            "opt" => match arg.parse::<u8>() {
                Ok(level @ 0..=3) => {
                    self.session.set_opt(level);
                    true
                }
                _ if arg.is_empty() => {
                    println!("{}", self.session.opt());
                    true
                }
                _ => {
                    eprintln!("error: `:opt` takes a level from 0 to 3");
                    false
                }
            },
            _ => {
                eprintln!("error: unknown command `:{name}` (try :help)");
                false
            }
        }
    }

    /// Loads `path` and keeps watching it: [`Repl::poll_watched`] reloads it when it changes.
    fn watch(&mut self, path: &str) -> bool {
        // A file that cannot be read (missing, a device, too large) is not watched.
        let text = match crate::source::read_file(path) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return false;
            }
        };
        let ok = self.load(path);
        self.watched.retain(|(p, _)| p != path);
        self.watched.push((path.to_string(), text));
        eprintln!("watching {path}");
        ok
    }

    /// Reloads every watched file whose text changed since it was last seen. Called by the
    /// watcher thread a few times per second.
    pub fn poll_watched(&mut self) {
        let mut changed = Vec::new();
        for (path, seen) in &mut self.watched {
            // A file being rewritten may be briefly missing or empty: wait for a real text.
            match crate::source::read_file(path) {
                Ok(text) if !text.is_empty() && text != *seen => {
                    *seen = text;
                    changed.push(path.clone());
                }
                _ => {}
            }
        }
        for path in changed {
            eprintln!("{path} changed, reloading");
            self.load(&path);
        }
    }

    fn reload(&mut self) -> bool {
        let mut ok = true;
        let files: Vec<(String, Vec<u8>)> = self.loaded.clone();
        for (path, old) in files {
            match crate::source::read_file(&path) {
                Ok(text) if text == old => {}
                Ok(_) => ok &= self.load(&path),
                Err(e) => {
                    eprintln!("error: {e}");
                    ok = false;
                }
            }
        }
        ok
    }

    fn rejected(&self, errors: &CompileErrors) -> bool {
        eprint!("{}", render::compile_errors(errors));
        false
    }
}

/// Reports source bytes that are not UTF-8 (`d` from [`livejit_frontend::source_text`]).
/// Rendered against the text with invalid sequences replaced by U+FFFD: everything before the
/// first one is unchanged, so the location (line, column) is exact.
fn invalid_utf8(name: &str, bytes: &[u8], mut d: livejit_frontend::Diagnostic) -> bool {
    for l in &mut d.labels {
        l.span.end = l.span.start + char::REPLACEMENT_CHARACTER.len_utf8();
    }
    let errors = CompileErrors {
        source: Source::new(name, &String::from_utf8_lossy(bytes)),
        diagnostics: vec![d],
    };
    eprint!("{}", render::compile_errors(&errors));
    false
}

fn answer(r: Result<String, String>) -> bool {
    {
        match r {
            Ok(text) => {
                print!("{text}");
                true
            }
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        }
    }
}

fn status(r: Result<(), String>) -> bool {
    {
        match r {
            Ok(()) => true,
            Err(e) => {
                eprintln!("error: {e}");
                false
            }
        }
    }
}
