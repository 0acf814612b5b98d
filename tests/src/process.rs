//! One child process of ours: started from the workspace's release
//! binaries, its output captured to a log file, killed on drop. Servers are
//! started on port 0 with `--ready-file` and report the addresses they
//! bound ([`Process::start_server`]), so no test picks a port and races
//! another process for it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// Where the workspace's binaries are: `PASSER_BIN_DIR`, or the directory
/// of the test executable's parent (`target/<profile>/`).
pub fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PASSER_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

/// The path of binary `name`, failing with a hint if it was not built.
pub fn bin_path(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is missing: build the binaries first with `cargo build --release --workspace --bins`",
        path.display()
    );
    path
}

/// An address where nothing listens: port 1 on loopback (below 1024, so
/// no ephemeral port ever lands there). Connections to it are refused.
pub const DEAD_ADDRESS: &str = "127.0.0.1:1";

/// A name no other test process or call in this one uses: the pid and a
/// counter (for log files, temporary directories).
pub fn unique_name(prefix: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let count = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{prefix}-{}-{count}", std::process::id())
}

/// How long a server may take to bind its listeners and write its ready file.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// The addresses a server wrote to its `--ready-file`.
#[derive(Debug, Clone, Default)]
pub struct Ready {
    entries: Vec<(String, std::net::SocketAddr)>,
}

impl Ready {
    /// The bound address of listener `name` (`grpc`, `metrics`, `http`,
    /// `attach`) as `host:port`, failing with what the file held.
    pub fn address(&self, name: &str) -> anyhow::Result<String> {
        match self.entries.iter().find(|(n, _)| n == name) {
            Some((_, address)) => Ok(address.to_string()),
            None => anyhow::bail!("the ready file names no '{name}' listener: {:?}", self.entries),
        }
    }
}

/// A running child process, killed (SIGKILL) when dropped.
pub struct Process {
    /// What it is, for messages.
    pub name: String,
    child: Option<Child>,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
}

impl Process {
    /// Starts binary `binary` with `args` and extra environment.
    pub fn start(name: &str, binary: &str, args: &[String], env: &[(&str, String)]) -> anyhow::Result<Self> {
        Self::start_under(name, &[], binary, args, env)
    }

    /// Starts binary `binary` through `wrapper`, a command that execs its
    /// last argument with the rest (such as `prlimit --nofile=256:256 --`),
    /// so the pid is still the binary's.
    pub fn start_under(
        name: &str,
        wrapper: &[&str],
        binary: &str,
        args: &[String],
        env: &[(&str, String)],
    ) -> anyhow::Result<Self> {
        let log = std::env::temp_dir().join(format!("{}.log", unique_name(&format!("passer-test-{name}"))));
        let file = std::fs::File::create(&log).context("create log file")?;
        let mut command = match wrapper.split_first() {
            Some((program, wrapper_args)) => {
                let mut command = Command::new(program);
                command.args(wrapper_args).arg(bin_path(binary));
                command
            }
            None => Command::new(bin_path(binary)),
        };
        command.args(args).stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file);
        command.env("RUST_LOG", std::env::var("PASSER_TEST_LOG").unwrap_or_else(|_| "info".into()));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().with_context(|| format!("start {binary}"))?;
        Ok(Self { name: name.to_owned(), child: Some(child), log })
    }

    /// Starts server binary `binary` with `args` (whose listen flags may name
    /// port 0) plus `--ready-file`, and waits until it has bound every
    /// listener: returns it with the addresses it bound. Fails with its log
    /// if it exits first or takes longer than 20 s.
    pub async fn start_server(
        name: &str,
        binary: &str,
        args: &[String],
        env: &[(&str, String)],
    ) -> anyhow::Result<(Self, Ready)> {
        Self::start_server_under(name, &[], binary, args, env).await
    }

    /// [`Process::start_server`] through `wrapper` (see [`Process::start_under`]).
    pub async fn start_server_under(
        name: &str,
        wrapper: &[&str],
        binary: &str,
        args: &[String],
        env: &[(&str, String)],
    ) -> anyhow::Result<(Self, Ready)> {
        let ready_file = std::env::temp_dir().join(format!("{}.ready", unique_name(&format!("passer-test-{name}"))));
        let mut args = args.to_vec();
        args.extend(["--ready-file".to_owned(), ready_file.display().to_string()]);
        let mut process = Self::start_under(name, wrapper, binary, &args, env)?;
        let ready = process.wait_ready(&ready_file).await;
        let _ = std::fs::remove_file(&ready_file);
        Ok((process, ready?))
    }

    async fn wait_ready(&mut self, ready_file: &std::path::Path) -> anyhow::Result<Ready> {
        let deadline = tokio::time::Instant::now() + READY_WITHIN;
        loop {
            if let Ok(text) = std::fs::read_to_string(ready_file) {
                return Ok(Ready { entries: passer_server::ready::parse(&text) });
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                anyhow::bail!("{} exited ({status}) before it was ready; log:\n{}", self.name, self.log_tail());
            }
            if tokio::time::Instant::now() >= deadline {
                anyhow::bail!("{} wrote no ready file within {READY_WITHIN:?}; log:\n{}", self.name, self.log_tail());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Sends `signal` (e.g. SIGKILL, SIGTERM).
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid() as i32), signal);
    }

    /// Kills it with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits up to `timeout` for it to exit; returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Pids of its direct children (from /proc).
    pub fn children(&self) -> Vec<u32> {
        children_of(self.pid())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Pids whose parent is `parent`, read from `/proc/*/stat`.
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            // Fields after the command name (which ends with ')'): state ppid ...
            let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
            after.split_whitespace().nth(1).and_then(|ppid| ppid.parse::<u32>().ok()) == Some(parent)
        })
        .collect()
}

/// Peak resident memory of a process in KiB (VmHWM), if readable.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs the `passer` CLI with `args` and collects its output, failing if it
/// takes over 30 s.
pub async fn run_passer(args: &[&str]) -> anyhow::Result<std::process::Output> {
    let run = tokio::process::Command::new(bin_path("passer")).args(args).kill_on_drop(true).output();
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .with_context(|| format!("passer {args:?} hung"))?
        .context("run passer")
}

/// A process's output as text (lossy UTF-8).
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
