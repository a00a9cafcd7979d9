//! Heap values beyond scalars — strs, arrays of any element type, structs — and the builtins
//! on them: allocation (pointer-free data with `GC_malloc_atomic`, anything holding pointers
//! with `GC_malloc`), printing (strs quoted inside containers, cycles as `...`), shallow
//! copies, zero values, the string builtins and input/output.
//!
//! Layouts (JIT code relies on them):
//! - a str is a pointer to `[len: i64][bytes]`;
//! - an array is a pointer to `[len: i64][elements]`, 1 byte per bool, 8 bytes otherwise
//!   (ints, floats, and pointers for strs, arrays and structs);
//! - a struct is a pointer to its fields, 8 bytes each in declaration order (bools as 0/1).
//!
//! Values cross this module as `u64` bits with their [`Type`] (or its [`Type::code`]).

use crate::abi::unpack_span;
use crate::gc;
use crate::runtime::{raise_msg, task, HEADER};
use crate::safepoint::TaskCtx;
use livejit_frontend::Type;
use std::collections::HashMap;
use std::io::{BufRead, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Bytes per element of an array whose elements have type `t`.
pub(crate) fn elem_size(t: Type) -> usize {
    if t == Type::Bool {
        1
    } else {
        8
    }
}

/// Allocates an array of `n` elements of type `elem` (length set; pointer elements zeroed),
/// or `None` if it is too large.
pub(crate) fn alloc_array(n: i64, elem: Type) -> Option<*mut u8> {
    let bytes = usize::try_from(n)
        .ok()?
        .checked_mul(elem_size(elem))?
        .checked_add(HEADER)?;
    if bytes > crate::runtime::max_array_bytes() {
        return None;
    }
    let p = if elem.is_pointer() {
        gc::alloc(bytes)
    } else {
        gc::alloc_atomic(bytes)
    };
    // SAFETY: `p` points to at least HEADER bytes, 8-aligned (GC allocations are).
    unsafe { (p as *mut i64).write(n) };
    Some(p)
}

/// A new str holding `bytes`.
pub(crate) fn new_str(bytes: &[u8]) -> *mut u8 {
    let p = gc::alloc_atomic(HEADER + bytes.len());
    // SAFETY: the allocation holds HEADER + len bytes, 8-aligned.
    unsafe {
        (p as *mut i64).write(bytes.len() as i64);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.add(HEADER), bytes.len());
    }
    p
}

/// The bytes of a str.
///
/// # Safety
/// `s` must point to a live str (or a literal), which must stay alive while the slice is used.
pub(crate) unsafe fn str_bytes<'a>(s: *const u8) -> &'a [u8] {
    // SAFETY: per the contract, an i64 length then that many bytes.
    unsafe {
        let n = (s as *const i64).read() as usize;
        std::slice::from_raw_parts(s.add(HEADER), n)
    }
}

/// The address of a str literal with these bytes: one immortal copy per distinct content,
/// outside the GC heap and outside any module, so values made from it outlive the code that
/// created them. Also serves as the empty array of any type (`literal(b"")`: length 0).
pub(crate) fn literal(bytes: &[u8]) -> usize {
    static LITERALS: OnceLock<Mutex<HashMap<Vec<u8>, usize>>> = OnceLock::new();
    let mut map = LITERALS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(&p) = map.get(bytes) {
        return p;
    }
    let words = (HEADER + bytes.len()).div_ceil(8);
    let mut buf = vec![0u64; words].into_boxed_slice();
    buf[0] = bytes.len() as u64;
    let p = Box::leak(buf).as_mut_ptr() as *mut u8;
    // SAFETY: the buffer holds `words * 8 >= HEADER + len` bytes.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.add(HEADER), bytes.len()) };
    map.insert(bytes.to_vec(), p as usize);
    p as usize
}

/// A struct object of `n` fields (zeroed).
pub(crate) fn alloc_struct(n: usize) -> *mut u8 {
    gc::alloc(8 * n.max(1))
}

/// Reads element `i` of an array of `elem` as bits.
///
/// # Safety
/// `arr` must be a live array of `elem` with `i < len`.
unsafe fn elem_bits(arr: *const u8, elem: Type, i: usize) -> u64 {
    // SAFETY: per the contract.
    unsafe {
        let data = arr.add(HEADER);
        if elem == Type::Bool {
            u64::from(data.add(i).read())
        } else {
            (data as *const u64).add(i).read()
        }
    }
}

/// Appends `bytes` quoted as Rust's `{:?}` shows a str, with each byte that is not UTF-8 as
/// `\xHH`.
pub(crate) fn quote(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for chunk in bytes.utf8_chunks() {
        let dbg = format!("{:?}", chunk.valid());
        out.extend_from_slice(&dbg.as_bytes()[1..dbg.len() - 1]);
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push(b'"');
}

/// Appends the text `print` writes for a value: strs raw at the top (`quoted == false`),
/// quoted inside arrays and structs; a value met again while it is being printed (a cycle)
/// as `...`.
///
/// # Safety
/// `bits` must be a live value of type `ty` (pointers to live objects of that type).
pub(crate) unsafe fn format_value(out: &mut Vec<u8>, bits: u64, ty: Type, quoted: bool) {
    // SAFETY: per the contract.
    unsafe { format_preview(out, bits, ty, quoted, (usize::MAX, usize::MAX)) }
}

/// Like [`format_value`], showing at most `limit.0` elements of each array and `limit.1`
/// bytes of each str, then `... (N items)` / `... (N bytes)` (for `:list`).
///
/// # Safety
/// As [`format_value`].
pub(crate) unsafe fn format_preview(
    out: &mut Vec<u8>,
    bits: u64,
    ty: Type,
    quoted: bool,
    limit: (usize, usize),
) {
    let mut stack = Vec::new();
    // SAFETY: per the contract.
    unsafe { format_rec(out, bits, ty, quoted, &mut stack, limit) }
}

/// # Safety
/// As [`format_value`].
unsafe fn format_rec(
    out: &mut Vec<u8>,
    bits: u64,
    ty: Type,
    quoted: bool,
    stack: &mut Vec<u64>,
    limit: (usize, usize),
) {
    match ty {
        Type::Int => {
            let _ = write!(out, "{}", bits as i64);
        }
        Type::Float => {
            let _ = write!(out, "{:?}", f64::from_bits(bits));
        }
        Type::Bool => out.extend_from_slice(if bits != 0 { b"true" } else { b"false" }),
        Type::Str => {
            // SAFETY: a live str.
            let whole = unsafe { str_bytes(bits as *const u8) };
            let s = &whole[..whole.len().min(limit.1)];
            if quoted {
                quote(out, s);
            } else {
                out.extend_from_slice(s);
            }
            if s.len() < whole.len() {
                let _ = write!(out, "... ({} bytes)", whole.len());
            }
        }
        Type::Array(e) => {
            if stack.contains(&bits) {
                out.extend_from_slice(b"...");
                return;
            }
            stack.push(bits);
            let elem = e.ty();
            let arr = bits as *const u8;
            // SAFETY: a live array: its length first.
            let n = unsafe { (arr as *const i64).read() } as usize;
            out.push(b'[');
            for i in 0..n {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                if i == limit.0 {
                    let _ = write!(out, "... ({n} items)");
                    break;
                }
                // SAFETY: `i < n`; elements of a live array are live values of `elem`.
                unsafe { format_rec(out, elem_bits(arr, elem, i), elem, true, stack, limit) };
            }
            out.push(b']');
            stack.pop();
        }
        Type::Struct(id) => {
            if stack.contains(&bits) {
                out.extend_from_slice(b"...");
                return;
            }
            stack.push(bits);
            let def = id.def();
            out.extend_from_slice(def.name.as_bytes());
            out.extend_from_slice(b" { ");
            for (i, (name, fty)) in def.fields.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(name.as_bytes());
                out.extend_from_slice(b": ");
                // SAFETY: a live struct of this type has `fields.len()` 8-byte fields.
                let v = unsafe { (bits as *const u64).add(i).read() };
                // SAFETY: fields of a live struct are live values of their types.
                unsafe { format_rec(out, v, *fty, true, stack, limit) };
            }
            out.extend_from_slice(b" }");
            stack.pop();
        }
        Type::Unit | Type::Never | Type::Error => out.extend_from_slice(b"()"),
    }
}

/// A shallow copy of an array or struct (other values are returned as they are).
///
/// # Safety
/// `bits` must be a live value of type `ty`.
pub(crate) unsafe fn shallow_copy(bits: u64, ty: Type) -> u64 {
    match ty {
        Type::Array(e) => {
            let elem = e.ty();
            let arr = bits as *const u8;
            // SAFETY: a live array: length then `n * size` bytes.
            unsafe {
                let n = (arr as *const i64).read();
                let p = alloc_array(n, elem).expect("a copy of an existing array fits");
                std::ptr::copy_nonoverlapping(
                    arr.add(HEADER),
                    p.add(HEADER),
                    n as usize * elem_size(elem),
                );
                p as u64
            }
        }
        Type::Struct(id) => {
            let n = id.def().fields.len();
            let p = alloc_struct(n);
            // SAFETY: a live struct has `n` 8-byte fields; `p` has room for them.
            unsafe { std::ptr::copy_nonoverlapping(bits as *const u8, p, 8 * n) };
            p as u64
        }
        _ => bits,
    }
}

/// The zero value of a type: 0, 0.0, false, `""`, an empty array, or a struct of its fields'
/// zero values (a struct contains itself only through arrays, so this ends).
pub(crate) fn zero_value(ty: Type) -> u64 {
    match ty {
        Type::Str | Type::Array(_) => literal(b"") as u64,
        Type::Struct(id) => {
            let def = id.def();
            let p = alloc_struct(def.fields.len());
            for (i, (_, t)) in def.fields.iter().enumerate() {
                // SAFETY: `p` has room for every field.
                unsafe { (p as *mut u64).add(i).write(zero_value(*t)) };
            }
            p as u64
        }
        _ => 0,
    }
}

fn str_arg<'a>(s: *const u8) -> &'a [u8] {
    // SAFETY: JIT code passes live strs (GC objects kept alive by its frame, or literals).
    unsafe { str_bytes(s) }
}

// ---- Runtime functions called from JIT code (declared in abi.rs). ----

/// `a + b` on strs.
pub(crate) extern "C-unwind" fn lj_str_concat(
    _ctx: *const TaskCtx,
    a: *const u8,
    b: *const u8,
) -> *mut u8 {
    let (a, b) = (str_arg(a), str_arg(b));
    let p = gc::alloc_atomic(HEADER + a.len() + b.len());
    // SAFETY: the allocation holds HEADER + both lengths.
    unsafe {
        (p as *mut i64).write((a.len() + b.len()) as i64);
        std::ptr::copy_nonoverlapping(a.as_ptr(), p.add(HEADER), a.len());
        std::ptr::copy_nonoverlapping(b.as_ptr(), p.add(HEADER + a.len()), b.len());
    }
    p
}

/// Bytewise comparison of two strs: -1, 0 or 1.
pub(crate) extern "C-unwind" fn lj_str_cmp(
    _ctx: *const TaskCtx,
    a: *const u8,
    b: *const u8,
) -> i64 {
    str_arg(a).cmp(str_arg(b)) as i64
}

/// `s[a..b]`.
pub(crate) extern "C-unwind" fn lj_str_slice(
    _ctx: *const TaskCtx,
    s: *const u8,
    a: i64,
    b: i64,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> *mut u8 {
    let bytes = str_arg(s);
    let n = bytes.len() as i64;
    if !(0 <= a && a <= b && b <= n) {
        raise_msg(
            format!("range {a}..{b} out of range for length {n}"),
            frame,
            self_fn,
            Some(unpack_span(span)),
        );
    }
    new_str(&bytes[a as usize..b as usize])
}

/// A new struct of `n` fields (JIT code stores them).
pub(crate) extern "C-unwind" fn lj_struct_alloc(_ctx: *const TaskCtx, n: i64) -> *mut u8 {
    alloc_struct(n as usize)
}

/// `copy(v)` for arrays and structs: `(ctx, v, type code)`.
pub(crate) extern "C-unwind" fn lj_copy(_ctx: *const TaskCtx, v: u64, code: u64) -> u64 {
    // SAFETY: JIT code passes a live value of the type it names.
    unsafe { shallow_copy(v, Type::from_code(code)) }
}

/// Appends a value of any type to the print line: `(ctx, bits, type code)`.
pub(crate) extern "C-unwind" fn lj_print_value(ctx: *const TaskCtx, v: u64, code: u64) {
    crate::runtime::with_line(ctx, |b| {
        crate::runtime::sep(ctx, b);
        // SAFETY: JIT code passes a live value of the type it names.
        unsafe { format_value(b, v, Type::from_code(code), false) };
    });
}

/// `str(v)`: the text `print` writes for `v`: `(ctx, bits, type code)`.
pub(crate) extern "C-unwind" fn lj_to_str(_ctx: *const TaskCtx, v: u64, code: u64) -> *mut u8 {
    let mut out = Vec::new();
    // SAFETY: JIT code passes a live value of the type it names.
    unsafe { format_value(&mut out, v, Type::from_code(code), false) };
    new_str(&out)
}

fn invalid_number(s: &[u8], frame: usize, self_fn: usize, span: u64) -> ! {
    let mut text = Vec::new();
    text.extend_from_slice(b"invalid number ");
    quote(&mut text, s);
    raise_msg(
        String::from_utf8_lossy(&text).into_owned(),
        frame,
        self_fn,
        Some(unpack_span(span)),
    )
}

pub(crate) extern "C-unwind" fn lj_parse_int(
    _ctx: *const TaskCtx,
    s: *const u8,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> i64 {
    let b = str_arg(s);
    match std::str::from_utf8(b)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
    {
        Some(v) => v,
        None => invalid_number(b, frame, self_fn, span),
    }
}

pub(crate) extern "C-unwind" fn lj_parse_float(
    _ctx: *const TaskCtx,
    s: *const u8,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> f64 {
    let b = str_arg(s);
    match std::str::from_utf8(b)
        .ok()
        .and_then(|t| t.parse::<f64>().ok())
    {
        Some(v) => v,
        None => invalid_number(b, frame, self_fn, span),
    }
}

/// Byte index of the first occurrence of `pat` in `hay`.
pub(crate) fn find_bytes(hay: &[u8], pat: &[u8]) -> Option<usize> {
    if pat.is_empty() {
        return Some(0);
    }
    if pat.len() > hay.len() {
        return None;
    }
    let first = pat[0];
    let mut i = 0;
    while i + pat.len() <= hay.len() {
        match hay[i..=hay.len() - pat.len()]
            .iter()
            .position(|&c| c == first)
        {
            None => return None,
            Some(k) => {
                i += k;
                if &hay[i..i + pat.len()] == pat {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

pub(crate) extern "C-unwind" fn lj_find(
    _ctx: *const TaskCtx,
    s: *const u8,
    pat: *const u8,
    _frame: usize,
    _self_fn: usize,
    _span: u64,
) -> i64 {
    find_bytes(str_arg(s), str_arg(pat)).map_or(-1, |i| i as i64)
}

/// A new `[str]` holding these strs.
fn str_array(parts: &[&[u8]]) -> *mut u8 {
    let p = alloc_array(parts.len() as i64, Type::Str).expect("split results fit");
    for (i, part) in parts.iter().enumerate() {
        let s = new_str(part);
        // SAFETY: `p` has room for `parts.len()` pointers.
        unsafe { (p.add(HEADER) as *mut *mut u8).add(i).write(s) };
    }
    p
}

pub(crate) extern "C-unwind" fn lj_split(
    _ctx: *const TaskCtx,
    s: *const u8,
    sep: *const u8,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> *mut u8 {
    let (s, sep) = (str_arg(s), str_arg(sep));
    if sep.is_empty() {
        raise_msg(
            "empty separator".into(),
            frame,
            self_fn,
            Some(unpack_span(span)),
        );
    }
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(i) = find_bytes(rest, sep) {
        parts.push(&rest[..i]);
        rest = &rest[i + sep.len()..];
    }
    parts.push(rest);
    str_array(&parts)
}

pub(crate) extern "C-unwind" fn lj_join(
    _ctx: *const TaskCtx,
    xs: *const u8,
    sep: *const u8,
    _frame: usize,
    _self_fn: usize,
    _span: u64,
) -> *mut u8 {
    let sep = str_arg(sep);
    let mut out = Vec::new();
    // SAFETY: a live `[str]`: length then pointers to live strs.
    unsafe {
        let n = (xs as *const i64).read() as usize;
        for i in 0..n {
            if i > 0 {
                out.extend_from_slice(sep);
            }
            out.extend_from_slice(str_bytes(elem_bits(xs, Type::Str, i) as *const u8));
        }
    }
    new_str(&out)
}

pub(crate) extern "C-unwind" fn lj_trim(
    _ctx: *const TaskCtx,
    s: *const u8,
    _frame: usize,
    _self_fn: usize,
    _span: u64,
) -> *mut u8 {
    new_str(str_arg(s).trim_ascii())
}

pub(crate) extern "C-unwind" fn lj_chr(
    _ctx: *const TaskCtx,
    b: i64,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> *mut u8 {
    if !(0..=255).contains(&b) {
        raise_msg(
            format!("byte {b} out of range"),
            frame,
            self_fn,
            Some(unpack_span(span)),
        );
    }
    // One immortal str per byte value, looked up without a lock.
    static BYTES: OnceLock<Vec<usize>> = OnceLock::new();
    let table = BYTES.get_or_init(|| (0..=255u8).map(|b| literal(&[b])).collect());
    table[b as usize] as *mut u8
}

pub(crate) extern "C-unwind" fn lj_fixed(
    _ctx: *const TaskCtx,
    f: f64,
    digits: i64,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> *mut u8 {
    if !(0..=1000).contains(&digits) {
        raise_msg(
            format!("invalid digits {digits}"),
            frame,
            self_fn,
            Some(unpack_span(span)),
        );
    }
    new_str(format!("{:.*}", digits as usize, f).as_bytes())
}

/// Whether `read_line` may read standard input (only under `livejit run`).
static STDIN_FOR_PROGRAM: AtomicBool = AtomicBool::new(false);

/// The arguments `args()` returns.
static PROGRAM_ARGS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();

/// Gives the program standard input (`read_line`) and its arguments (`args()`): for
/// `livejit run FILE ARG...`. Only the first call sets the arguments.
pub fn enable_program_io(args: Vec<Vec<u8>>) {
    STDIN_FOR_PROGRAM.store(true, Ordering::SeqCst);
    let _ = PROGRAM_ARGS.set(args);
}

pub(crate) extern "C-unwind" fn lj_read_line(
    ctx: *const TaskCtx,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> *mut u8 {
    if !STDIN_FOR_PROGRAM.load(Ordering::SeqCst) {
        raise_msg(
            "read_line needs livejit run".into(),
            frame,
            self_fn,
            Some(unpack_span(span)),
        );
    }
    let t = task(ctx);
    // Blocked on input, the task is parked: its frames are published, so retirement does
    // not wait for it.
    t.park(frame, self_fn);
    let mut line = Vec::new();
    let _ = std::io::stdin().lock().read_until(b'\n', &mut line);
    t.unpark();
    new_str(&line)
}

pub(crate) extern "C-unwind" fn lj_args(
    _ctx: *const TaskCtx,
    _frame: usize,
    _self_fn: usize,
    _span: u64,
) -> *mut u8 {
    let args = PROGRAM_ARGS.get().map(Vec::as_slice).unwrap_or(&[]);
    let parts: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    str_array(&parts)
}

fn path_of(bytes: &[u8]) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(bytes))
}

pub(crate) extern "C-unwind" fn lj_read_file(
    _ctx: *const TaskCtx,
    path: *const u8,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> *mut u8 {
    let p = str_arg(path);
    let fail = |reason: String| -> ! {
        raise_msg(
            format!("cannot read {}: {reason}", String::from_utf8_lossy(p)),
            frame,
            self_fn,
            Some(unpack_span(span)),
        )
    };
    let path = path_of(p);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => fail(e.to_string()),
    };
    if !meta.is_file() {
        fail("not a regular file".into());
    }
    let limit = crate::runtime::max_input_bytes();
    if meta.len() > limit {
        fail(format!("larger than the input size limit ({limit} bytes)"));
    }
    match std::fs::read(&path) {
        Ok(bytes) => new_str(&bytes),
        Err(e) => fail(e.to_string()),
    }
}

pub(crate) extern "C-unwind" fn lj_write_file(
    _ctx: *const TaskCtx,
    path: *const u8,
    s: *const u8,
    frame: usize,
    self_fn: usize,
    span: u64,
) {
    let p = str_arg(path);
    if let Err(e) = std::fs::write(path_of(p), str_arg(s)) {
        raise_msg(
            format!("cannot write {}: {e}", String::from_utf8_lossy(p)),
            frame,
            self_fn,
            Some(unpack_span(span)),
        );
    }
}

/// `[e; n]` for any element type: each element of an array or struct type is its own shallow
/// copy of `e`. `(ctx, n, bits, element type code, frame, self_fn, span)`.
pub(crate) extern "C-unwind" fn lj_array_fill(
    _ctx: *const TaskCtx,
    n: i64,
    bits: u64,
    code: u64,
    frame: usize,
    self_fn: usize,
    span: u64,
) -> *mut u8 {
    use crate::abi::ErrorKind;
    let elem = Type::from_code(code);
    let span = Some(unpack_span(span));
    if n < 0 {
        crate::runtime::raise(ErrorKind::NegativeLength, n, 0, frame, self_fn, span);
    }
    let Some(p) = alloc_array(n, elem) else {
        crate::runtime::raise(ErrorKind::TooLarge, n, 0, frame, self_fn, span)
    };
    let count = n as usize;
    let copies = matches!(elem, Type::Array(_) | Type::Struct(_));
    // SAFETY: the allocation holds HEADER + n elements of `elem`; 8-aligned.
    unsafe {
        let data = p.add(HEADER);
        if elem == Type::Bool {
            std::ptr::write_bytes(data, bits as u8, count);
        } else if copies {
            let words = data as *mut u64;
            for i in 0..count {
                // The source is kept alive by the caller's frame (it passed `bits`).
                words.add(i).write(shallow_copy(bits, elem));
            }
        } else {
            std::slice::from_raw_parts_mut(data as *mut u64, count).fill(bits);
        }
    }
    p
}

/// A new array of `n` elements of the type with this code (JIT code stores them).
pub(crate) extern "C-unwind" fn lj_array_new(_ctx: *const TaskCtx, n: i64, code: u64) -> *mut u8 {
    alloc_array(n, Type::from_code(code)).expect("array literal sizes are small")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_rust_debug_with_byte_escapes() {
        let mut out = Vec::new();
        quote(&mut out, b"a\"b\n\xff\x41\xc3");
        assert_eq!(out, b"\"a\\\"b\\n\\xffA\\xc3\"");
    }

    #[test]
    fn find_matches_the_naive_search() {
        let hay = b"abcabcab";
        for pat in [
            &b""[..],
            b"a",
            b"ab",
            b"cab",
            b"b",
            b"abcabcab",
            b"x",
            b"bca",
            b"abcabcabc",
        ] {
            let naive = (0..=hay.len().saturating_sub(pat.len()))
                .find(|&i| hay.len() >= pat.len() && &hay[i..i + pat.len()] == pat);
            let naive = if pat.len() > hay.len() { None } else { naive };
            assert_eq!(find_bytes(hay, pat), naive, "{pat:?}");
        }
    }

    #[test]
    fn literals_are_shared_and_shaped_like_strs() {
        let a = literal(b"xyz");
        assert_eq!(a, literal(b"xyz"));
        // SAFETY: a literal is a valid str forever.
        assert_eq!(unsafe { str_bytes(a as *const u8) }, b"xyz");
        assert_eq!(a % 8, 0);
    }
}
