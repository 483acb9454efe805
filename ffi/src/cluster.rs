//! Cluster-wide operations and server-side events: they work with any
//! engine, with or without a cluster adapter (without one they act on this
//! node only and report no missing node).

use std::ffi::{c_char, c_void};
use std::time::Duration;

use roomcast_core as core;

use crate::emit::{operator, roomcast_emit_report, roomcast_target};
use crate::engine::roomcast_engine;
use crate::error::Error;
use crate::namespace::roomcast_namespace;
use crate::panic::{free_handle, guard, handle, into_handle, out, string, strings, write, write_opt};
use crate::payload::payload;
use crate::roomcast_result;

/// Writes the number of nodes in the engine's cluster (this one included;
/// 1 without a cluster adapter) to `*count_out`.
///
/// # Safety
///
/// `engine` must be NULL or live; `count_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_server_count(
    engine: *const roomcast_engine,
    count_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let engine = unsafe { handle(engine, "engine")? };
        out(count_out, "count_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(count_out, engine.engine.server_count()) };
        Ok(())
    })
}

fn cluster_error(e: core::ClusterError) -> Error {
    match e {
        core::ClusterError::Invalid(e) => e.into(),
        e @ core::ClusterError::Unavailable { .. } => Error::new(roomcast_result::ClusterUnavailable, e.to_string()),
    }
}

/// Emits like `roomcast_namespace_emit`, to this node's sockets only: nothing is
/// published to the other nodes of a cluster.
///
/// # Safety
///
/// As `roomcast_namespace_emit`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_emit_local(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
) -> roomcast_result {
    // SAFETY: the caller upholds this function's contract.
    unsafe { crate::emit::emit_target(ns, target, event, format, data, len, report_out, true) }
}

/// Counts the sockets `target` selects on every node of the cluster
/// (`cluster_fetch_sockets`). `*missing_out` (if not NULL) receives the
/// number of nodes that did not answer in time. When Redis is unreachable:
/// `ROOMCAST_RESULT_CLUSTER_UNAVAILABLE`.
///
/// # Safety
///
/// As `roomcast_namespace_emit` for `ns` and `target`; `count_out` valid for a write;
/// `missing_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_cluster_count_sockets(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    count_out: *mut usize,
    missing_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(count_out, "count_out")?;
        // SAFETY: per the contract.
        let r = unsafe { operator(ns, target)? }.cluster_fetch_sockets().map_err(cluster_error)?;
        // SAFETY: checked non-NULL above; `missing_out` NULL or valid.
        unsafe {
            write(count_out, r.value.len());
            write_opt(missing_out, r.missing_nodes);
        }
        Ok(())
    })
}

/// Makes the sockets `target` selects on every node join (`leave` false)
/// or leave (`leave` true) `rooms`; `*count_out` (if not NULL) receives how
/// many sockets did, `*missing_out` (if not NULL) the nodes that did not
/// answer. When Redis is unreachable this node's sockets have changed
/// rooms and the result is `ROOMCAST_RESULT_CLUSTER_UNAVAILABLE`.
///
/// # Safety
///
/// As `roomcast_namespace_emit` for `ns` and `target`; `rooms` valid for `rooms_len`
/// NUL-terminated strings; the out-pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_cluster_sockets_join(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    rooms: *const *const c_char,
    rooms_len: usize,
    leave: bool,
    count_out: *mut usize,
    missing_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, rooms) = unsafe { (handle(ns, "ns")?, strings(rooms, rooms_len, "rooms")?) };
        // SAFETY: per the contract.
        let op = unsafe { operator(ns, target)? };
        let r = if leave { op.cluster_sockets_leave(rooms) } else { op.cluster_sockets_join(rooms) };
        let r = r.map_err(cluster_error)?;
        // SAFETY: NULL or valid per the contract.
        unsafe {
            write_opt(count_out, r.value);
            write_opt(missing_out, r.missing_nodes);
        }
        Ok(())
    })
}

/// Disconnects the sockets `target` selects on every node (reason
/// `server namespace disconnect`); out-parameters as
/// `roomcast_namespace_cluster_sockets_join`.
///
/// # Safety
///
/// As `roomcast_namespace_emit` for `ns` and `target`; the out-pointers NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_cluster_disconnect_sockets(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    count_out: *mut usize,
    missing_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        // SAFETY: per the contract.
        let r = unsafe { operator(ns, target)? }.cluster_disconnect_sockets().map_err(cluster_error)?;
        // SAFETY: NULL or valid per the contract.
        unsafe {
            write_opt(count_out, r.value);
            write_opt(missing_out, r.missing_nodes);
        }
        Ok(())
    })
}

/// Called for another node's `roomcast_namespace_server_side_emit`, on the
/// cluster adapter's thread, with the payload (borrowed for the call).
pub type roomcast_server_side_callback = Option<
    unsafe extern "C" fn(userdata: *mut c_void, format: crate::roomcast_format_value, data: *const u8, len: usize),
>;

/// Registers `callback(userdata, format, data, len)` for `event` sent by
/// `roomcast_namespace_server_side_emit` on *another* node. It runs on the
/// cluster adapter's thread, with no engine lock held. `free_userdata` (may
/// be NULL) runs once when the engine drops the handler; not when this call
/// fails.
///
/// # Safety
///
/// `ns` NULL or live; `event` NULL or NUL-terminated; `callback` and
/// `free_userdata` callable with `userdata` from any thread.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_server_side(
    ns: *const roomcast_namespace,
    event: *const c_char,
    callback: roomcast_server_side_callback,
    userdata: *mut c_void,
    free_userdata: crate::callback::roomcast_free_callback,
) -> roomcast_result {
    type Callback = unsafe extern "C" fn(*mut c_void, crate::roomcast_format_value, *const u8, usize);
    fn call(cb: Callback, ud: *mut c_void, p: &core::Payload) -> Option<core::Payload> {
        // SAFETY: the caller promised `cb` is callable with `userdata` from
        // any thread; the payload lives for the call.
        unsafe { cb(ud, p.format().code(), p.as_bytes().as_ptr(), p.len()) };
        None
    }
    // SAFETY: this function's contract is `register_server_side`'s.
    unsafe { register_server_side(ns, event, callback, userdata, free_userdata, call) }
}

/// The body of both server-side registrations: checks the arguments, then
/// takes `userdata` and registers `call(callback, userdata, payload)`.
///
/// # Safety
///
/// `ns` NULL or live; `event` NULL or NUL-terminated; `callback` and
/// `free_userdata` callable with `userdata` from any thread.
unsafe fn register_server_side<C: Copy + Send + Sync + 'static>(
    ns: *const roomcast_namespace,
    event: *const c_char,
    callback: Option<C>,
    userdata: *mut c_void,
    free_userdata: crate::callback::roomcast_free_callback,
    call: fn(C, *mut c_void, &core::Payload) -> Option<core::Payload>,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        let cb = callback.ok_or_else(|| Error::new(roomcast_result::NullParameter, "`callback` is NULL"))?;
        let ud = crate::callback::UserData::new(userdata, free_userdata);
        ns.ns.on_server_side(event, move |p: &core::Payload| call(cb, ud.ptr(), p));
        Ok(())
    })
}

/// Runs the `roomcast_namespace_on_server_side(event)` handlers of every
/// other node (fire and forget). `ROOMCAST_RESULT_CLUSTER_UNAVAILABLE`
/// when Redis is unreachable.
///
/// # Safety
///
/// `ns` NULL or live; `event` NULL or NUL-terminated; `data` valid for
/// `len` bytes (NULL when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_server_side_emit(
    ns: *const roomcast_namespace,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        ns.ns.server_side_emit(event, payload).map_err(cluster_error)?;
        Ok(())
    })
}

/// Where a `roomcast_server_side_reply_callback` writes its reply. Valid
/// only during the callback; fill it with `roomcast_reply_set`.
pub struct roomcast_reply {
    payload: Option<core::Payload>,
}

/// Called for another node's `roomcast_namespace_server_side_emit_with_ack`
/// (and its plain emit), on the cluster adapter's thread, with the payload
/// borrowed for the call. Calling `roomcast_reply_set(reply, ..)` answers;
/// a handler that sets nothing sends no reply.
pub type roomcast_server_side_reply_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        format: crate::roomcast_format_value,
        data: *const u8,
        len: usize,
        reply: *mut roomcast_reply,
    ),
>;

/// Registers `callback(userdata, format, data, len, reply)` for `event`
/// sent by `roomcast_namespace_server_side_emit[_with_ack]` on *another*
/// node; what it puts in `reply` goes back to the emitting node. It runs on
/// the cluster adapter's thread with no engine lock held. `free_userdata`
/// (may be NULL) runs once when the engine drops the handler; not when
/// this call fails.
///
/// # Safety
///
/// `ns` NULL or live; `event` NULL or NUL-terminated; `callback` and
/// `free_userdata` callable with `userdata` from any thread.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_server_side_reply(
    ns: *const roomcast_namespace,
    event: *const c_char,
    callback: roomcast_server_side_reply_callback,
    userdata: *mut c_void,
    free_userdata: crate::callback::roomcast_free_callback,
) -> roomcast_result {
    type Callback =
        unsafe extern "C" fn(*mut c_void, crate::roomcast_format_value, *const u8, usize, *mut roomcast_reply);
    fn call(cb: Callback, ud: *mut c_void, p: &core::Payload) -> Option<core::Payload> {
        let mut reply = roomcast_reply { payload: None };
        // SAFETY: the caller promised `cb` is callable with `userdata` from
        // any thread; the payload and `reply` live for the call.
        unsafe { cb(ud, p.format().code(), p.as_bytes().as_ptr(), p.len(), &mut reply) };
        reply.payload
    }
    // SAFETY: this function's contract is `register_server_side`'s.
    unsafe { register_server_side(ns, event, callback, userdata, free_userdata, call) }
}

/// Sets the reply of a server-side handler to a copy of `data` in
/// `format` (`ROOMCAST_FORMAT_*`; JSON is checked). Setting it again
/// replaces it. On error the reply stays as it was.
///
/// # Safety
///
/// `reply` must be NULL or the pointer the callback received, during the
/// callback; `data` valid for `len` bytes (NULL when `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn roomcast_reply_set(
    reply: *mut roomcast_reply,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
) -> roomcast_result {
    guard(|| {
        if reply.is_null() {
            return Err(Error::new(roomcast_result::NullParameter, "`reply` is NULL"));
        }
        // SAFETY: per the contract.
        let p = unsafe { payload(format, data, len)? };
        // SAFETY: non-NULL and live for the callback per the contract.
        unsafe { (*reply).payload = Some(p) };
        Ok(())
    })
}

/// Replies collected by `roomcast_namespace_server_side_emit_with_ack`.
/// Box-owned, freed with `roomcast_payloads_free`; immutable, readable from
/// any thread.
pub struct roomcast_payloads {
    list: Vec<core::Payload>,
}

/// Runs the server-side handlers of `event` on every other node and waits
/// up to `timeout_ms` (at least 1) for their replies,
/// written to `*replies_out` (one per handler that set a reply; free with
/// `roomcast_payloads_free`). `*missing_out` (if not NULL) receives how
/// many nodes did not answer in time. `ROOMCAST_RESULT_CLUSTER_UNAVAILABLE`
/// when Redis is unreachable. Blocks the calling thread; don't call it from
/// a server-side handler.
///
/// # Safety
///
/// `ns` NULL or live; `event` NULL or NUL-terminated; `data` valid for
/// `len` bytes (NULL when `len` is 0); `replies_out` valid for a pointer
/// write; `missing_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_server_side_emit_with_ack(
    ns: *const roomcast_namespace,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    timeout_ms: u64,
    replies_out: *mut *mut roomcast_payloads,
    missing_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        out(replies_out, "replies_out")?;
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        if timeout_ms == 0 {
            return Err(Error::new(roomcast_result::InvalidArgument, "`timeout_ms` must be at least 1"));
        }
        let timeout = Duration::from_millis(timeout_ms);
        let r = ns.ns.server_side_emit_with_ack(event, payload, timeout).map_err(cluster_error)?;
        // SAFETY: checked non-NULL above; `missing_out` NULL or valid.
        unsafe {
            write(replies_out, into_handle(roomcast_payloads { list: r.value }));
            write_opt(missing_out, r.missing_nodes);
        }
        Ok(())
    })
}

/// The number of replies in `list` (0 for NULL).
///
/// # Safety
///
/// `list` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn roomcast_payloads_len(list: *const roomcast_payloads) -> usize {
    // SAFETY: NULL or live per the contract.
    crate::panic::guard_value(0, || unsafe { list.as_ref() }.map_or(0, |l| l.list.len()))
}

/// Writes a view of reply `index` (valid until `list` is freed; never NULL,
/// even when empty), its length and, when `format_out` is not NULL, its
/// `ROOMCAST_FORMAT_*`. `ROOMCAST_RESULT_INVALID_ARGUMENT` when `index` is
/// out of range.
///
/// # Safety
///
/// `list` must be NULL or live; `data_out` and `len_out` valid for writes;
/// `format_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_payloads_get(
    list: *const roomcast_payloads,
    index: usize,
    data_out: *mut *const u8,
    len_out: *mut usize,
    format_out: *mut crate::roomcast_format_value,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let l = unsafe { handle(list, "list")? };
        out(data_out, "data_out")?;
        out(len_out, "len_out")?;
        let p = l.list.get(index).ok_or_else(|| {
            Error::new(roomcast_result::InvalidArgument, format!("index {index} out of range (len {})", l.list.len()))
        })?;
        // SAFETY: checked non-NULL above; `format_out` NULL or valid.
        unsafe { crate::strings::write_payload(p, data_out, len_out, format_out) };
        Ok(())
    })
}

/// Frees a reply list. NULL is a no-op.
///
/// # Safety
///
/// `list` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_payloads_free(list: *mut roomcast_payloads) {
    // SAFETY: per the contract.
    crate::panic::guard_value((), || unsafe { free_handle(list) })
}
