//! Greedy shrinking of a failing program: delete functions, top-level items and statements,
//! replace loops and `if`s by their bodies, and replace expressions by a literal or a
//! sub-expression of the same type, keeping every change after which the program still fails
//! (the caller's `fails` re-runs the reference and the binary, and rejects programs the binary
//! does not compile). Repeats until nothing changes or the time is up.

use super::ast::{Block, Expr, Item, Place, PrintArg, Program, Stmt, StructDef, Ty};
use std::time::Instant;

/// A node handed to a visitor.
enum Node<'a> {
    Block(&'a mut Block),
    Expr(&'a mut Expr),
}

fn walk_program(p: &mut Program, v: &mut dyn FnMut(Node<'_>)) {
    for f in &mut p.fns {
        walk_block(&mut f.body, v);
    }
    for it in &mut p.items {
        match it {
            Item::Global { init, .. } => walk_expr(init, v),
            Item::Stmt(s) => walk_stmt(s, v),
        }
    }
}

fn walk_block(b: &mut Block, v: &mut dyn FnMut(Node<'_>)) {
    v(Node::Block(b));
    for s in &mut b.stmts {
        walk_stmt(s, v);
    }
    if let Some(t) = &mut b.tail {
        walk_expr(t, v);
    }
}

fn walk_stmt(s: &mut Stmt, v: &mut dyn FnMut(Node<'_>)) {
    match s {
        Stmt::Let(_, _, _, e) | Stmt::Assert(e) | Stmt::Return(Some(e)) => walk_expr(e, v),
        Stmt::Assign(p, _, e) => {
            match p {
                Place::Var(_) => {}
                Place::Index(a, i) => {
                    walk_expr(a, v);
                    walk_expr(i, v);
                }
                Place::Field(b, _) => walk_expr(b, v),
            }
            walk_expr(e, v);
        }
        Stmt::Call(_, args) => {
            for a in args {
                walk_expr(a, v);
            }
        }
        Stmt::If(c, t, e) => {
            walk_expr(c, v);
            walk_block(t, v);
            if let Some(e) = e {
                walk_block(e, v);
            }
        }
        Stmt::While(c, b) => {
            walk_expr(c, v);
            walk_block(b, v);
        }
        Stmt::Loop(b) => walk_block(b, v),
        Stmt::For(_, lo, hi, b) => {
            walk_expr(lo, v);
            walk_expr(hi, v);
            walk_block(b, v);
        }
        Stmt::Print(args) => {
            for a in args {
                if let PrintArg::Expr(e) = a {
                    walk_expr(e, v);
                }
            }
        }
        Stmt::Return(None) | Stmt::Break | Stmt::Continue => {}
    }
}

fn walk_expr(e: &mut Expr, v: &mut dyn FnMut(Node<'_>)) {
    v(Node::Expr(e));
    match e {
        Expr::Int(_)
        | Expr::Float(_)
        | Expr::Bool(_)
        | Expr::Str(_)
        | Expr::Var(..)
        | Expr::Return(None, _) => {}
        Expr::Unary(_, a, _)
        | Expr::Builtin(_, a, _)
        | Expr::Return(Some(a), _)
        | Expr::Field(a, _, _) => walk_expr(a, v),
        Expr::Binary(_, a, b, _) | Expr::Index(a, b, _) | Expr::Repeat(a, b, _) => {
            walk_expr(a, v);
            walk_expr(b, v);
        }
        Expr::Call(_, xs, _) | Expr::List(xs, _) => {
            for x in xs {
                walk_expr(x, v);
            }
        }
        Expr::If(c, t, f, _) => {
            walk_expr(c, v);
            walk_block(t, v);
            walk_block(f, v);
        }
        Expr::Block(b, _) => walk_block(b, v),
        Expr::StructLit(_, fields, _) => {
            for (_, x) in fields {
                walk_expr(x, v);
            }
        }
    }
}

/// A small literal of type `ty` (`None` for a struct that is not defined).
fn simple(structs: &[StructDef], ty: &Ty, one: bool) -> Option<Expr> {
    Some(match ty {
        Ty::Int => Expr::Int(i64::from(one)),
        Ty::Float => Expr::Float(if one { 1.0 } else { 0.0 }),
        Ty::Bool => Expr::Bool(one),
        Ty::Str => Expr::Str(if one { b"a".to_vec() } else { Vec::new() }),
        Ty::Array(t) => Expr::List(vec![simple(structs, t, one)?], ty.clone()),
        Ty::Struct(name) => {
            let def = structs.iter().find(|d| &d.name == name)?;
            let mut fields = Vec::new();
            for (f, ft) in &def.fields {
                // `[]` where the field may lead back to this struct (a literal must end).
                let x = if ft.struct_in_array() {
                    Expr::List(Vec::new(), ft.clone())
                } else {
                    simple(structs, ft, one)?
                };
                fields.push((f.clone(), x));
            }
            Expr::StructLit(name.clone(), fields, ty.clone())
        }
    })
}

/// A measure that every replacement must decrease (so shrinking cannot cycle): zero literals
/// are the smallest, then other literals, then variables, then compound expressions.
fn size(e: &Expr) -> usize {
    let mut n = 0;
    let mut e = e.clone();
    walk_expr(&mut e, &mut |node| {
        n += match node {
            Node::Expr(Expr::Int(0) | Expr::Bool(false)) => 1,
            Node::Expr(Expr::Str(s)) if s.is_empty() => 1,
            Node::Expr(Expr::Str(_)) => 2,
            Node::Expr(Expr::Float(x)) if *x == 0.0 => 1,
            Node::Expr(Expr::Int(_) | Expr::Float(_) | Expr::Bool(_)) => 2,
            Node::Expr(Expr::Var(..)) => 3,
            Node::Expr(Expr::List(xs, _)) if xs.is_empty() => 1,
            Node::Expr(_) => 4,
            Node::Block(b) => b.stmts.len() * 4,
        }
    });
    n
}

/// Simpler expressions of the same type than `e`.
fn alternatives(structs: &[StructDef], e: &Expr) -> Vec<Expr> {
    let ty = e.ty();
    let mut out: Vec<Expr> = [simple(structs, &ty, false), simple(structs, &ty, true)]
        .into_iter()
        .flatten()
        .collect();
    match e {
        Expr::Binary(op, a, b, _) if op.keeps_type() => {
            out.push((**a).clone());
            out.push((**b).clone());
        }
        Expr::Unary(_, a, _) => out.push((**a).clone()),
        Expr::If(_, t, f, _) => {
            for b in [t, f] {
                if let (true, Some(x)) = (b.stmts.is_empty(), &b.tail) {
                    out.push((**x).clone());
                }
            }
        }
        Expr::Block(b, _) if b.stmts.is_empty() => {
            if let Some(x) = &b.tail {
                out.push((**x).clone());
            }
        }
        Expr::List(xs, t) if xs.len() > 1 => out.push(Expr::List(vec![xs[0].clone()], t.clone())),
        _ => {}
    }
    let limit = size(e);
    out.retain(|x| size(x) < limit);
    out
}

/// The `k`-th candidate of a pass, `None` past the last one.
type Pass = fn(&Program, usize) -> Option<Option<Program>>;

fn drop_struct(p: &Program, k: usize) -> Option<Option<Program>> {
    let n = p.structs.len();
    if k >= n {
        return None;
    }
    let mut q = p.clone();
    q.structs.remove(n - 1 - k);
    Some(Some(q))
}

fn drop_fn(p: &Program, k: usize) -> Option<Option<Program>> {
    let n = p.fns.len();
    if k >= n {
        return None;
    }
    let mut q = p.clone();
    q.fns.remove(n - 1 - k);
    Some(Some(q))
}

fn drop_item(p: &Program, k: usize) -> Option<Option<Program>> {
    let n = p.items.len();
    if k >= n {
        return None;
    }
    let mut q = p.clone();
    q.items.remove(n - 1 - k);
    Some(Some(q))
}

/// The statements of a block-like statement's body, to put in its place.
fn body_of(s: &Stmt) -> Option<Vec<Stmt>> {
    match s {
        Stmt::If(_, b, _) | Stmt::While(_, b) | Stmt::For(_, _, _, b) | Stmt::Loop(b) => {
            Some(b.stmts.clone())
        }
        _ => None,
    }
}

fn splice_item(p: &Program, k: usize) -> Option<Option<Program>> {
    let it = p.items.get(k)?;
    let Item::Stmt(s) = it else {
        return Some(None);
    };
    let Some(body) = body_of(s) else {
        return Some(None);
    };
    let mut q = p.clone();
    q.items
        .splice(k..=k, body.into_iter().map(Item::Stmt))
        .for_each(drop);
    Some(Some(q))
}

/// Deletes (`splice == false`) or replaces by its body the `k`-th statement inside a block.
fn edit_stmt(p: &Program, k: usize, splice: bool) -> Option<Option<Program>> {
    let mut q = p.clone();
    let mut seen = 0;
    let mut result = None;
    walk_program(&mut q, &mut |n| {
        if result.is_some() {
            return;
        }
        if let Node::Block(b) = n {
            if k < seen + b.stmts.len() {
                let j = k - seen;
                if splice {
                    match body_of(&b.stmts[j]) {
                        Some(body) => {
                            b.stmts.splice(j..=j, body).for_each(drop);
                            result = Some(true);
                        }
                        None => result = Some(false),
                    }
                } else {
                    b.stmts.remove(j);
                    result = Some(true);
                }
            }
            seen += b.stmts.len();
        }
    });
    match result {
        None => None,
        Some(false) => Some(None),
        Some(true) => Some(Some(q)),
    }
}

fn drop_stmt(p: &Program, k: usize) -> Option<Option<Program>> {
    edit_stmt(p, k, false)
}

fn splice_stmt(p: &Program, k: usize) -> Option<Option<Program>> {
    edit_stmt(p, k, true)
}

/// Candidate `k` = alternative `k % 4` of expression `k / 4`.
fn simplify_expr(p: &Program, k: usize) -> Option<Option<Program>> {
    let (target, alt) = (k / 4, k % 4);
    let mut q = p.clone();
    let structs = p.structs.clone();
    let mut seen = 0;
    let mut result = None;
    walk_program(&mut q, &mut |n| {
        if result.is_some() {
            return;
        }
        if let Node::Expr(e) = n {
            if seen == target {
                match alternatives(&structs, e).into_iter().nth(alt) {
                    Some(x) => {
                        *e = x;
                        result = Some(true);
                    }
                    None => result = Some(false),
                }
            }
            seen += 1;
        }
    });
    match result {
        None => None,
        Some(false) => Some(None),
        Some(true) => Some(Some(q)),
    }
}

/// Whether a candidate still fails; the `usize` is a slot number (0..parallel) that the
/// concurrent checks of one batch use to keep their files apart.
pub type Fails<'a> = &'a (dyn Fn(&Program, usize) -> bool + Sync);

/// Stack for the threads that check candidates (the reference evaluator recurses).
const STACK: usize = 256 << 20;

/// Runs `passes` over `cur` until none of them makes progress; returns whether any did.
/// Candidates are checked `parallel` at a time; the first one (in order) that fails wins.
fn fixpoint(
    cur: &mut Program,
    passes: &[Pass],
    deadline: Instant,
    parallel: usize,
    fails: Fails<'_>,
) -> bool {
    let mut any = false;
    loop {
        let mut progress = false;
        for pass in passes {
            let mut k = 0;
            loop {
                if Instant::now() > deadline {
                    return any;
                }
                // The next batch of well-formed candidates.
                let mut batch = Vec::new();
                let mut end = k;
                while batch.len() < parallel {
                    match pass(cur, end) {
                        None => break,
                        Some(Some(q)) if well_formed(&q) => batch.push((end, q)),
                        Some(_) => {}
                    }
                    end += 1;
                }
                if batch.is_empty() {
                    break;
                }
                let results: Vec<bool> = std::thread::scope(|s| {
                    let handles: Vec<_> = batch
                        .iter()
                        .enumerate()
                        .map(|(slot, (_, q))| {
                            std::thread::Builder::new()
                                .stack_size(STACK)
                                .spawn_scoped(s, move || fails(q, slot))
                                .expect("spawn a shrink worker")
                        })
                        .collect();
                    handles
                        .into_iter()
                        .map(|h| h.join().unwrap_or(false))
                        .collect()
                });
                if std::env::var_os("LIVEJIT_FUZZ_TRACE").is_some() {
                    eprintln!("shrink: {} candidates from {k}: {results:?}", batch.len());
                }
                match results.iter().position(|&r| r) {
                    Some(i) => {
                        let (at, q) = batch.swap_remove(i);
                        *cur = q;
                        k = at;
                        progress = true;
                        any = true;
                    }
                    None => k = end,
                }
            }
        }
        if !progress {
            return any;
        }
    }
}

/// Shrinks `p` while `fails` holds, until a fixpoint or `deadline`: structural deletions first
/// (cheap, large steps), then expression simplification, and again while either helps.
pub fn shrink(p: &Program, deadline: Instant, parallel: usize, fails: Fails<'_>) -> Program {
    let structural: [Pass; 6] = [
        drop_fn,
        drop_item,
        drop_stmt,
        splice_item,
        splice_stmt,
        drop_struct,
    ];
    let mut cur = p.clone();
    loop {
        fixpoint(&mut cur, &structural, deadline, parallel, fails);
        if !fixpoint(&mut cur, &[simplify_expr], deadline, parallel, fails)
            || Instant::now() > deadline
        {
            return cur;
        }
    }
}

/// A cheap static check that saves running the binary on candidates it would reject: every
/// name is bound where it is used, `break`/`continue` are inside loops, `return` inside
/// functions, and a function with a result ends with a value or a `return`.
fn well_formed(p: &Program) -> bool {
    let fns: Vec<&str> = p.fns.iter().map(|f| f.name.as_str()).collect();
    let all_globals: Vec<String> = p
        .items
        .iter()
        .filter_map(|it| match it {
            Item::Global { name, .. } | Item::Stmt(Stmt::Let(name, ..)) => Some(name.clone()),
            Item::Stmt(_) => None,
        })
        .collect();
    for f in &p.fns {
        // A function with a result ends in a value, a `return` or a `loop` (which may only
        // leave through `return`; the binary rejects one with a `break`).
        if f.ret.is_some()
            && f.body.tail.is_none()
            && !matches!(
                f.body.stmts.last(),
                Some(Stmt::Return(Some(_)) | Stmt::Loop(_))
            )
        {
            return false;
        }
        let mut r = Resolver {
            fns: &fns,
            scopes: vec![
                all_globals.clone(),
                f.params.iter().map(|(n, _)| n.clone()).collect(),
            ],
            loops: 0,
            in_fn: true,
        };
        if !r.block(&f.body) {
            return false;
        }
    }
    let mut r = Resolver {
        fns: &fns,
        scopes: vec![Vec::new()],
        loops: 0,
        in_fn: false,
    };
    p.items.iter().all(|it| match it {
        Item::Global { name, init, .. } => {
            let ok = r.expr(init);
            r.scopes[0].push(name.clone());
            ok
        }
        Item::Stmt(s) => r.stmt(s),
    })
}

struct Resolver<'a> {
    fns: &'a [&'a str],
    scopes: Vec<Vec<String>>,
    loops: u32,
    in_fn: bool,
}

impl Resolver<'_> {
    fn bound(&self, n: &str) -> bool {
        self.scopes.iter().any(|s| s.iter().any(|x| x == n))
    }

    fn block(&mut self, b: &Block) -> bool {
        self.scopes.push(Vec::new());
        let ok =
            b.stmts.iter().all(|s| self.stmt(s)) && b.tail.as_ref().is_none_or(|t| self.expr(t));
        self.scopes.pop();
        ok
    }

    fn declare(&mut self, n: &str) {
        if let Some(s) = self.scopes.last_mut() {
            s.push(n.to_string());
        }
    }

    fn stmt(&mut self, s: &Stmt) -> bool {
        match s {
            Stmt::Let(n, _, _, e) => {
                let ok = self.expr(e);
                self.declare(n);
                ok
            }
            Stmt::Assign(p, _, e) => {
                let place = match p {
                    Place::Var(n) => self.bound(n),
                    Place::Index(a, i) => self.expr(a) && self.expr(i),
                    Place::Field(b, _) => self.expr(b),
                };
                place && self.expr(e)
            }
            Stmt::Call(f, args) => {
                self.fns.contains(&f.as_str()) && args.iter().all(|a| self.expr(a))
            }
            Stmt::If(c, t, e) => {
                self.expr(c) && self.block(t) && e.as_ref().is_none_or(|e| self.block(e))
            }
            Stmt::While(c, b) => {
                let saved = self.loops;
                self.loops = 0;
                let ok = self.expr(c);
                self.loops = saved + 1;
                let ok = ok && self.block(b);
                self.loops = saved;
                ok
            }
            Stmt::Loop(b) => {
                self.loops += 1;
                let ok = self.block(b);
                self.loops -= 1;
                ok
            }
            Stmt::For(v, lo, hi, b) => {
                if !(self.expr(lo) && self.expr(hi)) {
                    return false;
                }
                self.loops += 1;
                self.scopes.push(vec![v.clone()]);
                let ok = self.block(b);
                self.scopes.pop();
                self.loops -= 1;
                ok
            }
            Stmt::Print(args) => args.iter().all(|a| match a {
                PrintArg::Label(_) => true,
                PrintArg::Expr(e) => self.expr(e),
            }),
            Stmt::Assert(e) => self.expr(e),
            Stmt::Return(v) => self.in_fn && v.as_ref().is_none_or(|v| self.expr(v)),
            Stmt::Break | Stmt::Continue => self.loops > 0,
        }
    }

    fn expr(&mut self, e: &Expr) -> bool {
        match e {
            Expr::Int(_) | Expr::Float(_) | Expr::Bool(_) | Expr::Str(_) => true,
            Expr::Var(n, _) => self.bound(n),
            Expr::Unary(_, a, _) | Expr::Builtin(_, a, _) | Expr::Field(a, _, _) => self.expr(a),
            Expr::StructLit(_, fields, _) => fields.iter().all(|(_, x)| self.expr(x)),
            Expr::Return(v, _) => self.in_fn && v.as_ref().is_none_or(|v| self.expr(v)),
            Expr::Binary(_, a, b, _) | Expr::Index(a, b, _) | Expr::Repeat(a, b, _) => {
                self.expr(a) && self.expr(b)
            }
            Expr::Call(f, xs, _) => {
                self.fns.contains(&f.as_str()) && xs.iter().all(|x| self.expr(x))
            }
            Expr::List(xs, _) => xs.iter().all(|x| self.expr(x)),
            Expr::If(c, t, f, _) => self.expr(c) && self.block(t) && self.block(f),
            Expr::Block(b, _) => self.block(b),
        }
    }
}
