//! Namespaces: the `roomcast_namespace` handle and what it tells
//! (name, rooms, sockets, dynamic parent and children).

use std::ffi::c_char;

use roomcast_core as core;

use crate::error::Error;
use crate::panic::{free_handle, guard, guard_value, handle, into_handle, out, string, write};
use crate::roomcast_result;
use crate::socket::roomcast_socket;
use crate::strings::{roomcast_str, roomcast_strings, strings_handle};

/// A namespace (core's `Namespace`). Box-owned: obtained from
/// `roomcast_engine_of`, freed with `roomcast_namespace_free` (which frees
/// only the handle, not the namespace). Thread-safe.
pub struct roomcast_namespace {
    pub(crate) ns: core::Namespace,
}

/// Frees a namespace handle (the namespace itself stays). NULL is a no-op.
///
/// # Safety
///
/// `ns` must be NULL or from this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_free(ns: *mut roomcast_namespace) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(ns) })
}

/// Number of sockets in room `room` of the namespace, written to `*size_out`.
///
/// # Safety
///
/// `ns` must be NULL or live; `room` NULL or NUL-terminated; `size_out`
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_room_size(
    ns: *const roomcast_namespace,
    room: *const c_char,
    size_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, room) = unsafe { (handle(ns, "ns")?, string(room, "room")?) };
        out(size_out, "size_out")?;
        let n = ns.ns.room_size(room);
        // SAFETY: checked non-NULL above.
        unsafe { write(size_out, n) };
        Ok(())
    })
}

/// Writes a view of the namespace's name (not NUL-terminated, borrowed from
/// the handle). A dynamic parent's name is `<dynamic #N>`.
///
/// # Safety
///
/// `ns` must be NULL or live; the out-pointers valid for writes.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_name(
    ns: *const roomcast_namespace,
    name_out: *mut roomcast_str,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(name_out, "name_out")?;
        let name = ns.ns.name();
        // SAFETY: checked non-NULL above.
        unsafe { write(name_out, roomcast_str::new(name)) };
        Ok(())
    })
}

/// Writes whether `ns` is a parent made by `roomcast_engine_of_dynamic`.
///
/// # Safety
///
/// `ns` must be NULL or live; `parent_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_is_dynamic_parent(
    ns: *const roomcast_namespace,
    parent_out: *mut bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(parent_out, "parent_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(parent_out, ns.ns.is_dynamic_parent()) };
        Ok(())
    })
}

/// For a child of a dynamic namespace, writes a new handle to its parent.
/// `ROOMCAST_RESULT_NO_VALUE` for any other namespace.
///
/// # Safety
///
/// `ns` must be NULL or live; `parent_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_parent(
    ns: *const roomcast_namespace,
    parent_out: *mut *mut roomcast_namespace,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(parent_out, "parent_out")?;
        let parent =
            ns.ns.parent().ok_or_else(|| Error::new(roomcast_result::NoValue, "not a dynamic namespace's child"))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(parent_out, into_handle(roomcast_namespace { ns: parent.clone() })) };
        Ok(())
    })
}

/// For a dynamic parent, writes a new list of the names of the children
/// created so far (empty for any other namespace); free it with
/// `roomcast_strings_free`.
///
/// # Safety
///
/// `ns` must be NULL or live; `names_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_children(
    ns: *const roomcast_namespace,
    names_out: *mut *mut roomcast_strings,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(names_out, "names_out")?;
        let names = ns.ns.children().iter().map(|c| c.name().to_string()).collect::<Vec<_>>();
        // SAFETY: checked non-NULL above.
        unsafe { write(names_out, strings_handle(names)) };
        Ok(())
    })
}

/// Writes a new list of the namespace's non-empty rooms (own-id rooms
/// included); free it with `roomcast_strings_free`.
///
/// # Safety
///
/// `ns` must be NULL or live; `rooms_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_rooms(
    ns: *const roomcast_namespace,
    rooms_out: *mut *mut roomcast_strings,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(rooms_out, "rooms_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(rooms_out, strings_handle(ns.ns.rooms())) };
        Ok(())
    })
}

/// Writes the number of connected sockets in the namespace.
///
/// # Safety
///
/// `ns` must be NULL or live; `count_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_socket_count(
    ns: *const roomcast_namespace,
    count_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(count_out, "count_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(count_out, ns.ns.socket_count()) };
        Ok(())
    })
}

/// Writes a new handle to the connected socket of `ns` whose id is `id`
/// (a private message target, for example). `ROOMCAST_RESULT_NO_VALUE` when
/// there is none.
///
/// # Safety
///
/// `ns` must be NULL or live; `id` NULL or NUL-terminated; `socket_out`
/// valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_namespace_socket(
    ns: *const roomcast_namespace,
    id: *const c_char,
    socket_out: *mut *mut roomcast_socket,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, id) = unsafe { (handle(ns, "ns")?, string(id, "id")?) };
        out(socket_out, "socket_out")?;
        let socket = ns
            .ns
            .socket(id)
            .ok_or_else(|| Error::new(roomcast_result::NoValue, format!("no socket {id:?} in {}", ns.ns.name())))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(socket_out, into_handle(roomcast_socket { socket })) };
        Ok(())
    })
}
