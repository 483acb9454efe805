//! Messages drained from an outbox: zero-copy views of the shared payload.

use std::ffi::c_char;

use roomcast_core as core;

use crate::error::Error;
use crate::panic::{free_handle, guard, guard_value, handle, out, write, write_opt};
use crate::payload::format_to;
use crate::roomcast_result;

/// One message from an outbox (core's `Message`, shared by reference with
/// every other recipient of the same emit). Box-owned: from
/// `roomcast_conn_recv` and friends, freed with `roomcast_message_free`.
/// Immutable, so it may be read from any thread; every pointer an accessor
/// returns borrows from the message and stays valid until it is freed.
pub struct roomcast_message {
    pub(crate) msg: core::Message,
}

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

fn no_value(what: &str) -> Error {
    Error::new(roomcast_result::NoValue, format!("this message has no {what}"))
}

/// Frees a message handle. NULL is a no-op.
///
/// # Safety
///
/// `msg` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_free(msg: *mut roomcast_message) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(msg) })
}

/// Writes the message's kind (`ROOMCAST_KIND_*`) to `*kind_out`.
///
/// # Safety
///
/// `msg` must be NULL or live; `kind_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_kind(msg: *const roomcast_message, kind_out: *mut u32) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { handle(msg, "msg")? };
        out(kind_out, "kind_out")?;
        let k = match m.msg.kind() {
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
    name_out: *mut *const c_char,
    len_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { handle(msg, "msg")? };
        out(name_out, "name_out")?;
        out(len_out, "len_out")?;
        let s = m.msg.namespace().ok_or_else(|| no_value("namespace"))?;
        // SAFETY: checked non-NULL above.
        unsafe {
            write(name_out, s.as_ptr().cast::<c_char>());
            write(len_out, s.len());
        }
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
    event_out: *mut *const c_char,
    len_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { handle(msg, "msg")? };
        out(event_out, "event_out")?;
        out(len_out, "len_out")?;
        let s = m.msg.event_name().ok_or_else(|| no_value("event name"))?;
        // SAFETY: checked non-NULL above.
        unsafe {
            write(event_out, s.as_ptr().cast::<c_char>());
            write(len_out, s.len());
        }
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
    format_out: *mut u32,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { handle(msg, "msg")? };
        out(data_out, "data_out")?;
        out(len_out, "len_out")?;
        let p = m.msg.payload().ok_or_else(|| no_value("payload"))?;
        let b = p.as_bytes();
        let ptr = if b.is_empty() { std::ptr::NonNull::<u8>::dangling().as_ptr().cast_const() } else { b.as_ptr() };
        // SAFETY: checked non-NULL above; `format_out` NULL or valid.
        unsafe {
            write(data_out, ptr);
            write(len_out, b.len());
            write_opt(format_out, format_to(p.format()) as u32);
        }
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
        let m = unsafe { handle(msg, "msg")? };
        out(ack_id_out, "ack_id_out")?;
        let id = m.msg.ack_id().ok_or_else(|| no_value("ack id"))?;
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
        let m = unsafe { handle(msg, "msg")? };
        out(count_out, "count_out")?;
        let n = m.msg.lagged_count().ok_or_else(|| no_value("lagged count"))?;
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
        let m = unsafe { handle(msg, "msg")? };
        out(reason_out, "reason_out")?;
        let r = m.msg.disconnect_reason().ok_or_else(|| no_value("disconnect reason"))?;
        let s = crate::static_cstr(r.as_str())?;
        // SAFETY: checked non-NULL above.
        unsafe { write(reason_out, s) };
        Ok(())
    })
}
