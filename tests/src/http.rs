//! A minimal HTTP/1.0 client for tests that read `/metrics` and the status
//! page's JSON or call its job endpoints (plain loopback HTTP; no client
//! crate needed), and a parser for the Prometheus text format.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{bail, Context};

/// GETs `path` from `address` (host:port); returns the body of a 200 answer.
pub fn http_get(address: &str, path: &str) -> anyhow::Result<String> {
    let (status, body) = http_request(address, "GET", path, &[])?;
    if status != 200 {
        bail!("GET {path} from {address}: {status} {body}");
    }
    Ok(body)
}

/// Sends `method path` (no body) to `address` with extra `headers`
/// (name, value); returns the status code and the body.
pub fn http_request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address).with_context(|| format!("connect to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let headers: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {address}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).context("read the HTTP answer")?;
    let (head, body) = answer.split_once("\r\n\r\n").context("HTTP answer without a header end")?;
    let status_line = head.lines().next().unwrap_or_default();
    let status = status_line.split_whitespace().nth(1).and_then(|code| code.parse().ok());
    let status = status.with_context(|| format!("{method} {path} from {address}: no status in {status_line:?}"))?;
    Ok((status, body.to_owned()))
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
