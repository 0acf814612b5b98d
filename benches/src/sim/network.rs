//! The simulated network: every message hop takes half the configured round
//! trip. Uniform, lossless and in order, like the Sparrow paper's simulation.

use super::events::Nanos;

/// Message delays between schedulers and node monitors.
#[derive(Debug, Clone, Copy)]
pub struct Network {
    round_trip: Nanos,
}

impl Network {
    /// A network whose round trip (two hops) takes `round_trip`.
    pub fn new(round_trip: Nanos) -> Self {
        Self { round_trip }
    }

    /// The time one message takes from sender to receiver.
    pub fn hop(&self) -> Nanos {
        self.round_trip / 2
    }

    /// A request and its answer.
    pub fn round_trip(&self) -> Nanos {
        self.round_trip
    }
}
