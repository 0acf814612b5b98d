//! Keeps one executor type attached to its node monitor: connects with
//! capped backoff until the node monitor answers (it may start after the
//! executor), serves the stream, and reconnects the same way when it breaks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use passer_proto::pb;
use passer_proto::pb::executors_client::ExecutorsClient;
use tokio::sync::{mpsc, watch};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::Endpoint;
use tonic::{Code, Streaming};
use tracing::{debug, info, warn};

use super::running::RunningTasks;
use super::session::{self, Outgoing, SessionEnd};
use super::unix;
use crate::client::backoff::Backoff;
use crate::error::{error_chain, ClientError};
use crate::handler::SharedHandler;

/// First delay before reconnecting.
const INITIAL_BACKOFF: Duration = Duration::from_millis(50);
/// Largest delay between connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// Longest wait for the node monitor to answer an `Attach` call.
const ATTACH_TIMEOUT: Duration = Duration::from_secs(10);
/// Queue places per slot declared in `hello`: this executor queues tasks
/// beyond its slots (see `running`), and the node monitor's
/// `--prefetch-per-slot` decides how many it actually sends.
const QUEUE_PER_SLOT: u32 = 64;

/// Where and how to attach; shared by every executor type of a process.
pub(crate) struct Target {
    /// The node monitor's `Executors` endpoint.
    pub(crate) endpoint: Endpoint,
    /// The socket to connect through, for a `unix:` address.
    pub(crate) socket_path_opt: Option<PathBuf>,
    /// The attach address as configured, for logs.
    pub(crate) address: String,
    /// `authorization` metadata, if a token is set.
    pub(crate) authorization_opt: Option<MetadataValue<Ascii>>,
    /// The name sent in `hello`.
    pub(crate) name: String,
    /// How often a heartbeat goes out on each attach stream.
    pub(crate) heartbeat_interval: std::time::Duration,
    /// The most bytes of one task attempt's logs sent with its result.
    pub(crate) max_log_bytes: usize,
}

/// One executor type to attach.
#[derive(Clone)]
pub(crate) struct Registration {
    /// The executor type name.
    pub(crate) executor: String,
    /// Tasks run at once.
    pub(crate) slots: u32,
    /// Runs each task.
    pub(crate) handler: SharedHandler,
}

/// Why a connection attempt failed.
enum AttachFailure {
    /// Worth trying again later.
    Retry(String),
    /// The node monitor refused this executor; retrying cannot help.
    Fatal(ClientError),
}

/// Attaches `registration` and keeps it attached until the node monitor
/// says shutdown or `stop` turns true.
pub(crate) async fn keep_attached(
    target: Arc<Target>,
    registration: Registration,
    mut stop: watch::Receiver<bool>,
) -> Result<(), ClientError> {
    let mut backoff = Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF);
    let mut failures = 0u32;
    loop {
        let attempt = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
            attempt = attach(&target, &registration) => attempt,
        };
        match attempt {
            Ok((outgoing, inbound)) => {
                info!(executor = %registration.executor, slots = registration.slots, address = %target.address, "attached to node monitor");
                backoff.reset();
                failures = 0;
                let tasks = RunningTasks::new(SharedHandler::clone(&registration.handler), registration.slots)
                    .with_max_log_bytes(target.max_log_bytes);
                match session::serve(tasks, target.heartbeat_interval, outgoing, inbound, &mut stop).await {
                    SessionEnd::Shutdown => {
                        info!(executor = %registration.executor, "node monitor asked to shut down");
                        return Ok(());
                    }
                    SessionEnd::Stopped => return Ok(()),
                    SessionEnd::Broken(reason) => {
                        warn!(executor = %registration.executor, %reason, "attachment broke, reconnecting");
                    }
                }
            }
            Err(AttachFailure::Fatal(error)) => return Err(error),
            Err(AttachFailure::Retry(reason)) => {
                failures += 1;
                if failures == 1 {
                    warn!(executor = %registration.executor, address = %target.address, %reason, "cannot attach to node monitor yet, retrying");
                } else {
                    debug!(executor = %registration.executor, failures, %reason, "attach attempt failed");
                }
            }
        }
        let delay = backoff.next_delay();
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
            _ = tokio::time::sleep(delay) => {}
        }
    }
}

/// Connects, says hello and returns the queue for outgoing items and the
/// node monitor's message stream.
async fn attach(
    target: &Target,
    registration: &Registration,
) -> Result<(mpsc::UnboundedSender<Outgoing>, Streaming<pb::NodeMessage>), AttachFailure> {
    let connected = match &target.socket_path_opt {
        Some(path) => unix::connect(&target.endpoint, path).await,
        None => target.endpoint.connect().await,
    };
    let channel = connected.map_err(|error| AttachFailure::Retry(error_chain(&error)))?;
    let mut client = ExecutorsClient::new(channel)
        .max_decoding_message_size(passer_proto::MAX_MESSAGE_BYTES_DEFAULT)
        .max_encoding_message_size(passer_proto::MAX_MESSAGE_BYTES_DEFAULT);
    let hello = pb::executor_message::Hello {
        executor: registration.executor.clone(),
        slots: registration.slots,
        pid: std::process::id(),
        name: target.name.clone(),
        queue_per_slot: QUEUE_PER_SLOT,
    };
    let (sender, receiver) = mpsc::unbounded_channel();
    let mut request = tonic::Request::new(session::outgoing_stream(hello, receiver));
    if let Some(value) = &target.authorization_opt {
        request.metadata_mut().insert(passer_proto::TOKEN_METADATA, value.clone());
    }
    let response = match tokio::time::timeout(ATTACH_TIMEOUT, client.attach(request)).await {
        Ok(response) => response,
        Err(_) => return Err(AttachFailure::Retry(format!("no answer to attach within {ATTACH_TIMEOUT:?}"))),
    };
    match response {
        Ok(response) => Ok((sender, response.into_inner())),
        Err(status) => match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::Unauthenticated | Code::PermissionDenied => {
                Err(AttachFailure::Fatal(ClientError::from(status)))
            }
            _ => Err(AttachFailure::Retry(format!("{:?}: {}", status.code(), status.message()))),
        },
    }
}
