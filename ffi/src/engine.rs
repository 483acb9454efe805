//! The engine: creation, namespaces (static and dynamic), connections
//! and their options, statistics, shutdown.

use std::ffi::{c_char, c_void};

use roomcast_core as core;

use crate::callback::{roomcast_free_callback, UserData};
use crate::config::roomcast_config;
use crate::conn::roomcast_conn;
use crate::error::Error;
use crate::handshake::roomcast_handshake;
use crate::namespace::roomcast_namespace;
use crate::panic::{free_handle, guard, guard_value, handle, into_handle, out, string, write, write_opt};
use crate::roomcast_result;
use crate::sized::{check_out, read_opt, write_out, Growable};
use crate::strings::{roomcast_str, roomcast_strings, strings_handle};

/// The root object (core's `Engine`). Box-owned: create with
/// `roomcast_engine_new`, free with `roomcast_engine_free`. Thread-safe:
/// every function taking a `const roomcast_engine *` may be called from any
/// thread concurrently. Freeing the handle does not close connections; the
/// engine's state lives until its last connection, namespace and socket
/// handle is freed.
pub struct roomcast_engine {
    pub(crate) engine: core::Engine,
}

/// Engine-wide counters, a snapshot (core's `Stats`). Set `struct_size`
/// before the call: `roomcast_stats st = {.struct_size = sizeof st};`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct roomcast_stats {
    /// `sizeof(roomcast_stats)` as the caller's header declares it.
    pub struct_size: usize,
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

// SAFETY: repr(C), `struct_size` first; zero is valid.
unsafe impl Growable for roomcast_stats {
    const NAME: &'static str = "roomcast_stats";
    const MIN_SIZE: usize = std::mem::size_of::<Self>();
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
        // SAFETY: NULL or valid per the contract.
        unsafe { check_out(stats_out, "stats_out", false)? };
        let s = engine.engine.stats();
        let st = roomcast_stats {
            struct_size: std::mem::size_of::<roomcast_stats>(),
            connections: s.connections,
            sockets: s.sockets,
            rooms: s.rooms,
            namespaces: s.namespaces,
            emitted: s.emitted,
            delivered: s.delivered,
            dropped: s.dropped,
            acks_ignored: s.acks_ignored,
        };
        // SAFETY: checked above.
        unsafe { write_out(stats_out, st) };
        Ok(())
    })
}

/// A dynamic-namespace predicate: return true to create the namespace
/// `name` (borrowed for the call) for
/// the client whose handshake is `hs` (borrowed for the call). Runs on the
/// thread calling `roomcast_conn_join_namespace*`, with no engine lock
/// held.
pub type roomcast_dynamic_predicate =
    Option<unsafe extern "C" fn(userdata: *mut c_void, name: roomcast_str, hs: *const roomcast_handshake) -> bool>;

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
            unsafe { cb(ud.ptr(), roomcast_str::new(name), &h) }
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
/// value. `roomcast_connect_options o = {sizeof o, 64, 0, "disconnect"};`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct roomcast_connect_options {
    /// `sizeof(roomcast_connect_options)` as the caller's header declares it.
    pub struct_size: usize,
    /// Messages in this connection's outbox (0: the engine's `max_queue`).
    pub max_queue: usize,
    /// Bytes in this connection's outbox (0: the engine's
    /// `max_queue_bytes`); at least the engine's `max_payload`.
    pub max_queue_bytes: usize,
    /// Overflow policy name: "drop_newest", "drop_oldest" or "disconnect"
    /// (NULL: the engine's `overflow`).
    pub overflow: *const c_char,
}

// SAFETY: repr(C), `struct_size` first; zero is valid (NULL `overflow`).
unsafe impl Growable for roomcast_connect_options {
    const NAME: &'static str = "roomcast_connect_options";
    const MIN_SIZE: usize = std::mem::size_of::<Self>();
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
        if let Some(o) = unsafe { read_opt(options, "options")? } {
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
