//! Transport security on the server side: the flags every server takes and
//! what they load to ([`args`]), the listener's TLS ([`tls`]), the shared
//! token checked on every gRPC call ([`token`]) and on the servers' HTTP
//! pages ([`http_auth`]). Client-side settings (`TlsFiles`, `BearerToken`,
//! `PeerConnector`) stay in the SDK, `passer::security`.

pub mod args;
pub mod http_auth;
pub mod tls;
pub mod token;

pub use args::{Security, SecurityArgs};
pub use token::TokenLayer;
