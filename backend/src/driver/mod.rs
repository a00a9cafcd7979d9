//! A transaction (one REPL input, one file) in three stages, serialized by the session's
//! transaction lock from the registry snapshot to the commit:
//!
//! 1. [`plan`]: pure over a [`plan::Snapshot`] of the registry — versions, slots, global cells,
//!    signature and global-type rules;
//! 2. [`compile`]: allocate, generate, optimize, link — the JIT lock only; its
//!    [`compile::LinkedSet`] undoes everything on drop unless committed;
//! 3. [`commit`]: under the registry lock, the only registry mutation and the slot stores.
//!
//! The registry lock is taken only to snapshot and to commit, never across LLVM, so the
//! reclaimer and ending tasks never wait for a compilation.

pub(crate) mod commit;
pub(crate) mod compile;
pub(crate) mod plan;
