//! The progress bar of `passer submit`: tasks done out of the job, rate and
//! ETA, drawn on stderr only when stdout and stderr are terminals and the
//! job has more than a few tasks, so piped output stays clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

/// Jobs with at most this many tasks get no bar.
pub(crate) const MIN_TASKS_FOR_BAR: usize = 10;

/// A bar for a job of `tasks`, or a hidden one when it would not help.
pub(crate) fn job_bar(tasks: usize, wanted: bool) -> ProgressBar {
    let interactive = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    if !(wanted && interactive && tasks > MIN_TASKS_FOR_BAR) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(tasks as u64);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} tasks  {per_sec}  ETA {eta}  {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}
