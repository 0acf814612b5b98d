//! The `omniscient` strategy: one central scheduler that sees every slot.
//! Jobs are served in arrival order and each task goes to the slot that
//! frees first, so no slot idles while a task waits. It pays the same hops
//! as every other strategy, no more: a task reaches its node one hop after
//! the job arrives (the slot's freeing needs no message, the scheduler
//! knows it), and its result takes one hop back, where the job's response
//! time ends.
//!
//! No events are needed: each slot's next free time lives in a min-heap and
//! every placement is final when made.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::events::Nanos;
use super::ledger::Ledger;
use super::strategy::{ClusterSetup, RunStats};
use super::workload::Workload;

/// Places every task of `workload` greedily on the earliest free slot.
pub fn run(setup: &ClusterSetup, workload: &Workload, ledger: &mut Ledger) -> RunStats {
    let slots = setup.slots_per_node;
    let hop = setup.network().hop();
    let mut free_at: BinaryHeap<Reverse<(Nanos, u32)>> =
        (0..setup.total_slots() as u32).map(|slot| Reverse((0, slot))).collect();
    let mut finish = Vec::with_capacity(workload.jobs.len());
    for job in &workload.jobs {
        let mut job_finish = job.arrival;
        for task in 0..job.tasks {
            let Reverse((slot_free, slot)) = free_at.pop().expect("the cluster has slots");
            let start = slot_free.max(job.arrival + hop);
            let end = start + job.task_duration;
            let global_task = job.first_task + u64::from(task);
            ledger.start(slot / slots, slot % slots, global_task);
            ledger.finish(slot / slots, slot % slots, global_task);
            job_finish = job_finish.max(end + hop);
            free_at.push(Reverse((end, slot)));
        }
        finish.push(job_finish);
    }
    RunStats { finish, events: workload.jobs.len() as u64, asks: 0, empty_asks: 0 }
}
