//! LLVM module -> optimized IR -> x86-64 object file, plus the facts we read back from the
//! object (each function's code size).
//!
//! Codegen happens here rather than inside ORC's IR layer so that the object's ELF symbol table
//! tells us every function's exact size (see `jit.rs`).

use inkwell::context::Context;
use inkwell::memory_buffer::MemoryBuffer;
use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;
use object::{Object, ObjectSymbol};
use std::cell::OnceCell;
use std::sync::Once;

/// Initializes LLVM's native target, asm printer and parser exactly once per process.
pub fn init_native_target() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        Target::initialize_native(&InitializationConfig::default())
            .expect("LLVM native target must be available");
    });
}

/// Host target machines, one per optimization level (codegen level is fixed per machine),
/// each made the first time it is used: a thread that only ever compiles at one level (the
/// fast tier, or one optimizing level) never pays for the others.
pub struct Targets {
    triple: TargetTriple,
    target: Target,
    cpu: String,
    features: String,
    machines: [OnceCell<TargetMachine>; 4],
}

// SAFETY: an LLVM TargetMachine has no thread affinity; it only must not be used by two threads
// at once. `Targets` is not `Sync`, so moving it to another thread (the session moves between
// the REPL thread and the file watcher under a mutex) can never create concurrent use.
unsafe impl Send for Targets {}

impl Targets {
    /// Target machines for the host CPU at levels 0..=3 (made on first use).
    pub fn host() -> Result<Targets, String> {
        init_native_target();
        let triple = TargetMachine::get_default_triple();
        let target = Target::from_triple(&triple).map_err(|e| e.to_string())?;
        let cpu = TargetMachine::get_host_cpu_name().to_string();
        let features = TargetMachine::get_host_cpu_features().to_string();
        let t = Targets {
            triple,
            target,
            cpu,
            features,
            machines: Default::default(),
        };
        // Fail here, not at the first definition, if the host has no usable target machine.
        t.machine(0)?;
        Ok(t)
    }

    /// The machine for `level` (0 is the fast tier: LLVM selects instructions with FastISel
    /// at `CodeGenOptLevel::None`).
    fn machine(&self, level: u8) -> Result<&TargetMachine, String> {
        let level = level.min(3);
        let cell = &self.machines[usize::from(level)];
        if let Some(m) = cell.get() {
            return Ok(m);
        }
        let opt = [
            OptimizationLevel::None,
            OptimizationLevel::Less,
            OptimizationLevel::Default,
            OptimizationLevel::Aggressive,
        ][usize::from(level)];
        let m = self
            .target
            .create_target_machine(
                &self.triple,
                &self.cpu,
                &self.features,
                opt,
                RelocMode::PIC,
                CodeModel::Small,
            )
            .ok_or_else(|| "cannot create a target machine for the host".to_string())?;
        Ok(cell.get_or_init(|| m))
    }

    /// Sets the triple and data layout of a fresh module (before optimizing it).
    pub fn prepare(&self, module: &Module) -> Result<(), String> {
        module.set_triple(&self.triple);
        module.set_data_layout(&self.machine(0)?.get_target_data().get_data_layout());
        Ok(())
    }

    /// Runs the optimization pipeline for `level` (0 = none, 1 = a short list, 2/3 = LLVM's
    /// default O2/O3 pipelines).
    pub fn optimize(&self, module: &Module, level: u8) -> Result<(), String> {
        let passes = match level {
            0 => return Ok(()),
            1 => "function(mem2reg,instcombine,simplifycfg,gvn)",
            2 => "default<O2>",
            _ => "default<O3>",
        };
        module
            .run_passes(passes, self.machine(level)?, PassBuilderOptions::create())
            .map_err(|e| e.to_string())
    }

    /// Inlines the `alwaysinline` functions of a module that is compiled below level 2 (whose
    /// pipeline has no inliner): the guarded inlined copies (`inline.rs`).
    pub fn inline_always(&self, module: &Module) -> Result<(), String> {
        module
            .run_passes(
                "always-inline",
                self.machine(0)?,
                PassBuilderOptions::create(),
            )
            .map_err(|e| e.to_string())
    }

    /// Emits an ELF object file.
    pub fn emit_object(&self, module: &Module, level: u8) -> Result<Vec<u8>, String> {
        let buf = self
            .machine(level)?
            .write_to_memory_buffer(module, FileType::Object)
            .map_err(|e| e.to_string())?;
        Ok(buf.as_slice().to_vec())
    }

    /// Emits textual assembly (for `:asm`).
    pub fn emit_asm(&self, module: &Module, level: u8) -> Result<String, String> {
        let buf = self
            .machine(level)?
            .write_to_memory_buffer(module, FileType::Assembly)
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(buf.as_slice()).into_owned())
    }
}

/// A module as bitcode: what a version keeps of its code, for `:ir`, `:asm` and the
/// optimizing tier (a fraction of the size of IR text, and far cheaper to make).
pub fn bitcode(module: &Module) -> Vec<u8> {
    module.write_bitcode_to_memory().as_slice().to_vec()
}

/// Reads back a module kept by [`bitcode`] into `ctx`.
pub fn parse_bitcode<'ctx>(
    ctx: &'ctx Context,
    bitcode: &[u8],
    name: &str,
) -> Result<Module<'ctx>, String> {
    let buf = MemoryBuffer::create_from_memory_range_copy(bitcode, name);
    Module::parse_bitcode_from_buffer(&buf, ctx).map_err(|e| e.to_string())
}

/// The size in bytes of the defined function symbol `name` in an ELF object.
pub fn symbol_size(object: &[u8], name: &str) -> Result<usize, String> {
    Ok(symbol_sizes(object, &[name])?[0])
}

/// The sizes in bytes of the defined function symbols `names` in an ELF object, in order.
pub fn symbol_sizes(object: &[u8], names: &[&str]) -> Result<Vec<usize>, String> {
    let file = object::File::parse(object).map_err(|e| e.to_string())?;
    let sizes: std::collections::HashMap<&str, usize> = file
        .symbols()
        .filter(|s| s.is_definition())
        .filter_map(|s| Some((s.name().ok()?, s.size() as usize)))
        .collect();
    names
        .iter()
        .map(|n| {
            sizes
                .get(n)
                .copied()
                .ok_or_else(|| format!("symbol {n} missing from object"))
        })
        .collect()
}
