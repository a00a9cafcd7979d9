//! Differential tests of strs: random string programs (concatenation, slicing, find,
//! split/join, trim, comparisons, str/parse_int round trips, chr, bytes that are not UTF-8)
//! run by the JIT and evaluated in Rust on `[u8]` with the semantics docs/language.md specifies;
//! and `fixed(f, d)` against Rust's `format!("{:.*}", d, f)`.

mod common;

use common::{check_script_lines, Rng};
use std::fmt::Write as _;

/// Literal contents (source escapes, decoded bytes).
const ATOMS: &[(&str, &[u8])] = &[
    ("", b""),
    ("a", b"a"),
    ("ab", b"ab"),
    ("a,b", b"a,b"),
    (",", b","),
    ("  x y ", b"  x y "),
    ("\\t\\n", b"\t\n"),
    ("\\xff", b"\xff"),
    ("\\x00z", b"\x00z"),
    ("\\\"q\\\\", b"\"q\\"),
    ("é", "é".as_bytes()),
    ("\\xc3", b"\xc3"),
    ("abcabc", b"abcabc"),
    ("b", b"b"),
    ("--", b"--"),
];

/// Writes bytes as a str literal.
fn lit(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    s.push('"');
    s
}

/// How `print` shows a str inside an array: Rust's `{:?}` for the UTF-8 parts, `\xHH` for
/// each byte that is not UTF-8.
fn quoted(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        let dbg = format!("{:?}", chunk.valid());
        out.push_str(&dbg[1..dbg.len() - 1]);
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

fn find(hay: &[u8], pat: &[u8]) -> i64 {
    if pat.is_empty() {
        return 0;
    }
    hay.windows(pat.len())
        .position(|w| w == pat)
        .map_or(-1, |i| i as i64)
}

fn split(s: &[u8], sep: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        let i = find(rest, sep);
        if i < 0 {
            out.push(rest.to_vec());
            return out;
        }
        let i = i as usize;
        out.push(rest[..i].to_vec());
        rest = &rest[i + sep.len()..];
    }
}

/// A random str expression and its value.
fn str_expr(rng: &mut Rng, depth: u32) -> (String, Vec<u8>) {
    if depth == 0 || rng.below(3) == 0 {
        let (src, v) = rng.pick(ATOMS);
        return (format!("\"{src}\""), v.to_vec());
    }
    match rng.below(7) {
        0 | 1 => {
            let (a, x) = str_expr(rng, depth - 1);
            let (b, y) = str_expr(rng, depth - 1);
            (format!("({a} + {b})"), [x, y].concat())
        }
        2 => {
            let (a, x) = str_expr(rng, depth - 1);
            let i = rng.below(x.len() as u64 + 1) as usize;
            let j = i + rng.below((x.len() - i) as u64 + 1) as usize;
            (format!("{a}[{i}..{j}]"), x[i..j].to_vec())
        }
        3 => {
            let (a, x) = str_expr(rng, depth - 1);
            (format!("trim({a})"), x.trim_ascii().to_vec())
        }
        4 => {
            let (a, x) = str_expr(rng, depth - 1);
            let (seps, sep) = *rng.pick(&[(",", b"," as &[u8]), ("b", b"b"), ("--", b"--")]);
            let (js, j) = *rng.pick(&[("", b"" as &[u8]), ("|", b"|"), ("\\xff", b"\xff")]);
            let joined = split(&x, sep).join(j);
            (format!("join(split({a}, \"{seps}\"), \"{js}\")"), joined)
        }
        5 => {
            let n = rng.next() as i64 >> rng.below(64);
            (format!("str({})", int_lit(n)), n.to_string().into_bytes())
        }
        _ => {
            let b = rng.below(256) as u8;
            (format!("chr({b})"), vec![b])
        }
    }
}

fn int_lit(v: i64) -> String {
    if v == i64::MIN {
        "(-9223372036854775807 - 1)".to_string()
    } else if v < 0 {
        format!("({v})")
    } else {
        v.to_string()
    }
}

#[test]
fn string_programs_match_rust_on_bytes() {
    let mut rng = Rng(0x5eed_0001);
    let mut script = String::new();
    let mut expected = String::new();
    for _ in 0..250 {
        let (a, x) = str_expr(&mut rng, 3);
        let (b, y) = str_expr(&mut rng, 2);
        // The value itself, quoted inside an array (so every byte is visible).
        let _ = writeln!(script, "print([{a}]);");
        let _ = writeln!(expected, "[{}]", quoted(&x));
        // Ints and bools computed from it.
        let (index_src, idx) = if x.is_empty() {
            ("-1".to_string(), -1)
        } else {
            let i = rng.below(x.len() as u64) as usize;
            (format!("{a}[{i}]"), i64::from(x[i]))
        };
        let _ = writeln!(
            script,
            "print(len({a}), find({a}, {b}), {a} < {b}, {a} == {b}, {a} >= {b}, {index_src});"
        );
        let _ = writeln!(
            expected,
            "{} {} {} {} {} {idx}",
            x.len(),
            find(&x, &y),
            x < y,
            x == y,
            x >= y
        );
        let parts: Vec<String> = split(&x, b",").iter().map(|p| quoted(p)).collect();
        let _ = writeln!(script, "print(split({a}, \",\"));");
        let _ = writeln!(expected, "[{}]", parts.join(", "));
        let n = rng.next() as i64 >> rng.below(64);
        let _ = writeln!(
            script,
            "print(parse_int(str({})) == {}, {} == {});",
            int_lit(n),
            int_lit(n),
            lit(&x),
            a
        );
        let _ = writeln!(expected, "true true");
    }
    check(&script, &expected);
}

#[test]
fn fixed_matches_rust_format() {
    let mut rng = Rng(0xf1ed);
    let mut script = String::new();
    let mut expected = String::new();
    let edges = [
        0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.125, 1e21, 1e-7, 123.456, 0.1, 1e300, -1e-300, 9.995,
    ];
    for i in 0..300 {
        let v = if i < edges.len() * 3 {
            edges[i % edges.len()]
        } else {
            (rng.next() % 2_000_000_000) as f64 / 1000.0 - 1_000_000.0
        };
        let d = if i < edges.len() * 3 {
            i / edges.len() * 7
        } else {
            rng.below(25) as usize
        };
        let lit = format!("{v:?}");
        let lit = if lit.contains('e') && !lit.contains('.') {
            lit.replacen('e', ".0e", 1)
        } else {
            lit
        };
        let _ = writeln!(script, "print(fixed({lit}, {d}));");
        let _ = writeln!(expected, "{:.*}", d, v);
    }
    let _ = writeln!(
        script,
        "print(fixed(1.0 / 0.0, 2), fixed(0.0 / 0.0, 1), fixed(-1.0 / 0.0, 0));"
    );
    let _ = writeln!(
        expected,
        "{:.2} {:.1} {:.0}",
        f64::INFINITY,
        f64::NAN,
        f64::NEG_INFINITY
    );
    check(&script, &expected);
}

fn check(script: &str, expected: &str) {
    check_script_lines(script, expected);
}
