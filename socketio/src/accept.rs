//! The HTTP server behind [`bind`](crate::SocketIoServer::bind): an accept
//! loop over hyper's HTTP/1.1 connections with the limits an
//! internet-facing server needs.
//!
//! * **Connection cap.** A semaphore permit per connection, taken before
//!   `accept`: at the cap the loop stops accepting and new connections wait
//!   in the kernel's listen backlog. A connection upgraded to WebSocket
//!   keeps its permit (carried in the request's extensions into the
//!   WebSocket task) until the WebSocket ends.
//! * **Header-read timeout.** hyper's `header_read_timeout` with a tokio
//!   timer: a connection that does not complete a request head in time,
//!   including an idle keep-alive connection, is closed.
//! * **Header size.** At most [`MAX_HEADER_BYTES`] of request head; more
//!   gets HTTP 431 from hyper.
//! * **`TCP_NODELAY`** on every accepted socket: frames are written as
//!   whole batches already, and Nagle's algorithm would hold a small write
//!   behind an unacknowledged one until the peer's delayed ACK (~40 ms).
//! * **Graceful shutdown.** When stopped, the loop stops accepting, lets
//!   connections finish their current request and waits (bounded) until
//!   every connection has ended.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};

use crate::server::Options;

/// The largest request head (request line and headers) accepted.
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;

/// How long a stopped server waits for open requests to finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// One connection's place under the connection cap, shared by the requests
/// of the connection (and kept by its WebSocket, if it upgrades).
#[derive(Clone)]
pub(crate) struct ConnPermit {
    /// Released when the last holder drops it.
    _held: Arc<OwnedSemaphorePermit>,
}

/// Accepts and serves connections until `stop` turns true.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    opts: Options,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let cap = u32::try_from(opts.max_connections).unwrap_or(u32::MAX);
    let permits = Arc::new(Semaphore::new(cap as usize));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(opts.header_timeout).max_buf_size(MAX_HEADER_BYTES.max(8192));
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.map_err(std::io::Error::other)?,
            () = stopped(&mut stop) => break,
        };
        let (tcp, remote) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) if is_connection_error(&e) => continue,
                Err(_) => {
                    // Out of file descriptors or memory: wait for some to free
                    // up instead of spinning on the error.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let _ = tcp.set_nodelay(true);
        let permit = ConnPermit { _held: Arc::new(permit) };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(remote));
            req.extensions_mut().insert(permit.clone());
            let mut app = app.clone();
            async move {
                let resp = tower_service::Service::call(&mut app, req.map(Body::new)).await;
                Ok::<_, Infallible>(resp.unwrap_or_else(|e| match e {}))
            }
        });
        let conn = http.serve_connection(TokioIo::new(tcp), service).with_upgrades();
        let mut conn_stop = stop.clone();
        tokio::spawn(async move {
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => return,
                () = stopped(&mut conn_stop) => {}
            }
            // Finish the request in progress, then close.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(DRAIN_LIMIT, conn).await;
        });
    }
    drop(listener);
    // Every permit back: each connection (and WebSocket) has ended.
    let _ = tokio::time::timeout(DRAIN_LIMIT, permits.acquire_many(cap)).await;
    Ok(())
}

/// Waits until the server is stopped.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // An error means the sender is gone: stopped as well.
    let _ = stop.wait_for(|v| *v).await;
}

/// Errors of one incoming connection (not of the listener).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
