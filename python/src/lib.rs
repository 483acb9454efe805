//! Python bindings of roomcast: a thin translation layer over the core crate.
//!
//! Every rule lives in `roomcast` (core); this crate converts arguments,
//! results and errors. Blocking waits run with the GIL released
//! (`py.detach`), as do emits (the fan-out never touches Python objects:
//! payloads are encoded to bytes before the engine is entered). Python
//! handlers are called by the core on the dispatching thread with no engine
//! lock held; they take the GIL themselves.
//!
//! One module per Python class (or close family); the shared plumbing is in
//! `errors` (the exception hierarchy), `convert` (arguments and payloads),
//! `handler` (calling Python from the core) and `aio` (awaitable twins).
//!
//! Cargo feature `redis` (default): `RedisAdapter`, the Redis cluster
//! adapter, and with it tokio and redis-rs. Without it the module has no
//! Redis names; `Engine(adapter=...)` refuses anything but None.
//!
//! Cargo feature `socketio` (default): `SocketIoServer` and `WsBridge`,
//! the Socket.IO transport behind `roomcast.socketio` (tokio, hyper, axum).
//! Without it, importing `roomcast.socketio` raises an ImportError that
//! names the feature.

use pyo3::prelude::*;

mod ack;
mod aio;
mod cluster;
mod connection;
mod convert;
mod emit_report;
mod engine;
mod errors;
mod handler;
mod handshake;
mod message;
mod namespace;
mod operator;
#[cfg(feature = "redis")]
mod redis;
mod room_event;
#[cfg(feature = "socketio")]
mod sio_server;
mod socket;
mod wait;

#[pymodule]
fn _roomcast(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::add_exceptions(m)?;
    m.add_class::<engine::Engine>()?;
    m.add_class::<namespace::Namespace>()?;
    m.add_class::<operator::Operator>()?;
    m.add_class::<connection::Connection>()?;
    m.add_class::<socket::Socket>()?;
    m.add_class::<message::Message>()?;
    m.add_class::<emit_report::EmitReport>()?;
    m.add_class::<ack::AckReply>()?;
    m.add_class::<ack::AckWait>()?;
    m.add_class::<ack::Ack>()?;
    m.add_class::<handshake::Handshake>()?;
    m.add_class::<room_event::RoomEvent>()?;
    #[cfg(feature = "redis")]
    m.add_class::<redis::RedisAdapter>()?;
    #[cfg(feature = "socketio")]
    m.add_class::<sio_server::SocketIoServer>()?;
    #[cfg(feature = "socketio")]
    m.add_class::<sio_server::WsBridge>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
