//! A growable FIFO ring of messages that can tell where its next push will
//! land, so a fan-out can prefetch that cache line before it gets there.
//!
//! The first [`INLINE`] slots live inside the ring itself (and so inside the
//! outbox's hot cache lines): an outbox that never holds more than that
//! needs no buffer of its own, and a push or pop touches no memory beyond
//! the lines the outbox lock already brought in. Past that the ring moves to
//! a heap buffer, which it keeps (a busy connection stays busy).

use std::ptr::NonNull;

use crate::message::Message;

/// Slots stored in the ring itself.
pub(crate) const INLINE: usize = 4;

/// FIFO of messages. Capacity is [`INLINE`] (no allocation) or a larger
/// power of two on the heap; it doubles when full.
///
/// The heap buffer is held as a raw pointer plus the mask, so the ring is
/// as small as with a boxed slice while the hot operations index with
/// the mask alone (no bounds checks, no second length): a fan-out to a big
/// room pushes into thousands of rings per emit.
pub(crate) struct Ring {
    /// Slots while the inline ones suffice; `None` outside
    /// `head .. head + len` (mod capacity).
    inline: [Option<Message>; INLINE],
    /// `mask + 1` slots from `Box<[Option<Message>]>::into_raw` once grown
    /// past [`INLINE`] (`mask >= INLINE`); dangling before, never read.
    heap: NonNull<Option<Message>>,
    /// Capacity - 1.
    mask: usize,
    head: usize,
    len: usize,
}

// SAFETY: a `Ring` owns its heap buffer exactly like a `Box<[Option<Message>]>`
// field would (no aliasing pointer is handed out except as a prefetch hint
// that is never dereferenced), and `Option<Message>` is Send + Sync.
unsafe impl Send for Ring {}
// SAFETY: as above; `&Ring` only gives read access.
unsafe impl Sync for Ring {}

impl Drop for Ring {
    fn drop(&mut self) {
        if let Some(slots) = self.heap_slots() {
            // SAFETY: the buffer came from `Box::into_raw` in `grow` with
            // exactly `mask + 1` slots and is freed only here; dropping the
            // box drops the messages still queued in it.
            drop(unsafe { Box::from_raw(slots) });
        }
    }
}

impl Ring {
    pub(crate) fn new() -> Ring {
        Ring { inline: Default::default(), heap: NonNull::dangling(), mask: INLINE - 1, head: 0, len: 0 }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    fn on_heap(&self) -> bool {
        self.mask >= INLINE
    }

    /// The heap buffer as a raw slice, once there is one.
    #[inline(always)]
    fn heap_slots(&self) -> Option<*mut [Option<Message>]> {
        self.on_heap().then(|| std::ptr::slice_from_raw_parts_mut(self.heap.as_ptr(), self.mask + 1))
    }

    /// The current slots (inline or heap).
    #[inline(always)]
    fn slots_mut(&mut self) -> &mut [Option<Message>] {
        match self.heap_slots() {
            // SAFETY: a live buffer of `mask + 1` initialised slots owned by
            // `self` (see `Drop`), borrowed mutably through `&mut self`.
            Some(slots) => unsafe { &mut *slots },
            None => &mut self.inline,
        }
    }

    /// Pointer to slot `i` of the current slots (`i <= mask`).
    #[inline(always)]
    fn slot_ptr(&mut self, i: usize) -> *mut Option<Message> {
        debug_assert!(i <= self.mask);
        if self.on_heap() {
            // SAFETY: `i <= mask` is within the `mask + 1` heap slots.
            unsafe { self.heap.as_ptr().add(i) }
        } else {
            // `i <= mask == INLINE - 1`.
            self.inline.as_mut_ptr().wrapping_add(i)
        }
    }

    /// Appends `m`. Returns where the next push will write when that is a
    /// heap slot it can write without growing, null otherwise (a slot
    /// inside the ring is already in cache whenever the ring is): a
    /// prefetch hint for the next fan-out, never dereferenced.
    #[inline(always)]
    pub(crate) fn push_back(&mut self, m: Message) -> *const Option<Message> {
        if self.len > self.mask {
            self.grow();
        }
        let on_heap = self.on_heap();
        let base = if on_heap { self.heap.as_ptr() } else { self.inline.as_mut_ptr() };
        let i = (self.head + self.len) & self.mask;
        // SAFETY: `i <= mask`, a slot of the current buffer (the inline
        // array has `mask + 1 == INLINE` slots while `!on_heap`). It is
        // outside `head .. head + len`, so it holds `None`: overwriting it
        // without a drop loses nothing.
        unsafe { base.add(i).write(Some(m)) };
        self.len += 1;
        if on_heap && self.len <= self.mask {
            base.wrapping_add((i + 1) & self.mask)
        } else {
            std::ptr::null()
        }
    }

    #[inline]
    pub(crate) fn pop_front(&mut self) -> Option<Message> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slot_ptr(self.head);
        // SAFETY: a valid slot of the current buffer, borrowed through
        // `&mut self`.
        let m = unsafe { (*slot).take() };
        self.head = (self.head + 1) & self.mask;
        self.len -= 1;
        m
    }

    /// Moves the `k` oldest messages (`k <= len`) to the end of `buf`, in
    /// order.
    pub(crate) fn move_front_into(&mut self, buf: &mut Vec<Message>, k: usize) {
        debug_assert!(k <= self.len);
        let k = k.min(self.len);
        let (head, cap) = (self.head, self.mask + 1);
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
        let at = (self.head + i) & self.mask;
        match self.heap_slots() {
            // SAFETY: `at <= mask`, within the live heap buffer.
            Some(slots) => unsafe { (*slots)[at].as_ref() },
            None => self.inline[at].as_ref(),
        }
    }

    /// Removes the `i`-th message from the front, shifting the later ones
    /// forward (rare: `drop_oldest` skipping a control message).
    pub(crate) fn remove(&mut self, i: usize) -> Option<Message> {
        if i >= self.len {
            return None;
        }
        let (head, mask, len) = (self.head, self.mask, self.len);
        let slots = self.slots_mut();
        let out = slots[(head + i) & mask].take();
        for j in i..len - 1 {
            let next = slots[(head + j + 1) & mask].take();
            slots[(head + j) & mask] = next;
        }
        self.len -= 1;
        out
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let cap = (self.mask + 1) * 2;
        let mut buf: Vec<Option<Message>> = Vec::with_capacity(cap);
        while let Some(m) = self.pop_front() {
            buf.push(Some(m));
        }
        let len = buf.len();
        buf.resize_with(cap, || None);
        let old = self.heap_slots();
        // SAFETY: `into_raw` of a boxed slice is never null.
        self.heap = unsafe { NonNull::new_unchecked(Box::into_raw(buf.into_boxed_slice()).cast::<Option<Message>>()) };
        self.mask = cap - 1;
        self.head = 0;
        self.len = len;
        if let Some(old) = old {
            // SAFETY: the previous buffer (from `into_raw` here, `mask + 1`
            // slots, now all `None`) is no longer referenced.
            drop(unsafe { Box::from_raw(old) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Payload;

    fn msg(i: u64) -> Message {
        Message::ack("/".into(), i, Payload::empty())
    }

    /// Pops everything left, returning the ids in order.
    fn drain_ids(r: &mut Ring) -> Vec<u64> {
        std::iter::from_fn(|| r.pop_front()).filter_map(|m| m.ack_id()).collect()
    }

    #[test]
    fn fifo_across_growth_and_wraparound() {
        let mut r = Ring::new();
        for i in 0..INLINE as u64 {
            assert!(r.push_back(msg(i)).is_null(), "inline slots need no prefetch hint");
        }
        for i in 0..INLINE as u64 {
            assert_eq!(r.pop_front().and_then(|m| m.ack_id()), Some(i));
        }
        assert!(!r.on_heap(), "up to INLINE messages never allocate");
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
        r.pop_front();
        let slot = r.push_back(msg(98));
        assert!(!slot.is_null());
        assert!(r.push_back(msg(99)).is_null(), "a full ring grows before its next push: no hint");
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
            let rest = drain_ids(&mut r);
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
        assert!(!r.on_heap());
        assert_eq!(r.remove(1).and_then(|m| m.ack_id()), Some(2));
        r.push_back(msg(5));
        let rest = drain_ids(&mut r);
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
        let rest = drain_ids(&mut r);
        assert_eq!(rest, vec![1, 2, 4, 5, 6]);
    }
}
