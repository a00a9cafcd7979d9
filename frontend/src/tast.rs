//! The typed syntax tree: what the type checker produces and the backend compiles.
//!
//! Names are resolved (locals are indices, globals and functions are names the session
//! resolves to cells and slots) and every expression carries its type.

use crate::ast::{BinOp, UnOp};
use crate::{FnSig, Span, Type};
use std::collections::BTreeSet;

/// Index of a local variable in its function's `locals` table.
pub type LocalId = usize;

/// A local variable (parameters included).
#[derive(Clone, Debug, PartialEq)]
pub struct LocalInfo {
    /// Source name (for IR readability).
    pub name: String,
    /// Its type (`Never` for a variable whose initializer diverges: it is never read; never
    /// `Error`, which no checked program contains).
    pub ty: Type,
}

/// The checked form of one source text.
#[derive(Clone, Debug, PartialEq)]
pub struct TProgram {
    /// Function definitions, in source order.
    pub fns: Vec<TFn>,
    /// The top-level code (global declarations, lets, statements), in source order.
    pub top: TTop,
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
    /// `copy(xs) -> same array type`
    Copy,
    /// `assert(c)`
    Assert,
}

impl Builtin {
    /// Every builtin, for name lookup.
    pub const ALL: [Builtin; 11] = [
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
        }
    }

    /// Looks a builtin up by name.
    pub fn from_name(name: &str) -> Option<Builtin> {
        Builtin::ALL.into_iter().find(|b| b.name() == name)
    }

    /// Parameter and result types, for the builtins with one fixed signature; `None` for the
    /// ones the checker types by hand (`print` takes anything, `len` and `copy` any array).
    pub fn signature(self) -> Option<(&'static [Type], Type)> {
        Some(match self {
            Builtin::Print | Builtin::Len | Builtin::Copy => return None,
            Builtin::Float => (&[Type::Int], Type::Float),
            Builtin::Int => (&[Type::Float], Type::Int),
            Builtin::Sqrt => (&[Type::Float], Type::Float),
            Builtin::TimeNs => (&[], Type::Int),
            Builtin::SleepMs | Builtin::Seed => (&[Type::Int], Type::Unit),
            Builtin::Rand => (&[Type::Int], Type::Int),
            Builtin::Assert => (&[Type::Bool], Type::Unit),
        })
    }
}

/// An argument of `print`: a value or a string literal.
#[derive(Clone, Debug, PartialEq)]
pub enum PrintArg {
    /// A value of any type (unit prints as `()`).
    Value(TExpr),
    /// A string literal, escapes already decoded (bytes: `\xHH` may make it non-UTF-8).
    Str(Vec<u8>),
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
    /// `print(...)`.
    Print(Vec<PrintArg>),
    /// Any other builtin, arguments checked.
    Builtin(Builtin, Vec<TExpr>),
    /// `a[i]`
    Index(Box<TExpr>, Box<TExpr>),
    /// `[a, b, c]`
    ArrayList(Vec<TExpr>),
    /// `[e; n]`
    ArrayRepeat(Box<TExpr>, Box<TExpr>),
    /// `if c { then } else { els }`; `els` is a `Block` or `If` expression.
    If(Box<TExpr>, TBlock, Option<Box<TExpr>>),
    /// `while c { body }`
    While(Box<TExpr>, TBlock),
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
