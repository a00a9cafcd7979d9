//! The version registry and the code map.
//!
//! Every compiled unit (a function version, or the top-level code of one input) is a
//! [`CodeInfo`] with its machine-code address range. The process-wide code map answers "which
//! version contains this address?" for the frame-pointer walk. The [`Registry`] keeps, per
//! function, every version ever made with its state (live / draining / freed), source, origin,
//! signature and the ORC tracker that owns its memory.

use crate::jit::Tracker;
use livejit_frontend::{FnSig, Span};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, RwLock};

/// A source text that code was compiled from (a file or one REPL input).
#[derive(Debug)]
pub struct Source {
    /// Display name: a file path or `<input:N>`.
    pub name: String,
    /// The whole text (spans index into it).
    pub text: String,
}

impl Source {
    /// A shared source text named `name`.
    pub fn new(name: &str, text: &str) -> Arc<Source> {
        Arc::new(Source {
            name: name.to_string(),
            text: text.to_string(),
        })
    }
}

/// What the code map knows about one compiled unit.
#[derive(Debug)]
pub struct CodeInfo {
    /// Unique id of this version (never reused).
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
pub fn map_code(info: Arc<CodeInfo>) {
    CODE_MAP
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(info.start, info);
}

/// Removes a unit from the code map (when its memory is freed).
pub fn unmap_code(info: &CodeInfo) {
    let mut map = CODE_MAP.write().unwrap_or_else(|e| e.into_inner());
    if map.get(&info.start).is_some_and(|i| i.id == info.id) {
        map.remove(&info.start);
    }
}

/// Life cycle of a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

/// One version of a function, or one top-level unit.
pub struct Version {
    /// Code map entry (name, number, address range, source).
    pub info: Arc<CodeInfo>,
    /// Life cycle state.
    pub state: State,
    /// Its signature (top-level units: `fn()`).
    pub sig: FnSig,
    /// The item's own text (what `:source` prints and identical-source checks compare).
    pub text: String,
    /// `<input:N>` or `file:line`.
    pub origin: String,
    /// Owns the machine code until freed.
    pub tracker: Option<Tracker>,
    /// The slot this version was installed in (0 for top-level units).
    pub slot: usize,
    /// Slots this version's code calls through.
    pub calls_slots: Vec<usize>,
    /// Functions it calls and globals it uses (for signature and type-change checks).
    pub calls: BTreeSet<String>,
    /// Globals it reads or writes.
    pub globals: BTreeSet<String>,
    /// The epoch of the store that replaced it (valid while draining).
    pub retire_epoch: u64,
    /// When its memory was returned (monotonic ns, as `time_ns()` reads it).
    pub freed_ns: Option<i64>,
    /// Optimized IR text (for `:ir`).
    pub ir: String,
    /// Optimization level it was compiled at (for `:asm`).
    pub opt: u8,
}

/// All functions of the session with their version histories.
#[derive(Default)]
pub struct Registry {
    /// Per function name.
    pub fns: BTreeMap<String, FnEntry>,
    /// Top-level units that are still running or waiting to be freed.
    pub tops: Vec<Version>,
    next_id: u64,
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
    /// A fresh, never reused version id.
    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A function by name, or the error commands show for an unknown one.
    pub fn function(&self, name: &str) -> Result<&FnEntry, String> {
        self.fns
            .get(name)
            .ok_or_else(|| format!("no function `{name}`"))
    }

    /// Every version that is not yet freed, function versions and top-level units alike.
    pub fn unfreed(&self) -> impl Iterator<Item = &Version> {
        self.fns
            .values()
            .flat_map(|f| f.versions.iter())
            .chain(self.tops.iter())
            .filter(|v| v.state != State::Freed)
    }
}
