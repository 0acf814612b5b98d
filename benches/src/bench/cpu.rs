//! CPU time per job: parsing `/proc/PID/stat` and turning two snapshots of
//! the cluster's processes into CPU time per job and per task for each role.
//!
//! Pure code: the text of the stat files is passed in (the cluster reads
//! them, [`super::cluster::BenchCluster::cpu_snapshot`]), so the parsing and
//! the arithmetic are unit-tested without processes.

use serde::Serialize;

/// Clock ticks per second of the `utime`/`stime` fields: Linux reports them
/// in `USER_HZ`, which is 100 on every architecture passer runs on.
pub const TICKS_PER_SECOND: f64 = 100.0;

/// CPU time a process has used, in clock ticks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTicks {
    /// In user mode (`utime`, field 14).
    pub user: u64,
    /// In the kernel (`stime`, field 15).
    pub system: u64,
}

impl CpuTicks {
    /// User plus system time.
    pub fn total(&self) -> u64 {
        self.user + self.system
    }
}

/// Reads `utime` and `stime` from the text of `/proc/PID/stat`. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted
/// from the last `)`.
pub fn parse_stat(stat: &str) -> Result<CpuTicks, String> {
    let (_, after_name) = stat.rsplit_once(')').ok_or_else(|| format!("no command name in stat line {stat:?}"))?;
    // After the name: field 3 (state) is index 0, so utime (14) is index 11.
    let mut fields = after_name.split_whitespace().skip(11);
    let mut field = |name: &str| -> Result<u64, String> {
        let text = fields.next().ok_or_else(|| format!("stat line too short for {name}: {stat:?}"))?;
        text.parse().map_err(|_| format!("{name} is not a number: {text:?}"))
    };
    let user = field("utime")?;
    let system = field("stime")?;
    Ok(CpuTicks { user, system })
}

/// CPU ticks of each role of a cluster at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuSnapshot {
    /// The scheduler processes.
    pub scheduler: CpuTicks,
    /// The node monitor processes.
    pub node_monitors: CpuTicks,
    /// The executor processes the node monitors supervise (zero with built-in executors).
    pub executors: CpuTicks,
}

/// CPU time of one role over the measured phase.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct RoleCpu {
    /// CPU seconds (user + system).
    pub seconds: f64,
    /// Microseconds of CPU per job.
    pub per_job_us: f64,
    /// Microseconds of CPU per task.
    pub per_task_us: f64,
}

/// CPU time each role used over a measured phase, per job and per task.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CpuPerJob {
    /// Jobs run in the phase.
    pub jobs: usize,
    /// Tasks run in the phase.
    pub tasks: usize,
    /// The scheduler.
    pub scheduler: RoleCpu,
    /// The node monitors together.
    pub node_monitors: RoleCpu,
    /// The executor processes together.
    pub executors: RoleCpu,
    /// All of the above.
    pub total: RoleCpu,
}

impl CpuPerJob {
    /// The CPU used between `before` and `after` by a phase of `jobs` jobs of
    /// `tasks` tasks in all. A process that restarted in between (its ticks
    /// went down) counts zero rather than a negative time.
    pub fn between(before: &CpuSnapshot, after: &CpuSnapshot, jobs: usize, tasks: usize) -> CpuPerJob {
        let role = |before: CpuTicks, after: CpuTicks| {
            let ticks = after.total().saturating_sub(before.total());
            let seconds = ticks as f64 / TICKS_PER_SECOND;
            RoleCpu {
                seconds,
                per_job_us: seconds * 1e6 / jobs.max(1) as f64,
                per_task_us: seconds * 1e6 / tasks.max(1) as f64,
            }
        };
        let scheduler = role(before.scheduler, after.scheduler);
        let node_monitors = role(before.node_monitors, after.node_monitors);
        let executors = role(before.executors, after.executors);
        let seconds = scheduler.seconds + node_monitors.seconds + executors.seconds;
        let total = RoleCpu {
            seconds,
            per_job_us: scheduler.per_job_us + node_monitors.per_job_us + executors.per_job_us,
            per_task_us: scheduler.per_task_us + node_monitors.per_task_us + executors.per_task_us,
        };
        CpuPerJob { jobs, tasks, scheduler, node_monitors, executors, total }
    }

    /// One line per role, for the console.
    pub fn lines(&self) -> Vec<String> {
        let roles = [
            ("scheduler", &self.scheduler),
            ("node monitors", &self.node_monitors),
            ("executors", &self.executors),
            ("total", &self.total),
        ];
        roles
            .iter()
            .map(|(name, role)| {
                format!(
                    "  cpu {name:<13} {:>7.3} s = {:>6.1} µs/job, {:>6.1} µs/task",
                    role.seconds, role.per_job_us, role.per_task_us
                )
            })
            .collect()
    }
}

/// Adds the ticks of several processes.
pub fn sum_ticks(ticks: impl IntoIterator<Item = CpuTicks>) -> CpuTicks {
    ticks
        .into_iter()
        .fold(CpuTicks::default(), |sum, one| CpuTicks { user: sum.user + one.user, system: sum.system + one.system })
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "4242 (passer-node-mo) S 4200 4242 4200 0 -1 4194560 5179 0 0 0 731 254 0 0 20 0 \
                        3 0 9876 123456789 2345 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0";

    #[test]
    fn parses_utime_and_stime() {
        assert_eq!(parse_stat(STAT), Ok(CpuTicks { user: 731, system: 254 }));
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_fields() {
        let stat = STAT.replace("(passer-node-mo)", "(a ) b (c))");
        assert_eq!(parse_stat(&stat), Ok(CpuTicks { user: 731, system: 254 }));
    }

    #[test]
    fn bad_lines_name_what_is_wrong() {
        assert!(parse_stat("no name here").unwrap_err().contains("command name"));
        assert!(parse_stat("1 (x) S 0 0").unwrap_err().contains("utime"));
        let garbled = STAT.replace(" 731 ", " seven ");
        assert!(parse_stat(&garbled).unwrap_err().contains("utime is not a number"));
    }

    #[test]
    fn per_job_and_per_task_follow_from_the_tick_difference() {
        let before = CpuSnapshot {
            scheduler: CpuTicks { user: 100, system: 50 },
            node_monitors: CpuTicks { user: 10, system: 10 },
            executors: CpuTicks::default(),
        };
        let after = CpuSnapshot {
            scheduler: CpuTicks { user: 200, system: 100 },
            node_monitors: CpuTicks { user: 60, system: 10 },
            executors: CpuTicks { user: 0, system: 0 },
        };
        let cpu = CpuPerJob::between(&before, &after, 1000, 10_000);
        assert!((cpu.scheduler.seconds - 1.5).abs() < 1e-9);
        assert!((cpu.scheduler.per_job_us - 1500.0).abs() < 1e-6);
        assert!((cpu.scheduler.per_task_us - 150.0).abs() < 1e-6);
        assert!((cpu.node_monitors.seconds - 0.5).abs() < 1e-9);
        assert!((cpu.total.seconds - 2.0).abs() < 1e-9);
        assert!((cpu.total.per_job_us - 2000.0).abs() < 1e-6);
        assert_eq!(cpu.lines().len(), 4);
    }

    #[test]
    fn a_restarted_process_counts_zero_not_negative() {
        let before = CpuSnapshot { executors: CpuTicks { user: 500, system: 0 }, ..CpuSnapshot::default() };
        let after = CpuSnapshot { executors: CpuTicks { user: 20, system: 0 }, ..CpuSnapshot::default() };
        assert_eq!(CpuPerJob::between(&before, &after, 1, 1).executors.seconds, 0.0);
    }

    #[test]
    fn sums_processes() {
        let sum = sum_ticks([CpuTicks { user: 1, system: 2 }, CpuTicks { user: 3, system: 4 }]);
        assert_eq!(sum, CpuTicks { user: 4, system: 6 });
    }
}
