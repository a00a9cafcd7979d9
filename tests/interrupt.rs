//! SIGINT in script mode (stdin not a terminal) interrupts the running evaluation, `:wait` or
//! `:sleep`: that input fails with one line, the session, its definitions and globals survive,
//! and the next input runs. With nothing running, SIGINT is ignored (the process does not exit).

mod common;

use common::{clip, livejit_command};
use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Deadline for one marker: only catches hangs.
const STEP: Duration = Duration::from_secs(60);

struct Script {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

fn drain(mut r: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

impl Script {
    fn start() -> Script {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut cmd = livejit_command(dir);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn livejit");
        let stdin = child.stdin.take();
        let stdout = drain(child.stdout.take().unwrap());
        let stderr = drain(child.stderr.take().unwrap());
        Script {
            child,
            stdin,
            stdout,
            stderr,
        }
    }

    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    fn sigint(&self) {
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGINT);
        }
    }

    fn report(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            clip(&self.stdout.lock().unwrap(), 2000),
            clip(&self.stderr.lock().unwrap(), 2000)
        )
    }

    /// Waits for `marker` on stderr, sending SIGINT every 200 ms if `interrupt` (a signal that
    /// lands before the input starts waiting is ignored, so one alone could be lost).
    fn await_stderr(&self, marker: &str, interrupt: bool) {
        let start = Instant::now();
        while !self.stderr.lock().unwrap().contains(marker) {
            assert!(
                start.elapsed() < STEP,
                "no {marker:?} on stderr\n{}",
                self.report()
            );
            if interrupt {
                self.sigint();
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Closes stdin and returns the exit code.
    fn finish(mut self) -> (Option<i32>, String, String) {
        drop(self.stdin.take());
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s.code();
            }
            if start.elapsed() > STEP {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("the session did not end\n{}", self.report());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the drain threads see end of file.
        std::thread::sleep(Duration::from_millis(100));
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

#[test]
fn sigint_interrupts_the_foreground_evaluation_and_the_session_goes_on() {
    let mut s = Script::start();
    s.write(
        "global before: int = 41;\nfn spin() -> int { let n = 0; while true { n += 1; } n }\nspin()\n",
    );
    s.await_stderr("defined spin", false);
    s.await_stderr("interrupted in spin (v1) at <input:2>:1", true);
    s.write("before + 1\n");
    let (status, stdout, stderr) = s.finish();
    let report = format!("status {status:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    // One line: no diagnostic, no call chain.
    assert_eq!(stderr.matches("interrupted").count(), 1, "{report}");
    assert!(!stderr.contains("error"), "{report}");
    assert_eq!(stdout, "42\n", "{report}");
    assert_eq!(status, Some(1), "{report}");
}

/// `:wait` on a task that never ends, and `:sleep`, stop at SIGINT; SIGINT while nothing runs
/// does not end the process (it used to exit with status 130).
#[test]
fn sigint_stops_wait_and_sleep_and_is_ignored_when_idle() {
    let mut s = Script::start();
    s.write("global n: int = 0;\n:spawn while true { n += 1; }\n:wait 1\n");
    s.await_stderr("task 1 started", false);
    s.await_stderr("interrupted in `:wait`", true);
    s.write(":sleep 600000\n");
    s.await_stderr("interrupted in `:sleep`", true);
    s.write(":kill 1\n:spawn 5\n");
    s.await_stderr("task 2 ended", false);
    // Nothing runs now: ignored.
    s.sigint();
    s.sigint();
    std::thread::sleep(Duration::from_millis(300));
    s.write("print(n > 0)\n");
    let (status, stdout, stderr) = s.finish();
    let report = format!("status {status:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert_eq!(stdout, "true\n", "{report}");
    assert!(
        stderr.contains("task 1 killed in <input:2> at <input:2>:1"),
        "{report}"
    );
    // The interrupted inputs failed.
    assert_eq!(status, Some(1), "{report}");
}
