//! Late binding inside one job: a node redeeming its reservations gets the
//! pending tasks it is eligible for, and the reservations no longer needed
//! anywhere are named for cancellation. Pure, like the rest of
//! [`super::JobState`].

use std::time::Duration;

use super::{launch, Assignment, JobState, NodeId};

impl JobState {
    /// True when a group of `executor` with pending tasks holds reservations on `node`.
    pub(super) fn still_needed(&self, executor: &str, node: &str) -> bool {
        self.groups.iter().any(|g| g.executor == executor && !g.pending.is_empty() && g.outstanding.contains_key(node))
    }

    /// Late binding: `node`, carrying no labels, redeems up to `max_tasks`
    /// reservations of `executor`. See [`Self::assign_to`].
    pub fn assign(&mut self, node: &str, executor: &str, max_tasks: u32, now: Duration) -> Assignment {
        self.assign_to(node, &[] as &[&str], executor, max_tasks, now)
    }

    /// Late binding: `node`, carrying `labels`, redeems up to `max_tasks`
    /// reservations of `executor`. The first askers get the pending tasks
    /// they are eligible for (constrained tasks first, having fewer places
    /// to go); once none are left for them, askers get none.
    pub fn assign_to<S: AsRef<str>>(
        &mut self,
        node: &str,
        labels: &[S],
        executor: &str,
        max_tasks: u32,
        now: Duration,
    ) -> Assignment {
        let mut assignment = Assignment::default();
        if self.cancelled {
            return assignment;
        }
        let mut order: Vec<usize> = (0..self.groups.len()).filter(|&g| self.groups[g].executor == executor).collect();
        if order.is_empty() {
            return assignment;
        }
        order.sort_by_key(|&g| (self.groups[g].pending.is_empty(), self.groups[g].constraint.is_any()));
        let mut redeemed = max_tasks;
        for &group_index in &order {
            let group = &mut self.groups[group_index];
            if let Some(held) = group.outstanding.get_mut(node) {
                let taken = (*held).min(redeemed);
                *held -= taken;
                redeemed -= taken;
                if *held == 0 {
                    group.outstanding.remove(node);
                }
            }
        }
        for &group_index in &order {
            let group = &mut self.groups[group_index];
            if !group.constraint.admits(node, labels) {
                continue;
            }
            while assignment.launches.len() < max_tasks as usize {
                let Some(task_index) = group.pending.pop_front() else { break };
                assignment.launches.push(launch(&self.job_id, &mut self.tasks[task_index], node, now));
            }
        }
        if !assignment.launches.is_empty() {
            self.last_progress = now;
        }
        let mut leftovers: Vec<NodeId> = Vec::new();
        for &group_index in &order {
            let group = &mut self.groups[group_index];
            if group.pending.is_empty() && !group.outstanding.is_empty() {
                leftovers.extend(group.outstanding.drain().map(|(node, _)| node));
            }
        }
        leftovers.sort_unstable();
        leftovers.dedup();
        leftovers.retain(|leftover| !self.still_needed(executor, leftover));
        assignment.cancel_nodes = leftovers;
        assignment
    }
}
