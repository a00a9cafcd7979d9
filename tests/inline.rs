//! Guarded inlining across slots, end to end through the binary: inlined calls still switch to
//! a new version at the next call (the live demo, and a counted variant), runtime errors and
//! interrupts inside inlined code name the inlined function and version, `:ir` shows the
//! guard, and `LIVEJIT_INLINE=0` turns it off.

mod common;

use common::{livejit_command, run_with_timeout, versions, Outcome};
use std::path::Path;
use std::time::Duration;

/// Pipes `script` into the binary started in the repository root with `LIVEJIT_INLINE=mode`.
fn run_inline(mode: &str, script: &str) -> Outcome {
    let mut cmd = livejit_command(Path::new(env!("CARGO_MANIFEST_DIR")));
    cmd.env("LIVEJIT_INLINE", mode);
    run_with_timeout(
        cmd,
        Some(script.as_bytes().to_vec()),
        Duration::from_secs(120),
    )
}

/// The live demo (`examples/sort_swap.src`) with `sort` inlined into `main_loop`: the loop
/// keeps running across `:load examples/merge_sort.src`, every round stays sorted (the loop
/// asserts it), and bubble sort v1 is freed, so the loop no longer runs it.
#[test]
fn sort_swap_demo_with_sort_inlined_into_the_loop() {
    let script = "\
:load examples/sort_swap.src
verbose = false;
:ir main_loop
:spawn main_loop()
fn wait_rounds(n: int) -> bool { let t0 = time_ns(); while rounds < n && time_ns() - t0 < 30000000000 { sleep_ms(5); } rounds >= n }
wait_rounds(3)
:load examples/merge_sort.src
let after_swap = rounds;
wait_rounds(after_swap + 50)
running = false;
:wait
:sleep 300
:versions sort
let xs = [5, 3, 9, 1, 1, 0];
sort(xs);
xs
";
    let o = run_inline("always", script);
    assert_eq!(o.code(), Some(0), "{}", o.report());
    assert!(
        o.stdout
            .contains("sort.is.v1 = icmp eq i64 %sort.version, 1"),
        "main_loop does not inline sort v1 behind its guard\n{}",
        o.report()
    );
    assert!(o.stdout.contains("sort.v1.inlined:"), "{}", o.report());
    assert!(o.stdout.contains("true\ntrue\n"), "{}", o.report());
    assert!(o.stdout.contains("[0, 1, 1, 3, 5, 9]"), "{}", o.report());
    assert!(o.stderr.contains("task 1 ended"), "{}", o.report());
    assert_eq!(
        versions(&o.stdout),
        vec![(1, "freed".to_string()), (2, "live".to_string())],
        "{}",
        o.report()
    );
}

/// The inlined version stops running at the next call after the install: `sort` v1 (inlined
/// into the loop) counts its calls, and after the redefinition commits at most the one call
/// already in flight can still count; v2 (through the slot, not inlinable: it calls `merge`)
/// then runs every round.
#[test]
fn an_inlined_version_stops_at_the_next_call_after_an_install() {
    let script = common::SORT_LOOP.to_string()
        + "\
fn wait_until(g: int) { let t0 = time_ns(); while v2_calls < g && v1_calls < g && time_ns() - t0 < 20000000000 { sleep_ms(1); } }
fn merge(xs: [int], tmp: [int], lo: int, hi: int) { if hi - lo < 2 { return; } let mid = (lo + hi) / 2; merge(xs, tmp, lo, mid); merge(xs, tmp, mid, hi); let i = lo; let j = mid; for k in lo..hi { if j >= hi || (i < mid && xs[i] <= xs[j]) { tmp[k] = xs[i]; i += 1; } else { tmp[k] = xs[j]; j += 1; } } for k in lo..hi { xs[k] = tmp[k]; } }
:spawn main_loop()
wait_until(20);
fn sort(xs: [int]) { v2_calls += 1; merge(xs, [0; len(xs)], 0, len(xs)); }
let at_install = v1_calls;
wait_until(20);
:sleep 100
running = false;
:wait
print(\"late v1 calls:\", v1_calls - at_install, \"v2 calls:\", v2_calls >= 20, \"unsorted:\", unsorted);
:ir main_loop
";
    let o = run_inline("always", &script);
    assert_eq!(o.code(), Some(0), "{}", o.report());
    assert!(o.stdout.contains("sort.is.v1 = icmp eq"), "{}", o.report());
    let line = o
        .stdout
        .lines()
        .find(|l| l.starts_with("late v1 calls:"))
        .unwrap_or_else(|| panic!("no result line\n{}", o.report()));
    assert!(
        line == "late v1 calls: 0 v2 calls: true unsorted: 0"
            || line == "late v1 calls: 1 v2 calls: true unsorted: 0",
        "{line}\n{}",
        o.report()
    );
}

/// A runtime error inside an inlined body names the inlined function and its version, then
/// its caller; after a redefinition the same call site reaches the new version through the
/// slot and names that one.
#[test]
fn a_runtime_error_inside_inlined_code_names_the_inlined_version() {
    let script = "\
fn at(a: [int], i: int) -> int { a[i] }
fn total(n: int) -> int { let xs = [1, 2, 3]; let s = 0; for i in 0..n { s += at(xs, i); } s }
total(3)
:ir total
total(5)
fn at(a: [int], i: int) -> int { a[i + 1] }
total(3)
";
    let o = run_inline("auto", script);
    assert!(
        o.stdout.contains("at.is.v1 = icmp eq"),
        "total does not inline at v1\n{}",
        o.report()
    );
    assert!(o.stdout.starts_with("6\n"), "{}", o.report());
    assert!(
        o.stderr
            .contains("index 3 out of range for length 3\n  ┌─ <input:1>:1:34"),
        "{}",
        o.report()
    );
    assert!(
        o.stderr
            .contains("= in at (v1) called from total (v1) called from <input:4>"),
        "{}",
        o.report()
    );
    assert!(
        o.stderr
            .contains("= in at (v2) called from total (v1) called from <input:6>"),
        "{}",
        o.report()
    );
}

/// Interrupting a loop that runs inside an inlined body names the inlined version, and while
/// it runs `:versions` counts its frame (the caller's frame stands for both).
#[test]
fn an_interrupt_inside_inlined_code_names_the_inlined_version() {
    // Frame counts are as fresh as the task's last scan, which a loaded machine can delay:
    // ask several times and look for the count in any answer.
    let mut script = String::from(
        "fn spin() -> int { let s = 0; while true { s += 1; } s }\n\
         fn outer() -> int { spin() + 1 }\n\
         :spawn outer()\n\
         :sleep 200\n",
    );
    for _ in 0..20 {
        script.push_str(":versions spin\n:versions outer\n:sleep 100\n");
    }
    script.push_str(":kill 1\n:sleep 200\n:ir outer\n");
    let o = run_inline("always", &script);
    assert_eq!(o.code(), Some(0), "{}", o.report());
    assert!(o.stdout.contains("spin.is.v1 = icmp eq"), "{}", o.report());
    assert!(
        o.stderr.contains("task 1 killed in spin (v1)"),
        "{}",
        o.report()
    );
    // Both `spin` (inlined) and `outer` (its caller) count the one frame.
    let lines: Vec<&str> = o.stdout.lines().collect();
    let counted = |tier_line: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .any(|l| l.starts_with("v1 ") && l.contains("frames 1") && tier_line(l))
    };
    assert!(counted(&|l| l.contains("<input:1>")), "{}", o.report());
    assert!(counted(&|l| l.contains("<input:2>")), "{}", o.report());
}

/// `LIVEJIT_INLINE=0` keeps every call behind its slot; by default a small leaf is inlined
/// and a function that calls another is not.
#[test]
fn inline_modes() {
    let script = "\
fn sq(x: int) -> int { x * x }
fn sum_sq(n: int) -> int { let s = 0; for i in 0..n { s += sq(i); } s }
fn twice(n: int) -> int { sum_sq(n) * 2 }
fn f(n: int) -> int { twice(n) + sq(n) }
f(4)
:ir sum_sq
:ir f
";
    let off = run_inline("0", script);
    assert_eq!(off.code(), Some(0), "{}", off.report());
    assert!(off.stdout.starts_with("44\n"), "{}", off.report());
    assert!(!off.stdout.contains(".is.v"), "{}", off.report());
    let on = run_inline("auto", script);
    assert_eq!(on.code(), Some(0), "{}", on.report());
    assert!(on.stdout.starts_with("44\n"), "{}", on.report());
    assert!(on.stdout.contains("sq.is.v1 = icmp eq"), "{}", on.report());
    assert!(!on.stdout.contains("twice.is.v"), "{}", on.report());
    assert!(!on.stdout.contains("sum_sq.is.v"), "{}", on.report());
}

/// A unit with more calls than the inlining budget allows inlines the first ones and calls the
/// rest through the slot, and computes the same either way. `sq` is 3 nodes and the budget
/// 4,000, so 1,333 of the 1,500 calls are inlined behind their guard (at `:opt 0` the guards
/// keep their names in `:ir`); every call keeps its slot path.
#[test]
fn a_unit_with_many_calls_stays_within_the_inlining_budget() {
    let mut script = String::from(
        ":opt 0\nfn sq(x: int) -> int { x * x }\nfn many(n: int) -> int { let s = 0;\n",
    );
    for k in 1..=1500 {
        script.push_str(&format!("s = s + sq(n + {k});\n"));
    }
    script.push_str("s }\nmany(0)\n:ir many\n");
    let o = run_inline("always", &script);
    assert_eq!(o.code(), Some(0), "{}", o.report());
    assert!(o.stdout.starts_with("1126125250\n"), "{}", o.report());
    let guards = o.stdout.matches("icmp eq i64 %sq.version").count();
    let slot_loads = o.stdout.matches("load atomic ptr").count();
    assert_eq!((guards, slot_loads), (1333, 1500), "{}", o.report());
}

/// After the caller has tiered up (its optimized code made from the fast code's bitcode, the
/// fast code freed), an error inside the inlined copy still names the inlined version: the
/// optimized code keeps the identities its inlined copies point at.
#[test]
fn an_error_in_inlined_code_after_the_caller_tiers_up_names_the_inlined_version() {
    // Wait for the optimizing tier by polling `:versions` between inputs.
    let mut cmd = livejit_command(Path::new(env!("CARGO_MANIFEST_DIR")));
    cmd.env("LIVEJIT_INLINE", "auto");
    let mut input = String::from(
        "fn at(a: [int], i: int) -> int { a[i] }\n\
         fn total(n: int) -> int { let xs = [1, 2, 3]; let s = 0; for i in 0..n { s += at(xs, i); } s }\n\
         total(3)\n",
    );
    // 100 rounds of 50 ms leave the tier-up thread 5 s (many times what it needs).
    for _ in 0..100 {
        input.push_str(":versions total\n:sleep 50\n");
    }
    input.push_str("total(5)\n:versions total\n");
    let o = run_with_timeout(cmd, Some(input.into_bytes()), Duration::from_secs(120));
    let tiered = o
        .stdout
        .lines()
        .any(|l| l.starts_with("v1 ") && l.contains(" opt "));
    assert!(
        tiered,
        "total never reached the optimizing tier\n{}",
        o.report()
    );
    assert!(
        o.stderr
            .contains("= in at (v1) called from total (v1) called from <input:"),
        "{}",
        o.report()
    );
}
