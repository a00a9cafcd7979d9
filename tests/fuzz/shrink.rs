//! Greedy shrinking of a failing program: delete functions, top-level items and statements,
//! replace loops and `if`s by their bodies, and replace expressions by a literal or a
//! sub-expression of the same type, keeping every change after which the program still fails
//! (the caller's `fails` re-runs the reference and the binary, and rejects programs the binary
//! does not compile). Repeats until nothing changes or the time is up.

use super::ast::{Block, Expr, Item, Place, PrintArg, Program, Stmt, Ty};
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
            if let Place::Index(_, i) = p {
                walk_expr(i, v);
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
        Expr::Int(_) | Expr::Float(_) | Expr::Bool(_) | Expr::Var(..) | Expr::Return(None, _) => {}
        Expr::Unary(_, a, _) | Expr::Builtin(_, a, _) | Expr::Return(Some(a), _) => walk_expr(a, v),
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
    }
}

fn simple(ty: &Ty, one: bool) -> Expr {
    match ty {
        Ty::Int => Expr::Int(i64::from(one)),
        Ty::Float => Expr::Float(if one { 1.0 } else { 0.0 }),
        Ty::Bool => Expr::Bool(one),
        Ty::Array(t) => Expr::List(vec![simple(t, one)], ty.clone()),
    }
}

/// Simpler expressions of the same type than `e`.
fn alternatives(e: &Expr) -> Vec<Expr> {
    let ty = e.ty();
    let mut out = Vec::new();
    let is_lit = matches!(e, Expr::Int(_) | Expr::Float(_) | Expr::Bool(_));
    for one in [false, true] {
        let s = simple(&ty, one);
        if !is_lit || s != *e {
            out.push(s);
        }
    }
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
    out
}

/// The `k`-th candidate of a pass, `None` past the last one.
type Pass = fn(&Program, usize) -> Option<Option<Program>>;

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
        Stmt::If(_, b, _) | Stmt::While(_, b) | Stmt::For(_, _, _, b) => Some(b.stmts.clone()),
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
    let mut seen = 0;
    let mut result = None;
    walk_program(&mut q, &mut |n| {
        if result.is_some() {
            return;
        }
        if let Node::Expr(e) = n {
            if seen == target {
                match alternatives(e).into_iter().nth(alt) {
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

/// Shrinks `p` while `fails` holds, until a fixpoint or `deadline`.
pub fn shrink(p: &Program, deadline: Instant, fails: &mut dyn FnMut(&Program) -> bool) -> Program {
    let passes: [Pass; 6] = [
        drop_fn,
        drop_item,
        splice_item,
        drop_stmt,
        splice_stmt,
        simplify_expr,
    ];
    let mut cur = p.clone();
    loop {
        let mut progress = false;
        for pass in passes {
            let mut k = 0;
            while let Some(cand) = pass(&cur, k) {
                if Instant::now() > deadline {
                    return cur;
                }
                match cand {
                    Some(q) if fails(&q) => {
                        cur = q;
                        progress = true;
                    }
                    _ => k += 1,
                }
            }
        }
        if !progress {
            return cur;
        }
    }
}
