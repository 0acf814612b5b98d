//! The offered work: jobs arriving as a Poisson process, each from one of a
//! few job classes, every task of a job equally long (the Sparrow paper's
//! setting), its duration drawn from an exponential distribution.
//!
//! The workload depends only on its seed, never on the strategy, so every
//! strategy in a comparison schedules exactly the same jobs.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::events::{Nanos, MILLI};

/// A kind of job in the mix.
#[derive(Debug, Clone)]
pub struct JobClass {
    /// A short name for tables ("short", "long").
    pub name: &'static str,
    /// The fraction of arriving jobs of this class (shares sum to 1).
    pub share: f64,
    /// Tasks per job.
    pub tasks: u32,
    /// Mean task duration; each job draws one exponentially distributed
    /// duration for all of its tasks.
    pub mean_duration_ms: f64,
    /// The tenant submitting these jobs (an index into the preset's tenants).
    pub tenant: u8,
}

/// One arriving job.
#[derive(Debug, Clone, Copy)]
pub struct JobSpec {
    /// When the job reaches a scheduler.
    pub arrival: Nanos,
    /// Its tasks.
    pub tasks: u32,
    /// How long each of its tasks runs.
    pub task_duration: Nanos,
    /// Its tenant.
    pub tenant: u8,
    /// Its class (index into the workload's classes).
    pub class: u8,
    /// The global index of its first task (tasks are numbered job by job).
    pub first_task: u64,
}

/// The jobs of one run.
#[derive(Debug, Clone)]
pub struct Workload {
    /// Jobs in arrival order.
    pub jobs: Vec<JobSpec>,
    /// Tasks over all jobs.
    pub task_count: u64,
}

/// Mean slot-time one job asks for, in milliseconds.
pub fn mean_work_ms(classes: &[JobClass]) -> f64 {
    classes.iter().map(|class| class.share * f64::from(class.tasks) * class.mean_duration_ms).sum()
}

impl Workload {
    /// `job_count` jobs offering `load` (0..1) of `total_slots`.
    pub fn generate(classes: &[JobClass], job_count: usize, load: f64, total_slots: u64, seed: u64) -> Self {
        assert!(!classes.is_empty() && classes.len() <= usize::from(u8::MAX), "one to 255 job classes");
        let mut rng = SmallRng::seed_from_u64(seed);
        let jobs_per_ms = load * total_slots as f64 / mean_work_ms(classes);
        let mean_gap_ns = MILLI as f64 / jobs_per_ms;
        let mut arrival = 0.0;
        let mut first_task = 0;
        let mut jobs = Vec::with_capacity(job_count);
        for _ in 0..job_count {
            arrival += exponential(&mut rng, mean_gap_ns);
            let class_index = pick_class(classes, rng.random());
            let class = &classes[class_index];
            let duration = exponential(&mut rng, class.mean_duration_ms * MILLI as f64).max(1.0);
            jobs.push(JobSpec {
                arrival: arrival as Nanos,
                tasks: class.tasks,
                task_duration: duration as Nanos,
                tenant: class.tenant,
                class: class_index as u8,
                first_task,
            });
            first_task += u64::from(class.tasks);
        }
        Self { jobs, task_count: first_task }
    }
}

fn pick_class(classes: &[JobClass], draw: f64) -> usize {
    let mut cumulative = 0.0;
    for (index, class) in classes.iter().enumerate() {
        cumulative += class.share;
        if draw < cumulative {
            return index;
        }
    }
    classes.len() - 1
}

/// An exponentially distributed value with the given mean.
fn exponential(rng: &mut SmallRng, mean: f64) -> f64 {
    let uniform: f64 = rng.random();
    -mean * (1.0 - uniform).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_class() -> Vec<JobClass> {
        vec![JobClass { name: "all", share: 1.0, tasks: 10, mean_duration_ms: 100.0, tenant: 0 }]
    }

    #[test]
    fn offers_the_requested_load() {
        let workload = Workload::generate(&one_class(), 20_000, 0.5, 400, 3);
        let span_ms = workload.jobs.last().unwrap().arrival as f64 / MILLI as f64;
        let work_ms: f64 = workload.jobs.iter().map(|j| f64::from(j.tasks) * j.task_duration as f64 / 1e6).sum();
        let offered = work_ms / (span_ms * 400.0);
        assert!((offered - 0.5).abs() < 0.03, "offered load {offered}");
    }

    #[test]
    fn same_seed_same_jobs() {
        let first = Workload::generate(&one_class(), 100, 0.5, 40, 9);
        let second = Workload::generate(&one_class(), 100, 0.5, 40, 9);
        let key = |w: &Workload| w.jobs.iter().map(|j| (j.arrival, j.task_duration)).collect::<Vec<_>>();
        assert_eq!(key(&first), key(&second));
    }
}
