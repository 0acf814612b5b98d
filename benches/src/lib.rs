//! passer's benchmarks and simulator (filled in by their issues).
#![forbid(unsafe_code)]
#![deny(rust_2018_idioms)]

pub mod bench;
pub mod sim;
