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
];

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
