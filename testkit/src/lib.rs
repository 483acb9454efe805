//! Helpers the roomcast crates' property tests share (a dev-dependency
//! only; not published): the case count of a suite, and mutations of a
//! valid encoding for the fuzz properties of every parser that reads
//! network bytes (the Socket.IO crate's packets and frames, the Redis
//! bus envelope).
//!
//! ```
//! use proptest::prelude::*;
//! use proptest::test_runner::TestRunner;
//! use roomcast_testkit::{cases, edits, mutate};
//!
//! // In a test, `proptest! { #![proptest_config(cases(64))] ... }`.
//! let mut runner = TestRunner::new(cases(64));
//! runner
//!     .run(&edits(), |e| {
//!         let bytes = mutate(b"4hello".to_vec(), &e);
//!         prop_assert!(bytes.len() <= 6 + e.len());
//!         Ok(())
//!     })
//!     .unwrap();
//! ```

use proptest::prelude::*;

/// A suite of `n` cases unless the `PROPTEST_CASES` environment variable
/// says otherwise (case counts keep the suites to seconds in a debug
/// build; a long run sets the variable).
pub fn cases(n: u32) -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = n;
    }
    c
}

/// One edit of a valid input; positions are taken modulo the input's
/// length when applied (see [`mutate`]).
#[derive(Debug, Clone)]
pub enum Edit {
    /// XOR the byte at the position with a non-zero mask.
    Flip(usize, u8),
    /// Insert a byte at the position.
    Insert(usize, u8),
    /// Delete the byte at the position.
    Delete(usize),
    /// Cut the input at the position.
    Truncate(usize),
}

/// One to five edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    let edit = prop_oneof![
        (any::<usize>(), 1u8..=255).prop_map(|(i, x)| Edit::Flip(i, x)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Delete),
        any::<usize>().prop_map(Edit::Truncate),
    ];
    prop::collection::vec(edit, 1..6)
}

/// Applies `edits` to `v` in order (positions taken modulo the length; an
/// edit that needs a byte is skipped on an empty input).
pub fn mutate(mut v: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = v.len();
        match *e {
            Edit::Flip(i, x) if n > 0 => v[i % n] ^= x,
            Edit::Insert(i, b) => v.insert(i % (n + 1), b),
            Edit::Delete(i) if n > 0 => {
                v.remove(i % n);
            }
            Edit::Truncate(i) => v.truncate(i % (n + 1)),
            _ => {}
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_apply_in_order_modulo_the_length() {
        let v = b"abcd".to_vec();
        assert_eq!(mutate(v.clone(), &[Edit::Flip(5, 0x20)]), b"aBcd");
        assert_eq!(mutate(v.clone(), &[Edit::Insert(9, b'!')]), b"abcd!");
        assert_eq!(mutate(v.clone(), &[Edit::Delete(4), Edit::Truncate(2)]), b"bc");
        assert_eq!(mutate(Vec::new(), &[Edit::Flip(0, 1), Edit::Delete(3)]), b"");
    }
}
