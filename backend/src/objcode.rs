//! LLVM module -> optimized IR -> x86-64 object file, plus the facts we read back from the
//! object (each function's code size).
//!
//! Codegen happens here rather than inside ORC's IR layer so that the object's ELF symbol table
//! tells us every function's exact size (see `jit.rs`).

use inkwell::module::Module;
use inkwell::passes::PassBuilderOptions;
use inkwell::targets::{
    CodeModel, FileType, InitializationConfig, RelocMode, Target, TargetMachine, TargetTriple,
};
use inkwell::OptimizationLevel;
use object::{Object, ObjectSymbol};
use std::sync::Once;

/// Initializes LLVM's native target, asm printer and parser exactly once per process.
pub fn init_native_target() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        Target::initialize_native(&InitializationConfig::default())
            .expect("LLVM native target must be available");
    });
}

/// Host target machines, one per optimization level (codegen level is fixed per machine).
pub struct Targets {
    triple: TargetTriple,
    machines: Vec<TargetMachine>,
}

// SAFETY: an LLVM TargetMachine has no thread affinity; it only must not be used by two threads
// at once. `Targets` is not `Sync`, so moving it to another thread (the session moves between
// the REPL thread and the file watcher under a mutex) can never create concurrent use.
unsafe impl Send for Targets {}

impl Targets {
    /// Target machines for the host CPU at levels 0..=3.
    pub fn host() -> Result<Targets, String> {
        init_native_target();
        let triple = TargetMachine::get_default_triple();
        let target = Target::from_triple(&triple).map_err(|e| e.to_string())?;
        let cpu = TargetMachine::get_host_cpu_name().to_string();
        let features = TargetMachine::get_host_cpu_features().to_string();
        let levels = [
            OptimizationLevel::None,
            OptimizationLevel::Less,
            OptimizationLevel::Default,
            OptimizationLevel::Aggressive,
        ];
        let machines = levels
            .into_iter()
            .map(|level| {
                target
                    .create_target_machine(
                        &triple,
                        &cpu,
                        &features,
                        level,
                        RelocMode::PIC,
                        CodeModel::Small,
                    )
                    .ok_or_else(|| "cannot create a target machine for the host".to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Targets { triple, machines })
    }

    fn machine(&self, level: u8) -> &TargetMachine {
        &self.machines[usize::from(level.min(3))]
    }

    /// Sets the triple and data layout of a fresh module (before optimizing it).
    pub fn prepare(&self, module: &Module) {
        module.set_triple(&self.triple);
        module.set_data_layout(&self.machine(2).get_target_data().get_data_layout());
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
            .run_passes(passes, self.machine(level), PassBuilderOptions::create())
            .map_err(|e| e.to_string())
    }

    /// Inlines the `alwaysinline` functions of a module that is compiled below level 2 (whose
    /// pipeline has no inliner): the guarded inlined copies (`inline.rs`).
    pub fn inline_always(&self, module: &Module) -> Result<(), String> {
        module
            .run_passes(
                "always-inline",
                self.machine(0),
                PassBuilderOptions::create(),
            )
            .map_err(|e| e.to_string())
    }

    /// Emits an ELF object file.
    pub fn emit_object(&self, module: &Module, level: u8) -> Result<Vec<u8>, String> {
        let buf = self
            .machine(level)
            .write_to_memory_buffer(module, FileType::Object)
            .map_err(|e| e.to_string())?;
        Ok(buf.as_slice().to_vec())
    }

    /// Emits textual assembly (for `:asm`).
    pub fn emit_asm(&self, module: &Module, level: u8) -> Result<String, String> {
        let buf = self
            .machine(level)
            .write_to_memory_buffer(module, FileType::Assembly)
            .map_err(|e| e.to_string())?;
        Ok(String::from_utf8_lossy(buf.as_slice()).into_owned())
    }
}

/// The size in bytes of the defined function symbol `name` in an ELF object.
pub fn symbol_size(object: &[u8], name: &str) -> Result<usize, String> {
    let file = object::File::parse(object).map_err(|e| e.to_string())?;
    file.symbols()
        .find(|s| s.name() == Ok(name) && s.is_definition())
        .map(|s| s.size() as usize)
        .ok_or_else(|| format!("symbol {name} missing from object"))
}
