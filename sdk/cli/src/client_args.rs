//! The flags every command that reaches schedulers as a client shares
//! (`submit`, `run`, `results`, `logs`, `cancel`, `status`): which
//! schedulers (a list, or Consul/plain DNS), the shared token (inline or
//! from a file), TLS, and how long to keep trying when none answers. One
//! struct flattened into each command, so the flags read and behave the
//! same everywhere.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use passer::{Client, ClientConfig};

/// Longest wait for one DNS lookup of the schedulers.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// How a command reaches schedulers.
#[derive(Debug, Clone, Args)]
pub(crate) struct ClientArgs {
    /// Schedulers to use (comma-separated host:port); the client fails over between them.
    #[arg(
        long,
        alias = "schedulers",
        env = "PASSER_SCHEDULERS",
        value_delimiter = ',',
        default_value = "127.0.0.1:20503"
    )]
    pub(crate) scheduler: Vec<String>,
    /// Finding schedulers through Consul DNS or plain DNS instead.
    #[command(flatten)]
    pub(crate) discovery: passer::discovery::SchedulerDiscoveryArgs,
    /// Shared token (also PASSER_TOKEN).
    #[arg(long, env = "PASSER_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Read the shared token from this file (surrounding whitespace trimmed); wins over --token.
    #[arg(long, env = "PASSER_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// TLS.
    #[command(flatten)]
    pub(crate) tls: crate::tls_args::TlsArgs,
    /// How long to try when no scheduler answers.
    #[command(flatten)]
    pub(crate) connect: crate::connect_args::ConnectArgs,
}

impl ClientArgs {
    /// The schedulers to use now: the list, or one DNS lookup.
    pub(crate) async fn schedulers(&self) -> anyhow::Result<Vec<String>> {
        self.discovery.schedulers(self.scheduler.clone(), DISCOVERY_TIMEOUT).await.context("cannot discover schedulers")
    }

    /// The shared token, read from `--token-file` when given.
    pub(crate) fn token(&self) -> anyhow::Result<Option<String>> {
        passer::security::token::load_token(self.token_file.as_deref(), self.token.clone()).map_err(anyhow::Error::msg)
    }

    /// The SDK client configuration these flags describe.
    pub(crate) async fn config(&self) -> anyhow::Result<ClientConfig> {
        let mut config = ClientConfig::new(self.schedulers().await?);
        config.token = self.token()?;
        config.tls = self.tls.files();
        config.unreachable_timeout = self.connect.connect_timeout;
        Ok(config)
    }

    /// A client of the schedulers these flags name.
    pub(crate) async fn client(&self) -> anyhow::Result<Client> {
        Client::new(self.config().await?).context("bad client configuration")
    }
}
