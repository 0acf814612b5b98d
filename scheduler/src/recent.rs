//! A short, bounded memory of the jobs that finished here, for the status
//! page: what ran, for whom, how it ended and how long it took. Single-task
//! jobs are remembered apart from larger ones, so a stream of tiny jobs
//! never pushes the larger jobs off the page.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::Mutex;
use passer_proto::pb;

/// Finished jobs remembered.
pub const RECENT_JOBS: usize = 50;

/// A job as the status page lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct JobRecord {
    /// The job's id.
    pub job_id: String,
    /// Its tenant.
    pub tenant: String,
    /// Tasks in the job.
    pub tasks: u32,
    /// Tasks with a terminal result.
    pub finished: u32,
    /// Tasks that ended FAILED.
    pub failed: u32,
    /// Seconds since the scheduler started at which the job was accepted.
    pub accepted_at: f64,
    /// Seconds it ran (so far, for a running job).
    pub elapsed: f64,
    /// Whether every task has its result.
    pub done: bool,
    /// The latest progress a running task reported (`t3 25% loading`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub progress: String,
}

impl JobRecord {
    /// Builds a record from plain figures.
    pub fn new(
        job_id: &str,
        tenant: &str,
        tasks: usize,
        finished: usize,
        failed: u32,
        accepted_at: Duration,
        now: Duration,
    ) -> Self {
        Self {
            job_id: job_id.to_owned(),
            tenant: tenant.to_owned(),
            tasks: tasks as u32,
            finished: finished as u32,
            failed,
            accepted_at: accepted_at.as_secs_f64(),
            elapsed: now.saturating_sub(accepted_at).as_secs_f64(),
            done: finished == tasks,
            progress: String::new(),
        }
    }

    /// The record with a running task's latest progress shown.
    pub fn with_progress(mut self, progress: Option<&pb::TaskProgress>) -> Self {
        if let Some(progress) = progress {
            self.progress = format!(
                "{} {:.0}%{}{}",
                progress.task_id,
                f64::from(progress.fraction) * 100.0,
                if progress.message.is_empty() { "" } else { " " },
                progress.message
            );
        }
        self
    }
}

/// The last [`RECENT_JOBS`] finished jobs of more than one task and the last
/// [`RECENT_JOBS`] single-task jobs, each newest last.
#[derive(Debug, Default)]
pub struct RecentJobs {
    jobs: Mutex<VecDeque<JobRecord>>,
    single_task_jobs: Mutex<VecDeque<JobRecord>>,
}

impl RecentJobs {
    /// Remembers a finished job, forgetting the oldest of its kind beyond the bound.
    pub fn push(&self, record: JobRecord) {
        let ring = if record.tasks == 1 { &self.single_task_jobs } else { &self.jobs };
        let mut jobs = ring.lock();
        if jobs.len() == RECENT_JOBS {
            jobs.pop_front();
        }
        jobs.push_back(record);
    }

    /// The remembered jobs, newest first.
    pub fn newest_first(&self) -> Vec<JobRecord> {
        let mut all: Vec<JobRecord> =
            self.jobs.lock().iter().rev().chain(self.single_task_jobs.lock().iter().rev()).cloned().collect();
        // Stable: jobs that ended at the same moment stay newest first.
        all.sort_by(|a, b| (b.accepted_at + b.elapsed).total_cmp(&(a.accepted_at + a.elapsed)));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_newest() {
        let recent = RecentJobs::default();
        for i in 0..RECENT_JOBS + 5 {
            recent.push(JobRecord::new(&format!("j{i}"), "", 1, 1, 0, Duration::ZERO, Duration::ZERO));
        }
        let jobs = recent.newest_first();
        assert_eq!(jobs.len(), RECENT_JOBS);
        assert_eq!(jobs[0].job_id, format!("j{}", RECENT_JOBS + 4));
        assert_eq!(jobs.last().unwrap().job_id, "j5");
    }

    #[test]
    fn single_task_jobs_do_not_push_larger_jobs_out() {
        let recent = RecentJobs::default();
        let at = |seconds: u64| Duration::from_secs(seconds);
        recent.push(JobRecord::new("big", "", 100, 100, 0, at(0), at(1)));
        for i in 0..RECENT_JOBS * 3 {
            recent.push(JobRecord::new(&format!("s{i}"), "", 1, 1, 0, at(2), at(3 + i as u64)));
        }
        let jobs = recent.newest_first();
        assert_eq!(jobs.len(), RECENT_JOBS + 1);
        assert_eq!(jobs.last().map(|job| job.job_id.as_str()), Some("big"), "the larger job is kept, oldest last");
        assert_eq!(jobs[0].job_id, format!("s{}", RECENT_JOBS * 3 - 1));
    }
}
