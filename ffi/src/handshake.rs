//! The handshake of a connecting client: the borrowed view a middleware or
//! dynamic-namespace predicate reads, and the Box-owned one a caller builds
//! for `roomcast_conn_join_namespace_with`.

use std::ffi::c_char;

use roomcast_core as core;

use crate::error::Error;
use crate::panic::{guard, handle, out, string, write, write_opt};
use crate::payload::payload;
use crate::roomcast_result;
use crate::strings::roomcast_str;

/// The handshake of a connecting client (core's `Handshake`): auth
/// payload, headers, query parameters, remote address. Either borrowed —
/// the pointer a middleware or dynamic-namespace predicate receives, valid
/// only during that call, never freed — or Box-owned — made with
/// `roomcast_handshake_new` for `roomcast_conn_join_namespace_with`, freed
/// with `roomcast_handshake_free`. Not thread-safe while being built.
pub struct roomcast_handshake {
    pub(crate) hs: core::Handshake,
}

/// Writes a view of the handshake's auth payload (borrowed for the
/// middleware call) and its format. `ROOMCAST_RESULT_NO_VALUE` when the
/// client sent none.
///
/// # Safety
///
/// `handshake` must be NULL or the pointer the callback received;
/// `data_out`, `len_out` valid for writes; `format_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_auth(
    handshake: *const roomcast_handshake,
    data_out: *mut *const u8,
    len_out: *mut usize,
    format_out: *mut crate::roomcast_format_value,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(handshake, "handshake")? };
        out(data_out, "data_out")?;
        out(len_out, "len_out")?;
        let p =
            h.hs.auth_payload()
                .ok_or_else(|| Error::new(roomcast_result::NoValue, "the handshake has no auth payload"))?;
        // SAFETY: checked non-NULL above; `format_out` NULL or valid.
        unsafe {
            write(data_out, p.as_bytes().as_ptr());
            write(len_out, p.len());
            write_opt(format_out, p.format().code());
        }
        Ok(())
    })
}

/// Creates an empty handshake (Box-owned) to fill with
/// `roomcast_handshake_set_auth`, `_add_header`, `_add_query` and
/// `_set_address`, then pass to `roomcast_conn_join_namespace_with`; free
/// it with `roomcast_handshake_free` (a join copies what it needs).
///
/// # Safety
///
/// `hs_out` must be NULL or valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_new(hs_out: *mut *mut roomcast_handshake) -> roomcast_result {
    guard(|| {
        out(hs_out, "hs_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(hs_out, crate::panic::into_handle(roomcast_handshake { hs: core::Handshake::new() })) };
        Ok(())
    })
}

/// Frees a handshake made by `roomcast_handshake_new`. NULL is a no-op.
/// Never call it on the borrowed handshake a callback receives.
///
/// # Safety
///
/// `hs` must be NULL or from `roomcast_handshake_new`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_free(hs: *mut roomcast_handshake) {
    // SAFETY: per the contract.
    crate::panic::guard_value((), || unsafe { crate::panic::free_handle(hs) })
}

/// Borrows an owned handshake mutably.
///
/// # Safety
///
/// `hs` must be NULL or an owned handshake not used concurrently.
unsafe fn edit<'a>(hs: *mut roomcast_handshake) -> crate::error::Result<&'a mut roomcast_handshake> {
    // SAFETY: per the contract.
    unsafe { hs.as_mut() }.ok_or_else(|| Error::new(roomcast_result::NullParameter, "`hs` is NULL"))
}

/// Sets the handshake's auth payload (a copy of `data[0..len]` in
/// `format`), replacing any earlier one.
///
/// # Safety
///
/// `hs` must be NULL or from `roomcast_handshake_new`; `data` valid for
/// `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_set_auth(
    hs: *mut roomcast_handshake,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (h, p) = unsafe { (edit(hs)?, payload(format, data, len)?) };
        h.hs = std::mem::take(&mut h.hs).auth(p);
        Ok(())
    })
}

/// Adds a header (the name is stored lower-case; a repeated name replaces
/// the value).
///
/// # Safety
///
/// `hs` must be NULL or from `roomcast_handshake_new`; `name` and `value`
/// NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_add_header(
    hs: *mut roomcast_handshake,
    name: *const c_char,
    value: *const c_char,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (h, name, value) = unsafe { (edit(hs)?, string(name, "name")?, string(value, "value")?) };
        h.hs = std::mem::take(&mut h.hs).header(name, value);
        Ok(())
    })
}

/// Adds a query parameter (a repeated name replaces the value).
///
/// # Safety
///
/// As `roomcast_handshake_add_header`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_add_query(
    hs: *mut roomcast_handshake,
    name: *const c_char,
    value: *const c_char,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (h, name, value) = unsafe { (edit(hs)?, string(name, "name")?, string(value, "value")?) };
        h.hs = std::mem::take(&mut h.hs).query(name, value);
        Ok(())
    })
}

/// Sets the client's remote address ("127.0.0.1:50000").
///
/// # Safety
///
/// `hs` must be NULL or from `roomcast_handshake_new`; `address` NULL or
/// NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_set_address(
    hs: *mut roomcast_handshake,
    address: *const c_char,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (h, address) = unsafe { (edit(hs)?, string(address, "address")?) };
        h.hs = std::mem::take(&mut h.hs).address(address);
        Ok(())
    })
}

/// Writes a view of header `name` (matched case-insensitively; not
/// NUL-terminated, borrowed from the handshake). `ROOMCAST_RESULT_NO_VALUE`
/// when absent.
///
/// # Safety
///
/// `hs` must be NULL or a live handshake; `name` NULL or NUL-terminated;
/// the out-pointers valid for writes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_header(
    hs: *const roomcast_handshake,
    name: *const c_char,
    value_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (h, name) = unsafe { (handle(hs, "hs")?, string(name, "name")?) };
        out(value_out, "value_out")?;
        let v =
            h.hs.header_value(name)
                .ok_or_else(|| Error::new(roomcast_result::NoValue, format!("the handshake has no header {name:?}")))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(value_out, roomcast_str::new(v)) };
        Ok(())
    })
}

/// Writes a view of query parameter `name` (not NUL-terminated, borrowed
/// from the handshake). `ROOMCAST_RESULT_NO_VALUE` when absent.
///
/// # Safety
///
/// As `roomcast_handshake_header`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_query(
    hs: *const roomcast_handshake,
    name: *const c_char,
    value_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (h, name) = unsafe { (handle(hs, "hs")?, string(name, "name")?) };
        out(value_out, "value_out")?;
        let v = h.hs.query_value(name).ok_or_else(|| {
            Error::new(roomcast_result::NoValue, format!("the handshake has no query parameter {name:?}"))
        })?;
        // SAFETY: checked non-NULL above.
        unsafe { write(value_out, roomcast_str::new(v)) };
        Ok(())
    })
}

/// Writes a view of the remote address (not NUL-terminated, borrowed from
/// the handshake). `ROOMCAST_RESULT_NO_VALUE` when none was given.
///
/// # Safety
///
/// `hs` must be NULL or a live handshake; the out-pointers valid for writes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_address(
    hs: *const roomcast_handshake,
    address_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(hs, "hs")? };
        out(address_out, "address_out")?;
        let v =
            h.hs.remote_address()
                .ok_or_else(|| Error::new(roomcast_result::NoValue, "the handshake has no remote address"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(address_out, roomcast_str::new(v)) };
        Ok(())
    })
}
