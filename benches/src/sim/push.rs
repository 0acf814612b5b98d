//! The strategies that push tasks to node queues, written for the simulator
//! alone: `random`, `per-task` (power of d choices per task) and `batch`
//! (least loaded of d·m probed nodes). A node runs its FIFO queue of tasks
//! on its slots; its load is running plus queued tasks.
//!
//! Timing: `random` sends each task at once (one hop). The sampling
//! strategies probe (one hop), read the probed nodes' loads as the probes
//! land, and the tasks land two hops later (the answers, then the tasks), so
//! other jobs' tasks may land on the same nodes meanwhile, as in a real race.
//! A task's result takes one hop back to the scheduler, where the job's
//! response time ends.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::rngs::SmallRng;
use rand::seq::index;
use rand::{Rng, SeedableRng};

use super::events::EventQueue;
use super::ledger::Ledger;
use super::strategy::{ClusterSetup, JobProgress, RunStats, Strategy};
use super::workload::Workload;

#[derive(Debug, Clone, Copy)]
enum Event {
    Arrive { job: u32 },
    ProbesLand { job: u32 },
    TaskLands { node: u32, job: u32, task: u32 },
    TaskDone { node: u32, slot: u32, job: u32, task: u32 },
}

#[derive(Debug, Default)]
struct Node {
    queue: VecDeque<(u32, u32)>,
    busy_slots: u64,
    running: u32,
}

impl Node {
    fn load(&self) -> u32 {
        self.running + self.queue.len() as u32
    }
}

struct Driver<'a> {
    strategy: Strategy,
    setup: &'a ClusterSetup,
    workload: &'a Workload,
    ledger: &'a mut Ledger,
    nodes: Vec<Node>,
    events: EventQueue<Event>,
    progress: JobProgress,
    rng: SmallRng,
    candidates: BinaryHeap<Reverse<(u32, u32, u32)>>,
    placements: Vec<u32>,
}

/// Runs `workload` under one of the push strategies.
pub fn run(strategy: Strategy, setup: &ClusterSetup, workload: &Workload, ledger: &mut Ledger) -> RunStats {
    assert!(setup.slots_per_node <= 64, "at most 64 slots per node");
    let mut driver = Driver {
        strategy,
        setup,
        workload,
        ledger,
        nodes: (0..setup.nodes).map(|_| Node::default()).collect(),
        events: EventQueue::default(),
        progress: JobProgress::new(workload),
        rng: SmallRng::seed_from_u64(setup.seed),
        candidates: BinaryHeap::new(),
        placements: Vec::new(),
    };
    if let Some(first) = workload.jobs.first() {
        driver.events.schedule_at(first.arrival, Event::Arrive { job: 0 });
    }
    while let Some(event) = driver.events.pop() {
        driver.handle(event);
    }
    RunStats { finish: driver.progress.into_finish_times(), events: driver.events.processed(), asks: 0, empty_asks: 0 }
}

impl Driver<'_> {
    fn handle(&mut self, event: Event) {
        let hop = self.setup.network().hop();
        if let Event::Arrive { job } = event {
            if let Some(next) = self.workload.jobs.get(job as usize + 1) {
                self.events.schedule_at(next.arrival, Event::Arrive { job: job + 1 });
            }
        }
        match event {
            Event::Arrive { job } if self.strategy == Strategy::Random => {
                for task in 0..self.workload.jobs[job as usize].tasks {
                    let node = self.rng.random_range(0..self.setup.nodes);
                    self.events.schedule_in(hop, Event::TaskLands { node, job, task });
                }
            }
            Event::Arrive { job } => self.events.schedule_in(hop, Event::ProbesLand { job }),
            Event::ProbesLand { job } => {
                self.choose_nodes(job);
                for (task, &node) in self.placements.iter().enumerate() {
                    self.events.schedule_in(2 * hop, Event::TaskLands { node, job, task: task as u32 });
                }
            }
            Event::TaskLands { node, job, task } => {
                let has_free_slot = self.nodes[node as usize].running < self.setup.slots_per_node;
                if has_free_slot {
                    self.start(node, job, task);
                } else {
                    self.nodes[node as usize].queue.push_back((job, task));
                }
            }
            Event::TaskDone { node, slot, job, task } => {
                let spec = &self.workload.jobs[job as usize];
                self.ledger.finish(node, slot, spec.first_task + u64::from(task));
                // The job's response time ends when the result reaches the scheduler.
                self.progress.task_finished(job, self.events.now() + hop);
                let state = &mut self.nodes[node as usize];
                state.busy_slots &= !(1u64 << slot);
                state.running -= 1;
                if let Some((next_job, next_task)) = state.queue.pop_front() {
                    self.start(node, next_job, next_task);
                }
            }
        }
    }

    fn start(&mut self, node: u32, job: u32, task: u32) {
        let state = &mut self.nodes[node as usize];
        let slot = (!state.busy_slots).trailing_zeros();
        debug_assert!(slot < self.setup.slots_per_node, "start needs a free slot");
        state.busy_slots |= 1u64 << slot;
        state.running += 1;
        let spec = &self.workload.jobs[job as usize];
        self.ledger.start(node, slot, spec.first_task + u64::from(task));
        self.events.schedule_in(spec.task_duration, Event::TaskDone { node, slot, job, task });
    }

    /// Fills `placements` with one node per task of `job`, from the loads
    /// the probes read; the job's own earlier placements count as load.
    fn choose_nodes(&mut self, job: u32) {
        let tasks = self.workload.jobs[job as usize].tasks;
        let node_count = self.setup.nodes as usize;
        self.placements.clear();
        self.candidates.clear();
        match self.strategy {
            Strategy::PerTask => {
                let choices = (self.setup.probe_ratio.ceil() as usize).clamp(1, node_count);
                for _ in 0..tasks {
                    let probed = index::sample(&mut self.rng, node_count, choices);
                    let node = probed
                        .into_iter()
                        .map(|node| node as u32)
                        .min_by_key(|&node| self.load_seen(node))
                        .expect("at least one choice");
                    self.placements.push(node);
                }
            }
            _ => {
                let probes = ((f64::from(tasks) * self.setup.probe_ratio).ceil() as usize).clamp(1, node_count);
                for (order, node) in index::sample(&mut self.rng, node_count, probes).into_iter().enumerate() {
                    let node = node as u32;
                    self.candidates.push(Reverse((self.nodes[node as usize].load(), order as u32, node)));
                }
                for _ in 0..tasks {
                    let Reverse((load, order, node)) = self.candidates.pop().expect("probed nodes");
                    self.placements.push(node);
                    self.candidates.push(Reverse((load + 1, order, node)));
                }
            }
        }
    }

    fn load_seen(&self, node: u32) -> u32 {
        let own = self.placements.iter().filter(|&&placed| placed == node).count() as u32;
        self.nodes[node as usize].load() + own
    }
}
