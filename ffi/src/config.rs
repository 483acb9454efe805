//! Configuration: `roomcast_config`, a builder of core's `Config`.

use std::ffi::c_char;

use roomcast_core as core;

use crate::error::Error;
use crate::panic::{free_handle, guard, guard_value, into_handle, out, string, write};
use crate::roomcast_result;

/// A configuration under construction (core's `ConfigBuilder`). Box-owned:
/// create with `roomcast_config_new`, free with `roomcast_config_free`.
/// Not thread-safe: use from one thread at a time.
pub struct roomcast_config {
    pub(crate) builder: core::ConfigBuilder,
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
/// `ack_timeout` (milliseconds), `remove_empty_dynamic` (`true`/`false`),
/// `max_disconnection_duration` (milliseconds; connection state recovery
/// for every namespace, 0: off), then `recovery_max_events` and
/// `recovery_max_bytes` (the bounds of each namespace's log of kept events)
/// and `recovery_max_sockets` (of its kept sockets).
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
