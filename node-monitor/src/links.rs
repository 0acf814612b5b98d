//! Scheduler links: one long-lived `TaskSource.Session` stream from this node
//! monitor to each scheduler it holds reservations for. GetTask requests,
//! finished attempts, progress and answers to reservations go out batched;
//! grants, reservations (with offered tasks) and cancellations come back, so
//! once a link is open every hop of a job rides it. A link that cannot
//! connect or breaks reports itself lost, and the next message to that
//! scheduler opens a new one.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use passer_proto::pb;
use passer_proto::pb::task_source_client::TaskSourceClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::monitor::Monitor;
use crate::service;

/// Most items merged into one stream message.
const BATCH: usize = 512;

/// A message bound for a scheduler.
#[derive(Debug)]
pub enum LinkMessage {
    /// Ask for tasks.
    Request(pb::GetTaskRequest),
    /// Report a finished attempt.
    Outcome(pb::TaskOutcome),
    /// Forward a running attempt's progress.
    Progress(pb::TaskProgress),
    /// Answer reservations the scheduler sent on the stream.
    Answer(pb::EnqueueReservationsResponse),
    /// Say how many reservations the scheduler's cancellations removed.
    Cancelled(u32),
}

/// The sending half of a link.
pub struct LinkHandle {
    /// Where messages for the scheduler go.
    pub sender: mpsc::UnboundedSender<LinkMessage>,
    /// Distinguishes this link from later ones to the same scheduler.
    pub generation: u64,
}

/// How links connect.
#[derive(Debug, Clone)]
pub struct LinkConfig {
    /// This node's id, sent first on every stream.
    pub node_id: String,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// TLS and the shared token for the streams to schedulers.
    pub peers: passer::security::PeerConnector,
    /// Whether reservations, offers and cancellations are taken on the
    /// stream (announced in the first message); off, schedulers keep using
    /// the unary calls, as with a node monitor that predates the stream.
    pub takes_reservations: bool,
}

/// Starts a link task to `scheduler` and returns its handle.
pub fn spawn_link(monitor: Arc<Monitor>, scheduler: String, generation: u64, config: LinkConfig) -> LinkHandle {
    let (sender, receiver) = mpsc::unbounded_channel();
    let answers = sender.downgrade();
    tokio::spawn(async move {
        let reason = match run_link(&monitor, &scheduler, receiver, answers, &config).await {
            Ok(()) => "stream closed".to_owned(),
            Err(error) => error,
        };
        monitor.link_lost(&scheduler, generation, &reason);
    });
    LinkHandle { sender, generation }
}

/// Turns a burst of items into stream messages, cut when the outcomes'
/// outputs reach the batch budget so each stays under the message limit.
/// Requests and outcomes are stamped with the time they leave
/// (`asked_us`, [`pb::HopTimes::reported_us`]).
fn merge_items(batch: Vec<LinkMessage>) -> Vec<pb::NodeToScheduler> {
    let budget = passer_proto::batch_budget(passer_proto::MAX_MESSAGE_BYTES_DEFAULT);
    let sent_us = passer_proto::unix_micros();
    let mut messages = Vec::new();
    let mut message = pb::NodeToScheduler::default();
    let mut bytes = 0;
    for item in batch {
        match item {
            LinkMessage::Request(mut request) => {
                request.asked_us = sent_us;
                message.requests.push(request);
            }
            LinkMessage::Progress(progress) => message.progress.push(progress),
            LinkMessage::Answer(answer) => message.reservation_answers.push(answer),
            LinkMessage::Cancelled(count) => message.reservations_cancelled += count,
            LinkMessage::Outcome(mut outcome) => {
                if let Some(hops) = outcome.hops.as_mut() {
                    hops.reported_us = sent_us;
                }
                if bytes + outcome.output.len() > budget && !message.outcomes.is_empty() {
                    messages.push(std::mem::take(&mut message));
                    bytes = 0;
                }
                bytes += outcome.output.len();
                message.outcomes.push(outcome);
            }
        }
    }
    messages.push(message);
    messages
}

/// Notes when granted tasks reached this node in their hop times.
fn stamp_received(responses: &mut [pb::GetTaskResponse]) {
    let received_us = passer_proto::unix_micros();
    for launch in responses.iter_mut().flat_map(|response| response.tasks.iter_mut()) {
        if let Some(hops) = launch.hops.as_mut() {
            hops.node_received_us = received_us;
        }
    }
}

async fn run_link(
    monitor: &Arc<Monitor>,
    scheduler: &str,
    receiver: mpsc::UnboundedReceiver<LinkMessage>,
    answers: mpsc::WeakUnboundedSender<LinkMessage>,
    config: &LinkConfig,
) -> Result<(), String> {
    let endpoint = config.peers.endpoint(scheduler, config.connect_timeout)?;
    let channel = endpoint.connect().await.map_err(|e| format!("cannot connect: {e}"))?;
    let mut client = TaskSourceClient::new(channel)
        .max_decoding_message_size(passer_proto::MAX_MESSAGE_BYTES_DEFAULT)
        .max_encoding_message_size(passer_proto::MAX_MESSAGE_BYTES_DEFAULT);
    let hello = pb::NodeToScheduler {
        node_id: config.node_id.clone(),
        takes_reservations: config.takes_reservations,
        ..Default::default()
    };
    let batches = UnboundedReceiverStream::new(receiver)
        .ready_chunks(BATCH)
        .flat_map(|batch| futures::stream::iter(merge_items(batch)));
    let outbound = futures::stream::iter([hello]).chain(batches);
    let mut request = tonic::Request::new(outbound);
    if let Some(value) = config.peers.token().value() {
        request.metadata_mut().insert(passer_proto::TOKEN_METADATA, value.clone());
    }
    let mut inbound =
        client.session(request).await.map_err(|status| format!("session refused: {status}"))?.into_inner();
    loop {
        match inbound.message().await {
            Ok(Some(message)) => {
                if !message.responses.is_empty() {
                    let mut responses = message.responses;
                    stamp_received(&mut responses);
                    monitor.on_grants(responses);
                }
                for job_id in message.cancel_jobs {
                    let cancel = pb::CancelReservationsRequest { job_id, stop_running: true, executor: String::new() };
                    monitor.with_state(|state, now| state.cancel(&cancel, now));
                }
                // The answers' depth is bounded like the requests': one per
                // reservation call the scheduler has in flight.
                let mut replies = Vec::with_capacity(message.reservations.len() + 1);
                let cancelled: u32 = message
                    .cancels
                    .iter()
                    .filter(|cancel| service::check_name("job_id", &cancel.job_id).is_ok())
                    .map(|cancel| service::cancel(monitor, cancel).cancelled)
                    .sum();
                if cancelled > 0 {
                    replies.push(LinkMessage::Cancelled(cancelled));
                }
                for request in message.reservations {
                    replies.push(LinkMessage::Answer(take_reservations(monitor, request)));
                }
                if !replies.is_empty() {
                    let Some(sender) = answers.upgrade() else { return Ok(()) };
                    if replies.into_iter().any(|reply| sender.send(reply).is_err()) {
                        return Ok(());
                    }
                }
            }
            Ok(None) => return Ok(()),
            Err(status) => return Err(format!("stream broke: {}", status.message())),
        }
    }
}

/// Takes reservations that came on the stream as the unary call would; a
/// request that fails the checks is answered with nothing accepted and every
/// offered task declined, so the scheduler places them again.
fn take_reservations(
    monitor: &Arc<Monitor>,
    request: pb::EnqueueReservationsRequest,
) -> pb::EnqueueReservationsResponse {
    match service::check_enqueue(&request) {
        Ok(()) => service::enqueue(monitor, request),
        Err(refusal) => {
            tracing::warn!(job_id = %request.job_id, %refusal, "reservations on the stream refused");
            pb::EnqueueReservationsResponse {
                refusal,
                declined_task_ids: request.offered.into_iter().map(|launch| launch.task_id).collect(),
                request_id: request.request_id,
                ..Default::default()
            }
        }
    }
}
