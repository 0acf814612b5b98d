//! Transport security shared by the servers, their peer clients and the SDK:
//! TLS material from PEM files ([`tls`]), the shared cluster token checked
//! on every call ([`token`]), and the server flags that configure both
//! ([`args`]).

pub mod args;
pub mod tls;
pub mod token;

pub use tls::{PeerConnector, TlsFiles};
pub use token::{BearerToken, TokenLayer};
