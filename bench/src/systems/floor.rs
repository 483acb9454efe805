//! floor: the physical reference. One `VecDeque<Arc<[u8]>>` per subscriber,
//! the message allocated once per emit, an `Arc` clone pushed to each
//! member, then popped. No locks, no names, no hashing, one thread only.
//! Room membership is a `Vec<u32>` of subscriber indices; a multi-room emit
//! dedupes with a per-subscriber "last emit" stamp.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{batched, batched_exact, check_counts, drain_counted, Case};
use crate::scenarios::{ManyRoomsPlan, UnionPlan};
use crate::util::{fixed_payload, read_stamp, stamped_bytes, Check};

type Queue = VecDeque<Arc<[u8]>>;

fn queues(n: usize) -> Vec<Queue> {
    (0..n).map(|_| VecDeque::new()).collect()
}

fn drain(q: &mut Queue) -> u64 {
    let mut n = 0;
    while let Some(m) = q.pop_front() {
        drop(m);
        n += 1;
    }
    n
}

fn check_empty(queues: &[Queue]) -> Check<()> {
    match queues.iter().position(|q| !q.is_empty()) {
        Some(i) => Err(format!("queue {i} not empty after the run")),
        None => Ok(()),
    }
}

/// Scenarios 1a and 2: every subscriber is in the room.
pub(crate) struct BigRoom {
    queues: Vec<Queue>,
    emits: usize,
    payload: Vec<u8>,
}

impl BigRoom {
    pub(crate) fn new(members: usize, emits: usize) -> BigRoom {
        BigRoom { queues: queues(members), emits, payload: fixed_payload().to_vec() }
    }
}

impl Case for BigRoom {
    fn run(&mut self) -> Check<Vec<f64>> {
        let members = self.queues.len();
        let total = (self.emits * members) as u64;
        let mut counts = vec![0u64; members];
        let (payload, cell) = (&self.payload, std::cell::RefCell::new(&mut self.queues));
        let elapsed = batched_exact(
            self.emits,
            total,
            |_| {
                let msg: Arc<[u8]> = Arc::from(payload.as_slice());
                let mut qs = cell.borrow_mut();
                for q in qs.iter_mut() {
                    q.push_back(msg.clone());
                }
                Ok(qs.len())
            },
            |_, _| {
                let mut qs = cell.borrow_mut();
                drain_counted(0..qs.len(), &mut counts, |i| Ok(drain(&mut qs[i])))
            },
        )?;
        check_counts("big room", &counts, |_| self.emits as u64)?;
        check_empty(&self.queues)?;
        Ok(vec![total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 3: skip the sender while walking the room.
pub(crate) struct ManyRooms<'a> {
    queues: Vec<Queue>,
    plan: &'a ManyRoomsPlan,
    payload: Vec<u8>,
}

impl<'a> ManyRooms<'a> {
    pub(crate) fn new(plan: &'a ManyRoomsPlan) -> ManyRooms<'a> {
        ManyRooms { queues: queues(plan.sockets), plan, payload: fixed_payload().to_vec() }
    }
}

impl Case for ManyRooms<'_> {
    fn run(&mut self) -> Check<Vec<f64>> {
        let plan = self.plan;
        let mut counts = vec![0u64; plan.sockets];
        let (payload, cell) = (&self.payload, std::cell::RefCell::new(&mut self.queues));
        let elapsed = batched_exact(
            plan.emits.len(),
            plan.total,
            |i| {
                let (room, sender) = plan.emits[i];
                let msg: Arc<[u8]> = Arc::from(payload.as_slice());
                let mut qs = cell.borrow_mut();
                let mut n = 0;
                for &s in &plan.rooms[room as usize] {
                    if s != sender {
                        qs[s as usize].push_back(msg.clone());
                        n += 1;
                    }
                }
                Ok(n)
            },
            |lo, hi| {
                let mut qs = cell.borrow_mut();
                drain_counted(plan.recipients(lo, hi), &mut counts, |s| Ok(drain(&mut qs[s])))
            },
        )?;
        check_counts("many rooms", &counts, |i| plan.expected[i])?;
        check_empty(&self.queues)?;
        Ok(vec![plan.total as f64 / elapsed.as_secs_f64()])
    }
}

/// Scenario 4: dedupe by stamping each subscriber with the emit number.
pub(crate) struct Union<'a> {
    queues: Vec<Queue>,
    marks: Vec<u64>,
    plan: &'a UnionPlan,
}

impl<'a> Union<'a> {
    pub(crate) fn new(plan: &'a UnionPlan) -> Union<'a> {
        Union { queues: queues(plan.sockets), marks: vec![u64::MAX; plan.sockets], plan }
    }
}

impl Case for Union<'_> {
    fn run(&mut self) -> Check<Vec<f64>> {
        let plan = self.plan;
        self.marks.fill(u64::MAX);
        let mut next = vec![0u64; plan.sockets];
        let (cell, marks) = (std::cell::RefCell::new(&mut self.queues), &mut self.marks);
        let (elapsed, queued, received) = batched(
            plan.emits,
            |i| {
                let msg: Arc<[u8]> = Arc::from(&stamped_bytes(i as u64)[..]);
                let mut qs = cell.borrow_mut();
                let mut n = 0;
                for room in &plan.rooms {
                    for &s in room {
                        if marks[s as usize] != i as u64 {
                            marks[s as usize] = i as u64;
                            qs[s as usize].push_back(msg.clone());
                            n += 1;
                        }
                    }
                }
                Ok(n)
            },
            |_, _| {
                let mut qs = cell.borrow_mut();
                let mut n = 0;
                for &s in &plan.union {
                    while let Some(m) = qs[s as usize].pop_front() {
                        UnionPlan::accept(&mut next, s, read_stamp(&m)?)?;
                        n += 1;
                    }
                }
                Ok(n)
            },
        )?;
        // Members saw every emit once; non-members nothing.
        let total = plan.check(queued, received, &next)?;
        check_empty(&self.queues)?;
        Ok(vec![total as f64 / elapsed.as_secs_f64()])
    }
}
