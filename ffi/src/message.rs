//! Messages drained from an outbox: zero-copy views of the shared payload.

use std::ffi::c_char;
use std::mem::ManuallyDrop;

use roomcast_core as core;

use crate::error::Error;
use crate::panic::{guard, guard_value, out, write};
use crate::roomcast_result;
use crate::strings::roomcast_str;

/// One message from an outbox. The handle **is** the engine's shared
/// message (core's `Message`, one reference of its count): every recipient
/// of one emit holds the same message, and receiving one allocates and
/// copies nothing. From `roomcast_conn_recv` and friends, released with
/// `roomcast_message_free` (the last release frees it). Immutable, so it
/// may be read from any thread; every pointer an accessor returns borrows
/// from the message and stays valid until this handle is freed.
pub struct roomcast_message {
    _private: [u8; 0],
}

/// Hands one reference of a message to C.
pub(crate) fn message_handle(msg: core::Message) -> *mut roomcast_message {
    msg.into_raw().cast_mut().cast()
}

/// Borrows the message behind a handle.
///
/// # Safety
///
/// `msg` must be NULL or a live handle from [`message_handle`].
pub(crate) unsafe fn borrow(msg: *const roomcast_message) -> crate::error::Result<ManuallyDrop<core::Message>> {
    if msg.is_null() {
        return Err(Error::new(roomcast_result::NullParameter, "`msg` is NULL"));
    }
    // SAFETY: a live handle holds a reference; ManuallyDrop leaves it there.
    Ok(ManuallyDrop::new(unsafe { core::Message::from_raw(msg.cast()) }))
}

/// A `roomcast_kind` as it crosses the C boundary: any `u32` (Rust checks it
/// where it reads one; a parameter of the enum type would make an unknown
/// value undefined behaviour). The header spells it `roomcast_kind`.
pub type roomcast_kind_value = u32;

/// The kind of a message.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum roomcast_kind {
    /// An event for the client: namespace, event name, payload, optional ack id.
    Event = 0,
    /// The server's reply to an event the client sent with an ack id.
    Ack = 1,
    /// The server disconnected the socket in that namespace.
    Disconnect = 2,
    /// Messages were lost to the `drop_oldest` policy just before this one.
    Lagged = 3,
}

pub(crate) fn no_value(what: &str) -> Error {
    Error::new(roomcast_result::NoValue, format!("this message has no {what}"))
}

/// Frees a message handle. NULL is a no-op.
///
/// # Safety
///
/// `msg` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_free(msg: *mut roomcast_message) {
    guard_value((), || {
        if !msg.is_null() {
            // SAFETY: a live handle from `message_handle`, released once here.
            drop(unsafe { core::Message::from_raw(msg.cast_const().cast()) });
        }
    })
}

/// Writes the message's kind (`ROOMCAST_KIND_*`) to `*kind_out`.
///
/// # Safety
///
/// `msg` must be NULL or live; `kind_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_kind(
    msg: *const roomcast_message,
    kind_out: *mut roomcast_kind_value,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { borrow(msg)? };
        out(kind_out, "kind_out")?;
        let k = match m.kind() {
            core::MessageKind::Event => roomcast_kind::Event,
            core::MessageKind::Ack => roomcast_kind::Ack,
            core::MessageKind::Disconnect => roomcast_kind::Disconnect,
            core::MessageKind::Lagged => roomcast_kind::Lagged,
        };
        // SAFETY: checked non-NULL above.
        unsafe { write(kind_out, k as u32) };
        Ok(())
    })
}

/// Writes a borrowed pointer to the namespace name (not NUL-terminated) and
/// its length. `ROOMCAST_RESULT_NO_VALUE` for a lagged notice.
///
/// # Safety
///
/// `msg` must be NULL or live; the out-pointers valid for writes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_namespace(
    msg: *const roomcast_message,
    name_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { borrow(msg)? };
        out(name_out, "name_out")?;
        let s = m.namespace().ok_or_else(|| no_value("namespace"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(name_out, roomcast_str::new(s)) };
        Ok(())
    })
}

/// Writes a borrowed pointer to the event name (not NUL-terminated) and its
/// length. `ROOMCAST_RESULT_NO_VALUE` unless the message is an event.
///
/// # Safety
///
/// `msg` must be NULL or live; the out-pointers valid for writes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_event(
    msg: *const roomcast_message,
    event_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { borrow(msg)? };
        out(event_out, "event_out")?;
        let s = m.event_name().ok_or_else(|| no_value("event name"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(event_out, roomcast_str::new(s)) };
        Ok(())
    })
}

/// Writes a zero-copy view of the payload bytes (shared with every other
/// recipient; do not modify) and its length; when `format_out` is not NULL,
/// also the payload's `ROOMCAST_FORMAT_*`. `*data_out` is never NULL on
/// success, even for an empty payload. `ROOMCAST_RESULT_NO_VALUE` for
/// messages without a payload (disconnect, lagged).
///
/// # Safety
///
/// `msg` must be NULL or live; `data_out` and `len_out` valid for writes;
/// `format_out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_data(
    msg: *const roomcast_message,
    data_out: *mut *const u8,
    len_out: *mut usize,
    format_out: *mut crate::roomcast_format_value,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { borrow(msg)? };
        out(data_out, "data_out")?;
        out(len_out, "len_out")?;
        let p = m.payload().ok_or_else(|| no_value("payload"))?;
        // SAFETY: checked non-NULL above; `format_out` NULL or valid. The
        // bytes live in the shared message, which this handle keeps alive.
        unsafe { crate::strings::write_payload(p, data_out, len_out, format_out) };
        Ok(())
    })
}

/// Writes the ack id (an event the client should acknowledge, or the id an
/// ack reply answers). `ROOMCAST_RESULT_NO_VALUE` when there is none.
///
/// # Safety
///
/// `msg` must be NULL or live; `ack_id_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_ack_id(
    msg: *const roomcast_message,
    ack_id_out: *mut u64,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { borrow(msg)? };
        out(ack_id_out, "ack_id_out")?;
        let id = m.ack_id().ok_or_else(|| no_value("ack id"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(ack_id_out, id) };
        Ok(())
    })
}

/// Writes how many messages a lagged notice stands for.
/// `ROOMCAST_RESULT_NO_VALUE` for other kinds.
///
/// # Safety
///
/// `msg` must be NULL or live; `count_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_lagged_count(
    msg: *const roomcast_message,
    count_out: *mut u64,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { borrow(msg)? };
        out(count_out, "count_out")?;
        let n = m.lagged_count().ok_or_else(|| no_value("lagged count"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(count_out, n) };
        Ok(())
    })
}

/// Writes the disconnect reason of a disconnect notice as a static
/// NUL-terminated string ("server namespace disconnect", ...).
/// `ROOMCAST_RESULT_NO_VALUE` for other kinds.
///
/// # Safety
///
/// `msg` must be NULL or live; `reason_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_disconnect_reason(
    msg: *const roomcast_message,
    reason_out: *mut *const c_char,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { borrow(msg)? };
        out(reason_out, "reason_out")?;
        let r = m.disconnect_reason().ok_or_else(|| no_value("disconnect reason"))?;
        let s = r.as_c_str().as_ptr();
        // SAFETY: checked non-NULL above.
        unsafe { write(reason_out, s) };
        Ok(())
    })
}
