//! The floor of the chat head-to-head: the smallest server that speaks the
//! part of the chat protocol (`examples/chat/PROTOCOL.md`) the load generator
//! uses, over Engine.IO v4 / Socket.IO v5 on WebSocket, with no engine. It
//! shows what the kernel, the WebSocket framing and the JSON of a message
//! cost, so the head-to-head can say how far a real server is from it.
//!
//! What it does, and nothing more:
//! - the WebSocket upgrade of `GET /socket.io/?EIO=4&transport=websocket`
//!   and the Engine.IO open packet; a ping every 25 s, the connection closed
//!   when no pong came within 20 s; WebSocket ping/pong and close;
//! - CONNECT to namespace `/` with auth `{"name"}` (1 to 24 characters);
//! - `join` (ack `{"room","members"}`, `user joined` to the room) and
//!   `message` (`{"id","name","room","text","time"}` to the room except
//!   the sender); `user left` when a member leaves or disconnects. Every
//!   other event is ignored.
//!
//! How: one task per connection reads its socket and writes everything
//! queued for it in one `write` per wake-up (the batching the roomcast
//! server does). A room is a plain vector of connections behind a lock; an
//! outbound frame is encoded once, into a buffer the connection reuses, and
//! the same bytes are appended to every member's pending output, waking the
//! member's task only when that output was empty. `TCP_NODELAY` is set on
//! every accepted socket. Pending output is not bounded: the load generator
//! bounds what is in flight.
//!
//! `floor-chat [--addr 127.0.0.1] [--port 3000] [--quiet]`

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, Write as _};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use serde::Deserialize;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;

const PING_INTERVAL: Duration = Duration::from_secs(25);
const PING_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest message accepted from a client (the `maxPayload` announced).
const MAX_PAYLOAD: usize = 1_000_000;
/// Largest opening HTTP request.
const MAX_REQUEST: usize = 8 * 1024;

/// One connection as the others see it.
struct Conn {
    /// The Socket.IO socket id (20 characters, like Node's).
    sid: String,
    /// Set by the CONNECT.
    name: OnceLock<String>,
    /// Frames waiting for the connection's task to write them.
    out: Mutex<Vec<u8>>,
    /// Wakes the connection's task when `out` becomes non-empty.
    wake: Notify,
}

impl Conn {
    /// Queues an encoded frame; wakes the task only on empty → non-empty.
    fn push(&self, frame: &[u8]) {
        let mut out = self.out.lock().unwrap();
        let was_empty = out.is_empty();
        out.extend_from_slice(frame);
        drop(out);
        if was_empty {
            self.wake.notify_one();
        }
    }
}

/// The members of one room, in join order.
type Room = RwLock<Vec<Arc<Conn>>>;

/// Every room by name. Lock order: this map, then a room.
#[derive(Default)]
struct Rooms(Mutex<HashMap<String, Arc<Room>>>);

impl Rooms {
    fn join(&self, name: &str, conn: &Arc<Conn>) -> Arc<Room> {
        let mut map = self.0.lock().unwrap();
        let room = map.entry(name.to_owned()).or_default().clone();
        room.write().unwrap().push(conn.clone());
        room
    }

    fn leave(&self, name: &str, room: &Room, conn: &Arc<Conn>) {
        let mut map = self.0.lock().unwrap();
        let mut members = room.write().unwrap();
        members.retain(|m| !Arc::ptr_eq(m, conn));
        if members.is_empty() {
            map.remove(name);
        }
    }
}

/// Appends an unmasked WebSocket text frame holding `payload`.
fn text_frame(out: &mut Vec<u8>, payload: &[u8]) {
    let len = payload.len();
    out.push(0x81);
    if len < 126 {
        out.push(len as u8);
    } else if len <= 0xFFFF {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
}

/// Encodes one frame into `scratch` (payload built by `body`, then framed)
/// and appends it to every member of `room` except `except`.
fn broadcast(scratch: &mut Vec<u8>, room: &Room, except: &Arc<Conn>, body: impl FnOnce(&mut Vec<u8>)) {
    scratch.clear();
    // Room for the longest header, written in front of the payload once its
    // length is known.
    scratch.extend_from_slice(&[0; 10]);
    body(scratch);
    let len = scratch.len() - 10;
    let start = match len {
        0..=125 => {
            scratch[9] = len as u8;
            8
        }
        126..=0xFFFF => {
            scratch[7] = 126;
            scratch[8..10].copy_from_slice(&(len as u16).to_be_bytes());
            6
        }
        _ => {
            scratch[1] = 127;
            scratch[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            0
        }
    };
    scratch[start] = 0x81;
    let frame = &scratch[start..];
    for m in room.read().unwrap().iter() {
        if !Arc::ptr_eq(m, except) {
            m.push(frame);
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The start of a packet about a member, `42["<event>",{"id","name","room"`,
/// into `o`: the caller adds any other fields and the closing `}]`.
fn member_event(o: &mut Vec<u8>, event: &str, sid: &str, user: &str, room: &str) {
    o.extend_from_slice(b"42[");
    json_str(o, event);
    o.extend_from_slice(b",{\"id\":");
    json_str(o, sid);
    o.extend_from_slice(b",\"name\":");
    json_str(o, user);
    o.extend_from_slice(b",\"room\":");
    json_str(o, room);
}

/// A member joined or left a room: `42["<event>",{"id","name","room"}]`.
fn presence(o: &mut Vec<u8>, event: &str, sid: &str, user: &str, room: &str) {
    member_event(o, event, sid, user, room);
    o.extend_from_slice(b"}]");
}

/// `"..."` as a JSON string.
fn json_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("a string serializes");
}

/// The arguments of the two events handled; other fields are ignored.
#[derive(Deserialize)]
struct Args<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    room: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Auth<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

/// What a packet asks of the connection's loop.
enum Next {
    Continue,
    Close,
}

/// One connection's state on its task.
struct Session {
    conn: Arc<Conn>,
    rooms: Arc<Rooms>,
    /// Whether the client joined namespace `/`.
    connected: bool,
    /// The chat room the user is in.
    room: Option<(String, Arc<Room>)>,
    /// A pong is awaited (a ping was sent).
    awaiting_pong: bool,
    pong: bool,
    /// Reused for every frame this connection builds.
    scratch: Vec<u8>,
}

impl Session {
    /// Queues a text frame for this connection itself.
    fn reply(&mut self, payload: &[u8]) {
        self.scratch.clear();
        text_frame(&mut self.scratch, payload);
        self.conn.push(&self.scratch);
    }

    fn leave(&mut self) {
        let Some((name, room)) = self.room.take() else { return };
        self.rooms.leave(&name, &room, &self.conn);
        let (sid, user) = (&self.conn.sid, self.conn.name.get().map_or("", String::as_str));
        broadcast(&mut self.scratch, &room, &self.conn, |o| presence(o, "user left", sid, user, &name));
    }

    /// One Engine.IO packet (the payload of a text frame).
    fn on_packet(&mut self, p: &[u8]) -> Next {
        match p.first() {
            Some(b'3') => self.pong = true,
            Some(b'2') => self.reply(b"3"),
            Some(b'1') => return Next::Close,
            Some(b'4') => return self.on_socketio(&p[1..]),
            _ => {}
        }
        Next::Continue
    }

    /// One Socket.IO packet of namespace `/` (other namespaces are refused).
    fn on_socketio(&mut self, p: &[u8]) -> Next {
        let (kind, mut rest) = match p.split_first() {
            Some((k, r)) => (*k, r),
            None => return Next::Continue,
        };
        if rest.first() == Some(&b'/') {
            let ns_end = rest.iter().position(|&b| b == b',').unwrap_or(rest.len());
            if &rest[..ns_end] != b"/" {
                if kind == b'0' {
                    let mut r = b"44".to_vec();
                    r.extend_from_slice(&rest[..ns_end]);
                    r.extend_from_slice(b",{\"message\":\"Invalid namespace\"}");
                    self.reply(&r);
                }
                return Next::Continue;
            }
            rest = rest.get(ns_end + 1..).unwrap_or_default();
        }
        match kind {
            b'0' => self.on_connect(rest),
            b'1' => {
                self.leave();
                self.connected = false;
            }
            b'2' if self.connected => {
                let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let ack: Option<u64> = std::str::from_utf8(&rest[..digits]).ok().and_then(|d| d.parse().ok());
                self.on_event(&rest[digits..], ack);
            }
            _ => {}
        }
        Next::Continue
    }

    fn on_connect(&mut self, auth: &[u8]) {
        let name = serde_json::from_slice::<Auth>(auth).ok().and_then(|a| a.name).map(|n| n.trim().to_owned());
        let name = name.filter(|n| !n.is_empty() && n.chars().count() <= 24);
        let Some(name) = name else {
            self.reply(b"44{\"message\":\"name required\"}");
            return;
        };
        if !self.connected {
            let _ = self.conn.name.set(name);
            self.connected = true;
        }
        let mut r = b"40{\"sid\":".to_vec();
        json_str(&mut r, &self.conn.sid);
        r.push(b'}');
        self.reply(&r);
    }

    fn on_event(&mut self, data: &[u8], ack: Option<u64>) {
        let Ok((event, args)) = serde_json::from_slice::<(Cow<str>, Args)>(data) else { return };
        match &*event {
            "message" => {
                let Some(text) = args.text.filter(|t| !t.is_empty() && t.chars().count() <= 1000) else { return };
                let Some((room_name, room)) = &self.room else { return };
                let (sid, name) = (&self.conn.sid, self.conn.name.get().map_or("", String::as_str));
                broadcast(&mut self.scratch, room, &self.conn, |o| {
                    member_event(o, "message", sid, name, room_name);
                    o.extend_from_slice(b",\"text\":");
                    json_str(o, &text);
                    let _ = write!(o, ",\"time\":{}}}]", now_ms());
                });
            }
            "join" => {
                let room = args.room.as_deref().map(str::trim).unwrap_or("");
                let mut reply = Vec::new();
                if let Some(ack) = ack {
                    let _ = write!(reply, "43{ack}[");
                }
                if room.is_empty() || room.chars().count() > 32 {
                    reply.extend_from_slice(b"{\"error\":\"room names are 1 to 32 characters\"}]");
                } else {
                    self.join(room, &mut reply);
                }
                if ack.is_some() {
                    self.reply(&reply);
                }
            }
            _ => {}
        }
    }

    /// Joins `name` (leaving the current room) and writes the ack's
    /// `{"room","members"}` into `reply`.
    fn join(&mut self, name: &str, reply: &mut Vec<u8>) {
        let key = format!("#{name}");
        if self.room.as_ref().is_none_or(|(k, _)| *k != key) {
            self.leave();
            let room = self.rooms.join(&key, &self.conn);
            let (sid, user) = (&self.conn.sid, self.conn.name.get().map_or("", String::as_str));
            broadcast(&mut self.scratch, &room, &self.conn, |o| presence(o, "user joined", sid, user, name));
            self.room = Some((key, room));
        }
        reply.extend_from_slice(b"{\"room\":");
        json_str(reply, name);
        reply.extend_from_slice(b",\"members\":[");
        if let Some((_, room)) = &self.room {
            for (i, m) in room.read().unwrap().iter().enumerate() {
                if i > 0 {
                    reply.push(b',');
                }
                reply.extend_from_slice(b"{\"id\":");
                json_str(reply, &m.sid);
                reply.extend_from_slice(b",\"name\":");
                json_str(reply, m.name.get().map_or("", String::as_str));
                reply.push(b'}');
            }
        }
        reply.extend_from_slice(b"]}]");
    }

    /// Handles every complete client frame at the start of `buf` (unmasking
    /// in place); returns how many bytes were used, or `None` to close.
    fn on_frames(&mut self, buf: &mut [u8]) -> Option<usize> {
        let mut at = 0;
        loop {
            let b = &buf[at..];
            if b.len() < 2 {
                return Some(at);
            }
            let (fin, op, masked) = (b[0] & 0x80 != 0, b[0] & 0x0F, b[1] & 0x80 != 0);
            let (len, head) = match b[1] & 0x7F {
                126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
                127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")), 10),
                126 | 127 => return Some(at),
                n => (u64::from(n), 2),
            };
            // Clients mask every frame; this server takes no fragments.
            if !masked || !fin || len > MAX_PAYLOAD as u64 {
                return None;
            }
            let len = len as usize;
            if b.len() < head + 4 + len {
                return Some(at);
            }
            let mask = [b[head], b[head + 1], b[head + 2], b[head + 3]];
            let start = at + head + 4;
            let payload = &mut buf[start..start + len];
            for (i, x) in payload.iter_mut().enumerate() {
                *x ^= mask[i & 3];
            }
            at = start + len;
            match op {
                0x1 => {
                    if let Next::Close = self.on_packet(&buf[start..at]) {
                        return None;
                    }
                }
                0x9 => {
                    self.scratch.clear();
                    self.scratch.push(0x8A);
                    self.scratch.push(len.min(125) as u8);
                    self.scratch.extend_from_slice(&buf[start..start + len.min(125)]);
                    self.conn.push(&self.scratch);
                }
                0x8 => {
                    self.conn.push(&[0x88, 0]);
                    return None;
                }
                _ => {}
            }
        }
    }
}

/// Reads the opening request; returns its `Sec-WebSocket-Key` and any bytes
/// after it, or answers 400 and returns `None`.
async fn upgrade_request(tcp: &mut TcpStream) -> io::Result<Option<(String, Vec<u8>)>> {
    let mut req = Vec::with_capacity(1024);
    let end = loop {
        if let Some(at) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        if req.len() > MAX_REQUEST {
            return Ok(None);
        }
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        req.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&req[..end]);
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let target_ok = first.starts_with("GET /socket.io/?")
        && first.contains("EIO=4")
        && first.contains("transport=websocket")
        && first.ends_with(" HTTP/1.1");
    let mut key = None;
    let mut upgrade = false;
    for l in lines {
        let Some((n, v)) = l.split_once(':') else { continue };
        let (n, v) = (n.trim(), v.trim());
        if n.eq_ignore_ascii_case("sec-websocket-key") {
            key = Some(v.to_owned());
        } else if n.eq_ignore_ascii_case("upgrade") && v.eq_ignore_ascii_case("websocket") {
            upgrade = true;
        }
    }
    match key {
        Some(k) if target_ok && upgrade => Ok(Some((k, req[end + 4..].to_vec()))),
        _ => {
            tcp.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?;
            Ok(None)
        }
    }
}

/// RFC 6455's `Sec-WebSocket-Accept` for `key`.
fn accept_key(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC11B65");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

async fn connection(mut tcp: TcpStream, rooms: Arc<Rooms>, id: u64) -> io::Result<()> {
    tcp.set_nodelay(true)?;
    let Some((key, early)) = upgrade_request(&mut tcp).await? else { return Ok(()) };
    let conn = Arc::new(Conn {
        sid: format!("{id:020}"),
        name: OnceLock::new(),
        out: Mutex::new(Vec::new()),
        wake: Notify::new(),
    });
    let mut s = Session {
        conn: conn.clone(),
        rooms,
        connected: false,
        room: None,
        awaiting_pong: false,
        pong: false,
        scratch: Vec::new(),
    };
    let mut hello = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        accept_key(&key)
    )
    .into_bytes();
    let open = format!(
        "0{{\"sid\":\"{}\",\"upgrades\":[],\"pingInterval\":{},\"pingTimeout\":{},\"maxPayload\":{MAX_PAYLOAD}}}",
        conn.sid,
        PING_INTERVAL.as_millis(),
        PING_TIMEOUT.as_millis()
    );
    text_frame(&mut hello, open.as_bytes());
    tcp.write_all(&hello).await?;
    let r = session(&mut tcp, &mut s, early).await;
    s.leave();
    r
}

/// The connection's loop: read, handle, write what is queued, until closed.
async fn session(tcp: &mut TcpStream, s: &mut Session, early: Vec<u8>) -> io::Result<()> {
    // Bytes of an incomplete frame (usually empty).
    let mut partial = early;
    let mut writing = Vec::new();
    let mut timer = pin!(tokio::time::sleep(PING_INTERVAL));
    let mut open = true;
    while open {
        let mut fired = false;
        tokio::select! {
            biased;
            r = tcp.readable() => {
                r?;
                open = read_ready(tcp, s, &mut partial)?;
            }
            _ = s.conn.wake.notified() => {}
            () = &mut timer => fired = true,
        }
        if fired {
            if s.awaiting_pong {
                return Ok(());
            }
            s.reply(b"2");
            s.awaiting_pong = true;
            timer.as_mut().reset(Instant::now() + PING_TIMEOUT);
        } else if std::mem::take(&mut s.pong) && s.awaiting_pong {
            s.awaiting_pong = false;
            timer.as_mut().reset(Instant::now() + PING_INTERVAL);
        }
        std::mem::swap(&mut writing, &mut *s.conn.out.lock().unwrap());
        if !writing.is_empty() {
            tcp.write_all(&writing).await?;
            writing.clear();
        }
    }
    Ok(())
}

/// Reads what the socket has (into a buffer on the stack) and handles every
/// complete frame; `Ok(false)` once the client closed.
fn read_ready(tcp: &TcpStream, s: &mut Session, partial: &mut Vec<u8>) -> io::Result<bool> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match tcp.try_read(&mut buf) {
            Ok(0) => return Ok(false),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
            Err(e) => return Err(e),
        };
        if partial.is_empty() {
            let Some(used) = s.on_frames(&mut buf[..n]) else { return Ok(false) };
            partial.extend_from_slice(&buf[used..n]);
        } else {
            partial.extend_from_slice(&buf[..n]);
            let Some(used) = s.on_frames(partial) else { return Ok(false) };
            partial.drain(..used);
            if partial.is_empty() {
                *partial = Vec::new();
            }
        }
        if n < buf.len() {
            return Ok(true);
        }
    }
}

#[tokio::main]
async fn main() -> io::Result<()> {
    let (mut addr, mut port) = ("127.0.0.1".to_owned(), 3000u16);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--port" => port = args.next().and_then(|p| p.parse().ok()).expect("--port takes a number"),
            "--quiet" => {}
            _ => {
                eprintln!("floor-chat [--addr 127.0.0.1] [--port 3000] [--quiet]");
                std::process::exit(2);
            }
        }
    }
    let listener = TcpListener::bind((addr.as_str(), port)).await?;
    println!("listening on *:{}", listener.local_addr()?.port());
    let rooms = Arc::new(Rooms::default());
    let ids = AtomicU64::new(1);
    loop {
        let (tcp, _) = match listener.accept().await {
            Ok(a) => a,
            Err(_) => {
                // Out of descriptors or a reset before accept: try again shortly.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let (rooms, id) = (rooms.clone(), ids.fetch_add(1, Ordering::Relaxed));
        tokio::spawn(async move {
            let _ = connection(tcp, rooms, id).await;
        });
    }
}
