//! The server side of TLS: the listener's certificate and key, and the CA
//! that client certificates must chain to for mutual TLS. The PEM files are
//! read with the SDK's helpers, so errors name the flag the same way on
//! both sides.

use std::path::Path;

use passer::security::tls::{identity, read_pem};
use tonic::transport::{Certificate, ServerTlsConfig};

/// Reads a server TLS configuration: `cert` and `key` identify the server;
/// with `client_ca`, clients must present a certificate chaining to it.
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<ServerTlsConfig, String> {
    let identity = identity(Some(cert), Some(key))?.ok_or("TLS needs --tls-cert and --tls-key")?;
    let mut config = ServerTlsConfig::new().identity(identity);
    if let Some(client_ca) = client_ca {
        config = config.client_ca_root(Certificate::from_pem(read_pem("--tls-client-ca", client_ca)?));
    }
    Ok(config)
}
