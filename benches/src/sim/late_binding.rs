//! The `batch+late-binding` strategy: passer's real path in its default
//! configuration, driven through the production policy code
//! ([`super::production`]) over the simulated network.
//!
//! Message flow per job, each hop one network delay: EnqueueReservations to
//! the nodes the placement plan picked (tasks offered to nodes whose last
//! poll showed idle slots, reservations by batch sampling for the rest),
//! their answers back (declined offers are placed again at once, refused
//! reservations after the production backoff, at the next upkeep tick),
//! GetTask from a node whose slot frees, the grant back, the task's report,
//! and CancelReservations to the nodes still holding reservations once
//! every task launched. A job's response time ends when its last report
//! reaches the scheduler. The scheduler polls every node's load at the
//! production interval (a hop there, a hop back) for its idle estimates.

use super::events::{EventQueue, MILLI};
use super::ledger::Ledger;
use super::production::{AfterPlacement, Call, NodeAction, ProductionCluster, ProductionConfig, ReportEffect};
use super::strategy::{ClusterSetup, JobProgress, RunStats};
use super::workload::Workload;

#[derive(Debug, Clone, Copy)]
enum Event {
    Arrive { job: u32 },
    Reprobe { job: u32 },
    ReservationsLand { node: u32, job: u32, count: u32, offer: u32 },
    EnqueueAnswer { node: u32, job: u32, count: u32, answer: u32 },
    PollReachesNodes,
    PollAnswered,
    AskLands { node: u32, job: u32, request_id: u64, count: u32 },
    GrantLands { node: u32, grant: u32 },
    TaskDone { node: u32, slot: u32, job: u32, task: u32, attempt: u32 },
    ReportLands { node: u32, job: u32, report: u32 },
    CancelLands { node: u32, job: u32 },
}

struct Driver<'a> {
    setup: &'a ClusterSetup,
    workload: &'a Workload,
    ledger: &'a mut Ledger,
    cluster: ProductionCluster,
    events: EventQueue<Event>,
    progress: JobProgress,
    unanswered: Vec<u32>,
    refused: Vec<bool>,
    actions: Vec<NodeAction>,
    calls: Vec<Call>,
    cancels: Vec<u32>,
    jobs_left: usize,
    asks: u64,
    empty_asks: u64,
}

/// Runs the workload through the production policy code.
pub fn run(setup: &ClusterSetup, workload: &Workload, ledger: &mut Ledger) -> RunStats {
    let config = ProductionConfig {
        nodes: setup.nodes,
        slots_per_node: setup.slots_per_node,
        queue_capacity: setup.queue_capacity,
        probe_ratio: setup.probe_ratio,
        seed: setup.seed,
        tenant_weights: setup.tenants.iter().map(|tenant| (tenant.name.clone(), tenant.weight)).collect(),
        offer_to_idle: setup.offer_to_idle,
    };
    let job_count = workload.jobs.len();
    let mut driver = Driver {
        setup,
        workload,
        ledger,
        cluster: ProductionCluster::new(config, job_count),
        events: EventQueue::default(),
        progress: JobProgress::new(workload),
        unanswered: vec![0; job_count],
        refused: vec![false; job_count],
        actions: Vec::new(),
        calls: Vec::new(),
        cancels: Vec::new(),
        jobs_left: job_count,
        asks: 0,
        empty_asks: 0,
    };
    if let Some(first) = workload.jobs.first() {
        driver.events.schedule_at(first.arrival, Event::Arrive { job: 0 });
        driver.events.schedule_in(setup.network().hop(), Event::PollReachesNodes);
    }
    while let Some(event) = driver.events.pop() {
        driver.handle(event);
    }
    RunStats {
        finish: driver.progress.into_finish_times(),
        events: driver.events.processed(),
        asks: driver.asks,
        empty_asks: driver.empty_asks,
    }
}

impl Driver<'_> {
    fn handle(&mut self, event: Event) {
        let now = self.events.now();
        let hop = self.setup.network().hop();
        match event {
            Event::Arrive { job } => {
                self.schedule_next_arrival(job);
                let spec = &self.workload.jobs[job as usize];
                let tenant = self.setup.tenant_name(spec.tenant);
                self.cluster.submit(job, spec.tasks, tenant, now);
                self.send_probes(job);
            }
            Event::Reprobe { job } => {
                if self.unanswered[job as usize] == 0 {
                    self.send_probes(job);
                }
            }
            Event::ReservationsLand { node, job, count, offer } => {
                let tenant = self.setup.tenant_name(self.workload.jobs[job as usize].tenant);
                let answer = self.cluster.enqueue(node, job, count, offer, tenant, now, &mut self.actions);
                self.events.schedule_in(hop, Event::EnqueueAnswer { node, job, count, answer });
                self.carry_out_actions();
            }
            Event::EnqueueAnswer { node, job, count, answer } => {
                let (surplus, refused) = self.cluster.answered(job, node, count, answer, now);
                if surplus {
                    self.events.schedule_in(hop, Event::CancelLands { node, job });
                }
                let index = job as usize;
                self.refused[index] |= refused;
                self.unanswered[index] -= 1;
                if self.unanswered[index] == 0 {
                    let refused = std::mem::take(&mut self.refused[index]);
                    match self.cluster.placement_done(job, refused, now) {
                        AfterPlacement::ProbeNow => self.send_probes(job),
                        AfterPlacement::ProbeAt(at) => self.events.schedule_at(at, Event::Reprobe { job }),
                    }
                }
            }
            Event::PollReachesNodes => {
                self.cluster.poll_nodes();
                self.events.schedule_in(hop, Event::PollAnswered);
                if self.jobs_left > 0 {
                    let interval = self.cluster.defaults().node_poll_ms * MILLI;
                    self.events.schedule_in(interval, Event::PollReachesNodes);
                }
            }
            Event::PollAnswered => self.cluster.poll_answered(),
            Event::AskLands { node, job, request_id, count } => {
                let (grant, granted) = self.cluster.ask(job, node, count, request_id, now, &mut self.cancels);
                self.asks += 1;
                self.empty_asks += u64::from(granted == 0);
                self.events.schedule_in(hop, Event::GrantLands { node, grant });
                for cancel_node in self.cancels.drain(..) {
                    self.events.schedule_in(hop, Event::CancelLands { node: cancel_node, job });
                }
            }
            Event::GrantLands { node, grant } => {
                self.cluster.deliver_grant(node, grant, now, &mut self.actions);
                self.carry_out_actions();
            }
            Event::TaskDone { node, slot, job, task, attempt } => {
                let spec = &self.workload.jobs[job as usize];
                self.ledger.finish(node, slot, spec.first_task + u64::from(task));
                self.cluster.task_done(node, slot, job, task, attempt, now, &mut self.actions);
                self.carry_out_actions();
            }
            Event::ReportLands { node, job, report } => {
                let effect = self.cluster.report(job, node, report, now);
                debug_assert!(matches!(effect, ReportEffect::Terminal { .. }), "every attempt succeeds: {effect:?}");
                if let ReportEffect::Terminal { job_finished } = effect {
                    self.progress.task_finished(job, now);
                    self.jobs_left -= usize::from(job_finished);
                }
            }
            Event::CancelLands { node, job } => {
                self.cluster.cancel(node, job, now, &mut self.actions);
                self.carry_out_actions();
            }
        }
    }

    /// Arrivals are scheduled one at a time to keep the heap small.
    fn schedule_next_arrival(&mut self, job: u32) {
        if let Some(next) = self.workload.jobs.get(job as usize + 1) {
            self.events.schedule_at(next.arrival, Event::Arrive { job: job + 1 });
        }
    }

    fn send_probes(&mut self, job: u32) {
        let now = self.events.now();
        self.cluster.plan(job, now, &mut self.calls);
        let hop = self.setup.network().hop();
        self.unanswered[job as usize] += self.calls.len() as u32;
        for (node, count, offer) in self.calls.drain(..) {
            self.events.schedule_in(hop, Event::ReservationsLand { node, job, count, offer });
        }
    }

    fn carry_out_actions(&mut self) {
        let hop = self.setup.network().hop();
        for action in self.actions.drain(..) {
            match action {
                NodeAction::Ask { node, job, request_id, count } => {
                    self.events.schedule_in(hop, Event::AskLands { node, job, request_id, count });
                }
                NodeAction::Run { node, slot, job, task, attempt } => {
                    let spec = &self.workload.jobs[job as usize];
                    self.ledger.start(node, slot, spec.first_task + u64::from(task));
                    self.events.schedule_in(spec.task_duration, Event::TaskDone { node, slot, job, task, attempt });
                }
                NodeAction::Report { node, job, report } => {
                    self.events.schedule_in(hop, Event::ReportLands { node, job, report });
                }
            }
        }
    }
}
