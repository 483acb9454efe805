//! The wire format of everything a node publishes: a two-byte magic, a
//! version byte, then one postcard-encoded [`Envelope`]. Anything else on
//! the channels (a foreign publisher, a truncated message, a newer
//! version) fails [`decode`] and is counted, never trusted.

use bytes::Bytes;
use roomcast::{Format, Payload, Selector};
use serde::{Deserialize, Serialize};

/// First bytes of every message.
pub(crate) const MAGIC: [u8; 2] = *b"RC";
/// Format version; a node ignores (and counts) other versions.
pub(crate) const VERSION: u8 = 1;
/// Version byte of a batch frame: several encoded envelopes of one node,
/// in publish order, as one bus message (one PUBLISH instead of many). After
/// the header come the node id (postcard varint, as in an envelope, so
/// [`peek_node`] reads both) and then, per envelope, its length as a
/// little-endian u32 and its bytes (with their own header).
pub(crate) const BATCH_VERSION: u8 = 0x81;

/// One bus message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    /// The publishing node.
    pub(crate) node: u64,
    /// The namespace it concerns (empty for membership messages).
    pub(crate) ns: String,
    pub(crate) body: Body,
}

/// A payload on the wire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WirePayload {
    pub(crate) format: u8,
    pub(crate) data: Bytes,
}

impl From<&Payload> for WirePayload {
    fn from(p: &Payload) -> Self {
        WirePayload { format: p.format() as u8, data: p.bytes().clone() }
    }
}

impl WirePayload {
    /// Checks the format tag and the bytes against it.
    pub(crate) fn to_payload(&self) -> Option<Payload> {
        let format = match self.format {
            0 => Format::Binary,
            1 => Format::Text,
            2 => Format::Json,
            _ => return None,
        };
        Payload::new(format, self.data.clone()).ok()
    }
}

/// A socket in a `fetch_sockets` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireSocket {
    pub(crate) id: String,
    pub(crate) rooms: Vec<String>,
    pub(crate) data: Option<WirePayload>,
}

/// One ack reply: the socket and its answer, or an error text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct WireAck {
    pub(crate) socket_id: String,
    pub(crate) reply: Result<WirePayload, u8>,
}

/// What a `SocketsOp` request does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum WireOp {
    Join(Vec<String>),
    Leave(Vec<String>),
    Disconnect,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Body {
    /// An emit: every node delivers it to its selected sockets.
    Broadcast {
        sel: Selector,
        event: String,
        payload: WirePayload,
    },
    /// An emit with acks; answered by `Acks`.
    BroadcastAck {
        req: u64,
        sel: Selector,
        event: String,
        payload: WirePayload,
        timeout_ms: u64,
    },
    /// A `fetch_sockets` request; answered by `Sockets`.
    Fetch {
        req: u64,
        sel: Selector,
    },
    /// A join/leave/disconnect request; answered by `Count`.
    Apply {
        req: u64,
        sel: Selector,
        op: WireOp,
    },
    /// A server-side emit; answered by `Replies` when `req` is set.
    ServerSide {
        req: Option<u64>,
        event: String,
        payload: WirePayload,
    },
    /// "I am alive"; also announces a new node.
    Heartbeat,
    /// "I am leaving" (a clean shutdown).
    Bye,
    /// Answers, sent to the requester's response channel.
    Acks {
        req: u64,
        replies: Vec<WireAck>,
    },
    Sockets {
        req: u64,
        sockets: Vec<WireSocket>,
    },
    Count {
        req: u64,
        n: u64,
    },
    Replies {
        req: u64,
        replies: Vec<WirePayload>,
    },
}

impl Body {
    /// The request an answer belongs to.
    pub(crate) fn answer_to(&self) -> Option<u64> {
        match self {
            Body::Acks { req, .. }
            | Body::Sockets { req, .. }
            | Body::Count { req, .. }
            | Body::Replies { req, .. } => Some(*req),
            _ => None,
        }
    }
}

/// Why a bus message was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Not ours: wrong magic.
    Foreign,
    /// Ours, another format version.
    Version(u8),
    /// Truncated or corrupt.
    Corrupt,
}

/// Encodes `env` with the magic and version prefix.
pub(crate) fn encode(env: &Envelope) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    // Writing into a Vec cannot fail; an error here would be a serde bug,
    // and an empty message is rejected by every reader.
    postcard::to_extend(env, out).unwrap_or_default()
}

/// The sending node of a message or batch of ours, read without decoding
/// the rest (the node id is the first field after the header).
pub(crate) fn peek_node(bytes: &[u8]) -> Option<u64> {
    if bytes.len() < 3 || bytes[..2] != MAGIC || (bytes[2] != VERSION && bytes[2] != BATCH_VERSION) {
        return None;
    }
    postcard::take_from_bytes::<u64>(&bytes[3..]).ok().map(|(n, _)| n)
}

/// True for a batch frame (which [`batch_items`] splits).
pub(crate) fn is_batch(bytes: &[u8]) -> bool {
    bytes.len() >= 3 && bytes[..2] == MAGIC && bytes[2] == BATCH_VERSION
}

/// Starts a batch frame of `node`'s messages in `out` (cleared first).
pub(crate) fn batch_start(out: &mut Vec<u8>, node: u64) {
    out.clear();
    out.extend_from_slice(&MAGIC);
    out.push(BATCH_VERSION);
    let mut buf = [0u8; 10];
    // A u64 varint takes at most 10 bytes: this cannot fail.
    if let Ok(used) = postcard::to_slice(&node, &mut buf) {
        out.extend_from_slice(used);
    }
}

/// Appends one encoded envelope to a batch frame.
pub(crate) fn batch_push(out: &mut Vec<u8>, msg: &[u8]) {
    out.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    out.extend_from_slice(msg);
}

/// The encoded envelopes of a batch frame, in order. All or nothing: a
/// frame whose lengths do not add up exactly is `Corrupt`, so a damaged
/// batch delivers none of its messages rather than a guessed part.
pub(crate) fn batch_items(bytes: &[u8]) -> Result<Vec<&[u8]>, DecodeError> {
    if bytes.len() < 3 || bytes[..2] != MAGIC {
        return Err(DecodeError::Foreign);
    }
    if bytes[2] != BATCH_VERSION {
        return Err(DecodeError::Version(bytes[2]));
    }
    let Ok((_node, mut rest)) = postcard::take_from_bytes::<u64>(&bytes[3..]) else {
        return Err(DecodeError::Corrupt);
    };
    let mut items = Vec::new();
    while !rest.is_empty() {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else { return Err(DecodeError::Corrupt) };
        let len = u32::from_le_bytes(*len) as usize;
        if len == 0 || len > tail.len() {
            return Err(DecodeError::Corrupt);
        }
        let (item, tail) = tail.split_at(len);
        items.push(item);
        rest = tail;
    }
    if items.is_empty() {
        return Err(DecodeError::Corrupt);
    }
    Ok(items)
}

/// Decodes one bus message.
pub(crate) fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    if bytes.len() < 3 || bytes[..2] != MAGIC {
        return Err(DecodeError::Foreign);
    }
    if bytes[2] != VERSION {
        return Err(DecodeError::Version(bytes[2]));
    }
    match postcard::take_from_bytes::<Envelope>(&bytes[3..]) {
        Ok((env, [])) => Ok(env),
        _ => Err(DecodeError::Corrupt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Envelope {
        Envelope {
            node: 42,
            ns: "/chat".into(),
            body: Body::Broadcast {
                sel: Selector { rooms: vec!["a".into(), "b".into()], except: vec!["c".into()], volatile: true },
                event: "msg".into(),
                payload: WirePayload { format: 2, data: Bytes::from_static(b"{\"x\":1}") },
            },
        }
    }

    #[test]
    fn round_trip_and_compact() {
        let env = sample();
        let bytes = encode(&env);
        assert_eq!(&bytes[..3], b"RC\x01");
        assert_eq!(decode(&bytes), Ok(env));
        assert_eq!(peek_node(&bytes), Some(42));
        assert_eq!(peek_node(b"RC"), None);
        // Header + node + names + 7 payload bytes: no field names on the wire.
        assert!(bytes.len() < 40, "{} bytes", bytes.len());
    }

    #[test]
    fn every_truncation_and_foreign_input_is_an_error() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix of {n} bytes decoded");
        }
        assert_eq!(decode(b"hello world"), Err(DecodeError::Foreign));
        assert_eq!(decode(b"RC\x09abc"), Err(DecodeError::Version(9)));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(DecodeError::Corrupt));
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let good = encode(&sample());
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            // Random bytes behind a valid header, and single-byte mutations.
            let len = (next() % 64) as usize;
            let mut v = b"RC\x01".to_vec();
            v.extend((0..len).map(|_| next() as u8));
            let _ = decode(&v);
            let mut m = good.clone();
            let i = (next() as usize) % m.len();
            m[i] = next() as u8;
            let _ = decode(&m);
        }
    }

    fn batch_of(msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut frame = Vec::new();
        batch_start(&mut frame, 42);
        for m in msgs {
            batch_push(&mut frame, m);
        }
        frame
    }

    #[test]
    fn a_batch_splits_into_its_messages_in_order() {
        let mut second = sample();
        second.ns = "/other".into();
        let msgs = vec![encode(&sample()), encode(&second), encode(&sample())];
        let frame = batch_of(&msgs);
        assert!(is_batch(&frame) && !is_batch(&msgs[0]));
        assert_eq!(peek_node(&frame), Some(42));
        let items = batch_items(&frame).unwrap();
        assert_eq!(items, msgs.iter().map(|m| m.as_slice()).collect::<Vec<_>>());
        assert_eq!(decode(items[1]).unwrap().ns, "/other");
        // A batch is not an envelope, and an envelope is not a batch.
        assert_eq!(decode(&frame), Err(DecodeError::Version(BATCH_VERSION)));
        assert_eq!(batch_items(&msgs[0]), Err(DecodeError::Version(VERSION)));
        assert_eq!(batch_items(b"hello"), Err(DecodeError::Foreign));
    }

    #[test]
    fn a_damaged_batch_delivers_nothing() {
        let frame = batch_of(&[encode(&sample()), encode(&sample())]);
        // Every truncation except the one ending exactly after the first
        // message is refused whole; that one is a valid batch of one.
        let first_end = 3 + 1 + 4 + encode(&sample()).len();
        for n in 0..frame.len() {
            if let Ok(items) = batch_items(&frame[..n]) {
                assert_eq!((n, items.len()), (first_end, 1));
            }
        }
        let mut trailing = frame.clone();
        trailing.push(7);
        assert_eq!(batch_items(&trailing), Err(DecodeError::Corrupt));
        let mut zero = Vec::new();
        batch_start(&mut zero, 1);
        zero.extend_from_slice(&0u32.to_le_bytes());
        assert_eq!(batch_items(&zero), Err(DecodeError::Corrupt));
        let mut empty = Vec::new();
        batch_start(&mut empty, 1);
        assert_eq!(batch_items(&empty), Err(DecodeError::Corrupt));
        // Random mutations never panic.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut m = frame.clone();
            let i = (x as usize) % m.len();
            m[i] = (x >> 32) as u8;
            if let Ok(items) = batch_items(&m) {
                for it in items {
                    let _ = decode(it);
                }
            }
        }
    }

    #[test]
    fn payloads_are_checked_against_their_format() {
        assert!(WirePayload { format: 1, data: Bytes::from_static(&[0xff]) }.to_payload().is_none());
        assert!(WirePayload { format: 2, data: Bytes::from_static(b"{") }.to_payload().is_none());
        assert!(WirePayload { format: 7, data: Bytes::new() }.to_payload().is_none());
        let p = WirePayload { format: 1, data: Bytes::from_static(b"hi") }.to_payload().unwrap();
        assert_eq!(p.as_str(), Some("hi"));
    }

    mod fuzz {
        //! Fuzz property tests of the bus envelope: arbitrary bytes, valid
        //! envelopes and batches, and their mutations (bytes flipped,
        //! inserted, deleted, truncated). No panic; errors typed; valid
        //! input round-trips; a decoded message holds no more content
        //! than its bytes carried. `PROPTEST_CASES` overrides the count.
        use super::*;
        use proptest::prelude::*;
        use roomcast_testkit::{cases, edits, mutate};

        fn names() -> impl Strategy<Value = Vec<String>> {
            prop::collection::vec("[a-z#/]{0,6}", 0..4)
        }

        fn payload() -> impl Strategy<Value = WirePayload> {
            (0u8..4, prop::collection::vec(any::<u8>(), 0..24))
                .prop_map(|(format, data)| WirePayload { format, data: Bytes::from(data) })
        }

        fn selection() -> impl Strategy<Value = Selector> {
            (names(), names(), any::<bool>()).prop_map(|(rooms, except, volatile)| Selector { rooms, except, volatile })
        }

        fn body() -> impl Strategy<Value = Body> {
            prop_oneof![
                (selection(), "[a-z ]{0,8}", payload()).prop_map(|(sel, event, payload)| Body::Broadcast {
                    sel,
                    event,
                    payload
                }),
                (any::<u64>(), selection(), "[a-z]{0,8}", payload(), any::<u64>()).prop_map(
                    |(req, sel, event, payload, timeout_ms)| Body::BroadcastAck {
                        req,
                        sel,
                        event,
                        payload,
                        timeout_ms
                    }
                ),
                (any::<u64>(), selection()).prop_map(|(req, sel)| Body::Fetch { req, sel }),
                (any::<u64>(), selection(), names(), 0u8..3).prop_map(|(req, sel, r, op)| Body::Apply {
                    req,
                    sel,
                    op: match op {
                        0 => WireOp::Join(r),
                        1 => WireOp::Leave(r),
                        _ => WireOp::Disconnect,
                    }
                }),
                (prop::option::of(any::<u64>()), "[a-z]{0,8}", payload())
                    .prop_map(|(req, event, payload)| Body::ServerSide { req, event, payload }),
                Just(Body::Heartbeat),
                Just(Body::Bye),
                (
                    any::<u64>(),
                    prop::collection::vec(("[a-z0-9]{0,8}", prop::result::maybe_ok(payload(), any::<u8>())), 0..3)
                )
                    .prop_map(|(req, r)| Body::Acks {
                        req,
                        replies: r.into_iter().map(|(socket_id, reply)| WireAck { socket_id, reply }).collect()
                    }),
                (any::<u64>(), prop::collection::vec(("[a-z0-9]{0,8}", names(), prop::option::of(payload())), 0..3))
                    .prop_map(|(req, s)| Body::Sockets {
                        req,
                        sockets: s.into_iter().map(|(id, rooms, data)| WireSocket { id, rooms, data }).collect()
                    }),
                (any::<u64>(), any::<u64>()).prop_map(|(req, n)| Body::Count { req, n }),
                (any::<u64>(), prop::collection::vec(payload(), 0..3))
                    .prop_map(|(req, replies)| Body::Replies { req, replies }),
            ]
        }

        fn envelope() -> impl Strategy<Value = Envelope> {
            (any::<u64>(), "(/[a-z]{0,6})?", body()).prop_map(|(node, ns, body)| Envelope { node, ns, body })
        }

        /// String and byte content a decoded envelope holds.
        fn content(e: &Envelope) -> usize {
            let names = |v: &[String]| v.iter().map(String::len).sum::<usize>();
            let sel = |s: &Selector| names(&s.rooms) + names(&s.except);
            e.ns.len()
                + match &e.body {
                    Body::Broadcast { sel: s, event, payload } | Body::BroadcastAck { sel: s, event, payload, .. } => {
                        sel(s) + event.len() + payload.data.len()
                    }
                    Body::Fetch { sel: s, .. } => sel(s),
                    Body::Apply { sel: s, op, .. } => {
                        sel(s)
                            + match op {
                                WireOp::Join(r) | WireOp::Leave(r) => names(r),
                                WireOp::Disconnect => 0,
                            }
                    }
                    Body::ServerSide { event, payload, .. } => event.len() + payload.data.len(),
                    Body::Acks { replies, .. } => {
                        replies.iter().map(|a| a.socket_id.len() + a.reply.as_ref().map_or(0, |p| p.data.len())).sum()
                    }
                    Body::Sockets { sockets, .. } => sockets
                        .iter()
                        .map(|s| s.id.len() + names(&s.rooms) + s.data.as_ref().map_or(0, |p| p.data.len()))
                        .sum(),
                    Body::Replies { replies, .. } => replies.iter().map(|p| p.data.len()).sum(),
                    Body::Heartbeat | Body::Bye | Body::Count { .. } => 0,
                }
        }

        /// Decodes a message or batch as the subscriber does, checking
        /// what each decoded envelope holds against the bytes it came from.
        fn decode_checked(bytes: &[u8]) {
            let items = if is_batch(bytes) { batch_items(bytes).unwrap_or_default() } else { vec![bytes] };
            for it in items {
                let _ = peek_node(it);
                match decode(it) {
                    Ok(env) => {
                        assert!(content(&env) <= it.len(), "{} content bytes from {}", content(&env), it.len());
                        if let Body::Broadcast { payload, .. } = &env.body {
                            let _ = payload.to_payload();
                        }
                    }
                    Err(DecodeError::Foreign | DecodeError::Version(_) | DecodeError::Corrupt) => {}
                }
            }
        }

        proptest! {
            #![proptest_config(cases(1500))]

            #[test]
            fn valid_envelopes_round_trip(env in envelope()) {
                let bytes = encode(&env);
                prop_assert_eq!(peek_node(&bytes), Some(env.node));
                prop_assert_eq!(decode(&bytes), Ok(env));
            }

            #[test]
            fn valid_batches_split_and_round_trip(envs in prop::collection::vec(envelope(), 1..4)) {
                let msgs: Vec<Vec<u8>> = envs.iter().map(encode).collect();
                let frame = batch_of(&msgs);
                let items = batch_items(&frame).unwrap();
                let back: Vec<Envelope> = items.iter().map(|i| decode(i).unwrap()).collect();
                prop_assert_eq!(back, envs);
            }

            #[test]
            fn mutated_envelopes_and_batches(envs in prop::collection::vec(envelope(), 1..3), e in edits()) {
                let one = encode(&envs[0]);
                decode_checked(&mutate(one, &e));
                let frame = batch_of(&envs.iter().map(encode).collect::<Vec<_>>());
                decode_checked(&mutate(frame, &e));
            }

            #[test]
            fn arbitrary_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..200), header in 0u8..3) {
                // Mostly behind a valid header, so the postcard decoder is reached.
                let prefix: &[u8] = match header {
                    0 => b"RC\x01",
                    1 => b"RC\x81",
                    _ => b"",
                };
                bytes.splice(0..0, prefix.iter().copied());
                decode_checked(&bytes);
            }
        }
    }
}
