//! Unit tests of the adaptive admission limit: each rule of the algorithm
//! (idle admits, cut on congestion, growth when used, the floor, the
//! bounds, the floor that follows the cluster's slots) and its behaviour over many intervals (shrinks under sustained
//! delay, recovers once the delay is gone).

use std::time::Duration;

use super::{min_limit_for_slots, AdmissionLimit, AdmissionSettings, IntervalVerdict, ADMISSION_INTERVAL};

const MS: Duration = Duration::from_millis(1);

fn settings(min_limit: u64, max_limit: u64) -> AdmissionSettings {
    AdmissionSettings::new(5 * MS, min_limit, max_limit)
}

/// Runs one interval starting at `start`: `in_flight` tasks observed by a
/// one-task admission, one job whose first launch waited `sojourn`; then
/// closes it. Returns the next interval's start.
fn interval(limit: &mut AdmissionLimit, start: Duration, in_flight: u64, sojourn: Duration) -> Duration {
    let _ = limit.admit(in_flight, 1, start);
    limit.first_launch(sojourn, start + MS);
    let next = start + ADMISSION_INTERVAL;
    limit.roll(next);
    next
}

/// An interval in which the tasks in flight reach the limit.
fn busy_interval(limit: &mut AdmissionLimit, start: Duration, sojourn: Duration) -> Duration {
    let in_flight = limit.limit();
    interval(limit, start, in_flight, sojourn)
}

#[test]
fn starts_at_the_fixed_cap_and_admits_up_to_it() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    assert_eq!(limit.limit(), 1_000);
    assert!(limit.admit(999, 1, MS).is_ok());
    let refusal = limit.admit(999, 2, MS).unwrap_err();
    assert_eq!(refusal.limit, 1_000);
    assert_eq!(refusal.retry_after, ADMISSION_INTERVAL);
}

#[test]
fn never_refuses_when_idle_whatever_the_job_size() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    let mut now = Duration::ZERO;
    for _ in 0..50 {
        now = busy_interval(&mut limit, now, 50 * MS);
    }
    assert_eq!(limit.limit(), 64, "sustained delay took it to the minimum");
    assert!(limit.admit(0, 1_000_000, now).is_ok(), "an idle scheduler admits any job");
    assert!(limit.admit(1, 64, now).is_err(), "a busy one does not");
}

#[test]
fn a_congested_interval_cuts_to_nine_tenths_of_the_peak() {
    let mut limit = AdmissionLimit::new(settings(10, 1_000), Duration::ZERO);
    interval(&mut limit, Duration::ZERO, 500, 20 * MS);
    assert_eq!(limit.last_verdict(), IntervalVerdict::Congested);
    assert_eq!(limit.limit(), 450, "0.9 x the peak of 501 (500 + the admitted task)");
}

#[test]
fn the_cut_never_goes_below_the_minimum() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    interval(&mut limit, Duration::ZERO, 10, 20 * MS);
    assert_eq!(limit.limit(), 64);
}

#[test]
fn shrinks_under_sustained_delay() {
    let mut limit = AdmissionLimit::new(settings(8, 10_000), Duration::ZERO);
    let mut now = Duration::ZERO;
    let mut previous = limit.limit();
    for _ in 0..10 {
        // The queue stays as full as the limit lets it.
        let in_flight = limit.limit();
        now = interval(&mut limit, now, in_flight, 30 * MS);
        assert!(limit.limit() < previous || limit.limit() == 8, "{} then {}", previous, limit.limit());
        previous = limit.limit();
    }
    assert!(limit.limit() < 10_000 / 2, "ten congested intervals cut it well down: {}", limit.limit());
}

#[test]
fn recovers_once_the_delay_is_gone() {
    let mut limit = AdmissionLimit::new(settings(16, 10_000), Duration::ZERO);
    let mut now = Duration::ZERO;
    for _ in 0..80 {
        now = busy_interval(&mut limit, now, 40 * MS);
    }
    let low = limit.limit();
    assert_eq!(low, 16);
    for _ in 0..200 {
        // Clients use what they are given, and the queue stays short.
        now = busy_interval(&mut limit, now, MS);
    }
    assert_eq!(limit.limit(), 10_000, "good, busy intervals grow it back to the cap");
}

#[test]
fn a_good_interval_grows_only_when_mostly_used() {
    let mut limit = AdmissionLimit::new(settings(64, 10_000), Duration::ZERO);
    let now = interval(&mut limit, Duration::ZERO, 1_000, 20 * MS);
    assert_eq!(limit.limit(), 900);
    let now = interval(&mut limit, now, 100, MS);
    assert_eq!(limit.last_verdict(), IntervalVerdict::Good);
    assert_eq!(limit.limit(), 900, "11 % used: no growth");
    interval(&mut limit, now, 800, MS);
    assert_eq!(limit.limit(), 990, "89 % used: grows 10 %");
}

#[test]
fn growth_is_at_least_an_eighth_of_the_minimum() {
    let mut limit = AdmissionLimit::new(settings(64, 10_000), Duration::ZERO);
    let mut now = interval(&mut limit, Duration::ZERO, 10, 20 * MS);
    assert_eq!(limit.limit(), 64);
    now = interval(&mut limit, now, 63, MS);
    assert_eq!(limit.limit(), 72, "64 x 1.1 = 70 is less than 64 + 64/8");
    interval(&mut limit, now, 72, MS);
    assert_eq!(limit.limit(), 80);
}

#[test]
fn never_grows_above_the_fixed_cap() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    let mut now = Duration::ZERO;
    for _ in 0..20 {
        now = interval(&mut limit, now, 1_000, MS);
    }
    assert_eq!(limit.limit(), 1_000);
}

#[test]
fn an_interval_without_a_first_launch_holds_the_limit() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    let now = interval(&mut limit, Duration::ZERO, 500, 20 * MS);
    assert_eq!(limit.limit(), 450);
    let _ = limit.admit(449, 1, now);
    limit.roll(now + ADMISSION_INTERVAL);
    assert_eq!(limit.last_verdict(), IntervalVerdict::NoSignal);
    assert_eq!(limit.limit(), 450);
}

#[test]
fn the_minimum_of_the_interval_decides_not_the_worst_sample() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    let _ = limit.admit(900, 1, Duration::ZERO);
    limit.first_launch(80 * MS, MS);
    limit.first_launch(2 * MS, 2 * MS);
    limit.first_launch(60 * MS, 3 * MS);
    limit.roll(ADMISSION_INTERVAL);
    assert_eq!(limit.last_verdict(), IntervalVerdict::Good, "a burst that drained is not a standing queue");
}

#[test]
fn the_interval_closes_only_when_it_has_passed() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    let _ = limit.admit(900, 1, Duration::ZERO);
    limit.first_launch(80 * MS, MS);
    limit.roll(ADMISSION_INTERVAL - MS);
    assert_eq!(limit.limit(), 1_000, "not yet");
    limit.roll(ADMISSION_INTERVAL);
    assert_eq!(limit.limit(), 810);
}

#[test]
fn a_slow_machine_does_not_read_as_congested() {
    // Every first launch takes 8 ms even when nothing queues: above the
    // 5 ms target. Cut to the minimum, the floor learns it.
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    let mut now = interval(&mut limit, Duration::ZERO, 10, 8 * MS);
    assert_eq!(limit.last_verdict(), IntervalVerdict::Congested, "no floor yet");
    assert_eq!(limit.limit(), 64);
    for _ in 0..100 {
        now = busy_interval(&mut limit, now, 8 * MS);
    }
    assert_eq!(limit.last_verdict(), IntervalVerdict::Good);
    assert!(limit.threshold() >= 8 * MS && limit.threshold() <= 16 * MS, "{:?}", limit.threshold());
    assert!(limit.limit() > 64, "and it grows again: {}", limit.limit());
    busy_interval(&mut limit, now, 40 * MS);
    assert_eq!(limit.last_verdict(), IntervalVerdict::Congested, "a real queue still counts");
}

#[test]
fn the_floor_drops_at_once_and_rises_slowly_only_at_the_minimum() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    let mut now = interval(&mut limit, Duration::ZERO, 10, 64 * MS);
    assert_eq!(limit.floor(), Duration::ZERO, "above the minimum a queue teaches the floor nothing");
    assert_eq!(limit.limit(), 64);
    now = interval(&mut limit, now, 10, 64 * MS);
    assert_eq!(limit.floor(), MS, "a sixty-fourth of the 64 ms gap");
    interval(&mut limit, now, 10, MS / 2);
    assert_eq!(limit.floor(), MS / 2, "drops at once");
}

#[test]
fn settings_keep_the_minimum_within_the_cap() {
    let clamped = AdmissionSettings::new(5 * MS, 500, 100);
    assert_eq!((clamped.min_limit, clamped.max_limit), (100, 100));
    let raised = AdmissionSettings::new(5 * MS, 0, 100);
    assert_eq!(raised.min_limit, 1);
}

#[test]
fn the_lowest_limit_is_five_quarters_of_the_slots_rounded_up() {
    assert_eq!(min_limit_for_slots(0), 2, "no slot known yet counts as one");
    assert_eq!(min_limit_for_slots(1), 2);
    assert_eq!(min_limit_for_slots(4), 5);
    assert_eq!(min_limit_for_slots(16), 20);
    assert_eq!(min_limit_for_slots(64), 80);
    assert!(min_limit_for_slots(u64::MAX) >= u64::MAX / 4, "saturates rather than wraps");
}

#[test]
fn a_floor_that_follows_the_slots_moves_with_the_cluster() {
    let mut limit = AdmissionLimit::new(AdmissionSettings::following_slots(5 * MS, 1_000), Duration::ZERO);
    assert_eq!(limit.min_limit(), 2);
    limit.set_slots(16);
    assert_eq!(limit.min_limit(), 20);
    let mut now = Duration::ZERO;
    for _ in 0..50 {
        now = busy_interval(&mut limit, now, 50 * MS);
    }
    assert_eq!(limit.limit(), 20, "sustained delay takes it down to 5/4 of the 16 slots");
    limit.set_slots(32);
    assert_eq!((limit.min_limit(), limit.limit()), (40, 40), "more nodes raise the floor and the limit with it");
    limit.set_slots(4);
    assert_eq!((limit.min_limit(), limit.limit()), (5, 40), "fewer nodes lower the floor; the limit shrinks by itself");
    limit.set_slots(10_000);
    assert_eq!((limit.min_limit(), limit.limit()), (1_000, 1_000), "never above the fixed cap");
    assert!(limit.admit(0, 1_000_000, now).is_ok(), "idle still admits any job");
}

#[test]
fn a_given_floor_ignores_the_slots() {
    let mut limit = AdmissionLimit::new(settings(64, 1_000), Duration::ZERO);
    limit.set_slots(16);
    assert_eq!(limit.min_limit(), 64);
    limit.set_slots(1_000);
    assert_eq!(limit.min_limit(), 64);
}

#[test]
fn at_the_slot_floor_a_large_job_waits_only_for_the_queue_to_empty() {
    // A batch job bigger than the limit is never refused forever: once the
    // tasks in flight finish it is admitted whole.
    let mut limit = AdmissionLimit::new(AdmissionSettings::following_slots(5 * MS, 1_000), Duration::ZERO);
    limit.set_slots(4);
    let mut now = Duration::ZERO;
    for _ in 0..60 {
        now = busy_interval(&mut limit, now, 50 * MS);
    }
    assert_eq!(limit.limit(), 5);
    assert!(limit.admit(3, 100, now).is_err());
    assert!(limit.admit(0, 100, now).is_ok());
}
