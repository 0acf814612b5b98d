//! Prefetch: tasks a node monitor takes ahead of a free slot, so a slot that
//! finishes a task starts the next one at once instead of sitting idle for
//! a GetTask round trip to the scheduler.
//!
//! Pure late binding (`per_slot = 0`, the default) asks for a task only when
//! a slot is free, which leaves every slot idle for one round trip per task:
//! with few slots and short tasks that round trip, not the work, sets the
//! throughput. With `per_slot = k` a node may also redeem reservations for up
//! to `k` tasks per slot of an executor type while its slots are busy; those
//! tasks wait here, first in first out, and start as slots free. The bound
//! is `k × slots` per executor type, counting tasks held here and tasks asked
//! for and not yet granted. The price is Sparrow's: a prefetched task may
//! wait behind a running one while another node is idle, so keep `k` small
//! (1–2) for long or uneven tasks.
//!
//! Free of I/O; [`crate::state::NodeState`] owns one and drives it.

use std::collections::{HashMap, VecDeque};

use passer_proto::pb;

/// A task granted ahead of a free slot, waiting for one.
#[derive(Debug)]
pub struct HeldTask {
    /// The task as the scheduler launched it.
    pub launch: pb::TaskLaunch,
    /// The scheduler that launched it (results go back there).
    pub scheduler: String,
    /// When the grant arrived: the task's deadline counts from then.
    pub granted_at: std::time::Duration,
}

/// The prefetch bookkeeping of one node.
#[derive(Debug, Default)]
pub struct Prefetch {
    per_slot: u32,
    /// Prefetch places asked for and not yet granted, per executor type.
    claimed: HashMap<String, u32>,
    held: VecDeque<HeldTask>,
}

impl Prefetch {
    /// Up to `per_slot` tasks per slot may be taken ahead; 0 turns it off.
    pub fn new(per_slot: u32) -> Self {
        Self { per_slot, ..Self::default() }
    }

    /// Tasks held now.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// True if no task is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Prefetch places still open for `executor`, which has `total_slots`.
    pub fn room(&self, executor: &str, total_slots: u32) -> u32 {
        let bound = total_slots.saturating_mul(self.per_slot);
        let held = self.held.iter().filter(|t| t.launch.executor == executor).count() as u32;
        let claimed = self.claimed.get(executor).copied().unwrap_or(0);
        bound.saturating_sub(held).saturating_sub(claimed)
    }

    /// Sets `count` prefetch places aside for a GetTask call in flight.
    pub fn claim(&mut self, executor: &str, count: u32) {
        if count > 0 {
            *self.claimed.entry(executor.to_owned()).or_default() += count;
        }
    }

    /// Returns claimed places (the GetTask answer came, or its link broke).
    pub fn unclaim(&mut self, executor: &str, count: u32) {
        if let Some(claimed) = self.claimed.get_mut(executor) {
            *claimed = claimed.saturating_sub(count);
        }
    }

    /// Holds a granted task until a slot of its executor frees.
    pub fn hold(&mut self, task: HeldTask) {
        self.held.push_back(task);
    }

    /// The oldest held task whose executor has a free slot, taken out.
    pub fn take_startable(&mut self, free_slots: impl Fn(&str) -> u32) -> Option<HeldTask> {
        let position = self.held.iter().position(|t| free_slots(&t.launch.executor) > 0)?;
        self.held.remove(position)
    }

    /// Takes out every held task that `matches`.
    pub fn take_where(&mut self, matches: impl Fn(&HeldTask) -> bool) -> Vec<HeldTask> {
        let (taken, kept): (Vec<HeldTask>, Vec<HeldTask>) = self.held.drain(..).partition(|t| matches(t));
        self.held = kept.into();
        taken
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(job: &str, id: &str, executor: &str) -> HeldTask {
        HeldTask {
            launch: pb::TaskLaunch {
                job_id: job.into(),
                task_id: id.into(),
                executor: executor.into(),
                ..Default::default()
            },
            scheduler: "s".into(),
            granted_at: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn room_counts_held_and_claimed_places_against_slots_times_depth() {
        let mut prefetch = Prefetch::new(2);
        assert_eq!(prefetch.room("echo", 3), 6);
        prefetch.claim("echo", 2);
        prefetch.hold(task("j", "a", "echo"));
        assert_eq!(prefetch.room("echo", 3), 3);
        assert_eq!(prefetch.room("sleep", 3), 6, "other executor types are apart");
        prefetch.unclaim("echo", 5);
        assert_eq!(prefetch.room("echo", 3), 5);
        assert_eq!(Prefetch::new(0).room("echo", 3), 0, "off by default");
    }

    #[test]
    fn startable_tasks_leave_in_arrival_order_per_free_executor() {
        let mut prefetch = Prefetch::new(1);
        prefetch.hold(task("j", "a", "sleep"));
        prefetch.hold(task("j", "b", "echo"));
        prefetch.hold(task("j", "c", "echo"));
        let echo_free = |executor: &str| u32::from(executor == "echo");
        assert_eq!(prefetch.take_startable(echo_free).unwrap().launch.task_id, "b");
        assert_eq!(prefetch.take_startable(echo_free).unwrap().launch.task_id, "c");
        assert!(prefetch.take_startable(echo_free).is_none());
        assert_eq!(prefetch.len(), 1);
        let taken = prefetch.take_where(|t| t.launch.job_id == "j");
        assert_eq!(taken.len(), 1);
        assert!(prefetch.is_empty());
    }
}
