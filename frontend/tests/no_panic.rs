//! Property test: the front end never panics, whatever the input, and every diagnostic it
//! reports points inside the source.

use livejit_frontend::typeck::Env;
use livejit_frontend::types::{StructDef, StructId};
use livejit_frontend::{compile_front, FnSig, Type};
use proptest::prelude::*;

/// A session that knows one function and one global, so that both paths of name lookup run.
struct DummyEnv;

impl Env for DummyEnv {
    fn function(&self, name: &str) -> Option<FnSig> {
        (name == "old").then(|| FnSig {
            params: vec![Type::Int],
            ret: Type::Int,
        })
    }
    fn global(&self, name: &str) -> Option<Type> {
        (name == "g").then_some(Type::Float)
    }
    fn structure(&self, name: &str) -> Option<StructId> {
        // A session struct, so that re-deriving session structs runs too.
        (name == "P").then(|| {
            StructId::intern(StructDef {
                name: "P".into(),
                fields: vec![("x".into(), Type::Int)],
            })
        })
    }
}

/// Runs the whole front end and checks the diagnostics' spans.
fn check(src: &str) {
    if let Err(diags) = compile_front(src, &DummyEnv) {
        assert!(!diags.is_empty(), "Err without diagnostics for {src:?}");
        for d in &diags {
            assert!(!d.message.is_empty(), "empty message for {src:?}");
            for l in &d.labels {
                assert!(
                    l.span.start <= l.span.end && l.span.end <= src.len(),
                    "span {:?} outside the source ({} bytes) in {d:?} for {src:?}",
                    l.span,
                    src.len()
                );
                assert!(src.is_char_boundary(l.span.start) && src.is_char_boundary(l.span.end));
            }
        }
    }
}

/// Tokens of the language (and a few near misses), to build inputs that get deep into the
/// parser and the checker rather than failing at the first character.
const TOKENS: &[&str] = &[
    "fn",
    "let",
    "global",
    "if",
    "else",
    "while",
    "for",
    "in",
    "break",
    "continue",
    "return",
    "true",
    "false",
    "x",
    "y",
    "xs",
    "f",
    "g",
    "old",
    "print",
    "len",
    "float",
    "int",
    "sqrt",
    "copy",
    "assert",
    "bool",
    "0",
    "1",
    "42",
    "9223372036854775807",
    "9223372036854775808",
    "99999999999999999999999",
    "1.5",
    "2e10",
    "1.5e-3",
    "\"s\"",
    "\"a\\n\"",
    "\"bad\\q\"",
    "\"open",
    "\"\\xff\\x0\"",
    "\"\\x4",
    "struct",
    "loop",
    "P",
    "Node",
    "str",
    "kids",
    ".x",
    ".",
    "&=",
    "|=",
    "^=",
    "<<=",
    ">>=",
    "[]",
    "find",
    "split",
    "join",
    "abs",
    "min",
    "fixed",
    "read_line",
    "trim",
    "chr",
    "parse_int",
    "parse_float",
    "max",
    "args",
    "read_file",
    "write_file",
    "time_ns",
    "\"\\t\\r\\0\\\"\\\\\"",
    "\"multi\nline\"",
    "\"\\x",
    "\"\\",
    "\"\\xZZ\"",
    "..=",
    "[[",
    "]]",
    "[[int]]",
    "[P]",
    "P {",
    "x:",
    ".kids[0]",
    ".0",
    "..",
    "->",
    "+=",
    "-=",
    "*=",
    "/=",
    "%=",
    "<<",
    ">>",
    "<=",
    ">=",
    "==",
    "!=",
    "&&",
    "||",
    "+",
    "-",
    "*",
    "/",
    "%",
    "<",
    ">",
    "=",
    "!",
    "&",
    "|",
    "^",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ";",
    ":",
    "// c\n",
    "@",
    "é",
    ".",
    "\n",
];

/// Fragments of valid programs, so that soups also contain well-formed stretches.
const FRAGMENTS: &[&str] = &[
    "fn f(a: int, b: [float]) -> int { let x = a * 2; if x > 1 { x } else { len(b) } }",
    "global h: int = 0;",
    "let xs = [1, 2, 3];",
    "for i in 0..len(xs) { xs[i] += 1; }",
    "while true { break; }",
    "print(\"v\", 1, 2.5, true, xs);",
    "x = -9223372036854775808;",
    "{ let t = [0.0; 4]; t[0] = sqrt(2.0); }",
    "return;",
    "struct P { x: float, y: float }",
    "struct Node { val: int, kids: [Node] }",
    "let p = P { x: 1.0, y: 2.0 };",
    "p.x += 1.0;",
    "let g: [[int]] = [[0; 3]; 4]; g[1][2] = 5;",
    "let n = Node { val: 1, kids: [] };",
    "n.kids = [Node { val: 2, kids: [] }];",
    "let s: str = \"ab\" + str(1); s = s[0..1];",
    "loop { if find(s, \"a\") < 0 { break; } }",
    "if (P { x: 1.0, y: 2.0 }).x > 0.0 { }",
    "let e: [str] = []; join(split(\"a,b\", \",\"), \"-\");",
    "struct A { bs: [B], n: int } struct B { as_: [A], a: A }",
    "struct C { c: C }",
    "a.bs[0].as_ = [a];",
    "let t = \"tab\\tcr\\rnul\\0q\\\"bs\\\\hex\\x41\\xff\";",
    "let m = \"spans\nlines\";",
    "struct E { }",
    "struct D { x: int, x: float }",
    "struct U { v: Missing }",
    "let q = P { x: 1.0, x: 2.0 };",
    "let q = P { y: 2.0 };",
    "let q = P { x: 1.0, y: 2.0, z: 3.0 };",
    "let i = 5; i.x = 1;",
    "let c = [[[0; 2]; 2]; 2]; c[1][0][1] += c[0][1][0];",
    "let ps: [P] = [P { x: 1.0, y: 2.0 }; 3]; ps[2].y *= 2.0;",
    "h -= 1; h *= 2; h /= 3; h %= 4; h &= 5; h |= 6; h ^= 7; h <<= 8; h >>= 9;",
    "s += \"x\"; s -= \"y\"; p.x %= 2.0; xs[0] <<= 1;",
    "loop { while true { break; } for i in 0..3 { continue; } break; }",
    "fn r() -> int { loop { return 1; } }",
    "fn b() { break; }",
    "if P { x: 1.0, y: 2.0 }.x > 0.0 { }",
    "s[0] = 1;",
    "let n2 = copy(n); print(n2, n2.kids, str(n2));",
    "let big = [[\"a\", \"b\"], []]; big[0][1] = big[1][0];",
];

/// A valid program using every part of the syntax, which `mutated_program_does_not_panic`
/// damages in small ways: most mutants get past the parser into the checker.
const PROGRAM: &str = r#"struct Node { val: int, name: str, kids: [Node], w: [[float]] }
struct Pair { a: Node, b: [Pair] }
global hits: int = 0;
global log: str = "";
fn walk(n: Node, depth: int) -> int {
    if depth <= 0 { return n.val; }
    let total = n.val;
    for i in 0..len(n.kids) { total += walk(n.kids[i], depth - 1); }
    total
}
fn spin(k: int) -> int {
    let c = 0;
    loop {
        c += 1;
        if c > k { return c; }
    }
}
let root = Node { val: 1, name: "r\t\"o\"\\ot\x41\xff\0\r\n", kids: [], w: [[0.5; 2]; 3] };
root.kids = [Node { kids: [], w: [], val: 2, name: "c" }, root];
root.w[1][0] += 1.5;
root.kids[0].val *= 3;
let p = Pair { a: copy(root), b: [] };
p.b = [p; 2];
p.b[1].a.name += "!";
hits += 1; hits -= 2; hits *= 3; hits /= 4; hits %= 5;
hits &= 6; hits |= 7; hits ^= 8; hits <<= 9; hits >>= 10;
log += str(root) + root.name[0..2] + chr(65) + fixed(2.5, 3) + trim(" x ");
let parts = split("a,b", ",");
let n = 0;
loop { n += 1; if n >= 3 { break; } else { continue; } }
while n > 0 { n -= 1; if (Pair { a: root, b: [] }).a.val > 5 { break; } }
print(walk(root, 3), spin(2), join(parts, "-"), find(log, "r"), parse_int("7"), abs(-1), min(1, 2), max(1.0, 2.0), len(log), log[0]);
"#;

/// One small damage to [`PROGRAM`]: a byte range (at char boundaries) replaced by a token or
/// deleted.
fn mutant() -> impl Strategy<Value = String> {
    let n = PROGRAM.len();
    (
        0..n,
        0usize..6,
        proptest::sample::select(TOKENS),
        proptest::bool::ANY,
    )
        .prop_map(move |(at, cut, tok, insert)| {
            let at = (0..=at)
                .rev()
                .find(|&i| PROGRAM.is_char_boundary(i))
                .unwrap_or(0);
            let end = ((at + cut).min(n)..=n)
                .find(|&i| PROGRAM.is_char_boundary(i))
                .unwrap_or(n);
            let put = if insert { tok } else { "" };
            format!("{}{}{}", &PROGRAM[..at], put, &PROGRAM[end..])
        })
}

fn soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => proptest::sample::select(TOKENS).prop_map(str::to_string),
        1 => proptest::sample::select(FRAGMENTS).prop_map(str::to_string),
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|ps| ps.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_do_not_panic(src in "\\PC{0,80}") {
        check(&src);
    }

    #[test]
    fn ascii_soup_does_not_panic(src in "[a-z0-9_ (){}\\[\\];,.:=+*/%<>!&|^\"\\\\-]{0,80}") {
        check(&src);
    }

    #[test]
    fn token_soup_does_not_panic(src in soup()) {
        check(&src);
    }

    #[test]
    fn mutated_program_does_not_panic(src in mutant()) {
        check(&src);
    }
}

/// The base of the mutants is itself valid, so that they test the checker, not only the
/// parser's recovery.
#[test]
fn the_mutation_base_is_valid() {
    let env = DummyEnv;
    if let Err(d) = compile_front(PROGRAM, &env) {
        panic!("{d:#?}");
    }
}

#[test]
fn deep_input_does_not_overflow_the_stack() {
    // On a small stack, as REPL threads may have.
    std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(|| {
            for src in [
                "(".repeat(10_000),
                format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)),
                "{".repeat(10_000),
                "-".repeat(20_000) + "1",
                "1".to_string() + &" + 1".repeat(20_000),
                "if true { } ".to_string() + &"else if true { } ".repeat(5_000),
                "return ".repeat(5_000),
                format!("{}1{}", "f(".repeat(190), ")".repeat(190)),
            ] {
                check(&src);
            }
        })
        .unwrap()
        .join()
        .unwrap();
}
