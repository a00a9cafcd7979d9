//! A small safe wrapper over ORC v2's LLJIT (through `inkwell::llvm_sys::orc2`).
//!
//! Everything here is `unsafe` FFI confined behind [`Jit`] and [`Tracker`]. The JIT must not be
//! used from two threads at once (concurrent add+lookup crashes LLJIT, see ARCHITECTURE.md), so
//! [`Jit`] is `Send` but not `Sync`: the session keeps it behind one mutex, which serializes
//! every compilation and every removal.
//!
//! We hand LLJIT *object files*, not IR modules: codegen runs on our side (`objcode.rs`), which
//! lets us read each function's exact code size from the ELF symbol table. The size gives every
//! version an address range, which is how a frame-pointer walk maps a return address to the
//! version it is executing (`versions.rs`).

use inkwell::llvm_sys::error::{LLVMDisposeErrorMessage, LLVMErrorRef, LLVMGetErrorMessage};
use inkwell::llvm_sys::orc2::lljit::{
    LLVMOrcCreateLLJIT, LLVMOrcDisposeLLJIT, LLVMOrcLLJITAddObjectFileWithRT,
    LLVMOrcLLJITGetExecutionSession, LLVMOrcLLJITGetMainJITDylib, LLVMOrcLLJITLookup,
    LLVMOrcLLJITMangleAndIntern, LLVMOrcLLJITRef,
};
use inkwell::llvm_sys::orc2::{
    LLVMJITEvaluatedSymbol, LLVMJITSymbolFlags, LLVMJITSymbolGenericFlags, LLVMOrcAbsoluteSymbols,
    LLVMOrcCSymbolMapPair, LLVMOrcExecutionSessionGetSymbolStringPool,
    LLVMOrcJITDylibCreateResourceTracker, LLVMOrcJITDylibDefine, LLVMOrcReleaseResourceTracker,
    LLVMOrcResourceTrackerRef, LLVMOrcResourceTrackerRemove,
    LLVMOrcSymbolStringPoolClearDeadEntries,
};
use inkwell::memory_buffer::MemoryBuffer;
use std::ffi::{CStr, CString};

/// Turns an `LLVMErrorRef` into a Rust error string (consuming the error).
fn take_error(err: LLVMErrorRef) -> Result<(), String> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: `err` is a non-null error returned by an LLVM C API call and not yet consumed;
    // LLVMGetErrorMessage consumes it and returns a string we must dispose exactly once.
    unsafe {
        let msg = LLVMGetErrorMessage(err);
        let text = CStr::from_ptr(msg).to_string_lossy().into_owned();
        LLVMDisposeErrorMessage(msg);
        Err(text)
    }
}

/// Owns one ORC ResourceTracker: the handle through which one version's code is freed.
#[derive(Debug)]
pub struct Tracker(LLVMOrcResourceTrackerRef);

// SAFETY: a ResourceTracker handle is a reference-counted pointer that ORC allows to be used from
// any thread; we only ever use it under the JIT mutex (removal) or drop it there.
unsafe impl Send for Tracker {}

/// The process's one LLJIT instance.
pub struct Jit {
    raw: LLVMOrcLLJITRef,
}

// SAFETY: LLJIT may be driven from any thread as long as calls are not concurrent; `Jit` is not
// `Sync` and every method takes `&mut self`, so the owner's mutex serializes all calls.
unsafe impl Send for Jit {}

impl Jit {
    /// Creates the JIT for the host and defines the runtime's functions as absolute symbols.
    pub fn new(runtime_symbols: &[(&str, usize)]) -> Result<Jit, String> {
        crate::objcode::init_native_target();
        let mut raw = std::ptr::null_mut();
        // SAFETY: a null builder asks LLJIT to detect the host; `raw` receives the instance.
        take_error(unsafe { LLVMOrcCreateLLJIT(&mut raw, std::ptr::null_mut()) })?;
        let mut jit = Jit { raw };
        jit.define_absolute(runtime_symbols)?;
        Ok(jit)
    }

    fn define_absolute(&mut self, symbols: &[(&str, usize)]) -> Result<(), String> {
        let flags = || LLVMJITSymbolFlags {
            GenericFlags: LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsExported as u8
                | LLVMJITSymbolGenericFlags::LLVMJITSymbolGenericFlagsCallable as u8,
            TargetFlags: 0,
        };
        let mut pairs: Vec<LLVMOrcCSymbolMapPair> = symbols
            .iter()
            .map(|(name, addr)| {
                let c = CString::new(*name).expect("runtime symbol names have no NUL");
                LLVMOrcCSymbolMapPair {
                    // SAFETY: `self.raw` is a live LLJIT; the returned pool entry is owned by
                    // the pair and its ownership passes to LLVMOrcAbsoluteSymbols below.
                    Name: unsafe { LLVMOrcLLJITMangleAndIntern(self.raw, c.as_ptr()) },
                    Sym: LLVMJITEvaluatedSymbol {
                        Address: *addr as u64,
                        Flags: flags(),
                    },
                }
            })
            .collect();
        // SAFETY: `pairs` is a valid array of `pairs.len()` entries; the materialization unit
        // takes over the interned names, and JITDylibDefine takes over the unit.
        unsafe {
            let mu = LLVMOrcAbsoluteSymbols(pairs.as_mut_ptr(), pairs.len());
            let jd = LLVMOrcLLJITGetMainJITDylib(self.raw);
            take_error(LLVMOrcJITDylibDefine(jd, mu))
        }
    }

    /// Links one object file under a fresh ResourceTracker and returns the tracker with the
    /// addresses of the requested symbols (linking happens at this lookup).
    pub fn add_object(
        &mut self,
        object: &[u8],
        name: &str,
        lookups: &[&str],
    ) -> Result<(Tracker, Vec<usize>), String> {
        let buffer = MemoryBuffer::create_from_memory_range_copy(object, name);
        // SAFETY: `self.raw` is live. The tracker is created on the main JITDylib; the buffer's
        // ownership passes to ORC (so we forget our wrapper instead of disposing it).
        let tracker = unsafe {
            let jd = LLVMOrcLLJITGetMainJITDylib(self.raw);
            let rt = LLVMOrcJITDylibCreateResourceTracker(jd);
            let raw_buf = buffer.as_mut_ptr();
            std::mem::forget(buffer);
            if let Err(e) = take_error(LLVMOrcLLJITAddObjectFileWithRT(self.raw, rt, raw_buf)) {
                LLVMOrcReleaseResourceTracker(rt);
                return Err(e);
            }
            Tracker(rt)
        };
        let mut addrs = Vec::with_capacity(lookups.len());
        for sym in lookups {
            match self.lookup(sym) {
                Ok(a) => addrs.push(a),
                Err(e) => {
                    // Unlink whatever was added so a failed definition leaves nothing behind.
                    // SAFETY: the tracker is this JIT's, and no address of its code was handed
                    // out: nothing can run it.
                    let _ = unsafe { self.remove(tracker) };
                    return Err(e);
                }
            }
        }
        Ok((tracker, addrs))
    }

    /// Looks a symbol up (materializing it if needed).
    pub fn lookup(&mut self, sym: &str) -> Result<usize, String> {
        let c = CString::new(sym).map_err(|e| e.to_string())?;
        let mut addr = 0u64;
        // SAFETY: `self.raw` is live, `c` is a NUL-terminated name, `addr` receives the result.
        take_error(unsafe { LLVMOrcLLJITLookup(self.raw, &mut addr, c.as_ptr()) })?;
        Ok(addr as usize)
    }

    /// Frees the code and data linked under `tracker` (the memory is unmapped).
    ///
    /// # Safety
    /// `tracker` was returned by this JIT's [`Jit::add_object`], and no thread executes, or can
    /// still reach (through a slot, a return address or a code pointer), the code it owns.
    pub unsafe fn remove(&mut self, tracker: Tracker) -> Result<(), String> {
        // SAFETY: the tracker belongs to this JIT and is consumed here exactly once; the caller
        // guarantees no thread can still execute the code it owns.
        unsafe {
            let r = take_error(LLVMOrcResourceTrackerRemove(tracker.0));
            LLVMOrcReleaseResourceTracker(tracker.0);
            r
        }
    }
}

impl Jit {
    /// Drops interned symbol names no longer referenced (those of freed versions), which ORC
    /// otherwise keeps forever: one per version ever made.
    pub fn clear_dead_symbols(&mut self) {
        // SAFETY: `self.raw` is live; clearing dead pool entries is safe while no other thread
        // uses the JIT, which the owner's mutex guarantees.
        unsafe {
            let es = LLVMOrcLLJITGetExecutionSession(self.raw);
            LLVMOrcSymbolStringPoolClearDeadEntries(LLVMOrcExecutionSessionGetSymbolStringPool(es));
        }
    }
}

impl Drop for Jit {
    fn drop(&mut self) {
        // SAFETY: we own the instance; no JIT code runs once the session is dropped.
        let _ = take_error(unsafe { LLVMOrcDisposeLLJIT(self.raw) });
    }
}
