//! Sockets: a connection's membership in one namespace.

use std::ffi::c_char;

use roomcast_core as core;

use crate::engine::roomcast_emit_report;
use crate::panic::{free_handle, guard, guard_value, handle, out, string, write, write_opt};
use crate::payload::payload;
use crate::roomcast_result;

/// A socket (core's `Socket`). Box-owned: obtained from
/// `roomcast_conn_join_namespace`, freed with `roomcast_socket_free` (which
/// frees only the handle: the socket stays connected until
/// `roomcast_socket_disconnect` or its connection closes). Thread-safe.
pub struct roomcast_socket {
    pub(crate) socket: core::Socket,
}

/// Frees a socket handle. NULL is a no-op.
///
/// # Safety
///
/// `socket` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_free(socket: *mut roomcast_socket) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(socket) })
}

/// Writes the socket's id (not NUL-terminated) to `*id_out` / `*len_out`.
/// The bytes are borrowed from the handle: valid until it is freed.
///
/// # Safety
///
/// `socket` must be NULL or live; the out-pointers valid for writes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_id(
    socket: *const roomcast_socket,
    id_out: *mut *const c_char,
    len_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(id_out, "id_out")?;
        out(len_out, "len_out")?;
        let id = s.socket.id();
        // SAFETY: checked non-NULL above.
        unsafe {
            write(id_out, id.as_ptr().cast::<c_char>());
            write(len_out, id.len());
        }
        Ok(())
    })
}

/// Joins room `room`. After it returns, every later emit to the room
/// reaches the socket.
///
/// # Safety
///
/// `socket` must be NULL or live; `room` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_join(socket: *const roomcast_socket, room: *const c_char) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, room) = unsafe { (handle(socket, "socket")?, string(room, "room")?) };
        Ok(s.socket.join(room)?)
    })
}

/// Leaves room `room` (leaving a room it is not in succeeds). After it
/// returns, no later emit to the room reaches the socket.
///
/// # Safety
///
/// `socket` must be NULL or live; `room` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_leave(socket: *const roomcast_socket, room: *const c_char) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, room) = unsafe { (handle(socket, "socket")?, string(room, "room")?) };
        Ok(s.socket.leave(room)?)
    })
}

/// Emits `event` to this socket only (its connection's outbox).
///
/// # Safety
///
/// As `roomcast_emit`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_emit(
    socket: *const roomcast_socket,
    event: *const c_char,
    format: u32,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, event) = unsafe { (handle(socket, "socket")?, string(event, "event")?) };
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        let report = s.socket.emit(event, payload)?;
        // SAFETY: NULL or valid per the contract.
        unsafe { write_opt(report_out, report.into()) };
        Ok(())
    })
}

/// Emits `event` to room `room` (or the whole namespace when `room` is
/// NULL), leaving out the sender — Socket.IO's `socket.to(room).emit` /
/// `socket.broadcast.emit`.
///
/// # Safety
///
/// As `roomcast_emit`; `room` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_broadcast(
    socket: *const roomcast_socket,
    room: *const c_char,
    event: *const c_char,
    format: u32,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, event) = unsafe { (handle(socket, "socket")?, string(event, "event")?) };
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        let report = if room.is_null() {
            s.socket.broadcast().emit(event, payload)?
        } else {
            // SAFETY: non-NULL and NUL-terminated per the contract.
            let room = unsafe { string(room, "room")? };
            s.socket.to(room).emit(event, payload)?
        };
        // SAFETY: NULL or valid per the contract.
        unsafe { write_opt(report_out, report.into()) };
        Ok(())
    })
}

/// Disconnects the socket from its namespace (server side): it leaves every
/// room and its client gets a disconnect notice. Disconnecting twice is not
/// an error. Runs the namespace's disconnect handlers on this thread.
///
/// # Safety
///
/// `socket` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_disconnect(socket: *const roomcast_socket) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        s.socket.disconnect();
        Ok(())
    })
}
