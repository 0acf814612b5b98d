//! The executor runtime against a fake node monitor over real gRPC on
//! loopback: hello, results, deadlines, cancellation, panics, shutdown and
//! reconnection.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use passer::executor::Executor;
use passer::pb;
use passer::pb::executor_message::Message as FromExecutor;
use passer::pb::executors_server::{Executors, ExecutorsServer};
use passer::pb::node_message::Message as ToExecutor;
use passer::{ClientError, Task, TaskError};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status, Streaming};

use common::{dead_address, listener, rebind, within};

/// One executor attached to the fake node monitor, driven by the test.
struct Attached {
    hello: pb::executor_message::Hello,
    authorization: Option<String>,
    to_executor: mpsc::UnboundedSender<Result<pb::NodeMessage, Status>>,
    from_executor: Streaming<pb::ExecutorMessage>,
}

impl Attached {
    fn send(&self, message: ToExecutor) {
        self.to_executor.send(Ok(pb::NodeMessage { message: Some(message) })).expect("stream open");
    }

    fn run(&self, tasks: Vec<pb::RunTask>) {
        self.send(ToExecutor::Run(pb::node_message::RunTasks { tasks }));
    }

    /// Reads messages until `count` results came, skipping heartbeats.
    async fn results(&mut self, count: usize) -> Vec<pb::TaskResult> {
        let mut results = Vec::new();
        while results.len() < count {
            let message = within("results", self.from_executor.message()).await.expect("stream ok").expect("open");
            if let Some(FromExecutor::Results(batch)) = message.message {
                results.extend(batch.results);
            }
        }
        assert_eq!(results.len(), count, "more results than tasks: {results:?}");
        results
    }
}

struct FakeNodeMonitor {
    attached: mpsc::UnboundedSender<Attached>,
}

#[tonic::async_trait]
impl Executors for FakeNodeMonitor {
    type AttachStream = UnboundedReceiverStream<Result<pb::NodeMessage, Status>>;

    async fn attach(
        &self,
        request: Request<Streaming<pb::ExecutorMessage>>,
    ) -> Result<Response<Self::AttachStream>, Status> {
        let authorization = request.metadata().get("authorization").map(|value| value.to_str().unwrap().to_owned());
        let mut from_executor = request.into_inner();
        let hello = match from_executor.message().await? {
            Some(pb::ExecutorMessage { message: Some(FromExecutor::Hello(hello)) }) => hello,
            other => return Err(Status::invalid_argument(format!("expected hello first, got {other:?}"))),
        };
        let (to_executor, receiver) = mpsc::unbounded_channel();
        let _ = self.attached.send(Attached { hello, authorization, to_executor, from_executor });
        Ok(Response::new(UnboundedReceiverStream::new(receiver)))
    }
}

/// A running fake node monitor.
struct Server {
    attached: mpsc::UnboundedReceiver<Attached>,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<()>,
}

impl Server {
    fn start(listener: TcpListener) -> Server {
        let (sender, attached) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let service = ExecutorsServer::new(FakeNodeMonitor { attached: sender });
        let serving = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
        });
        Server { attached, stop, serving }
    }

    async fn next_attached(&mut self) -> Attached {
        within("an executor to attach", self.attached.recv()).await.expect("server running")
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        within("the server to stop", self.serving).await.expect("server task");
    }
}

/// How many `marked-sleep` tasks have started (only one test uses them).
static MARKED_STARTED: AtomicUsize = AtomicUsize::new(0);

/// Payloads: `echo:<text>`, `sleep:<ms>`, `marked-sleep:<ms>`, `fail`, `panic`.
async fn test_handler(task: Task) -> Result<Vec<u8>, TaskError> {
    let mut payload = String::from_utf8(task.payload.to_vec()).expect("utf-8 payload");
    if let Some(millis) = payload.strip_prefix("marked-") {
        MARKED_STARTED.fetch_add(1, Ordering::SeqCst);
        payload = millis.to_owned();
    }
    if let Some(text) = payload.strip_prefix("echo:") {
        return Ok(format!("{text}#{}", task.attempt).into_bytes());
    }
    if let Some(millis) = payload.strip_prefix("sleep:") {
        tokio::time::sleep(Duration::from_millis(millis.parse().unwrap())).await;
        return Ok(b"slept".to_vec());
    }
    match payload.as_str() {
        "fail" => Err(TaskError::new("asked to fail")),
        "panic" => panic!("handler exploded"),
        other => Err(TaskError::new(format!("unknown payload {other}"))),
    }
}

fn task(task_id: &str, payload: &str, deadline_ms: u64) -> pb::RunTask {
    pb::RunTask {
        job_id: "job".to_owned(),
        task_id: task_id.to_owned(),
        attempt: 2,
        payload: passer::Bytes::copy_from_slice(payload.as_bytes()),
        deadline_ms,
    }
}

/// Starts an executor for type `test` with 4 slots; returns its trigger and handle.
fn start_executor(address: SocketAddr) -> (oneshot::Sender<()>, JoinHandle<Result<(), ClientError>>) {
    let (shutdown, shutdown_signal) = oneshot::channel::<()>();
    let executor = Executor::builder(format!("http://{address}"))
        .name("tester")
        .token(Some("s3cret".to_owned()))
        .handler("test", 4, test_handler)
        .run(async {
            let _ = shutdown_signal.await;
        });
    (shutdown, tokio::spawn(executor))
}

/// Starts a fake node monitor and an executor attached to it.
async fn attached_executor() -> (Server, Attached, oneshot::Sender<()>, JoinHandle<Result<(), ClientError>>) {
    let (listener, address) = listener().await;
    let mut server = Server::start(listener);
    let (shutdown, executor) = start_executor(address);
    let attached = server.next_attached().await;
    (server, attached, shutdown, executor)
}

#[tokio::test]
async fn hello_then_tasks_run_and_node_monitor_shutdown_ends_run() {
    let (_server, mut attached, _shutdown, executor) = attached_executor().await;
    assert_eq!(attached.hello.executor, "test");
    assert_eq!(attached.hello.slots, 4);
    assert_eq!(attached.hello.pid, std::process::id());
    assert_eq!(attached.hello.name, "tester");
    assert_eq!(attached.authorization.as_deref(), Some("Bearer s3cret"));
    attached.run(vec![task("a", "echo:x", 5000), task("b", "fail", 5000), task("c", "echo:y", 0)]);
    let mut results = attached.results(3).await;
    results.sort_by(|left, right| left.task_id.cmp(&right.task_id));
    assert!(results[0].ok && results[0].output == "x#2" && results[0].attempt == 2 && results[0].job_id == "job");
    assert!(!results[1].ok && results[1].error == "asked to fail");
    assert!(results[2].ok && results[2].output == "y#2");
    attached.send(ToExecutor::Shutdown(pb::node_message::Shutdown {}));
    drop(attached);
    assert!(within("run to return", executor).await.unwrap().is_ok());
}

#[tokio::test]
async fn deadline_shorter_than_the_handler_is_exceeded() {
    let (_server, mut attached, _shutdown, _executor) = attached_executor().await;
    attached.run(vec![task("slow", "sleep:10000", 50)]);
    let results = attached.results(1).await;
    assert!(!results[0].ok);
    assert_eq!(results[0].error, "deadline exceeded");
}

#[tokio::test]
async fn cancel_task_reports_cancelled_once() {
    let (_server, mut attached, _shutdown, _executor) = attached_executor().await;
    attached.run(vec![task("slow", "sleep:10000", 0)]);
    let cancel = pb::node_message::CancelTask {
        job_id: "job".to_owned(),
        task_id: "slow".to_owned(),
        reason: "job cancelled".to_owned(),
    };
    attached.send(ToExecutor::Cancel(cancel.clone()));
    let results = attached.results(1).await;
    assert_eq!((results[0].task_id.as_str(), results[0].ok), ("slow", false));
    assert_eq!(results[0].error, "cancelled: job cancelled");
    // A second cancel of the same task and a fresh task: only the fresh task reports.
    attached.send(ToExecutor::Cancel(cancel));
    attached.run(vec![task("next", "echo:z", 5000)]);
    let results = attached.results(1).await;
    assert_eq!(results[0].task_id, "next");
}

#[tokio::test]
async fn panicking_handler_is_reported_and_the_executor_survives() {
    let (_server, mut attached, _shutdown, _executor) = attached_executor().await;
    attached.run(vec![task("boom", "panic", 5000)]);
    let results = attached.results(1).await;
    assert!(!results[0].ok);
    assert!(results[0].error.starts_with("handler panicked: handler exploded"), "{}", results[0].error);
    attached.run(vec![task("after", "echo:ok", 5000)]);
    assert_eq!(attached.results(1).await[0].output, "ok#2");
}

#[tokio::test]
async fn shutdown_signal_lets_running_tasks_finish() {
    let (_server, mut attached, shutdown, executor) = attached_executor().await;
    attached.run(vec![task("slow", "marked-sleep:300", 5000)]);
    within("the task to start", async {
        while MARKED_STARTED.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    shutdown.send(()).unwrap();
    let results = attached.results(1).await;
    assert!(results[0].ok, "the running task finished: {results:?}");
    drop(attached);
    assert!(within("run to return", executor).await.unwrap().is_ok());
}

#[tokio::test]
async fn executor_waits_for_the_node_monitor_and_reconnects_after_restart() {
    let address = dead_address().await;
    let (_shutdown, _executor) = start_executor(address);
    // The executor starts first and keeps retrying until the node monitor is up.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut server = Server::start(rebind(address).await);
    let mut attached = server.next_attached().await;
    attached.run(vec![task("first", "echo:1", 5000)]);
    assert!(attached.results(1).await[0].ok);

    attached.to_executor.send(Err(Status::unavailable("node monitor restarting"))).unwrap();
    drop(attached);
    server.stop().await;
    let mut restarted = Server::start(rebind(address).await);
    let mut attached = restarted.next_attached().await;
    assert_eq!(attached.hello.executor, "test");
    attached.run(vec![task("second", "echo:2", 5000)]);
    assert_eq!(attached.results(1).await[0].output, "2#2");
}
