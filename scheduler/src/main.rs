//! The `passer-scheduler` binary: the shared server `main` of
//! `passer-server` with the scheduler's flags.

fn main() -> std::process::ExitCode {
    passer_server::binary::main::<passer_scheduler::SchedulerConfig>(
        "passer-scheduler",
        "passer scheduler: batch sampling with late binding.",
    )
}
