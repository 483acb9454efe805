//! A running server: [`bind`] starts the accept loop, [`Bound`] and
//! [`ShutdownHandle`] ask and stop it.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use parking_lot::Mutex;
use roomcast::DisconnectReason;
use tokio::sync::watch;

use crate::server::{routing, Shared};
use crate::session::Layer;

/// What a running server is asked, whatever its layer.
pub(crate) trait Control: Send + Sync {
    /// Live sessions.
    fn session_count(&self) -> usize;
    /// Closes every session (`server shutting down`).
    fn close_all(&self);
}

impl<L: Layer> Control for Shared<L> {
    fn session_count(&self) -> usize {
        self.sessions.lock().len()
    }

    fn close_all(&self) {
        let all: Vec<_> = self.sessions.lock().values().cloned().collect();
        for s in all {
            s.close(DisconnectReason::ServerShuttingDown);
        }
    }
}

/// Binds `addr` and serves `shared` (and `routes`) in a background task.
pub(crate) async fn bind<L: Layer>(
    shared: Arc<Shared<L>>,
    routes: Option<Router>,
    addr: impl tokio::net::ToSocketAddrs,
) -> std::io::Result<Bound> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let mut app = routing::router(shared.clone());
    if let Some(r) = routes {
        app = app.merge(r);
    }
    let (tx, rx) = watch::channel(false);
    tokio::spawn(sweep_recovery(Arc::downgrade(&shared), rx.clone()));
    let task = tokio::spawn(crate::accept::serve(listener, app, shared.opts.clone(), rx));
    Ok(Bound { local, shared, stop: tx, task: Mutex::new(Some(task)) })
}

/// Every second, ends the sockets kept for connection state recovery
/// whose time is up (`Engine::sweep_recovery`: emits and connects sweep
/// too, this covers an idle namespace), until the server stops.
async fn sweep_recovery<L: Layer>(shared: std::sync::Weak<Shared<L>>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let Some(shared) = shared.upgrade() else { return };
        shared.layer.engine().sweep_recovery();
    }
}

/// A running server (from [`SocketIoServer::bind`](crate::SocketIoServer::bind) or
/// [`EngineIoServer::bind`](crate::engineio::EngineIoServer::bind)). Dropping it leaves the
/// server running in its task; [`shutdown`](Bound::shutdown) stops it.
pub struct Bound {
    local: SocketAddr,
    shared: Arc<dyn Control>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<tokio::task::JoinHandle<std::io::Result<()>>>>,
}

/// Stops a [`Bound`] server from anywhere (cheap to clone).
#[derive(Clone)]
pub struct ShutdownHandle {
    shared: Arc<dyn Control>,
    stop: watch::Sender<bool>,
}

impl ShutdownHandle {
    /// Disconnects every client (`server shutting down`) and stops accepting.
    pub fn shutdown(&self) {
        self.shared.close_all();
        let _ = self.stop.send(true);
    }
}

impl Bound {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Live Engine.IO sessions.
    pub fn session_count(&self) -> usize {
        self.shared.session_count()
    }

    /// A handle that stops the server.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { shared: self.shared.clone(), stop: self.stop.clone() }
    }

    /// Waits until the server stops.
    pub async fn wait(&self) -> std::io::Result<()> {
        let task = self.task.lock().take();
        match task {
            Some(t) => t.await.unwrap_or_else(|e| Err(std::io::Error::other(e))),
            None => Ok(()),
        }
    }

    /// Disconnects every client, stops accepting and waits for the end.
    pub async fn shutdown(&self) -> std::io::Result<()> {
        self.shutdown_handle().shutdown();
        self.wait().await
    }
}
