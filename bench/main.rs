//! `cargo bench`: livejit against clang -O2 C in the same run, the cost of safepoint polls,
//! and the latencies of hot redefinition.
//!
//! - Throughput: `bench/fib.{src,c}` (fib(32), call-bound) and `bench/msort.{src,c}` (merge
//!   sort of 1M ints, memory-bound). Each program times its own kernel and prints
//!   `time_ms: X`; we keep the best of `RUNS`. livejit runs twice: as shipped, and with
//!   `LIVEJIT_NO_POLLS=1` (no safepoint polls) to isolate what the polls cost.
//! - Swap latency: a task spins calling `f()`; we redefine `f` and measure from just before the
//!   slot store to the task's first call that returns the new value.
//! - Retirement latency: a task sits in `slow` v1; we redefine `slow`, release the task, and
//!   measure from the moment v1's last frame returns to the moment its memory is freed.

use livejit_backend::{EvalResult, Event, Session};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUNS: usize = 10;
const LATENCY_ROUNDS: usize = 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Parses the `time_ms: X` line a benchmark program prints.
fn time_ms(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("time_ms:"))
        .and_then(|v| v.trim().parse().ok())
}

fn best_of(mut run: impl FnMut() -> Option<f64>) -> Option<f64> {
    (0..RUNS).filter_map(|_| run()).reduce(f64::min)
}

/// The lines a benchmark prints besides its time (result, checksum): C and livejit must agree.
fn results(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .filter(|l| !l.starts_with("time_ms:"))
        .map(str::to_string)
        .collect()
}

fn compile_c(src: &Path, out: &Path) -> bool {
    for cc in ["clang-19", "clang", "cc"] {
        let ok = Command::new(cc)
            .args(["-O2", "-o"])
            .arg(out)
            .arg(src)
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return true;
        }
    }
    false
}

/// Runs a benchmark program; returns its time and what else it printed.
fn run_program(cmd: &mut Command) -> Option<(f64, Vec<String>)> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    Some((time_ms(&stdout)?, results(&stdout)))
}

fn throughput() {
    let dir = root().join("target/bench-c");
    let _ = std::fs::create_dir_all(&dir);
    println!(
        "{:<8} {:>12} {:>14} {:>10} {:>12} {:>12}",
        "bench", "livejit ms", "no-polls ms", "C -O2 ms", "vs C", "poll cost"
    );
    for name in ["fib", "msort"] {
        let exe = dir.join(name);
        let mut c_results = None;
        let c = if compile_c(&root().join(format!("bench/{name}.c")), &exe) {
            best_of(|| {
                let (t, r) = run_program(&mut Command::new(&exe))?;
                c_results = Some(r);
                Some(t)
            })
        } else {
            None
        };
        let mut jit_results = None;
        let src = root().join(format!("bench/{name}.src"));
        let mut jit = |polls: bool| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_livejit"));
            // The kernels are long calls: measure the optimizing tier's code (as C -O2's), not
            // the fast tier a definition starts at.
            if std::env::var_os("LIVEJIT_TIER").is_none() {
                cmd.env("LIVEJIT_TIER", "opt-now");
            }
            cmd.arg("run").arg(&src);
            if !polls {
                cmd.env("LIVEJIT_NO_POLLS", "1");
            }
            let (t, r) = run_program(&mut cmd)?;
            jit_results = Some(r);
            Some(t)
        };
        // Interleave the two builds so that drift in machine load hits both alike.
        let (mut with, mut without) = (None::<f64>, None::<f64>);
        for _ in 0..RUNS {
            if let Some(t) = jit(true) {
                with = Some(with.map_or(t, |b| b.min(t)));
            }
            if let Some(t) = jit(false) {
                without = Some(without.map_or(t, |b| b.min(t)));
            }
        }
        if let (Some(a), Some(b)) = (&jit_results, &c_results) {
            assert_eq!(a, b, "{name}: livejit and C computed different results");
        }
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let ratio = match (with, c) {
            (Some(a), Some(b)) => format!("{:.2}x", a / b),
            _ => "-".into(),
        };
        let cost = match (with, without) {
            (Some(a), Some(b)) => format!("{:+.1}%", (a / b - 1.0) * 100.0),
            _ => "-".into(),
        };
        println!(
            "{name:<8} {:>12} {:>14} {:>10} {ratio:>12} {cost:>12}",
            fmt(with),
            fmt(without),
            fmt(c)
        );
    }
}

fn session() -> Session {
    Session::new(Arc::new(|_: Event| {})).expect("session starts")
}

fn must(s: &mut Session, text: &str) {
    let name = s.next_input_name();
    match s.eval(&name, text) {
        EvalResult::Ok => {}
        _ => panic!("benchmark input failed: {text}"),
    }
}

fn wait_for(mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "benchmark condition timed out");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn swap_latency() -> (f64, f64) {
    let mut s = session();
    must(
        &mut s,
        "global running: bool = true;\nglobal want: int = 0;\nglobal seen_at: int = 0;\n\
         fn f() -> int { 0 }\n\
         fn spin() { while running { if f() == want && seen_at == 0 { seen_at = time_ns(); } } }",
    );
    let name = s.next_input_name();
    s.spawn(&name, "spin()").ok().flatten().expect("spawned");
    let mut us = Vec::new();
    for k in 1..=LATENCY_ROUNDS as i64 {
        must(&mut s, &format!("want = {k}; seen_at = 0;"));
        must(&mut s, &format!("fn f() -> int {{ {k} }}"));
        let stored = s.last_install_ns();
        wait_for(|| s.global_int("seen_at").unwrap_or(0) != 0);
        let seen = s.global_int("seen_at").unwrap_or(0);
        us.push((seen - stored) as f64 / 1e3);
    }
    must(&mut s, "running = false;");
    let _ = s.wait(None);
    let max = us.iter().copied().fold(0.0, f64::max);
    (median(us), max)
}

fn retirement_latency() -> (f64, f64) {
    let mut s = session();
    let mut ms = Vec::new();
    must(
        &mut s,
        "global hold: bool = true;\nglobal done_at: int = 0;",
    );
    for round in 0..LATENCY_ROUNDS {
        let v = (round * 2 + 1) as u32;
        must(
            &mut s,
            &format!("fn slow() -> int {{ while hold {{ }} done_at = time_ns(); {round} }}"),
        );
        must(&mut s, "hold = true; done_at = 0;");
        let name = s.next_input_name();
        s.spawn(&name, "slow()").ok().flatten().expect("spawned");
        std::thread::sleep(Duration::from_millis(5));
        must(&mut s, &format!("fn slow() -> int {{ -{round} }}"));
        must(&mut s, "hold = false;");
        wait_for(|| s.freed_ns("slow", v).is_some());
        let done = s.global_int("done_at").unwrap_or(0);
        let freed = s.freed_ns("slow", v).unwrap_or(0);
        ms.push((freed - done) as f64 / 1e6);
        let _ = s.wait(None);
    }
    let max = ms.iter().copied().fold(0.0, f64::max);
    (median(ms), max)
}

fn main() {
    // `cargo bench -- --filter` style arguments are accepted and ignored.
    println!("livejit benchmarks (best of {RUNS}; C compiled with clang -O2)\n");
    throughput();
    let (med, max) = swap_latency();
    println!("\nswap latency (slot store -> first call of the new version in a running loop):");
    println!("  median {med:.1} us, max {max:.1} us over {LATENCY_ROUNDS} swaps");
    let (med, max) = retirement_latency();
    println!("retirement latency (last frame of the old version returns -> its code freed):");
    println!("  median {med:.2} ms, max {max:.2} ms over {LATENCY_ROUNDS} versions");
}
