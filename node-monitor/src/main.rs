//! The `passer-node-monitor` binary: the shared server `main` of
//! `passer-server` with the node monitor's flags.

fn main() -> std::process::ExitCode {
    passer_server::binary::main::<passer_node_monitor::NodeMonitorConfig>(
        "passer-node-monitor",
        "passer node monitor: reservation queues and local executors.",
    )
}
