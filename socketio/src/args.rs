//! Mapping between Socket.IO argument lists and roomcast payloads.
//!
//! A Socket.IO event carries any number of arguments, each any JSON value
//! possibly holding binary buffers; a roomcast [`Payload`] is one value.
//! The mapping, both ways:
//!
//! | arguments on the wire | payload |
//! | --- | --- |
//! | one string | `text` |
//! | one binary buffer | `binary` |
//! | one other JSON value (no binary inside) | `json`, the value's bytes exactly as sent |
//! | anything else: none, several, binary nested in JSON | `json` envelope `{"sioArgs":[..],"sioAttachments":[..]}` |
//!
//! The envelope holds the arguments as sent, binary buffers replaced by
//! Socket.IO placeholders `{"_placeholder":true,"num":n}`, and the buffers
//! base64-encoded in `sioAttachments` (omitted when there are none). A
//! single argument that itself looks like an envelope is wrapped in one, so
//! every argument list maps to a payload and back exactly. A handler that
//! builds an envelope sends several arguments or nested binary to clients.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use bytes::Bytes;
use roomcast::{Format, Payload};
use serde_json::value::RawValue;

/// The placeholder of attachment 0, as JSON text.
const PLACEHOLDER0: &str = r#"{"_placeholder":true,"num":0}"#;

/// Arguments ready for the wire: the JSON text of the argument list
/// (comma-separated values, without brackets) and the attachments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireArgs {
    /// Comma-separated JSON values (may be empty).
    pub json: String,
    /// Binary attachments, in placeholder order.
    pub attachments: Vec<Bytes>,
}

/// A parsed envelope.
struct Envelope {
    args: Vec<Box<RawValue>>,
    attachments: Vec<Bytes>,
}

/// Reads `raw` as an envelope: an object whose only keys are `sioArgs` (an
/// array, required) and `sioAttachments` (an array of base64 strings).
fn as_envelope(raw: &str) -> Option<Envelope> {
    let t = raw.trim_start();
    if !t.starts_with('{') || !(t.contains("sioArgs") || t.contains('\\')) {
        return None;
    }
    let map: std::collections::HashMap<String, Box<RawValue>> = serde_json::from_str(raw).ok()?;
    if map.keys().any(|k| k != "sioArgs" && k != "sioAttachments") {
        return None;
    }
    let args: Vec<Box<RawValue>> = serde_json::from_str(map.get("sioArgs")?.get()).ok()?;
    let attachments = match map.get("sioAttachments") {
        None => Vec::new(),
        Some(a) => {
            let list: Vec<String> = serde_json::from_str(a.get()).ok()?;
            let mut out = Vec::with_capacity(list.len());
            for s in list {
                out.push(Bytes::from(B64.decode(s).ok()?));
            }
            out
        }
    };
    Some(Envelope { args, attachments })
}

fn envelope_json(args: &[Box<RawValue>], attachments: &[Bytes]) -> String {
    let mut s = String::from(r#"{"sioArgs":["#);
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(a.get());
    }
    s.push(']');
    if !attachments.is_empty() {
        s.push_str(r#","sioAttachments":["#);
        for (i, a) in attachments.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            s.push_str(&B64.encode(a));
            s.push('"');
        }
        s.push(']');
    }
    s.push('}');
    s
}

fn is_placeholder0(raw: &RawValue) -> bool {
    let v: Result<std::collections::HashMap<String, serde_json::Value>, _> = serde_json::from_str(raw.get());
    matches!(v, Ok(m) if m.len() == 2
        && m.get("_placeholder") == Some(&serde_json::Value::Bool(true))
        && m.get("num").and_then(serde_json::Value::as_u64) == Some(0))
}

/// Maps received arguments (and the attachments of a binary packet) to one
/// payload.
pub fn to_payload(args: Vec<Box<RawValue>>, attachments: Vec<Bytes>) -> Payload {
    if attachments.is_empty() && args.len() == 1 {
        let a = &args[0];
        let text = a.get();
        if text.starts_with('"') {
            if let Ok(s) = serde_json::from_str::<String>(text) {
                return Payload::text(s);
            }
        }
        if as_envelope(text).is_none() {
            return Payload::from_json_unchecked(text.to_string());
        }
    }
    if attachments.len() == 1 && args.len() == 1 && is_placeholder0(&args[0]) {
        return Payload::binary(attachments.into_iter().next().unwrap_or_default());
    }
    Payload::from_json_unchecked(envelope_json(&args, &attachments))
}

/// Maps a payload to the arguments to send.
pub fn from_payload(p: &Payload) -> WireArgs {
    match p.format() {
        Format::Binary => WireArgs { json: PLACEHOLDER0.to_string(), attachments: vec![p.bytes().clone()] },
        Format::Text => WireArgs {
            json: serde_json::to_string(p.as_str().unwrap_or_default()).unwrap_or_else(|_| "\"\"".into()),
            attachments: Vec::new(),
        },
        Format::Json => {
            let text = p.as_str().unwrap_or("null");
            match as_envelope(text) {
                Some(env) => {
                    let json = env.args.iter().map(|a| a.get()).collect::<Vec<_>>().join(",");
                    WireArgs { json, attachments: env.attachments }
                }
                None => WireArgs { json: text.to_string(), attachments: Vec::new() },
            }
        }
    }
}

/// A payload as one JSON value (for CONNECT_ERROR's `data`): JSON as is,
/// text as a string, binary as a base64 string.
pub fn as_json_value(p: &Payload) -> String {
    match p.format() {
        Format::Json => p.as_str().unwrap_or("null").to_string(),
        Format::Text => serde_json::to_string(p.as_str().unwrap_or_default()).unwrap_or_else(|_| "null".into()),
        Format::Binary => format!("\"{}\"", B64.encode(p.as_bytes())),
    }
}

/// Builds a `json` payload from text already known to be one JSON value.
trait FromJsonUnchecked {
    fn from_json_unchecked(text: String) -> Payload;
}

impl FromJsonUnchecked for Payload {
    fn from_json_unchecked(text: String) -> Payload {
        // Every caller passes text that serde_json produced or validated;
        // the check costs one more parse, which keeps the type's invariant
        // honest should that ever change.
        Payload::new(Format::Json, text).unwrap_or_else(|_| Payload::json(&serde_json::Value::Null).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn raw(v: &str) -> Box<RawValue> {
        RawValue::from_string(v.to_string()).unwrap()
    }

    fn round_trip(args: &[&str], atts: &[&[u8]]) {
        let a: Vec<_> = args.iter().map(|s| raw(s)).collect();
        let b: Vec<Bytes> = atts.iter().map(|x| Bytes::copy_from_slice(x)).collect();
        let p = to_payload(a, b.clone());
        let w = from_payload(&p);
        assert_eq!(w.json, args.join(","), "args of {p:?}");
        assert_eq!(w.attachments, b, "attachments of {p:?}");
    }

    #[test]
    fn single_values_map_to_plain_payloads() {
        let p = to_payload(vec![raw(r#""hi""#)], vec![]);
        assert_eq!((p.format(), p.as_str()), (Format::Text, Some("hi")));
        let p = to_payload(vec![raw(r#"{"b":1,"a":[1,2]}"#)], vec![]);
        assert_eq!((p.format(), p.as_str()), (Format::Json, Some(r#"{"b":1,"a":[1,2]}"#)));
        let p = to_payload(vec![raw(PLACEHOLDER0)], vec![Bytes::from_static(b"\x00\x01")]);
        assert_eq!((p.format(), p.as_bytes()), (Format::Binary, &b"\x00\x01"[..]));
        let p = to_payload(vec![raw(PLACEHOLDER0)], vec![Bytes::new()]);
        assert_eq!((p.format(), p.len()), (Format::Binary, 0));
    }

    #[test]
    fn other_lists_use_the_envelope() {
        let p = to_payload(vec![], vec![]);
        assert_eq!(p.as_str(), Some(r#"{"sioArgs":[]}"#));
        let p = to_payload(vec![raw("1"), raw("\"x\"")], vec![]);
        assert_eq!(p.as_str(), Some(r#"{"sioArgs":[1,"x"]}"#));
        let p = to_payload(vec![raw(r#"{"f":{"_placeholder":true,"num":0}}"#)], vec![Bytes::from_static(b"ab")]);
        assert_eq!(p.as_str(), Some(r#"{"sioArgs":[{"f":{"_placeholder":true,"num":0}}],"sioAttachments":["YWI="]}"#));
    }

    #[test]
    fn exact_round_trips() {
        round_trip(&[], &[]);
        round_trip(&["\"text\""], &[]);
        round_trip(&["\"\""], &[]);
        round_trip(&["{\"z\":1,\"a\":2}"], &[]);
        round_trip(&["null"], &[]);
        round_trip(&["[1,2]", "3"], &[]);
        round_trip(&[PLACEHOLDER0], &[b""]);
        round_trip(&[PLACEHOLDER0], &[b"\xff\x00"]);
        round_trip(&[PLACEHOLDER0, r#"{"_placeholder":true,"num":1}"#], &[b"", b"x"]);
        round_trip(&["1", PLACEHOLDER0], &[b"bin"]);
        // A lone argument that looks like an envelope is wrapped, not unwrapped.
        round_trip(&[r#"{"sioArgs":[1,2]}"#], &[]);
        round_trip(&[r#"{"sioArgs":[],"sioAttachments":["AA=="]}"#], &[]);
        round_trip(&[r#"{"sio\u0041rgs":[]}"#], &[]);
    }

    #[test]
    fn outbound_payloads() {
        assert_eq!(from_payload(&Payload::text("a\"b")).json, r#""a\"b""#);
        let w = from_payload(&Payload::binary(vec![1u8, 2]));
        assert_eq!((w.json.as_str(), w.attachments.len()), (PLACEHOLDER0, 1));
        // An object with other keys besides sioArgs is a plain value.
        let p = Payload::new(Format::Json, r#"{"sioArgs":[1],"x":2}"#).unwrap();
        assert_eq!(from_payload(&p).json, r#"{"sioArgs":[1],"x":2}"#);
        // Invalid base64 in an envelope: a plain value too.
        let p = Payload::new(Format::Json, r#"{"sioArgs":[1],"sioAttachments":["!"]}"#).unwrap();
        assert_eq!(from_payload(&p).attachments.len(), 0);
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-zA-Z_ \\\\\"]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                prop::collection::btree_map("(sioArgs|sioAttachments|[a-z]{1,4})", inner, 0..3)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_argument_list_round_trips(
            args in prop::collection::vec(json_value(), 0..4),
            atts in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..6), 0..3),
        ) {
            let mut texts: Vec<String> = args.iter().map(|v| v.to_string()).collect();
            for n in 0..atts.len() {
                texts.push(format!(r#"{{"_placeholder":true,"num":{n}}}"#));
            }
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            let att_refs: Vec<&[u8]> = atts.iter().map(Vec::as_slice).collect();
            round_trip(&refs, &att_refs);
        }
    }
}
