//! Helpers shared by the SDK's integration tests: bounded waits and
//! loopback addresses.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

pub mod scheduler;

/// The longest any single step of a test may take.
pub const STEP: Duration = Duration::from_secs(5);

/// Awaits `future`, failing the test if it takes longer than [`STEP`].
pub async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {STEP:?} waiting for {what}"),
    }
}

/// A listener on a free loopback port.
pub async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    (listener, address)
}

/// A loopback address nothing listens on (bound, then released).
pub async fn dead_address() -> SocketAddr {
    let (listener, address) = listener().await;
    drop(listener);
    address
}

/// Binds `address` again, retrying briefly while the port is released.
pub async fn rebind(address: SocketAddr) -> TcpListener {
    within("rebinding the port", async {
        loop {
            match TcpListener::bind(address).await {
                Ok(listener) => return listener,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await
}
