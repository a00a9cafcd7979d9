//! The runtime: builtins and runtime errors called from JIT code.
//!
//! Every function here is `extern "C-unwind"`, declared once in `abi.rs` (name, signature)
//! and defined in the JIT as an absolute symbol from there. Runtime errors are Rust panics raised with `resume_unwind` (so no panic hook
//! prints anything): they unwind through the JIT frames, which have unwind tables, to the
//! `catch_unwind` at the task boundary (`tasks.rs`), which turns them into diagnostics.

use crate::abi::unpack_span;
use crate::safepoint::{walk, TaskCtx};
use crate::versions::{CodeInfo, Source};
use livejit_frontend::Span;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use crate::abi::ErrorKind;

impl ErrorKind {
    fn message(self, a: i64, b: i64) -> String {
        match self {
            ErrorKind::Index => format!("index {a} out of range for length {b}"),
            ErrorKind::DivZero => "division by zero".into(),
            ErrorKind::NegativeLength => format!("negative array length {a}"),
            ErrorKind::Assert => "assertion failed".into(),
            ErrorKind::RandBound => format!("rand bound must be positive, got {a}"),
            ErrorKind::StackOverflow => "stack overflow".into(),
            ErrorKind::Interrupted => "interrupted".into(),
            ErrorKind::TooLarge => format!("array of {a} elements is too large"),
            ErrorKind::Message => "runtime error".into(),
        }
    }
}

/// A runtime error travelling from JIT code to the task boundary as a panic payload.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuntimeError {
    /// Which error.
    pub kind: ErrorKind,
    /// The message (docs/language.md lists them).
    pub message: String,
    /// The source and span where it happened.
    pub at: Option<(Arc<Source>, Span)>,
    /// `in f (v2) called from main (v1) called from <input:3>`, repeats folded (see
    /// [`format_chain`]).
    pub chain: String,
    /// The innermost frame, `f (v2)` (or the input name for top-level code): where an
    /// interruption is reported.
    pub function: String,
}

/// Most entries a formatted call chain shows (the innermost and outermost are kept).
pub const CHAIN_ENTRIES: usize = 10;

/// Longest cycle of calls (in distinct frames) that [`format_chain`] folds.
const MAX_CYCLE: usize = 8;

/// Formats a call chain, innermost first: `in f (v2) called from main (v1) called from
/// <input:3>`. Repeats are folded with their count: a run of one version (recursion) becomes
/// `f (v1) × 1,000`, and a repeated cycle of up to 8 frames (mutual recursion) becomes
/// `(a (v1) -> b (v1)) × 500,000`. At most [`CHAIN_ENTRIES`] entries are shown; the middle of a
/// longer chain is replaced by `... N more frames ...`. The output is small whatever the depth.
pub fn format_chain(chain: &[Arc<CodeInfo>]) -> String {
    let ids: Vec<u64> = chain.iter().map(|c| c.id).collect();
    // Each entry: (first frame, cycle length, repeat count).
    let mut entries: Vec<(usize, usize, usize)> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut best = (1, 1);
        for p in 1..=MAX_CYCLE.min(ids.len() - i) {
            let mut reps = 1;
            while i + (reps + 1) * p <= ids.len()
                && ids[i + reps * p..i + (reps + 1) * p] == ids[i..i + p]
            {
                reps += 1;
            }
            // Prefer the fold that covers most frames; ties go to the shorter cycle.
            if reps > 1 && p * reps > best.0 * best.1 {
                best = (p, reps);
            }
        }
        entries.push((i, best.0, best.1));
        i += best.0 * best.1;
    }
    let entry_text = |&(start, p, reps): &(usize, usize, usize)| -> String {
        let names: Vec<String> = chain[start..start + p]
            .iter()
            .map(|c| c.to_string())
            .collect();
        match (p, reps) {
            (_, 1) => names.join(" -> "),
            (1, _) => format!("{} × {}", names[0], group_digits(reps)),
            _ => format!("({}) × {}", names.join(" -> "), group_digits(reps)),
        }
    };
    let mut parts: Vec<String> = Vec::new();
    if entries.len() <= CHAIN_ENTRIES {
        parts.extend(entries.iter().map(entry_text));
    } else {
        let head = CHAIN_ENTRIES / 2;
        let tail = CHAIN_ENTRIES - head - 1;
        let hidden = &entries[head..entries.len() - tail];
        let frames: usize = hidden.iter().map(|(_, p, r)| p * r).sum();
        parts.extend(entries[..head].iter().map(entry_text));
        parts.push(format!("... {} more frames ...", group_digits(frames)));
        parts.extend(entries[entries.len() - tail..].iter().map(entry_text));
    }
    let mut out = String::new();
    for (k, part) in parts.iter().enumerate() {
        out.push_str(if k == 0 { "in " } else { " called from " });
        out.push_str(part);
    }
    out
}

/// `1234567` as `1,234,567`.
pub fn group_digits(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (k, c) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Raises a runtime error from JIT frame `frame` of function `self_fn`. Never returns.
pub fn raise(
    kind: ErrorKind,
    a: i64,
    b: i64,
    frame: usize,
    self_fn: usize,
    span: Option<Span>,
) -> ! {
    raise_error(kind, kind.message(a, b), frame, self_fn, span)
}

/// Raises a runtime error with its own message (the string and input/output errors) from JIT
/// frame `frame` of function `self_fn`. Never returns.
pub fn raise_msg(message: String, frame: usize, self_fn: usize, span: Option<Span>) -> ! {
    raise_error(ErrorKind::Message, message, frame, self_fn, span)
}

fn raise_error(
    kind: ErrorKind,
    message: String,
    frame: usize,
    self_fn: usize,
    span: Option<Span>,
) -> ! {
    let chain = walk(frame, self_fn);
    let at = chain
        .first()
        .map(|info| info.source.locate(span.unwrap_or(info.span)));
    let err = RuntimeError {
        kind,
        message,
        at,
        chain: format_chain(&chain),
        function: chain.first().map(|c| c.to_string()).unwrap_or_default(),
    };
    std::panic::resume_unwind(Box::new(err))
}

/// The input size limit (`LIVEJIT_MAX_INPUT` bytes, default 16 MiB), for `read_file`.
pub(crate) fn max_input_bytes() -> u64 {
    static LIMIT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("LIVEJIT_MAX_INPUT")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(16 << 20)
    })
}

/// Borrows the task context passed by JIT code.
pub(crate) fn task<'a>(ctx: *const TaskCtx) -> &'a TaskCtx {
    // SAFETY: JIT code always passes the context of the task running it, which outlives every
    // JIT frame of that task (the task thread owns it until its entry call returns).
    unsafe { &*ctx }
}

/// Raises the runtime error `kind`; JIT code calls this on a failed check.
pub(crate) extern "C-unwind" fn lj_error(
    _ctx: *const TaskCtx,
    kind: u32,
    a: i64,
    b: i64,
    frame: usize,
    self_fn: usize,
    span: u64,
) {
    raise(
        ErrorKind::from_raw(kind),
        a,
        b,
        frame,
        self_fn,
        Some(unpack_span(span)),
    )
}

/// Bytes before the elements of an array (or the bytes of a str): the length.
pub(crate) const HEADER: usize = 8;

/// The largest array we allocate: half the machine's memory. Beyond that the allocation would
/// "succeed" lazily and the kernel's OOM killer would end the whole session while the array is
/// filled; refusing it is an ordinary runtime error instead.
pub(crate) fn max_array_bytes() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        // SAFETY: sysconf only reads system configuration.
        let (pages, page) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && page > 0 {
            (pages as usize).saturating_mul(page as usize) / 2
        } else {
            1 << 32
        }
    })
}

pub(crate) fn with_line(ctx: *const TaskCtx, f: impl FnOnce(&mut Vec<u8>)) {
    let t = task(ctx);
    let mut buf = t.print_buf.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut buf);
}

/// Appends the separator before every argument but the first.
pub(crate) fn sep(ctx: *const TaskCtx, buf: &mut Vec<u8>) {
    if task(ctx).print_args.fetch_add(1, Ordering::Relaxed) > 0 {
        buf.push(b' ');
    }
}

pub(crate) extern "C-unwind" fn lj_print_begin(ctx: *const TaskCtx) {
    task(ctx).print_args.store(0, Ordering::Relaxed);
    with_line(ctx, |b| b.clear());
}

pub(crate) extern "C-unwind" fn lj_print_int(ctx: *const TaskCtx, v: i64) {
    with_line(ctx, |b| {
        sep(ctx, b);
        let _ = write!(b, "{v}");
    });
}

pub(crate) extern "C-unwind" fn lj_print_float(ctx: *const TaskCtx, v: f64) {
    with_line(ctx, |b| {
        sep(ctx, b);
        let _ = write!(b, "{v:?}");
    });
}

pub(crate) extern "C-unwind" fn lj_print_bool(ctx: *const TaskCtx, v: i64) {
    with_line(ctx, |b| {
        sep(ctx, b);
        b.extend_from_slice(if v != 0 { b"true" } else { b"false" });
    });
}

pub(crate) extern "C-unwind" fn lj_print_unit(ctx: *const TaskCtx) {
    with_line(ctx, |b| {
        sep(ctx, b);
        b.extend_from_slice(b"()");
    });
}

/// Where program output goes instead of stdout, if set (the interactive REPL routes it through
/// the line editor so that a background task's lines do not garble the prompt).
static OUTPUT_HOOK: std::sync::OnceLock<OutputHook> = std::sync::OnceLock::new();

/// Receives each line of program output (without its newline).
pub type OutputHook = Box<dyn Fn(&str) + Send + Sync>;

/// Routes every line of program output (`print`, final values) to `hook` from now on. Only the
/// first call has an effect.
pub fn route_program_output(hook: OutputHook) {
    let _ = OUTPUT_HOOK.set(hook);
}

/// Writes one line of `ctx`'s program output: to the task's own sink if it has one, else to the
/// process-wide route, else to stdout.
fn write_line(ctx: *const TaskCtx, line: &[u8]) {
    if let Some(sink) = &task(ctx).output {
        sink(&String::from_utf8_lossy(line));
        return;
    }
    if let Some(hook) = OUTPUT_HOOK.get() {
        hook(&String::from_utf8_lossy(line));
        return;
    }
    let mut out = std::io::stdout().lock();
    // A closed stdout (e.g. `| head`) must not kill the session: ignore write errors.
    let _ = out.write_all(line);
    let _ = out.write_all(b"\n");
    let _ = out.flush();
}

pub(crate) extern "C-unwind" fn lj_print_end(ctx: *const TaskCtx) {
    with_line(ctx, |b| {
        write_line(ctx, b);
        b.clear();
    });
}

/// Ends the printing of an input's final value: printed for foreground evaluations, kept for
/// background tasks (whose value is reported when they end).
pub(crate) extern "C-unwind" fn lj_tail_end(ctx: *const TaskCtx) {
    let t = task(ctx);
    let line = std::mem::take(&mut *t.print_buf.lock().unwrap_or_else(|e| e.into_inner()));
    if t.capture_tail {
        *t.tail.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(String::from_utf8_lossy(&line).into_owned());
    } else {
        write_line(ctx, &line);
    }
}

pub(crate) extern "C-unwind" fn lj_time_ns(
    _ctx: *const TaskCtx,
    _frame: usize,
    _self_fn: usize,
    _span: u64,
) -> i64 {
    monotonic_ns()
}

/// The monotonic clock in nanoseconds, as the `time_ns` builtin reads it.
pub fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the current monotonic time into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Sleeps while parked (the task's frames are published, so retirement need not wait for
/// it), waking every few milliseconds to honour interruption.
pub(crate) extern "C-unwind" fn lj_sleep_ms(
    ctx: *const TaskCtx,
    ms: i64,
    frame: usize,
    self_fn: usize,
    _span: u64,
) {
    let t = task(ctx);
    t.park(frame, self_fn);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(ms.max(0) as u64);
    loop {
        if t.interrupt.load(Ordering::SeqCst) {
            t.unpark();
            raise(ErrorKind::Interrupted, 0, 0, frame, self_fn, None);
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            break;
        }
        std::thread::sleep((deadline - now).min(std::time::Duration::from_millis(5)));
    }
    t.unpark();
}

/// State of the shared random generator (splitmix64), so `seed` makes every task's `rand`
/// sequence reproducible regardless of which thread runs it.
static RNG: AtomicU64 = AtomicU64::new(0x853c_49e6_748f_ea9b);

pub(crate) extern "C-unwind" fn lj_seed(
    _ctx: *const TaskCtx,
    s: i64,
    _frame: usize,
    _self_fn: usize,
    _span: u64,
) {
    RNG.store(s as u64, Ordering::SeqCst);
}

pub(crate) extern "C-unwind" fn lj_rand(
    _ctx: *const TaskCtx,
    n: i64,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> i64 {
    if n <= 0 {
        raise(
            ErrorKind::RandBound,
            n,
            0,
            frame,
            self_fn,
            Some(unpack_span(span)),
        );
    }
    let mut z = RNG
        .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::SeqCst)
        .wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    // Multiply-shift maps 64 random bits onto 0..n with negligible bias.
    ((u128::from(z) * n as u128) >> 64) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u64, name: &str, n: u32) -> Arc<CodeInfo> {
        Arc::new(CodeInfo {
            id,
            name: name.into(),
            n,
            source: Source::new("x", ""),
            start: 0,
            size: 0,
            span: Span::default(),
        })
    }

    #[test]
    fn chains_fold_repeats_and_cycles() {
        let (a, b, top) = (frame(1, "a", 1), frame(2, "b", 1), frame(3, "<input:1>", 0));
        let mut chain = Vec::new();
        for _ in 0..500_000 {
            chain.push(a.clone());
            chain.push(b.clone());
        }
        chain.push(top.clone());
        assert_eq!(
            format_chain(&chain),
            "in (a (v1) -> b (v1)) × 500,000 called from <input:1>"
        );
        let run = vec![a.clone(), a.clone(), a.clone(), b.clone(), top.clone()];
        assert_eq!(
            format_chain(&run),
            "in a (v1) × 3 called from b (v1) called from <input:1>"
        );
        let distinct: Vec<_> = (0..30).map(|i| frame(100 + i, "f", i as u32 + 1)).collect();
        let text = format_chain(&distinct);
        assert_eq!(
            text.matches("called from").count(),
            CHAIN_ENTRIES - 1,
            "{text}"
        );
        assert!(text.contains("... 21 more frames ..."), "{text}");
        assert_eq!(group_digits(999_999), "999,999");
        assert_eq!(group_digits(12), "12");
    }

    #[test]
    fn messages_match_the_contract() {
        assert_eq!(
            ErrorKind::Index.message(5, 3),
            "index 5 out of range for length 3"
        );
        assert_eq!(ErrorKind::DivZero.message(0, 0), "division by zero");
        assert_eq!(
            ErrorKind::NegativeLength.message(-2, 0),
            "negative array length -2"
        );
        assert_eq!(ErrorKind::Assert.message(0, 0), "assertion failed");
        assert_eq!(ErrorKind::StackOverflow.message(0, 0), "stack overflow");
        assert_eq!(ErrorKind::Interrupted.message(0, 0), "interrupted");
    }

    #[test]
    fn rand_stays_in_range_and_seed_repeats() {
        lj_seed(std::ptr::null(), 42, 0, 0, 0);
        let a: Vec<i64> = (0..100)
            .map(|_| lj_rand(std::ptr::null(), 10, 0, 0, 0))
            .collect();
        lj_seed(std::ptr::null(), 42, 0, 0, 0);
        let b: Vec<i64> = (0..100)
            .map(|_| lj_rand(std::ptr::null(), 10, 0, 0, 0))
            .collect();
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (0..10).contains(x)));
    }
}
