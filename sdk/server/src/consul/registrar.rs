//! The registration loop: `PUT /v1/agent/service/register` until the agent
//! accepts (capped exponential backoff), then `GET /v1/agent/service/<id>`
//! every recheck interval and register again when the agent no longer
//! knows the service (it restarted or lost its state) or cannot be reached.
//! Failures are logged once per streak. On shutdown the loop stops and
//! `PUT /v1/agent/service/deregister/<id>` is sent, bounded in time.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::http::{send, AgentAddress};
use super::ServiceRegistration;

/// Time one agent request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// First retry delay after a failed registration.
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// Largest retry delay.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A registration kept alive in the background.
pub struct Registrar {
    agent: AgentAddress,
    token_opt: Option<String>,
    service_id: String,
    task: JoinHandle<()>,
}

impl Registrar {
    /// Starts registering `registration` with `agent`.
    pub fn spawn(
        agent: AgentAddress,
        token_opt: Option<String>,
        registration: ServiceRegistration,
        recheck: Duration,
    ) -> Self {
        let service_id = registration.id.clone();
        let keeper = Keeper { agent: agent.clone(), token_opt: token_opt.clone(), registration, recheck };
        Self { agent, token_opt, service_id, task: tokio::spawn(keeper.run()) }
    }

    /// Stops re-registering and deregisters the service (one bounded try).
    pub async fn deregister(self) {
        self.task.abort();
        let path = format!("/v1/agent/service/deregister/{}", self.service_id);
        match send(&self.agent, "PUT", &path, self.token_opt.as_deref(), None, REQUEST_TIMEOUT).await {
            Ok(response) if response.status < 300 => {
                tracing::info!(service_id = %self.service_id, "deregistered from consul")
            }
            Ok(response) => tracing::warn!(
                service_id = %self.service_id,
                status = response.status,
                body = %response.body.trim(),
                "consul refused to deregister"
            ),
            Err(error) => tracing::warn!(service_id = %self.service_id, %error, "cannot deregister from consul"),
        }
    }
}

impl Drop for Registrar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The background loop's state.
struct Keeper {
    agent: AgentAddress,
    token_opt: Option<String>,
    registration: ServiceRegistration,
    recheck: Duration,
}

impl Keeper {
    async fn run(self) {
        let body = match serde_json::to_vec(&self.registration) {
            Ok(body) => body,
            Err(error) => {
                tracing::error!(%error, "cannot encode the consul registration");
                return;
            }
        };
        let id = self.registration.id.as_str();
        let mut failing = false;
        let mut backoff = passer::client::backoff::Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF);
        loop {
            match self.request("PUT", "/v1/agent/service/register", Some(&body)).await {
                Ok(()) => {
                    tracing::info!(service_id = %id, agent = %self.agent.authority(), "registered with consul");
                    failing = false;
                    backoff.reset();
                    self.watch_until_forgotten().await;
                }
                Err(error) => {
                    if failing {
                        tracing::debug!(service_id = %id, %error, "consul registration still failing");
                    } else {
                        tracing::warn!(service_id = %id, %error, "consul registration failed; retrying with backoff");
                        failing = true;
                    }
                    tokio::time::sleep(backoff.next_delay()).await;
                }
            }
        }
    }

    /// Returns once the agent no longer knows the service or cannot be reached.
    async fn watch_until_forgotten(&self) {
        let path = format!("/v1/agent/service/{}", self.registration.id);
        loop {
            tokio::time::sleep(self.recheck).await;
            match send(&self.agent, "GET", &path, self.token_opt.as_deref(), None, REQUEST_TIMEOUT).await {
                Ok(response) if response.status == 200 => continue,
                Ok(response) => {
                    tracing::info!(
                        status = response.status,
                        "consul agent no longer knows this service; registering again"
                    );
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, "consul agent unreachable; registering again when it is back");
                    return;
                }
            }
        }
    }

    async fn request(&self, method: &str, path: &str, body_opt: Option<&[u8]>) -> Result<(), String> {
        let response = send(&self.agent, method, path, self.token_opt.as_deref(), body_opt, REQUEST_TIMEOUT).await?;
        if response.status >= 300 {
            return Err(format!("agent answered {}: {}", response.status, response.body.trim()));
        }
        Ok(())
    }
}
