//! `livejit serve` as a child process, and a raw control-socket client speaking
//! docs/protocol.md, for the service tests.

use super::{livejit_command, Outcome};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Deadline for anything a test waits for: far above what it needs on a loaded machine; it
/// only catches hangs.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A fresh directory under the target's tmp dir.
pub fn test_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("service")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `127.0.0.1:PORT` with a port free a moment ago, for `serve --http`.
pub fn free_loopback_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// A running `livejit serve`, stopped (SIGTERM) when dropped.
pub struct Service {
    /// The child.
    pub child: Child,
    /// Its directory (its stdout and stderr are `serve.out` and `serve.err` there).
    pub dir: PathBuf,
    /// Its control socket.
    pub sock: PathBuf,
}

impl Service {
    /// Writes `program` to `app.src` in `dir` and serves it with `extra` arguments; waits
    /// until the control socket accepts.
    pub fn start(dir: &Path, program: &str, extra: &[&str]) -> Service {
        std::fs::write(dir.join("app.src"), program).unwrap();
        let sock = dir.join("s.sock");
        let mut cmd = livejit_command(dir);
        cmd.args(["serve", "app.src", "--control"])
            .arg(&sock)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.join("serve.out")).unwrap())
            .stderr(std::fs::File::create(dir.join("serve.err")).unwrap());
        let mut child = cmd.spawn().expect("spawn livejit serve");
        let start = Instant::now();
        while UnixStream::connect(&sock).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "serve exited ({status}) before listening:\n{}",
                    std::fs::read_to_string(dir.join("serve.err")).unwrap_or_default()
                );
            }
            assert!(start.elapsed() < DEADLINE, "serve never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        Service {
            child,
            dir: dir.to_path_buf(),
            sock,
        }
    }

    /// A connected client (hello exchanged).
    pub fn client(&self) -> Client {
        Client::connect(&self.sock)
    }

    /// What the service wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.out")).unwrap_or_default()
    }

    /// What the service wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.err")).unwrap_or_default()
    }

    /// Runs `livejit ARGS...` (push, attach) in the service's directory with `stdin`.
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> Outcome {
        let mut cmd = livejit_command(&self.dir);
        cmd.args(args);
        super::run_with_timeout(cmd, stdin.map(|s| s.as_bytes().to_vec()), DEADLINE)
    }

    /// SIGTERM, then waits: the exit status.
    pub fn stop(&mut self) -> Option<i32> {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return s.code();
            }
            if start.elapsed() > DEADLINE {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}

/// A raw protocol client.
pub struct Client {
    /// The connection (for writing raw bytes).
    pub stream: UnixStream,
    reader: BufReader<UnixStream>,
    /// Messages read but not yet consumed.
    pub backlog: Vec<Value>,
}

impl Client {
    /// Connects and exchanges hellos.
    pub fn connect(sock: &Path) -> Client {
        let mut c = Client::raw(sock);
        c.send(&json!({"type": "hello", "version": 1}));
        let hello = c.next();
        assert_eq!(hello["type"], "hello", "{hello}");
        c
    }

    /// Connects without the hello.
    pub fn raw(sock: &Path) -> Client {
        let stream = UnixStream::connect(sock).expect("connect to the control socket");
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
            backlog: Vec::new(),
        }
    }

    /// Sends one message.
    pub fn send(&mut self, msg: &Value) {
        self.send_raw(format!("{msg}\n").as_bytes());
    }

    /// Sends bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to the service");
    }

    /// The next message from the service (panics at the deadline or at the end).
    pub fn next(&mut self) -> Value {
        if !self.backlog.is_empty() {
            return self.backlog.remove(0);
        }
        self.read()
    }

    fn read(&mut self) -> Value {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .expect("read from the service (timed out?)");
        assert!(n > 0, "the service closed the connection");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad line {line:?}: {e}"))
    }

    /// Sends input `text` as request `id` and returns every message up to its result
    /// (included); other requests' messages met meanwhile stay in the backlog.
    pub fn input(&mut self, id: u64, text: &str) -> Vec<Value> {
        self.send(&json!({"type": "input", "id": id, "text": text}));
        self.until_result(id)
    }

    /// Every message of request `id` up to its result; status lines (`id` null) are
    /// included, other requests' messages kept for later.
    pub fn until_result(&mut self, id: u64) -> Vec<Value> {
        let mut got = Vec::new();
        let mut rest = Vec::new();
        let mut pending = std::mem::take(&mut self.backlog).into_iter();
        loop {
            let m = match pending.next() {
                Some(m) => m,
                None => self.read(),
            };
            let mine = m["id"] == id || m["id"].is_null();
            let done = m["type"] == "result" && m["id"] == id;
            if mine {
                got.push(m);
            } else {
                rest.push(m);
            }
            if done {
                rest.extend(pending);
                self.backlog = rest;
                return got;
            }
        }
    }
}

/// The concatenated `output` text of `msgs` on `stream` (`out` or `err`).
pub fn text_of(msgs: &[Value], stream: &str) -> String {
    msgs.iter()
        .filter(|m| m["type"] == "output" && m["stream"] == stream)
        .filter_map(|m| m["text"].as_str())
        .collect()
}

/// The `ok` of the result among `msgs`.
pub fn ok_of(msgs: &[Value]) -> bool {
    msgs.iter()
        .find(|m| m["type"] == "result")
        .and_then(|m| m["ok"].as_bool())
        .expect("a result")
}
