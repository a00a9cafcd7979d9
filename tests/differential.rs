//! Differential testing of code generation: random int and float expressions are evaluated by
//! the JIT and by Rust with the semantics docs/language.md specifies (wrapping `+ - *`, `/` and `%`
//! truncating with `MIN / -1 == MIN`, shifts modulo 64, `>>` arithmetic, IEEE floats printed
//! as `{:?}`, comparisons). Any difference is a codegen bug.

mod common;

use common::{check_script_lines, Rng};
use std::fmt::Write as _;

const INT_EDGES: [i64; 12] = [0, 1, -1, 2, -2, 7, 63, 64, 65, i64::MAX, i64::MIN, -9];

/// Writes an int literal as source (MIN has no literal form of its own).
fn int_lit(v: i64) -> String {
    if v == i64::MIN {
        "(-9223372036854775807 - 1)".to_string()
    } else if v < 0 {
        format!("({v})")
    } else {
        v.to_string()
    }
}

/// A random int expression and its value, or `None` if it would divide by zero.
fn int_expr(rng: &mut Rng, depth: u32) -> Option<(String, i64)> {
    if depth == 0 || rng.below(4) == 0 {
        let v = if rng.below(2) == 0 {
            INT_EDGES[rng.below(INT_EDGES.len() as u64) as usize]
        } else {
            rng.next() as i64 >> rng.below(64)
        };
        return Some((int_lit(v), v));
    }
    if rng.below(8) == 0 {
        let (s, v) = int_expr(rng, depth - 1)?;
        return Some((format!("(-{s})"), v.wrapping_neg()));
    }
    let (a, x) = int_expr(rng, depth - 1)?;
    let (b, y) = int_expr(rng, depth - 1)?;
    let ops = ["+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^"];
    let op = ops[rng.below(ops.len() as u64) as usize];
    let v = match op {
        "+" => x.wrapping_add(y),
        "-" => x.wrapping_sub(y),
        "*" => x.wrapping_mul(y),
        "/" if y == 0 => return None,
        "/" => x.wrapping_div(y),
        "%" if y == 0 => return None,
        "%" => x.wrapping_rem(y),
        "<<" => x.wrapping_shl((y & 63) as u32),
        ">>" => x.wrapping_shr((y & 63) as u32),
        "&" => x & y,
        "|" => x | y,
        _ => x ^ y,
    };
    Some((format!("({a} {op} {b})"), v))
}

const FLOAT_EDGES: [f64; 8] = [0.0, 1.0, -1.5, 0.1, 1e300, -1e-300, 3.25, 1e16];

/// A random float expression and its value.
fn float_expr(rng: &mut Rng, depth: u32) -> (String, f64) {
    if depth == 0 || rng.below(4) == 0 {
        let v = if rng.below(2) == 0 {
            FLOAT_EDGES[rng.below(FLOAT_EDGES.len() as u64) as usize]
        } else {
            (rng.next() % 2_000_000) as f64 / 1000.0 - 1000.0
        };
        // `{:?}` of a finite f64 is a valid float literal here, except for exponent forms,
        // which need a digit on both sides of the dot: write those through `float()`-free
        // arithmetic on a plain literal.
        let lit = format!("{v:?}");
        let lit = if lit.contains('e') && !lit.contains('.') {
            lit.replacen('e', ".0e", 1)
        } else {
            lit
        };
        return (if v < 0.0 { format!("({lit})") } else { lit }, v);
    }
    let (a, x) = float_expr(rng, depth - 1);
    let (b, y) = float_expr(rng, depth - 1);
    let ops = ["+", "-", "*", "/", "%"];
    let op = ops[rng.below(ops.len() as u64) as usize];
    let v = match op {
        "+" => x + y,
        "-" => x - y,
        "*" => x * y,
        "/" => x / y,
        _ => x % y,
    };
    (format!("({a} {op} {b})"), v)
}

#[test]
fn jit_arithmetic_matches_the_reference_semantics() {
    let mut rng = Rng(0x1234_5678);
    let mut script = String::new();
    let mut expected = String::new();
    let mut n = 0;
    while n < 400 {
        let Some((src, v)) = int_expr(&mut rng, 4) else {
            continue;
        };
        let _ = writeln!(script, "print({src});");
        let _ = writeln!(expected, "{v}");
        n += 1;
    }
    for _ in 0..300 {
        let (src, v) = float_expr(&mut rng, 3);
        let _ = writeln!(script, "print({src});");
        let _ = writeln!(expected, "{v:?}");
        // Comparisons and conversions of the same value.
        let _ = writeln!(script, "print({src} < 1.5, {src} == {src}, int({src}));");
        let _ = writeln!(expected, "{} {} {}", v < 1.5, v == v, v as i64);
    }
    check_script_lines(&script, &expected);
}
