//! The Boehm-Demers-Weiser garbage collector (Debian `libgc-dev`), wrapped.
//!
//! Arrays live on this heap. It scans the stacks of registered threads (every task thread,
//! including its JIT frames) and memory from [`alloc_root`] conservatively, so JIT code needs no
//! stack maps: a pointer held in a register or a frame keeps its array alive.

use std::ffi::c_void;
use std::sync::Once;

#[repr(C)]
struct GcStackBase {
    mem_base: *mut c_void,
}

extern "C" {
    fn GC_init();
    fn GC_allow_register_threads();
    fn GC_expand_hp(bytes: usize) -> i32;
    fn GC_get_stack_base(sb: *mut GcStackBase) -> i32;
    fn GC_register_my_thread(sb: *const GcStackBase) -> i32;
    fn GC_unregister_my_thread() -> i32;
    fn GC_malloc_atomic(size: usize) -> *mut c_void;
    fn GC_malloc(size: usize) -> *mut c_void;
    fn GC_malloc_uncollectable(size: usize) -> *mut c_void;
    fn GC_free(p: *mut c_void);
}

/// The heap the collector starts with (it grows beyond as needed).
const INITIAL_HEAP: usize = 32 << 20;

/// Initializes the collector; must first run on the main thread (the REPL calls it at start).
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        // SAFETY: GC_init is idempotent and, per the Once, runs before any other GC call;
        // GC_allow_register_threads must follow it on the main thread before threads register.
        unsafe {
            GC_init();
            GC_allow_register_threads();
            // Start with a heap that a churning program does not fill every few allocations.
            // The collector starts at 64 KiB, and a loop that drops each array leaves the heap
            // there: a collection every two or three 8 KB arrays, thousands of world stops a
            // second (~10,000 in one second of `[i; 1000]` in a loop). Each one suspends every
            // registered thread (the REPL thread, the compile thread, the foreground task) in a
            // signal handler. A collection is due once about a third of the heap was
            // allocated, so this is one per ~10 MB (~10 in that second).
            GC_expand_hp(INITIAL_HEAP);
        }
    });
}

/// Registration of the current thread with the collector, undone on drop.
///
/// Every task thread holds one for its whole life, so the collector scans its stack (and
/// stops it during collections) while it runs JIT code.
pub struct ThreadRegistration(());

impl ThreadRegistration {
    /// Registers the calling thread.
    pub fn register() -> ThreadRegistration {
        init();
        let mut sb = GcStackBase {
            mem_base: std::ptr::null_mut(),
        };
        // SAFETY: `sb` is a valid out-parameter; registration happens on the thread it
        // describes, after GC_allow_register_threads (in `init`).
        unsafe {
            GC_get_stack_base(&mut sb);
            GC_register_my_thread(&sb);
        }
        ThreadRegistration(())
    }
}

impl Drop for ThreadRegistration {
    fn drop(&mut self) {
        // SAFETY: this thread registered itself in `register` and unregisters exactly once.
        unsafe {
            GC_unregister_my_thread();
        }
    }
}

/// Allocates `size` bytes of pointer-free, collectable memory (array storage); aborts the
/// evaluation with a Rust panic if the heap is exhausted.
pub fn alloc_atomic(size: usize) -> *mut u8 {
    // SAFETY: GC_malloc_atomic may be called from any registered thread (all task threads).
    let p = unsafe { GC_malloc_atomic(size) } as *mut u8;
    assert!(!p.is_null(), "out of memory allocating {size} bytes");
    p
}

/// Allocates `size` zeroed bytes of collectable memory that the collector scans for pointers
/// (arrays of strs, arrays or structs; structs); aborts the evaluation with a Rust panic if the
/// heap is exhausted.
pub fn alloc(size: usize) -> *mut u8 {
    // SAFETY: GC_malloc may be called from any registered thread (all task threads).
    let p = unsafe { GC_malloc(size) } as *mut u8;
    assert!(!p.is_null(), "out of memory allocating {size} bytes");
    p
}

/// Allocates `size` zeroed bytes that are never collected and are scanned for pointers (the
/// cells of globals, which may hold arrays).
pub fn alloc_root(size: usize) -> *mut u8 {
    init();
    // SAFETY: after `init`, uncollectable allocation is allowed from any thread; the collector
    // zeroes the memory.
    let p = unsafe { GC_malloc_uncollectable(size) } as *mut u8;
    assert!(!p.is_null(), "out of memory allocating {size} bytes");
    p
}

/// Returns memory from [`alloc_root`].
///
/// # Safety
/// `p` came from [`alloc_root`], has not been freed, and nothing will read or write it again
/// (no linked code refers to it: a cell of a transaction that was rolled back).
pub unsafe fn free_root(p: *mut u8) {
    // SAFETY: per the contract, `p` is a live allocation of this collector nobody uses.
    unsafe { GC_free(p as *mut c_void) }
}
