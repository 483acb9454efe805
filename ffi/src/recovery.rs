//! Connection state recovery for C hosts: the configuration per namespace
//! (engine-wide: `roomcast_config_set(cfg, "max_disconnection_duration",
//! "120000")`), what a transport hands its client (the session id, each
//! event's offset) and the resume call. Translation only: the rules are
//! core's (`roomcast::Connection::resume_namespace`).

use std::ffi::c_char;
use std::time::Duration;

use roomcast_core as core;

use crate::conn::roomcast_conn;
use crate::engine::roomcast_engine;
use crate::error::Error;
use crate::message::{borrow, no_value, roomcast_message};
use crate::namespace::roomcast_namespace;
use crate::panic::{guard, handle, into_handle, out, string, write};
use crate::payload::payload;
use crate::roomcast_result;
use crate::sized::{check_out, write_out, Growable};
use crate::socket::roomcast_socket;
use crate::strings::roomcast_str;

/// What a namespace keeps for recovery on this node. Set `struct_size` to
/// `sizeof(roomcast_recovery_stats)` before the call.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct roomcast_recovery_stats {
    /// `sizeof(roomcast_recovery_stats)` as the caller's header declares it.
    pub struct_size: usize,
    /// Sockets kept for a resume.
    pub kept_sockets: usize,
    /// Events in the namespace's log.
    pub kept_events: usize,
    /// Their payload and event-name bytes (shared with live recipients).
    pub kept_bytes: usize,
    /// The offset the next kept event gets.
    pub next_offset: u64,
}

// SAFETY: `#[repr(C)]`, `struct_size` first, all-zero bytes valid.
unsafe impl Growable for roomcast_recovery_stats {
    const NAME: &'static str = "roomcast_recovery_stats";
    const MIN_SIZE: usize = std::mem::size_of::<Self>();
}

/// Turns connection state recovery on for namespace `ns` (sockets whose
/// connection ends with `transport close`, `transport error` or `ping
/// timeout` are kept `max_disconnection_ms` milliseconds for a resume),
/// or off with `max_disconnection_ms` 0. `max_events` and `max_bytes`
/// bound the namespace's log of kept events (0: the defaults, 10,000 and
/// 8 MiB). Fixed at the namespace's first connect or emit: a later call
/// gives `ROOMCAST_RESULT_INVALID_CONFIG`.
///
/// # Safety
///
/// `ns` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_set_recovery(
    ns: *const roomcast_namespace,
    max_disconnection_ms: u64,
    max_events: usize,
    max_bytes: usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cfg = (max_disconnection_ms > 0).then(|| {
            let mut rc =
                core::RecoveryConfig::new().max_disconnection_duration(Duration::from_millis(max_disconnection_ms));
            if max_events > 0 {
                rc = rc.max_events(max_events);
            }
            if max_bytes > 0 {
                rc = rc.max_bytes(max_bytes);
            }
            rc
        });
        ns.ns.set_recovery(cfg)?;
        Ok(())
    })
}

/// Writes what namespace `ns` keeps for recovery. `ROOMCAST_RESULT_NO_VALUE`
/// when recovery is off there.
///
/// # Safety
///
/// `ns` must be NULL or live; `stats_out` valid for a write, its
/// `struct_size` set.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_recovery_stats(
    ns: *const roomcast_namespace,
    stats_out: *mut roomcast_recovery_stats,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        // SAFETY: NULL or valid per the contract.
        unsafe { check_out(stats_out, "stats_out", false)? };
        let s = ns
            .ns
            .recovery_stats()
            .ok_or_else(|| Error::new(roomcast_result::NoValue, "recovery is off in this namespace"))?;
        let st = roomcast_recovery_stats {
            struct_size: std::mem::size_of::<roomcast_recovery_stats>(),
            kept_sockets: s.kept_sockets,
            kept_events: s.kept_events,
            kept_bytes: s.kept_bytes,
            next_offset: s.next_offset,
        };
        // SAFETY: checked above.
        unsafe { write_out(stats_out, st) };
        Ok(())
    })
}

/// Ends kept sockets whose time is up (their disconnect handlers run on
/// this thread, reason `recovery expired`) and trims the logs by age, in
/// every namespace. Emits and connects do it as they go; call it about
/// once a second so an idle namespace releases kept sockets on time.
///
/// # Safety
///
/// `engine` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_sweep_recovery(engine: *const roomcast_engine) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let engine = unsafe { handle(engine, "engine")? };
        engine.engine.sweep_recovery();
        Ok(())
    })
}

/// Writes the socket's private session id (a view borrowed from the
/// handle) for its client only; the client presents it to
/// `roomcast_conn_resume_namespace` after a drop.
/// `ROOMCAST_RESULT_NO_VALUE` when its namespace has no recovery.
///
/// # Safety
///
/// `socket` must be NULL or live; `id_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_session_id(
    socket: *const roomcast_socket,
    id_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(id_out, "id_out")?;
        let pid = s
            .socket
            .session_id()
            .ok_or_else(|| Error::new(roomcast_result::NoValue, "recovery is off in this socket's namespace"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(id_out, roomcast_str::new(pid)) };
        Ok(())
    })
}

/// Writes whether the socket was resumed (same id, rooms and data; the
/// missed events queued first). Connection handlers read it.
///
/// # Safety
///
/// `socket` must be NULL or live; `recovered_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_recovered(
    socket: *const roomcast_socket,
    recovered_out: *mut bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(recovered_out, "recovered_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(recovered_out, s.socket.recovered()) };
        Ok(())
    })
}

/// Writes whether the socket is kept for a resume (its connection ended
/// unexpectedly). Disconnect handlers that see `true` run for a drop that
/// may still be recovered; the final disconnect (`recovery expired`, or a
/// server-side disconnect) sees `false`.
///
/// # Safety
///
/// `socket` must be NULL or live; `awaiting_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_is_awaiting_recovery(
    socket: *const roomcast_socket,
    awaiting_out: *mut bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        out(awaiting_out, "awaiting_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(awaiting_out, s.socket.is_awaiting_recovery()) };
        Ok(())
    })
}

/// Writes an event's recovery offset: hand it to the client with the event;
/// the client presents the last one it received when it resumes.
/// `ROOMCAST_RESULT_NO_VALUE` when the event is not kept (recovery off, an
/// ack, a volatile emit, not an event).
///
/// # Safety
///
/// `msg` must be NULL or live; `offset_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_message_offset(
    msg: *const roomcast_message,
    offset_out: *mut u64,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let m = unsafe { borrow(msg)? };
        out(offset_out, "offset_out")?;
        let o = m.offset().ok_or_else(|| no_value("offset"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(offset_out, o) };
        Ok(())
    })
}

/// Joins namespace `ns_name` resuming the socket kept under `session_id`,
/// given the offset of the last event the client received (`has_offset`
/// false: it received none). On success writes a new socket handle to
/// `*socket_out`: the old socket back (`roomcast_socket_recovered` true,
/// middleware not run again, the missed events already queued ahead of
/// anything newer), or — too late, offset no longer kept, unknown session —
/// a fresh socket exactly as `roomcast_conn_join_namespace` makes
/// (recovered false). Errors are those of `roomcast_conn_join_namespace`.
///
/// # Safety
///
/// `conn` must be NULL or live; `ns_name` and `session_id` NULL or
/// NUL-terminated; `auth` valid for `auth_len` bytes; `socket_out` valid
/// for a pointer write.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn roomcast_conn_resume_namespace(
    conn: *const roomcast_conn,
    ns_name: *const c_char,
    auth_format: u32,
    auth: *const u8,
    auth_len: usize,
    session_id: *const c_char,
    has_offset: bool,
    offset: u64,
    socket_out: *mut *mut roomcast_socket,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (c, name, pid) =
            unsafe { (handle(conn, "conn")?, string(ns_name, "ns_name")?, string(session_id, "session_id")?) };
        out(socket_out, "socket_out")?;
        let mut hs = core::Handshake::new();
        if auth_len > 0 {
            // SAFETY: per the contract.
            hs = hs.auth(unsafe { payload(auth_format, auth, auth_len)? });
        }
        let socket = c.conn.resume_namespace(name, hs, pid, has_offset.then_some(offset))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(socket_out, into_handle(roomcast_socket { socket })) };
        Ok(())
    })
}
