//! Guarded inlining across slots.
//!
//! A call to a user function normally loads the callee's slot and calls through it, so nothing
//! is ever inlined. For a callee whose live version is small, codegen compiles the call as
//!
//! ```text
//! if load(version cell of f's slot) == N { inlined body of f vN } else { call through slot }
//! ```
//!
//! The version cell sits next to the slot (`slots::version_cell`); the commit stores the code
//! pointer first and the version number second, both before it bumps the epoch, so the next
//! call after an install runs the new version, in running loops too (the guard's load follows a
//! poll, exactly like the slot load it stands in for). A change of tier would store only the
//! code pointer: the guard on the number accepts either tier of version N.
//!
//! The body comes from the version's typed function, kept here ([`InlineBody`], only for live
//! versions: the registry replaces it when the function is redefined). The caller's module gets
//! an `internal` `alwaysinline` copy generated from it against the slots and global cells the
//! version itself was compiled against, and LLVM inlines that copy at each guarded site. The
//! copy never refers to the callee's machine code, so the callee's code (either tier) can be
//! freed at any time without the caller noticing.
//!
//! Identity: runtime functions and polls receive `self_fn`, which the frame walk maps to the
//! version to name. An inlined copy passes the address of a small descriptor in the caller's
//! object instead of a function address: `{ MAGIC, caller's entry, &Site }`, where the
//! [`Site`] (owned by the caller's `Code`) holds the inlined version's `CodeInfo`. The walk
//! recognizes it (it is not in the code map) and reports the inlined version as the innermost
//! frame and the caller right after it, so runtime errors, interrupts and `:versions` see both.

use crate::codegen::Resolver;
use crate::versions::{code_at, CodeInfo};
use livejit_frontend::tast::{TBlock, TExpr, TExprKind, TFn, TPlace, TStmt};
use livejit_frontend::{FnSig, Type};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// First word of an inlined copy's identity descriptor.
pub(crate) const MAGIC: u64 = 0x6c6a_696e_6c69_6e65; // "ljinline"

/// Bodies of at most this many nodes (expressions and statements) are inlined by default.
/// A one-line helper is 5-20 nodes; 40 keeps small helpers with a branch or a short loop and
/// leaves whole algorithms (a sort: ~60 and more) behind their slot.
pub(crate) const MAX_NODES: usize = 40;

/// At most this many nodes are inlined into one unit (each call site counts its callee's
/// size), so a unit with thousands of calls (a long generated file) does not grow without
/// bound: later calls go through their slots.
pub(crate) const UNIT_BUDGET: usize = 4_000;

/// When calls are inlined (`LIVEJIT_INLINE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `LIVEJIT_INLINE=0`: never.
    Off,
    /// Default: leaf callees of at most [`MAX_NODES`] nodes.
    Small,
    /// `LIVEJIT_INLINE=always`: every leaf callee, whatever its size (tests use it to force
    /// inlining).
    Always,
}

/// The mode from `LIVEJIT_INLINE`, read once.
pub(crate) fn mode() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(
        || match std::env::var("LIVEJIT_INLINE").as_deref().map(str::trim) {
            Ok("0") | Ok("off") | Ok("no") | Ok("false") => Mode::Off,
            Ok("always") => Mode::Always,
            _ => Mode::Small,
        },
    )
}

/// Whether calls to this function version may be inlined: a leaf (it calls no user function)
/// small enough for the mode.
///
/// Leaves only, so that every call chain stays exact: the frame walk finds an inlined version
/// through the `self_fn` its own code passes, but a function called *from* an inlined body
/// would find only the caller's return address, and the inlined function would be missing
/// from the chain between them.
pub(crate) fn eligible(f: &TFn) -> bool {
    if !f.calls.is_empty() {
        return false;
    }
    match mode() {
        Mode::Off => false,
        Mode::Small => size(f) <= MAX_NODES,
        Mode::Always => true,
    }
}

/// Expressions and statements in a function body.
pub(crate) fn size(f: &TFn) -> usize {
    block_size(&f.body)
}

fn block_size(b: &TBlock) -> usize {
    b.stmts.iter().map(stmt_size).sum::<usize>() + b.tail.as_deref().map_or(0, expr_size)
}

fn stmt_size(s: &TStmt) -> usize {
    1 + match s {
        TStmt::Let { init, .. } => expr_size(init),
        TStmt::Assign { target, value, .. } => {
            expr_size(value)
                + match target {
                    TPlace::Local(_) | TPlace::Global(_) => 1,
                    TPlace::Index(a, i) => expr_size(a) + expr_size(i),
                    TPlace::Field(s, _) => expr_size(s),
                }
        }
        TStmt::Expr(e) => expr_size(e),
    }
}

fn expr_size(e: &TExpr) -> usize {
    let all = |xs: &[TExpr]| xs.iter().map(expr_size).sum::<usize>();
    1 + match &e.kind {
        TExprKind::Int(_)
        | TExprKind::Float(_)
        | TExprKind::Bool(_)
        | TExprKind::Str(_)
        | TExprKind::Unit
        | TExprKind::Local(_)
        | TExprKind::Global(_)
        | TExprKind::Break
        | TExprKind::Continue => 0,
        TExprKind::Unary(_, x) | TExprKind::Field(x, _) => expr_size(x),
        TExprKind::Binary(_, a, b) | TExprKind::Index(a, b) | TExprKind::ArrayRepeat(a, b) => {
            expr_size(a) + expr_size(b)
        }
        TExprKind::Slice(a, b, c) => expr_size(a) + expr_size(b) + expr_size(c),
        TExprKind::Call(_, xs)
        | TExprKind::Print(xs)
        | TExprKind::Builtin(_, xs)
        | TExprKind::ArrayList(xs) => all(xs),
        TExprKind::StructLit(_, fs) => fs.iter().map(|(_, x)| expr_size(x)).sum(),
        TExprKind::If(c, t, e) => expr_size(c) + block_size(t) + e.as_deref().map_or(0, expr_size),
        TExprKind::While(c, b) => expr_size(c) + block_size(b),
        TExprKind::Loop(b) | TExprKind::Block(b) => block_size(b),
        TExprKind::For(_, a, b, body) => expr_size(a) + expr_size(b) + block_size(body),
        TExprKind::Return(x) => x.as_deref().map_or(0, expr_size),
    }
}

/// Where an inlined copy's identity is found at run time: the `CodeInfo` of the inlined
/// version, set once that version is committed (before any code that inlines it can run).
#[derive(Default)]
pub(crate) struct Site {
    info: OnceLock<Arc<CodeInfo>>,
}

impl Site {
    /// Records the inlined version's identity (its commit does this).
    pub(crate) fn set(&self, info: Arc<CodeInfo>) {
        let _ = self.info.set(info);
    }
}

/// The live version of a function as callers inline it: its typed body and everything its
/// code was compiled against.
pub(crate) struct InlineBody {
    /// The function as checked.
    pub f: TFn,
    /// Its version number (what the guard compares with the slot's version cell).
    pub n: u32,
    /// Its slot.
    pub slot: usize,
    /// Slot and signature of every function it calls, as its own code calls them.
    pub slots: HashMap<String, (usize, FnSig)>,
    /// Cell and type of every global it uses, as its own code uses them.
    pub globals: HashMap<String, (usize, Type)>,
    /// Its identity for inlined copies (callers' code keeps it).
    pub site: Arc<Site>,
    /// Its size in nodes (see [`size`]).
    pub nodes: usize,
}

impl InlineBody {
    /// The body of version `n` of `f`, installed in `slot`, compiled against `resolver`.
    pub(crate) fn new(f: &TFn, n: u32, slot: usize, resolver: &dyn Resolver) -> InlineBody {
        InlineBody {
            f: f.clone(),
            n,
            slot,
            slots: f
                .calls
                .iter()
                .map(|c| (c.clone(), resolver.slot(c)))
                .collect(),
            globals: f
                .globals
                .iter()
                .map(|g| (g.clone(), resolver.global(g)))
                .collect(),
            site: Arc::new(Site::default()),
            nodes: size(f),
        }
    }
}

impl fmt::Debug for InlineBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "InlineBody({} v{}, {} nodes)",
            self.f.name, self.n, self.nodes
        )
    }
}

/// An inlined copy resolves names exactly as the version's own code did, and inlines nothing
/// itself (one level).
impl Resolver for InlineBody {
    fn slot(&self, name: &str) -> (usize, FnSig) {
        self.slots
            .get(name)
            .cloned()
            .expect("the inlined version's callees were recorded")
    }
    fn global(&self, name: &str) -> (usize, Type) {
        *self
            .globals
            .get(name)
            .expect("the inlined version's globals were recorded")
    }
    fn global_decl_defines(&self, _name: &str) -> bool {
        false
    }
}

/// The identity behind a `self_fn` that is not a function address: an inlined copy's
/// descriptor. Returns the inlined version and the caller it was inlined into, innermost
/// first; empty if `self_fn` is neither.
pub(crate) fn resolve(self_fn: usize) -> Vec<Arc<CodeInfo>> {
    if self_fn == 0 || !self_fn.is_multiple_of(8) {
        return Vec::new();
    }
    // SAFETY: JIT code passes as `self_fn` either its own entry address (found in the code map
    // before this is called) or the address of an inlined copy's descriptor, a constant
    // `{ u64 MAGIC, ptr caller, ptr site }` in the caller's object, which is running (it is
    // the code that called us) and so still mapped. The `Site` is owned by the caller's
    // `Code` (`Code::keep_sites`), dropped only when that code is freed.
    let (magic, caller, site) = unsafe {
        let p = self_fn as *const usize;
        (
            p.read() as u64,
            p.add(1).read(),
            p.add(2).read() as *const Site,
        )
    };
    if magic != MAGIC || site.is_null() {
        return Vec::new();
    }
    // SAFETY: see above: the site outlives the running caller.
    let inner = unsafe { &*site }.info.get().cloned();
    inner.into_iter().chain(code_at(caller)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use livejit_frontend::compile_front;

    fn sizes(text: &str) -> Vec<usize> {
        let snap = crate::driver::plan::Snapshot::default();
        let p = compile_front(text, &snap).expect("checks");
        p.fns.iter().map(size).collect()
    }

    #[test]
    fn one_line_helpers_are_small_and_algorithms_are_not() {
        let s = sizes(
            "fn a(i: int, j: int) -> float { 1.0 / float((i + j) * (i + j + 1) / 2 + i + 1) }\n\
             fn sort(xs: [int]) { let n = len(xs); for i in 0..n { for j in 0..n - 1 - i { \
             if xs[j] > xs[j + 1] { let t = xs[j]; xs[j] = xs[j + 1]; xs[j + 1] = t; } } } }",
        );
        assert!(s[0] <= MAX_NODES, "{s:?}");
        assert!(s[1] > MAX_NODES, "{s:?}");
    }

    #[test]
    fn a_bad_descriptor_resolves_to_nothing() {
        let words: [u64; 3] = [0, 0, 0];
        assert!(resolve(words.as_ptr() as usize).is_empty());
        assert!(resolve(0).is_empty());
    }
}
