//! Outbox messages to Engine.IO frames, encoded once per message.
//!
//! A broadcast is one shared [`Message`]; its frames are computed the first
//! time any recipient's writer needs them and cached on the message through
//! [`Message::encoded_with`], so 10 000 recipients cost one encoding. The
//! cache holds one `Bytes`: the text frame (`4` + the Socket.IO packet)
//! followed by the attachments, each prefixed by its length; recipients
//! take zero-copy slices of it.

use bytes::{BufMut, Bytes, BytesMut};
use roomcast::{Message, MessageKind};

use crate::args;
use crate::eio::Frame;
use crate::sio::{self, PacketType};

#[cfg(test)]
thread_local! {
    /// Encodings done on this thread (tests count them).
    pub(crate) static ENCODES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The Socket.IO packet for a message plus its attachments.
fn encode(msg: &Message) -> Bytes {
    #[cfg(test)]
    ENCODES.with(|c| c.set(c.get() + 1));
    let nsp = msg.namespace().unwrap_or("/");
    let (text, attachments) = match msg.kind() {
        MessageKind::Event | MessageKind::Ack => {
            let is_event = msg.kind() == MessageKind::Event;
            let wire = msg
                .payload()
                .map(args::from_payload)
                .unwrap_or(args::WireArgs { json: String::new(), attachments: Vec::new() });
            let binary = !wire.attachments.is_empty();
            let kind = match (is_event, binary) {
                (true, false) => PacketType::Event,
                (true, true) => PacketType::BinaryEvent,
                (false, false) => PacketType::Ack,
                (false, true) => PacketType::BinaryAck,
            };
            let mut s = String::with_capacity(wire.json.len() + nsp.len() + 32);
            s.push('4');
            sio::write_header(&mut s, kind, wire.attachments.len(), nsp, msg.ack_id());
            s.push('[');
            if is_event {
                s.push_str(&serde_json::to_string(msg.event_name().unwrap_or_default()).unwrap_or_default());
                if !wire.json.is_empty() {
                    s.push(',');
                }
            }
            s.push_str(&wire.json);
            // Connection state recovery: the event's offset is its last
            // argument, a string (socket.io-client keeps the last one it
            // saw and presents it in its next CONNECT).
            if let Some(offset) = msg.offset() {
                s.push_str(",\"");
                s.push_str(&offset.to_string());
                s.push('"');
            }
            s.push(']');
            (s, wire.attachments)
        }
        MessageKind::Disconnect => {
            let mut s = String::from("4");
            sio::write_header(&mut s, PacketType::Disconnect, 0, nsp, None);
            (s, Vec::new())
        }
        // A lagged notice has no Socket.IO packet: nothing to send.
        MessageKind::Lagged => (String::new(), Vec::new()),
    };
    let mut out = BytesMut::with_capacity(4 + text.len() + attachments.iter().map(|a| a.len() + 4).sum::<usize>());
    out.put_u32(text.len() as u32);
    out.put_slice(text.as_bytes());
    for a in &attachments {
        out.put_u32(a.len() as u32);
        out.put_slice(a);
    }
    out.freeze()
}

/// Appends the frames of `msg` to `out` (none for a lagged notice).
pub(crate) fn message_frames(msg: &Message, out: &mut Vec<Frame>) {
    let enc = msg.encoded_with(encode);
    let mut pos = 0usize;
    let mut first = true;
    while pos + 4 <= enc.len() {
        let len = u32::from_be_bytes([enc[pos], enc[pos + 1], enc[pos + 2], enc[pos + 3]]) as usize;
        pos += 4;
        let part = enc.slice(pos..pos + len);
        pos += len;
        if first {
            if part.is_empty() {
                return;
            }
            out.push(Frame::Text(part));
            first = false;
        } else {
            out.push(Frame::Binary(part));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roomcast::{Config, DisconnectReason, Engine, Handshake, Payload};
    use std::sync::Arc;

    fn texts(frames: &[Frame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| match f {
                Frame::Text(t) => String::from_utf8(t.to_vec()).unwrap(),
                Frame::Binary(b) => format!("<{}>", b.len()),
            })
            .collect()
    }

    /// Connection state recovery: a kept event carries its offset as its
    /// last argument (a string), after every argument of the payload.
    #[test]
    fn a_kept_event_carries_its_offset_as_the_last_argument() {
        let engine =
            Engine::new(Config::builder().connection_state_recovery(roomcast::RecoveryConfig::new()).build().unwrap());
        let ns = engine.of("/r").unwrap();
        let (conn, outbox) = engine.connect();
        let s = conn.join_namespace("/r", Handshake::new()).unwrap();
        ns.emit("one", Payload::text("x")).unwrap();
        ns.emit("none", Payload::new(roomcast::Format::Json, r#"{"sioArgs":[]}"#).unwrap()).unwrap();
        s.emit("bin", Payload::binary(vec![1u8])).unwrap();
        ns.volatile().emit("v", Payload::text("y")).unwrap();
        let mut out = Vec::new();
        while let Ok(m) = outbox.try_recv() {
            message_frames(&m, &mut out);
        }
        assert_eq!(
            texts(&out),
            vec![
                r#"42/r,["one","x","1"]"#,
                r#"42/r,["none","2"]"#,
                r#"451-/r,["bin",{"_placeholder":true,"num":0},"3"]"#,
                "<1>",
                r#"42/r,["v","y"]"#,
            ]
        );
    }

    #[test]
    fn frames_of_each_kind() {
        let ns: Arc<str> = Arc::from("/chat");
        let mut out = Vec::new();
        message_frames(&Message::event(ns.clone(), "hi", Payload::text("x"), Some(4)), &mut out);
        message_frames(&Message::event(Arc::from("/"), "b", Payload::binary(vec![1u8, 2, 3]), None), &mut out);
        message_frames(
            &Message::ack(ns.clone(), 9, Payload::json(&serde_json::json!({"ok": true})).unwrap()),
            &mut out,
        );
        message_frames(&Message::ack(ns.clone(), 10, Payload::binary(Vec::new())), &mut out);
        message_frames(&Message::disconnect(ns.clone(), DisconnectReason::ServerNamespaceDisconnect), &mut out);
        message_frames(&Message::disconnect(Arc::from("/"), DisconnectReason::ServerNamespaceDisconnect), &mut out);
        message_frames(&Message::lagged(3), &mut out);
        message_frames(
            &Message::event(
                Arc::from("/"),
                "none",
                Payload::new(roomcast::Format::Json, r#"{"sioArgs":[]}"#).unwrap(),
                None,
            ),
            &mut out,
        );
        assert_eq!(
            texts(&out),
            vec![
                r#"42/chat,4["hi","x"]"#,
                r#"451-["b",{"_placeholder":true,"num":0}]"#,
                "<3>",
                r#"43/chat,9[{"ok":true}]"#,
                r#"461-/chat,10[{"_placeholder":true,"num":0}]"#,
                "<0>",
                "41/chat,",
                "41",
                r#"42["none"]"#,
            ]
        );
    }

    /// A broadcast to 100 sockets is encoded once: every recipient's writer
    /// takes the cached frames.
    #[test]
    fn broadcast_is_encoded_once() {
        let engine = Engine::new(Config::default());
        let room = engine.of("/room").unwrap();
        let mut outboxes = Vec::new();
        for _ in 0..100 {
            let (conn, outbox) = engine.connect();
            conn.join_namespace("/room", Handshake::new()).unwrap();
            outboxes.push((conn, outbox));
        }
        let before = ENCODES.with(|c| c.get());
        room.emit("news", Payload::binary(vec![7u8; 64])).unwrap();
        let mut all = Vec::new();
        for (_, outbox) in &outboxes {
            let msg = outbox.try_recv().unwrap();
            let mut frames = Vec::new();
            message_frames(&msg, &mut frames);
            all.push(frames);
        }
        assert_eq!(ENCODES.with(|c| c.get()) - before, 1, "one encoding for 100 recipients");
        assert!(all.iter().all(|f| f == &all[0] && f.len() == 2));
        // The recipients share the cached bytes: no copy per recipient.
        let (Frame::Text(a), Frame::Text(b)) = (&all[0][0], &all[99][0]) else { panic!() };
        assert_eq!(a.as_ptr(), b.as_ptr());
        // A second message is encoded on its own.
        room.emit("news", "again").unwrap();
        for (_, outbox) in &outboxes {
            message_frames(&outbox.try_recv().unwrap(), &mut Vec::new());
        }
        assert_eq!(ENCODES.with(|c| c.get()) - before, 2);
    }
}
