//! Attaching over a Unix domain socket: parses gRPC's `unix:` addresses
//! (`unix:/abs/path`, `unix:///abs/path`, `unix:relative/path`) and opens a
//! tonic channel through the socket instead of TCP.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint};

use crate::client::long_lived;
use crate::error::ClientError;

/// The URI tonic is given for a socket channel; only its `:authority`
/// (`localhost`) reaches the wire, the connector ignores it.
const SOCKET_URI: &str = "http://localhost";

/// The socket path of a `unix:` address; `None` for any other address.
pub(crate) fn socket_path(address: &str) -> Result<Option<PathBuf>, ClientError> {
    let trimmed = address.trim();
    let Some(rest) = trimmed.strip_prefix("unix:") else {
        return Ok(None);
    };
    let path = match rest.strip_prefix("//") {
        Some(absolute) if absolute.starts_with('/') => absolute,
        Some(_) => {
            return Err(ClientError::Config(format!(
                "address {address:?}: a unix address is unix:/path or unix:///path (no host)"
            )))
        }
        None => rest,
    };
    if path.is_empty() {
        return Err(ClientError::Config(format!("address {address:?} names no socket path")));
    }
    Ok(Some(PathBuf::from(path)))
}

/// An endpoint for a long-lived channel through a socket.
pub(crate) fn socket_endpoint(connect_timeout: Duration) -> Endpoint {
    long_lived(Endpoint::from_static(SOCKET_URI), connect_timeout)
}

/// Connects `endpoint` through the socket at `path`.
pub(crate) async fn connect(endpoint: &Endpoint, path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path: Arc<Path> = Arc::from(path);
    let connector = tower::service_fn(move |_uri| {
        let path = Arc::clone(&path);
        async move {
            let stream = UnixStream::connect(&*path).await.map_err(|error| {
                std::io::Error::new(error.kind(), format!("unix socket {}: {error}", path.display()))
            })?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    endpoint.connect_with_connector(connector).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_grpc_unix_addresses() {
        let parsed = |address: &str| socket_path(address).expect("valid");
        assert_eq!(parsed("unix:/run/passer/attach.sock"), Some(PathBuf::from("/run/passer/attach.sock")));
        assert_eq!(parsed("unix:///run/attach.sock"), Some(PathBuf::from("/run/attach.sock")));
        assert_eq!(parsed("unix:attach.sock"), Some(PathBuf::from("attach.sock")));
        assert_eq!(parsed("http://127.0.0.1:1"), None);
        assert_eq!(parsed("127.0.0.1:1"), None);
        assert!(matches!(socket_path("unix:"), Err(ClientError::Config(_))));
        assert!(matches!(socket_path("unix://host/a.sock"), Err(ClientError::Config(_))));
    }

    #[tokio::test]
    async fn a_missing_socket_names_its_path() {
        let endpoint = socket_endpoint(Duration::from_secs(1));
        let error = connect(&endpoint, Path::new("/no/such/dir/attach.sock")).await.unwrap_err();
        let chain = crate::error::error_chain(&error);
        assert!(chain.contains("unix socket /no/such/dir/attach.sock: No such file or directory"), "{chain}");
    }
}
