//! TLS material read from PEM files for the client side: a CA to verify the
//! server, an optional certificate and key to present for mutual TLS
//! ([`TlsFiles`]; the server side is in the `passer-server` crate, which
//! reads its files with [`identity`] and [`read_pem`]). Also
//! [`PeerConnector`], the one way to open channels to node monitors (TLS if
//! configured, the token on every call), used by the servers and the CLI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use passer_proto::pb::node_monitor_client::NodeMonitorClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::token::BearerToken;

/// PEM files a client uses for TLS. Setting any of them switches the
/// client to `https`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate(s) the server's certificate must chain to.
    pub ca: Option<PathBuf>,
    /// Client certificate chain, presented when the server asks (mutual TLS).
    pub cert: Option<PathBuf>,
    /// Private key of `cert`.
    pub key: Option<PathBuf>,
    /// Name to check the server certificate against, when it differs from
    /// the host in the address.
    pub domain: Option<String>,
}

impl TlsFiles {
    /// Whether TLS is configured at all.
    pub fn enabled(&self) -> bool {
        self.ca.is_some() || self.cert.is_some() || self.key.is_some()
    }

    /// Reads the files into a client TLS configuration (`None` when TLS is off).
    pub fn client_config(&self) -> Result<Option<ClientTlsConfig>, String> {
        if !self.enabled() {
            return Ok(None);
        }
        let ca = self.ca.as_deref().ok_or("TLS needs a CA certificate to verify the server (--tls-ca)")?;
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read_pem("--tls-ca", ca)?));
        if let Some(identity) = identity(self.cert.as_deref(), self.key.as_deref())? {
            config = config.identity(identity);
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        Ok(Some(config))
    }
}

/// The identity in the PEM files `cert` and `key` (`None` when neither is
/// given; both or neither, else an error naming the flags).
pub fn identity(cert: Option<&Path>, key: Option<&Path>) -> Result<Option<Identity>, String> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            Ok(Some(Identity::from_pem(read_pem("--tls-cert", cert)?, read_pem("--tls-key", key)?)))
        }
        _ => Err("--tls-cert and --tls-key go together".to_owned()),
    }
}

/// Reads the PEM file at `path`; errors name `flag` and the path, and say
/// so when the file holds no PEM block.
pub fn read_pem(flag: &str, path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|error| format!("{flag} {}: {error}", path.display()))?;
    if !bytes.windows(11).any(|window| window == b"-----BEGIN ") {
        return Err(format!("{flag} {}: not a PEM file", path.display()));
    }
    Ok(bytes)
}

/// A node monitor client that sends the token on every call.
pub type NodeClient = NodeMonitorClient<InterceptedService<Channel, BearerToken>>;

/// How a server opens channels to its peers: `https` with the configured CA
/// and client certificate when TLS is on, and the token on every call.
#[derive(Debug, Clone, Default)]
pub struct PeerConnector {
    tls: Option<ClientTlsConfig>,
    token: BearerToken,
}

impl PeerConnector {
    /// A connector using `tls` (off when `None`) and `token`.
    pub fn new(tls: Option<ClientTlsConfig>, token: BearerToken) -> Self {
        Self { tls, token }
    }

    /// The token sent on every call.
    pub fn token(&self) -> &BearerToken {
        &self.token
    }

    /// An endpoint for `address` (`host:port`, or a URI whose scheme is
    /// replaced to match the TLS setting).
    pub fn endpoint(&self, address: &str, connect_timeout: Duration) -> Result<Endpoint, String> {
        let host_port = address.trim_start_matches("http://").trim_start_matches("https://");
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{host_port}"))
            .map_err(|error| format!("bad address {address:?}: {error}"))?
            .connect_timeout(connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(5));
        if let Some(tls) = &self.tls {
            endpoint = endpoint.tls_config(tls.clone()).map_err(|error| format!("TLS for {address:?}: {error}"))?;
        }
        Ok(endpoint)
    }

    /// A lazily connecting node monitor client for `address`.
    pub fn node_client(&self, address: &str, connect_timeout: Duration) -> Result<NodeClient, String> {
        let channel = self.endpoint(address, connect_timeout)?.connect_lazy();
        Ok(NodeMonitorClient::with_interceptor(channel, self.token.clone())
            .max_decoding_message_size(passer_proto::MAX_MESSAGE_BYTES_DEFAULT)
            .max_encoding_message_size(passer_proto::MAX_MESSAGE_BYTES_DEFAULT))
    }
}
