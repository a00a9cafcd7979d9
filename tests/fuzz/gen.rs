//! The random program generator: typed and driven by the wanted type (`expr(ty)` only builds
//! expressions of type `ty`), so every program it makes is well typed.
//!
//! Termination by construction: `while` loops run on a fresh counter bounded by a small
//! literal (`while w < 4 && c { w += 1; ... }`, the increment first so `continue` cannot skip
//! it), a `loop` does the same (`let w = 0; loop { w += 1; if w > K { break; } ... }`, or at
//! the end of a function whose result it gives, `if w > K { return e; }` and no `break`),
//! `for` ranges are small (`(e % 6)`, literals, `len(xs)`), array lengths are bounded
//! (`(e % 6)`), a function calls only functions defined before it, and a recursive function
//! recurses on a decreasing depth parameter (`d - 1`, `d / 2`, ...) once, never in a loop.
//! The reference evaluator's fuel is the last line of defence: a program that runs too long is
//! replaced by another one.
//!
//! Types: int, float, bool, str, up to three structs per program (fields of scalar, array and
//! nested array types, earlier structs by value, any struct, itself included, inside an
//! array), and arrays of any of them (`[[int]]`, `[S0]`). Struct values are built by literals
//! (fields in any order; a field that may lead back to its struct gets `[]` in a literal, so
//! literals end), read by field, assigned and compound-assigned through places that nest
//! (`g.kids[0].x += 1.5`, `grid[i][j] = e`), copied, passed, returned, kept in globals and
//! printed (aliasing may make cycles, which print as `...`).

use super::ast::{
    BinOp, Block, Builtin, Expr, FnDef, Item, Place, PrintArg, Program, Stmt, StructDef, Ty, UnOp,
};

/// Generate side-effecting, fallible or diverging right-hand sides for compound assignments and
/// assignments to array elements (`g += f()` where `f` changes `g`, `xs[9] = h()`,
/// `x += return 7`): the right operand is evaluated first, then the place, as in Rust.
pub const RHS_SIDE_EFFECTS: bool = true;

/// Generate the bitwise compound assignments `&= |= ^= <<= >>=`.
pub const BITWISE_COMPOUND_ASSIGN: bool = true;

/// Generate a second `global g: T = e;` for a global the file has already declared (and run):
/// it does nothing (`global g: int = 0; global g: int = 7; print(g);` prints 0).
pub const GLOBAL_REDECLARATION: bool = true;

/// Str literals: printable ASCII with spaces at the ends (for `trim`), quotes, backslashes,
/// tabs and newlines (escaped in the source, raw in `print`, quoted inside arrays).
const STR_LITS: [&str; 8] = [
    "",
    "a",
    "ab",
    " x y ",
    "q\"b",
    "back\\slash",
    "t\tn\n",
    "zz",
];

/// A small deterministic generator (splitmix64), so failures reproduce from the seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True with probability `pct` percent.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// Field names (a builtin's name is a valid field name).
const FIELD_NAMES: [&str; 8] = ["x", "y", "n", "s", "len", "next", "kids", "min"];

const INT_EDGES: [i64; 14] = [
    0,
    1,
    -1,
    2,
    3,
    7,
    10,
    63,
    64,
    100,
    -100,
    i64::MAX,
    i64::MIN,
    1 << 40,
];
const FLOAT_LITS: [f64; 12] = [
    0.0, 1.0, -1.0, 0.5, 2.5, 0.1, -3.75, 1e10, 1e-7, 1e300, 123.456, 1e16,
];

/// A variable in scope.
#[derive(Clone)]
struct Var {
    name: String,
    ty: Ty,
    /// Assignable (loop counters, `for` variables and depth parameters are not).
    mutable: bool,
}

/// A generated function's signature.
#[derive(Clone)]
struct Sig {
    name: String,
    params: Vec<Ty>,
    ret: Option<Ty>,
    /// The first parameter is a recursion depth.
    recursive: bool,
}

/// Where code is being generated.
#[derive(Clone)]
struct Ctx {
    scopes: Vec<Vec<Var>>,
    /// Functions that may be called from here (those defined before, or all at the top level).
    callable: usize,
    /// `Some(ret)` inside a function.
    ret: Option<Option<Ty>>,
    /// Inside a loop of the current function (break/continue allowed).
    in_loop: bool,
    /// Loops around this point (bounds nesting).
    loops: u32,
    /// Only pure, infallible expressions (see `RHS_SIDE_EFFECTS`).
    pure: bool,
    /// In a `loop` that may be left only by `return` (its value is the function's result):
    /// no `break` for it.
    no_break: bool,
}

impl Ctx {
    fn vars_of(&self, ty: &Ty) -> Vec<&Var> {
        // Shadowed names are hidden.
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for scope in self.scopes.iter().rev() {
            for v in scope.iter().rev() {
                if seen.contains(&v.name.as_str()) {
                    continue;
                }
                seen.push(&v.name);
                if v.ty == *ty {
                    out.push(v);
                }
            }
        }
        out
    }

    fn mutable_vars(&self) -> Vec<Var> {
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for scope in self.scopes.iter().rev() {
            for v in scope.iter().rev() {
                if seen.contains(&v.name.as_str()) {
                    continue;
                }
                seen.push(&v.name);
                if v.mutable {
                    out.push(v.clone());
                }
            }
        }
        out
    }

    fn declare(&mut self, name: &str, ty: Ty, mutable: bool) {
        if let Some(s) = self.scopes.last_mut() {
            s.push(Var {
                name: name.to_string(),
                ty,
                mutable,
            });
        }
    }
}

pub struct Gen {
    pub rng: Rng,
    sigs: Vec<Sig>,
    fresh: usize,
    structs: Vec<StructDef>,
}

fn boxed(e: Expr) -> Box<Expr> {
    Box::new(e)
}

fn bin(op: BinOp, a: Expr, b: Expr, ty: Ty) -> Expr {
    Expr::Binary(op, boxed(a), boxed(b), ty)
}

fn arr(t: &Ty) -> Ty {
    Ty::Array(Box::new(t.clone()))
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen {
            rng: Rng::new(seed),
            sigs: Vec::new(),
            fresh: 0,
            structs: Vec::new(),
        }
    }

    fn name(&mut self, prefix: &str) -> String {
        self.fresh += 1;
        format!("{prefix}{}", self.fresh)
    }

    fn scalar(&mut self) -> Ty {
        self.rng
            .pick(&[Ty::Int, Ty::Int, Ty::Float, Ty::Bool, Ty::Str])
            .clone()
    }

    fn any_ty(&mut self) -> Ty {
        let structs = !self.structs.is_empty();
        match self.rng.below(100) {
            0..=15 => {
                let t = self.scalar();
                arr(&t)
            }
            16..=20 => {
                let t = self.scalar();
                arr(&arr(&t))
            }
            21..=32 if structs => self.struct_ty(),
            33..=37 if structs => {
                let t = self.struct_ty();
                arr(&t)
            }
            _ => self.scalar(),
        }
    }

    /// One of the program's struct types (there must be one).
    fn struct_ty(&mut self) -> Ty {
        let k = self.rng.below(self.structs.len() as u64) as usize;
        Ty::Struct(self.structs[k].name.clone())
    }

    fn def(&self, name: &str) -> StructDef {
        self.structs
            .iter()
            .find(|d| d.name == name)
            .cloned()
            .expect("a generated struct")
    }

    /// Up to three structs: `S{k}` holds earlier structs by value and any struct, itself
    /// included, inside arrays (so no struct contains itself other than through an array).
    fn struct_defs(&mut self) {
        let n = self.rng.below(4) as usize;
        let names: Vec<String> = (0..n).map(|k| format!("S{k}")).collect();
        for k in 0..n {
            let mut pool: Vec<&str> = FIELD_NAMES.to_vec();
            let nfields = 1 + self.rng.below(4);
            let mut fields = Vec::new();
            for _ in 0..nfields {
                let f = pool.remove(self.rng.below(pool.len() as u64) as usize);
                let t = match self.rng.below(100) {
                    0..=54 => self.scalar(),
                    55..=69 => {
                        let t = self.scalar();
                        arr(&t)
                    }
                    70..=74 => {
                        let t = self.scalar();
                        arr(&arr(&t))
                    }
                    75..=87 if k > 0 => {
                        Ty::Struct(names[self.rng.below(k as u64) as usize].clone())
                    }
                    88..=99 => arr(&Ty::Struct(
                        names[self.rng.below(n as u64) as usize].clone(),
                    )),
                    _ => self.scalar(),
                };
                fields.push((f.to_string(), t));
            }
            if self.rng.chance(40) {
                // A tree or list node: itself through an array.
                let f = pool.remove(self.rng.below(pool.len() as u64) as usize);
                fields.push((f.to_string(), arr(&Ty::Struct(names[k].clone()))));
            }
            self.structs.push(StructDef {
                name: names[k].clone(),
                fields,
            });
        }
    }

    // ------------------------------------------------------------ programs

    pub fn program(&mut self) -> Program {
        let mut p = Program::default();
        self.struct_defs();
        p.structs = self.structs.clone();
        // Structs may be written in any order (a field may name a later struct).
        if self.rng.chance(50) {
            p.structs.reverse();
        }
        // Globals exist (with zero values) for functions from the start; top-level code sees
        // them once declared.
        let nglobals = 1 + self.rng.below(4) as usize;
        let globals: Vec<Var> = (0..nglobals)
            .map(|k| Var {
                name: format!("g{k}"),
                ty: self.any_ty(),
                mutable: true,
            })
            .collect();
        let nfns = 1 + self.rng.below(5) as usize;
        for k in 0..nfns {
            let recursive = self.rng.chance(35);
            let mut params = Vec::new();
            if recursive {
                params.push(Ty::Int);
            }
            for _ in 0..self.rng.below(3) {
                params.push(self.any_ty());
            }
            let ret = if self.rng.chance(20) {
                None
            } else {
                Some(self.any_ty())
            };
            self.sigs.push(Sig {
                name: format!("f{k}"),
                params,
                ret,
                recursive,
            });
        }
        for k in 0..nfns {
            let f = self.function(k, &globals);
            p.fns.push(f);
        }
        // Top level: declarations of the globals interleaved with statements.
        let mut ctx = Ctx {
            scopes: vec![Vec::new()],
            callable: nfns,
            ret: None,
            in_loop: false,
            loops: 0,
            pure: false,
            no_break: false,
        };
        let mut pending: Vec<Var> = globals;
        while !pending.is_empty() || p.items.len() < 4 + nfns {
            if !pending.is_empty() && self.rng.chance(if p.items.len() < 3 { 80 } else { 30 }) {
                let g = pending.remove(0);
                let init = self.expr(&mut ctx, &g.ty, 2);
                p.items.push(Item::Global {
                    is_let: self.rng.chance(30),
                    name: g.name.clone(),
                    ty: g.ty.clone(),
                    annotate: self.rng.chance(60),
                    init,
                });
                ctx.declare(&g.name, g.ty, true);
                continue;
            }
            if p.items.len() > 24 {
                // Declare the rest.
                continue;
            }
            // Sometimes link a declared global of a struct type into one of its fields that
            // holds structs, often itself (`g0.kids = [g0, g1];`), so later prints meet cycles.
            let links = self.global_links(&ctx);
            if !links.is_empty() && self.rng.chance(20) {
                let (g, f, ft) = self.rng.pick(&links).clone();
                let Ty::Array(e) = &ft else { continue };
                let vars = ctx.vars_of(e);
                let xs = (0..1 + self.rng.below(2))
                    .map(|_| Expr::Var(self.rng.pick(&vars).name.clone(), (**e).clone()))
                    .collect();
                p.items.push(Item::Stmt(Stmt::Assign(
                    Place::Field(boxed(Expr::Var(g.name, g.ty)), f),
                    None,
                    Expr::List(xs, ft.clone()),
                )));
                continue;
            }
            // Mostly: call a function and print what it returns.
            if self.rng.chance(50) {
                let k = self.rng.below(nfns as u64) as usize;
                let sig = self.sigs[k].clone();
                let args = self.args(&mut ctx, &sig, 2);
                let s = match &sig.ret {
                    Some(t) => Stmt::Print(vec![
                        PrintArg::Label(self.label()),
                        PrintArg::Expr(Expr::Call(sig.name.clone(), args, t.clone())),
                    ]),
                    None => Stmt::Call(sig.name.clone(), args),
                };
                p.items.push(Item::Stmt(s));
            } else if GLOBAL_REDECLARATION && self.rng.chance(5) && !ctx.scopes[0].is_empty() {
                // `global` again for a declared global: does nothing. (A literal initializer:
                // whether it is evaluated at all is not specified.)
                let g = self.rng.pick(&ctx.scopes[0]).clone();
                if g.name.starts_with('g') {
                    let init = self.literal(&g.ty);
                    p.items.push(Item::Global {
                        is_let: false,
                        name: g.name,
                        ty: g.ty,
                        annotate: true,
                        init,
                    });
                }
            } else if self.rng.chance(15) {
                // A top-level `let` of an already declared global: an assignment.
                let declared: Vec<Var> = ctx.scopes[0].clone();
                if declared.is_empty() {
                    continue;
                }
                let g = self.rng.pick(&declared).clone();
                let init = self.expr(&mut ctx, &g.ty, 2);
                p.items.push(Item::Global {
                    is_let: true,
                    name: g.name,
                    ty: g.ty,
                    annotate: self.rng.chance(50),
                    init,
                });
            } else {
                for s in self.stmts(&mut ctx, 2) {
                    p.items.push(Item::Stmt(s));
                }
            }
        }
        // Functions may be written in any order (callers before callees too).
        if self.rng.chance(50) {
            p.fns.reverse();
        }
        // Show the final state of every global.
        let args = ctx.scopes[0]
            .iter()
            .map(|v| PrintArg::Expr(Expr::Var(v.name.clone(), v.ty.clone())))
            .collect::<Vec<_>>();
        if !args.is_empty() {
            p.items.push(Item::Stmt(Stmt::Print(args)));
        }
        p
    }

    /// Declared globals of a struct type with a field of an array-of-structs type for which a
    /// variable exists: (global, field, field type).
    fn global_links(&self, ctx: &Ctx) -> Vec<(Var, String, Ty)> {
        let mut links = Vec::new();
        for g in &ctx.scopes[0] {
            if let Ty::Struct(s) = &g.ty {
                for (f, ft) in self.def(s).fields {
                    if let Ty::Array(e) = &ft {
                        if matches!(**e, Ty::Struct(_)) && !ctx.vars_of(e).is_empty() {
                            links.push((g.clone(), f, ft));
                        }
                    }
                }
            }
        }
        links
    }

    fn label(&mut self) -> &'static str {
        const LABELS: [&str; 5] = ["a", "b", "r", "out", "v"];
        LABELS[self.rng.below(LABELS.len() as u64) as usize]
    }

    fn function(&mut self, k: usize, globals: &[Var]) -> FnDef {
        let sig = self.sigs[k].clone();
        let params: Vec<(String, Ty)> = sig
            .params
            .iter()
            .enumerate()
            .map(|(i, t)| (format!("p{i}"), t.clone()))
            .collect();
        let mut ctx = Ctx {
            scopes: vec![globals.to_vec(), Vec::new()],
            callable: k,
            ret: Some(sig.ret.clone()),
            in_loop: false,
            loops: 0,
            pure: false,
            no_break: false,
        };
        for (i, (n, t)) in params.iter().enumerate() {
            ctx.declare(n, t.clone(), !(sig.recursive && i == 0));
        }
        let mut stmts = Vec::new();
        if sig.recursive {
            // if p0 <= 0 { return BASE; }
            let base = sig.ret.as_ref().map(|t| self.expr(&mut ctx, t, 2));
            stmts.push(Stmt::If(
                bin(
                    BinOp::Le,
                    Expr::Var("p0".into(), Ty::Int),
                    Expr::Int(0),
                    Ty::Bool,
                ),
                Block {
                    stmts: vec![Stmt::Return(base)],
                    tail: None,
                },
                None,
            ));
        }
        let n = 1 + self.rng.below(4);
        for _ in 0..n {
            stmts.extend(self.stmts(&mut ctx, 2));
        }
        if sig.recursive {
            // The one recursive call, never inside a loop.
            let dec = match self.rng.below(3) {
                0 => bin(
                    BinOp::Sub,
                    Expr::Var("p0".into(), Ty::Int),
                    Expr::Int(1),
                    Ty::Int,
                ),
                1 => bin(
                    BinOp::Div,
                    Expr::Var("p0".into(), Ty::Int),
                    Expr::Int(2),
                    Ty::Int,
                ),
                _ => {
                    let e = self.expr(&mut ctx, &Ty::Int, 1);
                    bin(
                        BinOp::Sub,
                        bin(
                            BinOp::Sub,
                            Expr::Var("p0".into(), Ty::Int),
                            Expr::Int(1),
                            Ty::Int,
                        ),
                        bin(BinOp::BitAnd, e, Expr::Int(3), Ty::Int),
                        Ty::Int,
                    )
                }
            };
            let mut args = vec![dec];
            for t in &sig.params[1..] {
                args.push(self.expr(&mut ctx, t, 2));
            }
            match &sig.ret {
                Some(t) => {
                    let r = self.name("r");
                    stmts.push(Stmt::Let(
                        r.clone(),
                        t.clone(),
                        self.rng.chance(50),
                        Expr::Call(sig.name.clone(), args, t.clone()),
                    ));
                    ctx.declare(&r, t.clone(), true);
                }
                None => stmts.push(Stmt::Call(sig.name.clone(), args)),
            }
            for _ in 0..self.rng.below(3) {
                stmts.extend(self.stmts(&mut ctx, 1));
            }
        }
        let tail = match &sig.ret {
            Some(t) if self.rng.chance(10) => {
                // The function ends in a `loop` left only by `return` (a `loop` without
                // `break` has type `!`, so it needs no value after it).
                let w = self.name("w");
                let k = 1 + self.rng.below(5) as i64;
                stmts.push(Stmt::Let(w.clone(), Ty::Int, false, Expr::Int(0)));
                ctx.declare(&w, Ty::Int, false);
                let mut inner = ctx.clone();
                inner.in_loop = true;
                inner.loops += 1;
                inner.no_break = true;
                let n = 1 + self.rng.below(2);
                let mut body = self.block(&mut inner, n, 1);
                self.maybe_break(&mut inner, &mut body);
                // The result, where no `continue` could skip the `return` forever.
                let mut vctx = inner.clone();
                vctx.in_loop = false;
                let v = self.expr(&mut vctx, t, 2);
                count_and_leave(&mut body, &w, k, Stmt::Return(Some(v)));
                stmts.push(Stmt::Loop(body));
                None
            }
            Some(t) if self.rng.chance(15) => {
                stmts.push(Stmt::Return(Some(self.expr(&mut ctx, t, 3))));
                None
            }
            Some(t) => Some(boxed(self.expr(&mut ctx, t, 3))),
            None => None,
        };
        FnDef {
            name: sig.name,
            params,
            ret: sig.ret,
            body: Block { stmts, tail },
        }
    }

    /// Arguments for a call of `sig` (a depth argument first for a recursive function).
    fn args(&mut self, ctx: &mut Ctx, sig: &Sig, depth: u32) -> Vec<Expr> {
        let mut args = Vec::new();
        for (i, t) in sig.params.iter().enumerate() {
            if i == 0 && sig.recursive {
                let d = match self.rng.below(10) {
                    0 => Expr::Int(1000),
                    1..=4 => Expr::Int(self.rng.below(12) as i64),
                    _ => {
                        let e = self.expr(ctx, &Ty::Int, depth.min(1));
                        bin(BinOp::Rem, e, Expr::Int(30), Ty::Int)
                    }
                };
                args.push(d);
            } else {
                args.push(self.expr(ctx, t, depth));
            }
        }
        args
    }

    // ------------------------------------------------------------ statements

    fn block(&mut self, ctx: &mut Ctx, n: u64, depth: u32) -> Block {
        ctx.scopes.push(Vec::new());
        let mut stmts = Vec::new();
        for _ in 0..n {
            stmts.extend(self.stmts(ctx, depth));
        }
        ctx.scopes.pop();
        Block { stmts, tail: None }
    }

    /// One statement, or a few that belong together (a loop counter and its loop).
    fn stmts(&mut self, ctx: &mut Ctx, depth: u32) -> Vec<Stmt> {
        let roll = self.rng.below(100);
        let nested = depth > 0;
        match roll {
            0..=17 => {
                let t = self.any_ty();
                // Shadowing at the top level would redeclare a global with another type.
                let top = ctx.ret.is_none() && ctx.scopes.len() == 1;
                let name = if !top && self.rng.chance(10) {
                    // Shadow a local or parameter (possibly with another type).
                    let vars = ctx.mutable_vars();
                    match vars
                        .iter()
                        .find(|v| v.name.starts_with('v') || v.name.starts_with('p'))
                    {
                        Some(v) => v.name.clone(),
                        None => self.name("v"),
                    }
                } else {
                    self.name("v")
                };
                let init = self.expr(ctx, &t, 3);
                ctx.declare(&name, t.clone(), true);
                vec![Stmt::Let(name, t, self.rng.chance(40), init)]
            }
            18..=39 => self.assign(ctx).into_iter().collect(),
            40..=51 => {
                let mut args = Vec::new();
                if self.rng.chance(30) {
                    args.push(PrintArg::Label(self.label()));
                }
                for _ in 0..1 + self.rng.below(3) {
                    let t = self.any_ty();
                    args.push(PrintArg::Expr(self.expr(ctx, &t, 2)));
                }
                vec![Stmt::Print(args)]
            }
            52..=59 if nested => {
                let c = self.expr(ctx, &Ty::Bool, 2);
                let n = 1 + self.rng.below(3);
                let t = self.block(ctx, n, depth - 1);
                let e = if self.rng.chance(50) {
                    let n = 1 + self.rng.below(2);
                    Some(self.block(ctx, n, depth - 1))
                } else {
                    None
                };
                vec![Stmt::If(c, t, e)]
            }
            60..=63 if nested && ctx.loops < 2 => {
                // let w = 0; while w < K && c { w += 1; ... }
                let w = self.name("w");
                let k = 1 + self.rng.below(5) as i64;
                let mut cond = bin(
                    BinOp::Lt,
                    Expr::Var(w.clone(), Ty::Int),
                    Expr::Int(k),
                    Ty::Bool,
                );
                if self.rng.chance(50) {
                    // No `break` in a `while` condition (Rust rejects it).
                    let mut c_ctx = ctx.clone();
                    c_ctx.in_loop = false;
                    let c = self.expr(&mut c_ctx, &Ty::Bool, 2);
                    cond = bin(BinOp::And, cond, c, Ty::Bool);
                }
                ctx.declare(&w, Ty::Int, false);
                let mut inner = ctx.clone();
                inner.in_loop = true;
                inner.loops += 1;
                inner.no_break = false;
                let n = 1 + self.rng.below(3);
                let mut body = self.block(&mut inner, n, depth - 1);
                self.maybe_break(&mut inner, &mut body);
                body.stmts.insert(
                    0,
                    Stmt::Assign(Place::Var(w.clone()), Some(BinOp::Add), Expr::Int(1)),
                );
                vec![
                    Stmt::Let(w.clone(), Ty::Int, false, Expr::Int(0)),
                    Stmt::While(cond, body),
                ]
            }
            64..=67 if nested && ctx.loops < 2 => {
                // let w = 0; loop { w += 1; if w > K { break; } ... }
                let w = self.name("w");
                let k = self.rng.below(5) as i64;
                ctx.declare(&w, Ty::Int, false);
                let mut inner = ctx.clone();
                inner.in_loop = true;
                inner.loops += 1;
                inner.no_break = false;
                let n = 1 + self.rng.below(3);
                let mut body = self.block(&mut inner, n, depth - 1);
                self.maybe_break(&mut inner, &mut body);
                count_and_leave(&mut body, &w, k, Stmt::Break);
                vec![
                    Stmt::Let(w.clone(), Ty::Int, false, Expr::Int(0)),
                    Stmt::Loop(body),
                ]
            }
            68..=74 if nested && ctx.loops < 2 => {
                let i = self.name("i");
                let (lo, hi) = self.range(ctx);
                let mut inner = ctx.clone();
                inner.in_loop = true;
                inner.loops += 1;
                inner.no_break = false;
                inner.scopes.push(Vec::new());
                inner.declare(&i, Ty::Int, false);
                let n = 1 + self.rng.below(3);
                let mut body = self.block(&mut inner, n, depth - 1);
                self.maybe_break(&mut inner, &mut body);
                vec![Stmt::For(i, lo, hi, body)]
            }
            75..=79 if ctx.in_loop => {
                let c = self.expr(ctx, &Ty::Bool, 1);
                let s = self.break_or_continue(ctx);
                vec![Stmt::If(
                    c,
                    Block {
                        stmts: vec![s],
                        tail: None,
                    },
                    None,
                )]
            }
            80..=84 if ctx.ret.is_some() => {
                let ret = ctx.ret.clone().flatten();
                let c = self.expr(ctx, &Ty::Bool, 1);
                let v = ret.map(|t| self.expr(ctx, &t, 2));
                vec![Stmt::If(
                    c,
                    Block {
                        stmts: vec![Stmt::Return(v)],
                        tail: None,
                    },
                    None,
                )]
            }
            85..=86 => {
                // Usually true: a comparison of a value with itself, or a disjunction.
                let c = self.expr(ctx, &Ty::Bool, 2);
                let c = if self.rng.chance(70) {
                    bin(BinOp::Or, c, Expr::Bool(true), Ty::Bool)
                } else {
                    c
                };
                vec![Stmt::Assert(c)]
            }
            _ => {
                // A call as a statement (its value, if any, dropped).
                let cands: Vec<Sig> = self.sigs[..ctx.callable].to_vec();
                if cands.is_empty() {
                    return Vec::new();
                }
                let sig = self.rng.pick(&cands).clone();
                let args = self.args(ctx, &sig, 2);
                vec![Stmt::Call(sig.name, args)]
            }
        }
    }

    /// Often puts an `if c { break; }` or `if c { continue; }` somewhere in a loop body.
    fn maybe_break(&mut self, ctx: &mut Ctx, body: &mut Block) {
        if self.rng.chance(50) {
            let c = self.expr(ctx, &Ty::Bool, 1);
            let s = self.break_or_continue(ctx);
            // Before any `let` of the body, which might shadow a name the condition uses.
            let lets = body
                .stmts
                .iter()
                .position(|s| matches!(s, Stmt::Let(..)))
                .unwrap_or(body.stmts.len());
            let at = self.rng.below(lets as u64 + 1) as usize;
            body.stmts.insert(
                at,
                Stmt::If(
                    c,
                    Block {
                        stmts: vec![s],
                        tail: None,
                    },
                    None,
                ),
            );
        }
    }

    /// `break;` or `continue;` for the innermost loop (`continue` where `break` is not allowed).
    fn break_or_continue(&mut self, ctx: &Ctx) -> Stmt {
        if !ctx.no_break && self.rng.chance(50) {
            Stmt::Break
        } else {
            Stmt::Continue
        }
    }

    /// A `for` range: small by construction.
    fn range(&mut self, ctx: &mut Ctx) -> (Expr, Expr) {
        let lo = if self.rng.chance(70) {
            Expr::Int(self.rng.below(3) as i64)
        } else {
            let e = self.expr(ctx, &Ty::Int, 1);
            bin(BinOp::Rem, e, Expr::Int(4), Ty::Int)
        };
        let hi = match self.rng.below(3) {
            0 => Expr::Int(self.rng.below(6) as i64),
            1 => {
                let t = self.scalar();
                let a = self.array_operand(ctx, &t, 1);
                // len(xs) is small: arrays are built small.
                Expr::Builtin(Builtin::Len, boxed(a), Ty::Int)
            }
            _ => {
                let e = self.expr(ctx, &Ty::Int, 1);
                bin(BinOp::Rem, e, Expr::Int(6), Ty::Int)
            }
        };
        (lo, hi)
    }

    fn assign(&mut self, ctx: &mut Ctx) -> Option<Stmt> {
        let vars = ctx.mutable_vars();
        if vars.is_empty() {
            return None;
        }
        let v = self.rng.pick(&vars).clone();
        // The place: the variable, or a path of up to three elements and fields into it.
        let mut place = Place::Var(v.name.clone());
        let mut cur = Expr::Var(v.name.clone(), v.ty.clone());
        let mut ty = v.ty.clone();
        for step in 0..3 {
            let go = if step == 0 { 75 } else { 45 };
            match ty.clone() {
                Ty::Array(elem) if self.rng.chance(go) => {
                    let i = self.index_for(ctx, &cur);
                    place = Place::Index(boxed(cur.clone()), boxed(i.clone()));
                    cur = Expr::Index(boxed(cur), boxed(i), (*elem).clone());
                    ty = *elem;
                }
                Ty::Struct(s) if self.rng.chance(go + 10) => {
                    let def = self.def(&s);
                    let (f, ft) = self.rng.pick(&def.fields).clone();
                    place = Place::Field(boxed(cur.clone()), f.clone());
                    cur = Expr::Field(boxed(cur), f, ft.clone());
                    ty = ft;
                }
                _ => break,
            }
        }
        let ops: &[BinOp] = match ty {
            Ty::Int if BITWISE_COMPOUND_ASSIGN => &[
                BinOp::Add,
                BinOp::Sub,
                BinOp::Mul,
                BinOp::Div,
                BinOp::Rem,
                BinOp::BitAnd,
                BinOp::BitOr,
                BinOp::BitXor,
                BinOp::Shl,
                BinOp::Shr,
            ],
            Ty::Int | Ty::Float => &[BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::Rem],
            Ty::Str => &[BinOp::Add],
            _ => &[],
        };
        let op = if !ops.is_empty() && self.rng.chance(50) {
            Some(*self.rng.pick(ops))
        } else {
            None
        };
        let restricted = !RHS_SIDE_EFFECTS && (op.is_some() || matches!(place, Place::Index(..)));
        let value = if restricted {
            let saved = ctx.pure;
            ctx.pure = true;
            let mut e = self.expr(ctx, &ty, 2);
            ctx.pure = saved;
            if ty == Ty::Int && matches!(op, Some(BinOp::Div | BinOp::Rem)) && self.rng.chance(70) {
                // Mostly a divisor that is never zero (odd).
                e = bin(BinOp::BitOr, e, Expr::Int(1), Ty::Int);
            }
            e
        } else if ctx.ret.is_some() && self.rng.chance(3) {
            // `x += return 7`: the assignment never happens.
            let ret = ctx.ret.clone().flatten();
            let v = ret.map(|t| boxed(self.expr(ctx, &t, 1)));
            Expr::Return(v, ty.clone())
        } else if let Some(e) = self.link(ctx, &ty) {
            e
        } else if matches!(ty, Ty::Array(_)) && self.rng.chance(10) {
            // `[]` takes its element type from the place.
            Expr::List(Vec::new(), ty.clone())
        } else {
            self.expr(ctx, &ty, 3)
        };
        Some(Stmt::Assign(place, op, value))
    }

    /// Often, for a place of a struct type or an array of structs, a variable of that struct
    /// (`n.next = m;`, `n.kids = [n, m];`): links that share values and make cycles.
    fn link(&mut self, ctx: &Ctx, ty: &Ty) -> Option<Expr> {
        let elem = match ty {
            Ty::Struct(_) => ty,
            Ty::Array(e) if matches!(**e, Ty::Struct(_)) => e,
            _ => return None,
        };
        let vars: Vec<Expr> = ctx
            .vars_of(elem)
            .iter()
            .map(|v| Expr::Var(v.name.clone(), elem.clone()))
            .collect();
        if vars.is_empty() || !self.rng.chance(40) {
            return None;
        }
        if ty == elem {
            return Some(self.rng.pick(&vars).clone());
        }
        let n = 1 + self.rng.below(3);
        let xs = (0..n).map(|_| self.rng.pick(&vars).clone()).collect();
        Some(Expr::List(xs, ty.clone()))
    }

    // ------------------------------------------------------------ expressions

    /// An index for the array `a` (which is cheap to evaluate twice: a variable).
    fn index_for(&mut self, ctx: &mut Ctx, a: &Expr) -> Expr {
        match self.rng.below(10) {
            0..=4 => Expr::Int(self.rng.below(2) as i64),
            5..=6 if matches!(a, Expr::Var(..) | Expr::Index(..) | Expr::Field(..)) => bin(
                BinOp::Sub,
                Expr::Builtin(Builtin::Len, boxed(a.clone()), Ty::Int),
                Expr::Int(1),
                Ty::Int,
            ),
            7..=8 => {
                let loop_vars: Vec<String> = ctx
                    .vars_of(&Ty::Int)
                    .iter()
                    .filter(|v| v.name.starts_with('i'))
                    .map(|v| v.name.clone())
                    .collect();
                match loop_vars.first() {
                    Some(n) => Expr::Var(n.clone(), Ty::Int),
                    None => Expr::Int(0),
                }
            }
            // Rarely anything (likely out of range), else `(e & 1)` or `(e % 3)` (maybe
            // negative).
            _ => {
                let e = self.expr(ctx, &Ty::Int, 1);
                match self.rng.below(5) {
                    0 => e,
                    1 => bin(BinOp::Rem, e, Expr::Int(3), Ty::Int),
                    _ => bin(BinOp::BitAnd, e, Expr::Int(1), Ty::Int),
                }
            }
        }
    }

    fn literal(&mut self, ty: &Ty) -> Expr {
        match ty {
            Ty::Int => {
                if self.rng.chance(70) {
                    Expr::Int(self.rng.below(20) as i64 - 5)
                } else if self.rng.chance(60) {
                    Expr::Int(*self.rng.pick(&INT_EDGES))
                } else {
                    Expr::Int(self.rng.next() as i64 >> self.rng.below(64))
                }
            }
            Ty::Float => {
                if self.rng.chance(50) {
                    Expr::Float(*self.rng.pick(&FLOAT_LITS))
                } else {
                    Expr::Float((self.rng.below(2000) as f64 - 1000.0) / 8.0)
                }
            }
            Ty::Bool => Expr::Bool(self.rng.chance(50)),
            Ty::Str => {
                let s = *self.rng.pick(&STR_LITS);
                Expr::Str(s.as_bytes().to_vec())
            }
            Ty::Array(t) => {
                let n = 1 + self.rng.below(4);
                Expr::List((0..n).map(|_| self.literal(t)).collect(), ty.clone())
            }
            Ty::Struct(name) => {
                let def = self.def(name);
                let mut fields = Vec::new();
                for (f, ft) in &def.fields {
                    let x = if ft.struct_in_array() {
                        Expr::List(Vec::new(), ft.clone())
                    } else {
                        self.literal(ft)
                    };
                    fields.push((f.clone(), x));
                }
                self.shuffle(&mut fields);
                Expr::StructLit(name.clone(), fields, ty.clone())
            }
        }
    }

    /// Sometimes puts the fields of a literal in another order.
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        if self.rng.chance(40) {
            for k in (1..xs.len()).rev() {
                let j = self.rng.below(k as u64 + 1) as usize;
                xs.swap(k, j);
            }
        }
    }

    /// A struct literal whose fields are generated expressions.
    fn struct_lit(&mut self, ctx: &mut Ctx, name: &str, depth: u32) -> Expr {
        let def = self.def(name);
        let mut fields = Vec::new();
        for (f, ft) in &def.fields {
            let x = if ft.struct_in_array() && (depth == 0 || self.rng.chance(40)) {
                Expr::List(Vec::new(), ft.clone())
            } else {
                self.expr(ctx, ft, depth)
            };
            fields.push((f.clone(), x));
        }
        self.shuffle(&mut fields);
        Expr::StructLit(name.to_string(), fields, Ty::Struct(name.to_string()))
    }

    /// A struct operand (mostly a variable) for field reads and `copy`.
    fn struct_operand(&mut self, ctx: &mut Ctx, name: &str, depth: u32) -> Expr {
        let t = Ty::Struct(name.to_string());
        let vars = ctx.vars_of(&t);
        if !vars.is_empty() && self.rng.chance(75) {
            let v = self.rng.pick(&vars);
            Expr::Var(v.name.clone(), t)
        } else {
            self.expr(ctx, &t, depth.saturating_sub(1))
        }
    }

    fn var_or_literal(&mut self, ctx: &Ctx, ty: &Ty) -> Expr {
        let vars = ctx.vars_of(ty);
        if !vars.is_empty() && self.rng.chance(65) {
            let v = self.rng.pick(&vars);
            Expr::Var(v.name.clone(), ty.clone())
        } else {
            self.literal(ty)
        }
    }

    /// An array operand (mostly a variable) for indexing, `len` and `copy`.
    fn array_operand(&mut self, ctx: &mut Ctx, elem: &Ty, depth: u32) -> Expr {
        let t = arr(elem);
        let vars = ctx.vars_of(&t);
        if !vars.is_empty() && self.rng.chance(80) {
            let v = self.rng.pick(&vars);
            Expr::Var(v.name.clone(), t)
        } else {
            self.expr(ctx, &t, depth.saturating_sub(1))
        }
    }

    fn calls_returning(&self, ctx: &Ctx, ty: &Ty) -> Vec<Sig> {
        self.sigs[..ctx.callable]
            .iter()
            .filter(|s| s.ret.as_ref() == Some(ty))
            .cloned()
            .collect()
    }

    fn expr(&mut self, ctx: &mut Ctx, ty: &Ty, depth: u32) -> Expr {
        if depth == 0 || self.rng.chance(20) {
            return self.var_or_literal(ctx, ty);
        }
        let d = depth - 1;
        let pure = ctx.pure;
        // Forms common to all types.
        match self.rng.below(100) {
            0..=7 if !pure => {
                let calls = self.calls_returning(ctx, ty);
                if !calls.is_empty() {
                    let sig = self.rng.pick(&calls).clone();
                    let args = self.args(ctx, &sig, d);
                    return Expr::Call(sig.name, args, ty.clone());
                }
            }
            8..=12 => {
                let c = self.expr(ctx, &Ty::Bool, d);
                let mut t = Block {
                    stmts: Vec::new(),
                    tail: Some(boxed(self.expr(ctx, ty, d))),
                };
                let mut f = Block {
                    stmts: Vec::new(),
                    tail: Some(boxed(self.expr(ctx, ty, d))),
                };
                // Sometimes one branch diverges.
                if !pure && self.rng.chance(20) {
                    let b = if self.rng.chance(50) { &mut t } else { &mut f };
                    if ctx.in_loop {
                        b.tail = None;
                        let s = self.break_or_continue(ctx);
                        b.stmts.push(s);
                    } else if let Some(r) = ctx.ret.clone() {
                        b.tail = None;
                        let v = r.map(|rt| self.expr(ctx, &rt, 1));
                        b.stmts.push(Stmt::Return(v));
                    }
                }
                return Expr::If(boxed(c), t, f, ty.clone());
            }
            13..=15 if !pure => {
                // { let v = e; [x = e2;] tail }
                let mut inner = ctx.clone();
                inner.scopes.push(Vec::new());
                let t = self.scalar();
                let v = self.name("v");
                let init = self.expr(&mut inner, &t, d);
                inner.declare(&v, t.clone(), true);
                let mut stmts = vec![Stmt::Let(v, t, false, init)];
                if self.rng.chance(40) {
                    stmts.extend(self.assign(&mut inner));
                }
                let tail = self.expr(&mut inner, ty, d);
                return Expr::Block(
                    Block {
                        stmts,
                        tail: Some(boxed(tail)),
                    },
                    ty.clone(),
                );
            }
            // An element of an array (of arrays only from a variable, so types stay small).
            16..=19
                if !pure && (!matches!(ty, Ty::Array(_)) || !ctx.vars_of(&arr(ty)).is_empty()) =>
            {
                let a = self.array_operand(ctx, ty, d);
                let i = self.index_for(ctx, &a);
                return Expr::Index(boxed(a), boxed(i), ty.clone());
            }
            20..=25 => {
                // A field of this type.
                let owners: Vec<(String, String)> = self
                    .structs
                    .iter()
                    .flat_map(|s| {
                        s.fields
                            .iter()
                            .filter(|(_, ft)| ft == ty)
                            .map(|(f, _)| (s.name.clone(), f.clone()))
                    })
                    .collect();
                if !owners.is_empty() {
                    let (s, f) = self.rng.pick(&owners).clone();
                    let base = self.struct_operand(ctx, &s, d);
                    return Expr::Field(boxed(base), f, ty.clone());
                }
            }
            _ => {}
        }
        match ty {
            Ty::Str => match self.rng.below(10) {
                0..=2 => bin(
                    BinOp::Add,
                    self.expr(ctx, ty, d),
                    self.expr(ctx, ty, d),
                    Ty::Str,
                ),
                3 => {
                    let t = if self.rng.chance(30) {
                        self.any_ty()
                    } else {
                        self.scalar()
                    };
                    Expr::Builtin(Builtin::ToStr, boxed(self.expr(ctx, &t, d)), Ty::Str)
                }
                4 => Expr::Builtin(Builtin::Trim, boxed(self.expr(ctx, ty, d)), Ty::Str),
                _ => self.var_or_literal(ctx, ty),
            },
            Ty::Int => match self.rng.below(13) {
                0 => Expr::Unary(UnOp::Neg, boxed(self.expr(ctx, ty, d)), Ty::Int),
                1..=5 => {
                    let op = *self.rng.pick(&[
                        BinOp::Add,
                        BinOp::Sub,
                        BinOp::Mul,
                        BinOp::Shl,
                        BinOp::Shr,
                        BinOp::BitAnd,
                        BinOp::BitOr,
                        BinOp::BitXor,
                    ]);
                    bin(op, self.expr(ctx, ty, d), self.expr(ctx, ty, d), Ty::Int)
                }
                6..=7 if !pure => {
                    let op = *self.rng.pick(&[BinOp::Div, BinOp::Rem]);
                    let a = self.expr(ctx, ty, d);
                    let b = match self.rng.below(10) {
                        // Never zero: odd.
                        0..=5 => bin(BinOp::BitOr, self.expr(ctx, ty, d), Expr::Int(1), Ty::Int),
                        6..=8 => Expr::Int(*self.rng.pick(&[1, 2, 3, -1, 7, 10, -4])),
                        _ => self.expr(ctx, ty, d),
                    };
                    bin(op, a, b, Ty::Int)
                }
                8 => {
                    let t = if self.rng.chance(30) {
                        self.any_ty()
                    } else {
                        self.scalar()
                    };
                    let a = self.array_operand(ctx, &t, d);
                    Expr::Builtin(Builtin::Len, boxed(a), Ty::Int)
                }
                9 => Expr::Builtin(Builtin::Int, boxed(self.expr(ctx, &Ty::Float, d)), Ty::Int),
                10 => Expr::Builtin(Builtin::Abs, boxed(self.expr(ctx, ty, d)), Ty::Int),
                11 => Expr::Builtin(Builtin::Len, boxed(self.expr(ctx, &Ty::Str, d)), Ty::Int),
                _ => self.var_or_literal(ctx, ty),
            },
            Ty::Float => match self.rng.below(10) {
                0 => Expr::Unary(UnOp::Neg, boxed(self.expr(ctx, ty, d)), Ty::Float),
                1..=5 => {
                    let op = *self.rng.pick(&[
                        BinOp::Add,
                        BinOp::Sub,
                        BinOp::Mul,
                        BinOp::Div,
                        BinOp::Rem,
                    ]);
                    bin(op, self.expr(ctx, ty, d), self.expr(ctx, ty, d), Ty::Float)
                }
                6 => Expr::Builtin(
                    Builtin::Float,
                    boxed(self.expr(ctx, &Ty::Int, d)),
                    Ty::Float,
                ),
                7 => Expr::Builtin(Builtin::Sqrt, boxed(self.expr(ctx, ty, d)), Ty::Float),
                8 => Expr::Builtin(Builtin::Abs, boxed(self.expr(ctx, ty, d)), Ty::Float),
                _ => self.var_or_literal(ctx, ty),
            },
            Ty::Bool => match self.rng.below(10) {
                0 => Expr::Unary(UnOp::Not, boxed(self.expr(ctx, ty, d)), Ty::Bool),
                1..=4 => {
                    let t = self.scalar();
                    let ops: &[BinOp] = if t == Ty::Bool {
                        &[BinOp::Eq, BinOp::Ne]
                    } else {
                        &[
                            BinOp::Eq,
                            BinOp::Ne,
                            BinOp::Lt,
                            BinOp::Le,
                            BinOp::Gt,
                            BinOp::Ge,
                        ]
                    };
                    let op = *self.rng.pick(ops);
                    bin(op, self.expr(ctx, &t, d), self.expr(ctx, &t, d), Ty::Bool)
                }
                5..=6 => {
                    let op = *self.rng.pick(&[BinOp::And, BinOp::Or]);
                    bin(op, self.expr(ctx, ty, d), self.expr(ctx, ty, d), Ty::Bool)
                }
                _ => self.var_or_literal(ctx, ty),
            },
            Ty::Array(elem) => match self.rng.below(10) {
                0..=2 if !pure => {
                    let n = 1 + self.rng.below(4);
                    Expr::List(
                        (0..n).map(|_| self.expr(ctx, elem, d)).collect(),
                        ty.clone(),
                    )
                }
                3..=4 if !pure => {
                    let x = self.expr(ctx, elem, d);
                    let n = if self.rng.chance(50) {
                        Expr::Int(self.rng.below(6) as i64)
                    } else {
                        let e = self.expr(ctx, &Ty::Int, d);
                        bin(BinOp::Rem, e, Expr::Int(6), Ty::Int)
                    };
                    Expr::Repeat(boxed(x), boxed(n), ty.clone())
                }
                5 if !pure => {
                    let a = self.array_operand(ctx, elem, d);
                    Expr::Builtin(Builtin::Copy, boxed(a), ty.clone())
                }
                _ => self.var_or_literal(ctx, ty),
            },
            Ty::Struct(name) => match self.rng.below(10) {
                0..=3 => self.struct_lit(ctx, name, d),
                4 if !pure => {
                    let a = self.struct_operand(ctx, name, d);
                    Expr::Builtin(Builtin::Copy, boxed(a), ty.clone())
                }
                _ => self.var_or_literal(ctx, ty),
            },
        }
    }
}

/// Starts a `loop` body with `w += 1; if w > k { leave }`, which bounds the loop (`leave` is
/// `break` or a `return`).
fn count_and_leave(body: &mut Block, w: &str, k: i64, leave: Stmt) {
    let over = bin(
        BinOp::Gt,
        Expr::Var(w.to_string(), Ty::Int),
        Expr::Int(k),
        Ty::Bool,
    );
    let exit = Block {
        stmts: vec![leave],
        tail: None,
    };
    body.stmts.insert(0, Stmt::If(over, exit, None));
    body.stmts.insert(
        0,
        Stmt::Assign(Place::Var(w.to_string()), Some(BinOp::Add), Expr::Int(1)),
    );
}
