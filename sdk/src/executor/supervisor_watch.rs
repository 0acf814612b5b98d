//! Exiting with the supervising node monitor: a node monitor that starts an
//! executor sets `PASSER_SUPERVISOR_PID` to its own pid, and the executor
//! stops once that process is gone (killed, crashed), instead of retrying to
//! attach to it forever. A restarted node monitor starts executors anew.

use std::time::Duration;

pub(crate) use passer_proto::SUPERVISOR_PID_ENV;

/// How often the supervisor's liveness is checked.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);

/// Parses the supervisor's pid; `None` when unset, empty or not a pid.
pub(crate) fn supervisor_pid(value_opt: Option<String>) -> Option<u32> {
    value_opt.and_then(|value| value.trim().parse().ok()).filter(|&pid| pid > 1)
}

/// Resolves once process `pid` no longer runs (gone, or a zombie).
pub(crate) async fn supervisor_gone(pid: u32) {
    let mut interval = tokio::time::interval(CHECK_INTERVAL);
    loop {
        interval.tick().await;
        if !is_running(pid) {
            return;
        }
    }
}

/// True if `pid` is a live process. Where `/proc` is missing (not Linux),
/// always true: the executor then relies on the stream breaking.
fn is_running(pid: u32) -> bool {
    if !std::path::Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name: "Z" is a zombie.
        Ok(stat) => stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_plausible_pids() {
        assert_eq!(supervisor_pid(Some(" 4242 ".into())), Some(4242));
        assert_eq!(supervisor_pid(Some("1".into())), None, "init supervises nobody here");
        assert_eq!(supervisor_pid(Some("me".into())), None);
        assert_eq!(supervisor_pid(None), None);
    }

    #[tokio::test]
    async fn notices_a_process_that_exited() {
        assert!(is_running(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("reap");
        tokio::time::timeout(Duration::from_secs(5), supervisor_gone(pid)).await.expect("noticed within 5 s");
    }
}
