//! REPL commands whose answers contain details the contract leaves open (sizes, times), so
//! they cannot be exact-output fixtures: their shape is checked here instead.

mod common;

use common::run_script;
use std::path::Path;
use std::time::Duration;

fn script(input: &str) -> common::Outcome {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repl");
    run_script(&dir, input, Duration::from_secs(60))
}

/// `:versions NAME` prints one line per version, oldest first, starting at column 0 with `vN`,
/// then whitespace and the state. Identical source makes no new version; a replaced version
/// that no frame is in is freed (or, at worst, still draining), the newest one is live.
#[test]
fn versions_lines() {
    let out = script(
        "fn f() -> int { 1 }\n\
         fn f() -> int { 2 }\n\
         fn f() -> int { 2 }\n\
         f()\n\
         :versions f\n",
    );
    let report = out.report();
    assert_eq!(out.code(), Some(0), "{report}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"2"), "value of f() first\n{report}");
    // Tolerate a header: version lines are the ones starting with `v` and a digit.
    let versions: Vec<&str> = lines[1..]
        .iter()
        .copied()
        .filter(|l| l.starts_with('v') && l[1..].starts_with(|c: char| c.is_ascii_digit()))
        .collect();
    assert_eq!(versions.len(), 2, "exactly two versions expected\n{report}");
    let fields = |l: &str| l.split_whitespace().map(str::to_string).collect::<Vec<_>>();
    let v1 = fields(versions[0]);
    let v2 = fields(versions[1]);
    assert!(
        versions[0].starts_with("v1") && versions[1].starts_with("v2"),
        "{report}"
    );
    assert_eq!(v1[0], "v1", "{report}");
    assert!(
        v1.get(1).is_some_and(|s| s == "freed" || s == "draining"),
        "v1 should be freed (or draining)\n{report}"
    );
    assert_eq!(v2[0], "v2", "{report}");
    assert_eq!(v2.get(1).map(String::as_str), Some("live"), "{report}");
}

/// `:time EXPR` evaluates the expression (its side effects happen) and reports a wall time on
/// stdout; the exact format is open, so only "the print ran" and "something more was said"
/// are checked.
#[test]
fn time_evaluates() {
    let out = script("fn work() -> int { print(\"ran\"); 5 }\n:time work()\n");
    assert_eq!(out.code(), Some(0), "stderr:\n{}", out.stderr);
    assert!(out.stdout.starts_with("ran\n"), "stdout:\n{}", out.stdout);
    assert!(
        out.stdout.len() > "ran\n".len(),
        "no timing on stdout:\n{}",
        out.stdout
    );
}

/// `:list` shows functions with their signatures and globals with their values.
#[test]
fn list_shows_functions_and_globals() {
    let out = script(
        "fn add3(a: int, b: int, c: int) -> int { a + b + c }\nglobal answer: int = 4242;\n:list\n",
    );
    assert_eq!(out.code(), Some(0), "stderr:\n{}", out.stderr);
    for want in ["add3", "answer", "4242"] {
        assert!(
            out.stdout.contains(want),
            "{want:?} missing from :list output:\n{}",
            out.stdout
        );
    }
}

/// `:ir` shows the optimized IR of the current version (its versioned symbol, the slot call
/// convention) and `:asm` its machine code; `:opt 0` keeps the IR unoptimized (allocas stay).
#[test]
fn ir_and_asm_show_the_current_version() {
    let out = script(
        "fn sq(x: int) -> int { x * x }\n\
         fn sq(x: int) -> int { x * x + 0 * x }\n\
         :ir sq\n\
         :asm sq\n\
         :opt 0\n\
         fn cube(x: int) -> int { let y = x * x; y * x }\n\
         :ir cube\n",
    );
    let report = out.report();
    assert_eq!(out.code(), Some(0), "{report}");
    assert!(out.stdout.contains("define"), "{report}");
    assert!(
        out.stdout.contains("define i64 @\"sq$v2\"(ptr noalias"),
        "{report}"
    );
    assert!(out.stdout.contains("\nsq$v2:"), "asm label of v2\n{report}");
    assert!(out.stdout.contains("imul"), "{report}");
    assert!(
        out.stdout.contains("alloca"),
        "unoptimized IR keeps allocas\n{report}"
    );
}

/// `:tasks` lists running background tasks with their expression; `:reload` reloads a loaded
/// file only when it changed.
#[test]
fn tasks_listing_and_reload() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("reload_test");
    let _ = std::fs::create_dir_all(&dir);
    std::fs::write(dir.join("r.src"), "fn r() -> int { 1 }\n").unwrap();
    let input = "\
:load r.src
global go: bool = true;
fn idle() { while go { sleep_ms(1); } }
:spawn idle()
:tasks
go = false;
:wait
:tasks
:sleep 1600
:reload
print(r());
:reload
";
    let dir2 = dir.clone();
    // The edit lands while the script sleeps between `:load` and `:reload`.
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(600));
        std::fs::write(dir2.join("r.src"), "fn r() -> int { 2 }\n").unwrap();
    });
    let out = run_script(&dir, input, Duration::from_secs(60));
    writer.join().unwrap();
    let report = out.report();
    assert_eq!(out.code(), Some(0), "{report}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines[0].starts_with("1 ") && lines[0].contains("running") && lines[0].ends_with("idle()"),
        "{report}"
    );
    assert_eq!(lines.get(1), Some(&"no running tasks"), "{report}");
    assert_eq!(lines.get(2), Some(&"2"), "{report}");
    // The second `:reload` finds nothing changed: no third version.
    assert_eq!(out.stderr.matches("redefined r").count(), 1, "{report}");
}

/// A replaced version that no task is in is freed at once, by the install itself: `:versions`
/// right after the redefinition already shows v1 freed, with no pause in between.
#[test]
fn replaced_version_is_freed_at_once_when_no_task_is_in_it() {
    let out = script("fn f() -> int { 1 }\nf()\nfn f() -> int { 2 }\n:versions f\n");
    let states: Vec<(String, String)> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with('v'))
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap_or("").into(), w.next().unwrap_or("").into())
        })
        .collect();
    assert_eq!(
        states,
        vec![("v1".into(), "freed".into()), ("v2".into(), "live".into())],
        "stdout:\n{}\nstderr:\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("redefined f (v2)\nfreed f v1\n"),
        "{}",
        out.stderr
    );
}
