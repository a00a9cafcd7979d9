//! Changing a struct's fields while code that uses the old layout is running: old frames keep
//! the old layout, old slots and old global cells; new code gets the new ones; a change is
//! rejected unless every user function and every global holding the struct come with it.

mod common;

use common::{run_script, versions, Outcome};
use std::path::Path;
use std::time::Duration;

fn run_here(script: &str) -> Outcome {
    run_script(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        script,
        Duration::from_secs(120),
    )
}

/// A task runs `work` (v1), which builds and reads `P` values of the old layout through the
/// old `mk`, while a transaction changes `P` (a new field first, so every offset moves) and
/// redefines its users. The running loop keeps reading the old layout correctly (it never sees
/// a new-layout value); new code sees the new layout; the old versions drain and are freed
/// once the task ends.
#[test]
fn running_code_keeps_the_old_layout_while_the_new_one_is_installed() {
    let script = "\
struct P { x: int }
global running: bool = true;
global wrong: int = 0;
global laps: int = 0;
fn mk() -> P { P { x: 7 } }
fn work() -> int { let n = 0; while running { let p = mk(); if p.x != 7 { wrong += 1; } n += 1; laps = n; } n }
:spawn work()
:sleep 150
struct P { y: float, x: int } fn mk() -> P { P { y: 1.5, x: 9 } } fn work() -> int { 0 } let fresh = mk();
print(fresh, mk().x);
:sleep 100
:versions work
:versions mk
running = false;
:wait
:sleep 300
print(\"wrong\", wrong, laps > 0);
:versions work
:versions mk
";
    let o = run_here(script);
    assert_eq!(o.code(), Some(0), "{}", o.report());
    assert!(o.stdout.contains("P { y: 1.5, x: 9 } 9"), "{}", o.report());
    assert!(o.stdout.contains("wrong 0 true"), "{}", o.report());
    let vs = versions(&o.stdout);
    let s = |v: &str| v.to_string();
    assert_eq!(
        vs,
        vec![
            (1, s("draining")),
            (2, s("live")),
            (1, s("draining")),
            (2, s("live")),
            (1, s("freed")),
            (2, s("live")),
            (1, s("freed")),
            (2, s("live")),
        ],
        "{}",
        o.report()
    );
}

/// A struct that contains a changed struct changes too, so its users must come along; the
/// error names what is missing and nothing is installed. With every user redefined the change
/// goes through and `:versions` shows the users' new versions.
#[test]
fn a_change_needs_the_users_of_containing_structs_and_the_globals_holding_it() {
    let script = "\
struct P { x: int }
struct Line { a: P, b: P }
fn span(l: Line) -> int { l.b.x - l.a.x }
global base: Line = Line { a: P { x: 1 }, b: P { x: 4 } };
span(base)
struct P { x: int, z: int }
struct P { x: int, z: int } fn span(l: Line) -> int { l.b.z - l.a.z }
span(base)
struct P { x: int, z: int } fn span(l: Line) -> int { l.b.z - l.a.z } let base = Line { a: P { x: 0, z: 10 }, b: P { x: 0, z: 15 } };
span(base)
base
:versions span
";
    let o = run_here(script);
    assert_eq!(o.code(), Some(1), "{}", o.report());
    assert_eq!(
        o.stdout.lines().take(4).collect::<Vec<_>>(),
        vec![
            "3",
            "3",
            "5",
            "Line { a: P { x: 0, z: 10 }, b: P { x: 0, z: 15 } }",
        ],
        "{}",
        o.report()
    );
    assert!(
        o.stderr
            .contains("cannot change the fields of struct `P`: the functions `span`"),
        "{}",
        o.report()
    );
    assert!(
        o.stderr.contains(
            "cannot change struct `Line` (it contains a changed struct): the functions `span`"
        ),
        "{}",
        o.report()
    );
    assert!(
        o.stderr
            .contains("the globals `base` that hold it are not assigned by a top-level `let`"),
        "{}",
        o.report()
    );
    let vs = versions(&o.stdout);
    assert_eq!(vs.len(), 2, "{}", o.report());
    assert_eq!(vs[1], (2, "live".to_string()), "{}", o.report());
}

/// `:rollback` refuses a version written for an earlier definition of a struct it uses, and
/// reinstalls one written for the current definition.
#[test]
fn rollback_needs_the_current_struct_layouts() {
    let script = "\
struct P { x: int }
fn f(p: P) -> int { p.x }
struct P { x: int, y: int } fn f(p: P) -> int { p.x + p.y }
:rollback f
fn f(p: P) -> int { p.y }
:rollback f
f(P { x: 1, y: 2 })
";
    let o = run_here(script);
    assert_eq!(o.code(), Some(1), "{}", o.report());
    assert!(
        o.stderr.contains(
            "cannot roll back `f` to v1: it was written for an earlier definition of struct `P`"
        ),
        "{}",
        o.report()
    );
    assert_eq!(o.stdout.trim(), "3", "{}", o.report());
}
