//! Which node monitors a placement calls, and with what: offers to nodes
//! that look idle, then batch sampling for the rest.
//!
//! With offers on (the default), up to `ceil(d·m)` candidates are sampled
//! among the eligible nodes; each that looks idle (its [`super::idle`]
//! estimate) is offered as many pending tasks as it has idle slots, with no
//! reservations for them. The tasks not offered get `d` reservations each
//! by batch sampling ([`super::sampler`]), as in Sparrow; a node both
//! offered tasks and sampled gets one call carrying both.
//!
//! Pure code: the caller passes the RNG, the idle estimates and the job's
//! offer decision as closures.

use rand::seq::index;
use rand::Rng;

use super::sampler::sample_nodes;

/// One EnqueueReservations call a placement makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCall<T> {
    /// Index into the caller's slice of eligible nodes.
    pub node_index: usize,
    /// Reservations to queue there (0 for an offer alone).
    pub reservations: u32,
    /// Tasks offered to start at once.
    pub offered: Vec<T>,
}

/// What one placement asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlacementRequest {
    /// Tasks to place.
    pub tasks: u32,
    /// Batch sampling's probe ratio d.
    pub probe_ratio: f64,
    /// Whether tasks are offered to nodes that look idle.
    pub offer_to_idle: bool,
    /// Eligible nodes.
    pub eligible: usize,
}

/// Plans the calls of one placement. `idle_slots(node_index)` is the node's
/// idle estimate; `offer(node_index, max)` hands up to `max` pending tasks
/// to that node and returns them (fewer, or none, when the job has fewer
/// pending). Calls are listed offers first, each node at most once.
pub fn plan_calls<T, R: Rng + ?Sized>(
    request: PlacementRequest,
    rng: &mut R,
    mut idle_slots: impl FnMut(usize) -> u32,
    mut offer: impl FnMut(usize, u32) -> Vec<T>,
) -> Vec<PlannedCall<T>> {
    let mut plan: Vec<PlannedCall<T>> = Vec::new();
    let mut to_probe = request.tasks as usize;
    if request.eligible == 0 || to_probe == 0 {
        return plan;
    }
    if request.offer_to_idle {
        let wanted = ((f64::from(request.tasks) * request.probe_ratio).ceil() as usize).clamp(1, request.eligible);
        for node_index in index::sample(rng, request.eligible, wanted) {
            if to_probe == 0 {
                break;
            }
            let idle = idle_slots(node_index).min(to_probe as u32);
            if idle == 0 {
                continue;
            }
            let offered = offer(node_index, idle);
            if offered.is_empty() {
                continue;
            }
            to_probe = to_probe.saturating_sub(offered.len());
            plan.push(PlannedCall { node_index, reservations: 0, offered });
        }
    }
    if to_probe > 0 {
        for probe in sample_nodes(request.eligible, to_probe, request.probe_ratio, rng) {
            match plan.iter_mut().find(|call| call.node_index == probe.node_index) {
                Some(call) => call.reservations += probe.reservations,
                None => plan.push(PlannedCall {
                    node_index: probe.node_index,
                    reservations: probe.reservations,
                    offered: Vec::new(),
                }),
            }
        }
    }
    plan
}

#[cfg(test)]
#[path = "offers_tests.rs"]
mod tests;
