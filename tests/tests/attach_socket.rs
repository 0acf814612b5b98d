//! Executors attaching over a Unix domain socket, on real processes: a
//! supervised `passer executor` gets a private socket by default and runs
//! tasks through it, the socket goes away on shutdown; an external executor
//! attaches at `--attach-socket`; bad socket paths fail with messages naming
//! the flag or the path.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{ensure, Context};
use nix::sys::signal::Signal;
use passer::JobSpec;
use passer_tests::{bin_path, unique_name, Cluster, Process, Within, ANY_PORT};

fn passer_executor(attach: Option<&str>) -> Vec<String> {
    let mut args = vec!["executor".to_owned(), "--builtin".to_owned(), "echo".to_owned(), "--slots".to_owned()];
    args.push("2".to_owned());
    if let Some(address) = attach {
        args.extend(["--attach".to_owned(), address.to_owned()]);
    }
    args
}

/// A fresh directory for a test's socket.
fn scratch_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(unique_name(&format!("passer-{name}")));
    std::fs::create_dir_all(&dir).context("create the scratch dir")?;
    Ok(dir)
}

/// `PASSER_ATTACH_ADDR` in the environment of process `pid`.
fn attach_addr_of(pid: u32) -> anyhow::Result<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).context("read the executor's environment")?;
    environ
        .split(|byte| *byte == 0)
        .filter_map(|entry| std::str::from_utf8(entry).ok())
        .find_map(|entry| entry.strip_prefix("PASSER_ATTACH_ADDR=").map(str::to_owned))
        .context("the executor has no PASSER_ATTACH_ADDR")
}

/// Polls `process`'s log until it contains `needle` (at most `patience`).
async fn wait_log(process: &Process, needle: &str, patience: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        if std::fs::read_to_string(&process.log).unwrap_or_default().contains(needle) {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "{} never logged {needle:?}:\n{}",
            process.name,
            process.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs 20 echo tasks and checks each ran on executor process `pid`.
async fn run_on(cluster: &Cluster, job_id: &str, pid: u32) -> anyhow::Result<()> {
    let results =
        cluster.client().run(JobSpec::uniform(job_id, "echo", 20, "hi")).within("the results of job echo").await??;
    ensure!(results.len() == 20, "one result per task");
    for result in &results {
        ensure!(result.succeeded(), "{} failed: {}", result.task_id, result.error);
        ensure!(result.executor_id == format!("pid:{pid}"), "{} ran on {}", result.task_id, result.executor_id);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_executor_attaches_over_a_private_socket_removed_on_shutdown() -> anyhow::Result<()> {
    let command = format!("{} {}", bin_path("passer").display(), passer_executor(None).join(" "));
    let mut cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--builtin".to_owned(), String::new(), "--executor".to_owned(), command])
        .start()
        .await?;
    cluster.wait_nodes_up(0, 1).await?;
    let children = cluster.node_monitors[0].children();
    ensure!(children.len() == 1, "one supervised executor: {children:?}");
    let executor_pid = children[0];

    let address = attach_addr_of(executor_pid)?;
    let socket = PathBuf::from(address.strip_prefix("unix:").with_context(|| format!("not a socket: {address}"))?);
    let metadata = std::fs::symlink_metadata(&socket).context("the socket file exists")?;
    ensure!(metadata.file_type().is_socket(), "{} is a socket", socket.display());
    ensure!(metadata.permissions().mode() & 0o777 == 0o600, "socket mode {:o}", metadata.permissions().mode());
    let dir = socket.parent().context("socket dir")?.to_owned();
    let dir_mode = std::fs::metadata(&dir)?.permissions().mode() & 0o777;
    ensure!(dir_mode == 0o700, "private dir mode {dir_mode:o}");

    run_on(&cluster, "socket-supervised", executor_pid).await?;
    let node_log = std::fs::read_to_string(&cluster.node_monitors[0].log)?;
    ensure!(
        node_log.contains("transport=\"unix\"") || node_log.contains("transport=unix"),
        "the node monitor logs the attach as unix:\n{}",
        cluster.node_monitors[0].log_tail()
    );

    let node = &mut cluster.node_monitors[0];
    node.signal(Signal::SIGTERM);
    let status = node.wait_exit(Duration::from_secs(20)).context("the node monitor stops on SIGTERM")?;
    ensure!(status.success(), "clean exit: {status}");
    ensure!(!socket.exists(), "{} removed on shutdown", socket.display());
    ensure!(!dir.exists(), "{} removed on shutdown", dir.display());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_executor_attaches_at_the_attach_socket_flag() -> anyhow::Result<()> {
    let dir = scratch_dir("attach-socket")?;
    let socket = dir.join("attach.sock");
    // A stale socket file from a crashed node monitor is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket)?);
    let socket_arg = socket.display().to_string();
    let cluster = Cluster::builder()
        .node_monitors(1)
        .node_args(["--builtin".to_owned(), String::new(), "--attach-socket".to_owned(), socket_arg.clone()])
        .start()
        .await?;
    let executor = Process::start("executor", "passer", &passer_executor(Some(&format!("unix:{socket_arg}"))), &[])?;
    cluster.wait_nodes_up(0, 1).await.with_context(|| executor.log_tail())?;
    run_on(&cluster, "socket-external", executor.pid()).await?;
    drop(cluster);
    drop(executor);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_socket_paths_are_named_in_the_error() -> anyhow::Result<()> {
    let missing_dir = Path::new("/nonexistent-passer-dir/attach.sock");
    let args = vec![
        "--listen".to_owned(),
        ANY_PORT.to_owned(),
        "--attach-socket".to_owned(),
        missing_dir.display().to_string(),
    ];
    let mut node = Process::start("bad-socket-node", "passer-node-monitor", &args, &[])?;
    let status = node.wait_exit(Duration::from_secs(10)).context("the node monitor exits")?;
    ensure!(status.code() == Some(64), "exit 64 on a bad flag, got {status}");
    let log = std::fs::read_to_string(&node.log)?;
    ensure!(
        log.contains(
            "--attach-socket /nonexistent-passer-dir/attach.sock: directory /nonexistent-passer-dir does not exist"
        ),
        "message names the flag: {log}"
    );

    let address = "unix:/nonexistent-passer-dir/attach.sock";
    let executor = Process::start("lost-executor", "passer", &passer_executor(Some(address)), &[])?;
    wait_log(
        &executor,
        "unix socket /nonexistent-passer-dir/attach.sock: No such file or directory",
        Duration::from_secs(10),
    )
    .await
}
