//! Payload formats.

use roomcast_core as core;

use crate::error::{Error, Result};
use crate::panic::bytes;
use crate::roomcast_result;

/// How a payload's bytes are to be read.
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

/// A `roomcast_format` as it crosses the C boundary: any `u32` (Rust checks it
/// where it reads one; a parameter of the enum type would make an unknown
/// value undefined behaviour). The header spells it `roomcast_format`.
pub type roomcast_format_value = u32;

pub(crate) fn format_from(v: u32) -> Result<core::Format> {
    core::Format::from_code(v)
        .ok_or_else(|| Error::new(roomcast_result::InvalidArgument, format!("unknown payload format {v}")))
}

// The C values are core's format codes (`Format::code`), which every
// function returning a format passes through unchanged.
const _: () = {
    assert!(roomcast_format::Binary as u32 == core::Format::Binary as u32);
    assert!(roomcast_format::Text as u32 == core::Format::Text as u32);
    assert!(roomcast_format::Json as u32 == core::Format::Json as u32);
};

/// Builds a payload from a copy of a C buffer.
///
/// # Safety
///
/// `data` must be valid for `len` bytes (NULL allowed when `len` is 0).
pub(crate) unsafe fn payload(format: roomcast_format_value, data: *const u8, len: usize) -> Result<core::Payload> {
    let format = format_from(format)?;
    // SAFETY: per the caller's contract.
    let data = unsafe { bytes(data, len, "data")? };
    Ok(core::Payload::new(format, core::Bytes::copy_from_slice(data))?)
}
