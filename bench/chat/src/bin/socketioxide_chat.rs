//! The chat server of `examples/chat` written with socketioxide, the same
//! handlers as the roomcast server (`socketio/examples/chat.rs`) and the Node
//! reference (`bench/chat/node/server.js`); events in
//! `examples/chat/PROTOCOL.md`. The head-to-head benchmark and the browser
//! tests run against it.
//!
//! `socketioxide-chat [--addr 127.0.0.1] [--port 3000] [--admin-token T] [--quiet]`

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::serve::ListenerExt;
use serde::{Deserialize, Serialize};
use socketioxide::extract::{AckSender, Data, Extension, SocketRef, TryData};
use socketioxide::socket::DisconnectReason;
use socketioxide::SocketIo;

/// Per-socket state of a chat user.
struct User {
    name: String,
    room: Mutex<Option<String>>,
}

#[derive(Deserialize)]
struct Auth {
    name: Option<String>,
}
#[derive(Deserialize)]
struct AdminAuth {
    token: Option<String>,
}
#[derive(Deserialize)]
struct JoinReq {
    room: String,
}
#[derive(Deserialize)]
struct TextReq {
    text: String,
}
#[derive(Deserialize)]
struct TypingReq {
    typing: bool,
}
#[derive(Deserialize)]
struct PrivateReq {
    to: String,
    text: String,
}
#[derive(Deserialize)]
struct KickReq {
    id: String,
}

#[derive(Serialize)]
struct Notice<'a> {
    id: String,
    name: &'a str,
    room: &'a str,
}
#[derive(Serialize)]
struct ChatMessage<'a> {
    id: String,
    name: &'a str,
    room: &'a str,
    text: &'a str,
    time: u64,
}

const ROOM_PREFIX: char = '#';
static QUIET: AtomicBool = AtomicBool::new(false);

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn valid_room(room: &str) -> Option<String> {
    let room = room.trim();
    (!room.is_empty() && room.chars().count() <= 32).then(|| room.to_owned())
}

fn valid_text(text: &str) -> bool {
    !text.is_empty() && text.chars().count() <= 1000
}

struct Options {
    addr: String,
    port: u16,
    admin_token: String,
    quiet: bool,
}

fn parse_args() -> Options {
    let mut o = Options { addr: "127.0.0.1".into(), port: 3000, admin_token: "admin".into(), quiet: false };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match a.as_str() {
            "--addr" => o.addr = value("--addr"),
            "--port" => o.port = value("--port").parse().expect("--port takes a number"),
            "--admin-token" => o.admin_token = value("--admin-token"),
            "--quiet" => o.quiet = true,
            "-h" | "--help" => {
                println!("socketioxide-chat [--addr 127.0.0.1] [--port 3000] [--admin-token T] [--quiet]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

/// Leaves the socket's current room (if any), telling the room.
async fn leave_current(s: &SocketRef, user: &User) {
    let old = user.room.lock().unwrap().take();
    if let Some(old) = old {
        let key = format!("{ROOM_PREFIX}{old}");
        s.leave(key.clone());
        let _ = s.to(key).emit("user left", &Notice { id: s.id.to_string(), name: &user.name, room: &old }).await;
    }
}

fn rooms_with_counts(io: &SocketIo) -> Vec<serde_json::Value> {
    let Some(ns) = io.of("/") else { return Vec::new() };
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for s in ns.sockets() {
        if let Some(user) = s.extensions.get::<Arc<User>>() {
            if let Some(room) = user.room.lock().unwrap().clone() {
                *counts.entry(room).or_default() += 1;
            }
        }
    }
    counts.into_iter().map(|(name, members)| serde_json::json!({ "name": name, "members": members })).collect()
}

async fn on_chat_connect(s: SocketRef) {
    let quiet = QUIET.load(Ordering::Relaxed);
    let user: Arc<User> = s.extensions.get::<Arc<User>>().expect("set by the middleware");
    if !quiet {
        println!("connect {} ({})", s.id, user.name);
    }
    s.on(
        "join",
        async |s: SocketRef, Extension(user): Extension<Arc<User>>, Data(req): Data<JoinReq>, ack: AckSender| {
            let Some(room) = valid_room(&req.room) else {
                let _ = ack.send(&serde_json::json!({ "error": "room names are 1 to 32 characters" }));
                return;
            };
            let key = format!("{ROOM_PREFIX}{room}");
            let already = user.room.lock().unwrap().as_deref() == Some(room.as_str());
            if !already {
                leave_current(&s, &user).await;
                s.join(key.clone());
                *user.room.lock().unwrap() = Some(room.clone());
                let _ = s
                    .to(key.clone())
                    .emit("user joined", &Notice { id: s.id.to_string(), name: &user.name, room: &room })
                    .await;
            }
            let mut members = Vec::new();
            for m in s.within(key).sockets() {
                if let Some(u) = m.extensions.get::<Arc<User>>() {
                    members.push(serde_json::json!({ "id": m.id.to_string(), "name": u.name }));
                }
            }
            let _ = ack.send(&serde_json::json!({ "room": room, "members": members }));
        },
    );
    s.on("leave", async |s: SocketRef, Extension(user): Extension<Arc<User>>, ack: AckSender| {
        leave_current(&s, &user).await;
        let _ = ack.send(&serde_json::json!({ "room": null }));
    });
    s.on("message", async |s: SocketRef, Extension(user): Extension<Arc<User>>, Data(req): Data<TextReq>| {
        if !valid_text(&req.text) {
            return;
        }
        let room = user.room.lock().unwrap().clone();
        if let Some(room) = room {
            let msg =
                ChatMessage { id: s.id.to_string(), name: &user.name, room: &room, text: &req.text, time: now_ms() };
            let _ = s.to(format!("{ROOM_PREFIX}{room}")).emit("message", &msg).await;
        }
    });
    s.on("typing", async |s: SocketRef, Extension(user): Extension<Arc<User>>, Data(req): Data<TypingReq>| {
        let room = user.room.lock().unwrap().clone();
        if let Some(room) = room {
            let body = serde_json::json!({ "id": s.id.to_string(), "name": user.name, "typing": req.typing });
            let _ = s.to(format!("{ROOM_PREFIX}{room}")).emit("typing", &body).await;
        }
    });
    s.on(
        "private message",
        async |s: SocketRef, io: SocketIo, Extension(user): Extension<Arc<User>>, Data(req): Data<PrivateReq>, ack: AckSender| {
            let target = req.to.parse().ok().and_then(|sid| io.get_socket(sid));
            let ok = match target {
                Some(t) if valid_text(&req.text) => {
                    let body = serde_json::json!({ "id": s.id.to_string(), "name": user.name, "text": req.text, "time": now_ms() });
                    t.emit("private message", &body).is_ok()
                }
                _ => false,
            };
            let _ = ack.send(&serde_json::json!({ "ok": ok }));
        },
    );
    s.on("list rooms", async |io: SocketIo, ack: AckSender| {
        let _ = ack.send(&rooms_with_counts(&io));
    });
    s.on_disconnect(async move |s: SocketRef, Extension(user): Extension<Arc<User>>, reason: DisconnectReason| {
        leave_current(&s, &user).await;
        if !quiet {
            println!("disconnect {} ({}): {reason}", s.id, user.name);
        }
    });
}

async fn on_admin_connect(s: SocketRef) {
    s.on("snapshot", async |io: SocketIo, ack: AckSender| {
        let mut sockets = Vec::new();
        if let Some(ns) = io.of("/") {
            for m in ns.sockets() {
                if let Some(u) = m.extensions.get::<Arc<User>>() {
                    let room = u.room.lock().unwrap().clone();
                    sockets.push((u.name.clone(), m.id.to_string(), room));
                }
            }
        }
        sockets.sort();
        let sockets: Vec<_> = sockets
            .into_iter()
            .map(|(name, id, room)| serde_json::json!({ "id": id, "name": name, "room": room }))
            .collect();
        let _ = ack.send(&serde_json::json!({ "rooms": rooms_with_counts(&io), "sockets": sockets }));
    });
    s.on("kick", async |io: SocketIo, Data(req): Data<KickReq>, ack: AckSender| {
        let target = req.id.parse().ok().and_then(|sid| io.of("/").and_then(|ns| ns.get_socket(sid)));
        let kicked = match target {
            Some(t) => usize::from(t.disconnect().is_ok()),
            None => 0,
        };
        let _ = ack.send(&serde_json::json!({ "kicked": kicked }));
    });
}

#[derive(Debug)]
struct Refused(&'static str);
impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn page(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, content_type), (axum::http::header::CACHE_CONTROL, "no-cache")], body)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let opts = parse_args();
    QUIET.store(opts.quiet, Ordering::Relaxed);
    // A deeper per-socket buffer than the default 128 packets: the benchmark keeps
    // up to 9 senders x 50 messages in flight towards one socket, and a full
    // buffer would drop messages (roomcast queues 1,024 by default, Node has no bound).
    let (layer, io) = SocketIo::builder().max_buffer_size(4096).build_layer();

    use socketioxide::handler::ConnectHandler;
    let chat_auth = async |s: SocketRef, TryData(auth): TryData<Auth>| -> Result<(), Refused> {
        let name = auth.ok().and_then(|a| a.name).map(|n| n.trim().to_owned()).unwrap_or_default();
        if name.is_empty() || name.chars().count() > 24 {
            return Err(Refused("name required"));
        }
        s.extensions.insert(Arc::new(User { name, room: Mutex::new(None) }));
        Ok(())
    };
    io.ns("/", on_chat_connect.with(chat_auth));

    let token = Arc::new(opts.admin_token.clone());
    let admin_auth = move |TryData(auth): TryData<AdminAuth>| {
        let token = token.clone();
        async move {
            match auth.ok().and_then(|a| a.token) {
                Some(t) if t == *token => Ok(()),
                _ => Err(Refused("unauthorized")),
            }
        }
    };
    io.ns("/admin", on_admin_connect.with(admin_auth));

    let app = axum::Router::new()
        .route("/", get(|| async { Html(include_str!("../../../../examples/chat/static/index.html")) }))
        .route("/admin", get(|| async { Html(include_str!("../../../../examples/chat/static/admin.html")) }))
        .route(
            "/style.css",
            get(|| async { page(include_str!("../../../../examples/chat/static/style.css"), "text/css") }),
        )
        .route(
            "/sio.js",
            get(|| async { page(include_str!("../../../../examples/chat/static/sio.js"), "text/javascript") }),
        )
        .route(
            "/chat.js",
            get(|| async { page(include_str!("../../../../examples/chat/static/chat.js"), "text/javascript") }),
        )
        .route(
            "/admin.js",
            get(|| async { page(include_str!("../../../../examples/chat/static/admin.js"), "text/javascript") }),
        )
        .layer(layer);

    let listener = tokio::net::TcpListener::bind((opts.addr.as_str(), opts.port)).await?;
    println!("listening on *:{}", listener.local_addr()?.port());
    // Small frames: no Nagle delay (the Node server and the roomcast one do the same).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
