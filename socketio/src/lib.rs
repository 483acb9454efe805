//! # roomcast-socketio
//!
//! A Socket.IO server transport for the [`roomcast`] engine: official
//! Socket.IO clients (JavaScript `socket.io-client` 4.x, `python-socketio`,
//! and the others speaking the same protocol) connect to it, and every
//! roomcast namespace, room, handler, middleware and ack works for them.
//!
//! ## Contents
//!
//! * [`SocketIoServer`] — the builder: path, heartbeat, limits, CORS;
//!   [`into_router`](SocketIoServer::into_router) for an axum app,
//!   [`bind`](SocketIoServer::bind) / [`serve`](SocketIoServer::serve) to run it.
//! * [`Bound`] and [`ShutdownHandle`] — a running server.
//! * [`Cors`] — allowed browser origins.
//! * [`eio`] — Engine.IO v4 packets and payloads; [`sio`] — Socket.IO v5
//!   packets; [`args`] — how argument lists map to payloads.
//!
//! ## Protocol
//!
//! Engine.IO v4: handshake (`sid`, `upgrades`, `pingInterval`,
//! `pingTimeout`, `maxPayload`), WebSocket and HTTP long-polling transports
//! (packets batched per poll response), upgrade from polling to WebSocket,
//! server heartbeat, `maxPayload` enforcement, the Engine.IO HTTP errors.
//! Socket.IO v5: CONNECT (with auth) to any namespace, several namespaces
//! multiplexed on one connection, CONNECT_ERROR `{message, data}`,
//! DISCONNECT both ways, EVENT / ACK and their binary forms with
//! attachments, a connect timeout.
//!
//! Not supported: Engine.IO v3 clients (`EIO=3`, Socket.IO 2.x), per-message
//! compression (permessage-deflate, HTTP compression), JSONP polling,
//! connection state recovery, the WebTransport transport.
//!
//! ## Mapping onto roomcast
//!
//! One Engine.IO session is one roomcast [`Connection`](roomcast::Connection);
//! each namespace the client joins is one [`Socket`](roomcast::Socket) of it
//! (`join_namespace` with the CONNECT's auth, the request's headers and
//! query). An inbound EVENT is `socket.dispatch(..)`, with the ack id when
//! the client asked for one; an inbound ACK is `socket.receive_ack(..)`; the
//! outbox's events, ack replies and disconnect notices become packets. See
//! [`args`] for how Socket.IO's argument lists map to one payload.
//!
//! Handlers run on the runtime's worker thread that read the packet, as
//! roomcast runs them on the transport's thread; keep them short (hand
//! long work to a task). In particular a handler must not block on an ack
//! from its own client (`wait_one`): that reply arrives through the very
//! reader the handler is holding up (over WebSocket a session is one task
//! that reads and writes, so a slow handler also delays its own client's
//! deliveries). Await the [`AckStream`](roomcast::AckStream) in a spawned
//! task instead:
//!
//! ```no_run
//! # let engine = roomcast::Engine::new(roomcast::Config::default());
//! engine.of("/").unwrap().on("ask", |socket, ev, ack| {
//!     let replies = socket.emit_with_ack("question", ev.payload().clone())?;
//!     tokio::spawn(async move {
//!         let answer = replies.await.into_iter().next().and_then(|r| r.result.ok());
//!         if let (Some(ack), Some(answer)) = (ack, answer) {
//!             let _ = ack.send(answer);
//!         }
//!     });
//!     Ok(())
//! });
//! ```
//!
//! Socket.IO has no packet for roomcast's "lagged by N" notice; the session
//! skips it (the drops are counted in the engine's statistics).
//!
//! A message is encoded to its frames once and the encoding is cached on
//! the shared message, so a broadcast to N clients costs one encoding.
//!
//! WebSocket framing (RFC 6455, no extensions) is done by the crate over the
//! upgraded TCP stream, so an idle WebSocket connection is one task and
//! holds no read or write buffer: reads go through a stack buffer, and a
//! write buffer exists only while a batch of frames is written. Client
//! frames are checked strictly (masking, reserved bits and opcodes,
//! fragmentation, UTF-8 text, `max_payload`); a violation closes the
//! connection with close code 1002, 1007 or 1009.
//!
//! ```no_run
//! use roomcast::{Config, Engine};
//! use roomcast_socketio::SocketIoServer;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let engine = Engine::new(Config::default());
//!     engine.of("/")?.on("chat message", |socket, ev, _ack| {
//!         socket.broadcast().emit("chat message", ev.payload().clone())?;
//!         Ok(())
//!     });
//!     let server = SocketIoServer::new(engine).bind("127.0.0.1:3000").await?;
//!     println!("listening on {}", server.local_addr());
//!     server.wait().await?;
//!     Ok(())
//! }
//! ```

pub mod args;
pub mod eio;
#[cfg(test)]
mod fuzz_props;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod packed;
mod query;
mod server;
mod session;
pub mod sio;
mod wire;
mod ws;

pub use server::{Bound, Cors, ShutdownHandle, SocketIoServer};

/// The HTTP request parts `allow_request` filters see.
pub use axum::http::request::Parts as RequestParts;
