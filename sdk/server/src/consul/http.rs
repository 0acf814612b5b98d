//! Talking to the local Consul agent over HTTP/1.1 with hyper's client:
//! plain `http://` only (the agent's local listener), bounded response
//! bodies and a timeout on the whole exchange.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::{header, Method, Request};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Most response bytes read (the agent's answers are small).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

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
    let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri = format!("http://{}{path}", agent.authority);
    let method = Method::from_bytes(method.as_bytes()).map_err(|error| format!("bad http method {method}: {error}"))?;
    let body = Bytes::copy_from_slice(body_opt.unwrap_or_default());
    let mut request = Request::builder().method(method).uri(&uri).header(header::USER_AGENT, "passer");
    if !body.is_empty() {
        request = request.header(header::CONTENT_TYPE, "application/json");
    }
    if let Some(token) = token_opt {
        request = request.header("X-Consul-Token", token);
    }
    let request = request.body(Full::new(body)).map_err(|error| format!("bad consul request {uri}: {error}"))?;
    let response = client
        .request(request)
        .await
        .map_err(|error| format!("cannot reach the consul agent at {}: {error}", agent.authority))?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
        .collect()
        .await
        .map_err(|error| format!("consul agent {}: {error}", agent.authority))?
        .to_bytes();
    Ok(AgentResponse { status, body: String::from_utf8_lossy(&body).into_owned() })
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
}
