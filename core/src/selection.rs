//! Who an emit selects, as the API spells it: [`Rooms`], one or several
//! room names, collected into a [`RoomList`].

use std::borrow::Cow;

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
