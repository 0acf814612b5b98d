//! The body of a `SubmitJobs` call behind the per-message scan: every data
//! frame goes through a [`StreamScan`]; whole messages that pass go on to
//! tonic, and each refused one is replaced by a small `SubmitJobsRequest`
//! carrying only its `call_id` (no job), its refusal being left in the
//! call's [`StreamRefusals`] (a request extension), where
//! [`crate::submit_stream`] finds it when it reads that job-less request.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use parking_lot::Mutex;
use passer_proto::pb;
use prost::Message;
use tonic::body::Body;
use tonic::Status;

use super::scan::{Refusal, ScanLimits};
use super::stream_scan::{Piece, StreamScan};

/// Most refusals waiting for their stand-ins to be read. Each stand-in is
/// a few bytes that tonic decodes before it asks for more of the body, so
/// only a handful can wait; past this the oldest is dropped (its job is
/// then refused as having no job, still on its own).
const MAX_WAITING_REFUSALS: usize = 1024;

/// The refusals of one `SubmitJobs` call's messages, in stream order.
#[derive(Debug, Clone, Default)]
pub struct StreamRefusals {
    waiting: Arc<Mutex<VecDeque<(u64, Refusal)>>>,
}

impl StreamRefusals {
    /// The refusal of the job-less request of `call_id` just read, if the
    /// scan replaced a refused message by it.
    pub fn take(&self, call_id: u64) -> Option<Refusal> {
        let mut waiting = self.waiting.lock();
        match waiting.front() {
            Some((front_call_id, _)) if *front_call_id == call_id => waiting.pop_front().map(|(_, refusal)| refusal),
            _ => None,
        }
    }

    fn push(&self, call_id: u64, refusal: Refusal) {
        let mut waiting = self.waiting.lock();
        if waiting.len() >= MAX_WAITING_REFUSALS {
            waiting.pop_front();
        }
        waiting.push_back((call_id, refusal));
    }
}

/// A `SubmitJobs` request body whose messages are scanned one by one.
pub(super) struct ScannedStreamBody {
    inner: Body,
    scan: StreamScan,
    refusals: StreamRefusals,
    /// Messages (and stand-ins) ready to hand on.
    ready: VecDeque<Bytes>,
    pieces: Vec<Piece>,
}

impl ScannedStreamBody {
    pub(super) fn new(inner: Body, limits: ScanLimits, refusals: StreamRefusals) -> Self {
        Self { inner, scan: StreamScan::new(limits), refusals, ready: VecDeque::new(), pieces: Vec::new() }
    }

    fn take_pieces(&mut self) {
        for piece in self.pieces.drain(..) {
            match piece {
                Piece::Message(message) => self.ready.push_back(message),
                Piece::Refused { call_id, refusal } => {
                    tracing::info!(call_id, %refusal, "job on submit stream refused before decoding");
                    self.ready.push_back(stand_in(call_id));
                    self.refusals.push(call_id, refusal);
                }
            }
        }
    }
}

/// A framed `SubmitJobsRequest` with `call_id` and no job.
fn stand_in(call_id: u64) -> Bytes {
    let body = pb::SubmitJobsRequest { call_id, job: None }.encode_to_vec();
    let mut framed = Vec::with_capacity(body.len() + 5);
    framed.push(0);
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    Bytes::from(framed)
}

impl HttpBody for ScannedStreamBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        loop {
            if let Some(message) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(message))));
            }
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => frame,
                other => return other,
            };
            let data = match frame.into_data() {
                Ok(data) => data,
                Err(not_data) => return Poll::Ready(Some(Ok(not_data))),
            };
            this.scan.feed(&data, &mut this.pieces);
            this.take_pieces();
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ready.is_empty() && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::default()
    }
}
