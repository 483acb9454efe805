//! The chat example: a page where people pick a name, join rooms and talk in
//! real time, served with the Socket.IO transport on the roomcast engine.
//!
//! ```text
//! cargo run --release --example chat -- [--addr 127.0.0.1] [--port 3000] [--admin-token T] [--quiet]
//!                                        [--redis redis://127.0.0.1:6379] [--node NAME]
//! ```
//!
//! Open <http://127.0.0.1:3000> in two tabs. The page (`examples/chat/static`)
//! is plain HTML/CSS/JS with a small Socket.IO client of its own; the events
//! are described in `examples/chat/PROTOCOL.md`. `/admin` lists rooms and
//! users live and can disconnect a user; its namespace is guarded by a
//! middleware that checks the admin token (printed at start when not given).
//!
//! **Several nodes.** With `--redis URL` the engine uses the Redis adapter
//! (`roomcast-redis`): chat servers on different ports (or machines) that
//! name the same Redis share rooms, private messages, member lists, room
//! counts and the admin view; each log line starts with the node's name
//! (`--node`, by default `addr:port`). Member lists, room counts, the
//! admin snapshot and kicks are cluster queries (`cluster_fetch_sockets`,
//! `cluster_disconnect_sockets`) that wait for the other nodes, so their
//! handlers run on tokio's blocking pool rather than the connection's task;
//! when Redis is unreachable they answer with this node's part.
//!
//! **Connection state recovery** is on: a tab whose connection drops for a
//! few seconds reconnects with its session id and gets its socket back
//! (same id, still in its room) plus the messages it missed, and the page
//! says so; the room hears nothing of the short absence. A reconnect that
//! lands on another node (or after two minutes) starts a fresh session: the
//! page says so and joins its room again.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;

use roomcast::{
    Config, ConnectError, Engine, Format, Handshake, Namespace, Payload, RecoveryConfig, RemoteSocket, RoomEvent,
    Socket,
};
use roomcast_redis::{RedisAdapter, RedisConfig};
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
    redis: Option<String>,
    node: Option<String>,
}

fn parse_args() -> Result<Options, String> {
    let mut o =
        Options { addr: "127.0.0.1".into(), port: 3000, admin_token: None, quiet: false, redis: None, node: None };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--addr" => o.addr = value()?,
            "--port" => o.port = value()?.parse().map_err(|_| "--port takes a number")?,
            "--admin-token" => o.admin_token = Some(value()?),
            "--quiet" => o.quiet = true,
            "--redis" => o.redis = Some(value()?),
            "--node" => o.node = Some(value()?),
            "-h" | "--help" => {
                println!(
                    "chat [--addr 127.0.0.1] [--port 3000] [--admin-token TOKEN] [--quiet] \
                     [--redis redis://HOST:PORT] [--node NAME]"
                );
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

/// How this server runs: alone, or as one node of several sharing a Redis.
#[derive(Clone)]
struct Node {
    /// The node's name in log lines (`--node`).
    name: Option<std::sync::Arc<str>>,
    /// Whether an adapter connects this engine to other nodes.
    clustered: bool,
    quiet: bool,
}

impl Node {
    #[cfg(test)]
    fn single(quiet: bool) -> Node {
        Node { name: None, clustered: false, quiet }
    }

    /// Prints a log line (unless `--quiet`), prefixed with the node's name.
    fn log(&self, line: std::fmt::Arguments<'_>) {
        if self.quiet {
            return;
        }
        match &self.name {
            Some(n) => println!("[{n}] {line}"),
            None => println!("{line}"),
        }
    }

    /// Runs `f`, which may wait on the other nodes (a cluster query waits
    /// up to the adapter's request timeout): on tokio's blocking pool when
    /// clustered, so the connection's task never waits on Redis; inline on
    /// a single node, where the queries answer at once.
    fn may_wait(&self, f: impl FnOnce() -> Result<(), BoxError> + Send + 'static) {
        let node = self.clone();
        let run = move || {
            if let Err(e) = f() {
                eprintln!("chat: {e}");
            }
            drop(node);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) if self.clustered => drop(rt.spawn_blocking(run)),
            _ => run(),
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The sockets of `/` in `room` (the whole namespace when `None`), on every
/// node. When the other nodes cannot be asked (Redis unreachable), this
/// node's sockets: a partial list beats no answer in a chat.
fn cluster_sockets(ns: &Namespace, room: Option<&str>) -> Vec<RemoteSocket> {
    let rooms: Vec<&str> = room.into_iter().collect();
    match ns.to(rooms.clone()).cluster_fetch_sockets() {
        Ok(reply) => reply.value,
        Err(_) => ns.to(rooms).local().cluster_fetch_sockets().map(|r| r.value).unwrap_or_default(),
    }
}

/// A fetched socket's chat name and room (from its data, see [`user_of`]).
fn remote_user(s: &RemoteSocket) -> (String, Option<String>) {
    decode_user(s.data.as_ref().map(|d| &d.bytes()[..]).unwrap_or(&[]))
}

/// The chat rooms that exist on this node, kept from the namespace's room
/// events: the room list is asked for often (every client asks on
/// connect), and `Namespace::rooms` would list and sort every socket's
/// own-id room too.
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

/// The room list with member counts: this node's room table on a single
/// node; with Redis, counted over every node's sockets (room events are
/// per node).
fn room_list(node: &Node, rooms: &ChatRooms, ns: &Namespace) -> Value {
    if node.clustered {
        rooms_with_counts(&cluster_sockets(ns, None))
    } else {
        rooms.with_counts(ns)
    }
}

/// Chat rooms with their member counts, sorted by name, counted over every
/// node's sockets.
fn rooms_with_counts(sockets: &[RemoteSocket]) -> Value {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for s in sockets {
        for r in &s.rooms {
            if let Some(name) = r.strip_prefix(ROOM_PREFIX) {
                *counts.entry(name.to_owned()).or_default() += 1;
            }
        }
    }
    Value::Array(counts.into_iter().map(|(name, members)| json!({ "name": name, "members": members })).collect())
}

/// Whether `id` may name a socket: chat rooms (`#...`) never do, so a
/// private message or a kick cannot address a whole room.
fn may_be_socket_id(id: &str) -> bool {
    !id.is_empty() && !id.starts_with(ROOM_PREFIX)
}

/// Leaves the current room (if any), telling its other members.
fn leave_current(socket: &Socket) -> Result<(), BoxError> {
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
fn tell_left(socket: &Socket, name: &str, room: &str) -> Result<(), BoxError> {
    let notice = json!({ "id": socket.id(), "name": name, "room": room });
    socket.namespace().to(room_key(room).as_str()).except(socket.id()).emit("user left", json_payload(&notice))?;
    Ok(())
}

fn chat_namespace(engine: &Engine, node: &Node) -> Result<ChatRooms, Box<dyn std::error::Error>> {
    let chat = engine.of("/")?;
    let rooms = ChatRooms::default();
    let r = rooms.clone();
    chat.on_room_event(move |ev| r.on_room_event(ev));
    chat.use_middleware(|hs| match name_from(hs) {
        Ok(_) => Ok(()),
        Err(Invalid::Length) => Err(ConnectError::new("name required")),
        Err(Invalid::Control) => Err(ConnectError::new("names may not contain control characters")),
    });
    let n = node.clone();
    chat.on_connection(move |socket| {
        if socket.recovered() {
            // Kept since its drop: same id, room and data; the missed
            // messages are already on their way.
            n.log(format_args!("recovered {} ({})", socket.id(), user_of(socket).0));
            return;
        }
        let name = name_from(socket.handshake()).unwrap_or_default();
        n.log(format_args!("connect {} ({name})", socket.id()));
        set_user(socket, &name, None);
    });
    let n = node.clone();
    chat.on("join", move |socket, ev, ack| {
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
            let ns = socket.namespace().clone();
            n.may_wait(move || {
                let members: Vec<Value> = cluster_sockets(&ns, Some(&key))
                    .iter()
                    .map(|s| json!({ "id": s.id, "name": remote_user(s).0 }))
                    .collect();
                ack.send(json_payload(&json!({ "room": room, "members": members })))?;
                Ok(())
            });
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
    let n = node.clone();
    chat.on("private message", move |socket, ev, ack| {
        let req: Value = ev.payload().to_json().unwrap_or(Value::Null);
        let to = req.get("to").and_then(Value::as_str).unwrap_or("").to_owned();
        let text = req.get("text").and_then(Value::as_str).unwrap_or("").to_owned();
        let (ns, from, name) = (socket.namespace().clone(), socket.id().to_owned(), user_of(socket).0);
        n.may_wait(move || {
            // Only a connected socket's own-id room (on any node), never a chat room.
            let ok = !text.is_empty()
                && text.chars().count() <= 1000
                && may_be_socket_id(&to)
                && cluster_sockets(&ns, Some(&to)).iter().any(|s| s.id == to);
            if ok {
                let body = json!({ "id": from, "name": name, "text": text, "time": now_ms() });
                ns.to(to.as_str()).emit("private message", json_payload(&body))?;
            }
            if let Some(ack) = ack {
                ack.send(json_payload(&json!({ "ok": ok })))?;
            }
            Ok(())
        });
        Ok(())
    })?;
    let (n, r) = (node.clone(), rooms.clone());
    chat.on("list rooms", move |socket, _ev, ack| {
        if let Some(ack) = ack {
            let (ns, n2, r) = (socket.namespace().clone(), n.clone(), r.clone());
            n.may_wait(move || {
                ack.send(json_payload(&room_list(&n2, &r, &ns)))?;
                Ok(())
            });
        }
        Ok(())
    })?;
    // While the socket is still in its room: tell the room, unless the
    // socket is only kept for a resume (then it is told at its final
    // disconnect, `recovery expired`, if it does not come back).
    chat.on_disconnecting(|socket, _reason| match user_of(socket) {
        (name, Some(room)) if !socket.is_awaiting_recovery() => tell_left(socket, &name, &room),
        _ => Ok(()),
    });
    let n = node.clone();
    chat.on_disconnect(move |socket, reason| {
        let kept = if socket.is_awaiting_recovery() { ", kept for recovery" } else { "" };
        n.log(format_args!("disconnect {} ({}): {reason}{kept}", socket.id(), user_of(socket).0));
    });
    Ok(rooms)
}

fn admin_namespace(
    engine: &Engine,
    token: String,
    node: &Node,
    rooms: ChatRooms,
) -> Result<(), Box<dyn std::error::Error>> {
    let admin = engine.of("/admin")?;
    admin.use_middleware(move |hs| {
        let auth: Option<Value> = hs.auth_payload().and_then(|p| p.to_json().ok());
        match auth.as_ref().and_then(|a| a.get("token")).and_then(Value::as_str) {
            Some(t) if t == token => Ok(()),
            _ => Err(ConnectError::new("unauthorized")),
        }
    });
    let chat = engine.of("/")?;
    let (chat2, n) = (chat.clone(), node.clone());
    admin.on("snapshot", move |_socket, _ev, ack| {
        let Some(ack) = ack else { return Ok(()) };
        let (chat, n2, rooms) = (chat.clone(), n.clone(), rooms.clone());
        n.may_wait(move || {
            let all = cluster_sockets(&chat, None);
            let mut sockets: Vec<(String, String, Option<String>)> = all
                .iter()
                .map(|s| {
                    let (name, room) = remote_user(s);
                    (name, s.id.clone(), room)
                })
                .collect();
            sockets.sort();
            let sockets: Vec<Value> =
                sockets.into_iter().map(|(name, id, room)| json!({ "id": id, "name": name, "room": room })).collect();
            let rooms = if n2.clustered { rooms_with_counts(&all) } else { rooms.with_counts(&chat) };
            ack.send(json_payload(&json!({ "rooms": rooms, "sockets": sockets })))?;
            Ok(())
        });
        Ok(())
    })?;
    let n = node.clone();
    admin.on("kick", move |_socket, ev, ack| {
        let req: Value = ev.payload().to_json().unwrap_or(Value::Null);
        let id = req.get("id").and_then(Value::as_str).unwrap_or("").to_owned();
        let chat = chat2.clone();
        n.may_wait(move || {
            // A socket id is its own room's only member, on whichever node it is.
            let kicked = if may_be_socket_id(&id) {
                match chat.to(id.as_str()).cluster_disconnect_sockets() {
                    Ok(reply) => reply.value,
                    Err(_) => chat.to(id.as_str()).disconnect_sockets()?,
                }
            } else {
                0
            };
            if let Some(ack) = ack {
                ack.send(json_payload(&json!({ "kicked": kicked })))?;
            }
            Ok(())
        });
        Ok(())
    })?;
    Ok(())
}

/// Connection state recovery on: a tab whose connection drops comes back
/// with its id and room and gets the messages it missed (kept 2 minutes,
/// on the node that served it; on another node it starts fresh).
fn config() -> Result<Config, roomcast::ConfigError> {
    Config::builder().connection_state_recovery(RecoveryConfig::new()).build()
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
    let node = Node {
        name: (opts.redis.is_some() || opts.node.is_some())
            .then(|| opts.node.clone().unwrap_or_else(|| format!("{}:{}", opts.addr, opts.port)).into()),
        clustered: opts.redis.is_some(),
        quiet: opts.quiet,
    };
    let engine = match &opts.redis {
        Some(url) => {
            let adapter = RedisAdapter::new(RedisConfig::new(url.as_str()))?;
            if !adapter.wait_connected(std::time::Duration::from_secs(5)) {
                // The adapter keeps reconnecting: this node serves its own
                // users meanwhile and joins the cluster when Redis answers.
                eprintln!("chat: redis at {url} does not answer yet; serving this node's users meanwhile");
            }
            Engine::with_adapter(config()?, adapter)
        }
        None => Engine::new(config()?),
    };
    let rooms = chat_namespace(&engine, &node)?;
    let (token, generated) = match opts.admin_token.clone() {
        Some(t) => (t, false),
        // A bearer credential: core's generator, which fails rather than guess.
        None => (roomcast::random_id()?, true),
    };
    admin_namespace(&engine, token.clone(), &node, rooms)?;

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
    match (&node.name, &opts.redis) {
        (Some(name), Some(url)) => println!("[{name}] listening on *:{port} (node {name}, redis {url})"),
        (Some(name), None) => println!("[{name}] listening on *:{port}"),
        _ => println!("listening on *:{port}"),
    }
    if generated {
        node.log(format_args!("admin page: http://{}:{port}/admin?token={token}", opts.addr));
    }
    server.wait().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        let engine = Engine::new(Config::default());
        chat_namespace(&engine, &Node::single(true)).unwrap();
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

    fn remote(id: &str, rooms: &[&str], name: &str, room: Option<&str>) -> RemoteSocket {
        RemoteSocket {
            id: id.into(),
            namespace: "/".into(),
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            data: Some(Payload::binary(encode_user(name, room))),
            node: "n".into(),
        }
    }

    /// Room counts come from every node's sockets; own-id rooms are not chat rooms.
    #[test]
    fn room_counts_and_names_are_read_from_every_nodes_sockets() {
        let all = [
            remote("a1", &["a1", "#lobby"], "ada", Some("lobby")),
            remote("b1", &["b1", "#lobby"], "bob", Some("lobby")),
            remote("b2", &["b2", "#games"], "cy", Some("games")),
            remote("b3", &["b3"], "dan", None),
        ];
        assert_eq!(
            rooms_with_counts(&all),
            json!([{ "name": "games", "members": 1 }, { "name": "lobby", "members": 2 }])
        );
        assert_eq!(remote_user(&all[1]), ("bob".to_owned(), Some("lobby".to_owned())));
        assert!(may_be_socket_id("b1"));
        assert!(!may_be_socket_id("#lobby") && !may_be_socket_id(""));
    }
}
