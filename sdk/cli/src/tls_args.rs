//! The client TLS flags shared by `passer submit`, `passer executor` and
//! `passer health`.

use std::path::PathBuf;

use clap::Args;
use passer::security::TlsFiles;

/// Client TLS flags; any of them turns on `https`.
#[derive(Debug, Clone, Args)]
pub(crate) struct TlsArgs {
    /// PEM CA certificate the server's certificate must chain to (turns on TLS).
    #[arg(long, env = "PASSER_TLS_CA")]
    pub(crate) tls_ca: Option<PathBuf>,
    /// PEM client certificate, for servers that require mutual TLS.
    #[arg(long, env = "PASSER_TLS_CERT")]
    pub(crate) tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "PASSER_TLS_KEY")]
    pub(crate) tls_key: Option<PathBuf>,
    /// Name to verify the server certificate against, when it differs from
    /// the host in the address.
    #[arg(long, env = "PASSER_TLS_DOMAIN")]
    pub(crate) tls_domain: Option<String>,
}

impl TlsArgs {
    /// The SDK's view of these flags.
    pub(crate) fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.tls_ca.clone(),
            cert: self.tls_cert.clone(),
            key: self.tls_key.clone(),
            domain: self.tls_domain.clone(),
        }
    }
}
