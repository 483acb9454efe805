#![doc = include_str!("../README.md")]
//!
//! ## The crate
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
//! * [`Cors`] — allowed browser origins (none by default).
//! * [Resource limits](#resource-limits) — what a client can make the
//!   server hold, and the bound on each.
//! * [`engineio`] — the [Engine.IO layer](#the-engineio-layer) on its own:
//!   sessions with text and binary messages, for protocols other than
//!   Socket.IO.
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
//! ### Behaviour matching the reference server
//!
//! Where the specifications leave room, the server answers as the
//! reference Node server (engine.io 6 / socket.io 4) does; each case is
//! pinned by a test in `tests/exact.rs` named after its number:
//!
//! 1. A close packet sent over polling while a GET is pending: the pending
//!    GET gets a noop (`6`). (A second GET while one is pending still ends
//!    the session: HTTP 400 for it, a close packet for the pending one.)
//! 2. A WebSocket opened with the sid of a session already on (or moving
//!    to) WebSocket is accepted and closed at once; the session lives on.
//! 3. A polling request (GET or POST) for a session on WebSocket is a
//!    transport mismatch: HTTP 400 `Bad request`, its packets are not run.
//! 4. A server-side close (connect timeout, shutdown, `disconnect`
//!    overflow, a protocol violation) of a polling session keeps its sid
//!    until a GET has taken the close packet, at most `ping_timeout`
//!    (a client that left a full backlog behind is not waited for).
//! 5. An upgrade WebSocket that has not completed its upgrade is closed
//!    with its session, not only at the upgrade timeout.
//! 6. The first packet for a namespace must be its CONNECT: an event, ack
//!    or disconnect for a namespace the client has not joined, and a second
//!    CONNECT to a joined namespace, close the connection
//!    (`forced server close`).
//! 7. **Auth.** A CONNECT without auth gives handlers the empty object:
//!    [`Handshake::auth_payload`](roomcast::Handshake::auth_payload) is
//!    `Some({})`, as `socket.handshake.auth` is `{}` in Socket.IO, so a
//!    ported handler reads `auth["token"]` the same way whether or not the
//!    client sent auth (a missing field is `null` either way).
//! 8. The heartbeat's deadline counts from when the ping was due, so a
//!    silent client is dropped `ping_interval + ping_timeout` after the
//!    last pong, not later by the timer's lateness twice.
//!
//! Not supported: Engine.IO v3 clients (`EIO=3`, Socket.IO 2.x), per-message
//! compression (permessage-deflate, HTTP compression), JSONP polling,
//! connection state recovery, the WebTransport transport.
//!
//! ## The Engine.IO layer
//!
//! The server is two layers, as the reference stack is: Engine.IO
//! (sessions, the polling and WebSocket transports, the upgrade, the
//! heartbeat, packets) and Socket.IO on top of it. [`SocketIoServer`] is
//! the Engine.IO server with the Socket.IO layer; [`engineio::EngineIoServer`]
//! is the same server with a host's [`EioHandler`](engineio::EioHandler):
//! it sees each session open (with the opening request's headers, query
//! and address), its text and binary messages, its upgrade to WebSocket
//! and its close (with the reason), and sends to and closes sessions
//! through [`EioSession`](engineio::EioSession). Both layers run the same
//! session task, compiled for each (no dynamic call between the outbox and
//! the socket). The official `engine.io-client` 6 is tested against it
//! (`examples/eio_echo.rs`, `scripts/test-socketio.sh`).
//!
//! ```no_run
//! use roomcast::Handshake;
//! use roomcast_socketio::engineio::{EioHandler, EioMessage, EioSession, EngineIoServer};
//!
//! /// Sends every message back to its sender.
//! struct Echo;
//!
//! impl EioHandler for Echo {
//!     fn on_open(&self, session: &EioSession, handshake: &Handshake) {
//!         println!("{} opened from {:?}", session.id(), handshake.remote_address());
//!     }
//!
//!     fn on_message(&self, session: &EioSession, message: EioMessage) {
//!         let _ = match message {
//!             EioMessage::Text(t) => session.send_text(t),
//!             EioMessage::Binary(b) => session.send_binary(b),
//!         };
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::io::Result<()> {
//!     // Clients connect to http://127.0.0.1:3000/engine.io/
//!     let server = EngineIoServer::new(Echo).bind("127.0.0.1:3000").await?;
//!     println!("listening on {}", server.local_addr());
//!     server.wait().await
//! }
//! ```
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
//! })
//! .unwrap();
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
//! ## Connection state recovery
//!
//! With recovery on for a namespace (`RecoveryConfig`, engine-wide or
//! `Namespace::set_recovery`; the engine does the keeping, see
//! `roomcast::Connection::resume_namespace`), the server speaks Socket.IO
//! 4.6+'s recovery protocol, so an unmodified `socket.io-client` (4.6 and
//! later, tested with 4.8.1) gets `socket.recovered === true`:
//!
//! * The CONNECT reply is `{"sid": <id>, "pid": <private session id>}`;
//!   the client keeps `pid` for its next connect.
//! * Every EVENT the engine keeps (no ack id, not volatile) carries its
//!   offset as one more, last, argument: a string (decimal). The client's
//!   listeners receive it as an extra argument; the client remembers the
//!   last string-typed last argument of the events it handles.
//! * After a drop the client reconnects (a new Engine.IO session) and its
//!   CONNECT data is its auth plus `"pid"` and `"offset"` (the latter
//!   absent when it received no event yet). The server takes both out of
//!   the auth the host sees and calls `resume_namespace`: on success the
//!   reply carries the same `sid` and `pid`, and the missed events follow
//!   it (held back until the reply is written), before anything newer; on
//!   failure a fresh socket with a new `sid` and `pid` (the client then
//!   sees `recovered === false`).
//! * What ends a session recoverably: a WebSocket close or read error, a
//!   polling session's close packet or transport error, a ping timeout
//!   (`transport close`, `transport error`, `ping timeout`). A client or
//!   server namespace disconnect, a parse error or a server shutdown is
//!   final.
//! * Once a second the server sweeps the engine (`Engine::sweep_recovery`)
//!   so kept sockets end on time even in an idle namespace; a host that
//!   mounts only [`SocketIoServer::into_router`] relies on the sweeps done
//!   by emits and connects, or calls it itself.
//!
//! Differences from the reference server, all on the side of recovering:
//! a client that saw no event before the drop recovers (the reference
//! needs an offset); an offset whose own event aged out of the log still
//! recovers when every later event is kept (the reference needs the
//! offset's own entry); offsets are found by index, not by a scan. Known
//! limit of the protocol: the client takes the last argument of *any*
//! event as its offset when it is a string, so a string-ended event that
//! carries no offset (an emit with ack, or a volatile one) in a recovery
//! namespace makes its next resume fail cleanly (`recovered` false).
//! A reconnect that reaches the server before it noticed the old
//! connection's end (no close frame, ping timeout still running) finds
//! the socket still connected and gets a fresh one, as with the reference.
//!
//! ## Resource limits
//!
//! Every resource a client can make the server hold, with its bound, the
//! default, what happens at the bound and the test that pins it (in
//! `tests/limits.rs` unless named otherwise). Options are
//! [`SocketIoServer`] builder methods unless they are the engine's
//! [`Config`](roomcast::Config). Rows marked *bind* apply to
//! [`bind`](SocketIoServer::bind) / [`serve`](SocketIoServer::serve); a
//! host serving [`into_router`](SocketIoServer::into_router) provides them
//! itself (see there).
//!
//! | Resource | Bound (option) | Default | At the bound | Test |
//! |---|---|---|---|---|
//! | TCP connections, WebSockets included (*bind*) | `max_connections` | 60,000 | no more accepted; new ones wait in the listen backlog | `finding_4_connections_are_capped` |
//! | Time to send a request head, idle keep-alive (*bind*) | `header_timeout` | 10 s | connection closed | `finding_4_slow_requests_time_out` |
//! | Request head size (*bind*) | fixed | 64 KiB | HTTP 431, connection closed | `finding_8_handshake_bytes_are_bounded` |
//! | Polling POST body, time | `body_timeout` | 30 s | HTTP 408, session closed | `finding_4_slow_requests_time_out` |
//! | Polling POST body, size; WebSocket message | `max_payload` | 1 MB | HTTP 413 / close 1009, session closed | `max_payload_is_enforced` (e2e) |
//! | Sessions | `max_sessions` | 50,000 | new sessions get HTTP 503 | `finding_5_session_flood_is_bounded` |
//! | Session that joins no namespace | `connect_timeout` | 10 s | session closed | `finding_5_session_flood_is_bounded`, `connect_timeout_closes_idle_connections` (e2e) |
//! | Polling session closed by the server, close packet not yet fetched | `ping` timeout | 20 s | session forgotten (sid unknown) | `exact_4_a_server_close_over_polling_is_delivered_to_the_next_get` (exact) |
//! | Handshake headers and query kept per session | `max_handshake_bytes` | 16 KiB | HTTP 431 (no session) | `finding_8_handshake_bytes_are_bounded` |
//! | Silent client | `ping` | 25 s + 20 s | `ping timeout` | `heartbeat_timeout_closes_with_ping_timeout` (e2e) |
//! | Client that stops reading (WebSocket write blocked) | `ping` interval + timeout | 45 s | `transport error` | `a_client_that_stops_reading_is_dropped` (e2e) |
//! | Outbox messages and bytes | `Config::max_queue`, `max_queue_bytes` | 1,024, 1 MiB | overflow policy (`drop_oldest` by default) | `slow_poller_is_bounded_by_the_outbox`, `server_side_closes_send_a_close_packet` (e2e) |
//! | Frames waiting for a polling GET | fixed | 1,024 | the rest waits in the outbox (its bounds apply) | `slow_poller_is_bounded_by_the_outbox` (e2e) |
//! | Session closed with a full polling backlog | — | — | its task ends at once, freeing connection, outbox and backlog | `finding_2_polling_sessions_with_a_full_backlog_end_when_closed` |
//! | Inbound events read ahead of their replies (WebSocket) | from `Config::max_queue`: at most a quarter of it dispatched per round, reading paused at half of it queued; each round drains at least what it dispatched | 256 / 512 | the client's writes wait in TCP (ack replies stay under their bound in the outbox) | `finding_1_websocket_ack_flood_keeps_memory_bounded` |
//! | Server-to-client acks awaiting a reply | `Config::ack_timeout` | 10 s | the ack resolves with a timeout error | `server_to_client_acks_resolve_and_time_out` (e2e) |
//! | Rooms per socket | `Config::max_rooms_per_socket` | 1,024 | `join` returns an error | core tests |
//! | Sockets kept for connection state recovery (when it is on), per namespace | `RecoveryConfig::max_disconnection_duration`, `max_sockets` | 2 min, 10,000 | the longest-kept socket ends (`recovery expired`) | `kept_sockets_are_bounded_the_longest_kept_ends_first` (core) |
//! | Events kept for recovery, per namespace | `RecoveryConfig::max_events`, `max_bytes` | 10,000, 8 MiB | the oldest event is dropped; a resume that needs it gets a fresh socket | `an_offset_older_than_what_is_kept_gets_a_fresh_socket` (core) |
//! | Binary attachments per packet | `max_attachments` | 10 | `parse error`, session closed | `random_frames_never_panic_the_server` (e2e) |
//! | A binary packet's text and attachments together | `max_payload` | 1 MB | checked as each attachment arrives, before any conversion: `transport error` (close 1009 / HTTP 413) | `websocket_attachments_over_max_payload_close_the_session_early`, `polling_attachments_over_max_payload_close_the_session_early` |
//! | A binary packet still waiting for attachments | `partial_packet_timeout` | 20 s | `parse error`, session closed (even while pings are answered) | `websocket_incomplete_packet_times_out_while_pings_are_answered`, `polling_incomplete_packet_times_out_while_pings_are_answered` |
//! | A WebSocket frame being received | one frame (`max_payload` + 14 B) plus one read | 1 MB | refused from its header: close 1009 | `ws_arbitrary_bytes`, `ws_mutated_streams` |
//! | A fragmented WebSocket message | `max_payload` | 1 MB | close 1009 | `too_big_messages_are_refused` |
//! | Decoding CPU | linear in the bytes received | — | — | `a_large_frame_in_small_reads_costs_linear_work` |
//! | A runtime worker's time, taken by one client's inbound events and their handlers | fixed turn | 500 µs (looked at every 16 packets) | the session gives way to other tasks; its remaining events run first on its next turn | `a_websocket_flood_of_costly_events_gives_way_to_other_clients`, `a_polling_post_of_costly_events_gives_way_to_other_clients` (fairness) |
//! | Ack replies queued for a client (core) | `Config::max_queue`, `max_queue_bytes`, apart from data | 1,024, 1 MiB | the connection closes with `queue overflow`, whatever the policy | `hostile_ack_flood_is_bounded_and_closes_the_connection` (core) |
//! | Upgrade to WebSocket in progress | `upgrade_timeout` | 10 s | upgrade abandoned, session stays on polling | not pinned yet |
//!
//! Requests that open sessions can be rate-limited per client and checked
//! for their `Origin` in [`allow_request`](SocketIoServer::allow_request).
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
//!     })?;
//!     let server = SocketIoServer::new(engine).bind("127.0.0.1:3000").await?;
//!     println!("listening on {}", server.local_addr());
//!     server.wait().await?;
//!     Ok(())
//! }
//! ```

mod accept;
pub mod args;
pub mod eio;
pub mod engineio;
#[cfg(test)]
mod fuzz_props;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod query;
mod server;
mod session;
pub mod sio;
mod sio_layer;
mod wire;
mod ws;

pub use server::{Bound, Cors, ShutdownHandle, SocketIoServer};

/// The HTTP request parts `allow_request` filters see.
pub use axum::http::request::Parts as RequestParts;
