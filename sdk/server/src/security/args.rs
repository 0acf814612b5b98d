//! The security flags every server takes: TLS files, mutual TLS, the token
//! file (or `PASSER_TOKEN`). Loaded once at start-up into what the server
//! and its peer clients need.

use std::path::PathBuf;

use clap::Args;
use passer::security::token::{load_token, BearerToken};
use passer::security::{PeerConnector, TlsFiles};
use tonic::transport::ServerTlsConfig;

use super::tls::server_config;
use super::token::TokenLayer;

/// TLS and token flags.
#[derive(Debug, Clone, Default, Args)]
pub struct SecurityArgs {
    /// PEM certificate chain this server presents (turns TLS on; needs
    /// --tls-key and --tls-ca). Also presented to peers as a client certificate.
    #[arg(long, env = "PASSER_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "PASSER_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate that peers' server certificates must chain to.
    #[arg(long, env = "PASSER_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// PEM CA certificate that client certificates must chain to: turns on
    /// mutual TLS (clients without a certificate are refused).
    #[arg(long, env = "PASSER_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<PathBuf>,
    /// File holding the shared cluster token (else the PASSER_TOKEN
    /// environment variable). Every call but health checks must carry it.
    #[arg(long, env = "PASSER_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// The token from PASSER_TOKEN (environment only, never a flag, so it
    /// does not show in the process list).
    #[arg(skip = std::env::var("PASSER_TOKEN").ok())]
    pub token_env: Option<String>,
}

/// What a server needs, loaded from [`SecurityArgs`].
#[derive(Debug, Clone)]
pub struct Security {
    /// TLS for the listener, if on.
    pub server_tls: Option<ServerTlsConfig>,
    /// The token, if any.
    pub token: Option<String>,
    /// How to open channels to peers.
    pub peers: PeerConnector,
    /// The client-side TLS files, for processes this server starts.
    pub client_files: TlsFiles,
}

impl Security {
    /// The layer that checks the token on every call.
    pub fn token_layer(&self) -> TokenLayer {
        TokenLayer::new(self.token.as_deref())
    }
}

impl SecurityArgs {
    /// Checks flag combinations and reads the files.
    pub fn load(&self) -> Result<Security, String> {
        let server_tls = match (&self.tls_cert, &self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                if self.tls_ca.is_none() {
                    return Err("--tls-cert needs --tls-ca too (the CA this server's peers are checked against)".into());
                }
                Some(server_config(cert, key, self.tls_client_ca.as_deref())?)
            }
            _ => return Err("--tls-cert and --tls-key go together".into()),
        };
        if self.tls_client_ca.is_some() && server_tls.is_none() {
            return Err("--tls-client-ca needs --tls-cert and --tls-key".into());
        }
        let token = load_token(self.token_file.as_deref(), self.token_env.clone())?;
        let client_files =
            TlsFiles { ca: self.tls_ca.clone(), cert: self.tls_cert.clone(), key: self.tls_key.clone(), domain: None };
        let peers = PeerConnector::new(client_files.client_config()?, BearerToken::new(token.as_deref())?);
        Ok(Security { server_tls, token, peers, client_files })
    }
}
