//! Tiers: a definition is installed at once at the fast tier (no optimization, FastISel) and
//! optimized here, in the background, at the `:opt` level.
//!
//! One thread per session (started with its first job, at a lower scheduling priority) takes
//! the installed fast-tier functions in the order they were defined, except that a function
//! some task was running at its last stack walk goes first: the walks the retirement protocol
//! already makes (after every install and every tier-up) sample what is hot, at no cost to the
//! code itself. For each one it reads the
//! version's kept bitcode into a fresh LLVM context, optimizes it, keeps its bitcode, and emits
//! and links it under another symbol (`f$v3` becomes `f$v3.opt`: the fast code stays linked
//! until it is retired) —
//! holding only the JIT lock while linking, never the transaction or the registry lock across
//! LLVM. Then, under the registry lock, [`Compiled::tier_up`] stores it into the version's slot
//! only if the version is still live at the fast tier and the slot still holds its fast code (a
//! compare-and-swap), so a redefinition committed meanwhile always wins and the optimized code
//! of a replaced version is never installed. A tier-up is not a new version: the fast code
//! becomes an old tier of the same version, with its own code-map entry, and is freed by the
//! reclaimer once no task can be in it, like any replaced code.
//!
//! [`Compiled::tier_up`]: crate::versions::Compiled::tier_up

use crate::objcode::{self, Targets};
use crate::session::Shared;
use crate::tasks;
use crate::versions::{next_id, Code, CodeInfo};
use inkwell::context::Context;
use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// When functions get their optimizing tier (`LIVEJIT_TIER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tiering {
    /// At the fast tier at once, optimized in the background (the default).
    Tiered,
    /// At the fast tier only, never optimized (`LIVEJIT_TIER=fast`).
    Fast,
    /// Optimized at once, before the definition is installed (`LIVEJIT_TIER=opt-now`).
    OptNow,
}

impl Tiering {
    /// The tiering `LIVEJIT_TIER` asks for: unset, empty or `tiered`, `fast`, or `opt-now`.
    pub fn from_env() -> Result<Tiering, String> {
        match std::env::var("LIVEJIT_TIER") {
            Err(std::env::VarError::NotPresent) => Ok(Tiering::Tiered),
            Ok(v) => match v.as_str() {
                "" | "tiered" => Ok(Tiering::Tiered),
                "fast" => Ok(Tiering::Fast),
                "opt-now" => Ok(Tiering::OptNow),
                other => Err(format!(
                    "LIVEJIT_TIER must be `tiered`, `fast` or `opt-now`, not `{other}`"
                )),
            },
            Err(e) => Err(format!("LIVEJIT_TIER: {e}")),
        }
    }
}

/// One function version to optimize.
pub(crate) struct TierUp {
    /// The function.
    pub name: String,
    /// The id of its fast-tier code (it identifies the version until the tier-up).
    pub id: u64,
    /// Its symbol at the fast tier (`f$v3`).
    pub symbol: String,
    /// The module its fast code was made from.
    pub bitcode: Arc<[u8]>,
    /// The optimization level.
    pub level: u8,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<TierUp>,
    /// A job is being compiled.
    busy: bool,
    stop: bool,
}

type State = Arc<(Mutex<Queue>, Condvar)>;

/// The session's tier-up thread and its queue.
pub(crate) struct TierThread {
    state: State,
    shared: Weak<Shared>,
    pub(crate) handle: Option<JoinHandle<()>>,
}

fn lock(state: &State) -> std::sync::MutexGuard<'_, Queue> {
    state.0.lock().unwrap_or_else(|e| e.into_inner())
}

impl TierThread {
    /// A queue for the session whose shared state is `shared` (no thread yet).
    pub(crate) fn new(shared: Weak<Shared>) -> TierThread {
        TierThread {
            state: Arc::default(),
            shared,
            handle: None,
        }
    }

    /// Queues `jobs` (after their versions were committed), starting the thread if needed.
    pub(crate) fn push(&mut self, jobs: Vec<TierUp>) {
        if jobs.is_empty() {
            return;
        }
        if self.handle.is_none() {
            let state = self.state.clone();
            let shared = self.shared.clone();
            // LLVM recurses on deep expressions (see `Session::install_on_big_stack`).
            let spawned = std::thread::Builder::new()
                .name("livejit-tierup".into())
                .stack_size(256 << 20)
                .spawn(move || run(state, shared));
            match spawned {
                Ok(h) => self.handle = Some(h),
                // Without the thread, functions stay at the fast tier: slower, still right.
                Err(_) => return,
            }
        }
        let mut q = lock(&self.state);
        // A function redefined before its turn: its queued version is stale (it would be
        // skipped anyway), and its bitcode need not be kept meanwhile.
        q.jobs
            .retain(|old| !jobs.iter().any(|new| new.name == old.name));
        q.jobs.extend(jobs);
        drop(q);
        self.state.1.notify_all();
    }

    /// Waits until every queued job is done, or `timeout` passes; true if none is left.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut q = lock(&self.state);
        while q.busy || !q.jobs.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            q = self
                .state
                .1
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Drops the queued jobs and ends the thread once its current job is done.
    pub(crate) fn stop(&mut self) {
        {
            let mut q = lock(&self.state);
            q.stop = true;
            q.jobs.clear();
        }
        self.state.1.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for TierThread {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(state: State, shared: Weak<Shared>) {
    // The optimizing tier is background work: let definitions and running programs go first.
    // SAFETY: setpriority on the calling thread's own id only changes its scheduling priority.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
    let targets = Targets::host().ok();
    loop {
        // Hot first: code some task was running at its last stack walk (every tier-up and
        // every install asks running tasks for one) goes before the queue's order.
        let hot: HashSet<u64> = tasks::running()
            .iter()
            .flat_map(|t| t.published_view().1)
            .collect();
        let job = {
            let mut q = lock(&state);
            if q.stop {
                return;
            }
            if q.jobs.is_empty() {
                drop(state.1.wait(q).unwrap_or_else(|e| e.into_inner()));
                continue;
            }
            let pick = q.jobs.iter().position(|j| hot.contains(&j.id)).unwrap_or(0);
            q.busy = true;
            q.jobs.remove(pick).expect("a queued job")
        };
        if let (Some(targets), Some(shared)) = (&targets, shared.upgrade()) {
            // An error leaves the version at the fast tier: slower, still right.
            let _ = tier_up(&shared, targets, &job);
        }
        lock(&state).busy = false;
        state.1.notify_all();
    }
}

/// Whether `job`'s version is still its function's live version at the fast tier.
fn still_wanted(shared: &Shared, job: &TierUp) -> bool {
    let reg = shared.reg.lock().unwrap_or_else(|e| e.into_inner());
    reg.fns
        .get(&job.name)
        .is_some_and(|f| f.current().unit.info.id == job.id)
}

/// Compiles and links `job`'s optimized code and swaps it in; true if it was installed.
fn tier_up(shared: &Shared, targets: &Targets, job: &TierUp) -> Result<bool, String> {
    // A version replaced before its turn is not optimized at all.
    if !still_wanted(shared, job) {
        return Ok(false);
    }
    let ctx = Context::create();
    let module = objcode::parse_bitcode(&ctx, &job.bitcode, &job.symbol)?;
    let func = module
        .get_function(&job.symbol)
        .ok_or_else(|| format!("{} missing from its bitcode", job.symbol))?;
    targets.optimize(&module, job.level)?;
    // Kept under the version's own symbol, which `:ir` and `:asm` show whatever the tier.
    let bitcode: Arc<[u8]> = Arc::from(objcode::bitcode(&module));
    let symbol = format!("{}.opt", job.symbol);
    func.as_global_value().set_name(&symbol);
    let object = targets.emit_object(&module, job.level)?;
    drop(module);
    let size = objcode::symbol_size(&object, &symbol)?;
    let (tracker, addrs) = shared
        .jit
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .add_object(&object, &symbol, &[&symbol])?;
    let code = Code::new(shared.jit.clone(), tracker, addrs[0], size);
    #[cfg(test)]
    shared.hooks.before_tier_swap(&job.name);
    let mut reg = shared.reg.lock().unwrap_or_else(|e| e.into_inner());
    let Some(v) = reg
        .fns
        .get_mut(&job.name)
        .and_then(|f| f.versions.iter_mut().find(|v| v.unit.info.id == job.id))
    else {
        // Dropping `code` here unlinks it: no slot ever held it.
        return Ok(false);
    };
    let old = &v.unit.info;
    let info = Arc::new(CodeInfo {
        id: next_id(),
        name: old.name.clone(),
        n: old.n,
        source: old.source.clone(),
        start: code.addr,
        size: code.size,
        span: old.span,
    });
    let slot = v.slot;
    Ok(v.unit.tier_up(slot, info, code, bitcode, job.level))
}
