//! The virtual clock and its event queue: a binary heap ordered by time,
//! ties broken by insertion order so a run is deterministic.
//!
//! Time is in nanoseconds since the simulation's zero. Events are small
//! `Copy` values held inline in the heap, so scheduling one allocates nothing
//! once the heap has grown to its working size.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Virtual time in nanoseconds.
pub type Nanos = u64;

/// Nanoseconds in one millisecond.
pub const MILLI: Nanos = 1_000_000;

struct Scheduled<E> {
    at: Nanos,
    sequence: u64,
    event: E,
}

impl<E> PartialEq for Scheduled<E> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.sequence) == (other.at, other.sequence)
    }
}

impl<E> Eq for Scheduled<E> {}

impl<E> PartialOrd for Scheduled<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Scheduled<E> {
    /// Reversed, so the max-heap pops the earliest event first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.sequence).cmp(&(self.at, self.sequence))
    }
}

/// Pending events and the current virtual time.
pub struct EventQueue<E> {
    heap: BinaryHeap<Scheduled<E>>,
    now: Nanos,
    next_sequence: u64,
    processed: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self { heap: BinaryHeap::with_capacity(1 << 16), now: 0, next_sequence: 0, processed: 0 }
    }
}

impl<E> EventQueue<E> {
    /// The current virtual time.
    pub fn now(&self) -> Nanos {
        self.now
    }

    /// Events popped so far.
    pub fn processed(&self) -> u64 {
        self.processed
    }

    /// Schedules `event` at absolute time `at` (never before now).
    pub fn schedule_at(&mut self, at: Nanos, event: E) {
        debug_assert!(at >= self.now, "events cannot go back in time");
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.heap.push(Scheduled { at: at.max(self.now), sequence, event });
    }

    /// Schedules `event` after `delay`.
    pub fn schedule_in(&mut self, delay: Nanos, event: E) {
        self.schedule_at(self.now + delay, event);
    }

    /// Advances the clock to the earliest event and returns it.
    pub fn pop(&mut self) -> Option<E> {
        let next = self.heap.pop()?;
        self.now = next.at;
        self.processed += 1;
        Some(next.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_and_ties_in_insertion_order() {
        let mut queue = EventQueue::default();
        queue.schedule_at(5, 'c');
        queue.schedule_at(1, 'a');
        queue.schedule_at(5, 'd');
        queue.schedule_at(2, 'b');
        let order: Vec<char> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(order, vec!['a', 'b', 'c', 'd']);
        assert_eq!(queue.now(), 5);
        assert_eq!(queue.processed(), 4);
    }
}
