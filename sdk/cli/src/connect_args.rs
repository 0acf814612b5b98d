//! `--connect-timeout`, shared by the commands that submit jobs: how long
//! to keep trying when no scheduler answers at all before failing with
//! each address and why.

use std::time::Duration;

use clap::Args;

/// The flag and its parsing.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnectArgs {
    /// Give up after this long when no scheduler answers at all (connection
    /// refused, no answer, not a scheduler), naming each address and why:
    /// seconds, or with a unit (`500ms`, `10s`, `2m`).
    #[arg(long, env = "PASSER_CONNECT_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub(crate) connect_timeout: Duration,
}

/// Parses `10`, `2.5`, `500ms`, `10s` or `2m`.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let (number, scale) = if let Some(millis) = trimmed.strip_suffix("ms") {
        (millis, 0.001)
    } else if let Some(seconds) = trimmed.strip_suffix('s') {
        (seconds, 1.0)
    } else if let Some(minutes) = trimmed.strip_suffix('m') {
        (minutes, 60.0)
    } else {
        (trimmed, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| format!("{text:?} is not a duration such as 10s or 500ms"))?;
    if !(value.is_finite() && value > 0.0) {
        return Err(format!("{text:?} must be above zero"));
    }
    Ok(Duration::from_secs_f64(value * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_and_without_units() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
