//! The livejit back end: typed AST -> LLVM IR -> ORC JIT -> executable memory behind slots.
//!
//! It owns everything that touches machine code or raw memory: the JIT (`jit`), the
//! transaction driver (`driver`: plan, compile, commit), code generation (`codegen`,
//! `objcode`), the slot table (`slots`), the version registry (`versions`), retirement
//! (`reclaim`), tasks and safepoints (`tasks`, `safepoint`), the runtime builtins (`runtime`)
//! and the garbage-collected heap (`gc`). inkwell and llvm-sys types never leave this crate.
//!
//! The public surface is this facade: [`Session`], what its calls return, the [`Event`]s it
//! reports, and query results as plain data. All user-facing text is made by the REPL.

mod abi;
mod codegen;
mod completion;
mod driver;
mod gc;
mod inline;
mod jit;
mod objcode;
mod reclaim;
mod runtime;
mod safepoint;
mod service;
mod session;
mod slots;
mod tasks;
mod tier;
mod values;
mod versions;

pub use abi::ErrorKind;
pub use completion::{Callable, CompletionData, StructInfo, Typed};
pub use driver::commit::line_of;
pub use runtime::{route_program_output, RuntimeError};
pub use service::{Refused, Reply, Request, Service};
pub use session::{
    CompileErrors, EvalResult, Event, FnSummary, GlobalRow, Interrupter, OutputSink, Preview,
    Reporter, Session, TaskKind, TaskRow, TaskState, VersionRow,
};
pub use tasks::Outcome;
pub use tier::Tiering;
pub use values::enable_program_io;
pub use versions::{Source, State as VersionState, Tier};
