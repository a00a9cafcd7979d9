//! `livejit serve FILE --http ADDR`, end to end: the real binary on a free loopback port,
//! driven by real HTTP clients (ureq, and hyper's client for explicit keep-alive connections).

mod common;

use common::{clip, livejit_command};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous bound for anything that should take milliseconds (a loaded CI machine, debug build).
const PATIENCE: Duration = Duration::from_secs(60);

/// A fresh directory for one test (the service runs there).
fn test_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("serve_http_{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `livejit serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

/// Collects everything `pipe` writes into `into`, line by line.
fn collect(pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut r = BufReader::new(pipe);
        let mut line = String::new();
        while r.read_line(&mut line).unwrap_or(0) > 0 {
            into.lock().unwrap().push_str(&line);
            line.clear();
        }
    });
}

/// Waits until `cond` holds, at most [`PATIENCE`].
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Server {
    /// Writes `program` to `app.src` in a fresh directory and serves it on a free port.
    fn start(name: &str, program: &str, extra: &[&str]) -> Server {
        let dir = test_dir(name);
        std::fs::write(dir.join("app.src"), program).unwrap();
        Server::start_file(&dir, "app.src", extra)
    }

    fn start_file(dir: &Path, file: &str, extra: &[&str]) -> Server {
        let mut cmd = livejit_command(dir);
        cmd.args(["serve", file, "--http", "127.0.0.1:0", "--threads", "4"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("livejit starts");
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), stdout.clone());
        collect(child.stderr.take().unwrap(), stderr.clone());
        let mut server = Server {
            child,
            port: 0,
            dir: dir.to_path_buf(),
            stdout,
            stderr,
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let err = server.stderr();
            if let Some(rest) = err.split("listening on http://127.0.0.1:").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                server.port = digits.parse().expect("a port");
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("serve exited with {status} before listening\n{err}");
            }
            assert!(Instant::now() < deadline, "serve never listened\n{err}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends SIGTERM.
    fn terminate(&self) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(r, 0);
    }

    /// Waits for the process to exit (at most [`PATIENCE`]).
    fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A ureq agent that returns 4xx/5xx responses instead of errors.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(PATIENCE))
        .build()
        .into()
}

/// (status, body) of a GET.
fn get(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let mut r = agent
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap())
}

/// (status, body) of a POST.
fn post(agent: &ureq::Agent, url: &str, body: &[u8]) -> (u16, String) {
    let mut r = agent
        .post(url)
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    let status = r.status().as_u16();
    (status, r.body_mut().read_to_string().unwrap())
}

const ECHO: &str = r#"
global served: int = 0;
fn handle(method: str, path: str, body: str) -> str {
    served = served + 1;
    if path == "/fail" {
        return str(10 / (served - served));
    }
    if path == "/loop" {
        while true { }
    }
    print("handled", method, path);
    method + " " + path + " [" + body + "] " + str(served)
}
"#;

#[test]
fn answers_with_method_path_body_and_keeps_globals() {
    let server = Server::start("answers", ECHO, &[]);
    let a = agent();
    let (status, body) = post(&a, &server.url("/set?k=a%20b&x=%2F"), b"hello");
    assert_eq!(status, 200);
    // The request target as sent: query kept, nothing decoded.
    assert_eq!(body, "POST /set?k=a%20b&x=%2F [hello] 1");
    let r = a.get(&server.url("/x")).call().unwrap();
    assert_eq!(
        r.headers().get("content-type").unwrap(),
        "text/plain; charset=utf-8"
    );
    // The global `served` keeps its value across requests.
    assert_eq!(get(&a, &server.url("/y")).1, "GET /y [] 3");
    assert_eq!(get(&a, &server.url("/z")).1, "GET /z [] 4");
    // Each `print` line is written whole on the service's stdout.
    wait_for("the printed lines", || {
        server
            .stdout()
            .lines()
            .filter(|l| l.starts_with("handled "))
            .count()
            == 4
    });
    assert!(server
        .stdout()
        .lines()
        .any(|l| l == "handled POST /set?k=a%20b&x=%2F"));
}

#[test]
fn a_runtime_error_answers_500_and_the_next_request_succeeds() {
    let server = Server::start("runtime_error", ECHO, &[]);
    let a = agent();
    let (status, body) = get(&a, &server.url("/fail"));
    assert_eq!((status, body.as_str()), (500, "error: division by zero"));
    // The full diagnostic goes to stderr, pointing into the program.
    wait_for("the diagnostic", || server.stderr().contains("app.src:6:"));
    let err = server.stderr();
    assert!(err.contains("request GET /fail failed"), "{err}");
    assert!(err.contains("in handle (v1)"), "{err}");
    let (status, body) = get(&a, &server.url("/ok"));
    assert_eq!((status, body.as_str()), (200, "GET /ok [] 2"));
}

#[test]
fn a_body_over_one_mib_answers_413_without_calling_handle() {
    let server = Server::start("too_large", ECHO, &[]);
    let a = agent();
    let big = vec![b'x'; (1 << 20) + 1];
    let (status, _) = post(&a, &server.url("/big"), &big);
    assert_eq!(status, 413);
    // Exactly 1 MiB is fine, and `handle` was not called for the large one (served is 1).
    let max = vec![b'y'; 1 << 20];
    let a = agent();
    let (status, body) = post(&a, &server.url("/max"), &max);
    assert_eq!(status, 200);
    assert!(body.ends_with("] 1"), "{}", clip(&body, 200));
    assert_eq!(body.len(), "POST /max [] 1".len() + (1 << 20));
}

#[test]
fn a_handler_past_the_request_timeout_answers_500_and_the_service_goes_on() {
    let server = Server::start("timeout", ECHO, &["--request-timeout", "300"]);
    let a = agent();
    let started = Instant::now();
    let (status, body) = get(&a, &server.url("/loop"));
    assert_eq!(
        (status, body.as_str()),
        (500, "error: request timed out after 300 ms")
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    wait_for("the timeout report", || {
        server
            .stderr()
            .contains("request GET /loop: timed out after 300 ms")
    });
    // The pool thread was freed: every thread serves again (more requests than threads).
    for i in 0..8 {
        let (status, body) = get(&a, &server.url(&format!("/after{i}")));
        assert_eq!(status, 200, "{body}");
    }
}

#[test]
fn keep_alive_connections_serve_many_requests_concurrently() {
    let server = Server::start("keep_alive", ECHO, &[]);
    const CONNECTIONS: usize = 32;
    const PER_CONNECTION: usize = 25;
    let port = server.port;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let answered: Vec<usize> = rt.block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                use http_body_util::{BodyExt, Empty};
                // One TCP connection per task; every request of the task goes over it.
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .unwrap();
                let io = hyper_util::rt::TokioIo::new(stream);
                let (mut send, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
                tokio::spawn(conn);
                let mut ok = 0;
                for i in 0..PER_CONNECTION {
                    let path = format!("/c{c}/r{i}?q=1");
                    let req = hyper::Request::get(path.as_str())
                        .header("host", "127.0.0.1")
                        .body(Empty::<bytes::Bytes>::new())
                        .unwrap();
                    let resp = send.send_request(req).await.unwrap();
                    assert_eq!(resp.status(), 200);
                    let body = resp.into_body().collect().await.unwrap().to_bytes();
                    let body = String::from_utf8(body.to_vec()).unwrap();
                    assert!(body.starts_with(&format!("GET {path} []")), "{body}");
                    ok += 1;
                }
                ok
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(
                tokio::time::timeout(PATIENCE, t)
                    .await
                    .expect("a connection hung")
                    .unwrap(),
            );
        }
        out
    });
    assert_eq!(answered, vec![PER_CONNECTION; CONNECTIONS]);
}

#[test]
fn sigterm_lets_an_in_flight_request_finish_and_exits_0() {
    let program = r#"
fn handle(method: str, path: str, body: str) -> str {
    if path == "/slow" {
        print("slow started");
        sleep_ms(1500);
        return "slow done";
    }
    "fast"
}
"#;
    let mut server = Server::start("sigterm", program, &["--control", "svc.sock"]);
    let url = server.url("/slow");
    let slow = std::thread::spawn(move || get(&agent(), &url));
    wait_for("the slow request to start", || {
        server.stdout().contains("slow started")
    });
    server.terminate();
    let (status, body) = slow.join().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow done"));
    let status = server.wait();
    assert_eq!(status.code(), Some(0), "{}", server.stderr());
    assert!(
        !server.dir.join("svc.sock").exists(),
        "the socket file is left"
    );
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err());
}

#[test]
fn a_missing_or_mistyped_handle_exits_1_before_listening() {
    for (name, program, expected) in [
        (
            "missing",
            "fn other() -> int { 1 }\n",
            "error: no function `handle`: a service needs `fn handle(method: str, path: str, body: str) -> str`",
        ),
        (
            "mistyped",
            "fn handle(path: str) -> str { path }\n",
            "error: `handle` has the signature `fn(str) -> str`: a service needs `fn handle(method: str, path: str, body: str) -> str`",
        ),
    ] {
        let dir = test_dir(name);
        std::fs::write(dir.join("app.src"), program).unwrap();
        let mut cmd = livejit_command(&dir);
        cmd.args(["serve", "app.src", "--http", "127.0.0.1:0"]);
        let out = common::run_with_timeout(cmd, None, PATIENCE);
        assert_eq!(out.code(), Some(1), "{}", out.report());
        assert!(out.stderr.contains(expected), "{}", out.report());
        assert!(!out.stderr.contains("listening"), "{}", out.report());
    }
}

#[test]
fn the_kv_example_serves_its_routes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = test_dir("kv");
    std::fs::copy(root.join("examples/kv.src"), dir.join("kv.src")).unwrap();
    let server = Server::start_file(&dir, "kv.src", &[]);
    let a = agent();
    assert_eq!(post(&a, &server.url("/set?k=apple"), b"red").1, "OK");
    assert_eq!(post(&a, &server.url("/set?k=pear"), b"green").1, "OK");
    assert_eq!(post(&a, &server.url("/set?k=apple"), b"crimson").1, "OK");
    assert_eq!(get(&a, &server.url("/get?k=apple")).1, "crimson");
    assert_eq!(get(&a, &server.url("/get?k=plum")).1, "not found: plum");
    assert_eq!(get(&a, &server.url("/count")).1, "2");
    // The bug the README fixes live: the parameter runs on past `&`.
    assert_eq!(
        get(&a, &server.url("/get?k=pear&pretty=1")).1,
        "not found: pear&pretty=1"
    );
    assert_eq!(post(&a, &server.url("/del?k=pear"), b"").1, "1");
    assert_eq!(post(&a, &server.url("/del?k=pear"), b"").1, "0");
    assert_eq!(get(&a, &server.url("/count")).1, "1");
    assert_eq!(get(&a, &server.url("/stats")).1, "requests 11, keys 1");
    assert_eq!(get(&a, &server.url("/nope")).1, "unknown route: GET /nope");
}

#[test]
fn hostile_clients_do_not_disturb_the_service() {
    use std::io::Write;
    let program = r#"
fn handle(method: str, path: str, body: str) -> str {
    if path == "/slow" { sleep_ms(300); }
    str(len(body))
}
"#;
    let server = Server::start("hostile", program, &[]);
    let addr = ("127.0.0.1", server.port);
    // Garbage instead of a request line: an error answer (or a close), never a crash.
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    raw.write_all(b"\x00\xff not http at all\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    let _ = raw.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // A chunked body (no content-length) that grows past 1 MiB: 413 without calling handle.
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut req =
        b"POST /chunked HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'z'; 64 * 1024];
    for _ in 0..17 {
        req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        req.extend_from_slice(&chunk);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let _ = raw.write_all(&req);
    let mut answer = [0u8; 12];
    raw.read_exact(&mut answer).unwrap();
    assert_eq!(&answer, b"HTTP/1.1 413");
    // A client that goes away while its request runs.
    let mut raw = std::net::TcpStream::connect(addr).unwrap();
    raw.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    drop(raw);
    // The service still answers, on every pool thread.
    let a = agent();
    for _ in 0..8 {
        assert_eq!(post(&a, &server.url("/n"), b"abc"), (200, "3".to_string()));
    }
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(get(&a, &server.url("/slow")), (200, "0".to_string()));
}

#[test]
fn print_lines_from_concurrent_requests_are_written_whole() {
    // Each request prints one long line of a single letter, in pieces.
    let program = r#"
fn handle(method: str, path: str, body: str) -> str {
    let c = path[1..2];
    let piece = "";
    for i in 0..100 { piece = piece + c; }
    print(piece, piece, piece, piece, piece, piece, piece, piece, piece, piece);
    "ok"
}
"#;
    let server = Server::start("print_whole", program, &[]);
    let letters = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let clients: Vec<_> = letters
        .iter()
        .map(|l| {
            let url = server.url(&format!("/{l}"));
            std::thread::spawn(move || {
                let a = agent();
                for _ in 0..20 {
                    assert_eq!(get(&a, &url), (200, "ok".to_string()));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    wait_for("every printed line", || {
        server.stdout().lines().count() == 160
    });
    for line in server.stdout().lines() {
        let first = &line[..1];
        let piece = first.repeat(100);
        assert_eq!(line, [piece.as_str(); 10].join(" "), "a line was torn");
    }
}

/// A counter served by several request threads at once: `hits += 1` on a global is one atomic
/// read-modify-write, so 8 clients × 250 concurrent requests count exactly 2,000.
#[test]
fn a_global_counter_loses_no_update_under_concurrent_requests() {
    let server = Server::start(
        "counter",
        r#"
global hits: int = 0;
global log: str = "";
fn handle(method: str, path: str, body: str) -> str {
    if path == "/count" {
        return str(hits) + " " + str(len(log));
    }
    hits += 1;
    log += "x";
    "ok"
}
"#,
        &[],
    );
    let url = server.url("/hit");
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let a = agent();
                for _ in 0..250 {
                    assert_eq!(get(&a, &url), (200, "ok".to_string()));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(get(&agent(), &server.url("/count")).1, "2000 2000");
}
