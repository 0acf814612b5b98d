//! Which attached executors have stopped answering. An executor that sends
//! heartbeats on its attach stream (the Rust and Python SDKs do, every few
//! seconds) promises to keep sending something; one silent for longer than
//! the silence limit is presumed hung (stopped, deadlocked, swapped out):
//! the node monitor withdraws its slots and hands its tasks back to be
//! placed again. Executors that never sent a heartbeat (built-ins, minimal
//! third-party ones) are not held to it.
//!
//! Pure code: no I/O, no clock; time is passed in.

use std::collections::HashMap;
use std::time::Duration;

use crate::slots::InstanceId;

#[derive(Debug, Clone, Copy)]
struct Heard {
    last: Duration,
    sends_heartbeats: bool,
}

/// When each attached executor instance was last heard from.
#[derive(Debug)]
pub struct Liveness {
    silence_limit: Duration,
    by_instance: HashMap<InstanceId, Heard>,
}

impl Liveness {
    /// Instances that send heartbeats are withdrawn after `silence_limit`
    /// without any message.
    pub fn new(silence_limit: Duration) -> Self {
        Self { silence_limit, by_instance: HashMap::new() }
    }

    /// An instance attached at `now`.
    pub fn attach(&mut self, instance: InstanceId, now: Duration) {
        self.by_instance.insert(instance, Heard { last: now, sends_heartbeats: false });
    }

    /// A message came from `instance` at `now`; `heartbeat` when it was one.
    pub fn heard(&mut self, instance: InstanceId, now: Duration, heartbeat: bool) {
        if let Some(heard) = self.by_instance.get_mut(&instance) {
            heard.last = heard.last.max(now);
            heard.sends_heartbeats |= heartbeat;
        }
    }

    /// The instance is gone.
    pub fn detach(&mut self, instance: InstanceId) {
        self.by_instance.remove(&instance);
    }

    /// Instances that send heartbeats and have been silent past the limit
    /// at `now`, in id order.
    pub fn silent(&self, now: Duration) -> Vec<InstanceId> {
        let mut silent: Vec<InstanceId> = self
            .by_instance
            .iter()
            .filter(|(_, heard)| heard.sends_heartbeats && heard.last + self.silence_limit <= now)
            .map(|(instance, _)| *instance)
            .collect();
        silent.sort_unstable();
        silent
    }

    /// The silence limit.
    pub fn silence_limit(&self) -> Duration {
        self.silence_limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn only_executors_that_send_heartbeats_are_held_to_them() {
        let mut liveness = Liveness::new(secs(3));
        liveness.attach(1, secs(0));
        liveness.attach(2, secs(0));
        liveness.heard(2, secs(1), true);
        assert!(liveness.silent(secs(3)).is_empty(), "2 was heard at 1 s");
        assert_eq!(liveness.silent(secs(4)), vec![2], "1 never sent a heartbeat");
        liveness.heard(2, secs(4), false);
        assert!(liveness.silent(secs(6)).is_empty(), "any message counts as life");
        assert_eq!(liveness.silent(secs(7)), vec![2]);
        liveness.detach(2);
        assert!(liveness.silent(secs(100)).is_empty());
    }
}
