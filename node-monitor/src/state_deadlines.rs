//! Time on the node: the periodic sweep stops tasks past their deadline,
//! gives up GetTask requests unanswered too long (their schedulers become
//! suspects), withdraws executors that went silent, and frees the slots of
//! cancelled tasks that never answered. Pure, like the rest of
//! [`super::NodeState`]: the caller passes `now`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Effect, InstanceId, NodeState, TaskKey, DEADLINE_EXCEEDED, MAX_GIVEN_UP};

impl NodeState {
    /// Enforces deadlines: overdue tasks are cancelled and reported as
    /// `deadline exceeded`; cancelled tasks past the grace free their slot.
    pub fn sweep(&mut self, now: Duration) -> Vec<Effect> {
        self.last_now = self.last_now.max(now);
        let mut effects = Vec::new();
        let overdue: Vec<TaskKey> = self
            .running
            .iter()
            .filter(|(_, r)| r.cancelled_at.is_none() && r.deadline <= now)
            .map(|(k, _)| k.clone())
            .collect();
        for key in overdue {
            self.cancel_running(&key, DEADLINE_EXCEEDED, true, now, &mut effects);
        }
        self.expire_requests(now, &mut effects);
        for instance in self.liveness.silent(now) {
            let silence = self.liveness.silence_limit();
            let reason = format!("executor sent nothing for {} ms (heartbeats stopped)", silence.as_millis());
            effects.extend(self.on_instance_gone(instance, &reason));
            effects.push(Effect::Withdraw { instance, reason });
        }
        let grace = self.config.cancel_grace;
        let stuck: Vec<TaskKey> = self
            .running
            .iter()
            .filter(|(_, r)| r.cancelled_at.is_some_and(|at| at + grace <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for key in stuck {
            let run = self.running.remove(&key).expect("key taken from the map");
            self.slots.finish(run.instance);
        }
        effects.extend(self.dispatch());
        effects
    }

    /// An executor instance said something that is not a result.
    pub fn on_heard(&mut self, instance: InstanceId, heartbeat: bool, now: Duration) {
        self.last_now = self.last_now.max(now);
        self.liveness.heard(instance, now, heartbeat);
    }

    /// Gives up GetTask requests unanswered past the deadline: their slots
    /// and prefetch places are free again, and their schedulers suspect.
    fn expire_requests(&mut self, now: Duration, effects: &mut Vec<Effect>) {
        let timeout = self.config.get_task_timeout;
        let expired: Vec<u64> =
            self.requests.iter().filter(|(_, p)| p.asked_at + timeout <= now).map(|(id, _)| *id).collect();
        let mut by_scheduler: BTreeMap<String, u32> = BTreeMap::new();
        for id in expired {
            let pending = self.requests.remove(&id).expect("id taken from the map");
            self.slots.unclaim(&pending.executor, pending.slot_claims);
            self.prefetch.unclaim(&pending.executor, pending.count - pending.slot_claims);
            self.queue.refund(&pending.tenant, pending.count);
            if self.given_up.len() >= MAX_GIVEN_UP {
                self.given_up.pop_first();
            }
            self.given_up.insert(id, pending.scheduler.clone());
            *by_scheduler.entry(pending.scheduler).or_default() += 1;
        }
        for (scheduler, timed_out) in by_scheduler {
            let wait = self.suspects.mark(&scheduler, now);
            effects.push(Effect::SchedulerSuspect { scheduler, timed_out, wait });
        }
    }
}
