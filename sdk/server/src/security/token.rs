//! The shared cluster token on the server side: [`TokenLayer`] checks
//! `authorization: Bearer <token>` on every call a server receives (gRPC
//! health checks excepted, so container and Consul probes work). The scheme
//! name is matched case-insensitively (`bearer` works, as HTTP says it
//! must). A refusal is `UNAUTHENTICATED`, logged once per peer IP and never
//! with the token. Clients send the token with [`passer::security::BearerToken`].

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::{Either, Ready};
use parking_lot::Mutex;
use passer_proto::TOKEN_METADATA;
use tonic::codegen::http;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::Status;

/// Path prefix of the gRPC health service, which needs no token.
const HEALTH_PATH: &str = "/grpc.health.v1.Health/";
/// Most peers remembered for "logged once"; beyond it refusals are not logged.
const MAX_LOGGED_PEERS: usize = 4096;

/// Compares in time that does not depend on where the bytes differ
/// (`subtle`; only the lengths may show).
pub fn constant_time_eq(left: &[u8], right: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    left.ct_eq(right).into()
}

/// Whether the `authorization` value `presented` carries `token` under the
/// `Bearer` scheme (any case, one or more spaces before the token). The
/// token itself is compared in constant time.
pub fn bearer_matches(presented: &[u8], token: &[u8]) -> bool {
    let Some(space) = presented.iter().position(|&b| b == b' ') else { return false };
    let (scheme, rest) = presented.split_at(space);
    let credentials = rest.iter().position(|&b| b != b' ').map_or(&[][..], |start| &rest[start..]);
    scheme.eq_ignore_ascii_case(b"bearer") && constant_time_eq(credentials, token)
}

/// A tower layer that refuses calls without the expected token; with no
/// token configured it lets everything through.
#[derive(Clone)]
pub struct TokenLayer {
    check: Option<Arc<TokenCheck>>,
}

struct TokenCheck {
    expected: Vec<u8>,
    logged_peers: Mutex<HashSet<Option<IpAddr>>>,
}

impl TokenLayer {
    /// A layer expecting `token` (`None`: no check).
    pub fn new(token: Option<&str>) -> Self {
        let check = token.map(|token| {
            Arc::new(TokenCheck { expected: token.as_bytes().to_vec(), logged_peers: Mutex::new(HashSet::new()) })
        });
        Self { check }
    }
}

impl<S> tower::Layer<S> for TokenLayer {
    type Service = TokenService<S>;

    fn layer(&self, inner: S) -> TokenService<S> {
        TokenService { inner, check: self.check.clone() }
    }
}

/// The service [`TokenLayer`] wraps around a server's routes.
#[derive(Clone)]
pub struct TokenService<S> {
    inner: S,
    check: Option<Arc<TokenCheck>>,
}

impl<S, B> tower::Service<http::Request<B>> for TokenService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<S::Response, S::Error>>>;

    fn poll_ready(&mut self, context: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(context)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let Some(check) = &self.check else { return Either::Left(self.inner.call(request)) };
        if request.uri().path().starts_with(HEALTH_PATH) {
            return Either::Left(self.inner.call(request));
        }
        let presented = request.headers().get(TOKEN_METADATA).map(|value| value.as_bytes());
        let problem = match presented {
            None => "missing token: send `authorization: Bearer <token>` (PASSER_TOKEN or --token-file)",
            Some(value) if bearer_matches(value, &check.expected) => return Either::Left(self.inner.call(request)),
            Some(_) => "wrong token",
        };
        check.log_once(peer_ip(&request), request.uri().path(), problem);
        Either::Right(futures::future::ready(Ok(Status::unauthenticated(problem).into_http())))
    }
}

impl TokenCheck {
    fn log_once(&self, peer: Option<IpAddr>, path: &str, problem: &str) {
        let mut logged = self.logged_peers.lock();
        if logged.len() < MAX_LOGGED_PEERS && logged.insert(peer) {
            let peer = peer.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
            tracing::warn!(%peer, %path, %problem, "refused a call (UNAUTHENTICATED); later refusals from this peer are not logged");
        }
    }
}

fn peer_ip<B>(request: &http::Request<B>) -> Option<IpAddr> {
    let extensions = request.extensions();
    let tcp = extensions
        .get::<TcpConnectInfo>()
        .or_else(|| extensions.get::<TlsConnectInfo<TcpConnectInfo>>().map(TlsConnectInfo::get_ref));
    tcp.and_then(TcpConnectInfo::remote_addr).map(|address| address.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_matches_only_equal_bytes() {
        assert!(constant_time_eq(b"Bearer abc", b"Bearer abc"));
        assert!(!constant_time_eq(b"Bearer abc", b"Bearer abd"));
        assert!(!constant_time_eq(b"Bearer abc", b"Bearer ab"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        assert!(bearer_matches(b"Bearer abc", b"abc"));
        assert!(bearer_matches(b"bearer abc", b"abc"));
        assert!(bearer_matches(b"BEARER  abc", b"abc"));
        assert!(!bearer_matches(b"Bearer abd", b"abc"));
        assert!(!bearer_matches(b"Basic abc", b"abc"));
        assert!(!bearer_matches(b"Bearerabc", b"abc"));
        assert!(!bearer_matches(b"abc", b"abc"));
        assert!(!bearer_matches(b"Bearer ", b"abc"));
    }
}
