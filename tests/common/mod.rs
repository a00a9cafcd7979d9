//! Helpers shared by the end-to-end tests: run the `livejit` binary as a child process with a
//! timeout and capture everything it writes.
//!
//! Only `std` and `libc` are used here.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of these helpers"
)]

pub mod service;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The binary under test.
pub const LIVEJIT: &str = env!("CARGO_BIN_EXE_livejit");

/// The swap demo's loop for scripts: `sort` v1 (bubble sort, counting its calls in
/// `v1_calls`) called by `main_loop` on fresh data until `running` is false, counting unsorted
/// results; a redefinition of `sort` counts in `v2_calls`.
#[allow(
    dead_code,
    reason = "used by some of the test binaries that include this module"
)]
pub const SORT_LOOP: &str = "\
global running: bool = true;
global v1_calls: int = 0;
global v2_calls: int = 0;
global unsorted: int = 0;
fn sort(xs: [int]) { v1_calls += 1; let n = len(xs); for i in 0..n { for j in 0..n - 1 - i { if xs[j] > xs[j + 1] { let t = xs[j]; xs[j] = xs[j + 1]; xs[j + 1] = t; } } } }
fn is_sorted(xs: [int]) -> bool { for i in 1..len(xs) { if xs[i - 1] > xs[i] { return false; } } true }
fn main_loop() { while running { let xs = [0; 300]; for i in 0..300 { xs[i] = rand(1000); } sort(xs); if !is_sorted(xs) { unsorted += 1; } } }
";

/// What a finished (or killed) child left behind.
pub struct Outcome {
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
    /// The exit status (`None` if it had to be killed after the timeout).
    pub status: Option<ExitStatus>,
    /// Whether the timeout expired.
    pub timed_out: bool,
    /// Wall time from spawn to exit.
    pub elapsed: Duration,
}

impl Outcome {
    /// A one-line description of how the process ended.
    pub fn describe_status(&self) -> String {
        if self.timed_out {
            return format!("killed after timeout ({:.1?})", self.elapsed);
        }
        match self.status {
            Some(s) => match s.code() {
                Some(c) => format!("exit {c}"),
                None => format!("terminated by signal ({s})"),
            },
            None => "unknown".to_string(),
        }
    }

    /// Status, stdout and stderr (clipped), for a failed assertion's message.
    pub fn report(&self) -> String {
        format!(
            "status: {}\n--- stdout\n{}\n--- stderr\n{}",
            self.describe_status(),
            clip(&self.stdout, 4000),
            clip(&self.stderr, 4000)
        )
    }

    /// The exit code, if the process exited normally.
    pub fn code(&self) -> Option<i32> {
        if self.timed_out {
            None
        } else {
            self.status.and_then(|s| s.code())
        }
    }
}

/// A `livejit` command with an environment that keeps diagnostics free of colour codes (the
/// tests match stderr as plain text).
pub fn livejit_command(cwd: &Path) -> Command {
    let mut cmd = Command::new(LIVEJIT);
    cmd.current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("TERM", "dumb")
        .env("RUST_BACKTRACE", "0");
    cmd
}

/// Spawns `cmd`, feeds it `stdin` (or /dev/null), captures stdout and stderr, and kills it if it
/// has not exited after `timeout`.
pub fn run_with_timeout(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Outcome {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Outcome {
                stdout: String::new(),
                stderr: format!("<could not spawn {cmd:?}: {e}>"),
                status: None,
                timed_out: false,
                elapsed: start.elapsed(),
            }
        }
    };
    let (out_t, err_t, in_t) = spawn_pipes(&mut child, stdin);
    let mut timed_out = false;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(_) => break None,
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().ok();
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    if let Some(t) = in_t {
        let _ = t.join();
    }
    Outcome {
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
        status,
        timed_out,
        elapsed,
    }
}

/// Pipes `script` into `livejit` (script mode) started in `dir`, killed after `timeout`.
pub fn run_script(dir: &Path, script: &str, timeout: Duration) -> Outcome {
    run_with_timeout(
        livejit_command(dir),
        Some(script.as_bytes().to_vec()),
        timeout,
    )
}

/// Threads that drain stdout and stderr and write stdin (writing stops quietly if the child
/// exits early, e.g. after `:quit`).
#[allow(
    clippy::type_complexity,
    reason = "three join handles, named where they are used"
)]
pub fn spawn_pipes(
    child: &mut Child,
    stdin: Option<Vec<u8>>,
) -> (
    thread::JoinHandle<String>,
    thread::JoinHandle<String>,
    Option<thread::JoinHandle<()>>,
) {
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let out_t = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let err_t = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    });
    let in_t = match (stdin, child.stdin.take()) {
        (Some(data), Some(mut pipe)) => Some(thread::spawn(move || {
            let _ = pipe.write_all(&data);
            // Dropping the pipe closes it: the REPL sees end of input.
        })),
        _ => None,
    };
    (out_t, err_t, in_t)
}

/// Checks that every non-empty line of `expected` (trimmed) occurs in `actual` as a substring,
/// in order (each match must start after the end of the previous one). Returns the first line
/// that could not be found.
pub fn find_lines_in_order<'a>(expected: &'a str, actual: &str) -> Result<(), &'a str> {
    let mut pos = 0;
    for line in expected.lines() {
        let want = line.trim();
        if want.is_empty() {
            continue;
        }
        match actual[pos..].find(want) {
            Some(i) => pos += i + want.len(),
            None => return Err(want),
        }
    }
    Ok(())
}

/// Caps a text for a failure report.
pub fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n... ({} more bytes)", &s[..cut], s.len() - cut)
}

/// What a measured child left behind.
pub struct Measured {
    pub stdout: String,
    pub stderr: String,
    /// Exit code, or `None` if killed by a signal or the timeout.
    pub code: Option<i32>,
    pub timed_out: bool,
    pub max_rss_kib: i64,
    pub elapsed: Duration,
}

/// Runs `livejit ARGS` in `dir`, optionally feeding `stdin`, reaps it with `wait4` and returns
/// its peak RSS (`ru_maxrss`, KiB on Linux) with its output. Killed after `timeout`.
pub fn run_measured(
    dir: &Path,
    args: &[&str],
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> Measured {
    let mut cmd = livejit_command(dir);
    cmd.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {LIVEJIT}: {e}"));
    let pid = child.id() as libc::pid_t;
    let (out_t, err_t, in_t) = spawn_pipes(&mut child, stdin);

    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut timed_out = false;
    loop {
        // SAFETY: `pid` is our own unreaped child; `status` and `usage` are valid for writes.
        // Reaping it here means `child.wait()` must never be called afterwards (it is not).
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        if r < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            panic!("wait4 failed: {err}");
        }
        if !timed_out && start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = start.elapsed();
    if let Some(t) = in_t {
        let _ = t.join();
    }
    let code = if libc::WIFEXITED(status) {
        Some(libc::WEXITSTATUS(status))
    } else {
        None
    };
    Measured {
        stdout: out_t.join().unwrap_or_default(),
        stderr: err_t.join().unwrap_or_default(),
        code,
        timed_out,
        max_rss_kib: usage.ru_maxrss,
        elapsed,
    }
}

/// Runs `script` through the binary (script mode, working directory the crate root) and checks
/// that stdout's lines are `expected`'s, naming the input line of the first mismatch, and that
/// the run succeeded.
pub fn check_script_lines(script: &str, expected: &str) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let o = run_script(dir, script, Duration::from_secs(300));
    let got: Vec<&str> = o.stdout.lines().collect();
    let want: Vec<&str> = expected.lines().collect();
    let inputs: Vec<&str> = script.lines().collect();
    for (i, w) in want.iter().enumerate() {
        assert_eq!(
            got.get(i),
            Some(w),
            "line {}: `{}`\n--- stderr\n{}",
            i + 1,
            inputs[i],
            clip(&o.stderr, 3000)
        );
    }
    assert_eq!(o.code(), Some(0), "{}", clip(&o.stderr, 3000));
}

/// A small deterministic generator (splitmix64), so random tests reproduce from their seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// One element of `xs`.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// Lines of `:versions NAME` output: (version number, state).
pub fn versions(stdout: &str) -> Vec<(u32, String)> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let v = words.next()?.strip_prefix('v')?.parse().ok()?;
            let state = words.next()?.to_string();
            matches!(state.as_str(), "live" | "draining" | "freed").then_some((v, state))
        })
        .collect()
}
