//! A growable FIFO ring of messages that can tell where its next push will
//! land, so a fan-out can prefetch that cache line before it gets there.
//!
//! The first [`INLINE`] slots live inside the ring itself (and so inside the
//! outbox's hot cache lines): an outbox that never holds more than that
//! needs no buffer of its own, and a push or pop touches no memory beyond
//! the lines the outbox lock already brought in. Past that the ring moves to
//! a heap buffer, which it keeps (a busy connection stays busy).
//!
//! The ring never allocates or frees by itself: it lives under the outbox's
//! spin lock, whose holder may do neither (see `spin`). When it is full its
//! owner allocates a bigger buffer ([`Spare`]) with the lock released, hands
//! it over under the lock ([`Ring::grow_into`]), and frees what comes back
//! after unlocking. It has no atomics of its own; loom checks it through the
//! outbox's lock (`crate::sync`).

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
    ///
    /// # Safety
    ///
    /// The ring must not be full (see [`is_full`](Self::is_full)): growing
    /// allocates, which the caller does outside its lock, and the caller
    /// has already checked (the check is on the fan-out's hot path, so it
    /// is made once, there).
    #[inline(always)]
    pub(crate) unsafe fn push_back(&mut self, m: Message) -> *const Option<Message> {
        debug_assert!(!self.is_full(), "Ring::push_back on a full ring: grow_into first");
        let on_heap = self.on_heap();
        let base = if on_heap { self.heap.as_ptr() } else { self.inline.as_mut_ptr() };
        let i = (self.head + self.len) & self.mask;
        // SAFETY: `i <= mask`, a slot of the current buffer (the inline
        // array has `mask + 1 == INLINE` slots while `!on_heap`). As the
        // ring is not full (the caller's contract), it is outside
        // `head .. head + len`, so it holds `None`: overwriting it without a
        // drop loses nothing.
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

    /// True when the next push needs a bigger buffer ([`grow_into`](Self::grow_into)).
    #[inline(always)]
    pub(crate) fn is_full(&self) -> bool {
        self.len > self.mask
    }

    /// The number of slots of the current buffer.
    pub(crate) fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// Moves the queued messages into `spare` (allocated by the caller,
    /// outside its lock, with [`Spare::new`]) when that is bigger than the
    /// current buffer. Returns the buffer the caller must free, again
    /// outside its lock: the old heap buffer (now all `None`), or `spare`
    /// itself when the ring had already grown past it. Moving is one
    /// pointer copy per queued message and never allocates.
    pub(crate) fn grow_into(&mut self, spare: Spare) -> Option<Spare> {
        let mut new = spare.0;
        let cap = new.len();
        if cap <= self.capacity() {
            return Some(Spare(new));
        }
        debug_assert!(cap.is_power_of_two());
        let len = self.len;
        for slot in new.iter_mut().take(len) {
            *slot = self.pop_front();
        }
        let old = self.heap_slots();
        // SAFETY: `into_raw` of a boxed slice is never null.
        self.heap = unsafe { NonNull::new_unchecked(Box::into_raw(new).cast::<Option<Message>>()) };
        self.mask = cap - 1;
        self.head = 0;
        self.len = len;
        // SAFETY: the previous buffer came from `into_raw` here with exactly
        // its `mask + 1` slots, all emptied by the pops above, and nothing
        // refers to it any more: it becomes an owned box again.
        old.map(|old| Spare(unsafe { Box::from_raw(old) }))
    }
}

/// A ring buffer allocated (or to be freed) outside the outbox lock.
pub(crate) struct Spare(Box<[Option<Message>]>);

impl Spare {
    /// An empty buffer of `cap` slots (`cap` a power of two above [`INLINE`]).
    pub(crate) fn new(cap: usize) -> Spare {
        debug_assert!(cap.is_power_of_two() && cap > INLINE);
        Spare(std::iter::repeat_with(|| None).take(cap).collect())
    }

    /// Its number of slots.
    pub(crate) fn capacity(&self) -> usize {
        self.0.len()
    }

    /// The buffer a ring of `current` slots grows to.
    pub(crate) fn next_capacity(current: usize) -> usize {
        current * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Payload;

    fn msg(i: u64) -> Message {
        Message::ack("/".into(), i, Payload::empty())
    }

    /// Pushes, growing first when full (as the outbox does, minus its lock).
    fn push(r: &mut Ring, m: Message) -> *const Option<Message> {
        if r.is_full() {
            drop(r.grow_into(Spare::new(Spare::next_capacity(r.capacity()))));
        }
        // SAFETY: not full, just checked (or grown).
        unsafe { r.push_back(m) }
    }

    /// Pops everything left, returning the ids in order.
    fn drain_ids(r: &mut Ring) -> Vec<u64> {
        std::iter::from_fn(|| r.pop_front()).filter_map(|m| m.ack_id()).collect()
    }

    #[test]
    fn fifo_across_growth_and_wraparound() {
        let mut r = Ring::new();
        for i in 0..INLINE as u64 {
            assert!(push(&mut r, msg(i)).is_null(), "inline slots need no prefetch hint");
        }
        for i in 0..INLINE as u64 {
            assert_eq!(r.pop_front().and_then(|m| m.ack_id()), Some(i));
        }
        assert!(!r.on_heap(), "up to INLINE messages never allocate");
        let mut next_in = 0u64;
        let mut next_out = 0u64;
        for round in 0..50u64 {
            for _ in 0..(round % 7 + 1) {
                push(&mut r, msg(next_in));
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
            push(&mut r, msg(i));
        }
        r.pop_front();
        r.pop_front();
        let slot = push(&mut r, msg(98));
        assert!(!slot.is_null());
        assert!(push(&mut r, msg(99)).is_null(), "a full ring grows before its next push: no hint");
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
                push(&mut r, msg(next));
                next += 1;
            }
            for _ in 0..pop {
                r.pop_front();
            }
            for _ in 0..refill {
                push(&mut r, msg(next));
                next += 1;
            }
            let len = r.len();
            let mut buf = vec![msg(999)];
            r.move_front_into(&mut buf, k);
            let got: Vec<_> = buf.iter().filter_map(Message::ack_id).collect();
            let want: Vec<_> = std::iter::once(999).chain(pop as u64..pop as u64 + k as u64).collect();
            assert_eq!(got, want, "fill {fill}, pop {pop}, refill {refill}, move {k}");
            assert_eq!(r.len(), len - k);
            push(&mut r, msg(next));
            let rest = drain_ids(&mut r);
            assert_eq!(rest, (pop as u64 + k as u64..=next).collect::<Vec<_>>());
        }
    }

    #[test]
    fn grow_into_keeps_order_and_hands_back_what_to_free() {
        let mut r = Ring::new();
        for i in 0..3 {
            push(&mut r, msg(i));
        }
        r.pop_front();
        push(&mut r, msg(3));
        push(&mut r, msg(4));
        assert!(r.is_full() && !r.on_heap(), "inline slots full, wrapped");
        assert!(r.grow_into(Spare::new(8)).is_none(), "inline slots have nothing to free");
        assert_eq!(r.capacity(), 8);
        let back = r.grow_into(Spare::new(8)).expect("a spare no bigger than the ring comes back");
        assert_eq!(back.0.len(), 8);
        let old = r.grow_into(Spare::new(16)).expect("the old heap buffer comes back to be freed");
        assert!(old.0.iter().all(Option::is_none), "the old buffer holds no message");
        assert_eq!(drain_ids(&mut r), vec![1, 2, 3, 4]);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "full ring")]
    fn push_back_never_grows_by_itself() {
        let mut r = Ring::new();
        for i in 0..=INLINE as u64 {
            // SAFETY (test): the last push breaks the contract on purpose;
            // the debug assertion stops it before it writes.
            unsafe { r.push_back(msg(i)) };
        }
    }
}
