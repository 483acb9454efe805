//! Socket.IO protocol v5 packets: encoder and decoder.
//!
//! A packet on the wire (inside an Engine.IO `message` packet) is
//!
//! ```text
//! <type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]
//! ```
//!
//! `type` is one digit (0 CONNECT, 1 DISCONNECT, 2 EVENT, 3 ACK,
//! 4 CONNECT_ERROR, 5 BINARY_EVENT, 6 BINARY_ACK); the attachment count only
//! appears on the binary types; the namespace only when it is not `/`. A
//! binary packet is followed by its attachments, one binary Engine.IO
//! message each, which replace the `{"_placeholder":true,"num":n}` objects
//! in the data.

use std::fmt;

use bytes::Bytes;
use serde_json::value::RawValue;

/// The kind of a Socket.IO packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// Join a namespace (client) / joined (server, with `{"sid"}`).
    Connect = 0,
    /// Leave a namespace, either side.
    Disconnect = 1,
    /// An event: `["name", args...]`.
    Event = 2,
    /// The reply to an event that carried an ack id: `[args...]`.
    Ack = 3,
    /// A refused connect: `{"message", "data"}`.
    ConnectError = 4,
    /// An event with binary attachments.
    BinaryEvent = 5,
    /// An ack with binary attachments.
    BinaryAck = 6,
}

impl PacketType {
    fn from_byte(b: u8) -> Option<PacketType> {
        Some(match b {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    /// True for BINARY_EVENT and BINARY_ACK.
    pub fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// Why a packet could not be decoded. Every one of them closes the
/// connection with reason `parse error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Empty packet.
    Empty,
    /// The first character is not a packet type.
    UnknownType(u8),
    /// The attachment count is missing its `-`, is not a number or is too large.
    BadAttachments,
    /// The namespace does not end with `,`, or is not valid.
    BadNamespace,
    /// The ack id is too large.
    BadAckId,
    /// The data is not valid JSON.
    BadJson,
    /// The data has the wrong shape for the packet type.
    BadPayload,
    /// A binary packet announced more attachments than allowed.
    TooManyAttachments,
    /// A binary frame arrived when no attachment was expected.
    UnexpectedBinary,
    /// A packet and its attachments together exceed the size limit.
    TooLarge,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            DecodeError::Empty => "empty packet",
            DecodeError::UnknownType(_) => "unknown packet type",
            DecodeError::BadAttachments => "invalid attachment count",
            DecodeError::BadNamespace => "invalid namespace",
            DecodeError::BadAckId => "invalid ack id",
            DecodeError::BadJson => "invalid JSON data",
            DecodeError::BadPayload => "invalid payload for the packet type",
            DecodeError::TooManyAttachments => "too many attachments",
            DecodeError::UnexpectedBinary => "unexpected binary attachment",
            DecodeError::TooLarge => "packet and attachments exceed the size limit",
        };
        f.write_str(s)
    }
}

impl std::error::Error for DecodeError {}

/// A decoded packet (its attachments, if any, arrive separately).
#[derive(Debug, Clone)]
pub struct Packet {
    /// The type.
    pub kind: PacketType,
    /// The namespace (`/` when absent on the wire).
    pub nsp: String,
    /// The ack id, if present.
    pub id: Option<u64>,
    /// How many binary attachments follow (binary types only).
    pub attachments: usize,
    /// The JSON data exactly as sent (`None` when absent).
    pub data: Option<Box<RawValue>>,
}

impl Packet {
    /// For EVENT / BINARY_EVENT: the event name and the raw arguments after it.
    /// For ACK / BINARY_ACK: `("", args)`.
    pub fn event_args(&self) -> Result<(String, Vec<Box<RawValue>>), DecodeError> {
        let data = self.data.as_ref().ok_or(DecodeError::BadPayload)?;
        let mut items: Vec<Box<RawValue>> = serde_json::from_str(data.get()).map_err(|_| DecodeError::BadPayload)?;
        match self.kind {
            PacketType::Event | PacketType::BinaryEvent => {
                if items.is_empty() {
                    return Err(DecodeError::BadPayload);
                }
                let first = items.remove(0);
                let name: String = match serde_json::from_str::<serde_json::Value>(first.get()) {
                    Ok(serde_json::Value::String(s)) => s,
                    // A numeric event name is allowed by the protocol.
                    Ok(serde_json::Value::Number(n)) => n.to_string(),
                    _ => return Err(DecodeError::BadPayload),
                };
                Ok((name, items))
            }
            _ => Ok((String::new(), items)),
        }
    }
}

fn json_kind(raw: &RawValue) -> u8 {
    raw.get().as_bytes().first().copied().unwrap_or(b' ')
}

/// Decodes one text packet. `max_attachments` bounds the attachment count
/// a binary packet may announce.
pub fn decode(text: &str, max_attachments: usize) -> Result<Packet, DecodeError> {
    let b = text.as_bytes();
    let first = *b.first().ok_or(DecodeError::Empty)?;
    let kind = PacketType::from_byte(first).ok_or(DecodeError::UnknownType(first))?;
    let mut i = 1;
    let mut attachments = 0usize;
    if kind.is_binary() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i >= b.len() || b[i] != b'-' || i - start > 9 {
            return Err(DecodeError::BadAttachments);
        }
        attachments = text[start..i].parse().map_err(|_| DecodeError::BadAttachments)?;
        if attachments > max_attachments {
            return Err(DecodeError::TooManyAttachments);
        }
        i += 1;
    }
    let mut nsp = String::from("/");
    if i < b.len() && b[i] == b'/' {
        let start = i;
        while i < b.len() && b[i] != b',' {
            i += 1;
        }
        nsp = text[start..i].to_string();
        if i < b.len() {
            i += 1; // the ','
        }
        if nsp.chars().any(|c| c.is_control()) {
            return Err(DecodeError::BadNamespace);
        }
    }
    let mut id = None;
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i > start {
        if i - start > 20 {
            return Err(DecodeError::BadAckId);
        }
        id = Some(text[start..i].parse::<u64>().map_err(|_| DecodeError::BadAckId)?);
    }
    let rest = &text[i..];
    let data = if rest.is_empty() {
        None
    } else {
        Some(serde_json::from_str::<Box<RawValue>>(rest).map_err(|_| DecodeError::BadJson)?)
    };
    let packet = Packet { kind, nsp, id, attachments, data };
    check_shape(&packet)?;
    Ok(packet)
}

fn check_shape(p: &Packet) -> Result<(), DecodeError> {
    let ok = match p.kind {
        PacketType::Connect => p.id.is_none() && p.data.as_deref().is_none_or(|d| json_kind(d) == b'{'),
        PacketType::Disconnect => p.id.is_none() && p.data.is_none(),
        PacketType::ConnectError => p.data.as_deref().is_some_and(|d| matches!(json_kind(d), b'{' | b'"')),
        PacketType::Event | PacketType::BinaryEvent => match p.event_args() {
            Ok((name, _)) => !roomcast::RESERVED_EVENTS.contains(&name.as_str()),
            Err(_) => false,
        },
        PacketType::Ack | PacketType::BinaryAck => {
            p.id.is_some() && p.data.as_deref().is_some_and(|d| json_kind(d) == b'[')
        }
    };
    if ok {
        Ok(())
    } else {
        Err(DecodeError::BadPayload)
    }
}

/// Writes the header of a packet: type, attachment count, namespace, ack id.
pub fn write_header(out: &mut String, kind: PacketType, attachments: usize, nsp: &str, id: Option<u64>) {
    use std::fmt::Write;
    out.push((b'0' + kind as u8) as char);
    if kind.is_binary() {
        let _ = write!(out, "{attachments}-");
    }
    if nsp != "/" {
        out.push_str(nsp);
        out.push(',');
    }
    if let Some(id) = id {
        let _ = write!(out, "{id}");
    }
}

/// Encodes a packet whose data is the given raw JSON text (or none).
pub fn encode(kind: PacketType, nsp: &str, id: Option<u64>, attachments: usize, data: Option<&str>) -> String {
    let mut out = String::with_capacity(8 + nsp.len() + data.map_or(0, str::len));
    write_header(&mut out, kind, attachments, nsp, id);
    if let Some(d) = data {
        out.push_str(d);
    }
    out
}

/// Collects the binary attachments of a binary packet, holding at most
/// `limit` bytes: the packet's text and every attachment so far count
/// against one limit (the server's `max_payload`), checked as each
/// attachment arrives and before anything is converted, so a client can
/// make the server hold no more than one packet's worth per connection.
#[derive(Debug)]
pub struct Reassembly {
    /// The packet waiting for its attachments.
    pub packet: Packet,
    /// Attachments received so far.
    pub buffers: Vec<Bytes>,
    /// Bytes held: the packet's text plus the attachments so far.
    bytes: usize,
    /// The most `bytes` may reach.
    limit: usize,
}

impl Reassembly {
    /// Starts collecting for `packet`, whose text was `text_len` bytes.
    /// `Err(TooLarge)` when the text alone is over `limit`.
    pub fn new(packet: Packet, text_len: usize, limit: usize) -> Result<Reassembly, DecodeError> {
        if text_len > limit {
            return Err(DecodeError::TooLarge);
        }
        let n = packet.attachments;
        Ok(Reassembly { packet, buffers: Vec::with_capacity(n), bytes: text_len, limit })
    }

    /// Adds one attachment; `Ok(true)` when the packet is complete,
    /// `Err(TooLarge)` (the attachment dropped) when it would take the
    /// packet over the limit.
    pub fn push(&mut self, buf: Bytes) -> Result<bool, DecodeError> {
        let bytes = self.bytes.saturating_add(buf.len());
        if bytes > self.limit {
            return Err(DecodeError::TooLarge);
        }
        self.bytes = bytes;
        self.buffers.push(buf);
        Ok(self.buffers.len() >= self.packet.attachments)
    }

    /// Bytes held: the packet's text plus the attachments so far.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn data(p: &Packet) -> Option<&str> {
        p.data.as_deref().map(RawValue::get)
    }

    #[test]
    fn decodes_every_type() {
        let p = decode("0", 10).unwrap();
        assert_eq!((p.kind, p.nsp.as_str(), p.id, data(&p)), (PacketType::Connect, "/", None, None));
        let p = decode(r#"0/admin,{"token":"123"}"#, 10).unwrap();
        assert_eq!((p.nsp.as_str(), data(&p)), ("/admin", Some(r#"{"token":"123"}"#)));
        let p = decode("1/admin,", 10).unwrap();
        assert_eq!((p.kind, p.nsp.as_str()), (PacketType::Disconnect, "/admin"));
        let p = decode(r#"2["hello",1]"#, 10).unwrap();
        assert_eq!(p.event_args().unwrap().0, "hello");
        assert_eq!(p.event_args().unwrap().1.len(), 1);
        let p = decode(r#"2/admin,456["project:delete",123]"#, 10).unwrap();
        assert_eq!((p.nsp.as_str(), p.id), ("/admin", Some(456)));
        let p = decode(r#"3/admin,456[]"#, 10).unwrap();
        assert_eq!((p.kind, p.id), (PacketType::Ack, Some(456)));
        let p = decode(r#"4{"message":"Not authorized"}"#, 10).unwrap();
        assert_eq!(p.kind, PacketType::ConnectError);
        let p = decode(r#"51-["hello",{"_placeholder":true,"num":0}]"#, 10).unwrap();
        assert_eq!((p.kind, p.attachments), (PacketType::BinaryEvent, 1));
        let p = decode(r#"61-/admin,456[{"_placeholder":true,"num":0}]"#, 10).unwrap();
        assert_eq!((p.kind, p.attachments, p.id, p.nsp.as_str()), (PacketType::BinaryAck, 1, Some(456), "/admin"));
    }

    #[test]
    fn encodes_as_the_spec_shows() {
        assert_eq!(encode(PacketType::Connect, "/", None, 0, Some(r#"{"sid":"x"}"#)), r#"0{"sid":"x"}"#);
        assert_eq!(encode(PacketType::Disconnect, "/admin", None, 0, None), "1/admin,");
        assert_eq!(encode(PacketType::Event, "/admin", Some(12), 0, Some("[\"a\"]")), "2/admin,12[\"a\"]");
        assert_eq!(encode(PacketType::BinaryAck, "/", Some(3), 2, Some("[]")), "62-3[]");
    }

    #[test]
    fn rejects_each_malformed_class() {
        use DecodeError::*;
        let cases: &[(&str, DecodeError)] = &[
            ("", Empty),
            ("9", UnknownType(b'9')),
            ("x", UnknownType(b'x')),
            ("5[\"a\"]", BadAttachments),
            ("51[\"a\"]", BadAttachments),
            ("5a-[\"a\"]", BadAttachments),
            ("59999999999-[\"a\"]", BadAttachments),
            ("511-[\"a\"]", TooManyAttachments),
            ("299999999999999999999[\"a\"]", BadAckId),
            ("2[\"a\"", BadJson),
            ("2{]", BadJson),
            ("2[\"a\"] trailing", BadJson),
            ("2{\"a\":1}", BadPayload),
            ("2[]", BadPayload),
            ("2[{}]", BadPayload),
            ("2[\"disconnect\"]", BadPayload),
            ("2", BadPayload),
            ("0[1]", BadPayload),
            ("0\"x\"", BadPayload),
            ("1{}", BadPayload),
            ("3[]", BadPayload),
            ("31{}", BadPayload),
            ("4", BadPayload),
            ("4[1]", BadPayload),
            ("0/a\u{1},", BadNamespace),
        ];
        for (input, want) in cases {
            assert_eq!(decode(input, 10).as_ref().err(), Some(want), "input {input:?}");
        }
    }

    #[test]
    fn reassembly_completes_at_the_count() {
        let p = decode(r#"52-["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#, 10).unwrap();
        let mut r = Reassembly::new(p, 70, 100).unwrap();
        assert_eq!(r.push(Bytes::from_static(b"a")), Ok(false));
        assert_eq!(r.push(Bytes::from_static(b"")), Ok(true));
        assert_eq!(r.buffers.len(), 2);
        assert_eq!(r.bytes(), 71);
    }

    #[test]
    fn reassembly_counts_the_packet_and_every_attachment_against_one_limit() {
        let text =
            r#"53-["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1},{"_placeholder":true,"num":2}]"#;
        let p = decode(text, 10).unwrap();
        assert_eq!(Reassembly::new(p.clone(), text.len(), text.len() - 1).err(), Some(DecodeError::TooLarge));
        let mut r = Reassembly::new(p, text.len(), text.len() + 100).unwrap();
        assert_eq!(r.push(Bytes::from(vec![0; 60])), Ok(false));
        // 60 + 41 > 100: refused, and not kept.
        assert_eq!(r.push(Bytes::from(vec![0; 41])), Err(DecodeError::TooLarge));
        assert_eq!((r.buffers.len(), r.bytes()), (1, text.len() + 60));
        assert_eq!(r.push(Bytes::from(vec![0; 40])), Ok(false));
        assert_eq!(r.push(Bytes::new()), Ok(true));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in ".{0,64}") {
            let _ = decode(&s, 8);
        }

        #[test]
        fn arbitrary_packet_shaped_text_never_panics(
            t in 0u8..10, att in proptest::option::of(0u32..20), nsp in "(/[a-z]{0,5},?)?",
            id in proptest::option::of(any::<u64>()), tail in "[\\[\\]{}\",:0-9a-z_]{0,24}"
        ) {
            let mut s = String::new();
            s.push((b'0' + t) as char);
            if let Some(a) = att { s.push_str(&format!("{a}-")); }
            s.push_str(&nsp);
            if let Some(id) = id { s.push_str(&id.to_string()); }
            s.push_str(&tail);
            let _ = decode(&s, 8);
        }

        #[test]
        fn encode_decode_round_trip(
            nsp in "/|/[a-z]{1,8}", id in proptest::option::of(0u64..u64::MAX),
            name in "[a-z ]{1,10}", arg in any::<i64>(), att in 0usize..5
        ) {
            let data = serde_json::to_string(&serde_json::json!([name, arg])).unwrap();
            let kind = if att > 0 { PacketType::BinaryEvent } else { PacketType::Event };
            let text = encode(kind, &nsp, id, att, Some(&data));
            let p = decode(&text, 8).unwrap();
            prop_assert_eq!(p.kind, kind);
            prop_assert_eq!(&p.nsp, &nsp);
            prop_assert_eq!(p.id, id);
            prop_assert_eq!(p.attachments, att);
            prop_assert_eq!(data_of(&p), Some(data.as_str()));
            let (n, args) = p.event_args().unwrap();
            prop_assert_eq!(n, name);
            prop_assert_eq!(args[0].get(), arg.to_string());
        }
    }

    fn data_of(p: &Packet) -> Option<&str> {
        data(p)
    }
}
