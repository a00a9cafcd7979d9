//! AST -> typed AST: name resolution and type checking.
//!
//! The checker reports every error it finds. After an error it carries on with a *poison*
//! value: an expression of type [`Type::Error`], which fits every expected type, so one mistake
//! does not cascade into a stream of follow-up errors. Poison never reaches the output: a
//! program with any error yields `Err`. (Parser recovery feeds the same mechanism: an
//! `ExprKind::Error` placeholder, or a type annotation the parser could not read and left as
//! `Error`, is poison that was already reported.) Divergence is a type of its own,
//! [`Type::Never`]: it also fits everywhere, but it is a real type the back end compiles.

use crate::ast::{self, BinOp, ExprKind, StmtKind, TypeExpr, UnOp};
use crate::tast::{
    Builtin, LocalId, LocalInfo, TBlock, TExpr, TExprKind, TFn, TPlace, TProgram, TStmt, TStruct,
    TTop, TTopItem,
};
use crate::types::{StructDef, StructId};
use crate::{Diagnostic, FnSig, Span, Type};
use std::collections::{BTreeMap, BTreeSet};

/// Hash maps keyed by names and spans, hashed with foldhash rather than SipHash: the checker
/// hashes a name for every use. foldhash's seed is random per process, so crafted names still
/// cannot be made to collide.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;

/// What the session already knows: functions and globals defined by earlier inputs.
pub trait Env {
    /// The current signature of a user function defined earlier, if any.
    fn function(&self, name: &str) -> Option<FnSig>;
    /// The current type of a global defined earlier, if any.
    fn global(&self, name: &str) -> Option<Type>;
    /// The current definition of a struct defined earlier, if any.
    fn structure(&self, name: &str) -> Option<StructId> {
        let _ = name;
        None
    }
    /// The names of every struct defined earlier (so that a struct change re-derives every
    /// struct that contains the changed one, whether the program names it or not).
    fn structure_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// Type-checks a parsed program against the session.
///
/// Functions defined in `program` take precedence over the session's (`env`), and all of them
/// see each other whatever their order; globals declared anywhere in `program` are visible to
/// all of its code. `src` is the text `program` was parsed from.
///
/// The program is taken by value: it moves to the front end's worker thread (and is dropped
/// there) instead of being copied.
pub fn check(program: ast::Program, src: &str, env: &dyn Env) -> Result<TProgram, Vec<Diagnostic>> {
    // Only positions are needed from the source; spans already locate everything.
    // The checker recurses once per syntax-tree level, so it runs on a thread with a large
    // stack (see `parser::on_big_stack`). `Env` is not required to be `Sync`, so every session
    // lookup the program can need is answered here, on the caller's thread, first.
    let snapshot = Snapshot::take(&program, env);
    let src = src.to_string();
    // The program is dropped after the answer is handed back (see `on_big_stack_then_drop`).
    crate::parser::on_big_stack_then_drop(move || {
        let mut checker = Checker::new(&snapshot, src);
        let typed = checker.program(&program);
        let result = if checker.diags.is_empty() {
            Ok(typed)
        } else {
            let mut diags = checker.diags;
            diags.sort_by_key(|d| d.primary_span().map(|s| (s.start, s.end)));
            Err(diags)
        };
        (result, (program, snapshot))
    })
}

/// The answers of [`Env`] for every name the program mentions.
struct Snapshot {
    functions: HashMap<String, FnSig>,
    globals: HashMap<String, Type>,
    structs: HashMap<String, StructId>,
}

/// Adds the names a written type mentions.
fn type_names<'a>(t: &'a TypeExpr, out: &mut HashSet<&'a str>) {
    match t {
        TypeExpr::Named(n) => {
            out.insert(n.name.as_str());
        }
        TypeExpr::Array(inner) => type_names(inner, out),
        TypeExpr::Error => {}
    }
}

impl Snapshot {
    /// Walks the program without recursion (the caller's stack may be small) and asks `env`
    /// about every variable and function name in it.
    fn take(program: &ast::Program, env: &dyn Env) -> Snapshot {
        let mut vars = HashSet::default();
        let mut fns = HashSet::default();
        let mut types: HashSet<&str> = HashSet::default();
        let mut work: Vec<&ast::Expr> = Vec::new();
        let mut lets: Vec<&TypeExpr> = Vec::new();
        fn push_block<'a>(
            b: &'a ast::Block,
            work: &mut Vec<&'a ast::Expr>,
            lets: &mut Vec<&'a TypeExpr>,
        ) {
            for s in &b.stmts {
                push_stmt(s, work, lets);
            }
            if let Some(t) = &b.tail {
                work.push(t);
            }
        }
        fn push_stmt<'a>(
            s: &'a ast::Stmt,
            work: &mut Vec<&'a ast::Expr>,
            lets: &mut Vec<&'a TypeExpr>,
        ) {
            match &s.kind {
                StmtKind::Let { init, ty, .. } => {
                    work.push(init);
                    if let Some(t) = ty {
                        lets.push(&t.ty);
                    }
                }
                StmtKind::Assign { target, value, .. } => {
                    work.push(target);
                    work.push(value);
                }
                StmtKind::Expr(e) => work.push(e),
            }
        }
        for item in &program.items {
            match item {
                ast::Item::Fn(f) => {
                    for p in &f.params {
                        type_names(&p.ty.ty, &mut types);
                    }
                    if let Some(r) = &f.ret {
                        type_names(&r.ty, &mut types);
                    }
                    push_block(&f.body, &mut work, &mut lets)
                }
                ast::Item::Struct(st) => {
                    types.insert(st.name.name.as_str());
                    for (_, t) in &st.fields {
                        type_names(&t.ty, &mut types);
                    }
                }
                ast::Item::Global(g) => {
                    vars.insert(g.name.name.as_str());
                    if let Some(t) = &g.ty {
                        type_names(&t.ty, &mut types);
                    }
                    work.push(&g.init);
                }
                ast::Item::Stmt(s) => push_stmt(s, &mut work, &mut lets),
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
                ExprKind::Slice(a, b, c) => {
                    work.push(a);
                    work.push(b);
                    work.push(c);
                }
                ExprKind::Field(a, _) => work.push(a),
                ExprKind::StructLit(name, fields) => {
                    types.insert(name.name.as_str());
                    work.extend(fields.iter().map(|(_, e)| e));
                }
                ExprKind::ArrayList(xs) => work.extend(xs),
                ExprKind::If(c, t, els) => {
                    work.push(c);
                    push_block(t, &mut work, &mut lets);
                    if let Some(els) = els {
                        work.push(els);
                    }
                }
                ExprKind::While(c, b) => {
                    work.push(c);
                    push_block(b, &mut work, &mut lets);
                }
                ExprKind::Loop(b) | ExprKind::Block(b) => push_block(b, &mut work, &mut lets),
                ExprKind::For(_, lo, hi, b) => {
                    work.push(lo);
                    work.push(hi);
                    push_block(b, &mut work, &mut lets);
                }
                ExprKind::Return(v) => work.extend(v.as_deref()),
                ExprKind::Int(_)
                | ExprKind::Float(_)
                | ExprKind::Bool(_)
                | ExprKind::Str(_)
                | ExprKind::ArrayEmpty
                | ExprKind::Break
                | ExprKind::Continue
                | ExprKind::Error => {}
            }
        }
        for t in lets {
            type_names(t, &mut types);
        }
        // Session structs, and every struct their fields name (re-derived by name).
        let mut structs = HashMap::default();
        let mut todo: Vec<String> = types.into_iter().map(str::to_string).collect();
        todo.extend(env.structure_names());
        while let Some(name) = todo.pop() {
            if structs.contains_key(&name) {
                continue;
            }
            if let Some(id) = env.structure(&name) {
                let mut inner = std::collections::BTreeSet::new();
                for (_, t) in &id.def().fields {
                    t.structs_in(&mut inner);
                }
                todo.extend(inner);
                structs.insert(name, id);
            }
        }
        // The globals' types may name structs too (for the uses recorded per function).
        Snapshot {
            structs,
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
    let expected = expected.to_string();
    let d = Diagnostic::error(
        format!("mismatched types: expected `{expected}`, found `{found}`"),
        at,
        format!("expected `{expected}`, found `{found}`"),
    );
    if expected == found.to_string() {
        // Two definitions of one struct name (a value made before the struct changed).
        d.with_note(format!(
            "`{expected}` has been redefined: this value has the type of an earlier definition"
        ))
    } else {
        d
    }
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
    /// The locals each scope declared (their names are in `locals`), innermost scope last.
    scopes: Vec<Vec<LocalId>>,
    /// Enclosing loops, innermost last: whether a `break` for it was seen.
    loops: Vec<bool>,
    /// The return type, `None` at the top level (where `return` is an error).
    ret: Option<Type>,
    calls: BTreeSet<String>,
    globals: BTreeSet<String>,
}

struct Checker<'a> {
    env: &'a Snapshot,
    /// The source text (to tell a parenthesized expression from a bare one).
    src: String,
    diags: Vec<Diagnostic>,
    /// `struct` items of this program by name (first definition).
    struct_items: HashMap<String, ast::StructItem>,
    /// Struct names resolved so far: `None` after an error (already reported).
    struct_memo: HashMap<String, Option<Type>>,
    /// Structs of this program whose definition is not the session's (see `TProgram`).
    new_structs: Vec<TStruct>,
    /// Resolved annotations by span (each annotation is resolved, and reported, once).
    ann_cache: HashMap<(usize, usize), Type>,
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
    fn new(env: &'a Snapshot, src: String) -> Self {
        Checker {
            env,
            src,
            diags: Vec::new(),
            struct_items: HashMap::default(),
            struct_memo: HashMap::default(),
            new_structs: Vec::new(),
            ann_cache: HashMap::default(),
            fns: HashMap::default(),
            globals: HashMap::default(),
            pending_globals: HashSet::default(),
            read_before_decl: HashMap::default(),
            body: Body::default(),
        }
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn program(&mut self, program: &ast::Program) -> TProgram {
        // Pass 0: struct types, which every signature and body may name.
        let mut first_struct: HashMap<&str, Span> = HashMap::default();
        for item in &program.items {
            let ast::Item::Struct(st) = item else {
                continue;
            };
            let name = st.name.name.as_str();
            if matches!(name, "int" | "float" | "bool" | "str")
                || Builtin::from_name(name).is_some()
            {
                self.error(Diagnostic::error(
                    format!("cannot define a struct named `{name}`"),
                    st.name.span,
                    "this name is reserved for a built-in type or function",
                ));
                continue;
            }
            if let Some(&first) = first_struct.get(name) {
                self.error(
                    Diagnostic::error(
                        format!("the struct `{name}` is defined more than once"),
                        st.name.span,
                        "redefined here",
                    )
                    .with_label(first, "first defined here")
                    .with_note("an input or file may define each struct only once"),
                );
                continue;
            }
            first_struct.insert(name, st.name.span);
            if st.fields.is_empty() {
                self.error(Diagnostic::error(
                    format!("the struct `{name}` has no fields"),
                    st.span,
                    "a struct needs at least one field",
                ));
            }
            let mut seen: HashMap<&str, Span> = HashMap::default();
            for (f, _) in &st.fields {
                if let Some(&first) = seen.get(f.name.as_str()) {
                    self.error(
                        Diagnostic::error(
                            format!("field `{}` is already declared", f.name),
                            f.span,
                            "field already declared",
                        )
                        .with_label(first, format!("`{}` first declared here", f.name)),
                    );
                }
                seen.insert(&f.name, f.span);
            }
            self.struct_items.insert(name.to_string(), st.clone());
        }
        self.resolve_structs();

        // Pass 1: every function's signature, so bodies and top-level code can call any of
        // them (mutual recursion, calls before the definition).
        let mut first_def: HashMap<&str, Span> = HashMap::default();
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
            let sig = self.signature(f);
            self.fns.insert(name.to_string(), sig);
        }

        // Pass 1b: globals with a written type are known everywhere from the start.
        for item in &program.items {
            let ast::Item::Global(g) = item else { continue };
            match &g.ty {
                Some(ann) => {
                    let ty = self.ann_type(ann);
                    self.declare_global(&g.name, ty)
                }
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
                ast::Item::Fn(_) | ast::Item::Struct(_) => {}
                ast::Item::Global(g) => items.push(self.global_decl(g)),
                ast::Item::Stmt(s) => items.push(TTopItem::Stmt(self.stmt(s))),
                ast::Item::Tail(e) => items.push(TTopItem::Tail(self.expr(e))),
            }
        }
        let top_body = std::mem::take(&mut self.body);
        let mut structs = BTreeSet::new();
        for l in &top_body.locals {
            l.ty.structs_in(&mut structs);
        }
        for item in &items {
            match item {
                TTopItem::Global { ty, init, .. } => {
                    ty.structs_in(&mut structs);
                    expr_structs(init, &mut structs);
                }
                TTopItem::Stmt(s) => stmt_structs(s, &mut structs),
                TTopItem::Tail(e) => expr_structs(e, &mut structs),
            }
        }
        self.global_structs(&top_body.globals, &mut structs);
        let top = TTop {
            locals: top_body.locals,
            items,
            calls: top_body.calls,
            globals: top_body.globals,
            structs,
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
        TProgram {
            structs: std::mem::take(&mut self.new_structs),
            fns,
            top,
        }
    }

    /// Adds the structs in the types of the named globals.
    fn global_structs(&self, globals: &BTreeSet<String>, out: &mut BTreeSet<String>) {
        for g in globals {
            let ty = match self.globals.get(g) {
                Some(info) => Some(info.ty),
                None => self.env.globals.get(g).copied(),
            };
            if let Some(t) = ty {
                t.structs_in(out);
            }
        }
    }

    /// A function's signature, its annotations resolved.
    fn signature(&mut self, f: &ast::FnDef) -> FnSig {
        FnSig {
            params: f.params.iter().map(|p| self.ann_type(&p.ty)).collect(),
            ret: f.ret.as_ref().map_or(Type::Unit, |r| self.ann_type(r)),
        }
    }

    /// The type an annotation names (`Error` after an error, reported once per annotation).
    fn ann_type(&mut self, ann: &ast::TypeAnn) -> Type {
        let key = (ann.span.start, ann.span.end);
        if let Some(&t) = self.ann_cache.get(&key) {
            return t;
        }
        let t = self.type_expr(&ann.ty).unwrap_or(Type::Error);
        self.ann_cache.insert(key, t);
        t
    }

    /// Resolves a written type; `None` after an error (reported).
    fn type_expr(&mut self, t: &TypeExpr) -> Option<Type> {
        match t {
            TypeExpr::Named(n) => match n.name.as_str() {
                "int" => Some(Type::Int),
                "float" => Some(Type::Float),
                "bool" => Some(Type::Bool),
                "str" => Some(Type::Str),
                name => match self.struct_memo.get(name) {
                    // `None`: its definition failed, already reported.
                    Some(r) => *r,
                    None => {
                        self.error(Diagnostic::error(
                            format!("unknown type `{name}`"),
                            n.span,
                            "not a type: expected `int`, `float`, `bool`, `str`, a struct or `[T]`",
                        ));
                        None
                    }
                },
            },
            TypeExpr::Array(inner) => self.type_expr(inner).and_then(Type::array_of),
            TypeExpr::Error => None,
        }
    }

    /// Resolves every struct this program can name: its own `struct` items, and every session
    /// struct re-derived by name (so a struct whose fields name a changed struct changes too).
    /// Structs that refer to each other through arrays are resolved, and interned, as one
    /// group; a struct that contains itself other than through an array is an error.
    fn resolve_structs(&mut self) {
        // Each struct's fields, by name.
        let mut sources: BTreeMap<String, StructSource> = BTreeMap::new();
        for (name, id) in &self.env.structs {
            let def = id.def();
            let fields = def
                .fields
                .iter()
                .map(|(f, t)| (f.clone(), FieldTy::of_type(*t)))
                .collect();
            sources.insert(name.clone(), (None, fields));
        }
        for (name, item) in &self.struct_items {
            let fields = item
                .fields
                .iter()
                .map(|(f, ann)| (f.name.clone(), FieldTy::of_expr(&ann.ty)))
                .collect();
            sources.insert(name.clone(), (Some(item.span), fields));
        }
        let names: Vec<String> = sources.keys().cloned().collect();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        // Edges: (target, through an array).
        let edges: Vec<Vec<(usize, bool)>> = names
            .iter()
            .map(|n| {
                let mut out = Vec::new();
                for (_, t) in &sources[n].1 {
                    t.refs(false, &mut |r, arr| {
                        if let Some(&j) = index.get(r) {
                            out.push((j, arr));
                        }
                    });
                }
                out
            })
            .collect();
        for scc in tarjan(&edges) {
            let mut members: Vec<usize> = scc;
            members.sort_by(|a, b| names[*a].cmp(&names[*b]));
            let pos: HashMap<usize, usize> =
                members.iter().enumerate().map(|(k, &m)| (m, k)).collect();
            // A cycle of direct (not through an array) containment is an infinite value.
            let direct: Vec<Vec<usize>> = members
                .iter()
                .map(|&m| {
                    edges[m]
                        .iter()
                        .filter(|(t, arr)| !arr && pos.contains_key(t))
                        .map(|(t, _)| pos[t])
                        .collect()
                })
                .collect();
            if let Some(cycle) = direct_cycle(&direct) {
                let culprit = members[cycle[0]];
                let name = &names[culprit];
                let span = self.containment_span(name, &names[members[cycle[1 % cycle.len()]]]);
                let msg = if cycle.len() == 1 {
                    format!("the struct `{name}` contains itself")
                } else {
                    let other = &names[members[cycle[1]]];
                    format!("the structs `{name}` and `{other}` contain each other")
                };
                self.error(
                    Diagnostic::error(msg, span, "a value of this type would be infinitely large")
                        .with_note(format!(
                        "a struct can hold a struct that contains it only inside an array: `[{}]`",
                        names[members[cycle[1 % cycle.len()]]]
                    )),
                );
                for &m in &members {
                    self.struct_memo.insert(names[m].clone(), None);
                }
                continue;
            }
            let mut ok = true;
            let mut defs = Vec::new();
            for &m in &members {
                let name = &names[m];
                let mut fields = Vec::new();
                for (f, t) in sources[name].1.clone() {
                    match self.field_type(&t, &index, &pos) {
                        Some(ty) => fields.push((f, ty)),
                        None => ok = false,
                    }
                }
                if fields.is_empty() {
                    ok = false;
                }
                defs.push(StructDef {
                    name: name.clone(),
                    fields,
                });
            }
            if !ok {
                for &m in &members {
                    self.struct_memo.insert(names[m].clone(), None);
                }
                continue;
            }
            let ids = StructId::intern_group(defs);
            for (&m, id) in members.iter().zip(ids) {
                let name = &names[m];
                self.struct_memo
                    .insert(name.clone(), Some(Type::Struct(id)));
                let span = sources[name].0;
                let changed = self.env.structs.get(name) != Some(&id);
                if span.is_some() || changed {
                    self.new_structs.push(TStruct {
                        name: name.clone(),
                        id,
                        span,
                    });
                }
            }
        }
        self.new_structs
            .sort_by_key(|s| (s.span.map_or(usize::MAX, |s| s.start), s.name.clone()));
    }

    /// Where struct `name` names struct `inner` in one of its fields (for errors).
    fn containment_span(&self, name: &str, inner: &str) -> Span {
        let Some(item) = self.struct_items.get(name) else {
            return Span::default();
        };
        item.fields
            .iter()
            .find(|(_, ann)| ann.ty.to_string() == inner)
            .map_or(item.name.span, |(_, ann)| ann.span)
    }

    /// A field type, with the structs of the group being resolved as placeholders; `None`
    /// after an error (reported).
    fn field_type(
        &mut self,
        t: &FieldTy,
        index: &HashMap<&str, usize>,
        group: &HashMap<usize, usize>,
    ) -> Option<Type> {
        match t {
            FieldTy::Prim(t) => Some(*t),
            FieldTy::Array(inner) => self
                .field_type(inner, index, group)
                .and_then(Type::array_of),
            FieldTy::Named(n, span) => {
                if let Some(k) = index.get(n.as_str()).and_then(|i| group.get(i)) {
                    return Some(Type::Struct(StructId::member(*k)));
                }
                match self.struct_memo.get(n) {
                    Some(r) => *r,
                    None => {
                        self.error(Diagnostic::error(
                            format!("unknown type `{n}`"),
                            span.unwrap_or_default(),
                            "not a type: expected `int`, `float`, `bool`, `str`, a struct or `[T]`",
                        ));
                        None
                    }
                }
            }
            FieldTy::Error => None,
        }
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
        let expected = g.ty.as_ref().map(|ann| self.ann_type(ann));
        let init = self.expr_expect(&g.init, expected);
        let ty = match &g.ty {
            Some(ann) => self.annotated(ann, &init),
            None => match init.ty {
                // A diverging initializer at the top level is an error of its own (`return`,
                // or `break` outside a loop) unless it is an endless `loop`, and poison was
                // reported where it arose.
                Type::Unit | Type::Never | Type::Error => {
                    let endless = matches!(init.kind, TExprKind::Loop(_));
                    if init.ty == Type::Unit || (init.ty == Type::Never && endless) {
                        self.error(Diagnostic::error(
                            format!(
                                "a global cannot have type `{}`",
                                if init.ty == Type::Unit { "()" } else { "!" }
                            ),
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
        let sig = self.signature(f);
        self.body = Body {
            ret: Some(sig.ret),
            scopes: vec![Vec::new()],
            ..Body::default()
        };
        let mut seen: HashMap<&str, Span> = HashMap::default();
        for (p, &pty) in f.params.iter().zip(&sig.params) {
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
            self.declare_local(&p.name.name, pty);
        }
        let body = self.block_expect(&f.body, Some(sig.ret));
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
                    format!("expected `{}` because of the return type", sig.ret),
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
        let mut structs = BTreeSet::new();
        for t in sig.params.iter().chain([&sig.ret]) {
            t.structs_in(&mut structs);
        }
        for l in &b.locals {
            l.ty.structs_in(&mut structs);
        }
        block_structs(&body, &mut structs);
        self.global_structs(&b.globals, &mut structs);
        TFn {
            name: f.name.name.clone(),
            name_span: f.name.span,
            span: f.span,
            sig,
            locals: b.locals,
            body,
            calls: b.calls,
            globals: b.globals,
            structs,
        }
    }

    fn declare_local(&mut self, name: &str, ty: Type) -> LocalId {
        let id = self.body.locals.len();
        self.body.locals.push(LocalInfo {
            name: name.to_string(),
            ty,
        });
        if let Some(scope) = self.body.scopes.last_mut() {
            scope.push(id);
        }
        id
    }

    fn lookup_local(&self, name: &str) -> Option<LocalId> {
        self.body.scopes.iter().rev().find_map(|s| {
            s.iter()
                .rev()
                .copied()
                .find(|&id| self.body.locals[id].name == name)
        })
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
                // Most uses are of a global already recorded: no allocation for those.
                if !self.body.globals.contains(name) {
                    self.body.globals.insert(name.to_string());
                }
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
        self.block_expect(b, None)
    }

    /// A block whose value is expected to have type `expected` (for `[]` in its tail).
    fn block_expect(&mut self, b: &ast::Block, expected: Option<Type>) -> TBlock {
        self.body.scopes.push(Vec::new());
        let stmts: Vec<TStmt> = b.stmts.iter().map(|s| self.stmt(s)).collect();
        let tail = b
            .tail
            .as_ref()
            .map(|t| Box::new(self.expr_expect(t, expected)));
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
        let ty = self.ann_type(ann);
        if !fits(init.ty, ty) {
            self.error(
                mismatch(ty, init.ty, init.span)
                    .with_label(ann.span, "expected because of this type"),
            );
        }
        ty
    }

    fn stmt(&mut self, s: &ast::Stmt) -> TStmt {
        match &s.kind {
            StmtKind::Let { name, ty, init } => {
                let expected = ty.as_ref().map(|ann| self.ann_type(ann));
                let init = self.expr_expect(init, expected);
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
                let expected = match (&place, op) {
                    (Some((_, t)), None) => Some(*t),
                    _ => None,
                };
                let value = self.expr_expect(value, expected);
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
                            let ok = fits(value.ty, target_ty)
                                && (target_ty.fits_anywhere()
                                    || binary_type(*op, target_ty, value.ty) == Some(target_ty));
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
                                    .with_note(op_note(*op)),
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
                if base.ty == Type::Str {
                    self.error(
                        Diagnostic::error(
                            "cannot assign to a byte of a `str`",
                            target.span,
                            "strs are immutable",
                        )
                        .with_note("build a new str instead, e.g. with `+` and `s[a..b]`"),
                    );
                    return None;
                }
                Some((TPlace::Index(Box::new(base), Box::new(index)), ty))
            }
            ExprKind::Field(base, field) => {
                let (base, i, ty) = self.field(base, field)?;
                Some((TPlace::Field(Box::new(base), i), ty))
            }
            ExprKind::Error => None,
            _ => {
                self.error(Diagnostic::error(
                    "invalid assignment target",
                    target.span,
                    "expected a variable, an indexed element or a field",
                ));
                None
            }
        }
    }

    /// Checks `base[index]` (an array element or a byte of a str); returns the parts and the
    /// element type, `None` after an error.
    fn index(&mut self, base: &ast::Expr, index: &ast::Expr) -> Option<(TExpr, TExpr, Type)> {
        let base = self.expr(base);
        let index = self.expr(index);
        let mut ok = true;
        if !fits(index.ty, Type::Int) {
            self.error(mismatch(Type::Int, index.ty, index.span).with_note("indices are `int`"));
            ok = false;
        }
        let elem = match base.ty {
            t @ (Type::Never | Type::Error) => t,
            Type::Str => Type::Int,
            t => match t.elem() {
                Some(e) => e,
                None => {
                    self.error(Diagnostic::error(
                        format!("cannot index into a value of type `{t}`"),
                        base.span,
                        "not an array or a str",
                    ));
                    return None;
                }
            },
        };
        ok.then_some((base, index, elem))
    }

    /// Checks `base.field`; returns the base, the field's index and its type.
    fn field(&mut self, base: &ast::Expr, field: &ast::Ident) -> Option<(TExpr, usize, Type)> {
        let base = self.expr(base);
        match base.ty {
            // Divergence: the field is never read (nor written).
            Type::Never => Some((base, 0, Type::Never)),
            Type::Error => None,
            Type::Struct(id) => {
                let def = id.def();
                match def.field(&field.name) {
                    Some(i) => Some((base, i, def.fields[i].1)),
                    None => {
                        let names: Vec<String> =
                            def.fields.iter().map(|(n, _)| format!("`{n}`")).collect();
                        self.error(
                            Diagnostic::error(
                                format!("no field `{}` on type `{}`", field.name, def.name),
                                field.span,
                                "unknown field",
                            )
                            .with_note(format!(
                                "`{}` has the fields {}",
                                def.name,
                                names.join(", ")
                            )),
                        );
                        None
                    }
                }
            }
            t => {
                self.error(
                    Diagnostic::error(
                        format!("no field `{}` on type `{t}`", field.name),
                        field.span,
                        format!("`{t}` is not a struct"),
                    )
                    .with_label(base.span, format!("this is `{t}`")),
                );
                None
            }
        }
    }

    /// Checks `e` where a value of type `expected` is wanted: `[]` takes its element type from
    /// it, and so do the elements of array literals. Whether the value fits is checked by the
    /// caller.
    fn expr_expect(&mut self, e: &ast::Expr, expected: Option<Type>) -> TExpr {
        let elem = expected.and_then(Type::elem);
        match (&e.kind, expected) {
            (ExprKind::ArrayEmpty, Some(t @ Type::Array(_))) => TExpr {
                kind: TExprKind::ArrayList(Vec::new()),
                ty: t,
                span: e.span,
            },
            (ExprKind::ArrayList(xs), _) => self.array_list(xs, elem, e.span),
            (ExprKind::ArrayRepeat(x, n), Some(Type::Array(_))) => {
                self.array_repeat(x, n, elem, e.span)
            }
            (ExprKind::Block(b), Some(_)) => {
                let b = self.block_expect(b, expected);
                TExpr {
                    ty: b.ty,
                    kind: TExprKind::Block(b),
                    span: e.span,
                }
            }
            (ExprKind::If(c, then, els), Some(_)) => {
                self.if_expr(c, then, els.as_deref(), expected, e.span)
            }
            _ => self.expr(e),
        }
    }

    /// `[a, b, c]`, with the element type expected by the context if known.
    fn array_list(&mut self, xs: &[ast::Expr], expected: Option<Type>, at: Span) -> TExpr {
        // Elements that need a type from their siblings (`[[1], []]`) are checked last.
        let needs_type = |x: &ast::Expr| match &x.kind {
            ExprKind::ArrayEmpty => true,
            ExprKind::ArrayList(ys) => ys.iter().all(|y| matches!(y.kind, ExprKind::ArrayEmpty)),
            _ => false,
        };
        let mut elem = expected;
        let mut out: Vec<Option<TExpr>> = Vec::with_capacity(xs.len());
        for x in xs {
            if elem.is_none() && needs_type(x) {
                out.push(None);
                continue;
            }
            let t = self.expr_expect(x, elem);
            if elem.is_none() && !t.ty.fits_anywhere() {
                elem = Some(t.ty);
            }
            out.push(Some(t));
        }
        let xs: Vec<TExpr> = out
            .into_iter()
            .zip(xs)
            .map(|(t, x)| t.unwrap_or_else(|| self.expr_expect(x, elem)))
            .collect();
        let typed = |kind, ty| TExpr { kind, ty, span: at };
        let Some(elem) = elem.or_else(|| xs.iter().map(|x| x.ty).find(|&t| !t.fits_anywhere()))
        else {
            if xs.is_empty() {
                return self.cannot_infer(at);
            }
            // Every element failed, or diverges: the array is never built.
            if xs.iter().any(|x| x.ty == Type::Error) {
                return poison(at);
            }
            return typed(TExprKind::ArrayList(xs), Type::Never);
        };
        let Some(array_ty) = self.array_of(elem, xs.first().map_or(at, |x| x.span)) else {
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

    /// `[e; n]`, with the element type expected by the context if known.
    fn array_repeat(
        &mut self,
        x: &ast::Expr,
        n: &ast::Expr,
        expected: Option<Type>,
        at: Span,
    ) -> TExpr {
        let x = self.expr_expect(x, expected);
        let n = self.expr(n);
        let mut ok = true;
        if !fits(n.ty, Type::Int) {
            self.error(
                mismatch(Type::Int, n.ty, n.span).with_note("the length of `[e; n]` is an `int`"),
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
            TExpr {
                kind: TExprKind::ArrayRepeat(Box::new(x), Box::new(n)),
                ty,
                span: at,
            }
        } else {
            poison(at)
        }
    }

    fn cannot_infer(&mut self, at: Span) -> TExpr {
        self.error(
            Diagnostic::error(
                "cannot infer the element type of []",
                at,
                "the element type must come from the context",
            )
            .with_note("give it a type, e.g. `let xs: [int] = [];`"),
        );
        poison(at)
    }

    /// `if c { then } else els`, the branches' values expected to be `expected`.
    fn if_expr(
        &mut self,
        c: &ast::Expr,
        then: &ast::Block,
        els: Option<&ast::Expr>,
        expected: Option<Type>,
        at: Span,
    ) -> TExpr {
        let typed = |kind, ty| TExpr { kind, ty, span: at };
        let c = self.condition(c);
        let then = self.block_expect(then, if els.is_some() { expected } else { None });
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
                let els = self.expr_expect(
                    els,
                    expected.or(Some(then.ty).filter(|t| !t.fits_anywhere())),
                );
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

    /// `Name { field: value, ... }`
    fn struct_lit(
        &mut self,
        name: &ast::Ident,
        fields: &[(ast::Ident, ast::Expr)],
        at: Span,
    ) -> TExpr {
        let id = self
            .struct_memo
            .get(&name.name)
            .copied()
            .flatten()
            .and_then(Type::as_struct);
        let Some(id) = id else {
            if !self.struct_memo.contains_key(&name.name) {
                self.error(Diagnostic::error(
                    format!("cannot find struct `{}` in this scope", name.name),
                    name.span,
                    "not a struct",
                ));
            }
            for (_, v) in fields {
                self.expr(v);
            }
            return poison(at);
        };
        let def = id.def();
        let mut ok = true;
        let mut seen: HashMap<usize, Span> = HashMap::default();
        let mut values = Vec::with_capacity(fields.len());
        for (f, v) in fields {
            match def.field(&f.name) {
                None => {
                    self.error(
                        Diagnostic::error(
                            format!("struct `{}` has no field named `{}`", def.name, f.name),
                            f.span,
                            "unknown field",
                        )
                        .with_note(format!(
                            "`{}` has the fields {}",
                            def.name,
                            def.fields
                                .iter()
                                .map(|(n, _)| format!("`{n}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                    );
                    self.expr(v);
                    ok = false;
                }
                Some(i) => {
                    if let Some(&first) = seen.get(&i) {
                        self.error(
                            Diagnostic::error(
                                format!("field `{}` specified more than once", f.name),
                                f.span,
                                "used more than once",
                            )
                            .with_label(first, "first use of the field"),
                        );
                        ok = false;
                    }
                    seen.insert(i, f.span);
                    let fty = def.fields[i].1;
                    let v = self.expr_expect(v, Some(fty));
                    if !fits(v.ty, fty) {
                        self.error(mismatch(fty, v.ty, v.span).with_note(format!(
                            "the field `{}` of `{}` is `{fty}`",
                            f.name, def.name
                        )));
                        ok = false;
                    }
                    values.push((i, v));
                }
            }
        }
        let missing: Vec<String> = (0..def.fields.len())
            .filter(|i| !seen.contains_key(i))
            .map(|i| format!("`{}`", def.fields[i].0))
            .collect();
        if !missing.is_empty() && ok {
            self.error(Diagnostic::error(
                format!(
                    "missing {} {} in initializer of `{}`",
                    if missing.len() == 1 {
                        "field"
                    } else {
                        "fields"
                    },
                    missing.join(", "),
                    def.name
                ),
                name.span,
                "every field must be given",
            ));
            ok = false;
        }
        if ok {
            TExpr {
                kind: TExprKind::StructLit(id, values),
                ty: Type::Struct(id),
                span: at,
            }
        } else {
            poison(at)
        }
    }

    /// Rejects a struct literal written directly (not in brackets) in an `if`/`while`
    /// condition or a `for` range, as Rust does.
    fn no_bare_struct_lit(&mut self, e: &ast::Expr) {
        let mut work = vec![e];
        while let Some(e) = work.pop() {
            if self.src.as_bytes().get(e.span.start) == Some(&b'(') {
                continue;
            }
            match &e.kind {
                ExprKind::StructLit(name, _) => {
                    self.error(
                        Diagnostic::error(
                            "struct literals are not allowed here",
                            e.span,
                            "struct literal in a condition or range",
                        )
                        .with_note(format!(
                            "put it in parentheses: `({} {{ ... }})`",
                            name.name
                        )),
                    );
                }
                ExprKind::Unary(_, a) | ExprKind::Field(a, _) => work.push(a),
                ExprKind::Binary(_, a, b) => {
                    work.push(a);
                    work.push(b);
                }
                ExprKind::Index(a, _) | ExprKind::Slice(a, _, _) => work.push(a),
                _ => {}
            }
        }
    }

    fn expr(&mut self, e: &ast::Expr) -> TExpr {
        let at = e.span;
        let typed = |kind, ty| TExpr { kind, ty, span: at };
        match &e.kind {
            ExprKind::Int(v) => typed(TExprKind::Int(*v), Type::Int),
            ExprKind::Float(v) => typed(TExprKind::Float(*v), Type::Float),
            ExprKind::Bool(v) => typed(TExprKind::Bool(*v), Type::Bool),
            ExprKind::Str(bytes) => typed(TExprKind::Str(bytes.clone()), Type::Str),
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
                        d = d.with_note(op_note(*op));
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
            ExprKind::Slice(base, lo, hi) => {
                let base = self.expr(base);
                let lo = self.expr(lo);
                let hi = self.expr(hi);
                let mut ok = true;
                for bound in [&lo, &hi] {
                    if !fits(bound.ty, Type::Int) {
                        self.error(
                            mismatch(Type::Int, bound.ty, bound.span)
                                .with_note("the bounds of `s[a..b]` are `int`"),
                        );
                        ok = false;
                    }
                }
                if !fits(base.ty, Type::Str) {
                    self.error(
                        Diagnostic::error(
                            format!("cannot slice a value of type `{}`", base.ty),
                            base.span,
                            "not a str",
                        )
                        .with_note("only strs can be sliced: `s[a..b]`"),
                    );
                    ok = false;
                }
                if ok {
                    typed(
                        TExprKind::Slice(Box::new(base), Box::new(lo), Box::new(hi)),
                        Type::Str,
                    )
                } else {
                    poison(at)
                }
            }
            ExprKind::Field(base, field) => match self.field(base, field) {
                Some((base, i, ty)) => typed(TExprKind::Field(Box::new(base), i), ty),
                None => poison(at),
            },
            ExprKind::StructLit(name, fields) => self.struct_lit(name, fields, at),
            ExprKind::ArrayEmpty => self.cannot_infer(at),
            ExprKind::ArrayList(xs) => self.array_list(xs, None, at),
            ExprKind::ArrayRepeat(x, n) => self.array_repeat(x, n, None, at),
            ExprKind::If(c, then, els) => self.if_expr(c, then, els.as_deref(), None, at),
            ExprKind::While(c, body) => {
                let c = self.condition(c);
                let (body, _) = self.loop_body(body);
                typed(TExprKind::While(Box::new(c), body), Type::Unit)
            }
            ExprKind::Loop(body) => {
                let (body, broke) = self.loop_body(body);
                let ty = if broke { Type::Unit } else { Type::Never };
                typed(TExprKind::Loop(body), ty)
            }
            ExprKind::For(var, lo, hi, body) => {
                self.no_bare_struct_lit(lo);
                self.no_bare_struct_lit(hi);
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
                let (body, _) = self.loop_body(body);
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
                let ret = self.body.ret;
                let v = v.as_ref().map(|v| self.expr_expect(v, ret));
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
                match self.body.loops.last_mut() {
                    None => self.error(Diagnostic::error(
                        format!("`{kw}` outside of a loop"),
                        at,
                        format!("cannot `{kw}` outside of a loop"),
                    )),
                    Some(broke) => *broke |= kw == "break",
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
                format!("arrays cannot hold `{elem}`"),
                at,
                format!("this is `{elem}`"),
            ));
        }
        array
    }

    fn condition(&mut self, c: &ast::Expr) -> TExpr {
        self.no_bare_struct_lit(c);
        let c = self.expr(c);
        if !fits(c.ty, Type::Bool) {
            self.error(mismatch(Type::Bool, c.ty, c.span).with_note("conditions must be `bool`"));
        }
        c
    }

    /// A loop's body, and whether a `break` leaves the loop.
    fn loop_body(&mut self, body: &ast::Block) -> (TBlock, bool) {
        self.body.loops.push(false);
        let b = self.block(body);
        let broke = self.body.loops.pop().unwrap_or(false);
        if !fits(b.ty, Type::Unit) {
            let at = b.tail.as_ref().map_or(b.span, |t| t.span);
            self.error(
                mismatch(Type::Unit, b.ty, at)
                    .with_note("a loop body has type `()`; add `;` to discard the value"),
            );
        }
        (b, broke)
    }

    fn call(&mut self, f: &ast::Ident, args: &[ast::Expr], at: Span) -> TExpr {
        let typed = |kind, ty| TExpr { kind, ty, span: at };
        if let Some(b) = Builtin::from_name(&f.name) {
            if b == Builtin::Print {
                let args: Vec<TExpr> = args.iter().map(|a| self.expr(a)).collect();
                if args.iter().any(|a| a.ty == Type::Error) {
                    return poison(at);
                }
                return typed(TExprKind::Print(args), Type::Unit);
            }
            // Fixed parameter types give `[]` arguments their type (`join([], ",")`).
            let fixed = b.signature().filter(|(p, _)| p.len() == args.len());
            let targs: Vec<TExpr> = match fixed {
                Some((params, _)) => args
                    .iter()
                    .zip(params)
                    .map(|(a, &p)| self.expr_expect(a, Some(p)))
                    .collect(),
                None => args.iter().map(|a| self.expr(a)).collect(),
            };
            return self.builtin(b, f, targs, at);
        }
        let sig = match self.fns.get(&f.name) {
            Some(sig) => Some(sig.clone()),
            None => self.env.functions.get(&f.name).cloned(),
        };
        let Some(sig) = sig else {
            for a in args {
                self.expr(a);
            }
            self.error(Diagnostic::error(
                format!("cannot find function `{}` in this scope", f.name),
                f.span,
                "not found in this scope",
            ));
            return poison(at);
        };
        let targs: Vec<TExpr> = if sig.params.len() == args.len() {
            args.iter()
                .zip(&sig.params)
                .map(|(a, &p)| self.expr_expect(a, Some(p)))
                .collect()
        } else {
            args.iter().map(|a| self.expr(a)).collect()
        };
        if !self.body.calls.contains(&f.name) {
            self.body.calls.insert(f.name.clone());
        }
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
        let arity = match b.signature() {
            Some((params, _)) => params.len(),
            None => match b {
                Builtin::Min | Builtin::Max => 2,
                _ => 1,
            },
        };
        if !self.arity(b.name(), arity, args.len(), at, f.span) {
            return poison(at);
        }
        let ret = match b.signature() {
            Some((params, ret)) => {
                let mut ok = true;
                for (a, &p) in args.iter().zip(params) {
                    if !fits(a.ty, p) {
                        self.error(mismatch(p, a.ty, a.span).with_note(format!(
                            "`{}` takes {}",
                            b.name(),
                            describe_params(params)
                        )));
                        ok = false;
                    }
                }
                if !ok {
                    return poison(at);
                }
                ret
            }
            None => {
                let t = args[0].ty;
                let (ok, want, ret) = match b {
                    Builtin::Len => (
                        matches!(t, Type::Array(_) | Type::Str) || t.fits_anywhere(),
                        "an array or a str",
                        Type::Int,
                    ),
                    Builtin::Copy => (
                        matches!(t, Type::Array(_) | Type::Struct(_)) || t.fits_anywhere(),
                        "an array or a struct",
                        t,
                    ),
                    Builtin::Str => (true, "a value", Type::Str),
                    Builtin::Abs => (
                        matches!(t, Type::Int | Type::Float) || t.fits_anywhere(),
                        "an int or a float",
                        t,
                    ),
                    _ => {
                        // min, max: two ints or two floats.
                        let u = args[1].ty;
                        let operand = if t.fits_anywhere() { u } else { t };
                        let ok = (matches!(operand, Type::Int | Type::Float)
                            || operand.fits_anywhere())
                            && fits(u, operand);
                        if !ok {
                            self.error(
                                Diagnostic::error(
                                    format!(
                                        "`{}` takes two ints or two floats, not `{t}` and `{u}`",
                                        b.name()
                                    ),
                                    at,
                                    "",
                                )
                                .with_label(args[0].span, format!("`{t}`"))
                                .with_label(args[1].span, format!("`{u}`")),
                            );
                            return poison(at);
                        }
                        (true, "", operand)
                    }
                };
                if !ok {
                    self.error(Diagnostic::error(
                        format!("mismatched types: expected {want}, found `{t}`"),
                        args[0].span,
                        format!("`{}` takes {want}", b.name()),
                    ));
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

fn describe_params(params: &[Type]) -> String {
    let ts: Vec<String> = params.iter().map(|t| format!("`{t}`")).collect();
    match ts.len() {
        0 => "no arguments".to_string(),
        _ => format!("({})", ts.join(", ")),
    }
}

/// What an operator applies to, for error notes.
fn op_note(op: BinOp) -> &'static str {
    match op {
        BinOp::Add => "`+` needs two ints, two floats or two strs (there are no implicit conversions: use `float(i)`, `int(f)` or `str(v)`)",
        BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => {
            "arithmetic needs two ints or two floats (there are no implicit conversions: use `float(i)` or `int(f)`)"
        }
        BinOp::Shl | BinOp::Shr | BinOp::BitAnd | BinOp::BitXor | BinOp::BitOr => {
            "bitwise operators need two ints"
        }
        BinOp::Eq | BinOp::Ne => {
            "`==` and `!=` compare two ints, two floats, two bools or two strs (arrays and structs are not comparable)"
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            "ordering compares two ints, two floats or two strs (arrays and structs are not comparable)"
        }
        BinOp::And | BinOp::Or => "`&&` and `||` need two bools",
    }
}

/// A struct to resolve: where its item is (`None` for a session struct) and its fields.
type StructSource = (Option<Span>, Vec<(String, FieldTy)>);

/// A struct field's type by name, before struct names are resolved.
#[derive(Clone, Debug)]
enum FieldTy {
    /// `int`, `float`, `bool`, `str`.
    Prim(Type),
    /// A struct, by name (with where it was written, for a program's own items).
    Named(String, Option<Span>),
    /// `[T]`
    Array(Box<FieldTy>),
    /// Already reported.
    Error,
}

impl FieldTy {
    fn of_expr(t: &TypeExpr) -> FieldTy {
        match t {
            TypeExpr::Named(n) => match n.name.as_str() {
                "int" => FieldTy::Prim(Type::Int),
                "float" => FieldTy::Prim(Type::Float),
                "bool" => FieldTy::Prim(Type::Bool),
                "str" => FieldTy::Prim(Type::Str),
                other => FieldTy::Named(other.to_string(), Some(n.span)),
            },
            TypeExpr::Array(inner) => FieldTy::Array(Box::new(FieldTy::of_expr(inner))),
            TypeExpr::Error => FieldTy::Error,
        }
    }

    /// A session struct's field type, its structs named so they are resolved again.
    fn of_type(t: Type) -> FieldTy {
        match t {
            Type::Array(e) => FieldTy::Array(Box::new(FieldTy::of_type(e.ty()))),
            Type::Struct(s) => FieldTy::Named(s.name(), None),
            t => FieldTy::Prim(t),
        }
    }

    /// Calls `f(name, through_array)` for every struct name in the type.
    fn refs(&self, in_array: bool, f: &mut dyn FnMut(&str, bool)) {
        match self {
            FieldTy::Named(n, _) => f(n, in_array),
            FieldTy::Array(inner) => inner.refs(true, f),
            FieldTy::Prim(_) | FieldTy::Error => {}
        }
    }
}

/// Strongly connected components of a graph given as adjacency lists (edges carry a flag the
/// search ignores), each component after every component it has edges to.
fn tarjan(edges: &[Vec<(usize, bool)>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        edges: &'a [Vec<(usize, bool)>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        out: Vec<Vec<usize>>,
    }
    // Iterative, so deep chains of structs cannot overflow the stack.
    fn visit(s: &mut State<'_>, root: usize) {
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        s.index[root] = Some(s.next);
        s.low[root] = s.next;
        s.next += 1;
        s.stack.push(root);
        s.on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if let Some(&(w, _)) = s.edges[v].get(*i) {
                *i += 1;
                match s.index[w] {
                    None => {
                        s.index[w] = Some(s.next);
                        s.low[w] = s.next;
                        s.next += 1;
                        s.stack.push(w);
                        s.on_stack[w] = true;
                        work.push((w, 0));
                    }
                    Some(wi) if s.on_stack[w] => s.low[v] = s.low[v].min(wi),
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                s.low[parent] = s.low[parent].min(s.low[v]);
            }
            if Some(s.low[v]) == s.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = s.stack.pop() {
                    s.on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                s.out.push(comp);
            }
        }
    }
    let n = edges.len();
    let mut s = State {
        edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.out
}

/// A cycle in a small graph (adjacency lists), as the list of its nodes, if there is one.
fn direct_cycle(adj: &[Vec<usize>]) -> Option<Vec<usize>> {
    // 0 = unseen, 1 = on the current path, 2 = done.
    fn dfs(
        v: usize,
        adj: &[Vec<usize>],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[v] = 1;
        path.push(v);
        for &w in &adj[v] {
            if state[w] == 1 {
                let start = path.iter().position(|&p| p == w).unwrap_or(0);
                return Some(path[start..].to_vec());
            }
            if state[w] == 0 {
                if let Some(c) = dfs(w, adj, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state[v] = 2;
        None
    }
    let mut state = vec![0u8; adj.len()];
    for v in 0..adj.len() {
        if state[v] == 0 {
            if let Some(c) = dfs(v, adj, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Adds the structs in the types of every expression of a block.
fn block_structs(b: &TBlock, out: &mut BTreeSet<String>) {
    crate::tast::visit_block(b, &mut |e| e.ty.structs_in(out));
}

fn stmt_structs(s: &TStmt, out: &mut BTreeSet<String>) {
    crate::tast::visit_stmt(s, &mut |e| e.ty.structs_in(out));
}

fn expr_structs(e: &TExpr, out: &mut BTreeSet<String>) {
    crate::tast::visit_expr(e, &mut |e| e.ty.structs_in(out));
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
    let ordered = arith || operand == Type::Str;
    match op {
        BinOp::Add => ordered.then_some(operand),
        BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Rem => arith.then_some(operand),
        BinOp::Shl | BinOp::Shr | BinOp::BitAnd | BinOp::BitXor | BinOp::BitOr => {
            matches!(operand, Type::Int | Type::Never).then_some(operand)
        }
        BinOp::Eq | BinOp::Ne => matches!(
            operand,
            Type::Int | Type::Float | Type::Bool | Type::Str | Type::Never
        )
        .then_some(Type::Bool),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => ordered.then_some(Type::Bool),
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
        err1("global g = print(nope);");
        err1("struct P { x: int } fn f(p: P) -> int { p.nope + 1 }");
        // Divergence is a real type: it fits anywhere and reaches the back end.
        let p = ok("fn f() -> int { let x = return 1; x }");
        assert_eq!(p.fns[0].body.ty, Type::Never);
        assert_eq!(err1("let g = loop { };").0, "a global cannot have type `!`");
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
        assert_eq!(f.locals[3].ty, Type::Array(Elem::FLOAT));
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
        assert!(matches!(&args[0].kind, TExprKind::Str(s) if s == b"x ="));
        assert_eq!(tail_ty("len([1.0])"), Type::Int);
        assert_eq!(tail_ty("copy([true])"), Type::Array(Elem::BOOL));
        assert_eq!(tail_ty("int(sqrt(float(rand(10))))"), Type::Int);
        assert_eq!(tail_ty("time_ns()"), Type::Int);
        ok("sleep_ms(1); seed(2); assert(true);");
        assert_eq!(
            err1("len(1)").0,
            "mismatched types: expected an array or a str, found `int`"
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
        assert_eq!(err1("fn print() { }").0, "cannot redefine builtin `print`");
        assert_eq!(err1("fn find() { }").0, "cannot redefine builtin `find`");
        // Builtin names are reserved only as function names.
        ok("global len = 1; let print = 2; fn f(str: int) -> int { let abs = str; abs }");
        assert_eq!(tail_ty("let len = [1]; len(len)"), Type::Int);
    }

    #[test]
    fn strings() {
        assert_eq!(tail_ty(r#"let s = "hi"; s + "\xff""#), Type::Str);
        assert_eq!(tail_ty(r#""a" < "b" && "a" == "a""#), Type::Bool);
        assert_eq!(tail_ty(r#""abc"[1]"#), Type::Int);
        assert_eq!(tail_ty(r#""abc"[1..2]"#), Type::Str);
        assert_eq!(tail_ty(r#"len("abc")"#), Type::Int);
        assert_eq!(tail_ty(r#"split("a,b", ",")"#).to_string(), "[str]");
        assert_eq!(tail_ty(r#"join(split("a,b", ","), "-")"#), Type::Str);
        assert_eq!(tail_ty(r#"join([], "-")"#), Type::Str);
        assert_eq!(
            tail_ty("str([1.5]) + chr(65) + fixed(1.0, 2) + trim(\" x \")"),
            Type::Str
        );
        assert_eq!(tail_ty(r#"parse_int("1") + find("ab", "b")"#), Type::Int);
        assert_eq!(tail_ty(r#"parse_float("1.5")"#), Type::Float);
        assert_eq!(tail_ty("read_line() + read_file(args()[0])"), Type::Str);
        ok(r#"write_file("x", "y"); let s = "a"; s += "b";"#);
        let (m, at) = err1(r#"let s = "abc"; s[0] = 1;"#);
        assert_eq!(m, "cannot assign to a byte of a `str`");
        assert_eq!(at, "s[0]");
        assert_eq!(
            err1("[1, 2][0..1]").0,
            "cannot slice a value of type `[int]`"
        );
        assert_eq!(
            err1(r#""a" - "b""#).0,
            "cannot apply `-` to `str` and `str`"
        );
        assert_eq!(err1(r#""a" + 1"#).0, "cannot apply `+` to `str` and `int`");
        assert_eq!(
            err1(r#"let s = "a"; s -= "b";"#).0,
            "cannot apply `-=` to `str` and `str`"
        );
        assert_eq!(
            err1(r#"join(["a"], 1)"#).0,
            "mismatched types: expected `str`, found `int`"
        );
    }

    #[test]
    fn numeric_builtins() {
        assert_eq!(tail_ty("abs(-1) + min(1, 2) + max(3, 4)"), Type::Int);
        assert_eq!(
            tail_ty("abs(-1.0) + min(1.0, 2.0) + max(3.0, 4.0)"),
            Type::Float
        );
        assert_eq!(
            err1("min(1, 2.0)").0,
            "`min` takes two ints or two floats, not `int` and `float`"
        );
        assert_eq!(
            err1("abs(true)").0,
            "mismatched types: expected an int or a float, found `bool`"
        );
        let mut x = ok("let x = 1; x &= 3; x |= 4; x ^= 5; x <<= 1; x >>= 1;");
        x.fns.clear();
        assert_eq!(
            err1("let x = 1.0; x &= 3.0;").0,
            "cannot apply `&=` to `float` and `float`"
        );
    }

    #[test]
    fn loop_expressions() {
        ok("fn f() -> int { loop { } }");
        ok("fn f() -> int { let i = 0; loop { i += 1; if i > 3 { return i; } } }");
        assert_eq!(tail_ty("loop { break; }"), Type::Unit);
        assert_eq!(tail_ty("loop { while true { break; } }"), Type::Never);
        let (m, _) = err1("fn f() -> int { loop { break; } }");
        assert_eq!(m, "mismatched types: expected `int`, found `()`");
        assert_eq!(err1("fn f() { break; }").0, "`break` outside of a loop");
    }

    #[test]
    fn structs() {
        let p = ok("struct P { x: float, y: float } fn norm(p: P) -> float { sqrt(p.x * p.x + p.y * p.y) } \
                    let ps = [P { y: 2.0, x: 1.0 }; 3]; ps[1].x += 1.0; norm(ps[0])");
        assert_eq!(p.structs.len(), 1);
        assert_eq!(p.structs[0].name, "P");
        assert_eq!(p.fns[0].structs.iter().collect::<Vec<_>>(), vec!["P"]);
        assert!(p.top.structs.contains("P"));
        ok(
            "struct Node { val: int, kids: [Node] } let t = Node { val: 1, kids: [] }; \
            t.kids = [Node { val: 2, kids: [] }]; t.kids[0].val",
        );
        ok("struct Line { a: Pt, b: Pt } struct Pt { x: int } fn f(l: Line) -> int { l.a.x }");
        let cases = [
            (
                "struct P { x: int } P { x: 1 }.y",
                "no field `y` on type `P`",
                "y",
            ),
            (
                "struct P { x: int } P { x: 1, y: 2 }",
                "struct `P` has no field named `y`",
                "y",
            ),
            (
                "struct P { x: int, y: int } P { x: 1 }",
                "missing field `y` in initializer of `P`",
                "P",
            ),
            (
                "struct P { x: int } P { x: 1, x: 2 }",
                "field `x` specified more than once",
                "x",
            ),
            ("let a = 1; a.x", "no field `x` on type `int`", "x"),
            (
                "struct P { x: int } P { x: 1 } == P { x: 1 }",
                "cannot apply `==` to `P` and `P`",
                "P { x: 1 } == P { x: 1 }",
            ),
            (
                "[1] == [1]",
                "cannot apply `==` to `[int]` and `[int]`",
                "[1] == [1]",
            ),
            ("struct P { p: P }", "the struct `P` contains itself", "P"),
            (
                "struct A { b: B } struct B { a: A }",
                "the structs `A` and `B` contain each other",
                "B",
            ),
            (
                "struct A { b: B } struct B { c: [C] } struct C { a: A, y: Y }",
                "unknown type `Y`",
                "Y",
            ),
            (
                "struct P { x: int, x: int }",
                "field `x` is already declared",
                "x",
            ),
            (
                "struct P { x: int } struct P { x: int }",
                "the struct `P` is defined more than once",
                "P",
            ),
            (
                "struct str { x: int }",
                "cannot define a struct named `str`",
                "str",
            ),
            (
                "struct P { x: int } if P { x: 1 }.x == 1 { }",
                "struct literals are not allowed here",
                "P { x: 1 }",
            ),
            ("Q { x: 1 }", "cannot find struct `Q` in this scope", "Q"),
            ("fn f(q: Q) { }", "unknown type `Q`", "Q"),
            ("print([])", "cannot infer the element type of []", "[]"),
            ("let x = [];", "cannot infer the element type of []", "[]"),
            (
                "struct P { x: int } let p = P { x: 1.0 };",
                "mismatched types: expected `int`, found `float`",
                "1.0",
            ),
        ];
        for (src, msg, at) in cases {
            let (m, a) = err1(src);
            assert_eq!((m.as_str(), a.as_str()), (msg, at), "{src}");
        }
        // Structs may refer to each other through arrays.
        let p = ok("struct A { bs: [B], n: int } struct B { as_: [A] } \
                    let a = A { bs: [B { as_: [] }], n: 1 }; a.bs[0].as_ = [a]; a.bs[0].as_[0].n");
        assert_eq!(p.structs.len(), 2);
        assert_eq!(
            crate::types::struct_text(p.structs[0].id),
            "struct A { bs: [B], n: int }"
        );
        // In parentheses a literal is fine in a condition.
        ok("struct P { x: int } if (P { x: 1 }).x == 1 { } for i in 0..(P { x: 2 }).x { }");
        // `[]` takes its type from where it stands.
        ok("let a: [[int]] = [[], [1]]; let b = [[1], []]; fn f(x: [str]) -> [str] { if true { [] } else { return []; } } f([]);");
        ok("let g: [float] = [1.0]; g = [];");
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
        assert_eq!(*ty, Type::Array(Elem::INT));
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
        assert_eq!(tail_ty("[1, 2, 3]"), Type::Array(Elem::INT));
        assert_eq!(tail_ty("[1.0; 3]"), Type::Array(Elem::FLOAT));
        assert_eq!(tail_ty("[true][0]"), Type::Bool);
        assert_eq!(
            err1("[1, 2.0]").0,
            "mismatched types: expected `int`, found `float`"
        );
        assert_eq!(tail_ty("[[1]]").to_string(), "[[int]]");
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
            "invalid assignment target: expected a variable, an indexed element or a field"
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
