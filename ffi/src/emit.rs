//! Emits: the `roomcast_target` selection, `roomcast_namespace_emit` and its
//! report; the operator built from a target is shared by the ack and
//! cluster emits.

use std::ffi::c_char;

use roomcast_core as core;

use crate::error::Error;
use crate::namespace::roomcast_namespace;
use crate::panic::{guard, handle, string, strings};
use crate::payload::payload;
use crate::roomcast_result;
use crate::sized::{check_out, read_opt, write_out, Growable};
use crate::socket::roomcast_socket;

/// Who receives an emit. Every pointer is borrowed for the duration of the
/// call only. A NULL target (or an all-empty one) means the whole namespace.
/// Set `struct_size` to `sizeof(roomcast_target)`:
/// `roomcast_target t = {sizeof t, rooms, 1, NULL, 0, NULL, false};`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct roomcast_target {
    /// `sizeof(roomcast_target)` as the caller's header declares it (fields
    /// may be appended in later versions; see "Growing structs" in the
    /// header's conventions).
    pub struct_size: usize,
    /// Room names (NUL-terminated UTF-8); the emit reaches their union.
    /// May be NULL when `rooms_len` is 0 (then: the whole namespace).
    pub rooms: *const *const c_char,
    /// Number of entries in `rooms`.
    pub rooms_len: usize,
    /// Rooms whose members are left out. May be NULL when `except_len` is 0.
    pub except: *const *const c_char,
    /// Number of entries in `except`.
    pub except_len: usize,
    /// A socket to leave out, or NULL: the sender exclusion of core's
    /// `socket.broadcast()`, for any socket, applied on this node (where
    /// the socket lives). It need not be connected.
    pub exclude: *const roomcast_socket,
    /// When true, the emit is volatile: dropped for a full outbox without
    /// triggering the overflow policy.
    pub volatile_: bool,
}

// SAFETY: repr(C), `struct_size` first; zero is valid (NULL pointers, false).
unsafe impl Growable for roomcast_target {
    const NAME: &'static str = "roomcast_target";
    const MIN_SIZE: usize = std::mem::size_of::<Self>();
}

/// What one emit did. Set `struct_size` before the call:
/// `roomcast_emit_report rep = {.struct_size = sizeof rep};`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct roomcast_emit_report {
    /// `sizeof(roomcast_emit_report)` as the caller's header declares it.
    pub struct_size: usize,
    /// Sockets selected.
    pub recipients: usize,
    /// Messages queued.
    pub queued: usize,
    /// Messages dropped by back-pressure.
    pub dropped: usize,
}

// SAFETY: repr(C), `struct_size` first; zero is valid.
unsafe impl Growable for roomcast_emit_report {
    const NAME: &'static str = "roomcast_emit_report";
    const MIN_SIZE: usize = std::mem::size_of::<Self>();
}

impl Default for roomcast_emit_report {
    /// Zero counts, `struct_size` set.
    fn default() -> Self {
        roomcast_emit_report { struct_size: std::mem::size_of::<Self>(), recipients: 0, queued: 0, dropped: 0 }
    }
}

impl From<core::EmitReport> for roomcast_emit_report {
    fn from(r: core::EmitReport) -> Self {
        roomcast_emit_report { recipients: r.recipients, queued: r.queued, dropped: r.dropped, ..Default::default() }
    }
}

/// Emits `event` with a payload of `format` (`ROOMCAST_FORMAT_*`) made from
/// a copy of `data[0..len]` to the sockets `target` selects in `ns` (NULL:
/// the whole namespace). Each socket receives it at most once. When
/// `report_out` is not NULL, the emit report is written there on success.
/// Never blocks on a slow consumer. Thread-safe; runs no user callback
/// except notify callbacks of recipients (on this thread, no lock held).
///
/// # Safety
///
/// `ns` must be NULL or live; `target` NULL or valid (its arrays and strings
/// included) for the call; `event` NULL or NUL-terminated; `data` valid for
/// `len` bytes (NULL allowed when `len` is 0); `report_out` NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_emit(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
) -> roomcast_result {
    // SAFETY: the caller upholds this function's contract.
    unsafe { emit_target(ns, target, event, format, data, len, report_out, false) }
}

/// The body of `roomcast_namespace_emit` and `roomcast_namespace_emit_local` (`local`: nothing
/// is published to other nodes).
///
/// # Safety
///
/// As `roomcast_namespace_emit`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn emit_target(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
    local: bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        // SAFETY: NULL or valid per the contract.
        unsafe { check_out(report_out, "report_out", true)? };
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        // SAFETY: per the contract.
        let op = unsafe { operator(ns, target)? };
        let report = if local { op.local() } else { op }.emit(event, payload)?;
        // SAFETY: NULL or valid per the contract, checked above.
        unsafe { write_out(report_out, report.into()) };
        Ok(())
    })
}

/// Builds core's broadcast operator for a C target (NULL: the whole
/// namespace).
///
/// # Safety
///
/// `target` must be NULL or valid, with its arrays and strings, for `'a`.
pub(crate) unsafe fn operator<'a>(
    ns: &'a roomcast_namespace,
    target: *const roomcast_target,
) -> Result<core::BroadcastOperator<'a>, Error> {
    let mut op = ns.ns.to(Vec::<&str>::new());
    // SAFETY: per the contract.
    if let Some(t) = unsafe { read_opt(target, "target")? } {
        // SAFETY: per the contract.
        let (rooms, except) = unsafe {
            (strings(t.rooms, t.rooms_len, "target.rooms")?, strings(t.except, t.except_len, "target.except")?)
        };
        op = op.to(rooms).except(except);
        // SAFETY: per the contract.
        if let Some(s) = unsafe { t.exclude.as_ref() } {
            op = op.except_socket(&s.socket);
        }
        if t.volatile_ {
            op = op.volatile();
        }
    }
    Ok(op)
}
