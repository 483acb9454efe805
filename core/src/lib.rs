#![doc = include_str!("../README.md")]
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
