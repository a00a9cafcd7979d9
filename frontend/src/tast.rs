//! The typed syntax tree: what the type checker produces and the backend compiles.
//!
//! Names are resolved (locals are indices, globals and functions are names the session
//! resolves to cells and slots) and every expression carries its type.

use crate::ast::{BinOp, UnOp};
use crate::types::StructId;
use crate::{FnSig, Span, Type};
use std::collections::BTreeSet;

/// Index of a local variable in its function's `locals` table.
pub type LocalId = usize;

/// A local variable (parameters included).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalInfo {
    /// Source name (for IR readability).
    pub name: String,
    /// Its type (`Never` for a variable whose initializer diverges: it is never read).
    pub ty: Type,
}

/// The checked form of one source text.
#[derive(Clone, Debug, PartialEq)]
pub struct TProgram {
    /// Struct types this program names whose definition is not the session's: the `struct`
    /// items of the program (changed or not), and session structs re-derived because a struct
    /// they contain changed. The driver records them as the session's current definitions.
    pub structs: Vec<TStruct>,
    /// Function definitions, in source order.
    pub fns: Vec<TFn>,
    /// The top-level code (global declarations, lets, statements), in source order.
    pub top: TTop,
}

/// A struct type as this program defines it.
#[derive(Clone, Debug, PartialEq)]
pub struct TStruct {
    /// The struct's name.
    pub name: String,
    /// The (interned) type.
    pub id: StructId,
    /// The `struct` item, or `None` for a session struct re-derived because a struct it
    /// contains changed.
    pub span: Option<Span>,
}

/// A checked function definition.
#[derive(Clone, Debug, PartialEq)]
pub struct TFn {
    /// The function's name.
    pub name: String,
    /// Span of the name.
    pub name_span: Span,
    /// Span of the whole item (its text is the version's source).
    pub span: Span,
    /// The signature.
    pub sig: FnSig,
    /// Locals; the first `sig.params.len()` entries are the parameters, in order.
    pub locals: Vec<LocalInfo>,
    /// The body; its type is `sig.ret` or `Never`.
    pub body: TBlock,
    /// User functions this body calls (for signature-change checks).
    pub calls: BTreeSet<String>,
    /// Globals this body reads or writes (for global type-change checks).
    pub globals: BTreeSet<String>,
    /// Structs this function uses (in its signature, the type of any expression or local,
    /// or the type of a global it touches), closed over the structs they contain.
    pub structs: BTreeSet<String>,
}

/// The top-level code of a program, run once after its functions are installed.
#[derive(Clone, Debug, PartialEq)]
pub struct TTop {
    /// Locals declared inside top-level blocks (`for` variables, `let` inside `{}`).
    pub locals: Vec<LocalInfo>,
    /// In source order.
    pub items: Vec<TTopItem>,
    /// User functions the top-level code calls.
    pub calls: BTreeSet<String>,
    /// Globals the top-level code reads or writes.
    pub globals: BTreeSet<String>,
    /// Structs the top-level code uses (as for [`TFn::structs`]).
    pub structs: BTreeSet<String>,
}

/// One step of top-level code.
#[derive(Clone, Debug, PartialEq)]
pub enum TTopItem {
    /// `global NAME: T = init;` (`is_let == false`) or top-level `let` (`is_let == true`).
    /// The driver decides whether a `global` runs its initializer (only when it defines it).
    Global {
        /// `true` for top-level `let`.
        is_let: bool,
        /// The global.
        name: String,
        /// Span of the name.
        name_span: Span,
        /// Its type (declared or inferred).
        ty: Type,
        /// Initializer.
        init: TExpr,
        /// The whole declaration.
        span: Span,
    },
    /// A statement.
    Stmt(TStmt),
    /// The final expression of the input written without `;`; printed if not unit.
    Tail(TExpr),
}

/// A checked block.
#[derive(Clone, Debug, PartialEq)]
pub struct TBlock {
    /// Statements in order.
    pub stmts: Vec<TStmt>,
    /// Value of the block.
    pub tail: Option<Box<TExpr>>,
    /// `tail`'s type, `Unit` without a tail, or `Never` if a statement diverges.
    pub ty: Type,
    /// Where.
    pub span: Span,
}

/// A checked statement.
#[derive(Clone, Debug, PartialEq)]
pub enum TStmt {
    /// `let`: store `init` into a fresh local.
    Let {
        /// The local being declared.
        local: LocalId,
        /// Initializer.
        init: TExpr,
    },
    /// Assignment, possibly compound (`op` is the arithmetic operator).
    Assign {
        /// What is assigned.
        target: TPlace,
        /// Compound operator (`+=` gives `Some(Add)`).
        op: Option<BinOp>,
        /// The value (for compound assignments, the right operand).
        value: TExpr,
        /// The whole statement (for runtime error locations of `/=` and `%=`).
        span: Span,
    },
    /// Expression statement (value discarded).
    Expr(TExpr),
}

/// An assignable place.
#[derive(Clone, Debug, PartialEq)]
pub enum TPlace {
    /// A local variable.
    Local(LocalId),
    /// A global variable.
    Global(String),
    /// `array[index]`; `array` has an array type.
    Index(Box<TExpr>, Box<TExpr>),
    /// `value.field`; `value` has a struct type, the field is given by its index.
    Field(Box<TExpr>, usize),
}

/// A checked expression.
#[derive(Clone, Debug, PartialEq)]
pub struct TExpr {
    /// What kind.
    pub kind: TExprKind,
    /// Its type.
    pub ty: Type,
    /// Where (runtime errors are reported here).
    pub span: Span,
}

/// The builtins (their names are reserved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// `print(...)`
    Print,
    /// `len(xs) -> int`
    Len,
    /// `float(i) -> float`
    Float,
    /// `int(f) -> int` (toward zero, saturating, NaN gives 0)
    Int,
    /// `sqrt(f) -> float`
    Sqrt,
    /// `time_ns() -> int`
    TimeNs,
    /// `sleep_ms(ms)`
    SleepMs,
    /// `rand(n) -> int`
    Rand,
    /// `seed(s)`
    Seed,
    /// `copy(v) -> same type` (array or struct, shallow)
    Copy,
    /// `assert(c)`
    Assert,
    /// `str(v) -> str` (the text `print` writes)
    Str,
    /// `parse_int(s) -> int`
    ParseInt,
    /// `parse_float(s) -> float`
    ParseFloat,
    /// `find(s, pat) -> int`
    Find,
    /// `split(s, sep) -> [str]`
    Split,
    /// `join(xs, sep) -> str`
    Join,
    /// `trim(s) -> str`
    Trim,
    /// `chr(b) -> str`
    Chr,
    /// `fixed(f, digits) -> str`
    Fixed,
    /// `abs(x)` (int or float)
    Abs,
    /// `min(a, b)` (two ints or two floats)
    Min,
    /// `max(a, b)` (two ints or two floats)
    Max,
    /// `read_line() -> str`
    ReadLine,
    /// `args() -> [str]`
    Args,
    /// `read_file(path) -> str`
    ReadFile,
    /// `write_file(path, s)`
    WriteFile,
}

impl Builtin {
    /// Every builtin, for name lookup.
    pub const ALL: [Builtin; 27] = [
        Builtin::Print,
        Builtin::Len,
        Builtin::Float,
        Builtin::Int,
        Builtin::Sqrt,
        Builtin::TimeNs,
        Builtin::SleepMs,
        Builtin::Rand,
        Builtin::Seed,
        Builtin::Copy,
        Builtin::Assert,
        Builtin::Str,
        Builtin::ParseInt,
        Builtin::ParseFloat,
        Builtin::Find,
        Builtin::Split,
        Builtin::Join,
        Builtin::Trim,
        Builtin::Chr,
        Builtin::Fixed,
        Builtin::Abs,
        Builtin::Min,
        Builtin::Max,
        Builtin::ReadLine,
        Builtin::Args,
        Builtin::ReadFile,
        Builtin::WriteFile,
    ];

    /// The reserved name.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Print => "print",
            Builtin::Len => "len",
            Builtin::Float => "float",
            Builtin::Int => "int",
            Builtin::Sqrt => "sqrt",
            Builtin::TimeNs => "time_ns",
            Builtin::SleepMs => "sleep_ms",
            Builtin::Rand => "rand",
            Builtin::Seed => "seed",
            Builtin::Copy => "copy",
            Builtin::Assert => "assert",
            Builtin::Str => "str",
            Builtin::ParseInt => "parse_int",
            Builtin::ParseFloat => "parse_float",
            Builtin::Find => "find",
            Builtin::Split => "split",
            Builtin::Join => "join",
            Builtin::Trim => "trim",
            Builtin::Chr => "chr",
            Builtin::Fixed => "fixed",
            Builtin::Abs => "abs",
            Builtin::Min => "min",
            Builtin::Max => "max",
            Builtin::ReadLine => "read_line",
            Builtin::Args => "args",
            Builtin::ReadFile => "read_file",
            Builtin::WriteFile => "write_file",
        }
    }

    /// Looks a builtin up by name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Parameter and result types, for the builtins with one fixed signature; `None` for the
    /// ones the checker types by hand (`print` takes anything, `len`, `copy`, `str`, `abs`,
    /// `min` and `max` several types).
    pub fn signature(self) -> Option<(&'static [Type], Type)> {
        const S: Type = Type::Str;
        const STRS: Type = Type::Array(crate::Elem::STR);
        Some(match self {
            Builtin::Print
            | Builtin::Len
            | Builtin::Copy
            | Builtin::Str
            | Builtin::Abs
            | Builtin::Min
            | Builtin::Max => return None,
            Builtin::Float => (&[Type::Int], Type::Float),
            Builtin::Int => (&[Type::Float], Type::Int),
            Builtin::Sqrt => (&[Type::Float], Type::Float),
            Builtin::TimeNs => (&[], Type::Int),
            Builtin::SleepMs | Builtin::Seed => (&[Type::Int], Type::Unit),
            Builtin::Rand => (&[Type::Int], Type::Int),
            Builtin::Assert => (&[Type::Bool], Type::Unit),
            Builtin::ParseInt => (&[S], Type::Int),
            Builtin::ParseFloat => (&[S], Type::Float),
            Builtin::Find => (&[S, S], Type::Int),
            Builtin::Split => (&[S, S], STRS),
            Builtin::Join => (&[STRS, S], S),
            Builtin::Trim => (&[S], S),
            Builtin::Chr => (&[Type::Int], S),
            Builtin::Fixed => (&[Type::Float, Type::Int], S),
            Builtin::ReadLine => (&[], S),
            Builtin::Args => (&[], STRS),
            Builtin::ReadFile => (&[S], S),
            Builtin::WriteFile => (&[S, S], Type::Unit),
        })
    }
}

/// Kinds of checked expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum TExprKind {
    /// Integer constant.
    Int(i64),
    /// Float constant.
    Float(f64),
    /// Bool constant.
    Bool(bool),
    /// String literal (its bytes).
    Str(Vec<u8>),
    /// The unit value (e.g. an empty block's value or `()`-typed variable read).
    Unit,
    /// Read a local.
    Local(LocalId),
    /// Read a global.
    Global(String),
    /// Unary operation; operand type is `operand.ty`.
    Unary(UnOp, Box<TExpr>),
    /// Binary operation (including short-circuit `&&`/`||`); operands have equal types.
    Binary(BinOp, Box<TExpr>, Box<TExpr>),
    /// Call of a user function through its slot.
    Call(String, Vec<TExpr>),
    /// `print(...)`: values of any type (unit prints as `()`).
    Print(Vec<TExpr>),
    /// Any other builtin, arguments checked.
    Builtin(Builtin, Vec<TExpr>),
    /// `a[i]` on an array (element) or a str (byte as int).
    Index(Box<TExpr>, Box<TExpr>),
    /// `s[a..b]` on a str.
    Slice(Box<TExpr>, Box<TExpr>, Box<TExpr>),
    /// `value.field` (field index into the struct of `value.ty`).
    Field(Box<TExpr>, usize),
    /// `Name { ... }`: every field, as (field index, value) in the order written (values are
    /// evaluated in that order).
    StructLit(StructId, Vec<(usize, TExpr)>),
    /// `[a, b, c]`, or `[]` with no elements (type from the context).
    ArrayList(Vec<TExpr>),
    /// `[e; n]`
    ArrayRepeat(Box<TExpr>, Box<TExpr>),
    /// `if c { then } else { els }`; `els` is a `Block` or `If` expression.
    If(Box<TExpr>, TBlock, Option<Box<TExpr>>),
    /// `while c { body }`
    While(Box<TExpr>, TBlock),
    /// `loop { body }` (type `!` unless a `break` leaves it)
    Loop(TBlock),
    /// `for var in start..end { body }`
    For(LocalId, Box<TExpr>, Box<TExpr>, TBlock),
    /// `{ ... }`
    Block(TBlock),
    /// `return e?`
    Return(Option<Box<TExpr>>),
    /// `break`
    Break,
    /// `continue`
    Continue,
}

/// Calls `f` on every expression of `b`, outermost first (places' sub-expressions included).
pub fn visit_block(b: &TBlock, f: &mut dyn FnMut(&TExpr)) {
    for s in &b.stmts {
        visit_stmt(s, f);
    }
    if let Some(t) = &b.tail {
        visit_expr(t, f);
    }
}

/// Calls `f` on every expression of `s`, outermost first.
pub fn visit_stmt(s: &TStmt, f: &mut dyn FnMut(&TExpr)) {
    match s {
        TStmt::Let { init, .. } => visit_expr(init, f),
        TStmt::Assign { target, value, .. } => {
            match target {
                TPlace::Local(_) | TPlace::Global(_) => {}
                TPlace::Index(a, i) => {
                    visit_expr(a, f);
                    visit_expr(i, f);
                }
                TPlace::Field(a, _) => visit_expr(a, f),
            }
            visit_expr(value, f);
        }
        TStmt::Expr(e) => visit_expr(e, f),
    }
}

/// Calls `f` on `e` and every expression inside it, outermost first.
pub fn visit_expr(e: &TExpr, f: &mut dyn FnMut(&TExpr)) {
    f(e);
    match &e.kind {
        TExprKind::Int(_)
        | TExprKind::Float(_)
        | TExprKind::Bool(_)
        | TExprKind::Str(_)
        | TExprKind::Unit
        | TExprKind::Local(_)
        | TExprKind::Global(_)
        | TExprKind::Break
        | TExprKind::Continue => {}
        TExprKind::Unary(_, a) | TExprKind::Field(a, _) => visit_expr(a, f),
        TExprKind::Binary(_, a, b) | TExprKind::Index(a, b) | TExprKind::ArrayRepeat(a, b) => {
            visit_expr(a, f);
            visit_expr(b, f);
        }
        TExprKind::Slice(a, b, c) => {
            visit_expr(a, f);
            visit_expr(b, f);
            visit_expr(c, f);
        }
        TExprKind::Call(_, xs)
        | TExprKind::Print(xs)
        | TExprKind::Builtin(_, xs)
        | TExprKind::ArrayList(xs) => {
            for x in xs {
                visit_expr(x, f);
            }
        }
        TExprKind::StructLit(_, fields) => {
            for (_, x) in fields {
                visit_expr(x, f);
            }
        }
        TExprKind::If(c, t, els) => {
            visit_expr(c, f);
            visit_block(t, f);
            if let Some(e) = els {
                visit_expr(e, f);
            }
        }
        TExprKind::While(c, b) => {
            visit_expr(c, f);
            visit_block(b, f);
        }
        TExprKind::Loop(b) | TExprKind::Block(b) => visit_block(b, f),
        TExprKind::For(_, a, b, body) => {
            visit_expr(a, f);
            visit_expr(b, f);
            visit_block(body, f);
        }
        TExprKind::Return(v) => {
            if let Some(v) = v {
                visit_expr(v, f);
            }
        }
    }
}
