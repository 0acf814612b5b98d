//! The built-in `command` executor, offered only with `--allow-command`:
//! each task's payload names a command (JSON, see [`CommandSpec`]) that runs
//! in its own process group. Its exit code, stdout and stderr (each capped
//! at `--command-max-output-bytes`) come back as the task's JSON output
//! ([`CommandOutput`]); a nonzero exit fails the task with that output still
//! attached. The stderr also streams into the task's logs (their tail is
//! kept, see [`passer::task_logs`]), so `passer logs` shows it. The builtin host drops the task's future at its deadline and on
//! cancel; dropping it kills the whole process group.
//!
//! Security: this runs whatever a client sends, as the node monitor's user.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;

use bytes::Bytes;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use passer::handler::{SharedHandler, Task, TaskError};
use passer::task_logs::LogSink;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// The executor type name of the command executor.
pub const COMMAND_EXECUTOR: &str = "command";

/// The shell used when a payload asks for one.
const SHELL: &str = "/bin/sh";

/// A task's payload: what to run.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CommandSpec {
    /// The program and its arguments; with `shell`, `argv[0]` is a shell
    /// script run by `/bin/sh -c` and the rest become `$1`, `$2`, ….
    pub argv: Vec<String>,
    /// Run `argv[0]` through the shell.
    #[serde(default)]
    pub shell: bool,
    /// Extra environment variables (added to the node monitor's).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Bytes written to the command's stdin (empty stdin when absent).
    #[serde(default)]
    pub stdin: Option<String>,
}

/// A finished command, as the task's output (JSON).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CommandOutput {
    /// The exit code, or `None` when a signal ended the command.
    pub exit_code: Option<i32>,
    /// The signal that ended the command, if one did.
    pub signal: Option<i32>,
    /// Standard output (lossy UTF-8), at most the cap.
    pub stdout: String,
    /// Standard error (lossy UTF-8), at most the cap.
    pub stderr: String,
    /// True when stdout or stderr was cut at the cap.
    pub truncated: bool,
}

/// Parses and checks a payload, naming the bad field.
pub fn parse_spec(payload: &[u8]) -> Result<CommandSpec, String> {
    let spec: CommandSpec =
        serde_json::from_slice(payload).map_err(|error| format!("command payload is not valid: {error}"))?;
    if spec.argv.is_empty() || spec.argv[0].is_empty() {
        return Err("command payload field argv must name a program (argv[0] is empty)".to_owned());
    }
    if let Some(bad) = spec.argv.iter().chain(spec.env.keys()).chain(spec.env.values()).find(|s| s.contains('\0')) {
        return Err(format!("command payload contains a NUL byte in {bad:?}"));
    }
    if let Some(key) = spec.env.keys().find(|k| k.is_empty() || k.contains('=')) {
        return Err(format!("command payload field env has an invalid variable name {key:?}"));
    }
    Ok(spec)
}

/// The command executor's handler: output capped at `max_output_bytes` per
/// stream.
pub fn command_handler(max_output_bytes: usize) -> SharedHandler {
    Arc::new(move |task: Task| run_command(task.payload, max_output_bytes))
}

/// Runs one command to completion (or until the future is dropped, which
/// kills its process group).
pub async fn run_command(payload: impl Into<Bytes>, max_output_bytes: usize) -> Result<Vec<u8>, TaskError> {
    let payload: Bytes = payload.into();
    let spec = parse_spec(&payload).map_err(TaskError::new)?;
    let mut command = build_command(&spec);
    let mut child =
        command.spawn().map_err(|error| TaskError::new(format!("cannot start {:?}: {error}", spec.argv[0])))?;
    let group = ProcessGroup::new(child.id());
    let stdin_text = spec.stdin.unwrap_or_default();
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input must not block the task.
        tokio::spawn(async move {
            let _ = stdin.write_all(stdin_text.as_bytes()).await;
        });
    }
    let stdout = tokio::spawn(read_capped(child.stdout.take(), max_output_bytes, None));
    let stderr = tokio::spawn(read_capped(child.stderr.take(), max_output_bytes, LogSink::current()));
    let status = child.wait().await.map_err(|error| TaskError::new(format!("cannot wait for the command: {error}")))?;
    // The task is over: background processes it left behind go too, which
    // also closes the pipes they may hold.
    drop(group);
    let (stdout, stdout_cut) = stdout.await.unwrap_or_default();
    let (stderr, stderr_cut) = stderr.await.unwrap_or_default();
    let output = CommandOutput {
        exit_code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        truncated: stdout_cut || stderr_cut,
    };
    let json = serde_json::to_vec(&output).unwrap_or_default();
    match failure_message(status) {
        None => Ok(json),
        Some(message) => Err(TaskError { message, output: json.into() }),
    }
}

fn build_command(spec: &CommandSpec) -> Command {
    let mut command = if spec.shell {
        let mut shell = Command::new(SHELL);
        shell.arg("-c").arg(&spec.argv[0]).arg("sh").args(&spec.argv[1..]);
        shell
    } else {
        let mut direct = Command::new(&spec.argv[0]);
        direct.args(&spec.argv[1..]);
        direct
    };
    command
        .envs(&spec.env)
        .stdin(if spec.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    command
}

fn failure_message(status: ExitStatus) -> Option<String> {
    match (status.code(), status.signal()) {
        (Some(0), _) => None,
        (Some(code), _) => Some(format!("command exited with status {code}")),
        (None, Some(signal)) => Some(format!("command killed by signal {signal}")),
        (None, None) => Some("command ended abnormally".to_owned()),
    }
}

/// Reads `source` to its end, keeping the first `cap` bytes; returns them
/// and whether more came. Every chunk also goes to `logs_opt`.
async fn read_capped(source: Option<impl AsyncRead + Unpin>, cap: usize, logs_opt: Option<LogSink>) -> (Vec<u8>, bool) {
    let Some(mut source) = source else { return (Vec::new(), false) };
    let mut kept = Vec::new();
    let mut truncated = false;
    let mut buffer = [0u8; 8192];
    loop {
        match source.read(&mut buffer).await {
            Ok(0) | Err(_) => return (kept, truncated),
            Ok(read) => {
                if let Some(logs) = &logs_opt {
                    logs.write(&buffer[..read]);
                }
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..read.min(room)]);
                truncated |= read > room;
            }
        }
    }
}

/// A command's process group, killed (SIGKILL) when dropped.
struct ProcessGroup {
    leader: Option<Pid>,
}

impl ProcessGroup {
    fn new(leader_pid: Option<u32>) -> Self {
        Self { leader: leader_pid.and_then(|pid| i32::try_from(pid).ok()).map(Pid::from_raw) }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        if let Some(leader) = self.leader {
            // ESRCH (the group is already gone) is the common, fine case.
            let _ = killpg(leader, Signal::SIGKILL);
        }
    }
}

#[cfg(test)]
#[path = "command_tests.rs"]
mod tests;
