//! A service's request pool: a fixed set of task threads that call a handler function
//! (`fn handle(method: str, path: str, body: str) -> str`) through its slot, one request at a
//! time each.
//!
//! Requests are JIT tasks like any other: each runs on a GC-registered thread with a
//! [`TaskCtx`] of its own and is in the running-task set while it runs (so polls, stack scans,
//! interruption and the retirement of replaced code work for it exactly as for a `:spawn`ed
//! task), and it is listed with the session's tasks (`:tasks`, `:kill`). An idle pool thread is
//! not in the running set, so it never holds up retirement. The handler's slot is loaded afresh
//! for every request, after the request has entered the running set: a redefinition takes
//! effect at the next request, and requests already in the old code finish in it.
//!
//! While a service runs, the handler's signature is *pinned*: the driver's plan stage rejects
//! a transaction that would change it (`driver/plan.rs`).
//!
//! Nothing here is asynchronous: [`Service::submit`] queues a request with a callback, and any
//! thread (an async runtime's included) may call it; JIT code runs only on the pool's threads.

use crate::gc::ThreadRegistration;
use crate::runtime::RuntimeError;
use crate::safepoint::TaskCtx;
use crate::session::Shared;
use crate::tasks::{self, Outcome};
use crate::values::{new_str, str_bytes};
use crate::{slots, ErrorKind};
use livejit_frontend::{FnSig, Type};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The handler's signature: `(method: str, path: str, body: str) -> str`.
pub fn handler_sig() -> FnSig {
    FnSig {
        params: vec![Type::Str, Type::Str, Type::Str],
        ret: Type::Str,
    }
}

/// How many requests may wait for a pool thread before new ones are refused.
pub const QUEUE_LIMIT: usize = 4096;

/// One request for the handler.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The method as sent (`GET`).
    pub method: Vec<u8>,
    /// The request target as sent (`/get?k=a`).
    pub path: Vec<u8>,
    /// The body's bytes.
    pub body: Vec<u8>,
}

/// How a request ended.
#[derive(Debug, Clone)]
pub enum Reply {
    /// The handler returned these bytes.
    Ok(Vec<u8>),
    /// The handler stopped with a runtime error; `timed_out` if it was interrupted because it
    /// ran past the service's request timeout.
    Failed {
        /// The error (`interrupted` for a timeout or a `:kill`).
        error: RuntimeError,
        /// Interrupted by the request timeout.
        timed_out: bool,
    },
    /// The runtime crashed (a bug).
    Crashed(String),
    /// The service stopped before the request ran (its drain time ran out).
    Stopped,
}

/// Why a request was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The service is shutting down.
    Stopping,
    /// [`QUEUE_LIMIT`] requests are already waiting.
    Busy,
}

/// A request being handled, for `:tasks` and `:kill` (kept in the session's [`Shared`]).
pub(crate) struct InFlight {
    pub ctx: Arc<TaskCtx>,
    /// `GET /path` (cut to a readable length).
    pub label: String,
    pub started: Instant,
    /// When the request timeout interrupts it.
    pub deadline: Instant,
    /// Set when the timeout interrupted it.
    pub timed_out: bool,
    /// The service it belongs to.
    pub service: u64,
}

type Done = Box<dyn FnOnce(Reply) + Send>;

struct Job {
    request: Request,
    done: Done,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    stopping: bool,
    /// Requests taken by a pool thread and not yet answered.
    active: usize,
    /// Set once shutdown has given up waiting: the watchdog ends.
    ended: bool,
}

struct Inner {
    shared: Arc<Shared>,
    /// A process-unique id (in-flight entries name their service).
    id: u64,
    /// The handler's name and slot (fixed while its signature is pinned).
    name: String,
    slot: usize,
    timeout: Duration,
    queue: Mutex<Queue>,
    /// Signalled when a job is queued (one pool thread wakes) or the service stops (all do).
    changed: Condvar,
    /// Signalled when a request ends (shutdown waits on it).
    finished: Condvar,
}

/// A running request pool. Dropping it without [`Service::shutdown`] shuts it down with no
/// drain time.
pub struct Service {
    inner: Arc<Inner>,
    /// The pool threads and the watchdog, taken by the first shutdown.
    threads: Mutex<Vec<JoinHandle<()>>>,
    watchdog: Mutex<Option<JoinHandle<()>>>,
    /// Set by the first shutdown (which also unpins the handler, exactly once).
    shut: std::sync::atomic::AtomicBool,
}

/// Stack size of request threads (as for every task thread).
const STACK_SIZE: usize = tasks::STACK_SIZE;

/// Longest `:tasks` label of a request, in bytes of its path.
const LABEL_PATH: usize = 60;

impl Service {
    /// Starts `threads` request threads calling `name` (whose signature the caller has pinned,
    /// and which lives in `slot`; the service drops that pin when it stops, or at once if it
    /// cannot start) and a watchdog that interrupts requests running longer than
    /// `timeout`.
    pub(crate) fn start(
        shared: Arc<Shared>,
        name: &str,
        slot: usize,
        threads: usize,
        timeout: Duration,
    ) -> Result<Service, String> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let inner = Arc::new(Inner {
            shared,
            id: NEXT.fetch_add(1, SeqCst),
            name: name.to_string(),
            slot,
            timeout,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
            finished: Condvar::new(),
        });
        let service = Service {
            inner: inner.clone(),
            threads: Mutex::new(Vec::new()),
            watchdog: Mutex::new(None),
            shut: std::sync::atomic::AtomicBool::new(false),
        };
        for _ in 0..threads.max(1) {
            let inner = inner.clone();
            let t = std::thread::Builder::new()
                .name("livejit-request".into())
                .stack_size(STACK_SIZE)
                .spawn(move || worker(&inner))
                .map_err(|e| format!("cannot start a request thread: {e}"))?;
            service
                .threads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(t);
        }
        let w = inner.clone();
        *service.watchdog.lock().unwrap_or_else(|e| e.into_inner()) = Some(
            std::thread::Builder::new()
                .name("livejit-watchdog".into())
                .spawn(move || watchdog(&w))
                .map_err(|e| format!("cannot start the request watchdog: {e}"))?,
        );
        Ok(service)
    }

    /// Queues a request; `done` receives its reply on a pool thread. Usable from any thread.
    pub fn submit(
        &self,
        request: Request,
        done: Box<dyn FnOnce(Reply) + Send>,
    ) -> Result<(), Refused> {
        let mut q = self.inner.lock();
        if q.stopping {
            return Err(Refused::Stopping);
        }
        if q.jobs.len() >= QUEUE_LIMIT {
            return Err(Refused::Busy);
        }
        q.jobs.push_back(Job { request, done });
        drop(q);
        self.inner.changed.notify_one();
        Ok(())
    }

    /// Calls the handler and waits for its reply (a convenience over [`Service::submit`]).
    pub fn call(&self, method: &str, path: &str, body: &[u8]) -> Result<Reply, Refused> {
        let (tx, rx) = std::sync::mpsc::channel();
        let request = Request {
            method: method.as_bytes().to_vec(),
            path: path.as_bytes().to_vec(),
            body: body.to_vec(),
        };
        self.submit(request, Box::new(move |r| drop(tx.send(r))))?;
        // The pool always answers a queued job (with its reply, or at shutdown).
        rx.recv().map_err(|_| Refused::Stopping)
    }

    /// Requests being handled now.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().active
    }

    /// Stops taking requests, lets queued and running ones finish for at most `drain`, then
    /// interrupts what still runs, stops the pool threads and unpins the handler's signature.
    /// Returns how many requests were still running or waiting when `drain` ran out. Only
    /// the first call does anything.
    pub fn shutdown(&self, drain: Duration) -> usize {
        if self.shut.swap(true, SeqCst) {
            return 0;
        }
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|e| e.into_inner()));
        let inner = self.inner.clone();
        let deadline = Instant::now() + drain;
        let mut q = inner.lock();
        q.stopping = true;
        inner.changed.notify_all();
        while (q.active > 0 || !q.jobs.is_empty()) && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            q = inner
                .finished
                .wait_timeout(q, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        let left_over = q.active + q.jobs.len();
        let never_ran: Vec<Job> = q.jobs.drain(..).collect();
        drop(q);
        for job in never_ran {
            (job.done)(Reply::Stopped);
        }
        if left_over > 0 {
            // Past the drain time: interrupt what runs, and give the pool threads a moment
            // to take the interruption (a thread stuck in a blocking builtin is left behind;
            // it holds its own reference to what it uses).
            for r in inner.shared.requests().values() {
                if r.service == inner.id {
                    r.ctx.interrupt();
                }
            }
        }
        let grace = Instant::now() + Duration::from_secs(2);
        for t in threads {
            while !t.is_finished() && Instant::now() < grace {
                std::thread::sleep(Duration::from_millis(2));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        inner.lock().ended = true;
        let watchdog = self
            .watchdog
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(w) = watchdog {
            let _ = w.join();
        }
        inner.shared.unpin(&inner.name);
        left_over
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown(Duration::ZERO);
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A pool thread: takes jobs until the service stops and the queue is empty.
fn worker(inner: &Arc<Inner>) {
    let _gc = ThreadRegistration::register();
    let stack_limit = TaskCtx::for_current_thread(false).stack_limit;
    loop {
        let job = {
            let mut q = inner.lock();
            loop {
                if let Some(job) = q.jobs.pop_front() {
                    q.active += 1;
                    break Some(job);
                }
                if q.stopping {
                    break None;
                }
                q = inner.changed.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        let Some(job) = job else { return };
        let reply = handle_one(inner, stack_limit, &job.request);
        (job.done)(reply);
        inner.lock().active -= 1;
        inner.finished.notify_all();
    }
}

/// Runs one request on this (pool) thread.
fn handle_one(inner: &Inner, stack_limit: usize, request: &Request) -> Reply {
    let ctx = Arc::new(TaskCtx::with_stack_limit(stack_limit, false));
    let id = inner.shared.next_task_id();
    let started = Instant::now();
    let mut label = String::from_utf8_lossy(&request.method).into_owned();
    label.push(' ');
    let path = String::from_utf8_lossy(&request.path);
    match path.char_indices().nth(LABEL_PATH) {
        Some((cut, _)) => {
            label.push_str(&path[..cut]);
            label.push_str("...");
        }
        None => label.push_str(&path),
    }
    inner.shared.requests().insert(
        id,
        InFlight {
            ctx: ctx.clone(),
            label,
            started,
            deadline: started + inner.timeout,
            timed_out: false,
            service: inner.id,
        },
    );
    // The arguments live on this thread's stack (a GC root: the thread is registered).
    let method = new_str(&request.method);
    let path = new_str(&request.path);
    let body = new_str(&request.body);
    tasks::enter(&ctx);
    // Loaded after entering the running set (see `tasks::enter`), so a version replaced before
    // this load cannot be freed while this request may run it.
    let entry = slots::load(inner.slot);
    type Handler = extern "C-unwind" fn(*const TaskCtx, *mut u8, *mut u8, *mut u8) -> *const u8;
    // SAFETY: the slot was allocated for the handler's pinned signature `(str, str, str) ->
    // str` (invariant 4: a slot only ever holds code of one signature), and a function's slot
    // is stored before it can be pinned, so `entry` is linked code of exactly this type. The
    // code stays mapped while this task is in it: the task is in the running set, so the
    // retirement protocol keeps every version it may run.
    let f: Handler = unsafe { std::mem::transmute::<usize, Handler>(entry) };
    let result = catch_unwind(AssertUnwindSafe(|| {
        let out = f(Arc::as_ptr(&ctx), method, path, body);
        // SAFETY: the handler returns a live str (GC object or literal); `out` is on this
        // thread's stack, so it stays alive while its bytes are copied.
        unsafe { str_bytes(out) }.to_vec()
    }));
    tasks::leave(&ctx);
    let timed_out = inner
        .shared
        .requests()
        .remove(&id)
        .is_some_and(|r| r.timed_out);
    match result {
        Ok(bytes) => Reply::Ok(bytes),
        Err(payload) => match tasks::failure(payload) {
            Outcome::Failed(error) => Reply::Failed {
                timed_out: timed_out && error.kind == ErrorKind::Interrupted,
                error,
            },
            Outcome::Crashed(m) => Reply::Crashed(m),
            Outcome::Done(_) => Reply::Crashed("unreachable outcome".into()),
        },
    }
}

/// Interrupts requests of this service that run past their deadline, until it stops.
fn watchdog(inner: &Arc<Inner>) {
    let tick = (inner.timeout / 4).clamp(Duration::from_millis(1), Duration::from_millis(50));
    loop {
        {
            let q = inner.lock();
            if q.ended || (q.stopping && q.active == 0 && q.jobs.is_empty()) {
                return;
            }
        }
        let now = Instant::now();
        for r in inner.shared.requests().values_mut() {
            if r.service == inner.id && !r.timed_out && now >= r.deadline {
                r.timed_out = true;
                r.ctx.interrupt();
            }
        }
        std::thread::sleep(tick);
    }
}

#[cfg(test)]
mod tests {
    use crate::session::{EvalResult, Event, Session};
    use crate::{Reply, VersionState};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn session() -> Session {
        Session::new(Arc::new(|_: Event| {})).expect("session starts")
    }

    fn eval(s: &mut Session, text: &str) -> EvalResult {
        let name = s.next_input_name();
        s.eval(&name, text)
    }

    fn eval_ok(s: &mut Session, text: &str) {
        assert!(matches!(eval(s, text), EvalResult::Ok), "{text}");
    }

    fn body(r: Reply) -> String {
        match r {
            Reply::Ok(b) => String::from_utf8(b).unwrap(),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    const HANDLE_V1: &str = r#"fn handle(method: str, path: str, body: str) -> str { "v1 " + method + " " + path + " " + body }"#;

    #[test]
    fn serve_needs_handle_with_the_handler_signature() {
        let mut s = session();
        let e = s.serve("handle", 1, Duration::from_secs(5)).err().unwrap();
        assert!(e.contains("no function `handle`"), "{e}");
        eval_ok(&mut s, "fn handle(path: str) -> str { path }");
        let e = s.serve("handle", 1, Duration::from_secs(5)).err().unwrap();
        assert!(
            e.contains("`handle` has the signature `fn(str) -> str`"),
            "{e}"
        );
        assert!(
            e.contains("fn handle(method: str, path: str, body: str) -> str"),
            "{e}"
        );
    }

    #[test]
    fn requests_call_handle_with_method_path_and_body() {
        let mut s = session();
        eval_ok(&mut s, HANDLE_V1);
        let svc = s.serve("handle", 2, Duration::from_secs(30)).unwrap();
        let r = svc.call("POST", "/set?k=a%20b", b"x\xff").unwrap();
        assert!(
            matches!(&r, Reply::Ok(b) if b == b"v1 POST /set?k=a%20b x\xff"),
            "{r:?}"
        );
        // A runtime error is a reply, and the next request is served.
        eval_ok(
            &mut s,
            r#"fn handle(method: str, path: str, body: str) -> str { str(10 / len(body)) }"#,
        );
        match svc.call("GET", "/", b"").unwrap() {
            Reply::Failed { error, timed_out } => {
                assert_eq!(error.message, "division by zero");
                assert!(!timed_out);
            }
            other => panic!("expected a runtime error, got {other:?}"),
        }
        assert_eq!(body(svc.call("GET", "/", b"ab").unwrap()), "5");
        assert_eq!(svc.shutdown(Duration::from_secs(5)), 0);
    }

    #[test]
    fn a_pinned_handle_keeps_its_signature() {
        let mut s = session();
        eval_ok(&mut s, HANDLE_V1);
        let svc = s.serve("handle", 1, Duration::from_secs(30)).unwrap();
        let changed = "fn helper() -> int { 1 }\nfn handle(method: str, path: str) -> str { path }";
        match eval(&mut s, changed) {
            EvalResult::Rejected(e) => {
                let d = &e.diagnostics[0];
                assert!(
                    d.message.contains(
                        "cannot change the signature of `handle` from `fn(str, str, str) -> str` to `fn(str, str) -> str` while the service calls it"
                    ),
                    "{}",
                    d.message
                );
                // Located at the redefined name.
                let at = d.labels[0].span;
                assert_eq!(&changed[at.start..at.end], "handle");
            }
            _ => panic!("a signature change of a pinned handler was accepted"),
        }
        // Nothing of the transaction was installed.
        assert_eq!(s.versions("handle").unwrap().len(), 1);
        assert!(s.versions("helper").is_err());
        assert_eq!(body(svc.call("GET", "/a", b"").unwrap()), "v1 GET /a ");
        // A body change under the same signature is fine.
        eval_ok(
            &mut s,
            r#"fn handle(method: str, path: str, body: str) -> str { "v2" }"#,
        );
        assert_eq!(body(svc.call("GET", "/a", b"").unwrap()), "v2");
        // Once the service is gone, the signature is free again.
        svc.shutdown(Duration::from_secs(5));
        eval_ok(&mut s, changed);
    }

    #[test]
    fn redefining_handle_during_requests_switches_later_requests_and_frees_the_old_code() {
        let mut s = session();
        eval_ok(
            &mut s,
            "global hold: bool = true;\nglobal entered: int = 0;\n\
             fn handle(method: str, path: str, body: str) -> str {\n\
               if path == \"/slow\" { entered = 1; while hold { } }\n\
               \"v1\"\n\
             }",
        );
        let svc = Arc::new(s.serve("handle", 2, Duration::from_secs(60)).unwrap());
        let slow = {
            let svc = svc.clone();
            std::thread::spawn(move || svc.call("GET", "/slow", b"").unwrap())
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while s.global_int("entered") != Some(1) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            s.global_int("entered"),
            Some(1),
            "the slow request never started"
        );
        // The request is listed with the session's tasks.
        let rows = s.tasks();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].kind, crate::TaskKind::Request);
        assert_eq!(rows[0].label, "GET /slow");
        eval_ok(
            &mut s,
            r#"fn handle(method: str, path: str, body: str) -> str { "v2" }"#,
        );
        // Later requests answer from v2 while the slow one is still in v1.
        for _ in 0..20 {
            assert_eq!(body(svc.call("GET", "/", b"").unwrap()), "v2");
        }
        let rows = s.versions("handle").unwrap();
        assert_eq!(rows[0].state, VersionState::Draining);
        assert_eq!(rows[1].state, VersionState::Live);
        eval_ok(&mut s, "hold = false;");
        assert_eq!(body(slow.join().unwrap()), "v1");
        assert!(s.drain(Duration::from_secs(10)));
        let rows = s.versions("handle").unwrap();
        assert_eq!(rows[0].state, VersionState::Freed);
        assert_eq!(rows[0].code_size, None);
        assert!(s.tasks().is_empty());
        let svc = Arc::try_unwrap(svc).ok().unwrap();
        assert_eq!(svc.shutdown(Duration::from_secs(5)), 0);
    }

    #[test]
    fn a_request_past_the_timeout_is_interrupted_and_one_can_be_killed() {
        let mut s = session();
        eval_ok(
            &mut s,
            "fn handle(method: str, path: str, body: str) -> str { while true { } \"never\" }",
        );
        let svc = s.serve("handle", 2, Duration::from_millis(100)).unwrap();
        match svc.call("GET", "/loop", b"").unwrap() {
            Reply::Failed { error, timed_out } => {
                assert_eq!(error.message, "interrupted");
                assert!(timed_out);
            }
            other => panic!("expected an interruption, got {other:?}"),
        }
        assert_eq!(svc.shutdown(Duration::from_secs(5)), 0);
        let svc = Arc::new(s.serve("handle", 1, Duration::from_secs(600)).unwrap());
        let stuck = {
            let svc = svc.clone();
            std::thread::spawn(move || svc.call("GET", "/stuck", b"").unwrap())
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let id = loop {
            if let Some(r) = s.tasks().first() {
                break r.id;
            }
            assert!(
                Instant::now() < deadline,
                "the request never showed in :tasks"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        s.kill(id).unwrap();
        match stuck.join().unwrap() {
            Reply::Failed { error, timed_out } => {
                assert_eq!(error.message, "interrupted");
                assert!(!timed_out);
            }
            other => panic!("expected an interruption, got {other:?}"),
        }
        assert!(s.kill(id).is_err());
    }

    #[test]
    fn a_hundred_redefinitions_under_load_fail_no_request_and_free_every_old_version() {
        use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
        let mut s = session();
        let version = |k: u32| {
            format!(
                "fn tag(k: int) -> str {{ let redefinition = {k}; \"v\" + str(k) }}\n\
                 fn handle(method: str, path: str, body: str) -> str {{ tag({k}) }}"
            )
        };
        eval_ok(&mut s, &version(1));
        let svc = Arc::new(s.serve("handle", 3, Duration::from_secs(60)).unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (svc, stop) = (svc.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut seen = Vec::new();
                    while !stop.load(SeqCst) {
                        seen.push(body(svc.call("GET", "/", b"").unwrap()));
                    }
                    seen
                })
            })
            .collect();
        const REDEFINITIONS: u32 = 100;
        for k in 2..=REDEFINITIONS {
            eval_ok(&mut s, &version(k));
        }
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, SeqCst);
        let mut total = 0;
        for c in clients {
            let seen = c.join().expect("a client thread");
            total += seen.len();
            // Every answer comes from an installed version, and one client never goes back to
            // an older version once a newer one has answered it.
            let ks: Vec<u32> = seen
                .iter()
                .map(|b| {
                    b.strip_prefix('v')
                        .and_then(|k| k.parse().ok())
                        .unwrap_or(0)
                })
                .collect();
            assert!(
                ks.iter().all(|k| (1..=REDEFINITIONS).contains(k)),
                "{seen:?}"
            );
            assert!(ks.windows(2).all(|w| w[0] <= w[1]), "{ks:?}");
            assert_eq!(ks.last(), Some(&REDEFINITIONS));
        }
        assert!(total > 0);
        assert!(s.drain(Duration::from_secs(20)));
        for f in ["handle", "tag"] {
            let rows = s.versions(f).unwrap();
            assert_eq!(rows.len(), REDEFINITIONS as usize);
            let (last, old) = rows.split_last().unwrap();
            assert_eq!(last.state, VersionState::Live);
            assert!(old.iter().all(|r| r.state == VersionState::Freed));
        }
        let svc = Arc::try_unwrap(svc).ok().unwrap();
        assert_eq!(svc.shutdown(Duration::from_secs(5)), 0);
    }
}
