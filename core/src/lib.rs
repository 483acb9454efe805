//! # roomcast
//!
//! An embeddable room/namespace messaging engine: Socket.IO's server model —
//! namespaces, rooms, join/leave, emit, broadcast — as a library without a
//! transport of its own. The host owns the sockets on the wire; roomcast
//! decides who gets what.
//!
//! ## Contents
//!
//! * [`Engine`] — the root: [`Config`], namespaces, [`Stats`].
//! * [`Namespace`] — `engine.of("/chat")`: sockets, rooms, emits.
//! * [`Connection`] and [`Outbox`] — one transport link and the FIFO the
//!   host drains (`recv`, `recv_many`, `recv_async`, `Stream`, notify).
//! * [`Socket`] — a connection's membership in one namespace.
//! * [`BroadcastOperator`] — `to` / `except` / `volatile` selections, acks
//!   ([`AckStream`]) and server-side operations (`fetch_sockets`, ...).
//! * Handlers and middleware — [`Namespace::on`], [`Namespace::use_middleware`],
//!   [`Socket::dispatch`], [`AckResponder`], [`Engine::of_dynamic`].
//! * [`Message`], [`Payload`] — what travels, shared by reference.
//! * [`Adapter`] — the seam a cluster adapter plugs into.
//! * Errors — one small enum per family, all re-exported here.
//!
//! ## Model
//!
//! ```
//! use roomcast::{Engine, Config, Handshake, DisconnectReason};
//!
//! let engine = Engine::new(Config::default());
//! let chat = engine.of("/chat")?;
//!
//! let (alice_conn, alice) = engine.connect();
//! let (bob_conn, bob) = engine.connect();
//! let a = alice_conn.join_namespace("/chat", Handshake::new())?;
//! let b = bob_conn.join_namespace("/chat", Handshake::new())?;
//! a.join("lobby")?;
//! b.join("lobby")?;
//!
//! // To the room except the sender: only bob receives it.
//! a.to("lobby").emit("chat message", "hi")?;
//! let msg = bob.try_recv()?;
//! assert_eq!(msg.event_name(), Some("chat message"));
//! assert_eq!(msg.payload().unwrap().as_str(), Some("hi"));
//! assert!(alice.try_recv().is_err());
//!
//! // A private message: every socket is in the room named by its id.
//! chat.to(b.id()).emit("dm", "psst")?;
//! assert_eq!(bob.try_recv()?.event_name(), Some("dm"));
//!
//! bob_conn.close(DisconnectReason::TransportClose);
//! assert_eq!(chat.room_size("lobby"), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Delivery rules
//!
//! * An emit selects the union of its rooms (the whole namespace when none)
//!   minus its except-rooms and, for `socket.broadcast()` / `socket.to(..)`,
//!   the sender. Each socket receives it **at most once**.
//! * After `join(r)` returns, every later emit to `r` reaches the socket;
//!   after `leave(r)` returns, none does.
//! * One connection has one FIFO outbox shared by all its namespaces; the
//!   messages of one emitting thread arrive in emit order.
//!
//! ## Back-pressure
//!
//! Emitters never block on a slow consumer. Each outbox is bounded in
//! messages (`max_queue`) and bytes (`max_queue_bytes`); when a message does
//! not fit, the connection's [`OverflowPolicy`] applies: `drop_newest`,
//! `drop_oldest` (the receiver gets a [`MessageKind::Lagged`] notice with the
//! count lost), or `disconnect` (the connection closes with reason
//! [`DisconnectReason::QueueOverflow`]). Volatile emits are dropped for a full
//! outbox without triggering the policy. Every drop is counted in [`Stats`].
//! A `drop_oldest` eviction costs O(1), whatever is queued.
//!
//! Ack replies and disconnect notices (control messages) are never dropped
//! or evicted by a policy and keep their place in the FIFO. They have a
//! bound of their own, the same `max_queue` and `max_queue_bytes`: a client
//! that asks for acks and never reads the replies cannot make the server
//! hold more; the reply over the bound closes its connection with
//! [`DisconnectReason::QueueOverflow`], whatever the policy. An outbox holds
//! at most twice its configured bounds.
//!
//! ## Threads and locks
//!
//! Every type is `Send + Sync`. Room tables are lock-sharded; an emit takes
//! read locks on the shards of the rooms it targets, never a global lock.
//! User code — handlers, middleware, the notify callback, room-event and
//! error hooks — runs on the thread that caused it with **no engine lock
//! held**, so it may call any engine operation, even on its own socket. A
//! handler that fails or panics is reported through
//! [`Namespace::on_error`] and never poisons the engine.
//!
//! ### The lock order
//!
//! This is the one total order of the engine's locks, outermost first. A
//! thread holding a lock takes only locks further down the list; the locks
//! of one table's shards are taken in ascending shard index. Debug builds
//! check it at every acquisition (a thread-local record of the ranks held;
//! an acquisition out of order panics naming both locks), so every test
//! run in debug — the stress tests included — exercises it.
//!
//! | rank | lock | nested inside it (where) |
//! |---|---|---|
//! | 1 | engine: dynamic parents | nothing (a predicate is cloned out, then run unlocked) |
//! | 2 | engine: namespace map | namespace `removed` → socket shards (removing an empty dynamic namespace) |
//! | 3 | connection: its sockets | nothing |
//! | 4 | socket: state (status, rooms, acks) | namespace `removed` → room and socket shards (a socket entering its namespace); room shards (join, leave, disconnect); namespace acks (pruning finished ack ids) |
//! | 5 | namespace: `removed` | room and socket shards |
//! | 6 | namespace: room shards (ascending) | socket shards (a whole-namespace emit with except rooms); outbox `sleep` and outbox state (the fan-out) |
//! | 7 | namespace: socket shards (ascending) | outbox `sleep` and outbox state (the fan-out) |
//! | 8 | namespace: pending acks | nothing |
//! | 9 | one ack emit's replies | nothing (a blocked `wait_one` waits on its condvar) |
//! | 10–12 | namespace hooks; a parent's children; a parent's predicate | nothing |
//! | 13 | the ack timer's heap | nothing |
//! | 14 | outbox: notify callback | nothing (the callback runs unlocked) |
//! | 15 | outbox: `sleep` (blocked receivers) | outbox state (a receiver re-checking before it waits) |
//! | 16 | outbox: state (the spin lock) | nothing, ever: see its contract in the `spin` module |
//!
//! No lock is held while user code runs, and none across an `await`.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod acks;
mod adapter;
mod config;
mod connection;
mod engine;
mod error;
mod handshake;
mod hooks;
mod id;
mod lock_order;
mod message;
mod names;
mod namespace;
mod operator;
mod outbox;
mod payload;
mod queue;
mod ring;
mod rooms;
mod socket;
mod spin;
mod stats;
mod sync;

pub use acks::{AckCollect, AckPending, AckReply, AckStream};
pub use adapter::{
    Adapter, ClusterError, ClusterReply, LocalAdapter, RemoteAcks, RemoteSocket, Selector, SocketsOp, Target,
    WeakEngine,
};
pub use config::{Config, ConfigBuilder, ConnectOptions, OverflowPolicy, MAX_NAME_LEN_LIMIT};
pub use connection::Connection;
pub use engine::Engine;
pub use error::{
    AckError, AckReceiveError, ConfigError, ConnectError, DispatchError, EmitError, JoinError, NameError, NameKind,
    NameProblem, NamespaceError, PayloadError, RandomError, RecvError, RecvTimeoutError, RespondError, RoomError,
    TryRecvError,
};
pub use handshake::Handshake;
pub use hooks::{
    AckResponder, EventFlow, FailureKind, HandlerError, HandlerFailure, HandlerResult, HandlerSite, Inbound, RoomEvent,
};
pub use id::random_id;
pub use message::{DisconnectReason, Message, MessageKind};
pub use names::RESERVED_EVENTS;
pub use namespace::Namespace;
pub use operator::{BroadcastOperator, ClusterAcks, EmitReport, RoomList, Rooms};
pub use outbox::{Outbox, RecvFuture, RecvManyFuture};
pub use payload::{Format, Payload};
pub use socket::{Dispatched, Socket};
pub use stats::Stats;

/// Re-export so users can build payloads from [`bytes::Bytes`] without a
/// direct dependency.
pub use bytes::Bytes;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
