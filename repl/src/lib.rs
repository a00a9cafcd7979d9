//! The `livejit` command: the interactive REPL (rustyline), script mode (stdin not a
//! terminal), `livejit run FILE` and `livejit repl FILE...`.
//!
//! Everything the user types goes through [`Repl::process`]: commands are handled here, source
//! inputs go to the back end's single driver (`Session::eval`), and every diagnostic is rendered
//! here, at the edge.

pub mod commands;
pub mod input;
pub mod render;
pub mod source;
mod terminal;

use commands::Repl;
use std::io::IsTerminal;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;

/// The session thread: owns the [`Repl`], processes inputs one at a time in the order they are
/// sent, and while idle reloads `:watch`ed files. The input loop (main thread) only reads
/// inputs, so it stays free to read the next one, to handle Ctrl-C at the prompt, and to show
/// reload output while the user types; nothing holds a lock while an input runs.
struct Worker {
    inputs: Sender<Vec<u8>>,
    /// One answer per input: (it succeeded, the REPL goes on).
    answers: Receiver<(bool, bool)>,
    thread: JoinHandle<()>,
}

impl Worker {
    fn start(mut repl: Repl) -> Worker {
        let (inputs, rx) = mpsc::channel::<Vec<u8>>();
        let (tx, answers) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("livejit-session".into())
            .spawn(move || {
                loop {
                    match rx.recv_timeout(commands::WATCH_PERIOD) {
                        Ok(text) => {
                            let ok = repl.process_bytes(&text);
                            let go_on = !repl.quit;
                            let _ = tx.send((ok, go_on));
                            if !go_on {
                                break;
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    repl.idle();
                }
                repl.shutdown();
            })
            .expect("cannot start the session thread");
        Worker {
            inputs,
            answers,
            thread,
        }
    }

    /// Processes one input and waits for it: (it succeeded, the REPL goes on).
    fn run(&self, text: impl Into<Vec<u8>>) -> (bool, bool) {
        if self.inputs.send(text.into()).is_err() {
            return (false, false);
        }
        self.answers.recv().unwrap_or((false, false))
    }

    /// Ends the session (background tasks are interrupted) and waits for it.
    fn finish(self) {
        drop(self.inputs);
        let _ = self.thread.join();
    }
}

const USAGE: &str = "\
usage: livejit                 start the REPL (script mode when stdin is not a terminal)
       livejit repl [FILE...]  load the files, then start the REPL
       livejit run FILE ARG... load FILE, run its top-level statements with args() = ARG...
                               and read_line() reading stdin, exit (status 1 on error)";

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    // Arguments may be any bytes: the program's own (`args()`) are passed on unchanged.
    let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let args: Vec<String> = raw
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    match args.first().map(String::as_str) {
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            0
        }
        Some("-V" | "--version") => {
            println!("livejit {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("run") => match &args[1..] {
            [file, ..] => {
                use std::os::unix::ffi::OsStrExt;
                let program_args = raw[2..].iter().map(|a| a.as_bytes().to_vec()).collect();
                livejit_backend::enable_program_io(program_args);
                run_file(file)
            }
            _ => {
                eprintln!("{USAGE}");
                2
            }
        },
        Some("repl") => start(&args[1..]),
        None => start(&[]),
        Some(other) if other.ends_with(".src") => start(&args),
        Some(other) => {
            eprintln!("livejit: unknown command `{other}`\n{USAGE}");
            2
        }
    }
}

fn new_repl() -> Option<Repl> {
    match Repl::new() {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("error: cannot start the JIT: {e}");
            None
        }
    }
}

fn run_file(file: &str) -> i32 {
    let Some(mut repl) = new_repl() else {
        return 1;
    };
    repl.install_interrupt_handler(true);
    let ok = repl.load(file);
    repl.shutdown();
    i32::from(!ok)
}

fn start(files: &[String]) -> i32 {
    let interactive = std::io::stdin().is_terminal();
    let Some(mut repl) = new_repl() else {
        return 1;
    };
    repl.install_interrupt_handler(false);
    let foreground = repl.foreground();
    let mut failed = false;
    for f in files {
        failed |= !repl.load(f);
    }
    let worker = Worker::start(repl);
    let status = if interactive {
        interactive_loop(&worker, &foreground);
        0
    } else {
        failed |= !script_loop(&worker);
        i32::from(failed)
    };
    worker.finish();
    status
}

/// Script mode: same inputs as the REPL, no prompt, keeps going after errors. Input is read as
/// bytes with a bound per input ([`source::ScriptReader`]): a line that is not UTF-8 is a
/// located compile error, not the end of the script.
fn script_loop(worker: &Worker) -> bool {
    let stdin = std::io::stdin();
    let mut reader = source::ScriptReader::new(stdin.lock());
    let mut ok = true;
    loop {
        let bytes = match reader.next_input() {
            source::Next::Input(bytes) => bytes,
            source::Next::End => return ok,
            source::Next::Error(e) => {
                eprintln!("error: {e}");
                return false;
            }
        };
        let (input_ok, go_on) = worker.run(bytes);
        ok &= input_ok;
        if !go_on {
            return ok;
        }
    }
}

mod editor {
    //! rustyline glue: multi-line input until brackets balance.
    use rustyline::completion::Completer;
    use rustyline::highlight::Highlighter;
    use rustyline::hint::Hinter;
    use rustyline::validate::{ValidationContext, ValidationResult, Validator};
    use rustyline::Helper;

    /// Keeps reading lines while a bracket is open.
    pub struct Brackets;

    impl Validator for Brackets {
        fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
            Ok(if super::input::is_complete(ctx.input()) {
                ValidationResult::Valid(None)
            } else {
                ValidationResult::Incomplete
            })
        }
    }
    impl Completer for Brackets {
        type Candidate = String;
    }
    impl Hinter for Brackets {
        type Hint = String;
    }
    impl Highlighter for Brackets {}
    impl Helper for Brackets {}
}

/// Where the history is kept: `$LIVEJIT_HISTORY`, else `$XDG_DATA_HOME/livejit/history`,
/// else `~/.local/share/livejit/history`.
fn history_path() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let nonempty = |v: &str| std::env::var_os(v).filter(|s| !s.is_empty());
    if let Some(p) = nonempty("LIVEJIT_HISTORY") {
        return Some(PathBuf::from(p));
    }
    let data = nonempty("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| nonempty("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("livejit").join("history"))
}

/// The history file, appended after every entry; an unwritable one gives one warning.
struct HistoryFile {
    path: Option<std::path::PathBuf>,
}

impl HistoryFile {
    fn open<H: rustyline::Helper>(
        rl: &mut rustyline::Editor<H, rustyline::history::DefaultHistory>,
    ) -> HistoryFile {
        let path = history_path();
        if let Some(p) = &path {
            if p.exists() {
                let _ = rl.load_history(p);
            }
        }
        HistoryFile { path }
    }

    fn append<H: rustyline::Helper>(
        &mut self,
        rl: &mut rustyline::Editor<H, rustyline::history::DefaultHistory>,
    ) {
        let Some(p) = &self.path else { return };
        let written = match p.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => std::fs::create_dir_all(dir)
                .map_err(|e| e.to_string())
                .and_then(|()| rl.append_history(p).map_err(|e| e.to_string())),
            _ => rl.append_history(p).map_err(|e| e.to_string()),
        };
        if let Err(e) = written {
            eprintln!(
                "warning: cannot write the history to {}: {e} (history is not saved)",
                p.display()
            );
            self.path = None;
        }
    }
}

fn interactive_loop(worker: &Worker, foreground: &commands::Foreground) {
    use rustyline::error::ReadlineError;
    let mut rl =
        match rustyline::Editor::<editor::Brackets, rustyline::history::DefaultHistory>::new() {
            Ok(rl) => rl,
            Err(e) => {
                eprintln!("error: cannot open the line editor: {e}");
                return;
            }
        };
    rl.set_helper(Some(editor::Brackets));
    if let Ok(mut printer) = rl.create_external_printer() {
        use rustyline::ExternalPrinter;
        commands::use_terminal_printer(Box::new(move |text| {
            let _ = printer.print(text);
        }));
    }
    let mut history = HistoryFile::open(&mut rl);
    eprintln!(
        "livejit {} — LLVM ORC JIT live coding. :help for commands, Ctrl-D to quit.",
        env!("CARGO_PKG_VERSION")
    );
    loop {
        match rl.readline("livejit> ") {
            Ok(line) => {
                if line.trim().is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(line.as_str());
                history.append(&mut rl);
                // Keys typed while the input runs wait, unechoed, for the next prompt.
                let _quiet = terminal::Quiet::start();
                if !worker.run(line).1 {
                    break;
                }
            }
            // Ctrl-C at the prompt: stops a `:watch` reload running meanwhile, if any.
            Err(ReadlineError::Interrupted) => commands::interrupt_now(foreground),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                eprintln!("error: the line editor failed: {e}");
                break;
            }
        }
    }
}
