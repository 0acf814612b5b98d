//! The address a server tells others (Consul, its logs, the executors it
//! starts) to reach it at.

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
