//! Why a scheduler address did not take a submission, in words a user can
//! act on: "connection refused", "not a gRPC server", "this is a node
//! monitor, not a scheduler", and the record of every address tried that
//! the client's "no scheduler answered" error lists.

use std::fmt::Write as _;
use std::time::Duration;

use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::error::error_chain;

/// The health-service name a node monitor reports as serving.
const NODE_MONITOR_SERVICE: &str = "passer.v1.NodeMonitor";

/// How long the node-monitor probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// What went wrong with one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreached {
    /// The reason, such as `connection refused`.
    pub(crate) reason: String,
    /// Whether retrying this address cannot help (it is not a scheduler).
    pub(crate) permanent: bool,
    /// Whether nothing serves there (refused, unresolvable, unroutable, or
    /// not a scheduler): such failures count toward the connect timeout. A
    /// listener that stays silent may be a frozen scheduler and is waited for.
    pub(crate) absent: bool,
}

impl Unreached {
    fn absent(reason: String) -> Self {
        Self { reason, permanent: false, absent: true }
    }

    fn wrong(reason: String) -> Self {
        Self { reason, permanent: true, absent: true }
    }

    /// A failure after the connection was made: the peer may be alive.
    pub(crate) fn silent(reason: String) -> Self {
        Self { reason, permanent: false, absent: false }
    }
}

/// A transport-level failure (`UNAVAILABLE` and friends) described briefly.
pub(crate) fn transport_reason(status: &Status) -> Unreached {
    let chain = status_chain(status);
    let lowered = chain.to_ascii_lowercase();
    if lowered.contains("connection refused") {
        return Unreached::absent("connection refused".to_owned());
    }
    if lowered.contains("timed out") && lowered.contains("connect") {
        return Unreached::absent("connect timed out".to_owned());
    }
    if lowered.contains("no route to host") || lowered.contains("network is unreachable") {
        return Unreached::absent(format!("unreachable ({chain})"));
    }
    if lowered.contains("dns error") || lowered.contains("failed to lookup address") {
        return Unreached::absent(format!("cannot resolve the host ({chain})"));
    }
    Unreached::silent(format!("{:?}: {chain}", status.code()))
}

/// Whether a status says the peer answered HTTP but not gRPC: no
/// `grpc-status` (an HTTP error page, or a 200 that ended without one), or
/// a body that is not gRPC-framed (an HTML or JSON page served with 200).
pub(crate) fn not_grpc(status: &Status) -> bool {
    let message = status.message();
    message.contains("grpc-status header missing") || message.contains("invalid compression flag")
}

/// Describes a peer that answered the call with something other than a
/// scheduler's answer: an HTTP server that is not gRPC, or a gRPC server
/// without the `Scheduler` service (asking its health service whether it
/// is a node monitor). `None` when the status is an ordinary refusal.
pub(crate) async fn wrong_server(status: &Status, channel: Channel) -> Option<Unreached> {
    if not_grpc(status) {
        return Some(Unreached::wrong(format!("not a gRPC server ({})", status.message())));
    }
    if status.code() != Code::Unimplemented {
        return None;
    }
    let reason = if is_node_monitor(channel).await {
        "this is a node monitor, not a scheduler".to_owned()
    } else {
        format!("no passer scheduler here (UNIMPLEMENTED: {})", status.message())
    };
    Some(Unreached::wrong(reason))
}

async fn is_node_monitor(channel: Channel) -> bool {
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let request = tonic_health::pb::HealthCheckRequest { service: NODE_MONITOR_SERVICE.to_owned() };
    match tokio::time::timeout(PROBE_TIMEOUT, health.check(request)).await {
        Ok(Ok(response)) => {
            response.get_ref().status() != tonic_health::pb::health_check_response::ServingStatus::ServiceUnknown
        }
        _ => false,
    }
}

/// The last reason of each address tried, in the client's order.
#[derive(Debug, Clone)]
pub(crate) struct Attempts {
    last: Vec<Option<Unreached>>,
}

impl Attempts {
    /// No address tried yet, of `count`.
    pub(crate) fn new(count: usize) -> Self {
        Self { last: vec![None; count] }
    }

    /// Records why address `index` failed this time.
    pub(crate) fn record(&mut self, index: usize, unreached: Unreached) {
        self.last[index] = Some(unreached);
    }

    /// Whether every address failed in a way retrying cannot fix.
    pub(crate) fn all_permanent(&self) -> bool {
        self.last.iter().all(|entry| entry.as_ref().is_some_and(|unreached| unreached.permanent))
    }

    /// `addr: reason; addr: reason` over `addresses` tried so far.
    pub(crate) fn describe(&self, addresses: &[String]) -> String {
        let mut text = String::new();
        for (address, entry) in addresses.iter().zip(&self.last) {
            let Some(unreached) = entry else { continue };
            if !text.is_empty() {
                text.push_str("; ");
            }
            let _ = write!(text, "{address}: {}", unreached.reason);
        }
        text
    }
}

fn status_chain(status: &Status) -> String {
    let mut text = status.message().to_owned();
    if let Some(source) = std::error::Error::source(status) {
        let source_text = error_chain(source);
        if !text.ends_with(&source_text) {
            text.push_str(": ");
            text.push_str(&source_text);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_short_and_named() {
        let refused = Status::unavailable("tcp connect error: Connection refused (os error 111)");
        assert_eq!(transport_reason(&refused), Unreached::absent("connection refused".into()));
        assert!(!transport_reason(&Status::unavailable("h2 protocol error")).absent);
        let http = Status::unimplemented("grpc-status header missing, mapped from HTTP status code 404");
        assert!(not_grpc(&http));
        let page = Status::internal(
            "protocol error: received message with invalid compression flag: 60 (valid flags are 0 and 1) \
             while receiving response with status: 200 OK",
        );
        assert!(not_grpc(&page), "an HTML page served with 200");
        assert!(!not_grpc(&Status::internal("h2 protocol error: stream reset")));
        let mut attempts = Attempts::new(2);
        attempts.record(1, Unreached::absent("connection refused".into()));
        assert!(!attempts.all_permanent());
        assert_eq!(attempts.describe(&["a:1".into(), "b:2".into()]), "b:2: connection refused");
        attempts.record(0, Unreached::wrong("not a gRPC server".into()));
        attempts.record(1, Unreached::wrong("this is a node monitor".into()));
        assert!(attempts.all_permanent());
    }
}
