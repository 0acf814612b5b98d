//! [`JobEventStream`]: the events of one submitted job, whether it went
//! out as its own `SubmitJob` call or on the client's shared `SubmitJobs`
//! stream; results, failover and watching read both alike.

use passer_proto::pb;
use tonic::{Status, Streaming};

use super::shared_stream::SharedCall;

/// One job's event stream.
pub(crate) enum JobEventStream {
    /// The job's own `SubmitJob` call.
    Call(Box<Streaming<pb::JobEvent>>),
    /// The job's share of a `SubmitJobs` stream.
    Shared(SharedCall),
}

impl JobEventStream {
    /// The next event; `Ok(None)` when the stream ended, an error when it
    /// broke or the job was refused.
    pub(crate) async fn message(&mut self) -> Result<Option<pb::JobEvent>, Status> {
        match self {
            JobEventStream::Call(stream) => stream.message().await,
            JobEventStream::Shared(call) => call.message().await,
        }
    }
}
