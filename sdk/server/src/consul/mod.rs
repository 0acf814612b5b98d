//! Registering a server with the local Consul agent: the service
//! definition ([`ServiceRegistration`], Consul's agent API JSON with a gRPC
//! health check), the flags that configure it ([`RegistrationArgs`]), and
//! the background [`Registrar`] that registers with backoff, re-registers
//! when the agent forgets the service (restart, lost state), and
//! deregisters on graceful shutdown. It never blocks or stops the server.

pub mod http;
mod registrar;

use std::collections::BTreeMap;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

pub use registrar::Registrar;

/// Consul's agent service definition (`PUT /v1/agent/service/register`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceRegistration {
    /// Unique id of this instance on the agent.
    #[serde(rename = "ID")]
    pub id: String,
    /// The service name, which DNS answers under `<name>.service.<domain>`.
    pub name: String,
    /// Tags (filterable in DNS as `<tag>.<name>.service.<domain>`).
    pub tags: Vec<String>,
    /// Address others reach the instance at.
    pub address: String,
    /// Port others reach the instance at.
    pub port: u16,
    /// Free-form metadata.
    pub meta: BTreeMap<String, String>,
    /// The health check Consul runs.
    pub check: GrpcCheck,
}

/// A Consul gRPC health check (`grpc.health.v1.Health/Check`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrpcCheck {
    /// Check id, unique on the agent.
    #[serde(rename = "CheckID")]
    pub check_id: String,
    /// Check name shown in the UI.
    pub name: String,
    /// `host:port` (optionally `/service`) the agent checks.
    #[serde(rename = "GRPC")]
    pub grpc: String,
    /// Whether the check speaks TLS.
    #[serde(rename = "GRPCUseTLS")]
    pub grpc_use_tls: bool,
    /// Time between checks, a Go duration such as `10s`.
    pub interval: String,
    /// Time a check may take.
    pub timeout: String,
    /// Critical for this long, the instance is deregistered.
    pub deregister_critical_service_after: String,
}

/// Consul registration flags, shared by node monitors and schedulers.
#[derive(Debug, Clone, Args)]
pub struct RegistrationArgs {
    /// Register with this Consul agent (http://host:port); off when unset.
    #[arg(long, env = "PASSER_CONSUL_AGENT")]
    pub consul_agent: Option<String>,
    /// Service name to register (default: passer-node-monitor or passer-scheduler).
    #[arg(long, env = "PASSER_CONSUL_SERVICE_NAME")]
    pub consul_service_name: Option<String>,
    /// Service id to register (default: <name>-<advertised host>-<port>).
    #[arg(long, env = "PASSER_CONSUL_SERVICE_ID")]
    pub consul_service_id: Option<String>,
    /// Tags to register (comma-separated).
    #[arg(long, env = "PASSER_CONSUL_TAGS", value_delimiter = ',')]
    pub consul_tags: Vec<String>,
    /// Interval of the gRPC health check (a Go duration: 10s, 1m).
    #[arg(long, env = "PASSER_CONSUL_CHECK_INTERVAL", default_value = "10s")]
    pub consul_check_interval: String,
    /// Deregister the instance after its check is critical this long.
    #[arg(long, env = "PASSER_CONSUL_DEREGISTER_AFTER", default_value = "1m")]
    pub consul_deregister_after: String,
    /// Milliseconds between checks that the agent still knows the service
    /// (it is registered again when not).
    #[arg(long, env = "PASSER_CONSUL_RECHECK_MS", default_value_t = 10_000)]
    pub consul_recheck_ms: u64,
    /// ACL token for the agent API.
    #[arg(long, env = "CONSUL_HTTP_TOKEN", hide_env_values = true)]
    pub consul_token: Option<String>,
}

impl Default for RegistrationArgs {
    /// Registration off, with the flags' defaults.
    fn default() -> Self {
        Self {
            consul_agent: None,
            consul_service_name: None,
            consul_service_id: None,
            consul_tags: Vec::new(),
            consul_check_interval: "10s".to_owned(),
            consul_deregister_after: "1m".to_owned(),
            consul_recheck_ms: 10_000,
            consul_token: None,
        }
    }
}

impl RegistrationArgs {
    /// Checks values that clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        let Some(agent) = &self.consul_agent else { return Ok(()) };
        http::AgentAddress::parse(agent)?;
        check_go_duration("--consul-check-interval", &self.consul_check_interval)?;
        check_go_duration("--consul-deregister-after", &self.consul_deregister_after)?;
        if self.consul_recheck_ms == 0 {
            return Err("--consul-recheck-ms must be at least 1".to_owned());
        }
        Ok(())
    }

    /// The registration for a server advertised at `advertise` (`host:port`),
    /// or `None` when no agent is configured.
    pub fn registration(
        &self,
        default_name: &str,
        advertise: &str,
        meta: BTreeMap<String, String>,
    ) -> Result<Option<ServiceRegistration>, String> {
        if self.consul_agent.is_none() {
            return Ok(None);
        }
        let (host, port) = advertise
            .rsplit_once(':')
            .and_then(|(host, port)| Some((host.trim_matches(['[', ']']), port.parse::<u16>().ok()?)))
            .ok_or_else(|| format!("advertised address {advertise:?} must be host:port to register with consul"))?;
        let name = self.consul_service_name.clone().unwrap_or_else(|| default_name.to_owned());
        let id = self
            .consul_service_id
            .clone()
            .unwrap_or_else(|| format!("{name}-{}", advertise.replace([':', '[', ']'], "-")));
        let check = GrpcCheck {
            check_id: format!("service:{id}"),
            name: format!("{name} grpc health"),
            grpc: advertise.to_owned(),
            grpc_use_tls: false,
            interval: self.consul_check_interval.clone(),
            timeout: "2s".to_owned(),
            deregister_critical_service_after: self.consul_deregister_after.clone(),
        };
        let tags = self.consul_tags.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
        Ok(Some(ServiceRegistration { id, name, tags, address: host.to_owned(), port, meta, check }))
    }

    /// Starts registering `registration` in the background, if an agent is configured.
    pub fn start(&self, registration_opt: Option<ServiceRegistration>) -> Result<Option<Registrar>, String> {
        let (Some(agent), Some(registration)) = (&self.consul_agent, registration_opt) else { return Ok(None) };
        let agent = http::AgentAddress::parse(agent)?;
        let recheck = Duration::from_millis(self.consul_recheck_ms);
        Ok(Some(Registrar::spawn(agent, self.consul_token.clone(), registration, recheck)))
    }
}

/// Checks a Go duration of the simple kind Consul takes: digits and a unit.
fn check_go_duration(flag: &str, value: &str) -> Result<(), String> {
    let digits_end = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (digits, unit) = value.split_at(digits_end);
    if digits.is_empty() || !matches!(unit, "ms" | "s" | "m" | "h") {
        return Err(format!("{flag} {value:?} must be a number with a unit ms, s, m or h, like 10s"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_has_consul_fields() {
        let args = RegistrationArgs {
            consul_agent: Some("http://127.0.0.1:8500".to_owned()),
            consul_tags: vec!["a".to_owned(), " ".to_owned()],
            ..RegistrationArgs::default()
        };
        let registration =
            args.registration("passer-node-monitor", "10.0.0.5:20501", BTreeMap::new()).expect("valid").expect("on");
        let json = serde_json::to_value(&registration).expect("serializes");
        assert_eq!(json["ID"], "passer-node-monitor-10.0.0.5-20501");
        assert_eq!(json["Name"], "passer-node-monitor");
        assert_eq!(json["Address"], "10.0.0.5");
        assert_eq!(json["Port"], 20501);
        assert_eq!(json["Tags"], serde_json::json!(["a"]));
        assert_eq!(json["Check"]["GRPC"], "10.0.0.5:20501");
        assert_eq!(json["Check"]["Interval"], "10s");
        assert_eq!(json["Check"]["DeregisterCriticalServiceAfter"], "1m");
    }

    #[test]
    fn bad_flags_are_named() {
        let mut args = RegistrationArgs { consul_agent: Some("http://a:1".to_owned()), ..RegistrationArgs::default() };
        assert!(args.validate().is_ok());
        args.consul_check_interval = "ten".to_owned();
        assert!(args.validate().expect_err("bad").contains("--consul-check-interval"));
        assert!(RegistrationArgs::default().registration("x", "no-port", BTreeMap::new()).expect("off").is_none());
    }
}
