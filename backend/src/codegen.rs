//! Typed AST -> LLVM IR, one module per version.
//!
//! Conventions every piece of generated code follows (the rest of the backend relies on them):
//! - Every function takes the task context `ptr %ctx` as its first parameter (see
//!   `safepoint.rs`); user parameters follow. Unit functions return `void`.
//! - Every call to a user function is `load atomic ptr, slot monotonic` + indirect call: no
//!   direct calls, so installing a version is one store per slot (`slots.rs`).
//! - Safepoint polls (one load of `ctx->limit` compared with `rsp`; the rarely taken branch
//!   calls `lj_poll`, which handles stack overflow, interruption and version-scan requests) sit
//!   before the first user call on each path, at every `while` header and once per chunk of
//!   `for` iterations (see `Gen::call_poll` and `Gen::for_loop`).
//! - Functions keep frame pointers (`"frame-pointer"="all"`) and unwind tables (`uwtable`), so
//!   the frame-pointer walk and Rust panics (runtime errors) both cross JIT frames.
//! - Globals are cells read and written with monotonic atomics, and a compound assignment to
//!   one is a single atomic read-modify-write (`Gen::global_rmw`); strs, arrays and structs are
//!   `ptr`s to GC objects laid out as `values.rs` describes (`[len][bytes]`,
//!   `[len][elements]`, 8-byte fields).

use crate::abi::{lowering, pack_span, Calling, ErrorKind, Lowering, RtFn};
use crate::inline::{InlineBody, Site};
use crate::values;
use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::basic_block::BasicBlock;
use inkwell::builder::Builder;
use inkwell::context::Context;
use inkwell::intrinsics::Intrinsic;
use inkwell::module::{Linkage, Module};
use inkwell::types::{BasicMetadataTypeEnum, BasicType, BasicTypeEnum};
use inkwell::values::{
    BasicMetadataValueEnum, BasicValue, BasicValueEnum, FunctionValue, IntValue, PointerValue,
};
use inkwell::{AtomicOrdering, AtomicRMWBinOp, FloatPredicate, IntPredicate};
use livejit_frontend::ast::{BinOp, UnOp};
use livejit_frontend::tast::{
    Builtin, LocalInfo, TBlock, TExpr, TExprKind, TFn, TPlace, TStmt, TTop, TTopItem,
};
use livejit_frontend::{FnSig, Span, Type};
use std::collections::HashMap;
use std::sync::Arc;

/// What a compilation unit needs to know about the session: where slots and global cells are.
pub trait Resolver {
    /// Address of the slot a call to `name` goes through, and the callee's signature.
    fn slot(&self, name: &str) -> (usize, FnSig);
    /// Address of the cell of global `name`, and its type.
    fn global(&self, name: &str) -> (usize, Type);
    /// Whether a `global` declaration of `name` in this unit defines it (and so runs its
    /// initializer). Top-level `let` always assigns.
    fn global_decl_defines(&self, name: &str) -> bool;
    /// The live version of `name`, if calls to it may be inlined behind a guard
    /// (`inline.rs`). None by default: an inlined copy inlines nothing itself.
    fn inline(&self, _name: &str) -> Option<Arc<InlineBody>> {
        None
    }
}

/// What to compile.
pub enum Unit<'a> {
    /// A user function version.
    Fn(&'a TFn),
    /// The top-level code of an input or file (a `void (ptr ctx)` function).
    Top(&'a TTop),
}

/// An LLVM module holding one unit, ready to be optimized and emitted.
pub struct Generated<'ctx> {
    /// The module.
    pub module: Module<'ctx>,
    /// The deepest loop nesting in the unit (the driver compiles very deep nests without
    /// optimization: LLVM's loop passes are superlinear in nesting depth).
    pub loop_depth: usize,
    /// The identities of the versions inlined into it (its `Code` keeps them: inlined code
    /// names them in runtime errors, see `inline.rs`).
    pub sites: Vec<Arc<Site>>,
}

/// Builds the module for one unit. `symbol` is the versioned symbol name (e.g. `sort$v3`).
pub fn generate<'ctx>(
    ctx: &'ctx Context,
    symbol: &str,
    unit: &Unit<'_>,
    resolver: &dyn Resolver,
    polls: bool,
) -> Result<Generated<'ctx>, String> {
    let module = ctx.create_module(symbol);
    let (params, ret) = match unit {
        Unit::Fn(f) => (f.sig.params.clone(), f.sig.ret),
        Unit::Top(_) => (Vec::new(), Type::Unit),
    };
    let func = declare_fn(ctx, &module, symbol, &params, ret, Linkage::External);
    let mut inl = Inlining::default();
    let loop_depth = define(
        ctx,
        &module,
        func,
        unit,
        resolver,
        polls,
        None,
        Some(&mut inl),
    )?;
    module
        .verify()
        .map_err(|e| format!("invalid IR for {symbol}: {e}"))?;
    Ok(Generated {
        module,
        loop_depth,
        sites: inl.sites,
    })
}

/// Adds a user-function-shaped function (`(ptr ctx, params...) -> ret`) with the attributes
/// every JIT function has (see the module doc).
fn declare_fn<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    symbol: &str,
    params: &[Type],
    ret: Type,
    linkage: Linkage,
) -> FunctionValue<'ctx> {
    let fn_type = fn_llvm_type(ctx, params, ret);
    let func = module.add_function(symbol, fn_type, Some(linkage));
    func.add_attribute(
        AttributeLoc::Function,
        ctx.create_string_attribute("frame-pointer", "all"),
    );
    // Tail calls would erase the caller's frame: the call chain of runtime errors would lose
    // it, and `:versions` would miss frames that are logically active.
    func.add_attribute(
        AttributeLoc::Function,
        ctx.create_string_attribute("disable-tail-calls", "true"),
    );
    let uwtable = Attribute::get_named_enum_kind_id("uwtable");
    // 2 = asynchronous unwind tables: valid at every instruction, as Rust panics need.
    func.add_attribute(
        AttributeLoc::Function,
        ctx.create_enum_attribute(uwtable, 2),
    );
    // No user value ever points into the task context: telling LLVM lets array data stay in
    // registers across polls and runtime calls that take `ctx`.
    func.add_attribute(
        AttributeLoc::Param(0),
        ctx.create_enum_attribute(Attribute::get_named_enum_kind_id("noalias"), 0),
    );
    for (i, ty) in params.iter().enumerate() {
        if ty.is_pointer() {
            // Arrays and strs are never null and always start with their 8-byte length
            // (a struct with its first 8-byte field), so LLVM
            // may load the (invariant) length speculatively, e.g. hoist it out of a loop.
            let loc = AttributeLoc::Param(i as u32 + 1);
            let attr = |name: &str, v: u64| {
                ctx.create_enum_attribute(Attribute::get_named_enum_kind_id(name), v)
            };
            func.add_attribute(loc, attr("nonnull", 0));
            func.add_attribute(loc, attr("dereferenceable", 8));
            func.add_attribute(loc, attr("align", 8));
        }
    }
    func
}

/// Generates the body of `func` for `unit`. `self_value` is what the code passes as its own
/// identity (`self_fn`) instead of its address (an inlined copy's descriptor); `inl` is `None`
/// for code that must not inline (an inlined copy). Returns the deepest loop nesting.
#[allow(clippy::too_many_arguments)]
fn define<'ctx>(
    ctx: &'ctx Context,
    module: &Module<'ctx>,
    func: FunctionValue<'ctx>,
    unit: &Unit<'_>,
    resolver: &dyn Resolver,
    polls: bool,
    self_value: Option<PointerValue<'ctx>>,
    inl: Option<&mut Inlining<'ctx>>,
) -> Result<usize, String> {
    let locals: &[LocalInfo] = match unit {
        Unit::Fn(f) => &f.locals,
        Unit::Top(t) => &t.locals,
    };
    let ret = match unit {
        Unit::Fn(f) => f.sig.ret,
        Unit::Top(_) => Type::Unit,
    };
    let builder = ctx.create_builder();
    let entry = ctx.append_basic_block(func, "entry");
    builder.position_at_end(entry);
    let task = func
        .get_nth_param(0)
        .ok_or("missing ctx parameter")?
        .into_pointer_value();
    task.set_name("ctx");
    let mut g = Gen {
        ctx,
        module,
        b: builder,
        func,
        task,
        resolver,
        locals: Vec::new(),
        local_types: locals.iter().map(|l| l.ty).collect(),
        loops: Vec::new(),
        loop_depth: 0,
        ret,
        polls,
        pending_poll: true,
        self_value,
        inl,
    };
    // Allocas for all locals up front, in the entry block, so mem2reg promotes them.
    for info in locals {
        let slot = match llvm_type(ctx, info.ty) {
            Some(t) => Some(g.b.build_alloca(t, &info.name).map_err(err)?),
            None => None,
        };
        g.locals.push(slot);
    }
    if let Unit::Fn(f) = unit {
        for i in 0..f.sig.params.len() {
            let value = func
                .get_nth_param(i as u32 + 1)
                .ok_or("missing parameter")?;
            value.set_name(&f.locals[i].name);
            if let Some(slot) = g.locals[i] {
                g.b.build_store(slot, value).map_err(err)?;
            }
        }
    }
    match unit {
        Unit::Fn(f) => {
            let value = g.block(&f.body)?;
            if g.open() {
                if f.body.ty == Type::Never {
                    g.b.build_unreachable().map_err(err)?;
                } else {
                    g.ret(value)?;
                }
            }
        }
        Unit::Top(t) => {
            g.top(t)?;
            if g.open() {
                g.b.build_return(None).map_err(err)?;
            }
        }
    }
    Ok(g.loop_depth)
}

/// The guarded inlining state of one unit (`inline.rs`): the copies made so far and the
/// identities the unit's code refers to.
#[derive(Default)]
struct Inlining<'ctx> {
    /// Per callee name: the copy and the inlined version (`None`: not inlined here).
    copies: HashMap<String, Option<(FunctionValue<'ctx>, Arc<InlineBody>)>>,
    /// Identities of the inlined versions.
    sites: Vec<Arc<Site>>,
    /// Nodes inlined so far, counted per call site (bounded by `inline::UNIT_BUDGET`).
    nodes: usize,
}

/// Top-level statements per basic block at most (see `Gen::top`).
const TOP_CHUNK: usize = 64;

fn err(e: impl std::fmt::Display) -> String {
    format!("LLVM builder error: {e}")
}

/// The LLVM type of a value of `ty`; `None` for unit and never (no value).
fn llvm_type<'ctx>(ctx: &'ctx Context, ty: Type) -> Option<BasicTypeEnum<'ctx>> {
    match ty {
        Type::Int => Some(ctx.i64_type().into()),
        Type::Float => Some(ctx.f64_type().into()),
        Type::Bool => Some(ctx.bool_type().into()),
        Type::Array(_) | Type::Str | Type::Struct(_) => {
            Some(ctx.ptr_type(Default::default()).into())
        }
        Type::Unit | Type::Never => None,
        Type::Error => unreachable!("a poisoned type reached codegen: the checker rejects them"),
    }
}

/// The LLVM function type of a user function: `(ptr ctx, params...) -> ret`.
fn fn_llvm_type<'ctx>(
    ctx: &'ctx Context,
    params: &[Type],
    ret: Type,
) -> inkwell::types::FunctionType<'ctx> {
    let mut ps: Vec<BasicMetadataTypeEnum> = vec![ctx.ptr_type(Default::default()).into()];
    ps.extend(
        params
            .iter()
            .filter_map(|t| llvm_type(ctx, *t))
            .map(BasicMetadataTypeEnum::from),
    );
    match llvm_type(ctx, ret) {
        Some(t) => t.fn_type(&ps, false),
        None => ctx.void_type().fn_type(&ps, false),
    }
}

/// Iterations of a `for` loop between two polls (see `Gen::for_loop`).
const FOR_CHUNK: i64 = 1024;

/// How a value of type `ty` sits in memory: bools are one byte in arrays (`wide == false`)
/// and eight in struct fields and global cells (`wide == true`); other values as themselves.
fn mem_type<'ctx>(ctx: &'ctx Context, ty: Type, wide: bool) -> BasicTypeEnum<'ctx> {
    match ty {
        Type::Bool if wide => ctx.i64_type().into(),
        Type::Bool => ctx.i8_type().into(),
        Type::Float => ctx.f64_type().into(),
        Type::Int => ctx.i64_type().into(),
        _ => ctx.ptr_type(Default::default()).into(),
    }
}

/// Code generator state for one function.
struct Gen<'a, 'ctx> {
    ctx: &'ctx Context,
    module: &'a Module<'ctx>,
    b: Builder<'ctx>,
    func: FunctionValue<'ctx>,
    /// The task context parameter.
    task: PointerValue<'ctx>,
    /// Whether no poll has run yet on the current path since function entry (see
    /// [`Gen::call_poll`]).
    pending_poll: bool,
    resolver: &'a dyn Resolver,
    /// Alloca of each local (`None` for unit-typed locals).
    locals: Vec<Option<PointerValue<'ctx>>>,
    /// The type of each local.
    local_types: Vec<Type>,
    /// (continue target, break target) of the enclosing loops, innermost last.
    loops: Vec<(BasicBlock<'ctx>, BasicBlock<'ctx>)>,
    /// The deepest `loops` has been.
    loop_depth: usize,
    ret: Type,
    /// Emit safepoint polls (always, except in the benchmark that measures their cost).
    polls: bool,
    /// Passed as `self_fn` instead of the function's address (an inlined copy's descriptor).
    self_value: Option<PointerValue<'ctx>>,
    /// Guarded inlining state; `None` in an inlined copy (one level only).
    inl: Option<&'a mut Inlining<'ctx>>,
}

type Value<'ctx> = Option<BasicValueEnum<'ctx>>;

/// An evaluated assignment target.
enum Place<'ctx> {
    /// A local's alloca, its LLVM type and its type.
    Local {
        slot: PointerValue<'ctx>,
        lt: BasicTypeEnum<'ctx>,
        ty: Type,
    },
    /// A global, by name, and its type.
    Global(String, Type),
    /// An array element's address (after the bounds check) and the element type.
    Elem(PointerValue<'ctx>, Type),
    /// A struct field's address and its type.
    Field(PointerValue<'ctx>, Type),
}

impl Place<'_> {
    /// The type stored at the place.
    fn ty(&self) -> Type {
        match self {
            Place::Local { ty, .. } => *ty,
            Place::Global(_, ty) => *ty,
            Place::Elem(_, ty) | Place::Field(_, ty) => *ty,
        }
    }
}
type Res<T> = Result<T, String>;

impl<'a, 'ctx> Gen<'a, 'ctx> {
    fn i64c(&self, v: i64) -> IntValue<'ctx> {
        self.ctx.i64_type().const_int(v as u64, true)
    }

    fn ptr_const(&self, addr: usize) -> Res<PointerValue<'ctx>> {
        self.b
            .build_int_to_ptr(
                self.ctx.i64_type().const_int(addr as u64, false),
                self.ctx.ptr_type(Default::default()),
                "addr",
            )
            .map_err(err)
    }

    /// A runtime function, declared in this module on first use.
    fn rt(&self, f: RtFn) -> FunctionValue<'ctx> {
        f.declare(self.ctx, self.module)
    }

    fn self_ptr(&self) -> PointerValue<'ctx> {
        self.self_value
            .unwrap_or_else(|| self.func.as_global_value().as_pointer_value())
    }

    /// `load atomic slot; call through it`.
    fn slot_call(
        &self,
        slot: usize,
        sig: &FnSig,
        vals: &[BasicMetadataValueEnum<'ctx>],
    ) -> Res<Value<'ctx>> {
        let slot_ptr = self.ptr_const(slot)?;
        let p = self.ctx.ptr_type(Default::default());
        let target = self.b.build_load(p, slot_ptr, "callee").map_err(err)?;
        let inst = target
            .as_instruction_value()
            .ok_or("load is no instruction")?;
        inst.set_atomic_ordering(AtomicOrdering::Monotonic)
            .map_err(err)?;
        inst.set_alignment(8).map_err(err)?;
        let fty = fn_llvm_type(self.ctx, &sig.params, sig.ret);
        Ok(self
            .b
            .build_indirect_call(fty, target.into_pointer_value(), vals, "call")
            .map_err(err)?
            .try_as_basic_value()
            .basic())
    }

    /// `if load(version cell) == N { copy(args) (inlined) } else { call through slot }`.
    fn guarded_call(
        &self,
        name: &str,
        slot: usize,
        sig: &FnSig,
        vals: &[BasicMetadataValueEnum<'ctx>],
        copy: FunctionValue<'ctx>,
        body: &InlineBody,
    ) -> Res<Value<'ctx>> {
        debug_assert_eq!(slot, body.slot, "an inlined body is of the slot called");
        let i64t = self.ctx.i64_type();
        let cell = self.ptr_const(crate::slots::version_cell(slot))?;
        let version = self
            .b
            .build_load(i64t, cell, &format!("{name}.version"))
            .map_err(err)?;
        let inst = version
            .as_instruction_value()
            .ok_or("load is no instruction")?;
        inst.set_atomic_ordering(AtomicOrdering::Monotonic)
            .map_err(err)?;
        inst.set_alignment(8).map_err(err)?;
        let same = self
            .b
            .build_int_compare(
                IntPredicate::EQ,
                version.into_int_value(),
                i64t.const_int(u64::from(body.n), false),
                &format!("{name}.is.v{}", body.n),
            )
            .map_err(err)?;
        let inlined = self
            .ctx
            .append_basic_block(self.func, &format!("{name}.v{}.inlined", body.n));
        let other = self
            .ctx
            .append_basic_block(self.func, &format!("{name}.slot"));
        let merge = self
            .ctx
            .append_basic_block(self.func, &format!("{name}.done"));
        // The guard almost always holds: keep the slot call out of the hot layout.
        let bool_t = self.ctx.bool_type();
        let expect = Intrinsic::find("llvm.expect")
            .and_then(|i| i.get_declaration(self.module, &[bool_t.into()]))
            .ok_or("llvm.expect is missing")?;
        let likely = self
            .b
            .build_call(expect, &[same.into(), bool_t.const_all_ones().into()], "")
            .map_err(err)?
            .try_as_basic_value()
            .basic()
            .ok_or("expect returned void")?
            .into_int_value();
        self.b
            .build_conditional_branch(likely, inlined, other)
            .map_err(err)?;
        self.b.position_at_end(inlined);
        let a = self
            .b
            .build_direct_call(copy, vals, "inl")
            .map_err(err)?
            .try_as_basic_value()
            .basic();
        let a_bb = self.current()?;
        self.b.build_unconditional_branch(merge).map_err(err)?;
        self.b.position_at_end(other);
        let b = self.slot_call(slot, sig, vals)?;
        let b_bb = self.current()?;
        self.b.build_unconditional_branch(merge).map_err(err)?;
        self.b.position_at_end(merge);
        match (a, b, llvm_type(self.ctx, sig.ret)) {
            (Some(a), Some(b), Some(t)) => {
                let phi = self.b.build_phi(t, "r").map_err(err)?;
                phi.add_incoming(&[(&a, a_bb), (&b, b_bb)]);
                Ok(Some(phi.as_basic_value()))
            }
            _ => Ok(None),
        }
    }

    /// The inlinable copy of `name`'s live version in this module, made on first use; `None`
    /// if the call is not inlined (no eligible version, an inlined copy, or the unit's budget
    /// spent).
    fn inline_copy(&mut self, name: &str) -> Res<Option<(FunctionValue<'ctx>, Arc<InlineBody>)>> {
        let Some(inl) = self.inl.as_deref_mut() else {
            return Ok(None);
        };
        // Every inlined call site costs its body's size: a unit's growth is bounded however
        // many calls it makes.
        if let Some(known) = inl.copies.get(name) {
            return Ok(match known {
                Some((_, body)) if inl.nodes + body.nodes <= crate::inline::UNIT_BUDGET => {
                    inl.nodes += body.nodes;
                    known.clone()
                }
                _ => None,
            });
        }
        let body = match self.resolver.inline(name) {
            Some(b) if inl.nodes + b.nodes <= crate::inline::UNIT_BUDGET => b,
            _ => {
                inl.copies.insert(name.to_string(), None);
                return Ok(None);
            }
        };
        inl.nodes += body.nodes;
        inl.sites.push(body.site.clone());
        let f = &body.f;
        let copy = declare_fn(
            self.ctx,
            self.module,
            &format!("{}$v{}.inline", f.name, body.n),
            &f.sig.params,
            f.sig.ret,
            Linkage::Internal,
        );
        copy.add_attribute(
            AttributeLoc::Function,
            self.ctx
                .create_enum_attribute(Attribute::get_named_enum_kind_id("alwaysinline"), 0),
        );
        // The copy's identity: `{ MAGIC, this unit's entry, &Site }` (see `inline::resolve`).
        let i64t = self.ctx.i64_type();
        let ptr_t = self.ctx.ptr_type(Default::default());
        let desc_t = self
            .ctx
            .struct_type(&[i64t.into(), ptr_t.into(), ptr_t.into()], false);
        let desc =
            self.module
                .add_global(desc_t, None, &format!("{}$v{}.identity", f.name, body.n));
        let site_addr = i64t
            .const_int(Arc::as_ptr(&body.site) as u64, false)
            .const_to_pointer(ptr_t);
        desc.set_initializer(&desc_t.const_named_struct(&[
            i64t.const_int(crate::inline::MAGIC, false).into(),
            self.func.as_global_value().as_pointer_value().into(),
            site_addr.into(),
        ]));
        desc.set_constant(true);
        desc.set_linkage(Linkage::Private);
        desc.set_alignment(8);
        define(
            self.ctx,
            self.module,
            copy,
            &Unit::Fn(f),
            &*body,
            self.polls,
            Some(desc.as_pointer_value()),
            None,
        )?;
        let entry = Some((copy, body));
        if let Some(inl) = self.inl.as_deref_mut() {
            inl.copies.insert(name.to_string(), entry.clone());
        }
        Ok(entry)
    }

    /// Whether the current block still needs a terminator.
    fn open(&self) -> bool {
        self.b
            .get_insert_block()
            .is_some_and(|bb| bb.get_terminator().is_none())
    }

    /// Starts a fresh block with no predecessors after a diverging expression, so code that
    /// follows it (dead, but type-checked) still has somewhere to go.
    fn dead_block(&self) {
        let bb = self.ctx.append_basic_block(self.func, "dead");
        self.b.position_at_end(bb);
    }

    fn ret(&self, value: Value<'ctx>) -> Res<()> {
        match (value, llvm_type(self.ctx, self.ret)) {
            (Some(v), Some(_)) => self.b.build_return(Some(&v)).map_err(err)?,
            (_, None) => self.b.build_return(None).map_err(err)?,
            (None, Some(t)) => self.b.build_return(Some(&poison(t))).map_err(err)?,
        };
        Ok(())
    }

    /// The safepoint poll: `if rsp < ctx->limit { lj_poll(ctx, frame, self) }`.
    fn poll(&mut self) -> Res<()> {
        self.pending_poll = false;
        if !self.polls {
            return Ok(());
        }
        let i64t = self.ctx.i64_type();
        let limit = self.b.build_load(i64t, self.task, "limit").map_err(err)?;
        let inst = limit
            .as_instruction_value()
            .ok_or("load is no instruction")?;
        inst.set_atomic_ordering(AtomicOrdering::Monotonic)
            .map_err(err)?;
        inst.set_alignment(8).map_err(err)?;
        // Compare the stack pointer, not the frame address: reading `rsp` needs no frame, so
        // LLVM can still shrink-wrap the prologue into the paths that call something (in
        // fib, the base case runs without pushing a frame at all).
        let read_register = Intrinsic::find("llvm.read_register")
            .and_then(|i| i.get_declaration(self.module, &[i64t.into()]))
            .ok_or("llvm.read_register is missing")?;
        let rsp = self
            .ctx
            .metadata_node(&[self.ctx.metadata_string("rsp").into()]);
        let sp = self
            .b
            .build_call(read_register, &[rsp.into()], "sp")
            .map_err(err)?
            .try_as_basic_value()
            .basic()
            .ok_or("read_register returned void")?
            .into_int_value();
        let below = self
            .b
            .build_int_compare(IntPredicate::ULT, sp, limit.into_int_value(), "poll")
            .map_err(err)?;
        let below = self.expect_false(below)?;
        let slow = self.ctx.append_basic_block(self.func, "poll.slow");
        let cont = self.ctx.append_basic_block(self.func, "poll.cont");
        self.b
            .build_conditional_branch(below, slow, cont)
            .map_err(err)?;
        self.b.position_at_end(slow);
        self.b
            .build_call(
                self.rt(RtFn::Poll),
                &[
                    self.task.into(),
                    self.frame_addr()?.into(),
                    self.self_ptr().into(),
                ],
                "",
            )
            .map_err(err)?;
        self.b.build_unconditional_branch(cont).map_err(err)?;
        self.b.position_at_end(cont);
        Ok(())
    }

    /// This function's frame address, read where it is needed (poll slow paths, runtime
    /// calls), which are all calls, so the frame is set up there even when LLVM shrink-wraps
    /// the prologue away from paths that call nothing.
    fn frame_addr(&self) -> Res<PointerValue<'ctx>> {
        let ptr_t = self.ctx.ptr_type(Default::default());
        let frame_fn = Intrinsic::find("llvm.frameaddress")
            .and_then(|i| i.get_declaration(self.module, &[ptr_t.into()]))
            .ok_or("llvm.frameaddress is missing")?;
        Ok(self
            .b
            .build_call(frame_fn, &[self.ctx.i32_type().const_zero().into()], "fp")
            .map_err(err)?
            .try_as_basic_value()
            .basic()
            .ok_or("frameaddress returned void")?
            .into_pointer_value())
    }

    /// The function-entry poll, placed lazily: before the first call to a user function on
    /// each path rather than at entry. A path that calls nothing and has no loop runs briefly
    /// and cannot recurse, so it needs no poll, and LLVM can then keep it frameless (fib's base
    /// case). Every call still follows a poll in its own frame, so unbounded recursion, call-only
    /// loops and version scans are caught exactly as with an entry poll; loop headers always
    /// poll.
    fn call_poll(&mut self) -> Res<()> {
        if self.pending_poll {
            self.poll()?;
        }
        Ok(())
    }

    /// `llvm.expect(cond, false)`: keeps error and poll paths out of the hot layout.
    fn expect_false(&self, cond: IntValue<'ctx>) -> Res<IntValue<'ctx>> {
        let bool_t = self.ctx.bool_type();
        let expect = Intrinsic::find("llvm.expect")
            .and_then(|i| i.get_declaration(self.module, &[bool_t.into()]))
            .ok_or("llvm.expect is missing")?;
        Ok(self
            .b
            .build_call(expect, &[cond.into(), bool_t.const_zero().into()], "expect")
            .map_err(err)?
            .try_as_basic_value()
            .basic()
            .ok_or("expect returned void")?
            .into_int_value())
    }

    /// Emits `if !ok { lj_error(kind, a, b) }` and continues in the ok branch.
    fn check(
        &self,
        ok: IntValue<'ctx>,
        kind: ErrorKind,
        a: IntValue<'ctx>,
        b: IntValue<'ctx>,
        span: Span,
    ) -> Res<()> {
        let bad = self.b.build_not(ok, "bad").map_err(err)?;
        let bad = self.expect_false(bad)?;
        let fail = self.ctx.append_basic_block(self.func, "fail");
        let cont = self.ctx.append_basic_block(self.func, "ok");
        self.b
            .build_conditional_branch(bad, fail, cont)
            .map_err(err)?;
        self.b.position_at_end(fail);
        self.raise(kind, a, b, span)?;
        self.b.position_at_end(cont);
        Ok(())
    }

    /// Calls `lj_error` (which never returns) and terminates the block.
    fn raise(&self, kind: ErrorKind, a: IntValue<'ctx>, b: IntValue<'ctx>, span: Span) -> Res<()> {
        self.b
            .build_call(
                self.rt(RtFn::Error),
                &[
                    self.task.into(),
                    self.ctx.i32_type().const_int(kind as u64, false).into(),
                    a.into(),
                    b.into(),
                    self.frame_addr()?.into(),
                    self.self_ptr().into(),
                    self.ctx.i64_type().const_int(pack_span(span), false).into(),
                ],
                "",
            )
            .map_err(err)?;
        self.b.build_unreachable().map_err(err)?;
        Ok(())
    }

    fn call_rt(
        &self,
        f: FunctionValue<'ctx>,
        args: &[BasicMetadataValueEnum<'ctx>],
    ) -> Res<Value<'ctx>> {
        Ok(self
            .b
            .build_call(f, args, "")
            .map_err(err)?
            .try_as_basic_value()
            .basic())
    }

    fn top(&mut self, top: &TTop) -> Res<()> {
        // Globals this unit has already declared (by `global` or top-level `let`): a later
        // `global` of the same name finds it existing and does nothing, as across inputs.
        let mut declared: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for (i, item) in top.items.iter().enumerate() {
            if !self.open() {
                self.dead_block();
            }
            // Straight-line top-level code would otherwise be one basic block as long as the
            // file, and LLVM's instruction selection and scheduling are superlinear in the size
            // of a block (a file of 40,000 `g = g + 1;` took a minute). A poll every
            // `TOP_CHUNK` statements is a conditional branch, which bounds the blocks (no pass
            // merges across it) and keeps long top-level code interruptible.
            if i > 0 && i % TOP_CHUNK == 0 {
                self.poll()?;
            }
            match item {
                TTopItem::Global {
                    is_let, name, init, ..
                } => {
                    let first = declared.insert(name.as_str());
                    if *is_let || (first && self.resolver.global_decl_defines(name)) {
                        let v = self.expr(init)?;
                        self.store_global(name, v)?;
                    }
                }
                TTopItem::Stmt(s) => self.stmt(s)?,
                TTopItem::Tail(e) => {
                    let v = self.expr(e)?;
                    if !matches!(e.ty, Type::Unit | Type::Never) {
                        self.call_rt(self.rt(RtFn::PrintBegin), &[self.task.into()])?;
                        self.print_value(e.ty, v)?;
                        self.call_rt(self.rt(RtFn::TailEnd), &[self.task.into()])?;
                    }
                }
            }
        }
        Ok(())
    }

    fn block(&mut self, block: &TBlock) -> Res<Value<'ctx>> {
        for s in &block.stmts {
            self.stmt(s)?;
        }
        match &block.tail {
            Some(e) => self.expr(e),
            None => Ok(None),
        }
    }

    fn stmt(&mut self, stmt: &TStmt) -> Res<()> {
        match stmt {
            TStmt::Let { local, init } => {
                let v = self.expr(init)?;
                if let (Some(slot), Some(v)) = (self.locals[*local], v) {
                    self.b.build_store(slot, v).map_err(err)?;
                }
            }
            TStmt::Assign {
                target,
                op,
                value,
                span,
            } => self.assign(target, *op, value, *span)?,
            TStmt::Expr(e) => {
                self.expr(e)?;
            }
        }
        Ok(())
    }

    /// `place = value` or `place op= value`, in Rust's order: the right operand first, then
    /// the place (array, index and bounds check), then for a compound assignment the old value
    /// and the operator, then the store. A diverging right operand ends the statement there.
    /// The operator's type is the place's, not the right operand's (which may be `!`).
    fn assign(&mut self, target: &TPlace, op: Option<BinOp>, value: &TExpr, span: Span) -> Res<()> {
        let rhs = self.expr(value)?;
        if value.ty == Type::Never {
            return Ok(());
        }
        let Some(place) = self.place(target)? else {
            return Ok(());
        };
        let v = match (op, &place) {
            (None, _) => rhs,
            (Some(op), Place::Global(name, _)) => return self.global_rmw(name, op, rhs, span),
            (Some(op), _) => {
                let old = self.load_place(&place)?;
                self.arith(op, place.ty(), old, rhs, span)?
            }
        };
        self.store_place(&place, v)
    }

    /// `g op= rhs` on a global as one atomic read-modify-write, so no task's update is lost:
    /// `atomicrmw` where LLVM has the operation on an int (`+ - & | ^`), otherwise a `cmpxchg`
    /// loop that combines the value the cell held with `rhs` (evaluated once, before) and
    /// retries with the value `cmpxchg` found. A runtime error of the operator (division by
    /// zero) is raised inside the loop, for the old value actually combined; nothing is stored
    /// then. A float cell is exchanged as its 64 bits, a str cell as its pointer (a retry
    /// concatenates again; the lost attempt is garbage).
    fn global_rmw(&mut self, name: &str, op: BinOp, rhs: Value<'ctx>, span: Span) -> Res<()> {
        let Some(rhs) = rhs else { return Ok(()) };
        let (addr, ty) = self.resolver.global(name);
        let cell = self.ptr_const(addr)?;
        let i64t = self.ctx.i64_type();
        let ord = AtomicOrdering::Monotonic;
        if ty == Type::Int {
            let rmw = match op {
                BinOp::Add => Some(AtomicRMWBinOp::Add),
                BinOp::Sub => Some(AtomicRMWBinOp::Sub),
                BinOp::BitAnd => Some(AtomicRMWBinOp::And),
                BinOp::BitOr => Some(AtomicRMWBinOp::Or),
                BinOp::BitXor => Some(AtomicRMWBinOp::Xor),
                _ => None,
            };
            if let Some(rmw) = rmw {
                self.b
                    .build_atomicrmw(rmw, cell, rhs.into_int_value(), ord)
                    .map_err(err)?;
                return Ok(());
            }
        }
        // The cell is exchanged as an integer or a pointer (`cmpxchg` takes no floats).
        let bits_t: BasicTypeEnum = match ty {
            Type::Int | Type::Float => i64t.into(),
            Type::Str => self.ctx.ptr_type(Default::default()).into(),
            other => return Err(format!("compound assignment to a global of type {other}")),
        };
        let first = self.b.build_load(bits_t, cell, name).map_err(err)?;
        let inst = first
            .as_instruction_value()
            .ok_or("load is no instruction")?;
        inst.set_atomic_ordering(ord).map_err(err)?;
        inst.set_alignment(8).map_err(err)?;
        let before = self.b.get_insert_block().ok_or("no insert block")?;
        let retry = self.ctx.append_basic_block(self.func, "rmw");
        self.b.build_unconditional_branch(retry).map_err(err)?;
        self.b.position_at_end(retry);
        let old = self.b.build_phi(bits_t, "rmw.old").map_err(err)?;
        old.add_incoming(&[(&first, before)]);
        let old_bits = old.as_basic_value();
        let old_val = if ty == Type::Float {
            self.b
                .build_bit_cast(old_bits, self.ctx.f64_type(), "rmw.f")
                .map_err(err)?
        } else {
            old_bits
        };
        let new_val = self
            .arith(op, ty, Some(old_val), Some(rhs), span)?
            .ok_or("compound operator gave no value")?;
        let new_bits = if ty == Type::Float {
            self.b
                .build_bit_cast(new_val, i64t, "rmw.bits")
                .map_err(err)?
        } else {
            new_val
        };
        let pair = self
            .b
            .build_cmpxchg(cell, old_bits, new_bits, ord, ord)
            .map_err(err)?;
        let seen = self
            .b
            .build_extract_value(pair, 0, "rmw.seen")
            .map_err(err)?;
        let done = self
            .b
            .build_extract_value(pair, 1, "rmw.ok")
            .map_err(err)?
            .into_int_value();
        let tried = self.b.get_insert_block().ok_or("no insert block")?;
        old.add_incoming(&[(&seen, tried)]);
        let after = self.ctx.append_basic_block(self.func, "rmw.done");
        self.b
            .build_conditional_branch(done, after, retry)
            .map_err(err)?;
        self.b.position_at_end(after);
        Ok(())
    }

    /// Evaluates an assignment target to where it stores; `None` if it has no storage (a unit
    /// or diverging local) or its evaluation diverged.
    fn place(&mut self, target: &TPlace) -> Res<Option<Place<'ctx>>> {
        Ok(match target {
            TPlace::Local(id) => {
                let ty = self.local_types[*id];
                match (self.locals[*id], llvm_type(self.ctx, ty)) {
                    (Some(slot), Some(lt)) => Some(Place::Local { slot, lt, ty }),
                    _ => None,
                }
            }
            TPlace::Global(name) => Some(Place::Global(name.clone(), self.resolver.global(name).1)),
            TPlace::Index(arr, idx) => {
                let Type::Array(elem) = arr.ty else {
                    return Ok(None);
                };
                let elem = elem.ty();
                let (Some(a), Some(i)) = (self.expr(arr)?, self.expr(idx)?) else {
                    return Ok(None);
                };
                let p = self.elem_ptr(
                    a.into_pointer_value(),
                    i.into_int_value(),
                    mem_type(self.ctx, elem, false),
                    idx.span.to(arr.span),
                )?;
                Some(Place::Elem(p, elem))
            }
            TPlace::Field(base, i) => {
                let Type::Struct(id) = base.ty else {
                    return Ok(None);
                };
                let Some(b) = self.expr(base)? else {
                    return Ok(None);
                };
                let ty = id.def().fields[*i].1;
                Some(Place::Field(
                    self.field_ptr(b.into_pointer_value(), *i)?,
                    ty,
                ))
            }
        })
    }

    /// Address of field `i` of a struct object.
    fn field_ptr(&self, obj: PointerValue<'ctx>, i: usize) -> Res<PointerValue<'ctx>> {
        // SAFETY: inkwell marks GEP building unsafe because the emitted code would be UB if the
        // address left the allocation; a struct object has one 8-byte word per field and `i`
        // is a field index of its type, checked by the front end.
        unsafe {
            self.b
                .build_in_bounds_gep(self.ctx.i64_type(), obj, &[self.i64c(i as i64)], "field")
                .map_err(err)
        }
    }

    fn load_place(&self, place: &Place<'ctx>) -> Res<Value<'ctx>> {
        match place {
            Place::Local { slot, lt, .. } => {
                Ok(Some(self.b.build_load(*lt, *slot, "old").map_err(err)?))
            }
            Place::Global(name, _) => self.load_global(name),
            Place::Elem(p, ty) => Ok(Some(self.load_mem(*p, *ty, false)?)),
            Place::Field(p, ty) => Ok(Some(self.load_mem(*p, *ty, true)?)),
        }
    }

    fn store_place(&self, place: &Place<'ctx>, v: Value<'ctx>) -> Res<()> {
        let Some(v) = v else { return Ok(()) };
        match place {
            Place::Local { slot, .. } => {
                self.b.build_store(*slot, v).map_err(err)?;
                Ok(())
            }
            Place::Global(name, _) => self.store_global(name, Some(v)),
            Place::Elem(p, ty) => self.store_mem(*p, *ty, false, v),
            Place::Field(p, ty) => self.store_mem(*p, *ty, true, v),
        }
    }

    /// Loads an array's length. Arrays never change length, so the load is `!invariant.load`:
    /// LLVM may hoist it out of loops and reuse it across element stores, which lets it drop
    /// bounds checks that a loop condition already implies.
    fn array_len(&self, arr: PointerValue<'ctx>) -> Res<IntValue<'ctx>> {
        let len = self
            .b
            .build_load(self.ctx.i64_type(), arr, "len")
            .map_err(err)?;
        let inst = len.as_instruction_value().ok_or("load is no instruction")?;
        inst.set_metadata(
            self.ctx.metadata_node(&[]),
            self.ctx.get_kind_id("invariant.load"),
        )
        .map_err(err)?;
        Ok(len.into_int_value())
    }

    /// Address of element `i` after the bounds check (`index I out of range for length N`).
    fn elem_ptr(
        &self,
        arr: PointerValue<'ctx>,
        i: IntValue<'ctx>,
        et: BasicTypeEnum<'ctx>,
        span: Span,
    ) -> Res<PointerValue<'ctx>> {
        let len = self.array_len(arr)?;
        // One unsigned compare also rejects negative indices.
        let ok = self
            .b
            .build_int_compare(IntPredicate::ULT, i, len, "inbounds")
            .map_err(err)?;
        self.check(ok, ErrorKind::Index, i, len, span)?;
        let i8t = self.ctx.i8_type();
        // SAFETY: inkwell marks GEP building unsafe because the emitted code would be UB if the
        // address left the allocation; the index was bounds-checked just above and the header
        // is 8 bytes, so the generated address lies inside the array.
        let data = unsafe {
            self.b
                .build_in_bounds_gep(i8t, arr, &[self.i64c(8)], "data")
                .map_err(err)?
        };
        // SAFETY: as above: `i < len`, so element `i` lies inside the array.
        unsafe {
            self.b
                .build_in_bounds_gep(et, data, &[i], "elem")
                .map_err(err)
        }
    }

    /// Loads a value of type `ty` stored at `p` (see [`mem_type`] for `wide`).
    fn load_mem(&self, p: PointerValue<'ctx>, ty: Type, wide: bool) -> Res<BasicValueEnum<'ctx>> {
        let v = self
            .b
            .build_load(mem_type(self.ctx, ty, wide), p, "e")
            .map_err(err)?;
        Ok(if ty == Type::Bool {
            self.b
                .build_int_truncate(v.into_int_value(), self.ctx.bool_type(), "eb")
                .map_err(err)?
                .into()
        } else {
            v
        })
    }

    /// Stores a value of type `ty` at `p` (see [`mem_type`] for `wide`).
    fn store_mem(
        &self,
        p: PointerValue<'ctx>,
        ty: Type,
        wide: bool,
        v: BasicValueEnum<'ctx>,
    ) -> Res<()> {
        let v: BasicValueEnum = if ty == Type::Bool {
            let t = mem_type(self.ctx, ty, wide).into_int_type();
            self.b
                .build_int_z_extend(v.into_int_value(), t, "b")
                .map_err(err)?
                .into()
        } else {
            v
        };
        self.b.build_store(p, v).map_err(err)?;
        Ok(())
    }

    /// A value as the 64 bits the runtime takes (`values.rs`).
    fn to_bits(&self, v: BasicValueEnum<'ctx>, ty: Type) -> Res<IntValue<'ctx>> {
        let i64t = self.ctx.i64_type();
        Ok(match ty {
            Type::Int => v.into_int_value(),
            Type::Float => self
                .b
                .build_bit_cast(v, i64t, "bits")
                .map_err(err)?
                .into_int_value(),
            Type::Bool => self
                .b
                .build_int_z_extend(v.into_int_value(), i64t, "bits")
                .map_err(err)?,
            _ => self
                .b
                .build_ptr_to_int(v.into_pointer_value(), i64t, "bits")
                .map_err(err)?,
        })
    }

    /// The constant type code of `ty` (for runtime calls that walk types).
    fn type_code(&self, ty: Type) -> IntValue<'ctx> {
        self.ctx.i64_type().const_int(ty.code(), false)
    }

    /// A str literal: the address of its immortal copy (see `values::literal`).
    fn str_lit(&self, bytes: &[u8]) -> Res<PointerValue<'ctx>> {
        self.ptr_const(values::literal(bytes))
    }

    /// Loads a global with a monotonic atomic load (another task may be writing it).
    fn load_global(&self, name: &str) -> Res<Value<'ctx>> {
        let (addr, ty) = self.resolver.global(name);
        let Some(lt) = global_cell_type(self.ctx, ty) else {
            return Ok(None);
        };
        let cell = self.ptr_const(addr)?;
        let v = self.b.build_load(lt, cell, name).map_err(err)?;
        let inst = v.as_instruction_value().ok_or("load is no instruction")?;
        inst.set_atomic_ordering(AtomicOrdering::Monotonic)
            .map_err(err)?;
        inst.set_alignment(8).map_err(err)?;
        Ok(Some(if ty == Type::Bool {
            self.b
                .build_int_truncate(v.into_int_value(), self.ctx.bool_type(), "gb")
                .map_err(err)?
                .into()
        } else {
            v
        }))
    }

    fn store_global(&self, name: &str, v: Value<'ctx>) -> Res<()> {
        let (addr, ty) = self.resolver.global(name);
        let Some(v) = v else { return Ok(()) };
        let v: BasicValueEnum = if ty == Type::Bool {
            self.b
                .build_int_z_extend(v.into_int_value(), self.ctx.i64_type(), "g64")
                .map_err(err)?
                .into()
        } else {
            v
        };
        let cell = self.ptr_const(addr)?;
        let st = self.b.build_store(cell, v).map_err(err)?;
        st.set_atomic_ordering(AtomicOrdering::Monotonic)
            .map_err(err)?;
        st.set_alignment(8).map_err(err)?;
        Ok(())
    }

    fn expr(&mut self, e: &TExpr) -> Res<Value<'ctx>> {
        let i64t = self.ctx.i64_type();
        Ok(match &e.kind {
            TExprKind::Int(v) => Some(self.i64c(*v).into()),
            TExprKind::Float(v) => Some(self.ctx.f64_type().const_float(*v).into()),
            TExprKind::Bool(v) => Some(self.ctx.bool_type().const_int(u64::from(*v), false).into()),
            TExprKind::Unit => None,
            TExprKind::Str(bytes) => Some(self.str_lit(bytes)?.into()),
            TExprKind::Local(id) => match (self.locals[*id], llvm_type(self.ctx, e.ty)) {
                (Some(slot), Some(t)) => Some(self.b.build_load(t, slot, "l").map_err(err)?),
                _ => None,
            },
            TExprKind::Global(name) => self.load_global(name)?,
            TExprKind::Unary(op, x) => {
                let v = self.expr(x)?;
                let Some(v) = v else { return Ok(None) };
                match (op, x.ty) {
                    (UnOp::Neg, Type::Int) => Some(
                        self.b
                            .build_int_sub(self.i64c(0), v.into_int_value(), "neg")
                            .map_err(err)?
                            .into(),
                    ),
                    (UnOp::Neg, _) => Some(
                        self.b
                            .build_float_neg(v.into_float_value(), "fneg")
                            .map_err(err)?
                            .into(),
                    ),
                    (UnOp::Not, _) => Some(
                        self.b
                            .build_not(v.into_int_value(), "not")
                            .map_err(err)?
                            .into(),
                    ),
                }
            }
            TExprKind::Binary(BinOp::And, l, r) => self.short_circuit(true, l, r)?,
            TExprKind::Binary(BinOp::Or, l, r) => self.short_circuit(false, l, r)?,
            TExprKind::Binary(op, l, r) => {
                let lv = self.expr(l)?;
                let rv = self.expr(r)?;
                self.arith(*op, l.ty, lv, rv, e.span)?
            }
            TExprKind::Call(name, args) => {
                let (slot, sig) = self.resolver.slot(name);
                let mut vals: Vec<BasicMetadataValueEnum> = vec![self.task.into()];
                for a in args {
                    if let Some(v) = self.expr(a)? {
                        vals.push(v.into());
                    }
                }
                // The poll comes before the slot load: a poll that publishes for a new epoch
                // guarantees that the load sees the slots stored before that epoch.
                self.call_poll()?;
                match self.inline_copy(name)? {
                    Some((copy, body)) => {
                        self.guarded_call(name, slot, &sig, &vals, copy, &body)?
                    }
                    None => self.slot_call(slot, &sig, &vals)?,
                }
            }
            TExprKind::Print(args) => {
                // Every argument is evaluated before anything is printed: an argument may call a
                // function that prints its own line.
                let mut values = Vec::with_capacity(args.len());
                for a in args {
                    values.push(self.expr(a)?);
                }
                self.call_rt(self.rt(RtFn::PrintBegin), &[self.task.into()])?;
                for (a, v) in args.iter().zip(values) {
                    self.print_value(a.ty, v)?;
                }
                self.call_rt(self.rt(RtFn::PrintEnd), &[self.task.into()])?;
                None
            }
            TExprKind::Builtin(b, args) => self.builtin(*b, args, e)?,
            TExprKind::Index(arr, idx) => {
                let a = self.expr(arr)?;
                let i = self.expr(idx)?;
                let (Some(a), Some(i)) = (a, i) else {
                    return Ok(None);
                };
                let (a, i) = (a.into_pointer_value(), i.into_int_value());
                match arr.ty {
                    // A byte of a str, as an int.
                    Type::Str => {
                        let p = self.elem_ptr(a, i, self.ctx.i8_type().into(), e.span)?;
                        let byte = self
                            .b
                            .build_load(self.ctx.i8_type(), p, "byte")
                            .map_err(err)?
                            .into_int_value();
                        Some(
                            self.b
                                .build_int_z_extend(byte, i64t, "b")
                                .map_err(err)?
                                .into(),
                        )
                    }
                    Type::Array(elem) => {
                        let elem = elem.ty();
                        let p = self.elem_ptr(a, i, mem_type(self.ctx, elem, false), e.span)?;
                        Some(self.load_mem(p, elem, false)?)
                    }
                    _ => return Err("index on a non-array".into()),
                }
            }
            TExprKind::Slice(s, lo, hi) => {
                let (Some(sv), Some(a), Some(b)) = (self.expr(s)?, self.expr(lo)?, self.expr(hi)?)
                else {
                    return Ok(None);
                };
                self.call_rt(
                    self.rt(RtFn::StrSlice),
                    &[
                        self.task.into(),
                        sv.into(),
                        a.into(),
                        b.into(),
                        self.frame_addr()?.into(),
                        self.self_ptr().into(),
                        i64t.const_int(pack_span(e.span), false).into(),
                    ],
                )?
            }
            TExprKind::Field(base, i) => {
                let Some(b) = self.expr(base)? else {
                    return Ok(None);
                };
                let p = self.field_ptr(b.into_pointer_value(), *i)?;
                Some(self.load_mem(p, e.ty, true)?)
            }
            TExprKind::StructLit(id, fields) => {
                let def = id.def();
                let obj = self
                    .call_rt(
                        self.rt(RtFn::StructAlloc),
                        &[self.task.into(), self.i64c(def.fields.len() as i64).into()],
                    )?
                    .ok_or("alloc returned void")?
                    .into_pointer_value();
                // Fields are evaluated in the order written.
                for (i, x) in fields {
                    let Some(v) = self.expr(x)? else {
                        if x.ty == Type::Never {
                            return Ok(None);
                        }
                        continue;
                    };
                    let p = self.field_ptr(obj, *i)?;
                    self.store_mem(p, def.fields[*i].1, true, v)?;
                }
                Some(obj.into())
            }
            TExprKind::ArrayList(items) => {
                let Type::Array(elem) = e.ty else {
                    return Err("array literal without array type".into());
                };
                let elem = elem.ty();
                let arr = self
                    .call_rt(
                        self.rt(RtFn::ArrayAlloc),
                        &[
                            self.task.into(),
                            self.i64c(items.len() as i64).into(),
                            self.type_code(elem).into(),
                        ],
                    )?
                    .ok_or("alloc returned void")?
                    .into_pointer_value();
                let et = mem_type(self.ctx, elem, false);
                for (i, item) in items.iter().enumerate() {
                    let v = self.expr(item)?;
                    if let Some(v) = v {
                        let p = self.elem_ptr(arr, self.i64c(i as i64), et, item.span)?;
                        self.store_mem(p, elem, false, v)?;
                    }
                }
                Some(arr.into())
            }
            TExprKind::ArrayRepeat(item, count) => {
                let Type::Array(elem) = e.ty else {
                    return Err("array literal without array type".into());
                };
                let elem = elem.ty();
                let v = self.expr(item)?;
                let n = self.expr(count)?;
                let (Some(v), Some(n)) = (v, n) else {
                    return Ok(None);
                };
                let bits = self.to_bits(v, elem)?;
                self.call_rt(
                    self.rt(RtFn::ArrayRepeat),
                    &[
                        self.task.into(),
                        n.into(),
                        bits.into(),
                        self.type_code(elem).into(),
                        self.frame_addr()?.into(),
                        self.self_ptr().into(),
                        i64t.const_int(pack_span(e.span), false).into(),
                    ],
                )?
            }
            TExprKind::Loop(body) => {
                let head = self.ctx.append_basic_block(self.func, "loop.head");
                let exit = self.ctx.append_basic_block(self.func, "loop.exit");
                self.b.build_unconditional_branch(head).map_err(err)?;
                self.b.position_at_end(head);
                self.poll()?;
                self.loops.push((head, exit));
                self.block(body)?;
                self.loops.pop();
                if self.open() {
                    self.b.build_unconditional_branch(head).map_err(err)?;
                }
                self.b.position_at_end(exit);
                if exit.get_first_use().is_none() {
                    // No `break`: nothing reaches the exit.
                    self.b.build_unreachable().map_err(err)?;
                    self.dead_block();
                }
                None
            }
            TExprKind::If(cond, then, els) => self.if_expr(cond, then, els.as_deref(), e.ty)?,
            TExprKind::While(cond, body) => {
                let head = self.ctx.append_basic_block(self.func, "while.head");
                let body_bb = self.ctx.append_basic_block(self.func, "while.body");
                let exit = self.ctx.append_basic_block(self.func, "while.exit");
                self.b.build_unconditional_branch(head).map_err(err)?;
                self.b.position_at_end(head);
                self.poll()?;
                let c = self.expr(cond)?.ok_or("while condition has no value")?;
                self.b
                    .build_conditional_branch(c.into_int_value(), body_bb, exit)
                    .map_err(err)?;
                self.b.position_at_end(body_bb);
                self.loops.push((head, exit));
                self.loop_depth = self.loop_depth.max(self.loops.len());
                self.block(body)?;
                self.loops.pop();
                if self.open() {
                    self.b.build_unconditional_branch(head).map_err(err)?;
                }
                self.b.position_at_end(exit);
                None
            }
            TExprKind::For(var, start, end, body) => {
                let s = self.expr(start)?.ok_or("for start has no value")?;
                let en = self
                    .expr(end)?
                    .ok_or("for end has no value")?
                    .into_int_value();
                self.for_loop(*var, s.into_int_value(), en, body)?;
                None
            }
            TExprKind::Block(block) => self.block(block)?,
            TExprKind::Return(value) => {
                let v = match value {
                    Some(x) => self.expr(x)?,
                    None => None,
                };
                if self.open() {
                    self.ret(v)?;
                }
                self.dead_block();
                None
            }
            TExprKind::Break | TExprKind::Continue => {
                let (cont, brk) = *self.loops.last().ok_or("break outside a loop")?;
                let target = if matches!(e.kind, TExprKind::Break) {
                    brk
                } else {
                    cont
                };
                if self.open() {
                    self.b.build_unconditional_branch(target).map_err(err)?;
                }
                self.dead_block();
                None
            }
        })
    }

    /// `for var in start..end { body }`, strip-mined: an outer loop polls once per chunk of
    /// [`FOR_CHUNK`] iterations and an inner loop runs the chunk with no poll, so LLVM can
    /// vectorize and unroll it like C. A chunk is short (a body with no loop of its own runs
    /// 1024 times; a nested loop or a call polls by itself), so interruption and version scans
    /// stay prompt.
    fn for_loop(
        &mut self,
        var: usize,
        start: IntValue<'ctx>,
        end: IntValue<'ctx>,
        body: &TBlock,
    ) -> Res<()> {
        let i64t = self.ctx.i64_type();
        // A hidden counter drives the loop, so assigning the loop variable in the body does not
        // change the iteration (as in Rust).
        let counter = self.entry_alloca(i64t.into(), "for.i")?;
        let chunk_end = self.entry_alloca(i64t.into(), "for.chunk")?;
        self.b.build_store(counter, start).map_err(err)?;
        let outer = self.ctx.append_basic_block(self.func, "for.outer");
        let head = self.ctx.append_basic_block(self.func, "for.head");
        let body_bb = self.ctx.append_basic_block(self.func, "for.body");
        let step = self.ctx.append_basic_block(self.func, "for.step");
        let exit = self.ctx.append_basic_block(self.func, "for.exit");
        self.b.build_unconditional_branch(outer).map_err(err)?;

        // Outer loop: poll, then set the end of the next chunk.
        self.b.position_at_end(outer);
        self.poll()?;
        let i = self.load_i64(counter, "i")?;
        let more = self
            .b
            .build_int_compare(IntPredicate::SLT, i, end, "more")
            .map_err(err)?;
        let chunk_bb = self.ctx.append_basic_block(self.func, "for.chunk");
        self.b
            .build_conditional_branch(more, chunk_bb, exit)
            .map_err(err)?;
        self.b.position_at_end(chunk_bb);
        // i < end, so end - i fits in u64 and i + min(end - i, FOR_CHUNK) cannot overflow.
        // Without polls (the benchmark baseline) one chunk covers the whole range.
        let remaining = self.b.build_int_sub(end, i, "remaining").map_err(err)?;
        let chunk = self.i64c(if self.polls { FOR_CHUNK } else { -1 });
        let short = self
            .b
            .build_int_compare(IntPredicate::ULT, remaining, chunk, "short")
            .map_err(err)?;
        let len = self
            .b
            .build_select(short, remaining, chunk, "len")
            .map_err(err)?
            .into_int_value();
        let stop = self.b.build_int_add(i, len, "stop").map_err(err)?;
        self.b.build_store(chunk_end, stop).map_err(err)?;
        self.b.build_unconditional_branch(head).map_err(err)?;

        // Inner loop: no poll.
        self.b.position_at_end(head);
        let i = self.load_i64(counter, "i")?;
        let stop = self.load_i64(chunk_end, "stop")?;
        let in_chunk = self
            .b
            .build_int_compare(IntPredicate::SLT, i, stop, "inchunk")
            .map_err(err)?;
        self.b
            .build_conditional_branch(in_chunk, body_bb, outer)
            .map_err(err)?;
        self.b.position_at_end(body_bb);
        if let Some(slot) = self.locals[var] {
            self.b.build_store(slot, i).map_err(err)?;
        }
        self.loops.push((step, exit));
        self.loop_depth = self.loop_depth.max(self.loops.len());
        self.block(body)?;
        self.loops.pop();
        if self.open() {
            self.b.build_unconditional_branch(step).map_err(err)?;
        }
        self.b.position_at_end(step);
        let i = self.load_i64(counter, "i")?;
        let next = self.b.build_int_add(i, self.i64c(1), "next").map_err(err)?;
        self.b.build_store(counter, next).map_err(err)?;
        self.b.build_unconditional_branch(head).map_err(err)?;
        self.b.position_at_end(exit);
        // Every path out of the loop went through the outer poll.
        self.pending_poll = false;
        Ok(())
    }

    /// Loads an i64 from a stack slot (the loop counters).
    fn load_i64(&self, slot: PointerValue<'ctx>, name: &str) -> Res<IntValue<'ctx>> {
        Ok(self
            .b
            .build_load(self.ctx.i64_type(), slot, name)
            .map_err(err)?
            .into_int_value())
    }

    fn entry_alloca(&self, ty: BasicTypeEnum<'ctx>, name: &str) -> Res<PointerValue<'ctx>> {
        let entry = self
            .func
            .get_first_basic_block()
            .ok_or("function without entry")?;
        let tmp = self.ctx.create_builder();
        match entry.get_first_instruction() {
            Some(first) => tmp.position_before(&first),
            None => tmp.position_at_end(entry),
        }
        tmp.build_alloca(ty, name).map_err(err)
    }

    fn short_circuit(&mut self, is_and: bool, l: &TExpr, r: &TExpr) -> Res<Value<'ctx>> {
        let lv = self.expr(l)?.ok_or("logical operand has no value")?;
        let lhs_end = self.b.get_insert_block().ok_or("no block")?;
        let rhs_bb = self.ctx.append_basic_block(self.func, "sc.rhs");
        let merge = self.ctx.append_basic_block(self.func, "sc.merge");
        let (t, f) = if is_and {
            (rhs_bb, merge)
        } else {
            (merge, rhs_bb)
        };
        self.b
            .build_conditional_branch(lv.into_int_value(), t, f)
            .map_err(err)?;
        self.b.position_at_end(rhs_bb);
        let pending_before = self.pending_poll;
        let rv = self.expr(r)?;
        // The right operand may be skipped, and with it any poll it ran.
        self.pending_poll |= pending_before;
        let rhs_end = self.b.get_insert_block().ok_or("no block")?;
        let rhs_open = self.open();
        if rhs_open {
            self.b.build_unconditional_branch(merge).map_err(err)?;
        }
        self.b.position_at_end(merge);
        let bool_t = self.ctx.bool_type();
        let phi = self.b.build_phi(bool_t, "sc").map_err(err)?;
        let short = bool_t.const_int(u64::from(!is_and), false);
        phi.add_incoming(&[(&short, lhs_end)]);
        if rhs_open {
            let rv = rv.unwrap_or_else(|| bool_t.get_poison().into());
            phi.add_incoming(&[(&rv, rhs_end)]);
        }
        Ok(Some(phi.as_basic_value()))
    }

    fn if_expr(
        &mut self,
        cond: &TExpr,
        then: &TBlock,
        els: Option<&TExpr>,
        ty: Type,
    ) -> Res<Value<'ctx>> {
        let c = self.expr(cond)?.ok_or("if condition has no value")?;
        let then_bb = self.ctx.append_basic_block(self.func, "then");
        let else_bb = self.ctx.append_basic_block(self.func, "else");
        let merge = self.ctx.append_basic_block(self.func, "endif");
        self.b
            .build_conditional_branch(c.into_int_value(), then_bb, else_bb)
            .map_err(err)?;
        let mut incoming: Vec<(BasicValueEnum<'ctx>, BasicBlock<'ctx>)> = Vec::new();
        let lt = llvm_type(self.ctx, ty);
        // After the merge a poll is still pending if it is on any path that reaches it.
        let pending_before = self.pending_poll;
        let mut pending_after = false;
        self.b.position_at_end(then_bb);
        let tv = self.block(then)?;
        if self.open() {
            if let Some(t) = lt {
                incoming.push((tv.unwrap_or_else(|| poison(t)), self.current()?));
            }
            self.b.build_unconditional_branch(merge).map_err(err)?;
            pending_after |= self.pending_poll;
        }
        self.pending_poll = pending_before;
        self.b.position_at_end(else_bb);
        let ev = match els {
            Some(e) => self.expr(e)?,
            None => None,
        };
        if self.open() {
            if let Some(t) = lt {
                incoming.push((ev.unwrap_or_else(|| poison(t)), self.current()?));
            }
            self.b.build_unconditional_branch(merge).map_err(err)?;
            pending_after |= self.pending_poll;
        }
        self.pending_poll = pending_after;
        self.b.position_at_end(merge);
        match lt {
            Some(t) if !incoming.is_empty() => {
                let phi = self.b.build_phi(t, "ifv").map_err(err)?;
                for (v, bb) in &incoming {
                    phi.add_incoming(&[(v as &dyn BasicValue, *bb)]);
                }
                Ok(Some(phi.as_basic_value()))
            }
            _ => {
                if incoming.is_empty() && merge.get_first_use().is_none() {
                    // Both branches diverged: nothing reaches the merge block.
                    self.b.build_unreachable().map_err(err)?;
                    self.dead_block();
                }
                Ok(None)
            }
        }
    }

    fn current(&self) -> Res<BasicBlock<'ctx>> {
        self.b.get_insert_block().ok_or_else(|| "no block".into())
    }

    /// Arithmetic, bitwise and comparison operators on two values of type `ty`.
    fn arith(
        &self,
        op: BinOp,
        ty: Type,
        l: Value<'ctx>,
        r: Value<'ctx>,
        span: Span,
    ) -> Res<Value<'ctx>> {
        let (Some(l), Some(r)) = (l, r) else {
            return Ok(None);
        };
        let b = &self.b;
        if ty == Type::Str {
            let args = [self.task.into(), l.into(), r.into()];
            if op == BinOp::Add {
                return self.call_rt(self.rt(RtFn::StrConcat), &args);
            }
            let c = self
                .call_rt(self.rt(RtFn::StrCmp), &args)?
                .ok_or("str compare returned void")?
                .into_int_value();
            let p = match op {
                BinOp::Eq => IntPredicate::EQ,
                BinOp::Ne => IntPredicate::NE,
                BinOp::Lt => IntPredicate::SLT,
                BinOp::Le => IntPredicate::SLE,
                BinOp::Gt => IntPredicate::SGT,
                BinOp::Ge => IntPredicate::SGE,
                _ => return Err(format!("operator {} on strs", op.as_str())),
            };
            return Ok(Some(
                b.build_int_compare(p, c, self.i64c(0), "scmp")
                    .map_err(err)?
                    .into(),
            ));
        }
        if ty == Type::Float {
            let (x, y) = (l.into_float_value(), r.into_float_value());
            let cmp = |p, n| -> Res<Value<'ctx>> {
                Ok(Some(b.build_float_compare(p, x, y, n).map_err(err)?.into()))
            };
            return match op {
                BinOp::Add => Ok(Some(b.build_float_add(x, y, "fadd").map_err(err)?.into())),
                BinOp::Sub => Ok(Some(b.build_float_sub(x, y, "fsub").map_err(err)?.into())),
                BinOp::Mul => Ok(Some(b.build_float_mul(x, y, "fmul").map_err(err)?.into())),
                BinOp::Div => Ok(Some(b.build_float_div(x, y, "fdiv").map_err(err)?.into())),
                BinOp::Rem => Ok(Some(b.build_float_rem(x, y, "frem").map_err(err)?.into())),
                BinOp::Eq => cmp(FloatPredicate::OEQ, "feq"),
                BinOp::Ne => cmp(FloatPredicate::UNE, "fne"),
                BinOp::Lt => cmp(FloatPredicate::OLT, "flt"),
                BinOp::Le => cmp(FloatPredicate::OLE, "fle"),
                BinOp::Gt => cmp(FloatPredicate::OGT, "fgt"),
                BinOp::Ge => cmp(FloatPredicate::OGE, "fge"),
                _ => Err(format!("operator {} on floats", op.as_str())),
            };
        }
        let (x, y) = (l.into_int_value(), r.into_int_value());
        let cmp = |p, n| -> Res<Value<'ctx>> {
            Ok(Some(b.build_int_compare(p, x, y, n).map_err(err)?.into()))
        };
        let v: IntValue = match op {
            BinOp::Add => b.build_int_add(x, y, "add").map_err(err)?,
            BinOp::Sub => b.build_int_sub(x, y, "sub").map_err(err)?,
            BinOp::Mul => b.build_int_mul(x, y, "mul").map_err(err)?,
            BinOp::Div | BinOp::Rem => {
                let zero = b
                    .build_int_compare(IntPredicate::NE, y, self.i64c(0), "nz")
                    .map_err(err)?;
                self.check(zero, ErrorKind::DivZero, x, y, span)?;
                // MIN / -1 would trap in hardware: divide by 1 instead and fix the result up
                // (x / -1 == -x wrapping, x % -1 == 0).
                let minus_one = b
                    .build_int_compare(IntPredicate::EQ, y, self.i64c(-1), "m1")
                    .map_err(err)?;
                let safe = b
                    .build_select(minus_one, self.i64c(1), y, "safe")
                    .map_err(err)?
                    .into_int_value();
                if op == BinOp::Rem {
                    b.build_int_signed_rem(x, safe, "rem").map_err(err)?
                } else {
                    let q = b.build_int_signed_div(x, safe, "div").map_err(err)?;
                    let negx = b.build_int_sub(self.i64c(0), x, "negx").map_err(err)?;
                    b.build_select(minus_one, negx, q, "quot")
                        .map_err(err)?
                        .into_int_value()
                }
            }
            BinOp::Shl | BinOp::Shr => {
                let amount = b.build_and(y, self.i64c(63), "amt").map_err(err)?;
                if op == BinOp::Shl {
                    b.build_left_shift(x, amount, "shl").map_err(err)?
                } else {
                    b.build_right_shift(x, amount, true, "shr").map_err(err)?
                }
            }
            BinOp::BitAnd => b.build_and(x, y, "and").map_err(err)?,
            BinOp::BitOr => b.build_or(x, y, "or").map_err(err)?,
            BinOp::BitXor => b.build_xor(x, y, "xor").map_err(err)?,
            BinOp::Eq => return cmp(IntPredicate::EQ, "eq"),
            BinOp::Ne => return cmp(IntPredicate::NE, "ne"),
            BinOp::Lt => return cmp(IntPredicate::SLT, "lt"),
            BinOp::Le => return cmp(IntPredicate::SLE, "le"),
            BinOp::Gt => return cmp(IntPredicate::SGT, "gt"),
            BinOp::Ge => return cmp(IntPredicate::SGE, "ge"),
            BinOp::And | BinOp::Or => return Err("short-circuit operator in arith".into()),
        };
        Ok(Some(v.into()))
    }

    fn builtin(&mut self, builtin: Builtin, args: &[TExpr], e: &TExpr) -> Res<Value<'ctx>> {
        let mut vals = Vec::new();
        for a in args {
            vals.push(self.expr(a)?);
            if a.ty == Type::Never {
                // The argument diverged: the call is never made.
                return Ok(None);
            }
        }
        if builtin == Builtin::Str && args[0].ty == Type::Unit {
            return Ok(Some(self.str_lit(b"()")?.into()));
        }
        let arg = |i: usize| -> Res<BasicValueEnum<'ctx>> {
            vals.get(i)
                .copied()
                .flatten()
                .ok_or_else(|| format!("missing argument {i} of {}", builtin.name()))
        };
        let f64t = self.ctx.f64_type();
        let i64t = self.ctx.i64_type();
        let intrinsic = |name: &str, tys: &[BasicTypeEnum<'ctx>]| -> Res<FunctionValue<'ctx>> {
            Intrinsic::find(name)
                .and_then(|i| i.get_declaration(self.module, tys))
                .ok_or_else(|| format!("{name} is missing"))
        };
        let span = i64t.const_int(pack_span(e.span), false);
        if let Lowering::Runtime(f) = lowering(builtin) {
            if f.calling() == Calling::Site {
                let mut args: Vec<BasicMetadataValueEnum<'ctx>> = vec![self.task.into()];
                for i in 0..vals.len() {
                    args.push(arg(i)?.into());
                }
                args.push(self.frame_addr()?.into());
                args.push(self.self_ptr().into());
                args.push(span.into());
                return self.call_rt(self.rt(f), &args);
            }
        }
        Ok(match builtin {
            Builtin::Print => return Err("print is not a plain builtin".into()),
            Builtin::Len => Some(self.array_len(arg(0)?.into_pointer_value())?.into()),
            Builtin::Abs => {
                let x = arg(0)?;
                if e.ty == Type::Float {
                    let f = intrinsic("llvm.fabs", &[f64t.into()])?;
                    self.call_rt(f, &[x.into()])?
                } else {
                    // Wrapping: abs(MIN) is MIN.
                    let x = x.into_int_value();
                    let neg = self
                        .b
                        .build_int_compare(IntPredicate::SLT, x, self.i64c(0), "neg")
                        .map_err(err)?;
                    let minus = self
                        .b
                        .build_int_sub(self.i64c(0), x, "minus")
                        .map_err(err)?;
                    Some(self.b.build_select(neg, minus, x, "abs").map_err(err)?)
                }
            }
            Builtin::Min | Builtin::Max => {
                let (x, y) = (arg(0)?, arg(1)?);
                let min = builtin == Builtin::Min;
                if e.ty == Type::Float {
                    // As Rust's f64::min/max: a NaN operand gives the other one.
                    let name = if min { "llvm.minnum" } else { "llvm.maxnum" };
                    let f = intrinsic(name, &[f64t.into()])?;
                    self.call_rt(f, &[x.into(), y.into()])?
                } else {
                    let p = if min {
                        IntPredicate::SLT
                    } else {
                        IntPredicate::SGT
                    };
                    let (x, y) = (x.into_int_value(), y.into_int_value());
                    let pick = self.b.build_int_compare(p, x, y, "pick").map_err(err)?;
                    Some(self.b.build_select(pick, x, y, "minmax").map_err(err)?)
                }
            }
            Builtin::Float => Some(
                self.b
                    .build_signed_int_to_float(arg(0)?.into_int_value(), f64t, "float")
                    .map_err(err)?
                    .into(),
            ),
            Builtin::Int => {
                // fptosi.sat is exactly Rust's `as`: toward zero, saturating, NaN -> 0.
                let f = intrinsic("llvm.fptosi.sat", &[i64t.into(), f64t.into()])?;
                self.call_rt(f, &[arg(0)?.into()])?
            }
            Builtin::Sqrt => {
                let f = intrinsic("llvm.sqrt", &[f64t.into()])?;
                self.call_rt(f, &[arg(0)?.into()])?
            }
            Builtin::Copy | Builtin::Str => {
                let (x, ty) = (arg(0)?, args[0].ty);
                let bits = self.to_bits(x, ty)?;
                let f = if builtin == Builtin::Copy {
                    RtFn::Copy
                } else {
                    RtFn::ToStr
                };
                let r = self
                    .call_rt(
                        self.rt(f),
                        &[self.task.into(), bits.into(), self.type_code(ty).into()],
                    )?
                    .ok_or("copy returned void")?;
                if r.is_pointer_value() {
                    Some(r)
                } else {
                    Some(
                        self.b
                            .build_int_to_ptr(
                                r.into_int_value(),
                                self.ctx.ptr_type(Default::default()),
                                "copy",
                            )
                            .map_err(err)?
                            .into(),
                    )
                }
            }
            Builtin::Assert => {
                let zero = self.i64c(0);
                self.check(
                    arg(0)?.into_int_value(),
                    ErrorKind::Assert,
                    zero,
                    zero,
                    e.span,
                )?;
                None
            }
            // Builtins lowered to a runtime call were handled above (`abi::lowering`).
            _ => {
                return Err(format!(
                    "{} has no inline lowering and no runtime function",
                    builtin.name()
                ))
            }
        })
    }

    /// Appends one value to the task's print line.
    fn print_value(&self, ty: Type, v: Value<'ctx>) -> Res<()> {
        let t = self.task.into();
        match (ty, v) {
            (Type::Int, Some(v)) => self.call_rt(self.rt(RtFn::PrintInt), &[t, v.into()])?,
            (Type::Float, Some(v)) => self.call_rt(self.rt(RtFn::PrintFloat), &[t, v.into()])?,
            (Type::Bool, Some(v)) => {
                let w = self
                    .b
                    .build_int_z_extend(v.into_int_value(), self.ctx.i64_type(), "b64")
                    .map_err(err)?;
                self.call_rt(self.rt(RtFn::PrintBool), &[t, w.into()])?
            }
            (ty @ (Type::Str | Type::Array(_) | Type::Struct(_)), Some(v)) => {
                let bits = self.to_bits(v, ty)?;
                self.call_rt(
                    self.rt(RtFn::PrintValue),
                    &[t, bits.into(), self.type_code(ty).into()],
                )?
            }
            _ => self.call_rt(self.rt(RtFn::PrintUnit), &[t])?,
        };
        Ok(())
    }
}

/// How a global's cell is loaded and stored (bools widen to i64 so every cell is 8 bytes).
fn global_cell_type<'ctx>(ctx: &'ctx Context, ty: Type) -> Option<BasicTypeEnum<'ctx>> {
    match ty {
        Type::Bool => Some(ctx.i64_type().into()),
        other => llvm_type(ctx, other),
    }
}

fn poison(t: BasicTypeEnum<'_>) -> BasicValueEnum<'_> {
    match t {
        BasicTypeEnum::IntType(t) => t.get_poison().into(),
        BasicTypeEnum::FloatType(t) => t.get_poison().into(),
        BasicTypeEnum::PointerType(t) => t.get_poison().into(),
        BasicTypeEnum::ArrayType(t) => t.get_poison().into(),
        BasicTypeEnum::StructType(t) => t.get_poison().into(),
        BasicTypeEnum::VectorType(t) => t.get_poison().into(),
        BasicTypeEnum::ScalableVectorType(t) => t.get_poison().into(),
    }
}
