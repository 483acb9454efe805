//! The adapter seam: where an emit leaves the engine's API and reaches
//! sockets. The default [`LocalAdapter`] delivers to this process's sockets;
//! a cluster adapter also publishes the target and message once per emit to
//! a distributed engine (Redis, NATS), and every node calls
//! [`Namespace::deliver_local`] for what it receives.

use std::borrow::Cow;

use crate::message::Message;
use crate::namespace::Namespace;
use crate::operator::EmitReport;

/// Which sockets an emit targets, as an adapter sees it.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub(crate) rooms: &'a [Cow<'a, str>],
    pub(crate) except: &'a [Cow<'a, str>],
    pub(crate) except_key: Option<u64>,
    pub(crate) volatile: bool,
}

impl<'a> Target<'a> {
    /// A target for [`Namespace::deliver_local`]: the union of `rooms` (the
    /// whole namespace when empty) minus the members of `except`.
    pub fn new(rooms: &'a [Cow<'a, str>], except: &'a [Cow<'a, str>], volatile: bool) -> Target<'a> {
        Target { rooms, except, except_key: None, volatile }
    }
    /// Targeted rooms (empty: the whole namespace).
    pub fn rooms(&self) -> &[Cow<'a, str>] {
        self.rooms
    }
    /// Excluded rooms.
    pub fn except_rooms(&self) -> &[Cow<'a, str>] {
        self.except
    }
    /// Whether the emit is volatile.
    pub fn is_volatile(&self) -> bool {
        self.volatile
    }
    /// Whether a local sender socket is excluded (it exists only on the
    /// node that emitted, so remote nodes can ignore it).
    pub fn excludes_sender(&self) -> bool {
        self.except_key.is_some()
    }
}

/// Routes emits. Implementations must deliver locally through
/// [`Namespace::deliver_local`] (and may publish elsewhere); they are called
/// with no engine lock held.
pub trait Adapter: Send + Sync + 'static {
    /// Delivers `message` to the sockets `target` selects in `namespace`.
    fn broadcast(&self, namespace: &Namespace, target: &Target<'_>, message: &Message) -> EmitReport {
        namespace.deliver_local(target, message)
    }
}

/// The single-process adapter: delivers to this engine's sockets only.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalAdapter;

impl Adapter for LocalAdapter {}
