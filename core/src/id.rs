//! Unguessable ids: the one generator every roomcast crate uses.
//!
//! Socket ids and Socket.IO session ids are bearer credentials: whoever
//! knows one can address or resume that socket. They carry 120 bits from
//! the operating system's random source and nothing else. When that source
//! fails, the generator fails too; it never falls back to the time, a
//! counter or a process-local hash, which a client could predict.

use crate::error::RandomError;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Random bytes per id; 15 bytes encode to exactly 20 characters.
const RAW_LEN: usize = 15;

/// A new id: 20 URL-safe characters (`A-Z a-z 0-9 - _`) carrying 120 bits
/// from the operating system's random source, the shape of Socket.IO's ids.
/// `Err` when the random source fails; no predictable id is ever made.
///
/// ```
/// let id = roomcast::random_id()?;
/// assert_eq!(id.len(), 20);
/// assert_ne!(id, roomcast::random_id()?);
/// # Ok::<(), roomcast::RandomError>(())
/// ```
pub fn random_id() -> Result<String, RandomError> {
    id_from(|buf| getrandom::fill(buf).map_err(|e| e.to_string()))
}

/// Encodes the bytes `fill` writes; fails when `fill` does.
fn id_from(fill: impl FnOnce(&mut [u8]) -> Result<(), String>) -> Result<String, RandomError> {
    let mut raw = [0u8; RAW_LEN];
    fill(&mut raw).map_err(RandomError)?;
    let mut out = String::with_capacity(RAW_LEN / 3 * 4);
    for chunk in raw.chunks(3) {
        let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
        for shift in [18, 12, 6, 0] {
            out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_url_safe() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| random_id().unwrap()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.len(), 20);
            assert!(id.bytes().all(|b| ALPHABET.contains(&b)), "{id}");
        }
    }

    #[test]
    fn defect_7_a_failing_random_source_gives_an_error_never_an_id() {
        let r = id_from(|_| Err("entropy source unavailable".into()));
        assert_eq!(r, Err(RandomError("entropy source unavailable".into())));
        assert!(r.unwrap_err().to_string().contains("refusing to make a guessable id"));
    }

    #[test]
    fn every_random_bit_reaches_the_id() {
        let fill = |byte: u8| {
            move |b: &mut [u8]| {
                b.fill(byte);
                Ok(())
            }
        };
        assert_eq!(id_from(fill(0)).unwrap(), "A".repeat(20));
        assert_eq!(id_from(fill(0xff)).unwrap(), "_".repeat(20));
    }
}
