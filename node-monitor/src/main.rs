//! The `passer-node-monitor` binary: the shared server `main` of
//! `passer-server` with the node monitor's flags.

/// mimalloc instead of glibc malloc: fewer cycles per allocation on the hot
/// paths (see docs/benchmarks.md, "CPU per job").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    passer_server::binary::main::<passer_node_monitor::NodeMonitorConfig>(
        "passer-node-monitor",
        "passer node monitor: reservation queues and local executors.",
    )
}
