//! passer-sim: a discrete-event simulator that drives passer's production
//! policy code in its default configuration (placement plan with offers to
//! idle nodes, idle estimates, re-probe backoff, sampler, job state machine,
//! reservation queue, node decisions) over thousands of simulated nodes
//! under a virtual clock, and compares it with simpler placement strategies
//! and an omniscient one that pays the same network hops. [`sweep`] averages
//! each point over several seeds and reports their spread.
//!
//! Layout: the clock and event queue in [`events`], message delays in
//! [`network`], the job mix in [`workload`], experiments in [`presets`], the
//! strategies in [`strategy`] ([`push`] for random, per-task and batch,
//! [`late_binding`] for passer's path through the one adapter to the
//! production code, [`production`], and [`omniscient`]), invariant checks in
//! [`ledger`], response times in [`metrics`], and CSV, tables and plots in
//! [`output`]. [`sweep`] runs a preset's points.

pub mod events;
pub mod late_binding;
pub mod ledger;
pub mod metrics;
pub mod network;
pub mod omniscient;
pub mod output;
pub mod presets;
pub mod production;
pub mod push;
pub mod slab;
pub mod strategy;
pub mod sweep;
pub mod workload;
