//! Helpers shared by the integration tests. Each test binary compiles this
//! module (`mod common;`) and uses a part of it.

#![allow(dead_code)]

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use roomcast::{ConnectOptions, Connection, DisconnectReason, Engine, Handshake, Message, Outbox, Socket};

/// One client: connection, outbox, and its socket in one namespace.
pub(crate) struct Client {
    pub(crate) conn: Connection,
    pub(crate) outbox: Outbox,
    pub(crate) socket: Socket,
}

/// A new connection of `engine` (default options) joined to namespace `ns`.
pub(crate) fn client(engine: &Engine, ns: &str) -> Client {
    let (conn, outbox) = engine.connect();
    let socket = conn.join_namespace(ns, Handshake::new()).expect("join_namespace");
    Client { conn, outbox, socket }
}

/// A new connection of `engine` with `opts`, joined to namespace `ns`.
pub(crate) fn client_with(engine: &Engine, ns: &str, opts: &ConnectOptions) -> Client {
    let (conn, outbox) = engine.connect_with(opts).expect("connect_with");
    let socket = conn.join_namespace(ns, Handshake::new()).expect("join_namespace");
    Client { conn, outbox, socket }
}

/// Everything currently queued (and a closed outbox's remainder).
pub(crate) fn drain(outbox: &Outbox) -> Vec<Message> {
    let mut v = Vec::new();
    // `Err(Closed)` only means nothing more will come; what was read is in `v`.
    let _ = outbox.try_recv_many(&mut v, usize::MAX);
    v
}

/// The text of a message's payload ("" when it has none).
pub(crate) fn text(m: &Message) -> String {
    m.payload().and_then(|p| p.as_str()).unwrap_or("").to_string()
}

/// Runs a test body on its own thread so a deadlock or a lost wake-up fails
/// the test instead of hanging the suite.
pub(crate) fn run_bounded(limit: Duration, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel::<()>();
    let h = thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Disconnected) => std::panic::resume_unwind(h.join().unwrap_err()),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("test body did not finish within {limit:?} (deadlock?)"),
    }
}

/// Reasons whose disconnect the client must be told about (a notice in its
/// outbox). Written out here rather than taken from
/// `DisconnectReason::is_server_side`, so the tests do not check the engine
/// against itself.
pub(crate) fn notifies_client(r: DisconnectReason) -> bool {
    matches!(
        r,
        DisconnectReason::ServerNamespaceDisconnect
            | DisconnectReason::ServerShuttingDown
            | DisconnectReason::ForcedServerClose
    )
}
