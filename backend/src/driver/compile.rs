//! Stage 2 of a transaction: allocate what the plan asked for, generate, optimize and link
//! every unit. Takes only the JIT lock (while linking), never the registry lock.
//!
//! The result, a [`LinkedSet`], owns everything the stage made: linked code, fresh slots and
//! fresh global cells. Dropping it without [`LinkedSet::into_parts`] (an error in a later unit,
//! or a rejected commit) unlinks the code and gives the slots and cells back, so a failed
//! transaction leaves nothing behind.

use super::plan::{Global, Plan, SlotPlan, Snapshot};
use crate::codegen::{self, Resolver, Unit};
use crate::inline::{self, InlineBody};
use crate::jit::Jit;
use crate::objcode::{self, Targets};
use crate::versions::Code;
use crate::{gc, slots};
use inkwell::context::Context;
use livejit_frontend::tast::TProgram;
use livejit_frontend::{FnSig, Type};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Top-level units with more statements than this are compiled at `:opt 0` (see
/// [`compile_unit`]).
const LONG_TOP: usize = 1_000;

/// Units whose loops nest deeper than this are compiled at `:opt 0`: LLVM's loop passes are
/// superlinear in nesting depth (measured at O2: 64 nested `while`s 0.6 s, 128 nested 2.3 s,
/// 990 nested over 300 s; at O0, 990 nested take 1.3 s). Real code nests a handful deep.
const DEEP_LOOPS: usize = 32;

/// How to compile.
pub(crate) struct Options<'a> {
    pub targets: &'a Targets,
    pub jit: &'a Arc<Mutex<Jit>>,
    /// Optimization level 0-3.
    pub opt: u8,
    /// Emit safepoint polls.
    pub polls: bool,
    /// What a fresh array global holds before its declaration runs.
    pub empty_array: usize,
}

/// One linked unit.
pub(crate) struct LinkedUnit {
    pub code: Code,
    /// Optimized IR text (for `:ir`).
    pub ir: String,
}

/// Everything a transaction compiled and allocated, not yet installed.
pub(crate) struct LinkedSet {
    /// Per function of the program with a new version: (index into `TProgram::fns`, unit).
    pub fns: Vec<(usize, LinkedUnit)>,
    /// The top-level code, if the program has any, with its id.
    pub top: Option<(u64, LinkedUnit)>,
    /// Slot of every function of the program (by index), existing or fresh.
    pub slots: Vec<usize>,
    /// The session's globals as the transaction's code sees them (fresh cells included).
    pub globals: HashMap<String, Global>,
    /// Slot addresses per function name, as the code was compiled against them.
    pub slot_map: HashMap<String, usize>,
    /// The new versions that calls may inline (their identities are set at commit).
    pub inline: HashMap<String, Arc<InlineBody>>,
    fresh_slots: Vec<usize>,
    fresh_cells: Vec<usize>,
}

impl LinkedSet {
    /// Hands the fresh slots and cells over to the registry: from here on they belong to the
    /// session and are never given back.
    pub fn keep_allocations(&mut self) {
        self.fresh_slots.clear();
        self.fresh_cells.clear();
    }
}

impl Drop for LinkedSet {
    fn drop(&mut self) {
        // Code first (dropping `Code` unlinks it): then nothing refers to the slots and cells.
        self.fns.clear();
        self.top = None;
        for slot in self.fresh_slots.drain(..) {
            // SAFETY: the slot was allocated by this transaction, which was not committed: it
            // was never stored into, and the code compiled against it was just unlinked.
            unsafe { slots::release(slot) };
        }
        for cell in self.fresh_cells.drain(..) {
            // SAFETY: the cell was allocated by this transaction, which was not committed: no
            // global of the session names it and the code that referred to it was just
            // unlinked.
            unsafe { gc::free_root(cell as *mut u8) };
        }
    }
}

struct TxResolver<'a> {
    slots: HashMap<String, (usize, FnSig)>,
    globals: &'a HashMap<String, Global>,
    defines: &'a BTreeSet<String>,
    /// What calls may inline: the snapshot's live versions, with the transaction's new
    /// versions in place of the ones they replace.
    inline: BTreeMap<String, Arc<InlineBody>>,
}

impl Resolver for TxResolver<'_> {
    fn slot(&self, name: &str) -> (usize, FnSig) {
        self.slots
            .get(name)
            .cloned()
            .expect("callee resolved by the type checker")
    }
    fn global(&self, name: &str) -> (usize, Type) {
        let g = self
            .globals
            .get(name)
            .expect("global resolved by the type checker");
        (g.addr, g.ty)
    }
    fn global_decl_defines(&self, name: &str) -> bool {
        self.defines.contains(name)
    }
    fn inline(&self, name: &str) -> Option<Arc<InlineBody>> {
        self.inline.get(name).cloned()
    }
}

/// Allocates the plan's slots and cells and compiles and links every unit that has a new
/// version, and the top-level code. `top_symbol` names the top-level unit.
pub(crate) fn compile(
    opts: &Options<'_>,
    snap: &Snapshot,
    program: &TProgram,
    plan: &Plan,
) -> Result<LinkedSet, String> {
    let mut set = LinkedSet {
        fns: Vec::new(),
        top: None,
        slots: Vec::new(),
        globals: snap.globals.iter().map(|(n, g)| (n.clone(), *g)).collect(),
        slot_map: HashMap::new(),
        inline: HashMap::new(),
        fresh_slots: Vec::new(),
        fresh_cells: Vec::new(),
    };
    // Globals: cells for new globals and for globals whose type changes (fresh cells, so old
    // code still running keeps its own correctly typed cell).
    let mut defines = BTreeSet::new();
    for (name, ty) in &plan.new_globals {
        let addr = gc::alloc_root(8) as usize;
        set.fresh_cells.push(addr);
        if matches!(ty, Type::Array(_)) {
            // SAFETY: `addr` is a fresh 8-byte, 8-aligned cell nobody else sees yet.
            unsafe { (addr as *mut usize).write(opts.empty_array) };
        } else if ty.is_pointer() {
            // A str or struct global holds its zero value until its declaration runs.
            // SAFETY: as above.
            unsafe { (addr as *mut u64).write(crate::values::zero_value(*ty)) };
        }
        set.globals.insert(name.clone(), Global { addr, ty: *ty });
        defines.insert(name.clone());
    }
    let mut slot_sigs: HashMap<String, (usize, FnSig)> = snap
        .fns
        .iter()
        .map(|(n, f)| (n.clone(), (f.slot, f.sig.clone())))
        .collect();
    for p in &plan.fns {
        let f = &program.fns[p.index];
        let slot = match p.slot {
            SlotPlan::Existing(s) => s,
            SlotPlan::New => {
                let s = slots::alloc()?;
                set.fresh_slots.push(s);
                s
            }
        };
        set.slots.push(slot);
        slot_sigs.insert(f.name.clone(), (slot, f.sig.clone()));
    }
    set.slot_map = slot_sigs
        .iter()
        .map(|(n, (s, _))| (n.clone(), *s))
        .collect();
    let mut resolver = TxResolver {
        slots: slot_sigs,
        globals: &set.globals,
        defines: &defines,
        inline: snap.inline.clone(),
    };
    // The transaction's new versions replace the snapshot's for inlining (a function whose
    // new version is not eligible is not inlined at all: its old body would never match).
    for (p, slot) in plan.fns.iter().zip(&set.slots) {
        let Some(n) = p.version else { continue };
        let f = &program.fns[p.index];
        resolver.inline.remove(&f.name);
        if inline::eligible(f) {
            let body = Arc::new(InlineBody::new(f, n, *slot, &resolver));
            resolver.inline.insert(f.name.clone(), body);
        }
    }
    let mut fns = Vec::new();
    for p in &plan.fns {
        let Some(n) = p.version else { continue };
        let f = &program.fns[p.index];
        let unit = compile_unit(opts, &format!("{}$v{n}", f.name), &Unit::Fn(f), &resolver)?;
        fns.push((p.index, unit));
    }
    let top = if program.top.items.is_empty() {
        None
    } else {
        let id = crate::versions::next_id();
        let unit = compile_unit(
            opts,
            &format!("__top${id}"),
            &Unit::Top(&program.top),
            &resolver,
        )?;
        Some((id, unit))
    };
    set.fns = fns;
    set.top = top;
    set.inline = plan
        .fns
        .iter()
        .filter(|p| p.version.is_some())
        .filter_map(|p| {
            let name = &program.fns[p.index].name;
            Some((name.clone(), resolver.inline.get(name)?.clone()))
        })
        .collect();
    Ok(set)
}

/// Generates, optimizes, emits and links one unit.
fn compile_unit(
    opts: &Options<'_>,
    symbol: &str,
    unit: &Unit<'_>,
    resolver: &dyn Resolver,
) -> Result<LinkedUnit, String> {
    let ctx = Context::create();
    let g = codegen::generate(&ctx, symbol, unit, resolver, opts.polls)?;
    // Top-level code runs once, and LLVM's O2 costs ~60 us per statement: a generated file of
    // 100,000 top-level statements spent ~9 s optimizing code that runs for microseconds. Long
    // top-level code is compiled without optimization (its loops too; functions are
    // unaffected). Top-level IR is not kept either: only `:ir` and `:asm` of functions read it.
    let (opt, keep_ir) = match unit {
        Unit::Top(t) if t.items.len() > LONG_TOP => (0, false),
        Unit::Top(_) => (opts.opt, false),
        Unit::Fn(_) => (opts.opt, true),
    };
    let opt = if g.loop_depth > DEEP_LOOPS { 0 } else { opt };
    opts.targets.prepare(&g.module);
    if opt < 2 && !g.sites.is_empty() {
        // Levels 0 and 1 have no inliner: the guarded copies are inlined here.
        opts.targets.inline_always(&g.module)?;
    }
    opts.targets.optimize(&g.module, opt)?;
    let ir = if keep_ir {
        g.module.print_to_string().to_string()
    } else {
        String::new()
    };
    let object = opts.targets.emit_object(&g.module, opt)?;
    let size = objcode::symbol_size(&object, symbol)?;
    let mut jit = opts.jit.lock().unwrap_or_else(|e| e.into_inner());
    let (tracker, addrs) = jit.add_object(&object, symbol, &[symbol])?;
    drop(jit);
    let mut code = Code::new(opts.jit.clone(), tracker, addrs[0], size);
    code.keep_sites(g.sites);
    Ok(LinkedUnit { code, ir })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::plan::plan;
    use livejit_frontend::compile_front;

    #[test]
    fn an_uncommitted_set_unlinks_its_code_and_returns_its_slots() {
        crate::gc::init();
        let jit = Arc::new(Mutex::new(Jit::new(&crate::abi::symbols()).expect("jit")));
        let targets = Targets::host().expect("targets");
        let empty = crate::gc::alloc_root(8) as usize;
        let opts = Options {
            targets: &targets,
            jit: &jit,
            opt: 0,
            polls: true,
            empty_array: empty,
        };
        let snap = Snapshot::default();
        let text = "global g: int = 1;\nfn uncommitted_f() -> int { g }\ng = uncommitted_f();";
        let program = compile_front(text, &snap).expect("checks");
        let p = plan(&snap, &program, text).expect("plans");
        let set = compile(&opts, &snap, &program, &p).expect("compiles");
        assert_eq!(set.fns.len(), 1);
        assert!(set.top.is_some());
        assert_eq!(set.fresh_slots.len(), 1);
        assert_eq!(set.fresh_cells.len(), 1);
        let sym = "uncommitted_f$v1";
        assert!(jit.lock().unwrap().lookup(sym).is_ok());
        drop(set);
        assert!(
            jit.lock().unwrap().lookup(sym).is_err(),
            "dropping the set unlinks its code"
        );
    }
}
