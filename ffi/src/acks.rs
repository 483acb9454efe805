//! Emits with acknowledgement, their replies, client ack replies, and
//! server-side bulk operations on a selection of sockets.

use std::ffi::c_char;
use std::time::Duration;

use roomcast_core as core;

use crate::emit::{operator, roomcast_target};
use crate::error::Error;
use crate::namespace::roomcast_namespace;
use crate::panic::{free_handle, guard, guard_value, handle, into_handle, out, string, strings, write, write_opt};
use crate::payload::payload;
use crate::roomcast_result;
use crate::socket::roomcast_socket;
use crate::strings::roomcast_str;

/// The replies to one emit with acknowledgement (core's `AckStream`): one
/// per recipient, each a client reply or why there is none. Box-owned: from
/// `roomcast_namespace_emit_with_ack` / `roomcast_socket_emit_with_ack`, freed with
/// `roomcast_acks_free` (replies not taken are discarded). Thread-safe.
pub struct roomcast_acks {
    stream: core::AckStream,
}

/// One recipient's answer (core's `AckReply`). Box-owned: from
/// `roomcast_acks_next`, freed with `roomcast_ack_reply_free`.
pub struct roomcast_ack_reply {
    reply: core::AckReply,
}

fn timeout_or_default(ms: u64) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms))
}

/// Emits `event` like `roomcast_namespace_emit`, asking every recipient for an
/// acknowledgement, and writes the reply collector to `*acks_out`.
/// `timeout_ms` is the ack timeout (0: the engine's `ack_timeout`).
///
/// # Safety
///
/// As `roomcast_namespace_emit`; `acks_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_emit_with_ack(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    timeout_ms: u64,
    acks_out: *mut *mut roomcast_acks,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        out(acks_out, "acks_out")?;
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        // SAFETY: per the contract.
        let mut op = unsafe { operator(ns, target)? };
        if let Some(t) = timeout_or_default(timeout_ms) {
            op = op.timeout(t);
        }
        let stream = op.emit_with_ack(event, payload)?;
        // SAFETY: checked non-NULL above.
        unsafe { write(acks_out, into_handle(roomcast_acks { stream })) };
        Ok(())
    })
}

/// Emits `event` to this socket asking for an acknowledgement; see
/// `roomcast_namespace_emit_with_ack`.
///
/// # Safety
///
/// As `roomcast_socket_emit`; `acks_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_emit_with_ack(
    socket: *const roomcast_socket,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    timeout_ms: u64,
    acks_out: *mut *mut roomcast_acks,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, event) = unsafe { (handle(socket, "socket")?, string(event, "event")?) };
        out(acks_out, "acks_out")?;
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        let stream = match timeout_or_default(timeout_ms) {
            Some(t) => s.socket.emit_with_ack_timeout(event, payload, t)?,
            None => s.socket.emit_with_ack(event, payload)?,
        };
        // SAFETY: checked non-NULL above.
        unsafe { write(acks_out, into_handle(roomcast_acks { stream })) };
        Ok(())
    })
}

/// Writes how many replies to expect (one per recipient) and the ack id
/// the emitted messages carry. Either out-pointer may be NULL.
///
/// # Safety
///
/// `acks` must be NULL or live; the out-pointers NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_acks_info(
    acks: *const roomcast_acks,
    expected_out: *mut usize,
    ack_id_out: *mut u64,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let a = unsafe { handle(acks, "acks")? };
        // SAFETY: each is NULL (skipped) or valid per the contract.
        unsafe {
            write_opt(expected_out, a.stream.expected());
            write_opt(ack_id_out, a.stream.ack_id());
        }
        Ok(())
    })
}

/// Waits at most `timeout_ms` (negative: no limit; 0: do not wait) for the
/// next reply and writes it to `*reply_out`. `ROOMCAST_RESULT_TIMEOUT`
/// when none is ready in time; `ROOMCAST_RESULT_CLOSED` once every reply
/// has been taken. Every recipient yields exactly one reply (a timeout
/// counts), so the loop ends after `expected` replies.
///
/// # Safety
///
/// `acks` must be NULL or live; `reply_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_acks_next(
    acks: *const roomcast_acks,
    timeout_ms: i64,
    reply_out: *mut *mut roomcast_ack_reply,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let a = unsafe { handle(acks, "acks")? };
        out(reply_out, "reply_out")?;
        let pending = || Error::new(roomcast_result::Timeout, "no acknowledgement ready yet");
        let next = match u64::try_from(timeout_ms) {
            Err(_) => a.stream.next_blocking(),
            Ok(0) => a.stream.try_next().map_err(|_| pending())?,
            Ok(ms) => a.stream.next_timeout(Duration::from_millis(ms)).map_err(|_| pending())?,
        };
        let reply = next.ok_or_else(|| Error::new(roomcast_result::Closed, "every reply was taken"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(reply_out, into_handle(roomcast_ack_reply { reply })) };
        Ok(())
    })
}

/// Frees a reply collector. NULL is a no-op.
///
/// # Safety
///
/// `acks` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_acks_free(acks: *mut roomcast_acks) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(acks) })
}

/// Writes the replying socket's id (not NUL-terminated; borrowed from the
/// reply).
///
/// # Safety
///
/// `reply` must be NULL or live; the out-pointers valid for writes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_ack_reply_socket_id(
    reply: *const roomcast_ack_reply,
    id_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let r = unsafe { handle(reply, "reply")? };
        out(id_out, "id_out")?;
        let id = &r.reply.socket_id;
        // SAFETY: checked non-NULL above.
        unsafe { write(id_out, roomcast_str::new(id)) };
        Ok(())
    })
}

/// Writes a view of the client's reply payload (borrowed from the reply)
/// and, when `format_out` is not NULL, its format. When the recipient gave
/// no reply the result says why: `ROOMCAST_RESULT_TIMEOUT` (no answer in
/// time), `ROOMCAST_RESULT_CLOSED` (it disconnected first),
/// `ROOMCAST_RESULT_NOT_DELIVERED` (its outbox refused the message),
/// `ROOMCAST_RESULT_NO_RECIPIENTS`.
///
/// # Safety
///
/// `reply` must be NULL or live; `data_out`, `len_out` valid for writes;
/// `format_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_ack_reply_data(
    reply: *const roomcast_ack_reply,
    data_out: *mut *const u8,
    len_out: *mut usize,
    format_out: *mut crate::roomcast_format_value,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let r = unsafe { handle(reply, "reply")? };
        out(data_out, "data_out")?;
        out(len_out, "len_out")?;
        let p = r.reply.result.as_ref().map_err(|e| {
            let code = match e {
                core::AckError::Timeout => roomcast_result::Timeout,
                core::AckError::Disconnected => roomcast_result::Closed,
                core::AckError::NotDelivered => roomcast_result::NotDelivered,
                core::AckError::NoRecipients => roomcast_result::NoRecipients,
            };
            Error::new(code, e.to_string())
        })?;
        // SAFETY: checked non-NULL above; `format_out` NULL or valid.
        unsafe {
            write(data_out, p.as_bytes().as_ptr());
            write(len_out, p.len());
            write_opt(format_out, p.format().code());
        }
        Ok(())
    })
}

/// Frees a reply. NULL is a no-op.
///
/// # Safety
///
/// `reply` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_ack_reply_free(reply: *mut roomcast_ack_reply) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(reply) })
}

/// Reports the client's reply to an ack emit (from the transport).
/// `ROOMCAST_RESULT_IGNORED` for a late, unknown or duplicate reply
/// (ignoring it is always safe).
///
/// # Safety
///
/// `socket` must be NULL or live; `data` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_receive_ack(
    socket: *const roomcast_socket,
    ack_id: u64,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let s = unsafe { handle(socket, "socket")? };
        // SAFETY: per the contract.
        let p = unsafe { payload(format, data, len)? };
        s.socket.receive_ack(ack_id, p).map_err(|e| {
            let code = match &e {
                core::AckReceiveError::Ignored(_) => roomcast_result::Ignored,
                core::AckReceiveError::Payload(e) => crate::error::payload_code(e),
            };
            Error::new(code, e.to_string())
        })
    })
}

/// Makes every socket `target` selects in `ns` (NULL: all) join `rooms`
/// (`rooms_len` names); writes how many sockets did to `*count_out` when
/// it is not NULL.
///
/// # Safety
///
/// As `roomcast_namespace_emit` for `ns` and `target`; `rooms` valid for `rooms_len`
/// strings; `count_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_sockets_join(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    rooms: *const *const c_char,
    rooms_len: usize,
    count_out: *mut usize,
) -> roomcast_result {
    // SAFETY: the caller's contract is this function's.
    unsafe { selection_rooms_op(ns, target, rooms, rooms_len, count_out, |op, rooms| op.sockets_join(rooms)) }
}

/// Makes every socket `target` selects in `ns` (NULL: all) leave `rooms`;
/// see `roomcast_namespace_sockets_join`.
///
/// # Safety
///
/// As `roomcast_namespace_sockets_join`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_sockets_leave(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    rooms: *const *const c_char,
    rooms_len: usize,
    count_out: *mut usize,
) -> roomcast_result {
    // SAFETY: the caller's contract is this function's.
    unsafe { selection_rooms_op(ns, target, rooms, rooms_len, count_out, |op, rooms| op.sockets_leave(rooms)) }
}

/// The body shared by `sockets_join` and `sockets_leave`: borrow the
/// arguments, apply `f` to the selection, report the count.
///
/// # Safety
///
/// As `roomcast_namespace_sockets_join`.
unsafe fn selection_rooms_op(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    rooms: *const *const c_char,
    rooms_len: usize,
    count_out: *mut usize,
    f: impl for<'a> FnOnce(core::BroadcastOperator<'a>, Vec<&'a str>) -> std::result::Result<usize, core::EmitError>,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        // SAFETY: per the contract.
        let (op, rooms) = unsafe { (operator(ns, target)?, strings(rooms, rooms_len, "rooms")?) };
        let n = f(op, rooms)?;
        // SAFETY: NULL or valid per the contract.
        unsafe { write_opt(count_out, n) };
        Ok(())
    })
}

/// Disconnects every socket `target` selects in `ns` (NULL: all), running
/// disconnect callbacks on this thread; writes how many to `*count_out`
/// when it is not NULL.
///
/// # Safety
///
/// As `roomcast_namespace_emit` for `ns` and `target`; `count_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_disconnect_sockets(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    count_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        // SAFETY: per the contract.
        let n = unsafe { operator(ns, target)? }.disconnect_sockets()?;
        // SAFETY: NULL or valid per the contract.
        unsafe { write_opt(count_out, n) };
        Ok(())
    })
}

/// Fetches the sockets `target` selects in `ns` (NULL: all): writes a new
/// handle for each of the first `cap` of them to `sockets[0..n]` and `n`
/// to `*n_out`; when `total_out` is not NULL, the number selected (which
/// may exceed `cap`). Free each handle with `roomcast_socket_free`.
///
/// # Safety
///
/// As `roomcast_namespace_emit` for `ns` and `target`; `sockets` valid for `cap`
/// pointer writes (may be NULL when `cap` is 0); `n_out` valid;
/// `total_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_fetch_sockets(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    sockets: *mut *mut roomcast_socket,
    cap: usize,
    n_out: *mut usize,
    total_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(n_out, "n_out")?;
        if cap > 0 {
            out(sockets, "sockets")?;
        }
        // SAFETY: per the contract.
        let all = unsafe { operator(ns, target)? }.fetch_sockets()?;
        // SAFETY: per the contract.
        unsafe { crate::socket::write_sockets(all, sockets, cap, n_out, total_out) };
        Ok(())
    })
}
