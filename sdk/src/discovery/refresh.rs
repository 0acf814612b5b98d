//! Keeps one source's address set fresh in the background: looks it up
//! again when its TTL runs out (clamped between a floor and a ceiling),
//! keeps the last good set when a lookup fails or comes back empty (logged
//! once until it recovers), and publishes every change on a `watch`
//! channel that readers consult without waiting.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{DiscoveryError, Resolved, Source};

/// Bounds on the time between lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshLimits {
    /// Shortest time between lookups, whatever the TTL (also the retry
    /// delay after a failure).
    pub floor: Duration,
    /// Longest time between lookups, whatever the TTL.
    pub ceiling: Duration,
}

impl Default for RefreshLimits {
    /// 1 s to 30 s.
    fn default() -> Self {
        Self { floor: Duration::from_secs(1), ceiling: Duration::from_secs(30) }
    }
}

impl RefreshLimits {
    /// Limits from milliseconds, checked: the floor at least 1 ms and not
    /// above the ceiling.
    pub fn from_millis(floor_ms: u64, ceiling_ms: u64) -> Result<Self, DiscoveryError> {
        if floor_ms == 0 || ceiling_ms < floor_ms {
            return Err(DiscoveryError::Config(format!(
                "refresh floor {floor_ms} ms must be at least 1 and not above the ceiling {ceiling_ms} ms"
            )));
        }
        Ok(Self { floor: Duration::from_millis(floor_ms), ceiling: Duration::from_millis(ceiling_ms) })
    }

    /// The wait before the next lookup: the TTL clamped to the limits (the
    /// ceiling when the source gives no TTL).
    pub fn next_delay(&self, ttl_opt: Option<Duration>) -> Duration {
        ttl_opt.unwrap_or(self.ceiling).clamp(self.floor, self.ceiling)
    }
}

/// A live address set and the task refreshing it (stopped on drop).
pub struct Discovery {
    receiver: watch::Receiver<Vec<String>>,
    description: String,
    task_opt: Option<JoinHandle<()>>,
}

impl Discovery {
    /// Looks `source` up once (waiting at most `first_wait`, so a starting
    /// server knows its peers), then refreshes it in the background.
    pub async fn start(source: Source, limits: RefreshLimits, first_wait: Duration) -> Self {
        let description = source.describe();
        let (sender, receiver) = watch::channel(Vec::new());
        let mut refresher = Refresher { source, limits, sender, failing: false };
        let first_delay = match tokio::time::timeout(first_wait, refresher.source.resolve()).await {
            Ok(result) => refresher.apply(result),
            Err(_) => refresher.apply(Err(DiscoveryError::Lookup {
                name: description.clone(),
                message: format!("no answer within {first_wait:?}"),
            })),
        };
        let task_opt = if refresher.source.is_static() { None } else { Some(tokio::spawn(refresher.run(first_delay))) };
        Self { receiver, description, task_opt }
    }

    /// The current addresses (sorted; empty until a lookup succeeded).
    pub fn current(&self) -> Vec<String> {
        self.receiver.borrow().clone()
    }

    /// A receiver that sees every change of the address set.
    pub fn subscribe(&self) -> watch::Receiver<Vec<String>> {
        self.receiver.clone()
    }

    /// What is looked up, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }
}

impl Drop for Discovery {
    fn drop(&mut self) {
        if let Some(task) = self.task_opt.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Discovery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Discovery").field("source", &self.description).finish_non_exhaustive()
    }
}

/// The background half of a [`Discovery`].
struct Refresher {
    source: Source,
    limits: RefreshLimits,
    sender: watch::Sender<Vec<String>>,
    /// Whether the last lookup failed (so a failure streak is logged once).
    failing: bool,
}

impl Refresher {
    async fn run(mut self, first_delay: Duration) {
        let mut delay = first_delay;
        loop {
            tokio::time::sleep(delay).await;
            let result = self.source.resolve().await;
            delay = self.apply(result);
        }
    }

    /// Publishes a good answer or keeps the last one; returns the wait
    /// before the next lookup.
    fn apply(&mut self, result: Result<Resolved, DiscoveryError>) -> Duration {
        match result {
            Ok(resolved) => {
                if self.failing {
                    tracing::info!(source = %self.source.describe(), "discovery lookups work again");
                    self.failing = false;
                }
                let addresses = resolved.addresses;
                self.sender.send_if_modified(|current| {
                    if *current == addresses {
                        return false;
                    }
                    tracing::info!(source = %self.source.describe(), ?addresses, "discovered address set changed");
                    *current = addresses;
                    true
                });
                self.limits.next_delay(resolved.ttl)
            }
            Err(error) => {
                if self.failing {
                    tracing::debug!(source = %self.source.describe(), %error, "discovery lookup still failing");
                } else {
                    tracing::warn!(
                        source = %self.source.describe(),
                        %error,
                        kept = self.sender.borrow().len(),
                        "discovery lookup failed; keeping the last good address set"
                    );
                    self.failing = true;
                }
                self.limits.floor
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_is_clamped_to_the_limits() {
        let limits = RefreshLimits::from_millis(500, 10_000).expect("valid");
        assert_eq!(limits.next_delay(Some(Duration::ZERO)), Duration::from_millis(500));
        assert_eq!(limits.next_delay(Some(Duration::from_secs(3))), Duration::from_secs(3));
        assert_eq!(limits.next_delay(Some(Duration::from_secs(3600))), Duration::from_secs(10));
        assert_eq!(limits.next_delay(None), Duration::from_secs(10));
        assert!(RefreshLimits::from_millis(0, 1).is_err());
        assert!(RefreshLimits::from_millis(2, 1).is_err());
    }

    fn refresher() -> (Refresher, watch::Receiver<Vec<String>>) {
        let (sender, receiver) = watch::channel(Vec::new());
        let source = Source::static_list(vec!["a:1".to_owned()]);
        (Refresher { source, limits: RefreshLimits::default(), sender, failing: false }, receiver)
    }

    #[test]
    fn a_failure_keeps_the_last_good_set() {
        let (mut refresher, receiver) = refresher();
        let good = Resolved::new(vec!["b:2".to_owned(), "a:1".to_owned()], Some(Duration::from_secs(5)));
        assert_eq!(refresher.apply(Ok(good)), Duration::from_secs(5));
        assert_eq!(*receiver.borrow(), ["a:1", "b:2"]);
        let delay = refresher.apply(Err(DiscoveryError::Empty("x".to_owned())));
        assert_eq!(delay, RefreshLimits::default().floor);
        assert!(refresher.failing);
        assert_eq!(*receiver.borrow(), ["a:1", "b:2"], "last good set kept");
        refresher.apply(Ok(Resolved::new(vec!["c:3".to_owned()], None)));
        assert!(!refresher.failing);
        assert_eq!(*receiver.borrow(), ["c:3"]);
    }
}
