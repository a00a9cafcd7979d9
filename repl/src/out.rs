//! Every line the REPL writes, in the order it was produced, and never inside the line being
//! typed.
//!
//! Output comes from several threads: the session thread (answers, diagnostics, `:watch`
//! reloads), task threads (program output, a task's end), the compile thread (`defined`) and
//! the reclaimer (`freed`). In script mode [`emit`] writes at once to stdout or stderr. In the
//! interactive REPL every piece goes into one queue, so the screen shows it in the order it was
//! emitted, and one printer thread writes the queue out:
//!
//! - while an input runs (no prompt), straight to the terminal;
//! - while the prompt is up, through rustyline's `ExternalPrinter`, which prints above the
//!   prompt and redraws the line being typed.
//!
//! The phases follow the editor: [`Screen::before_prompt`] (nothing is written until the prompt
//! is drawn), [`Screen::prompt_up`] (called from inside `readline`, raw mode on),
//! [`Screen::closing`] (the editor is about to return: the validator accepted the line, or
//! Ctrl-C / Ctrl-D), [`Screen::after_prompt`].
//!
//! rustyline queues an external message until its key loop reads it, and prefers keys. A
//! message queued in the instant the user presses Enter could stay in that queue until the next
//! prompt while later output overtook it. So after each message the printer sends an invisible
//! one (cursor up, then the newline rustyline adds) and waits until it is accepted, which means
//! the real message was printed: when it was not, the printer waits with everything after it
//! until the next prompt prints it. Late, but never out of order.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Where a piece of output belongs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Program output and the answers of commands.
    Out,
    /// Diagnostics and status lines.
    Err,
}

/// Writes `text` to `stream` (see the module doc).
pub fn emit(stream: Stream, text: impl Into<String>) {
    let text = text.into();
    if text.is_empty() {
        return;
    }
    match SCREEN.get() {
        Some(screen) => screen.push(stream, text),
        None => write_direct(stream, &text),
    }
}

/// `println!` through [`emit`] (stdout).
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => { $crate::out::emit($crate::out::Stream::Out, format!("{}\n", format_args!($($arg)*))) };
}

/// `eprintln!` through [`emit`] (stderr).
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => { $crate::out::emit($crate::out::Stream::Err, format!("{}\n", format_args!($($arg)*))) };
}

fn write_direct(stream: Stream, text: &str) {
    // A closed stdout or stderr (`| head`) must not end the session: errors are ignored.
    match stream {
        Stream::Out => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
        Stream::Err => {
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

/// Prints above the prompt (rustyline's `ExternalPrinter`).
pub type AbovePrompt = Box<dyn FnMut(String) + Send>;

/// Printed after each message while the prompt is up: up one row, then rustyline's newline
/// brings the cursor back. Nothing visible; its only use is that it can be queued only once
/// the message before it has been taken.
const CONFIRM: &str = "\x1b[A";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No prompt: write straight to the terminal.
    Output,
    /// `readline` is being called: hold everything until it has drawn the prompt.
    Starting,
    /// The prompt is up: print above it.
    Prompt,
    /// `readline` is returning: hold everything until it has.
    Closing,
}

struct State {
    queue: VecDeque<(Stream, String)>,
    phase: Phase,
    /// The printer is inside the editor's printer (which may block until the editor reads).
    above: bool,
    /// Bytes in `queue`.
    queued: usize,
    /// Pieces queued so far, and pieces taken off the queue by the printer so far.
    pushed: u64,
    taken: u64,
}

/// Queued program output above which printing tasks wait for the terminal.
const QUEUE_LIMIT: usize = 1 << 20;

/// The interactive screen: the output queue, its printer thread and the editor's phase.
pub struct Screen {
    state: Mutex<State>,
    changed: Condvar,
    /// Whether stderr is the terminal too (else stderr text is written to it directly).
    stderr_tty: bool,
}

static SCREEN: OnceLock<Arc<Screen>> = OnceLock::new();

impl Screen {
    /// Routes all output (this module's [`emit`] and program output) through a printer thread
    /// that prints above the prompt with `above`. Returns the screen, for the editor to report
    /// its phases; `None` if a screen was already installed.
    pub fn install(above: AbovePrompt) -> Option<Arc<Screen>> {
        let screen = Arc::new(Screen {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                phase: Phase::Output,
                above: false,
                queued: 0,
                pushed: 0,
                taken: 0,
            }),
            changed: Condvar::new(),
            stderr_tty: std::io::stderr().is_terminal(),
        });
        SCREEN.set(screen.clone()).ok()?;
        let printer = screen.clone();
        std::thread::Builder::new()
            .name("livejit-printer".into())
            .spawn(move || printer.run(above))
            .ok()?;
        let program = screen.clone();
        livejit_backend::route_program_output(Box::new(move |line: &str| {
            program.push_program_line(format!("{line}\n"));
        }));
        Some(screen)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, stream: Stream, text: String) {
        let mut s = self.lock();
        s.queued += text.len();
        s.pushed += 1;
        s.queue.push_back((stream, text));
        drop(s);
        self.changed.notify_all();
    }

    /// A line of program output, from a task thread: waits while much is queued (a program
    /// printing faster than the terminal shows must not fill the memory), unless the printer
    /// waits for the next prompt (see the module doc), which may depend on this task ending.
    fn push_program_line(&self, text: String) {
        let mut s = self.lock();
        while s.queued > QUEUE_LIMIT && !(s.above && s.phase == Phase::Output) {
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        s.queued += text.len();
        s.pushed += 1;
        s.queue.push_back((Stream::Out, text));
        drop(s);
        self.changed.notify_all();
    }

    fn set_phase(&self, phase: Phase) {
        self.lock().phase = phase;
        self.changed.notify_all();
    }

    /// Before `readline`: waits until what was emitted so far is on the screen (unless the
    /// printer waits for the editor itself), then holds output until the prompt is drawn.
    /// Output emitted meanwhile (a task printing on) does not delay the prompt.
    pub fn before_prompt(&self) {
        let mut s = self.lock();
        let target = s.pushed;
        while s.taken < target && !s.above && s.phase == Phase::Output {
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(100))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        s.phase = Phase::Starting;
        drop(s);
        self.changed.notify_all();
    }

    /// Called from inside `readline` once it is in raw mode: print above the prompt from now.
    pub fn prompt_up(&self) {
        let mut s = self.lock();
        if s.phase == Phase::Starting {
            s.phase = Phase::Prompt;
            drop(s);
            self.changed.notify_all();
        }
    }

    /// Called from inside `readline` when it is about to return.
    pub fn closing(&self) {
        self.set_phase(Phase::Closing);
    }

    /// After `readline` returned: write straight to the terminal again.
    pub fn after_prompt(&self) {
        self.set_phase(Phase::Output);
    }

    /// Waits (at most `timeout`) until everything emitted is written, e.g. before exit.
    pub fn flush(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        while (!s.queue.is_empty() || s.above) && Instant::now() < deadline {
            s = self
                .changed
                .wait_timeout(s, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn run(&self, mut above: AbovePrompt) {
        let mut s = self.lock();
        loop {
            while s.queue.is_empty() || matches!(s.phase, Phase::Starting | Phase::Closing) {
                s = self.changed.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            let batch: Vec<(Stream, String)> = s.queue.drain(..).collect();
            s.queued = 0;
            s.taken += batch.len() as u64;
            if s.phase == Phase::Output {
                // Written under the lock: `before_prompt` cannot start the editor meanwhile.
                for (stream, text) in &batch {
                    write_direct(*stream, text);
                }
                self.changed.notify_all();
                continue;
            }
            let mut text = String::new();
            for (stream, t) in batch {
                if stream == Stream::Err && !self.stderr_tty {
                    write_direct(stream, &t);
                } else {
                    text.push_str(&t);
                }
            }
            if text.is_empty() {
                continue;
            }
            s.above = true;
            drop(s);
            above(text);
            above(CONFIRM.to_string());
            s = self.lock();
            s.above = false;
            self.changed.notify_all();
        }
    }
}
