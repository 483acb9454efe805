//! Payloads: bytes plus a format tag. The engine never re-encodes them.

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;
use serde::de::IgnoredAny;
use serde::{de::DeserializeOwned, Serialize};

use crate::error::PayloadError;

/// How a payload's bytes are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Format {
    /// Opaque bytes.
    Binary = 0,
    /// UTF-8 text.
    Text = 1,
    /// One JSON value, UTF-8 encoded.
    Json = 2,
}

impl Format {
    /// Every format, in code order.
    pub const ALL: [Format; 3] = [Format::Binary, Format::Text, Format::Json];

    /// The format's number (0 binary, 1 text, 2 json), as bindings pass it.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// The format numbered `code` ([`code`](Self::code)); `None` for an
    /// unknown number.
    pub fn from_code(code: u32) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.code() == code)
    }

    /// `"binary"`, `"text"` or `"json"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Binary => "binary",
            Format::Text => "text",
            Format::Json => "json",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = PayloadError;
    fn from_str(s: &str) -> Result<Self, PayloadError> {
        match s {
            "binary" => Ok(Format::Binary),
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            other => Err(PayloadError::UnknownFormat(other.to_string())),
        }
    }
}

/// Bytes plus a [`Format`]. Cloning is cheap (reference counted), so one
/// payload is shared by every recipient of an emit.
///
/// ```
/// use roomcast::{Payload, Format};
/// let p = Payload::json(&serde_json::json!({"text": "hi"}))?;
/// assert_eq!(p.format(), Format::Json);
/// assert_eq!(p.as_bytes(), br#"{"text":"hi"}"#);
/// let back: serde_json::Value = p.to_json()?;
/// assert_eq!(back["text"], "hi");
/// assert!(Payload::new(Format::Json, "{not json").is_err());
/// # Ok::<(), roomcast::PayloadError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Payload {
    format: Format,
    data: Bytes,
}

impl Payload {
    /// Checks `data` against `format` (UTF-8 for text, one JSON value for json).
    pub fn new(format: Format, data: impl Into<Bytes>) -> Result<Payload, PayloadError> {
        let data = data.into();
        match format {
            Format::Binary => {}
            Format::Text => {
                std::str::from_utf8(&data).map_err(|e| PayloadError::InvalidUtf8 { valid_up_to: e.valid_up_to() })?;
            }
            Format::Json => {
                serde_json::from_slice::<IgnoredAny>(&data).map_err(|e| PayloadError::InvalidJson(e.to_string()))?;
            }
        }
        Ok(Payload { format, data })
    }

    /// Opaque bytes.
    pub fn binary(data: impl Into<Bytes>) -> Payload {
        Payload { format: Format::Binary, data: data.into() }
    }

    /// UTF-8 text.
    pub fn text(text: impl Into<String>) -> Payload {
        Payload { format: Format::Text, data: Bytes::from(text.into()) }
    }

    /// Serializes `value` as JSON.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Result<Payload, PayloadError> {
        let v = serde_json::to_vec(value).map_err(|e| PayloadError::InvalidJson(e.to_string()))?;
        Ok(Payload { format: Format::Json, data: Bytes::from(v) })
    }

    /// An empty binary payload.
    pub fn empty() -> Payload {
        Payload { format: Format::Binary, data: Bytes::new() }
    }

    /// The format tag.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The shared bytes (cheap clone, zero copy).
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    /// Size in bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when there are no bytes.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The text of a `text` or `json` payload; `None` for binary.
    pub fn as_str(&self) -> Option<&str> {
        match self.format {
            // Validated at construction.
            Format::Text | Format::Json => std::str::from_utf8(&self.data).ok(),
            Format::Binary => None,
        }
    }

    /// Deserializes a `json` payload (a `text` payload is read as a JSON
    /// string value).
    pub fn to_json<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        match self.format {
            Format::Json => serde_json::from_slice(&self.data).map_err(|e| PayloadError::InvalidJson(e.to_string())),
            Format::Text => {
                let s = self.as_str().unwrap_or_default();
                serde_json::from_value(serde_json::Value::String(s.to_string()))
                    .map_err(|e| PayloadError::InvalidJson(e.to_string()))
            }
            Format::Binary => Err(PayloadError::InvalidJson("payload is binary, not JSON".into())),
        }
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::empty()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.as_str() {
            Some(s) if s.len() <= 96 => write!(f, "Payload::{}({s:?})", self.format),
            _ => write!(f, "Payload::{}({} bytes)", self.format, self.data.len()),
        }
    }
}

impl From<&str> for Payload {
    fn from(s: &str) -> Self {
        Payload::text(s)
    }
}

impl From<String> for Payload {
    fn from(s: String) -> Self {
        Payload::text(s)
    }
}

impl From<Vec<u8>> for Payload {
    fn from(b: Vec<u8>) -> Self {
        Payload::binary(b)
    }
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Self {
        Payload::binary(b)
    }
}

impl From<&serde_json::Value> for Payload {
    fn from(v: &serde_json::Value) -> Self {
        // Serializing a `Value` cannot fail: its keys are strings.
        Payload { format: Format::Json, data: Bytes::from(v.to_string()) }
    }
}

impl From<serde_json::Value> for Payload {
    fn from(v: serde_json::Value) -> Self {
        Payload::from(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_codes_round_trip() {
        for (i, f) in Format::ALL.into_iter().enumerate() {
            assert_eq!(f.code(), i as u32);
            assert_eq!(Format::from_code(f.code()), Some(f));
            assert_eq!(f.as_str().parse::<Format>().ok(), Some(f));
        }
        assert_eq!(Format::from_code(3), None);
    }
}
