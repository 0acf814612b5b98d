//! Executor processes started and supervised by the node monitor
//! (`--executor "CMD ..."`): each runs under `sh -c`, learns where to attach
//! from `PASSER_ATTACH_ADDR`, and is restarted with capped backoff when it
//! exits. Exit statuses are kept briefly so a task lost with its process is
//! failed as `executor exited with status N`.

use std::collections::HashMap;
use std::process::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::process::Command;
use tokio::sync::watch;

/// Shortest and longest waits before restarting an executor.
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// A process that ran this long resets the backoff.
const HEALTHY_RUN: Duration = Duration::from_secs(30);
/// How long a closed stream waits for its process's exit status.
const EXIT_WAIT: Duration = Duration::from_millis(500);

/// Why recently exited supervised processes ended, by pid.
#[derive(Clone, Default)]
pub struct ExitLog {
    exits: Arc<Mutex<HashMap<u32, String>>>,
    supervised: Arc<Mutex<std::collections::HashSet<u32>>>,
}

impl ExitLog {
    fn started(&self, pid: u32) {
        self.supervised.lock().insert(pid);
    }

    fn exited(&self, pid: u32, status: ExitStatus) {
        self.supervised.lock().remove(&pid);
        let mut exits = self.exits.lock();
        if exits.len() > 1024 {
            exits.clear();
        }
        exits.insert(pid, describe(status));
    }

    /// The exit reason of supervised `pid`, waiting briefly for it; `None`
    /// for a process this node monitor did not start.
    pub async fn reason_for(&self, pid: u32) -> Option<String> {
        let deadline = tokio::time::Instant::now() + EXIT_WAIT;
        loop {
            if let Some(reason) = self.exits.lock().remove(&pid) {
                return Some(reason);
            }
            if !self.supervised.lock().contains(&pid) || tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("executor exited with status {code}"),
        (None, Some(signal)) => format!("executor exited with status signal {signal}"),
        _ => "executor exited".to_owned(),
    }
}

/// Runs `command` until `stop` turns true, restarting it with backoff.
pub async fn supervise(
    command: String,
    attach_addr: String,
    extra_env: Vec<(String, String)>,
    exits: ExitLog,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = passer::client::backoff::Backoff::new(BACKOFF_MIN, BACKOFF_MAX).with_floor(BACKOFF_MIN / 2);
    while !*stop.borrow() {
        let started = tokio::time::Instant::now();
        let mut child = match Command::new("sh")
            .arg("-c")
            .arg(shell_line(&command))
            .env(passer_proto::ATTACH_ADDR_ENV, &attach_addr)
            .env(passer_proto::SUPERVISOR_PID_ENV, std::process::id().to_string())
            .envs(extra_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .kill_on_drop(true)
            .spawn()
        {
            Ok(child) => child,
            Err(error) => {
                tracing::error!(%command, %error, "cannot start executor");
                tokio::time::sleep(BACKOFF_MAX).await;
                continue;
            }
        };
        let pid = child.id().unwrap_or_default();
        exits.started(pid);
        tracing::info!(%command, pid, "executor started");
        tokio::select! {
            status = child.wait() => {
                match status {
                    Ok(status) => {
                        tracing::warn!(%command, pid, %status, "executor exited");
                        exits.exited(pid, status);
                    }
                    Err(error) => tracing::error!(%command, pid, %error, "cannot wait for executor"),
                }
            }
            _ = wait_stopped(&mut stop) => {
                terminate(&mut child).await;
                return;
            }
        }
        if started.elapsed() >= HEALTHY_RUN {
            backoff.reset();
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff.next_delay()) => {}
            _ = wait_stopped(&mut stop) => return,
        }
    }
}

async fn wait_stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopped| *stopped).await;
}

/// The `sh -c` line: simple commands are `exec`ed so the executor is the
/// child itself (its pid is the one it announces, and signals reach it).
fn shell_line(command: &str) -> String {
    let compound = command.chars().any(|c| ";&|<>()`$\n".contains(c));
    if compound {
        command.to_owned()
    } else {
        format!("exec {command}")
    }
}

/// SIGTERM, then SIGKILL if the process is still there after 5 s.
async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}
