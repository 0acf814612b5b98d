//! A CPU hog beside the benchmark cluster (`passer-bench load --cpu-hog`):
//! one `python3 -c 'while True: pass'` process that competes with the
//! servers for the machine's cores, so the load sweep shows how passer
//! behaves when its own CPU, not its slots, is the bottleneck. The process
//! is killed (by its own id) and reaped when the hog is dropped.

use std::process::{Child, Command, Stdio};

use anyhow::Context;

/// The program the hog runs: a busy loop.
const BUSY_LOOP: &str = "while True: pass";

/// A running CPU hog; stopped when dropped.
pub struct CpuHog {
    child: Child,
}

impl CpuHog {
    /// Starts `python3 -c 'while True: pass'`.
    pub fn start() -> anyhow::Result<Self> {
        let child = Command::new("python3")
            .args(["-c", BUSY_LOOP])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("start the CPU hog (python3 -c 'while True: pass')")?;
        eprintln!("cpu hog running as pid {}", child.id());
        Ok(Self { child })
    }
}

impl Drop for CpuHog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
