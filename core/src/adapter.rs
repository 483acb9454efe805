//! The adapter seam: where an emit leaves the engine's API and reaches
//! sockets. The default [`LocalAdapter`] delivers to this process's sockets;
//! a cluster adapter also publishes the target and message once per emit to
//! a distributed engine (Redis, NATS), and every node calls
//! [`Namespace::deliver_local`] for what it receives.
//!
//! ## Cluster operations
//!
//! Beyond `broadcast`, an adapter may answer the cluster-wide operations
//! (each has a local default, so a single-process engine pays nothing):
//!
//! | engine call | adapter method |
//! | --- | --- |
//! | `ns.to(..).emit(..)` | [`Adapter::broadcast`] (publish, then deliver locally) |
//! | `ns.to(..).emit_with_cluster_ack(..)` | [`Adapter::broadcast_with_ack`] |
//! | `ns.to(..).cluster_fetch_sockets()` | [`Adapter::fetch_sockets`] |
//! | `ns.to(..).cluster_sockets_join(..)` / `_leave` / `cluster_disconnect_sockets()` | [`Adapter::apply`] |
//! | `ns.server_side_emit(..)` | [`Adapter::server_side_emit`] |
//! | `engine.server_count()` | [`Adapter::server_count`] |
//!
//! The remote methods return what *other* nodes did; the engine adds this
//! node's part itself. A node that does not answer in time is counted in
//! [`ClusterReply::missing_nodes`]; when the cluster cannot be reached at
//! all the call fails with [`ClusterError`]. `.local()` on an operator skips
//! the adapter entirely.
//!
//! ```
//! use std::sync::{Arc, Mutex};
//! use roomcast::{Adapter, Config, Engine, Message, Namespace, Target, EmitReport, WeakEngine};
//!
//! /// Counts what it would publish, then delivers locally.
//! #[derive(Default)]
//! struct Counting(Mutex<usize>);
//! impl Adapter for Counting {
//!     fn broadcast(&self, ns: &Namespace, target: &Target<'_>, msg: &Message) -> EmitReport {
//!         *self.0.lock().unwrap() += 1;
//!         ns.deliver_local(target, msg)
//!     }
//! }
//! let adapter = Arc::new(Counting::default());
//! let engine = Engine::with_adapter(Config::default(), adapter.clone());
//! engine.of("/")?.emit("hello", "world")?;
//! engine.of("/")?.local().emit("hello", "only here")?;
//! assert_eq!(*adapter.0.lock().unwrap(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::time::Duration;

use crate::acks::AckReply;
use crate::engine::WeakEngine;
use crate::error::EmitError;
use crate::fanout::EmitReport;
use crate::message::Message;
use crate::namespace::Namespace;
use crate::operator::BroadcastOperator;
use crate::payload::Payload;
use crate::selection::{Selector, Target};

impl Selector {
    /// Delivers `message` to this node's sockets of `namespace` that the
    /// selector picks (what a cluster adapter does for a remote emit).
    pub fn deliver_local(&self, namespace: &Namespace, message: &Message) -> EmitReport {
        let (rooms, except) = self.lists();
        namespace.deliver_local(&Target::new(&rooms, &except, self.volatile), message)
    }

    /// The operator selecting the same sockets on this node (volatile when
    /// the selector is), acting on this node only (`.local()`).
    pub fn operator<'a>(&'a self, namespace: &'a Namespace) -> BroadcastOperator<'a> {
        let (rooms, except) = self.lists();
        let op = namespace.local().to(rooms.into_vec()).except(except.into_vec());
        if self.volatile {
            op.volatile()
        } else {
            op
        }
    }
}

/// A socket as seen from anywhere in the cluster (returned by
/// `cluster_fetch_sockets`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSocket {
    /// The socket id.
    pub id: String,
    /// Its namespace.
    pub namespace: String,
    /// Its rooms, own-id room first.
    pub rooms: Vec<String>,
    /// Its data (`Socket::set_data`), if any.
    pub data: Option<Payload>,
    /// The node it is connected to (`"local"` for a single-process engine).
    pub node: String,
}

/// A result merged from the nodes that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterReply<T> {
    /// The merged answers (this node's part included).
    pub value: T,
    /// Nodes known to be alive that did not answer before the timeout.
    pub missing_nodes: usize,
}

impl<T> ClusterReply<T> {
    /// A reply every node gave.
    pub fn complete(value: T) -> ClusterReply<T> {
        ClusterReply { value, missing_nodes: 0 }
    }
    /// Whether every known node answered.
    pub fn is_complete(&self) -> bool {
        self.missing_nodes == 0
    }
}

/// A cluster operation that could not be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The operation's own arguments were invalid.
    #[error(transparent)]
    Invalid(#[from] EmitError),
    /// The cluster's bus cannot be reached; only this node's part was done.
    /// `missing_nodes` is how many other nodes were last known alive.
    #[error("cluster bus unavailable ({reason}); {missing_nodes} other node(s) not reached")]
    Unavailable {
        /// Why (the bus client's error).
        reason: String,
        /// Other nodes last known alive.
        missing_nodes: usize,
    },
}

/// What [`Adapter::apply`] does to the selected sockets of other nodes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SocketsOp {
    /// Join these rooms.
    Join(Vec<String>),
    /// Leave these rooms.
    Leave(Vec<String>),
    /// Disconnect (`server namespace disconnect`).
    Disconnect,
}

/// The replies of other nodes' sockets to an ack broadcast, returned by
/// [`Adapter::broadcast_with_ack`]. `wait` blocks until every node
/// answered or the deadline passed.
pub struct RemoteAcks {
    wait: Option<RemoteWait>,
}

/// What waits for the other nodes' ack replies.
type RemoteWait = Box<dyn FnOnce() -> Result<ClusterReply<Vec<AckReply>>, ClusterError> + Send>;

impl RemoteAcks {
    /// No other node (the local default).
    pub fn none() -> RemoteAcks {
        RemoteAcks { wait: None }
    }
    /// Replies produced by `wait` (called once, on the consumer's thread).
    pub fn new(
        wait: impl FnOnce() -> Result<ClusterReply<Vec<AckReply>>, ClusterError> + Send + 'static,
    ) -> RemoteAcks {
        RemoteAcks { wait: Some(Box::new(wait)) }
    }
    /// Blocks until the replies are in (or the deadline passed).
    pub fn wait(self) -> Result<ClusterReply<Vec<AckReply>>, ClusterError> {
        match self.wait {
            Some(f) => f(),
            None => Ok(ClusterReply::complete(Vec::new())),
        }
    }
}

impl std::fmt::Debug for RemoteAcks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAcks").field("remote", &self.wait.is_some()).finish()
    }
}

/// Routes emits and cluster operations. Implementations must deliver
/// locally through [`Namespace::deliver_local`] (and may publish
/// elsewhere); every method is called with no engine lock held. The remote
/// methods' defaults describe a single process: no other node.
pub trait Adapter: Send + Sync + 'static {
    /// Called once, when the engine is built with this adapter, so the
    /// adapter can deliver what other nodes publish.
    fn attach(&self, engine: WeakEngine) {
        let _ = engine;
    }

    /// Delivers `message` to the sockets `target` selects in `namespace`.
    fn broadcast(&self, namespace: &Namespace, target: &Target<'_>, message: &Message) -> EmitReport {
        namespace.deliver_local(target, message)
    }

    /// Asks other nodes to deliver `event` to their sockets that `target`
    /// selects, each with an ack id, and to return the replies (or
    /// per-socket errors) within `timeout`. Local delivery is the engine's.
    fn broadcast_with_ack(
        &self,
        namespace: &Namespace,
        target: &Target<'_>,
        event: &str,
        payload: &Payload,
        timeout: Duration,
    ) -> RemoteAcks {
        let _ = (namespace, target, event, payload, timeout);
        RemoteAcks::none()
    }

    /// The selected sockets of other nodes.
    fn fetch_sockets(
        &self,
        namespace: &Namespace,
        selector: &Selector,
    ) -> Result<ClusterReply<Vec<RemoteSocket>>, ClusterError> {
        let _ = (namespace, selector);
        Ok(ClusterReply::complete(Vec::new()))
    }

    /// Applies `op` to the selected sockets of other nodes; returns how
    /// many sockets it affected there.
    fn apply(
        &self,
        namespace: &Namespace,
        selector: &Selector,
        op: &SocketsOp,
    ) -> Result<ClusterReply<usize>, ClusterError> {
        let _ = (namespace, selector, op);
        Ok(ClusterReply::complete(0))
    }

    /// Runs the `on_server_side(event)` handlers of `namespace` on every
    /// other node. With `ack`, waits up to that long for their replies.
    fn server_side_emit(
        &self,
        namespace: &Namespace,
        event: &str,
        payload: &Payload,
        ack: Option<Duration>,
    ) -> Result<ClusterReply<Vec<Payload>>, ClusterError> {
        let _ = (namespace, event, payload, ack);
        Ok(ClusterReply::complete(Vec::new()))
    }

    /// Nodes in the cluster, this one included.
    fn server_count(&self) -> usize {
        1
    }

    /// This node's name in [`RemoteSocket::node`].
    fn node_id(&self) -> String {
        "local".to_string()
    }
}

/// The single-process adapter: delivers to this engine's sockets only.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalAdapter;

impl Adapter for LocalAdapter {}
