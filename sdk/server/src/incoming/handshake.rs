//! One accepted connection: the TCP stream, the connection slot it holds
//! (given back when it closes) and the deadline for its first bytes. Until
//! [`FIRST_BYTES`] have been read, a read that would wait past the deadline
//! fails with `TimedOut`, and hyper (or the TLS acceptor) closes the
//! connection; after that the wrapper only passes bytes through.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tonic::transport::server::{Connected, TcpConnectInfo};

use super::stats::{RateLimitedLog, HANDSHAKE_TIMEOUTS, OPEN};

/// Bytes a client must send before the deadline: the length of the HTTP/2
/// connection preface (a TLS ClientHello is longer).
pub const FIRST_BYTES: usize = 24;

static TIMEOUT_LOG: RateLimitedLog = RateLimitedLog::new();

/// An accepted connection with its slot and its handshake deadline.
#[derive(Debug)]
pub struct GuardedConnection {
    stream: TcpStream,
    /// Pending until [`FIRST_BYTES`] have arrived; `None` after.
    deadline_opt: Option<Pin<Box<Sleep>>>,
    received: usize,
    _slot: OwnedSemaphorePermit,
}

impl GuardedConnection {
    /// Wraps `stream`, holding `slot` until it is dropped; its first bytes
    /// must arrive before `deadline`.
    pub fn new(stream: TcpStream, slot: OwnedSemaphorePermit, deadline: Instant) -> Self {
        OPEN.fetch_add(1, Ordering::Relaxed);
        Self { stream, deadline_opt: Some(Box::pin(tokio::time::sleep_until(deadline))), received: 0, _slot: slot }
    }
}

impl Drop for GuardedConnection {
    fn drop(&mut self) {
        OPEN.fetch_sub(1, Ordering::Relaxed);
    }
}

impl AsyncRead for GuardedConnection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.deadline_opt.is_some() {
                    this.received += buf.filled().len() - before;
                    if this.received >= FIRST_BYTES {
                        this.deadline_opt = None;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => {
                let Some(deadline) = this.deadline_opt.as_mut() else { return Poll::Pending };
                if deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                HANDSHAKE_TIMEOUTS.fetch_add(1, Ordering::Relaxed);
                let peer = this.stream.peer_addr().ok();
                let received = this.received;
                TIMEOUT_LOG.hit(|times| {
                    tracing::warn!(?peer, received, times, "closed connections that sent no HTTP/2 preface in time");
                });
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no HTTP/2 preface within the handshake timeout ({received} bytes received)"),
                )))
            }
        }
    }
}

impl AsyncWrite for GuardedConnection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

impl Connected for GuardedConnection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.stream.connect_info()
    }
}
