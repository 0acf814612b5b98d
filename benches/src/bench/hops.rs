//! The per-hop breakdown of a single-task round trip: from the wall-clock
//! stamps a result carries ([`passer::pb::HopTimes`], stamped by the
//! scheduler and the node monitor) plus the client's own submit and receive
//! times, how long each hop took, and the medians over many round trips.
//!
//! Pure code: the stamps are passed in. Every process runs on one host in
//! the benchmark, so their clocks agree.

use passer::pb;
use serde::Serialize;

use super::stats::Summary;

/// The hops, in the order a task passes them.
pub const HOP_NAMES: [&str; 9] = [
    "client submits → scheduler accepts",
    "accepted → node asks (reservation, node queue) or offer sent",
    "node asks → scheduler grants (0 for an offer)",
    "grant → node receives it",
    "node: grant received → result reported, minus the executor",
    "in the executor (as the node measured it)",
    "node reports → scheduler receives",
    "scheduler receives → result sent to the client",
    "result sent → client receives",
];

/// One round trip's stamps, in microseconds since the Unix epoch unless said.
#[derive(Debug, Clone, Copy)]
pub struct RoundTripStamps {
    /// The client called submit.
    pub submitted_us: u64,
    /// The client had the result.
    pub client_received_us: u64,
    /// Microseconds from acceptance until the scheduler had the result (`TaskFinished.total_micros`).
    pub total_micros: u64,
    /// Microseconds in the executor, as the node measured them (`TaskFinished.run_micros`).
    pub run_micros: u64,
    /// The stamps of the scheduler and the node monitor.
    pub hops: pb::HopTimes,
}

impl RoundTripStamps {
    /// Each hop's duration in microseconds, in the order of [`HOP_NAMES`];
    /// `None` if a stamp is missing. The acceptance time is the scheduler's
    /// receipt of the result less `total_micros`. A task offered to an idle
    /// node was never asked for: its ask counts as its grant (the offer).
    /// The hops add up to the round trip.
    pub fn hop_micros(&self) -> Option<[f64; 9]> {
        let mut hops = self.hops;
        if hops.asked_us == 0 {
            hops.asked_us = hops.granted_us;
        }
        let stamps =
            [hops.granted_us, hops.node_received_us, hops.reported_us, hops.scheduler_received_us, hops.result_sent_us];
        if stamps.contains(&0) || self.submitted_us == 0 || self.client_received_us == 0 {
            return None;
        }
        let between = |from: u64, to: u64| to as f64 - from as f64;
        let accepted_us = hops.scheduler_received_us.saturating_sub(self.total_micros);
        let on_node = between(hops.node_received_us, hops.reported_us);
        Some([
            between(self.submitted_us, accepted_us),
            between(accepted_us, hops.asked_us),
            between(hops.asked_us, hops.granted_us),
            between(hops.granted_us, hops.node_received_us),
            on_node - self.run_micros as f64,
            self.run_micros as f64,
            between(hops.reported_us, hops.scheduler_received_us),
            between(hops.scheduler_received_us, hops.result_sent_us),
            between(hops.result_sent_us, self.client_received_us),
        ])
    }
}

/// The median (and p90) of one hop over the round trips.
#[derive(Debug, Clone, Serialize)]
pub struct HopSummary {
    /// What the hop is.
    pub hop: String,
    /// Its duration in microseconds.
    pub micros: Summary,
}

/// Summarises each hop over `round_trips`; round trips missing a stamp are
/// left out. Empty when none had every stamp.
pub fn summarise(round_trips: &[RoundTripStamps]) -> Vec<HopSummary> {
    let all: Vec<[f64; 9]> = round_trips.iter().filter_map(RoundTripStamps::hop_micros).collect();
    if all.is_empty() {
        return Vec::new();
    }
    HOP_NAMES
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let samples: Vec<f64> = all.iter().map(|hops| hops[index]).collect();
            HopSummary { hop: (*name).to_owned(), micros: Summary::of(&samples) }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamps() -> RoundTripStamps {
        RoundTripStamps {
            submitted_us: 1_000,
            client_received_us: 1_400,
            total_micros: 300,
            run_micros: 20,
            hops: pb::HopTimes {
                asked_us: 1_100,
                granted_us: 1_150,
                node_received_us: 1_180,
                reported_us: 1_250,
                scheduler_received_us: 1_330,
                result_sent_us: 1_350,
            },
        }
    }

    #[test]
    fn hops_follow_the_stamps_and_add_up_to_the_round_trip() {
        let hops = stamps().hop_micros().expect("all stamps");
        // Accepted at 1330 - 300 = 1030.
        assert_eq!(hops, [30.0, 70.0, 50.0, 30.0, 50.0, 20.0, 80.0, 20.0, 50.0]);
        assert_eq!(hops.iter().sum::<f64>(), 400.0);
    }

    #[test]
    fn an_offered_task_counts_no_ask() {
        let mut offered = stamps();
        offered.hops.asked_us = 0;
        let hops = offered.hop_micros().expect("an offer has every other stamp");
        assert_eq!(hops[1], 120.0);
        assert_eq!(hops[2], 0.0);
        assert_eq!(hops.iter().sum::<f64>(), 400.0);
    }

    #[test]
    fn a_missing_stamp_leaves_the_round_trip_out() {
        let mut partial = stamps();
        partial.hops.node_received_us = 0;
        assert_eq!(partial.hop_micros(), None);
        assert!(summarise(&[partial]).is_empty());
        let summary = summarise(&[partial, stamps()]);
        assert_eq!(summary.len(), HOP_NAMES.len());
        assert_eq!(summary[0].micros.count, 1);
        assert_eq!(summary[2].micros.p50, 50.0);
    }
}
