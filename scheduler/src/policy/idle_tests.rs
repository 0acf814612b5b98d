//! Unit tests of the idle estimate: polls, starts, reports and answers.

use passer_proto::pb;

use super::IdleEstimate;

fn load(executors: &[(&str, u32, u32)], queue_length: u32) -> pb::NodeLoad {
    pb::NodeLoad {
        queue_length,
        executors: executors
            .iter()
            .map(|&(executor, slots_total, slots_busy)| pb::ExecutorLoad {
                executor: executor.to_owned(),
                slots_total,
                slots_busy,
                processes: 1,
            })
            .collect(),
        ..Default::default()
    }
}

#[test]
fn idle_slots_follow_the_poll_and_the_tasks_started_since() {
    let mut estimate = IdleEstimate::default();
    let polled = load(&[("echo", 4, 1)], 0);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 3);
    estimate.note_tasks(2, 0);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 1);
    estimate.note_tasks(0, 1);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 2, "a report frees a slot again");
    estimate.note_tasks(5, 0);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 0, "never below zero");
    estimate.polled();
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 3, "a poll resets what was started since");
}

#[test]
fn a_task_running_at_the_poll_frees_its_slot_when_it_reports() {
    let mut estimate = IdleEstimate::default();
    let polled = load(&[("echo", 1, 1)], 0);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 0, "busy at the poll");
    estimate.note_tasks(0, 1);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 1, "its report frees the slot before the next poll");
    estimate.note_tasks(0, 3);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 1, "never more than the slots busy at the poll");
    let two_types = load(&[("echo", 1, 0), ("python", 2, 2)], 0);
    let mut mixed = IdleEstimate::default();
    mixed.note_tasks(0, 2);
    assert_eq!(mixed.idle_slots(Some(&two_types), "echo"), 1, "never more than the type's slots");
    assert_eq!(mixed.idle_slots(Some(&two_types), "python"), 2);
}

#[test]
fn tasks_of_any_type_use_the_shared_idle_slots() {
    let mut estimate = IdleEstimate::default();
    let polled = load(&[("echo", 2, 0), ("python", 2, 1)], 0);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 2);
    estimate.note_tasks(2, 0);
    assert_eq!(estimate.idle_slots(Some(&polled), "echo"), 1, "3 idle in all, 2 started");
    assert_eq!(estimate.idle_slots(Some(&polled), "missing"), 0);
}

#[test]
fn no_offers_before_a_poll_or_while_reservations_queue() {
    let estimate = IdleEstimate::default();
    assert_eq!(estimate.idle_slots(None, "echo"), 0, "never polled");
    assert_eq!(estimate.idle_slots(Some(&load(&[("echo", 4, 0)], 1)), "echo"), 0, "a queue means no idle slot");
}

#[test]
fn a_declined_offer_or_a_queue_stops_offers_until_the_next_poll() {
    let polled = load(&[("echo", 4, 0)], 0);
    let mut declined = IdleEstimate::default();
    declined.note_tasks(2, 0);
    declined.offer_answered(1, 0);
    assert!(declined.busy_until_poll());
    assert_eq!(declined.idle_slots(Some(&polled), "echo"), 0);
    declined.polled();
    assert_eq!(declined.idle_slots(Some(&polled), "echo"), 4);

    let mut queued = IdleEstimate::default();
    queued.offer_answered(0, 3);
    assert_eq!(queued.idle_slots(Some(&polled), "echo"), 0, "reservations queued there");

    let mut taken = IdleEstimate::default();
    taken.note_tasks(1, 0);
    taken.offer_answered(0, 0);
    assert!(!taken.busy_until_poll(), "an offer taken in full shows nothing new");
    assert_eq!(taken.idle_slots(Some(&polled), "echo"), 3);
}
