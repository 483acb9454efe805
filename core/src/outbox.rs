//! The receiving end of a connection, [`Outbox`]: what the host drains
//! and writes to the wire. The queue itself (bounds, overflow, wake-ups) is
//! in `queue`; this handle adds the connection it belongs to, so dropping
//! it closes that connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::connection::ConnInner;
use crate::error::{RecvError, RecvTimeoutError, TryRecvError};
use crate::message::{DisconnectReason, Message};
use crate::queue::{deadline, Queue};

/// The receiving end of a connection: what the host drains and writes to
/// the wire. One per connection, created by [`Engine::connect`](crate::Engine::connect).
///
/// All receive methods take `&self` and may be called from any thread;
/// async receiving (`recv_async`, the `Stream` impl) supports one task at a
/// time. Dropping the `Outbox` closes the connection with reason
/// `transport close`: nobody could read what it would receive.
///
/// ```
/// use roomcast::{Engine, Config, Handshake, TryRecvError};
/// let engine = Engine::new(Config::default());
/// let (conn, outbox) = engine.connect();
/// let socket = conn.join_namespace("/", Handshake::new())?;
/// socket.emit("hello", "world")?;
/// let msg = outbox.try_recv().unwrap();
/// assert_eq!(msg.event_name(), Some("hello"));
/// assert_eq!(outbox.try_recv().unwrap_err(), TryRecvError::Empty);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Outbox {
    pub(crate) conn: Arc<ConnInner>,
}

impl Outbox {
    fn q(&self) -> &Queue {
        &self.conn.queue
    }

    /// Blocks until a message is available; `Err(Closed)` once the
    /// connection is closed and drained.
    pub fn recv(&self) -> Result<Message, RecvError> {
        self.q().recv_deadline(None).map_err(|_| RecvError::Closed)
    }

    /// Returns a message if one is queued.
    pub fn try_recv(&self) -> Result<Message, TryRecvError> {
        self.q().try_recv()
    }

    /// Blocks for at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Message, RecvTimeoutError> {
        self.q().recv_deadline(deadline(timeout))
    }

    /// Blocks until at least one message is queued, then moves up to `max`
    /// into `buf` (appending) and returns how many. Lets one transport write
    /// carry many messages.
    pub fn recv_many(&self, buf: &mut Vec<Message>, max: usize) -> Result<usize, RecvError> {
        self.q().recv_many_deadline(buf, max, None).map_err(|_| RecvError::Closed)
    }

    /// Like [`recv_many`](Self::recv_many) but waits at most `timeout`.
    pub fn recv_many_timeout(
        &self,
        buf: &mut Vec<Message>,
        max: usize,
        timeout: Duration,
    ) -> Result<usize, RecvTimeoutError> {
        self.q().recv_many_deadline(buf, max, deadline(timeout))
    }

    /// Moves up to `max` queued messages into `buf` without blocking;
    /// `Ok(0)` when empty, `Err(Closed)` when closed and drained.
    pub fn try_recv_many(&self, buf: &mut Vec<Message>, max: usize) -> Result<usize, TryRecvError> {
        self.q().try_recv_many(buf, max)
    }

    /// Waits for the next message without blocking the thread.
    pub fn recv_async(&self) -> RecvFuture<'_> {
        RecvFuture { outbox: self }
    }

    /// Waits for at least one message, then moves up to `max` into `buf`.
    pub fn recv_many_async<'a>(&'a self, buf: &'a mut Vec<Message>, max: usize) -> RecvManyFuture<'a> {
        RecvManyFuture { outbox: self, buf, max }
    }

    /// Installs the callback fired when the outbox goes from empty to
    /// non-empty, and when it closes — the hook for event-loop hosts (write
    /// to an eventfd or pipe, then drain with `try_recv_many`).
    ///
    /// It runs on the thread that made the transition (an emitter, or the
    /// closer), after every engine lock is released, so it may call into the
    /// engine; it should be quick. If messages are already waiting, it fires
    /// once right away, on this thread.
    pub fn set_notify(&self, callback: impl Fn() + Send + Sync + 'static) {
        self.q().set_notify(Some(Arc::new(callback)));
    }

    /// Removes the notify callback.
    pub fn clear_notify(&self) {
        self.q().set_notify(None);
    }

    /// Messages currently queued (a pending lagged notice counts as one).
    pub fn len(&self) -> usize {
        self.q().len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True once the connection is closed (messages may still be queued).
    pub fn is_closed(&self) -> bool {
        self.q().is_closed()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<DisconnectReason> {
        self.q().close_reason()
    }

    /// The connection this outbox belongs to.
    pub fn connection(&self) -> crate::Connection {
        crate::Connection { inner: self.conn.clone() }
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        // Final: sockets of a connection whose host dropped the outbox are
        // not kept for recovery (close it with a recoverable reason first
        // to keep them).
        crate::connection::close_conn_with(&self.conn, DisconnectReason::TransportClose, false);
    }
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("connection", &self.conn.id).field("len", &self.len()).finish()
    }
}

impl futures_core::Stream for Outbox {
    type Item = Message;

    /// Yields messages until the connection is closed and drained.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.q().poll_recv(cx).map(Result::ok)
    }
}

/// Future of [`Outbox::recv_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct RecvFuture<'a> {
    outbox: &'a Outbox,
}

impl Future for RecvFuture<'_> {
    type Output = Result<Message, RecvError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.outbox.q().poll_recv(cx)
    }
}

/// Future of [`Outbox::recv_many_async`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct RecvManyFuture<'a> {
    outbox: &'a Outbox,
    buf: &'a mut Vec<Message>,
    max: usize,
}

impl Future for RecvManyFuture<'_> {
    type Output = Result<usize, RecvError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.outbox.q().poll_recv_many(cx, this.buf, this.max)
    }
}
