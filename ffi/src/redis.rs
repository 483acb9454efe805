//! The Redis cluster adapter (crate `roomcast-redis`): engines on several
//! processes or machines sharing rooms through one Redis server. Built with
//! the `redis` cargo feature (on by default); its header section is guarded
//! by `ROOMCAST_FEATURE_REDIS`. The cluster-wide operations themselves are
//! in `cluster.rs`: they work with any engine.

use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

use redis_adapter::{RedisAdapter, RedisConfig};
use roomcast_core as core;

use crate::config::roomcast_config;
use crate::engine::roomcast_engine;
use crate::error::Error;
use crate::panic::{free_handle, guard, handle, into_handle, out, string, write};
use crate::roomcast_result;
use crate::sized::{check_out, write_out, Growable};

/// A Redis cluster adapter (`roomcast_redis::RedisAdapter`). Box-owned:
/// create with `roomcast_redis_new`, free with `roomcast_redis_free`.
/// Thread-safe. The adapter lives until both its handle and the engines
/// built with it are freed.
pub struct roomcast_redis {
    adapter: Arc<RedisAdapter>,
}

/// The adapter's counters, a snapshot. Set `struct_size` before the call:
/// `roomcast_cluster_stats st = {.struct_size = sizeof st};`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct roomcast_cluster_stats {
    /// `sizeof(roomcast_cluster_stats)` as the caller's header declares it.
    pub struct_size: usize,
    /// Messages published to Redis.
    pub published: u64,
    /// Messages received from other nodes.
    pub received: u64,
    /// Messages lost (publish queue full, Redis unreachable, failed publish).
    pub dropped: u64,
    /// Of `dropped`, those refused by the full publish queue.
    pub queue_full: u64,
    /// Foreign or corrupt bus messages ignored.
    pub decode_errors: u64,
    /// Successful reconnects.
    pub reconnects: u64,
    /// Other nodes currently alive.
    pub nodes: u64,
    /// Whether the adapter is connected to Redis.
    pub connected: bool,
}

// SAFETY: repr(C), `struct_size` first; zero is valid.
unsafe impl Growable for roomcast_cluster_stats {
    const NAME: &'static str = "roomcast_cluster_stats";
    const MIN_SIZE: usize = std::mem::size_of::<Self>();
}

/// Creates a Redis cluster adapter for the server at `url`
/// (`"redis://127.0.0.1:6379"`) with the default settings (channel prefix
/// `roomcast`) and writes it to `*redis_out`. It connects in the
/// background and keeps reconnecting; emits are delivered locally either
/// way. An invalid URL gives `ROOMCAST_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `url` must be NULL or NUL-terminated; `redis_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_redis_new(
    url: *const c_char,
    redis_out: *mut *mut roomcast_redis,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let url = unsafe { string(url, "url")? };
        out(redis_out, "redis_out")?;
        let adapter = RedisAdapter::new(RedisConfig::new(url))
            .map_err(|e| Error::new(roomcast_result::InvalidArgument, e.to_string()))?;
        // SAFETY: checked non-NULL above.
        unsafe { write(redis_out, into_handle(roomcast_redis { adapter })) };
        Ok(())
    })
}

/// Like `roomcast_engine_new`, with emits and cluster operations going
/// through `redis`. One adapter serves one engine.
///
/// # Safety
///
/// `cfg` must be NULL or a live configuration; `redis` NULL or live;
/// `engine_out` valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_engine_new_with_redis(
    cfg: *const roomcast_config,
    redis: *const roomcast_redis,
    engine_out: *mut *mut roomcast_engine,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let redis = unsafe { handle(redis, "redis")? };
        out(engine_out, "engine_out")?;
        // SAFETY: NULL or live per the contract.
        let config = match unsafe { cfg.as_ref() } {
            Some(c) => c.builder.clone().build()?,
            None => core::Config::default(),
        };
        let engine = core::Engine::with_adapter(config, redis.adapter.clone());
        // SAFETY: checked non-NULL above.
        unsafe { write(engine_out, into_handle(roomcast_engine { engine })) };
        Ok(())
    })
}

/// Waits up to `timeout_ms` for the connection to Redis:
/// `ROOMCAST_RESULT_OK` once connected, `ROOMCAST_RESULT_TIMEOUT` if not.
///
/// # Safety
///
/// `redis` must be NULL or live.
#[no_mangle]
pub unsafe extern "C" fn roomcast_redis_wait_connected(
    redis: *const roomcast_redis,
    timeout_ms: u64,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let redis = unsafe { handle(redis, "redis")? };
        if redis.adapter.wait_connected(Duration::from_millis(timeout_ms)) {
            Ok(())
        } else {
            Err(Error::new(roomcast_result::Timeout, "not connected to redis"))
        }
    })
}

/// Writes a snapshot of the adapter's counters to `*stats_out`.
///
/// # Safety
///
/// `redis` must be NULL or live; `stats_out` valid for a write.
#[no_mangle]
pub unsafe extern "C" fn roomcast_redis_stats(
    redis: *const roomcast_redis,
    stats_out: *mut roomcast_cluster_stats,
) -> roomcast_result {
    guard(|| {
        // SAFETY: per the contract.
        let redis = unsafe { handle(redis, "redis")? };
        // SAFETY: NULL or valid per the contract.
        unsafe { check_out(stats_out, "stats_out", false)? };
        let s = redis.adapter.stats();
        let st = roomcast_cluster_stats {
            struct_size: std::mem::size_of::<roomcast_cluster_stats>(),
            published: s.published,
            received: s.received,
            dropped: s.dropped,
            queue_full: s.queue_full,
            decode_errors: s.decode_errors,
            reconnects: s.reconnects,
            nodes: s.nodes,
            connected: s.connected,
        };
        // SAFETY: checked above.
        unsafe { write_out(stats_out, st) };
        Ok(())
    })
}

/// Frees the adapter handle. NULL is a no-op. Engines built with it keep
/// using it; the adapter stops (saying goodbye to the other nodes) when the
/// last of them is freed too.
///
/// # Safety
///
/// `redis` must be NULL or from `roomcast_redis_new`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn roomcast_redis_free(redis: *mut roomcast_redis) {
    // SAFETY: per the contract.
    crate::panic::guard_value((), || unsafe { free_handle(redis) })
}
