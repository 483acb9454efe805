//! Sockets: a connection's membership in one namespace.

use std::ffi::c_char;

use roomcast_core as core;

use crate::emit::roomcast_emit_report;
use crate::error::Error;
use crate::namespace::roomcast_namespace;
use crate::panic::{free_handle, guard, guard_value, handle, out, string, write, write_opt};
use crate::payload::payload;
use crate::roomcast_result;
use crate::sized::{check_out, write_out};
use crate::strings::{roomcast_payload, roomcast_str, roomcast_strings, strings_handle};

/// A socket (core's `Socket`). Box-owned: obtained from
/// `roomcast_conn_join_namespace`, freed with `roomcast_socket_free` (which
/// frees only the handle: the socket stays connected until
/// `roomcast_socket_disconnect` or its connection closes). Thread-safe.
pub struct roomcast_socket {
    pub(crate) socket: core::Socket,
}

/// A borrowed `roomcast_socket` for a callback: the bits of an owned
/// handle, made without touching the socket's reference count (two atomic
/// operations per callback saved) and never dropped.
pub(crate) struct SocketView<'a> {
    view: std::mem::ManuallyDrop<roomcast_socket>,
    _borrow: std::marker::PhantomData<&'a core::Socket>,
}

impl<'a> SocketView<'a> {
    pub(crate) fn new(socket: &'a core::Socket) -> SocketView<'a> {
        // SAFETY: a bitwise copy of the socket's `Arc` that is never
        // dropped (ManuallyDrop), so the count it borrows stays owned by
        // `socket`, which outlives the view ('a). C receives the pointer as
        // borrowed for the callback and must not free it.
        let copy = unsafe { std::ptr::read(socket) };
        SocketView {
            view: std::mem::ManuallyDrop::new(roomcast_socket { socket: copy }),
            _borrow: std::marker::PhantomData,
        }
    }

    pub(crate) fn as_ptr(&self) -> *const roomcast_socket {
        &*self.view
    }
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
    id_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(id_out, "id_out")?;
        let id = s.socket.id();
        // SAFETY: checked non-NULL above.
        unsafe { write(id_out, roomcast_str::new(id)) };
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
/// As `roomcast_namespace_emit`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_emit(
    socket: *const roomcast_socket,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
) -> roomcast_result {
    // SAFETY: per the contract.
    unsafe { emit_to_self(socket, event, format, data, len, report_out, false) }
}

/// Emits `event` to this socket only, volatile: when its outbox is full
/// the message is dropped (counted in the report's `dropped`) instead of
/// applying the overflow policy — Socket.IO's `socket.volatile.emit`.
///
/// # Safety
///
/// As `roomcast_namespace_emit`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_emit_volatile(
    socket: *const roomcast_socket,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
) -> roomcast_result {
    // SAFETY: per the contract.
    unsafe { emit_to_self(socket, event, format, data, len, report_out, true) }
}

/// The body of `roomcast_socket_emit` and `roomcast_socket_emit_volatile`.
///
/// # Safety
///
/// As `roomcast_namespace_emit`.
unsafe fn emit_to_self(
    socket: *const roomcast_socket,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
    volatile: bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, event) = unsafe { (handle(socket, "socket")?, string(event, "event")?) };
        // SAFETY: NULL or valid per the contract.
        unsafe { check_out(report_out, "report_out", true)? };
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        let report = if volatile { s.socket.emit_volatile(event, payload)? } else { s.socket.emit(event, payload)? };
        // SAFETY: NULL or valid per the contract, checked above.
        unsafe { write_out(report_out, report.into()) };
        Ok(())
    })
}

/// Emits `event` to room `room` (or the whole namespace when `room` is
/// NULL), leaving out the sender — Socket.IO's `socket.to(room).emit` /
/// `socket.broadcast.emit`. For several rooms, excepted rooms or a
/// volatile broadcast, use `roomcast_namespace_emit` with `target.exclude = socket`:
/// it selects the same recipients.
///
/// # Safety
///
/// As `roomcast_namespace_emit`; `room` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_broadcast(
    socket: *const roomcast_socket,
    room: *const c_char,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, event) = unsafe { (handle(socket, "socket")?, string(event, "event")?) };
        // SAFETY: NULL or valid per the contract.
        unsafe { check_out(report_out, "report_out", true)? };
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        let report = if room.is_null() {
            s.socket.broadcast().emit(event, payload)?
        } else {
            // SAFETY: non-NULL and NUL-terminated per the contract.
            let room = unsafe { string(room, "room")? };
            s.socket.to(room).emit(event, payload)?
        };
        // SAFETY: NULL or valid per the contract, checked above.
        unsafe { write_out(report_out, report.into()) };
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

/// Disconnects the socket from its namespace (server side) with a
/// Socket.IO reason string, which its disconnect handlers and
/// `roomcast_socket_disconnect_reason` then report. NULL means "server
/// namespace disconnect" (as `roomcast_socket_disconnect`); the others are
/// the strings `roomcast_conn_close` accepts. Server-side reasons ("server
/// namespace disconnect", "server shutting down", "forced server close")
/// queue a disconnect notice for the client; the others report what a
/// transport saw and queue none. An unknown reason gives
/// `ROOMCAST_RESULT_INVALID_ARGUMENT` and leaves the socket connected.
/// `*disconnected_out` (if not NULL) receives 1 when this call disconnected
/// it, 0 when it already was. Runs the disconnect handlers on this thread.
///
/// # Safety
///
/// `socket` must be NULL or live; `reason` NULL or NUL-terminated;
/// `disconnected_out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_disconnect_with(
    socket: *const roomcast_socket,
    reason: *const c_char,
    disconnected_out: *mut bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        // SAFETY: per the contract.
        let reason =
            unsafe { crate::conn::disconnect_reason(reason, core::DisconnectReason::ServerNamespaceDisconnect)? };
        let done = s.socket.disconnect_with(reason);
        // SAFETY: NULL or valid per the contract.
        unsafe { write_opt(disconnected_out, done) };
        Ok(())
    })
}

/// Writes handles for the first `cap` of `all` to `sockets`, their number
/// to `*n_out` and, when `total_out` is not NULL, `all.len()` there.
///
/// # Safety
///
/// `sockets` must be valid for `cap` pointer writes; `n_out` checked
/// non-NULL; `total_out` NULL or valid.
pub(crate) unsafe fn write_sockets(
    all: Vec<core::Socket>,
    sockets: *mut *mut roomcast_socket,
    cap: usize,
    n_out: *mut usize,
    total_out: *mut usize,
) {
    let total = all.len();
    let mut n = 0;
    for socket in all.into_iter().take(cap) {
        // SAFETY: `n < cap` slots at `sockets` per the contract.
        unsafe { write(sockets.add(n), crate::panic::into_handle(roomcast_socket { socket })) };
        n += 1;
    }
    // SAFETY: per the contract.
    unsafe {
        write(n_out, n);
        write_opt(total_out, total);
    }
}

/// Writes a new list of the rooms the socket is in (own-id room first, then
/// in join order) to `*rooms_out`; free it with `roomcast_strings_free`.
///
/// # Safety
///
/// `socket` must be NULL or live; `rooms_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_rooms(
    socket: *const roomcast_socket,
    rooms_out: *mut *mut roomcast_strings,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(rooms_out, "rooms_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(rooms_out, strings_handle(s.socket.rooms())) };
        Ok(())
    })
}

/// Writes whether the socket is in room `room`.
///
/// # Safety
///
/// `socket` must be NULL or live; `room` NULL or NUL-terminated; `in_out`
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_in_room(
    socket: *const roomcast_socket,
    room: *const c_char,
    in_out: *mut bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, room) = unsafe { (handle(socket, "socket")?, string(room, "room")?) };
        out(in_out, "in_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(in_out, s.socket.in_room(room)) };
        Ok(())
    })
}

/// Writes whether the socket is connected (true until it starts
/// disconnecting).
///
/// # Safety
///
/// `socket` must be NULL or live; `connected_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_is_connected(
    socket: *const roomcast_socket,
    connected_out: *mut bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(connected_out, "connected_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(connected_out, s.socket.is_connected()) };
        Ok(())
    })
}

/// Writes the reason the socket disconnected as a static NUL-terminated
/// string. `ROOMCAST_RESULT_NO_VALUE` while it is connected.
///
/// # Safety
///
/// `socket` must be NULL or live; `reason_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_disconnect_reason(
    socket: *const roomcast_socket,
    reason_out: *mut *const c_char,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(reason_out, "reason_out")?;
        let r = s
            .socket
            .disconnect_reason()
            .ok_or_else(|| Error::new(roomcast_result::NoValue, "the socket is connected"))?;
        let r = r.as_c_str().as_ptr();
        // SAFETY: checked non-NULL above.
        unsafe { write(reason_out, r) };
        Ok(())
    })
}

/// Writes a new handle to the socket's namespace (free it with
/// `roomcast_namespace_free`), so a callback that only has the socket can
/// emit to the whole namespace or query it.
///
/// # Safety
///
/// `socket` must be NULL or live; `ns_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_namespace(
    socket: *const roomcast_socket,
    ns_out: *mut *mut roomcast_namespace,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(ns_out, "ns_out")?;
        let ns = s.socket.namespace().clone();
        // SAFETY: checked non-NULL above.
        unsafe { write(ns_out, crate::panic::into_handle(roomcast_namespace { ns })) };
        Ok(())
    })
}

/// Attaches data to the socket (a copy of `data[0..len]` in `format`),
/// replacing any earlier data; read it back with `roomcast_socket_data`.
///
/// # Safety
///
/// `socket` must be NULL or live; `data` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_set_data(
    socket: *const roomcast_socket,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, p) = unsafe { (handle(socket, "socket")?, payload(format, data, len)?) };
        s.socket.set_data(p);
        Ok(())
    })
}

/// Writes a new handle to the socket's data (sharing its bytes, no copy;
/// free it with `roomcast_payload_free`). `ROOMCAST_RESULT_NO_VALUE` when
/// none was set.
///
/// # Safety
///
/// `socket` must be NULL or live; `data_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_data(
    socket: *const roomcast_socket,
    data_out: *mut *mut roomcast_payload,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(data_out, "data_out")?;
        let payload = s.socket.data().ok_or_else(|| Error::new(roomcast_result::NoValue, "the socket has no data"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(data_out, crate::panic::into_handle(roomcast_payload { payload })) };
        Ok(())
    })
}

/// Writes a new copy of the handshake the socket connected with (auth,
/// headers, query, address) to `*hs_out`; free it with
/// `roomcast_handshake_free`.
///
/// # Safety
///
/// `socket` must be NULL or live; `hs_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_handshake(
    socket: *const roomcast_socket,
    hs_out: *mut *mut crate::handshake::roomcast_handshake,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(hs_out, "hs_out")?;
        let hs = crate::handshake::roomcast_handshake { hs: s.socket.handshake().clone() };
        // SAFETY: checked non-NULL above.
        unsafe { write(hs_out, crate::panic::into_handle(hs)) };
        Ok(())
    })
}
