//! passer-sim on a small preset (100 nodes): every strategy runs every task
//! exactly once, never two tasks on one slot at once (the ledger checks both
//! inside `run_point`), finishes every job, and repeats itself exactly for the
//! same seed.

use passer_bench::sim::presets::{preset, Preset};
use passer_bench::sim::strategy::Strategy;
use passer_bench::sim::sweep::{run_point, run_preset};

fn small() -> Preset {
    preset("small").expect("the small preset exists")
}

#[test]
fn every_strategy_keeps_the_invariants_at_high_load() {
    let preset = small();
    for strategy in Strategy::ALL {
        let (workload, stats) = run_point(&preset, strategy, 0.95, 2.0, 7).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(stats.finish.len(), workload.jobs.len());
        for (job, (spec, &finish)) in workload.jobs.iter().zip(&stats.finish).enumerate() {
            assert!(finish != u64::MAX, "{strategy}: job {job} never finished");
            assert!(finish >= spec.arrival + spec.task_duration, "{strategy}: job {job} finished too early");
        }
    }
}

#[test]
fn same_seed_same_run_and_another_seed_differs() {
    let preset = small();
    for strategy in Strategy::ALL {
        let (_, first) = run_point(&preset, strategy, 0.8, 2.0, 11).unwrap();
        let (_, second) = run_point(&preset, strategy, 0.8, 2.0, 11).unwrap();
        assert_eq!(first, second, "{strategy} must be deterministic for one seed");
        let (_, other) = run_point(&preset, strategy, 0.8, 2.0, 12).unwrap();
        assert_ne!(first.finish, other.finish, "{strategy}: another seed gives another run");
    }
}

#[test]
fn late_binding_survives_tiny_reservation_queues() {
    let mut preset = small();
    preset.cluster.queue_capacity = 1;
    let (workload, stats) =
        run_point(&preset, Strategy::BatchLateBinding, 0.9, 3.0, 5).unwrap_or_else(|e| panic!("{e}"));
    assert!(stats.finish.iter().all(|&finish| finish != u64::MAX), "refused reservations are re-probed");
    assert!(stats.asks >= workload.task_count / u64::from(preset.cluster.slots_per_node));
}

#[test]
fn late_binding_is_close_to_omniscient_and_random_is_worst() {
    let preset = Preset { loads: vec![0.8], ..small() };
    let rows = run_preset(&preset, 3, |_| {}).unwrap();
    let median = |strategy: Strategy| rows.iter().find(|row| row.strategy == strategy).unwrap().summary.median_ms;
    let omniscient = median(Strategy::Omniscient);
    assert!(median(Strategy::BatchLateBinding) < omniscient * 1.5, "{rows:#?}");
    assert!(median(Strategy::Random) > median(Strategy::BatchLateBinding), "{rows:#?}");
    assert!(Strategy::ALL.iter().all(|&strategy| median(strategy) >= omniscient * 0.99), "{rows:#?}");
}
