//! `passer-conformance-executor`: the Rust SDK's side of the executor
//! conformance suite (`tests/tests/conformance.rs`). It serves one executor
//! type whose payloads are the suite's small language, described in
//! [`passer_tests::conformance`]; `examples/python/conformance_executor.py`
//! speaks the same language with the Python SDK.
//!
//! `passer-conformance-executor [--executor-type conformance] [--slots 4]`,
//! attaching to `PASSER_ATTACH_ADDR`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use passer::executor::ExecutorBuilder;
use passer::{Task, TaskError};
use passer_tests::conformance::{BARRIER_LIMIT, CRASH_STATUS};
use tokio::sync::Notify;

/// How many tasks of each barrier key have arrived in this process.
static ARRIVALS: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Default::default);
static ARRIVED: Notify = Notify::const_new();

async fn handle(task: Task) -> Result<Vec<u8>, TaskError> {
    let text = String::from_utf8_lossy(&task.payload).into_owned();
    let (verb, argument) = text.split_once(':').unwrap_or((text.as_str(), ""));
    match verb {
        "echo" => Ok(argument.as_bytes().to_vec()),
        "fail" => Err(TaskError::new(argument)),
        "crash" => std::process::exit(CRASH_STATUS),
        "sleep" => {
            let millis: u64 = argument.parse().map_err(|_| TaskError::new(format!("bad sleep {argument:?}")))?;
            tokio::time::sleep(Duration::from_millis(millis)).await;
            Ok(b"slept".to_vec())
        }
        "barrier" => barrier(argument).await,
        "whoami" => Ok(format!("rust pid={}", std::process::id()).into_bytes()),
        "log" => {
            // Lands in this task's logs through passer's TaskLogLayer.
            tracing::info!(task = %task.task_id, "{argument}");
            Ok(b"logged".to_vec())
        }
        _ => Err(TaskError::new(format!("unknown conformance payload {text:?}"))),
    }
}

/// `barrier:<key>:<n>`: returns once `n` tasks with `key` are in this process.
async fn barrier(argument: &str) -> Result<Vec<u8>, TaskError> {
    let (key, count) = argument.split_once(':').ok_or_else(|| TaskError::new("barrier needs <key>:<n>"))?;
    let wanted: usize = count.parse().map_err(|_| TaskError::new(format!("bad barrier count {count:?}")))?;
    *ARRIVALS.lock().expect("arrivals lock").entry(key.to_owned()).or_default() += 1;
    ARRIVED.notify_waiters();
    let all_here = async {
        loop {
            let notified = ARRIVED.notified();
            if ARRIVALS.lock().expect("arrivals lock").get(key).copied().unwrap_or(0) >= wanted {
                return;
            }
            notified.await;
        }
    };
    match tokio::time::timeout(BARRIER_LIMIT, all_here).await {
        Ok(()) => Ok(wanted.to_string().into_bytes()),
        Err(_) => Err(TaskError::new(format!("barrier {key}: fewer than {wanted} tasks ran at once"))),
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|arg| arg == name).and_then(|index| args.get(index + 1)).cloned()
}

fn main() -> ExitCode {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::registry().with(passer::task_logs::TaskLogLayer).init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let executor_type = flag(&args, "--executor-type").unwrap_or_else(|| "conformance".to_owned());
    let Ok(slots) = flag(&args, "--slots").unwrap_or_else(|| "4".to_owned()).parse::<u32>() else {
        eprintln!("passer-conformance-executor: --slots must be a number");
        return ExitCode::from(64);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build();
    let result = runtime.map_err(|error| error.to_string()).and_then(|runtime| {
        runtime.block_on(async {
            let builder = ExecutorBuilder::from_env().map_err(|error| error.to_string())?;
            builder
                .handler(executor_type, slots, handle)
                .run(passer::signal::shutdown_signal())
                .await
                .map_err(|error| error.to_string())
        })
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("passer-conformance-executor: {message}");
            ExitCode::FAILURE
        }
    }
}
