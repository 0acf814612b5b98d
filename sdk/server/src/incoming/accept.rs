//! The stream of accepted connections: takes a connection slot (waiting at
//! the cap), then accepts; sleeps on file-handle exhaustion instead of
//! retrying at once; never ends and never yields an error, so tonic's
//! serve loop has nothing to spin on.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::handshake::GuardedConnection;
use super::stats::{RateLimitedLog, ACCEPTED, CAP_REACHED, OUT_OF_HANDLES};
use super::ConnectionLimits;

/// How long accepting pauses after running out of file handles.
const OUT_OF_HANDLES_PAUSE: Duration = Duration::from_millis(100);

static CAP_LOG: RateLimitedLog = RateLimitedLog::new();
static HANDLES_LOG: RateLimitedLog = RateLimitedLog::new();

/// Accepted connections of `listener` under `limits`, for
/// `serve_with_incoming`.
pub fn incoming(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> impl Stream<Item = Result<GuardedConnection, io::Error>> + Send + 'static {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let local = listener.local_addr().ok();
    tracing::debug!(?local, max_connections = limits.max_connections, handshake_timeout = ?limits.handshake_timeout, "accepting");
    futures::stream::unfold((listener, slots), move |(listener, slots)| async move {
        let connection = accept_one(&listener, &slots, limits).await;
        Some((Ok(connection), (listener, slots)))
    })
}

async fn accept_one(listener: &TcpListener, slots: &Arc<Semaphore>, limits: ConnectionLimits) -> GuardedConnection {
    let slot = match Arc::clone(slots).try_acquire_owned() {
        Ok(slot) => slot,
        Err(_) => {
            CAP_REACHED.fetch_add(1, Ordering::Relaxed);
            CAP_LOG.hit(|times| {
                tracing::warn!(
                    max_connections = limits.max_connections,
                    times,
                    "connection cap reached: not accepting until a connection closes (--max-connections)"
                );
            });
            Arc::clone(slots).acquire_owned().await.expect("the connection semaphore is never closed")
        }
    };
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                let _ = stream.set_nodelay(true);
                ACCEPTED.fetch_add(1, Ordering::Relaxed);
                let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
                return GuardedConnection::new(stream, slot, deadline);
            }
            Err(error) if is_out_of_handles(&error) => {
                OUT_OF_HANDLES.fetch_add(1, Ordering::Relaxed);
                HANDLES_LOG.hit(|times| {
                    tracing::warn!(%error, times, "out of file handles accepting a connection: pausing (ulimit -n, --max-connections)");
                });
                tokio::time::sleep(OUT_OF_HANDLES_PAUSE).await;
            }
            Err(error) => tracing::debug!(%error, "accept failed"),
        }
    }
}

/// Whether an accept failed for want of file handles or memory, which only
/// time (a connection closing) can cure.
fn is_out_of_handles(error: &io::Error) -> bool {
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(error.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}
