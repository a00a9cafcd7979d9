//! The `livejit` command: the interactive REPL (rustyline), script mode (stdin not a
//! terminal), `livejit run FILE` and `livejit repl FILE...`.
//!
//! Everything the user types goes through [`Repl::process`]: commands are handled here, source
//! inputs go to the back end's single driver (`Session::eval`), and every diagnostic is rendered
//! here, at the edge.

pub mod attach;
pub mod commands;
pub mod control;
pub mod editor;
pub mod http;
pub mod input;
pub mod out;
pub mod protocol;
pub mod push;
pub mod render;
pub mod serve;
pub mod source;
mod terminal;

use commands::Repl;
use editor::SharedData;
use std::io::IsTerminal;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;

/// What the input loops (interactive and script) drive: the local session thread
/// ([`Worker`]), or a service through its control socket (`attach.rs`).
pub(crate) trait Runner {
    /// Processes one input and waits for it: (it succeeded, the REPL goes on).
    fn run(&self, text: Vec<u8>) -> (bool, bool);
    /// Ctrl-C at the prompt: stops what runs meanwhile (a `:watch` reload), if anything.
    fn interrupt(&self);
}

/// The session thread: owns the [`Repl`], processes inputs one at a time in the order they are
/// sent, and while idle reloads `:watch`ed files. The input loop (main thread) only reads
/// inputs, so it stays free to read the next one, to handle Ctrl-C at the prompt, and to show
/// reload output while the user types; nothing holds a lock while an input runs.
struct Worker {
    foreground: commands::Foreground,
    inputs: Sender<Vec<u8>>,
    /// One answer per input: (it succeeded, the REPL goes on).
    answers: Receiver<(bool, bool)>,
    thread: JoinHandle<()>,
}

impl Worker {
    /// Starts the session thread; it refreshes `data` (what the editor completes) after
    /// every input and every reload.
    fn start(mut repl: Repl, data: SharedData) -> Worker {
        let foreground = repl.foreground();
        let (inputs, rx) = mpsc::channel::<Vec<u8>>();
        let (tx, answers) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("livejit-session".into())
            .spawn(move || {
                let refresh = |repl: &Repl| {
                    *data.write().unwrap_or_else(|e| e.into_inner()) = repl.completion_data();
                };
                refresh(&repl);
                loop {
                    match rx.recv_timeout(commands::WATCH_PERIOD) {
                        Ok(text) => {
                            let ok = repl.process_bytes(&text);
                            let go_on = !repl.quit;
                            refresh(&repl);
                            let _ = tx.send((ok, go_on));
                            if !go_on {
                                break;
                            }
                        }
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => break,
                    }
                    if repl.idle() {
                        refresh(&repl);
                    }
                }
                repl.shutdown();
            })
            .expect("cannot start the session thread");
        Worker {
            foreground,
            inputs,
            answers,
            thread,
        }
    }
}

impl Runner for Worker {
    fn run(&self, text: Vec<u8>) -> (bool, bool) {
        if self.inputs.send(text).is_err() {
            return (false, false);
        }
        self.answers.recv().unwrap_or((false, false))
    }

    fn interrupt(&self) {
        commands::interrupt_now(&self.foreground);
    }
}

impl Worker {
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
                               and read_line() reading stdin, exit (status 1 on error)
       livejit serve FILE [--http ADDR] [--control PATH] [--threads N] [--request-timeout MS]
                               load FILE and keep it running as a service
       livejit attach PATH     the REPL inside the service whose control socket is PATH
       livejit push PATH FILE...
                               install the files in that service as one transaction";

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
        Some("serve") => serve::main(&args[1..]),
        Some("push") => push::main(&args[1..]),
        Some("attach") => attach::main(&args[1..]),
        None => start(&[]),
        Some(other) if other.ends_with(".src") => start(&args),
        Some(other) => {
            eprintln!("livejit: unknown command `{other}`\n{USAGE}");
            2
        }
    }
}

/// Diagnostics are coloured on a terminal unless NO_COLOR is set.
pub(crate) fn set_colour_for_stderr() {
    let colour = render::colour_for(std::io::stderr().is_terminal());
    render::set_colour(colour == codespan_reporting::term::termcolor::ColorChoice::Always);
}

pub(crate) fn new_repl() -> Option<Repl> {
    set_colour_for_stderr();
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
    let mut failed = false;
    for f in files {
        failed |= !repl.load(f);
    }
    let data = SharedData::default();
    let worker = Worker::start(repl, data.clone());
    let status = if interactive {
        let screen = interactive_loop(&worker, data);
        worker.finish();
        if let Some(s) = screen {
            s.flush(std::time::Duration::from_secs(2));
        }
        return 0;
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
pub(crate) fn script_loop(worker: &dyn Runner) -> bool {
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
            errln!(
                "warning: cannot write the history to {}: {e} (history is not saved)",
                p.display()
            );
            self.path = None;
        }
    }
}

/// The interactive REPL: one `readline` per line (see `editor`), output through the
/// [`out::Screen`]. Returns the screen, to flush before exit.
pub(crate) fn interactive_loop(
    worker: &dyn Runner,
    data: SharedData,
) -> Option<std::sync::Arc<out::Screen>> {
    use rustyline::config::{ColorMode, CompletionType, Config};
    use rustyline::error::ReadlineError;
    use rustyline::{EventHandler, KeyCode, KeyEvent, Modifiers};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::Arc;
    let colour = render::colour_for(std::io::stdout().is_terminal())
        == codespan_reporting::term::termcolor::ColorChoice::Always;
    let config = Config::builder()
        .color_mode(if colour {
            ColorMode::Enabled
        } else {
            ColorMode::Disabled
        })
        .completion_type(CompletionType::List)
        .build();
    let mut rl = match rustyline::Editor::<editor::ReplHelper, rustyline::history::DefaultHistory>::with_config(config) {
        Ok(rl) => rl,
        Err(e) => {
            eprintln!("error: cannot open the line editor: {e}");
            return None;
        }
    };
    let screen = match rl.create_external_printer() {
        Ok(mut printer) => out::Screen::install(Box::new(move |text| {
            use rustyline::ExternalPrinter;
            let _ = printer.print(text);
        })),
        Err(_) => None,
    };
    rl.set_helper(Some(editor::ReplHelper::new(data, screen.clone())));
    let go_on = Arc::new(AtomicBool::new(false));
    rl.bind_sequence(
        KeyEvent(KeyCode::Enter, Modifiers::ALT),
        EventHandler::Conditional(Box::new(editor::ContinueInput(go_on.clone()))),
    );
    for (key, only_if_empty) in [(KeyEvent::ctrl('C'), false), (KeyEvent::ctrl('D'), true)] {
        rl.bind_sequence(
            key,
            EventHandler::Conditional(Box::new(editor::Leaving {
                screen: screen.clone(),
                only_if_empty,
            })),
        );
    }
    let mut history = HistoryFile::open(&mut rl);
    errln!(
        "livejit {} — LLVM ORC JIT live coding. :help for commands, Tab completes, Ctrl-D to quit.",
        env!("CARGO_PKG_VERSION")
    );
    let first = editor::EditorPrompt::new(editor::PROMPT, colour, screen.clone());
    let more = editor::EditorPrompt::new(editor::CONTINUATION, colour, screen.clone());
    let mut pending = String::new();
    // Keys typed while an input runs wait, unechoed, for the next prompt. The terminal stays
    // quiet for the whole session, not just while an input runs: the line editor saves the
    // mode it finds and restores it when a line is accepted, so a quiet mode switched on only
    // after that left a window in which typed-ahead keys met the kernel's echoing, canonical
    // line discipline (a Ctrl-D there became an end-of-file and was lost).
    let _quiet = terminal::Quiet::start();
    loop {
        if let Some(s) = &screen {
            s.before_prompt();
        }
        go_on.store(false, SeqCst);
        let prompt = if pending.is_empty() { &first } else { &more };
        let read = rl.readline(prompt);
        if let Some(s) = &screen {
            s.after_prompt();
        }
        match read {
            Ok(line) => {
                pending.push_str(&line);
                pending.push('\n');
                if pending.trim().is_empty() {
                    pending.clear();
                    continue;
                }
                if go_on.load(SeqCst) || !input::is_complete(&pending) {
                    continue;
                }
                let text = std::mem::take(&mut pending);
                let _ = rl.add_history_entry(text.trim_end_matches('\n'));
                history.append(&mut rl);
                if !worker.run(text.into_bytes()).1 {
                    break;
                }
            }
            // Ctrl-C at a continuation prompt drops the unfinished input.
            Err(ReadlineError::Interrupted) if !pending.is_empty() => pending.clear(),
            // Ctrl-C at the prompt: stops a `:watch` reload running meanwhile, if any.
            Err(ReadlineError::Interrupted) => worker.interrupt(),
            Err(ReadlineError::Eof) if !pending.is_empty() => pending.clear(),
            Err(ReadlineError::Eof) => break,
            Err(e) => {
                errln!("error: the line editor failed: {e}");
                break;
            }
        }
    }
    screen
}
