//! Small address helpers shared by the servers and the CLI.

use std::net::SocketAddr;

/// The address others reach a server at: `advertise` if given, else the
/// bound address with an unspecified IP replaced by 127.0.0.1.
pub fn advertised_address(advertise: Option<&str>, bound: SocketAddr) -> String {
    if let Some(address) = advertise {
        return address.to_owned();
    }
    if bound.ip().is_unspecified() {
        format!("127.0.0.1:{}", bound.port())
    } else {
        bound.to_string()
    }
}

/// An `http://` URI for `host:port` (kept as is when it has a scheme).
pub fn http_uri(address: &str) -> String {
    if address.starts_with("http://") || address.starts_with("https://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    }
}
