//! Result codes and the thread-local last-error detail.

use std::cell::RefCell;
use std::ffi::c_char;

use roomcast_core as core;

/// A `roomcast_result` as it crosses the C boundary: any `u32` (Rust checks it
/// where it reads one; a parameter of the enum type would make an unknown
/// value undefined behaviour). The header spells it `roomcast_result`.
pub type roomcast_result_value = u32;

/// The outcome of every fallible roomcast call. `ROOMCAST_RESULT_OK` is 0;
/// every other value is an error. Values are explicit and never reused or
/// renumbered; new codes are only ever added.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum roomcast_result {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullParameter = 1,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 2,
    /// A namespace, room or event name is invalid (empty, too long, bad
    /// character, reserved, namespace without a leading `/`).
    InvalidName = 3,
    /// A payload is larger than the configured `max_payload`.
    PayloadTooLarge = 4,
    /// A payload does not match its format (text not UTF-8, json not one
    /// JSON value).
    InvalidPayload = 5,
    /// Joining would exceed `max_rooms_per_socket`.
    TooManyRooms = 6,
    /// The connection or socket is closed / disconnected.
    Closed = 7,
    /// Nothing arrived before the timeout.
    Timeout = 8,
    /// Nothing is queued right now.
    Empty = 9,
    /// The namespace connect was refused (unknown namespace or middleware);
    /// the refusal message is in the last-error detail.
    Refused = 10,
    /// An invalid configuration key or value.
    InvalidConfig = 11,
    /// The connection already has a socket in that namespace.
    AlreadyJoined = 12,
    /// A socket cannot leave the room named by its own id.
    OwnRoom = 13,
    /// An argument is out of range (unknown format value, unknown
    /// disconnect reason string, ...).
    InvalidArgument = 14,
    /// The message has no such field (for example the event name of a
    /// lagged notice).
    NoValue = 15,
    /// An internal panic was caught at the boundary; the call had no effect
    /// that can be relied upon. Please report it.
    Panic = 16,
    /// The engine could not complete the operation (for example the ack
    /// timer thread could not be started).
    Internal = 17,
    /// The inbound event was already acknowledged.
    AlreadyAnswered = 18,
    /// The recipient's outbox refused the ack emit (full or closing), so it
    /// never saw it.
    NotDelivered = 19,
    /// The ack emit selected no socket.
    NoRecipients = 20,
    /// A client ack reply matched no pending acknowledgement (late,
    /// unknown or duplicate); ignoring this is always safe.
    Ignored = 21,
    /// The cluster's bus (Redis) cannot be reached: only this node's part
    /// of a cluster operation was done; the detail says how many other
    /// nodes were missed.
    ClusterUnavailable = 22,
    /// The engine was shut down (`roomcast_engine_shutdown`): it admits no
    /// socket and creates no namespace.
    ShutDown = 23,
}

/// An error crossing the boundary: a code plus a detail for
/// `roomcast_last_error`.
#[derive(Debug)]
pub(crate) struct Error {
    pub(crate) code: roomcast_result,
    pub(crate) detail: String,
}

impl Error {
    pub(crate) fn new(code: roomcast_result, detail: impl Into<String>) -> Self {
        Error { code, detail: detail.into() }
    }
}

pub(crate) type Result<T> = std::result::Result<T, Error>;

macro_rules! map_errors {
    ($($ty:ty => |$e:ident| $code:expr;)*) => {$(
        impl From<$ty> for Error {
            fn from($e: $ty) -> Self {
                let detail = $e.to_string();
                Error { code: $code, detail }
            }
        }
    )*};
}

pub(crate) fn payload_code(e: &core::PayloadError) -> roomcast_result {
    match e {
        core::PayloadError::TooLarge { .. } => roomcast_result::PayloadTooLarge,
        _ => roomcast_result::InvalidPayload,
    }
}

map_errors! {
    core::NameError => |e| roomcast_result::InvalidName;
    core::NamespaceError => |e| match &e {
        core::NamespaceError::InvalidName(_) => roomcast_result::InvalidName,
        core::NamespaceError::ShutDown(_) => roomcast_result::ShutDown,
    };
    core::ConfigError => |e| roomcast_result::InvalidConfig;
    core::PayloadError => |e| payload_code(&e);
    core::JoinError => |e| match &e {
        core::JoinError::InvalidName(_) => roomcast_result::InvalidName,
        core::JoinError::ConnectionClosed => roomcast_result::Closed,
        core::JoinError::AlreadyJoined(_) => roomcast_result::AlreadyJoined,
        core::JoinError::Refused(_) => roomcast_result::Refused,
        core::JoinError::Payload(p) => payload_code(p),
        core::JoinError::ShutDown => roomcast_result::ShutDown,
        core::JoinError::NoRandomness(_) => roomcast_result::Internal,
    };
    core::RoomError => |e| match &e {
        core::RoomError::InvalidName(_) => roomcast_result::InvalidName,
        core::RoomError::TooManyRooms { .. } => roomcast_result::TooManyRooms,
        core::RoomError::Closed => roomcast_result::Closed,
        core::RoomError::OwnRoom => roomcast_result::OwnRoom,
    };
    core::EmitError => |e| match &e {
        core::EmitError::InvalidName(_) => roomcast_result::InvalidName,
        core::EmitError::Payload(p) => payload_code(p),
        core::EmitError::Closed => roomcast_result::Closed,
        core::EmitError::AckOnParent => roomcast_result::InvalidArgument,
        core::EmitError::TimerUnavailable(_) => roomcast_result::Internal,
    };
    core::TryRecvError => |e| match &e {
        core::TryRecvError::Empty => roomcast_result::Empty,
        core::TryRecvError::Closed => roomcast_result::Closed,
    };
    core::RecvTimeoutError => |e| match &e {
        core::RecvTimeoutError::Timeout => roomcast_result::Timeout,
        core::RecvTimeoutError::Closed => roomcast_result::Closed,
    };
    core::RecvError => |e| roomcast_result::Closed;
}

thread_local! {
    static LAST_ERROR: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Records the detail of the error this thread just returned.
pub(crate) fn set_last_error(detail: &str) {
    // A failure here (thread-local being torn down) only loses the detail.
    let _ = LAST_ERROR.try_with(|cell| {
        if let Ok(mut s) = cell.try_borrow_mut() {
            s.clear();
            s.push_str(detail);
        }
    });
}

/// The static text of a code, NUL-terminated.
pub(crate) fn message_of(code: u32) -> &'static std::ffi::CStr {
    use roomcast_result as R;
    let all = [
        (R::Ok, c"success"),
        (R::NullParameter, c"a required pointer argument was NULL"),
        (R::InvalidUtf8, c"a string argument is not valid UTF-8"),
        (R::InvalidName, c"invalid namespace, room or event name"),
        (R::PayloadTooLarge, c"payload larger than max_payload"),
        (R::InvalidPayload, c"payload does not match its format"),
        (R::TooManyRooms, c"socket is already in max_rooms_per_socket rooms"),
        (R::Closed, c"the connection or socket is closed"),
        (R::Timeout, c"timed out"),
        (R::Empty, c"nothing queued"),
        (R::Refused, c"namespace connect refused"),
        (R::InvalidConfig, c"invalid configuration"),
        (R::AlreadyJoined, c"the connection already has a socket in that namespace"),
        (R::OwnRoom, c"a socket cannot leave its own-id room"),
        (R::InvalidArgument, c"invalid argument"),
        (R::NoValue, c"the message has no such field"),
        (R::Panic, c"internal panic caught at the FFI boundary"),
        (R::Internal, c"internal engine error"),
        (R::AlreadyAnswered, c"the event was already acknowledged"),
        (R::NotDelivered, c"the message was not delivered (outbox full or closed)"),
        (R::NoRecipients, c"the emit had no recipients"),
        (R::Ignored, c"no pending acknowledgement with that id"),
        (R::ClusterUnavailable, c"the cluster bus is unavailable"),
        (R::ShutDown, c"the engine is shut down"),
    ];
    all.iter().find(|(r, _)| *r as u32 == code).map(|(_, m)| *m).unwrap_or(c"unknown result code")
}

/// Returns the static, NUL-terminated text for a result code (any value;
/// unknown values give "unknown result code"). Never NULL; the string lives
/// for the whole program. Thread-safe.
#[no_mangle]
pub extern "C" fn roomcast_result_message(code: roomcast_result_value) -> *const c_char {
    message_of(code).as_ptr()
}

/// Copies the detail of the last error returned **on the calling thread**
/// into `buf` (at most `cap - 1` bytes plus a terminating NUL, like
/// `snprintf`) and returns the full length of the detail in bytes (0 when no
/// error happened yet on this thread). `buf` may be NULL when `cap` is 0, to
/// ask for the length. The detail is overwritten by the next failing call on
/// the same thread; successful calls leave it alone.
///
/// # Safety
///
/// `buf` must be NULL or point to at least `cap` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_last_error(buf: *mut c_char, cap: usize) -> usize {
    crate::panic::guard_value(0, || {
        let detail = LAST_ERROR.try_with(|c| c.try_borrow().map(|s| s.clone()).unwrap_or_default()).unwrap_or_default();
        if !buf.is_null() && cap > 0 {
            let n = detail.len().min(cap - 1);
            // SAFETY: the caller guarantees `buf` holds `cap` bytes and `n < cap`;
            // `detail` is a separate Rust allocation, so the ranges do not overlap.
            unsafe {
                std::ptr::copy_nonoverlapping(detail.as_ptr().cast::<c_char>(), buf, n);
                *buf.add(n) = 0;
            }
        }
        detail.len()
    })
}
