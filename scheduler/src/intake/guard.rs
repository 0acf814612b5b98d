//! The `Scheduler` gRPC service behind the pre-decoding scan: every
//! `SubmitJob` request body passes through a [`SubmitScan`] as its bytes
//! arrive, and the body fails with `INVALID_ARGUMENT` (naming the limit and
//! the figure) at the first byte that breaks a limit, so tonic never
//! buffers or decodes the rest. Each message of a `SubmitJobs` stream
//! passes the same checks ([`super::stream_body`]): a refused one becomes
//! its job's own refusal and the stream goes on. Other calls pass untouched.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame};
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::Status;

use super::scan::{ScanLimits, SubmitScan};
use super::stream_body::{ScannedStreamBody, StreamRefusals};

/// The path of the call whose body is scanned whole.
const SUBMIT_JOB_PATH: &str = "/passer.v1.Scheduler/SubmitJob";
/// The path of the call whose body is scanned message by message.
const SUBMIT_JOBS_PATH: &str = "/passer.v1.Scheduler/SubmitJobs";

/// A gRPC service whose `SubmitJob` bodies are scanned before decoding.
#[derive(Debug, Clone)]
pub struct SubmitGuard<S> {
    inner: S,
    limits: ScanLimits,
}

impl<S> SubmitGuard<S> {
    /// Guards `inner` (the generated `SchedulerServer`) with `limits`.
    pub fn new(inner: S, limits: ScanLimits) -> Self {
        Self { inner, limits }
    }
}

impl<S: NamedService> NamedService for SubmitGuard<S> {
    const NAME: &'static str = S::NAME;
}

impl<S> tower::Service<http::Request<Body>> for SubmitGuard<S>
where
    S: tower::Service<http::Request<Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        let limits = self.limits;
        match request.uri().path() {
            SUBMIT_JOB_PATH => self
                .inner
                .call(request.map(|body| Body::new(ScannedBody { inner: body, scan: SubmitScan::new(limits) }))),
            SUBMIT_JOBS_PATH => {
                let refusals = StreamRefusals::default();
                request.extensions_mut().insert(refusals.clone());
                self.inner.call(request.map(|body| Body::new(ScannedStreamBody::new(body, limits, refusals))))
            }
            _ => self.inner.call(request),
        }
    }
}

/// A request body that feeds each data frame to the scan before passing it on.
struct ScannedBody {
    inner: Body,
    scan: SubmitScan,
}

impl HttpBody for ScannedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = self.get_mut();
        let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            other => return other,
        };
        if let Some(data) = frame.data_ref() {
            if let Err(refusal) = this.scan.feed(data) {
                tracing::info!(%refusal, tasks_seen = this.scan.tasks_seen(), "submission refused before decoding");
                return Poll::Ready(Some(Err(Status::invalid_argument(refusal.to_string()))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
