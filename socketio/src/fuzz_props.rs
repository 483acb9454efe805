//! Fuzz property tests of every parser that reads bytes from the network:
//! the WebSocket frame decoder, Engine.IO text packets and polling
//! payloads, Socket.IO packets and binary-attachment reassembly, and the
//! query string. Each takes arbitrary bytes and mutated valid encodings
//! (bytes flipped, inserted, deleted, the input truncated) and checks: no
//! panic, errors are the parser's typed errors, memory held stays within
//! the configured limit, valid input round-trips.
//!
//! Case counts keep the whole set to a few seconds in a debug build;
//! `PROPTEST_CASES=N` overrides them all. The same parsers are `cargo fuzz`
//! targets in `fuzz/` for long runs.

use bytes::Bytes;
use proptest::prelude::*;
use roomcast_testkit::{cases, edits, mutate};

use crate::eio::{self, Frame, Packet, ParseError};
use crate::sio::{self, DecodeError, PacketType, Reassembly};
use crate::ws::{self, Decoder, Event};

/// Feeds `data` in chunks of the given sizes (cycled), checking after every
/// call that each decoder buffer stays within the frame limit (the payload
/// limit plus a 14-byte header) plus the bytes of one read, with the
/// decoder's own slack of two reads. Returns the events, or the close code.
fn feed_checked(data: &[u8], cuts: &[usize], max: usize) -> Result<Vec<Event>, u16> {
    let mut d = Decoder::new();
    let mut events = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = cuts[i % cuts.len()].clamp(1, rest.len());
        i += 1;
        let (chunk, tail) = rest.split_at(n);
        rest = tail;
        let r = d.feed(chunk, max, |e| {
            events.push(e);
            true
        });
        let bound = max + 14 + chunk.len() + 2 * 8192;
        assert!(d.pending_capacity() <= bound, "held {} > {bound}", d.pending_capacity());
        assert!(d.frag_capacity() <= max, "message buffer {} > {max}", d.frag_capacity());
        r?;
    }
    Ok(events)
}

fn close_code_is_typed(code: u16) -> bool {
    matches!(code, ws::CLOSE_PROTOCOL | ws::CLOSE_INVALID_DATA | ws::CLOSE_TOO_BIG)
}

/// A valid client stream: messages (possibly fragmented) with control
/// frames between them.
fn ws_stream() -> impl Strategy<Value = (Vec<u8>, Vec<Event>)> {
    let msg = (any::<bool>(), prop::collection::vec(any::<u8>(), 0..400), 1usize..4, any::<[u8; 4]>(), any::<bool>());
    prop::collection::vec(msg, 1..6).prop_map(|msgs| {
        let mut data = Vec::new();
        let mut want = Vec::new();
        for (text, bytes, parts, mask, ping) in msgs {
            let (op, payload, ev) = if text {
                let s = String::from_utf8_lossy(&bytes).into_owned();
                (1u8, s.clone().into_bytes(), Event::Text(s))
            } else {
                (2u8, bytes.clone(), Event::Binary(Bytes::from(bytes)))
            };
            let step = payload.len().div_ceil(parts).max(1);
            let pieces: Vec<&[u8]> = if payload.is_empty() { vec![&[][..]] } else { payload.chunks(step).collect() };
            for (i, p) in pieces.iter().enumerate() {
                let last = i + 1 == pieces.len();
                data.extend(ws::client_frame(last, if i == 0 { op } else { 0 }, p, mask));
                if ping && i == 0 && !last {
                    data.extend(ws::client_frame(true, 9, b"hi", mask));
                    want.push(Event::Ping(Bytes::from_static(b"hi")));
                }
            }
            want.push(ev);
        }
        (data, want)
    })
}

proptest! {
    #![proptest_config(cases(1500))]

    #[test]
    fn ws_arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..600), cuts in prop::collection::vec(1usize..80, 1..4), max in 0usize..300) {
        if let Err(code) = feed_checked(&data, &cuts, max) {
            prop_assert!(close_code_is_typed(code), "{code}");
        }
    }

    #[test]
    fn ws_valid_streams_round_trip((data, want) in ws_stream(), cuts in prop::collection::vec(1usize..700, 1..4)) {
        prop_assert_eq!(feed_checked(&data, &cuts, 1 << 20), Ok(want));
    }

    #[test]
    fn ws_mutated_streams((data, _) in ws_stream(), e in edits(), cuts in prop::collection::vec(1usize..300, 1..4), max in 0usize..2000) {
        if let Err(code) = feed_checked(&mutate(data, &e), &cuts, max) {
            prop_assert!(close_code_is_typed(code), "{code}");
        }
    }

    #[test]
    fn eio_arbitrary_and_mutated_payloads(body in prop::collection::vec(any::<u8>(), 0..200), e in edits()) {
        for b in [body.clone(), mutate(body, &e)] {
            // The error is the typed `ParseError`; a success has packets.
            let r: Result<Vec<Packet>, ParseError> = eio::decode_payload(&b);
            if let Ok(packets) = r {
                prop_assert!(!packets.is_empty());
            }
            if let Ok(s) = std::str::from_utf8(&b) {
                let _ = eio::decode_text(s);
            }
        }
    }

    #[test]
    fn eio_payloads_round_trip_and_survive_mutation(
        items in prop::collection::vec(prop_oneof![
            "[ -~]{0,40}".prop_map(|s| (true, s.into_bytes())),
            prop::collection::vec(any::<u8>(), 0..60).prop_map(|b| (false, b)),
        ], 1..6),
        e in edits(),
    ) {
        let frames: Vec<Frame> = items.iter().map(|(text, b)| if *text {
            let mut t = b"4".to_vec();
            t.extend_from_slice(b);
            Frame::Text(Bytes::from(t))
        } else {
            Frame::Binary(Bytes::from(b.clone()))
        }).collect();
        let body = eio::encode_payload(&frames);
        let want: Vec<Packet> = items.iter().map(|(text, b)| if *text {
            Packet::Message(String::from_utf8(b.clone()).unwrap())
        } else {
            Packet::Binary(Bytes::from(b.clone()))
        }).collect();
        prop_assert_eq!(eio::decode_payload(&body), Ok(want));
        let _ = eio::decode_payload(&mutate(body, &e));
    }

    #[test]
    fn sio_arbitrary_and_mutated_packets(
        kind in 0u8..7, att in 0usize..4, nsp in "/|/[a-z]{1,6}", id in prop::option::of(any::<u64>()),
        name in "[a-z ]{1,8}", arg in any::<i64>(), e in edits(), junk in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let kind = [PacketType::Connect, PacketType::Disconnect, PacketType::Event, PacketType::Ack,
            PacketType::ConnectError, PacketType::BinaryEvent, PacketType::BinaryAck][kind as usize];
        let data = serde_json::json!([name, arg]).to_string();
        let valid = sio::encode(kind, &nsp, id, att, Some(&data));
        for bytes in [valid.clone().into_bytes(), mutate(valid.into_bytes(), &e), junk.clone()] {
            let text = String::from_utf8_lossy(&bytes);
            match sio::decode(&text, 3) {
                Ok(p) => {
                    prop_assert!(p.attachments <= 3);
                    let _ = p.event_args();
                    let _ = crate::args::to_payload(p.event_args().map(|a| a.1).unwrap_or_default(), Vec::new());
                }
                Err(DecodeError::TooLarge | DecodeError::UnexpectedBinary) => prop_assert!(false, "not a decode error"),
                Err(_) => {}
            }
        }
    }

    #[test]
    fn sio_valid_packets_round_trip(
        nsp in "/|/[a-z]{1,8}", id in prop::option::of(any::<u64>()), name in "[a-z][a-z ]{0,9}",
        arg in any::<i64>(), att in 0usize..5, ack in any::<bool>(),
    ) {
        let (kind, data) = match (ack, att > 0) {
            (false, false) => (PacketType::Event, serde_json::json!([name, arg])),
            (false, true) => (PacketType::BinaryEvent, serde_json::json!([name, arg])),
            (true, false) => (PacketType::Ack, serde_json::json!([arg])),
            (true, true) => (PacketType::BinaryAck, serde_json::json!([arg])),
        };
        let id = if ack { Some(id.unwrap_or(0)) } else { id };
        let data = data.to_string();
        let p = sio::decode(&sio::encode(kind, &nsp, id, att, Some(&data)), 8).unwrap();
        prop_assert_eq!((p.kind, p.nsp.as_str(), p.id, p.attachments), (kind, nsp.as_str(), id, att));
        prop_assert_eq!(p.data.as_deref().map(|d| d.get()), Some(data.as_str()));
    }

    /// A packet and its attachments never hold more than the limit, however
    /// many attachments arrive and whatever their sizes.
    #[test]
    fn sio_reassembly_holds_at_most_the_limit(
        att in 1usize..10, sizes in prop::collection::vec(0usize..3000, 0..20), limit in 0usize..10_000,
    ) {
        let ph: Vec<String> = (0..att).map(|i| format!(r#"{{"_placeholder":true,"num":{i}}}"#)).collect();
        let text = format!(r#"5{att}-["e",{}]"#, ph.join(","));
        let p = sio::decode(&text, 10).unwrap();
        let Ok(mut r) = Reassembly::new(p, text.len(), limit) else {
            prop_assert!(text.len() > limit);
            return Ok(());
        };
        for n in sizes {
            match r.push(Bytes::from(vec![0u8; n])) {
                Ok(true) => {
                    prop_assert_eq!(r.buffers.len(), att);
                    break;
                }
                Ok(false) => {}
                Err(e) => {
                    prop_assert_eq!(e, DecodeError::TooLarge);
                    break;
                }
            }
            let held: usize = text.len() + r.buffers.iter().map(Bytes::len).sum::<usize>();
            prop_assert!(held <= limit);
            prop_assert_eq!(held, r.bytes());
        }
    }

    #[test]
    fn query_arbitrary_and_mutated(
        pairs in prop::collection::vec(("[a-zA-Z0-9_]{1,8}", "[ -~é]{0,12}"), 0..5), e in edits(),
        junk in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let q: String = pairs.iter().map(|(k, v)| format!("{}={}", k, encode_component(v))).collect::<Vec<_>>().join("&");
        let parsed = crate::query::parse(&q);
        for (k, _) in &pairs {
            // Values round-trip; a later parameter replaces an earlier one.
            let last = pairs.iter().rev().find(|(k2, _)| k2 == k).map(|(_, v)| v);
            prop_assert_eq!(parsed.get(k), last);
        }
        for bytes in [mutate(q.into_bytes(), &e), junk] {
            let s = String::from_utf8_lossy(&bytes);
            let parsed = crate::query::parse(&s);
            // Never larger than the input, once U+FFFD replacements are counted.
            let out: usize = parsed.iter().map(|(k, v)| k.chars().count() + v.chars().count()).sum();
            prop_assert!(out <= s.len());
        }
    }
}

/// Percent-encodes a value as a browser does (bytes outside unreserved).
fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn query_examples() {
    let q = crate::query::parse("EIO=4&transport=polling&sid=a%2Bb&name=J%C3%A9r%C3%B4me+K&flag&x=%zz&y=%+1&x2=%4");
    assert_eq!(q["EIO"], "4");
    assert_eq!(q["sid"], "a+b");
    assert_eq!(q["name"], "Jérôme K");
    assert_eq!(q["flag"], "");
    assert_eq!(q["x"], "%zz");
    // Only two hex digits make an escape ("+1" is not a number here).
    assert_eq!(q["y"], "% 1");
    assert_eq!(q["x2"], "%4");
    assert_eq!(crate::query::parse("a=%FF")["a"], "\u{FFFD}");
}
