//! What hosts drain from an outbox.

use crate::sync::{fence, AtomicU64, AtomicUsize, Ordering};
use std::borrow::Cow;
use std::ffi::CStr;
use std::fmt;
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::payload::Payload;

/// Why a socket (or a whole connection) was disconnected. The strings are
/// Socket.IO's reason strings, plus `queue overflow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The server disconnected the socket (`socket.disconnect()`).
    ServerNamespaceDisconnect,
    /// The client left the namespace.
    ClientNamespaceDisconnect,
    /// The server is shutting down.
    ServerShuttingDown,
    /// The client stopped answering heartbeats.
    PingTimeout,
    /// The transport closed (the client went away).
    TransportClose,
    /// The transport failed.
    TransportError,
    /// The client sent something that could not be parsed.
    ParseError,
    /// The server closed the whole connection.
    ForcedServerClose,
    /// The connection's outbox overflowed under the `disconnect` policy.
    QueueOverflow,
    /// A socket kept for connection state recovery was not resumed within
    /// `max_disconnection_duration` (or could not be: see `recovery`); its
    /// final disconnect.
    RecoveryExpired,
}

impl DisconnectReason {
    /// Socket.IO's reason string (`"transport close"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerShuttingDown => "server shutting down",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedServerClose => "forced server close",
            DisconnectReason::QueueOverflow => "queue overflow",
            DisconnectReason::RecoveryExpired => "recovery expired",
        }
    }

    /// Every reason.
    pub const ALL: [DisconnectReason; 10] = [
        DisconnectReason::ServerNamespaceDisconnect,
        DisconnectReason::ClientNamespaceDisconnect,
        DisconnectReason::ServerShuttingDown,
        DisconnectReason::PingTimeout,
        DisconnectReason::TransportClose,
        DisconnectReason::TransportError,
        DisconnectReason::ParseError,
        DisconnectReason::ForcedServerClose,
        DisconnectReason::QueueOverflow,
        DisconnectReason::RecoveryExpired,
    ];

    /// [`as_str`](Self::as_str) as a static NUL-terminated string, for C.
    pub fn as_c_str(self) -> &'static CStr {
        match self {
            DisconnectReason::ServerNamespaceDisconnect => c"server namespace disconnect",
            DisconnectReason::ClientNamespaceDisconnect => c"client namespace disconnect",
            DisconnectReason::ServerShuttingDown => c"server shutting down",
            DisconnectReason::PingTimeout => c"ping timeout",
            DisconnectReason::TransportClose => c"transport close",
            DisconnectReason::TransportError => c"transport error",
            DisconnectReason::ParseError => c"parse error",
            DisconnectReason::ForcedServerClose => c"forced server close",
            DisconnectReason::QueueOverflow => c"queue overflow",
            DisconnectReason::RecoveryExpired => c"recovery expired",
        }
    }

    /// Parses a reason string; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Self> {
        DisconnectReason::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// True for the unexpected ends of a connection (`transport close`,
    /// `transport error`, `ping timeout`): with connection state recovery
    /// on, they keep the socket for a resume instead of ending it. Client
    /// and server disconnects are final.
    pub fn is_recoverable(self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportClose | DisconnectReason::TransportError | DisconnectReason::PingTimeout
        )
    }

    /// True when the server decided the disconnect, so the client must be
    /// told (the outbox gets a [`MessageKind::Disconnect`] notice).
    pub fn is_server_side(self) -> bool {
        matches!(
            self,
            DisconnectReason::ServerNamespaceDisconnect
                | DisconnectReason::ServerShuttingDown
                | DisconnectReason::ForcedServerClose
        )
    }

    /// True when a connection closed for this reason was closed by the
    /// server, so the transport ends with a close packet telling the
    /// client: the server-side reasons, and a queue overflow (the engine
    /// closes the connection; no per-socket notice is queued for it, the
    /// outbox being full).
    pub fn sends_close_packet(self) -> bool {
        self.is_server_side() || self == DisconnectReason::QueueOverflow
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of a [`Message`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// An event for the client: namespace, event name, payload, optional ack id.
    Event,
    /// The server's reply to an event the client sent with an ack id.
    Ack,
    /// The server disconnected the socket in that namespace.
    Disconnect,
    /// Messages were lost to the `drop_oldest` policy just before this point.
    Lagged,
}

/// Event names up to this many bytes are stored inline in the message.
const INLINE: usize = 30;

/// An event name stored without a separate allocation when short.
#[derive(Clone)]
enum Name {
    Inline { len: u8, buf: [u8; INLINE] },
    Heap(Box<str>),
}

impl Name {
    fn new(s: &str) -> Name {
        if s.len() <= INLINE {
            let mut buf = [0u8; INLINE];
            buf[..s.len()].copy_from_slice(s.as_bytes());
            Name::Inline { len: s.len() as u8, buf }
        } else {
            Name::Heap(s.into())
        }
    }
    fn len(&self) -> usize {
        match self {
            Name::Inline { len, .. } => *len as usize,
            Name::Heap(s) => s.len(),
        }
    }
    fn as_str(&self) -> &str {
        match self {
            // The buffer holds a copy of a `&str` prefix of `len` bytes.
            Name::Inline { len, buf } => std::str::from_utf8(&buf[..*len as usize]).unwrap_or_default(),
            Name::Heap(s) => s,
        }
    }
}

enum Body {
    Event { namespace: Arc<str>, event: Name, payload: Payload, ack_id: Option<u64> },
    Ack { namespace: Arc<str>, ack_id: u64, payload: Payload },
    Disconnect { namespace: Arc<str>, reason: DisconnectReason },
    Lagged { count: u64 },
}

/// The function that produced a message's cached encoding.
#[derive(Clone, Copy)]
struct Encoder(fn(&Message) -> Bytes);

impl PartialEq for Encoder {
    fn eq(&self, other: &Self) -> bool {
        // Compared by address: the same function always matches itself; two
        // functions merged into one address are the same code.
        std::ptr::fn_addr_eq(self.0, other.0)
    }
}

struct Inner {
    /// Strong references (see `Message`'s `Clone`/`Drop` and `Prepaid`).
    refs: AtomicUsize,
    body: Body,
    /// Bytes counted against `max_queue_bytes`, computed once.
    cost: usize,
    /// A transport's encoding of this message, computed once and shared by
    /// every recipient, with the encoder that made it (see `encoded_with`).
    encoded: OnceLock<(Encoder, Bytes)>,
    /// The recovery offset (0: none), set once by the namespace's recovery
    /// log before the message reaches any outbox (see `recovery`).
    offset: AtomicU64,
}

/// One outbound message. Cloning is a reference-count increment: every
/// recipient of an emit holds the same message.
///
/// The reference count is the engine's own rather than an `Arc`'s so that a
/// fan-out can take references in bulk: one atomic add per 64
/// recipients instead of one per recipient.
pub struct Message {
    ptr: NonNull<Inner>,
}

// SAFETY: `Message` is a shared reference to an immutable `Inner` (its only
// interior mutability is the atomic count and a `OnceLock`, both Sync), freed
// by whichever handle drops the count to zero — the `Arc` contract, so the
// same bounds apply: `Inner: Send + Sync`.
unsafe impl Send for Message {}
// SAFETY: as above.
unsafe impl Sync for Message {}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Body>();
    assert_send_sync::<OnceLock<(Encoder, Bytes)>>();
};

/// Above this count something leaks references; abort like `Arc` does
/// rather than risk an overflow to zero.
const MAX_REFS: usize = isize::MAX as usize;

impl Clone for Message {
    #[inline]
    fn clone(&self) -> Message {
        // Relaxed: a new reference can only be made from an existing one, so
        // the object is alive; no data is published by the increment.
        if self.inner().refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        Message { ptr: self.ptr }
    }
}

impl Drop for Message {
    #[inline]
    fn drop(&mut self) {
        // Release: this handle's uses of the message happen before the free.
        if self.inner().refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Acquire: every other handle's release above happens before the free.
        fence(Ordering::Acquire);
        // SAFETY: the count reached zero, so this was the last handle; `ptr`
        // came from `Box::into_raw` in `from_body` and is freed exactly once.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

/// References to one message taken in bulk for a fan-out: each `take` hands
/// out a reference without touching the shared count (it refills 64 at a
/// time); the unused ones are returned on drop.
pub(crate) struct Prepaid<'m> {
    msg: &'m Message,
    left: usize,
}

const PREPAY_CHUNK: usize = 64;

impl<'m> Prepaid<'m> {
    pub(crate) fn new(msg: &'m Message) -> Prepaid<'m> {
        Prepaid { msg, left: 0 }
    }

    /// The message.
    #[inline]
    pub(crate) fn message(&self) -> &'m Message {
        self.msg
    }

    /// One reference to the message.
    #[inline]
    pub(crate) fn take(&mut self) -> Message {
        if self.left == 0 {
            // Relaxed, as in `clone`.
            if self.msg.inner().refs.fetch_add(PREPAY_CHUNK, Ordering::Relaxed) > MAX_REFS {
                std::process::abort();
            }
            self.left = PREPAY_CHUNK;
        }
        self.left -= 1;
        // The reference handed out is one of those counted above.
        Message { ptr: self.msg.ptr }
    }
}

impl Drop for Prepaid<'_> {
    fn drop(&mut self) {
        if self.left > 0 {
            // Cannot reach zero: `self.msg` is a live handle holding its own
            // reference. Release, as in `Message::drop`.
            self.msg.inner().refs.fetch_sub(self.left, Ordering::Release);
        }
    }
}

impl Message {
    fn from_body(body: Body) -> Message {
        let cost = match &body {
            Body::Event { event, payload, .. } => payload.len() + event.len(),
            Body::Ack { payload, .. } => payload.len(),
            Body::Disconnect { .. } | Body::Lagged { .. } => 0,
        };
        let inner = Box::new(Inner {
            refs: AtomicUsize::new(1),
            body,
            cost,
            encoded: OnceLock::new(),
            offset: AtomicU64::new(0),
        });
        Message { ptr: NonNull::from(Box::leak(inner)) }
    }

    #[inline]
    fn inner(&self) -> &Inner {
        // SAFETY: `ptr` is valid while any handle exists (the count is at
        // least one for `self`), and `Inner` is never mutated through it.
        unsafe { self.ptr.as_ref() }
    }

    /// An event message (built once per emit).
    pub fn event(namespace: Arc<str>, event: &str, payload: Payload, ack_id: Option<u64>) -> Message {
        Message::from_body(Body::Event { namespace, event: Name::new(event), payload, ack_id })
    }

    /// An ack reply to the client.
    pub fn ack(namespace: Arc<str>, ack_id: u64, payload: Payload) -> Message {
        Message::from_body(Body::Ack { namespace, ack_id, payload })
    }

    /// A namespace disconnect notice.
    pub fn disconnect(namespace: Arc<str>, reason: DisconnectReason) -> Message {
        Message::from_body(Body::Disconnect { namespace, reason })
    }

    /// A "lagged by `count`" notice.
    pub fn lagged(count: u64) -> Message {
        Message::from_body(Body::Lagged { count })
    }

    /// Which kind of message this is.
    pub fn kind(&self) -> MessageKind {
        match &self.inner().body {
            Body::Event { .. } => MessageKind::Event,
            Body::Ack { .. } => MessageKind::Ack,
            Body::Disconnect { .. } => MessageKind::Disconnect,
            Body::Lagged { .. } => MessageKind::Lagged,
        }
    }

    /// The namespace it belongs to (`None` for a lagged notice, which
    /// concerns the whole connection).
    pub fn namespace(&self) -> Option<&str> {
        match &self.inner().body {
            Body::Event { namespace, .. } | Body::Ack { namespace, .. } | Body::Disconnect { namespace, .. } => {
                Some(namespace)
            }
            Body::Lagged { .. } => None,
        }
    }

    /// The event name of an event message.
    pub fn event_name(&self) -> Option<&str> {
        match &self.inner().body {
            Body::Event { event, .. } => Some(event.as_str()),
            _ => None,
        }
    }

    /// The payload of an event or ack message.
    pub fn payload(&self) -> Option<&Payload> {
        match &self.inner().body {
            Body::Event { payload, .. } | Body::Ack { payload, .. } => Some(payload),
            _ => None,
        }
    }

    /// The ack id: the id the client must answer (event) or the id being
    /// answered (ack).
    pub fn ack_id(&self) -> Option<u64> {
        match &self.inner().body {
            Body::Event { ack_id, .. } => *ack_id,
            Body::Ack { ack_id, .. } => Some(*ack_id),
            _ => None,
        }
    }

    /// The recovery offset of an event: set when the namespace has
    /// connection state recovery on and the event is kept for sockets that
    /// drop (no ack id, not volatile). A transport hands it to the client
    /// with the event (Socket.IO: as the last argument, a string); the
    /// client presents the last one it saw when it reconnects
    /// (`Handshake::resume`). Offsets increase by one per kept event of a
    /// namespace, in the order every connection receives them.
    pub fn offset(&self) -> Option<u64> {
        // Relaxed: set before the message is pushed into any outbox; the
        // outbox's lock publishes it to whoever drains the message.
        match self.inner().offset.load(Ordering::Relaxed) {
            0 => None,
            o => Some(o),
        }
    }

    /// Sets the offset once (0 is not an offset); false if one was set.
    pub(crate) fn set_offset(&self, offset: u64) -> bool {
        // Relaxed: see `offset`; the compare-exchange only makes a second
        // logging of the same message (a host delivering it twice) a no-op.
        offset != 0 && self.inner().offset.compare_exchange(0, offset, Ordering::Relaxed, Ordering::Relaxed).is_ok()
    }

    /// The reason of a disconnect notice.
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match &self.inner().body {
            Body::Disconnect { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// How many messages a lagged notice reports lost.
    pub fn lagged_count(&self) -> Option<u64> {
        match &self.inner().body {
            Body::Lagged { count } => Some(*count),
            _ => None,
        }
    }

    /// True when both handles are the same shared message.
    pub fn ptr_eq(a: &Message, b: &Message) -> bool {
        a.ptr == b.ptr
    }

    /// Turns the message into an opaque pointer that keeps its reference,
    /// for handing the shared message itself across an FFI boundary (no
    /// copy, no extra allocation). Give it back exactly once with
    /// [`Message::from_raw`], or the message leaks.
    pub fn into_raw(self) -> *const () {
        let p = self.ptr.as_ptr().cast_const().cast::<()>();
        std::mem::forget(self);
        p
    }

    /// Takes back a message from [`Message::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`Message::into_raw`] and each pointer returned
    /// by it must be taken back at most once; to borrow without taking the
    /// reference back, wrap the result in [`std::mem::ManuallyDrop`].
    pub unsafe fn from_raw(ptr: *const ()) -> Message {
        // SAFETY: per the contract `ptr` is a non-NULL `Inner` pointer from
        // `into_raw`, which still owns one reference.
        Message { ptr: unsafe { NonNull::new_unchecked(ptr.cast::<Inner>().cast_mut()) } }
    }

    /// The transport's wire encoding of this message, computed by `encode`
    /// the first time any recipient asks and shared afterwards, so a
    /// broadcast is encoded once, not once per recipient.
    ///
    /// The cache belongs to one encoder: the first `encode` to run keys
    /// it. Another encoder (a second transport serving the same engine)
    /// never gets those bytes: its encoding is computed on each call and
    /// returned owned. An encoder is a function, not a closure, so that it
    /// can be compared: two different functions may share an address only
    /// when they are the same code, which then encodes alike.
    pub fn encoded_with(&self, encode: fn(&Message) -> Bytes) -> Cow<'_, Bytes> {
        let key = Encoder(encode);
        let (by, bytes) = self.inner().encoded.get_or_init(|| (key, encode(self)));
        if *by == key {
            Cow::Borrowed(bytes)
        } else {
            Cow::Owned(encode(self))
        }
    }

    /// Control messages (ack replies, disconnect notices): never dropped by
    /// an overflow policy, queued apart from data (see the `queue` module docs).
    pub(crate) fn is_control(&self) -> bool {
        matches!(self.inner().body, Body::Ack { .. } | Body::Disconnect { .. })
    }

    /// Bytes this message counts against an outbox's `max_queue_bytes`.
    #[inline]
    pub(crate) fn cost(&self) -> usize {
        self.inner().cost
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner().body {
            Body::Event { namespace, event, payload, ack_id } => f
                .debug_struct("Event")
                .field("namespace", namespace)
                .field("event", &event.as_str())
                .field("payload", payload)
                .field("ack_id", ack_id)
                .finish(),
            Body::Ack { namespace, ack_id, payload } => f
                .debug_struct("Ack")
                .field("namespace", namespace)
                .field("ack_id", ack_id)
                .field("payload", payload)
                .finish(),
            Body::Disconnect { namespace, reason } => {
                f.debug_struct("Disconnect").field("namespace", namespace).field("reason", reason).finish()
            }
            Body::Lagged { count } => f.debug_struct("Lagged").field("count", count).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn reason_strings_round_trip_and_match_their_c_strings() {
        for r in DisconnectReason::ALL {
            assert_eq!(DisconnectReason::parse(r.as_str()), Some(r));
            assert_eq!(r.as_c_str().to_str(), Ok(r.as_str()));
        }
        assert_eq!(DisconnectReason::parse("nope"), None);
    }

    #[test]
    fn a_close_packet_goes_with_server_side_reasons_and_overflow_only() {
        use DisconnectReason::*;
        for r in DisconnectReason::ALL {
            assert_eq!(r.sends_close_packet(), r.is_server_side() || r == QueueOverflow, "{r}");
        }
        assert!(QueueOverflow.sends_close_packet() && !QueueOverflow.is_server_side());
        assert!(!TransportClose.sends_close_packet());
    }

    /// A payload owner that records when the message's last reference went.
    struct Owner(Arc<AtomicBool>, Vec<u8>);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            &self.1
        }
    }
    impl Drop for Owner {
        fn drop(&mut self) {
            assert!(!self.0.swap(true, Ordering::SeqCst), "freed twice");
        }
    }

    fn tracked() -> (Message, Arc<AtomicBool>) {
        let freed = Arc::new(AtomicBool::new(false));
        let payload = Payload::binary(Bytes::from_owner(Owner(freed.clone(), vec![1, 2, 3])));
        (Message::event(Arc::from("/"), "e", payload, None), freed)
    }

    fn refs(m: &Message) -> usize {
        m.inner().refs.load(Ordering::SeqCst)
    }

    #[test]
    fn prepaid_returns_what_it_did_not_hand_out() {
        let (m, freed) = tracked();
        let mut taken = Vec::new();
        {
            let mut p = Prepaid::new(&m);
            for _ in 0..(PREPAY_CHUNK + 3) {
                taken.push(p.take());
            }
            assert_eq!(refs(&m), 1 + 2 * PREPAY_CHUNK, "two chunks reserved");
        }
        assert_eq!(refs(&m), 1 + PREPAY_CHUNK + 3, "unused references returned");
        assert!(taken.iter().all(|t| Message::ptr_eq(t, &m)));
        drop(taken);
        assert_eq!(refs(&m), 1);
        assert!(!freed.load(Ordering::SeqCst));
        drop(m);
        assert!(freed.load(Ordering::SeqCst), "last reference frees the message");
    }

    #[test]
    fn raw_round_trip_keeps_one_reference() {
        let (m, freed) = tracked();
        let other = m.clone();
        let raw = other.into_raw();
        assert_eq!(refs(&m), 2, "the raw pointer holds its reference");
        {
            // SAFETY: `raw` came from `into_raw`; ManuallyDrop only borrows.
            let borrowed = std::mem::ManuallyDrop::new(unsafe { Message::from_raw(raw) });
            assert!(Message::ptr_eq(&borrowed, &m));
            assert_eq!(borrowed.event_name(), Some("e"));
        }
        assert_eq!(refs(&m), 2, "a borrow changes nothing");
        drop(m);
        assert!(!freed.load(Ordering::SeqCst));
        // SAFETY: taken back exactly once.
        drop(unsafe { Message::from_raw(raw) });
        assert!(freed.load(Ordering::SeqCst), "the last reference, taken back, frees the message");
    }

    #[test]
    fn clones_across_threads_free_exactly_once() {
        for _ in 0..50 {
            let (m, freed) = tracked();
            let threads: Vec<_> = (0..4)
                .map(|_| {
                    let mut mine = Vec::new();
                    let mut p = Prepaid::new(&m);
                    for _ in 0..100 {
                        mine.push(p.take());
                    }
                    drop(p);
                    std::thread::spawn(move || {
                        let extra: Vec<Message> = mine.iter().map(Clone::clone).collect();
                        drop(mine);
                        drop(extra);
                    })
                })
                .collect();
            drop(m);
            for t in threads {
                t.join().unwrap();
            }
            assert!(freed.load(Ordering::SeqCst));
        }
    }
}

/// Models of the message reference count, explored by loom
/// (`scripts/loom.sh`).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::cell::UnsafeCell;
    use loom::sync::Arc;
    use std::sync::atomic::AtomicUsize as StdCount;

    /// The payload's owner: freed with the message. Its drop writes a
    /// loom-tracked cell that every handle reads before letting go, so loom
    /// fails the model if any use of a handle is not ordered before the free;
    /// it also counts frees.
    struct Owner {
        seen: Arc<Seen>,
        frees: std::sync::Arc<StdCount>,
    }

    /// A loom-tracked cell shared by the model's threads; loom checks every
    /// access to it, which is the point.
    struct Seen(UnsafeCell<u32>);
    // SAFETY: test-only; loom reports any unordered access to the cell.
    unsafe impl Sync for Seen {}

    impl Seen {
        fn read(&self) -> u32 {
            // SAFETY: loom checks this read against every write.
            self.0.with(|p| unsafe { *p })
        }
    }

    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            b"payload"
        }
    }

    impl Drop for Owner {
        fn drop(&mut self) {
            // SAFETY: loom checks this write against every read.
            self.seen.0.with_mut(|p| unsafe { *p += 1 });
            self.frees.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn tracked() -> (Message, Arc<Seen>, std::sync::Arc<StdCount>) {
        let seen = Arc::new(Seen(UnsafeCell::new(0)));
        let frees = std::sync::Arc::new(StdCount::new(0));
        let owner = Owner { seen: seen.clone(), frees: frees.clone() };
        let m = Message::event("/".into(), "e", Payload::binary(Bytes::from_owner(owner)), None);
        (m, seen, frees)
    }

    /// A fan-out's bulk references (`Prepaid`: one add for many handles,
    /// the unused ones returned in one subtraction) racing the drop of the
    /// emitter's handle: the message is freed exactly once, after every
    /// handle's last use.
    #[test]
    fn prepaid_drop_racing_the_last_message_drop() {
        loom::model(|| {
            let (m, seen, frees) = tracked();
            let fan = m.clone();
            let t = {
                let seen = seen.clone();
                loom::thread::spawn(move || {
                    let mut refs = Prepaid::new(&fan);
                    let a = refs.take();
                    let b = refs.take();
                    drop(refs);
                    assert_eq!(seen.read(), 0);
                    drop(a);
                    drop(fan);
                    assert_eq!(seen.read(), 0);
                    drop(b);
                })
            };
            assert_eq!(seen.read(), 0);
            drop(m);
            t.join().unwrap();
            assert_eq!(frees.load(std::sync::atomic::Ordering::SeqCst), 1);
        });
    }
}
