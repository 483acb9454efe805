//! Configuration, engine, namespaces, emits and statistics.

use std::ffi::{c_char, c_void};

use roomcast_core as core;

use crate::callback::{roomcast_free_callback, UserData};
use crate::conn::roomcast_conn;
use crate::error::Error;
use crate::hooks::roomcast_handshake;
use crate::panic::{free_handle, guard, guard_value, handle, into_handle, out, string, strings, write, write_opt};
use crate::payload::payload;
use crate::roomcast_result;
use crate::socket::roomcast_socket;
use crate::strings::{roomcast_strings, strings_handle};

/// A configuration under construction (core's `ConfigBuilder`). Box-owned:
/// create with `roomcast_config_new`, free with `roomcast_config_free`.
/// Not thread-safe: use from one thread at a time.
pub struct roomcast_config {
    pub(crate) builder: core::ConfigBuilder,
}

/// The root object (core's `Engine`). Box-owned: create with
/// `roomcast_engine_new`, free with `roomcast_engine_free`. Thread-safe:
/// every function taking a `const roomcast_engine *` may be called from any
/// thread concurrently. Freeing the handle does not close connections; the
/// engine's state lives until its last connection, namespace and socket
/// handle is freed.
pub struct roomcast_engine {
    pub(crate) engine: core::Engine,
}

/// A namespace (core's `Namespace`). Box-owned: obtained from
/// `roomcast_engine_of`, freed with `roomcast_namespace_free` (which frees
/// only the handle, not the namespace). Thread-safe.
pub struct roomcast_namespace {
    pub(crate) ns: core::Namespace,
}

/// Who receives an emit. Every pointer is borrowed for the duration of the
/// call only. A NULL target (or an all-empty one) means the whole namespace.
#[repr(C)]
pub struct roomcast_target {
    /// Room names (NUL-terminated UTF-8); the emit reaches their union.
    /// May be NULL when `rooms_len` is 0 (then: the whole namespace).
    pub rooms: *const *const c_char,
    /// Number of entries in `rooms`.
    pub rooms_len: usize,
    /// Rooms whose members are left out. May be NULL when `except_len` is 0.
    pub except: *const *const c_char,
    /// Number of entries in `except`.
    pub except_len: usize,
    /// A socket to leave out (its own-id room is excepted), or NULL.
    pub exclude: *const roomcast_socket,
    /// When true, the emit is volatile: dropped for a full outbox without
    /// triggering the overflow policy.
    pub volatile_: bool,
}

/// What one emit did.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct roomcast_emit_report {
    /// Sockets selected.
    pub recipients: usize,
    /// Messages queued.
    pub queued: usize,
    /// Messages dropped by back-pressure.
    pub dropped: usize,
}

impl From<core::EmitReport> for roomcast_emit_report {
    fn from(r: core::EmitReport) -> Self {
        roomcast_emit_report { recipients: r.recipients, queued: r.queued, dropped: r.dropped }
    }
}

/// Engine-wide counters, a snapshot (core's `Stats`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct roomcast_stats {
    /// Open connections.
    pub connections: u64,
    /// Connected sockets, all namespaces.
    pub sockets: u64,
    /// Non-empty rooms, all namespaces.
    pub rooms: u64,
    /// Namespaces.
    pub namespaces: u64,
    /// Emits performed.
    pub emitted: u64,
    /// Messages queued for delivery.
    pub delivered: u64,
    /// Messages dropped by back-pressure.
    pub dropped: u64,
    /// Client ack replies that matched no pending ack.
    pub acks_ignored: u64,
}

/// Creates a configuration holding the defaults and writes it to `*cfg_out`.
///
/// # Safety
///
/// `cfg_out` must be NULL or valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_config_new(cfg_out: *mut *mut roomcast_config) -> roomcast_result {
    guard(|| {
        out(cfg_out, "cfg_out")?;
        let cfg = into_handle(roomcast_config { builder: core::Config::builder() });
        // SAFETY: checked non-NULL above; valid per the contract.
        unsafe { write(cfg_out, cfg) };
        Ok(())
    })
}

/// Sets one option by its configuration name from a string value: `max_queue`,
/// `max_queue_bytes`, `overflow` (`drop_newest` | `drop_oldest` |
/// `disconnect`), `max_payload`, `max_rooms_per_socket`, `max_name_len`,
/// `ack_timeout` (milliseconds), `remove_empty_dynamic` (`true`/`false`).
/// An unknown key or unparsable value gives `ROOMCAST_RESULT_INVALID_CONFIG`
/// and leaves the configuration unchanged. Cross-option checks happen in
/// `roomcast_engine_new`.
///
/// # Safety
///
/// `cfg` must be NULL or a live configuration not used concurrently; `key`
/// and `value` NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn roomcast_config_set(
    cfg: *mut roomcast_config,
    key: *const c_char,
    value: *const c_char,
) -> roomcast_result {
    guard(|| {
        // SAFETY: NULL or a live, exclusively used handle per the contract.
        let cfg = unsafe { cfg.as_mut() }.ok_or_else(|| Error::new(roomcast_result::NullParameter, "`cfg` is NULL"))?;
        // SAFETY: NULL or NUL-terminated per the contract.
        let (key, value) = unsafe { (string(key, "key")?, string(value, "value")?) };
        cfg.builder = cfg.builder.clone().set(key, value)?;
        Ok(())
    })
}

/// Frees a configuration. NULL is a no-op.
///
/// # Safety
///
/// `cfg` must be NULL or a configuration from `roomcast_config_new`, not
/// used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_config_free(cfg: *mut roomcast_config) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(cfg) })
}

/// Creates an engine from `cfg` (NULL: the defaults) and writes it to
/// `*engine_out`. `cfg` is only read; it may be freed right after. Invalid
/// combinations give `ROOMCAST_RESULT_INVALID_CONFIG`.
///
/// # Safety
///
/// `cfg` must be NULL or a live configuration; `engine_out` valid for a
/// pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_new(
    cfg: *const roomcast_config,
    engine_out: *mut *mut roomcast_engine,
) -> roomcast_result {
    guard(|| {
        out(engine_out, "engine_out")?;
        // SAFETY: NULL or live per the contract.
        let config = match unsafe { cfg.as_ref() } {
            Some(c) => c.builder.clone().build()?,
            None => core::Config::default(),
        };
        let e = into_handle(roomcast_engine { engine: core::Engine::new(config) });
        // SAFETY: checked non-NULL above.
        unsafe { write(engine_out, e) };
        Ok(())
    })
}

/// Frees an engine handle. NULL is a no-op. Connections, namespaces and
/// sockets obtained from it stay usable until they are freed. When the last
/// of them goes, the engine's ack timer thread (started by the first ack
/// emit) is stopped and joined before the call returns, so no roomcast
/// thread remains (the one exception: when that last release happens on
/// the timer thread itself, from an ack wake-up, it cannot wait for itself
/// and the thread ends right after).
///
/// # Safety
///
/// `engine` must be NULL or from `roomcast_engine_new`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_free(engine: *mut roomcast_engine) {
    // SAFETY: per the contract.
    guard_value((), || unsafe { free_handle(engine) })
}

/// Gets (creating on first use) the namespace `name` (`"/chat"`) and writes
/// a new handle to `*ns_out`; free it with `roomcast_namespace_free`.
/// `ROOMCAST_RESULT_INVALID_NAME` for an invalid name;
/// `ROOMCAST_RESULT_SHUT_DOWN` for a new name after `roomcast_engine_shutdown`.
///
/// # Safety
///
/// `engine` must be NULL or live; `name` NULL or NUL-terminated; `ns_out`
/// valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_of(
    engine: *const roomcast_engine,
    name: *const c_char,
    ns_out: *mut *mut roomcast_namespace,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (engine, name) = unsafe { (handle(engine, "engine")?, string(name, "name")?) };
        out(ns_out, "ns_out")?;
        let ns = engine.engine.of(name)?;
        // SAFETY: checked non-NULL above.
        unsafe { write(ns_out, into_handle(roomcast_namespace { ns })) };
        Ok(())
    })
}

/// Opens a new connection (one transport link) and writes its handle to
/// `*conn_out`. The handle owns the connection and its outbox; free it with
/// `roomcast_conn_free`.
///
/// # Safety
///
/// `engine` must be NULL or live; `conn_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_connect(
    engine: *const roomcast_engine,
    conn_out: *mut *mut roomcast_conn,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let engine = unsafe { handle(engine, "engine")? };
        out(conn_out, "conn_out")?;
        let (conn, outbox) = engine.engine.connect();
        // SAFETY: checked non-NULL above.
        unsafe { write(conn_out, into_handle(roomcast_conn { conn, outbox })) };
        Ok(())
    })
}

/// Writes a snapshot of the engine's counters to `*stats_out`.
///
/// # Safety
///
/// `engine` must be NULL or live; `stats_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_stats(
    engine: *const roomcast_engine,
    stats_out: *mut roomcast_stats,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let engine = unsafe { handle(engine, "engine")? };
        out(stats_out, "stats_out")?;
        let s = engine.engine.stats();
        let st = roomcast_stats {
            connections: s.connections,
            sockets: s.sockets,
            rooms: s.rooms,
            namespaces: s.namespaces,
            emitted: s.emitted,
            delivered: s.delivered,
            dropped: s.dropped,
            acks_ignored: s.acks_ignored,
        };
        // SAFETY: checked non-NULL above.
        unsafe { write(stats_out, st) };
        Ok(())
    })
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

/// Emits `event` with a payload of `format` (`ROOMCAST_FORMAT_*`) made from
/// a copy of `data[0..len]` to the sockets `target` selects in `ns` (NULL:
/// the whole namespace). Each socket receives it at most once. When
/// `report_out` is not NULL, the emit report is written there on success.
/// Never blocks on a slow consumer. Thread-safe; runs no user callback
/// except notify callbacks of recipients (on this thread, no lock held).
///
/// # Safety
///
/// `ns` must be NULL or live; `target` NULL or valid (its arrays and strings
/// included) for the call; `event` NULL or NUL-terminated; `data` valid for
/// `len` bytes (NULL allowed when `len` is 0); `report_out` NULL or valid
/// for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_emit(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    event: *const c_char,
    format: u32,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
) -> roomcast_result {
    // SAFETY: the caller upholds this function's contract.
    unsafe { emit_target(ns, target, event, format, data, len, report_out, false) }
}

/// The body of `roomcast_emit` and `roomcast_emit_local` (`local`: nothing
/// is published to other nodes).
///
/// # Safety
///
/// As `roomcast_emit`.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn emit_target(
    ns: *const roomcast_namespace,
    target: *const roomcast_target,
    event: *const c_char,
    format: u32,
    data: *const u8,
    len: usize,
    report_out: *mut roomcast_emit_report,
    local: bool,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (ns, event) = unsafe { (handle(ns, "ns")?, string(event, "event")?) };
        // SAFETY: per the contract.
        let payload = unsafe { payload(format, data, len)? };
        // SAFETY: per the contract.
        let op = unsafe { operator(ns, target)? };
        let report = if local { op.local() } else { op }.emit(event, payload)?;
        // SAFETY: NULL or valid per the contract.
        unsafe { write_opt(report_out, report.into()) };
        Ok(())
    })
}

/// Builds core's broadcast operator for a C target (NULL: the whole
/// namespace).
///
/// # Safety
///
/// `target` must be NULL or valid, with its arrays and strings, for `'a`.
pub(crate) unsafe fn operator<'a>(
    ns: &'a roomcast_namespace,
    target: *const roomcast_target,
) -> Result<core::BroadcastOperator<'a>, Error> {
    let mut op = ns.ns.to(Vec::<&str>::new());
    // SAFETY: per the contract.
    if let Some(t) = unsafe { target.as_ref() } {
        // SAFETY: per the contract.
        let (rooms, except) = unsafe {
            (strings(t.rooms, t.rooms_len, "target.rooms")?, strings(t.except, t.except_len, "target.except")?)
        };
        op = op.to(rooms).except(except);
        // SAFETY: per the contract.
        if let Some(s) = unsafe { t.exclude.as_ref() } {
            op = op.except(s.socket.id().to_string());
        }
        if t.volatile_ {
            op = op.volatile();
        }
    }
    Ok(op)
}

/// A dynamic-namespace predicate: return true to create the namespace
/// `name` (`name_len` bytes, not NUL-terminated, borrowed for the call) for
/// the client whose handshake is `hs` (borrowed for the call). Runs on the
/// thread calling `roomcast_conn_join_namespace*`, with no engine lock
/// held.
pub type roomcast_dynamic_predicate = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        name: *const c_char,
        name_len: usize,
        hs: *const roomcast_handshake,
    ) -> bool,
>;

/// Creates a parent for namespaces made on demand (Socket.IO's dynamic
/// namespaces) and writes its handle to `*parent_out`. When a client joins
/// an unknown namespace and `predicate` accepts the name, the child is
/// created and inherits the parent's middleware and handlers (register
/// them on the parent handle; the parent's run first). Parents are asked in
/// creation order; a name nobody accepts is refused. `userdata` as for
/// `roomcast_namespace_on` (freed when the engine drops the parent).
///
/// # Safety
///
/// `engine` must be NULL or live; `predicate` and `free_userdata` safe to
/// call with `userdata` from any thread; `parent_out` valid for a pointer
/// write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_of_dynamic(
    engine: *const roomcast_engine,
    predicate: roomcast_dynamic_predicate,
    userdata: *mut c_void,
    free_userdata: roomcast_free_callback,
    parent_out: *mut *mut roomcast_namespace,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let engine = unsafe { handle(engine, "engine")? };
        let cb = predicate.ok_or_else(|| Error::new(roomcast_result::NullParameter, "`predicate` is NULL"))?;
        out(parent_out, "parent_out")?;
        let ud = UserData::new(userdata, free_userdata);
        let ns = engine.engine.of_dynamic(move |name, hs| {
            let h = roomcast_handshake { hs: hs.clone() };
            // SAFETY: the caller promised `cb` is callable with `userdata`
            // from any thread; the pointers live for the call.
            unsafe { cb(ud.ptr(), name.as_ptr().cast(), name.len(), &h) }
        });
        // SAFETY: checked non-NULL above.
        unsafe { write(parent_out, into_handle(roomcast_namespace { ns })) };
        Ok(())
    })
}

/// Writes a new handle to the existing namespace `name` (never creates
/// one, unlike `roomcast_engine_of`). `ROOMCAST_RESULT_NO_VALUE` when there
/// is none.
///
/// # Safety
///
/// As `roomcast_engine_of`.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_namespace(
    engine: *const roomcast_engine,
    name: *const c_char,
    ns_out: *mut *mut roomcast_namespace,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let (engine, name) = unsafe { (handle(engine, "engine")?, string(name, "name")?) };
        out(ns_out, "ns_out")?;
        let ns = engine
            .engine
            .namespace(name)
            .ok_or_else(|| Error::new(roomcast_result::NoValue, format!("no namespace {name:?}")))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(ns_out, into_handle(roomcast_namespace { ns })) };
        Ok(())
    })
}

/// Writes a new, sorted list of every namespace's name (dynamic children
/// included) to `*names_out`; free it with `roomcast_strings_free`.
///
/// # Safety
///
/// `engine` must be NULL or live; `names_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_namespaces(
    engine: *const roomcast_engine,
    names_out: *mut *mut roomcast_strings,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let engine = unsafe { handle(engine, "engine")? };
        out(names_out, "names_out")?;
        // SAFETY: checked non-NULL above.
        unsafe { write(names_out, strings_handle(engine.engine.namespaces())) };
        Ok(())
    })
}

/// Shuts the engine down like Socket.IO's `io.close()`: every connection
/// with a socket is closed with reason "server shutting down" (disconnect
/// callbacks run on this thread; queued messages stay readable), then every
/// handler, middleware and hook is dropped — dynamic-namespace predicates
/// included — and their `free_userdata` functions run. Writes how many
/// connections closed to `*closed_out` when it is not NULL.
///
/// A shut-down engine admits nothing: `roomcast_conn_join_namespace` gives
/// `ROOMCAST_RESULT_SHUT_DOWN`, as does `roomcast_engine_of` for a name that
/// does not exist yet; no dynamic namespace is created. Stats, existing
/// namespaces and open connections' queued messages stay readable.
///
/// # Safety
///
/// `engine` must be NULL or live; `closed_out` NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_shutdown(
    engine: *const roomcast_engine,
    closed_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let engine = unsafe { handle(engine, "engine")? };
        let n = engine.engine.shutdown();
        // SAFETY: NULL or valid per the contract.
        unsafe { write_opt(closed_out, n) };
        Ok(())
    })
}

/// Per-connection overrides of the engine's queue configuration, for
/// `roomcast_engine_connect_with`. Zero / NULL fields keep the engine's
/// value.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct roomcast_connect_options {
    /// Messages in this connection's outbox (0: the engine's `max_queue`).
    pub max_queue: usize,
    /// Bytes in this connection's outbox (0: the engine's
    /// `max_queue_bytes`); at least the engine's `max_payload`.
    pub max_queue_bytes: usize,
    /// Overflow policy name: "drop_newest", "drop_oldest" or "disconnect"
    /// (NULL: the engine's `overflow`).
    pub overflow: *const c_char,
}

/// Opens a connection like `roomcast_engine_connect`, with its own queue
/// limits or overflow policy (`options` NULL: none). Invalid values give
/// `ROOMCAST_RESULT_INVALID_CONFIG`.
///
/// # Safety
///
/// `engine` must be NULL or live; `options` NULL or valid (its `overflow`
/// NULL or NUL-terminated); `conn_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_connect_with(
    engine: *const roomcast_engine,
    options: *const roomcast_connect_options,
    conn_out: *mut *mut roomcast_conn,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let engine = unsafe { handle(engine, "engine")? };
        out(conn_out, "conn_out")?;
        let mut opts = core::ConnectOptions::new();
        // SAFETY: NULL or valid per the contract.
        if let Some(o) = unsafe { options.as_ref() } {
            if o.max_queue > 0 {
                opts = opts.max_queue(o.max_queue);
            }
            if o.max_queue_bytes > 0 {
                opts = opts.max_queue_bytes(o.max_queue_bytes);
            }
            if !o.overflow.is_null() {
                // SAFETY: non-NULL and NUL-terminated per the contract.
                let name = unsafe { string(o.overflow, "options.overflow")? };
                opts = opts.overflow(name.parse::<core::OverflowPolicy>()?);
            }
        }
        let (conn, outbox) = engine.engine.connect_with(&opts)?;
        // SAFETY: checked non-NULL above.
        unsafe { write(conn_out, into_handle(roomcast_conn { conn, outbox })) };
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
    name_out: *mut *const c_char,
    len_out: *mut usize,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let ns = unsafe { handle(ns, "ns")? };
        out(name_out, "name_out")?;
        out(len_out, "len_out")?;
        let name = ns.ns.name();
        // SAFETY: checked non-NULL above.
        unsafe {
            write(name_out, name.as_ptr().cast());
            write(len_out, name.len());
        }
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
