//! Finished jobs' results, kept for a bounded time and size so that a client
//! that detached (or whose stream broke at the very end) can still fetch
//! them (`WatchJob`, `passer results JOB`). The oldest are dropped first when
//! the size bound is reached; a job larger than the whole bound is not kept.
//!
//! Pure: the caller passes `now` (the scheduler's clock) and calls
//! [`Retention::expire`] on its upkeep tick.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use passer_proto::pb;

use super::digest::JobDigest;

/// One finished job's results.
#[derive(Debug)]
pub struct RetainedJob {
    /// What the job ran: a resubmission with the same digest replays these.
    pub digest: JobDigest,
    /// Every task's terminal result, in the order they ended.
    pub results: Vec<pb::TaskFinished>,
    /// The terminal counts.
    pub summary: pb::JobFinished,
    finished_at: Duration,
    bytes: usize,
    seq: u64,
}

/// The kept results, bounded by age and by bytes.
#[derive(Debug)]
pub struct Retention {
    max_age: Duration,
    max_bytes: usize,
    jobs: HashMap<String, RetainedJob>,
    /// (finished at, job id, seq) oldest first; entries whose seq no longer
    /// matches the map's are stale and skipped.
    order: VecDeque<(Duration, String, u64)>,
    bytes: usize,
    next_seq: u64,
}

impl Retention {
    /// Keeps results for `max_age` and up to `max_bytes` in all (either 0:
    /// keep nothing).
    pub fn new(max_age: Duration, max_bytes: usize) -> Self {
        Self { max_age, max_bytes, jobs: HashMap::new(), order: VecDeque::new(), bytes: 0, next_seq: 0 }
    }

    /// Keeps a finished job's results, dropping the oldest kept jobs while
    /// the bound would be exceeded. Returns false when the job alone is
    /// larger than the bound (or keeping is off) and was not kept.
    pub fn keep(
        &mut self,
        job_id: String,
        digest: JobDigest,
        results: Vec<pb::TaskFinished>,
        summary: pb::JobFinished,
        now: Duration,
    ) -> bool {
        self.remove(&job_id);
        let bytes = job_id.len() + results.iter().map(result_bytes).sum::<usize>();
        if self.max_age.is_zero() || bytes > self.max_bytes {
            return false;
        }
        while self.bytes + bytes > self.max_bytes {
            if !self.drop_oldest() {
                break;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((now, job_id.clone(), seq));
        self.bytes += bytes;
        self.jobs.insert(job_id, RetainedJob { digest, results, summary, finished_at: now, bytes, seq });
        true
    }

    /// The kept results of `job_id`, unless they have expired.
    pub fn get(&self, job_id: &str, now: Duration) -> Option<&RetainedJob> {
        self.jobs.get(job_id).filter(|job| now < job.finished_at + self.max_age)
    }

    /// Forgets `job_id` (its id is reused by another job).
    pub fn remove(&mut self, job_id: &str) {
        if let Some(job) = self.jobs.remove(job_id) {
            self.bytes -= job.bytes;
        }
    }

    /// Drops what is older than the age bound.
    pub fn expire(&mut self, now: Duration) {
        while let Some((finished_at, job_id, seq)) = self.order.front() {
            let live = self.jobs.get(job_id).is_some_and(|job| job.seq == *seq);
            if live && now < *finished_at + self.max_age {
                break;
            }
            if let Some((_, job_id, _)) = self.order.pop_front() {
                if live {
                    self.remove(&job_id);
                }
            }
        }
    }

    /// Jobs kept.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// True when nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// Bytes of results kept (outputs, errors and ids, roughly).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops the oldest live entry; false when there is none.
    fn drop_oldest(&mut self) -> bool {
        while let Some((_, job_id, seq)) = self.order.pop_front() {
            if self.jobs.get(&job_id).is_some_and(|job| job.seq == seq) {
                self.remove(&job_id);
                return true;
            }
        }
        false
    }
}

/// What one result costs to keep, roughly: its variable parts and a fixed
/// overhead for the rest of the struct.
fn result_bytes(result: &pb::TaskFinished) -> usize {
    64 + result.task_id.len()
        + result.output.len()
        + result.error.len()
        + result.node_id.len()
        + result.executor_id.len()
        + result.logs.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::digest::job_digest;

    fn results(count: usize, output_bytes: usize) -> Vec<pb::TaskFinished> {
        (0..count)
            .map(|i| pb::TaskFinished {
                task_id: format!("t{i}"),
                output: vec![b'x'; output_bytes].into(),
                ..Default::default()
            })
            .collect()
    }

    fn digest() -> JobDigest {
        job_digest(&pb::SubmitJobRequest::default())
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn logs_count_in_the_size_bound() {
        let mut kept = Retention::new(10 * S, 10_000);
        let mut with_logs = results(2, 10);
        with_logs[0].logs = "x".repeat(6_000);
        assert!(kept.keep("a".into(), digest(), with_logs.clone(), pb::JobFinished::default(), S));
        assert!(kept.bytes() > 6_000, "{} bytes counted", kept.bytes());
        assert!(kept.keep("b".into(), digest(), with_logs, pb::JobFinished::default(), S));
        assert!(kept.get("a", S).is_none(), "the older job made room for the newer one's logs");
    }

    #[test]
    fn kept_results_expire_after_the_age_bound() {
        let mut kept = Retention::new(10 * S, 1 << 20);
        assert!(kept.keep("a".into(), digest(), results(3, 10), pb::JobFinished::default(), S));
        assert_eq!(kept.get("a", 5 * S).map(|job| job.results.len()), Some(3));
        assert!(kept.get("a", 11 * S).is_none(), "expired, even before the tick drops it");
        kept.expire(11 * S);
        assert!(kept.is_empty());
        assert_eq!(kept.bytes(), 0);
    }

    #[test]
    fn the_oldest_go_first_when_the_size_bound_is_reached() {
        let one_job = 2 + 4 * (64 + 2 + 1000);
        let mut kept = Retention::new(100 * S, 2 * one_job);
        for (i, name) in ["j1", "j2", "j3"].into_iter().enumerate() {
            assert!(kept.keep(name.into(), digest(), results(4, 1000), pb::JobFinished::default(), S * i as u32));
        }
        assert!(kept.get("j1", 3 * S).is_none(), "dropped to make room");
        assert!(kept.get("j2", 3 * S).is_some() && kept.get("j3", 3 * S).is_some());
        assert!(kept.bytes() <= 2 * one_job);
        assert!(!kept.keep("huge".into(), digest(), results(1, 10 * one_job), pb::JobFinished::default(), S));
        assert_eq!(kept.len(), 2, "a job larger than the bound is not kept and evicts nothing");
    }

    #[test]
    fn reusing_an_id_replaces_its_results_once() {
        let mut kept = Retention::new(100 * S, 1 << 20);
        kept.keep("a".into(), digest(), results(3, 10), pb::JobFinished::default(), S);
        kept.keep("a".into(), digest(), results(1, 10), pb::JobFinished::default(), 2 * S);
        assert_eq!(kept.get("a", 3 * S).map(|job| job.results.len()), Some(1));
        assert_eq!(kept.len(), 1);
        // The first entry's stale order slot does not drop the second.
        kept.expire(101 * S);
        assert!(kept.get("a", 101 * S).is_some());
        kept.expire(102 * S);
        assert!(kept.is_empty());
    }

    #[test]
    fn zero_keeps_nothing() {
        let mut kept = Retention::new(Duration::ZERO, 1 << 20);
        assert!(!kept.keep("a".into(), digest(), results(1, 1), pb::JobFinished::default(), S));
        assert!(kept.get("a", S).is_none());
    }
}
