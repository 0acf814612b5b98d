//! The two exposition formats `/metrics` speaks. prometheus-client writes
//! OpenMetrics; a scraper that does not ask for it (`Accept` without
//! `application/openmetrics-text`, as `curl` or `promtool check metrics`)
//! gets the classic Prometheus text format 0.0.4, converted here: counter
//! families are named with their `_total` suffix, and the OpenMetrics-only
//! `# UNIT` and `# EOF` lines are dropped.

/// Content type of OpenMetrics text 1.0.0.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Content type of the Prometheus text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether an `Accept` header value asks for OpenMetrics.
pub fn wants_openmetrics(accept: &str) -> bool {
    accept.split(',').any(|item| item.trim().starts_with("application/openmetrics-text"))
}

/// Rewrites OpenMetrics text as Prometheus text format 0.0.4.
pub fn openmetrics_to_text(openmetrics: &str) -> String {
    let counters = counter_families(openmetrics);
    let mut text = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        match descriptor(line) {
            Some((keyword, name, rest)) if counters.contains(&name) => {
                text.push_str(&format!("# {keyword} {name}_total{rest}"));
            }
            _ => text.push_str(line),
        }
        text.push('\n');
    }
    text
}

/// The names of the families declared `counter`.
fn counter_families(openmetrics: &str) -> Vec<&str> {
    openmetrics
        .lines()
        .filter_map(descriptor)
        .filter(|(keyword, _, rest)| *keyword == "TYPE" && rest.trim() == "counter")
        .map(|(_, name, _)| name)
        .collect()
}

/// Splits `# HELP name text` or `# TYPE name kind` into keyword, name and
/// the rest (with its leading space).
fn descriptor(line: &str) -> Option<(&str, &str, &str)> {
    let body = line.strip_prefix("# ")?;
    let (keyword, after_keyword) = body.split_once(' ')?;
    if keyword != "HELP" && keyword != "TYPE" {
        return None;
    }
    let name_end = after_keyword.find(' ').unwrap_or(after_keyword.len());
    Some((keyword, &after_keyword[..name_end], &after_keyword[name_end..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENMETRICS: &str = "# HELP jobs Jobs admitted.\n# TYPE jobs counter\njobs_total 3\n\
        # HELP delay_seconds Delay.\n# TYPE delay_seconds histogram\n# UNIT delay_seconds seconds\n\
        delay_seconds_sum 0.5\n# TYPE up gauge\nup 1\n# EOF\n";

    #[test]
    fn counters_are_named_with_total_and_openmetrics_lines_dropped() {
        let text = openmetrics_to_text(OPENMETRICS);
        assert!(text.contains("# HELP jobs_total Jobs admitted.\n# TYPE jobs_total counter\njobs_total 3\n"), "{text}");
        assert!(text.contains("# TYPE delay_seconds histogram\ndelay_seconds_sum 0.5\n"), "{text}");
        assert!(text.contains("# TYPE up gauge\nup 1\n"), "{text}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{text}");
    }

    #[test]
    fn accept_header_decides_the_format() {
        assert!(wants_openmetrics("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"));
        assert!(!wants_openmetrics("text/plain"));
        assert!(!wants_openmetrics("*/*"));
    }
}
