//! Random whole-program differential testing: a seeded generator (`fuzz/gen.rs`) writes small
//! well-typed programs (functions with bounded recursion, `while`/`for`/`loop` with `break`
//! and `continue`, a function ending in a `loop` left by `return`, arrays with aliasing and
//! `copy`, nested arrays (`[[int]]`, `[e; n]` with independent rows), structs (definitions in
//! any order, literals with fields in any order, field reads, field and element assignment and
//! compound assignment through nested places, structs in arrays and globals, passed and
//! returned, `copy`, printed, cycles printed as `...`), globals, top-level `let`, compound
//! assignment, early `return`, `if` expressions, int/float/bool arithmetic, strs (`+`, `+=`,
//! comparisons, `str` of any value, `trim`, `len`, quoted inside arrays and structs), `abs`,
//! bitwise compound assignment, and the runtime errors); a
//! reference evaluator (`fuzz/eval.rs`) interprets the same syntax tree with the semantics of
//! docs/language.md in Rust's evaluation order. Each program is run by the binary, as
//! `livejit run FILE` (default optimization level) and in script mode as
//! `:opt 0` + `:load FILE`; stdout, the exit status and the runtime error message
//! (`error: MESSAGE`) must match the reference.
//!
//! The generator's AST and evaluator are independent of the project's frontend. Features
//! livejit does not get right yet are behind constants in `fuzz/gen.rs`
//! (`RHS_SIDE_EFFECTS`, `BITWISE_COMPOUND_ASSIGN`, `GLOBAL_REDECLARATION`).
//!
//! Any number of seeds, with shrinking of the first failure to a small reproduction:
//!
//! ```sh
//! LIVEJIT_FUZZ_SEEDS=5000 LIVEJIT_FUZZ_START=123 cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! Environment:
//! - `LIVEJIT_FUZZ_SEEDS` (default 200: the debug run stays under a minute on a loaded 2-core
//!   machine), `LIVEJIT_FUZZ_START` (first seed, default 0);
//! - `LIVEJIT_FUZZ_THREADS`: concurrent runs of the binary (default: twice the cores);
//! - `LIVEJIT_FUZZ_SHRINK_SECS`: time budget for shrinking (default 120);
//! - `LIVEJIT_FUZZ_PRINT=SEED`: print that seed's program and expected output, run nothing
//!   (with `LIVEJIT_FUZZ_DEBUG=1` also its syntax tree);
//! - `LIVEJIT_FUZZ_TRACE=1`: show the shrinker's progress.
//!
//! Failing programs are kept in `target/tmp/fuzz/seed_N.src`.

mod common;

#[path = "fuzz/ast.rs"]
#[allow(
    dead_code,
    reason = "the AST covers more than today's generator builds"
)]
mod ast;
#[path = "fuzz/eval.rs"]
mod eval;
#[path = "fuzz/gen.rs"]
mod gen;
#[path = "fuzz/shrink.rs"]
mod shrink;

use ast::Program;
use common::{clip, livejit_command, run_script, run_with_timeout, Outcome};
use eval::Expected;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long one run of the binary may take.
const TIMEOUT: Duration = Duration::from_secs(30);
/// Stack for the threads that run the (recursive) reference evaluator.
const EVAL_STACK: usize = 256 << 20;
/// The runtime error messages (anything else after `error:` is a compile error).
const RUNTIME_ERRORS: [&str; 5] = [
    "index ",
    "division by zero",
    "negative array length",
    "assertion failed",
    "stack overflow",
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Level {
    /// `livejit run FILE`
    Default,
    /// script mode: `:opt 0`, `:load FILE`
    Opt0,
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The program for `seed` and what it must do. A program the reference rejects (too much work)
/// is replaced by the next attempt, deterministically.
fn generate(seed: u64) -> (Program, Expected) {
    for attempt in 0..100u64 {
        let mut g = gen::Gen::new(seed.wrapping_mul(0x1_0000).wrapping_add(attempt));
        let p = g.program();
        if let Ok(exp) = eval::run(&p) {
            return (p, exp);
        }
    }
    panic!("seed {seed}: no program within the reference's fuel after 100 attempts");
}

fn run_binary(dir: &Path, file: &str, level: Level) -> Outcome {
    match level {
        Level::Default => {
            let mut cmd = livejit_command(dir);
            cmd.args(["run", file]);
            run_with_timeout(cmd, None, TIMEOUT)
        }
        Level::Opt0 => run_script(dir, &format!(":opt 0\n:load {file}\n"), TIMEOUT),
    }
}

/// The first `error: ...` line of stderr.
fn error_line(o: &Outcome) -> Option<&str> {
    o.stderr.lines().find(|l| l.starts_with("error"))
}

/// Whether the binary rejected the program at compile time (a shrinking step broke it).
fn compile_error(o: &Outcome) -> bool {
    error_line(o).is_some_and(|l| {
        let msg = l.strip_prefix("error: ").unwrap_or(l);
        !RUNTIME_ERRORS.iter().any(|r| msg.starts_with(r))
    })
}

/// `Err(what differs)` unless the binary did what the reference expects.
fn check(exp: &Expected, o: &Outcome) -> Result<(), String> {
    if o.timed_out {
        return Err(format!("timed out after {TIMEOUT:?}"));
    }
    let want_code = i32::from(exp.error.is_some());
    let mut diffs = Vec::new();
    if o.code() != Some(want_code) {
        diffs.push(format!(
            "status: expected exit {want_code}, got {}",
            o.describe_status()
        ));
    }
    if o.stdout != exp.stdout {
        let (e, a): (Vec<&str>, Vec<&str>) =
            (exp.stdout.lines().collect(), o.stdout.lines().collect());
        let i = e.iter().zip(&a).take_while(|(x, y)| x == y).count();
        diffs.push(format!(
            "stdout differs at line {}: expected {:?}, got {:?}",
            i + 1,
            e.get(i),
            a.get(i)
        ));
    }
    let want_err = exp.error.as_ref().map(|m| format!("error: {m}"));
    let got_err = error_line(o);
    if want_err.as_deref() != got_err {
        diffs.push(format!("error: expected {want_err:?}, got {got_err:?}"));
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("\n"))
    }
}

struct Failure {
    seed: u64,
    level: Level,
    what: String,
    program: Program,
}

/// Writes `p` to `dir/name` and runs it at `level`.
fn run_program(dir: &Path, name: &str, p: &Program, level: Level) -> Outcome {
    let path = dir.join(name);
    std::fs::write(&path, ast::program(p)).expect("write the program");
    run_binary(dir, name, level)
}

fn work_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz");
    std::fs::create_dir_all(&dir).expect("create the fuzz directory");
    dir
}

#[test]
fn random_programs_match_the_reference_evaluator() {
    if let Ok(s) = std::env::var("LIVEJIT_FUZZ_PRINT") {
        let seed: u64 = s.parse().expect("LIVEJIT_FUZZ_PRINT=SEED");
        let (p, exp) = on_big_stack(move || generate(seed));
        println!(
            "{}--- expected\n{}{:?}",
            ast::program(&p),
            exp.stdout,
            exp.error
        );
        if std::env::var_os("LIVEJIT_FUZZ_DEBUG").is_some() {
            println!("{:#?}", p.items);
        }
        return;
    }
    let seeds = env_u64("LIVEJIT_FUZZ_SEEDS", 200);
    let start = env_u64("LIVEJIT_FUZZ_START", 0);
    let threads = env_u64(
        "LIVEJIT_FUZZ_THREADS",
        // The binary spends much of its wall time idle (start-up, shutdown): run more
        // processes than there are cores.
        2 * std::thread::available_parallelism().map_or(2, |n| n.get() as u64),
    );
    let dir = work_dir();
    let next = AtomicU64::new(start);
    let failures: Mutex<Vec<Failure>> = Mutex::new(Vec::new());
    let errors: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());
    let t0 = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            std::thread::Builder::new()
                .stack_size(EVAL_STACK)
                .spawn_scoped(s, || loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= start + seeds {
                        return;
                    }
                    let (p, exp) = generate(seed);
                    let key = exp.error.as_ref().map_or("ok".to_string(), |m| {
                        m.split(|c: char| c.is_ascii_digit() || c == '-')
                            .next()
                            .unwrap_or("")
                            .trim()
                            .to_string()
                    });
                    *errors.lock().unwrap().entry(key).or_default() += 1;
                    let name = format!("seed_{seed}.src");
                    let mut ok = true;
                    for level in [Level::Default, Level::Opt0] {
                        let o = run_program(&dir, &name, &p, level);
                        if let Err(what) = check(&exp, &o) {
                            ok = false;
                            failures.lock().unwrap().push(Failure {
                                seed,
                                level,
                                what: format!("{what}\n{}", o.report()),
                                program: p.clone(),
                            });
                            break;
                        }
                    }
                    if ok {
                        let _ = std::fs::remove_file(dir.join(&name));
                    }
                })
                .expect("spawn a fuzz worker");
        }
    });
    let elapsed = t0.elapsed();
    eprintln!(
        "fuzz: {seeds} seeds from {start} at 2 levels on {threads} threads in {elapsed:.1?}; outcomes: {:?}",
        errors.lock().unwrap()
    );
    let mut failures = failures.into_inner().unwrap();
    if failures.is_empty() {
        return;
    }
    failures.sort_by_key(|f| f.seed);
    let seeds_failed: Vec<String> = failures
        .iter()
        .map(|f| format!("{} ({:?})", f.seed, f.level))
        .collect();
    let first = failures.remove(0);
    let budget = Duration::from_secs(env_u64("LIVEJIT_FUZZ_SHRINK_SECS", 120));
    let (level, program) = (first.level, first.program.clone());
    let dir2 = dir.clone();
    let (small, report) = on_big_stack(move || {
        let deadline = Instant::now() + budget;
        let fails = |q: &Program, slot: usize| match eval::run(q) {
            Ok(exp) => {
                let o = run_program(&dir2, &format!("shrink_{slot}.src"), q, level);
                !compile_error(&o) && check(&exp, &o).is_err()
            }
            Err(_) => false,
        };
        let small = shrink::shrink(&program, deadline, threads as usize, &fails);
        let exp = eval::run(&small).expect("the shrunk program is valid");
        let o = run_program(&dir2, "shrink.src", &small, level);
        let report = format!(
            "expected stdout:\n{}expected error: {:?}\n{}\n{}",
            exp.stdout,
            exp.error,
            check(&exp, &o).err().unwrap_or_default(),
            o.report()
        );
        (small, report)
    });
    panic!(
        "{} failing seed(s): {}\n\nfirst failure: seed {} at {:?}:\n{}\n\n--- minimized program \
         (LIVEJIT_FUZZ_START={} LIVEJIT_FUZZ_SEEDS=1 reproduces the original)\n{}\n--- minimized \
         result\n{}",
        seeds_failed.len(),
        seeds_failed.join(", "),
        first.seed,
        first.level,
        clip(&first.what, 3000),
        first.seed,
        ast::program(&small),
        clip(&report, 4000)
    );
}

/// Runs `f` on a thread with a stack big enough for the reference evaluator.
fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(EVAL_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("worker panicked")
}

/// The reference itself follows Rust's assignment order (docs/language.md: Rust-like): the right
/// operand first, then the place.
#[test]
fn reference_evaluates_the_right_operand_of_an_assignment_first() {
    use ast::{BinOp, Block, Expr, FnDef, Item, Place, PrintArg, Stmt, Ty};
    let var = |n: &str| Expr::Var(n.into(), Ty::Int);
    let print = |e: Expr| Item::Stmt(Stmt::Print(vec![PrintArg::Expr(e)]));
    let int_fn = |name: &str, stmts: Vec<Stmt>, tail: Expr| FnDef {
        name: name.into(),
        params: Vec::new(),
        ret: Some(Ty::Int),
        body: Block {
            stmts,
            tail: Some(Box::new(tail)),
        },
    };
    let call = |f: &str| Expr::Call(f.into(), Vec::new(), Ty::Int);
    let run = |p: &Program| {
        on_big_stack({
            let p = p.clone();
            move || eval::run(&p).expect("valid")
        })
    };

    // global g: int = 1; fn f() -> int { g = 100; 5 } g += f(); print(g);  => 105
    let p = Program {
        structs: Vec::new(),
        fns: vec![int_fn(
            "f",
            vec![Stmt::Assign(Place::Var("g".into()), None, Expr::Int(100))],
            Expr::Int(5),
        )],
        items: vec![
            Item::Global {
                is_let: false,
                name: "g".into(),
                ty: Ty::Int,
                annotate: true,
                init: Expr::Int(1),
            },
            Item::Stmt(Stmt::Assign(
                Place::Var("g".into()),
                Some(BinOp::Add),
                call("f"),
            )),
            print(var("g")),
        ],
    };
    assert_eq!(run(&p).stdout, "105\n");

    // let a = [1]; fn h() -> int { print(7); 1 } a[3] = h();  => h runs, then the index error
    let p = Program {
        structs: Vec::new(),
        fns: vec![int_fn(
            "h",
            vec![Stmt::Print(vec![PrintArg::Expr(Expr::Int(7))])],
            Expr::Int(1),
        )],
        items: vec![
            Item::Stmt(Stmt::Let(
                "a".into(),
                Ty::Array(Box::new(Ty::Int)),
                false,
                Expr::List(vec![Expr::Int(1)], Ty::Array(Box::new(Ty::Int))),
            )),
            Item::Stmt(Stmt::Assign(
                Place::Index(
                    Box::new(Expr::Var("a".into(), Ty::Array(Box::new(Ty::Int)))),
                    Box::new(Expr::Int(3)),
                ),
                None,
                call("h"),
            )),
        ],
    };
    let e = run(&p);
    assert_eq!(e.stdout, "7\n");
    assert_eq!(
        e.error.as_deref(),
        Some("index 3 out of range for length 1")
    );

    // fn f() -> int { let x = 1; x += return 7; x } print(f());  => 7
    let p = Program {
        structs: Vec::new(),
        fns: vec![int_fn(
            "f",
            vec![
                Stmt::Let("x".into(), Ty::Int, false, Expr::Int(1)),
                Stmt::Assign(
                    Place::Var("x".into()),
                    Some(BinOp::Add),
                    Expr::Return(Some(Box::new(Expr::Int(7))), Ty::Int),
                ),
            ],
            var("x"),
        )],
        items: vec![print(call("f"))],
    };
    assert_eq!(run(&p).stdout, "7\n");
}
