//! The idle estimate of one node monitor: how many slots of an executor
//! type look idle between two load polls. A poll gives the node's idle
//! slots; tasks this scheduler started there since (by offers or grants),
//! less those reported back, are taken off; and an answer showing the node
//! busier than its poll (an offer declined, reservations queued) stops
//! offers to it until the next poll.
//!
//! Pure code: the caller feeds in polls, starts, reports and answers.

use passer_proto::pb;

/// What a scheduler knows of one node's idle slots since its last poll.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdleEstimate {
    /// Tasks started on the node since its last poll, less those reported
    /// back: what the poll's idle slots no longer show. Below zero when
    /// tasks that were running at the poll reported since: their slots are
    /// idle again (credited up to the slots busy at the poll).
    started_since_poll: i64,
    /// Set when an answer showed the node busier than its last poll: no
    /// offers until the next.
    busy_until_poll: bool,
}

impl IdleEstimate {
    /// A fresh poll answered: the poll's own figures stand again.
    pub fn polled(&mut self) {
        *self = Self::default();
    }

    /// `started` tasks started on the node and `reported` attempts it
    /// finished, so the estimate follows between polls.
    pub fn note_tasks(&mut self, started: u64, reported: u64) {
        self.started_since_poll += started as i64 - reported as i64;
    }

    /// The node answered an offer: `returned` offered tasks came back
    /// declined and it holds `queue_length` reservations. Either shows it
    /// busier than its poll, so it gets no offers until the next poll.
    pub fn offer_answered(&mut self, returned: u64, queue_length: u32) {
        self.note_tasks(0, returned);
        if returned > 0 || queue_length > 0 {
            self.busy_until_poll = true;
        }
    }

    /// Whether offers to the node wait for its next poll.
    pub fn busy_until_poll(&self) -> bool {
        self.busy_until_poll
    }

    /// Slots of `executor` that look idle given the node's last poll `load`
    /// (`None` before its first): idle at the poll, less the tasks started
    /// since (of any executor type) and not yet reported, plus the slots of
    /// tasks that were running at the poll and reported since (at most the
    /// slots of `executor`). None while the node has reservations queued or
    /// showed itself busy since the poll.
    ///
    /// Without that credit, a node whose slots were busy at the poll got no
    /// offer until the next poll even once idle, and jobs took the
    /// reservation round trip instead (docs/benchmarks.md, "second cut").
    /// A credit for a report of another executor type may offer a task to a
    /// node without a free slot of its type: the node declines it, the task
    /// goes back to late binding and the node gets no offers until its next
    /// poll.
    pub fn idle_slots(&self, load: Option<&pb::NodeLoad>, executor: &str) -> u32 {
        if self.busy_until_poll {
            return 0;
        }
        let Some(load) = load.filter(|load| load.queue_length == 0) else { return 0 };
        let idle = |e: &pb::ExecutorLoad| i64::from(e.slots_total.saturating_sub(e.slots_busy));
        let of_type_executors = || load.executors.iter().filter(|e| e.executor == executor);
        let of_type = of_type_executors().map(idle).sum::<i64>();
        let of_type_total = of_type_executors().map(|e| i64::from(e.slots_total)).sum::<i64>();
        let all: i64 = load.executors.iter().map(idle).sum();
        let busy_at_poll: i64 = load.executors.iter().map(|e| i64::from(e.slots_busy.min(e.slots_total))).sum();
        let started = self.started_since_poll.max(0);
        let credit = (-self.started_since_poll).clamp(0, busy_at_poll);
        let idle_of_type = (of_type + credit).min(of_type_total);
        idle_of_type.min(all + credit - started).clamp(0, i64::from(u32::MAX)) as u32
    }
}

#[cfg(test)]
#[path = "idle_tests.rs"]
mod tests;
