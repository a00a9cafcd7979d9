//! Retirement: freeing the machine code of replaced versions once no task can be in them.
//!
//! A draining version D (replaced by the store of epoch E) is freed when
//! 1. every running task has published its frames for an epoch >= E (or is parked in a
//!    builtin), so no task still holds a pointer to D loaded before the store, and
//! 2. no published frame set contains D, and
//! 3. if D sits in an orphaned slot (its function's signature changed), no other unfreed
//!    version still calls through that slot.
//!
//! 1 and 2 hold only if they are read together: the running set under the registry lock
//! (after the commit that retired D), and each task's epoch before its published set.
//!
//! While a version is blocked only by frames, the reclaimer asks for a fresh scan every
//! [`RESCAN`] (or ten times as long as the slowest task's last walk of its stack, if that is
//! longer), so it is freed within about that long after its last frame returns.

use crate::session::{Event, Reporter, Shared};
use crate::tasks;
#[cfg(test)]
use crate::versions::Registry;
use crate::versions::{Compiled, State};
use std::collections::HashSet;
use std::time::{Duration, Instant};

/// How often the reclaimer looks at draining versions.
pub const TICK: Duration = Duration::from_millis(5);
/// How often a version pinned by frames triggers a re-scan of the tasks.
pub const RESCAN: Duration = Duration::from_millis(20);

/// What one reclamation pass did.
#[derive(Default, Debug)]
pub struct Pass {
    /// (name, version) of every function version freed (top-level units are not reported).
    pub freed: Vec<(String, u32)>,
    /// Whether some draining version is waiting for frames to return.
    pub pinned_by_frames: bool,
    /// Whether anything is still draining.
    pub draining: bool,
}

/// Test hooks that stop a pass at the points where the order of its reads matters, so that a
/// test can make a task or a transaction move in between, deterministically. A hook is kept
/// until it returns true (then it is dropped); while it runs, other passes see none.
#[cfg(test)]
#[derive(Default)]
#[allow(clippy::type_complexity)]
pub(crate) struct TestHooks {
    /// At the start of a pass, before it locks the registry.
    pub before_lock: std::sync::Mutex<Option<Box<dyn FnMut() -> bool + Send>>>,
    /// With the registry locked, after the pass has read the tasks' published state and before
    /// it decides anything.
    pub after_read: std::sync::Mutex<Option<Box<dyn FnMut(&Registry) -> bool + Send>>>,
    /// On the tier-up thread, with a function's optimized code linked, before it takes the
    /// registry lock to swap it in (the argument is the function's name).
    pub before_tier_swap: std::sync::Mutex<Option<Box<dyn FnMut(&str) -> bool + Send>>>,
}

#[cfg(test)]
impl TestHooks {
    fn before_lock(&self) {
        let taken = self
            .before_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut f) = taken {
            if !f() {
                *self.before_lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
            }
        }
    }

    pub(crate) fn before_tier_swap(&self, name: &str) {
        let taken = self
            .before_tier_swap
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut f) = taken {
            if !f(name) {
                *self
                    .before_tier_swap
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(f);
            }
        }
    }

    fn after_read(&self, reg: &Registry) {
        let taken = self
            .after_read
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut f) = taken {
            if !f(reg) {
                *self.after_read.lock().unwrap_or_else(|e| e.into_inner()) = Some(f);
            }
        }
    }
}

/// Frees every draining version that can be freed now.
pub fn pass(shared: &Shared) -> Pass {
    #[cfg(test)]
    shared.hooks.before_lock();
    let mut out = Pass::default();
    let mut reg = shared.reg.lock().unwrap_or_else(|e| e.into_inner());
    // The running set is read under the registry lock, after every commit whose retirements
    // this pass sees: a task missing from it registered after those slot stores, so it can
    // only have loaded the versions that replaced them. (Read before the lock, a task that
    // started and entered a version replaced meanwhile would be missing and pin nothing.)
    let running = tasks::running();
    // Each task's epoch is read before its set (`TaskCtx::published_view`): the pair is
    // consistent, never an old set with a new epoch.
    let views: Vec<(u64, Vec<u64>)> = running.iter().map(|t| t.published_view()).collect();
    // Every running task has published for each epoch up to this one.
    let published_for = views.iter().map(|(e, _)| *e).min().unwrap_or(u64::MAX);
    let in_frames: HashSet<u64> = views.into_iter().flat_map(|(_, v)| v).collect();
    let live_slots: HashSet<usize> = reg.fns.values().map(|f| f.slot).collect();
    // Slots still called by some unfreed version, with the id of the caller.
    let called: Vec<(usize, u64)> = reg
        .unfreed()
        .flat_map(|v| v.calls_slots.iter().map(move |s| (*s, v.info.id)))
        .collect();
    #[cfg(test)]
    shared.hooks.after_read(&reg);
    // Code of an earlier tier, replaced by a tier-up at `epoch`: no slot holds it any more, so
    // conditions 1 and 2 are enough.
    let old_tier_freeable =
        |epoch: u64, id: u64| published_for >= epoch && !in_frames.contains(&id);
    let mut old_tier_freed = false;
    {
        let reg = &mut *reg;
        let units = reg
            .fns
            .values_mut()
            .flat_map(|f| f.versions.iter_mut().map(|v| &mut v.unit))
            .chain(reg.tops.iter_mut())
            .filter(|u| u.has_old_tiers());
        for u in units {
            if u.old_tier_ids().any(|id| in_frames.contains(&id)) {
                out.pinned_by_frames = true;
            }
            let before = u.old_tier_ids().count();
            // SAFETY: `old_tier_freeable` holds only when every running task has published
            // its frames since the swap that replaced the old code and none is in it: nothing
            // can run it (invariant 3; no slot holds it after the swap).
            let left = unsafe { u.free_old_tiers(old_tier_freeable) };
            old_tier_freed |= u.old_tier_ids().count() < before;
            out.draining |= left;
        }
    }
    // `slot`: the slot a function version was installed in (`None` for top-level units).
    let freeable = |v: &Compiled, slot: Option<usize>| -> Option<bool> {
        if v.state() != State::Draining {
            return None;
        }
        // Its older tiers go first: they call through the same slots it does.
        if v.has_old_tiers() {
            return Some(false);
        }
        if published_for < v.retire_epoch() {
            return Some(false);
        }
        // In its code, or in a copy of it inlined into a caller (which names it by its first
        // tier's id: `Compiled::frame_ids`). The copy is the caller's code, so freeing would be
        // safe, but a version a frame still runs is draining, not freed.
        if v.frame_ids().iter().any(|id| in_frames.contains(id)) {
            return Some(false);
        }
        if let Some(slot) = slot {
            let orphaned = !live_slots.contains(&slot);
            if orphaned && called.iter().any(|(s, id)| *s == slot && *id != v.info.id) {
                return Some(false);
            }
        }
        Some(true)
    };
    let mut to_free = Vec::new();
    for (i, v) in reg.tops.iter().enumerate() {
        match freeable(v, None) {
            Some(true) => to_free.push((None, i)),
            Some(false) => out.draining = true,
            None => {}
        }
        if v.state() == State::Draining && v.frame_ids().iter().any(|id| in_frames.contains(id)) {
            out.pinned_by_frames = true;
        }
    }
    for (name, f) in &reg.fns {
        for (i, fv) in f.versions.iter().enumerate() {
            let v = &fv.unit;
            match freeable(v, Some(fv.slot)) {
                Some(true) => to_free.push((Some(name.clone()), i)),
                Some(false) => out.draining = true,
                None => {}
            }
            if v.state() == State::Draining && v.frame_ids().iter().any(|id| in_frames.contains(id))
            {
                out.pinned_by_frames = true;
            }
        }
    }
    for (name, i) in to_free.iter().rev() {
        let v = match name {
            Some(n) => reg.fns.get_mut(n).map(|f| &mut f.versions[*i].unit),
            None => reg.tops.get_mut(*i),
        };
        let Some(v) = v else { continue };
        // SAFETY: `freeable` found that every running task has published its frames since the
        // store that replaced this version, none is in it, and no unfreed code still calls
        // through its orphaned slot: nothing can run it (invariant 3).
        unsafe { v.free() };
        if let Some(n) = name {
            out.freed.push((n.clone(), v.info.n));
        }
    }
    if !to_free.is_empty() || old_tier_freed {
        shared
            .jit
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear_dead_symbols();
    }
    reg.tops.retain(|v| v.state() != State::Freed);
    out
}

/// Runs the reclaimer until the session is dropped. `report` receives the `Freed` events. (The
/// driver also runs a pass right after each install, so versions no task is in are freed at
/// once.)
pub fn run(shared: std::sync::Weak<Shared>, report: Reporter) {
    let mut last_scan = Instant::now();
    loop {
        std::thread::sleep(TICK);
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let p = pass(&shared);
        for (name, version) in p.freed {
            report(Event::Freed { name, version });
        }
        // A walk of a deep stack (a million frames of recursion) can take longer than RESCAN:
        // re-scanning that task every RESCAN would leave it no time to return from its frames.
        // Ask at most once per ten of its walks.
        let slowest = tasks::running()
            .iter()
            .map(|t| t.walk_ns.load(std::sync::atomic::Ordering::SeqCst))
            .max()
            .unwrap_or(0);
        let interval = RESCAN.max(Duration::from_nanos(slowest.saturating_mul(10)));
        if p.pinned_by_frames && last_scan.elapsed() >= interval {
            tasks::request_scan();
            last_scan = Instant::now();
        }
    }
}
