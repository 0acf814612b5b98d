//! passer-sim on a small preset (100 nodes): every strategy runs every task
//! exactly once, never two tasks on one slot at once (the ledger checks both
//! inside `run_point`), finishes every job, and repeats itself exactly for the
//! same seed.

use passer_bench::sim::presets::{preset, Preset};
use passer_bench::sim::strategy::Strategy;
use passer_bench::sim::sweep::{run_point, run_preset, run_preset_seeds};

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
            // Every strategy pays at least the hop to the node and the
            // result's hop back, the omniscient one included.
            let floor = spec.arrival + spec.task_duration + preset.cluster.round_trip;
            assert!(finish >= floor, "{strategy}: job {job} finished before its result could arrive");
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

#[test]
fn seeds_are_averaged_with_their_spread_and_each_row_names_its_configuration() {
    let preset = Preset { loads: vec![0.8], ..small() };
    let seeds = [3, 4, 5];
    let rows = run_preset_seeds(&preset, &seeds, 2, |_| {}).unwrap();
    assert_eq!(rows.len(), Strategy::ALL.len(), "one row per strategy, in order: {rows:#?}");
    for (row, strategy) in rows.iter().zip(Strategy::ALL) {
        assert_eq!(row.strategy, strategy);
        assert_eq!(row.seeds, seeds.len());
        let spread = row.median_spread;
        assert!(spread.min_ms <= row.summary.median_ms && row.summary.median_ms <= spread.max_ms, "{row:#?}");
        assert!(spread.max_ms > spread.min_ms, "{strategy}: three seeds give three medians: {row:#?}");
        assert!(!row.configuration_detail.is_empty());
    }
    let late_binding = rows.iter().find(|row| row.strategy == Strategy::BatchLateBinding).unwrap();
    assert_eq!(late_binding.configuration, "default", "the simulator runs the production defaults");
    assert!(late_binding.configuration_detail.contains("offers to idle on"), "{}", late_binding.configuration_detail);
    let single = run_preset(&preset, 3, |_| {}).unwrap();
    let mean_of_seeds: f64 =
        seeds.iter().map(|&seed| run_preset(&preset, seed, |_| {}).unwrap()[0].summary.median_ms).sum::<f64>()
            / seeds.len() as f64;
    assert!((rows[0].summary.median_ms - mean_of_seeds).abs() < 1e-9, "the mean of the seeds' medians");
    assert_eq!(single[0].seeds, 1);
}

#[test]
fn offers_to_idle_can_be_turned_off_and_the_row_says_so() {
    let mut preset = Preset { loads: vec![0.8], strategies: vec![Strategy::BatchLateBinding], ..small() };
    preset.cluster.offer_to_idle = Some(false);
    let rows = run_preset(&preset, 2, |_| {}).unwrap();
    assert_eq!(rows[0].configuration, "modified");
    assert!(rows[0].configuration_detail.contains("offers to idle off"), "{}", rows[0].configuration_detail);
}
