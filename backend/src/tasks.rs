//! Tasks: threads that run JIT code (the REPL thread never does).
//!
//! Every evaluation, foreground or `:spawn`ed, runs its top-level unit on a fresh task thread
//! with a large stack, registered with the GC, with a [`TaskCtx`] that JIT code polls. A runtime
//! error is a panic caught here, at the task boundary; the task's published frames go with it,
//! so a failed or killed task never pins a version.

use crate::gc::ThreadRegistration;
use crate::runtime::RuntimeError;
use crate::safepoint::{TaskCtx, EPOCH};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;

/// Stack size of task threads: deep recursion works, unbounded recursion ends in the
/// `stack overflow` error when the poll sees the limit.
pub const STACK_SIZE: usize = 64 << 20;

/// How a task ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Finished; for background tasks, the printed final value if any.
    Done(Option<String>),
    /// Stopped by a runtime error (including `interrupted`).
    Failed(RuntimeError),
    /// A bug in the runtime (a Rust panic that is not a runtime error).
    Crashed(String),
}

static RUNNING: Mutex<Vec<Arc<TaskCtx>>> = Mutex::new(Vec::new());

/// Contexts of all tasks currently running JIT code.
pub fn running() -> Vec<Arc<TaskCtx>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Starts a new scan epoch and pokes every running task; returns the new epoch. Slots stored
/// before this call are visible to every task that publishes for the returned epoch.
pub fn request_scan() -> u64 {
    let tasks = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    let epoch = EPOCH.fetch_add(1, SeqCst) + 1;
    for t in tasks.iter() {
        t.poke();
    }
    epoch
}

/// Adds a task to the running set. Registering under the lock that [`request_scan`] holds
/// means the task either is poked by a scan or starts after it, seeing every slot stored
/// before it: slots must therefore be loaded only after this call.
pub fn enter(ctx: &Arc<TaskCtx>) {
    let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
    ctx.seen_epoch.store(EPOCH.load(SeqCst), SeqCst);
    running.push(ctx.clone());
}

/// Removes a task from the running set (its published frames go with it).
pub fn leave(ctx: &Arc<TaskCtx>) {
    RUNNING
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|t| !Arc::ptr_eq(t, ctx));
}

/// How a task whose JIT code panicked ended: a runtime error, or a crash of the runtime.
pub fn failure(payload: Box<dyn std::any::Any + Send>) -> Outcome {
    match payload.downcast::<RuntimeError>() {
        Ok(err) => Outcome::Failed(*err),
        Err(other) => Outcome::Crashed(
            other
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| other.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into()),
        ),
    }
}

/// A running task.
pub struct Task {
    /// Its context (for `:kill`, Ctrl-C and `:versions` frame counts).
    pub ctx: Arc<TaskCtx>,
    /// Joins the thread and yields the outcome.
    pub handle: JoinHandle<Outcome>,
}

/// Runs the JIT function `entry` (`void (ptr ctx)`) on a new task thread, its program output
/// going to `output` if given. `on_end` runs on the
/// task thread after the task has left the running set, before the outcome is returned.
///
/// # Safety
/// `entry` is the address of a linked JIT function of type `void (ptr ctx)` (a top-level
/// unit), and its code stays mapped until `on_end` has run (the unit is retired by `on_end`
/// and freed only after that).
pub unsafe fn spawn(
    entry: usize,
    capture_tail: bool,
    output: Option<crate::session::OutputSink>,
    on_end: Box<dyn FnOnce(&Outcome) + Send>,
) -> Result<Task, String> {
    let (tx, rx) = mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("livejit-task".into())
        .stack_size(STACK_SIZE)
        .spawn(move || {
            let _gc = ThreadRegistration::register();
            let mut ctx = TaskCtx::for_current_thread(capture_tail);
            ctx.output = output;
            let ctx = Arc::new(ctx);
            enter(&ctx);
            let _ = tx.send(ctx.clone());
            // SAFETY: per `spawn`'s contract, `entry` is a linked JIT function of type
            // `void (ptr)` whose code stays mapped until this task has ended; the context
            // outlives the call.
            let f: extern "C-unwind" fn(*const TaskCtx) = unsafe { std::mem::transmute(entry) };
            let result = catch_unwind(AssertUnwindSafe(|| f(Arc::as_ptr(&ctx))));
            leave(&ctx);
            let outcome = match result {
                Ok(()) => Outcome::Done(ctx.tail.lock().unwrap_or_else(|e| e.into_inner()).take()),
                Err(payload) => failure(payload),
            };
            on_end(&outcome);
            outcome
        })
        .map_err(|e| format!("cannot start a task thread: {e}"))?;
    let ctx = rx
        .recv()
        .map_err(|_| "the task thread died before starting".to_string())?;
    Ok(Task { ctx, handle })
}
