//! Handlers, middleware and lifecycle callbacks (namespace hooks), inbound
//! dispatch and ack responders. Every callback runs through core's hook
//! machinery, so it is never called while an engine lock is held.

use std::ffi::{c_char, c_int, c_void};

use roomcast_core as core;

use crate::callback::{roomcast_free_callback, UserData};
use crate::error::Error;
use crate::handshake::roomcast_handshake;
use crate::namespace::roomcast_namespace;
use crate::panic::{guard, handle, string, write};
use crate::payload::payload;
use crate::roomcast_result;
use crate::socket::{roomcast_socket, SocketView};
use crate::strings::roomcast_str;

/// Answers one inbound event that asked for an acknowledgement (core's
/// `AckResponder`). Borrowed: only valid during the event callback that
/// received it; never freed by the caller.
pub struct roomcast_ack {
    responder: core::AckResponder,
}

/// Where a middleware callback puts its refusal for the client. Borrowed:
/// only valid during the middleware callback that received it.
pub struct roomcast_refusal {
    error: Option<core::ConnectError>,
}

/// What `roomcast_socket_dispatch` did with an event.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum roomcast_dispatched {
    /// At least one `roomcast_namespace_on` handler ran.
    Handled = 0,
    /// No handler matched; fallback handlers ran.
    Fallback = 1,
    /// No handler matched and there is no fallback.
    Unhandled = 2,
    /// Event middleware dropped it.
    Dropped = 3,
    /// Event middleware rejected it.
    Rejected = 4,
}

/// A `roomcast_dispatched` as it crosses the C boundary: any `u32` (Rust checks it
/// where it reads one; a parameter of the enum type would make an unknown
/// value undefined behaviour). The header spells it `roomcast_dispatched`.
pub type roomcast_dispatched_value = u32;

/// An event handler. `socket` is borrowed for the call (clone nothing: use
/// it only inside the callback); `event` is the event name (a
/// `roomcast_str`, not NUL-terminated); `data`/`len`/`format` view the payload for the call;
/// `ack` is NULL unless the client asked for an acknowledgement. Return 0
/// for success; any other value is reported as a handler failure (the
/// engine carries on).
pub type roomcast_event_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        socket: *const roomcast_socket,
        event: roomcast_str,
        format: crate::roomcast_format_value,
        data: *const u8,
        len: usize,
        ack: *const roomcast_ack,
    ) -> c_int,
>;

/// Namespace middleware: return 0 to let the client in, anything else to
/// refuse it (optionally describe the refusal with `roomcast_refusal_set`).
pub type roomcast_middleware_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        handshake: *const roomcast_handshake,
        refusal: *mut roomcast_refusal,
    ) -> c_int,
>;

/// Called for every socket that connects (`socket` borrowed for the call).
/// Return 0 for success; other values are reported as handler failures.
pub type roomcast_connection_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, socket: *const roomcast_socket) -> c_int>;

/// Called once a socket has left every room; `reason` is a static
/// NUL-terminated Socket.IO reason string.
pub type roomcast_disconnect_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, socket: *const roomcast_socket, reason: *const c_char)>;

fn handler_result(rc: c_int) -> Result<(), core::HandlerError> {
    if rc == 0 {
        Ok(())
    } else {
        Err(format!("C callback returned {rc}").into())
    }
}

fn missing_callback() -> Error {
    Error::new(roomcast_result::NullParameter, "`callback` is NULL")
}

/// Wraps a C event callback as a core event handler.
fn event_handler(
    cb: unsafe extern "C" fn(
        *mut c_void,
        *const roomcast_socket,
        roomcast_str,
        u32,
        *const u8,
        usize,
        *const roomcast_ack,
    ) -> c_int,
    ud: UserData,
) -> impl Fn(&core::Socket, &core::Inbound, Option<core::AckResponder>) -> Result<(), core::HandlerError> + Send + Sync
{
    move |socket, inbound, ack| {
        let s = SocketView::new(socket);
        let a = ack.map(|responder| roomcast_ack { responder });
        let name = inbound.name();
        let p = inbound.payload();
        let ack_ptr = a.as_ref().map_or(std::ptr::null(), |a| a as *const roomcast_ack);
        // SAFETY: the caller promised `cb` is callable with `userdata`
        // from any thread; every pointer passed lives for the call.
        let rc = unsafe {
            cb(
                ud.ptr(),
                s.as_ptr(),
                roomcast_str::new(name),
                p.format().code(),
                p.as_bytes().as_ptr(),
                p.len(),
                ack_ptr,
            )
        };
        handler_result(rc)
    }
}

/// Registers `callback` for inbound events named `event` in `ns`. Several
/// handlers of one event run in registration order.
///
/// **Thread:** it runs on the thread calling `roomcast_socket_dispatch`,
/// with no engine lock held, so it may call any roomcast function (emit,
/// join, disconnect, ...). `userdata` must be usable from any thread; it
/// is handed to `free_userdata` (when not NULL) once the handler is
/// dropped (see `roomcast_free_callback`).
///
/// `event` must be a name `roomcast_socket_dispatch` accepts: non-empty, at
/// most `max_name_len` bytes, no control characters, not reserved
/// (`connect`, `disconnect`, ...). Otherwise `ROOMCAST_RESULT_INVALID_NAME`
/// (detail in `roomcast_last_error`), nothing is registered and `userdata`
/// stays with the caller (`free_userdata` is not called).
///
/// # Safety
///
/// `ns` must be NULL or live; `event` NULL or NUL-terminated; `callback`
/// and `free_userdata` safe to call with `userdata` from any thread.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on(
    ns: *const roomcast_namespace,
    event: *const c_char,
    callback: roomcast_event_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        let cb = callback.ok_or_else(missing_callback)?;
        // Checked before the userdata is taken, so a refusal leaves it with
        // the caller; `on` applies the same rule again.
        ns.ns.check_event_name(event)?;
        ns.ns.on(event, event_handler(cb, UserData::new(userdata, free_userdata)))?;
        Ok(())
    })
}

/// Registers `callback` for inbound events that no `roomcast_namespace_on`
/// handler takes (`roomcast_socket_dispatch` then reports
/// `ROOMCAST_DISPATCHED_FALLBACK`). Thread and `userdata` as for
/// `roomcast_namespace_on`.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_fallback(
    ns: *const roomcast_namespace,
    callback: roomcast_event_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        ns.ns.on_fallback(event_handler(cb, UserData::new(userdata, free_userdata)));
        Ok(())
    })
}

/// Removes every `roomcast_namespace_on` handler of `event` in `ns` (their
/// `free_userdata` functions run on this thread, or on a thread still
/// dispatching to them, once it is done). Removing an event without
/// handlers succeeds; a name `roomcast_namespace_on` would refuse gives
/// `ROOMCAST_RESULT_INVALID_NAME`.
///
/// # Safety
///
/// `ns` must be NULL or live; `event` NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_off(
    ns: *const roomcast_namespace,
    event: *const c_char,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        ns.ns.off(event)?;
        Ok(())
    })
}

/// Observes every inbound event of `ns`: runs after event middleware and
/// before the specific handlers, whether or not any handler takes it.
/// `event`/`data` view the event for the call. Return 0 for success; other
/// values are reported as handler failures. Thread and `userdata` as for
/// `roomcast_namespace_on`.
pub type roomcast_any_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        socket: *const roomcast_socket,
        event: roomcast_str,
        format: crate::roomcast_format_value,
        data: *const u8,
        len: usize,
    ) -> c_int,
>;

/// Registers an observer of every inbound event of `ns`; see
/// `roomcast_any_callback`.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_any(
    ns: *const roomcast_namespace,
    callback: roomcast_any_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData::new(userdata, free_userdata);
        ns.ns.on_any(move |socket, inbound| {
            let s = SocketView::new(socket);
            let (name, p) = (inbound.name(), inbound.payload());
            // SAFETY: as in `roomcast_namespace_on`.
            let rc = unsafe {
                cb(ud.ptr(), s.as_ptr(), roomcast_str::new(name), p.format().code(), p.as_bytes().as_ptr(), p.len())
            };
            handler_result(rc)
        });
        Ok(())
    })
}

/// What an event middleware decides, returned by a
/// `roomcast_event_middleware_callback`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum roomcast_flow {
    /// Pass the event on to the next middleware and the handlers.
    Continue = 0,
    /// Drop the event silently (`ROOMCAST_DISPATCHED_DROPPED`).
    Drop = 1,
    /// Reject the event: no handler runs, the rejection is reported to
    /// `roomcast_namespace_on_error` (`ROOMCAST_DISPATCHED_REJECTED`).
    Reject = 2,
}

/// A `roomcast_flow` as it crosses the C boundary: any `u32` (Rust checks it
/// where it reads one; a parameter of the enum type would make an unknown
/// value undefined behaviour). The header spells it `roomcast_flow`.
pub type roomcast_flow_value = u32;

/// Event middleware: sees every inbound event of the namespace before any
/// handler, in registration order, and returns a `ROOMCAST_FLOW_*` value
/// (any other value rejects the event like `ROOMCAST_FLOW_REJECT`).
/// Thread and `userdata` as for `roomcast_namespace_on`.
pub type roomcast_event_middleware_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        socket: *const roomcast_socket,
        event: roomcast_str,
        format: crate::roomcast_format_value,
        data: *const u8,
        len: usize,
    ) -> roomcast_flow_value,
>;

/// Adds event middleware to `ns`; see `roomcast_event_middleware_callback`.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_use_event(
    ns: *const roomcast_namespace,
    callback: roomcast_event_middleware_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData::new(userdata, free_userdata);
        ns.ns.use_event_middleware(move |socket, inbound| {
            let s = SocketView::new(socket);
            let (name, p) = (inbound.name(), inbound.payload());
            // SAFETY: as in `roomcast_namespace_on`.
            let rc = unsafe {
                cb(ud.ptr(), s.as_ptr(), roomcast_str::new(name), p.format().code(), p.as_bytes().as_ptr(), p.len())
            };
            match rc {
                0 => Ok(core::EventFlow::Continue),
                1 => Ok(core::EventFlow::Drop),
                2 => Err("rejected by event middleware".into()),
                rc => Err(format!("event middleware returned {rc}").into()),
            }
        });
        Ok(())
    })
}

/// Adds namespace middleware, run in order for every connect to `ns`
/// before the socket joins anything. The first refusal rejects the connect
/// (`roomcast_conn_join_namespace` gives `ROOMCAST_RESULT_REFUSED`).
///
/// **Thread:** the thread calling `roomcast_conn_join_namespace`, with no
/// engine lock held. `userdata` as for `roomcast_namespace_on`.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_use(
    ns: *const roomcast_namespace,
    callback: roomcast_middleware_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData::new(userdata, free_userdata);
        ns.ns.use_middleware(move |hs| {
            let h = roomcast_handshake { hs: hs.clone() };
            let mut refusal = roomcast_refusal { error: None };
            // SAFETY: as in `roomcast_namespace_on`.
            let rc = unsafe { cb(ud.ptr(), &h, &mut refusal) };
            match (rc, refusal.error) {
                (0, _) => Ok(()),
                (_, Some(e)) => Err(e),
                (rc, None) => Err(core::ConnectError::new(format!("refused by middleware ({rc})"))),
            }
        });
        Ok(())
    })
}

/// Describes a refusal for the client: `message` (NUL-terminated UTF-8) and
/// optional data (`data` NULL and `len` 0 for none). Call it from a
/// middleware callback, then return non-zero.
///
/// # Safety
///
/// `refusal` must be NULL or the pointer the middleware callback received;
/// `message` NULL or NUL-terminated; `data` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_refusal_set(
    refusal: *mut roomcast_refusal,
    message: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let r = unsafe { refusal.as_mut() }
            .ok_or_else(|| Error::new(roomcast_result::NullParameter, "`refusal` is NULL"))?;
        // SAFETY: per the contract.
        let message = unsafe { string(message, "message")? };
        let mut e = core::ConnectError::new(message);
        if !data.is_null() || len > 0 {
            // SAFETY: per the contract.
            e = e.with_data(unsafe { payload(format, data, len)? });
        }
        r.error = Some(e);
        Ok(())
    })
}

/// Registers `callback` for every socket that connects to `ns`, run after
/// the socket is in its own-id room, on the thread calling
/// `roomcast_conn_join_namespace`, with no engine lock held.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_connection(
    ns: *const roomcast_namespace,
    callback: roomcast_connection_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData::new(userdata, free_userdata);
        ns.ns.on_connection(move |socket| {
            let s = SocketView::new(socket);
            // SAFETY: as in `roomcast_namespace_on`.
            handler_result(unsafe { cb(ud.ptr(), s.as_ptr()) })
        });
        Ok(())
    })
}

/// Wraps a C disconnect callback as a core lifecycle handler.
fn disconnect_handler(
    cb: unsafe extern "C" fn(*mut c_void, *const roomcast_socket, *const c_char),
    ud: UserData,
) -> impl Fn(&core::Socket, core::DisconnectReason) + Send + Sync {
    move |socket, reason| {
        let s = SocketView::new(socket);
        let r = reason.as_c_str().as_ptr();
        // SAFETY: as in `roomcast_namespace_on`.
        unsafe { cb(ud.ptr(), s.as_ptr(), r) }
    }
}

/// Registers `callback` for every socket of `ns` that disconnects, run once
/// it has left every room, on the thread that caused the disconnect (the
/// closer, or an emitter under the `disconnect` overflow policy), with no
/// engine lock held. `userdata` as for `roomcast_namespace_on`.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_disconnect(
    ns: *const roomcast_namespace,
    callback: roomcast_disconnect_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        ns.ns.on_disconnect(disconnect_handler(cb, UserData::new(userdata, free_userdata)));
        Ok(())
    })
}

/// Registers `callback` for every socket of `ns` that starts
/// disconnecting: it runs before the socket leaves its rooms, so
/// `roomcast_socket_rooms` still lists them (Socket.IO's `disconnecting`).
/// Thread and `userdata` as for `roomcast_namespace_on_disconnect`.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_disconnecting(
    ns: *const roomcast_namespace,
    callback: roomcast_disconnect_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        ns.ns.on_disconnecting(disconnect_handler(cb, UserData::new(userdata, free_userdata)));
        Ok(())
    })
}

/// Which room change a `roomcast_room_event_callback` reports.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum roomcast_room_change {
    /// The room came into existence (its first member joined).
    Created = 0,
    /// The room's last member left.
    Deleted = 1,
    /// A socket joined the room.
    Joined = 2,
    /// A socket left the room.
    Left = 3,
}

/// A `roomcast_room_change` as it crosses the C boundary: any `u32` (Rust checks it
/// where it reads one; a parameter of the enum type would make an unknown
/// value undefined behaviour). The header spells it `roomcast_room_change`.
pub type roomcast_room_change_value = u32;

/// Observes room changes of a namespace (own-id rooms included): `change`
/// is a `ROOMCAST_ROOM_CHANGE_*`; `room` and `socket_id` are borrowed for
/// the call; `socket_id` is `{NULL, 0}` for `CREATED` and `DELETED`. Runs on the thread that made the change, after
/// it, with no engine lock held.
pub type roomcast_room_event_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        change: roomcast_room_change_value,
        room: roomcast_str,
        socket_id: roomcast_str,
    ),
>;

/// Registers an observer of room changes in `ns`; see
/// `roomcast_room_event_callback`. `userdata` as for
/// `roomcast_namespace_on`.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_room_event(
    ns: *const roomcast_namespace,
    callback: roomcast_room_event_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData::new(userdata, free_userdata);
        ns.ns.on_room_event(move |ev| {
            let (change, room, id) = match ev {
                core::RoomEvent::Created { room } => (roomcast_room_change::Created, room, None),
                core::RoomEvent::Deleted { room } => (roomcast_room_change::Deleted, room, None),
                core::RoomEvent::Joined { room, socket_id } => (roomcast_room_change::Joined, room, Some(socket_id)),
                core::RoomEvent::Left { room, socket_id } => (roomcast_room_change::Left, room, Some(socket_id)),
            };
            let id = roomcast_str::opt(id.map(|s| &**s));
            // SAFETY: as in `roomcast_namespace_on`.
            unsafe { cb(ud.ptr(), change as u32, roomcast_str::new(room), id) }
        });
        Ok(())
    })
}

/// A `roomcast_site` as it crosses the C boundary: any `u32` (Rust checks it
/// where it reads one; a parameter of the enum type would make an unknown
/// value undefined behaviour). The header spells it `roomcast_site`.
pub type roomcast_site_value = u32;

/// Which callback failed, in a `roomcast_failure`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum roomcast_site {
    /// Namespace middleware (the connect was refused).
    Middleware = 0,
    /// Event middleware (the event was rejected).
    EventMiddleware = 1,
    /// A connection callback.
    Connection = 2,
    /// An event handler.
    Event = 3,
    /// An `on_any` observer.
    Any = 4,
    /// A fallback handler.
    Fallback = 5,
    /// A disconnecting callback.
    Disconnecting = 6,
    /// A disconnect callback.
    Disconnect = 7,
    /// A room-event observer.
    RoomEvent = 8,
    /// A dynamic namespace predicate.
    DynamicPredicate = 9,
    /// A server-side event handler (a cluster adapter's `server_side_emit`).
    ServerSide = 10,
}

/// How a callback failed, in a `roomcast_failure`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum roomcast_failure_kind {
    /// It returned a failure (a non-zero code).
    Error = 0,
    /// It panicked (only Rust callbacks can).
    Panic = 1,
    /// Event middleware rejected the event.
    Rejected = 2,
}

/// A `roomcast_failure_kind` as it crosses the C boundary: any `u32` (Rust checks it
/// where it reads one; a parameter of the enum type would make an unknown
/// value undefined behaviour). The header spells it `roomcast_failure_kind`.
pub type roomcast_failure_kind_value = u32;

/// A callback failure, handed to a `roomcast_error_callback`. Every string
/// is borrowed for the call; absent ones are `{NULL, 0}`. Fields are only
/// ever appended in later versions (the library owns this struct).
#[repr(C)]
pub struct roomcast_failure {
    /// The namespace whose callback failed.
    pub namespace: roomcast_str,
    /// The socket concerned, when there is one.
    pub socket_id: roomcast_str,
    /// Which callback: a `ROOMCAST_SITE_*`.
    pub site: roomcast_site_value,
    /// The event name, for event middleware, event, any and fallback sites.
    pub event: roomcast_str,
    /// A `ROOMCAST_FAILURE_KIND_*`.
    pub kind: roomcast_failure_kind_value,
    /// The failure's text.
    pub message: roomcast_str,
}

/// Receives every callback failure of a namespace (a non-zero return, an
/// event rejection). Without one, failures are printed to standard error.
/// Runs on the thread where the failure happened, with no engine lock held.
pub type roomcast_error_callback =
    Option<unsafe extern "C" fn(userdata: *mut c_void, failure: *const roomcast_failure)>;

/// Registers a receiver of `ns`'s callback failures; see
/// `roomcast_error_callback`. `userdata` as for `roomcast_namespace_on`.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_error(
    ns: *const roomcast_namespace,
    callback: roomcast_error_callback,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData::new(userdata, free_userdata);
        ns.ns.on_error(move |f| {
            use core::HandlerSite as H;
            let site = match &f.site {
                H::Middleware => roomcast_site::Middleware,
                H::EventMiddleware(_) => roomcast_site::EventMiddleware,
                H::Connection => roomcast_site::Connection,
                H::Event(_) => roomcast_site::Event,
                H::Any(_) => roomcast_site::Any,
                H::Fallback(_) => roomcast_site::Fallback,
                H::Disconnecting => roomcast_site::Disconnecting,
                H::Disconnect => roomcast_site::Disconnect,
                H::RoomEvent => roomcast_site::RoomEvent,
                H::DynamicPredicate => roomcast_site::DynamicPredicate,
                H::ServerSide(_) => roomcast_site::ServerSide,
            };
            let event = f.site.event();
            let kind = match f.kind {
                core::FailureKind::Error => roomcast_failure_kind::Error,
                core::FailureKind::Panic => roomcast_failure_kind::Panic,
                core::FailureKind::Rejected => roomcast_failure_kind::Rejected,
            };
            let failure = roomcast_failure {
                namespace: roomcast_str::new(&f.namespace),
                socket_id: roomcast_str::opt(f.socket_id.as_deref()),
                site: site as u32,
                event: roomcast_str::opt(event),
                kind: kind as u32,
                message: roomcast_str::new(&f.message),
            };
            // SAFETY: as in `roomcast_namespace_on`; `failure` lives for the call.
            unsafe { cb(ud.ptr(), &failure) }
        });
        Ok(())
    })
}

/// Hands an inbound event from the wire to the namespace's handlers, on
/// this thread (middleware, then handlers; see `roomcast_namespace_on`).
/// When `has_ack` is true the client asked for an acknowledgement with id
/// `ack_id`, and handlers get a responder. When `outcome_out` is not NULL,
/// a `ROOMCAST_DISPATCHED_*` value is written there on success.
///
/// # Safety
///
/// `socket` must be NULL or live; `event` NULL or NUL-terminated; `data`
/// valid for `len` bytes; `outcome_out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_socket_dispatch(
    socket: *const roomcast_socket,
    event: *const c_char,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
    has_ack: bool,
    ack_id: u64,
    outcome_out: *mut roomcast_dispatched_value,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (s, event) = unsafe { (handle(socket, "socket")?, string(event, "event")?) };
        // SAFETY: per the contract.
        let mut inbound = core::Inbound::event(event, unsafe { payload(format, data, len)? });
        if has_ack {
            inbound = inbound.with_ack(ack_id);
        }
        let d = s.socket.dispatch(inbound).map_err(|e| {
            let code = match &e {
                core::DispatchError::InvalidName(_) => roomcast_result::InvalidName,
                core::DispatchError::Payload(e) => crate::error::payload_code(e),
                core::DispatchError::Closed => roomcast_result::Closed,
            };
            Error::new(code, e.to_string())
        })?;
        if !outcome_out.is_null() {
            let o = match d {
                core::Dispatched::Handled(_) => roomcast_dispatched::Handled,
                core::Dispatched::Fallback => roomcast_dispatched::Fallback,
                core::Dispatched::Unhandled => roomcast_dispatched::Unhandled,
                core::Dispatched::Dropped => roomcast_dispatched::Dropped,
                core::Dispatched::Rejected => roomcast_dispatched::Rejected,
            };
            // SAFETY: non-NULL and valid per the contract.
            unsafe { write(outcome_out, o as u32) };
        }
        Ok(())
    })
}

/// Sends the acknowledgement reply (an ack message in the socket's outbox;
/// never dropped by the overflow policy). The first send wins: later ones
/// give `ROOMCAST_RESULT_ALREADY_ANSWERED`.
///
/// # Safety
///
/// `ack` must be NULL or the pointer an event callback received, used
/// during that call; `data` valid for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_ack_send(
    ack: *const roomcast_ack,
    format: crate::roomcast_format_value,
    data: *const u8,
    len: usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let a = unsafe { handle(ack, "ack")? };
        // SAFETY: per the contract.
        let p = unsafe { payload(format, data, len)? };
        a.responder.send(p).map_err(|e| {
            let code = match &e {
                core::RespondError::AlreadyAnswered => roomcast_result::AlreadyAnswered,
                core::RespondError::Closed => roomcast_result::Closed,
                core::RespondError::Payload(e) => crate::error::payload_code(e),
            };
            Error::new(code, e.to_string())
        })
    })
}
