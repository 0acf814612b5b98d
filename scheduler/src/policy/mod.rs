//! The scheduler's policy, free of I/O: batch sampling ([`sampler`]),
//! placement constraints ([`constraint`]), the
//! job state machine with late binding ([`job`]) and request validation
//! ([`validate`]). See `README.md` beside this file for the properties each
//! must keep. The simulator and the unit tests drive this same code.

pub mod constraint;
pub mod job;
pub mod sampler;
pub mod validate;

#[cfg(test)]
mod job_props;
#[cfg(test)]
mod validate_props;
