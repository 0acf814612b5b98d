//! The `passer-scheduler` binary: the shared server `main` of
//! `passer-server` with the scheduler's flags.

/// mimalloc instead of glibc malloc: fewer cycles per allocation on the hot
/// paths (see docs/benchmarks.md, "CPU per job").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    passer_server::binary::main::<passer_scheduler::SchedulerConfig>(
        "passer-scheduler",
        "passer scheduler: batch sampling with late binding.",
    )
}
