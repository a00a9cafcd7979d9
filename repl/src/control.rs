//! The control socket of `livejit serve` (see `serve.rs`): a Unix domain socket through which
//! `livejit attach` and `livejit push` drive the running session. The protocol is
//! docs/protocol.md (messages in `protocol.rs`).
//!
//! Each client gets three threads: its reader (this connection's lines: hello, inputs,
//! interrupts, completion requests, protocol errors), its worker (a [`Repl`] on its own handle
//! of the session, see [`Repl::attach`], running the client's inputs one at a time), and its
//! writer (the client's output queue to the socket). Different clients' evaluations thus run
//! concurrently, while the session's transaction lock keeps their transactions serialized.

use crate::commands::{self, Repl, Reply, Sink};
use crate::out::{self, Stream};
use crate::protocol::{self, ClientMsg, FileArg, Line, ServerMsg, Tagged};
use livejit_backend::{Event, OutputSink, Reporter};
use std::collections::{HashMap, VecDeque};
use std::io::{BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

/// Clients connected at once, at most.
pub const MAX_CLIENTS: usize = 64;

/// Inputs of one client received and waiting for the one running; beyond them its socket is
/// not read until one finishes.
const QUEUED_INPUTS: usize = 16;

/// Program output queued for a client above which the printing task waits.
const QUEUE_SOFT: usize = 1 << 20;

/// Output queued for a client above which it is disconnected (too slow to read).
const QUEUE_HARD: usize = 64 << 20;

/// The running control socket; it owns the session.
pub struct Control {
    repl: Arc<Mutex<Repl>>,
    path: PathBuf,
    stop: Arc<AtomicBool>,
    clients: Clients,
    accept: Option<std::thread::JoinHandle<()>>,
}

/// Every connected client (for status lines and shutdown).
type Clients = Arc<Mutex<Vec<Weak<Conn>>>>;

/// Takes the session over and starts serving the control socket at `path`.
pub fn start(repl: Repl, path: &Path) -> Result<Control, String> {
    let listener = bind(path)?;
    let clients: Clients = Arc::default();
    let status = clients.clone();
    commands::route_status(Box::new(move |e: &Event| {
        let line = protocol::line(&Tagged {
            id: None,
            reply: Reply::Event { event: e.clone() },
        });
        for c in live(&status) {
            c.push(line.clone(), false);
        }
    }));
    let repl = Arc::new(Mutex::new(repl));
    let stop = Arc::new(AtomicBool::new(false));
    let accept = {
        let (repl, stop, clients) = (repl.clone(), stop.clone(), clients.clone());
        std::thread::Builder::new()
            .name("livejit-control".into())
            .spawn(move || accept_loop(&listener, &repl, &stop, &clients))
            .map_err(|e| format!("cannot start the control socket: {e}"))?
    };
    Ok(Control {
        repl,
        path: path.to_path_buf(),
        stop,
        clients,
        accept: Some(accept),
    })
}

/// Binds the socket with mode 0600 from the start, replacing a stale socket file and refusing
/// one a live service holds (or anything that is not a socket).
fn bind(path: &Path) -> Result<UnixListener, String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "cannot listen on {shown}: it exists and is not a socket"
            ));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "cannot listen on {shown}: a running service is listening there"
            ));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("cannot replace the stale socket {shown}: {e}"))?;
    }
    use nix::sys::stat::{umask, Mode};
    // No moment in which the socket file is wider than 0600: it is created under this umask.
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(old);
    let listener = bound.map_err(|e| format!("cannot listen on {shown}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot set the mode of {shown}: {e}"))?;
    Ok(listener)
}

fn live(clients: &Clients) -> Vec<Arc<Conn>> {
    let mut list = clients.lock().unwrap_or_else(|e| e.into_inner());
    list.retain(|w| w.strong_count() > 0);
    list.iter().filter_map(Weak::upgrade).collect()
}

fn accept_loop(
    listener: &UnixListener,
    repl: &Arc<Mutex<Repl>>,
    stop: &AtomicBool,
    clients: &Clients,
) {
    let count = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        if stop.load(SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        if let Err(e) = admit(&stream, &count) {
            let mut s = &stream;
            let _ = s.write_all(
                protocol::line(&ServerMsg::Error {
                    id: None,
                    message: e,
                })
                .as_bytes(),
            );
            continue;
        }
        let Ok((conn, routes)) = Conn::new(&stream) else {
            continue;
        };
        let repls = {
            let primary = repl.lock().unwrap_or_else(|e| e.into_inner());
            client_repls(&primary, &routes)
        };
        let (worker, queries) = match repls {
            Ok(r) => r,
            Err(e) => {
                conn.push(
                    protocol::line(&ServerMsg::Error {
                        id: None,
                        message: e,
                    }),
                    false,
                );
                conn.finish();
                continue;
            }
        };
        clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Arc::downgrade(&conn));
        count.fetch_add(1, SeqCst);
        let count = count.clone();
        let spawned = std::thread::Builder::new()
            .name("livejit-client".into())
            .spawn(move || {
                serve_client(stream, &conn, routes, worker, &queries);
                count.fetch_sub(1, SeqCst);
            });
        if spawned.is_err() {
            eprintln!("error: cannot start a thread for a control client");
        }
    }
}

/// Makes the client's two session handles: one for its inputs, one for completion queries
/// (answered at once, even while an input runs).
fn client_repls(primary: &Repl, routes: &Arc<Routes>) -> Result<(Repl, Repl), String> {
    let routes = routes.clone();
    let tasks: Reporter = Arc::new(move |e: Event| routes.task_event(e));
    let worker = primary.attach(tasks)?;
    let queries = primary.attach(Arc::new(|_| {}))?;
    Ok((worker, queries))
}

/// The peer's uid must be ours; at most [`MAX_CLIENTS`] at once.
fn admit(stream: &UnixStream, count: &AtomicUsize) -> Result<(), String> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let creds = getsockopt(stream, PeerCredentials)
        .map_err(|e| format!("cannot check the client's credentials: {e}"))?;
    if creds.uid() != nix::unistd::getuid().as_raw() {
        return Err("permission denied: the client runs as another user".into());
    }
    if count.load(SeqCst) >= MAX_CLIENTS {
        return Err(format!("too many clients (at most {MAX_CLIENTS})"));
    }
    Ok(())
}

impl Control {
    /// Stops accepting clients, removes the socket file, ends the session.
    pub fn shutdown(mut self) {
        self.stop.store(true, SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
        for c in live(&self.clients) {
            c.close();
        }
        self.repl
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shutdown();
    }
}

/// One client's connection: its output queue, written by its writer thread.
struct Conn {
    out: Mutex<Queue>,
    changed: Condvar,
    stream: UnixStream,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<String>,
    bytes: usize,
    /// The client is gone (or too slow): nothing more is queued.
    closed: bool,
    /// No more output will come: the writer exits once the queue is empty.
    finishing: bool,
}

impl Conn {
    fn new(stream: &UnixStream) -> std::io::Result<(Arc<Conn>, Arc<Routes>)> {
        let conn = Arc::new(Conn {
            out: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            stream: stream.try_clone()?,
        });
        let mut writer = stream.try_clone()?;
        let w = conn.clone();
        std::thread::Builder::new()
            .name("livejit-client-out".into())
            .spawn(move || w.write_loop(&mut writer))?;
        let routes = Arc::new(Routes {
            conn: Arc::downgrade(&conn),
            input: Mutex::new(None),
            tasks: Mutex::new(HashMap::new()),
        });
        Ok((conn, routes))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a line for the client; false if the client is gone (the caller writes it to
    /// the service's own output instead). `wait`: program output, which waits while much is
    /// queued; anything else never waits (status lines come from under the registry lock).
    fn push(&self, line: String, wait: bool) -> bool {
        let mut q = self.lock();
        while wait && q.bytes > QUEUE_SOFT && !q.closed {
            q = self
                .changed
                .wait_timeout(q, Duration::from_millis(50))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if q.closed {
            return false;
        }
        if q.bytes + line.len() > QUEUE_HARD {
            drop(q);
            self.close();
            return false;
        }
        q.bytes += line.len();
        q.lines.push_back(line);
        drop(q);
        self.changed.notify_all();
        true
    }

    /// No more replies will come: the writer sends what is queued, then closes.
    fn finish(&self) {
        self.lock().finishing = true;
        self.changed.notify_all();
    }

    fn write_loop(&self, w: &mut UnixStream) {
        loop {
            let mut q = self.lock();
            while q.lines.is_empty() && !q.closed && !q.finishing {
                q = self.changed.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            let batch: Vec<String> = q.lines.drain(..).collect();
            q.bytes = 0;
            if q.closed {
                drop(q);
                undelivered(&batch);
                break;
            }
            if batch.is_empty() {
                break; // finishing, and everything was sent
            }
            drop(q);
            self.changed.notify_all();
            if w.write_all(batch.concat().as_bytes()).is_err() {
                undelivered(&batch);
                break;
            }
        }
        self.close();
    }

    /// The client has gone: nothing more is queued; what is still queued goes to the
    /// service's own output (the writer takes it).
    fn close(&self) {
        let rest: Vec<String> = {
            let mut q = self.lock();
            q.closed = true;
            q.bytes = 0;
            q.lines.drain(..).collect()
        };
        self.changed.notify_all();
        undelivered(&rest);
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Lines a client did not get: its requests' replies and output go to the service's own
/// stdout and stderr (status lines were written there already; protocol answers are
/// dropped).
fn undelivered(lines: &[String]) {
    for l in lines {
        if let Ok(protocol::Incoming::Reply(t)) = protocol::parse_incoming(l.trim_end().as_bytes())
        {
            if t.id.is_some() {
                local(&t.reply);
            }
        }
    }
}

/// Where a client's replies, program output and task events go: to the client while it is
/// connected, to the service's own stdout and stderr once it has gone.
struct Routes {
    conn: Weak<Conn>,
    /// The request being processed (task events of a `:spawn` are tagged with it).
    input: Mutex<Option<u64>>,
    /// The request that started each running task of this client.
    tasks: Mutex<HashMap<u64, Option<u64>>>,
}

impl Routes {
    fn task_event(&self, e: Event) {
        let input = match &e {
            Event::TaskStarted { id } => {
                let input = *self.input.lock().unwrap_or_else(|e| e.into_inner());
                self.tasks
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(*id, input);
                input
            }
            Event::TaskEnded { id, .. }
            | Event::TaskError { id, .. }
            | Event::TaskCrashed { id, .. } => self
                .tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(id)
                .flatten(),
            Event::Defined { .. } | Event::Freed { .. } => None,
        };
        self.deliver(input, Reply::Event { event: e }, false);
    }

    /// Sends `reply` to the client, or writes it to the service's output if it has gone.
    fn deliver(&self, id: Option<u64>, reply: Reply, wait: bool) {
        if let Some(conn) = self.conn.upgrade() {
            if conn.push(protocol::line(&Tagged { id, reply: &reply }), wait) {
                return;
            }
        }
        local(&reply);
    }

    /// The sink of request `id`'s answers.
    fn sink(self: &Arc<Self>, id: u64) -> Sink {
        let routes = self.clone();
        Arc::new(move |reply: Reply| routes.deliver(Some(id), reply, false))
    }

    /// The sink of request `id`'s program output (and of the tasks it spawns).
    fn output(self: &Arc<Self>, id: u64) -> OutputSink {
        let routes = self.clone();
        Arc::new(move |line: &str| {
            let reply = Reply::Output {
                stream: Stream::Out,
                text: format!("{line}\n"),
            };
            routes.deliver(Some(id), reply, true);
        })
    }
}

fn local(reply: &Reply) {
    let (stream, text) = crate::render::reply(reply);
    out::emit(stream, text);
}

/// A request for the client's worker.
enum Job {
    Input {
        id: u64,
        text: Vec<u8>,
        files: HashMap<String, Vec<u8>>,
    },
    Push {
        id: u64,
        files: Vec<(String, Vec<u8>)>,
    },
}

/// Runs one client's connection until it ends: reads its lines, hands inputs to its worker,
/// and waits for the worker to finish what was fully received.
fn serve_client(
    stream: UnixStream,
    conn: &Arc<Conn>,
    routes: Arc<Routes>,
    mut worker: Repl,
    queries: &Repl,
) {
    let foreground = worker.foreground();
    // Bounded: a client that sends inputs faster than they run is read no further meanwhile.
    let (jobs, rx) = mpsc::sync_channel::<Job>(QUEUED_INPUTS);
    let w_conn = conn.clone();
    let w_routes = routes;
    let worker_thread = std::thread::Builder::new()
        .name("livejit-client-session".into())
        .spawn(move || {
            for job in rx {
                let (id, ok, installed) = match job {
                    Job::Input { id, text, files } => {
                        *w_routes.input.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                        let ok = worker.process_remote(
                            &text,
                            files,
                            w_routes.sink(id),
                            w_routes.output(id),
                        );
                        (id, ok, None)
                    }
                    Job::Push { id, files } => {
                        *w_routes.input.lock().unwrap_or_else(|e| e.into_inner()) = Some(id);
                        let (installed, ok) =
                            worker.push(&files, w_routes.sink(id), w_routes.output(id));
                        (id, ok, Some(installed))
                    }
                };
                w_conn.push(
                    protocol::line(&ServerMsg::Result { id, ok, installed }),
                    false,
                );
            }
        });
    let Ok(worker_thread) = worker_thread else {
        conn.close();
        return;
    };
    let send = |msg: &ServerMsg| {
        conn.push(protocol::line(msg), false);
    };
    let error = |id: Option<u64>, message: String| send(&ServerMsg::Error { id, message });
    let limit = protocol::line_limit();
    let max_input = crate::source::max_input();
    let mut reader = BufReader::new(stream);
    let mut greeted = false;
    let mut refused = false;
    loop {
        let line = match protocol::read_line(&mut reader, limit) {
            Ok(Line::Line(l)) => l,
            Ok(Line::TooLong) => {
                error(
                    None,
                    format!("message longer than the line limit ({limit} bytes): dropped"),
                );
                continue;
            }
            Ok(Line::End) | Err(_) => break,
        };
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: serde_json::Value = match serde_json::from_slice(&line) {
            Ok(v) => v,
            Err(e) => {
                error(None, format!("malformed JSON: {e}"));
                continue;
            }
        };
        let id = value.get("id").and_then(serde_json::Value::as_u64);
        let msg: ClientMsg = match serde_json::from_value(value) {
            Ok(m) => m,
            Err(e) => {
                error(id, format!("not a valid message: {e}"));
                continue;
            }
        };
        match msg {
            ClientMsg::Hello { version } if version == protocol::VERSION => {
                greeted = true;
                send(&ServerMsg::Hello {
                    version: protocol::VERSION,
                    server: format!("livejit {}", env!("CARGO_PKG_VERSION")),
                });
            }
            ClientMsg::Hello { version } => {
                error(
                    None,
                    format!(
                        "protocol version {version} is not spoken here (this service speaks {})",
                        protocol::VERSION
                    ),
                );
                refused = true;
                break;
            }
            _ if !greeted => error(id, "the first message must be `hello`".into()),
            ClientMsg::Interrupt => commands::interrupt_now(&foreground),
            ClientMsg::Completion { id } => send(&ServerMsg::Completion {
                id,
                data: queries.completion_data(),
            }),
            ClientMsg::Input {
                id,
                text,
                bytes,
                files,
            } => {
                let text = FileArg {
                    path: String::new(),
                    text,
                    bytes,
                }
                .into_bytes();
                if text.len() as u64 > max_input {
                    error(
                        Some(id),
                        format!(
                            "the input is larger than the input size limit ({max_input} bytes)"
                        ),
                    );
                    send(&ServerMsg::Result {
                        id,
                        ok: false,
                        installed: None,
                    });
                    continue;
                }
                let files = files
                    .into_iter()
                    .map(|f| (f.path.clone(), f.into_bytes()))
                    .collect();
                let _ = jobs.send(Job::Input { id, text, files });
            }
            ClientMsg::Push { id, files } => {
                let files = files
                    .into_iter()
                    .map(|f| (f.path.clone(), f.into_bytes()))
                    .collect();
                let _ = jobs.send(Job::Push { id, files });
            }
        }
    }
    // The client has gone (or closed its side): what its inputs still answer goes to the
    // service's own output. Inputs received whole are processed to their end.
    if refused {
        conn.finish();
    } else {
        conn.close();
    }
    drop(jobs);
    let _ = worker_thread.join();
    conn.finish();
}
