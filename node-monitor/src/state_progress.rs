//! Progress of running tasks (`RunningTask.progress()` in an executor): the
//! node forwards it to the scheduler that launched the attempt, at most once
//! every [`PROGRESS_SPACING`] per task (the last word, a fraction of 1.0,
//! always goes). Stale reports (a task not running on that executor) are
//! dropped. Pure, like the rest of [`super::NodeState`].

use std::time::Duration;

use passer_proto::pb;

use super::{Effect, NodeState};
use crate::slots::InstanceId;

/// Shortest time between two forwarded progress reports of one task.
const PROGRESS_SPACING: Duration = Duration::from_millis(100);

/// Longest progress message forwarded, in bytes (longer ones are cut).
const MAX_PROGRESS_MESSAGE_BYTES: usize = 256;

impl NodeState {
    /// An executor instance reported how far a task has got.
    pub fn on_progress(
        &mut self,
        instance: InstanceId,
        progress: pb::executor_message::Progress,
        now: Duration,
    ) -> Vec<Effect> {
        self.last_now = self.last_now.max(now);
        self.liveness.heard(instance, now, false);
        let key = (progress.job_id, progress.task_id);
        let Some(run) = self.running.get_mut(&key) else { return Vec::new() };
        if run.instance != instance || run.cancelled_at.is_some() {
            return Vec::new();
        }
        let fraction = if progress.fraction.is_finite() { progress.fraction.clamp(0.0, 1.0) } else { 0.0 };
        let spaced = run.progress_sent_at.is_none_or(|at| now >= at + PROGRESS_SPACING);
        if !spaced && fraction < 1.0 {
            return Vec::new();
        }
        run.progress_sent_at = Some(now);
        let (job_id, task_id) = key;
        vec![Effect::Progress {
            scheduler: run.scheduler.clone(),
            progress: pb::TaskProgress {
                job_id,
                task_id,
                attempt: run.attempt,
                fraction,
                message: truncate(progress.message, MAX_PROGRESS_MESSAGE_BYTES),
            },
        }]
    }
}

/// `text` cut to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::truncate;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("héllo".into(), 2), "h");
        assert_eq!(truncate("short".into(), 256), "short");
    }
}
