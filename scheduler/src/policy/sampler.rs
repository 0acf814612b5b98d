//! Batch sampling: which node monitors get how many reservations for a job.
//!
//! Sparrow's batch sampling probes `ceil(d·m)` nodes for a job of `m` tasks
//! and lets late binding pick the `m` that free up first. When there are fewer
//! eligible nodes than probes, every node gets an even share and the remainder
//! goes to randomly chosen nodes, so the total is still `ceil(d·m)`, except
//! that no node gets more than `m`: a node can run at most `m` of the job's
//! tasks, so a reservation beyond that could only ever be cancelled.
//!
//! Pure code: the caller passes the eligible nodes and the RNG.

use rand::seq::index;
use rand::Rng;

/// How many reservations one node receives for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Index into the caller's slice of eligible nodes.
    pub node_index: usize,
    /// Reservations to place there (at least 1).
    pub reservations: u32,
}

/// The number of reservations for `task_count` tasks at `probe_ratio`.
///
/// Never less than `task_count`: a ratio below 1 would strand tasks.
pub fn reservation_count(task_count: usize, probe_ratio: f64) -> u32 {
    let ratio = if probe_ratio.is_finite() && probe_ratio >= 1.0 { probe_ratio } else { 1.0 };
    let wanted = (task_count as f64 * ratio).ceil() as u64;
    wanted.max(task_count as u64).min(u64::from(u32::MAX)) as u32
}

/// Chooses probes for `task_count` tasks among `eligible_nodes` nodes.
///
/// Returns probes sorted by node index, each node at most once, with
/// reservations summing to [`reservation_count`], or to `task_count` per
/// node when the nodes are too few for that (never more per node). Empty when there are no
/// eligible nodes or no tasks.
pub fn sample_nodes<R: Rng + ?Sized>(
    eligible_nodes: usize,
    task_count: usize,
    probe_ratio: f64,
    rng: &mut R,
) -> Vec<Probe> {
    if eligible_nodes == 0 || task_count == 0 {
        return Vec::new();
    }
    let total = (reservation_count(task_count, probe_ratio) as usize).min(eligible_nodes.saturating_mul(task_count));
    let mut probes: Vec<Probe> = if total <= eligible_nodes {
        index::sample(rng, eligible_nodes, total)
            .into_iter()
            .map(|node_index| Probe { node_index, reservations: 1 })
            .collect()
    } else {
        spread_over_all(eligible_nodes, total, rng)
    };
    probes.sort_unstable_by_key(|probe| probe.node_index);
    debug_assert_eq!(probes.iter().map(|p| p.reservations as usize).sum::<usize>(), total);
    probes
}

/// Every node gets `total / n`; `total % n` random nodes get one more.
fn spread_over_all<R: Rng + ?Sized>(node_count: usize, total: usize, rng: &mut R) -> Vec<Probe> {
    let base = (total / node_count) as u32;
    let extra = total % node_count;
    let mut probes: Vec<Probe> = (0..node_count).map(|node_index| Probe { node_index, reservations: base }).collect();
    for node_index in index::sample(rng, node_count, extra) {
        probes[node_index].reservations += 1;
    }
    probes.retain(|probe| probe.reservations > 0);
    probes
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn probes_d_times_m_distinct_nodes_when_enough() {
        let mut rng = StdRng::seed_from_u64(7);
        let probes = sample_nodes(100, 10, 2.0, &mut rng);
        assert_eq!(probes.len(), 20);
        assert!(probes.iter().all(|p| p.reservations == 1));
        let mut nodes: Vec<usize> = probes.iter().map(|p| p.node_index).collect();
        nodes.dedup();
        assert_eq!(nodes.len(), 20, "nodes must be distinct");
    }

    #[test]
    fn rounds_up_fractional_ratio() {
        assert_eq!(reservation_count(10, 1.05), 11);
        assert_eq!(reservation_count(500, 2.0), 1000);
        assert_eq!(reservation_count(3, 0.5), 3, "ratio below 1 is treated as 1");
        assert_eq!(reservation_count(3, f64::NAN), 3);
    }

    #[test]
    fn fewer_nodes_than_probes_spreads_several_per_node() {
        let mut rng = StdRng::seed_from_u64(1);
        let probes = sample_nodes(3, 500, 2.0, &mut rng);
        assert_eq!(probes.len(), 3);
        let total: u32 = probes.iter().map(|p| p.reservations).sum();
        assert_eq!(total, 1000);
        let (min, max) =
            probes.iter().fold((u32::MAX, 0), |(lo, hi), p| (lo.min(p.reservations), hi.max(p.reservations)));
        assert!(max - min <= 1, "shares differ by at most one: {probes:?}");
    }

    #[test]
    fn no_node_gets_more_reservations_than_the_job_has_tasks() {
        let mut rng = StdRng::seed_from_u64(3);
        let single = sample_nodes(2, 1, 3.0, &mut rng);
        assert_eq!(single, vec![Probe { node_index: 0, reservations: 1 }, Probe { node_index: 1, reservations: 1 }]);
        let probes = sample_nodes(2, 4, 3.0, &mut rng);
        assert!(probes.iter().all(|p| p.reservations == 4), "capped at the job's 4 tasks: {probes:?}");
        let roomy = sample_nodes(3, 4, 3.0, &mut rng);
        assert_eq!(roomy.iter().map(|p| p.reservations).sum::<u32>(), 12, "d·m fits under the cap: {roomy:?}");
    }

    #[test]
    fn no_nodes_or_no_tasks_gives_no_probes() {
        let mut rng = StdRng::seed_from_u64(1);
        assert!(sample_nodes(0, 5, 2.0, &mut rng).is_empty());
        assert!(sample_nodes(5, 0, 2.0, &mut rng).is_empty());
    }

    #[test]
    fn choice_is_uniform_over_nodes() {
        let mut rng = StdRng::seed_from_u64(42);
        let node_count = 10;
        let mut hits = vec![0u32; node_count];
        let rounds = 20_000;
        for _ in 0..rounds {
            for probe in sample_nodes(node_count, 1, 2.0, &mut rng) {
                hits[probe.node_index] += 1;
            }
        }
        let expected = (rounds * 2 / node_count) as f64;
        for (node, count) in hits.iter().enumerate() {
            let deviation = (f64::from(*count) - expected).abs() / expected;
            assert!(deviation < 0.05, "node {node} chosen {count} times, expected ~{expected}");
        }
    }

    #[test]
    fn same_seed_same_sample() {
        let first = sample_nodes(50, 7, 2.0, &mut StdRng::seed_from_u64(9));
        let second = sample_nodes(50, 7, 2.0, &mut StdRng::seed_from_u64(9));
        assert_eq!(first, second);
    }

    proptest::proptest! {
        #[test]
        fn reservations_sum_to_ceil_d_m_capped_at_m_per_node(
            nodes in 1usize..200, tasks in 1usize..2000, ratio in 1.0f64..4.0, seed in 0u64..1000
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let probes = sample_nodes(nodes, tasks, ratio, &mut rng);
            let total: u64 = probes.iter().map(|p| u64::from(p.reservations)).sum();
            let cap = (nodes * tasks) as u64;
            proptest::prop_assert_eq!(total, u64::from(reservation_count(tasks, ratio)).min(cap));
            proptest::prop_assert!(probes.iter().all(|p| p.node_index < nodes && p.reservations > 0));
            proptest::prop_assert!(probes.iter().all(|p| p.reservations as usize <= tasks));
            proptest::prop_assert!(probes.windows(2).all(|w| w[0].node_index < w[1].node_index));
        }
    }
}
