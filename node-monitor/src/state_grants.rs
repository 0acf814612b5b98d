//! Answers to the node's GetTask requests: granted tasks start on an idle
//! slot or wait for one (prefetch), and a grant that arrives after the node
//! gave up on its request starts only where a slot is idle; otherwise the
//! task is handed back unstarted, so the scheduler places it again without
//! spending an attempt. Pure, like the rest of [`super::NodeState`].

use std::time::Duration;

use passer_proto::pb;

use super::{ceil_millis, Effect, HeldTask, NodeState, Running};

impl NodeState {
    /// An answer to a GetTask request: start the tasks it carries.
    pub fn on_grant(&mut self, response: pb::GetTaskResponse, now: Duration) -> Vec<Effect> {
        self.last_now = self.last_now.max(now);
        let Some(pending) = self.requests.remove(&response.request_id) else {
            return self.on_late_grant(response, now);
        };
        self.suspects.clear(&pending.scheduler);
        self.slots.unclaim(&pending.executor, pending.slot_claims);
        self.prefetch.unclaim(&pending.executor, pending.count - pending.slot_claims);
        let used = (response.tasks.len() as u32).min(pending.count);
        self.queue.refund(&pending.tenant, pending.count - used);
        let mut effects = Vec::with_capacity(response.tasks.len());
        for launch in response.tasks.into_iter().take(pending.count as usize) {
            let no_free_slot = self.slots.free(&launch.executor) == 0;
            if no_free_slot && self.slots.instance_count(&launch.executor) > 0 {
                self.prefetch.hold(HeldTask { launch, scheduler: pending.scheduler.clone(), granted_at: now });
            } else {
                self.start_task(launch, &pending.scheduler, now, now, &mut effects);
            }
        }
        effects.extend(self.dispatch());
        effects
    }

    /// An answer to a request given up (timed out): the scheduler counts
    /// its tasks as launched here, so each starts if a slot is idle and is
    /// handed back unspent otherwise.
    fn on_late_grant(&mut self, response: pb::GetTaskResponse, now: Duration) -> Vec<Effect> {
        let Some(scheduler) = self.late_scheduler(&response) else { return Vec::new() };
        self.suspects.clear(&scheduler);
        let mut effects = Vec::new();
        for launch in response.tasks {
            if self.slots.idle(&launch.executor) > 0 {
                self.start_task(launch, &scheduler, now, now, &mut effects);
            } else {
                let outcome = self.unstarted_outcome(&launch, "the node gave up waiting for this task");
                effects.push(Effect::Report { scheduler: scheduler.clone(), outcome });
            }
        }
        effects.extend(self.dispatch());
        effects
    }

    /// The scheduler a late answer came from (kept with the timed-out ids).
    fn late_scheduler(&mut self, response: &pb::GetTaskResponse) -> Option<String> {
        self.given_up.remove(&response.request_id)
    }

    /// A failed, retryable outcome for a task that never started here: the
    /// scheduler hands it out again without counting the attempt.
    pub(super) fn unstarted_outcome(&self, launch: &pb::TaskLaunch, reason: &str) -> pb::TaskOutcome {
        let mut outcome = self.lost_outcome(&launch.job_id, &launch.task_id, launch.attempt, reason.to_owned());
        outcome.not_started = true;
        outcome
    }

    /// Starts a task granted at `granted_at` (its deadline counts from
    /// then, so a task held for a slot does not outlive the scheduler's
    /// own deadline for it).
    pub(super) fn start_task(
        &mut self,
        launch: pb::TaskLaunch,
        scheduler: &str,
        granted_at: Duration,
        now: Duration,
        effects: &mut Vec<Effect>,
    ) {
        let Some(instance) = self.slots.start(&launch.executor) else {
            // The executor went away while the request was in flight: the
            // task never started, so it spends no attempt.
            let outcome = self.unstarted_outcome(&launch, "no executor slot left on the node");
            effects.push(Effect::Report { scheduler: scheduler.to_owned(), outcome });
            return;
        };
        let key = (launch.job_id.clone(), launch.task_id.clone());
        let deadline = granted_at + Duration::from_millis(launch.timeout_ms);
        // Rounded up, so an executor's own timer never fires before this
        // node's deadline: its late result is then the deadline's verdict.
        let remaining_ms = ceil_millis(deadline.saturating_sub(now));
        let run = Running {
            instance,
            attempt: launch.attempt,
            scheduler: scheduler.to_owned(),
            started_at: now,
            deadline,
            cancelled_at: None,
            progress_sent_at: None,
            hops: launch.hops,
        };
        if let Some(previous) = self.running.insert(key, run) {
            // A retry of a task whose earlier attempt still holds a slot here.
            self.slots.finish(previous.instance);
        }
        effects.push(Effect::Run {
            instance,
            task: pb::RunTask {
                job_id: launch.job_id,
                task_id: launch.task_id,
                attempt: launch.attempt,
                payload: launch.payload,
                deadline_ms: remaining_ms.max(1),
            },
        });
    }
}
