//! The scheduler's half of placement on a node's `Session` stream: when a
//! node monitor announced `takes_reservations`, its reservations, offers and
//! cancellations go down the stream it already holds open instead of one
//! unary call each, and the answers come back on it matched by request id.
//!
//! The queue to the stream is bounded: when it is full (or the stream gone)
//! the caller gets its request back and makes the unary call instead. An
//! answer that never comes (the stream broke, the node went away) resolves
//! as `None`, exactly like a failed unary call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use parking_lot::Mutex;
use passer::security::tls::NodeClient;
use passer_proto::pb;
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;

use crate::nodes::NodeRegistry;
use crate::stats::{add, Stats};

/// Placement messages queued for one node's stream at most; beyond this the
/// unary calls carry the excess.
pub const STREAM_QUEUE: usize = 1024;
/// Most queued messages merged into one stream message.
const BATCH: usize = 256;

type Waiters = Arc<Mutex<HashMap<u64, oneshot::Sender<pb::EnqueueReservationsResponse>>>>;

/// A placement message bound for a node.
#[derive(Debug)]
pub enum Outbound {
    /// Reservations and offered tasks of one job.
    Reserve(pb::EnqueueReservationsRequest),
    /// A proactive cancellation.
    Cancel(pb::CancelReservationsRequest),
}

/// The sending side of placement on one node's session; cheap to clone.
#[derive(Clone)]
pub struct NodeStream {
    sender: mpsc::Sender<Outbound>,
    waiters: Waiters,
    next_request: Arc<AtomicU64>,
}

/// An answer awaited from the stream; dropping it forgets the request.
pub struct PendingAnswer {
    request_id: u64,
    receiver: oneshot::Receiver<pb::EnqueueReservationsResponse>,
    waiters: Waiters,
}

impl PendingAnswer {
    /// The node's answer, or `None` when the stream ended without one.
    pub async fn answer(mut self) -> Option<pb::EnqueueReservationsResponse> {
        (&mut self.receiver).await.ok()
    }
}

impl Drop for PendingAnswer {
    fn drop(&mut self) {
        self.waiters.lock().remove(&self.request_id);
    }
}

impl NodeStream {
    /// A handle and the receiving end the session's outbound stream drains.
    pub fn new() -> (Self, mpsc::Receiver<Outbound>) {
        let (sender, receiver) = mpsc::channel(STREAM_QUEUE);
        let stream = Self { sender, waiters: Arc::default(), next_request: Arc::new(AtomicU64::new(1)) };
        (stream, receiver)
    }

    /// Queues reservations for the node; gives the request back when the
    /// queue is full or the stream closed, for the unary call to carry.
    pub fn reserve(
        &self,
        mut request: pb::EnqueueReservationsRequest,
    ) -> Result<PendingAnswer, Box<pb::EnqueueReservationsRequest>> {
        let request_id = self.next_request.fetch_add(1, Ordering::Relaxed);
        request.request_id = request_id;
        let (answer, receiver) = oneshot::channel();
        self.waiters.lock().insert(request_id, answer);
        let pending = PendingAnswer { request_id, receiver, waiters: Arc::clone(&self.waiters) };
        match self.sender.try_send(Outbound::Reserve(request)) {
            Ok(()) => Ok(pending),
            Err(mpsc::error::TrySendError::Full(Outbound::Reserve(mut request)))
            | Err(mpsc::error::TrySendError::Closed(Outbound::Reserve(mut request))) => {
                request.request_id = 0;
                Err(Box::new(request))
            }
            Err(_) => unreachable!("try_send returns the message it was given"),
        }
    }

    /// Queues a cancellation; gives it back when the stream cannot take it.
    pub fn cancel(&self, request: pb::CancelReservationsRequest) -> Result<(), pb::CancelReservationsRequest> {
        self.sender.try_send(Outbound::Cancel(request)).map_err(|error| match error.into_inner() {
            Outbound::Cancel(request) => request,
            Outbound::Reserve(_) => unreachable!("try_send returns the message it was given"),
        })
    }

    /// Hands answers from the node to the placements awaiting them; answers
    /// nobody waits for any more (timed out) are dropped.
    pub fn resolve(&self, answers: Vec<pb::EnqueueReservationsResponse>) {
        let mut waiters = self.waiters.lock();
        for answer in answers {
            if let Some(waiter) = waiters.remove(&answer.request_id) {
                let _ = waiter.send(answer);
            }
        }
    }

    /// The stream ended: every awaited answer resolves as lost.
    pub fn close(&self) {
        self.waiters.lock().clear();
    }
}

/// Sends reservations to a node: down its session when it has one that
/// takes them and room in the queue, else by the unary call (on the
/// client `nodes` holds for `node_id`). Either way the answer (or `Err`
/// naming why there is none) comes within `timeout`.
pub async fn enqueue(
    stream_opt: Option<NodeStream>,
    nodes: &NodeRegistry,
    node_id: &str,
    request: pb::EnqueueReservationsRequest,
    timeout: Duration,
    stats: &Stats,
) -> Result<pb::EnqueueReservationsResponse, String> {
    let request = match &stream_opt {
        Some(stream) => match stream.reserve(request) {
            Ok(pending) => {
                add(&stats.placements_streamed, 1);
                return match tokio::time::timeout(timeout, pending.answer()).await {
                    Ok(Some(answer)) => Ok(answer),
                    Ok(None) => Err("the session ended before the node answered".to_owned()),
                    Err(_) => Err("the node did not answer on its session in time".to_owned()),
                };
            }
            Err(request) => *request,
        },
        None => request,
    };
    let Some(mut client) = nodes.client(node_id) else {
        return Err("the node is no longer known".to_owned());
    };
    add(&stats.placements_unary, 1);
    match tokio::time::timeout(timeout, client.enqueue_reservations(request)).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(status.to_string()),
        Err(_) => Err("EnqueueReservations timed out".to_owned()),
    }
}

/// Cancels reservations on a node by the unary call (when its session
/// cannot take them, see [`NodeStream::cancel`]); returns the count the
/// node answers, 0 when the call fails.
pub async fn cancel_unary(mut client: NodeClient, request: pb::CancelReservationsRequest, timeout: Duration) -> u32 {
    match tokio::time::timeout(timeout, client.cancel_reservations(request)).await {
        Ok(Ok(response)) => response.into_inner().cancelled,
        Ok(Err(_)) | Err(_) => 0,
    }
}

/// The stream messages for the node: whatever is queued when the stream is
/// ready is merged into one message (no waiting for more), cut where the
/// offered tasks' payloads reach the batch budget.
pub fn outbound(receiver: mpsc::Receiver<Outbound>) -> impl Stream<Item = pb::SchedulerToNode> + Send {
    ReceiverStream::new(receiver).ready_chunks(BATCH).flat_map(|batch| futures::stream::iter(merge(batch)))
}

fn merge(batch: Vec<Outbound>) -> Vec<pb::SchedulerToNode> {
    let budget = passer_proto::batch_budget(passer_proto::MAX_MESSAGE_BYTES_DEFAULT);
    let mut messages = Vec::new();
    let mut message = pb::SchedulerToNode::default();
    let mut bytes = 0;
    for item in batch {
        match item {
            Outbound::Cancel(cancel) => message.cancels.push(cancel),
            Outbound::Reserve(request) => {
                let size: usize = request.offered.iter().map(|launch| launch.payload.len()).sum();
                if bytes + size > budget && !message.reservations.is_empty() {
                    messages.push(std::mem::take(&mut message));
                    bytes = 0;
                }
                bytes += size;
                message.reservations.push(request);
            }
        }
    }
    messages.push(message);
    messages
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(job: &str) -> pb::EnqueueReservationsRequest {
        pb::EnqueueReservationsRequest { job_id: job.into(), count: 1, ..Default::default() }
    }

    #[tokio::test]
    async fn answers_find_their_requests_by_id() {
        let (stream, mut receiver) = NodeStream::new();
        let first = stream.reserve(request("a")).expect("queued");
        let second = stream.reserve(request("b")).expect("queued");
        let mut ids = Vec::new();
        while let Ok(Outbound::Reserve(sent)) = receiver.try_recv() {
            ids.push((sent.job_id, sent.request_id));
        }
        assert_eq!(ids.len(), 2);
        assert_ne!(ids[0].1, ids[1].1, "each request has its own id");
        let answer =
            |id: u64, accepted: u32| pb::EnqueueReservationsResponse { request_id: id, accepted, ..Default::default() };
        stream.resolve(vec![answer(ids[1].1, 2), answer(ids[0].1, 1), answer(999, 7)]);
        assert_eq!(first.answer().await.map(|a| a.accepted), Some(1));
        assert_eq!(second.answer().await.map(|a| a.accepted), Some(2));
    }

    #[tokio::test]
    async fn a_closed_stream_resolves_waiters_as_lost_and_refuses_new_requests() {
        let (stream, receiver) = NodeStream::new();
        let pending = stream.reserve(request("a")).expect("queued");
        stream.close();
        assert!(pending.answer().await.is_none(), "the lost answer resolves like a failed call");
        drop(receiver);
        let returned = stream.reserve(request("b")).err().expect("a closed stream gives the request back");
        assert_eq!((returned.job_id.as_str(), returned.request_id), ("b", 0));
    }

    #[test]
    fn a_full_queue_gives_requests_back_for_the_unary_call() {
        let (stream, _receiver) = NodeStream::new();
        let kept: Vec<_> = (0..STREAM_QUEUE).map(|_| stream.reserve(request("a")).expect("room")).collect();
        assert!(stream.reserve(request("b")).is_err(), "the bounded queue is full");
        drop(kept);
        assert!(stream.waiters.lock().is_empty(), "dropped answers are forgotten");
    }

    #[test]
    fn a_burst_merges_into_one_message() {
        let batch = vec![
            Outbound::Reserve(request("a")),
            Outbound::Cancel(pb::CancelReservationsRequest { job_id: "c".into(), ..Default::default() }),
            Outbound::Reserve(request("b")),
        ];
        let messages = merge(batch);
        assert_eq!(messages.len(), 1);
        assert_eq!((messages[0].reservations.len(), messages[0].cancels.len()), (2, 1));
    }
}
