//! AST -> typed AST: name resolution and type checking.
//!
//! The checker reports every error it finds. After an error it carries on with a *poison*
//! value: an expression of type [`Type::Error`], which fits every expected type, so one mistake
//! does not cascade into a stream of follow-up errors. Poison never reaches the output: a
//! program with any error yields `Err`. (Parser recovery feeds the same mechanism: an
//! `ExprKind::Error` placeholder, or a type annotation the parser could not read and left as
//! `Error`, is poison that was already reported.) Divergence is a type of its own,
//! [`Type::Never`]: it also fits everywhere, but it is a real type the back end compiles.

use crate::ast::{self, BinOp, ExprKind, StmtKind, UnOp};
use crate::tast::{
    Builtin, LocalId, LocalInfo, PrintArg, TBlock, TExpr, TExprKind, TFn, TPlace, TProgram, TStmt,
    TTop, TTopItem,
};
use crate::{Diagnostic, FnSig, Span, Type};
use std::collections::{BTreeSet, HashMap, HashSet};

/// What the session already knows: functions and globals defined by earlier inputs.
pub trait Env {
    /// The current signature of a user function defined earlier, if any.
    fn function(&self, name: &str) -> Option<FnSig>;
    /// The current type of a global defined earlier, if any.
    fn global(&self, name: &str) -> Option<Type>;
}

/// Type-checks a parsed program against the session.
///
/// Functions defined in `program` take precedence over the session's (`env`), and all of them
/// see each other whatever their order; globals declared anywhere in `program` are visible to
/// all of its code. `src` is the text `program` was parsed from.
pub fn check(
    program: &ast::Program,
    src: &str,
    env: &dyn Env,
) -> Result<TProgram, Vec<Diagnostic>> {
    // Only positions are needed from the source; spans already locate everything.
    let _ = src;
    // The checker recurses once per syntax-tree level, so it runs on a thread with a large
    // stack (see `parser::on_big_stack`). `Env` is not required to be `Sync`, so every session
    // lookup the program can need is answered here, on the caller's thread, first.
    let snapshot = Snapshot::take(program, env);
    let program = program.clone();
    crate::parser::on_big_stack(move || {
        let mut checker = Checker::new(&snapshot);
        let typed = checker.program(&program);
        if checker.diags.is_empty() {
            Ok(typed)
        } else {
            let mut diags = checker.diags;
            diags.sort_by_key(|d| d.primary_span().map(|s| (s.start, s.end)));
            Err(diags)
        }
    })
}

/// The answers of [`Env`] for every name the program mentions.
struct Snapshot {
    functions: HashMap<String, FnSig>,
    globals: HashMap<String, Type>,
}

impl Snapshot {
    /// Walks the program without recursion (the caller's stack may be small) and asks `env`
    /// about every variable and function name in it.
    fn take(program: &ast::Program, env: &dyn Env) -> Snapshot {
        let mut vars = HashSet::new();
        let mut fns = HashSet::new();
        let mut work: Vec<&ast::Expr> = Vec::new();
        fn push_block<'a>(b: &'a ast::Block, work: &mut Vec<&'a ast::Expr>) {
            for s in &b.stmts {
                push_stmt(s, work);
            }
            if let Some(t) = &b.tail {
                work.push(t);
            }
        }
        fn push_stmt<'a>(s: &'a ast::Stmt, work: &mut Vec<&'a ast::Expr>) {
            match &s.kind {
                StmtKind::Let { init, .. } => work.push(init),
                StmtKind::Assign { target, value, .. } => {
                    work.push(target);
                    work.push(value);
                }
                StmtKind::Expr(e) => work.push(e),
            }
        }
        for item in &program.items {
            match item {
                ast::Item::Fn(f) => push_block(&f.body, &mut work),
                ast::Item::Global(g) => {
                    vars.insert(g.name.name.as_str());
                    work.push(&g.init);
                }
                ast::Item::Stmt(s) => push_stmt(s, &mut work),
                ast::Item::Tail(e) => work.push(e),
            }
        }
        while let Some(e) = work.pop() {
            match &e.kind {
                ExprKind::Var(v) => {
                    vars.insert(v.as_str());
                }
                ExprKind::Call(f, args) => {
                    fns.insert(f.name.as_str());
                    work.extend(args);
                }
                ExprKind::Unary(_, a) => work.push(a),
                ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) | ExprKind::ArrayRepeat(a, b) => {
                    work.push(a);
                    work.push(b);
                }
                ExprKind::ArrayList(xs) => work.extend(xs),
                ExprKind::If(c, t, els) => {
                    work.push(c);
                    push_block(t, &mut work);
                    if let Some(els) = els {
                        work.push(els);
                    }
                }
                ExprKind::While(c, b) => {
                    work.push(c);
                    push_block(b, &mut work);
                }
                ExprKind::For(_, lo, hi, b) => {
                    work.push(lo);
                    work.push(hi);
                    push_block(b, &mut work);
                }
                ExprKind::Block(b) => push_block(b, &mut work),
                ExprKind::Return(v) => work.extend(v.as_deref()),
                ExprKind::Int(_)
                | ExprKind::Float(_)
                | ExprKind::Bool(_)
                | ExprKind::Str(_)
                | ExprKind::Break
                | ExprKind::Continue
                | ExprKind::Error => {}
            }
        }
        Snapshot {
            functions: fns
                .into_iter()
                .filter_map(|f| Some((f.to_string(), env.function(f)?)))
                .collect(),
            globals: vars
                .into_iter()
                .filter_map(|g| Some((g.to_string(), env.global(g)?)))
                .collect(),
        }
    }
}

/// `actual` can be used where `expected` is wanted. `Never` (divergence) and `Error` (poison)
/// fit everywhere, and an unreadable annotation (`Error`) accepts everything.
fn fits(actual: Type, expected: Type) -> bool {
    actual == expected || actual.fits_anywhere() || expected == Type::Error
}

fn mismatch(expected: impl std::fmt::Display, found: Type, at: Span) -> Diagnostic {
    Diagnostic::error(
        format!("mismatched types: expected `{expected}`, found `{found}`"),
        at,
        format!("expected `{expected}`, found `{found}`"),
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// An expression that stands for one whose error has been reported.
fn poison(span: Span) -> TExpr {
    TExpr {
        kind: TExprKind::Unit,
        ty: Type::Error,
        span,
    }
}

/// What a global is known as in this program.
#[derive(Clone, Copy)]
struct GlobalInfo {
    ty: Type,
    /// Where it was first declared.
    span: Span,
}

/// Per-body state: a function body or the top-level code.
#[derive(Default)]
struct Body {
    locals: Vec<LocalInfo>,
    /// Innermost scope last.
    scopes: Vec<Vec<(String, LocalId)>>,
    loop_depth: usize,
    /// The return type, `None` at the top level (where `return` is an error).
    ret: Option<Type>,
    calls: BTreeSet<String>,
    globals: BTreeSet<String>,
}

struct Checker<'a> {
    env: &'a Snapshot,
    diags: Vec<Diagnostic>,
    /// Signatures of the functions defined in this program (first definition of a name).
    fns: HashMap<String, FnSig>,
    /// Globals of this program whose type is known so far.
    globals: HashMap<String, GlobalInfo>,
    /// Globals declared later in the program without an annotation, whose type is not known
    /// until their declaration is checked.
    pending_globals: HashSet<String>,
    /// Globals of the session read by top-level code before this program's unannotated
    /// declaration of them: they are read with the session's type, which the declaration must
    /// then keep.
    read_before_decl: HashMap<String, (Type, Span)>,
    body: Body,
}

impl<'a> Checker<'a> {
    fn new(env: &'a Snapshot) -> Self {
        Checker {
            env,
            diags: Vec::new(),
            fns: HashMap::new(),
            globals: HashMap::new(),
            pending_globals: HashSet::new(),
            read_before_decl: HashMap::new(),
            body: Body::default(),
        }
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn program(&mut self, program: &ast::Program) -> TProgram {
        // Pass 1: every function's signature, so bodies and top-level code can call any of
        // them (mutual recursion, calls before the definition).
        let mut first_def: HashMap<&str, Span> = HashMap::new();
        for item in &program.items {
            let ast::Item::Fn(f) = item else { continue };
            let name = f.name.name.as_str();
            if Builtin::from_name(name).is_some() {
                self.error(Diagnostic::error(
                    format!("cannot redefine builtin `{name}`"),
                    f.name.span,
                    "this name is reserved for a builtin function",
                ));
            }
            if let Some(&first) = first_def.get(name) {
                self.error(
                    Diagnostic::error(
                        format!("the function `{name}` is defined more than once"),
                        f.name.span,
                        "redefined here",
                    )
                    .with_label(first, "first defined here")
                    .with_note("an input or file may define each function only once"),
                );
                continue;
            }
            first_def.insert(name, f.name.span);
            let sig = FnSig {
                params: f.params.iter().map(|p| p.ty.ty).collect(),
                ret: f.ret.as_ref().map_or(Type::Unit, |r| r.ty),
            };
            self.fns.insert(name.to_string(), sig);
        }

        // Pass 1b: globals with a written type are known everywhere from the start.
        for item in &program.items {
            let ast::Item::Global(g) = item else { continue };
            match &g.ty {
                Some(ann) => self.declare_global(&g.name, ann.ty),
                None => {
                    if !self.globals.contains_key(&g.name.name) {
                        self.pending_globals.insert(g.name.name.clone());
                    }
                }
            }
        }

        // Pass 2: top-level code in source order (it fixes the types of unannotated globals).
        self.body = Body::default();
        self.body.scopes.push(Vec::new());
        let mut items = Vec::new();
        for item in &program.items {
            match item {
                ast::Item::Fn(_) => {}
                ast::Item::Global(g) => items.push(self.global_decl(g)),
                ast::Item::Stmt(s) => items.push(TTopItem::Stmt(self.stmt(s))),
                ast::Item::Tail(e) => items.push(TTopItem::Tail(self.expr(e))),
            }
        }
        let top_body = std::mem::take(&mut self.body);
        let top = TTop {
            locals: top_body.locals,
            items,
            calls: top_body.calls,
            globals: top_body.globals,
        };

        // Pass 3: function bodies, which see every global of the program.
        let fns = program
            .items
            .iter()
            .filter_map(|item| match item {
                ast::Item::Fn(f) => Some(f),
                _ => None,
            })
            .map(|f| self.function(f))
            .collect();
        TProgram { fns, top }
    }

    /// Records the type of a global declared in this program.
    fn declare_global(&mut self, name: &ast::Ident, ty: Type) {
        if let Some(prev) = self.globals.get(&name.name) {
            if prev.ty != ty && prev.ty != Type::Error && ty != Type::Error {
                let prev = *prev;
                self.error(
                    Diagnostic::error(
                        format!(
                            "the global `{}` is declared with two different types: `{}` and `{}`",
                            name.name, prev.ty, ty
                        ),
                        name.span,
                        format!("declared here as `{ty}`"),
                    )
                    .with_label(prev.span, format!("declared here as `{}`", prev.ty)),
                );
            }
            return;
        }
        self.pending_globals.remove(&name.name);
        if let Some((old, used)) = self.read_before_decl.get(&name.name).copied() {
            if old != ty && ty != Type::Error {
                self.error(
                    Diagnostic::error(
                        format!(
                            "the global `{}` is read as `{old}` before this declaration makes it `{ty}`",
                            name.name
                        ),
                        name.span,
                        format!("declared here as `{ty}`"),
                    )
                    .with_label(used, format!("read here as `{old}`")),
                );
            }
        }
        self.globals.insert(
            name.name.clone(),
            GlobalInfo {
                ty,
                span: name.span,
            },
        );
    }

    fn global_decl(&mut self, g: &ast::GlobalDecl) -> TTopItem {
        let name = &g.name.name;
        if Builtin::from_name(name).is_some() {
            self.error(Diagnostic::error(
                format!("cannot redefine builtin `{name}`"),
                g.name.span,
                "this name is reserved for a builtin function",
            ));
        }
        let init = self.expr(&g.init);
        let ty = match &g.ty {
            Some(ann) => self.annotated(ann, &init),
            None => match init.ty {
                // A diverging initializer at the top level is always an error of its own
                // (`return`, or `break` outside a loop), and poison was reported where it
                // arose, so only unit is reported here.
                Type::Unit | Type::Never | Type::Error => {
                    if init.ty == Type::Unit {
                        self.error(Diagnostic::error(
                            "a global cannot have type `()`",
                            init.span,
                            "this initializer has no value",
                        ));
                    }
                    // Known from now on as poison, so that its uses add no errors.
                    self.declare_global(&g.name, Type::Error);
                    Type::Error
                }
                t => {
                    self.declare_global(&g.name, t);
                    t
                }
            },
        };
        self.body.globals.insert(name.clone());
        TTopItem::Global {
            is_let: g.is_let,
            name: name.clone(),
            name_span: g.name.span,
            ty,
            init,
            span: g.span,
        }
    }

    fn function(&mut self, f: &ast::FnDef) -> TFn {
        let sig = FnSig {
            params: f.params.iter().map(|p| p.ty.ty).collect(),
            ret: f.ret.as_ref().map_or(Type::Unit, |r| r.ty),
        };
        self.body = Body {
            ret: Some(sig.ret),
            scopes: vec![Vec::new()],
            ..Body::default()
        };
        let mut seen: HashMap<&str, Span> = HashMap::new();
        for p in &f.params {
            if let Some(&first) = seen.get(p.name.name.as_str()) {
                self.error(
                    Diagnostic::error(
                        format!(
                            "identifier `{}` is bound more than once in this parameter list",
                            p.name.name
                        ),
                        p.name.span,
                        "used as parameter more than once",
                    )
                    .with_label(first, "first bound here"),
                );
            }
            seen.insert(&p.name.name, p.name.span);
            // Parameters are declared even when duplicated so that locals[i] is param i.
            self.declare_local(&p.name.name, p.ty.ty);
        }
        let body = self.block(&f.body);
        if !fits(body.ty, sig.ret) {
            let at = match &body.tail {
                Some(t) => t.span,
                // No value: point at the closing brace.
                None => Span::new(body.span.end.saturating_sub(1), body.span.end),
            };
            let mut d = mismatch(sig.ret, body.ty, at);
            if let Some(r) = &f.ret {
                d = d.with_label(
                    r.span,
                    format!("expected `{}` because of the return type", r.ty),
                );
            }
            if body.ty == Type::Unit && body.tail.is_none() {
                d = d.with_note(
                    "the value of a function body is its last expression, written without `;`",
                );
            }
            self.error(d);
        }
        let b = std::mem::take(&mut self.body);
        TFn {
            name: f.name.name.clone(),
            name_span: f.name.span,
            span: f.span,
            sig,
            locals: b.locals,
            body,
            calls: b.calls,
            globals: b.globals,
        }
    }

    fn declare_local(&mut self, name: &str, ty: Type) -> LocalId {
        let id = self.body.locals.len();
        self.body.locals.push(LocalInfo {
            name: name.to_string(),
            ty,
        });
        if let Some(scope) = self.body.scopes.last_mut() {
            scope.push((name.to_string(), id));
        }
        id
    }

    fn lookup_local(&self, name: &str) -> Option<LocalId> {
        self.body
            .scopes
            .iter()
            .rev()
            .find_map(|s| s.iter().rev().find(|(n, _)| n == name).map(|&(_, id)| id))
    }

    /// The type of a global visible under `name`, recording the use; reports unknown names.
    fn lookup_global(&mut self, name: &str, at: Span) -> Option<Type> {
        let ty = match self.globals.get(name) {
            Some(g) => Some(g.ty),
            // The session already has it (`let total = total + 10;`): until this program's
            // declaration runs, the existing global is what top-level code reads.
            None if self.pending_globals.contains(name) && self.env.globals.contains_key(name) => {
                let t = self.env.globals.get(name).copied();
                if let Some(t) = t {
                    self.read_before_decl
                        .entry(name.to_string())
                        .or_insert((t, at));
                }
                t
            }
            None if self.pending_globals.contains(name) => {
                self.error(
                    Diagnostic::error(
                        format!("the type of global `{name}` is not known yet"),
                        at,
                        "used before its declaration",
                    )
                    .with_note(format!(
                        "`{name}` is declared later without a type annotation; add one (e.g. `global {name}: int = ...;`)"
                    )),
                );
                return None;
            }
            None => self.env.globals.get(name).copied(),
        };
        match ty {
            Some(t) => {
                self.body.globals.insert(name.to_string());
                Some(t)
            }
            None => {
                self.error(Diagnostic::error(
                    format!("cannot find value `{name}` in this scope"),
                    at,
                    "not found in this scope",
                ));
                None
            }
        }
    }

    fn block(&mut self, b: &ast::Block) -> TBlock {
        self.body.scopes.push(Vec::new());
        let stmts: Vec<TStmt> = b.stmts.iter().map(|s| self.stmt(s)).collect();
        let tail = b.tail.as_ref().map(|t| Box::new(self.expr(t)));
        self.body.scopes.pop();
        let stmt_ty = |want: Type| {
            stmts
                .iter()
                .any(|s| matches!(s, TStmt::Expr(e) if e.ty == want))
        };
        let ty = match &tail {
            Some(t) => t.ty,
            None if stmt_ty(Type::Never) => Type::Never,
            // A poisoned statement: the block's type is unknown, not `()`.
            None if stmt_ty(Type::Error) => Type::Error,
            None => Type::Unit,
        };
        TBlock {
            stmts,
            tail,
            ty,
            span: b.span,
        }
    }

    /// The type a `let` or `global` annotation gives, after checking the initializer fits it.
    fn annotated(&mut self, ann: &ast::TypeAnn, init: &TExpr) -> Type {
        if !fits(init.ty, ann.ty) {
            self.error(
                mismatch(ann.ty, init.ty, init.span)
                    .with_label(ann.span, "expected because of this type"),
            );
        }
        ann.ty
    }

    fn stmt(&mut self, s: &ast::Stmt) -> TStmt {
        match &s.kind {
            StmtKind::Let { name, ty, init } => {
                let init = self.expr(init);
                let local_ty = match ty {
                    Some(ann) => self.annotated(ann, &init),
                    // A diverging initializer never stores anything, so the variable can never
                    // be read at run time: as in Rust it has the never type, which fits
                    // anything (`let x = return 5; x` checks in a function returning int).
                    // After an error the variable is poison, which is the same type.
                    None => init.ty,
                };
                // Declared after the initializer: `let x = x + 1;` reads the outer `x`.
                let local = self.declare_local(&name.name, local_ty);
                TStmt::Let { local, init }
            }
            StmtKind::Assign { target, op, value } => {
                let place = self.place(target);
                let value = self.expr(value);
                if let Some((_, target_ty)) = &place {
                    let target_ty = *target_ty;
                    match op {
                        None => {
                            if !fits(value.ty, target_ty) {
                                self.error(mismatch(target_ty, value.ty, value.span).with_label(
                                    target.span,
                                    format!("this has type `{target_ty}`"),
                                ));
                            }
                        }
                        Some(op) => {
                            let ok = matches!(
                                target_ty,
                                Type::Int | Type::Float | Type::Never | Type::Error
                            ) && fits(value.ty, target_ty);
                            if !ok {
                                self.error(
                                    Diagnostic::error(
                                        format!(
                                            "cannot apply `{}=` to `{}` and `{}`",
                                            op.as_str(),
                                            target_ty,
                                            value.ty
                                        ),
                                        s.span,
                                        "",
                                    )
                                    .with_label(target.span, format!("`{target_ty}`"))
                                    .with_label(value.span, format!("`{}`", value.ty))
                                    .with_note("compound assignment needs two ints or two floats"),
                                );
                            }
                        }
                    }
                }
                TStmt::Assign {
                    target: place.map_or(TPlace::Global(String::new()), |(p, _)| p),
                    op: *op,
                    value,
                    span: s.span,
                }
            }
            StmtKind::Expr(e) => TStmt::Expr(self.expr(e)),
        }
    }

    /// An assignment target and its type; `None` after an error.
    fn place(&mut self, target: &ast::Expr) -> Option<(TPlace, Type)> {
        match &target.kind {
            ExprKind::Var(name) => {
                if let Some(id) = self.lookup_local(name) {
                    return Some((TPlace::Local(id), self.body.locals[id].ty));
                }
                let ty = self.lookup_global(name, target.span)?;
                Some((TPlace::Global(name.clone()), ty))
            }
            ExprKind::Index(base, index) => {
                let (base, index, ty) = self.index(base, index)?;
                Some((TPlace::Index(Box::new(base), Box::new(index)), ty))
            }
            ExprKind::Error => None,
            _ => {
                self.error(Diagnostic::error(
                    "invalid assignment target",
                    target.span,
                    "expected a variable or an indexed array element",
                ));
                None
            }
        }
    }

    /// Checks `base[index]`; returns the parts and the element type, `None` after an error.
    fn index(&mut self, base: &ast::Expr, index: &ast::Expr) -> Option<(TExpr, TExpr, Type)> {
        let base = self.expr(base);
        let index = self.expr(index);
        let mut ok = true;
        if !fits(index.ty, Type::Int) {
            self.error(
                mismatch(Type::Int, index.ty, index.span).with_note("array indices are `int`"),
            );
            ok = false;
        }
        let elem = match base.ty {
            t @ (Type::Never | Type::Error) => t,
            t => match t.elem() {
                Some(e) => e,
                None => {
                    self.error(Diagnostic::error(
                        format!("cannot index into a value of type `{t}`"),
                        base.span,
                        "not an array",
                    ));
                    return None;
                }
            },
        };
        ok.then_some((base, index, elem))
    }

    fn expr(&mut self, e: &ast::Expr) -> TExpr {
        let at = e.span;
        let typed = |kind, ty| TExpr { kind, ty, span: at };
        match &e.kind {
            ExprKind::Int(v) => typed(TExprKind::Int(*v), Type::Int),
            ExprKind::Float(v) => typed(TExprKind::Float(*v), Type::Float),
            ExprKind::Bool(v) => typed(TExprKind::Bool(*v), Type::Bool),
            ExprKind::Str(_) => {
                self.error(Diagnostic::error(
                    "string literals can only be used as arguments of `print`",
                    at,
                    "strings are not values",
                ));
                poison(at)
            }
            ExprKind::Var(name) => {
                if let Some(id) = self.lookup_local(name) {
                    return typed(TExprKind::Local(id), self.body.locals[id].ty);
                }
                match self.lookup_global(name, at) {
                    Some(ty) => typed(TExprKind::Global(name.clone()), ty),
                    None => poison(at),
                }
            }
            ExprKind::Unary(op, a) => {
                let a = self.expr(a);
                let ty = match (op, a.ty) {
                    (_, t @ (Type::Never | Type::Error)) => t,
                    (UnOp::Neg, t @ (Type::Int | Type::Float)) => t,
                    (UnOp::Not, Type::Bool) => Type::Bool,
                    (op, t) => {
                        let (sym, need) = match op {
                            UnOp::Neg => ("-", "`int` or `float`"),
                            UnOp::Not => ("!", "`bool`"),
                        };
                        self.error(Diagnostic::error(
                            format!("cannot apply unary `{sym}` to `{t}`"),
                            at,
                            format!("expected {need}, found `{t}`"),
                        ));
                        return poison(at);
                    }
                };
                typed(TExprKind::Unary(*op, Box::new(a)), ty)
            }
            ExprKind::Binary(op, a, b) => {
                let a = self.expr(a);
                let b = self.expr(b);
                match binary_type(*op, a.ty, b.ty) {
                    Some(ty) => typed(TExprKind::Binary(*op, Box::new(a), Box::new(b)), ty),
                    None => {
                        let mut d = Diagnostic::error(
                            format!(
                                "cannot apply `{}` to `{}` and `{}`",
                                op.as_str(),
                                a.ty,
                                b.ty
                            ),
                            at,
                            "",
                        )
                        .with_label(a.span, format!("`{}`", a.ty))
                        .with_label(b.span, format!("`{}`", b.ty));
                        d = d.with_note(match op {
                            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
                                "arithmetic needs two ints or two floats (there are no implicit conversions: use `float(i)` or `int(f)`)"
                            }
                            BinOp::Shl | BinOp::Shr | BinOp::BitAnd | BinOp::BitXor | BinOp::BitOr => {
                                "bitwise operators need two ints"
                            }
                            BinOp::Eq | BinOp::Ne => {
                                "`==` and `!=` compare two ints, two floats or two bools (arrays are not comparable)"
                            }
                            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                                "ordering compares two ints or two floats"
                            }
                            BinOp::And | BinOp::Or => "`&&` and `||` need two bools",
                        });
                        self.error(d);
                        poison(at)
                    }
                }
            }
            ExprKind::Call(f, args) => self.call(f, args, at),
            ExprKind::Index(base, index) => match self.index(base, index) {
                Some((base, index, ty)) => {
                    typed(TExprKind::Index(Box::new(base), Box::new(index)), ty)
                }
                None => poison(at),
            },
            ExprKind::ArrayList(xs) => {
                let xs: Vec<TExpr> = xs.iter().map(|x| self.expr(x)).collect();
                let Some(elem) = xs.iter().map(|x| x.ty).find(|&t| !t.fits_anywhere()) else {
                    // Every element failed, or diverges: the array is never built.
                    if xs.iter().any(|x| x.ty == Type::Error) {
                        return poison(at);
                    }
                    return typed(TExprKind::ArrayList(xs), Type::Never);
                };
                let Some(array_ty) = self.array_of(elem, xs[0].span) else {
                    return poison(at);
                };
                let mut ok = true;
                for x in &xs {
                    if !fits(x.ty, elem) {
                        self.error(
                            mismatch(elem, x.ty, x.span)
                                .with_note("all elements of an array have the same type"),
                        );
                        ok = false;
                    }
                }
                if ok {
                    typed(TExprKind::ArrayList(xs), array_ty)
                } else {
                    poison(at)
                }
            }
            ExprKind::ArrayRepeat(x, n) => {
                let x = self.expr(x);
                let n = self.expr(n);
                let mut ok = true;
                if !fits(n.ty, Type::Int) {
                    self.error(
                        mismatch(Type::Int, n.ty, n.span)
                            .with_note("the length of `[e; n]` is an `int`"),
                    );
                    ok = false;
                }
                let ty = match x.ty {
                    t @ (Type::Never | Type::Error) => t,
                    t => match self.array_of(t, x.span) {
                        Some(a) => a,
                        None => return poison(at),
                    },
                };
                if ok {
                    typed(TExprKind::ArrayRepeat(Box::new(x), Box::new(n)), ty)
                } else {
                    poison(at)
                }
            }
            ExprKind::If(c, then, els) => {
                let c = self.condition(c);
                let then = self.block(then);
                match els {
                    None => {
                        if !fits(then.ty, Type::Unit) {
                            let at_tail = then.tail.as_ref().map_or(then.span, |t| t.span);
                            self.error(
                                mismatch(Type::Unit, then.ty, at_tail)
                                    .with_note("an `if` without `else` has type `()`; add an `else` branch to give it a value"),
                            );
                        }
                        typed(TExprKind::If(Box::new(c), then, None), Type::Unit)
                    }
                    Some(els) => {
                        let els = self.expr(els);
                        let ty = match (then.ty, els.ty) {
                            (Type::Error, _) | (_, Type::Error) => Type::Error,
                            (Type::Never, t) | (t, Type::Never) => t,
                            (t, u) if t == u => t,
                            (t, u) => {
                                let then_at = then.tail.as_ref().map_or(then.span, |t| t.span);
                                self.error(
                                    Diagnostic::error(
                                        format!("`if` and `else` have incompatible types: `{t}` and `{u}`"),
                                        els.span,
                                        format!("expected `{t}`, found `{u}`"),
                                    )
                                    .with_label(then_at, format!("this is `{t}`")),
                                );
                                return poison(at);
                            }
                        };
                        typed(TExprKind::If(Box::new(c), then, Some(Box::new(els))), ty)
                    }
                }
            }
            ExprKind::While(c, body) => {
                let c = self.condition(c);
                let body = self.loop_body(body);
                typed(TExprKind::While(Box::new(c), body), Type::Unit)
            }
            ExprKind::For(var, lo, hi, body) => {
                let lo = self.expr(lo);
                let hi = self.expr(hi);
                for bound in [&lo, &hi] {
                    if !fits(bound.ty, Type::Int) {
                        self.error(
                            mismatch(Type::Int, bound.ty, bound.span)
                                .with_note("`for` ranges are over ints"),
                        );
                    }
                }
                // The loop variable lives in its own scope around the body.
                self.body.scopes.push(Vec::new());
                let local = self.declare_local(&var.name, Type::Int);
                let body = self.loop_body(body);
                self.body.scopes.pop();
                typed(
                    TExprKind::For(local, Box::new(lo), Box::new(hi), body),
                    Type::Unit,
                )
            }
            ExprKind::Block(b) => {
                let b = self.block(b);
                let ty = b.ty;
                typed(TExprKind::Block(b), ty)
            }
            ExprKind::Return(v) => {
                let v = v.as_ref().map(|v| self.expr(v));
                match self.body.ret {
                    None => self.error(Diagnostic::error(
                        "`return` outside of a function",
                        at,
                        "top-level code cannot return",
                    )),
                    Some(ret) => match &v {
                        Some(v) => {
                            if !fits(v.ty, ret) {
                                self.error(
                                    mismatch(ret, v.ty, v.span)
                                        .with_note(format!("the function returns `{ret}`")),
                                );
                            }
                        }
                        None => {
                            if !fits(Type::Unit, ret) {
                                self.error(mismatch(ret, Type::Unit, at).with_note(format!(
                                    "the function returns `{ret}`: write `return VALUE;`"
                                )));
                            }
                        }
                    },
                }
                typed(TExprKind::Return(v.map(Box::new)), Type::Never)
            }
            ExprKind::Break | ExprKind::Continue => {
                let (kw, kind) = if matches!(e.kind, ExprKind::Break) {
                    ("break", TExprKind::Break)
                } else {
                    ("continue", TExprKind::Continue)
                };
                if self.body.loop_depth == 0 {
                    self.error(Diagnostic::error(
                        format!("`{kw}` outside of a loop"),
                        at,
                        format!("cannot `{kw}` outside of a loop"),
                    ));
                }
                typed(kind, Type::Never)
            }
            // The parser reported this one.
            ExprKind::Error => poison(at),
        }
    }

    /// The array type of elements of type `elem`, or an error at `at`.
    fn array_of(&mut self, elem: Type, at: Span) -> Option<Type> {
        let array = elem.array_of();
        if array.is_none() {
            self.error(Diagnostic::error(
                format!("arrays can only hold `int`, `float` or `bool`, not `{elem}`"),
                at,
                format!("this is `{elem}`"),
            ));
        }
        array
    }

    fn condition(&mut self, c: &ast::Expr) -> TExpr {
        let c = self.expr(c);
        if !fits(c.ty, Type::Bool) {
            self.error(mismatch(Type::Bool, c.ty, c.span).with_note("conditions must be `bool`"));
        }
        c
    }

    fn loop_body(&mut self, body: &ast::Block) -> TBlock {
        self.body.loop_depth += 1;
        let b = self.block(body);
        self.body.loop_depth -= 1;
        if !fits(b.ty, Type::Unit) {
            let at = b.tail.as_ref().map_or(b.span, |t| t.span);
            self.error(
                mismatch(Type::Unit, b.ty, at)
                    .with_note("a loop body has type `()`; add `;` to discard the value"),
            );
        }
        b
    }

    fn call(&mut self, f: &ast::Ident, args: &[ast::Expr], at: Span) -> TExpr {
        let typed = |kind, ty| TExpr { kind, ty, span: at };
        if let Some(b) = Builtin::from_name(&f.name) {
            if b == Builtin::Print {
                let args: Vec<PrintArg> = args
                    .iter()
                    .map(|a| match &a.kind {
                        ExprKind::Str(s) => PrintArg::Str(s.clone()),
                        _ => PrintArg::Value(self.expr(a)),
                    })
                    .collect();
                if args
                    .iter()
                    .any(|a| matches!(a, PrintArg::Value(v) if v.ty == Type::Error))
                {
                    return poison(at);
                }
                return typed(TExprKind::Print(args), Type::Unit);
            }
            let targs: Vec<TExpr> = args.iter().map(|a| self.expr(a)).collect();
            return self.builtin(b, f, targs, at);
        }
        let targs: Vec<TExpr> = args.iter().map(|a| self.expr(a)).collect();
        let sig = match self.fns.get(&f.name) {
            Some(sig) => sig.clone(),
            None => match self.env.functions.get(&f.name) {
                Some(sig) => sig.clone(),
                None => {
                    self.error(Diagnostic::error(
                        format!("cannot find function `{}` in this scope", f.name),
                        f.span,
                        "not found in this scope",
                    ));
                    return poison(at);
                }
            },
        };
        self.body.calls.insert(f.name.clone());
        if !self.arity(&f.name, sig.params.len(), targs.len(), at, f.span) {
            return poison(at);
        }
        for (a, &p) in targs.iter().zip(&sig.params) {
            if !fits(a.ty, p) {
                self.error(
                    mismatch(p, a.ty, a.span)
                        .with_note(format!("`{}` has signature `{}`", f.name, sig)),
                );
            }
        }
        typed(TExprKind::Call(f.name.clone(), targs), sig.ret)
    }

    /// Checks the argument count; reports and returns `false` on a mismatch.
    fn arity(&mut self, name: &str, want: usize, got: usize, at: Span, name_at: Span) -> bool {
        if want == got {
            return true;
        }
        self.error(
            Diagnostic::error(
                format!(
                    "this function takes {} but {} {} supplied",
                    plural(want, "argument"),
                    plural(got, "argument"),
                    if got == 1 { "was" } else { "were" }
                ),
                at,
                format!("expected {}", plural(want, "argument")),
            )
            .with_label(name_at, format!("`{name}` defined here")),
        );
        false
    }

    fn builtin(&mut self, b: Builtin, f: &ast::Ident, args: Vec<TExpr>, at: Span) -> TExpr {
        // (parameter types, result type); `len` and `copy` take any array, checked below.
        let (params, ret): (&[Type], Type) = match (b, b.signature()) {
            (_, Some(sig)) => sig,
            (Builtin::Len | Builtin::Copy, None) => (&[Type::Error], Type::Error),
            (_, None) => (&[], Type::Unit),
        };
        if !self.arity(b.name(), params.len(), args.len(), at, f.span) {
            return poison(at);
        }
        let ret = match b {
            Builtin::Len | Builtin::Copy => {
                let t = args[0].ty;
                if !t.fits_anywhere() && t.elem().is_none() {
                    self.error(Diagnostic::error(
                        format!("mismatched types: expected an array, found `{t}`"),
                        args[0].span,
                        format!("`{}` takes an array", b.name()),
                    ));
                    return poison(at);
                }
                if b == Builtin::Len {
                    Type::Int
                } else {
                    t
                }
            }
            _ => {
                let mut ok = true;
                for (a, &p) in args.iter().zip(params) {
                    if !fits(a.ty, p) {
                        self.error(mismatch(p, a.ty, a.span));
                        ok = false;
                    }
                }
                if !ok {
                    return poison(at);
                }
                ret
            }
        };
        TExpr {
            kind: TExprKind::Builtin(b, args),
            ty: ret,
            span: at,
        }
    }
}

/// The result type of `a op b`, or `None` if the operator does not apply. A poisoned operand
/// poisons the result; a diverging one takes the other operand's type.
fn binary_type(op: BinOp, a: Type, b: Type) -> Option<Type> {
    let operand = match (a, b) {
        (Type::Error, _) | (_, Type::Error) => return Some(Type::Error),
        (Type::Never, t) | (t, Type::Never) => t,
        (t, u) if t == u => t,
        _ => return None,
    };
    let arith = matches!(operand, Type::Int | Type::Float | Type::Never);
    match op {
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => arith.then_some(operand),
        BinOp::Shl | BinOp::Shr | BinOp::BitAnd | BinOp::BitXor | BinOp::BitOr => {
            matches!(operand, Type::Int | Type::Never).then_some(operand)
        }
        BinOp::Eq | BinOp::Ne => {
            matches!(operand, Type::Int | Type::Float | Type::Bool | Type::Never)
                .then_some(Type::Bool)
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => arith.then_some(Type::Bool),
        BinOp::And | BinOp::Or => matches!(operand, Type::Bool | Type::Never).then_some(Type::Bool),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{compile_front, Elem};

    /// A session that knows `prev(int) -> int`, `shout()` and the global `counter: int`.
    struct TestEnv;

    impl Env for TestEnv {
        fn function(&self, name: &str) -> Option<FnSig> {
            match name {
                "prev" => Some(FnSig {
                    params: vec![Type::Int],
                    ret: Type::Int,
                }),
                "shout" => Some(FnSig {
                    params: vec![],
                    ret: Type::Unit,
                }),
                _ => None,
            }
        }
        fn global(&self, name: &str) -> Option<Type> {
            (name == "counter").then_some(Type::Int)
        }
    }

    fn ok(src: &str) -> TProgram {
        match compile_front(src, &TestEnv) {
            Ok(p) => p,
            Err(d) => panic!("unexpected errors for {src:?}: {d:#?}"),
        }
    }

    /// The diagnostics for `src`, which must have some.
    fn errs(src: &str) -> Vec<Diagnostic> {
        match compile_front(src, &TestEnv) {
            Ok(_) => panic!("expected errors for {src:?}"),
            Err(d) => d,
        }
    }

    /// The single diagnostic message for `src`, and the text its primary span covers.
    fn err1(src: &str) -> (String, String) {
        let d = errs(src);
        assert_eq!(d.len(), 1, "expected one error for {src:?}, got {d:#?}");
        let s = d[0].primary_span().expect("located");
        (d[0].message.clone(), src[s.start..s.end].to_string())
    }

    fn tail_ty(src: &str) -> Type {
        let p = ok(src);
        match p.top.items.last() {
            Some(TTopItem::Tail(e)) => e.ty,
            other => panic!("no tail: {other:?}"),
        }
    }

    #[test]
    fn poison_is_not_divergence() {
        // A poisoned statement makes its block's type unknown (no follow-up `()` error), and
        // a poisoned initializer makes a poisoned global whose uses report nothing more.
        err1("fn f() -> int { nope; }");
        err1("global g = nope; let h: int = g + 1;");
        err1("fn f() -> int { let x: strng = 1; x + 1 }");
        // A call with a poisoned argument is poison: one error, not a second about `()`.
        err1("global g = print(nope);");
        // Divergence is a real type: it fits anywhere and reaches the back end.
        let p = ok("fn f() -> int { let x = return 1; x }");
        assert_eq!(p.fns[0].body.ty, Type::Never);
    }

    #[test]
    fn literals_and_arithmetic() {
        assert_eq!(tail_ty("1 + 2 * 3"), Type::Int);
        assert_eq!(tail_ty("1.5 / 2.0 - 0.5 % 1.0"), Type::Float);
        assert_eq!(tail_ty("7 << 2 >> 1 & 3 ^ 1 | 8"), Type::Int);
        assert_eq!(tail_ty("-1"), Type::Int);
        assert_eq!(tail_ty("-1.5"), Type::Float);
        assert_eq!(tail_ty("!true && false || 1 < 2"), Type::Bool);
        assert_eq!(tail_ty("1.0 >= 2.0"), Type::Bool);
        assert_eq!(tail_ty("true == false"), Type::Bool);
        assert_eq!(tail_ty("-9223372036854775808"), Type::Int);
    }

    #[test]
    fn no_implicit_conversions() {
        let (m, at) = err1("1 + 2.0");
        assert_eq!(m, "cannot apply `+` to `int` and `float`");
        assert_eq!(at, "1 + 2.0");
        assert_eq!(
            err1("1.0 << 2.0").0,
            "cannot apply `<<` to `float` and `float`"
        );
        assert_eq!(err1("1 && 2").0, "cannot apply `&&` to `int` and `int`");
        assert_eq!(
            err1("true < false").0,
            "cannot apply `<` to `bool` and `bool`"
        );
        assert_eq!(
            err1("[1] == [1]").0,
            "cannot apply `==` to `[int]` and `[int]`"
        );
        assert_eq!(
            err1("let b = {} == {};").0,
            "cannot apply `==` to `()` and `()`"
        );
        assert_eq!(err1("-true").0, "cannot apply unary `-` to `bool`");
        assert_eq!(err1("!1").0, "cannot apply unary `!` to `int`");
        assert_eq!(
            err1("float(1) + 1").0,
            "cannot apply `+` to `float` and `int`"
        );
        assert_eq!(tail_ty("float(1) + 1.0"), Type::Float);
    }

    #[test]
    fn if_rules() {
        assert_eq!(tail_ty("if true { 1 } else { 2 }"), Type::Int);
        assert_eq!(
            tail_ty("if true { 1 } else if false { 2 } else { 3 }"),
            Type::Int
        );
        assert_eq!(tail_ty("if true { print(1) }"), Type::Unit);
        let (m, at) = err1("if true { 1 }");
        assert_eq!(m, "mismatched types: expected `()`, found `int`");
        assert_eq!(at, "1");
        let (m, at) = err1("if true { 1 } else { 2.0 }");
        assert_eq!(
            m,
            "`if` and `else` have incompatible types: `int` and `float`"
        );
        assert_eq!(at, "{ 2.0 }");
        let (m, at) = err1("if 1 { }");
        assert_eq!(m, "mismatched types: expected `bool`, found `int`");
        assert_eq!(at, "1");
        // Never unifies with anything.
        ok("fn f(x: int) -> int { if x > 0 { return 1; } else { 2 } }");
        ok("fn f(x: int) -> int { let y = if x > 0 { x } else { return 0 }; y }");
    }

    #[test]
    fn loops() {
        let p = ok("for i in 0..10 { print(i); } while false { }");
        assert_eq!(p.top.locals.len(), 1);
        assert_eq!(p.top.locals[0].ty, Type::Int);
        assert_eq!(
            err1("while 1 { }").0,
            "mismatched types: expected `bool`, found `int`"
        );
        assert_eq!(
            err1("for i in 0..1.5 { }").0,
            "mismatched types: expected `int`, found `float`"
        );
        assert_eq!(
            err1("while true { 1 }").0,
            "mismatched types: expected `()`, found `int`"
        );
        let (m, at) = err1("break;");
        assert_eq!(
            (m.as_str(), at.as_str()),
            ("`break` outside of a loop", "break")
        );
        assert_eq!(
            err1("fn f() { continue; }").0,
            "`continue` outside of a loop"
        );
        ok("fn f() { while true { if true { break; } continue; } }");
        // The loop depth does not leak into a function defined in the same input.
        assert_eq!(
            err1("while true { break; } fn f() { break; }").0,
            "`break` outside of a loop"
        );
        // `for` variables are scoped to the loop.
        assert_eq!(
            err1("for i in 0..3 { } i").0,
            "cannot find value `i` in this scope"
        );
    }

    #[test]
    fn returns_and_bodies() {
        ok("fn f() -> int { return 1; }");
        ok("fn f() -> int { return 1 }");
        ok("fn f() { return; }");
        ok("fn f(x: int) -> int { while true { return x; } return 0; }");
        let (m, at) = err1("fn f() -> int { return 1.5; }");
        assert_eq!(m, "mismatched types: expected `int`, found `float`");
        assert_eq!(at, "1.5");
        assert_eq!(
            err1("fn f() -> int { return; }").0,
            "mismatched types: expected `int`, found `()`"
        );
        let (m, at) = err1("fn f() -> int { 1; }");
        assert_eq!(m, "mismatched types: expected `int`, found `()`");
        assert_eq!(at, "}");
        assert_eq!(
            err1("fn f() { 1 }").0,
            "mismatched types: expected `()`, found `int`"
        );
        assert_eq!(err1("return 1;").0, "`return` outside of a function");
    }

    #[test]
    fn lets_and_shadowing() {
        let p = ok(
            "fn f(a: int) -> float { let x = a; let x: float = float(x); let y = [x; 3]; y[0] }",
        );
        let f = &p.fns[0];
        assert_eq!(f.locals.len(), 4);
        assert_eq!(f.locals[0].ty, Type::Int);
        assert_eq!(f.locals[1].ty, Type::Int);
        assert_eq!(f.locals[2].ty, Type::Float);
        assert_eq!(f.locals[3].ty, Type::Array(Elem::Float));
        let (m, at) = err1("fn f() { let x: int = 1.5; }");
        assert_eq!(m, "mismatched types: expected `int`, found `float`");
        assert_eq!(at, "1.5");
        // `let x = x + 1` reads the outer `x`.
        ok("fn f(x: int) -> int { let x = x + 1; x }");
        // Locals are mutable.
        ok("fn f() -> int { let x = 1; x = 2; x += 3; x }");
        // Block scoping.
        assert_eq!(
            err1("fn f() -> int { { let y = 1; } y }").0,
            "cannot find value `y` in this scope"
        );
    }

    #[test]
    fn names_and_calls() {
        let (m, at) = err1("fn f() -> int { zz }");
        assert_eq!(
            (m.as_str(), at.as_str()),
            ("cannot find value `zz` in this scope", "zz")
        );
        let (m, at) = err1("nope(1)");
        assert_eq!(
            (m.as_str(), at.as_str()),
            ("cannot find function `nope` in this scope", "nope")
        );
        // Mutual recursion, in any order; the session's functions and globals.
        let p = ok(
            "fn even(n: int) -> bool { if n == 0 { true } else { odd(n - 1) } }
                    fn odd(n: int) -> bool { if n == 0 { false } else { even(n - 1) } }
                    fn g() -> int { counter += 1; prev(counter) }
                    even(10)",
        );
        assert_eq!(p.fns[0].calls.iter().collect::<Vec<_>>(), vec!["odd"]);
        assert_eq!(p.fns[2].calls.iter().collect::<Vec<_>>(), vec!["prev"]);
        assert_eq!(p.fns[2].globals.iter().collect::<Vec<_>>(), vec!["counter"]);
        assert_eq!(p.top.calls.iter().collect::<Vec<_>>(), vec!["even"]);
        // A definition in this program overrides the session's signature.
        ok("fn prev(x: float) -> float { x } prev(1.5)");
        let (m, at) = err1("fn f(a: int, b: int) -> int { a } f(1)");
        assert_eq!(
            m,
            "this function takes 2 arguments but 1 argument was supplied"
        );
        assert_eq!(at, "f(1)");
        assert_eq!(
            err1("prev(1.5)").0,
            "mismatched types: expected `int`, found `float`"
        );
        assert_eq!(tail_ty("shout()"), Type::Unit);
    }

    #[test]
    fn builtins() {
        let p = ok(r#"print("x =", 1, 2.5, true, [1, 2], print())"#);
        let Some(TTopItem::Tail(TExpr {
            kind: TExprKind::Print(args),
            ..
        })) = p.top.items.last()
        else {
            panic!("not a print")
        };
        assert_eq!(args.len(), 6);
        assert!(matches!(&args[0], PrintArg::Str(s) if s == b"x ="));
        assert_eq!(tail_ty("len([1.0])"), Type::Int);
        assert_eq!(tail_ty("copy([true])"), Type::Array(Elem::Bool));
        assert_eq!(tail_ty("int(sqrt(float(rand(10))))"), Type::Int);
        assert_eq!(tail_ty("time_ns()"), Type::Int);
        ok("sleep_ms(1); seed(2); assert(true);");
        assert_eq!(
            err1("len(1)").0,
            "mismatched types: expected an array, found `int`"
        );
        assert_eq!(
            err1("sqrt(2)").0,
            "mismatched types: expected `float`, found `int`"
        );
        assert_eq!(
            err1("assert(1, 2)").0,
            "this function takes 1 argument but 2 arguments were supplied"
        );
        assert_eq!(
            err1("time_ns(1)").0,
            "this function takes 0 arguments but 1 argument was supplied"
        );
        let (m, at) = err1(r#"let s = "hi";"#);
        assert_eq!(
            m,
            "string literals can only be used as arguments of `print`"
        );
        assert_eq!(at, "\"hi\"");
        assert_eq!(err1("fn print() { }").0, "cannot redefine builtin `print`");
        assert_eq!(err1("global len = 1;").0, "cannot redefine builtin `len`");
    }

    #[test]
    fn duplicates() {
        let d = errs("fn f() { } fn f() { }");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].message, "the function `f` is defined more than once");
        assert_eq!(d[0].labels.len(), 2);
        assert_eq!(d[0].labels[0].span, Span::new(14, 15));
        assert_eq!(d[0].labels[1].span, Span::new(3, 4));
        let (m, at) = err1("fn f(a: int, a: float) { }");
        assert_eq!(
            m,
            "identifier `a` is bound more than once in this parameter list"
        );
        assert_eq!(at, "a");
    }

    #[test]
    fn globals() {
        let p = ok("fn get() -> [int] { xs } let xs = [1, 2]; global n: int = len(xs); xs[0] = n; counter = 3;");
        assert_eq!(p.fns[0].globals.iter().collect::<Vec<_>>(), vec!["xs"]);
        let TTopItem::Global { is_let, ty, .. } = &p.top.items[0] else {
            panic!()
        };
        assert!(*is_let);
        assert_eq!(*ty, Type::Array(Elem::Int));
        let TTopItem::Global { is_let, ty, .. } = &p.top.items[1] else {
            panic!()
        };
        assert!(!*is_let);
        assert_eq!(*ty, Type::Int);
        assert!(matches!(
            &p.top.items[2],
            TTopItem::Stmt(TStmt::Assign {
                target: TPlace::Index(..),
                ..
            })
        ));
        assert!(
            matches!(&p.top.items[3], TTopItem::Stmt(TStmt::Assign { target: TPlace::Global(g), .. }) if g == "counter")
        );
        // The session's type does not constrain a new declaration.
        let p = ok("let counter = 1.5; counter");
        assert!(matches!(p.top.items.last(), Some(TTopItem::Tail(e)) if e.ty == Type::Float));
        let d = errs("global g: int = 1; let g = 2.5;");
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "the global `g` is declared with two different types: `int` and `float`"
        );
        assert_eq!(d[0].labels.len(), 2);
        assert_eq!(
            err1("let u = print(1);").0,
            "a global cannot have type `()`"
        );
        assert_eq!(
            err1("global f: int = 1.5;").0,
            "mismatched types: expected `int`, found `float`"
        );
        assert_eq!(
            err1("nothere = 1;").0,
            "cannot find value `nothere` in this scope"
        );
        assert_eq!(
            err1("print(late); let late = 1;").0,
            "the type of global `late` is not known yet"
        );
        ok("print(late); let late: int = 1;");
        // Top-level blocks declare top-level locals, not globals.
        let p = ok("{ let t = 1; print(t); }");
        assert_eq!(p.top.locals.len(), 1);
        assert!(p.top.globals.is_empty());
    }

    #[test]
    fn arrays_and_indexing() {
        assert_eq!(tail_ty("[1, 2, 3]"), Type::Array(Elem::Int));
        assert_eq!(tail_ty("[1.0; 3]"), Type::Array(Elem::Float));
        assert_eq!(tail_ty("[true][0]"), Type::Bool);
        assert_eq!(
            err1("[1, 2.0]").0,
            "mismatched types: expected `int`, found `float`"
        );
        assert_eq!(
            err1("[[1]]").0,
            "arrays can only hold `int`, `float` or `bool`, not `[int]`"
        );
        assert_eq!(
            err1("[1; 2.0]").0,
            "mismatched types: expected `int`, found `float`"
        );
        assert_eq!(err1("1[0]").0, "cannot index into a value of type `int`");
        assert_eq!(
            err1("[1][true]").0,
            "mismatched types: expected `int`, found `bool`"
        );
    }

    #[test]
    fn assignments() {
        ok("fn f(xs: [float]) { xs[0] = 1.0; xs[1] *= 2.0; }");
        let (m, at) = err1("fn f(x: int) { x = 1.5; }");
        assert_eq!(m, "mismatched types: expected `int`, found `float`");
        assert_eq!(at, "1.5");
        assert_eq!(
            err1("fn f(b: bool) { b += true; }").0,
            "cannot apply `+=` to `bool` and `bool`"
        );
        assert_eq!(
            err1("fn f(x: int) { x -= 1.0; }").0,
            "cannot apply `-=` to `int` and `float`"
        );
        assert_eq!(
            err1("fn f() { f() = 1; }").0,
            "invalid assignment target: expected a variable or an indexed array element"
        );
    }

    #[test]
    fn block_types() {
        assert_eq!(tail_ty("{ 1 }"), Type::Int);
        assert_eq!(tail_ty("{ 1; }"), Type::Unit);
        assert_eq!(tail_ty("{ }"), Type::Unit);
        // A block whose statement diverges is `Never`.
        let p = ok("fn f() -> int { return 1; }");
        assert_eq!(p.fns[0].body.ty, Type::Never);
    }

    #[test]
    fn no_cascades_and_all_errors() {
        // One unknown name, used several times afterwards: one error.
        let d = errs("fn f() -> int { let x = unknown; let y = x + 1; x * 2.0; y }");
        assert_eq!(d.len(), 1, "{d:#?}");
        // Errors in different functions are all reported, in source order.
        let d = errs("fn a() -> int { 1.5 } fn b() { let x: bool = 1; } c()");
        assert_eq!(d.len(), 3, "{d:#?}");
        assert!(d
            .windows(2)
            .all(|w| w[0].primary_span().unwrap().start <= w[1].primary_span().unwrap().start));
        // Parser placeholders are poison too: no follow-up errors.
        let d = errs(
            "let big = 9223372036854775808; let y: bool = big; fn f() { let x = (1 +); x + 1.5; }",
        );
        assert_eq!(d.len(), 2, "{d:#?}");
        let d = errs("let c = 1 < 2 < 3; let d: int = c;");
        assert_eq!(d.len(), 1, "{d:#?}");
        // A syntax error and a type error in one input are both reported.
        let d = errs("fn a() { let = 1; } fn b() -> int { true }");
        assert_eq!(d.len(), 2, "{d:#?}");
    }

    #[test]
    fn tail_and_spans() {
        let src = "fn sq(x: int) -> int { x * x }\nsq(4)";
        let p = ok(src);
        assert_eq!(
            &src[p.fns[0].span.start..p.fns[0].span.end],
            "fn sq(x: int) -> int { x * x }"
        );
        assert_eq!(&src[p.fns[0].name_span.start..p.fns[0].name_span.end], "sq");
        assert!(matches!(&p.top.items[0], TTopItem::Tail(e) if e.ty == Type::Int));
        // With `;` it is a statement.
        assert!(matches!(
            &ok("sq(4); fn sq(x: int) -> int { x }").top.items[0],
            TTopItem::Stmt(_)
        ));
    }
}
