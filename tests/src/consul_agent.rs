//! A stand-in for the Consul agent's HTTP API in tests: records every
//! request (method, path, JSON body), answers registration and
//! deregistration with 200, and answers `GET /v1/agent/service/<id>` with
//! 200 while the service is registered and 404 after [`FakeConsulAgent::forget`]
//! (what a restarted agent without persisted state does).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::bail;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// One request the agent received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Request path.
    pub path: String,
    /// Request body.
    pub body: String,
}

#[derive(Default)]
struct AgentState {
    requests: Mutex<Vec<RecordedRequest>>,
    registered: Mutex<HashSet<String>>,
    changed: Notify,
}

/// A fake Consul agent on a loopback port; stops when dropped.
pub struct FakeConsulAgent {
    url: String,
    state: Arc<AgentState>,
    task: JoinHandle<()>,
}

impl FakeConsulAgent {
    /// Starts listening on 127.0.0.1.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(AgentState::default());
        let task_state = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&task_state)));
            }
        });
        Ok(Self { url, state, task })
    }

    /// `http://127.0.0.1:<port>`, for `--consul-agent`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().expect("lock").clone()
    }

    /// Forgets every registered service, as a restarted agent would.
    pub fn forget(&self) {
        self.state.registered.lock().expect("lock").clear();
    }

    /// Waits until `count` requests match `wanted`; returns the matching ones.
    pub async fn wait_for(
        &self,
        what: &str,
        count: usize,
        timeout: Duration,
        wanted: impl Fn(&RecordedRequest) -> bool,
    ) -> anyhow::Result<Vec<RecordedRequest>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.state.changed.notified();
            let matching: Vec<RecordedRequest> = self.requests().into_iter().filter(|r| wanted(r)).collect();
            if matching.len() >= count {
                return Ok(matching);
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!("no {count} {what} requests within {timeout:?}; got {:?}", self.requests());
            }
        }
    }
}

impl Drop for FakeConsulAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(stream: TcpStream, state: Arc<AgentState>) {
    let mut reader = BufReader::new(stream);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.is_err() {
        return;
    }
    let mut content_length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; content_length.min(1024 * 1024)];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let status = answer(&state, &method, &path, &body);
    state.requests.lock().expect("lock").push(RecordedRequest { method, path, body });
    state.changed.notify_waiters();
    let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    let _ = reader.get_mut().write_all(response.as_bytes()).await;
}

/// The status line's code and reason for one request, updating the registry.
fn answer(state: &AgentState, method: &str, path: &str, body: &str) -> &'static str {
    let mut registered = state.registered.lock().expect("lock");
    match (method, path) {
        ("PUT", "/v1/agent/service/register") => {
            let id = serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|json| json["ID"].as_str().map(str::to_owned));
            match id {
                Some(id) => {
                    registered.insert(id);
                    "200 OK"
                }
                None => "400 Bad Request",
            }
        }
        ("PUT", _) if path.starts_with("/v1/agent/service/deregister/") => {
            registered.remove(&path["/v1/agent/service/deregister/".len()..]);
            "200 OK"
        }
        ("GET", _)
            if path.starts_with("/v1/agent/service/") && registered.contains(&path["/v1/agent/service/".len()..]) =>
        {
            "200 OK"
        }
        _ => "404 Not Found",
    }
}
