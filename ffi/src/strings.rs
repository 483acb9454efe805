//! Owned lists of strings and owned payloads handed to C.

use std::ffi::c_char;

use roomcast_core as core;

use crate::error::Error;
use crate::panic::{free_handle, guard, guard_value, handle, into_handle, out, write, write_opt};
use crate::roomcast_result;

/// A string the library hands out: `len` bytes of UTF-8 at `data`, **not**
/// NUL-terminated. Print it with `printf("%.*s", (int)s.len, s.data)`.
/// Borrowed from whatever handed it out (a handle, a message, a callback's
/// arguments) and valid as long as that is. `data` is never NULL for a
/// present string, even an empty one; an absent one (documented where it
/// can happen) is `{NULL, 0}`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct roomcast_str {
    /// The first byte.
    pub data: *const c_char,
    /// The number of bytes (no NUL counted or present).
    pub len: usize,
}

impl roomcast_str {
    /// A view of `s` (which must outlive every use the caller makes of it).
    pub(crate) fn new(s: &str) -> roomcast_str {
        roomcast_str { data: s.as_ptr().cast(), len: s.len() }
    }

    /// An absent string: `{NULL, 0}`.
    pub(crate) fn none() -> roomcast_str {
        roomcast_str { data: std::ptr::null(), len: 0 }
    }

    /// A view of `s`, or `{NULL, 0}`.
    pub(crate) fn opt(s: Option<&str>) -> roomcast_str {
        s.map_or_else(roomcast_str::none, roomcast_str::new)
    }
}

/// A list of strings the library made for the caller (room names,
/// namespace names). Box-owned: from functions such as
/// `roomcast_socket_rooms`, freed with `roomcast_strings_free`. A snapshot:
/// later changes do not show in it. Immutable, so it may be read from any
/// thread.
pub struct roomcast_strings {
    /// Each entry's bytes followed by a NUL.
    items: Vec<Box<[u8]>>,
}

/// Moves strings into a new list handle.
pub(crate) fn strings_handle(items: impl IntoIterator<Item = String>) -> *mut roomcast_strings {
    let items = items
        .into_iter()
        .map(|s| {
            let mut b = s.into_bytes();
            b.push(0);
            b.into_boxed_slice()
        })
        .collect();
    into_handle(roomcast_strings { items })
}

/// Number of entries in `list` (0 for NULL).
///
/// # Safety
///
/// `list` must be NULL or a live list.
#[no_mangle]
pub unsafe extern "C" fn roomcast_strings_len(list: *const roomcast_strings) -> usize {
    // SAFETY: per the contract.
    guard_value(0, || unsafe { list.as_ref() }.map_or(0, |l| l.items.len()))
}

/// Writes entry `index` of `list`: a pointer to its bytes, which are
/// followed by a NUL (so it may be used as a C string), and its length
/// without the NUL. Borrowed from the list until it is freed.
/// `ROOMCAST_RESULT_INVALID_ARGUMENT` when `index` is out of range.
///
/// # Safety
///
/// `list` must be NULL or live; `str_out` valid for a write; `len_out` NULL
/// or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_strings_get(
    list: *const roomcast_strings,
    index: usize,
    str_out: *mut *const c_char,
    len_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let l = unsafe { handle(list, "list")? };
        out(str_out, "str_out")?;
        let item = l.items.get(index).ok_or_else(|| {
            Error::new(roomcast_result::InvalidArgument, format!("index {index} out of range ({})", l.items.len()))
        })?;
        // SAFETY: checked non-NULL above; `len_out` NULL or valid.
        unsafe {
            write(str_out, item.as_ptr().cast());
            write_opt(len_out, item.len() - 1);
        }
        Ok(())
    })
}

/// Frees a list. NULL is a no-op.
///
/// # Safety
///
/// `list` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_strings_free(list: *mut roomcast_strings) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(list) })
}

/// A payload the library hands out (socket data): shares the engine's bytes,
/// no copy. Box-owned: from `roomcast_socket_data`, freed with
/// `roomcast_payload_free`. Immutable, so it may be read from any thread.
pub struct roomcast_payload {
    pub(crate) payload: core::Payload,
}

/// Writes a view of the payload's bytes (valid until the payload is
/// freed; never NULL, even when empty), its length and, when `format_out`
/// is not NULL, its `ROOMCAST_FORMAT_*`.
///
/// # Safety
///
/// `payload` must be NULL or live; `data_out` and `len_out` valid for
/// writes; `format_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_payload_data(
    payload: *const roomcast_payload,
    data_out: *mut *const u8,
    len_out: *mut usize,
    format_out: *mut crate::roomcast_format_value,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let p = unsafe { handle(payload, "payload")? };
        out(data_out, "data_out")?;
        out(len_out, "len_out")?;
        // SAFETY: checked non-NULL above; `format_out` NULL or valid.
        unsafe { write_payload(&p.payload, data_out, len_out, format_out) };
        Ok(())
    })
}

/// Writes a view of `p` (a dangling, non-NULL pointer when empty).
///
/// # Safety
///
/// `data_out` and `len_out` must be valid for writes; `format_out` NULL or
/// valid.
pub(crate) unsafe fn write_payload(
    p: &core::Payload,
    data_out: *mut *const u8,
    len_out: *mut usize,
    format_out: *mut crate::roomcast_format_value,
) {
    let b = p.as_bytes();
    let ptr = if b.is_empty() { std::ptr::NonNull::<u8>::dangling().as_ptr().cast_const() } else { b.as_ptr() };
    // SAFETY: per the contract.
    unsafe {
        write(data_out, ptr);
        write(len_out, b.len());
        write_opt(format_out, p.format().code());
    }
}

/// Frees a payload. NULL is a no-op.
///
/// # Safety
///
/// `payload` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_payload_free(payload: *mut roomcast_payload) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(payload) })
}
