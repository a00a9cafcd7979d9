//! `livejit attach PATH`: the REPL inside a running service. The same interactive loop and
//! script mode as `livejit` (`lib.rs`), driving a [`Remote`] instead of the local session
//! thread: inputs go to the service over its control socket (docs/protocol.md), answers come
//! back as data and are rendered here.
//!
//! Files are the client's: `:load`, `:watch` and `:reload` read them here and send them with
//! their path; the watch list lives here too (polled every [`commands::WATCH_PERIOD`], a
//! changed file is sent again as `:load FILE`). Completion data comes from the service after
//! every input. `:quit` and Ctrl-D detach and leave the service running.

use crate::commands::{self, parse_path};
use crate::editor::SharedData;
use crate::protocol::{ClientMsg, Connection, FileArg, Incoming, ServerMsg};
use crate::{errln, Runner};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `attach`'s usage line.
pub const USAGE: &str = "livejit attach PATH";

/// Runs `livejit attach`; returns the exit status.
pub fn main(args: &[String]) -> i32 {
    let [path] = args else {
        eprintln!("usage: {USAGE}");
        return 2;
    };
    crate::set_colour_for_stderr();
    let conn = match Connection::open(Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let data = SharedData::default();
    let remote = Remote::start(conn, data.clone());
    remote.refresh_completion();
    {
        let r = remote.shared.clone();
        // Ctrl-C while an input runs (the prompt reads the key itself): interrupt it there.
        let _ = ctrlc::set_handler(move || r.send(&ClientMsg::Interrupt));
    }
    if std::io::stdin().is_terminal() {
        errln!("attached to {path} (:quit or Ctrl-D detaches; the service keeps running)");
        let screen = crate::interactive_loop(&remote, data);
        remote.stop();
        if let Some(s) = screen {
            s.flush(Duration::from_secs(2));
        }
        0
    } else {
        let ok = crate::script_loop(&remote);
        remote.stop();
        i32::from(!ok)
    }
}

/// What the reader thread and the input loop share.
struct Shared {
    writer: Mutex<UnixStream>,
    /// Answers of requests, by id: (ok).
    waiting: Mutex<HashMap<u64, Sender<bool>>>,
    next_id: AtomicU64,
    /// The service closed the connection.
    gone: AtomicBool,
}

impl Shared {
    fn send(&self, msg: &ClientMsg) {
        use std::io::Write;
        let line = crate::protocol::line(msg);
        let mut w = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        if w.write_all(line.as_bytes()).is_err() {
            self.gone.store(true, SeqCst);
        }
    }

    /// Sends request `make(id)` and returns where its answer will arrive.
    fn request(&self, make: impl FnOnce(u64) -> ClientMsg) -> Receiver<bool> {
        let id = self.next_id.fetch_add(1, SeqCst);
        let (tx, rx) = mpsc::channel();
        self.waiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, tx);
        self.send(&make(id));
        rx
    }
}

/// A file this client watches: its path as typed and the bytes last sent.
struct Watched {
    path: String,
    seen: Vec<u8>,
}

/// The service as the input loops see it.
pub(crate) struct Remote {
    shared: Arc<Shared>,
    /// Files loaded through this client, by path (sent again with `:reload`).
    loaded: Mutex<HashMap<String, Vec<u8>>>,
    watched: Arc<Mutex<Vec<Watched>>>,
    stop: Arc<AtomicBool>,
}

impl Remote {
    fn start(conn: Connection, data: SharedData) -> Remote {
        let Connection { writer, mut reader } = conn;
        let shared = Arc::new(Shared {
            writer: Mutex::new(writer),
            waiting: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            gone: AtomicBool::new(false),
        });
        let r = shared.clone();
        let _ = std::thread::Builder::new()
            .name("livejit-attach-in".into())
            .spawn(move || {
                while let Some(msg) = crate::protocol::next_incoming(&mut reader) {
                    match msg {
                        Incoming::Reply(t) => {
                            let (stream, text) = crate::render::reply(&t.reply);
                            crate::out::emit(stream, text);
                        }
                        Incoming::Server(ServerMsg::Result { id, ok, .. }) => {
                            let waiter = r
                                .waiting
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .remove(&id);
                            if let Some(w) = waiter {
                                let _ = w.send(ok);
                            }
                        }
                        Incoming::Server(ServerMsg::Completion { data: d, .. }) => {
                            *data.write().unwrap_or_else(|e| e.into_inner()) = d;
                        }
                        Incoming::Server(ServerMsg::Error { id, message }) => {
                            errln!("error: {message}");
                            let waiter = id.and_then(|id| {
                                r.waiting
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .remove(&id)
                            });
                            if let Some(w) = waiter {
                                let _ = w.send(false);
                            }
                        }
                        Incoming::Server(ServerMsg::Hello { .. }) => {}
                    }
                }
                r.gone.store(true, SeqCst);
                // Whoever waits for an answer learns that none will come.
                r.waiting.lock().unwrap_or_else(|e| e.into_inner()).clear();
            });
        let remote = Remote {
            shared,
            loaded: Mutex::new(HashMap::new()),
            watched: Arc::new(Mutex::new(Vec::new())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        remote.start_watching();
        remote
    }

    /// Polls the watched files; a changed one is sent again as `:load FILE`.
    fn start_watching(&self) {
        let (shared, watched, stop) =
            (self.shared.clone(), self.watched.clone(), self.stop.clone());
        let _ = std::thread::Builder::new()
            .name("livejit-attach-watch".into())
            .spawn(move || {
                while !stop.load(SeqCst) && !shared.gone.load(SeqCst) {
                    std::thread::sleep(commands::WATCH_PERIOD);
                    let mut changed = Vec::new();
                    for w in watched.lock().unwrap_or_else(|e| e.into_inner()).iter_mut() {
                        // A file being rewritten may be briefly missing or empty.
                        match crate::source::read_file(&w.path) {
                            Ok(b) if !b.is_empty() && b != w.seen => {
                                w.seen = b.clone();
                                changed.push(FileArg::new(&w.path, b));
                            }
                            _ => {}
                        }
                    }
                    for f in changed {
                        errln!("{} changed, reloading", f.path);
                        let text = format!(":load \"{}\"", f.path);
                        let _ = shared.request(|id| ClientMsg::Input {
                            id,
                            text: Some(text),
                            bytes: None,
                            files: vec![f],
                        });
                    }
                }
            });
    }

    fn refresh_completion(&self) {
        let id = self.shared.next_id.fetch_add(1, SeqCst);
        self.shared.send(&ClientMsg::Completion { id });
    }

    fn stop(&self) {
        self.stop.store(true, SeqCst);
    }

    /// Sends one input with `files` and waits for its answer.
    fn send_input(&self, text: Vec<u8>, files: Vec<FileArg>) -> (bool, bool) {
        let arg = FileArg::new("", text);
        let answer = self.shared.request(|id| ClientMsg::Input {
            id,
            text: arg.text,
            bytes: arg.bytes,
            files,
        });
        let ok = answer.recv();
        self.refresh_completion();
        match ok {
            Ok(ok) => (ok, true),
            Err(_) => {
                errln!("error: the service closed the connection");
                (false, false)
            }
        }
    }

    /// Reads a file named by `:load` or `:watch` here, to send it.
    fn read(&self, arg: &str) -> Result<(String, Vec<u8>), String> {
        let path = parse_path(arg)?;
        let bytes = crate::source::read_file(&path)?;
        self.loaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.clone(), bytes.clone());
        Ok((path, bytes))
    }

    /// The commands handled (or completed) here: the ones about the client's files, and
    /// `:quit`. `None`: send the input as it is.
    fn local_command(&self, text: &str) -> Option<(bool, bool)> {
        let cmd = text.trim().strip_prefix(':')?;
        let (name, arg) = match cmd.find(char::is_whitespace) {
            Some(i) => (&cmd[..i], cmd[i..].trim()),
            None => (cmd, ""),
        };
        let fail = |e: String| {
            errln!("error: {e}");
            Some((false, true))
        };
        match name {
            "quit" | "q" | "exit" => Some((true, false)),
            "load" | "l" | "watch" if !arg.is_empty() => {
                let (path, bytes) = match self.read(arg) {
                    Ok(r) => r,
                    Err(e) => return fail(e),
                };
                if name == "watch" {
                    let mut w = self.watched.lock().unwrap_or_else(|e| e.into_inner());
                    w.retain(|w| w.path != path);
                    w.push(Watched {
                        path: path.clone(),
                        seen: bytes.clone(),
                    });
                }
                Some(self.send_input(text.as_bytes().to_vec(), vec![FileArg::new(&path, bytes)]))
            }
            "watch" => {
                let w = self.watched.lock().unwrap_or_else(|e| e.into_inner());
                if w.is_empty() {
                    crate::outln!("no watched files");
                }
                for w in w.iter() {
                    crate::outln!("{}", w.path);
                }
                Some((true, true))
            }
            "unwatch" if !arg.is_empty() => {
                let path = match parse_path(arg) {
                    Ok(p) => p,
                    Err(e) => return fail(e),
                };
                let mut w = self.watched.lock().unwrap_or_else(|e| e.into_inner());
                let before = w.len();
                w.retain(|w| w.path != path);
                if w.len() == before {
                    return fail(format!("`{path}` is not watched"));
                }
                errln!("stopped watching {path}");
                Some((true, true))
            }
            "reload" | "r" => {
                let paths: Vec<String> = self
                    .loaded
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .keys()
                    .cloned()
                    .collect();
                let mut files = Vec::new();
                for p in paths {
                    match self.read(&format!("\"{p}\"")) {
                        Ok((p, b)) => files.push(FileArg::new(&p, b)),
                        Err(e) => return fail(e),
                    }
                }
                Some(self.send_input(text.as_bytes().to_vec(), files))
            }
            _ => None,
        }
    }
}

impl Runner for Remote {
    fn run(&self, text: Vec<u8>) -> (bool, bool) {
        if self.shared.gone.load(SeqCst) {
            errln!("error: the service closed the connection");
            return (false, false);
        }
        if let Ok(t) = std::str::from_utf8(&text) {
            if let Some(r) = self.local_command(t) {
                return r;
            }
        }
        self.send_input(text, Vec::new())
    }

    fn interrupt(&self) {
        self.shared.send(&ClientMsg::Interrupt);
    }
}
