//! Handlers, middleware and lifecycle callbacks (namespace hooks), inbound
//! dispatch and ack responders. Every callback runs through core's hook
//! machinery, so it is never called while an engine lock is held.

use std::ffi::{c_char, c_int, c_void};

use roomcast_core as core;

use crate::engine::roomcast_namespace;
use crate::error::Error;
use crate::panic::{guard, handle, out, string, write, write_opt};
use crate::payload::{format_to, payload};
use crate::roomcast_result;
use crate::socket::roomcast_socket;

/// Answers one inbound event that asked for an acknowledgement (core's
/// `AckResponder`). Borrowed: only valid during the event callback that
/// received it; never freed by the caller.
pub struct roomcast_ack {
    responder: core::AckResponder,
}

/// The handshake of a connecting client (core's `Handshake`). Borrowed:
/// only valid during the middleware callback that received it.
pub struct roomcast_handshake {
    hs: core::Handshake,
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

/// An event handler. `socket` is borrowed for the call (clone nothing: use
/// it only inside the callback); `event` is not NUL-terminated
/// (`event_len` bytes); `data`/`len`/`format` view the payload for the call;
/// `ack` is NULL unless the client asked for an acknowledgement. Return 0
/// for success; any other value is reported as a handler failure (the
/// engine carries on).
pub type roomcast_event_callback = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        socket: *const roomcast_socket,
        event: *const c_char,
        event_len: usize,
        format: u32,
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

#[derive(Clone, Copy)]
struct UserData(*mut c_void);
// SAFETY: the header requires userdata to be usable from any thread; the
// binding only hands it back to the caller's own callback.
unsafe impl Send for UserData {}
// SAFETY: as above; never dereferenced here.
unsafe impl Sync for UserData {}

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

/// Registers `callback` for inbound events named `event` in `ns`.
///
/// **Thread:** it runs on the thread calling `roomcast_socket_dispatch`,
/// with no engine lock held, so it may call any roomcast function (emit,
/// join, disconnect, ...). `userdata` must be usable from any thread and
/// stay valid as long as the engine lives (handlers cannot be removed one
/// by one yet).
///
/// # Safety
///
/// `ns` must be NULL or live; `event` NULL or NUL-terminated; `callback`
/// safe to call with `userdata` from any thread.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on(
    ns: *const roomcast_namespace,
    event: *const c_char,
    callback: roomcast_event_callback,
    userdata: *mut c_void,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData(userdata);
        ns.ns.on(event, move |socket, inbound, ack| {
            let ud = &ud;
            let s = roomcast_socket { socket: socket.clone() };
            let a = ack.map(|responder| roomcast_ack { responder });
            let name = inbound.name();
            let p = inbound.payload();
            let ack_ptr = a.as_ref().map_or(std::ptr::null(), |a| a as *const roomcast_ack);
            // SAFETY: the caller promised `cb` is callable with `userdata`
            // from any thread; every pointer passed lives for the call.
            let rc = unsafe {
                cb(
                    ud.0,
                    &s,
                    name.as_ptr().cast(),
                    name.len(),
                    format_to(p.format()) as u32,
                    p.as_bytes().as_ptr(),
                    p.len(),
                    ack_ptr,
                )
            };
            handler_result(rc)
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
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData(userdata);
        ns.ns.use_middleware(move |hs| {
            let ud = &ud;
            let h = roomcast_handshake { hs: hs.clone() };
            let mut refusal = roomcast_refusal { error: None };
            // SAFETY: as in `roomcast_namespace_on`.
            let rc = unsafe { cb(ud.0, &h, &mut refusal) };
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
    format: u32,
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

/// Writes a view of the handshake's auth payload (borrowed for the
/// middleware call) and its format. `ROOMCAST_RESULT_NO_VALUE` when the
/// client sent none.
///
/// # Safety
///
/// `handshake` must be NULL or the pointer the callback received;
/// `data_out`, `len_out` valid for writes; `format_out` NULL or valid.
#[no_mangle]
pub unsafe extern "C" fn roomcast_handshake_auth(
    handshake: *const roomcast_handshake,
    data_out: *mut *const u8,
    len_out: *mut usize,
    format_out: *mut u32,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let h = unsafe { handle(handshake, "handshake")? };
        out(data_out, "data_out")?;
        out(len_out, "len_out")?;
        let p =
            h.hs.auth_payload()
                .ok_or_else(|| Error::new(roomcast_result::NoValue, "the handshake has no auth payload"))?;
        // SAFETY: checked non-NULL above; `format_out` NULL or valid.
        unsafe {
            write(data_out, p.as_bytes().as_ptr());
            write(len_out, p.len());
            write_opt(format_out, format_to(p.format()) as u32);
        }
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
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData(userdata);
        ns.ns.on_connection(move |socket| {
            let ud = &ud;
            let s = roomcast_socket { socket: socket.clone() };
            // SAFETY: as in `roomcast_namespace_on`.
            handler_result(unsafe { cb(ud.0, &s) })
        });
        Ok(())
    })
}

/// Registers `callback` for every socket of `ns` that disconnects, run once
/// it has left every room, on the thread that caused the disconnect (the
/// closer, or an emitter under the `disconnect` overflow policy), with no
/// engine lock held.
///
/// # Safety
///
/// As `roomcast_namespace_on`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_on_disconnect(
    ns: *const roomcast_namespace,
    callback: roomcast_disconnect_callback,
    userdata: *mut c_void,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        let cb = callback.ok_or_else(missing_callback)?;
        let ud = UserData(userdata);
        ns.ns.on_disconnect(move |socket, reason| {
            let ud = &ud;
            let s = roomcast_socket { socket: socket.clone() };
            let r = crate::static_cstr(reason.as_str()).unwrap_or(c"".as_ptr());
            // SAFETY: as in `roomcast_namespace_on`.
            unsafe { cb(ud.0, &s, r) }
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
    format: u32,
    data: *const u8,
    len: usize,
    has_ack: bool,
    ack_id: u64,
    outcome_out: *mut u32,
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
                core::DispatchError::Payload(core::PayloadError::TooLarge { .. }) => roomcast_result::PayloadTooLarge,
                core::DispatchError::Payload(_) => roomcast_result::InvalidPayload,
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
    format: u32,
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
                core::RespondError::PayloadTooLarge { .. } => roomcast_result::PayloadTooLarge,
            };
            Error::new(code, e.to_string())
        })
    })
}
