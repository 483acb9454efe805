//! Name validation and socket id generation.

use crate::error::{NameError, NameKind, NameProblem};

/// Event names a host may not emit: Socket.IO reserves them for lifecycle events.
pub const RESERVED_EVENTS: &[&str] =
    &["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

fn err(kind: NameKind, name: &str, problem: NameProblem) -> NameError {
    let shown: String = name.chars().take(64).collect();
    NameError { kind, name: shown, problem }
}

fn check_common(kind: NameKind, name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(err(kind, name, NameProblem::Empty));
    }
    if name.len() > max {
        return Err(err(kind, name, NameProblem::TooLong { len: name.len(), max }));
    }
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Err(err(kind, name, NameProblem::InvalidChar(c)));
    }
    Ok(())
}

pub(crate) fn check_namespace(name: &str, max: usize) -> Result<(), NameError> {
    check_common(NameKind::Namespace, name, max)?;
    if !name.starts_with('/') {
        return Err(err(NameKind::Namespace, name, NameProblem::MissingSlash));
    }
    if name.contains(',') {
        return Err(err(NameKind::Namespace, name, NameProblem::InvalidChar(',')));
    }
    Ok(())
}

/// Room names: non-empty and at most `max` bytes. Any other character is
/// allowed (room names never appear on the wire).
pub(crate) fn check_room(name: &str, max: usize) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(err(NameKind::Room, name, NameProblem::Empty));
    }
    if name.len() > max {
        return Err(err(NameKind::Room, name, NameProblem::TooLong { len: name.len(), max }));
    }
    Ok(())
}

/// Event names a server emits: non-empty, bounded, no control characters,
/// not reserved.
pub(crate) fn check_event(name: &str, max: usize) -> Result<(), NameError> {
    check_common(NameKind::Event, name, max)?;
    if RESERVED_EVENTS.contains(&name) {
        return Err(err(NameKind::Event, name, NameProblem::Reserved));
    }
    Ok(())
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A new socket id: 20 URL-safe characters carrying 120 bits from the OS's
/// random source, the shape of Socket.IO's ids, unguessable by clients.
pub(crate) fn new_socket_id() -> String {
    let mut raw = [0u8; 15];
    if getrandom::fill(&mut raw).is_err() {
        // The OS source cannot fail on supported platforms; if it ever does,
        // fall back to a per-process keyed hash of a counter and the time,
        // still unique, so connect never panics.
        fallback_random(&mut raw);
    }
    let mut out = String::with_capacity(20);
    for chunk in raw.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    out
}

fn fallback_random(raw: &mut [u8; 15]) {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let c = COUNTER.fetch_add(1, Ordering::Relaxed);
    for (i, chunk) in raw.chunks_mut(8).enumerate() {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(c);
        h.write_usize(i);
        h.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0),
        );
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_url_safe() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| new_socket_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.len(), 20);
            assert!(id.bytes().all(|b| ALPHABET.contains(&b)), "{id}");
        }
    }

    #[test]
    fn fallback_is_unique_too() {
        let mut a = [0u8; 15];
        let mut b = [0u8; 15];
        fallback_random(&mut a);
        fallback_random(&mut b);
        assert_ne!(a, b);
    }

    #[test]
    fn namespace_rules() {
        assert!(check_namespace("/", 256).is_ok());
        assert!(check_namespace("/chat/room-1", 256).is_ok());
        assert_eq!(check_namespace("", 256).unwrap_err().problem, NameProblem::Empty);
        assert_eq!(check_namespace("chat", 256).unwrap_err().problem, NameProblem::MissingSlash);
        assert_eq!(check_namespace("/a,b", 256).unwrap_err().problem, NameProblem::InvalidChar(','));
        assert_eq!(check_namespace("/a\nb", 256).unwrap_err().problem, NameProblem::InvalidChar('\n'));
        assert!(matches!(check_namespace("/abcd", 4).unwrap_err().problem, NameProblem::TooLong { len: 5, max: 4 }));
    }

    #[test]
    fn event_rules() {
        assert!(check_event("chat message", 256).is_ok());
        assert_eq!(check_event("disconnect", 256).unwrap_err().problem, NameProblem::Reserved);
        assert_eq!(check_event("", 256).unwrap_err().problem, NameProblem::Empty);
        assert!(check_room("any thing, even /slashes", 256).is_ok());
        assert!(check_room("", 256).is_err());
    }
}
