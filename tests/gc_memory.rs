//! Memory stays bounded: programs that allocate gigabytes of short-lived arrays must run in a
//! small, fixed amount of memory (arrays live on a garbage-collected heap). (Memory per
//! redefinition is covered by tests/redefinition.rs.)
//!
//! The peak resident set size of the `livejit` child is read from `wait4`'s `rusage`
//! (`ru_maxrss`, which Linux reports in KiB), so only that process is measured, not the test
//! harness or other tests running in parallel.

mod common;

use common::{clip, Measured};
use std::path::Path;
use std::time::Duration;

/// The bound from the brief: 200 MB (taken as MiB; ru_maxrss is in KiB).
const RSS_LIMIT_KIB: i64 = 200 * 1024;

/// Generous: these programs allocate ~8 GB in total and the compiler may be a debug build.
const TIMEOUT: Duration = Duration::from_secs(600);

/// Runs `livejit ARGS` in `tests/programs` and measures its peak RSS.
fn run_measured(args: &[&str], stdin: Option<Vec<u8>>) -> Measured {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/programs");
    common::run_measured(&dir, args, stdin, TIMEOUT)
}

fn check(what: &str, m: &Measured, want_stdout: &str) {
    let mut problems = Vec::new();
    if m.timed_out {
        problems.push(format!("timed out after {:?}", m.elapsed));
    }
    if m.code != Some(0) {
        problems.push(format!(
            "expected exit 0, got {:?} (None = signal/timeout)",
            m.code
        ));
    }
    if m.stdout != want_stdout {
        problems.push(format!(
            "stdout differs\n--- expected ---\n{want_stdout}--- actual ---\n{}--- end ---",
            clip(&m.stdout, 2000)
        ));
    }
    if m.max_rss_kib >= RSS_LIMIT_KIB {
        problems.push(format!(
            "peak RSS {} KiB ({} MiB) is not below the limit of {} KiB",
            m.max_rss_kib,
            m.max_rss_kib / 1024,
            RSS_LIMIT_KIB
        ));
    }
    eprintln!(
        "{what}: peak RSS {} KiB, {:.1?}, exit {:?}",
        m.max_rss_kib, m.elapsed, m.code
    );
    if !problems.is_empty() {
        panic!(
            "{what} failed:\n  * {}\n--- stderr ---\n{}--- end ---",
            problems.join("\n  * "),
            clip(&m.stderr, 4000)
        );
    }
}

/// 10,000,000 fresh 100-int arrays (~8 GB allocated in total) in bounded memory, with the
/// right checksum; live arrays survive collections.
#[test]
fn small_arrays_churn_in_bounded_memory() {
    let m = run_measured(&["run", "gc_churn.src"], None);
    // sum over i < 10^7 of (xs[(7i) % 100] + 100), where that element is 2i when i % 50 == 0
    // (the index written, i % 100, equals (7i) % 100 exactly then) and i otherwise.
    check(
        "gc_churn.src",
        &m,
        "checksum 51000990000000\nsurvivors intact true\n",
    );
}

/// 100,000 float arrays of 80 KB each, each replacing the previous one in a global.
#[test]
fn large_arrays_through_a_global_in_bounded_memory() {
    let m = run_measured(&["run", "gc_churn_big.src"], None);
    check(
        "gc_churn_big.src",
        &m,
        "total 4999400015.0\nlast 99999.0 0.5 10000\n",
    );
}

/// 10,000,000 iterations each allocating a fresh str, a struct and a `[str]`: structs and
/// arrays of strs hold pointers (scanned memory), str bytes do not; the one survivor in a
/// million must still be intact at the end.
#[test]
fn strs_structs_and_str_arrays_churn_in_bounded_memory() {
    let m = run_measured(&["run", "gc_strings.src"], None);
    check(
        "gc_strings.src",
        &m,
        "total 88900000\nsurvivors intact true\n",
    );
}
