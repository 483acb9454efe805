//! Who an emit or an operation selects, in one place: the union of some
//! rooms (the whole namespace when none), minus the members of the except
//! rooms, minus one socket (the sender), volatile or not.
//!
//! * [`Rooms`] / [`RoomList`]: room names as the API takes them.
//! * [`Selection`]: the borrowed view the fan-out walks (`rooms`).
//! * [`Target`]: that view with the volatile flag, as the adapter
//!   (`crate::Adapter`) receives an emit.
//! * [`Selector`]: the owned, serializable form a cluster adapter sends to
//!   other nodes. The sender is left out: it lives on the emitting node.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// One or several room names: `"a"`, `String`, `["a", "b"]`, `vec![..]`,
/// `&[..]`. Borrowed names are not copied.
pub trait Rooms<'a> {
    /// Appends the names to `out`.
    fn push_into(self, out: &mut RoomList<'a>);

    /// The name, when this is exactly one name (lets `join`/`leave` of one
    /// room skip building a list). `None` means "use `push_into`".
    #[doc(hidden)]
    fn single(&self) -> Option<&str> {
        None
    }
}

/// A short list of room names.
pub type RoomList<'a> = SmallVec<[Cow<'a, str>; 2]>;

impl<'a> Rooms<'a> for &'a str {
    fn push_into(self, out: &mut RoomList<'a>) {
        out.push(Cow::Borrowed(self));
    }
    fn single(&self) -> Option<&str> {
        Some(self)
    }
}
impl<'a> Rooms<'a> for &'a String {
    fn push_into(self, out: &mut RoomList<'a>) {
        out.push(Cow::Borrowed(self.as_str()));
    }
    fn single(&self) -> Option<&str> {
        Some(self.as_str())
    }
}
impl<'a> Rooms<'a> for String {
    fn push_into(self, out: &mut RoomList<'a>) {
        out.push(Cow::Owned(self));
    }
    fn single(&self) -> Option<&str> {
        Some(self.as_str())
    }
}
impl<'a> Rooms<'a> for Cow<'a, str> {
    fn push_into(self, out: &mut RoomList<'a>) {
        out.push(self);
    }
    fn single(&self) -> Option<&str> {
        Some(self)
    }
}
impl<'a, T: Rooms<'a>> Rooms<'a> for Vec<T> {
    fn push_into(self, out: &mut RoomList<'a>) {
        for r in self {
            r.push_into(out);
        }
    }
}
impl<'a, T: Rooms<'a>, const N: usize> Rooms<'a> for [T; N] {
    fn push_into(self, out: &mut RoomList<'a>) {
        for r in self {
            r.push_into(out);
        }
    }
}
impl<'a, T: Rooms<'a> + Clone> Rooms<'a> for &'a [T] {
    fn push_into(self, out: &mut RoomList<'a>) {
        for r in self {
            r.clone().push_into(out);
        }
    }
}

pub(crate) fn room_list<'a>(rooms: impl Rooms<'a>) -> RoomList<'a> {
    let mut v = RoomList::new();
    rooms.push_into(&mut v);
    v
}

/// Who an emit or a server-side operation selects, borrowed: what the
/// fan-out walks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Selection<'a> {
    /// Union of these rooms; empty means the whole namespace.
    pub(crate) rooms: &'a [Cow<'a, str>],
    /// Minus members of these rooms.
    pub(crate) except: &'a [Cow<'a, str>],
    /// Minus this socket (the sender of `broadcast` / `socket.to`, or the
    /// socket of `except_socket`).
    pub(crate) except_key: Option<u64>,
}

/// Which sockets an emit targets, as an adapter sees it: a borrowed
/// selection and the volatile flag.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub(crate) sel: Selection<'a>,
    pub(crate) volatile: bool,
}

impl<'a> Target<'a> {
    /// A target for [`Namespace::deliver_local`](crate::Namespace::deliver_local):
    /// the union of `rooms` (the whole namespace when empty) minus the
    /// members of `except`.
    pub fn new(rooms: &'a [Cow<'a, str>], except: &'a [Cow<'a, str>], volatile: bool) -> Target<'a> {
        Target { sel: Selection { rooms, except, except_key: None }, volatile }
    }
    /// Targeted rooms (empty: the whole namespace).
    pub fn rooms(&self) -> &[Cow<'a, str>] {
        self.sel.rooms
    }
    /// Excluded rooms.
    pub fn except_rooms(&self) -> &[Cow<'a, str>] {
        self.sel.except
    }
    /// Whether the emit is volatile.
    pub fn is_volatile(&self) -> bool {
        self.volatile
    }
    /// Whether a local sender socket is excluded (it exists only on the
    /// node that emitted, so remote nodes can ignore it).
    pub fn excludes_sender(&self) -> bool {
        self.sel.except_key.is_some()
    }
    /// The owned [`Selector`] other nodes apply: the rooms, except-rooms
    /// and volatile flag (not the sender, which lives here).
    pub fn selector(&self) -> Selector {
        Selector::new(self.sel.rooms, self.sel.except, self.volatile)
    }
}

/// An owned selection of sockets, as sent to other nodes: the union of
/// `rooms` (the whole namespace when empty) minus the members of `except`,
/// volatile or not. Serializable: a cluster adapter puts it on the wire as
/// it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Selector {
    /// Targeted rooms (empty: the whole namespace).
    pub rooms: Vec<String>,
    /// Excluded rooms (or socket ids).
    pub except: Vec<String>,
    /// Dropped for a full outbox instead of applying its overflow policy.
    pub volatile: bool,
}

impl Selector {
    pub(crate) fn new(rooms: &[Cow<'_, str>], except: &[Cow<'_, str>], volatile: bool) -> Selector {
        Selector {
            rooms: rooms.iter().map(|r| r.to_string()).collect(),
            except: except.iter().map(|r| r.to_string()).collect(),
            volatile,
        }
    }

    /// The borrowed names, for a [`Target`] or an operator built from it.
    pub(crate) fn lists(&self) -> (RoomList<'_>, RoomList<'_>) {
        fn borrow(v: &[String]) -> RoomList<'_> {
            v.iter().map(|r| Cow::Borrowed(r.as_str())).collect()
        }
        (borrow(&self.rooms), borrow(&self.except))
    }
}
