//! Offers: the job's side of handing a task straight to a node that looks
//! idle (instead of reservations), and of taking it back when the node
//! declines or never answers. Pure, like the rest of [`super::JobState`].

use std::time::Duration;

use passer_proto::pb;

use super::{launch, Finish, JobState, ProbeDemand, TaskState};

impl JobState {
    /// Offers up to `max` pending tasks of `demand`'s group to `node`, which
    /// looked idle, along with its reservations. They count as launched on
    /// `node` (no other node is handed them) until it declines them.
    pub fn offer(&mut self, demand: &ProbeDemand, node: &str, max: u32, now: Duration) -> Vec<pb::TaskLaunch> {
        let Some(group_index) =
            self.groups.iter().position(|g| g.executor == demand.executor && g.constraint == demand.constraint)
        else {
            return Vec::new();
        };
        if self.cancelled {
            return Vec::new();
        }
        let mut launches = Vec::new();
        while launches.len() < max as usize {
            let Some(task_index) = self.groups[group_index].pending.pop_front() else { break };
            launches.push(launch(&self.job_id, &mut self.tasks[task_index], node, now));
        }
        if !launches.is_empty() {
            self.last_progress = now;
        }
        launches
    }

    /// `node` did not start the offered `task_id` (attempt `attempt`): it
    /// goes back to the front of its group's pending tasks with its attempt
    /// unspent. Returns false if the task had moved on meanwhile.
    pub fn offer_declined(&mut self, node: &str, task_id: &str, attempt: u32) -> bool {
        let Some(&task_index) = self.index.get(task_id) else { return false };
        let task = &mut self.tasks[task_index];
        let offered_here = matches!(&task.state, TaskState::Launched { node: n, .. } if n == node);
        if !offered_here || task.attempt != attempt || self.cancelled {
            return false;
        }
        task.attempt -= 1;
        task.state = TaskState::Pending;
        self.groups[task.group].pending.push_front(task_index);
        true
    }

    /// The offer of `task_id` (attempt `attempt`) to `node` got no answer:
    /// the node may or may not run it, so the attempt counts as lost, like a
    /// lost node's (retried, or failed when out of attempts). A late result
    /// of the lost attempt is ignored.
    pub fn offer_unanswered(&mut self, node: &str, task_id: &str, attempt: u32, now: Duration) -> Finish {
        let Some(&task_index) = self.index.get(task_id) else { return Finish::Ignored };
        let task = &self.tasks[task_index];
        let offered_here = matches!(&task.state, TaskState::Launched { node: n, .. } if n == node);
        if !offered_here || task.attempt != attempt {
            return Finish::Ignored;
        }
        self.retry_or_fail(task_index, node, "no answer to the offer of the task", now)
    }
}
