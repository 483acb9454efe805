//! The chat example: a page where people pick a name, join rooms and talk in
//! real time, served with the Socket.IO transport on the roomcast engine.
//!
//! ```text
//! cargo run --release --example chat -- [--addr 127.0.0.1] [--port 3000] [--admin-token T] [--quiet]
//! ```
//!
//! Open <http://127.0.0.1:3000> in two tabs. The page (`examples/chat/static`)
//! is plain HTML/CSS/JS with a small Socket.IO client of its own; the events
//! are described in `examples/chat/PROTOCOL.md`. `/admin` lists rooms and
//! users live and can disconnect a user; its namespace is guarded by a
//! middleware that checks the admin token (printed at start when not given).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use roomcast::{Config, ConnectError, Engine, Format, Handshake, Namespace, Payload, RoomEvent, Socket};
use roomcast_socketio::SocketIoServer;
use serde_json::{json, Value};

/// Chat room `lobby` lives in the engine as room `#lobby`, so that no chat
/// room can be named like a socket's own-id room (private messages).
const ROOM_PREFIX: &str = "#";

struct Options {
    addr: String,
    port: u16,
    admin_token: Option<String>,
    quiet: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options { addr: "127.0.0.1".into(), port: 3000, admin_token: None, quiet: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => o.addr = value()?,
            "--port" => o.port = value()?.parse().map_err(|_| "--port takes a number")?,
            "--admin-token" => o.admin_token = Some(value()?),
            "--quiet" => o.quiet = true,
            "-h" | "--help" => {
                println!("chat [--addr 127.0.0.1] [--port 3000] [--admin-token TOKEN] [--quiet]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(o)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A name or room as typed, checked: trimmed, 1 to `max` characters, no
/// control characters (a NUL, a newline or an escape in a name would
/// confuse every reader of the name: logs, the admin page, other clients).
fn clean(s: &str, max: usize) -> Result<String, Invalid> {
    let s = s.trim();
    if s.is_empty() || s.chars().count() > max {
        return Err(Invalid::Length);
    }
    if s.chars().any(char::is_control) {
        return Err(Invalid::Control);
    }
    Ok(s.to_owned())
}

/// Why a name or room was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Invalid {
    Length,
    Control,
}

/// The nickname from the CONNECT auth `{"name": ...}` (see [`clean`]).
fn name_from(hs: &Handshake) -> Result<String, Invalid> {
    let auth: Option<Value> = hs.auth_payload().and_then(|p| p.to_json().ok());
    let name = auth.as_ref().and_then(|a| a.get("name")).and_then(Value::as_str).unwrap_or("");
    clean(name, 24)
}

/// Per-socket state kept in the socket's data: the name's length (4 bytes,
/// little-endian), the name, then the current room when there is one. The
/// two are stored apart, so no name can pass for a name and a room.
fn user_of(socket: &Socket) -> (String, Option<String>) {
    let data = socket.data().unwrap_or_else(Payload::empty);
    decode_user(data.bytes())
}

fn decode_user(b: &[u8]) -> (String, Option<String>) {
    let Some((len, rest)) = b.split_first_chunk::<4>() else { return (String::new(), None) };
    let len = (u32::from_le_bytes(*len) as usize).min(rest.len());
    let (name, room) = rest.split_at(len);
    let name = String::from_utf8_lossy(name).into_owned();
    (name, (!room.is_empty()).then(|| String::from_utf8_lossy(room).into_owned()))
}

fn encode_user(name: &str, room: Option<&str>) -> Vec<u8> {
    let room = room.unwrap_or("");
    let mut out = Vec::with_capacity(4 + name.len() + room.len());
    out.extend_from_slice(&(name.len() as u32).to_le_bytes());
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(room.as_bytes());
    out
}

fn set_user(socket: &Socket, name: &str, room: Option<&str>) {
    socket.set_data(Payload::binary(encode_user(name, room)));
}

fn room_key(room: &str) -> String {
    format!("{ROOM_PREFIX}{room}")
}

fn json_payload(v: &Value) -> Payload {
    Payload::from(v)
}

/// The chat rooms that exist, kept from the namespace's room events: the
/// room list is asked for often (every client asks on connect), and
/// `Namespace::rooms` would list and sort every socket's own-id room too.
#[derive(Clone, Default)]
struct ChatRooms(std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>);

impl ChatRooms {
    fn on_room_event(&self, ev: &RoomEvent) {
        let mut rooms = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match ev {
            RoomEvent::Created { room } => {
                if let Some(name) = room.strip_prefix(ROOM_PREFIX) {
                    rooms.insert(name.to_owned());
                }
            }
            RoomEvent::Deleted { room } => {
                if let Some(name) = room.strip_prefix(ROOM_PREFIX) {
                    rooms.remove(name);
                }
            }
            _ => {}
        }
    }

    /// Chat rooms with their member counts, sorted by name.
    fn with_counts(&self, ns: &Namespace) -> Value {
        let names: Vec<String> = self.0.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect();
        Value::Array(
            names
                .into_iter()
                .map(|name| (ns.room_size(&room_key(&name)), name))
                .filter(|(n, _)| *n > 0)
                .map(|(members, name)| json!({ "name": name, "members": members }))
                .collect(),
        )
    }
}

/// Leaves the current room (if any), telling its other members.
fn leave_current(socket: &Socket) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (name, room) = user_of(socket);
    if let Some(room) = room {
        let key = room_key(&room);
        socket.leave(key.as_str())?;
        set_user(socket, &name, None);
        tell_left(socket, &name, &room)?;
    }
    Ok(())
}

/// Sends `user left` to the room's members other than `socket`.
fn tell_left(socket: &Socket, name: &str, room: &str) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let notice = json!({ "id": socket.id(), "name": name, "room": room });
    socket.namespace().to(room_key(room).as_str()).except(socket.id()).emit("user left", json_payload(&notice))?;
    Ok(())
}

fn chat_namespace(engine: &Engine, quiet: bool) -> Result<ChatRooms, Box<dyn std::error::Error>> {
    let chat = engine.of("/")?;
    let rooms = ChatRooms::default();
    let r = rooms.clone();
    chat.on_room_event(move |ev| r.on_room_event(ev));
    chat.use_middleware(|hs| match name_from(hs) {
        Ok(_) => Ok(()),
        Err(Invalid::Length) => Err(ConnectError::new("name required")),
        Err(Invalid::Control) => Err(ConnectError::new("names may not contain control characters")),
    });
    chat.on_connection(move |socket| {
        let name = name_from(socket.handshake()).unwrap_or_default();
        if !quiet {
            println!("connect {} ({name})", socket.id());
        }
        set_user(socket, &name, None);
    });
    chat.on("join", |socket, ev, ack| {
        let req: Value = ev.payload().to_json().unwrap_or(Value::Null);
        let room = match clean(req.get("room").and_then(Value::as_str).unwrap_or(""), 32) {
            Ok(room) => room,
            Err(e) => {
                let error = match e {
                    Invalid::Length => "room names are 1 to 32 characters",
                    Invalid::Control => "room names may not contain control characters",
                };
                if let Some(ack) = ack {
                    ack.send(json_payload(&json!({ "error": error })))?;
                }
                return Ok(());
            }
        };
        let (name, current) = user_of(socket);
        let key = room_key(&room);
        if current.as_deref() != Some(room.as_str()) {
            leave_current(socket)?;
            socket.join(key.as_str())?;
            set_user(socket, &name, Some(&room));
            let notice = json!({ "id": socket.id(), "name": name, "room": room });
            socket.to(key.as_str()).emit("user joined", json_payload(&notice))?;
        }
        if let Some(ack) = ack {
            let members: Vec<Value> = socket
                .namespace()
                .to(key.as_str())
                .fetch_sockets()?
                .iter()
                .map(|s| json!({ "id": s.id(), "name": user_of(s).0 }))
                .collect();
            ack.send(json_payload(&json!({ "room": room, "members": members })))?;
        }
        Ok(())
    })?;
    chat.on("leave", |socket, _ev, ack| {
        leave_current(socket)?;
        if let Some(ack) = ack {
            ack.send(json_payload(&json!({ "room": null })))?;
        }
        Ok(())
    })?;
    chat.on("message", |socket, ev, _ack| {
        let req: Value = ev.payload().to_json().unwrap_or(Value::Null);
        let Some(text) = req.get("text").and_then(Value::as_str) else { return Ok(()) };
        if text.is_empty() || text.chars().count() > 1000 {
            return Ok(());
        }
        let (name, Some(room)) = user_of(socket) else { return Ok(()) };
        // {"id","name","room","text","time"}, encoded once: every member of
        // the room gets the same bytes.
        let mut out = Vec::with_capacity(64 + name.len() + room.len() + text.len());
        out.extend_from_slice(b"{\"id\":");
        serde_json::to_writer(&mut out, socket.id())?;
        out.extend_from_slice(b",\"name\":");
        serde_json::to_writer(&mut out, &name)?;
        out.extend_from_slice(b",\"room\":");
        serde_json::to_writer(&mut out, &room)?;
        out.extend_from_slice(b",\"text\":");
        serde_json::to_writer(&mut out, text)?;
        out.extend_from_slice(format!(",\"time\":{}}}", now_ms()).as_bytes());
        socket.to(room_key(&room).as_str()).emit("message", Payload::new(Format::Json, out)?)?;
        Ok(())
    })?;
    chat.on("typing", |socket, ev, _ack| {
        let req: Value = ev.payload().to_json().unwrap_or(Value::Null);
        let (name, Some(room)) = user_of(socket) else { return Ok(()) };
        let typing = req.get("typing").and_then(Value::as_bool).unwrap_or(false);
        let body = json!({ "id": socket.id(), "name": name, "typing": typing });
        socket.to(room_key(&room).as_str()).emit("typing", json_payload(&body))?;
        Ok(())
    })?;
    chat.on("private message", |socket, ev, ack| {
        let req: Value = ev.payload().to_json().unwrap_or(Value::Null);
        let to = req.get("to").and_then(Value::as_str).unwrap_or("");
        let text = req.get("text").and_then(Value::as_str).unwrap_or("");
        let ns = socket.namespace();
        // Only a connected socket's own-id room, never a chat room.
        let ok = !text.is_empty() && text.chars().count() <= 1000 && ns.socket(to).is_some();
        if ok {
            let body = json!({ "id": socket.id(), "name": user_of(socket).0, "text": text, "time": now_ms() });
            ns.to(to).emit("private message", json_payload(&body))?;
        }
        if let Some(ack) = ack {
            ack.send(json_payload(&json!({ "ok": ok })))?;
        }
        Ok(())
    })?;
    let r = rooms.clone();
    chat.on("list rooms", move |socket, _ev, ack| {
        if let Some(ack) = ack {
            ack.send(json_payload(&r.with_counts(socket.namespace())))?;
        }
        Ok(())
    })?;
    // While the socket is still in its room: tell the room.
    chat.on_disconnecting(|socket, _reason| match user_of(socket) {
        (name, Some(room)) => tell_left(socket, &name, &room),
        _ => Ok(()),
    });
    chat.on_disconnect(move |socket, reason| {
        if !quiet {
            println!("disconnect {} ({}): {reason}", socket.id(), user_of(socket).0);
        }
    });
    Ok(rooms)
}

fn admin_namespace(engine: &Engine, token: String, rooms: ChatRooms) -> Result<(), Box<dyn std::error::Error>> {
    let admin = engine.of("/admin")?;
    admin.use_middleware(move |hs| {
        let auth: Option<Value> = hs.auth_payload().and_then(|p| p.to_json().ok());
        match auth.as_ref().and_then(|a| a.get("token")).and_then(Value::as_str) {
            Some(t) if t == token => Ok(()),
            _ => Err(ConnectError::new("unauthorized")),
        }
    });
    let chat = engine.of("/")?;
    let chat2 = chat.clone();
    admin.on("snapshot", move |_socket, _ev, ack| {
        let Some(ack) = ack else { return Ok(()) };
        let mut sockets: Vec<(String, String, Option<String>)> = chat
            .fetch_sockets()
            .iter()
            .map(|s| {
                let (name, room) = user_of(s);
                (name, s.id().to_owned(), room)
            })
            .collect();
        sockets.sort();
        let sockets: Vec<Value> =
            sockets.into_iter().map(|(name, id, room)| json!({ "id": id, "name": name, "room": room })).collect();
        ack.send(json_payload(&json!({ "rooms": rooms.with_counts(&chat), "sockets": sockets })))?;
        Ok(())
    })?;
    admin.on("kick", move |_socket, ev, ack| {
        let req: Value = ev.payload().to_json().unwrap_or(Value::Null);
        let id = req.get("id").and_then(Value::as_str).unwrap_or("");
        let kicked = if chat2.socket(id).is_some() { chat2.to(id).disconnect_sockets()? } else { 0 };
        if let Some(ack) = ack {
            ack.send(json_payload(&json!({ "kicked": kicked })))?;
        }
        Ok(())
    })?;
    Ok(())
}

fn asset(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = parse_args().unwrap_or_else(|e| {
        eprintln!("chat: {e}");
        std::process::exit(2);
    });
    let engine = Engine::new(Config::default());
    let rooms = chat_namespace(&engine, opts.quiet)?;
    let (token, generated) = match opts.admin_token.clone() {
        Some(t) => (t, false),
        // A bearer credential: core's generator, which fails rather than guess.
        None => (roomcast::random_id()?, true),
    };
    admin_namespace(&engine, token.clone(), rooms)?;

    let pages = axum::Router::new()
        .route("/", get(|| async { Html(include_str!("../../examples/chat/static/index.html")) }))
        .route("/admin", get(|| async { Html(include_str!("../../examples/chat/static/admin.html")) }))
        .route("/style.css", get(|| async { asset(include_str!("../../examples/chat/static/style.css"), "text/css") }))
        .route("/sio.js", get(|| async { asset(include_str!("../../examples/chat/static/sio.js"), "text/javascript") }))
        .route(
            "/chat.js",
            get(|| async { asset(include_str!("../../examples/chat/static/chat.js"), "text/javascript") }),
        )
        .route(
            "/admin.js",
            get(|| async { asset(include_str!("../../examples/chat/static/admin.js"), "text/javascript") }),
        );

    // The pages are served from the same origin as Socket.IO: no CORS.
    // `bind` brings the HTTP limits (header and body timeouts, connection
    // cap) and TCP_NODELAY for the chat's small frames.
    let server = SocketIoServer::new(engine).routes(pages).bind((opts.addr.as_str(), opts.port)).await?;
    let port = server.local_addr().port();
    println!("listening on *:{port}");
    if generated && !opts.quiet {
        println!("admin page: http://{}:{port}/admin?token={token}", opts.addr);
    }
    server.wait().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let engine = Engine::new(Config::default());
        chat_namespace(&engine, true).unwrap();
        engine
    }

    fn hs(name: &str) -> Handshake {
        Handshake::new().auth(Payload::from(&json!({ "name": name })))
    }

    #[test]
    fn names_and_rooms_with_control_characters_are_refused() {
        for bad in ["eve\0lobby", "a\nb", "bell\u{7}", "esc\u{1b}[2J", "c1\u{85}x"] {
            assert_eq!(clean(bad, 32), Err(Invalid::Control), "{bad:?}");
        }
        assert_eq!(clean("  ", 24), Err(Invalid::Length));
        assert_eq!(clean(&"x".repeat(25), 24), Err(Invalid::Length));
        assert_eq!(clean("  Jérôme ", 24).as_deref(), Ok("Jérôme"));
    }

    /// The attack: a name `eve\0secret` stored as `name\0room` read back as
    /// the name `eve` in room `secret`, a room eve never joined.
    #[test]
    fn a_name_with_nul_cannot_connect_or_pass_for_a_room() {
        let engine = engine();
        let (conn, _outbox) = engine.connect();
        let err = conn.join_namespace("/", hs("eve\0secret")).unwrap_err();
        assert!(err.to_string().contains("control characters"), "{err}");
        // Name and room are stored apart: whatever the name holds, it stays the name.
        let (conn, _outbox) = engine.connect();
        let socket = conn.join_namespace("/", hs("eve")).unwrap();
        assert_eq!(user_of(&socket), ("eve".to_owned(), None));
        set_user(&socket, "eve\0secret", None);
        assert_eq!(user_of(&socket), ("eve\0secret".to_owned(), None));
        set_user(&socket, "eve", Some("lob\0by"));
        assert_eq!(user_of(&socket), ("eve".to_owned(), Some("lob\0by".to_owned())));
        assert_eq!(decode_user(b""), (String::new(), None));
        assert_eq!(decode_user(&[200, 0, 0, 0, b'a']), ("a".to_owned(), None));
    }

    #[test]
    fn joining_a_room_with_control_characters_gets_an_error() {
        let engine = engine();
        let (conn, outbox) = engine.connect();
        let socket = conn.join_namespace("/", hs("eve")).unwrap();
        socket
            .dispatch(roomcast::Inbound::event("join", Payload::from(&json!({ "room": "sec\u{0}ret" }))).with_ack(1))
            .unwrap();
        let reply = outbox.try_recv().unwrap();
        let v: Value = reply.payload().unwrap().to_json().unwrap();
        assert_eq!(v, json!({ "error": "room names may not contain control characters" }));
        assert!(socket.rooms().iter().all(|r| !r.starts_with(ROOM_PREFIX)), "joined no chat room");
    }
}
