//! The fuzzer's own syntax tree (independent of the project's frontend) and its printer.
//!
//! Every expression node that is not a literal carries its static type, so the shrinker can
//! replace any expression by a simpler one of the same type without a type checker. To grow
//! the language (strings, structs, nested arrays, `loop`), add a variant here, a case to the
//! printer, to `eval.rs`, to the shrinker's walks and to the typed generator in `gen.rs`.

use std::fmt::{self, Write as _};

/// A value type of the source language (unit is "no type": `Option<Ty>` where it can occur).
#[derive(Clone, Debug, PartialEq)]
pub enum Ty {
    Int,
    Float,
    Bool,
    /// `str` (the generator makes printable ASCII only, so stdout stays text).
    Str,
    /// `[T]` for any `T`, arrays and structs included.
    Array(Box<Ty>),
    /// A struct, by name (its definition is in [`Program::structs`]).
    Struct(String),
}

impl Ty {
    /// Whether a value of this type holds a struct inside an array (`[S]`, `[[S]]`): a field of
    /// such a type may lead back to its own struct, so literals give it `[]`.
    pub fn struct_in_array(&self) -> bool {
        fn has_struct(t: &Ty) -> bool {
            match t {
                Ty::Struct(_) => true,
                Ty::Array(e) => has_struct(e),
                _ => false,
            }
        }
        matches!(self, Ty::Array(e) if has_struct(e))
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::Int => f.write_str("int"),
            Ty::Float => f.write_str("float"),
            Ty::Bool => f.write_str("bool"),
            Ty::Str => f.write_str("str"),
            Ty::Array(t) => write!(f, "[{t}]"),
            Ty::Struct(n) => f.write_str(n),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Shl,
    Shr,
    BitAnd,
    BitXor,
    BitOr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Shl => "<<",
            BinOp::Shr => ">>",
            BinOp::BitAnd => "&",
            BinOp::BitXor => "^",
            BinOp::BitOr => "|",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::And => "&&",
            BinOp::Or => "||",
        }
    }

    /// Whether the result has the operands' type (arithmetic, bitwise, `&&`, `||`).
    pub fn keeps_type(self) -> bool {
        !matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge
        )
    }
}

/// Builtin functions that produce a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builtin {
    Len,
    Float,
    Int,
    Sqrt,
    Copy,
    /// `abs` of an int (wrapping: `abs(MIN)` is MIN) or a float.
    Abs,
    /// `str(v)`: the text `print` writes for `v`.
    ToStr,
    /// `trim(s)`: without ASCII whitespace at both ends.
    Trim,
}

impl Builtin {
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Len => "len",
            Builtin::Float => "float",
            Builtin::Int => "int",
            Builtin::Sqrt => "sqrt",
            Builtin::Copy => "copy",
            Builtin::Abs => "abs",
            Builtin::ToStr => "str",
            Builtin::Trim => "trim",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A str literal (printable ASCII, `\n` and `\t`).
    Str(Vec<u8>),
    Var(String, Ty),
    Unary(UnOp, Box<Expr>, Ty),
    Binary(BinOp, Box<Expr>, Box<Expr>, Ty),
    /// A user function returning a value.
    Call(String, Vec<Expr>, Ty),
    Builtin(Builtin, Box<Expr>, Ty),
    /// `a[i]`: the element type.
    Index(Box<Expr>, Box<Expr>, Ty),
    /// `[a, b]`: the array type (`[]` only where the type comes from the context: a struct
    /// field, an assignment).
    List(Vec<Expr>, Ty),
    /// `[e; n]`: the array type.
    Repeat(Box<Expr>, Box<Expr>, Ty),
    /// `if c { .. } else { .. }` as a value.
    If(Box<Expr>, Block, Block, Ty),
    /// `{ stmts; tail }` as a value.
    Block(Block, Ty),
    /// `return e` standing where a value of the given type is expected (it diverges).
    Return(Option<Box<Expr>>, Ty),
    /// `S { f: e, ... }`: every field once, in the order given (any order is valid).
    StructLit(String, Vec<(String, Expr)>, Ty),
    /// `e.f`: the field's type.
    Field(Box<Expr>, String, Ty),
}

impl Expr {
    pub fn ty(&self) -> Ty {
        match self {
            Expr::Int(_) => Ty::Int,
            Expr::Float(_) => Ty::Float,
            Expr::Bool(_) => Ty::Bool,
            Expr::Str(_) => Ty::Str,
            Expr::Var(_, t)
            | Expr::Unary(_, _, t)
            | Expr::Binary(_, _, _, t)
            | Expr::Call(_, _, t)
            | Expr::Builtin(_, _, t)
            | Expr::Index(_, _, t)
            | Expr::List(_, t)
            | Expr::Repeat(_, _, t)
            | Expr::If(_, _, _, t)
            | Expr::Block(_, t)
            | Expr::Return(_, t)
            | Expr::StructLit(_, _, t)
            | Expr::Field(_, _, t) => t.clone(),
        }
    }
}

/// An assignment target: a variable, or an element or field of the value an expression gives
/// (`a[i][j] = e` is `Index(a[i], j)`, `ps[k].x += e` is `Field(ps[k], x)`).
#[derive(Clone, Debug, PartialEq)]
pub enum Place {
    Var(String),
    Index(Box<Expr>, Box<Expr>),
    Field(Box<Expr>, String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum PrintArg {
    Label(&'static str),
    Expr(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Stmt {
    /// `let x[: T] = e;` (the bool: whether to write the annotation)
    Let(String, Ty, bool, Expr),
    Assign(Place, Option<BinOp>, Expr),
    /// `f(args);` (any return type, including unit)
    Call(String, Vec<Expr>),
    If(Expr, Block, Option<Block>),
    While(Expr, Block),
    /// `loop { .. }`: the generator always bounds it with a counter.
    Loop(Block),
    For(String, Expr, Expr, Block),
    Print(Vec<PrintArg>),
    Assert(Expr),
    Return(Option<Expr>),
    Break,
    Continue,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub tail: Option<Box<Expr>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    pub name: String,
    pub params: Vec<(String, Ty)>,
    pub ret: Option<Ty>,
    pub body: Block,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `global g[: T] = e;` (`is_let == false`) or top-level `let g[: T] = e;`.
    Global {
        is_let: bool,
        name: String,
        ty: Ty,
        annotate: bool,
        init: Expr,
    },
    Stmt(Stmt),
}

/// `struct NAME { field: T, ... }`
#[derive(Clone, Debug, PartialEq)]
pub struct StructDef {
    pub name: String,
    pub fields: Vec<(String, Ty)>,
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    pub structs: Vec<StructDef>,
    pub fns: Vec<FnDef>,
    pub items: Vec<Item>,
}

// ---------------------------------------------------------------- printer

fn int_lit(out: &mut String, v: i64) {
    if v == i64::MIN {
        out.push_str("(-9223372036854775808)");
    } else if v < 0 {
        let _ = write!(out, "({v})");
    } else {
        let _ = write!(out, "{v}");
    }
}

fn float_lit(out: &mut String, v: f64) {
    // Only finite values are ever literals; `{:?}` gives `1.5`, `1e100`, `1e-7`, all valid.
    let s = format!("{:?}", v.abs());
    if v.is_sign_negative() {
        let _ = write!(out, "(-{s})");
    } else {
        out.push_str(&s);
    }
}

pub fn expr(out: &mut String, e: &Expr) {
    expr_in(out, e, false)
}

/// An expression; `cond` when it stands in the condition of `if`/`while` or a `for` range,
/// where a struct literal needs parentheses (at any depth, which is always valid).
fn expr_in(out: &mut String, e: &Expr, cond: bool) {
    let expr = |out: &mut String, e: &Expr| expr_in(out, e, cond);
    match e {
        Expr::Int(v) => int_lit(out, *v),
        Expr::Str(bytes) => {
            out.push('"');
            for &b in bytes {
                match b {
                    b'"' => out.push_str("\\\""),
                    b'\\' => out.push_str("\\\\"),
                    b'\n' => out.push_str("\\n"),
                    b'\t' => out.push_str("\\t"),
                    _ => out.push(b as char),
                }
            }
            out.push('"');
        }
        Expr::Float(v) => float_lit(out, *v),
        Expr::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Expr::Var(n, _) => out.push_str(n),
        Expr::Unary(op, a, _) => {
            out.push_str(if *op == UnOp::Neg { "(-" } else { "(!" });
            expr(out, a);
            out.push(')');
        }
        Expr::Binary(op, a, b, _) => {
            out.push('(');
            expr(out, a);
            let _ = write!(out, " {} ", op.as_str());
            expr(out, b);
            out.push(')');
        }
        Expr::Call(f, args, _) => call(out, f, args),
        Expr::Builtin(b, a, _) => call(out, b.name(), std::slice::from_ref(a)),
        Expr::Index(a, i, _) => {
            expr(out, a);
            out.push('[');
            expr(out, i);
            out.push(']');
        }
        Expr::List(xs, _) => {
            out.push('[');
            for (k, x) in xs.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                expr(out, x);
            }
            out.push(']');
        }
        Expr::Repeat(x, n, _) => {
            out.push('[');
            expr(out, x);
            out.push_str("; ");
            expr(out, n);
            out.push(']');
        }
        Expr::If(c, t, f, _) => {
            out.push_str("(if ");
            expr_in(out, c, true);
            out.push(' ');
            inline_block(out, t);
            out.push_str(" else ");
            inline_block(out, f);
            out.push(')');
        }
        Expr::Block(b, _) => {
            out.push('(');
            inline_block(out, b);
            out.push(')');
        }
        Expr::Return(v, _) => {
            out.push_str("(return");
            if let Some(v) = v {
                out.push(' ');
                expr(out, v);
            }
            out.push(')');
        }
        Expr::StructLit(name, fields, _) => {
            if cond {
                out.push('(');
            }
            let _ = write!(out, "{name} {{ ");
            for (k, (f, x)) in fields.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{f}: ");
                expr(out, x);
            }
            out.push_str(" }");
            if cond {
                out.push(')');
            }
        }
        Expr::Field(b, f, _) => {
            expr(out, b);
            let _ = write!(out, ".{f}");
        }
    }
}

fn call(out: &mut String, f: &str, args: &[Expr]) {
    out.push_str(f);
    out.push('(');
    for (k, a) in args.iter().enumerate() {
        if k > 0 {
            out.push_str(", ");
        }
        expr(out, a);
    }
    out.push(')');
}

/// A block on one line (inside expressions).
fn inline_block(out: &mut String, b: &Block) {
    out.push('{');
    for s in &b.stmts {
        out.push(' ');
        let mut t = String::new();
        stmt(&mut t, s, 0);
        out.push_str(&t.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    if let Some(t) = &b.tail {
        out.push(' ');
        expr(out, t);
    }
    out.push_str(" }");
}

fn indent(out: &mut String, level: usize) {
    for _ in 0..level {
        out.push_str("    ");
    }
}

/// A block over several lines; `level` is the indentation of its closing brace.
fn block(out: &mut String, b: &Block, level: usize) {
    out.push_str("{\n");
    for s in &b.stmts {
        indent(out, level + 1);
        stmt(out, s, level + 1);
        out.push('\n');
    }
    if let Some(t) = &b.tail {
        indent(out, level + 1);
        expr(out, t);
        out.push('\n');
    }
    indent(out, level);
    out.push('}');
}

fn stmt(out: &mut String, s: &Stmt, level: usize) {
    match s {
        Stmt::Let(n, t, ann, e) => {
            let _ = write!(out, "let {n}");
            if *ann {
                let _ = write!(out, ": {t}");
            }
            out.push_str(" = ");
            expr(out, e);
            out.push(';');
        }
        Stmt::Assign(p, op, e) => {
            match p {
                Place::Var(n) => out.push_str(n),
                Place::Index(a, i) => {
                    expr(out, a);
                    out.push('[');
                    expr(out, i);
                    out.push(']');
                }
                Place::Field(b, f) => {
                    expr(out, b);
                    let _ = write!(out, ".{f}");
                }
            }
            let _ = write!(out, " {}= ", op.map_or("", BinOp::as_str));
            expr(out, e);
            out.push(';');
        }
        Stmt::Call(f, args) => {
            call(out, f, args);
            out.push(';');
        }
        Stmt::If(c, t, f) => {
            out.push_str("if ");
            expr_in(out, c, true);
            out.push(' ');
            block(out, t, level);
            if let Some(f) = f {
                out.push_str(" else ");
                block(out, f, level);
            }
        }
        Stmt::While(c, b) => {
            out.push_str("while ");
            expr_in(out, c, true);
            out.push(' ');
            block(out, b, level);
        }
        Stmt::Loop(b) => {
            out.push_str("loop ");
            block(out, b, level);
        }
        Stmt::For(v, lo, hi, b) => {
            let _ = write!(out, "for {v} in ");
            expr_in(out, lo, true);
            out.push_str("..");
            expr_in(out, hi, true);
            out.push(' ');
            block(out, b, level);
        }
        Stmt::Print(args) => {
            out.push_str("print(");
            for (k, a) in args.iter().enumerate() {
                if k > 0 {
                    out.push_str(", ");
                }
                match a {
                    PrintArg::Label(l) => {
                        let _ = write!(out, "\"{l}\"");
                    }
                    PrintArg::Expr(e) => expr(out, e),
                }
            }
            out.push_str(");");
        }
        Stmt::Assert(c) => {
            out.push_str("assert(");
            expr(out, c);
            out.push_str(");");
        }
        Stmt::Return(v) => {
            out.push_str("return");
            if let Some(v) = v {
                out.push(' ');
                expr(out, v);
            }
            out.push(';');
        }
        Stmt::Break => out.push_str("break;"),
        Stmt::Continue => out.push_str("continue;"),
    }
}

/// The program as source text.
pub fn program(p: &Program) -> String {
    let mut out = String::new();
    for s in &p.structs {
        let _ = write!(out, "struct {} {{ ", s.name);
        for (k, (f, t)) in s.fields.iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{f}: {t}");
        }
        out.push_str(" }\n");
    }
    for f in &p.fns {
        let _ = write!(out, "fn {}(", f.name);
        for (k, (n, t)) in f.params.iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "{n}: {t}");
        }
        out.push(')');
        if let Some(t) = &f.ret {
            let _ = write!(out, " -> {t}");
        }
        out.push(' ');
        block(&mut out, &f.body, 0);
        out.push('\n');
    }
    for it in &p.items {
        match it {
            Item::Global {
                is_let,
                name,
                ty,
                annotate,
                init,
            } => {
                let _ = write!(out, "{} {name}", if *is_let { "let" } else { "global" });
                if *annotate {
                    let _ = write!(out, ": {ty}");
                }
                out.push_str(" = ");
                expr(&mut out, init);
                out.push(';');
            }
            Item::Stmt(s) => stmt(&mut out, s, 0),
        }
        out.push('\n');
    }
    out
}
