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

use commands::Repl;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The REPL, shared between the input loop and the `:watch` thread.
type SharedRepl = Arc<Mutex<Repl>>;

fn lock(repl: &SharedRepl) -> MutexGuard<'_, Repl> {
    repl.lock().unwrap_or_else(|e| e.into_inner())
}

/// Processes one input; returns false if it failed and true if the REPL should go on.
fn run_input(repl: &SharedRepl, text: &str) -> (bool, bool) {
    if let Some(pause) = commands::sleep_request(text) {
        commands::sleep_for(pause);
        return (true, true);
    }
    let mut r = lock(repl);
    let ok = r.process(text);
    (ok, !r.quit)
}

/// Reloads `:watch`ed files when they change, until the REPL quits. It takes the REPL lock, so
/// a reload never overlaps an input being processed.
fn start_watcher(repl: &SharedRepl) {
    let repl = Arc::downgrade(repl);
    let _ = std::thread::Builder::new()
        .name("livejit-watch".into())
        .spawn(move || loop {
            std::thread::sleep(Duration::from_millis(200));
            let Some(repl) = repl.upgrade() else { return };
            let mut r = lock(&repl);
            if r.quit {
                return;
            }
            r.poll_watched();
        });
}

const USAGE: &str = "\
usage: livejit                 start the REPL (script mode when stdin is not a terminal)
       livejit repl [FILE...]  load the files, then start the REPL
       livejit run FILE        load FILE, run its top-level statements, exit (status 1 on error)";

/// Runs the command line; returns the process exit status.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
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
            [file] => run_file(file),
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
    repl.install_interrupt_handler(false);
    let ok = repl.load(file);
    repl.shutdown();
    i32::from(!ok)
}

fn start(files: &[String]) -> i32 {
    let interactive = std::io::stdin().is_terminal();
    let Some(mut repl) = new_repl() else {
        return 1;
    };
    if !interactive {
        repl.install_interrupt_handler(false);
    }
    let mut failed = false;
    for f in files {
        failed |= !repl.load(f);
    }
    let repl: SharedRepl = Arc::new(Mutex::new(repl));
    start_watcher(&repl);
    let status = if interactive {
        interactive_loop(&repl);
        0
    } else {
        failed |= !script_loop(&repl);
        i32::from(failed)
    };
    let mut r = lock(&repl);
    r.quit = true;
    r.shutdown();
    status
}

/// Script mode: same inputs as the REPL, no prompt, keeps going after errors. Input is read as
/// bytes with a bound per input ([`source::ScriptReader`]): a line that is not UTF-8 is a
/// located compile error, not the end of the script.
fn script_loop(repl: &SharedRepl) -> bool {
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
        let (input_ok, go_on) = match std::str::from_utf8(&bytes) {
            Ok(text) => run_input(repl, text),
            Err(_) => {
                let mut r = lock(repl);
                (r.process_bytes(&bytes), !r.quit)
            }
        };
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

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".livejit_history"))
}

fn interactive_loop(repl: &SharedRepl) {
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
    lock(repl).install_interrupt_handler(true);
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
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
                if !run_input(repl, &line).1 {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(_) => break,
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
}
