//! `cargo bench --bench suite`: the benchmark suite of real programs, livejit against clang -O2 C.
//!
//! Thirteen programs in `bench/suite/`: the Are We Fast Yet benchmarks Bounce, List, Mandelbrot,
//! NBody, Permute, Queens, Sieve, Storage and Towers, and the Benchmarks Game's n-body,
//! spectral-norm, fannkuch-redux and mandelbrot. Each `NAME.src` has a `NAME.c` with the same
//! algorithm, data layout and size. Both check their published verification value themselves
//! (`assert` / exit 1), print `result: ...` lines and their kernel's time as `time_ms: X`; this
//! harness compiles the C programs with clang-19 -O2, runs each pair interleaved (C, livejit, C,
//! livejit, ...) so that drift in machine load hits both alike, keeps the best time of each,
//! checks that both printed the same results (numbers compared by value: C prints `%.17g`,
//! livejit Rust's shortest form), and prints the table with the geometric mean of the ratios:
//! `ratio` is best livejit time / best C time; `pair median` is the median over runs of
//! livejit's time / the time of the C run just before it, which moves less on a loaded machine;
//! the CPU columns are user + sys time (ms): for livejit, a whole `livejit run` less the same
//! file cut before its `let t0 = time_ns();` line (startup, compilation, untimed checks), for C
//! the whole program. CPU time barely moves when the machine's CPU share is throttled.
//!
//! livejit runs with `LIVEJIT_TIER=opt-now` (unless `LIVEJIT_TIER` is set): each kernel is
//! one long call, which would otherwise start at the fast tier and stay in that frame after its
//! optimized code is swapped in; this suite compares the optimizing tier's code with C.
//!
//! `cargo bench --bench suite -- NAME...` runs only the named programs; `LIVEJIT_SUITE_RUNS`
//! sets how many runs of each (default 5); `LIVEJIT_SUITE_CFLAGS` adds flags to clang's (e.g.
//! `-march=native -ffp-contract=off`: livejit compiles for the host CPU, clang -O2 alone for
//! baseline x86-64; without `-ffp-contract=off` clang fuses multiply-adds on FMA hardware and
//! the float results no longer match the verification values).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The programs, in table order: file stem and what it is.
const PROGRAMS: [(&str, &str); 13] = [
    ("bounce", "AWFY Bounce"),
    ("list", "AWFY List"),
    ("mandelbrot", "AWFY Mandelbrot"),
    ("nbody", "AWFY NBody"),
    ("permute", "AWFY Permute"),
    ("queens", "AWFY Queens"),
    ("sieve", "AWFY Sieve"),
    ("storage", "AWFY Storage"),
    ("towers", "AWFY Towers"),
    ("nbody_bg", "BG n-body"),
    ("spectralnorm", "BG spectral-norm"),
    ("fannkuch", "BG fannkuch-redux"),
    ("mandelbrot_bg", "BG mandelbrot"),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn compile_c(src: &Path, out: &Path) -> Result<(), String> {
    let extra = std::env::var("LIVEJIT_SUITE_CFLAGS").unwrap_or_default();
    let mut last = String::new();
    for cc in ["clang-19", "clang"] {
        let mut cmd = Command::new(cc);
        cmd.args(["-O2", "-o"]).arg(out).arg(src).arg("-lm");
        cmd.args(extra.split_whitespace());
        match cmd.output() {
            Ok(o) if o.status.success() => return Ok(()),
            Ok(o) => last = String::from_utf8_lossy(&o.stderr).into_owned(),
            Err(e) => last = format!("{cc}: {e}"),
        }
    }
    Err(last)
}

/// User + system CPU time of the children waited for so far, in ms.
fn children_cpu_ms() -> f64 {
    // SAFETY: getrusage only writes the struct it is given, which is a valid, zeroed rusage.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru);
        ru
    };
    let ms = |t: libc::timeval| t.tv_sec as f64 * 1e3 + t.tv_usec as f64 / 1e3;
    ms(ru.ru_utime) + ms(ru.ru_stime)
}

/// Runs a program to its end; returns its stdout and the CPU time it used (ms, user + sys).
fn run_cpu(cmd: &mut Command) -> Result<(String, f64), String> {
    let before = children_cpu_ms();
    let out = cmd.output().map_err(|e| e.to_string())?;
    let cpu = children_cpu_ms() - before;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!(
            "{}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok((stdout, cpu))
}

/// One run of a program: its kernel time, its result lines and its CPU time, or why it failed.
fn run(cmd: &mut Command) -> Result<(f64, Vec<String>, f64), String> {
    let (stdout, cpu) = run_cpu(cmd)?;
    let time = stdout
        .lines()
        .find_map(|l| l.strip_prefix("time_ms:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no time_ms line in {stdout:?}"))?;
    let results = stdout
        .lines()
        .filter(|l| !l.starts_with("time_ms:"))
        .map(str::to_string)
        .collect();
    Ok((time, results, cpu))
}

/// Whether two result lines say the same: the same words, numbers compared by value.
fn same_results(a: &[String], b: &[String]) -> bool {
    let same_word = |x: &str, y: &str| match (x.parse::<f64>(), y.parse::<f64>()) {
        (Ok(u), Ok(v)) => u == v || (u.is_nan() && v.is_nan()),
        _ => x == y,
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            let (xs, ys): (Vec<_>, Vec<_>) = (
                x.split_whitespace().collect(),
                y.split_whitespace().collect(),
            );
            xs.len() == ys.len() && xs.iter().zip(&ys).all(|(u, v)| same_word(u, v))
        })
}

struct Row {
    label: &'static str,
    jit: f64,
    c: f64,
    /// The median over runs of livejit's time / the C time of the run just before it: adjacent
    /// runs see similar machine load, so this moves less than the ratio of the best times.
    pair_median: f64,
    /// CPU time (user + sys) of livejit's kernel: the least CPU time of a whole `livejit run`
    /// less the least of the same file cut before its timed part (startup, compiling every
    /// function, the untimed verification). On a machine whose CPU share is throttled, wall
    /// time is mostly waiting; CPU time is not.
    jit_cpu: f64,
    /// CPU time of the whole C program (its startup and untimed check are a few ms at most).
    c_cpu: f64,
    result: String,
}

fn measure(name: &str, label: &'static str, runs: usize, dir: &Path) -> Result<Row, String> {
    let exe = dir.join(name);
    compile_c(&root().join(format!("bench/suite/{name}.c")), &exe)
        .map_err(|e| format!("compiling {name}.c: {e}"))?;
    let src = root().join(format!("bench/suite/{name}.src"));
    let text = std::fs::read_to_string(&src).map_err(|e| format!("{name}.src: {e}"))?;
    let cut = text
        .find("\nlet t0 = time_ns();")
        .ok_or_else(|| format!("{name}.src has no `let t0 = time_ns();` line"))?;
    let head = dir.join(format!("{name}.head.src"));
    std::fs::write(&head, &text[..cut + 1]).map_err(|e| e.to_string())?;
    let (mut jit_best, mut c_best) = (f64::INFINITY, f64::INFINITY);
    let (mut jit_cpu, mut c_cpu, mut head_cpu) = (f64::INFINITY, f64::INFINITY, f64::INFINITY);
    let mut pairs = Vec::new();
    let mut expected: Option<Vec<String>> = None;
    let mut check = |who: &str, results: Vec<String>| -> Result<(), String> {
        match &expected {
            None => expected = Some(results),
            Some(e) if !same_results(e, &results) => {
                return Err(format!("{name}: {who} printed {results:?}, expected {e:?}"));
            }
            Some(_) => {}
        }
        Ok(())
    };
    for _ in 0..runs {
        let (t, r, cpu) = run(&mut Command::new(&exe)).map_err(|e| format!("{name} (C): {e}"))?;
        check("C", r)?;
        c_best = c_best.min(t);
        c_cpu = c_cpu.min(cpu);
        let c_time = t;
        let (t, r, cpu) = run(Command::new(env!("CARGO_BIN_EXE_livejit"))
            .env("LIVEJIT_TIER", tier())
            .arg("run")
            .arg(&src))
        .map_err(|e| format!("{name} (livejit): {e}"))?;
        check("livejit", r)?;
        jit_best = jit_best.min(t);
        jit_cpu = jit_cpu.min(cpu);
        let (_, cpu) = run_cpu(
            Command::new(env!("CARGO_BIN_EXE_livejit"))
                .env("LIVEJIT_TIER", tier())
                .arg("run")
                .arg(&head),
        )
        .map_err(|e| format!("{name} (livejit, untimed part): {e}"))?;
        head_cpu = head_cpu.min(cpu);
        pairs.push(t / c_time);
    }
    pairs.sort_by(f64::total_cmp);
    let pair_median = pairs[pairs.len() / 2];
    let result = expected
        .unwrap_or_default()
        .join("; ")
        .replace("result: ", "");
    Ok(Row {
        label,
        jit: jit_best,
        c: c_best,
        pair_median,
        jit_cpu: jit_cpu - head_cpu,
        c_cpu,
        result,
    })
}

/// The published N=200 output of the Benchmarks Game's mandelbrot has this md5; the C program
/// writes that output when given the argument 200 (needs `md5sum`; skipped without it).
fn check_mandelbrot_pbm(dir: &Path) -> Option<bool> {
    let pbm = Command::new(dir.join("mandelbrot_bg"))
        .arg("200")
        .output()
        .ok()?;
    let mut md5 = Command::new("md5sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    {
        use std::io::Write;
        md5.stdin.take()?.write_all(&pbm.stdout).ok()?;
    }
    let out = md5.wait_with_output().ok()?;
    Some(String::from_utf8_lossy(&out.stdout).starts_with("cc65e64bd553ed18896de1dfe7fae3e5"))
}

fn main() {
    // `cargo bench` passes `--bench`; other words select programs by name.
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let runs: usize = std::env::var("LIVEJIT_SUITE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(5);
    let dir = root().join("target/bench-suite");
    std::fs::create_dir_all(&dir).expect("creating target/bench-suite");
    let cflags = std::env::var("LIVEJIT_SUITE_CFLAGS").unwrap_or_default();
    println!(
        "livejit benchmark suite: best of {runs} interleaved runs each, kernel time only \
         (compile and startup excluded); C compiled with clang-19 -O2 {cflags}\n"
    );
    println!(
        "{:<18} {:>11} {:>9} {:>7} {:>11} {:>8} {:>8} {:>9}  result (verified)",
        "program", "livejit ms", "C ms", "ratio", "pair median", "jit CPU", "C CPU", "CPU ratio"
    );
    let mut failed = Vec::new();
    let mut ratios = Vec::new();
    let mut pair_medians = Vec::new();
    let mut cpu_ratios = Vec::new();
    for (name, label) in PROGRAMS {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        match measure(name, label, runs, &dir) {
            Ok(row) => {
                let ratio = row.jit / row.c;
                ratios.push(ratio);
                pair_medians.push(row.pair_median);
                let cpu_ratio = row.jit_cpu / row.c_cpu;
                cpu_ratios.push(cpu_ratio);
                println!(
                    "{:<18} {:>11.1} {:>9.1} {:>6.2}x {:>10.2}x {:>8.0} {:>8.0} {:>8.2}x  {}",
                    row.label,
                    row.jit,
                    row.c,
                    ratio,
                    row.pair_median,
                    row.jit_cpu,
                    row.c_cpu,
                    cpu_ratio,
                    row.result
                );
            }
            Err(e) => {
                println!("{label:<18} FAILED");
                failed.push(e);
            }
        }
    }
    if !ratios.is_empty() {
        let geo = |xs: &[f64]| (xs.iter().map(|r| r.ln()).sum::<f64>() / xs.len() as f64).exp();
        println!(
            "{:<18} {:>11} {:>9} {:>6.2}x {:>10.2}x {:>8} {:>8} {:>8.2}x",
            "geometric mean",
            "",
            "",
            geo(&ratios),
            geo(&pair_medians),
            "",
            "",
            geo(&cpu_ratios)
        );
    }
    if wanted.is_empty() || wanted.iter().any(|w| w == "mandelbrot_bg") {
        match check_mandelbrot_pbm(&dir) {
            Some(true) => println!("\nBG mandelbrot N=200 output: md5 matches the published file"),
            Some(false) => failed.push("BG mandelbrot N=200 output: md5 differs".into()),
            None => println!("\nBG mandelbrot N=200 output: not checked (no md5sum)"),
        }
    }
    if !failed.is_empty() {
        for e in &failed {
            eprintln!("error: {e}");
        }
        std::process::exit(1);
    }
}

/// The tiering livejit runs with: `LIVEJIT_TIER` if set, else `opt-now` (see the module doc).
fn tier() -> String {
    std::env::var("LIVEJIT_TIER").unwrap_or_else(|_| "opt-now".into())
}
