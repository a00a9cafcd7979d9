//! Task contexts, the safepoint poll, and the frame-pointer walk.
//!
//! Every JIT function receives its task's [`TaskCtx`] as first argument and, before its first
//! call on each path and in every loop, compares the stack pointer with `ctx.limit` (offset 0). Normally `limit`
//! is the stack limit, so the branch is taken only on stack overflow. To get a task's attention
//! (interrupt it, or ask it which versions it is running), another thread sets `limit` to
//! `usize::MAX`: the next poll then enters [`lj_poll`], the slow path. This is Go's stack-guard
//! trick: one load, one compare, one rarely taken branch carry stack checks, interruption and
//! version scans together, with no per-call bookkeeping.
//!
//! The scan protocol (retirement, see `reclaim.rs`): installing versions bumps the global
//! [`EPOCH`] and pokes every task. A task at its next poll walks its own frame-pointer chain,
//! maps each return address to the version that contains it (`versions::CodeMap`) and
//! publishes that set with the epoch it saw. A task blocked in `sleep_ms` publishes before
//! sleeping and is *parked*: its published set stays valid until it wakes.

use crate::runtime::{raise, ErrorKind};
use crate::versions::{code_at, CodeInfo};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

/// Incremented whenever tasks must re-publish the versions they are in.
pub static EPOCH: AtomicU64 = AtomicU64::new(1);

/// Stack kept free below the limit for runtime calls and for unwinding a panic.
pub const STACK_MARGIN: usize = 256 * 1024;

/// The versions a task was running when it last walked its stack.
#[derive(Default, Debug)]
pub struct Published {
    /// Ids of the versions with at least one frame on the task's stack.
    pub versions: Vec<u64>,
    /// Number of frames per version id (for `:versions`), same order as `versions`.
    pub frames: Vec<u32>,
}

/// Per-task state shared between the task thread, JIT code, the REPL and the reclaimer.
#[repr(C)]
pub struct TaskCtx {
    /// Offset 0, read by every poll in JIT code: the stack pointer below which the slow path
    /// runs. Either `stack_limit` or `usize::MAX` (attention requested).
    pub limit: AtomicUsize,
    /// The real stack limit (stack bottom + [`STACK_MARGIN`]).
    pub stack_limit: usize,
    /// Set by `:kill` / Ctrl-C; delivered as the `interrupted` runtime error at the next poll.
    pub interrupt: AtomicBool,
    /// The last epoch this task published for.
    pub seen_epoch: AtomicU64,
    /// True while blocked in a builtin (its published set stays valid).
    pub parked: AtomicBool,
    /// What the last walk found.
    pub published: Mutex<Published>,
    /// How long the last walk took (ns): the reclaimer asks a task with a deep stack for
    /// re-scans less often, so that walking never takes most of its time.
    pub walk_ns: AtomicU64,
    /// The `print` line being built (only the owning thread touches it).
    pub print_buf: Mutex<Vec<u8>>,
    /// Arguments of the `print` being built so far (the separator goes before all but the
    /// first, even when the first printed nothing: `print("", 0)` is " 0").
    pub print_args: AtomicUsize,
    /// For background tasks, the final value is kept here instead of printed.
    pub capture_tail: bool,
    /// The captured final value.
    pub tail: Mutex<Option<String>>,
    /// Where this task's program output goes (`None`: the process-wide route).
    pub output: Option<crate::session::OutputSink>,
}

impl TaskCtx {
    /// A context for the calling thread, whose stack spans `[low, high)`.
    pub fn for_current_thread(capture_tail: bool) -> TaskCtx {
        TaskCtx::with_stack_limit(current_stack_low() + STACK_MARGIN, capture_tail)
    }

    /// A context for a thread whose stack limit is already known (the request threads of a
    /// service make one per request, see `service.rs`).
    pub fn with_stack_limit(stack_limit: usize, capture_tail: bool) -> TaskCtx {
        TaskCtx {
            limit: AtomicUsize::new(stack_limit),
            stack_limit,
            interrupt: AtomicBool::new(false),
            seen_epoch: AtomicU64::new(EPOCH.load(SeqCst)),
            parked: AtomicBool::new(false),
            published: Mutex::new(Published::default()),
            walk_ns: AtomicU64::new(0),
            print_buf: Mutex::new(Vec::new()),
            print_args: AtomicUsize::new(0),
            capture_tail,
            tail: Mutex::new(None),
            output: None,
        }
    }

    /// Asks the task to enter the slow path at its next poll.
    pub fn poke(&self) {
        self.limit.store(usize::MAX, SeqCst);
    }

    /// Requests interruption (delivered at the next poll or while sleeping).
    pub fn interrupt(&self) {
        self.interrupt.store(true, SeqCst);
        self.poke();
    }

    /// Whether this task's published set is current for `epoch`.
    pub fn published_since(&self, epoch: u64) -> bool {
        self.parked.load(SeqCst) || self.seen_epoch.load(SeqCst) >= epoch
    }

    /// The epoch this task's published set is current for (`u64::MAX` while parked) and that
    /// set, read in this order: [`TaskCtx::publish`] stores the set before the epoch and
    /// [`TaskCtx::park`] parks after publishing, so the set read is the one published for that
    /// epoch or a later walk's, never an older one. (Reading the set first could pair the set
    /// of an earlier epoch with the epoch of a walk that ran in between.)
    pub fn published_view(&self) -> (u64, Vec<u64>) {
        let epoch = if self.parked.load(SeqCst) {
            u64::MAX
        } else {
            self.seen_epoch.load(SeqCst)
        };
        let versions = self
            .published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .versions
            .clone();
        (epoch, versions)
    }

    /// Walks the stack from a JIT frame and publishes the versions found (the set first, then
    /// the epoch: see [`TaskCtx::published_view`]).
    fn publish(&self, frame: usize, self_fn: usize) {
        let epoch = EPOCH.load(SeqCst);
        let started = std::time::Instant::now();
        let chain = walk(frame, self_fn);
        let mut p = Published::default();
        for info in &chain {
            match p.versions.iter().position(|v| *v == info.id) {
                Some(i) => p.frames[i] += 1,
                None => {
                    p.versions.push(info.id);
                    p.frames.push(1);
                }
            }
        }
        *self.published.lock().unwrap_or_else(|e| e.into_inner()) = p;
        self.seen_epoch.store(epoch, SeqCst);
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.walk_ns.store(took, SeqCst);
    }

    /// Marks the task as blocked in a builtin after publishing its frames.
    pub fn park(&self, frame: usize, self_fn: usize) {
        self.publish(frame, self_fn);
        self.parked.store(true, SeqCst);
    }

    /// Ends a park. Loads after this see every slot stored before the current epoch.
    pub fn unpark(&self) {
        self.parked.store(false, SeqCst);
        let _ = EPOCH.load(SeqCst);
    }
}

/// Lowest usable address of the current thread's stack.
fn current_stack_low() -> usize {
    // SAFETY: pthread_getattr_np fills `attr` for the calling thread; we read the stack range
    // and destroy the attribute object exactly once.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return 0;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        addr as usize
    }
}

/// Walks the frame-pointer chain starting at a JIT frame `frame` of function `self_fn`,
/// returning the code of every JIT frame, innermost first.
///
/// Only JIT frames are followed: every JIT function keeps a frame pointer, JIT code never runs
/// above a Rust frame on the same task except at the bottom (the task entry), and the walk
/// stops at the first return address that is not JIT code.
pub fn walk(frame: usize, self_fn: usize) -> Vec<Arc<CodeInfo>> {
    // `self_fn` is a function's entry, or an inlined copy's descriptor naming the inlined
    // version and the caller whose frame it runs in (`inline.rs`).
    let mut chain = match code_at(self_fn) {
        Some(first) => vec![first],
        None => crate::inline::resolve(self_fn),
    };
    if chain.is_empty() {
        return chain;
    }
    let mut fp = frame;
    let mut last: Option<(usize, Arc<CodeInfo>)> = None;
    while fp != 0 && fp.is_multiple_of(8) {
        // SAFETY: `fp` is the frame pointer of a live JIT frame on this thread's stack (the
        // first one is passed by JIT code itself, the next ones come from a JIT frame's saved
        // frame-pointer slot, which we only follow after checking that the frame's return
        // address lies in JIT code). Such a frame stores [saved fp, return address] at fp.
        let (saved_fp, ret) = unsafe {
            let p = fp as *const usize;
            (p.read(), p.add(1).read())
        };
        // `ret - 1` lies inside the calling instruction, even when a call is the last
        // instruction of its function (a noreturn call to a runtime error).
        let pc = ret.wrapping_sub(1);
        let info = match &last {
            Some((addr, info)) if *addr == pc => Some(info.clone()),
            _ => code_at(pc),
        };
        let Some(info) = info else { break };
        last = Some((pc, info.clone()));
        chain.push(info);
        if saved_fp <= fp {
            break;
        }
        fp = saved_fp;
    }
    chain
}

/// The poll slow path, called by JIT code when its stack pointer is below `ctx.limit`.
///
/// # Safety
/// Called only by JIT code with its own task context, frame address and function address.
#[no_mangle]
pub unsafe extern "C-unwind" fn lj_poll(ctx: *const TaskCtx, frame: usize, self_fn: usize) {
    // SAFETY: JIT code passes the context of the task running it, alive for the whole task.
    let ctx = unsafe { &*ctx };
    // Restore the limit first: a request that arrives after this store sets it again, one that
    // arrived before is seen by the loads below.
    ctx.limit.store(ctx.stack_limit, SeqCst);
    if frame < ctx.stack_limit {
        raise(ErrorKind::StackOverflow, 0, 0, frame, self_fn, None);
    }
    if ctx.interrupt.load(SeqCst) {
        raise(ErrorKind::Interrupted, 0, 0, frame, self_fn, None);
    }
    if ctx.seen_epoch.load(SeqCst) < EPOCH.load(SeqCst) {
        ctx.publish(frame, self_fn);
    }
}
