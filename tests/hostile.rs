//! Hostile input never crashes, hangs or silently stops livejit.
//!
//! Each case feeds something unfriendly (NUL and control bytes in literals, invalid UTF-8 in
//! every position, devices and FIFOs, deep nesting, huge literals, files over the input size
//! limit, binary garbage) and checks that it ends with a clear error or the right output: no
//! signal, no panic message, within a time bound with wide headroom for a debug build on a busy
//! machine. In script mode the next input still runs, and the exit status is 1 at the end.

mod common;

use common::{livejit_command, run_with_timeout, Outcome};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A scratch directory for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("livejit-hostile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch(dir)
    }

    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).expect("write scratch file");
        p.to_string_lossy().into_owned()
    }

    fn fifo(&self, name: &str) -> String {
        let p = self.0.join(name);
        let ok = Command::new("mkfifo")
            .arg(&p)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mkfifo failed");
        p.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `livejit ARGS` with `stdin` bytes (script mode) and `env`.
fn run(args: &[&str], env: &[(&str, &str)], stdin: &[u8], limit: Duration) -> Outcome {
    let mut cmd = livejit_command(Path::new(env!("CARGO_MANIFEST_DIR")));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_timeout(cmd, Some(stdin.to_vec()), limit)
}

/// The common bar: ended by itself within the bound, with `code`, no signal, no panic text.
fn check_ended(what: &str, o: &Outcome, code: i32) {
    assert!(!o.timed_out, "{what}: hung\n{}", o.report());
    assert_eq!(o.code(), Some(code), "{what}: wrong status\n{}", o.report());
    assert!(
        !o.stderr.contains("panicked"),
        "{what}: a panic\n{}",
        o.report()
    );
    assert!(
        !o.stderr.contains("internal error"),
        "{what}: an internal error\n{}",
        o.report()
    );
}

const BOUND: Duration = Duration::from_secs(60);

#[test]
fn nul_and_control_bytes_in_string_literals_are_printed_as_written() {
    let mut script = Vec::new();
    script.extend_from_slice(b"print(\"x\0yz\")\n");
    script.extend_from_slice(b"print(\"a\x01\x07\x1b\x7fb\")\n");
    // Long tail after the NUL: this read far past the constant and crashed.
    script.extend_from_slice(b"print(\"x\0");
    script.extend_from_slice(&[b'a'; 20_000]);
    script.extend_from_slice(b"\")\n");
    script.extend_from_slice(b"print(\"\\r|\\0|\\x41\\x7e|\\t\")\n");
    // A literal may span lines.
    script.extend_from_slice(b"print(\"two\nlines\")\n");
    let o = run(&[], &[], &script, BOUND);
    check_ended("NUL in literals", &o, 0);
    let want = format!(
        "x\0yz\na\x01\x07\x1b\x7fb\nx\0{}\n\r|\0|A~|\t\ntwo\nlines\n",
        "a".repeat(20_000)
    );
    assert!(o.stdout == want, "stdout differs\n{}", o.report());
}

#[test]
fn invalid_utf8_anywhere_is_a_located_error_and_the_script_goes_on() {
    let inputs: [&[u8]; 9] = [
        b"\xffprint(1)\n",           // first byte of the stream
        b"print(2)\n",               //
        b"print(\"a\xffb\")\n",      // in a literal
        b"// \xfe comment\n",        // in a comment
        b"let x\xc3 = 1;\n",         // in an identifier position
        b"print(\"\xe2\x82\")\n",    // truncated multi-byte sequence
        b"print(3)\n",               //
        b"print(\"ok \xc3\xa9\")\n", // valid multi-byte text still works
        b"print(4) // last\xe2\x82", // last bytes of the stream, truncated
    ];
    let o = run(&[], &[], &inputs.concat(), BOUND);
    check_ended("invalid UTF-8 in script", &o, 1);
    assert_eq!(o.stdout, "2\n3\nok é\n", "{}", o.report());
    assert_eq!(
        o.stderr.matches("source text is not valid UTF-8").count(),
        6,
        "{}",
        o.report()
    );
    for at in [
        "<input:1>:1:1",
        "<input:3>:1:9",
        "<input:4>:1:4",
        "<input:5>:1:6",
        "<input:6>:1:8",
        "<input:9>:1:17",
    ] {
        assert!(o.stderr.contains(at), "no error at {at}\n{}", o.report());
    }

    // A file: the located error names the file, line and column.
    let s = Scratch::new("utf8");
    let f = s.file("bad.src", b"print(1);\nlet \xff = 2;\n");
    let o = run(&["run", &f], &[], b"", BOUND);
    check_ended("invalid UTF-8 in a file", &o, 1);
    assert!(o.stderr.contains("bad.src:2:5"), "{}", o.report());
    assert_eq!(o.stdout, "", "nothing of a rejected file runs");
}

#[test]
fn devices_and_fifos_are_refused() {
    let s = Scratch::new("devices");
    let fifo = s.fifo("pipe.src");
    let script = format!(
        ":load /dev/zero\n:load /dev/urandom\n:watch /dev/zero\n:load {fifo}\n:watch {fifo}\n\
         :load {dir}\nprint(7)\n",
        dir = s.0.display()
    );
    let o = run(&[], &[], script.as_bytes(), BOUND);
    check_ended("devices in script", &o, 1);
    assert_eq!(o.stdout, "7\n", "{}", o.report());
    assert_eq!(
        o.stderr.matches("not a regular file").count(),
        6,
        "{}",
        o.report()
    );

    for file in ["/dev/zero", "/dev/urandom", fifo.as_str()] {
        let o = run(&["run", file], &[], b"", BOUND);
        check_ended(&format!("run {file}"), &o, 1);
        assert!(o.stderr.contains("not a regular file"), "{}", o.report());
        let o = run(&["repl", file], &[], b"print(8)\n", BOUND);
        check_ended(&format!("repl {file}"), &o, 1);
        assert_eq!(o.stdout, "8\n", "{}", o.report());
    }
}

#[test]
fn endless_script_input_ends_with_an_error() {
    // Real /dev/zero as stdin: one endless line.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("exec \"$0\" < /dev/zero")
        .arg(common::LIVEJIT)
        .env("NO_COLOR", "1");
    let o = run_with_timeout(cmd, None, BOUND);
    check_ended("livejit < /dev/zero", &o, 1);
    assert!(o.stderr.contains("input size limit"), "{}", o.report());

    // An input over a small limit, after a good one.
    let mut script = b"print(1)\nprint(\"".to_vec();
    script.extend_from_slice(&[b'x'; 5000]);
    script.extend_from_slice(b"\")\nprint(2)\n");
    let o = run(&[], &[("LIVEJIT_MAX_INPUT", "1000")], &script, BOUND);
    check_ended("input over LIVEJIT_MAX_INPUT", &o, 1);
    assert_eq!(o.stdout, "1\n", "{}", o.report());
    assert!(o.stderr.contains("1000 bytes"), "{}", o.report());
}

#[test]
fn files_over_the_input_size_limit_are_refused() {
    let s = Scratch::new("large");
    // Just over the default 16 MiB: comments, so it would be valid source.
    let line = "// padding padding padding padding padding padding padding padding\n";
    let big = line.repeat((16 << 20) / line.len() + 1);
    let big = s.file("big.src", big.as_bytes());
    let small = s.file("small.src", b"print(5);\nprint(6);\n");
    let script = format!(":load {big}\n:watch {big}\n:load {small}\n");
    let o = run(&[], &[], script.as_bytes(), BOUND);
    check_ended("file over 16 MiB", &o, 1);
    assert_eq!(o.stdout, "5\n6\n", "{}", o.report());
    assert_eq!(
        o.stderr.matches("larger than the input size limit").count(),
        2,
        "{}",
        o.report()
    );
    // A small limit from the environment applies to files too.
    let o = run(&["run", &small], &[("LIVEJIT_MAX_INPUT", "10")], b"", BOUND);
    check_ended("file over LIVEJIT_MAX_INPUT", &o, 1);
    assert!(o.stderr.contains("(10 bytes"), "{}", o.report());
}

#[test]
fn whitespace_only_files_are_accepted() {
    let s = Scratch::new("blank");
    for (name, text) in [
        ("nl.src", "\n"),
        ("sp.src", "   "),
        ("mix.src", " \n\t\n  \n"),
    ] {
        let f = s.file(name, text.as_bytes());
        let o = run(&["run", &f], &[], b"", BOUND);
        check_ended(name, &o, 0);
        assert_eq!(o.stderr, "", "{}", o.report());
    }
}

#[test]
fn deep_nesting_is_a_located_error() {
    let n = 10_000;
    let mut script = String::new();
    let _ = writeln!(script, "print({}1{})", "(".repeat(n), ")".repeat(n));
    let _ = writeln!(script, "{}1{}", "{".repeat(n), "}".repeat(n));
    let _ = writeln!(script, "print({}1{})", "[".repeat(n), "]".repeat(n));
    let _ = writeln!(
        script,
        "{}1{}",
        "if true { ".repeat(n),
        " } else { 2 }".repeat(n)
    );
    let _ = writeln!(script, "print({}1)", "-".repeat(n));
    let _ = writeln!(script, "print({}true)", "!".repeat(n));
    let _ = writeln!(script, "print({})", vec!["1"; n].join(" + "));
    let _ = writeln!(
        script,
        "fn f(x: int) -> int {{ if x == 0 {{ 0 }} {}else {{ 1 }} }}",
        (1..n)
            .map(|i| format!("else if x == {i} {{ {i} }} "))
            .collect::<String>()
    );
    script.push_str("print(9)\n");
    let o = run(&[], &[], script.as_bytes(), BOUND);
    check_ended("deep nesting", &o, 1);
    assert_eq!(o.stdout, "9\n", "{}", o.report());
    assert_eq!(o.stderr.matches("too deeply").count(), 8, "{}", o.report());
    for line in 1..=8 {
        let at = format!("<input:{line}>:1:");
        assert!(o.stderr.contains(&at), "no located error for input {line}");
    }
}

/// Nesting up to the limit (1,000 levels) compiles and runs in bounded time, loops included
/// (990 nested `while`s took over 300 s at O2 before deep loop nests were compiled at O0);
/// one level more is a located error.
#[test]
fn nesting_up_to_the_limit_runs() {
    let n = 990;
    let mut script = String::new();
    let _ = writeln!(
        script,
        "fn w(x: int) -> int {{ let x = x; {}x += 1;{} x }}",
        "while x < 0 { ".repeat(n),
        " }".repeat(n)
    );
    let _ = writeln!(
        script,
        "fn f(x: int) -> int {{ let s = x; {}s += 1;{} s }}",
        (0..n)
            .map(|i| format!("for i{i} in 0..1 {{ "))
            .collect::<String>(),
        " }".repeat(n)
    );
    let _ = writeln!(
        script,
        "print(w(3), f(3), {}7{})",
        "(".repeat(n),
        ")".repeat(n)
    );
    let _ = writeln!(script, "print({}1{})", "(".repeat(1_001), ")".repeat(1_001));
    script.push_str("print(9)\n");
    let o = run(&[], &[], script.as_bytes(), BOUND);
    check_ended("nesting up to the limit", &o, 1);
    assert_eq!(o.stdout, "3 4 7\n9\n", "{}", o.report());
    assert_eq!(o.stderr.matches("too deeply").count(), 1, "{}", o.report());
    assert!(o.stderr.contains("<input:4>:1:"), "{}", o.report());
}

#[test]
fn huge_literals() {
    let mb = 1 << 20;
    let mut script = String::new();
    // A 1 MB string literal is printed whole.
    let _ = writeln!(script, "print(\"{}\")", "s".repeat(mb));
    // A 1 MB identifier works like any other name.
    let id = format!("v{}", "x".repeat(mb));
    let _ = writeln!(script, "let {id} = 41;");
    let _ = writeln!(script, "print({id} + 1)");
    // A 100,000-digit integer literal does not fit: a compile error.
    let _ = writeln!(script, "print({})", "9".repeat(100_000));
    script.push_str("print(3)\n");
    let o = run(&[], &[], script.as_bytes(), BOUND);
    check_ended("huge literals", &o, 1);
    let want = format!("{}\n42\n3\n", "s".repeat(mb));
    assert!(o.stdout == want, "stdout differs\n{}", o.report());
    assert!(o.stderr.contains("<input:4>:1:7"), "{}", o.report());
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be reproduced.
fn garbage(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn binary_garbage() {
    let s = Scratch::new("garbage");
    for seed in [1, 2, 3] {
        let bytes = garbage(64 << 10, seed);
        let f = s.file("garbage.src", &bytes);
        let o = run(&["run", &f], &[], b"", BOUND);
        check_ended(&format!("run garbage (seed {seed})"), &o, 1);
        assert!(o.stderr.contains("error"), "{}", o.report());
        // As script input (no :-commands in it: a stray `:load` line would be fine too, but
        // keep the case about bytes; and no `"`: an open string literal rightly continues the
        // input to the end of the script), then a good input that must still run.
        let mut script: Vec<u8> = bytes[..16 << 10]
            .iter()
            .copied()
            .filter(|&b| b != b':' && b != b'"')
            .collect();
        // Close whatever brackets the garbage left open, so the next input starts afresh.
        script.push(b'\n');
        script.extend_from_slice(&[b')'; 20_000]);
        script.extend_from_slice(b"\nprint(12)\n");
        let o = run(&[], &[], &script, BOUND);
        check_ended(&format!("garbage script (seed {seed})"), &o, 1);
        assert!(o.stdout.ends_with("12\n"), "{}", o.report());
    }
    // Valid UTF-8 garbage: printable ASCII noise.
    let noise: Vec<u8> = garbage(64 << 10, 9)
        .into_iter()
        .map(|b| b' ' + b % 95)
        .collect();
    let f = s.file("noise.src", &noise);
    let o = run(&["run", &f], &[], b"", BOUND);
    check_ended("ASCII noise", &o, 1);
}

/// Top-level statements load in linear time (they were quadratic: 40,000 took 15 s in a
/// release build). 20,000 in a debug build, under 30 s.
#[test]
fn many_top_level_statements_load_in_linear_time() {
    let s = Scratch::new("long");
    let n = 20_000;
    let text = format!("global g: int = 0;\n{}print(g)\n", "g = g + 1;\n".repeat(n));
    let f = s.file("long.src", text.as_bytes());
    let o = run(&["run", &f], &[], b"", Duration::from_secs(120));
    check_ended("20,000 statements", &o, 0);
    assert_eq!(o.stdout, format!("{n}\n"));
    assert!(o.elapsed < Duration::from_secs(30), "took {:?}", o.elapsed);
}

/// `:sleep` is wall-clock time even while a background task allocates in a loop (it took
/// 13 s for `:sleep 1000`: collection pauses were added to it).
#[test]
fn sleep_is_not_stretched_by_an_allocating_task() {
    let script = "\
fn churn() { let i = 0; while true { let xs = [i; 1000]; i = i + xs[3] - i + 1; } }
:spawn churn()
:sleep 200
print(1)
";
    // Time from the line `1` to the line `2`, measured by the child itself.
    let script = format!(
        "{script}global t0: int = time_ns();\n:sleep 1000\nprint((time_ns() - t0) / 1000000)\n"
    );
    let o = run(&[], &[], script.as_bytes(), BOUND);
    // The task is interrupted at exit: that is the expected end.
    assert!(!o.timed_out, "{}", o.report());
    assert!(!o.stderr.contains("panicked"), "{}", o.report());
    let ms: i64 = o
        .stdout
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no elapsed time printed\n{}", o.report()));
    assert!(
        (1000..3000).contains(&ms),
        ":sleep 1000 took {ms} ms\n{}",
        o.report()
    );
}
