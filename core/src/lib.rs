#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod acks;
mod adapter;
mod config;
mod connection;
mod emit;
mod engine;
mod error;
mod events;
mod failure;
mod fanout;
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
mod recovery;
mod responder;
mod ring;
mod rooms;
mod selection;
mod shared;
mod socket;
mod spin;
mod stats;
mod sync;

pub use acks::{AckCollect, AckPending, AckReply, AckStream};
pub use adapter::{Adapter, ClusterError, ClusterReply, LocalAdapter, RemoteAcks, RemoteSocket, SocketsOp};
pub use config::{Config, ConfigBuilder, ConnectOptions, OverflowPolicy, RecoveryConfig, MAX_NAME_LEN_LIMIT};
pub use connection::Connection;
pub use emit::ClusterAcks;
pub use engine::{Engine, WeakEngine};
pub use error::{
    AckError, AckReceiveError, ConfigError, ConnectError, DispatchError, EmitError, JoinError, NameError, NameKind,
    NameProblem, NamespaceError, PayloadError, RandomError, RecvError, RecvTimeoutError, RespondError, RoomError,
    TryRecvError,
};
pub use events::{EventFlow, Inbound, RoomEvent};
pub use failure::{FailureKind, HandlerError, HandlerFailure, HandlerResult, HandlerSite};
pub use fanout::EmitReport;
pub use handshake::Handshake;
pub use hooks::Dispatched;
pub use id::random_id;
pub use message::{DisconnectReason, Message, MessageKind};
pub use names::RESERVED_EVENTS;
pub use namespace::Namespace;
pub use operator::BroadcastOperator;
pub use outbox::{Outbox, RecvFuture, RecvManyFuture};
pub use payload::{Format, Payload};
pub use recovery::RecoveryStats;
pub use responder::AckResponder;
pub use selection::{RoomList, Rooms, Selector, Target};
pub use socket::Socket;
pub use stats::Stats;

/// Re-export so users can build payloads from [`bytes::Bytes`] without a
/// direct dependency.
pub use bytes::Bytes;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
