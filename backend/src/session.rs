//! The driver: one pipeline for REPL inputs and files alike.
//!
//! source text -> (frontend) typed AST -> transaction checks -> (codegen) LLVM IR -> (objcode)
//! object -> (jit) linked code -> slots stored -> top-level code run on a task.
//!
//! A transaction (one input or one file) compiles and links everything before touching any
//! slot or global; an error anywhere unlinks what was linked and changes nothing.

use crate::codegen::{self, Resolver, Unit};
use crate::jit::Jit;
use crate::objcode::{self, Targets};
use crate::runtime::RuntimeError;
use crate::safepoint::{TaskCtx, EPOCH};
use crate::tasks::{self, Outcome, Task};
use crate::versions::{map_code, CodeInfo, FnEntry, Registry, Source, State, Version};
use crate::{gc, reclaim, slots};
use inkwell::context::Context;
use livejit_frontend::tast::{TProgram, TTopItem};
use livejit_frontend::typeck::Env;
use livejit_frontend::{compile_front, Diagnostic, FnSig, Span, Type};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// State shared by the REPL thread, task threads and the reclaimer.
pub struct Shared {
    /// The JIT; its mutex serializes every compilation and removal.
    pub jit: Mutex<Jit>,
    /// Functions and their versions.
    pub reg: Mutex<Registry>,
}

/// A global variable's cell.
#[derive(Clone, Copy, Debug)]
pub struct Global {
    /// Address of its 8-byte cell (GC root).
    pub addr: usize,
    /// Its type.
    pub ty: Type,
}

/// Something the session reports asynchronously (status lines, background task results).
pub enum Event {
    /// A status line for stderr (`freed sort v1`, `task 1 ended`, ...).
    Status(String),
    /// A runtime error of a background task.
    TaskError {
        /// The task id.
        id: u64,
        /// The error.
        error: RuntimeError,
    },
}

/// Receives [`Event`]s, from any thread.
pub type Reporter = Arc<dyn Fn(Event) + Send + Sync>;

/// Errors of one input, with the source they point into.
pub struct CompileErrors {
    /// The source.
    pub source: Arc<Source>,
    /// Every error found.
    pub diagnostics: Vec<Diagnostic>,
}

/// The result of evaluating an input or a file in the foreground.
pub enum EvalResult {
    /// Compilation failed: nothing was installed.
    Rejected(CompileErrors),
    /// Installed; the top-level code ran to the end.
    Ok,
    /// Installed; the top-level code stopped with a runtime error.
    RuntimeError(RuntimeError),
    /// Installed; the runtime crashed (a bug).
    Crashed(String),
}

/// A `:spawn`ed task, kept after it ends so that `:wait ID` and `:tasks` can still report it.
struct BackgroundTask {
    ctx: Arc<TaskCtx>,
    /// Joined (and taken) once the thread has finished.
    handle: Option<std::thread::JoinHandle<Outcome>>,
    label: String,
    started: Instant,
    /// How it ended, and after how long.
    ended: Option<(Duration, Outcome)>,
}

impl BackgroundTask {
    /// Collects the outcome if the thread has finished.
    fn reap(&mut self) {
        if self.handle.as_ref().is_some_and(|h| h.is_finished()) {
            if let Some(h) = self.handle.take() {
                let outcome = h
                    .join()
                    .unwrap_or_else(|_| Outcome::Crashed("task thread panicked".into()));
                self.ended = Some((self.started.elapsed(), outcome));
            }
        }
    }
}

/// A livejit session: the JIT, the registry, globals and tasks.
pub struct Session {
    shared: Arc<Shared>,
    targets: Targets,
    globals: BTreeMap<String, Global>,
    empty_array: usize,
    opt: u8,
    polls: bool,
    last_install_ns: i64,
    inputs: usize,
    next_task: u64,
    background: BTreeMap<u64, BackgroundTask>,
    reporter: Reporter,
    /// The foreground task's context while one runs (Ctrl-C interrupts it).
    pub foreground: Arc<Mutex<Option<Arc<TaskCtx>>>>,
}

/// What a transaction decided for one function of the program.
struct Plan {
    /// Index into `TProgram::fns`.
    index: usize,
    /// New version number, or `None` when the source is identical (no new version).
    version: Option<u32>,
    /// The slot it will live in.
    slot: usize,
}

/// A unit compiled and linked but not yet installed.
struct Linked {
    tracker: crate::jit::Tracker,
    addr: usize,
    size: usize,
    ir: String,
}

/// Globals a transaction defines or retypes, with their (new) types.
type GlobalChanges = Vec<(String, Type)>;

struct EnvSnapshot {
    fns: HashMap<String, FnSig>,
    globals: HashMap<String, Type>,
}

impl Env for EnvSnapshot {
    fn function(&self, name: &str) -> Option<FnSig> {
        self.fns.get(name).cloned()
    }
    fn global(&self, name: &str) -> Option<Type> {
        self.globals.get(name).copied()
    }
}

struct TxResolver<'a> {
    slots: HashMap<String, (usize, FnSig)>,
    globals: &'a HashMap<String, Global>,
    defines: &'a BTreeSet<String>,
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
}

/// Top-level units with more statements than this are compiled at `:opt 0` (see
/// `Session::compile_unit`).
const LONG_TOP: usize = 1_000;

/// 1-based line of a byte offset.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Session {
    /// Starts a session: the JIT, the GC and the reclaimer thread.
    pub fn new(reporter: Reporter) -> Result<Session, String> {
        // Every evaluation runs on a fresh task thread and ORC links on pool threads; glibc
        // would give each new thread its own malloc arena (up to 8 per core), so the footprint
        // would depend on how many threads happened to overlap. Two arenas keep it small and
        // steady (the 500-vs-5,000 redefinition test measures it).
        // SAFETY: mallopt only tunes the allocator and is thread-safe in glibc.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
        gc::init();
        let jit = Jit::new(&crate::runtime::symbols())?;
        let shared = Arc::new(Shared {
            jit: Mutex::new(jit),
            reg: Mutex::new(Registry::default()),
        });
        let weak = Arc::downgrade(&shared);
        let r = reporter.clone();
        std::thread::Builder::new()
            .name("livejit-reclaim".into())
            .spawn(move || reclaim::run(weak, Arc::new(move |s| r(Event::Status(s)))))
            .map_err(|e| e.to_string())?;
        // One shared empty array: what array globals hold before their declaration runs.
        let empty_array = gc::alloc_root(8) as usize;
        Ok(Session {
            shared,
            targets: Targets::host()?,
            globals: BTreeMap::new(),
            empty_array,
            opt: 2,
            polls: true,
            last_install_ns: 0,
            inputs: 0,
            next_task: 1,
            background: BTreeMap::new(),
            reporter,
            foreground: Arc::new(Mutex::new(None)),
        })
    }

    /// Sets the optimization level (0-3) for new definitions.
    pub fn set_opt(&mut self, level: u8) {
        self.opt = level.min(3);
    }

    /// Turns safepoint polls off for new definitions. Only for measuring what polls cost:
    /// without them, code cannot be interrupted, stack overflow is a crash, and replaced
    /// versions are not retired while a task runs.
    pub fn set_polls(&mut self, on: bool) {
        self.polls = on;
    }

    /// The current optimization level.
    pub fn opt(&self) -> u8 {
        self.opt
    }

    /// A name for the next REPL input (`<input:N>`).
    pub fn next_input_name(&mut self) -> String {
        self.inputs += 1;
        format!("<input:{}>", self.inputs)
    }

    fn env(&self) -> EnvSnapshot {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        EnvSnapshot {
            fns: reg
                .fns
                .iter()
                .map(|(n, f)| (n.clone(), f.current().sig.clone()))
                .collect(),
            globals: self
                .globals
                .iter()
                .map(|(n, g)| (n.clone(), g.ty))
                .collect(),
        }
    }

    /// Type-checks an expression without running it (`:type`).
    pub fn type_of(&mut self, name: &str, text: &str) -> Result<Type, CompileErrors> {
        let source = Source::new(name, text);
        let program = compile_front(text, &self.env()).map_err(|diagnostics| CompileErrors {
            source: source.clone(),
            diagnostics,
        })?;
        match program.top.items.last() {
            Some(TTopItem::Tail(e)) if program.fns.is_empty() && program.top.items.len() == 1 => {
                Ok(e.ty)
            }
            _ => Err(CompileErrors {
                source,
                diagnostics: vec![Diagnostic::plain("`:type` takes one expression")],
            }),
        }
    }

    /// Compiles and installs `text` as one transaction, then runs its top-level code in the
    /// foreground and waits for it.
    pub fn eval(&mut self, name: &str, text: &str) -> EvalResult {
        let source = Source::new(name, text);
        let entry = match self.install_on_big_stack(source) {
            Ok(e) => e,
            Err(errors) => return EvalResult::Rejected(errors),
        };
        let Some((entry, top_id)) = entry else {
            return EvalResult::Ok;
        };
        let task = match tasks::spawn(entry, false, self.retire_top_on_end(top_id)) {
            Ok(t) => t,
            Err(e) => return EvalResult::Crashed(e),
        };
        *self.foreground.lock().unwrap_or_else(|e| e.into_inner()) = Some(task.ctx.clone());
        let outcome = task.handle.join();
        *self.foreground.lock().unwrap_or_else(|e| e.into_inner()) = None;
        match outcome {
            Ok(Outcome::Done(_)) => EvalResult::Ok,
            Ok(Outcome::Failed(e)) => EvalResult::RuntimeError(e),
            Ok(Outcome::Crashed(m)) => EvalResult::Crashed(m),
            Err(_) => EvalResult::Crashed("task thread panicked".into()),
        }
    }

    /// Compiles `text` (an expression or statements) and runs it as background task; returns
    /// its id.
    pub fn spawn(&mut self, name: &str, text: &str) -> Result<Option<u64>, CompileErrors> {
        let source = Source::new(name, text);
        let Some((entry, top_id)) = self.install_on_big_stack(source.clone())? else {
            return Ok(None);
        };
        let id = self.next_task;
        self.next_task += 1;
        let retire = self.retire_top_on_end(top_id);
        let reporter = self.reporter.clone();
        let on_end = Box::new(move |outcome: &Outcome| {
            retire(outcome);
            match outcome {
                Outcome::Done(Some(v)) => reporter(Event::Status(format!("task {id} ended: {v}"))),
                Outcome::Done(None) => reporter(Event::Status(format!("task {id} ended"))),
                Outcome::Failed(e) => reporter(Event::TaskError {
                    id,
                    error: e.clone(),
                }),
                Outcome::Crashed(m) => reporter(Event::Status(format!("task {id} crashed: {m}"))),
            }
        });
        let task = tasks::spawn(entry, true, on_end).map_err(|e| CompileErrors {
            source: source.clone(),
            diagnostics: vec![Diagnostic::plain(e)],
        })?;
        (self.reporter)(Event::Status(format!("task {id} started")));
        let Task { ctx, handle } = task;
        self.background.insert(
            id,
            BackgroundTask {
                ctx,
                handle: Some(handle),
                label: text.trim().to_string(),
                started: Instant::now(),
                ended: None,
            },
        );
        Ok(Some(id))
    }

    /// A callback for the task running top-level unit `top_id`: once the task has ended, the
    /// unit is unreachable (no slot holds it) and becomes draining.
    fn retire_top_on_end(&self, top_id: u64) -> Box<dyn FnOnce(&Outcome) + Send> {
        let shared = Arc::downgrade(&self.shared);
        Box::new(move |_| {
            if let Some(shared) = shared.upgrade() {
                let mut reg = shared.reg.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(v) = reg.tops.iter_mut().find(|v| v.info.id == top_id) {
                    v.state = State::Draining;
                    v.retire_epoch = EPOCH.load(SeqCst);
                }
            }
        })
    }

    /// Runs [`Session::install`] on a thread with a large stack: code generation and LLVM
    /// recurse once per level of an expression tree, and a long operator chain (the parser
    /// allows a thousand operators in a statement) would overflow the REPL thread's stack.
    fn install_on_big_stack(
        &mut self,
        source: Arc<Source>,
    ) -> Result<Option<(usize, u64)>, CompileErrors> {
        const STACK: usize = 256 << 20;
        std::thread::scope(|scope| {
            let job = std::thread::Builder::new()
                .name("livejit-compile".into())
                .stack_size(STACK)
                .spawn_scoped(scope, || {
                    // The install allocates GC roots (global cells): only registered threads
                    // may call into the collector.
                    let _gc = gc::ThreadRegistration::register();
                    self.install(source.clone())
                });
            match job {
                Ok(handle) => handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                Err(e) => Err(CompileErrors {
                    source: source.clone(),
                    diagnostics: vec![Diagnostic::plain(format!(
                        "cannot start the compiler thread: {e}"
                    ))],
                }),
            }
        })
    }

    /// The transaction: check, compile and link everything, then install. Returns the entry
    /// address and id of the top-level unit to run, if the program has top-level code.
    fn install(&mut self, source: Arc<Source>) -> Result<Option<(usize, u64)>, CompileErrors> {
        let fail = |diagnostics: Vec<Diagnostic>| CompileErrors {
            source: source.clone(),
            diagnostics,
        };
        let program = compile_front(&source.text, &self.env()).map_err(fail)?;
        let mut reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        let (plans, global_changes) = self.plan(&reg, &program, &source).map_err(fail)?;

        // Globals: cells for new globals and for globals whose type changes (fresh cells, so
        // old code still running keeps its own correctly typed cell).
        let mut globals: HashMap<String, Global> =
            self.globals.iter().map(|(n, g)| (n.clone(), *g)).collect();
        let mut defines = BTreeSet::new();
        for (name, ty) in &global_changes {
            let addr = gc::alloc_root(8) as usize;
            if matches!(ty, Type::Array(_)) {
                // SAFETY: `addr` is a fresh 8-byte, 8-aligned cell nobody else sees yet.
                unsafe { (addr as *mut usize).write(self.empty_array) };
            }
            globals.insert(name.clone(), Global { addr, ty: *ty });
            defines.insert(name.clone());
        }
        let mut slot_map: HashMap<String, (usize, FnSig)> = reg
            .fns
            .iter()
            .map(|(n, f)| (n.clone(), (f.slot, f.current().sig.clone())))
            .collect();
        for p in &plans {
            let f = &program.fns[p.index];
            slot_map.insert(f.name.clone(), (p.slot, f.sig.clone()));
        }
        let resolver = TxResolver {
            slots: slot_map,
            globals: &globals,
            defines: &defines,
        };

        // Compile and link every unit; on any failure unlink what was linked.
        let mut linked: Vec<(usize, Linked)> = Vec::new();
        let mut top: Option<Linked> = None;
        let top_symbol = format!("__top${}", reg.next_id());
        let result = (|| -> Result<(), String> {
            for p in &plans {
                let Some(n) = p.version else { continue };
                let f = &program.fns[p.index];
                let l = self.compile_unit(&format!("{}$v{n}", f.name), &Unit::Fn(f), &resolver)?;
                linked.push((p.index, l));
            }
            if !program.top.items.is_empty() {
                top = Some(self.compile_unit(&top_symbol, &Unit::Top(&program.top), &resolver)?);
            }
            Ok(())
        })();
        if let Err(e) = result {
            let mut jit = self.shared.jit.lock().unwrap_or_else(|e| e.into_inner());
            for (_, l) in linked {
                let _ = jit.remove(l.tracker);
            }
            if let Some(l) = top {
                let _ = jit.remove(l.tracker);
            }
            return Err(fail(vec![Diagnostic::plain(format!(
                "internal compiler error: {e}"
            ))]));
        }

        // Install: registry first (so the code map knows every new address), then one store per
        // slot, then a new epoch so tasks publish what they are running.
        let mut installed = Vec::new();
        let mut retired = Vec::new();
        for (index, l) in linked {
            let f = &program.fns[index];
            let p = plans.iter().find(|p| p.index == index).expect("planned");
            let n = p.version.expect("compiled units have a version");
            let info = Arc::new(CodeInfo {
                id: reg.next_id(),
                name: f.name.clone(),
                n,
                source: source.clone(),
                start: l.addr,
                size: l.size,
                span: f.span,
            });
            map_code(info.clone());
            let version = Version {
                info,
                state: State::Live,
                sig: f.sig.clone(),
                text: source.text[f.span.start..f.span.end].to_string(),
                origin: origin(&source, f.span),
                tracker: Some(l.tracker),
                slot: p.slot,
                calls_slots: f.calls.iter().map(|c| resolver.slot(c).0).collect(),
                calls: f.calls.clone(),
                globals: f.globals.clone(),
                retire_epoch: 0,
                freed_ns: None,
                ir: l.ir,
                opt: self.opt,
            };
            let entry = reg.fns.entry(f.name.clone()).or_insert_with(|| FnEntry {
                slot: p.slot,
                versions: Vec::new(),
            });
            if let Some(old) = entry.versions.last_mut() {
                old.state = State::Draining;
                retired.push((f.name.clone(), old.info.n));
            }
            entry.slot = p.slot;
            entry.versions.push(version);
            installed.push((f.name.clone(), n, p.slot, l.addr));
        }
        self.last_install_ns = crate::runtime::monotonic_ns();
        for (_, _, slot, addr) in &installed {
            slots::store(*slot, *addr);
        }
        for (name, g) in &globals {
            self.globals.insert(name.clone(), *g);
        }
        let epoch = tasks::request_scan();
        for (name, _) in &retired {
            if let Some(f) = reg.fns.get_mut(name) {
                for v in f.versions.iter_mut().filter(|v| v.state == State::Draining) {
                    if v.retire_epoch == 0 {
                        v.retire_epoch = epoch;
                    }
                }
            }
        }
        let top = top.map(|l| {
            let id = reg.next_id();
            let info = Arc::new(CodeInfo {
                id,
                name: source.name.clone(),
                n: 0,
                source: source.clone(),
                start: l.addr,
                size: l.size,
                span: Span::new(0, source.text.len()),
            });
            map_code(info.clone());
            reg.tops.push(Version {
                info,
                state: State::Live,
                sig: FnSig {
                    params: vec![],
                    ret: Type::Unit,
                },
                text: String::new(),
                origin: source.name.clone(),
                tracker: Some(l.tracker),
                slot: 0,
                calls_slots: program
                    .top
                    .calls
                    .iter()
                    .map(|c| resolver.slot(c).0)
                    .collect(),
                calls: program.top.calls.clone(),
                globals: program.top.globals.clone(),
                retire_epoch: 0,
                freed_ns: None,
                ir: l.ir,
                opt: self.opt,
            });
            (l.addr, id)
        });
        // Reported before the registry lock is released: the reclaimer thread needs that lock
        // to free a replaced version, so its `freed f v1` can never precede `redefined f (v2)`.
        for (name, n, _, _) in &installed {
            let msg = if *n == 1 {
                format!("defined {name}")
            } else {
                format!("redefined {name} (v{n})")
            };
            (self.reporter)(Event::Status(msg));
        }
        drop(reg);
        // A replaced version that no task can be in is freed at once, not at the reclaimer's
        // next tick (that thread handles the versions that must wait for frames).
        for line in reclaim::pass(&self.shared).freed {
            (self.reporter)(Event::Status(line));
        }
        Ok(top)
    }

    /// Decides versions and slots for each function, and checks signature and global type
    /// changes against the rest of the session.
    fn plan(
        &self,
        reg: &Registry,
        program: &TProgram,
        source: &Source,
    ) -> Result<(Vec<Plan>, GlobalChanges), Vec<Diagnostic>> {
        let in_tx: BTreeSet<&str> = program.fns.iter().map(|f| f.name.as_str()).collect();
        let mut errors = Vec::new();
        // Signature changes: every caller must be in this transaction.
        let mut sig_changed: BTreeSet<&str> = BTreeSet::new();
        for f in &program.fns {
            let Some(old) = reg.fns.get(&f.name) else {
                continue;
            };
            if old.current().sig == f.sig {
                continue;
            }
            sig_changed.insert(&f.name);
            let callers = callers_outside(reg, |v| v.calls.contains(&f.name), &in_tx);
            if !callers.is_empty() {
                errors.push(
                    Diagnostic::error(
                        format!(
                            "cannot change the signature of `{}` from `{}` to `{}`: its callers {} are not redefined with it",
                            f.name, old.current().sig, f.sig, quote_list(&callers)
                        ),
                        f.name_span,
                        "signature changed here",
                    )
                    .with_note("redefine the callers in the same input or file"),
                );
            }
        }
        // Global declarations whose type is new or changed.
        let mut global_changes: Vec<(String, Type)> = Vec::new();
        for item in &program.top.items {
            if let TTopItem::Global {
                name,
                ty,
                name_span,
                ..
            } = item
            {
                if global_changes.iter().any(|(n, _)| n == name) {
                    continue;
                }
                match self.globals.get(name) {
                    Some(g) if g.ty == *ty => {}
                    Some(g) => {
                        let users = callers_outside(reg, |v| v.globals.contains(name), &in_tx);
                        if users.is_empty() {
                            global_changes.push((name.clone(), *ty));
                        } else {
                            errors.push(Diagnostic::error(
                                format!(
                                    "cannot change the type of global `{name}` from `{}` to `{ty}`: it is used by {}",
                                    g.ty,
                                    quote_list(&users)
                                ),
                                *name_span,
                                "type changed here",
                            ));
                        }
                    }
                    None => global_changes.push((name.clone(), *ty)),
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let changed_globals: BTreeSet<&str> = global_changes
            .iter()
            .filter(|(n, _)| self.globals.contains_key(n))
            .map(|(n, _)| n.as_str())
            .collect();
        let mut plans = Vec::new();
        for (index, f) in program.fns.iter().enumerate() {
            let text = &source.text[f.span.start..f.span.end];
            let existing = reg.fns.get(&f.name);
            let same_text = existing.is_some_and(|e| e.current().text == text);
            // Code must be regenerated when a callee moves to a new slot or a global it uses
            // gets a new cell, even if its own text is identical.
            let deps_moved = f.calls.iter().any(|c| sig_changed.contains(c.as_str()))
                || f.globals
                    .iter()
                    .any(|g| changed_globals.contains(g.as_str()));
            let new_slot = existing.is_none() || sig_changed.contains(f.name.as_str());
            let slot = if new_slot {
                slots::alloc().map_err(|e| vec![Diagnostic::error(e, f.name_span, "")])?
            } else {
                existing.map(|e| e.slot).unwrap_or_default()
            };
            let version = if same_text && !deps_moved && !new_slot {
                None
            } else {
                Some(existing.map_or(1, |e| e.versions.len() as u32 + 1))
            };
            plans.push(Plan {
                index,
                version,
                slot,
            });
        }
        Ok((plans, global_changes))
    }

    /// Generates, optimizes, emits and links one unit.
    fn compile_unit(
        &self,
        symbol: &str,
        unit: &Unit<'_>,
        resolver: &dyn Resolver,
    ) -> Result<Linked, String> {
        let ctx = Context::create();
        let g = codegen::generate(&ctx, symbol, unit, resolver, self.polls)?;
        // Top-level code runs once, and LLVM's O2 costs ~60 us per statement: a generated file
        // of 100,000 top-level statements spent ~9 s optimizing code that runs for
        // microseconds. Long top-level code is compiled without optimization (its loops too;
        // functions are unaffected). Top-level IR is not kept either: only `:ir` and `:asm` of
        // functions read it.
        let (opt, keep_ir) = match unit {
            Unit::Top(t) if t.items.len() > LONG_TOP => (0, false),
            Unit::Top(_) => (self.opt, false),
            Unit::Fn(_) => (self.opt, true),
        };
        self.targets.prepare(&g.module);
        self.targets.optimize(&g.module, opt)?;
        let ir = if keep_ir {
            g.module.print_to_string().to_string()
        } else {
            String::new()
        };
        let object = self.targets.emit_object(&g.module, opt)?;
        let size = objcode::symbol_size(&object, symbol)?;
        let mut jit = self.shared.jit.lock().unwrap_or_else(|e| e.into_inner());
        let (tracker, addrs) = jit.add_object(&object, symbol, &[symbol])?;
        Ok(Linked {
            tracker,
            addr: addrs[0],
            size,
            ir,
        })
    }

    /// Waits for background task `id` (or all of them), however long that takes. The REPL
    /// polls [`Session::task_outcome`] instead, so that Ctrl-C can stop the wait.
    pub fn wait(&mut self, id: Option<u64>) -> Result<(), String> {
        let ids: Vec<u64> = match id {
            Some(id) if self.background.contains_key(&id) => vec![id],
            Some(id) => return Err(format!("no task {id}")),
            None => self.background.keys().copied().collect(),
        };
        for id in ids {
            while self.task_outcome(id)?.is_none() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Ok(())
    }

    /// How background task `id` ended, or `None` while it runs. Ended tasks are kept.
    pub fn task_outcome(&mut self, id: u64) -> Result<Option<Outcome>, String> {
        let t = self
            .background
            .get_mut(&id)
            .ok_or_else(|| format!("no task {id}"))?;
        t.reap();
        Ok(t.ended.as_ref().map(|(_, o)| o.clone()))
    }

    /// Ids of every background task, running or ended, in spawn order.
    pub fn task_ids(&self) -> Vec<u64> {
        self.background.keys().copied().collect()
    }

    /// Interrupts background task `id`.
    pub fn kill(&mut self, id: u64) -> Result<(), String> {
        match self.task_outcome(id)? {
            None => {
                if let Some(t) = self.background.get(&id) {
                    t.ctx.interrupt();
                }
                Ok(())
            }
            Some(_) => Err(format!("task {id} has already ended")),
        }
    }

    /// `:tasks`: one line per background task, running or ended: id, state (`running`,
    /// `ended`, `failed`, `killed`, `crashed`), run time, expression.
    pub fn tasks_listing(&mut self) -> String {
        let mut out = String::new();
        for (id, t) in &mut self.background {
            t.reap();
            let (state, time) = match &t.ended {
                None => ("running", t.started.elapsed()),
                Some((d, Outcome::Done(_))) => ("ended", *d),
                Some((d, Outcome::Failed(e)))
                    if e.kind == crate::runtime::ErrorKind::Interrupted =>
                {
                    ("killed", *d)
                }
                Some((d, Outcome::Failed(_))) => ("failed", *d),
                Some((d, Outcome::Crashed(_))) => ("crashed", *d),
            };
            out.push_str(&format!(
                "{id}  {state}  {:.1}s  {}\n",
                time.as_secs_f64(),
                t.label
            ));
        }
        if out.is_empty() {
            out.push_str("no tasks\n");
        }
        out
    }

    /// Number of background tasks still running.
    pub fn running_tasks(&mut self) -> usize {
        self.background
            .values_mut()
            .map(|t| {
                t.reap();
                usize::from(t.ended.is_none())
            })
            .sum()
    }

    /// Interrupts every task (at exit).
    pub fn interrupt_all(&mut self) {
        for t in tasks::running() {
            t.interrupt();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while !tasks::running().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `:list`: functions with signature and current version, globals with type and value.
    pub fn listing(&self) -> String {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        for (name, f) in &reg.fns {
            let v = f.current();
            out.push_str(&format!("fn {name}{}  v{}\n", sig_text(v), v.info.n));
        }
        drop(reg);
        for (name, g) in &self.globals {
            out.push_str(&format!(
                "global {name}: {} = {}\n",
                g.ty,
                self.global_value(g)
            ));
        }
        out
    }

    fn global_value(&self, g: &Global) -> String {
        // SAFETY: `g.addr` is a live, 8-aligned global cell; tasks write it atomically, so an
        // atomic read sees a whole value.
        let bits = unsafe { (*(g.addr as *const std::sync::atomic::AtomicU64)).load(SeqCst) };
        match g.ty {
            Type::Int => (bits as i64).to_string(),
            Type::Float => format!("{:?}", f64::from_bits(bits)),
            Type::Bool => (bits != 0).to_string(),
            // SAFETY: an array global's cell always holds a live array (the shared empty array
            // until assigned); the cell is a GC root and this thread is registered with the GC
            // (the main thread is), so the array cannot be collected while it is formatted.
            Type::Array(e) => unsafe { crate::runtime::format_array(bits as *const u8, e as u32) },
            Type::Unit | Type::Never => "()".into(),
        }
    }

    /// Monotonic time (as `time_ns()` reads it) just before the last transaction's slot
    /// stores: the start of swap latency.
    pub fn last_install_ns(&self) -> i64 {
        self.last_install_ns
    }

    /// When version `n` of `name` was freed (monotonic ns), if it was.
    pub fn freed_ns(&self, name: &str, n: u32) -> Option<i64> {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        reg.fns
            .get(name)?
            .versions
            .iter()
            .find(|v| v.info.n == n)?
            .freed_ns
    }

    /// The current value of an int global (for tools and benchmarks).
    pub fn global_int(&self, name: &str) -> Option<i64> {
        let g = self.globals.get(name)?;
        (g.ty == Type::Int).then(|| {
            // SAFETY: `g.addr` is a live, 8-aligned int cell written atomically by tasks.
            unsafe { (*(g.addr as *const std::sync::atomic::AtomicI64)).load(SeqCst) }
        })
    }

    /// `:versions NAME`.
    pub fn versions_listing(&self, name: &str) -> Result<String, String> {
        // Frame counts come from the tasks' last scans: ask for a fresh one and give running
        // tasks a moment to publish it (a task busy in a long builtin keeps its older count).
        let epoch = tasks::request_scan();
        let deadline = Instant::now() + Duration::from_millis(50);
        while Instant::now() < deadline
            && !tasks::running().iter().all(|t| t.published_since(epoch))
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        let f = reg.function(name)?;
        let mut frames: HashMap<u64, u32> = HashMap::new();
        for t in tasks::running() {
            let p = t.published.lock().unwrap_or_else(|e| e.into_inner());
            for (v, n) in p.versions.iter().zip(&p.frames) {
                *frames.entry(*v).or_default() += n;
            }
        }
        let mut out = String::new();
        for v in &f.versions {
            let size = if v.state == State::Freed {
                "-".to_string()
            } else {
                format!("{} B", v.info.size)
            };
            out.push_str(&format!(
                "v{:<3} {:<8}  frames {:<3}  code {:<8}  {}\n",
                v.info.n,
                v.state.to_string(),
                frames.get(&v.info.id).copied().unwrap_or(0),
                size,
                v.origin
            ));
        }
        Ok(out)
    }

    /// `:source NAME [N]`.
    pub fn source_of(&self, name: &str, n: Option<u32>) -> Result<String, String> {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        let f = reg.function(name)?;
        let v = match n {
            None => f.current(),
            Some(n) => f
                .versions
                .iter()
                .find(|v| v.info.n == n)
                .ok_or_else(|| format!("`{name}` has no version v{n}"))?,
        };
        Ok(v.text.clone())
    }

    /// The version `:rollback NAME` restores, with its text: the latest version before the
    /// one now live whose text differs from it. A version made by a rollback (source named
    /// `<rollback of vK>`) counts as vK, so repeated rollbacks walk further back.
    pub fn previous_version(&self, name: &str) -> Result<(u32, String), String> {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        let f = reg.function(name)?;
        let cur = f.current();
        let copied = |v: &Version| -> Option<u32> {
            v.origin
                .strip_prefix("<rollback of v")?
                .strip_suffix('>')?
                .parse()
                .ok()
        };
        let counts_as = copied(cur).unwrap_or(cur.info.n);
        f.versions
            .iter()
            .rev()
            .filter(|v| v.info.n < counts_as && copied(v).is_none() && v.text != cur.text)
            .map(|v| (v.info.n, v.text.clone()))
            .next()
            .ok_or_else(|| format!("`{name}` has no earlier version"))
    }

    /// `:ir NAME`.
    pub fn ir_of(&self, name: &str) -> Result<String, String> {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        let f = reg.function(name)?;
        Ok(f.current().ir.clone())
    }

    /// `:asm NAME`: re-emits the current version's optimized IR as assembly.
    pub fn asm_of(&self, name: &str) -> Result<String, String> {
        let (ir, opt) = {
            let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
            let f = reg.function(name)?;
            (f.current().ir.clone(), f.current().opt)
        };
        let ctx = Context::create();
        let buf = inkwell::memory_buffer::MemoryBuffer::create_from_memory_range_copy(
            ir.as_bytes(),
            name,
        );
        let module = ctx.create_module_from_ir(buf).map_err(|e| e.to_string())?;
        self.targets.emit_asm(&module, opt)
    }

    /// Waits until no version is draining, or `timeout` passes; true if none is left.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let draining = {
                let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
                let any = reg.unfreed().any(|v| v.state == State::Draining);
                any
            };
            if !draining || Instant::now() >= deadline {
                return !draining;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn sig_text(v: &Version) -> String {
    // The item text starts with `fn name(`; show the declared parameter list and return type
    // exactly as written up to the body.
    let head = v.text.split('{').next().unwrap_or("").trim();
    let after_name = head.find('(').map(|i| &head[i..]).unwrap_or("()");
    after_name.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn origin(source: &Source, span: Span) -> String {
    if source.name.starts_with('<') {
        source.name.clone()
    } else {
        format!("{}:{}", source.name, line_of(&source.text, span.start))
    }
}

fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Live functions outside the transaction whose current version satisfies `uses`.
fn callers_outside(
    reg: &Registry,
    uses: impl Fn(&Version) -> bool,
    in_tx: &BTreeSet<&str>,
) -> Vec<String> {
    reg.fns
        .iter()
        .filter(|(name, f)| !in_tx.contains(name.as_str()) && uses(f.current()))
        .map(|(name, _)| name.clone())
        .collect()
}

impl Drop for Session {
    fn drop(&mut self) {
        self.interrupt_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(Arc::new(|_: Event| {})).expect("session starts")
    }

    fn eval_ok(s: &mut Session, text: &str) {
        let name = s.next_input_name();
        assert!(matches!(s.eval(&name, text), EvalResult::Ok), "{text}");
    }

    fn states(s: &Session, name: &str) -> Vec<State> {
        let reg = s.shared.reg.lock().unwrap();
        reg.fns[name].versions.iter().map(|v| v.state).collect()
    }

    #[test]
    fn redefinition_makes_versions_and_frees_the_old_one() {
        let mut s = session();
        eval_ok(&mut s, "global r: int = 0;\nfn f() -> int { 1 }\nr = f();");
        assert_eq!(s.global_int("r"), Some(1));
        eval_ok(&mut s, "fn f() -> int { 2 }\nr = f();");
        assert_eq!(s.global_int("r"), Some(2));
        // No task of this session can be in v1 any more. (The install frees it at once when no
        // task runs; other tests' sessions in this process may have tasks, hence the wait.)
        assert!(s.drain(Duration::from_secs(5)));
        assert_eq!(states(&s, "f"), vec![State::Freed, State::Live]);
        // Identical source: no new version.
        eval_ok(&mut s, "fn f() -> int { 2 }");
        assert_eq!(states(&s, "f"), vec![State::Freed, State::Live]);
        assert!(s.freed_ns("f", 1).is_some());
    }

    #[test]
    fn a_failing_transaction_installs_nothing() {
        let mut s = session();
        eval_ok(&mut s, "fn f() -> int { 1 }");
        let name = s.next_input_name();
        let r = s.eval(&name, "fn f() -> int { 2 }\nfn g() -> int { true }");
        assert!(matches!(r, EvalResult::Rejected(_)));
        assert_eq!(states(&s, "f"), vec![State::Live]);
        assert!(s.shared.reg.lock().unwrap().fns.get("g").is_none());
    }

    #[test]
    fn signature_change_needs_its_callers() {
        let mut s = session();
        eval_ok(&mut s, "fn f(x: int) -> int { x }\nfn g() -> int { f(1) }");
        let name = s.next_input_name();
        match s.eval(&name, "fn f(x: int, y: int) -> int { x + y }") {
            EvalResult::Rejected(e) => {
                assert!(
                    e.diagnostics[0].message.contains("`g`"),
                    "{}",
                    e.diagnostics[0].message
                );
            }
            _ => panic!("signature change without its caller was accepted"),
        }
        eval_ok(
            &mut s,
            "fn f(x: int, y: int) -> int { x + y }\nfn g() -> int { f(1, 2) }\nglobal out: int = 0;\nout = g();",
        );
        assert_eq!(s.global_int("out"), Some(3));
    }

    #[test]
    fn runtime_errors_carry_location_and_chain() {
        let mut s = session();
        eval_ok(
            &mut s,
            "fn inner(d: int) -> int { 10 / d }\nfn outer() -> int { inner(0) }",
        );
        let name = s.next_input_name();
        match s.eval(&name, "outer();") {
            EvalResult::RuntimeError(e) => {
                assert_eq!(e.message, "division by zero");
                assert!(
                    e.chain.starts_with("in inner (v1) called from outer (v1)"),
                    "{}",
                    e.chain
                );
            }
            _ => panic!("expected a runtime error"),
        }
        // The session survives.
        eval_ok(&mut s, "global z: int = 0;\nz = 10 / 5;");
        assert_eq!(s.global_int("z"), Some(2));
    }
}
