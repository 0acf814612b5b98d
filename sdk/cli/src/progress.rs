//! The progress bar of `passer submit`: tasks done out of the job, rate and
//! ETA, drawn on stderr only when stdout and stderr are terminals and the
//! job has more than a few tasks, so piped output stays clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

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
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} tasks  {rate}  ETA {eta}  {msg}",
    )
    .map(|style| style.with_key("rate", write_rate))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// The rate as a person reads it: `163/s`, `2.5/s` below ten, `41.2k/s`.
fn format_rate(per_second: f64) -> String {
    if per_second >= 10_000.0 {
        format!("{:.1}k/s", per_second / 1000.0)
    } else if per_second >= 10.0 {
        format!("{per_second:.0}/s")
    } else {
        format!("{per_second:.1}/s")
    }
}

fn write_rate(state: &ProgressState, writer: &mut dyn std::fmt::Write) {
    let _ = writer.write_str(&format_rate(state.per_sec()));
}

#[cfg(test)]
mod tests {
    use super::format_rate;

    #[test]
    fn rates_print_without_spurious_decimals() {
        assert_eq!(format_rate(163.0151), "163/s");
        assert_eq!(format_rate(2.54), "2.5/s");
        assert_eq!(format_rate(41_234.0), "41.2k/s");
        assert_eq!(format_rate(0.0), "0.0/s");
    }
}
