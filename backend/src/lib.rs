//! The livejit back end: typed AST -> LLVM IR -> ORC JIT -> executable memory behind slots.
//!
//! It owns everything that touches machine code or raw memory: the JIT (`jit`), code
//! generation (`codegen`, `objcode`), the slot table (`slots`), the version registry
//! (`versions`), retirement (`reclaim`), tasks and safepoints (`tasks`, `safepoint`), the
//! runtime builtins (`runtime`) and the garbage-collected heap (`gc`). inkwell and llvm-sys
//! types never leave this crate; the REPL talks to [`session::Session`] only.

pub mod codegen;
pub mod gc;
pub mod jit;
pub mod objcode;
pub mod reclaim;
pub mod runtime;
pub mod safepoint;
pub mod session;
pub mod slots;
pub mod tasks;
pub mod versions;

pub use session::{CompileErrors, EvalResult, Event, Reporter, Session};
