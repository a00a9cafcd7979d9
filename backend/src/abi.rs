//! The runtime ABI: every function JIT code may call, declared once.
//!
//! [`runtime_abi!`] lists each runtime function with its symbol name, its Rust signature and
//! the Rust definition. From that one list come the [`RtFn`] enum codegen calls by, the LLVM
//! declaration (built from the Rust parameter types, so it cannot disagree with them), and the
//! absolute-symbol table the JIT links against (each address is taken through a function
//! pointer of the declared type, so a definition whose signature differs fails to compile).
//! The integer encodings shared by both sides — error kinds, array element kinds, packed spans —
//! are defined here too.
//!
//! Builtins of the language map onto this table in [`lowering`] (an exhaustive match).
//! Adding a builtin backed by a runtime function touches three files: its language-level entry
//! (`frontend/src/tast.rs`: name and signature), its line in this table and in [`lowering`],
//! and its definition (`runtime.rs`); codegen calls it generically (see [`RtFn::calling`]).

use crate::runtime;
use crate::safepoint::{self, TaskCtx};
use crate::values;
use inkwell::attributes::{Attribute, AttributeLoc};
use inkwell::context::Context;
use inkwell::module::{Linkage, Module};
use inkwell::types::{BasicMetadataTypeEnum, BasicTypeEnum, FunctionType};
use inkwell::values::FunctionValue;
use livejit_frontend::tast::Builtin;
use livejit_frontend::Span;

/// A Rust type that crosses the ABI, with its LLVM counterpart.
pub(crate) trait AbiType {
    fn llvm(ctx: &Context) -> BasicTypeEnum<'_>;
}

impl AbiType for i64 {
    fn llvm(ctx: &Context) -> BasicTypeEnum<'_> {
        ctx.i64_type().into()
    }
}
impl AbiType for u64 {
    fn llvm(ctx: &Context) -> BasicTypeEnum<'_> {
        ctx.i64_type().into()
    }
}
/// `usize` crosses the ABI only as a code or frame address, so it is an LLVM `ptr`.
impl AbiType for usize {
    fn llvm(ctx: &Context) -> BasicTypeEnum<'_> {
        ctx.ptr_type(Default::default()).into()
    }
}
impl AbiType for u32 {
    fn llvm(ctx: &Context) -> BasicTypeEnum<'_> {
        ctx.i32_type().into()
    }
}
impl AbiType for f64 {
    fn llvm(ctx: &Context) -> BasicTypeEnum<'_> {
        ctx.f64_type().into()
    }
}
impl<T> AbiType for *const T {
    fn llvm(ctx: &Context) -> BasicTypeEnum<'_> {
        ctx.ptr_type(Default::default()).into()
    }
}
impl<T> AbiType for *mut T {
    fn llvm(ctx: &Context) -> BasicTypeEnum<'_> {
        ctx.ptr_type(Default::default()).into()
    }
}

/// A return type across the ABI: `()` is `void`.
pub(crate) trait AbiRet {
    fn fn_type<'c>(ctx: &'c Context, params: &[BasicMetadataTypeEnum<'c>]) -> FunctionType<'c>;
}

impl AbiRet for () {
    fn fn_type<'c>(ctx: &'c Context, params: &[BasicMetadataTypeEnum<'c>]) -> FunctionType<'c> {
        ctx.void_type().fn_type(params, false)
    }
}

impl<T: AbiType> AbiRet for T {
    fn fn_type<'c>(ctx: &'c Context, params: &[BasicMetadataTypeEnum<'c>]) -> FunctionType<'c> {
        inkwell::types::BasicType::fn_type(&T::llvm(ctx), params, false)
    }
}

/// How codegen passes arguments to a runtime function that backs a builtin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Calling {
    /// `(ctx, args..., frame, self_fn, span)`: may raise a runtime error or park.
    Site,
    /// Not called for a builtin by the generic path.
    Special,
}

macro_rules! runtime_abi {
    ($(
        $(#[$doc:meta])*
        $variant:ident = $name:literal, $calling:ident,
            fn($($arg:ty),* $(,)?) $(-> $ret:ty)?, $def:path;
    )*) => {
        /// A runtime function JIT code calls.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub(crate) enum RtFn {
            $($(#[$doc])* $variant,)*
        }

        impl RtFn {
            /// Every runtime function.
            pub(crate) const ALL: &'static [RtFn] = &[$(RtFn::$variant,)*];

            /// Its symbol name in JIT code.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(RtFn::$variant => $name,)*
                }
            }

            /// How the generic builtin path calls it.
            pub(crate) fn calling(self) -> Calling {
                match self {
                    $(RtFn::$variant => Calling::$calling,)*
                }
            }

            /// Its LLVM function type, from the Rust signature.
            fn llvm_type(self, ctx: &Context) -> FunctionType<'_> {
                match self {
                    $(RtFn::$variant => {
                        let params: &[BasicMetadataTypeEnum] = &[$(<$arg as AbiType>::llvm(ctx).into()),*];
                        <runtime_abi!(@ret $($ret)?) as AbiRet>::fn_type(ctx, params)
                    })*
                }
            }

            /// The address of its Rust definition, taken as a pointer of the declared type.
            fn address(self) -> usize {
                match self {
                    $(RtFn::$variant => {
                        let f: unsafe extern "C-unwind" fn($($arg),*) $(-> $ret)? = $def;
                        f as usize
                    })*
                }
            }
        }
    };
    (@ret) => { () };
    (@ret $ret:ty) => { $ret };
}

type Ctx = *const TaskCtx;

runtime_abi! {
    /// The safepoint slow path: `(ctx, frame, self_fn)`.
    Poll = "lj_poll", Special, fn(Ctx, usize, usize), safepoint::lj_poll;
    /// Raises a runtime error: `(ctx, kind, a, b, frame, self_fn, span)`.
    Error = "lj_error", Special, fn(Ctx, u32, i64, i64, usize, usize, u64), runtime::lj_error;
    /// A new array of `n` elements of the type with this code: `(ctx, n, code)`.
    ArrayAlloc = "lj_array_new", Special, fn(Ctx, i64, u64) -> *mut u8, values::lj_array_new;
    /// `[bits; n]`: `(ctx, n, bits, element type code, frame, self_fn, span)`.
    ArrayRepeat = "lj_array_fill", Special,
        fn(Ctx, i64, u64, u64, usize, usize, u64) -> *mut u8, values::lj_array_fill;
    /// `copy(v)` of an array or struct: `(ctx, v, type code)`.
    Copy = "lj_copy", Special, fn(Ctx, u64, u64) -> u64, values::lj_copy;
    /// A new struct of `n` fields: `(ctx, n)`.
    StructAlloc = "lj_struct_alloc", Special, fn(Ctx, i64) -> *mut u8, values::lj_struct_alloc;
    /// `a + b` on strs.
    StrConcat = "lj_str_concat", Special, fn(Ctx, *const u8, *const u8) -> *mut u8,
        values::lj_str_concat;
    /// Bytewise comparison of two strs (-1, 0, 1).
    StrCmp = "lj_str_cmp", Special, fn(Ctx, *const u8, *const u8) -> i64, values::lj_str_cmp;
    /// `s[a..b]`: `(ctx, s, a, b, frame, self_fn, span)`.
    StrSlice = "lj_str_slice", Special,
        fn(Ctx, *const u8, i64, i64, usize, usize, u64) -> *mut u8, values::lj_str_slice;
    /// Appends a value of any type to the print line: `(ctx, bits, type code)`.
    PrintValue = "lj_print_value", Special, fn(Ctx, u64, u64), values::lj_print_value;
    /// `str(v)`: `(ctx, bits, type code)`.
    ToStr = "lj_to_str", Special, fn(Ctx, u64, u64) -> *mut u8, values::lj_to_str;
    /// `parse_int(s)`.
    ParseInt = "lj_parse_int", Site, fn(Ctx, *const u8, usize, usize, u64) -> i64,
        values::lj_parse_int;
    /// `parse_float(s)`.
    ParseFloat = "lj_parse_float", Site, fn(Ctx, *const u8, usize, usize, u64) -> f64,
        values::lj_parse_float;
    /// `find(s, pat)`.
    Find = "lj_find", Site, fn(Ctx, *const u8, *const u8, usize, usize, u64) -> i64,
        values::lj_find;
    /// `split(s, sep)`.
    Split = "lj_split", Site, fn(Ctx, *const u8, *const u8, usize, usize, u64) -> *mut u8,
        values::lj_split;
    /// `join(xs, sep)`.
    Join = "lj_join", Site, fn(Ctx, *const u8, *const u8, usize, usize, u64) -> *mut u8,
        values::lj_join;
    /// `trim(s)`.
    Trim = "lj_trim", Site, fn(Ctx, *const u8, usize, usize, u64) -> *mut u8, values::lj_trim;
    /// `chr(b)`.
    Chr = "lj_chr", Site, fn(Ctx, i64, usize, usize, u64) -> *mut u8, values::lj_chr;
    /// `fixed(f, digits)`.
    Fixed = "lj_fixed", Site, fn(Ctx, f64, i64, usize, usize, u64) -> *mut u8, values::lj_fixed;
    /// `read_line()` (parks while it waits).
    ReadLine = "lj_read_line", Site, fn(Ctx, usize, usize, u64) -> *mut u8, values::lj_read_line;
    /// `args()`.
    Args = "lj_args", Site, fn(Ctx, usize, usize, u64) -> *mut u8, values::lj_args;
    /// `read_file(path)`.
    ReadFile = "lj_read_file", Site, fn(Ctx, *const u8, usize, usize, u64) -> *mut u8,
        values::lj_read_file;
    /// `write_file(path, s)`.
    WriteFile = "lj_write_file", Site, fn(Ctx, *const u8, *const u8, usize, usize, u64),
        values::lj_write_file;
    /// Starts a `print` line.
    PrintBegin = "lj_print_begin", Special, fn(Ctx), runtime::lj_print_begin;
    /// Appends an int.
    PrintInt = "lj_print_int", Special, fn(Ctx, i64), runtime::lj_print_int;
    /// Appends a float.
    PrintFloat = "lj_print_float", Special, fn(Ctx, f64), runtime::lj_print_float;
    /// Appends a bool (0 or 1).
    PrintBool = "lj_print_bool", Special, fn(Ctx, i64), runtime::lj_print_bool;
    /// Appends `()`.
    PrintUnit = "lj_print_unit", Special, fn(Ctx), runtime::lj_print_unit;
    /// Ends a `print` line (writes it).
    PrintEnd = "lj_print_end", Special, fn(Ctx), runtime::lj_print_end;
    /// Ends an input's final value (printed, or kept for a background task).
    TailEnd = "lj_tail_end", Special, fn(Ctx), runtime::lj_tail_end;
    /// `time_ns()`.
    TimeNs = "lj_time_ns", Site, fn(Ctx, usize, usize, u64) -> i64, runtime::lj_time_ns;
    /// `sleep_ms(ms)`.
    SleepMs = "lj_sleep_ms", Site, fn(Ctx, i64, usize, usize, u64), runtime::lj_sleep_ms;
    /// `rand(n)`.
    Rand = "lj_rand", Site, fn(Ctx, i64, usize, usize, u64) -> i64, runtime::lj_rand;
    /// `seed(s)`.
    Seed = "lj_seed", Site, fn(Ctx, i64, usize, usize, u64), runtime::lj_seed;
}

impl RtFn {
    /// Its declaration in `module` (added on first use), with its attributes.
    pub(crate) fn declare<'ctx>(
        self,
        ctx: &'ctx Context,
        module: &Module<'ctx>,
    ) -> FunctionValue<'ctx> {
        if let Some(f) = module.get_function(self.name()) {
            return f;
        }
        let f = module.add_function(self.name(), self.llvm_type(ctx), Some(Linkage::External));
        let attr = |name: &str, value: u64| {
            f.add_attribute(
                AttributeLoc::Function,
                ctx.create_enum_attribute(Attribute::get_named_enum_kind_id(name), value),
            )
        };
        match self {
            RtFn::Error => {
                attr("noreturn", 0);
                attr("cold", 0);
            }
            RtFn::Poll => {
                attr("cold", 0);
                // The poll touches only the task context (an argument) and runtime state LLVM
                // cannot see: `memory(argmem: readwrite, inaccessiblemem: readwrite)` (LLVM's
                // encoding: two mod/ref bits per location, argmem at bit 0, inaccessible memory
                // at bit 2). So array lengths and elements stay in registers across loop
                // back-edges.
                attr("memory", 0b1111);
            }
            _ => {}
        }
        f
    }
}

/// Every runtime function by symbol name, for the JIT's absolute symbol table.
pub(crate) fn symbols() -> Vec<(&'static str, usize)> {
    RtFn::ALL.iter().map(|f| (f.name(), f.address())).collect()
}

/// How codegen implements a builtin of the language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lowering {
    /// Inline code (or LLVM intrinsics, or several runtime calls: `print`).
    Inline,
    /// A call to this runtime function, whose [`RtFn::calling`] says how.
    Runtime(RtFn),
}

/// The back end's half of the builtin table.
pub(crate) fn lowering(b: Builtin) -> Lowering {
    match b {
        Builtin::Print
        | Builtin::Len
        | Builtin::Float
        | Builtin::Int
        | Builtin::Sqrt
        | Builtin::Assert
        | Builtin::Abs
        | Builtin::Min
        | Builtin::Max => Lowering::Inline,
        Builtin::Copy => Lowering::Runtime(RtFn::Copy),
        Builtin::Str => Lowering::Runtime(RtFn::ToStr),
        Builtin::ParseInt => Lowering::Runtime(RtFn::ParseInt),
        Builtin::ParseFloat => Lowering::Runtime(RtFn::ParseFloat),
        Builtin::Find => Lowering::Runtime(RtFn::Find),
        Builtin::Split => Lowering::Runtime(RtFn::Split),
        Builtin::Join => Lowering::Runtime(RtFn::Join),
        Builtin::Trim => Lowering::Runtime(RtFn::Trim),
        Builtin::Chr => Lowering::Runtime(RtFn::Chr),
        Builtin::Fixed => Lowering::Runtime(RtFn::Fixed),
        Builtin::ReadLine => Lowering::Runtime(RtFn::ReadLine),
        Builtin::Args => Lowering::Runtime(RtFn::Args),
        Builtin::ReadFile => Lowering::Runtime(RtFn::ReadFile),
        Builtin::WriteFile => Lowering::Runtime(RtFn::WriteFile),
        Builtin::TimeNs => Lowering::Runtime(RtFn::TimeNs),
        Builtin::SleepMs => Lowering::Runtime(RtFn::SleepMs),
        Builtin::Rand => Lowering::Runtime(RtFn::Rand),
        Builtin::Seed => Lowering::Runtime(RtFn::Seed),
    }
}

/// The runtime errors (`lj_error`'s `kind` argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[repr(u32)]
pub enum ErrorKind {
    /// `index I out of range for length N` (a = index, b = length)
    Index = 0,
    /// `division by zero`
    DivZero = 1,
    /// `negative array length N` (a = length)
    NegativeLength = 2,
    /// `assertion failed`
    Assert = 3,
    /// `rand bound must be positive, got N` (a = bound)
    RandBound = 4,
    /// `stack overflow`
    StackOverflow = 5,
    /// `interrupted`
    Interrupted = 6,
    /// `array of N elements is too large` (a = length)
    TooLarge = 7,
    /// An error with its own message (strs, input/output); raised by the runtime only.
    Message = 8,
}

impl ErrorKind {
    const ALL: [ErrorKind; 9] = [
        ErrorKind::Index,
        ErrorKind::DivZero,
        ErrorKind::NegativeLength,
        ErrorKind::Assert,
        ErrorKind::RandBound,
        ErrorKind::StackOverflow,
        ErrorKind::Interrupted,
        ErrorKind::TooLarge,
        ErrorKind::Message,
    ];

    /// The kind JIT code passed (codegen only passes `kind as u32`).
    pub(crate) fn from_raw(raw: u32) -> ErrorKind {
        ErrorKind::ALL
            .into_iter()
            .find(|k| *k as u32 == raw)
            .unwrap_or(ErrorKind::TooLarge)
    }
}

/// Packs a span into one i64 argument of a runtime call.
pub(crate) fn pack_span(span: Span) -> u64 {
    ((span.start as u64) << 32) | (span.end as u64 & 0xffff_ffff)
}

/// The span [`pack_span`] packed.
pub(crate) fn unpack_span(packed: u64) -> Span {
    Span::new((packed >> 32) as usize, (packed & 0xffff_ffff) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_builtin_has_exactly_one_lowering_and_runtime_entries_are_distinct() {
        let mut used = HashSet::new();
        for b in Builtin::ALL {
            if let Lowering::Runtime(f) = lowering(b) {
                assert!(used.insert(f), "{} shares {}", b.name(), f.name());
                if !matches!(f, RtFn::Copy | RtFn::ToStr) {
                    assert_eq!(f.calling(), Calling::Site, "{}", b.name());
                }
            }
        }
    }

    #[test]
    fn names_are_unique_and_every_function_declares() {
        let names: HashSet<&str> = RtFn::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), RtFn::ALL.len());
        let ctx = Context::create();
        let module = ctx.create_module("abi");
        for f in RtFn::ALL {
            let d = f.declare(&ctx, &module);
            assert_eq!(d, f.declare(&ctx, &module));
        }
        assert_eq!(symbols().len(), RtFn::ALL.len());
    }

    #[test]
    fn encodings_round_trip() {
        for k in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_raw(k as u32), k);
        }
        let s = Span::new(12, 345);
        assert_eq!(unpack_span(pack_span(s)), s);
    }
}
