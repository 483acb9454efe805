//! The Socket.IO layer on the Engine.IO session: Socket.IO packets from
//! the session's messages (CONNECT joins a namespace of the engine, EVENT
//! and ACK go to its socket, binary packets are reassembled from their
//! attachments), and outbox messages to frames (`wire`), the messages of a
//! namespace held back until its CONNECT reply is out.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use roomcast::{DisconnectReason, Engine, Handshake, Inbound, JoinError, Message, Payload};
use tokio::time::Instant;

use crate::args;
use crate::eio::{self, Frame};
use crate::session::{Layer, Session};
use crate::sio::{self, PacketType, Reassembly};
use crate::wire;

/// The Socket.IO layer: sessions join namespaces of `engine`.
pub(crate) struct SioLayer {
    pub(crate) engine: Engine,
}

/// A Socket.IO session (the Engine.IO session with the Socket.IO layer).
pub(crate) type SioSession = Session<SioLayer>;

/// A session's Socket.IO state.
#[derive(Default)]
pub(crate) struct SioState {
    inbound: Mutex<InboundState>,
    /// Namespaces whose join is running: the task holds their messages
    /// back until the CONNECT reply is out.
    joining: Mutex<Vec<String>>,
    /// Some namespace was joined (the connect timeout checks it).
    joined_any: AtomicBool,
}

/// The inbound decoding state; guarded by `SioState::inbound`.
#[derive(Default)]
struct InboundState {
    /// A binary packet waiting for attachments, and when it must be complete.
    partial: Option<(Box<Reassembly>, Instant)>,
}

/// Commands to the session task.
pub(crate) enum SioCmd {
    /// The CONNECT reply for `nsp`: written, then the messages held back
    /// while the join ran.
    Connected(String, Frame),
    /// A CONNECT_ERROR for `nsp` (none when empty).
    Refused(String, Frame),
}

impl Layer for SioLayer {
    type State = SioState;
    type Task = Held;
    type Cmd = SioCmd;
    const CONNECT_TIMEOUT: bool = true;

    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn state(&self) -> SioState {
        SioState::default()
    }

    fn on_message(sess: &SioSession, p: eio::Packet) -> Result<(), DisconnectReason> {
        let st = &sess.layer;
        match p {
            eio::Packet::Message(text) => {
                let mut inbound = st.inbound.lock();
                if inbound.partial.is_some() {
                    return Err(DisconnectReason::ParseError);
                }
                let opts = &sess.shared.opts;
                let packet = sio::decode(&text, opts.max_attachments).map_err(|_| DisconnectReason::ParseError)?;
                if packet.kind.is_binary() && packet.attachments > 0 {
                    let r = Reassembly::new(packet, text.len(), opts.max_payload).map_err(refusal)?;
                    inbound.partial = Some((Box::new(r), Instant::now() + opts.partial_packet_timeout));
                    drop(inbound);
                    // The session task arms its timer for the deadline.
                    sess.wake();
                    return Ok(());
                }
                drop(inbound);
                on_sio(sess, packet, Vec::new())
            }
            eio::Packet::Binary(data) => {
                let mut inbound = st.inbound.lock();
                let Some((partial, _)) = inbound.partial.as_mut() else { return Err(DisconnectReason::ParseError) };
                if !partial.push(data).map_err(refusal)? {
                    return Ok(());
                }
                let done = inbound.partial.take();
                drop(inbound);
                match done {
                    Some((r, _)) => on_sio(sess, r.packet, r.buffers),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    fn frames(sess: &SioSession, held: &mut Held, msgs: std::vec::Drain<'_, Message>, out: &mut Vec<Frame>) {
        let joining = {
            let j = sess.layer.joining.lock();
            if j.is_empty() {
                Vec::new()
            } else {
                j.clone()
            }
        };
        for msg in msgs {
            match msg.namespace() {
                Some(n) if joining.iter().any(|j| j == n) => held.push(n.to_string(), msg),
                _ => wire::message_frames(&msg, out),
            }
        }
    }

    fn on_cmd(sess: &SioSession, held: &mut Held, cmd: SioCmd, out: &mut Vec<Frame>) {
        match cmd {
            SioCmd::Connected(nsp, f) => {
                out.push(f);
                leave_joining(sess, &nsp);
                for msg in held.take(&nsp) {
                    wire::message_frames(&msg, out);
                }
            }
            SioCmd::Refused(nsp, f) => {
                if !f.is_empty() {
                    out.push(f);
                }
                leave_joining(sess, &nsp);
                held.take(&nsp);
            }
        }
    }

    /// When the binary packet waiting for attachments must be complete.
    fn deadline(sess: &SioSession) -> Option<Instant> {
        sess.layer.inbound.lock().partial.as_ref().map(|(_, d)| *d)
    }

    fn connected(sess: &SioSession) -> bool {
        sess.layer.joined_any.load(Ordering::Acquire)
    }
}

/// The reason a binary packet over `max_payload` closes its session with
/// (close code 1009 over WebSocket, HTTP 413 over polling, like a message
/// over the limit).
fn refusal(_: sio::DecodeError) -> DisconnectReason {
    DisconnectReason::TransportError
}

fn on_sio(sess: &SioSession, packet: sio::Packet, attachments: Vec<Bytes>) -> Result<(), DisconnectReason> {
    // The first packet for a namespace is its CONNECT, and a joined
    // namespace gets no second one: anything else closes the connection,
    // as the reference server does (`forced server close`).
    let socket = sess.conn.socket(&packet.nsp);
    match (packet.kind, socket) {
        (PacketType::Connect, None) => connect(sess, packet),
        (PacketType::Connect | PacketType::ConnectError, _) | (_, None) => Err(DisconnectReason::ForcedServerClose),
        (PacketType::Disconnect, Some(s)) => {
            s.disconnect_with(DisconnectReason::ClientNamespaceDisconnect);
            Ok(())
        }
        (PacketType::Event | PacketType::BinaryEvent, Some(socket)) => {
            let (name, list) = packet.event_args().map_err(|_| DisconnectReason::ParseError)?;
            let mut ev = Inbound::event(name, args::to_payload(list, attachments));
            if let Some(id) = packet.id {
                ev = ev.with_ack(id);
            }
            // A refused event (invalid name, too large, socket gone) is
            // dropped like Socket.IO drops events nobody can take.
            let _ = socket.dispatch(ev);
            Ok(())
        }
        (PacketType::Ack | PacketType::BinaryAck, Some(socket)) => {
            let (_, list) = packet.event_args().map_err(|_| DisconnectReason::ParseError)?;
            if let Some(id) = packet.id {
                let _ = socket.receive_ack(id, args::to_payload(list, attachments));
            }
            Ok(())
        }
    }
}

fn connect(sess: &SioSession, packet: sio::Packet) -> Result<(), DisconnectReason> {
    let nsp = packet.nsp;
    // A reconnecting client's session id and last offset (connection
    // state recovery), taken out of the auth the host sees.
    let (data, resume) = match packet.data {
        Some(d) => take_resume(d),
        None => (None, None),
    };
    // No auth is the empty object, as Socket.IO handlers see it (see
    // "Auth" in the crate docs).
    let auth = match data {
        Some(d) => args::to_payload(vec![d], Vec::new()),
        None => Payload::from(serde_json::Value::Object(serde_json::Map::new())),
    };
    // The opening request's handshake, built once, copied per CONNECT.
    let hs = Handshake::clone(&sess.base).auth(auth);
    sess.layer.joining.lock().push(nsp.clone());
    let result = match &resume {
        Some((pid, offset)) => sess.conn.resume_namespace(&nsp, hs, pid, *offset),
        None => sess.conn.join_namespace(&nsp, hs),
    };
    let reply =
        |kind, data: String| Frame::Text(Bytes::from(format!("4{}", sio::encode(kind, &nsp, None, 0, Some(&data)))));
    match result {
        Ok(socket) => {
            sess.layer.joined_any.store(true, Ordering::Release);
            let sid = serde_json::to_string(socket.id()).unwrap_or_default();
            let data = match socket.session_id() {
                // The private session id, for this client only.
                Some(pid) => format!(r#"{{"sid":{sid},"pid":{}}}"#, serde_json::to_string(pid).unwrap_or_default()),
                None => format!(r#"{{"sid":{sid}}}"#),
            };
            sess.command(SioCmd::Connected(nsp.clone(), reply(PacketType::Connect, data)));
        }
        // Joined meanwhile: a second CONNECT.
        Err(JoinError::AlreadyJoined(_)) => {
            leave_joining(sess, &nsp);
            return Err(DisconnectReason::ForcedServerClose);
        }
        Err(JoinError::ConnectionClosed) => sess.command(SioCmd::Refused(nsp.clone(), Frame::Text(Bytes::new()))),
        Err(e) => {
            let (message, data) = match e {
                JoinError::Refused(c) => (c.message, c.data),
                _ => ("Invalid namespace".to_string(), None),
            };
            let mut s = format!(r#"{{"message":{}"#, serde_json::to_string(&message).unwrap_or_default());
            if let Some(d) = data {
                s.push_str(r#","data":"#);
                s.push_str(&args::as_json_value(&d));
            }
            s.push('}');
            sess.command(SioCmd::Refused(nsp.clone(), reply(PacketType::ConnectError, s)));
        }
    }
    Ok(())
}

/// A JSON value as received.
type RawArg = Box<serde_json::value::RawValue>;
/// A recovery request: the session id and the last offset seen.
type Resume = (String, Option<u64>);

/// Splits a CONNECT's data into the auth the host sees and the recovery
/// request socket.io-client adds to it after a drop: `pid` (the session
/// id it was given) and `offset` (the last offset it saw; absent when it
/// saw none). An offset that is not one of ours can never match: the
/// resume then gives a fresh socket, as for an offset no longer kept.
pub(crate) fn take_resume(data: RawArg) -> (Option<RawArg>, Option<Resume>) {
    let raw = data.get();
    if !raw.trim_start().starts_with('{') || !raw.contains("\"pid\"") {
        return (Some(data), None);
    }
    let Ok(mut map) = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw) else {
        return (Some(data), None);
    };
    let Some(serde_json::Value::String(pid)) = map.get("pid").cloned() else { return (Some(data), None) };
    map.remove("pid");
    let offset = match map.remove("offset") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(o)) => Some(o.parse::<u64>().unwrap_or(u64::MAX)),
        Some(_) => Some(u64::MAX),
    };
    let rest = serde_json::value::to_raw_value(&map).ok();
    (rest, Some((pid, offset)))
}

/// Messages held back per namespace while its join runs (a short list: one
/// entry per namespace joining at once).
#[derive(Default)]
pub(crate) struct Held(Vec<(String, Vec<Message>)>);

impl Held {
    fn push(&mut self, nsp: String, msg: Message) {
        match self.0.iter_mut().find(|(n, _)| *n == nsp) {
            Some((_, list)) => list.push(msg),
            None => self.0.push((nsp, vec![msg])),
        }
    }

    /// Removes and returns the messages held for `nsp`.
    fn take(&mut self, nsp: &str) -> Vec<Message> {
        let Some(i) = self.0.iter().position(|(n, _)| n == nsp) else { return Vec::new() };
        let (_, list) = self.0.swap_remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        list
    }
}

/// The join of `nsp` is over (its CONNECT reply is out).
fn leave_joining(sess: &SioSession, nsp: &str) {
    let mut j = sess.layer.joining.lock();
    j.retain(|n| n != nsp);
    if j.is_empty() {
        // Free the list: an idle session keeps no capacity here.
        *j = Vec::new();
    }
}

#[cfg(test)]
impl SioState {
    /// The capacity of the joining list (tests check an idle session holds none).
    pub(crate) fn joining_capacity(&self) -> usize {
        self.joining.lock().capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::take_resume;
    use proptest::prelude::*;
    use serde_json::value::RawValue;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn a_reconnect_carries_pid_and_offset_out_of_the_auth() {
        let (auth, resume) = take_resume(raw(r#"{"pid":"p1","offset":"42","name":"ada"}"#));
        assert_eq!(auth.unwrap().get(), r#"{"name":"ada"}"#);
        assert_eq!(resume, Some(("p1".to_string(), Some(42))));
        // No event seen before the drop: socket.io-client sends no offset.
        let (auth, resume) = take_resume(raw(r#"{"pid":"p1"}"#));
        assert_eq!((auth.unwrap().get(), resume), ("{}", Some(("p1".to_string(), None))));
        // An offset that is not ours can never match (a fresh socket).
        assert_eq!(take_resume(raw(r#"{"pid":"p","offset":"abc"}"#)).1, Some(("p".into(), Some(u64::MAX))));
        assert_eq!(take_resume(raw(r#"{"pid":"p","offset":7}"#)).1, Some(("p".into(), Some(u64::MAX))));
        // Not a resume: left alone.
        for plain in [r#"{"name":"ada"}"#, r#""text""#, "[1]", r#"{"pid":3}"#, r#"{"x":"\"pid\""}"#] {
            let (auth, resume) = take_resume(raw(plain));
            assert_eq!((auth.unwrap().get(), resume), (plain, None));
        }
    }

    proptest! {
        /// CONNECT data is client input: any JSON value is either left
        /// alone or split into auth and a resume request, never a panic.
        #[test]
        fn connect_data_from_the_network_never_panics(
            pid in prop::option::of("[a-zA-Z0-9_-]{0,12}"),
            offset in prop::option::of(prop_oneof![any::<u64>().prop_map(|o| format!("\"{o}\"")), "[ -~]{0,8}".prop_map(|s| serde_json::to_string(&s).unwrap()), Just("null".to_string()), Just("1.5".to_string())]),
            extra in prop::collection::btree_map("[a-z]{1,6}", any::<i32>(), 0..4),
        ) {
            let mut fields: Vec<String> = extra.iter().map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap())).collect();
            if let Some(p) = &pid { fields.push(format!(r#""pid":{}"#, serde_json::to_string(p).unwrap())); }
            if let Some(o) = &offset { fields.push(format!(r#""offset":{o}"#)); }
            let text = format!("{{{}}}", fields.join(","));
            let Ok(data) = RawValue::from_string(text) else { return Ok(()) };
            let (auth, resume) = take_resume(data);
            prop_assert_eq!(resume.is_some(), pid.is_some());
            let auth: serde_json::Map<String, serde_json::Value> = serde_json::from_str(auth.unwrap().get()).unwrap();
            let has_offset = extra.contains_key("offset");
            for k in extra.keys().filter(|k| *k != "pid" && *k != "offset") {
                prop_assert!(auth.contains_key(k));
            }
            prop_assert!(pid.is_none() || (!auth.contains_key("pid") && (!auth.contains_key("offset") || has_offset && offset.is_none())));
        }
    }
}
