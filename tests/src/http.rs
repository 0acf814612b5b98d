//! A minimal HTTP/1.0 GET for tests that read `/metrics` and the status
//! page's JSON (plain loopback HTTP; no client crate needed), and a parser
//! for the Prometheus text format.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};

/// GETs `path` from `address` (host:port); returns the body of a 200 answer.
pub fn http_get(address: &str, path: &str) -> anyhow::Result<String> {
    let mut stream = TcpStream::connect(address).with_context(|| format!("connect to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\nConnection: close\r\n\r\n")?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).context("read the HTTP answer")?;
    let (head, body) = answer.split_once("\r\n\r\n").context("HTTP answer without a header end")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        bail!("GET {path} from {address}: {status}");
    }
    Ok(body.to_owned())
}

/// Samples of a Prometheus text exposition: `name{labels}` to value.
pub fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| {
            let (key, value) = line.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}
