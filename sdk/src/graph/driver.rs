//! The thin async driver of a graph run: it carries out the state machine's
//! effects — submits each ready stage as an ordinary job through
//! [`Client::submit`] (several at once, so independent branches run
//! concurrently), merges their result streams, hands events to the caller
//! over a bounded channel — and answers cancellation.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use futures::stream::{BoxStream, SelectAll};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, warn};

use super::error::GraphError;
use super::outcome::{GraphEvent, GraphOutcome};
use super::state::{Effect, GraphState, Phase};
use crate::client::{Client, JobResults, JobSpec, TaskOutput};
use crate::error::ClientError;

/// Events buffered for the caller before the driver waits for it to read.
const EVENT_BUFFER: usize = 1024;

/// A running graph: its events as they happen, then its outcome.
pub struct GraphRun {
    graph_id: String,
    events: mpsc::Receiver<GraphEvent>,
    outcome: oneshot::Receiver<Result<GraphOutcome, GraphError>>,
    cancel: CancelHandle,
}

/// Cancels a running graph from anywhere; cheap to clone.
#[derive(Clone)]
pub struct CancelHandle {
    shared: Arc<Shared>,
}

struct Shared {
    client: Client,
    cancelled: AtomicBool,
    notify: Notify,
    /// Job ids submitted and not yet finished.
    running: Mutex<HashSet<String>>,
}

/// What one stage's job stream yields.
enum JobItem {
    Accepted,
    /// A result, boxed: a `TaskOutput` is large beside `Accepted`.
    Result(Result<Box<TaskOutput>, ClientError>),
}

impl GraphRun {
    /// Starts driving `state` on the current tokio runtime.
    pub(crate) fn spawn(client: Client, graph_id: String, state: GraphState) -> GraphRun {
        let (event_sender, events) = mpsc::channel(EVENT_BUFFER);
        let (outcome_sender, outcome) = oneshot::channel();
        let shared = Arc::new(Shared {
            client,
            cancelled: AtomicBool::new(false),
            notify: Notify::new(),
            running: Mutex::new(HashSet::new()),
        });
        let driver = Driver {
            graph_id: graph_id.clone(),
            shared: shared.clone(),
            events: event_sender,
            streams: SelectAll::new(),
        };
        tokio::spawn(async move {
            let result = driver.run(state).await;
            let _ = outcome_sender.send(result);
        });
        GraphRun { graph_id, events, outcome, cancel: CancelHandle { shared } }
    }

    /// The graph's id.
    pub fn graph_id(&self) -> &str {
        &self.graph_id
    }

    /// The next event; `None` once the graph has ended.
    pub async fn next(&mut self) -> Option<GraphEvent> {
        self.events.recv().await
    }

    /// Waits for the end (reading and dropping the events not read yet) and
    /// returns the outcome. A stage that could not be submitted, or whose
    /// result stream failed after the client's retries, is an error; failed
    /// and cancelled tasks are not (see [`GraphOutcome::succeeded`]).
    pub async fn outcome(mut self) -> Result<GraphOutcome, GraphError> {
        while self.events.recv().await.is_some() {}
        match self.outcome.await {
            Ok(result) => result,
            Err(_) => Err(GraphError::DriverLost { graph: self.graph_id }),
        }
    }

    /// A handle that cancels the whole graph.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }
}

impl fmt::Debug for GraphRun {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("GraphRun").field("graph_id", &self.graph_id).finish_non_exhaustive()
    }
}

impl CancelHandle {
    /// Cancels the graph: no stage starts any more, waiting stages end
    /// `CANCELLED` (`graph cancelled`), and the jobs in flight are cancelled
    /// on their schedulers. Returns once the cancellations were sent.
    pub async fn cancel(&self) {
        self.shared.cancelled.store(true, Ordering::SeqCst);
        self.shared.notify.notify_one();
        let running: Vec<String> = self.shared.running.lock().iter().cloned().collect();
        for job_id in running {
            if let Err(error) = self.shared.client.cancel(&job_id).await {
                warn!(%job_id, %error, "cancelling a graph's job failed");
            }
        }
    }

    /// Whether the graph was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.shared.cancelled.load(Ordering::SeqCst)
    }
}

impl fmt::Debug for CancelHandle {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("CancelHandle").field("cancelled", &self.is_cancelled()).finish()
    }
}

struct Driver {
    graph_id: String,
    shared: Arc<Shared>,
    events: mpsc::Sender<GraphEvent>,
    streams: SelectAll<BoxStream<'static, (usize, JobItem)>>,
}

impl Driver {
    async fn run(mut self, mut state: GraphState) -> Result<GraphOutcome, GraphError> {
        let effects = state.start();
        if !self.apply(effects).await {
            return self.detach(&mut state);
        }
        let mut cancel_seen = false;
        while !state.is_finished() {
            let item_opt = tokio::select! {
                biased;
                () = self.shared.notify.notified(), if !cancel_seen => None,
                item_opt = self.streams.next() => Some(item_opt),
            };
            let effects = match item_opt {
                None => {
                    cancel_seen = true;
                    debug!(graph_id = %self.graph_id, "graph cancelled");
                    state.cancel("graph cancelled")
                }
                Some(None) => {
                    debug_assert!(false, "a graph that is not finished has a job in flight");
                    return Err(GraphError::DriverLost { graph: self.graph_id });
                }
                Some(Some((node, JobItem::Accepted))) => {
                    if self.shared.cancelled.load(Ordering::SeqCst) {
                        self.cancel_job(state.job_id(node).to_owned());
                    }
                    continue;
                }
                Some(Some((node, JobItem::Result(Ok(output))))) => {
                    let effects = state.on_result(node, *output);
                    if state.phase(node) == Phase::Done {
                        self.shared.running.lock().remove(state.job_id(node));
                    }
                    effects
                }
                Some(Some((node, JobItem::Result(Err(error))))) => {
                    warn!(graph_id = %self.graph_id, node = state.name(node), %error, "a stage's job failed, cancelling the graph");
                    let failure =
                        GraphError::Client { graph: self.graph_id.clone(), node: state.name(node).to_owned(), error };
                    for effect in state.cancel("graph stopped: a stage's job failed") {
                        if let Effect::CancelJob { job_id } = effect {
                            self.cancel_job(job_id);
                        }
                    }
                    return Err(failure);
                }
            };
            if !self.apply(effects).await {
                return self.detach(&mut state);
            }
        }
        Ok(state.into_outcome())
    }

    /// Carries out `effects`; false once the caller dropped its [`GraphRun`].
    async fn apply(&mut self, effects: Vec<Effect>) -> bool {
        for effect in effects {
            match effect {
                Effect::Submit { node, job } => {
                    self.shared.running.lock().insert(job.job_id.clone());
                    self.streams.push(job_stream(self.shared.client.clone(), node, job));
                }
                Effect::CancelJob { job_id } => self.cancel_job(job_id),
                Effect::Event(event) => {
                    if self.events.send(event).await.is_err() {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// The caller is gone: cancel what runs and stop.
    fn detach(self, state: &mut GraphState) -> Result<GraphOutcome, GraphError> {
        debug!(graph_id = %self.graph_id, "graph run dropped, cancelling its jobs");
        for effect in state.cancel("graph run dropped") {
            if let Effect::CancelJob { job_id } = effect {
                self.cancel_job(job_id);
            }
        }
        Err(GraphError::DriverLost { graph: self.graph_id })
    }

    fn cancel_job(&self, job_id: String) {
        let client = self.shared.client.clone();
        tokio::spawn(async move {
            if let Err(error) = client.cancel(&job_id).await {
                warn!(%job_id, %error, "cancelling a graph's job failed");
            }
        });
    }
}

/// The stream of one stage's job: `Accepted` once a scheduler took it, then
/// one result per task; a submission error is one `Err` result.
fn job_stream(client: Client, node: usize, job: JobSpec) -> BoxStream<'static, (usize, JobItem)> {
    enum Step {
        Submit(Client, JobSpec),
        Stream(Box<JobResults>),
        Done,
    }
    futures::stream::unfold(Step::Submit(client, job), |step| async move {
        match step {
            Step::Submit(client, job) => match client.submit(job).await {
                Ok(results) => Some((JobItem::Accepted, Step::Stream(Box::new(results)))),
                Err(error) => Some((JobItem::Result(Err(error)), Step::Done)),
            },
            Step::Stream(mut results) => {
                let item = results.next().await?;
                Some((JobItem::Result(item.map(Box::new)), Step::Stream(results)))
            }
            Step::Done => None,
        }
    })
    .map(move |item| (node, item))
    .boxed()
}
