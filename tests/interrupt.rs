//! Ctrl-C (SIGINT) interrupts the foreground evaluation only: the session, its definitions and
//! globals survive, and the next input runs.

mod common;

use common::{clip, livejit_command, spawn_pipes};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[test]
fn sigint_interrupts_the_foreground_evaluation_and_the_session_goes_on() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = livejit_command(dir);
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn livejit");
    let script = "\
global before: int = 41;
fn spin() -> int { let n = 0; while true { n += 1; } n }
spin()
before + 1
";
    // Keep stdin open until the interrupt has been delivered, so the script cannot end first.
    let mut stdin = child.stdin.take().expect("stdin");
    let (out_t, err_t, _) = spawn_pipes(&mut child, None);
    {
        use std::io::Write;
        stdin.write_all(script.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: sending a signal to our own child process.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGINT);
    }
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    let report = format!(
        "status {status:?}\n--- stdout\n{}\n--- stderr\n{}",
        clip(&stdout, 2000),
        clip(&stderr, 2000)
    );
    assert!(
        status.is_some(),
        "the session did not end after Ctrl-C\n{report}"
    );
    assert!(stderr.contains("error: interrupted"), "{report}");
    assert!(stderr.contains("in spin (v1)"), "{report}");
    assert_eq!(stdout, "42\n", "{report}");
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{report}");
}
