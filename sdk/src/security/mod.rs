//! Transport security shared by the servers, their peer clients and the SDK:
//! TLS material from PEM files ([`tls`]), the shared cluster token checked
//! on every call ([`token`]) and on the servers' HTTP pages ([`http_auth`]),
//! and the server flags that configure both ([`args`]).

pub mod args;
pub mod http_auth;
pub mod tls;
pub mod token;

pub use tls::{PeerConnector, TlsFiles};
pub use token::{BearerToken, TokenLayer};
