//! `cargo bench --bench frontend`: the front end's throughput on a large generated source file.
//!
//! A deterministic ~1 MB file of realistic code (a few structs and globals, then many
//! 15-line functions with loops, ifs, arithmetic, arrays, strings, struct fields and calls) is
//! lexed, parsed and type-checked; each stage is timed on its own and the whole front end
//! (`compile_front`) together. Every figure is the median of `LIVEJIT_FRONTEND_RUNS` runs
//! (default 7), in MB/s of source text (1 MB = 10^6 bytes), for wall time and for CPU time
//! (all threads; the steadier figure on a shared machine).
//!
//! - `lex`: `lexer::lex`, text to tokens.
//! - `parse`: `parser::parse`, text to AST (lexing included, as the front end does it).
//! - `check`: `typeck::check` on the parsed program.
//! - `front`: `compile_front`, all of it, as the driver calls it.
//!
//! `LIVEJIT_FRONTEND_MB` sets the file's size (default 1). `LIVEJIT_FRONTEND_DUMP=PATH` writes
//! the generated file out (for profiling it with `livejit run` or `perf`).

use livejit_frontend::typeck::Env;
use livejit_frontend::{compile_front, lexer, parser, typeck, FnSig, Type};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A session that knows nothing: every name the file uses is defined in the file.
struct EmptyEnv;

impl Env for EmptyEnv {
    fn function(&self, _: &str) -> Option<FnSig> {
        None
    }
    fn global(&self, _: &str) -> Option<Type> {
        None
    }
}

/// A small deterministic generator (xorshift64*), so every run measures the same file.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const STRUCTS: &str = "\
struct Point { x: float, y: float }
struct Account { id: int, owner: str, balance: float, history: [float] }
struct Grid { w: int, h: int, cells: [[int]], origin: Point }

global g_calls: int = 0;
global g_scale = 1.5;
global g_names: [str] = [\"alpha\", \"beta\", \"gamma\"];
let g_limit = 1000;
";

/// One function of about 15 lines, of one of four shapes (integer arrays, floats and structs,
/// strings, nested arrays), calling an earlier function of the same shape.
fn function(out: &mut String, i: usize, rng: &mut Rng) {
    let shape = i % 4;
    let callee = if i >= 4 { i - 4 } else { i };
    let c1 = rng.below(100);
    let c2 = rng.below(17) + 1;
    let c3 = rng.below(1000);
    let _ = match shape {
        0 => write!(
            out,
            "fn f{i}(n: int, xs: [int]) -> int {{
    // Sums a transformed prefix of xs, {c1} and {c2} are tuning constants.
    let acc = 0;
    let m = len(xs);
    for j in 0..n {{
        if xs[j % m] > {c1} && j != {c3} {{
            acc += xs[j % m] * {c2} - j;
        }} else {{
            acc -= (j << 2) & 255 | 1;
        }}
    }}
    while acc > g_limit {{
        acc = acc / 2 + {c1};
    }}
    g_calls += 1;
    if n > 0 {{ acc + f{callee}(n - 1, xs) }} else {{ acc }}
}}

"
        ),
        1 => write!(
            out,
            "fn f{i}(p: Point, a: Account, k: int) -> float {{
    let dx = p.x - {c1}.5;
    let dy = p.y * g_scale + float(k);
    let dist = sqrt(dx * dx + dy * dy);
    let total = 0.0;
    for j in 0..len(a.history) {{
        total += a.history[j] / (dist + {c2}.0);
    }}
    if total > a.balance {{
        a.balance = total - {c3}.25;
    }}
    let q = Point {{ x: p.y, y: p.x + 1.0 }};
    if k <= 0 {{
        return total;
    }}
    total + f{callee}(q, a, k - 1) * 0.5
}}

"
        ),
        2 => write!(
            out,
            "fn f{i}(s: str, count: int) -> str {{
    let out = \"item{i}: \";
    let n = 0;
    while n < count {{
        out += s + \", \";
        if len(out) > {c3} {{
            break;
        }}
        n += {c2};
    }}
    let parts = split(out, \",\");
    let name = g_names[count % len(g_names)];
    let line = join(parts, \";\") + name + str(n * {c1});
    if count > 1 {{ f{callee}(trim(line), count - 1) }}
    else {{ line + \"\\n\" }}
}}

"
        ),
        _ => write!(
            out,
            "fn f{i}(g: Grid, steps: int) -> int {{
    let best = -1;
    for y in 0..g.h {{
        let row = g.cells[y];
        for x in 0..g.w {{
            let v = row[x] * {c2} + (x ^ y) % {c2};
            if v > best {{
                best = v;
            }}
            row[x] = v % {c3};
        }}
    }}
    let counts = [0; {c2}];
    counts[best % {c2}] += 1;
    if steps > 0 && !(best == {c1}) {{ best + f{callee}(g, steps - 1) }} else {{ best }}
}}

"
        ),
    };
}

/// The generated source: at least `bytes` long, valid, and the same on every run.
fn generate(bytes: usize) -> String {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = String::with_capacity(bytes + 1024);
    out.push_str(STRUCTS);
    let mut i = 0;
    while out.len() < bytes {
        function(&mut out, i, &mut rng);
        i += 1;
    }
    out
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn mbps(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

/// CPU time used so far by all of this process's threads (the front end runs on a worker
/// thread), from the scheduler's per-thread nanosecond counters; `None` where that is not
/// available. On a loaded machine this is much steadier than wall time.
fn cpu_time() -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let stat = std::fs::read_to_string(task.ok()?.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// Times `f` `runs` times; returns the medians of wall time and of CPU time (dropping the
/// result is part of the cost).
fn time(runs: usize, f: &mut dyn FnMut()) -> (Duration, Option<Duration>) {
    let mut wall = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..runs {
        let c = cpu_time();
        let t = Instant::now();
        f();
        wall.push(t.elapsed());
        if let (Some(before), Some(after)) = (c, cpu_time()) {
            cpu.push(after.saturating_sub(before));
        }
    }
    let cpu = (cpu.len() == runs).then(|| median(cpu));
    (median(wall), cpu)
}

fn main() {
    let mb: f64 = std::env::var("LIVEJIT_FRONTEND_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let runs: usize = std::env::var("LIVEJIT_FRONTEND_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(7);
    let src = generate((mb * 1e6) as usize);
    if let Ok(path) = std::env::var("LIVEJIT_FRONTEND_DUMP") {
        std::fs::write(&path, &src).expect("writing the generated source");
    }
    let lines = src.lines().count();
    let fns = src.matches("\nfn ").count();
    println!(
        "front end on a generated file: {} bytes, {lines} lines, {fns} functions; median of {runs} runs",
        src.len()
    );

    // `LIVEJIT_FRONTEND_ONLY=STAGE` times one stage (for `perf record` or callgrind): the
    // others show 0, and the whole front end is not run once more to validate the file.
    let only = std::env::var("LIVEJIT_FRONTEND_ONLY").ok();

    // The file must be valid, or the numbers would measure error recovery.
    let (tokens, lex_diags) = lexer::lex(&src);
    assert!(lex_diags.is_empty(), "lexer: {lex_diags:?}");
    let (program, diags) = parser::parse(&src);
    assert!(
        diags.is_empty(),
        "parser: {:?}",
        &diags[..diags.len().min(5)]
    );
    let program = program.expect("a program");
    if only.is_some() {
        // Checked by runs without `LIVEJIT_FRONTEND_ONLY`.
    } else if let Err(d) = compile_front(&src, &EmptyEnv) {
        panic!(
            "generated source does not check: {:?}",
            &d[..d.len().min(5)]
        );
    }
    println!("{} tokens", tokens.len());
    drop(tokens);

    let timed = |stage: &str, f: &mut dyn FnMut()| match &only {
        Some(o) if o != stage => (Duration::ZERO, None),
        _ => time(runs, f),
    };
    let lex = timed("lex", &mut || drop(lexer::lex(&src)));
    let parse = timed("parse", &mut || drop(parser::parse(&src)));
    // The checker takes the program by value: each run checks a copy made beforehand.
    let mut copies: Vec<_> = (0..runs).map(|_| program.clone()).collect();
    let check = timed("check", &mut || {
        let p = copies.pop().expect("one copy per run");
        drop(typeck::check(p, &src, &EmptyEnv))
    });
    let front = timed("front", &mut || drop(compile_front(&src, &EmptyEnv)));

    println!("| stage | wall ms | wall MB/s | CPU ms | CPU MB/s |");
    println!("|---|---:|---:|---:|---:|");
    for (name, (d, cpu)) in [
        ("lex", lex),
        ("parse (lex included)", parse),
        ("check", check),
        ("front (compile_front)", front),
    ] {
        let (cpu_ms, cpu_mbps) = match cpu {
            Some(c) => (
                format!("{:.1}", c.as_secs_f64() * 1e3),
                format!("{:.2}", mbps(src.len(), c)),
            ),
            None => ("?".into(), "?".into()),
        };
        println!(
            "| {name} | {:.1} | {:.2} | {cpu_ms} | {cpu_mbps} |",
            d.as_secs_f64() * 1e3,
            mbps(src.len(), d)
        );
    }
}
