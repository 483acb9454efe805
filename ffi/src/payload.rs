//! Payload formats.

use roomcast_core as core;

use crate::error::{Error, Result};
use crate::panic::bytes;
use crate::roomcast_result;

/// How a payload's bytes are to be read. Passed to functions as a
/// `uint32_t` holding one of these values.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(non_camel_case_types)]
pub enum roomcast_format {
    /// Opaque bytes.
    Binary = 0,
    /// UTF-8 text (checked).
    Text = 1,
    /// One JSON value, UTF-8 encoded (checked).
    Json = 2,
}

pub(crate) fn format_from(v: u32) -> Result<core::Format> {
    match v {
        0 => Ok(core::Format::Binary),
        1 => Ok(core::Format::Text),
        2 => Ok(core::Format::Json),
        _ => Err(Error::new(roomcast_result::InvalidArgument, format!("unknown payload format {v}"))),
    }
}

pub(crate) fn format_to(f: core::Format) -> roomcast_format {
    match f {
        core::Format::Binary => roomcast_format::Binary,
        core::Format::Text => roomcast_format::Text,
        core::Format::Json => roomcast_format::Json,
    }
}

/// Builds a payload from a copy of a C buffer.
///
/// # Safety
///
/// `data` must be valid for `len` bytes (NULL allowed when `len` is 0).
pub(crate) unsafe fn payload(format: u32, data: *const u8, len: usize) -> Result<core::Payload> {
    let format = format_from(format)?;
    // SAFETY: per the caller's contract.
    let data = unsafe { bytes(data, len, "data")? };
    Ok(core::Payload::new(format, core::Bytes::copy_from_slice(data))?)
}
