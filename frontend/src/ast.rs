//! The untyped syntax tree produced by the parser.

use crate::Span;

/// A name with its location.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The identifier text.
    pub name: String,
    /// Where it was written.
    pub span: Span,
}

/// A written type annotation.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeAnn {
    /// The type as written; names are resolved by the checker.
    pub ty: TypeExpr,
    /// Where it was written.
    pub span: Span,
}

/// A type as written: a name (`int`, `str`, a struct) or an array of a type.
#[derive(Clone, Debug, PartialEq)]
pub enum TypeExpr {
    /// `int`, `float`, `bool`, `str` or a struct name.
    Named(Ident),
    /// `[T]`
    Array(Box<TypeExpr>),
    /// An annotation the parser could not read (already reported).
    Error,
}

impl std::fmt::Display for TypeExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TypeExpr::Named(n) => write!(f, "{}", n.name),
            TypeExpr::Array(t) => write!(f, "[{t}]"),
            TypeExpr::Error => write!(f, "?"),
        }
    }
}

/// One file or one REPL input: items and top-level statements in source order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    /// In source order.
    pub items: Vec<Item>,
}

/// A top-level element of a program.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `fn name(params) -> T { body }`
    Fn(FnDef),
    /// `struct Name { field: T, ... }`
    Struct(StructItem),
    /// `global NAME[: T] = EXPR;` (`is_let == false`) or top-level `let NAME[: T] = EXPR;`
    /// (`is_let == true`).
    Global(GlobalDecl),
    /// Any other statement at the top level (expression statements, `if`, `while`, `for`,
    /// assignments, ...). A top-level `let` is never a `Stmt` here: it is a `Global`.
    Stmt(Stmt),
    /// The final expression of the input written without `;` (block-like or not); its value
    /// is printed by the REPL when it is not unit.
    Tail(Expr),
}

/// A function definition.
#[derive(Clone, Debug, PartialEq)]
pub struct FnDef {
    /// The function's name.
    pub name: Ident,
    /// Parameters in order.
    pub params: Vec<Param>,
    /// `-> T`, absent for unit functions.
    pub ret: Option<TypeAnn>,
    /// The body.
    pub body: Block,
    /// The whole item, from `fn` to the closing brace (its source is the version's source).
    pub span: Span,
}

/// A struct definition.
#[derive(Clone, Debug, PartialEq)]
pub struct StructItem {
    /// The struct's name.
    pub name: Ident,
    /// Fields in order.
    pub fields: Vec<(Ident, TypeAnn)>,
    /// The whole item, from `struct` to the closing brace.
    pub span: Span,
}

/// A function parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Parameter name.
    pub name: Ident,
    /// Declared type.
    pub ty: TypeAnn,
}

/// `global` declaration or top-level `let`.
#[derive(Clone, Debug, PartialEq)]
pub struct GlobalDecl {
    /// `true` for top-level `let` (always assigns), `false` for `global` (assigns only when it
    /// defines the global).
    pub is_let: bool,
    /// The global's name.
    pub name: Ident,
    /// Optional annotation.
    pub ty: Option<TypeAnn>,
    /// Initializer.
    pub init: Expr,
    /// The whole declaration including `;`.
    pub span: Span,
}

/// `{ stmts; tail }`
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Statements in order.
    pub stmts: Vec<Stmt>,
    /// The final expression without `;`, whose value is the block's value.
    pub tail: Option<Box<Expr>>,
    /// From `{` to `}`.
    pub span: Span,
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What kind.
    pub kind: StmtKind,
    /// The whole statement.
    pub span: Span,
}

/// Kinds of statements.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// `let x[: T] = e;` (a local, inside function bodies and blocks)
    Let {
        /// The variable.
        name: Ident,
        /// Optional annotation.
        ty: Option<TypeAnn>,
        /// Initializer.
        init: Expr,
    },
    /// `place = e;` or `place op= e;` (`op` is the arithmetic operator of a compound assignment).
    Assign {
        /// What is assigned.
        target: Expr,
        /// `Some(Add)` for `+=`, etc.
        op: Option<BinOp>,
        /// The value.
        value: Expr,
    },
    /// An expression statement: `e;` or a block-like expression (`if`, `while`, `for`, `{}`)
    /// written without `;`.
    Expr(Expr),
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What kind.
    pub kind: ExprKind,
    /// Where.
    pub span: Span,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnOp {
    /// `-e`
    Neg,
    /// `!e`
    Not,
}

/// Binary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `&`
    BitAnd,
    /// `^`
    BitXor,
    /// `|`
    BitOr,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `&&` (short-circuit)
    And,
    /// `||` (short-circuit)
    Or,
}

impl BinOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Rem => "%",
            BinOp::Add => "+",
            BinOp::Sub => "-",
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
}

/// Kinds of expressions.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal (already range-checked; `-9223372036854775808` is folded here).
    Int(i64),
    /// Float literal.
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// String literal with escapes decoded (bytes: `\xHH` may make it non-UTF-8).
    Str(Vec<u8>),
    /// A variable (local or global).
    Var(String),
    /// `op e`
    Unary(UnOp, Box<Expr>),
    /// `a op b`
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `f(args)` (user function or builtin)
    Call(Ident, Vec<Expr>),
    /// `a[i]`
    Index(Box<Expr>, Box<Expr>),
    /// `s[a..b]`
    Slice(Box<Expr>, Box<Expr>, Box<Expr>),
    /// `e.field`
    Field(Box<Expr>, Ident),
    /// `Name { field: e, ... }` in source order.
    StructLit(Ident, Vec<(Ident, Expr)>),
    /// `[a, b, c]` (non-empty)
    ArrayList(Vec<Expr>),
    /// `[]` (its element type comes from the expected type)
    ArrayEmpty,
    /// `[e; n]`
    ArrayRepeat(Box<Expr>, Box<Expr>),
    /// `if c { } else ...`; the else part is a `Block` or another `If` expression.
    If(Box<Expr>, Block, Option<Box<Expr>>),
    /// `while c { }`
    While(Box<Expr>, Block),
    /// `loop { }`
    Loop(Block),
    /// `for i in a..b { }`
    For(Ident, Box<Expr>, Box<Expr>, Block),
    /// `{ ... }`
    Block(Block),
    /// `return` / `return e`
    Return(Option<Box<Expr>>),
    /// `break`
    Break,
    /// `continue`
    Continue,
    /// Placeholder left by parser recovery; the checker ignores it silently.
    Error,
}
