//! Memory per redefinition while a background task keeps calling the function being redefined
//! (each replaced version drains until the task's next scan before it is freed).
//!
//! Peak RSS of the child (`ru_maxrss` from `wait4`) after 300 and after 3,000 redefinitions;
//! the difference over 2,700 is the cost of one redefinition.

mod common;

use common::{clip, run_measured};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// Peak RSS of a session that redefines `g` `n` times (at `:opt 0`, each body different)
/// while a `:spawn`ed task calls `g` in a loop.
fn peak_rss_kib(n: usize) -> i64 {
    let mut s = String::from(
        ":opt 0\nglobal running: bool = true;\nfn g(x: int) -> int { x + 0 }\n\
         fn spin() -> int { let s = 0; while running { s = g(s) % 1000; } s }\n:spawn spin()\n",
    );
    for k in 1..=n {
        let _ = writeln!(s, "fn g(x: int) -> int {{ x + {k} }}");
    }
    s.push_str(":sleep 100\nrunning = false;\n:wait\nprint(g(0))\n");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let m = run_measured(dir, &[], Some(s.into_bytes()), Duration::from_secs(900));
    assert_eq!(m.code, Some(0), "{}", clip(&m.stderr, 4000));
    assert_eq!(
        m.stdout.trim(),
        n.to_string(),
        "the last version must be live"
    );
    assert!(
        m.stderr.contains("task 1 ended"),
        "{}",
        clip(&m.stderr, 4000)
    );
    m.max_rss_kib
}

#[test]
fn redefinition_under_a_calling_task_costs_at_most_450_bytes() {
    let small = peak_rss_kib(300);
    let large = peak_rss_kib(3000);
    let per = (large - small) as f64 * 1024.0 / 2700.0;
    eprintln!("peak RSS: 300 -> {small} KiB, 3000 -> {large} KiB, {per:.0} B per redefinition");
    assert!(
        per <= 450.0,
        "{per:.0} bytes per redefinition (300: {small} KiB, 3000: {large} KiB)"
    );
}
