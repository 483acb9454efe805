//! The one panic boundary every exported function goes through, and the one
//! family of argument helpers (NULL, UTF-8, buffers, out-pointers).

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::{set_last_error, Error, Result};
use crate::roomcast_result;

/// Runs an exported function's body: `Ok` becomes `ROOMCAST_RESULT_OK`, an
/// `Err` its code (recording the detail for `roomcast_last_error`), and a
/// panic `ROOMCAST_RESULT_PANIC` — it never unwinds into C. Inlined into
/// each exported function so the success path costs a few instructions;
/// the failure paths are out of line.
#[inline(always)]
pub(crate) fn guard(body: impl FnOnce() -> Result<()>) -> roomcast_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => roomcast_result::Ok,
        Ok(Err(e)) => failed(e),
        Err(payload) => panicked(payload),
    }
}

/// Records an error's detail and returns its code.
#[cold]
#[inline(never)]
fn failed(e: Error) -> roomcast_result {
    set_last_error(&e.detail);
    e.code
}

/// Records a caught panic and returns `ROOMCAST_RESULT_PANIC`.
#[cold]
#[inline(never)]
fn panicked(payload: Box<dyn std::any::Any + Send>) -> roomcast_result {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    // Dropping the panic payload could itself panic; forget it.
    std::mem::forget(payload);
    set_last_error(&format!("panic: {what}"));
    roomcast_result::Panic
}

/// The boundary for the few functions that return a plain value (`_free`,
/// accessors that cannot fail): a panic gives `fallback`.
#[inline(always)]
pub(crate) fn guard_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            std::mem::forget(payload);
            set_last_error("panic caught at the FFI boundary");
            fallback
        }
    }
}

#[cold]
#[inline(never)]
fn null(what: &str) -> Error {
    Error::new(roomcast_result::NullParameter, format!("`{what}` is NULL"))
}

/// Borrows a handle.
///
/// # Safety
///
/// `p` must be NULL or a live handle of type `T` for the returned lifetime.
#[inline]
pub(crate) unsafe fn handle<'a, T>(p: *const T, what: &str) -> Result<&'a T> {
    // SAFETY: non-NULL pointers are live handles per the caller's contract.
    unsafe { p.as_ref() }.ok_or_else(|| null(what))
}

/// Borrows a NUL-terminated UTF-8 string. One pass finds the NUL and
/// notes whether every byte is ASCII (names usually are), which needs no
/// further check; anything else goes through the full UTF-8 validation.
///
/// # Safety
///
/// `p` must be NULL or point to a NUL-terminated string that stays valid
/// and unchanged for the returned lifetime.
#[inline]
pub(crate) unsafe fn string<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null(what));
    }
    let p = p.cast::<u8>();
    let (mut n, mut high) = (0usize, 0u8);
    loop {
        // SAFETY: every byte up to and including the NUL is readable per
        // the caller's contract, and the loop stops at the NUL.
        let b = unsafe { *p.add(n) };
        if b == 0 {
            break;
        }
        high |= b;
        n += 1;
    }
    // SAFETY: the `n` bytes before the NUL, valid for 'a per the contract.
    let bytes = unsafe { std::slice::from_raw_parts(p, n) };
    if high < 0x80 {
        // SAFETY: all bytes are ASCII, which is valid UTF-8.
        return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).map_err(|e| invalid_utf8(what, e.valid_up_to()))
}

#[cold]
#[inline(never)]
fn invalid_utf8(what: &str, at: usize) -> Error {
    Error::new(roomcast_result::InvalidUtf8, format!("`{what}` is not valid UTF-8 (at byte {at})"))
}

/// Borrows a `(pointer, length)` buffer; NULL is allowed when `len` is 0.
///
/// # Safety
///
/// When `len > 0`, `p` must point to `len` readable bytes valid for the
/// returned lifetime.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize, what: &str) -> Result<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: `len` readable bytes at `p` per the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// Borrows an array of `len` string pointers and each string; NULL is
/// allowed when `len` is 0.
///
/// # Safety
///
/// When `len > 0`, `p` must point to `len` pointers, each a NUL-terminated
/// string valid for the returned lifetime.
pub(crate) unsafe fn strings<'a>(p: *const *const c_char, len: usize, what: &str) -> Result<Vec<&'a str>> {
    if len == 0 {
        return Ok(Vec::new());
    }
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: `len` pointers at `p` per the caller's contract.
    let ptrs = unsafe { std::slice::from_raw_parts(p, len) };
    ptrs.iter()
        .map(|&s| {
            // SAFETY: each entry is NULL or a valid string per the contract.
            unsafe { string(s, what) }
        })
        .collect()
}

/// Checks that an out-pointer is not NULL.
#[inline]
pub(crate) fn out<T>(p: *mut T, what: &str) -> Result<()> {
    if p.is_null() {
        Err(null(what))
    } else {
        Ok(())
    }
}

/// Writes `v` to a checked, non-NULL out-pointer.
///
/// # Safety
///
/// `p` must be non-NULL (checked with [`out`]) and valid for a write of `T`.
#[inline]
pub(crate) unsafe fn write<T>(p: *mut T, v: T) {
    // SAFETY: per the caller's contract; `write` does not drop the old
    // (uninitialised) value.
    unsafe { p.write(v) }
}

/// Writes `v` to an optional output: nothing when `p` is NULL.
///
/// # Safety
///
/// `p` must be NULL or valid for one write of `T`.
#[inline]
pub(crate) unsafe fn write_opt<T>(p: *mut T, v: T) {
    if !p.is_null() {
        // SAFETY: non-NULL, so valid per the caller's contract.
        unsafe { write(p, v) }
    }
}

/// Moves a value into a new Box handle for C.
pub(crate) fn into_handle<T>(v: T) -> *mut T {
    Box::into_raw(Box::new(v))
}

/// Frees a Box handle made by [`into_handle`]; NULL is a no-op.
///
/// # Safety
///
/// `p` must be NULL or a pointer from [`into_handle`] for the same `T`, not
/// yet freed and not used afterwards.
pub(crate) unsafe fn free_handle<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: from `Box::into_raw` per the caller's contract.
        drop(unsafe { Box::from_raw(p) });
    }
}
