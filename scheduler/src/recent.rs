//! A short, bounded memory of the jobs that finished here, for the status
//! page: what ran, for whom, how it ended and how long it took.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::Mutex;

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
        }
    }
}

/// The last [`RECENT_JOBS`] finished jobs, newest last.
#[derive(Debug, Default)]
pub struct RecentJobs {
    jobs: Mutex<VecDeque<JobRecord>>,
}

impl RecentJobs {
    /// Remembers a finished job, forgetting the oldest beyond the bound.
    pub fn push(&self, record: JobRecord) {
        let mut jobs = self.jobs.lock();
        if jobs.len() == RECENT_JOBS {
            jobs.pop_front();
        }
        jobs.push_back(record);
    }

    /// The remembered jobs, newest first.
    pub fn newest_first(&self) -> Vec<JobRecord> {
        self.jobs.lock().iter().rev().cloned().collect()
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
}
