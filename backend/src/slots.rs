//! The slot table: one pointer-sized cell per (function, signature).
//!
//! JIT code calls a user function by loading its slot (monotonic atomic load) and calling
//! through the pointer, so installing a version is a single atomic store and the very next call
//! anywhere, including inside loops already running, runs the new code. A signature change gets
//! a fresh slot: code compiled against the old signature keeps calling through the old slot, so
//! it can never call a body with a different ABI (see `reclaim.rs` for how that pins the old
//! body until no such code remains).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Maximum number of slots in a session.
pub const CAPACITY: usize = 1 << 16;

static SLOTS: [AtomicUsize; CAPACITY] = [const { AtomicUsize::new(0) }; CAPACITY];
/// The version number of the code in each slot, next to it (same index): what inlined call
/// sites guard on (`inline.rs`). Stored after the code pointer by the commit; a change of tier
/// (same version, other code) changes only the code pointer, so the guard still holds.
static VERSIONS: [AtomicU64; CAPACITY] = [const { AtomicU64::new(0) }; CAPACITY];
static NEXT: AtomicUsize = AtomicUsize::new(0);
/// Slots given back by transactions that were rolled back before any store.
static FREE: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Allocates a fresh slot and returns its address (stable for the life of the process).
pub fn alloc() -> Result<usize, String> {
    if let Some(addr) = FREE.lock().unwrap_or_else(|e| e.into_inner()).pop() {
        return Ok(addr);
    }
    let i = NEXT.fetch_add(1, Ordering::Relaxed);
    if i >= CAPACITY {
        return Err(format!("too many function slots (the limit is {CAPACITY})"));
    }
    Ok(&SLOTS[i] as *const AtomicUsize as usize)
}

fn index(addr: usize) -> usize {
    let base = SLOTS.as_ptr() as usize;
    assert!(
        addr >= base && addr < base + CAPACITY * 8 && (addr - base).is_multiple_of(8),
        "not a slot address"
    );
    (addr - base) / 8
}

fn cell(addr: usize) -> &'static AtomicUsize {
    &SLOTS[index(addr)]
}

/// The address of the version-number cell of the slot at `addr` (an 8-byte word JIT code
/// loads with a monotonic atomic load to guard an inlined body).
pub fn version_cell(addr: usize) -> usize {
    &VERSIONS[index(addr)] as *const AtomicU64 as usize
}

/// Records that the slot now holds version `n` of its function. Called by the commit after
/// [`store`] of that version's code and before the commit returns (and the epoch that tells
/// tasks to re-read slots is bumped).
pub fn store_version(addr: usize, n: u64) {
    VERSIONS[index(addr)].store(n, Ordering::SeqCst);
}

/// The version number last recorded for the slot (0: none yet).
#[cfg(test)]
pub fn load_version(addr: usize) -> u64 {
    VERSIONS[index(addr)].load(Ordering::SeqCst)
}

/// Gives back a slot for reuse.
///
/// # Safety
/// The slot was never stored into and no linked code refers to it (its transaction was rolled
/// back and its code unlinked): it will next be given to a function of any signature.
pub unsafe fn release(addr: usize) {
    debug_assert_eq!(load(addr), 0, "a released slot was never stored");
    cell(addr);
    FREE.lock().unwrap_or_else(|e| e.into_inner()).push(addr);
}

/// Installs `code` in the slot: every later load (from any thread) sees it, and JIT code
/// calls it.
///
/// # Safety
/// `code` is the entry of linked code of the signature this slot was allocated for, and it
/// stays mapped while it can be reached through the slot (the retirement protocol).
pub unsafe fn store(addr: usize, code: usize) {
    cell(addr).store(code, Ordering::SeqCst);
}

/// The code currently installed in the slot.
pub fn load(addr: usize) -> usize {
    cell(addr).load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn slots_are_distinct_and_hold_what_was_stored() {
        let a = super::alloc().unwrap();
        let b = super::alloc().unwrap();
        assert_ne!(a, b);
        // SAFETY: no JIT code calls through these fresh test slots.
        unsafe {
            super::store(a, 0x1234);
            super::store(b, 0x5678);
        }
        assert_eq!(super::load(a), 0x1234);
        assert_eq!(super::load(b), 0x5678);
        super::store_version(a, 7);
        assert_eq!(super::load_version(a), 7);
        assert_eq!(super::load_version(b), 0);
        // SAFETY: reading the cell through the address JIT code would use.
        let n = unsafe { (*(super::version_cell(a) as *const AtomicU64)).load(Ordering::SeqCst) };
        assert_eq!(n, 7);
    }

    #[test]
    fn a_released_slot_is_reused() {
        let a = super::alloc().unwrap();
        // SAFETY: a fresh slot nothing refers to.
        unsafe { super::release(a) };
        // Other tests allocate concurrently, so the freed slot may go to one of them; either
        // way it is handed out again rather than lost.
        let again: Vec<usize> = (0..64).map(|_| super::alloc().unwrap()).collect();
        let reused = again.contains(&a);
        assert!(reused || super::FREE.lock().unwrap().is_empty());
    }
}
