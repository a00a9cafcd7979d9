//! The parser's fast path (cheap errors, alternatives picked by their first token, no
//! recovery) against the rich path (the grammar with `Rich` errors and recovery, which is what
//! reports diagnostics): for every input, `parse` must give exactly what the rich path gives,
//! and the fast path must accept exactly the inputs the rich path finds no error in, with the
//! same tree.

use livejit_frontend::parser::{parse, parse_fast, parse_rich};
use proptest::prelude::*;

/// A small deterministic generator, so that a failing case is reproducible from its seed.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

const BINOPS: &[&str] = &[
    "+", "-", "*", "/", "%", "<<", ">>", "&", "|", "^", "==", "!=", "<", ">", "<=", ">=", "&&",
    "||",
];
const NAMES: &[&str] = &["x", "y", "acc", "p", "xs", "f", "g", "_t1", "P"];

/// A syntactically valid expression (types are not the point here).
fn expr(g: &mut Gen, depth: u32) -> String {
    let leaf = depth == 0 || g.below(3) == 0;
    if leaf {
        return match g.below(8) {
            0 => g.below(1000).to_string(),
            1 => format!("{}.{}", g.below(100), g.below(100)),
            2 => "\"s\\n\\x41\"".to_string(),
            3 => g.pick(&["true", "false"]).to_string(),
            4 => "9223372036854775807".to_string(),
            _ => g.pick(NAMES).to_string(),
        };
    }
    let d = depth - 1;
    match g.below(14) {
        0..=3 => {
            let op = g.pick(BINOPS);
            let (a, b) = (expr(g, d), expr(g, d));
            if ["==", "!=", "<", ">", "<=", ">="].contains(&op) {
                // Comparisons do not chain: keep the generated program valid.
                format!("(({a}) {op} ({b}))")
            } else {
                format!("{a} {op} {b}")
            }
        }
        4 => format!("{}{}", g.pick(&["-", "!", "--"]), expr(g, d)),
        5 => format!("({})", expr(g, d)),
        6 => format!("{}({}, {})", g.pick(NAMES), expr(g, d), expr(g, d)),
        7 => format!("{}[{}]", g.pick(NAMES), expr(g, d)),
        8 => format!("{}[{}..{}]", g.pick(NAMES), expr(g, d), expr(g, d)),
        9 => format!("{}.{}", g.pick(NAMES), g.pick(NAMES)),
        10 => format!("[{}, {},]", expr(g, d), expr(g, d)),
        11 => format!("[{}; {}]", expr(g, d), expr(g, d)),
        12 => format!("P {{ x: {}, y: {} }}", expr(g, d), expr(g, d)),
        // The branches are blocks: their expressions start statements.
        _ => format!(
            "if {} {{ {} }} else {{ {} }}",
            expr(g, d),
            stmt_expr(g, d),
            stmt_expr(g, d)
        ),
    }
}

/// An expression where a statement starts: one starting with `if` is a statement of its
/// own there (what follows it is a new statement), so it is parenthesized.
fn stmt_expr(g: &mut Gen, depth: u32) -> String {
    let e = expr(g, depth);
    if e.starts_with("if") {
        format!("({e})")
    } else {
        e
    }
}

/// A statement inside a block.
fn stmt(g: &mut Gen, depth: u32) -> String {
    let d = depth.saturating_sub(1);
    match g.below(12) {
        0 | 1 => format!("let {} = {};", g.pick(NAMES), expr(g, 2)),
        2 => format!("let {}: [int] = {};", g.pick(NAMES), expr(g, 2)),
        3 => format!(
            "{} {} {};",
            g.pick(&["x", "xs[0]", "p.x", "a.b[1].c"]),
            g.pick(&["=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", ">>="]),
            expr(g, 2)
        ),
        4 => format!("{};", stmt_expr(g, 3)),
        5 => format!("while {} {{ {} }}", expr(g, 2), block_body(g, d)),
        6 => format!(
            "for i in {}..{} {{ {} }}",
            expr(g, 1),
            expr(g, 1),
            block_body(g, d)
        ),
        7 => format!("loop {{ break; {} }}", block_body(g, d)),
        8 => format!(
            "if {} {{ {} }} else if {} {{ }} else {{ {} }}",
            expr(g, 2),
            block_body(g, d),
            expr(g, 1),
            block_body(g, d)
        ),
        9 => format!("{{ {} }}", block_body(g, d)),
        10 => g.pick(&["return;", "continue;", "break;", ";"]).to_string(),
        _ => format!("return {};", expr(g, 2)),
    }
}

fn block_body(g: &mut Gen, depth: u32) -> String {
    if depth == 0 {
        return String::new();
    }
    let mut out: Vec<String> = (0..g.below(4)).map(|_| stmt(g, depth)).collect();
    if g.below(2) == 0 {
        out.push(stmt_expr(g, 2));
    }
    out.join("\n    ")
}

/// A syntactically valid program: items, top-level statements and perhaps a tail.
fn program(seed: u64) -> String {
    let mut g = Gen(seed);
    let mut out = String::new();
    for _ in 0..g.below(5) + 1 {
        let item = match g.below(6) {
            0 | 1 => format!(
                "fn {}(a: int, b: [[float]], c: P) -> {} {{\n    {}\n}}\n",
                g.pick(NAMES),
                g.pick(&["int", "[str]", "P"]),
                block_body(&mut g, 3)
            ),
            2 => "struct P { x: int, ys: [[float]], }\n".to_string(),
            3 => format!("global {}: int = {};\n", g.pick(NAMES), expr(&mut g, 2)),
            4 => format!("let {} = {};\n", g.pick(NAMES), expr(&mut g, 2)),
            _ => format!("{}\n", stmt(&mut g, 2)),
        };
        out.push_str(&item);
        if g.below(4) == 0 {
            out.push_str("// a comment\n");
        }
    }
    if g.below(2) == 0 {
        out.push_str(&stmt_expr(&mut g, 3));
    }
    out
}

/// Breaks a valid program in a few places: a token-like piece deleted, doubled or inserted.
fn mangle(src: &str, seed: u64) -> String {
    let mut g = Gen(seed);
    let mut s = src.to_string();
    for _ in 0..g.below(3) + 1 {
        if s.is_empty() {
            break;
        }
        let mut at = g.below(s.len());
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        match g.below(4) {
            0 => {
                let mut end = (at + 1 + g.below(3)).min(s.len());
                while !s.is_char_boundary(end) {
                    end += 1;
                }
                s.replace_range(at..end, "");
            }
            1 => {
                let piece = g.pick(&[
                    "(",
                    ")",
                    "[",
                    "]",
                    "{",
                    "}",
                    ";",
                    ",",
                    "=",
                    "+",
                    "let",
                    "fn",
                    "if",
                    "else",
                    "@",
                    "\"",
                    ".",
                    "..",
                    "<",
                    "9999999999999999999999",
                ]);
                s.insert_str(at, piece);
            }
            2 => s.insert(at, ' '),
            _ => {
                let piece = s[at..].chars().next().map(String::from).unwrap_or_default();
                s.insert_str(at, &piece);
            }
        }
    }
    s
}

/// The property: `parse` is the rich path's answer, and the fast path accepts exactly the
/// error-free inputs, with the same tree.
fn agree(src: &str) {
    let rich = parse_rich(src);
    let default = parse(src);
    assert_eq!(
        default, rich,
        "parse differs from the rich path for {src:?}"
    );
    let fast = parse_fast(src);
    if rich.1.is_empty() {
        assert_eq!(
            fast.as_ref(),
            rich.0.as_ref(),
            "the fast path's tree differs for {src:?}"
        );
    } else {
        assert!(
            fast.is_none(),
            "the fast path accepted input with errors {:?}: {src:?}",
            rich.1
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    #[test]
    fn valid_programs_give_the_same_tree(seed in any::<u64>()) {
        let src = program(seed);
        let (tree, diags) = parse_rich(&src);
        prop_assert!(diags.is_empty(), "generated program has errors {diags:?}: {src}");
        prop_assert!(tree.is_some());
        agree(&src);
    }

    #[test]
    fn broken_programs_give_the_rich_diagnostics(seed in any::<u64>(), damage in any::<u64>()) {
        agree(&mangle(&program(seed), damage));
    }
}

#[test]
fn known_inputs_agree() {
    for src in [
        "",
        "1 + 2 * 3",
        "a < b < c",
        "a == b | c == d && e < f < g",
        "fn f() { let x = 1 let y = 2; }",
        "fn f( { }",
        "print(1",
        "x = 5",
        "-9223372036854775808",
        "9223372036854775808",
        "struct P { x: int } let p = P { x: 1 }; p.x",
        "if x { y } else { z }",
        "let a = 1 @ 2;",
        "f(1 +); g([1, , 2]); h(3)",
        "xs[0] += 1; while true { break; }",
    ] {
        agree(src);
    }
}
