//! The slot table: one pointer-sized cell per (function, signature).
//!
//! JIT code calls a user function by loading its slot (monotonic atomic load) and calling
//! through the pointer, so installing a version is a single atomic store and the very next call
//! anywhere, including inside loops already running, runs the new code. A signature change gets
//! a fresh slot: code compiled against the old signature keeps calling through the old slot, so
//! it can never call a body with a different ABI (see `reclaim.rs` for how that pins the old
//! body until no such code remains).

use std::sync::atomic::{AtomicUsize, Ordering};

/// Maximum number of slots in a session.
pub const CAPACITY: usize = 1 << 16;

static SLOTS: [AtomicUsize; CAPACITY] = [const { AtomicUsize::new(0) }; CAPACITY];
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Allocates a fresh slot and returns its address (stable for the life of the process).
pub fn alloc() -> Result<usize, String> {
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    if i >= CAPACITY {
        return Err(format!("too many function slots (the limit is {CAPACITY})"));
    }
    Ok(&SLOTS[i] as *const AtomicUsize as usize)
}

fn cell(addr: usize) -> &'static AtomicUsize {
    let base = SLOTS.as_ptr() as usize;
    assert!(
        addr >= base && addr < base + CAPACITY * 8 && (addr - base).is_multiple_of(8),
        "not a slot address"
    );
    &SLOTS[(addr - base) / 8]
}

/// Installs `code` in the slot: every later load (from any thread) sees it.
pub fn store(addr: usize, code: usize) {
    cell(addr).store(code, Ordering::SeqCst);
}

/// The code currently installed in the slot.
pub fn load(addr: usize) -> usize {
    cell(addr).load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    #[test]
    fn slots_are_distinct_and_hold_what_was_stored() {
        let a = super::alloc().unwrap();
        let b = super::alloc().unwrap();
        assert_ne!(a, b);
        super::store(a, 0x1234);
        super::store(b, 0x5678);
        assert_eq!(super::load(a), 0x1234);
        assert_eq!(super::load(b), 0x5678);
    }
}
