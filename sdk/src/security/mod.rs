//! Transport security for clients: TLS material from PEM files ([`tls`])
//! and the shared cluster token sent on every call ([`token`]). The
//! servers' side (flags, listener TLS, the token check) is in the
//! `passer-server` crate.

pub mod tls;
pub mod token;

pub use tls::{PeerConnector, TlsFiles};
pub use token::BearerToken;
