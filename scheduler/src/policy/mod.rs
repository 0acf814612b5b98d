//! The scheduler's policy, free of I/O: batch sampling ([`sampler`]),
//! placement constraints ([`constraint`]), the
//! job state machine with late binding ([`job`]), request validation
//! ([`validate`]), a job's identity ([`digest`]), placement calls in
//! flight per job generation ([`placements`]), finished jobs' kept
//! results ([`retention`]), and the default placement path: which nodes get
//! offers and reservations ([`offers`]), each node's idle estimate
//! ([`idle`]) and the re-probe backoff ([`probe_backoff`]), and the
//! adaptive limit on tasks in flight ([`admission`]). See `README.md` beside this file for the properties each
//! must keep. The simulator and the unit tests drive this same code.

pub mod admission;
pub mod constraint;
pub mod digest;
pub mod idle;
pub mod job;
pub mod offers;
pub mod placements;
pub mod probe_backoff;
pub mod retention;
pub mod sampler;
pub mod validate;

#[cfg(test)]
mod job_props;
#[cfg(test)]
mod validate_props;
