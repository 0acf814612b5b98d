//! A minimal HTTP/1.1 client for the local Consul agent: one request per
//! connection (`Connection: close`), plain `http://` only, bounded reads
//! and a timeout on the whole exchange. The agent API needs no more, and
//! this keeps an HTTP client stack out of every binary.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most response bytes read (the agent's answers are small).
const MAX_RESPONSE_BYTES: u64 = 256 * 1024;

/// Where the agent listens: `host:port` from `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAddress {
    authority: String,
}

impl AgentAddress {
    /// Parses `http://host:port` (a trailing `/` is allowed; port 8500 when absent).
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            format!("--consul-agent {url:?} must start with http:// (use the agent's local http listener)")
        })?;
        let authority = rest.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!("--consul-agent {url:?} must be http://host:port"));
        }
        let has_port = authority.rsplit_once(':').is_some_and(|(_, port)| port.parse::<u16>().is_ok())
            && !authority.ends_with(']');
        let authority = if has_port { authority.to_owned() } else { format!("{authority}:8500") };
        Ok(Self { authority })
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }
}

/// An agent's answer: status code and body.
#[derive(Debug, Clone)]
pub struct AgentResponse {
    /// HTTP status code.
    pub status: u16,
    /// Response body (possibly cut at the read limit).
    pub body: String,
}

/// Sends one request and reads the answer, all within `timeout`.
pub async fn send(
    agent: &AgentAddress,
    method: &str,
    path: &str,
    token_opt: Option<&str>,
    body_opt: Option<&[u8]>,
    timeout: Duration,
) -> Result<AgentResponse, String> {
    match tokio::time::timeout(timeout, exchange(agent, method, path, token_opt, body_opt)).await {
        Ok(result) => result,
        Err(_) => Err(format!("consul agent {} did not answer within {timeout:?}", agent.authority)),
    }
}

async fn exchange(
    agent: &AgentAddress,
    method: &str,
    path: &str,
    token_opt: Option<&str>,
    body_opt: Option<&[u8]>,
) -> Result<AgentResponse, String> {
    let mut stream = TcpStream::connect(&agent.authority)
        .await
        .map_err(|error| format!("cannot reach the consul agent at {}: {error}", agent.authority))?;
    let body = body_opt.unwrap_or_default();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: passer\r\nConnection: close\r\nContent-Length: {}\r\n",
        agent.authority,
        body.len()
    );
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    if let Some(token) = token_opt {
        head.push_str(&format!("X-Consul-Token: {token}\r\n"));
    }
    head.push_str("\r\n");
    let io_error = |error: std::io::Error| format!("consul agent {}: {error}", agent.authority);
    stream.write_all(head.as_bytes()).await.map_err(io_error)?;
    stream.write_all(body).await.map_err(io_error)?;
    let mut raw = Vec::new();
    stream.take(MAX_RESPONSE_BYTES).read_to_end(&mut raw).await.map_err(io_error)?;
    parse_response(&raw).ok_or_else(|| format!("consul agent {} sent a malformed http response", agent.authority))
}

/// Status code and body of a `Connection: close` HTTP/1.x response.
fn parse_response(raw: &[u8]) -> Option<AgentResponse> {
    let text = String::from_utf8_lossy(raw);
    let status_line = text.lines().next()?;
    let mut parts = status_line.split_whitespace();
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = parts.next()?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default();
    Some(AgentResponse { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_addresses_are_checked() {
        assert_eq!(AgentAddress::parse("http://127.0.0.1:8500").expect("valid").authority(), "127.0.0.1:8500");
        assert_eq!(AgentAddress::parse("http://consul/").expect("valid").authority(), "consul:8500");
        assert!(AgentAddress::parse("https://consul:8501").is_err());
        assert!(AgentAddress::parse("consul:8500").is_err());
        assert!(AgentAddress::parse("http://consul:8500/v1").is_err());
    }

    #[test]
    fn responses_are_parsed() {
        let response = parse_response(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!").expect("valid");
        assert_eq!((response.status, response.body.as_str()), (404, "no!"));
        assert!(parse_response(b"garbage").is_none());
    }
}
