//! The node monitor's reservation queue: bounded, FIFO per executor type.
//!
//! A reservation is a promise to ask a job's scheduler for a task when a slot
//! frees (late binding). Reservations of one job that arrive together are one
//! entry with a count. The queue never holds more than `capacity`
//! reservations: [`ReservationQueue::enqueue`] accepts what fits and refuses
//! the rest, so the scheduler learns at once that this node is full.
//!
//! Pure code: no I/O, no clock. The caller says which executor types have
//! free slots; the queue says which job to ask next.

use std::collections::VecDeque;

/// A batch of reservations of one job for one executor type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The job the reservations are for.
    pub job_id: String,
    /// The scheduler to ask for the job's tasks (host:port).
    pub scheduler: String,
    /// The job's tenant.
    pub tenant: String,
    /// The job's priority.
    pub priority: i32,
    /// The executor type a slot must offer.
    pub executor: String,
    /// How many reservations this entry holds.
    pub count: u32,
}

/// Reservations taken from the queue to redeem with one GetTask call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeem {
    /// The job to ask for tasks.
    pub job_id: String,
    /// The scheduler to ask.
    pub scheduler: String,
    /// The executor type the tasks are for.
    pub executor: String,
    /// How many tasks to ask for (one per reservation redeemed).
    pub count: u32,
}

/// A bounded FIFO of reservations.
#[derive(Debug)]
pub struct ReservationQueue {
    entries: VecDeque<Reservation>,
    len: u32,
    capacity: u32,
}

impl ReservationQueue {
    /// An empty queue holding at most `capacity` reservations.
    pub fn new(capacity: u32) -> Self {
        Self { entries: VecDeque::new(), len: 0, capacity }
    }

    /// Reservations waiting.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most reservations the queue holds.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Queues as many of `reservation.count` as fit; returns how many.
    pub fn enqueue(&mut self, mut reservation: Reservation) -> u32 {
        let room = self.capacity - self.len;
        let accepted = reservation.count.min(room);
        if accepted == 0 {
            return 0;
        }
        reservation.count = accepted;
        self.len += accepted;
        self.entries.push_back(reservation);
        debug_assert!(self.len <= self.capacity);
        accepted
    }

    /// Takes the oldest reservations whose executor type has free slots:
    /// up to `free_slots(executor)` of one job. `None` if nothing can run now.
    pub fn next_redeem(&mut self, free_slots: impl Fn(&str) -> u32) -> Option<Redeem> {
        let position = self.entries.iter().position(|entry| free_slots(&entry.executor) > 0)?;
        let entry = &mut self.entries[position];
        let count = entry.count.min(free_slots(&entry.executor));
        let redeem = Redeem {
            job_id: entry.job_id.clone(),
            scheduler: entry.scheduler.clone(),
            executor: entry.executor.clone(),
            count,
        };
        entry.count -= count;
        if entry.count == 0 {
            self.entries.remove(position);
        }
        self.len -= count;
        Some(redeem)
    }

    /// Removes a job's reservations (of one executor type, or all when
    /// `executor` is `None`); returns how many were removed.
    pub fn cancel(&mut self, job_id: &str, executor: Option<&str>) -> u32 {
        let mut removed = 0;
        self.entries.retain(|entry| {
            let matches = entry.job_id == job_id && executor.is_none_or(|e| e == entry.executor);
            if matches {
                removed += entry.count;
            }
            !matches
        });
        self.len -= removed;
        removed
    }

    /// Removes every reservation redeemable at `scheduler` (it is gone).
    pub fn drop_scheduler(&mut self, scheduler: &str) -> u32 {
        let mut removed = 0;
        self.entries.retain(|entry| {
            let matches = entry.scheduler == scheduler;
            if matches {
                removed += entry.count;
            }
            !matches
        });
        self.len -= removed;
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reservation(job: &str, executor: &str, count: u32) -> Reservation {
        Reservation {
            job_id: job.into(),
            scheduler: "s:1".into(),
            tenant: String::new(),
            priority: 0,
            executor: executor.into(),
            count,
        }
    }

    #[test]
    fn accepts_only_what_fits() {
        let mut queue = ReservationQueue::new(10);
        assert_eq!(queue.enqueue(reservation("a", "echo", 7)), 7);
        assert_eq!(queue.enqueue(reservation("b", "echo", 7)), 3);
        assert_eq!(queue.enqueue(reservation("c", "echo", 1)), 0);
        assert_eq!(queue.len(), 10);
    }

    #[test]
    fn redeems_in_arrival_order_up_to_free_slots() {
        let mut queue = ReservationQueue::new(100);
        queue.enqueue(reservation("a", "echo", 3));
        queue.enqueue(reservation("b", "echo", 2));
        let first = queue.next_redeem(|_| 2).unwrap();
        assert_eq!((first.job_id.as_str(), first.count), ("a", 2));
        let second = queue.next_redeem(|_| 2).unwrap();
        assert_eq!((second.job_id.as_str(), second.count), ("a", 1));
        let third = queue.next_redeem(|_| 5).unwrap();
        assert_eq!((third.job_id.as_str(), third.count), ("b", 2));
        assert!(queue.next_redeem(|_| 5).is_none());
        assert!(queue.is_empty());
    }

    #[test]
    fn skips_entries_whose_executor_is_busy() {
        let mut queue = ReservationQueue::new(100);
        queue.enqueue(reservation("a", "sleep", 1));
        queue.enqueue(reservation("b", "echo", 1));
        let redeem = queue.next_redeem(|executor| u32::from(executor == "echo")).unwrap();
        assert_eq!(redeem.job_id, "b");
        assert_eq!(queue.len(), 1);
    }

    #[test]
    fn cancel_removes_a_jobs_reservations() {
        let mut queue = ReservationQueue::new(100);
        queue.enqueue(reservation("a", "echo", 3));
        queue.enqueue(reservation("b", "echo", 2));
        queue.enqueue(reservation("a", "sleep", 4));
        assert_eq!(queue.cancel("a", Some("echo")), 3);
        assert_eq!(queue.cancel("a", None), 4);
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.cancel("zzz", None), 0);
    }

    proptest::proptest! {
        #[test]
        fn never_exceeds_capacity_and_counts_stay_consistent(
            ops in proptest::collection::vec((0u8..3, 0u32..20, 0u8..3), 1..200), capacity in 1u32..50
        ) {
            let mut queue = ReservationQueue::new(capacity);
            let mut held: u64 = 0;
            for (op, count, job) in ops {
                let job_id = format!("j{job}");
                match op {
                    0 => held += u64::from(queue.enqueue(reservation(&job_id, "echo", count))),
                    1 => if let Some(redeem) = queue.next_redeem(|_| count) { held -= u64::from(redeem.count) },
                    _ => held -= u64::from(queue.cancel(&job_id, None)),
                }
                proptest::prop_assert!(queue.len() <= capacity);
                proptest::prop_assert_eq!(u64::from(queue.len()), held);
            }
        }
    }
}
