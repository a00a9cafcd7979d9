//! Data-driven end-to-end tests: every fixture under `tests/fixtures/` and every example under
//! `examples/` is run through the real `livejit` binary, and all failures of a directory are
//! reported together (expected vs actual) instead of stopping at the first one.
//!
//! Fixture kinds:
//! - `tests/fixtures/run/NAME.src`: run as `livejit run NAME.src` with the fixture directory as
//!   the working directory (so diagnostics name the file just `NAME.src`).
//! - `tests/fixtures/repl/NAME.in`: piped to `livejit` on stdin (script mode), working directory
//!   `tests/fixtures/repl` so that `:load files/x.src` finds helper files.
//! - `examples/NAME.src` with an `examples/NAME.stdout`: run like the `run` fixtures. Examples
//!   without a `.stdout` (the endless live demo) are not run.
//!
//! Inputs beside a `run` fixture or example (optional):
//! - `NAME.stdin`: given to the program as its standard input (otherwise it is empty).
//! - `NAME.args`: arguments after the file, one per line (`livejit run NAME.src ARG...`).
//!
//! Expectations beside each input:
//! - `NAME.stdout` (required for fixtures): stdout must be exactly this.
//! - `NAME.stderr` (optional): every non-empty line, trimmed, must occur in stderr as a
//!   substring, in this order. A diagnostic line must say which error it expects: a bare
//!   `error:` without its message is reported as a problem.
//! - `NAME.status` (optional): the expected exit code; 0 when absent.
//!
//! Bless mode: `LIVEJIT_BLESS=1 cargo test --test fixtures` rewrites the expectations of every
//! fixture that fails (or whose `.stderr` has a bare `error:`) from what the binary does now:
//! `.stdout` as is, `.status` when not 0, and `.stderr` as the lines that identify each
//! diagnostic — `error: MESSAGE`, its `FILE:LINE:COL` and its call chain (status lines such as
//! `freed f v1` are left out, their timing varies). Review the diff before committing.
//!
//! Environment knobs (for debugging the compiler, not for CI):
//! - `LIVEJIT_FIXTURE=substr` runs only fixtures whose name contains `substr`.
//! - `LIVEJIT_FIXTURE_THREADS=n` fixtures run in parallel per directory (default: up to 4).
//! - `LIVEJIT_FIXTURE_TIMEOUT=secs` per-process timeout (default 60).

mod common;

use common::{clip, find_lines_in_order, livejit_command, run_with_timeout, Outcome};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// `livejit run NAME.src`
    Run,
    /// `livejit < NAME.in`
    Repl,
}

struct Fixture {
    /// Directory that holds it (also the child's working directory).
    dir: PathBuf,
    /// File name of the input, e.g. `int_wrap.src`.
    file: String,
    /// File name without extension.
    stem: String,
    kind: Kind,
}

impl Fixture {
    fn sibling(&self, ext: &str) -> PathBuf {
        self.dir.join(format!("{}.{ext}", self.stem))
    }

    fn display(&self) -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let p = self.dir.join(&self.file);
        p.strip_prefix(root).unwrap_or(&p).display().to_string()
    }
}

fn timeout() -> Duration {
    let secs = std::env::var("LIVEJIT_FIXTURE_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

fn threads() -> usize {
    std::env::var("LIVEJIT_FIXTURE_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2)
                .min(4)
        })
        .max(1)
}

/// Lists the fixtures of `dir` with input extension `ext`. With `require_stdout`, a missing
/// `.stdout` is a problem to report; without it (examples), such inputs are skipped. Stray
/// expectation files (no matching input) are reported too, so a typo in a name cannot silently
/// disable a check.
fn collect(dir: &Path, ext: &str, kind: Kind, require_stdout: bool) -> (Vec<Fixture>, Vec<String>) {
    let mut fixtures = Vec::new();
    let mut problems = Vec::new();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("cannot read {}: {e}", dir.display()));
            return (fixtures, problems);
        }
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let filter = std::env::var("LIVEJIT_FIXTURE").ok();
    for name in &names {
        let Some((stem, e)) = name.rsplit_once('.') else {
            continue;
        };
        if e == ext {
            let has_stdout = names.contains(&format!("{stem}.stdout"));
            if !has_stdout {
                if require_stdout {
                    problems.push(format!(
                        "{}: missing {stem}.stdout",
                        dir.join(name).display()
                    ));
                }
                continue;
            }
            if let Some(f) = &filter {
                if !stem.contains(f.as_str()) {
                    continue;
                }
            }
            fixtures.push(Fixture {
                dir: dir.to_path_buf(),
                file: name.clone(),
                stem: stem.to_string(),
                kind,
            });
        } else if matches!(e, "stdout" | "stderr" | "status" | "stdin" | "args")
            && !names.contains(&format!("{stem}.{ext}"))
        {
            problems.push(format!(
                "{}: expectation file without a matching .{ext} input",
                dir.join(name).display()
            ));
        }
    }
    (fixtures, problems)
}

fn blessing() -> bool {
    std::env::var_os("LIVEJIT_BLESS").is_some_and(|v| v != "0")
}

/// A `.stderr` line that names no message.
fn bare_error_line(want_stderr: &str) -> Option<&str> {
    want_stderr.lines().find(|l| l.trim() == "error:")
}

/// The lines of `stderr` that identify its diagnostics (what bless mode writes to `.stderr`).
fn diagnostic_lines(stderr: &str) -> String {
    let mut out = String::new();
    for line in stderr.lines() {
        let t = line.trim();
        let keep = if t.starts_with("error:") || t.starts_with("interrupted in ") {
            Some(t.to_string())
        } else if let Some(loc) = t.strip_prefix("┌─ ") {
            Some(loc.to_string())
        } else if let Some(chain) = t.strip_prefix("= in ") {
            Some(format!("in {chain}"))
        } else if t.starts_with("task ") && (t.contains(" killed in ") || t.ends_with(" failed")) {
            Some(t.to_string())
        } else {
            None
        };
        if let Some(k) = keep {
            out.push_str(&k);
            out.push('\n');
        }
    }
    out
}

/// Rewrites the expectations of `fx` from `out` (bless mode).
fn bless(fx: &Fixture, out: &Outcome) -> Result<(), String> {
    let write = |ext: &str, text: &str| {
        fs::write(fx.sibling(ext), text).map_err(|e| format!("{}: cannot bless: {e}", fx.display()))
    };
    write("stdout", &out.stdout)?;
    match out.code() {
        Some(0) => {
            let _ = fs::remove_file(fx.sibling("status"));
        }
        Some(code) => write("status", &format!("{code}\n"))?,
        None => return Err(format!("{}: killed, not blessed", fx.display())),
    }
    let lines = diagnostic_lines(&out.stderr);
    if lines.is_empty() {
        let _ = fs::remove_file(fx.sibling("stderr"));
    } else {
        write("stderr", &lines)?;
    }
    eprintln!("blessed {}", fx.display());
    Ok(())
}

/// Runs one fixture; `Err` carries a readable report.
fn check(fx: &Fixture) -> Result<(), String> {
    let read = |ext: &str| fs::read_to_string(fx.sibling(ext)).ok();
    let want_stdout =
        read("stdout").ok_or_else(|| format!("{}: cannot read .stdout", fx.display()))?;
    let want_stderr = read("stderr");
    let want_status: i32 = match read("status") {
        Some(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("{}: bad .status file {s:?}", fx.display()))?,
        None => 0,
    };

    let mut cmd = livejit_command(&fx.dir);
    let (out, how) = match fx.kind {
        Kind::Run => {
            cmd.arg("run").arg(&fx.file);
            let args: Vec<String> = read("args")
                .map(|a| a.lines().map(str::to_string).collect())
                .unwrap_or_default();
            cmd.args(&args);
            let stdin = fs::read(fx.sibling("stdin")).ok();
            (
                run_with_timeout(cmd, stdin, timeout()),
                format!("livejit run {} {}", fx.file, args.join(" ")),
            )
        }
        Kind::Repl => {
            let input = fs::read(fx.dir.join(&fx.file))
                .map_err(|e| format!("{}: cannot read input: {e}", fx.display()))?;
            (
                run_with_timeout(cmd, Some(input), timeout()),
                format!("livejit < {}", fx.file),
            )
        }
    };
    let bare = want_stderr.as_deref().and_then(bare_error_line);
    let result = report(
        fx,
        &how,
        &out,
        &want_stdout,
        want_stderr.as_deref(),
        want_status,
    )
    .and_then(|()| match bare {
        Some(line) => Err(format!(
            "FAIL {}: {}.stderr line {line:?} does not name the error's message",
            fx.display(),
            fx.stem
        )),
        None => Ok(()),
    });
    match result {
        Err(_) if blessing() => bless(fx, &out),
        r => r,
    }
}

fn report(
    fx: &Fixture,
    how: &str,
    out: &Outcome,
    want_stdout: &str,
    want_stderr: Option<&str>,
    want_status: i32,
) -> Result<(), String> {
    let mut problems = Vec::new();
    if out.code() != Some(want_status) {
        problems.push(format!(
            "status: expected exit {want_status}, got {}",
            out.describe_status()
        ));
    }
    if out.stdout != want_stdout {
        problems.push(format!(
            "stdout differs{}\n--- expected stdout ---\n{}--- actual stdout ---\n{}--- end ---",
            first_difference(want_stdout, &out.stdout),
            clip(want_stdout, 3000),
            clip(&out.stdout, 3000)
        ));
    }
    if let Some(want) = want_stderr {
        if let Err(line) = find_lines_in_order(want, &out.stderr) {
            problems.push(format!(
                "stderr: expected line not found (in order): {line:?}\n--- expected stderr lines ---\n{}--- end ---",
                want
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut s = format!("FAIL {} ({how}, cwd {})\n", fx.display(), fx.dir.display());
    for p in problems {
        let _ = writeln!(s, "  * {p}");
    }
    let _ = writeln!(
        s,
        "--- actual stderr ---\n{}--- end ---",
        clip(&out.stderr, 4000)
    );
    Err(s)
}

/// Points at the first differing line, to make long outputs easy to compare.
fn first_difference(want: &str, got: &str) -> String {
    let (wl, gl): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    for i in 0..wl.len().max(gl.len()) {
        let (w, g) = (wl.get(i), gl.get(i));
        if w != g {
            return format!(
                " (first at line {}: expected {:?}, got {:?})",
                i + 1,
                w.copied().unwrap_or("<end of output>"),
                g.copied().unwrap_or("<end of output>")
            );
        }
    }
    if want.ends_with('\n') != got.ends_with('\n') {
        return " (only in the final newline)".to_string();
    }
    String::new()
}

/// Runs every fixture of a directory on a few threads, then fails once with all reports.
fn run_dir(rel: &str, ext: &str, kind: Kind, require_stdout: bool) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let (fixtures, mut failures) = collect(&dir, ext, kind, require_stdout);
    if fixtures.is_empty() && std::env::var("LIVEJIT_FIXTURE").is_err() {
        failures.push(format!("no fixtures found in {}", dir.display()));
    }
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..threads().min(fixtures.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(fx) = fixtures.get(i) else { break };
                let r = check(fx);
                results.lock().unwrap().push((i, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);
    let total = fixtures.len();
    failures.extend(results.into_iter().filter_map(|(_, r)| r.err()));
    if !failures.is_empty() {
        panic!(
            "{} of {total} fixtures in {rel} failed (or had problems):\n\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
    eprintln!("{total} fixtures in {rel} passed");
}

/// `tests/fixtures/run/*.src` through `livejit run`.
#[test]
fn run_fixtures() {
    run_dir("tests/fixtures/run", "src", Kind::Run, true);
}

/// `tests/fixtures/repl/*.in` piped to `livejit` (script mode).
#[test]
fn repl_fixtures() {
    run_dir("tests/fixtures/repl", "in", Kind::Repl, true);
}

/// `examples/*.src` that have an `examples/NAME.stdout`.
#[test]
fn examples() {
    run_dir("examples", "src", Kind::Run, false);
}
