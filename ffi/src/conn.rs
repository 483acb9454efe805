//! Connections and their outboxes.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use roomcast_core as core;

use crate::callback::{roomcast_free_callback, UserData};
use crate::error::Error;
use crate::handshake::roomcast_handshake;
use crate::message::{message_handle, roomcast_message};
use crate::panic::{free_handle, guard, guard_value, handle, into_handle, out, string, write};
use crate::payload::payload;
use crate::roomcast_result;
use crate::socket::roomcast_socket;

/// One transport link: the core `Connection` together with its `Outbox`.
/// Box-owned: from `roomcast_engine_connect`, freed with
/// `roomcast_conn_free` (which closes the connection with reason
/// "transport close" if still open). Thread-safe: any thread may emit to it,
/// join through it, close it or receive from it concurrently.
pub struct roomcast_conn {
    pub(crate) conn: core::Connection,
    pub(crate) outbox: core::Outbox,
}

/// A notify callback: called with the `userdata` given to
/// `roomcast_conn_set_notify`.
#[allow(non_camel_case_types)]
pub type roomcast_notify_callback = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// Joins namespace `ns_name` with an optional auth payload (`auth` may be
/// NULL when `auth_len` is 0: no auth; otherwise `auth_format` is a
/// `ROOMCAST_FORMAT_*`). Runs the namespace's middleware and connection
/// handlers on this thread. On success writes a new socket handle to
/// `*socket_out`. A refusal gives `ROOMCAST_RESULT_REFUSED`, its message in
/// `roomcast_last_error`; an auth larger than `max_payload`
/// `ROOMCAST_RESULT_PAYLOAD_TOO_LARGE` (the rule every client payload
/// meets; middleware never sees it); a shut-down engine
/// `ROOMCAST_RESULT_SHUT_DOWN`.
///
/// # Safety
///
/// `conn` must be NULL or live; `ns_name` NULL or NUL-terminated; `auth`
/// valid for `auth_len` bytes; `socket_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_join_namespace(
    conn: *const roomcast_conn,
    ns_name: *const c_char,
    auth_format: crate::roomcast_format_value,
    auth: *const u8,
    auth_len: usize,
    socket_out: *mut *mut roomcast_socket,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (c, name) = unsafe { (handle(conn, "conn")?, string(ns_name, "ns_name")?) };
        out(socket_out, "socket_out")?;
        let mut hs = core::Handshake::new();
        if auth_len > 0 {
            // SAFETY: per the contract.
            hs = hs.auth(unsafe { payload(auth_format, auth, auth_len)? });
        }
        let socket = c.conn.join_namespace(name, hs)?;
        // SAFETY: checked non-NULL above.
        unsafe { write(socket_out, into_handle(roomcast_socket { socket })) };
        Ok(())
    })
}

fn timeout_of(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

/// Receives the next message, waiting at most `timeout_ms` milliseconds
/// (negative: wait without limit; 0: do not wait, as
/// `roomcast_conn_try_recv`). Writes a new message handle to `*msg_out`.
/// `ROOMCAST_RESULT_TIMEOUT` when nothing arrived in time
/// (`ROOMCAST_RESULT_EMPTY` with timeout 0); `ROOMCAST_RESULT_CLOSED` once
/// the connection is closed and drained.
///
/// # Safety
///
/// `conn` must be NULL or live; `msg_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_recv(
    conn: *const roomcast_conn,
    timeout_ms: i64,
    msg_out: *mut *mut roomcast_message,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        out(msg_out, "msg_out")?;
        let msg = match timeout_of(timeout_ms) {
            Some(t) if t.is_zero() => c.outbox.try_recv()?,
            Some(t) => c.outbox.recv_timeout(t)?,
            None => c.outbox.recv()?,
        };
        // SAFETY: checked non-NULL above.
        unsafe { write(msg_out, message_handle(msg)) };
        Ok(())
    })
}

/// Receives a message if one is queued, without blocking:
/// `ROOMCAST_RESULT_EMPTY` when none is, `ROOMCAST_RESULT_CLOSED` once closed
/// and drained.
///
/// # Safety
///
/// `conn` must be NULL or live; `msg_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_try_recv(
    conn: *const roomcast_conn,
    msg_out: *mut *mut roomcast_message,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        out(msg_out, "msg_out")?;
        let msg = c.outbox.try_recv()?;
        // SAFETY: checked non-NULL above.
        unsafe { write(msg_out, message_handle(msg)) };
        Ok(())
    })
}

/// Waits at most `timeout_ms` (negative: no limit; 0: do not wait) for at
/// least one message, then moves up to `cap` queued messages into
/// `msgs[0..n]` and writes `n` to `*n_out` (n >= 1). Each entry is a new
/// handle the caller frees with `roomcast_message_free`. Errors as
/// `roomcast_conn_recv` (with timeout 0, `ROOMCAST_RESULT_EMPTY` when
/// nothing is queued); `cap` must be at least 1.
///
/// # Safety
///
/// `conn` must be NULL or live; `msgs` valid for `cap` pointer writes;
/// `n_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_recv_many(
    conn: *const roomcast_conn,
    timeout_ms: i64,
    msgs: *mut *mut roomcast_message,
    cap: usize,
    n_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        out(msgs, "msgs")?;
        out(n_out, "n_out")?;
        if cap == 0 {
            return Err(Error::new(roomcast_result::InvalidArgument, "`cap` must be at least 1"));
        }
        let mut buf = Vec::new();
        let n = match timeout_of(timeout_ms) {
            Some(t) if t.is_zero() => match c.outbox.try_recv_many(&mut buf, cap)? {
                0 => return Err(core::TryRecvError::Empty.into()),
                n => n,
            },
            Some(t) => c.outbox.recv_many_timeout(&mut buf, cap, t)?,
            None => c.outbox.recv_many(&mut buf, cap)?,
        };
        for (i, msg) in buf.into_iter().enumerate() {
            // SAFETY: `i < n <= cap` and `msgs` holds `cap` slots per the contract.
            unsafe { write(msgs.add(i), message_handle(msg)) };
        }
        // SAFETY: checked non-NULL above.
        unsafe { write(n_out, n) };
        Ok(())
    })
}

/// Installs `callback` (NULL: removes it), called with `userdata` when the
/// outbox goes from empty to non-empty and when the connection closes — the
/// hook for epoll/libuv hosts (write to an eventfd or pipe, then drain with
/// `roomcast_conn_try_recv` / `roomcast_conn_recv_many`). If messages are
/// already waiting it fires once right away, on the calling thread.
///
/// **Thread:** it runs on the thread that made the transition (an emitting
/// thread, or the one closing the connection), never under an engine lock,
/// so it may call any roomcast function; it should be quick and must not
/// unwind. `userdata` must be usable from any thread; `free_userdata`
/// (when not NULL) receives it once the callback is replaced, removed, or
/// released when the connection closes (see `roomcast_free_callback`).
/// With a NULL `callback`, `free_userdata` (when not NULL) receives
/// `userdata` right away.
///
/// # Safety
///
/// `conn` must be NULL or live; `callback` NULL or a function safe to call
/// with `userdata` from any thread; `free_userdata` likewise.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_set_notify(
    conn: *const roomcast_conn,
    callback: roomcast_notify_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        match callback {
            None => {
                c.outbox.clear_notify();
                drop(UserData::new(userdata, free_userdata));
            }
            Some(cb) => {
                let ud = UserData::new(userdata, free_userdata);
                c.outbox.set_notify(move || {
                    // SAFETY: the caller promised `cb` may be called with
                    // `userdata` from any thread while installed.
                    unsafe { cb(ud.ptr()) }
                });
            }
        }
        Ok(())
    })
}

/// Closes the connection with a Socket.IO reason string (NULL: "transport
/// close"; others: "server namespace disconnect", "client namespace
/// disconnect", "server shutting down", "ping timeout", "transport error",
/// "parse error", "forced server close"). Every socket leaves its rooms and
/// disconnect handlers run on this thread; queued messages stay readable,
/// then receives give `ROOMCAST_RESULT_CLOSED`. Closing twice is not an
/// error. An unknown reason gives `ROOMCAST_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `conn` must be NULL or live; `reason` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_close(conn: *const roomcast_conn, reason: *const c_char) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        // SAFETY: per the contract.
        let reason = unsafe { disconnect_reason(reason, core::DisconnectReason::TransportClose)? };
        c.conn.close(reason);
        Ok(())
    })
}

/// A Socket.IO reason string from C (`default` for NULL);
/// `ROOMCAST_RESULT_INVALID_ARGUMENT` for an unknown one.
///
/// # Safety
///
/// `reason` NULL or NUL-terminated.
pub(crate) unsafe fn disconnect_reason(
    reason: *const c_char,
    default: core::DisconnectReason,
) -> Result<core::DisconnectReason, Error> {
    if reason.is_null() {
        return Ok(default);
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    let r = unsafe { string(reason, "reason")? };
    core::DisconnectReason::parse(r)
        .ok_or_else(|| Error::new(roomcast_result::InvalidArgument, format!("unknown disconnect reason {r:?}")))
}

/// Writes 1 to `*closed_out` when the connection is closed, else 0.
///
/// # Safety
///
/// `conn` must be NULL or live; `closed_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_is_closed(conn: *const roomcast_conn, closed_out: *mut bool) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        out(closed_out, "closed_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(closed_out, c.conn.is_closed()) };
        Ok(())
    })
}

/// Removes the notify callback, closes the connection ("transport close")
/// if still open, and frees the handle and any unread messages. NULL is a
/// no-op. Message handles already received stay valid. Closing here is
/// final: the sockets are not kept for connection state recovery (a
/// transport that lost its client calls `roomcast_conn_close` with
/// "transport close" first to keep them).
///
/// # Safety
///
/// `conn` must be NULL or from `roomcast_engine_connect`, not used
/// afterwards (nor concurrently by another thread).
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_free(conn: *mut roomcast_conn) {
    guard_value((), || {
        // SAFETY: NULL or live per the contract.
        if let Some(c) = unsafe { conn.as_ref() } {
            c.outbox.clear_notify();
        }
        // SAFETY: per the contract.
        unsafe { free_handle(conn) }
    })
}

/// Joins namespace `ns_name` with a full handshake (auth payload, headers,
/// query parameters, remote address) built with `roomcast_handshake_new`
/// (NULL: an empty handshake); otherwise as `roomcast_conn_join_namespace`.
/// The handshake is only read; free it when convenient.
///
/// # Safety
///
/// `conn` must be NULL or live; `ns_name` NULL or NUL-terminated; `hs` NULL
/// or a live handshake; `socket_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_join_namespace_with(
    conn: *const roomcast_conn,
    ns_name: *const c_char,
    hs: *const roomcast_handshake,
    socket_out: *mut *mut roomcast_socket,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (c, name) = unsafe { (handle(conn, "conn")?, string(ns_name, "ns_name")?) };
        out(socket_out, "socket_out")?;
        // SAFETY: NULL or live per the contract.
        let hs = unsafe { hs.as_ref() }.map(|h| h.hs.clone()).unwrap_or_default();
        let socket = c.conn.join_namespace(name, hs)?;
        // SAFETY: checked non-NULL above.
        unsafe { write(socket_out, into_handle(roomcast_socket { socket })) };
        Ok(())
    })
}

/// Writes the connection's id (unique within its engine).
///
/// # Safety
///
/// `conn` must be NULL or live; `id_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_id(conn: *const roomcast_conn, id_out: *mut u64) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        out(id_out, "id_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(id_out, c.conn.id()) };
        Ok(())
    })
}

/// Writes a new handle to the connection's socket in namespace `ns_name`.
/// `ROOMCAST_RESULT_NO_VALUE` when it has none there.
///
/// # Safety
///
/// `conn` must be NULL or live; `ns_name` NULL or NUL-terminated;
/// `socket_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_socket(
    conn: *const roomcast_conn,
    ns_name: *const c_char,
    socket_out: *mut *mut roomcast_socket,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (c, name) = unsafe { (handle(conn, "conn")?, string(ns_name, "ns_name")?) };
        out(socket_out, "socket_out")?;
        let socket = c
            .conn
            .socket(name)
            .ok_or_else(|| Error::new(roomcast_result::NoValue, format!("no socket in namespace {name:?}")))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(socket_out, into_handle(roomcast_socket { socket })) };
        Ok(())
    })
}

/// Writes new handles for the connection's sockets (one per namespace it
/// joined), up to `cap` of them, to `sockets[0..n]` and `n` to `*n_out`;
/// when `total_out` is not NULL, how many it has (which may exceed `cap`).
/// Free each handle with `roomcast_socket_free`.
///
/// # Safety
///
/// `conn` must be NULL or live; `sockets` valid for `cap` pointer writes
/// (may be NULL when `cap` is 0); `n_out` valid; `total_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_sockets(
    conn: *const roomcast_conn,
    sockets: *mut *mut roomcast_socket,
    cap: usize,
    n_out: *mut usize,
    total_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        out(n_out, "n_out")?;
        if cap > 0 {
            out(sockets, "sockets")?;
        }
        let all = c.conn.sockets();
        // SAFETY: per the contract.
        unsafe { crate::socket::write_sockets(all, sockets, cap, n_out, total_out) };
        Ok(())
    })
}

/// Writes the reason the connection closed as a static NUL-terminated
/// string ("transport close", "queue overflow", ...).
/// `ROOMCAST_RESULT_NO_VALUE` while it is open.
///
/// # Safety
///
/// `conn` must be NULL or live; `reason_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_conn_close_reason(
    conn: *const roomcast_conn,
    reason_out: *mut *const c_char,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let c = unsafe { handle(conn, "conn")? };
        out(reason_out, "reason_out")?;
        let r = c.conn.close_reason().ok_or_else(|| Error::new(roomcast_result::NoValue, "the connection is open"))?;
        let r = r.as_c_str().as_ptr();
        // SAFETY: checked non-NULL above.
        unsafe { write(reason_out, r) };
        Ok(())
    })
}
