//! `cargo bench --bench serve`: HTTP requests per second and latency percentiles of
//! `livejit serve --http` against the same handler written directly in Rust on the same HTTP
//! stack (hyper 1 on tokio, HTTP/1.1 keep-alive).
//!
//! A Rust load generator (hyper's client) keeps `CONNECTIONS` keep-alive connections busy, one
//! request at a time each, for `SECONDS` after a warm-up, and reports requests/s and the
//! p50/p99/p99.9 of per-request latency (send to last body byte). Every response is checked.
//!
//! Phases:
//! 1. livejit, steady state: the release `livejit serve` with `HANDLER` below.
//! 2. Rust baseline: the same logic as a hyper `service_fn`, in a process of its own (this
//!    bench binary started again), answered inline on its tokio runtime.
//! 3. livejit while redefining `handle` every 100 ms through `livejit push`: see
//!    `redefine_phase` (skipped, and said so, while the binary has no `push`).
//! 4. and 5. The same HTTP side and request pool in this process, on a bare session, in
//!    steady state and then while `handle` is redefined every 100 ms by the session directly
//!    (see `in_process_phases`): what a swap costs the requests, until phase 3 can say it
//!    through the control socket.
//!
//! Environment: `LIVEJIT_SERVE_SECONDS` (default 5), `LIVEJIT_SERVE_CONNECTIONS` (default 32),
//! `LIVEJIT_SERVE_THREADS` (the service's `--threads`, default 2), `LIVEJIT_SERVE_ROUNDS`
//! (alternated rounds of phases 1 and 2, default 2).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The handler under test: parses a number out of the path and answers with a small text.
const HANDLER: &str = r#"
global served: int = 0;
fn handle(method: str, path: str, body: str) -> str {
    served = served + 1;
    let q = find(path, "?n=");
    let n = if q < 0 { 0 } else { parse_int(path[q + 3..len(path)]) };
    "hello " + method + " " + str(n * 2)
}
"#;

/// The same logic in Rust.
fn rust_handler(method: &str, path: &str) -> String {
    let n: i64 = path
        .find("?n=")
        .and_then(|q| path[q + 3..].parse().ok())
        .unwrap_or(0);
    format!("hello {method} {}", n * 2)
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one load run saw.
struct Load {
    requests: usize,
    failures: usize,
    elapsed: Duration,
    /// Latencies in microseconds, sorted.
    latencies: Vec<u64>,
}

impl Load {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1] as f64 / 1000.0
    }

    fn row(&self, name: &str) -> String {
        format!(
            "| {name} | {:.0} | {} | {} | {:.2} | {:.2} | {:.2} |",
            self.requests as f64 / self.elapsed.as_secs_f64(),
            self.requests,
            self.failures,
            self.percentile(0.50),
            self.percentile(0.99),
            self.percentile(0.999),
        )
    }
}

/// Drives `port` with `connections` keep-alive connections for `warmup + duration`; only
/// requests sent after the warm-up count.
async fn load(port: u16, connections: usize, warmup: Duration, duration: Duration) -> Load {
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let mut tasks = Vec::new();
    for c in 0..connections {
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failures = 0usize;
            let stream = match tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                Ok(s) => s,
                Err(_) => return (lat, 1),
            };
            let _ = stream.set_nodelay(true);
            let io = hyper_util::rt::TokioIo::new(stream);
            let Ok((mut send, conn)) = hyper::client::conn::http1::handshake(io).await else {
                return (lat, 1);
            };
            tokio::spawn(conn);
            let mut i: u64 = 0;
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                i += 1;
                let n = (c as u64) * 1_000_000 + i;
                let path = format!("/x?n={n}");
                let req = hyper::Request::get(path.as_str())
                    .header("host", "127.0.0.1")
                    .body(Empty::<Bytes>::new())
                    .expect("a request");
                let t0 = Instant::now();
                let ok = match send.send_request(req).await {
                    Ok(resp) if resp.status() == 200 => match resp.into_body().collect().await {
                        Ok(b) => b.to_bytes() == format!("hello GET {}", n * 2).as_bytes(),
                        Err(_) => false,
                    },
                    _ => false,
                };
                let dt = t0.elapsed();
                if t0 >= measure_from {
                    lat.push(dt.as_micros() as u64);
                    if !ok {
                        failures += 1;
                    }
                }
                if !ok {
                    break;
                }
            }
            (lat, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for t in tasks {
        if let Ok((l, f)) = t.await {
            latencies.extend(l);
            failures += f;
        }
    }
    latencies.sort_unstable();
    Load {
        requests: latencies.len(),
        failures,
        elapsed: duration,
        latencies,
    }
}

/// A running `livejit serve`, killed when dropped.
struct Served {
    child: Child,
    port: u16,
}

impl Drop for Served {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child: SIGTERM lets it drain and exit.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `livejit serve` on the handler.
fn serve(dir: &PathBuf, threads: u64) -> Served {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_livejit"));
    cmd.current_dir(dir)
        .args(["serve", "handler.src", "--http", "127.0.0.1:0", "--threads"])
        .arg(threads.to_string());
    spawn_server(cmd)
}

/// Starts this bench binary again as the Rust baseline server, a process of its own like
/// `livejit serve` (so neither shares the load generator's process).
fn serve_rust(threads: u64) -> Served {
    let mut cmd = Command::new(std::env::current_exe().expect("the bench binary"));
    cmd.env(BASELINE_CHILD, threads.to_string());
    spawn_server(cmd)
}

/// Set in the environment of the baseline server process.
const BASELINE_CHILD: &str = "LIVEJIT_SERVE_BENCH_BASELINE";

/// Spawns a server that prints `listening on http://127.0.0.1:PORT` on stderr.
fn spawn_server(mut cmd: Command) -> Served {
    let mut child = cmd
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("livejit serve starts");
    let mut err = BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let port = loop {
        line.clear();
        if err.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("livejit serve exited before listening");
        }
        if let Some(rest) = line.trim().strip_prefix("listening on http://127.0.0.1:") {
            break rest.parse::<u16>().expect("a port");
        }
    };
    // Keep draining stderr so the service never blocks on it.
    std::thread::spawn(move || {
        let mut sink = String::new();
        while err.read_line(&mut sink).unwrap_or(0) > 0 {
            sink.clear();
        }
    });
    Served { child, port }
}

/// The Rust baseline server process: the same logic on the same hyper stack, answered inline
/// on tokio. Its runtime has as many threads as `livejit serve` has HTTP and request threads
/// together (`pool` of the latter), so that on a machine shared with other jobs neither gets
/// a larger share of the cores for having more threads. Runs until killed.
fn rust_server_main(pool: usize) {
    let io_threads = std::thread::available_parallelism()
        .map_or(2, std::num::NonZero::get)
        .min(4);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(io_threads + pool)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        eprintln!("listening on http://127.0.0.1:{port}");
        let http = hyper::server::conn::http1::Builder::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let conn = http.serve_connection(
                hyper_util::rt::TokioIo::new(stream),
                hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let body = rust_handler(req.method().as_str(), &req.uri().to_string());
                        let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
                        r.headers_mut().insert(
                            hyper::header::CONTENT_TYPE,
                            hyper::header::HeaderValue::from_static("text/plain; charset=utf-8"),
                        );
                        Ok::<_, Infallible>(r)
                    },
                ),
            );
            tokio::spawn(conn);
        }
    });
}

/// PHASE 3 — livejit while `handle` is redefined every 100 ms, through the running service.
///
/// TO BE FILLED once `livejit push` exists: start `serve` as in phase 1, run `load` and, on
/// another thread, every 100 ms write a new version of `handle` (the same answer, a different
/// body, e.g. `redefinition_body(k)`) and `livejit push ./livejit.sock FILE`; report the same
/// row plus the number of redefinitions and how many versions were freed (`:versions handle`
/// through `livejit attach` or the control protocol).
fn redefine_phase() -> Option<String> {
    None
}

/// The handler again, with a body that differs in every redefinition `k` (same answers).
fn redefinition_body(k: u32) -> String {
    format!(
        "fn handle(method: str, path: str, body: str) -> str {{\n\
             served = served + 1;\n\
             let redefinition = {k};\n\
             let q = find(path, \"?n=\");\n\
             let n = if q < 0 {{ 0 }} else {{ parse_int(path[q + 3..len(path)]) }};\n\
             \"hello \" + method + \" \" + str(n * 2)\n\
         }}"
    )
}

/// PHASES 4 and 5 — the same HTTP side and request pool in this process, on a bare session
/// (`Session::serve` + `livejit_repl::http::listen`), without and then with a redefinition of
/// `handle` every `period`, made by `Session::eval` directly, as `push` will do through the
/// control socket. In process, the server shares the machine's cores with the load generator
/// as phase 1 does, but also its allocator; compare phase 5 with phase 4, not with phase 1.
fn in_process_phases(
    threads: u64,
    connections: usize,
    warmup: Duration,
    duration: Duration,
    period: Duration,
) -> Vec<String> {
    use livejit_backend::{EvalResult, Event, Session, VersionState};
    let mut rows = Vec::new();
    let mut session = Session::new(Arc::new(|_: Event| {})).expect("a session");
    let eval = |session: &mut Session, text: &str| {
        let name = session.next_input_name();
        match session.eval(&name, text) {
            EvalResult::Ok => {}
            _ => panic!("the handler did not install"),
        }
    };
    eval(&mut session, HANDLER);
    let timeout = Duration::from_secs(30);
    let service = session
        .serve("handle", threads as usize, timeout)
        .expect("the request pool starts");
    let http = livejit_repl::http::listen(service, "127.0.0.1:0", timeout).expect("listens");
    let port = http.addr.port();
    let run_load = move || {
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a tokio runtime")
                .block_on(load(port, connections, warmup, duration))
        })
    };
    let steady = run_load().join().expect("the load generator");
    rows.push(steady.row("livejit in process (steady state)"));
    let loader = run_load();
    let mut k = 1;
    let mut next = Instant::now() + period;
    let mut install_ms = Vec::new();
    while !loader.is_finished() {
        let now = Instant::now();
        if now < next {
            std::thread::sleep((next - now).min(Duration::from_millis(5)));
            continue;
        }
        next += period;
        k += 1;
        let t0 = Instant::now();
        eval(&mut session, &redefinition_body(k));
        install_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    let swapping = loader.join().expect("the load generator");
    http.shutdown(Duration::from_secs(10));
    let all_freed = session.drain(Duration::from_secs(10));
    let versions = session.versions("handle").expect("handle's versions");
    let freed = versions
        .iter()
        .filter(|v| v.state == VersionState::Freed)
        .count();
    install_ms.sort_by(f64::total_cmp);
    let median_install = install_ms
        .get(install_ms.len() / 2)
        .copied()
        .unwrap_or(f64::NAN);
    rows.push(swapping.row(&format!(
        "livejit in process, redefining `handle` every {} ms ({} redefinitions, median install {median_install:.1} ms; {freed} of {} versions freed{})",
        period.as_millis(),
        k - 1,
        versions.len(),
        if all_freed { "" } else { ", some still draining" }
    )));
    rows
}

fn main() {
    if let Ok(pool) = std::env::var(BASELINE_CHILD) {
        rust_server_main(pool.parse().unwrap_or(2));
        return;
    }
    // `cargo bench` passes `--bench`; nothing else is taken.
    let seconds = env_or("LIVEJIT_SERVE_SECONDS", 5);
    let connections = env_or("LIVEJIT_SERVE_CONNECTIONS", 32) as usize;
    let threads = env_or("LIVEJIT_SERVE_THREADS", 2);
    let rounds = env_or("LIVEJIT_SERVE_ROUNDS", 2);
    let warmup = Duration::from_secs(1);
    let duration = Duration::from_secs(seconds);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("bench_serve");
    std::fs::create_dir_all(&dir).expect("a bench directory");
    std::fs::write(dir.join("handler.src"), HANDLER).expect("the handler file");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    println!(
        "serve bench: {connections} keep-alive connections, {seconds} s measured after 1 s warm-up, livejit --threads {threads}"
    );
    println!();
    println!("| server | requests/s | requests | failures | p50 ms | p99 ms | p99.9 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    // Alternated rounds, so that neither server always runs in the quieter moment of a
    // machine shared with other jobs.
    for round in 1..=rounds {
        {
            let served = serve(&dir, threads);
            let l = rt.block_on(load(served.port, connections, warmup, duration));
            println!(
                "{}",
                l.row(&format!("livejit serve (steady state), round {round}"))
            );
        }
        {
            let served = serve_rust(threads);
            let l = rt.block_on(load(served.port, connections, warmup, duration));
            println!(
                "{}",
                l.row(&format!("Rust handler, same hyper stack, round {round}"))
            );
        }
    }
    match redefine_phase() {
        Some(row) => println!("{row}"),
        None => println!(
            "| livejit serve, redefining `handle` every 100 ms through `push` | (not measured: needs `livejit push`) | | | | | |"
        ),
    }
    for row in in_process_phases(
        threads,
        connections,
        warmup,
        duration,
        Duration::from_millis(100),
    ) {
        println!("{row}");
    }
}
