//! Engine.IO protocol v4: packets, the handshake, HTTP long-polling
//! payloads and the HTTP error responses.
//!
//! A packet is one type character (`0` open, `1` close, `2` ping, `3` pong,
//! `4` message, `5` upgrade, `6` noop) followed by its data. Over WebSocket
//! each packet is one frame and a binary message is a binary frame without
//! a type. Over long-polling several packets travel in one HTTP body,
//! separated by the record separator `\x1e`, a binary message written as
//! `b` followed by its base64.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;

/// The record separator between packets in a polling payload.
pub const SEPARATOR: u8 = 0x1e;

/// One Engine.IO frame as a transport carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text packet: type character and data.
    Text(Bytes),
    /// A binary message packet (the data only).
    Binary(Bytes),
}

impl Frame {
    /// A text packet from a static string.
    pub fn text_static(s: &'static str) -> Frame {
        Frame::Text(Bytes::from_static(s.as_bytes()))
    }

    /// Bytes this frame occupies on the wire (over WebSocket).
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(b) | Frame::Binary(b) => b.len(),
        }
    }

    /// True for an empty frame (never produced by this crate).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// An inbound Engine.IO packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// `1`: the client closes the session.
    Close,
    /// `2` with data (a probe during an upgrade: `2probe`).
    Ping(Bytes),
    /// `3` with data (`3` answers the server's heartbeat).
    Pong(Bytes),
    /// `4`: a text message (a Socket.IO packet).
    Message(String),
    /// A binary message.
    Binary(Bytes),
    /// `5`: the client completes an upgrade.
    Upgrade,
    /// `6`: nothing.
    Noop,
}

/// Why an inbound packet was refused (closes the session: `parse error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError;

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("malformed Engine.IO packet")
    }
}

impl std::error::Error for ParseError {}

/// Decodes one text packet (a WebSocket text frame or one polling record).
/// Packets a client must not send (`0` open) are errors.
pub fn decode_text(s: &str) -> Result<Packet, ParseError> {
    let b = s.as_bytes();
    let Some(&t) = b.first() else { return Err(ParseError) };
    if !t.is_ascii() {
        return Err(ParseError);
    }
    let rest = &s[1..];
    Ok(match t {
        b'1' if rest.is_empty() => Packet::Close,
        b'2' => Packet::Ping(Bytes::copy_from_slice(rest.as_bytes())),
        b'3' => Packet::Pong(Bytes::copy_from_slice(rest.as_bytes())),
        b'4' => Packet::Message(rest.to_string()),
        b'5' if rest.is_empty() => Packet::Upgrade,
        b'6' if rest.is_empty() => Packet::Noop,
        _ => return Err(ParseError),
    })
}

/// Splits a polling POST body into packets.
pub fn decode_payload(body: &[u8]) -> Result<Vec<Packet>, ParseError> {
    if body.is_empty() {
        return Err(ParseError);
    }
    let mut out = Vec::new();
    for rec in body.split(|&c| c == SEPARATOR) {
        if let Some(b64) = rec.strip_prefix(b"b") {
            let data = B64.decode(b64).map_err(|_| ParseError)?;
            out.push(Packet::Binary(Bytes::from(data)));
        } else {
            let s = std::str::from_utf8(rec).map_err(|_| ParseError)?;
            out.push(decode_text(s)?);
        }
    }
    Ok(out)
}

/// Joins frames into one polling response body.
pub fn encode_payload(frames: &[Frame]) -> Vec<u8> {
    let size: usize = frames.iter().map(|f| f.len() * 4 / 3 + 4).sum();
    let mut out = Vec::with_capacity(size);
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        match f {
            Frame::Text(t) => out.extend_from_slice(t),
            Frame::Binary(b) => {
                out.push(b'b');
                let start = out.len();
                out.resize(start + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
                let n = B64.encode_slice(b, &mut out[start..]).unwrap_or(0);
                out.truncate(start + n);
            }
        }
    }
    out
}

/// The open packet: `0` and the handshake JSON.
pub fn open_packet(
    sid: &str,
    upgrades: bool,
    ping_interval_ms: u128,
    ping_timeout_ms: u128,
    max_payload: usize,
) -> Frame {
    let upgrades = if upgrades { r#"["websocket"]"# } else { "[]" };
    let s = format!(
        r#"0{{"sid":"{sid}","upgrades":{upgrades},"pingInterval":{ping_interval_ms},"pingTimeout":{ping_timeout_ms},"maxPayload":{max_payload}}}"#
    );
    Frame::Text(Bytes::from(s))
}

/// The Engine.IO HTTP errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpError {
    /// 0: `transport` is missing or unknown.
    TransportUnknown,
    /// 1: the `sid` is unknown (or expired).
    SessionIdUnknown,
    /// 2: a handshake must be a GET.
    BadHandshakeMethod,
    /// 3: anything else wrong with the request.
    BadRequest,
    /// 4: refused by `allow_request` or the allowed origins (HTTP 403).
    Forbidden,
    /// 5: `EIO` is not 4.
    UnsupportedProtocolVersion,
}

impl HttpError {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            HttpError::TransportUnknown => 0,
            HttpError::SessionIdUnknown => 1,
            HttpError::BadHandshakeMethod => 2,
            HttpError::BadRequest => 3,
            HttpError::Forbidden => 4,
            HttpError::UnsupportedProtocolVersion => 5,
        }
    }

    /// The message.
    pub fn message(self) -> &'static str {
        match self {
            HttpError::TransportUnknown => "Transport unknown",
            HttpError::SessionIdUnknown => "Session ID unknown",
            HttpError::BadHandshakeMethod => "Bad handshake method",
            HttpError::BadRequest => "Bad request",
            HttpError::Forbidden => "Forbidden",
            HttpError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status: 403 for `Forbidden`, else 400.
    pub fn status(self) -> u16 {
        if self == HttpError::Forbidden {
            403
        } else {
            400
        }
    }

    /// The JSON body: `{"code":N,"message":"..."}`.
    pub fn body(self) -> String {
        format!(r#"{{"code":{},"message":"{}"}}"#, self.code(), self.message())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_packets() {
        assert_eq!(decode_text("1"), Ok(Packet::Close));
        assert_eq!(decode_text("2probe"), Ok(Packet::Ping(Bytes::from_static(b"probe"))));
        assert_eq!(decode_text("3"), Ok(Packet::Pong(Bytes::new())));
        assert_eq!(decode_text("42[\"a\"]"), Ok(Packet::Message("2[\"a\"]".into())));
        assert_eq!(decode_text("5"), Ok(Packet::Upgrade));
        assert_eq!(decode_text("6"), Ok(Packet::Noop));
        for bad in ["", "0", "0{}", "7", "x", "1x", "5x", "6x"] {
            assert_eq!(decode_text(bad), Err(ParseError), "{bad:?}");
        }
    }

    #[test]
    fn payload_round_trip_with_binary() {
        let frames = vec![
            Frame::text_static("4hello"),
            Frame::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            Frame::text_static("2"),
            Frame::Binary(Bytes::new()),
        ];
        let body = encode_payload(&frames);
        assert_eq!(body, b"4hello\x1ebAQIDBA==\x1e2\x1eb");
        let back = decode_payload(&body).unwrap();
        assert_eq!(
            back,
            vec![
                Packet::Message("hello".into()),
                Packet::Binary(Bytes::from_static(&[1, 2, 3, 4])),
                Packet::Ping(Bytes::new()),
                Packet::Binary(Bytes::new()),
            ]
        );
        assert_eq!(decode_payload(b""), Err(ParseError));
        assert_eq!(decode_payload(b"4a\x1e"), Err(ParseError));
        assert_eq!(decode_payload(b"b!!"), Err(ParseError));
        assert_eq!(decode_payload(b"4\xff"), Err(ParseError));
    }

    #[test]
    fn handshake_and_errors() {
        let Frame::Text(open) = open_packet("abc", true, 25000, 20000, 1_000_000) else { panic!() };
        let json: serde_json::Value = serde_json::from_slice(&open[1..]).unwrap();
        assert_eq!(open[0], b'0');
        assert_eq!(json["sid"], "abc");
        assert_eq!(json["upgrades"], serde_json::json!(["websocket"]));
        assert_eq!(json["pingInterval"], 25000);
        assert_eq!(json["pingTimeout"], 20000);
        assert_eq!(json["maxPayload"], 1_000_000);
        let e: serde_json::Value = serde_json::from_str(&HttpError::SessionIdUnknown.body()).unwrap();
        assert_eq!(e, serde_json::json!({"code": 1, "message": "Session ID unknown"}));
        assert_eq!(HttpError::Forbidden.status(), 403);
        assert_eq!(HttpError::UnsupportedProtocolVersion.code(), 5);
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_payload(&body);
        }

        #[test]
        fn payloads_round_trip(items in prop::collection::vec(
            prop_oneof![
                "[^\u{1e}]{0,12}".prop_map(|s| (true, format!("4{s}").into_bytes())),
                prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| (false, b)),
            ], 1..6)
        ) {
            let frames: Vec<Frame> = items.iter().map(|(t, b)| if *t {
                Frame::Text(Bytes::from(b.clone()))
            } else {
                Frame::Binary(Bytes::from(b.clone()))
            }).collect();
            let back = decode_payload(&encode_payload(&frames)).unwrap();
            prop_assert_eq!(back.len(), frames.len());
            for (p, (t, b)) in back.iter().zip(&items) {
                match p {
                    Packet::Message(s) => { prop_assert!(*t); prop_assert_eq!(&s.as_bytes(), &&b[1..]); }
                    Packet::Binary(x) => { prop_assert!(!*t); prop_assert_eq!(&x[..], &b[..]); }
                    other => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
    }
}
