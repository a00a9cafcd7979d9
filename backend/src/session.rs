//! The driver: one pipeline for REPL inputs and files alike.
//!
//! source text -> (frontend) typed AST -> transaction checks -> (codegen) LLVM IR -> (objcode)
//! object -> (jit) linked code -> slots stored -> top-level code run on a task.
//!
//! A transaction (one input or one file) compiles and links everything before touching any
//! slot or global; an error anywhere unlinks what was linked and changes nothing.

use crate::driver::plan::{self, Global};
use crate::driver::{commit, compile};
use crate::jit::Jit;
use crate::objcode::Targets;
use crate::runtime::{ErrorKind, RuntimeError};
use crate::safepoint::{TaskCtx, EPOCH};
use crate::tasks::{self, Outcome, Task};
use crate::tier::{TierThread, TierUp, Tiering};
use crate::versions::{Registry, Source, State, Tier, Version};
use crate::{gc, reclaim};
use inkwell::context::Context;
use livejit_frontend::tast::TTopItem;
use livejit_frontend::{compile_front, Diagnostic, Span, Type};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// State shared by the REPL thread, task threads and the reclaimer.
pub(crate) struct Shared {
    /// The JIT; its mutex serializes every compilation and removal.
    pub(crate) jit: Arc<Mutex<Jit>>,
    /// Functions and their versions, and the globals.
    pub(crate) reg: Mutex<Registry>,
    /// Held by a transaction from its registry snapshot to its commit (not while its top-level
    /// code runs), so two inputs never commit against stale state.
    tx: Mutex<()>,
    /// The next task id, shared by `:spawn`ed tasks and service requests (`:kill ID` takes
    /// either).
    next_task: std::sync::atomic::AtomicU64,
    /// Service requests being handled now, by task id (`service.rs`).
    requests: Mutex<BTreeMap<u64, crate::service::InFlight>>,
    /// Inputs named so far (`<input:N>`), counted across every handle of the session.
    inputs: std::sync::atomic::AtomicUsize,
    /// `:spawn`ed tasks, running or ended, of every handle of the session.
    background: Mutex<BTreeMap<u64, BackgroundTask>>,
    /// Interleaving hooks for the retirement tests.
    #[cfg(test)]
    pub(crate) hooks: reclaim::TestHooks,
}

impl Shared {
    /// A fresh task id.
    pub(crate) fn next_task_id(&self) -> u64 {
        self.next_task.fetch_add(1, SeqCst)
    }

    /// The service requests being handled now.
    pub(crate) fn requests(
        &self,
    ) -> std::sync::MutexGuard<'_, BTreeMap<u64, crate::service::InFlight>> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops one pin of function `name`'s signature (see [`Session::serve`]).
    pub(crate) fn unpin(&self, name: &str) {
        let _tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        let mut reg = self.reg.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = reg.pinned.iter().position(|(n, _)| n == name) {
            reg.pinned.remove(i);
        }
    }
}

/// Something the session reports as it happens, from any thread (rendered by the REPL).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum Event {
    /// A function version was installed (`version` 1: a new function).
    Defined {
        /// The function.
        name: String,
        /// Its new version number.
        version: u32,
    },
    /// A replaced version's machine code was freed.
    Freed {
        /// The function.
        name: String,
        /// The version freed.
        version: u32,
    },
    /// A background task started.
    TaskStarted {
        /// The task id.
        id: u64,
    },
    /// A background task ran to its end; `value` is its printed result, if not unit.
    TaskEnded {
        /// The task id.
        id: u64,
        /// The text `print` would write for its value.
        value: Option<String>,
    },
    /// A background task's runtime crashed (a bug).
    TaskCrashed {
        /// The task id.
        id: u64,
        /// What happened.
        message: String,
    },
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
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct CompileErrors {
    /// The source.
    pub source: Arc<Source>,
    /// Every error found.
    pub diagnostics: Vec<Diagnostic>,
}

impl CompileErrors {
    /// The errors split by file, for a transaction of several files ([`Source::joined`]):
    /// each group with its own file's text, spans within it, in file order. Any other
    /// source: itself.
    pub fn by_file(self) -> Vec<CompileErrors> {
        if self.source.parts.is_empty() {
            return vec![self];
        }
        let mut groups: BTreeMap<usize, Vec<Diagnostic>> = BTreeMap::new();
        for mut d in self.diagnostics {
            let at = d.primary_span().unwrap_or_default();
            let part = self.source.part_index(at.start);
            d.labels
                .retain(|l| self.source.part_index(l.span.start) == part);
            for l in &mut d.labels {
                l.span = self.source.locate(l.span).1;
            }
            groups.entry(part).or_default().push(d);
        }
        groups
            .into_iter()
            .map(|(part, diagnostics)| {
                let start = self.source.parts[part].1;
                CompileErrors {
                    source: self.source.locate(Span::new(start, start)).0,
                    diagnostics,
                }
            })
            .collect()
    }
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

/// A job for the compile thread, given that thread's target machines.
type CompileJob = Box<dyn FnOnce(&Targets) + Send>;

/// The session's compile thread: one long-lived thread with a large stack, registered with the
/// GC, that runs every transaction (starting a 256 MB-stack thread per input cost more than a
/// small definition's code generation). It owns the target machines it compiles with.
struct Compiler {
    jobs: Option<std::sync::mpsc::Sender<CompileJob>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl Compiler {
    /// Code generation and LLVM recurse once per level of an expression tree, and a long
    /// operator chain (the parser allows a thousand operators in a statement) would overflow an
    /// ordinary thread's stack.
    const STACK: usize = 256 << 20;

    fn start(targets: Targets) -> Result<Compiler, String> {
        let (tx, rx) = std::sync::mpsc::channel::<CompileJob>();
        let handle = std::thread::Builder::new()
            .name("livejit-compile".into())
            .stack_size(Self::STACK)
            .spawn(move || {
                // The install allocates GC roots (global cells): only registered threads may
                // call into the collector.
                let _gc = gc::ThreadRegistration::register();
                while let Ok(job) = rx.recv() {
                    job(&targets);
                }
            })
            .map_err(|e| format!("cannot start the compiler thread: {e}"))?;
        Ok(Compiler {
            jobs: Some(tx),
            handle: Some(handle),
        })
    }

    /// Runs `f` on the compile thread and waits for its result (a panic in it is resumed
    /// here).
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Targets) -> T + Send + 'static,
    ) -> Result<T, String> {
        let (tx, rx) = std::sync::mpsc::channel();
        let job: CompileJob = Box::new(move |targets| {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(targets)));
            let _ = tx.send(r);
        });
        let sent = self.jobs.as_ref().is_some_and(|j| j.send(job).is_ok());
        if !sent {
            return Err("the compiler thread has ended".into());
        }
        match rx.recv() {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(panic)) => std::panic::resume_unwind(panic),
            Err(_) => Err("the compiler thread has ended".into()),
        }
    }
}

impl Drop for Compiler {
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// What one transaction needs of its session, owned (it runs on the compile thread).
struct InstallCtx {
    shared: Arc<Shared>,
    opt: u8,
    tiering: Tiering,
    polls: bool,
    empty_array: usize,
    reporter: Reporter,
}

/// What an install hands back: the top-level unit to run, the time of the slot stores, and
/// the functions to optimize in the background.
type Installed = (Option<(usize, u64)>, i64, Vec<TierUp>);

/// A livejit session: the JIT, the registry, globals and tasks.
pub struct Session {
    shared: Arc<Shared>,
    compiler: Compiler,
    tier: TierThread,
    tiering: Tiering,
    /// Target machines for `:asm` (made when first asked).
    asm_targets: std::cell::OnceCell<Targets>,
    empty_array: usize,
    opt: u8,
    polls: bool,
    last_install_ns: i64,
    reporter: Reporter,
    /// The foreground task's context while one runs (Ctrl-C interrupts it).
    foreground: Arc<Mutex<Option<Arc<TaskCtx>>>>,
    /// Where program output of this handle's tasks goes (`None`: the process-wide route).
    output: Option<OutputSink>,
    /// Made by [`Session::new`] (not [`Session::handle`]): its drop ends the session's tasks.
    primary: bool,
}

/// Receives each line of a task's program output (without its newline), from its thread.
pub type OutputSink = Arc<dyn Fn(&str) + Send + Sync>;

/// Interrupts the foreground evaluation of a session from any thread (a signal handler's).
#[derive(Clone)]
pub struct Interrupter(Arc<Mutex<Option<Arc<TaskCtx>>>>);

impl Interrupter {
    /// Whether a foreground evaluation is running.
    pub fn foreground_running(&self) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Interrupts the foreground evaluation; false if none is running.
    pub fn interrupt_foreground(&self) -> bool {
        let fg = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match fg {
            Some(ctx) => {
                ctx.interrupt();
                true
            }
            None => false,
        }
    }
}

/// One function for `:list`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FnSummary {
    /// Its name.
    pub name: String,
    /// The parameter list and return type as written (`(a: int) -> int`).
    pub signature: String,
    /// The live version's number.
    pub version: u32,
}

/// One global for `:list`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalRow {
    /// Its name.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Its value as `print` writes it.
    pub value: String,
}

/// How much of a long value a listing shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preview {
    /// Elements of an array before `... (N items)`.
    pub items: usize,
    /// Bytes of a string before `... (N bytes)` (for string values).
    pub bytes: usize,
}

impl Preview {
    /// Whole values.
    pub const EXACT: Preview = Preview {
        items: usize::MAX,
        bytes: usize::MAX,
    };
}

/// One version for `:versions`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VersionRow {
    /// `vN`'s N.
    pub version: u32,
    /// Its state.
    pub state: State,
    /// Active frames in it, from the tasks' latest scans.
    pub frames: u32,
    /// Code size in bytes, `None` once freed.
    pub code_size: Option<usize>,
    /// The tier of its code now (of its last code, once freed).
    pub tier: Tier,
    /// `<input:N>` or `file:line`.
    pub origin: String,
}

/// Where a background task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TaskState {
    /// Still running.
    Running,
    /// Ran to its end.
    Ended,
    /// Stopped by a runtime error.
    Failed,
    /// Interrupted (`:kill`).
    Killed,
    /// The runtime crashed (a bug).
    Crashed,
}

/// What a task row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TaskKind {
    /// A `:spawn`ed task (its label is the expression).
    Spawned,
    /// A service request being handled (its label is `METHOD PATH`); only running requests
    /// are listed.
    Request,
}

/// One task for `:tasks`: a background task, or a service request in flight.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TaskRow {
    /// Its id.
    pub id: u64,
    /// A spawned task or a request.
    pub kind: TaskKind,
    /// Running or how it ended.
    pub state: TaskState,
    /// How long it has run, or ran.
    pub elapsed: Duration,
    /// What was spawned.
    pub label: String,
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
        let jit = Jit::new(&crate::abi::symbols())?;
        let shared = Arc::new(Shared {
            jit: Arc::new(Mutex::new(jit)),
            reg: Mutex::new(Registry::default()),
            tx: Mutex::new(()),
            next_task: std::sync::atomic::AtomicU64::new(1),
            inputs: std::sync::atomic::AtomicUsize::new(0),
            background: Mutex::new(BTreeMap::new()),
            requests: Mutex::new(BTreeMap::new()),
            #[cfg(test)]
            hooks: reclaim::TestHooks::default(),
        });
        let weak = Arc::downgrade(&shared);
        let r = reporter.clone();
        std::thread::Builder::new()
            .name("livejit-reclaim".into())
            .spawn(move || reclaim::run(weak, r))
            .map_err(|e| e.to_string())?;
        // One shared empty array: what array globals hold before their declaration runs.
        let empty_array = gc::alloc_root(8) as usize;
        Ok(Session {
            tier: TierThread::new(Arc::downgrade(&shared)),
            shared,
            compiler: Compiler::start(Targets::host()?)?,
            tiering: Tiering::from_env()?,
            asm_targets: std::cell::OnceCell::new(),
            empty_array,
            opt: 2,
            polls: true,
            last_install_ns: 0,
            reporter,
            foreground: Arc::new(Mutex::new(None)),
            output: None,
            primary: true,
        })
    }

    /// Another handle on the same session (same registry, JIT, globals, task table and
    /// transaction lock) with its own foreground evaluation, its own reporter and output sink,
    /// and the optimization level this one has now. Evaluations of different handles run
    /// concurrently; their transactions are serialized. Dropping a handle does not end the
    /// session's tasks (dropping the session made by [`Session::new`] does).
    pub fn handle(&self, reporter: Reporter) -> Result<Session, String> {
        Ok(Session {
            // Its own compile thread and tier-up thread: a handle's transactions are
            // serialized with the others' by the transaction lock, not by sharing a thread.
            tier: TierThread::new(Arc::downgrade(&self.shared)),
            shared: self.shared.clone(),
            compiler: Compiler::start(Targets::host()?)?,
            tiering: self.tiering,
            asm_targets: std::cell::OnceCell::new(),
            empty_array: self.empty_array,
            opt: self.opt,
            polls: self.polls,
            last_install_ns: 0,
            reporter,
            foreground: Arc::new(Mutex::new(None)),
            output: None,
            primary: false,
        })
    }

    /// Sends the program output of tasks started from now on by this handle (foreground
    /// evaluations and `:spawn`) to `sink`; `None`: the process-wide route.
    pub fn set_output(&mut self, sink: Option<OutputSink>) {
        self.output = sink;
    }

    fn background(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, BackgroundTask>> {
        self.shared
            .background
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A handle that interrupts this session's foreground evaluation (for Ctrl-C).
    pub fn interrupter(&self) -> Interrupter {
        Interrupter(self.foreground.clone())
    }

    /// Sets the optimization level (0-3) of the optimizing tier for new definitions (0: the
    /// fast tier only).
    pub fn set_opt(&mut self, level: u8) {
        self.opt = level.min(3);
    }

    /// Sets when new definitions get their optimizing tier (`LIVEJIT_TIER` sets it at start).
    pub fn set_tiering(&mut self, tiering: Tiering) {
        self.tiering = tiering;
    }

    /// Waits until every definition queued for the optimizing tier has it (or was replaced
    /// first), or `timeout` passes; true if none is left.
    pub fn wait_for_tier_ups(&self, timeout: Duration) -> bool {
        self.tier.wait_idle(timeout)
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
        let n = self.shared.inputs.fetch_add(1, SeqCst) + 1;
        format!("<input:{n}>")
    }

    fn snapshot(&self) -> plan::Snapshot {
        self.shared
            .reg
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .snapshot()
    }

    /// Type-checks an expression without running it (`:type`).
    pub fn type_of(&mut self, name: &str, text: &str) -> Result<Type, CompileErrors> {
        let source = Source::new(name, text);
        let program =
            compile_front(text, &self.snapshot()).map_err(|diagnostics| CompileErrors {
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
        self.eval_source(Source::new(name, text))
    }

    /// Installs several files as one transaction (all or nothing), then runs their top-level
    /// code, in order, in the foreground (`livejit push`). Diagnostics and runtime errors
    /// point into the file they concern ([`CompileErrors::by_file`], [`Source::locate`]).
    pub fn eval_files(&mut self, files: &[(String, String)]) -> EvalResult {
        self.eval_source(Source::joined(files))
    }

    fn eval_source(&mut self, source: Arc<Source>) -> EvalResult {
        let entry = match self.install_on_big_stack(source) {
            Ok(e) => e,
            Err(errors) => return EvalResult::Rejected(errors),
        };
        let Some((entry, top_id)) = entry else {
            return EvalResult::Ok;
        };
        // SAFETY: `entry` is the top-level unit the install just committed, a `void (ptr)`
        // function; it is retired only by the `on_end` callback, so it stays mapped meanwhile.
        let task = match unsafe {
            tasks::spawn(
                entry,
                false,
                self.output.clone(),
                self.retire_top_on_end(top_id),
            )
        } {
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
        let id = self.shared.next_task_id();
        // Reported before the thread starts, so that it always comes before the task's end
        // (which the task thread reports).
        (self.reporter)(Event::TaskStarted { id });
        let retire = self.retire_top_on_end(top_id);
        let reporter = self.reporter.clone();
        let on_end = Box::new(move |outcome: &Outcome| {
            retire(outcome);
            match outcome {
                Outcome::Done(v) => reporter(Event::TaskEnded {
                    id,
                    value: v.clone(),
                }),
                Outcome::Failed(e) => reporter(Event::TaskError {
                    id,
                    error: e.clone(),
                }),
                Outcome::Crashed(m) => reporter(Event::TaskCrashed {
                    id,
                    message: m.clone(),
                }),
            }
        });
        // SAFETY: as in `eval`: a committed top-level unit, retired only by `on_end`.
        let task = match unsafe { tasks::spawn(entry, true, self.output.clone(), on_end) } {
            Ok(t) => t,
            Err(e) => {
                (self.reporter)(Event::TaskCrashed {
                    id,
                    message: e.clone(),
                });
                return Err(CompileErrors {
                    source: source.clone(),
                    diagnostics: vec![Diagnostic::plain(e)],
                });
            }
        };
        let Task { ctx, handle } = task;
        self.background().insert(
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
                    v.retire(EPOCH.load(SeqCst));
                }
            }
        })
    }

    /// Runs [`install`] on the compile thread, then queues its functions for the optimizing
    /// tier.
    fn install_on_big_stack(
        &mut self,
        source: Arc<Source>,
    ) -> Result<Option<(usize, u64)>, CompileErrors> {
        let cx = InstallCtx {
            shared: self.shared.clone(),
            opt: self.opt,
            tiering: self.tiering,
            polls: self.polls,
            empty_array: self.empty_array,
            reporter: self.reporter.clone(),
        };
        let src = source.clone();
        let installed = self
            .compiler
            .run(move |targets| install(&cx, targets, src))
            .map_err(|e| CompileErrors {
                source: source.clone(),
                diagnostics: vec![Diagnostic::plain(e)],
            })?;
        let (top, stored_ns, tier_ups) = installed?;
        self.last_install_ns = stored_ns;
        self.tier.push(tier_ups);
        Ok(top)
    }

    /// Waits for background task `id` (or all of them), however long that takes. The REPL
    /// polls [`Session::task_outcome`] instead, so that Ctrl-C can stop the wait.
    pub fn wait(&mut self, id: Option<u64>) -> Result<(), String> {
        let ids: Vec<u64> = match id {
            Some(id) if self.background().contains_key(&id) => vec![id],
            Some(id) => return Err(format!("no task {id}")),
            None => self.background().keys().copied().collect(),
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
        let mut background = self.background();
        let t = background
            .get_mut(&id)
            .ok_or_else(|| format!("no task {id}"))?;
        t.reap();
        Ok(t.ended.as_ref().map(|(_, o)| o.clone()))
    }

    /// Ids of every background task, running or ended, in spawn order.
    pub fn task_ids(&self) -> Vec<u64> {
        self.background().keys().copied().collect()
    }

    /// Interrupts background task `id`, or service request `id`.
    pub fn kill(&mut self, id: u64) -> Result<(), String> {
        if !self.background().contains_key(&id) {
            return match self.shared.requests().get(&id) {
                Some(r) => {
                    r.ctx.interrupt();
                    Ok(())
                }
                None => Err(format!("no task {id}")),
            };
        }
        match self.task_outcome(id)? {
            None => {
                if let Some(t) = self.background().get(&id) {
                    t.ctx.interrupt();
                }
                Ok(())
            }
            Some(_) => Err(format!("task {id} has already ended")),
        }
    }

    /// `:tasks`: every background task, running or ended, and every service request in
    /// flight, in id order.
    pub fn tasks(&mut self) -> Vec<TaskRow> {
        let mut rows = self.background_tasks();
        rows.extend(self.shared.requests().iter().map(|(id, r)| TaskRow {
            id: *id,
            kind: TaskKind::Request,
            state: TaskState::Running,
            elapsed: r.started.elapsed(),
            label: r.label.clone(),
        }));
        rows.sort_by_key(|r| r.id);
        rows
    }

    fn background_tasks(&mut self) -> Vec<TaskRow> {
        self.background()
            .iter_mut()
            .map(|(id, t)| {
                t.reap();
                let (state, elapsed) = match &t.ended {
                    None => (TaskState::Running, t.started.elapsed()),
                    Some((d, Outcome::Done(_))) => (TaskState::Ended, *d),
                    Some((d, Outcome::Failed(e))) if e.kind == ErrorKind::Interrupted => {
                        (TaskState::Killed, *d)
                    }
                    Some((d, Outcome::Failed(_))) => (TaskState::Failed, *d),
                    Some((d, Outcome::Crashed(_))) => (TaskState::Crashed, *d),
                };
                TaskRow {
                    id: *id,
                    kind: TaskKind::Spawned,
                    state,
                    elapsed,
                    label: t.label.clone(),
                }
            })
            .collect()
    }

    /// Number of background tasks still running.
    pub fn running_tasks(&mut self) -> usize {
        self.background()
            .values_mut()
            .map(|t| {
                t.reap();
                usize::from(t.ended.is_none())
            })
            .sum()
    }

    /// Interrupts every task (at exit).
    ///
    /// Only this session's tasks: the running-task set is process-wide (scans must see every
    /// JIT frame), but another session's tasks are none of this one's business — several
    /// sessions live in one test process, and dropping one must not interrupt the others.
    /// A [`Session::handle`] interrupts only its own foreground evaluation.
    pub fn interrupt_all(&mut self) {
        if let Some(fg) = self
            .foreground
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            fg.interrupt();
        }
        if !self.primary {
            return;
        }
        for t in self.background().values() {
            t.ctx.interrupt();
        }
        for r in self.shared.requests().values() {
            r.ctx.interrupt();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while self
            .background()
            .values()
            .any(|t| t.handle.as_ref().is_some_and(|h| !h.is_finished()))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// `:list`: functions with signature and current version.
    pub fn functions(&self) -> Vec<FnSummary> {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        reg.fns
            .iter()
            .map(|(name, f)| FnSummary {
                name: name.clone(),
                signature: sig_text(f.current()),
                version: f.current().unit.info.n,
            })
            .collect()
    }

    /// Every name an input can use now (functions with signatures, builtins, globals with
    /// types, structs with fields), for completion and signature hints.
    pub fn completion_data(&self) -> crate::CompletionData {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        crate::completion::collect(&reg)
    }

    /// `:list`: the current struct definitions, as `struct P { x: float, y: float }`.
    pub fn structs(&self) -> Vec<String> {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        reg.structs
            .values()
            .map(|id| livejit_frontend::types::struct_text(*id))
            .collect()
    }

    /// Globals with type and exact value (as `print` writes it).
    pub fn globals(&self) -> Vec<GlobalRow> {
        self.globals_preview(Preview::EXACT)
    }

    /// `:list`: globals with type and value, long values cut as `preview` says.
    pub fn globals_preview(&self, preview: Preview) -> Vec<GlobalRow> {
        let globals = self
            .shared
            .reg
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .globals
            .clone();
        globals
            .into_iter()
            .map(|(name, g)| GlobalRow {
                name,
                ty: g.ty,
                value: self.global_value(&g, preview),
            })
            .collect()
    }

    fn global_value(&self, g: &Global, preview: Preview) -> String {
        // SAFETY: `g.addr` is a live, 8-aligned global cell; tasks write it atomically, so an
        // atomic read sees a whole value.
        let bits = unsafe { (*(g.addr as *const std::sync::atomic::AtomicU64)).load(SeqCst) };
        let mut out = Vec::new();
        // SAFETY: a global's cell always holds a live value of its type (the zero value until
        // assigned); the cell is a GC root and this thread is registered with the GC (the main
        // thread is), so nothing it points to can be collected while it is formatted. Strs are
        // quoted, so `:list` shows where they start and end.
        unsafe {
            crate::values::format_preview(
                &mut out,
                bits,
                g.ty,
                true,
                (preview.items, preview.bytes),
            )
        };
        String::from_utf8_lossy(&out).into_owned()
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
            .find(|v| v.unit.info.n == n)?
            .unit
            .freed_ns()
    }

    /// The current value of an int global (for tools and benchmarks).
    pub fn global_int(&self, name: &str) -> Option<i64> {
        let g = *self
            .shared
            .reg
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .globals
            .get(name)?;
        (g.ty == Type::Int).then(|| {
            // SAFETY: `g.addr` is a live, 8-aligned int cell written atomically by tasks.
            unsafe { (*(g.addr as *const std::sync::atomic::AtomicI64)).load(SeqCst) }
        })
    }

    /// `:versions NAME`: one row per version, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<VersionRow>, String> {
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
        Ok(f.versions
            .iter()
            .map(|v| VersionRow {
                version: v.unit.info.n,
                state: v.unit.state(),
                // Frames in its code of either tier, and in inlined copies of it.
                frames: v
                    .unit
                    .frame_ids()
                    .iter()
                    .map(|id| frames.get(id).copied().unwrap_or(0))
                    .sum(),
                code_size: (v.unit.state() != State::Freed).then_some(v.unit.info.size),
                tier: v.unit.tier,
                origin: v.origin.clone(),
            })
            .collect())
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
                .find(|v| v.unit.info.n == n)
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
        let counts_as = copied(cur).unwrap_or(cur.unit.info.n);
        let v = f
            .versions
            .iter()
            .rev()
            .find(|v| v.unit.info.n < counts_as && copied(v).is_none() && v.text != cur.text)
            .ok_or_else(|| format!("`{name}` has no earlier version"))?;
        layouts_current(&reg, name, v)?;
        Ok((v.unit.info.n, v.text.clone()))
    }

    /// The bitcode and level of the code now in `name`'s slot.
    /// (Its symbol names the module, as when it was compiled.)
    fn current_code(&self, name: &str) -> Result<(Arc<[u8]>, u8, String), String> {
        let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        let unit = &reg.function(name)?.current().unit;
        let symbol = format!("{name}$v{}", unit.info.n);
        Ok((unit.bitcode.clone(), unit.level, symbol))
    }

    /// `:ir NAME`: the IR of the code now in the slot (the optimized IR once the optimizing
    /// tier has replaced the fast code), printed from the bitcode the version keeps.
    pub fn ir_of(&self, name: &str) -> Result<String, String> {
        let (bitcode, _, symbol) = self.current_code(name)?;
        let ctx = Context::create();
        let module = crate::objcode::parse_bitcode(&ctx, &bitcode, &symbol)?;
        Ok(module.print_to_string().to_string())
    }

    /// `:asm NAME`: the assembly of the code now in the slot, emitted again from the kept
    /// bitcode at the level that code was made at.
    pub fn asm_of(&self, name: &str) -> Result<String, String> {
        let (bitcode, level, symbol) = self.current_code(name)?;
        let targets = match self.asm_targets.get() {
            Some(t) => t,
            None => {
                let t = Targets::host()?;
                self.asm_targets.get_or_init(|| t)
            }
        };
        let ctx = Context::create();
        let module = crate::objcode::parse_bitcode(&ctx, &bitcode, &symbol)?;
        targets.prepare(&module)?;
        targets.emit_asm(&module, level)
    }

    /// Starts a service: checks that function `name` exists with the handler signature
    /// `(method: str, path: str, body: str) -> str`, pins that signature (from now on, until
    /// the service is shut down, a transaction that changes it is rejected) and starts
    /// `threads` request threads that call it through its slot, interrupting a request that
    /// runs longer than `timeout` (see `service.rs`).
    pub fn serve(
        &mut self,
        name: &str,
        threads: usize,
        timeout: Duration,
    ) -> Result<crate::Service, String> {
        let want = crate::service::handler_sig();
        let slot = {
            // The transaction lock: no transaction plans between this check and the pin.
            let _tx = self.shared.tx.lock().unwrap_or_else(|e| e.into_inner());
            let mut reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
            let usage =
                format!("a service needs `fn {name}(method: str, path: str, body: str) -> str`");
            let Some(f) = reg.fns.get(name) else {
                return Err(format!("no function `{name}`: {usage}"));
            };
            let sig = &f.current().sig;
            if *sig != want {
                return Err(format!("`{name}` has the signature `{sig}`: {usage}"));
            }
            let slot = f.slot;
            reg.pinned.push((name.to_string(), want));
            slot
        };
        // On an error the half-started service has shut down, dropping the pin.
        crate::service::Service::start(self.shared.clone(), name, slot, threads, timeout)
    }

    /// Waits until no version (and no old tier of a version's code) is draining, or
    /// `timeout` passes; true if none is left.
    pub fn drain(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let draining = {
                let reg = self.shared.reg.lock().unwrap_or_else(|e| e.into_inner());
                let any = reg
                    .unfreed()
                    .any(|v| v.state() == State::Draining || v.has_old_tiers());
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

impl Drop for Session {
    fn drop(&mut self) {
        self.interrupt_all();
        // No LLVM work may outlive the session (nor run while the process exits).
        self.tier.stop();
    }
}

/// `Ok` if every struct `v` was compiled against is still the current definition: a
/// version built for an earlier layout of a struct cannot be reinstalled (`:rollback`).
fn layouts_current(reg: &Registry, name: &str, v: &Version) -> Result<(), String> {
    for (s, id) in &v.layouts {
        if reg.structs.get(s) != Some(id) {
            return Err(format!(
                "cannot roll back `{name}` to v{}: it was written for an earlier definition of struct `{s}`",
                v.unit.info.n
            ));
        }
    }
    Ok(())
}

/// The transaction, in its stages (see `driver`): snapshot, check and plan, compile and link,
/// commit. Runs on the compile thread.
fn install(
    cx: &InstallCtx,
    targets: &Targets,
    source: Arc<Source>,
) -> Result<Installed, CompileErrors> {
    let fail = |diagnostics: Vec<Diagnostic>| CompileErrors {
        source: source.clone(),
        diagnostics,
    };
    let shared = &cx.shared;
    let tx = shared.tx.lock().unwrap_or_else(|e| e.into_inner());
    let snapshot = shared
        .reg
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .snapshot();
    let program = compile_front(&source.text, &snapshot).map_err(fail)?;
    let plan = plan::plan(&snapshot, &program, &source.text).map_err(fail)?;
    let opts = compile::Options {
        targets,
        jit: &shared.jit,
        opt: cx.opt,
        tiering: cx.tiering,
        polls: cx.polls,
        empty_array: cx.empty_array,
    };
    let set = compile::compile(&opts, &snapshot, &program, &plan).map_err(|e| {
        fail(vec![Diagnostic::plain(format!(
            "internal compiler error: {e}"
        ))])
    })?;
    let committed = {
        let mut reg = shared.reg.lock().unwrap_or_else(|e| e.into_inner());
        commit::commit(&mut reg, set, &program, &source, &plan, &cx.reporter)
    };
    drop(tx);
    // A replaced version that no task can be in is freed at once, not at the reclaimer's next
    // tick (that thread handles the versions that must wait for frames).
    for (name, version) in reclaim::pass(shared).freed {
        (cx.reporter)(Event::Freed { name, version });
    }
    Ok((committed.top, committed.stored_ns, committed.tier_ups))
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
        reg.fns[name]
            .versions
            .iter()
            .map(|v| v.unit.state())
            .collect()
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
    fn queries_answer_with_data() {
        let mut s = session();
        eval_ok(&mut s, "global hits: int = 3;\nfn f(a: int) -> int { a }");
        eval_ok(&mut s, "fn f(a: int) -> int { a + 1 }");
        assert_eq!(
            s.functions(),
            vec![FnSummary {
                name: "f".into(),
                signature: "(a: int) -> int".into(),
                version: 2
            }]
        );
        assert_eq!(
            s.globals(),
            vec![GlobalRow {
                name: "hits".into(),
                ty: Type::Int,
                value: "3".into()
            }]
        );
        let data = s.completion_data();
        let f = data.callable("f").expect("f is callable");
        assert_eq!(f.signature(), "(a: int) -> int");
        assert_eq!(data.global_type("hits"), Some("int"));
        assert!(data.callable("sqrt").is_some());
        eval_ok(&mut s, "global xs: [int] = [1, 2, 3, 4];");
        let preview = Preview {
            items: 2,
            bytes: 200,
        };
        let xs = s
            .globals_preview(preview)
            .into_iter()
            .find(|g| g.name == "xs");
        assert_eq!(xs.unwrap().value, "[1, 2, ... (4 items)]");
        let xs = s.globals().into_iter().find(|g| g.name == "xs");
        assert_eq!(xs.unwrap().value, "[1, 2, 3, 4]");
        assert!(s.drain(Duration::from_secs(5)));
        let rows = s.versions("f").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].version, rows[0].state, rows[0].code_size),
            (1, State::Freed, None)
        );
        assert_eq!((rows[1].version, rows[1].state), (2, State::Live));
        assert!(rows[1].code_size.is_some_and(|n| n > 0));
        assert_eq!(rows[1].origin, "<input:2>");
        assert!(s.versions("nope").is_err());
    }

    /// Defines `slow`, which spins until `hold` is cleared.
    const SLOW: &str = "global hold: bool = true;\nglobal started: int = 0;\n\
                        fn slow() -> int { started = 1; while hold { } 1 }";

    /// Spawns `slow()` and waits until the task is spinning in `slow` v1.
    fn spawn_slow(s: &mut Session) -> u64 {
        let name = s.next_input_name();
        let id = s.spawn(&name, "slow()").unwrap().expect("a task");
        let deadline = Instant::now() + Duration::from_secs(20);
        while s.global_int("started") != Some(1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            s.global_int("started"),
            Some(1),
            "the task never entered slow"
        );
        id
    }

    /// `slow` v1 must still be draining (the task spins in it); then the task finishes with
    /// v1's value and v1 is freed.
    fn v1_drains_until_the_task_leaves(s: &mut Session, id: u64) {
        assert_eq!(states(s, "slow"), vec![State::Draining, State::Live]);
        eval_ok(s, "hold = false;");
        s.wait(Some(id)).unwrap();
        match s.task_outcome(id).unwrap() {
            Some(Outcome::Done(Some(v))) => assert_eq!(v, "1"),
            other => panic!("the task ended with {other:?}"),
        }
        assert!(s.drain(Duration::from_secs(10)));
        assert_eq!(states(s, "slow"), vec![State::Freed, State::Live]);
    }

    /// Regression (SIGSEGV in `retire_repro.in`): a task publishes its frames between the
    /// moment a pass reads the published sets and the moment it checks the tasks' epochs. The
    /// pass used to pair the old (empty) set with the new epoch and free the version the task
    /// was spinning in.
    #[test]
    fn a_task_publishing_during_a_pass_keeps_its_version() {
        let mut s = session();
        eval_ok(&mut s, SLOW);
        let id = spawn_slow(&mut s);
        let ctx = s.background()[&id].ctx.clone();
        let fired = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let f = fired.clone();
        *s.shared.hooks.after_read.lock().unwrap() = Some(Box::new(move |reg: &Registry| {
            let old = &reg.fns["slow"].versions[0].unit;
            if old.state() != State::Draining {
                return false;
            }
            // The commit poked the task: let it publish for the replacing epoch now.
            let deadline = Instant::now() + Duration::from_secs(20);
            while ctx.seen_epoch.load(SeqCst) < old.retire_epoch() && Instant::now() < deadline {
                std::thread::yield_now();
            }
            f.store(true, SeqCst);
            true
        }));
        eval_ok(&mut s, "fn slow() -> int { 2 }");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !fired.load(SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(fired.load(SeqCst), "no pass reached the hook");
        // `states` takes the registry lock, so the hooked pass has finished.
        v1_drains_until_the_task_leaves(&mut s, id);
    }

    /// Regression: a task starts (and enters `slow` v1, which is then replaced) while the
    /// reclaimer is in a pass but has not locked the registry yet. The pass must not decide
    /// with a running-task set read before the replacement was committed.
    #[test]
    fn a_task_started_during_a_pass_keeps_its_version() {
        use std::sync::mpsc::channel;
        let mut s = session();
        eval_ok(&mut s, SLOW);
        let reclaimer = || std::thread::current().name() == Some("livejit-reclaim");
        let (in_tx, in_rx) = channel();
        let (go_tx, go_rx) = channel::<()>();
        *s.shared.hooks.before_lock.lock().unwrap() = Some(Box::new(move || {
            if !reclaimer() {
                return false;
            }
            let _ = in_tx.send(());
            let _ = go_rx.recv_timeout(Duration::from_secs(60));
            true
        }));
        in_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the reclaimer runs a pass");
        // The reclaimer is held at the start of a pass: start the task, replace its function.
        let id = spawn_slow(&mut s);
        eval_ok(&mut s, "fn slow() -> int { 2 }");
        // Release the pass; the reclaimer's next pass starts once it has finished.
        let (next_tx, next_rx) = channel();
        *s.shared.hooks.before_lock.lock().unwrap() =
            Some(Box::new(move || reclaimer() && next_tx.send(()).is_ok()));
        go_tx.send(()).unwrap();
        next_rx
            .recv_timeout(Duration::from_secs(20))
            .expect("the reclaimer runs another pass");
        v1_drains_until_the_task_leaves(&mut s, id);
    }

    #[test]
    fn a_version_with_a_running_frame_drains_then_is_freed() {
        let mut s = session();
        eval_ok(
            &mut s,
            "global go: bool = true;\nglobal started: int = 0;\n\
             fn inner() -> int { started = 1; let n = 0; while go { n += 1; } n }",
        );
        let name = s.next_input_name();
        let id = s.spawn(&name, "inner()").unwrap().expect("a task");
        let deadline = Instant::now() + Duration::from_secs(10);
        while s.global_int("started") != Some(1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        eval_ok(&mut s, "fn inner() -> int { 2 }");
        // Frame counts are as fresh as the tasks' last scans; on a loaded machine a scan can
        // take longer than the 50 ms `versions` waits, so ask again until it is in.
        let mut rows = s.versions("inner").unwrap();
        while rows[0].frames == 0 && Instant::now() < deadline {
            rows = s.versions("inner").unwrap();
        }
        assert_eq!((rows[0].state, rows[0].frames), (State::Draining, 1));
        assert_eq!((rows[1].state, rows[1].frames), (State::Live, 0));
        assert_eq!(s.tasks().len(), 1);
        eval_ok(&mut s, "go = false;");
        s.wait(Some(id)).unwrap();
        assert!(s.drain(Duration::from_secs(5)));
        let rows = s.versions("inner").unwrap();
        assert_eq!(rows[0].state, State::Freed);
        assert_eq!(rows[0].code_size, None);
        let tasks = s.tasks();
        assert_eq!((tasks[0].id, tasks[0].state), (id, TaskState::Ended));
    }

    #[test]
    fn a_failing_transaction_installs_nothing() {
        let mut s = session();
        eval_ok(&mut s, "fn f() -> int { 1 }");
        let name = s.next_input_name();
        let r = s.eval(&name, "fn f() -> int { 2 }\nfn g() -> int { true }");
        assert!(matches!(r, EvalResult::Rejected(_)));
        assert_eq!(states(&s, "f"), vec![State::Live]);
        assert!(!s.shared.reg.lock().unwrap().fns.contains_key("g"));
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

    /// A session that tiers up in the background whatever `LIVEJIT_TIER` says.
    fn tiered_session() -> Session {
        let mut s = session();
        s.set_tiering(Tiering::Tiered);
        s
    }

    /// (tier, whether code of an older tier waits to be freed) of every version of `name`.
    fn tiers(s: &Session, name: &str) -> Vec<(Tier, bool)> {
        let reg = s.shared.reg.lock().unwrap();
        reg.fns[name]
            .versions
            .iter()
            .map(|v| (v.unit.tier, v.unit.has_old_tiers()))
            .collect()
    }

    /// Whether `name`'s slot holds the code of its live version.
    fn slot_holds_current(s: &Session, name: &str) -> bool {
        let reg = s.shared.reg.lock().unwrap();
        let f = &reg.fns[name];
        Some(crate::slots::load(f.slot)) == f.current().unit.addr()
    }

    /// Holds the tier-up thread of `s` just before it swaps in the optimized code of `name`:
    /// returns a receiver told when it got there and a sender that lets it go on.
    fn hold_tier_up(
        s: &Session,
        name: &'static str,
    ) -> (std::sync::mpsc::Receiver<()>, std::sync::mpsc::Sender<()>) {
        let (at_tx, at_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        *s.shared.hooks.before_tier_swap.lock().unwrap() = Some(Box::new(move |f: &str| {
            if f != name {
                return false;
            }
            let _ = at_tx.send(());
            let _ = go_rx.recv_timeout(Duration::from_secs(60));
            true
        }));
        (at_rx, go_tx)
    }

    #[test]
    fn a_function_is_callable_before_its_optimizing_tier_exists() {
        let mut s = tiered_session();
        let (at, go) = hold_tier_up(&s, "f");
        eval_ok(
            &mut s,
            "global r: int = 0;\nfn f(x: int) -> int { x * 2 + 1 }\nr = f(20);",
        );
        assert_eq!(s.global_int("r"), Some(41));
        at.recv_timeout(Duration::from_secs(60))
            .expect("the tier-up thread reaches f");
        // Its optimized code is linked but not swapped in: f runs at the fast tier.
        assert_eq!(tiers(&s, "f"), vec![(Tier::Fast, false)]);
        assert!(slot_holds_current(&s, "f"));
        eval_ok(&mut s, "r = f(1);");
        assert_eq!(s.global_int("r"), Some(3));
        go.send(()).unwrap();
        assert!(s.wait_for_tier_ups(Duration::from_secs(60)));
        assert!(slot_holds_current(&s, "f"));
        eval_ok(&mut s, "r = f(2);");
        assert_eq!(s.global_int("r"), Some(5));
        let rows = s.versions("f").unwrap();
        assert_eq!(rows.len(), 1, "a tier-up is not a new version");
        assert_eq!((rows[0].version, rows[0].tier), (1, Tier::Opt));
    }

    #[test]
    fn a_tier_up_keeps_the_version_and_frees_the_fast_code() {
        let mut s = tiered_session();
        eval_ok(&mut s, "fn g(x: int) -> int { x + 7 }");
        let fast = s.shared.reg.lock().unwrap().fns["g"].current().unit.addr();
        assert!(s.wait_for_tier_ups(Duration::from_secs(60)));
        let opt = s.shared.reg.lock().unwrap().fns["g"].current().unit.addr();
        assert_ne!(fast, opt, "the slot holds other code");
        assert!(slot_holds_current(&s, "g"));
        // No task of this session runs: the fast code is freed (its symbol unlinked).
        assert!(s.drain(Duration::from_secs(10)));
        assert_eq!(tiers(&s, "g"), vec![(Tier::Opt, false)]);
        assert!(s.shared.jit.lock().unwrap().lookup("g$v1").is_err());
        assert!(s.shared.jit.lock().unwrap().lookup("g$v1.opt").is_ok());
        assert_eq!(states(&s, "g"), vec![State::Live]);
        // `:ir` and `:asm` show the code now in the slot, under the version's symbol.
        let ir = s.ir_of("g").unwrap();
        assert!(ir.contains("define i64 @\"g$v1\""), "{ir}");
        assert!(!ir.contains("alloca"), "optimized IR\n{ir}");
        assert!(s.asm_of("g").unwrap().contains("g$v1:"));
        // Runtime errors in optimized code name the version.
        eval_ok(
            &mut s,
            "fn inner(d: int) -> int { 10 / d }\nfn outer(d: int) -> int { inner(d) + 1 }",
        );
        assert!(s.wait_for_tier_ups(Duration::from_secs(60)));
        assert_eq!(tiers(&s, "inner")[0].0, Tier::Opt);
        let name = s.next_input_name();
        match s.eval(&name, "outer(0);") {
            EvalResult::RuntimeError(e) => assert!(
                e.chain.starts_with("in inner (v1) called from outer (v1)"),
                "{}",
                e.chain
            ),
            _ => panic!("expected a runtime error"),
        }
    }

    /// The optimizing tier of v1 is linked, then v2 is committed before v1's swap: the swap
    /// must fail, v1's optimized code is never installed, and v2 gets its own.
    #[test]
    fn a_redefinition_racing_a_tier_up_wins() {
        let mut s = tiered_session();
        let (at, go) = hold_tier_up(&s, "h");
        eval_ok(&mut s, "global r: int = 0;\nfn h() -> int { 1 }\nr = h();");
        at.recv_timeout(Duration::from_secs(60))
            .expect("the tier-up thread reaches h v1");
        eval_ok(&mut s, "fn h() -> int { 2 }\nr = h();");
        assert_eq!(s.global_int("r"), Some(2));
        go.send(()).unwrap();
        assert!(s.wait_for_tier_ups(Duration::from_secs(60)));
        eval_ok(&mut s, "r = h();");
        assert_eq!(
            s.global_int("r"),
            Some(2),
            "the stale v1 code was installed"
        );
        assert!(slot_holds_current(&s, "h"));
        assert!(s.drain(Duration::from_secs(10)));
        // v1 stayed at the fast tier and was freed; v2 was optimized.
        assert_eq!(states(&s, "h"), vec![State::Freed, State::Live]);
        assert_eq!(
            tiers(&s, "h"),
            vec![(Tier::Fast, false), (Tier::Opt, false)]
        );
        assert!(s.shared.jit.lock().unwrap().lookup("h$v1.opt").is_err());
    }

    /// A task spinning in a version's fast code when it tiers up keeps that code: it is an
    /// old tier of the same version (its frames count as the version's), freed once the task
    /// has left it.
    #[test]
    fn fast_code_with_a_running_frame_is_kept_until_the_frame_returns() {
        let mut s = tiered_session();
        let (at, go) = hold_tier_up(&s, "slow");
        eval_ok(&mut s, SLOW);
        at.recv_timeout(Duration::from_secs(60))
            .expect("the tier-up thread reaches slow");
        let id = spawn_slow(&mut s);
        go.send(()).unwrap();
        assert!(s.wait_for_tier_ups(Duration::from_secs(60)));
        assert_eq!(tiers(&s, "slow"), vec![(Tier::Opt, true)]);
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut rows = s.versions("slow").unwrap();
        while rows[0].frames == 0 && Instant::now() < deadline {
            rows = s.versions("slow").unwrap();
        }
        assert_eq!((rows.len(), rows[0].frames), (1, 1));
        // The reclaimer runs every 5 ms: give it many passes.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(
            tiers(&s, "slow"),
            vec![(Tier::Opt, true)],
            "freed under a frame"
        );
        eval_ok(&mut s, "hold = false;");
        s.wait(Some(id)).unwrap();
        assert!(s.drain(Duration::from_secs(10)));
        assert_eq!(tiers(&s, "slow"), vec![(Tier::Opt, false)]);
        assert_eq!(states(&s, "slow"), vec![State::Live]);
    }

    #[test]
    fn fast_and_opt_now_tiering_never_tier_up_in_the_background() {
        for (tiering, tier) in [(Tiering::Fast, Tier::Fast), (Tiering::OptNow, Tier::Opt)] {
            let mut s = session();
            s.set_tiering(tiering);
            eval_ok(
                &mut s,
                "global r: int = 0;\nfn k(x: int) -> int { x - 1 }\nr = k(5);",
            );
            assert_eq!(s.global_int("r"), Some(4));
            assert!(s.wait_for_tier_ups(Duration::from_secs(60)));
            assert_eq!(tiers(&s, "k"), vec![(tier, false)], "{tiering:?}");
            assert!(s.tier.handle.is_none(), "no tier-up thread");
        }
        // `:opt 0` means the fast tier only.
        let mut s = tiered_session();
        s.set_opt(0);
        eval_ok(&mut s, "fn k(x: int) -> int { x - 1 }");
        assert!(s.wait_for_tier_ups(Duration::from_secs(60)));
        assert_eq!(tiers(&s, "k"), vec![(Tier::Fast, false)]);
    }

    /// The fast-tier units of one transaction are linked as one object: its memory is returned
    /// when the last of them is freed, not before.
    #[test]
    fn a_transactions_fast_code_is_unlinked_with_its_last_unit() {
        let mut s = session();
        s.set_tiering(Tiering::Fast);
        eval_ok(
            &mut s,
            "global r: int = 0;\nfn a() -> int { 1 }\nfn b() -> int { 2 }\nr = a() + b();",
        );
        assert_eq!(s.global_int("r"), Some(3));
        let linked = |sym: &str| s.shared.jit.lock().unwrap().lookup(sym).is_ok();
        assert!(linked("a$v1") && linked("b$v1"));
        eval_ok(&mut s, "fn a() -> int { 10 }\nr = a() + b();");
        assert_eq!(s.global_int("r"), Some(12));
        assert!(s.drain(Duration::from_secs(10)));
        assert_eq!(states(&s, "a"), vec![State::Freed, State::Live]);
        let linked = |sym: &str| s.shared.jit.lock().unwrap().lookup(sym).is_ok();
        assert!(linked("b$v1"), "b v1 is live");
        assert!(linked("a$v1"), "a v1 shares b v1's object");
        eval_ok(&mut s, "fn b() -> int { 20 }\nr = a() + b();");
        assert_eq!(s.global_int("r"), Some(30));
        assert!(s.drain(Duration::from_secs(10)));
        let linked = |sym: &str| s.shared.jit.lock().unwrap().lookup(sym).is_ok();
        assert!(!linked("a$v1") && !linked("b$v1"), "the object is unlinked");
    }

    /// The tier-up thread takes a function some task is running before those queued ahead of
    /// it.
    #[test]
    fn a_running_function_tiers_up_first() {
        let mut s = tiered_session();
        let (at, go) = hold_tier_up(&s, "a");
        eval_ok(&mut s, "fn a() -> int { 1 }");
        at.recv_timeout(Duration::from_secs(60))
            .expect("the tier-up thread reaches a");
        // Queued behind the held job, in this order: b, c, slow.
        eval_ok(&mut s, "fn b() -> int { 2 }\nfn c() -> int { 3 }");
        eval_ok(&mut s, SLOW);
        let id = spawn_slow(&mut s);
        // Make the task publish its frames (in slow's fast code).
        let deadline = Instant::now() + Duration::from_secs(20);
        while s.versions("slow").unwrap()[0].frames == 0 && Instant::now() < deadline {}
        let order = Arc::new(Mutex::new(Vec::new()));
        let o = order.clone();
        // The held hook was taken out of its slot while it runs: this one follows it.
        *s.shared.hooks.before_tier_swap.lock().unwrap() = Some(Box::new(move |f: &str| {
            o.lock().unwrap().push(f.to_string());
            false
        }));
        go.send(()).unwrap();
        assert!(s.wait_for_tier_ups(Duration::from_secs(60)));
        assert_eq!(*order.lock().unwrap(), vec!["slow", "b", "c"]);
        eval_ok(&mut s, "hold = false;");
        s.wait(Some(id)).unwrap();
    }
}
