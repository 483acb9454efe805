//! A growable FIFO ring of messages that can tell where its next push will
//! land, so a fan-out can prefetch that cache line before it gets there.

use crate::message::Message;

/// FIFO of messages. Capacity is zero (no allocation: idle connections stay
/// small) or a power of two; it doubles when full.
pub(crate) struct Ring {
    /// Slots; `None` outside `head .. head + len` (mod capacity).
    buf: Box<[Option<Message>]>,
    head: usize,
    len: usize,
}

impl Ring {
    pub(crate) fn new() -> Ring {
        Ring { buf: Box::new([]), head: 0, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mask(&self) -> usize {
        self.buf.len().wrapping_sub(1)
    }

    /// The slot the next `push_back` writes, if no growth is needed first.
    pub(crate) fn next_slot(&self) -> *const Option<Message> {
        if self.len < self.buf.len() {
            &self.buf[(self.head + self.len) & self.mask()]
        } else {
            std::ptr::null()
        }
    }

    pub(crate) fn push_back(&mut self, m: Message) {
        if self.len == self.buf.len() {
            self.grow();
        }
        let i = (self.head + self.len) & self.mask();
        self.buf[i] = Some(m);
        self.len += 1;
    }

    pub(crate) fn pop_front(&mut self) -> Option<Message> {
        if self.len == 0 {
            return None;
        }
        let m = self.buf[self.head].take();
        self.head = (self.head + 1) & self.mask();
        self.len -= 1;
        m
    }

    /// The `i`-th message from the front.
    pub(crate) fn get(&self, i: usize) -> Option<&Message> {
        if i >= self.len {
            return None;
        }
        self.buf[(self.head + i) & self.mask()].as_ref()
    }

    /// Removes the `i`-th message from the front, shifting the later ones
    /// forward (rare: `drop_oldest` skipping a control message).
    pub(crate) fn remove(&mut self, i: usize) -> Option<Message> {
        if i >= self.len {
            return None;
        }
        let mask = self.mask();
        let out = self.buf[(self.head + i) & mask].take();
        for j in i..self.len - 1 {
            let next = self.buf[(self.head + j + 1) & mask].take();
            self.buf[(self.head + j) & mask] = next;
        }
        self.len -= 1;
        out
    }

    fn grow(&mut self) {
        let cap = (self.buf.len() * 2).max(4);
        let mut buf: Vec<Option<Message>> = Vec::with_capacity(cap);
        while let Some(m) = self.pop_front() {
            buf.push(Some(m));
        }
        let len = buf.len();
        buf.resize_with(cap, || None);
        self.buf = buf.into_boxed_slice();
        self.head = 0;
        self.len = len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Payload;

    fn msg(i: u64) -> Message {
        Message::ack("/".into(), i, Payload::empty())
    }

    #[test]
    fn fifo_across_growth_and_wraparound() {
        let mut r = Ring::new();
        assert!(r.next_slot().is_null(), "no allocation while empty");
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        for round in 0..50u64 {
            for _ in 0..(round % 7 + 1) {
                r.push_back(msg(next_in));
                next_in += 1;
            }
            for _ in 0..(round % 5) {
                if let Some(m) = r.pop_front() {
                    assert_eq!(m.ack_id(), Some(next_out));
                    next_out += 1;
                }
            }
            assert_eq!(r.len() as u64, next_in - next_out);
            for i in 0..r.len() {
                assert_eq!(r.get(i).and_then(Message::ack_id), Some(next_out + i as u64));
            }
        }
    }

    #[test]
    fn next_slot_is_where_the_push_lands() {
        let mut r = Ring::new();
        for i in 0..4 {
            r.push_back(msg(i));
        }
        r.pop_front();
        let slot = r.next_slot();
        assert!(!slot.is_null());
        r.push_back(msg(99));
        // SAFETY (test): `slot` points into `r.buf`, alive and not resized.
        let landed = unsafe { (*slot).as_ref().and_then(Message::ack_id) };
        assert_eq!(landed, Some(99));
    }

    #[test]
    fn remove_keeps_order() {
        let mut r = Ring::new();
        for i in 0..6 {
            r.push_back(msg(i));
        }
        r.pop_front();
        r.push_back(msg(6));
        assert_eq!(r.remove(2).and_then(|m| m.ack_id()), Some(3));
        let rest: Vec<_> = std::iter::from_fn(|| r.pop_front()).filter_map(|m| m.ack_id()).collect();
        assert_eq!(rest, vec![1, 2, 4, 5, 6]);
    }
}
