//! The version registry and the code map.
//!
//! Every compiled unit (a function version, or the top-level code of one input) is a
//! [`CodeInfo`] with its machine-code address range. The process-wide code map answers "which
//! version contains this address?" for the frame-pointer walk. The [`Registry`] keeps, per
//! function, every version ever made with its state (live / draining / freed), source, origin,
//! signature and the ORC tracker that owns its memory.

use crate::driver::plan::{FnRow, Global, Snapshot};
use crate::jit::{Jit, Tracker};
use livejit_frontend::{FnSig, Span};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// A fresh version id, unique in the process (the code map, the epoch and the task set are
/// process-wide too, so ids must not repeat across sessions).
pub(crate) fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Code linked under one ORC tracker: one unit's object, or the one object of a batch of
/// fast-tier units compiled together (`driver/compile.rs`). Unlinked (its memory unmapped)
/// when the last [`Code`] sharing it is dropped.
pub(crate) struct Linked {
    jit: Arc<Mutex<Jit>>,
    tracker: Option<Tracker>,
}

// SAFETY: `Linked` has no method taking `&self`: its tracker is touched only by `Drop`, which
// has it exclusively, so sharing references between threads can never use it concurrently.
unsafe impl Sync for Linked {}

impl Linked {
    /// Takes ownership of what `jit` linked under `tracker`.
    pub(crate) fn new(jit: Arc<Mutex<Jit>>, tracker: Tracker) -> Arc<Linked> {
        Arc::new(Linked {
            jit,
            tracker: Some(tracker),
        })
    }
}

impl Drop for Linked {
    fn drop(&mut self) {
        if let Some(t) = self.tracker.take() {
            let mut jit = self.jit.lock().unwrap_or_else(|e| e.into_inner());
            // SAFETY: every `Code` in this object was dropped, each under its contract: nothing
            // can run any of it any more.
            let _ = unsafe { jit.remove(t) };
        }
    }
}

/// The machine code of one compiled unit, owned in one place: its share of the linked object,
/// its address range and (once mapped) its code-map entry. Dropping it removes the code-map
/// entry, and unmaps the memory once no other unit of the same object is left, so it may only
/// be dropped when no slot holds its address and no task can be in it: before its transaction
/// commits (nothing was stored), or through [`Compiled::free`] (or the freeing of an old tier),
/// whose caller checked that.
pub(crate) struct Code {
    _linked: Arc<Linked>,
    /// Address of the first instruction.
    pub addr: usize,
    /// Size in bytes.
    pub size: usize,
    mapped: Option<Arc<CodeInfo>>,
    /// Identities of the versions inlined into this code: its inlined copies point at them
    /// (`inline.rs`), so they live exactly as long as the code.
    sites: Vec<Arc<crate::inline::Site>>,
}

impl Code {
    /// Takes ownership of code linked under `tracker` in `jit`.
    pub(crate) fn new(jit: Arc<Mutex<Jit>>, tracker: Tracker, addr: usize, size: usize) -> Code {
        Code::part_of(Linked::new(jit, tracker), addr, size)
    }

    /// One unit's code in an object linked for several.
    pub(crate) fn part_of(linked: Arc<Linked>, addr: usize, size: usize) -> Code {
        Code {
            _linked: linked,
            addr,
            size,
            mapped: None,
            sites: Vec::new(),
        }
    }

    /// Keeps the identities the code's inlined copies point at (see `inline.rs`).
    pub(crate) fn keep_sites(&mut self, sites: Vec<Arc<crate::inline::Site>>) {
        self.sites = sites;
    }

    /// Adds the code-map entry for this code (before any slot can reach it).
    pub(crate) fn map(&mut self, info: Arc<CodeInfo>) {
        map_code(info.clone());
        self.mapped = Some(info);
    }
}

impl Drop for Code {
    fn drop(&mut self) {
        // The code map entry goes first: after removal the addresses may be reused. The
        // memory goes with the last share of `Linked`, dropped after this.
        if let Some(info) = self.mapped.take() {
            unmap_code(&info);
        }
    }
}

/// A source text that code was compiled from (a file, one REPL input, or several files
/// installed as one transaction).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Source {
    /// Display name: a file path or `<input:N>`.
    pub name: String,
    /// The whole text (spans index into it).
    pub text: String,
    /// For several files joined into one transaction ([`Source::joined`]): each file's name
    /// and the offset of its first byte in `text`, in order. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<(String, usize)>,
}

impl Source {
    /// A shared source text named `name`.
    pub fn new(name: &str, text: &str) -> Arc<Source> {
        Arc::new(Source {
            name: name.to_string(),
            text: text.to_string(),
            parts: Vec::new(),
        })
    }

    /// Several files as one source, in order, each ending with a newline (so that a file's
    /// last line comment cannot reach into the next). Named `a.src + b.src`.
    pub fn joined(files: &[(String, String)]) -> Arc<Source> {
        let mut text = String::new();
        let mut parts = Vec::new();
        for (name, t) in files {
            parts.push((name.clone(), text.len()));
            text.push_str(t);
            if !t.ends_with('\n') {
                text.push('\n');
            }
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        Arc::new(Source {
            name: names.join(" + "),
            text,
            parts,
        })
    }

    /// The file of a joined source that `offset` falls in: its index, name, start and end.
    fn part_at(&self, offset: usize) -> Option<(usize, &str, usize, usize)> {
        let i = self
            .parts
            .iter()
            .rposition(|(_, start)| *start <= offset)
            .unwrap_or(0);
        let (name, start) = self.parts.get(i)?;
        let end = self.parts.get(i + 1).map_or(self.text.len(), |p| p.1);
        Some((i, name, *start, end))
    }

    /// `span` as a place in one file: for a joined source, that file alone (as its own
    /// `Source`) and the span within it; otherwise this source and `span` unchanged.
    pub fn locate(self: &Arc<Self>, span: Span) -> (Arc<Source>, Span) {
        match self.part_at(span.start) {
            None => (self.clone(), span),
            Some((_, name, start, end)) => {
                let local = |o: usize| o.clamp(start, end) - start;
                (
                    Source::new(name, &self.text[start..end]),
                    Span::new(local(span.start), local(span.end)),
                )
            }
        }
    }

    /// Which file of a joined source `offset` falls in (0 for any other source).
    pub fn part_index(&self, offset: usize) -> usize {
        self.part_at(offset).map_or(0, |p| p.0)
    }
}

/// What the code map knows about one compiled unit.
#[derive(Debug)]
pub struct CodeInfo {
    /// Unique id of this code (never reused). A version has one per tier its code was made
    /// at; name and number are the version's.
    pub id: u64,
    /// The function's name, or the source name for top-level code.
    pub name: String,
    /// Version number `vN` (0 for top-level code).
    pub n: u32,
    /// Where it came from (spans of runtime errors index into it).
    pub source: Arc<Source>,
    /// Address of the first instruction.
    pub start: usize,
    /// Code size in bytes.
    pub size: usize,
    /// Span of the item (or of the whole input) in `source`: where errors without a more
    /// precise location (stack overflow, interruption) point.
    pub span: Span,
}

impl fmt::Display for CodeInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.n == 0 {
            write!(f, "{}", self.name)
        } else {
            write!(f, "{} (v{})", self.name, self.n)
        }
    }
}

impl CodeInfo {
    /// The same identity without the (possibly large) source text, for freed versions whose
    /// code can no longer raise errors.
    pub fn without_source(&self) -> CodeInfo {
        static EMPTY: std::sync::OnceLock<Arc<Source>> = std::sync::OnceLock::new();
        let empty = EMPTY.get_or_init(|| Source::new("", ""));
        CodeInfo {
            id: self.id,
            name: self.name.clone(),
            n: self.n,
            source: empty.clone(),
            start: self.start,
            size: self.size,
            span: Span::default(),
        }
    }
}

static CODE_MAP: RwLock<BTreeMap<usize, Arc<CodeInfo>>> = RwLock::new(BTreeMap::new());

/// The unit whose code contains `pc`, if any.
pub fn code_at(pc: usize) -> Option<Arc<CodeInfo>> {
    let map = CODE_MAP.read().unwrap_or_else(|e| e.into_inner());
    let (_, info) = map.range(..=pc).next_back()?;
    (pc < info.start + info.size.max(1)).then(|| info.clone())
}

/// Adds a unit to the code map (before any slot can reach it).
fn map_code(info: Arc<CodeInfo>) {
    CODE_MAP
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(info.start, info);
}

/// Removes a unit from the code map (when its memory is freed).
fn unmap_code(info: &CodeInfo) {
    let mut map = CODE_MAP.write().unwrap_or_else(|e| e.into_inner());
    if map.get(&info.start).is_some_and(|i| i.id == info.id) {
        map.remove(&info.start);
    }
}

/// Life cycle of a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// Installed in its slot.
    Live,
    /// Replaced; its code stays until no task can be in it.
    Draining,
    /// Its memory was returned (`ResourceTrackerRemove`).
    Freed,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            State::Live => "live",
            State::Draining => "draining",
            State::Freed => "freed",
        })
    }
}

/// One compiled unit — a function version or the top-level code of one input — with its life
/// cycle, which changes only through its methods: live, then [`Compiled::retire`] (draining),
/// then [`Compiled::free`] (freed).
pub struct Compiled {
    /// Code map entry (name, number, address range, source).
    pub info: Arc<CodeInfo>,
    /// The id it was committed with (its first tier's). Inlined copies of it name it by that
    /// id in frame walks whatever its tier now (`inline.rs`), so frame counts include it.
    first_id: u64,
    /// Life cycle state.
    state: State,
    /// Owns the machine code until freed.
    code: Option<Code>,
    /// Slots this unit's code calls through.
    pub calls_slots: Vec<usize>,
    /// Functions it calls (for signature-change checks).
    pub calls: BTreeSet<String>,
    /// Globals it reads or writes (for type-change checks).
    pub globals: BTreeSet<String>,
    /// The epoch of the store that replaced it (valid while draining).
    retire_epoch: u64,
    /// When its memory was returned (monotonic ns, as `time_ns()` reads it).
    freed_ns: Option<i64>,
    /// The module its current code was emitted from, as bitcode: what `:ir` prints and `:asm`
    /// emits again, and what the optimizing tier starts from. Empty for top-level units.
    pub bitcode: Arc<[u8]>,
    /// The tier of its current code.
    pub tier: Tier,
    /// Optimization level its current code was compiled at (for `:asm`).
    pub level: u8,
    /// Code of earlier tiers replaced by a tier-up, waiting until no task can be in it.
    old_tiers: Vec<OldTier>,
}

/// Which compiler made a unit's code. A tier change keeps the version (same number, same
/// source); only its code is replaced, through the same slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tier {
    /// Made at once, without optimization (FastISel): callable as soon as it is defined.
    Fast,
    /// Made by the optimizing tier (the `:opt` level), in the background or at once.
    Opt,
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Tier::Fast => "fast",
            Tier::Opt => "opt",
        })
    }
}

/// A unit's code of an earlier tier, replaced (by a tier-up) at `retire_epoch`. It has its own
/// code-map entry (same name and version, its own id), so frames in it pin it, not the new
/// code; it is freed like a replaced version (invariant 3), without a `freed` event.
struct OldTier {
    info: Arc<CodeInfo>,
    _code: Code,
    retire_epoch: u64,
}

/// One version of a function: its compiled unit and what only functions have.
pub struct Version {
    /// The code and its life cycle.
    pub unit: Compiled,
    /// Its signature.
    pub sig: FnSig,
    /// The item's own text (what `:source` prints and identical-source checks compare).
    pub text: String,
    /// `<input:N>` or `file:line`.
    pub origin: String,
    /// The slot this version was installed in.
    pub slot: usize,
    /// The structs this version uses (its code assumes their layouts).
    pub structs: BTreeSet<String>,
    /// The definition of each of those structs it was compiled against.
    pub layouts: Vec<(String, livejit_frontend::types::StructId)>,
}

/// What a new unit is made of (everything but its code and life cycle).
pub(crate) struct NewUnit {
    pub info: Arc<CodeInfo>,
    pub calls_slots: Vec<usize>,
    pub calls: BTreeSet<String>,
    pub globals: BTreeSet<String>,
    pub bitcode: Arc<[u8]>,
    pub tier: Tier,
    pub level: u8,
}

impl Compiled {
    /// A live unit owning `code`, which gets its code-map entry here.
    pub(crate) fn live(u: NewUnit, mut code: Code) -> Compiled {
        code.map(u.info.clone());
        Compiled {
            first_id: u.info.id,
            info: u.info,
            state: State::Live,
            code: Some(code),
            calls_slots: u.calls_slots,
            calls: u.calls,
            globals: u.globals,
            retire_epoch: 0,
            freed_ns: None,
            bitcode: u.bitcode,
            tier: u.tier,
            level: u.level,
            old_tiers: Vec::new(),
        }
    }

    /// The address of its current code's entry, while it has code.
    #[cfg(test)]
    pub(crate) fn addr(&self) -> Option<usize> {
        self.code.as_ref().map(|c| c.addr)
    }

    /// Replaces its fast-tier code with optimized code, through `slot`: only if it is live at
    /// the fast tier and the slot still holds its fast code (compare-and-swap), otherwise
    /// `code` is dropped (unlinked: nothing ever reached it) and false returned. The fast code
    /// is then kept as an old tier, retired at the epoch of the swap. Called under the registry
    /// lock, like every other slot store.
    pub(crate) fn tier_up(
        &mut self,
        slot: usize,
        info: Arc<CodeInfo>,
        mut code: Code,
        bitcode: Arc<[u8]>,
        level: u8,
    ) -> bool {
        let Some(fast) = self.code.as_ref().map(|c| c.addr) else {
            return false;
        };
        if self.state != State::Live || self.tier != Tier::Fast {
            return false;
        }
        // The optimized code was compiled from the same bitcode, so its inlined copies point at
        // the same identities: it keeps them alive too (the fast code may be freed first).
        if let Some(fast_code) = self.code.as_ref() {
            code.keep_sites(fast_code.sites.clone());
        }
        // Mapped before the store: a frame walk must know the code as soon as a task can
        // enter it.
        code.map(info.clone());
        // SAFETY: `code` was compiled from this version's own module (same signature, so the
        // slot's ABI), and from here on it is owned by this unit, freed only by retirement.
        if unsafe { !crate::slots::compare_and_swap(slot, fast, code.addr) } {
            return false;
        }
        let epoch = crate::tasks::request_scan();
        let old_code = self.code.replace(code).expect("checked above");
        let old_info = std::mem::replace(&mut self.info, info);
        self.old_tiers.push(OldTier {
            info: old_info,
            _code: old_code,
            retire_epoch: epoch,
        });
        self.bitcode = bitcode;
        self.tier = Tier::Opt;
        self.level = level;
        true
    }

    /// Ids of the code of its older tiers not yet freed (their frames count as its frames).
    pub fn old_tier_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.old_tiers.iter().map(|t| t.info.id)
    }

    /// Every id its frames may be published under: its code's now, its old tiers' and, once it
    /// has tiered up, the first tier's (which inlined copies of it keep naming).
    pub fn frame_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = std::iter::once(self.info.id)
            .chain(self.old_tier_ids())
            .collect();
        if !ids.contains(&self.first_id) {
            ids.push(self.first_id);
        }
        ids
    }

    /// Frees the old tiers that `freeable(retire_epoch, id)` allows; returns whether some are
    /// left.
    ///
    /// # Safety
    /// `freeable` returns true only for code no task is in and none can enter (invariant 3):
    /// after a tier-up no slot holds the old code, so that is every running task having
    /// published since the swap, none with a frame in it.
    pub(crate) unsafe fn free_old_tiers(&mut self, freeable: impl Fn(u64, u64) -> bool) -> bool {
        self.old_tiers
            .retain(|t| !freeable(t.retire_epoch, t.info.id));
        !self.old_tiers.is_empty()
    }

    /// Whether code of an older tier is still waiting to be freed.
    pub fn has_old_tiers(&self) -> bool {
        !self.old_tiers.is_empty()
    }

    /// Its life cycle state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The epoch of the store that replaced it (valid while draining).
    pub fn retire_epoch(&self) -> u64 {
        self.retire_epoch
    }

    /// When its memory was returned (monotonic ns), if it was.
    pub fn freed_ns(&self) -> Option<i64> {
        self.freed_ns
    }

    /// Live -> draining: it was replaced (or its top-level task ended) at `epoch`.
    pub(crate) fn retire(&mut self, epoch: u64) {
        if self.state == State::Live {
            self.state = State::Draining;
            self.retire_epoch = epoch;
        }
    }

    /// Draining -> freed: unmaps its code and keeps only what `:versions`, `:source` and
    /// `:rollback` show, so the registry grows by a few hundred bytes per redefinition.
    ///
    /// # Safety
    /// No task is in this unit's code and none can enter it (the retirement protocol's
    /// invariant 3 in ARCHITECTURE.md): no slot holds it and no published frame is in it.
    pub(crate) unsafe fn free(&mut self) {
        debug_assert_eq!(self.state, State::Draining);
        debug_assert!(self.old_tiers.is_empty());
        self.code = None;
        self.old_tiers = Vec::new();
        self.state = State::Freed;
        self.freed_ns = Some(crate::runtime::monotonic_ns());
        self.bitcode = Arc::from(Vec::new());
        self.calls_slots = Vec::new();
        self.calls = Default::default();
        self.globals = Default::default();
        self.info = Arc::new(self.info.without_source());
    }
}

/// All functions of the session with their version histories, and its globals.
#[derive(Default)]
pub struct Registry {
    /// Per function name.
    pub fns: BTreeMap<String, FnEntry>,
    /// Top-level units that are still running or waiting to be freed.
    pub tops: Vec<Compiled>,
    /// Globals by name.
    pub(crate) globals: BTreeMap<String, Global>,
    /// The current definition of each struct by name.
    pub structs: BTreeMap<String, livejit_frontend::types::StructId>,
    /// Functions whose signature a running service relies on (one entry per pin): a
    /// transaction may not change it (`driver/plan.rs`).
    pub(crate) pinned: Vec<(String, FnSig)>,
    /// The live version of each function whose calls may be inlined (`inline.rs`); replaced
    /// or removed whenever the function gets a new version.
    pub(crate) inline: BTreeMap<String, Arc<crate::inline::InlineBody>>,
}

/// One function: its current slot and every version.
pub struct FnEntry {
    /// The slot callers compiled now go through (changes only with the signature).
    pub slot: usize,
    /// Versions, oldest first; the last one is live.
    pub versions: Vec<Version>,
}

impl FnEntry {
    /// The live version.
    pub fn current(&self) -> &Version {
        self.versions
            .last()
            .expect("a function has at least one version")
    }
}

impl Registry {
    /// What a transaction needs to plan against (taken under the registry lock).
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            fns: self
                .fns
                .iter()
                .map(|(name, f)| {
                    let v = f.current();
                    let row = FnRow {
                        slot: f.slot,
                        sig: v.sig.clone(),
                        text: v.text.clone(),
                        calls: v.unit.calls.clone(),
                        globals: v.unit.globals.clone(),
                        structs: v.structs.clone(),
                        versions: f.versions.len() as u32,
                    };
                    (name.clone(), row)
                })
                .collect(),
            globals: self.globals.clone(),
            structs: self.structs.clone(),
            pinned: self.pinned.clone(),
            inline: self.inline.clone(),
        }
    }

    /// A function by name, or the error commands show for an unknown one.
    pub fn function(&self, name: &str) -> Result<&FnEntry, String> {
        self.fns
            .get(name)
            .ok_or_else(|| format!("no function `{name}`"))
    }

    /// Every unit that is not yet freed, function versions and top-level units alike.
    pub fn unfreed(&self) -> impl Iterator<Item = &Compiled> {
        self.fns
            .values()
            .flat_map(|f| f.versions.iter().map(|v| &v.unit))
            .chain(self.tops.iter())
            .filter(|u| u.state != State::Freed)
    }
}
