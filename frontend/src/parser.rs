//! Tokens -> AST (stage 2 of the chumsky pipeline), with error recovery.
//!
//! Design notes:
//! - Statements are parsed leniently: the `;` after a statement is optional in the grammar and
//!   its absence is checked afterwards, when the whole block (or program) is known. That gives
//!   precise "expected `;`" errors and lets the last expression of a block or input be its tail
//!   without backtracking.
//! - Alternatives are chosen by their first token wherever possible (a statement starting with
//!   `if`/`while`/`for`/`{` is only ever parsed as a block-like statement), so no input is
//!   parsed twice and erroneous nested input cannot cause exponential backtracking.
//! - Recovery happens at three levels: inside delimiters (`(...)`, `[...]`, `{...}` become
//!   error placeholders), per statement inside blocks (skip to `;` or `}`), and per top-level
//!   item (skip to the next `fn`, `global`, `let` or `;`). Every error is reported.
//! - chumsky's `stacker` feature is off, so bracket nesting is limited before parsing (see
//!   [`MAX_NESTING`]): a recursive-descent parser must not be able to overflow the stack.

use crate::ast::{
    self, BinOp, Block, Expr, ExprKind, FnDef, GlobalDecl, Ident, Item, Param, Program, Stmt,
    StmtKind, StructItem, TypeAnn, TypeExpr, UnOp,
};
use crate::lexer::{lex, span, Kw, Token};
use crate::{Diagnostic, Span};
use chumsky::error::{EmptyErr, LabelError, RichPattern, RichReason};
use chumsky::input::{Input, ValueInput};
use chumsky::prelude::*;

/// The deepest nesting accepted: bracket levels (`(`, `[`, `{` together) plus `else if` and
/// `return` chains. Deeper input is rejected with a located diagnostic before parsing,
/// because the parser recurses once per level; see `depth_check`.
pub const MAX_NESTING: usize = 1000;

/// The most operators accepted in one statement (each nests the syntax tree one level deeper);
/// see `depth_check`.
pub const MAX_CHAIN: usize = 1000;

/// The grammar's errors: chumsky's `Rich` errors (which say what was expected) for the error
/// path, or the zero-sized `EmptyErr` for the fast path, where a failed alternative then costs
/// nothing; see [`parse`].
trait GrammarError<'t, I: Input<'t>>:
    chumsky::error::Error<'t, I> + LabelError<'t, I, &'static str> + 't
{
    /// Whether this is the fast path's error type: the grammar then picks an alternative by
    /// its first token instead of trying each in turn (the alternatives there are told apart
    /// by their first token, so the outcome is the same, but a failure says nothing about
    /// what was expected: the rich path reports it), and describes nothing for messages.
    const FAST: bool;

    /// An error with a message of our own.
    fn custom(at: SimpleSpan, msg: impl ToString) -> Self;
}

impl<'t, 's: 't, I> GrammarError<'t, I> for Rich<'t, Token<'s>>
where
    I: Input<'t, Token = Token<'s>, Span = SimpleSpan>,
{
    const FAST: bool = false;

    fn custom(at: SimpleSpan, msg: impl ToString) -> Self {
        Rich::custom(at, msg)
    }
}

impl<'t, I: Input<'t>> GrammarError<'t, I> for EmptyErr {
    const FAST: bool = true;

    fn custom(_: SimpleSpan, _: impl ToString) -> Self {
        EmptyErr::default()
    }
}

type PErr<E> = extra::Err<E>;

/// Whether a statement was closed by `;` and, if not, what came instead.
#[derive(Clone, Debug)]
enum Semi {
    Present,
    /// The token found instead (its description and span), or `None` at the end of input.
    Missing(Option<(String, Span)>),
}

impl Semi {
    fn missing(&self) -> bool {
        matches!(self, Semi::Missing(_))
    }
}

/// A statement-like element of a block or program, before `;` rules are applied.
#[derive(Clone, Debug)]
enum Elem {
    Fn(FnDef),
    Struct(StructItem),
    Global(GlobalDecl, Semi),
    Let(Stmt, Semi),
    Expr {
        expr: Expr,
        block_like: bool,
        semi: Semi,
        span: Span,
    },
    Assign(Stmt, Semi),
    /// Input skipped by recovery (an error has been reported for it).
    Error(Span),
    /// A stray `;`.
    Empty,
}

/// A chumsky span from ours.
fn ss(s: Span) -> SimpleSpan {
    SimpleSpan::from(s.start..s.end)
}

fn error_expr(s: Span) -> Expr {
    Expr {
        kind: ExprKind::Error,
        span: s,
    }
}

fn is_block_like(e: &Expr) -> bool {
    matches!(
        e.kind,
        ExprKind::If(..)
            | ExprKind::While(..)
            | ExprKind::Loop(..)
            | ExprKind::For(..)
            | ExprKind::Block(_)
    )
}

/// The error for a statement not followed by `;`.
fn missing_semi(semi: &Semi, stmt_span: Span) -> (Span, String) {
    match semi {
        Semi::Missing(Some((found, at))) => {
            (*at, format!("expected `;` after statement, found {found}"))
        }
        _ => (
            Span::new(stmt_span.end, stmt_span.end),
            "expected `;` after statement, found end of input".to_string(),
        ),
    }
}

fn elem_span(e: &Elem) -> Span {
    match e {
        Elem::Fn(f) => f.span,
        Elem::Struct(s) => s.span,
        Elem::Global(g, _) => g.span,
        Elem::Let(s, _) | Elem::Assign(s, _) => s.span,
        Elem::Expr { span, .. } => *span,
        Elem::Error(s) => *s,
        Elem::Empty => Span::default(),
    }
}

/// Applies the `;` rules to the elements of a block. Returns the block and the errors.
fn assemble_block(elems: Vec<Elem>, block_span: Span) -> (Block, Vec<(Span, String)>) {
    let mut errors = Vec::new();
    let mut stmts = Vec::new();
    let mut tail = None;
    let n = elems.len();
    // A missing `;` before input that recovery skipped is part of that error already.
    let next_is_error: Vec<bool> = (0..n)
        .map(|i| matches!(elems.get(i + 1), Some(Elem::Error(_))))
        .collect();
    for (i, elem) in elems.into_iter().enumerate() {
        let last = i + 1 == n;
        let span = elem_span(&elem);
        match elem {
            Elem::Let(stmt, semi) => {
                if semi.missing() && !next_is_error[i] {
                    errors.push(missing_semi(&semi, span));
                }
                stmts.push(stmt);
            }
            Elem::Assign(stmt, semi) => {
                // As in Rust, an assignment may end a block without `;` (it is unit anyway).
                if semi.missing() && !last && !next_is_error[i] {
                    errors.push(missing_semi(&semi, span));
                }
                stmts.push(stmt);
            }
            Elem::Expr {
                expr,
                block_like,
                semi,
                span,
            } => {
                if semi.missing() && next_is_error[i] {
                    // The expression is the valid prefix of input that failed to parse (e.g.
                    // `print(1` stops after `print`); checking it would only add noise.
                } else if last && semi.missing() {
                    tail = Some(Box::new(expr));
                } else {
                    if semi.missing() && !block_like && !next_is_error[i] {
                        errors.push(missing_semi(&semi, span));
                    }
                    stmts.push(Stmt {
                        kind: StmtKind::Expr(expr),
                        span,
                    });
                }
            }
            Elem::Error(s) => stmts.push(Stmt {
                kind: StmtKind::Expr(error_expr(s)),
                span: s,
            }),
            // Blocks never produce items; stray `;` are empty statements.
            Elem::Fn(_) | Elem::Struct(_) | Elem::Global(..) | Elem::Empty => {}
        }
    }
    (
        Block {
            stmts,
            tail,
            span: block_span,
        },
        errors,
    )
}

/// Applies the `;` rules to the top level. The last element may omit its `;`; if it is an
/// expression it becomes [`Item::Tail`].
fn assemble_program(elems: Vec<Elem>) -> (Program, Vec<(Span, String)>) {
    let mut errors = Vec::new();
    let mut items = Vec::new();
    let n = elems.len();
    let next_is_error: Vec<bool> = (0..n)
        .map(|i| matches!(elems.get(i + 1), Some(Elem::Error(_))))
        .collect();
    for (i, elem) in elems.into_iter().enumerate() {
        let last = i + 1 == n;
        let span = elem_span(&elem);
        // Only an expression may omit its `;` at the end of the input: `let y = 5` typed
        // alone at the REPL is an error, as in a file.
        let check = |semi: &Semi, errors: &mut Vec<(Span, String)>| {
            if semi.missing() && !next_is_error[i] {
                errors.push(missing_semi(semi, span));
            }
        };
        match elem {
            Elem::Fn(f) => items.push(Item::Fn(f)),
            Elem::Struct(st) => items.push(Item::Struct(st)),
            Elem::Global(g, semi) => {
                check(&semi, &mut errors);
                items.push(Item::Global(g));
            }
            Elem::Let(stmt, semi) | Elem::Assign(stmt, semi) => {
                check(&semi, &mut errors);
                items.push(Item::Stmt(stmt));
            }
            Elem::Expr {
                expr,
                block_like,
                semi,
                span,
            } => {
                if semi.missing() && next_is_error[i] {
                    // See `assemble_block`: a fragment of the input that failed to parse.
                } else if last && semi.missing() {
                    items.push(Item::Tail(expr));
                } else {
                    if !block_like && !last {
                        check(&semi, &mut errors);
                    }
                    items.push(Item::Stmt(Stmt {
                        kind: StmtKind::Expr(expr),
                        span,
                    }));
                }
            }
            Elem::Error(_) | Elem::Empty => {}
        }
    }
    (Program { items }, errors)
}

/// What a recovery scan skips; see [`skipper`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Skip {
    /// A statement inside a block: up to and including its `;`, or up to the block's `}`.
    Stmt,
    /// A top-level item: its first token, then up to the next `fn`, `global` or top-level
    /// `let`, or up to and including a top-level `;`.
    Item,
    /// A bracketed group starting with this opener, up to its matching closer; fails if the
    /// group is not closed (then a wider recovery is a better fit).
    Delim(&'static str),
}

fn closer(open: &str) -> &'static str {
    match open {
        "(" => ")",
        "[" => "]",
        _ => "}",
    }
}

/// A recovery scan. It is written imperatively rather than with combinators because failing
/// sub-parsers would leave "expected ..." errors at the far end of the scan, and chumsky
/// reports the furthest error: the next real error would then be reported at the wrong place.
/// Bracket groups are skipped whole; a `;` ends the skipped region unless it is inside braces
/// or brackets (`[e; n]`), as an unclosed `(` before a `;` is much more likely than a `;`
/// inside parentheses.
fn skipper<'t, 's: 't, I, E>(
    mode: Skip,
) -> impl Parser<'t, I, SimpleSpan, PErr<E>> + Clone + use<'t, 's, I, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    E: GrammarError<'t, I>,
{
    custom(move |inp| {
        let before = inp.cursor();
        // The error is never shown: `via_parser` restores the original error on failure.
        macro_rules! fail {
            () => {
                return Err(E::custom(inp.span_since(&before), "cannot recover here"))
            };
        }
        if let Skip::Delim(open) = mode {
            if inp.peek() != Some(Token::Punct(open)) {
                fail!();
            }
        }
        let mut stack: Vec<&'static str> = Vec::new();
        let mut consumed = 0usize;
        while let Some(tok) = inp.peek() {
            let first = consumed == 0;
            match tok {
                Token::Punct(o @ ("(" | "[" | "{")) => stack.push(closer(o)),
                Token::Punct(c @ (")" | "]" | "}")) => {
                    if let Some(pos) = stack.iter().rposition(|x| *x == c) {
                        // Closes a group (and any unclosed groups inside it).
                        stack.truncate(pos);
                        inp.skip();
                        consumed += 1;
                        if matches!(mode, Skip::Delim(_)) && stack.is_empty() {
                            return Ok(inp.span_since(&before));
                        }
                        continue;
                    }
                    match mode {
                        // A stray `)` or `]` closes nothing we know of: it is junk. A stray
                        // `}` probably closes an enclosing block: stop before it.
                        _ if c != "}" => {}
                        Skip::Stmt => break,
                        Skip::Delim(_) => fail!(),
                        // At the top level there is nothing to close: junk too.
                        Skip::Item => {}
                    }
                }
                Token::Punct(";") if !stack.contains(&"}") && stack.last() != Some(&"]") => {
                    if matches!(mode, Skip::Delim(_)) {
                        fail!();
                    }
                    inp.skip();
                    consumed += 1;
                    break;
                }
                Token::Kw(Kw::Fn | Kw::Global | Kw::Struct) if mode == Skip::Item && !first => {
                    break
                }
                Token::Kw(Kw::Let) if mode == Skip::Item && !first && !stack.contains(&"}") => {
                    break
                }
                _ => {}
            }
            inp.skip();
            consumed += 1;
        }
        if consumed == 0 || matches!(mode, Skip::Delim(_)) {
            fail!();
        }
        Ok(inp.span_since(&before))
    })
}

fn binary(op: BinOp, a: Expr, b: Expr) -> Expr {
    Expr {
        span: a.span.to(b.span),
        kind: ExprKind::Binary(op, Box::new(a), Box::new(b)),
    }
}

/// The precedence level of a binary operator, loosest (0) to tightest.
fn precedence(op: BinOp) -> u8 {
    match op {
        BinOp::Or => 0,
        BinOp::And => 1,
        BinOp::Eq | BinOp::Ne | BinOp::Le | BinOp::Ge | BinOp::Lt | BinOp::Gt => CMP_LEVEL,
        BinOp::BitOr => 3,
        BinOp::BitXor => 4,
        BinOp::BitAnd => 5,
        BinOp::Shl | BinOp::Shr => 6,
        BinOp::Add | BinOp::Sub => 7,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 8,
    }
}

/// The level of the comparisons, which do not associate.
const CMP_LEVEL: u8 = 2;
/// The operators and operands after an expression's first operand.
type OpsIter = std::iter::Peekable<std::vec::IntoIter<((BinOp, Span), Expr)>>;

/// Precedence climbing: `lhs` followed by the operators in `rest` whose level is at least
/// `min`. Every level but the comparisons is left-associative; a chain of comparisons is
/// reported (at its second operator, in `errors`) and becomes an error placeholder.
/// Recursion is bounded by the number of levels (`min` grows with each call).
fn climb(lhs: Expr, min: u8, rest: &mut OpsIter, errors: &mut Vec<(Span, String)>) -> Expr {
    let mut lhs = lhs;
    // Comparisons combined in a row at this level (`a < b < c` is two).
    let mut comparisons = 0;
    while let Some(&((op, _), _)) = rest.peek() {
        let level = precedence(op);
        if level < min {
            break;
        }
        let Some(((op, op_span), mut rhs)) = rest.next() else {
            break;
        };
        // The right operand takes every tighter operator after it.
        while let Some(&((next, _), _)) = rest.peek() {
            if precedence(next) <= level {
                break;
            }
            rhs = climb(rhs, level + 1, rest, errors);
        }
        if level == CMP_LEVEL {
            comparisons += 1;
            if comparisons == 2 {
                errors.push((
                    op_span,
                    format!(
                        "comparison operators cannot be chained: use parentheses or `&&` before `{}`",
                        op.as_str()
                    ),
                ));
            }
        } else {
            comparisons = 0;
        }
        lhs = binary(op, lhs, rhs);
        let chain_ends = rest
            .peek()
            .is_none_or(|((next, _), _)| precedence(*next) != CMP_LEVEL);
        if comparisons > 1 && chain_ends {
            // `(a < b) < c` would only add a type error about comparing a bool.
            lhs.kind = ExprKind::Error;
            comparisons = 0;
        }
    }
    lhs
}

/// The whole grammar. See the module documentation for the recovery scheme.
fn program_parser<'t, 's: 't, I, E>() -> impl Parser<'t, I, Program, PErr<E>> + use<'t, 's, I, E>
where
    I: ValueInput<'t, Token = Token<'s>, Span = SimpleSpan>,
    E: GrammarError<'t, I>,
{
    let p = |s: &'static str| just(Token::Punct(s));
    let kw = |k: Kw| just(Token::Kw(k));
    let ident = select! { Token::Ident(s) => s }
        .map_with(|s: &str, e| Ident {
            name: s.to_string(),
            span: span(e.span()),
        })
        .labelled("identifier");

    // Types, as written: names are resolved by the checker (struct names are only known there).
    let ty = recursive(|ty| {
        let named = ident.map(TypeExpr::Named);
        let array = ty
            .delimited_by(p("["), p("]"))
            .map(|inner: TypeExpr| TypeExpr::Array(Box::new(inner)));
        named.or(array)
    })
    .map_with(|ty, e| TypeAnn {
        ty,
        span: span(e.span()),
    })
    .labelled("type");

    // What follows a statement: `;`, or (peeked, not consumed) whatever came instead.
    let semi = p(";")
        .to(Semi::Present)
        .or(any()
            .map_with(|t: Token<'s>, e| {
                // The description is only for the message, which the fast path never shows.
                let found = if E::FAST {
                    String::new()
                } else {
                    t.to_string()
                };
                Semi::Missing(Some((found, span(e.span()))))
            })
            .rewind())
        .or(end().to(Semi::Missing(None)));

    let mut expr = Recursive::declare();
    let mut block = Recursive::declare();
    let mut if_ = Recursive::declare();

    // Literals. A literal equal to 2^63 is only valid directly under unary minus; it is passed
    // up as "pending" (`true`) to the unary level, which folds or rejects it.
    let int_lit = select! { Token::Int(v) => v }.validate(|v: u128, e, em| {
        let s = span(e.span());
        if v == 1u128 << 63 {
            (
                Expr {
                    kind: ExprKind::Int(i64::MIN),
                    span: s,
                },
                true,
            )
        } else {
            let kind = match i64::try_from(v) {
                Ok(v) => ExprKind::Int(v),
                Err(_) => {
                    em.emit(E::custom(e.span(), "integer literal out of range for int"));
                    ExprKind::Error
                }
            };
            (Expr { kind, span: s }, false)
        }
    });
    let simple = select! {
        Token::Float(x) => ExprKind::Float(x),
        Token::Kw(Kw::True) => ExprKind::Bool(true),
        Token::Kw(Kw::False) => ExprKind::Bool(false),
        Token::Str(s) => ExprKind::Str(s),
        Token::Ident(s) => ExprKind::Var(s.to_string()),
        Token::Kw(Kw::Break) => ExprKind::Break,
        Token::Kw(Kw::Continue) => ExprKind::Continue,
    };

    // The parentheses are part of the expression's span (for error locations).
    let paren = expr
        .clone()
        .delimited_by(p("("), p(")"))
        .map_with(|inner: Expr, e| Expr {
            span: span(e.span()),
            ..inner
        })
        .recover_with(via_parser(
            skipper(Skip::Delim("(")).map(|s| error_expr(span(s))),
        ));

    // `[a, b, c]`, `[e; n]`, and `[]`. The first element is parsed once, then the
    // rest decides which form it is.
    enum ArrayRest {
        Repeat(Expr),
        List(Vec<Expr>),
    }
    let array = p("[")
        .ignore_then(
            expr.clone()
                .then(choice((
                    p(";").ignore_then(expr.clone()).map(ArrayRest::Repeat),
                    p(",")
                        .ignore_then(expr.clone())
                        .repeated()
                        .collect::<Vec<_>>()
                        .then_ignore(p(",").or_not())
                        .map(ArrayRest::List),
                )))
                .or_not(),
        )
        .then_ignore(p("]"))
        .map_with(|content, e| {
            let kind = match content {
                None => ExprKind::ArrayEmpty,
                Some((first, ArrayRest::Repeat(n))) => {
                    ExprKind::ArrayRepeat(Box::new(first), Box::new(n))
                }
                Some((first, ArrayRest::List(rest))) => {
                    let mut all = vec![first];
                    all.extend(rest);
                    ExprKind::ArrayList(all)
                }
            };
            Expr {
                kind,
                span: span(e.span()),
            }
        })
        .recover_with(via_parser(
            skipper(Skip::Delim("[")).map(|s| error_expr(span(s))),
        ));

    let while_ = kw(Kw::While)
        .ignore_then(expr.clone())
        .then(block.clone())
        .map_with(|(c, b), e| Expr {
            kind: ExprKind::While(Box::new(c), b),
            span: span(e.span()),
        });
    let for_ = kw(Kw::For)
        .ignore_then(ident)
        .then_ignore(kw(Kw::In))
        .then(expr.clone())
        .then_ignore(p(".."))
        .then(expr.clone())
        .then(block.clone())
        .map_with(|(((var, lo), hi), body), e| Expr {
            kind: ExprKind::For(var, Box::new(lo), Box::new(hi), body),
            span: span(e.span()),
        });
    let loop_ = kw(Kw::Loop)
        .ignore_then(block.clone())
        .map_with(|b, e| Expr {
            kind: ExprKind::Loop(b),
            span: span(e.span()),
        });
    let block_expr = block.clone().map(|b: Block| Expr {
        span: b.span,
        kind: ExprKind::Block(b),
    });
    let block_like = if E::FAST {
        let if_ = if_.clone();
        custom(move |inp| match inp.peek() {
            Some(Token::Kw(Kw::If)) => inp.parse(&if_),
            Some(Token::Kw(Kw::While)) => inp.parse(&while_),
            Some(Token::Kw(Kw::Loop)) => inp.parse(&loop_),
            Some(Token::Kw(Kw::For)) => inp.parse(&for_),
            _ => inp.parse(&block_expr),
        })
        .boxed()
    } else {
        choice((if_.clone(), while_, loop_, for_, block_expr)).boxed()
    };

    // `Name { field: e, ... }`. Only `Name {` followed by `field :` starts one, so `if x { y }`
    // is never mistaken for a literal; a literal written directly in a condition is parsed
    // and then rejected by the checker with a precise message (Rust's rule).
    let field_init = ident.then_ignore(p(":")).then(expr.clone());
    // The lookahead's `{` is labelled as an operator so that it adds nothing new to "expected
    // ..." messages after an identifier.
    let struct_lit = ident
        .then_ignore(p("{").labelled("operator"))
        .then_ignore(ident)
        .then_ignore(p(":"))
        .rewind()
        .ignore_then(ident)
        .then(
            field_init
                .separated_by(p(","))
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(p("{"), p("}")),
        )
        .map_with(|(name, fields), e| Expr {
            kind: ExprKind::StructLit(name, fields),
            span: span(e.span()),
        });

    let return_ = kw(Kw::Return)
        .ignore_then(expr.clone().or_not())
        .map_with(|v, e| Expr {
            kind: ExprKind::Return(v.map(Box::new)),
            span: span(e.span()),
        });

    let simple = simple.map_with(|kind, e| Expr {
        kind,
        span: span(e.span()),
    });
    let atom = if E::FAST {
        let ident_atom = struct_lit.or(simple);
        let block_like = block_like.clone();
        custom(move |inp| {
            let e = match inp.peek() {
                Some(Token::Int(_)) => return inp.parse(int_lit),
                Some(Token::Ident(_)) => inp.parse(&ident_atom)?,
                Some(Token::Punct("(")) => inp.parse(&paren)?,
                Some(Token::Punct("[")) => inp.parse(&array)?,
                Some(Token::Kw(Kw::Return)) => inp.parse(&return_)?,
                Some(Token::Kw(Kw::If | Kw::While | Kw::Loop | Kw::For) | Token::Punct("{")) => {
                    inp.parse(&block_like)?
                }
                _ => inp.parse(simple)?,
            };
            Ok((e, false))
        })
        .boxed()
    } else {
        choice((
            int_lit,
            struct_lit.map(|e| (e, false)),
            simple.map(|e| (e, false)),
            paren.map(|e| (e, false)),
            array.map(|e| (e, false)),
            block_like.clone().map(|e| (e, false)),
            return_.map(|e| (e, false)),
        ))
        .labelled("expression")
        .boxed()
    };

    // Postfix: calls and indexing, chainable (`m[i][j]`, `f(x)[0]`).
    enum Post {
        Call(Vec<Expr>),
        Index(Expr),
        Slice(Expr, Expr),
        Field(Ident),
    }
    let args = expr
        .clone()
        .separated_by(p(","))
        .allow_trailing()
        .collect::<Vec<_>>()
        .delimited_by(p("("), p(")"))
        .recover_with(via_parser(
            skipper(Skip::Delim("(")).map(|s| vec![error_expr(span(s))]),
        ));
    let index = expr
        .clone()
        .then(p("..").ignore_then(expr.clone()).or_not())
        .delimited_by(p("["), p("]"))
        .map(|(a, b)| match b {
            None => Post::Index(a),
            Some(b) => Post::Slice(a, b),
        });
    let field = p(".")
        .ignore_then(ident.labelled("field name"))
        .map(Post::Field);
    let post = if E::FAST {
        let args = args.map(Post::Call);
        custom(move |inp| match inp.peek() {
            Some(Token::Punct("(")) => inp.parse(&args),
            Some(Token::Punct("[")) => inp.parse(&index),
            _ => inp.parse(&field),
        })
        .boxed()
    } else {
        choice((args.map(Post::Call), index, field))
            .labelled("operator")
            .boxed()
    };
    let postfix = atom
        .then(
            post.map_with(|post, e| (post, span(e.span())))
                .repeated()
                .collect::<Vec<_>>(),
        )
        .validate(|((base, pending), posts), _, em| {
            if pending && !posts.is_empty() {
                em.emit(E::custom(
                    ss(base.span),
                    "integer literal out of range for int",
                ));
            }
            let pending = pending && posts.is_empty();
            let mut cur = base;
            for (post, post_span) in posts {
                let whole = cur.span.to(post_span);
                let kind = match post {
                    Post::Index(i) => ExprKind::Index(Box::new(cur), Box::new(i)),
                    Post::Slice(a, b) => ExprKind::Slice(Box::new(cur), Box::new(a), Box::new(b)),
                    Post::Field(f) => ExprKind::Field(Box::new(cur), f),
                    Post::Call(args) => match cur.kind {
                        ExprKind::Var(name) => ExprKind::Call(
                            Ident {
                                name,
                                span: cur.span,
                            },
                            args,
                        ),
                        ExprKind::Error => ExprKind::Error,
                        _ => {
                            em.emit(E::custom(
                                ss(cur.span),
                                "only named functions can be called: expected a function name before `(`",
                            ));
                            ExprKind::Error
                        }
                    },
                };
                cur = Expr { kind, span: whole };
            }
            (cur, pending)
        });

    // Prefix operators are collected iteratively (no recursion per operator).
    let prefix =
        choice((p("-").to(UnOp::Neg), p("!").to(UnOp::Not))).map_with(|op, e| (op, span(e.span())));
    let unary = prefix
        .repeated()
        .collect::<Vec<_>>()
        .then(postfix)
        .validate(|(mut ops, (mut cur, pending)), _, em| {
            if pending {
                // `-9223372036854775808` is i64::MIN; the literal alone does not fit.
                match ops.last() {
                    Some(&(UnOp::Neg, s)) => {
                        ops.pop();
                        cur.span = s.to(cur.span);
                    }
                    _ => {
                        em.emit(E::custom(
                            ss(cur.span),
                            "integer literal out of range for int",
                        ));
                        cur.kind = ExprKind::Error;
                    }
                }
            }
            for (op, s) in ops.into_iter().rev() {
                cur = Expr {
                    span: s.to(cur.span),
                    kind: ExprKind::Unary(op, Box::new(cur)),
                };
            }
            cur
        })
        .labelled("expression")
        .boxed();

    // Binary operators: an operand and a flat list of (operator, operand) pairs, one token
    // test per operator, then the tree by precedence climbing ([`climb`]). Parsing one chumsky
    // level per precedence level instead tried every level's operators after every operand.
    let binop = select! {
        Token::Punct("*") => BinOp::Mul,
        Token::Punct("/") => BinOp::Div,
        Token::Punct("%") => BinOp::Rem,
        Token::Punct("+") => BinOp::Add,
        Token::Punct("-") => BinOp::Sub,
        Token::Punct("<<") => BinOp::Shl,
        Token::Punct(">>") => BinOp::Shr,
        Token::Punct("&") => BinOp::BitAnd,
        Token::Punct("^") => BinOp::BitXor,
        Token::Punct("|") => BinOp::BitOr,
        Token::Punct("==") => BinOp::Eq,
        Token::Punct("!=") => BinOp::Ne,
        Token::Punct("<=") => BinOp::Le,
        Token::Punct(">=") => BinOp::Ge,
        Token::Punct("<") => BinOp::Lt,
        Token::Punct(">") => BinOp::Gt,
        Token::Punct("&&") => BinOp::And,
        Token::Punct("||") => BinOp::Or,
    }
    .labelled("operator")
    .map_with(|op, e| (op, span(e.span())));
    let binary_expr = unary
        .clone()
        .then(binop.then(unary).repeated().collect::<Vec<_>>())
        .validate(|(first, rest), _, em| {
            if rest.is_empty() {
                return first;
            }
            let mut errors = Vec::new();
            let e = climb(first, 0, &mut rest.into_iter().peekable(), &mut errors);
            for (at, msg) in errors {
                em.emit(E::custom(ss(at), msg));
            }
            e
        })
        .boxed();
    expr.define(binary_expr);

    if_.define(
        kw(Kw::If)
            .ignore_then(expr.clone())
            .then(block.clone())
            .then(
                kw(Kw::Else)
                    .ignore_then(choice((
                        block.clone().map(|b: Block| Expr {
                            span: b.span,
                            kind: ExprKind::Block(b),
                        }),
                        if_.clone(),
                    )))
                    .or_not(),
            )
            .map_with(|((c, then), els), e| Expr {
                kind: ExprKind::If(Box::new(c), then, els.map(Box::new)),
                span: span(e.span()),
            }),
    );

    // Statements shared by blocks and the top level.
    let assign_op = choice((
        p("=").to(None),
        p("+=").to(Some(BinOp::Add)),
        p("-=").to(Some(BinOp::Sub)),
        p("*=").to(Some(BinOp::Mul)),
        p("/=").to(Some(BinOp::Div)),
        p("%=").to(Some(BinOp::Rem)),
        p("&=").to(Some(BinOp::BitAnd)),
        p("|=").to(Some(BinOp::BitOr)),
        p("^=").to(Some(BinOp::BitXor)),
        p("<<=").to(Some(BinOp::Shl)),
        p(">>=").to(Some(BinOp::Shr)),
    ))
    .labelled("operator");
    let block_like_start = [
        Token::Kw(Kw::If),
        Token::Kw(Kw::While),
        Token::Kw(Kw::Loop),
        Token::Kw(Kw::For),
        Token::Punct("{"),
    ];
    let block_like_stmt = block_like
        .clone()
        .then(semi.clone())
        .map_with(|(expr, semi), e| Elem::Expr {
            expr,
            block_like: true,
            semi,
            span: span(e.span()),
        });
    let expr_stmt = none_of(block_like_start)
        .rewind()
        .ignore_then(expr.clone())
        .then(assign_op.then(expr.clone()).or_not())
        .then(semi.clone())
        .map_with(|((lhs, rhs), semi), e| (lhs, rhs, semi, span(e.span())))
        .validate(|(lhs, rhs, semi, s), _, em| match rhs {
            None => Elem::Expr {
                block_like: is_block_like(&lhs),
                expr: lhs,
                semi,
                span: s,
            },
            Some((op, value)) => match lhs.kind {
                ExprKind::Var(_) | ExprKind::Index(..) | ExprKind::Field(..) => Elem::Assign(
                    Stmt {
                        kind: StmtKind::Assign {
                            target: lhs,
                            op,
                            value,
                        },
                        span: s,
                    },
                    semi,
                ),
                ExprKind::Error => Elem::Error(s),
                _ => {
                    em.emit(E::custom(
                        ss(lhs.span),
                        "invalid assignment target: expected a variable, an indexed element or a field",
                    ));
                    Elem::Error(s)
                }
            },
        });
    // `let` / `global` with an optional annotation; the caller decides what it becomes.
    let decl = |k: Kw| {
        kw(k)
            .ignore_then(ident)
            .then(p(":").ignore_then(ty.clone()).or_not())
            .then_ignore(p("="))
            .then(expr.clone())
            .then(semi.clone())
            .map_with(|(((name, ty), init), semi), e| (name, ty, init, semi, span(e.span())))
    };

    let skip_stmt = skipper(Skip::Stmt).map(|s| Elem::Error(span(s)));
    let let_stmt = decl(Kw::Let).map(|(name, ty, init, semi, s)| {
        Elem::Let(
            Stmt {
                kind: StmtKind::Let { name, ty, init },
                span: s,
            },
            semi,
        )
    });
    let block_elem = if E::FAST {
        // No recovery either: any error sends the input to the rich path.
        let block_like_stmt = block_like_stmt.clone();
        let expr_stmt = expr_stmt.clone();
        let empty = p(";").to(Elem::Empty);
        custom(move |inp| match inp.peek() {
            Some(Token::Kw(Kw::Let)) => inp.parse(&let_stmt),
            Some(Token::Kw(Kw::If | Kw::While | Kw::Loop | Kw::For) | Token::Punct("{")) => {
                inp.parse(&block_like_stmt)
            }
            Some(Token::Punct(";")) => inp.parse(&empty),
            _ => inp.parse(&expr_stmt),
        })
        .boxed()
    } else {
        choice((
            let_stmt,
            block_like_stmt.clone(),
            expr_stmt.clone(),
            p(";").to(Elem::Empty),
        ))
        .labelled("statement")
        .recover_with(via_parser(skip_stmt))
        .boxed()
    };

    block.define(
        block_elem
            .repeated()
            .collect::<Vec<_>>()
            .delimited_by(p("{"), p("}"))
            .validate(|elems, e, em| {
                let (b, errors) = assemble_block(elems, span(e.span()));
                for (s, msg) in errors {
                    em.emit(E::custom(ss(s), msg));
                }
                b
            })
            .recover_with(via_parser(skipper(Skip::Delim("{")).map(|s| Block {
                stmts: Vec::new(),
                tail: Some(Box::new(error_expr(span(s)))),
                span: span(s),
            }))),
    );

    let param = ident
        .then_ignore(p(":"))
        .then(ty.clone())
        .map(|(name, ty)| Param { name, ty });
    let fn_item = kw(Kw::Fn)
        .ignore_then(ident.labelled("function name"))
        .then(
            param
                .separated_by(p(","))
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(p("("), p(")")),
        )
        .then(p("->").ignore_then(ty.clone()).or_not())
        .then(block)
        .map_with(|(((name, params), ret), body), e| FnDef {
            name,
            params,
            ret,
            body,
            span: span(e.span()),
        });

    let struct_field = ident.then_ignore(p(":")).then(ty.clone());
    let struct_item = kw(Kw::Struct)
        .ignore_then(ident.labelled("struct name"))
        .then(
            struct_field
                .separated_by(p(","))
                .allow_trailing()
                .collect::<Vec<_>>()
                .delimited_by(p("{"), p("}")),
        )
        .map_with(|(name, fields), e| StructItem {
            name,
            fields,
            span: span(e.span()),
        });

    let global = |k: Kw, is_let: bool| {
        decl(k).map(move |(name, ty, init, semi, s)| {
            Elem::Global(
                GlobalDecl {
                    is_let,
                    name,
                    ty,
                    init,
                    span: s,
                },
                semi,
            )
        })
    };
    let skip_item = skipper(Skip::Item).map(|s| Elem::Error(span(s)));
    let top_elem = if E::FAST {
        let fn_item = fn_item.map(Elem::Fn);
        let struct_item = struct_item.map(Elem::Struct);
        let global_decl = global(Kw::Global, false);
        let let_decl = global(Kw::Let, true);
        let empty = p(";").to(Elem::Empty);
        custom(move |inp| match inp.peek() {
            Some(Token::Kw(Kw::Fn)) => inp.parse(&fn_item),
            Some(Token::Kw(Kw::Struct)) => inp.parse(&struct_item),
            Some(Token::Kw(Kw::Global)) => inp.parse(&global_decl),
            Some(Token::Kw(Kw::Let)) => inp.parse(&let_decl),
            Some(Token::Kw(Kw::If | Kw::While | Kw::Loop | Kw::For) | Token::Punct("{")) => {
                inp.parse(&block_like_stmt)
            }
            Some(Token::Punct(";")) => inp.parse(&empty),
            _ => inp.parse(&expr_stmt),
        })
        .boxed()
    } else {
        choice((
            fn_item.map(Elem::Fn),
            struct_item.map(Elem::Struct),
            global(Kw::Global, false),
            global(Kw::Let, true),
            block_like_stmt,
            expr_stmt,
            p(";").to(Elem::Empty),
        ))
        .labelled("item")
        .recover_with(via_parser(skip_item))
        .boxed()
    };

    top_elem
        .repeated()
        .collect::<Vec<_>>()
        .validate(|elems, _, em| {
            let (prog, errors) = assemble_program(elems);
            for (s, msg) in errors {
                em.emit(E::custom(ss(s), msg));
            }
            prog
        })
        .then_ignore(end())
}

/// Whether the token after a `}` starts a new statement, so that the block just closed ended
/// one (as opposed to `} else`, or `} + 1` inside an expression).
fn starts_statement(next: Option<&(Token<'_>, SimpleSpan)>) -> bool {
    match next {
        None => true,
        Some((t, _)) => match t {
            Token::Kw(k) => *k != Kw::Else,
            Token::Ident(_) | Token::Int(_) | Token::Float(_) | Token::Str(_) => true,
            Token::Punct(p) => matches!(*p, "{" | "}" | ";"),
        },
    }
}

/// Rejects input whose syntax tree would be too deep to handle with bounded stack.
///
/// The parser recurses once per bracket level and once per `else if` / `return` in a chain
/// ([`MAX_NESTING`] in total); binary and prefix operators are parsed iteratively but still
/// nest the tree, which the type checker and the backend walk recursively ([`MAX_CHAIN`]
/// per statement). Counting per bracket level, and forgetting what a finished statement
/// (`;`, `,`, a block followed by a new statement) counted, bounds both from the tokens alone,
/// so the check runs before any recursion.
fn depth_check(tokens: &[(Token<'_>, SimpleSpan)]) -> Option<Diagnostic> {
    #[derive(Default)]
    struct Level {
        chain: usize,
        ops: usize,
    }
    let mut levels = vec![Level::default()];
    let (mut chain_total, mut ops_total) = (0usize, 0usize);
    for (i, (t, s)) in tokens.iter().enumerate() {
        let mut reset = false;
        match t {
            Token::Punct("(" | "[" | "{") => levels.push(Level::default()),
            Token::Punct(close @ (")" | "]" | "}")) => {
                if levels.len() > 1 {
                    if let Some(l) = levels.pop() {
                        chain_total -= l.chain;
                        ops_total -= l.ops;
                    }
                }
                reset = *close == "}" && starts_statement(tokens.get(i + 1));
            }
            Token::Punct(";" | ",") => reset = true,
            Token::Punct(".." | ":" | "->") => {}
            Token::Punct(_) => {
                if let Some(l) = levels.last_mut() {
                    l.ops += 1;
                    ops_total += 1;
                }
            }
            Token::Kw(Kw::Else | Kw::Return) => {
                if let Some(l) = levels.last_mut() {
                    l.chain += 1;
                    chain_total += 1;
                }
            }
            _ => {}
        }
        if reset {
            if let Some(l) = levels.last_mut() {
                chain_total -= l.chain;
                ops_total -= l.ops;
                *l = Level::default();
            }
        }
        if levels.len() - 1 + chain_total > MAX_NESTING {
            return Some(Diagnostic::error(
                format!(
                    "code nested too deeply: at most {MAX_NESTING} levels of brackets, `else if` and `return` are supported"
                ),
                span(*s),
                "the nesting limit is exceeded here",
            ));
        }
        if ops_total > MAX_CHAIN {
            return Some(Diagnostic::error(
                format!(
                    "expression too deeply nested: more than {MAX_CHAIN} operators in one statement; split it into several statements"
                ),
                span(*s),
                "the limit is exceeded here",
            ));
        }
    }
    None
}

/// Runs `f` on the front end's worker thread, which has a large stack, because the
/// recursive-descent parser and the type checker use a lot of stack per nesting level in
/// unoptimized builds (tens of KiB per level for chumsky's combinators; the memory is only
/// reserved, not committed).
///
/// The thread is started once and lives as long as the process: the grammar is built once per
/// thread (see [`PARSER`]) because a chumsky grammar with mutually recursive parsers is a
/// reference cycle that is never freed, so building it per input leaked ~6 KB per input.
/// Falls back to the current thread if the worker cannot be started.
pub(crate) fn on_big_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    on_big_stack_then_drop(|| (f(), ()))
}

/// [`on_big_stack`] for a job that leaves garbage (`f`'s second result, such as a syntax tree
/// it has consumed): the result is handed back first and the garbage dropped on the worker
/// afterwards, so freeing a large tree is off the caller's critical path.
pub(crate) fn on_big_stack_then_drop<T: Send + 'static, G: Send + 'static>(
    f: impl FnOnce() -> (T, G) + Send + 'static,
) -> T {
    use std::sync::mpsc::{channel, Sender};
    use std::sync::{Mutex, OnceLock};
    type Job = Box<dyn FnOnce() + Send>;
    const STACK: usize = 256 << 20;
    static WORKER: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    let worker = WORKER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        std::thread::Builder::new()
            .name("livejit-frontend".into())
            .stack_size(STACK)
            .spawn(move || {
                for job in rx {
                    job();
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let (done_tx, done_rx) = channel();
    let job: Job =
        Box::new(
            move || match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                Ok((out, garbage)) => {
                    let _ = done_tx.send(Ok(out));
                    drop(garbage);
                }
                Err(panic) => {
                    let _ = done_tx.send(Err(panic));
                }
            },
        );
    let sent = match worker {
        Some(tx) => match tx.lock() {
            Ok(tx) => tx.send(job).map_err(|e| e.0),
            Err(_) => Err(job),
        },
        None => Err(job),
    };
    if let Err(job) = sent {
        job();
    }
    match done_rx.recv() {
        Ok(Ok(out)) => out,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => unreachable!("every job sends its result"),
    }
}

/// The token stream the grammar runs on.
type TokenInput<'s> =
    chumsky::input::MappedInput<'s, Token<'s>, SimpleSpan, &'s [crate::lexer::Spanned<'s>]>;

/// The grammar with rich errors, type-erased so that one instance serves inputs of any
/// lifetime.
struct ProgramGrammar;

impl chumsky::cache::Cached for ProgramGrammar {
    type Parser<'s> = Boxed<'s, 's, TokenInput<'s>, Program, PErr<Rich<'s, Token<'s>>>>;

    fn make_parser<'s>(self) -> Self::Parser<'s> {
        program_parser::<'s, 's, TokenInput<'s>, Rich<'s, Token<'s>>>().boxed()
    }
}

/// The same grammar with zero-sized errors: the fast path for input without errors.
struct FastGrammar;

impl chumsky::cache::Cached for FastGrammar {
    type Parser<'s> = Boxed<'s, 's, TokenInput<'s>, Program, PErr<EmptyErr>>;

    fn make_parser<'s>(self) -> Self::Parser<'s> {
        program_parser::<'s, 's, TokenInput<'s>, EmptyErr>().boxed()
    }
}

thread_local! {
    /// The grammars, built once on the front end's worker thread.
    static PARSER: chumsky::cache::Cache<ProgramGrammar> =
        chumsky::cache::Cache::new(ProgramGrammar);
    static FAST_PARSER: chumsky::cache::Cache<FastGrammar> =
        chumsky::cache::Cache::new(FastGrammar);
}

/// Describes an expected pattern for a message.
fn pattern(p: &RichPattern<'_, Token<'_>>) -> Option<String> {
    match p {
        RichPattern::Token(t) => Some(t.to_string()),
        RichPattern::Label(l) => Some(l.to_string()),
        RichPattern::Identifier(i) => Some(format!("`{i}`")),
        RichPattern::Any => Some("a token".to_string()),
        RichPattern::EndOfInput => Some("end of input".to_string()),
        RichPattern::SomethingElse => None,
        #[allow(unreachable_patterns)] // `RichPattern` is non-exhaustive.
        _ => None,
    }
}

/// Turns a chumsky error into a diagnostic with a readable "expected X, found Y" message.
fn to_diagnostic(e: &Rich<'_, Token<'_>>) -> Diagnostic {
    let at = span(*e.span());
    match e.reason() {
        RichReason::Custom(msg) => Diagnostic::error(msg.clone(), at, ""),
        RichReason::ExpectedFound { expected, found } => {
            let mut exp: Vec<String> = expected.iter().filter_map(pattern).collect();
            exp.sort();
            exp.dedup();
            // Keep operators last: they are rarely what the user meant to write.
            if let Some(i) = exp.iter().position(|s| s == "operator") {
                let op = exp.remove(i);
                exp.push(op);
            }
            let found = found
                .as_ref()
                .map_or_else(|| "end of input".to_string(), |t| t.to_string());
            let expected = match exp.len() {
                0 => "something else".to_string(),
                1 => exp[0].clone(),
                n => format!("{} or {}", exp[..n - 1].join(", "), exp[n - 1]),
            };
            Diagnostic::error(
                format!("expected {expected}, found {found}"),
                at,
                format!("unexpected {found}"),
            )
        }
    }
}

/// Parses one source text (a file or a REPL input). Returns the program (possibly partial,
/// with `ExprKind::Error` placeholders where recovery happened) and every diagnostic found.
///
/// Diagnostics come sorted by position. The program is `None` only when the input was
/// rejected before parsing (nesting too deep); with lexical or syntax errors it is still
/// returned so that the type checker can report further errors.
///
/// Input without lexical errors is parsed first with cheap errors (the fast path); only if
/// that finds an error is it parsed again with rich errors, recovery and messages. Both runs
/// use the same grammar, so a valid input gets the same tree either way.
pub fn parse(src: &str) -> (Option<ast::Program>, Vec<Diagnostic>) {
    let owned = src.to_string();
    on_big_stack(move || parse_here(&owned, true))
}

/// [`parse`] without the fast path: always the grammar with rich errors. Exposed to tests that
/// check that both paths agree.
#[doc(hidden)]
pub fn parse_rich(src: &str) -> (Option<ast::Program>, Vec<Diagnostic>) {
    let owned = src.to_string();
    on_big_stack(move || parse_here(&owned, false))
}

/// Whether the fast path (cheap errors) accepts `src` and what it parsed: `None` if it found
/// an error (the lexer's, the nesting limits', or the grammar's). Exposed to tests.
#[doc(hidden)]
pub fn parse_fast(src: &str) -> Option<ast::Program> {
    let owned = src.to_string();
    on_big_stack(move || {
        let (tokens, diags) = lex(&owned);
        if !diags.is_empty() || depth_check(&tokens).is_some() {
            return None;
        }
        fast(&tokens, owned.len())
    })
}

/// The grammar with cheap errors: the program if `tokens` hold no error at all.
fn fast(tokens: &[crate::lexer::Spanned<'_>], len: usize) -> Option<Program> {
    let input = tokens.split_token_span(SimpleSpan::from(len..len));
    FAST_PARSER.with(|cache| {
        let (program, errs) = cache.get().parse(input).into_output_errors();
        program.filter(|_| errs.is_empty())
    })
}

/// [`parse`] on the current thread (the worker's).
fn parse_here(src: &str, try_fast: bool) -> (Option<ast::Program>, Vec<Diagnostic>) {
    let (tokens, mut diags) = lex(src);
    if let Some(d) = depth_check(&tokens) {
        diags.push(d);
        return (None, diags);
    }
    if try_fast && diags.is_empty() {
        if let Some(program) = fast(&tokens, src.len()) {
            return (Some(program), diags);
        }
    }
    let input = tokens
        .as_slice()
        .split_token_span(SimpleSpan::from(src.len()..src.len()));
    let (program, errs) = PARSER.with(|cache| {
        let (program, errs) = cache.get().parse(input).into_output_errors();
        // Rich errors borrow the tokens; convert them while the tokens are still here.
        (program, errs.iter().map(to_diagnostic).collect::<Vec<_>>())
    });
    // A character the lexer dropped usually makes the parser trip over the token after it;
    // that error is a consequence of the first, so it is not reported.
    let after_bad_char: std::collections::HashSet<usize> = diags
        .iter()
        .filter(|d| d.message.starts_with(crate::lexer::BAD_CHAR))
        .filter_map(|d| {
            let end = d.primary_span()?.end;
            tokens
                .iter()
                .map(|(_, s)| s.start)
                .find(|&start| start >= end)
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for d in errs {
        if d.primary_span()
            .is_some_and(|s| after_bad_char.contains(&s.start))
        {
            continue;
        }
        // Recovery at two levels can report the same failure twice.
        if seen.insert((d.message.clone(), d.primary_span())) {
            diags.push(d);
        }
    }
    diags.sort_by_key(|d| d.primary_span().map(|s| (s.start, s.end)));
    if program.is_none() && diags.is_empty() {
        diags.push(Diagnostic::error(
            "could not parse this input",
            Span::new(0, src.len()),
            "",
        ));
    }
    (program, diags)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A compact rendering of expressions for assertions.
    fn sx(e: &Expr) -> String {
        match &e.kind {
            ExprKind::Int(v) => v.to_string(),
            ExprKind::Float(v) => format!("{v:?}"),
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Str(s) => format!("{:?}", String::from_utf8_lossy(s)),
            ExprKind::Var(v) => v.clone(),
            ExprKind::Unary(op, a) => {
                format!("({} {})", if *op == UnOp::Neg { "-" } else { "!" }, sx(a))
            }
            ExprKind::Binary(op, a, b) => format!("({} {} {})", op.as_str(), sx(a), sx(b)),
            ExprKind::Call(f, args) => format!(
                "(call {}{})",
                f.name,
                args.iter()
                    .map(|a| format!(" {}", sx(a)))
                    .collect::<String>()
            ),
            ExprKind::Index(a, i) => format!("(index {} {})", sx(a), sx(i)),
            ExprKind::Slice(a, i, j) => format!("(slice {} {} {})", sx(a), sx(i), sx(j)),
            ExprKind::Field(a, f) => format!("(. {} {})", sx(a), f.name),
            ExprKind::StructLit(n, fs) => format!(
                "(new {}{})",
                n.name,
                fs.iter()
                    .map(|(f, v)| format!(" {}={}", f.name, sx(v)))
                    .collect::<String>()
            ),
            ExprKind::ArrayEmpty => "[]".into(),
            ExprKind::Loop(b) => format!("(loop {})", sb(b)),
            ExprKind::ArrayList(xs) => {
                format!("[{}]", xs.iter().map(sx).collect::<Vec<_>>().join(" "))
            }
            ExprKind::ArrayRepeat(x, n) => format!("[{}; {}]", sx(x), sx(n)),
            ExprKind::If(c, t, e) => match e {
                Some(e) => format!("(if {} {} {})", sx(c), sb(t), sx(e)),
                None => format!("(if {} {})", sx(c), sb(t)),
            },
            ExprKind::While(c, b) => format!("(while {} {})", sx(c), sb(b)),
            ExprKind::For(v, a, b, body) => {
                format!("(for {} {} {} {})", v.name, sx(a), sx(b), sb(body))
            }
            ExprKind::Block(b) => sb(b),
            ExprKind::Return(v) => match v {
                Some(v) => format!("(return {})", sx(v)),
                None => "(return)".into(),
            },
            ExprKind::Break => "break".into(),
            ExprKind::Continue => "continue".into(),
            ExprKind::Error => "ERR".into(),
        }
    }

    fn ss_(s: &Stmt) -> String {
        match &s.kind {
            StmtKind::Let { name, ty, init } => match ty {
                Some(t) => format!("(let {}: {} {})", name.name, t.ty, sx(init)),
                None => format!("(let {} {})", name.name, sx(init)),
            },
            StmtKind::Assign { target, op, value } => format!(
                "(set{} {} {})",
                op.map(|o| o.as_str()).unwrap_or(""),
                sx(target),
                sx(value)
            ),
            StmtKind::Expr(e) => format!("{};", sx(e)),
        }
    }

    fn sb(b: &Block) -> String {
        let mut parts: Vec<String> = b.stmts.iter().map(ss_).collect();
        if let Some(t) = &b.tail {
            parts.push(sx(t));
        }
        format!("{{{}}}", parts.join(" "))
    }

    fn si(i: &Item) -> String {
        match i {
            Item::Fn(f) => format!(
                "(fn {}({}){} {})",
                f.name.name,
                f.params
                    .iter()
                    .map(|p| format!("{}: {}", p.name.name, p.ty.ty))
                    .collect::<Vec<_>>()
                    .join(", "),
                f.ret
                    .as_ref()
                    .map(|r| format!(" -> {}", r.ty))
                    .unwrap_or_default(),
                sb(&f.body)
            ),
            Item::Global(g) => format!(
                "({} {}{} {})",
                if g.is_let { "let" } else { "global" },
                g.name.name,
                g.ty.as_ref()
                    .map(|t| format!(": {}", t.ty))
                    .unwrap_or_default(),
                sx(&g.init)
            ),
            Item::Struct(st) => format!(
                "(struct {}{})",
                st.name.name,
                st.fields
                    .iter()
                    .map(|(f, t)| format!(" {}: {}", f.name, t.ty))
                    .collect::<String>()
            ),
            Item::Stmt(s) => ss_(s),
            Item::Tail(e) => format!("(tail {})", sx(e)),
        }
    }

    /// Parses and renders; returns the rendering and the diagnostic messages.
    fn run(src: &str) -> (String, Vec<String>) {
        let (p, d) = parse(src);
        let r = p
            .map(|p| p.items.iter().map(si).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|| "NONE".into());
        (r, d.iter().map(|d| d.message.clone()).collect())
    }

    /// Parses input that must be valid and returns its rendering.
    fn ok(src: &str) -> String {
        let (r, d) = run(src);
        assert!(d.is_empty(), "unexpected errors for {src:?}: {d:?}");
        r
    }

    #[test]
    fn precedence() {
        assert_eq!(
            ok("1 + 2 * 3 - 4 << 1 & 7 ^ 3 | 1 == 2 && true || !false"),
            "(tail (|| (&& (== (| (^ (& (<< (- (+ 1 (* 2 3)) 4) 1) 7) 3) 1) 2) true) (! false)))"
        );
        assert_eq!(ok("a - b - c"), "(tail (- (- a b) c))");
        assert_eq!(ok("a / b % c * d"), "(tail (* (% (/ a b) c) d))");
        assert_eq!(ok("a || b && c"), "(tail (|| a (&& b c)))");
        assert_eq!(ok("a | b ^ c & d"), "(tail (| a (^ b (& c d))))");
        assert_eq!(ok("-a * b"), "(tail (* (- a) b))");
        assert_eq!(ok("--a"), "(tail (- (- a)))");
        assert_eq!(ok("!a == b"), "(tail (== (! a) b))");
        assert_eq!(ok("-x[0]"), "(tail (- (index x 0)))");
        assert_eq!(
            ok("f(x, y,)[1][2]"),
            "(tail (index (index (call f x y) 1) 2))"
        );
        assert_eq!(ok("(1 + 2) * 3"), "(tail (* (+ 1 2) 3))");
        assert_eq!(ok("(a < b) == c"), "(tail (== (< a b) c))");
        assert_eq!(ok("(a <= b) != (c >= d)"), "(tail (!= (<= a b) (>= c d)))");
    }

    #[test]
    fn comparisons_do_not_chain() {
        let (r, d) = run("a < b < c");
        assert_eq!(d.len(), 1);
        assert!(
            d[0].starts_with("comparison operators cannot be chained"),
            "{}",
            d[0]
        );
        assert_eq!(r, "(tail ERR)");
        let (_, diags) = parse("x == y == z");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].primary_span(), Some(Span::new(7, 9)));
    }

    #[test]
    fn integer_literal_range() {
        assert_eq!(ok("-9223372036854775808"), "(tail -9223372036854775808)");
        assert_eq!(ok("9223372036854775807"), "(tail 9223372036854775807)");
        assert_eq!(
            ok("1 - -9223372036854775808"),
            "(tail (- 1 -9223372036854775808))"
        );
        for src in [
            "9223372036854775808",
            "1 - 9223372036854775808",
            "-(9223372036854775808)",
            "!9223372036854775808",
            "18446744073709551616",
            "-99999999999999999999999999999999999999999999999999",
        ] {
            let (_, d) = parse(src);
            assert_eq!(d.len(), 1, "{src}: {d:?}");
            assert_eq!(
                d[0].message, "integer literal out of range for int",
                "{src}"
            );
            let s = d[0].primary_span().unwrap();
            assert!(
                src[s.start..s.end].starts_with(|c: char| c.is_ascii_digit()),
                "{src}"
            );
        }
    }

    #[test]
    fn items_and_tails() {
        assert_eq!(
            ok("fn f(a: int, b: [float],) -> bool { a == 0 } global g: int = 1; let h = 2; g = 3; f(1, [1.0])"),
            "(fn f(a: int, b: [float]) -> bool {(== a 0)}) (global g: int 1) (let h 2) (set g 3) (tail (call f 1 [1.0]))"
        );
        // Block-like statements need no `;`, at the top level too; the last one is the tail.
        assert_eq!(
            ok("if a { 1; } while b { } for i in 0..n { } { x } if c { 1 } else { 2 }"),
            "(if a {1;}); (while b {}); (for i 0 n {}); {x}; (tail (if c {1} {2}))"
        );
        assert_eq!(ok("f(); "), "(call f);");
        assert_eq!(ok(""), "");
        assert_eq!(ok("// just a comment\n"), "");
        // Inside blocks: a block-like expression at the end is the tail.
        assert_eq!(
            ok("fn f() { let x = 1; if x { } while x { } x = 2; { 3 } }"),
            "(fn f() {(let x 1) (if x {}); (while x {}); (set x 2) {3}})"
        );
        assert_eq!(
            ok("fn f() { return; break; continue; return 1 }"),
            "(fn f() {(return); break; continue; (return 1)})"
        );
        assert_eq!(
            ok("if a { } else if b { } else { }"),
            "(tail (if a {} (if b {} {})))"
        );
        assert_eq!(ok("for i in 1..5 { }"), "(tail (for i 1 5 {}))");
        assert_eq!(
            ok("xs[i] %= 2; x -= 1;"),
            "(set% (index xs i) 2) (set- x 1)"
        );
        assert_eq!(
            ok(r#"print("a\n", [1, 2,], [0; n])"#),
            r#"(tail (call print "a\n" [1 2] [0; n]))"#
        );
        // Only an expression may omit `;` at the very end.
        let (_, d) = run("let x = 5");
        assert_eq!(d, vec!["expected `;` after statement, found end of input"]);
        let (_, d) = run("global x = 5");
        assert_eq!(d, vec!["expected `;` after statement, found end of input"]);
        let (_, d) = run("x = 5");
        assert_eq!(d, vec!["expected `;` after statement, found end of input"]);
        // In a block, as in Rust, a final assignment needs none.
        assert_eq!(ok("fn f() { x = 5 }"), "(fn f() {(set x 5)})");
    }

    #[test]
    fn strings_structs_and_loops() {
        assert_eq!(
            ok("struct P { x: float, ys: [[int]], } let p = P { x: 1.0, ys: [] }; p.x += 1.0;"),
            "(struct P x: float ys: [[int]]) (let p (new P x=1.0 ys=[])) (set+ (. p x) 1.0)"
        );
        assert_eq!(
            ok(r#"s[1..n - 1] + "A""#),
            r#"(tail (+ (slice s 1 (- n 1)) "A"))"#
        );
        assert_eq!(
            ok("grid[i][j] = 1; pts[k].x -= 2.0; a.b.c[0].d"),
            "(set (index (index grid i) j) 1) (set- (. (index pts k) x) 2.0) (tail (. (index (. (. a b) c) 0) d))"
        );
        assert_eq!(
            ok("loop { break; } x <<= 1; x >>= 2; x &= 3; x |= 4; x ^= 5;"),
            "(loop {break;}); (set<< x 1) (set>> x 2) (set& x 3) (set| x 4) (set^ x 5)"
        );
        // `x {` followed by anything but `field:` is a block, not a literal.
        assert_eq!(ok("if x { y } else { z }"), "(tail (if x {y} {z}))");
        assert_eq!(ok("while p.ok { }"), "(tail (while (. p ok) {}))");
        // A literal in a condition parses (the checker rejects it with a clear message).
        assert_eq!(
            ok("if P { x: 1 }.x == 1 { }"),
            "(tail (if (== (. (new P x=1) x) 1) {}))"
        );
    }

    #[test]
    fn fn_span_covers_the_item() {
        let src = "  fn sq(x: int) -> int {\n  x * x\n}  \nsq(2)";
        let (p, d) = parse(src);
        assert!(d.is_empty());
        let Some(Item::Fn(f)) = p.unwrap().items.into_iter().next() else {
            panic!()
        };
        assert_eq!(
            &src[f.span.start..f.span.end],
            "fn sq(x: int) -> int {\n  x * x\n}"
        );
    }

    #[test]
    fn missing_semicolons() {
        let (r, d) = run("let x = 1 let y = 2;");
        assert_eq!(d, vec!["expected `;` after statement, found `let`"]);
        assert_eq!(r, "(let x 1) (let y 2)");
        let (_, d) = run("fn f() { let x = 1 }");
        assert_eq!(d, vec!["expected `;` after statement, found `}`"]);
        let (_, d) = run("fn f() { a b }");
        assert_eq!(
            d,
            vec!["expected `;` after statement, found identifier `b`"]
        );
        let (_, d) = run("x = 1 y = 2;");
        assert_eq!(
            d,
            vec!["expected `;` after statement, found identifier `y`"]
        );
    }

    #[test]
    fn recovery_reports_every_error() {
        // Two broken functions: two errors, and the good function after them survives.
        let (r, d) = run("fn a() { let = 1; } fn b() -> { 2 } fn c() -> int { 3 }");
        assert_eq!(d.len(), 2, "{d:?}");
        assert_eq!(d[0], "expected identifier, found `=`");
        assert_eq!(d[1], "expected type, found `{`");
        assert!(r.contains("(fn c() -> int {3})"), "{r}");
        // Two broken statements in one function.
        let (r, d) = run("fn f() { let x = ; let y = (1 + ; x }");
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(r.ends_with("x})"), "{r}");
        // A stray closer inside a function only costs its statement.
        let (r, d) = run("fn f() -> int { let x = 1); x }");
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(r, "(fn f() -> int {(let x 1) ERR; x})");
        // Errors inside delimiters.
        let (_, d) = run("f(1 +); g([1, , 2]); h(3)");
        assert_eq!(d.len(), 2, "{d:?}");
        // Lexical and syntax errors together.
        let (_, d) = run("let a = 1 @ 2; let b = \"x\\q\"; let c = ;");
        assert_eq!(d.len(), 3, "{d:?}");
    }

    #[test]
    fn located_syntax_errors() {
        let cases = [
            ("let x = ;", "expected expression, found `;`", ";"),
            (
                "f(1) = 2;",
                "invalid assignment target: expected a variable, an indexed element or a field",
                "f(1)",
            ),
            (
                "1 + 2 = 3;",
                "invalid assignment target: expected a variable, an indexed element or a field",
                "1 + 2",
            ),
            (
                "p.1 = 3;",
                "expected field name, found integer literal `1`",
                "1",
            ),
            (
                "struct P { x: int, }; struct { }",
                "expected struct name, found `{`",
                "{",
            ),
            (
                "(f)(1)(2)",
                "only named functions can be called: expected a function name before `(`",
                "(f)(1)",
            ),
            (
                "fn f() { if x { 1 } else }",
                "expected `if` or `{`, found `}`",
                "}",
            ),
            (
                "fn f() {",
                "expected `}` or statement, found end of input",
                "",
            ),
            (
                "print(1",
                "expected `)`, `,` or operator, found end of input",
                "",
            ),
            ("foo)", "expected `;`, item or operator, found `)`", ")"),
        ];
        for (src, msg, at) in cases {
            let (_, d) = parse(src);
            assert_eq!(d.len(), 1, "{src}: {d:?}");
            assert_eq!(d[0].message, msg, "{src}");
            let s = d[0].primary_span().unwrap();
            assert_eq!(&src[s.start..s.end], at, "{src}");
        }
    }

    /// Runs `f` on a thread with a small stack, as test threads and REPL threads may have.
    fn small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn deep_nesting_is_rejected_not_overflowing() {
        small_stack(|| {
            for (open, close) in [("(", ")"), ("[", "]"), ("{", "}")] {
                let src = format!("{}1{}", open.repeat(10_000), close.repeat(10_000));
                let (p, d) = parse(&src);
                assert!(p.is_none());
                assert_eq!(d.len(), 1);
                assert!(
                    d[0].message.starts_with("code nested too deeply"),
                    "{}",
                    d[0].message
                );
                assert_eq!(
                    d[0].primary_span(),
                    Some(Span::new(MAX_NESTING, MAX_NESTING + 1))
                );
            }
            // Unclosed brackets are rejected the same way.
            assert!(parse(&"(".repeat(100_000)).0.is_none());
            // Exactly at the limit is fine.
            let src = format!("{}1{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
            let (p, d) = parse(&src);
            assert!(p.is_some() && d.is_empty(), "{d:?}");
            let src = format!(
                "x = {}1{};",
                "[".repeat(MAX_NESTING),
                "]".repeat(MAX_NESTING)
            );
            assert!(parse(&src).1.is_empty());
        });
    }

    #[test]
    fn long_chains_are_bounded() {
        small_stack(|| {
            // Operator chains nest the tree without brackets.
            let (p, d) = parse(&format!("1{}", " + 1".repeat(50_000)));
            assert!(p.is_none());
            assert!(
                d[0].message.starts_with("expression too deeply nested"),
                "{}",
                d[0].message
            );
            assert!(parse(&"-".repeat(50_000)).0.is_none());
            assert!(parse(&format!("{}1", "return ".repeat(5_000))).0.is_none());
            let else_ifs = format!("if a {{ }}{} else {{ }}", " else if a { }".repeat(5_000));
            assert!(parse(&else_ifs).0.is_none());
            // Below the limits everything is accepted and checked.
            let src = format!(
                "fn f() -> int {{ 1{} }} if a {{ }}{}",
                " + 1".repeat(MAX_CHAIN - 10),
                " else if a { }".repeat(90)
            );
            let (p, d) = parse(&src);
            assert!(p.is_some() && d.is_empty(), "{d:?}");
            // The counts are per statement: long programs are fine.
            let src =
                "x = x + 1 * 2; if x < 3 { } else { } while x > 0 { x -= 1; }\n".repeat(2_000);
            let (p, d) = parse(&src);
            assert!(p.is_some() && d.is_empty(), "{d:?}");
        });
    }
}
