//! A growable FIFO ring of messages that can tell where its next push will
//! land, so a fan-out can prefetch that cache line before it gets there.
//!
//! The first [`INLINE`] slots live inside the ring itself (and so inside the
//! outbox's hot cache lines): an outbox that never holds more than that
//! needs no buffer of its own, and a push or pop touches no memory beyond
//! the lines the outbox lock already brought in. Past that the ring moves to
//! a heap buffer, which it keeps (a busy connection stays busy).

use crate::message::Message;

/// Slots stored in the ring itself.
pub(crate) const INLINE: usize = 4;

/// FIFO of messages. Capacity is [`INLINE`] (no allocation) or a larger
/// power of two on the heap; it doubles when full.
pub(crate) struct Ring {
    /// Slots while the inline ones suffice; `None` outside
    /// `head .. head + len` (mod capacity).
    inline: [Option<Message>; INLINE],
    /// The slots once grown past [`INLINE`]; empty before.
    heap: Box<[Option<Message>]>,
    head: usize,
    len: usize,
}

impl Ring {
    pub(crate) fn new() -> Ring {
        Ring { inline: Default::default(), heap: Box::new([]), head: 0, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots (a power of two).
    #[inline(always)]
    fn cap(&self) -> usize {
        if self.heap.is_empty() {
            INLINE
        } else {
            self.heap.len()
        }
    }

    #[inline(always)]
    fn slots(&self) -> &[Option<Message>] {
        if self.heap.is_empty() {
            &self.inline
        } else {
            &self.heap
        }
    }

    #[inline(always)]
    fn slots_mut(&mut self) -> &mut [Option<Message>] {
        if self.heap.is_empty() {
            &mut self.inline
        } else {
            &mut self.heap
        }
    }

    /// Position of the `i`-th slot from the front.
    #[inline(always)]
    fn at(&self, i: usize) -> usize {
        (self.head + i) & (self.cap() - 1)
    }

    /// The slot the next `push_back` writes, if no growth is needed first
    /// and it is outside the ring itself (a slot inside it is already in
    /// cache whenever the ring is): null otherwise.
    #[inline]
    pub(crate) fn next_slot(&self) -> *const Option<Message> {
        if !self.heap.is_empty() && self.len < self.heap.len() {
            &self.heap[self.at(self.len)]
        } else {
            std::ptr::null()
        }
    }

    #[inline]
    pub(crate) fn push_back(&mut self, m: Message) {
        if self.len == self.cap() {
            self.grow();
        }
        let i = self.at(self.len);
        let old = self.slots_mut()[i].replace(m);
        // Slots outside `head .. head + len` are empty: nothing to drop.
        debug_assert!(old.is_none());
        std::mem::forget(old);
        self.len += 1;
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Message> {
        if self.len == 0 {
            return None;
        }
        let head = self.head;
        let m = self.slots_mut()[head].take();
        self.head = self.at(1);
        self.len -= 1;
        m
    }

    /// Moves the `k` oldest messages (`k <= len`) to the end of `buf`, in
    /// order.
    pub(crate) fn move_front_into(&mut self, buf: &mut Vec<Message>, k: usize) {
        debug_assert!(k <= self.len);
        let k = k.min(self.len);
        let (head, cap) = (self.head, self.cap());
        let first = k.min(cap - head);
        let slots = self.slots_mut();
        let take = |s: &mut Option<Message>| s.take().expect("a slot inside head .. head + len holds a message");
        buf.reserve(k);
        buf.extend(slots[head..head + first].iter_mut().map(take));
        buf.extend(slots[..k - first].iter_mut().map(take));
        self.head = (head + k) & (cap - 1);
        self.len -= k;
    }

    /// The `i`-th message from the front.
    pub(crate) fn get(&self, i: usize) -> Option<&Message> {
        if i >= self.len {
            return None;
        }
        self.slots()[self.at(i)].as_ref()
    }

    /// Removes the `i`-th message from the front, shifting the later ones
    /// forward (rare: `drop_oldest` skipping a control message).
    pub(crate) fn remove(&mut self, i: usize) -> Option<Message> {
        if i >= self.len {
            return None;
        }
        let at = self.at(i);
        let out = self.slots_mut()[at].take();
        for j in i..self.len - 1 {
            let (from, to) = (self.at(j + 1), self.at(j));
            let next = self.slots_mut()[from].take();
            self.slots_mut()[to] = next;
        }
        self.len -= 1;
        out
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = self.cap() * 2;
        let mut buf: Vec<Option<Message>> = Vec::with_capacity(cap);
        while let Some(m) = self.pop_front() {
            buf.push(Some(m));
        }
        let len = buf.len();
        buf.resize_with(cap, || None);
        self.heap = buf.into_boxed_slice();
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
        for i in 0..INLINE as u64 {
            r.push_back(msg(i));
            assert!(r.next_slot().is_null(), "inline slots need no prefetch hint");
        }
        for i in 0..INLINE as u64 {
            assert_eq!(r.pop_front().and_then(|m| m.ack_id()), Some(i));
        }
        assert!(r.heap.is_empty(), "up to INLINE messages never allocate");
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
        for i in 0..INLINE as u64 + 4 {
            r.push_back(msg(i));
        }
        r.pop_front();
        let slot = r.next_slot();
        assert!(!slot.is_null());
        r.push_back(msg(99));
        // SAFETY (test): `slot` points into `r.heap`, alive and not resized.
        let landed = unsafe { (*slot).as_ref().and_then(Message::ack_id) };
        assert_eq!(landed, Some(99));
    }

    #[test]
    fn move_front_into_keeps_order_across_the_wrap() {
        // (fill, pop, refill, move): inline slots wrapped at 2; a heap ring
        // of 8 wrapped at 5; heap growth; a move of nothing; a partial move.
        for (fill, pop, refill, k) in
            [(3, 2, 3, 4), (3, 2, 3, 3), (6, 5, 5, 6), (6, 5, 5, 2), (6, 5, 20, 21), (6, 5, 5, 0)]
        {
            let mut r = Ring::new();
            let mut next = 0u64;
            for _ in 0..fill {
                r.push_back(msg(next));
                next += 1;
            }
            for _ in 0..pop {
                r.pop_front();
            }
            for _ in 0..refill {
                r.push_back(msg(next));
                next += 1;
            }
            let len = r.len();
            let mut buf = vec![msg(999)];
            r.move_front_into(&mut buf, k);
            let got: Vec<_> = buf.iter().filter_map(Message::ack_id).collect();
            let want: Vec<_> = std::iter::once(999).chain(pop as u64..pop as u64 + k as u64).collect();
            assert_eq!(got, want, "fill {fill}, pop {pop}, refill {refill}, move {k}");
            assert_eq!(r.len(), len - k);
            r.push_back(msg(next));
            let rest: Vec<_> = std::iter::from_fn(|| r.pop_front()).filter_map(|m| m.ack_id()).collect();
            assert_eq!(rest, (pop as u64 + k as u64..=next).collect::<Vec<_>>());
        }
    }

    #[test]
    fn remove_keeps_order_in_the_inline_slots() {
        let mut r = Ring::new();
        for i in 0..3 {
            r.push_back(msg(i));
        }
        r.pop_front();
        // Wraps around the inline slots: 1 2 3 4 at positions 1 2 3 0.
        r.push_back(msg(3));
        r.push_back(msg(4));
        assert!(r.heap.is_empty());
        assert_eq!(r.remove(1).and_then(|m| m.ack_id()), Some(2));
        r.push_back(msg(5));
        let rest: Vec<_> = std::iter::from_fn(|| r.pop_front()).filter_map(|m| m.ack_id()).collect();
        assert_eq!(rest, vec![1, 3, 4, 5]);
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
