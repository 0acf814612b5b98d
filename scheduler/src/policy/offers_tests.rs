//! Unit tests of the placement plan: offers to idle nodes, then sampling.

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::{plan_calls, PlacementRequest, PlannedCall};

fn request(tasks: u32, eligible: usize, offer_to_idle: bool) -> PlacementRequest {
    PlacementRequest { tasks, probe_ratio: 2.0, offer_to_idle, eligible }
}

/// Hands out task numbers from `pending`, as a job's offer would.
fn offer_from(pending: &mut Vec<u32>) -> impl FnMut(usize, u32) -> Vec<u32> + '_ {
    move |_, max| {
        let take = (max as usize).min(pending.len());
        pending.drain(..take).collect()
    }
}

fn reservations(plan: &[PlannedCall<u32>]) -> u32 {
    plan.iter().map(|call| call.reservations).sum()
}

fn offered(plan: &[PlannedCall<u32>]) -> usize {
    plan.iter().map(|call| call.offered.len()).sum()
}

#[test]
fn offers_off_is_plain_batch_sampling() {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut pending: Vec<u32> = (0..10).collect();
    let plan = plan_calls(request(10, 100, false), &mut rng, |_| 4, offer_from(&mut pending));
    assert_eq!(offered(&plan), 0);
    assert_eq!(reservations(&plan), 20, "d = 2 reservations per task");
    assert_eq!(pending.len(), 10, "nothing offered");
}

#[test]
fn idle_nodes_get_the_tasks_and_no_reservations_are_left() {
    let mut rng = SmallRng::seed_from_u64(2);
    let mut pending: Vec<u32> = (0..10).collect();
    let plan = plan_calls(request(10, 100, true), &mut rng, |_| 4, offer_from(&mut pending));
    assert_eq!(offered(&plan), 10, "every task offered");
    assert_eq!(reservations(&plan), 0, "nothing left to sample");
    assert!(plan.iter().all(|call| call.offered.len() <= 4), "no node offered more than its idle slots");
    assert_eq!(plan.len(), 3, "4 + 4 + 2 tasks");
}

#[test]
fn tasks_no_idle_node_takes_are_sampled_at_the_probe_ratio() {
    let mut rng = SmallRng::seed_from_u64(3);
    let mut pending: Vec<u32> = (0..10).collect();
    // Only node 7 looks idle, with one slot, and only if sampled.
    let idle = |node: usize| u32::from(node == 7);
    let plan = plan_calls(request(10, 20, true), &mut rng, idle, offer_from(&mut pending));
    let offered_count = offered(&plan);
    assert!(offered_count <= 1);
    assert_eq!(reservations(&plan) as usize, 2 * (10 - offered_count));
    let mut nodes: Vec<usize> = plan.iter().map(|call| call.node_index).collect();
    nodes.sort_unstable();
    nodes.dedup();
    assert_eq!(nodes.len(), plan.len(), "each node gets one call");
}

#[test]
fn busy_nodes_and_empty_jobs_get_no_offers() {
    let mut rng = SmallRng::seed_from_u64(4);
    let mut none: Vec<u32> = Vec::new();
    let plan = plan_calls(request(5, 50, true), &mut rng, |_| 4, offer_from(&mut none));
    assert_eq!(offered(&plan), 0, "the job had nothing pending to offer");
    assert_eq!(reservations(&plan), 10);
    let plan = plan_calls(request(5, 50, true), &mut rng, |_| 0, |_, _| vec![1u32]);
    assert_eq!(offered(&plan), 0, "no node looks idle");
    assert!(plan_calls(request(5, 0, true), &mut rng, |_| 4, |_, _| vec![1u32]).is_empty(), "no eligible node");
}

#[test]
fn same_seed_same_plan() {
    let run = |seed| {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut pending: Vec<u32> = (0..30).collect();
        plan_calls(request(30, 200, true), &mut rng, |node| (node % 3) as u32, offer_from(&mut pending))
    };
    assert_eq!(run(9), run(9));
}
