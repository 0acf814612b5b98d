//! `passer status`: what a cluster is doing, as its schedulers see it — a
//! table of schedulers (jobs, tasks in flight, counters) and one of node
//! monitors (address, labels, slots busy/total, queue, tasks/s), refreshed
//! with `--watch`. Tasks/s is the change of each node's finished count
//! between two polls.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use passer_proto::pb;

/// Flags of `passer status`.
#[derive(Debug, Args)]
pub(crate) struct StatusArgs {
    /// How to reach the schedulers.
    #[command(flatten)]
    pub(crate) client: crate::client_args::ClientArgs,
    /// Refresh every SECS seconds (default 2) until interrupted.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "2")]
    pub(crate) watch: Option<f64>,
    /// Seconds between the two polls a single report measures tasks/s over.
    #[arg(long, default_value_t = 1.0)]
    pub(crate) sample: f64,
}

/// Longest reason shown in the STATE column of a scheduler that is down;
/// the whole reason is printed under the table.
const STATE_WIDTH: usize = 40;

/// Longest wait for one scheduler's answer in a poll (`--connect-timeout`
/// only shortens it): a status report should not hang on a dead host.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// How `passer status` reaches schedulers: which ones (listed or
/// discovered once), TLS and the token, checked once.
struct Reach {
    schedulers: Vec<String>,
    connector: passer::security::PeerConnector,
    timeout: Duration,
}

impl Reach {
    async fn from_args(args: &StatusArgs) -> anyhow::Result<Self> {
        let token = args.client.token()?;
        let bearer = passer::security::BearerToken::new(token.as_deref()).map_err(anyhow::Error::msg)?;
        let tls = args.client.tls.files().client_config().map_err(anyhow::Error::msg)?;
        Ok(Self {
            schedulers: args.client.schedulers().await?,
            connector: passer::security::PeerConnector::new(tls, bearer),
            timeout: args.client.connect.connect_timeout.min(ANSWER_TIMEOUT),
        })
    }
}

/// One poll of every scheduler.
struct Poll {
    at: Instant,
    answers: Vec<(String, Result<pb::SchedulerStats, String>)>,
}

/// Runs `passer status`.
pub(crate) async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let interval = args.watch.unwrap_or(args.sample);
    anyhow::ensure!(interval > 0.0 && interval.is_finite(), "--watch and --sample must be positive seconds");
    let interval = Duration::from_secs_f64(interval);
    let reach = Reach::from_args(&args).await?;
    let mut previous = poll(&reach).await?;
    loop {
        tokio::time::sleep(interval).await;
        let current = poll(&reach).await?;
        let table = render(&previous, &current);
        if args.watch.is_some() {
            print!("\x1b[2J\x1b[H{table}");
        } else {
            print!("{table}");
        }
        let reachable = current.answers.iter().any(|(_, answer)| answer.is_ok());
        if args.watch.is_none() {
            return Ok(if reachable { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        previous = current;
    }
}

async fn poll(reach: &Reach) -> anyhow::Result<Poll> {
    let asks = reach.schedulers.iter().map(|address| async move {
        let answer = stats_of(address, reach).await.map_err(|e| format!("{e:#}"));
        (address.clone(), answer)
    });
    let answers = futures::future::join_all(asks).await;
    Ok(Poll { at: Instant::now(), answers })
}

async fn stats_of(address: &str, reach: &Reach) -> anyhow::Result<pb::SchedulerStats> {
    let endpoint = reach
        .connector
        .endpoint(address, reach.timeout)
        .map_err(anyhow::Error::msg)
        .context("bad scheduler address")?
        .timeout(reach.timeout);
    let channel = endpoint.connect().await.context("unreachable")?;
    let mut request = tonic::Request::new(pb::GetStatsRequest {});
    if let Some(value) = reach.connector.token().value() {
        request.metadata_mut().insert("authorization", value.clone());
    }
    let mut client = pb::scheduler_client::SchedulerClient::new(channel);
    Ok(client.get_stats(request).await.map_err(|s| anyhow::anyhow!("{}", s.message()))?.into_inner())
}

/// The report: schedulers, then every node monitor any scheduler knows.
fn render(previous: &Poll, current: &Poll) -> String {
    let elapsed = current.at.duration_since(previous.at).as_secs_f64().max(1e-3);
    let mut out = String::new();
    let mut schedulers =
        vec![row(&["SCHEDULER", "STATE", "JOBS", "IN FLIGHT", "LAUNCHED", "FINISHED", "FAILED", "RETRIED", "TASKS/S"])];
    let mut nodes: BTreeMap<String, (pb::NodeInfo, f64)> = BTreeMap::new();
    let mut reasons = Vec::new();
    let before: HashMap<&str, &pb::SchedulerStats> =
        previous.answers.iter().filter_map(|(a, s)| Some((a.as_str(), s.as_ref().ok()?))).collect();
    for (address, answer) in &current.answers {
        match answer {
            Ok(stats) => {
                let earlier = before.get(address.as_str());
                let rate =
                    earlier.map_or(0.0, |e| stats.tasks_finished.saturating_sub(e.tasks_finished) as f64 / elapsed);
                schedulers.push(row(&[
                    address,
                    "up",
                    &stats.jobs_running.to_string(),
                    &stats.tasks_in_flight.to_string(),
                    &stats.tasks_launched.to_string(),
                    &stats.tasks_finished.to_string(),
                    &stats.tasks_failed.to_string(),
                    &stats.tasks_retried.to_string(),
                    &format!("{rate:.1}"),
                ]));
                for node in &stats.nodes {
                    let earlier_node = earlier.and_then(|e| e.nodes.iter().find(|n| n.node_id == node.node_id));
                    let rate = earlier_node
                        .map_or(0.0, |e| node.tasks_finished.saturating_sub(e.tasks_finished) as f64 / elapsed);
                    // Several schedulers know the same node: keep the freshest view.
                    nodes.entry(node.address.clone()).or_insert_with(|| (node.clone(), rate));
                }
            }
            Err(error) => {
                let state = shorten(&format!("down: {error}"), STATE_WIDTH);
                schedulers.push(row(&[address, &state, "", "", "", "", "", "", ""]));
                reasons.push(format!("{address}: {error}"));
            }
        }
    }
    let mut node_rows =
        vec![row(&["NODE", "ADDRESS", "STATE", "LABELS", "SLOTS BUSY/TOTAL", "QUEUE", "TASKS/S", "FINISHED"])];
    for (node, rate) in nodes.values() {
        let state = match (node.up, node.connected) {
            (true, true) => "up, streaming",
            (true, false) => "up",
            (false, _) => "down",
        };
        node_rows.push(row(&[
            &node.node_id,
            &node.address,
            state,
            &if node.labels.is_empty() { "-".to_owned() } else { node.labels.join(",") },
            &format!("{}/{}", node.slots_busy, node.slots_total),
            &node.queue_length.to_string(),
            &format!("{rate:.1}"),
            &node.tasks_finished.to_string(),
        ]));
    }
    out.push_str(&table(&schedulers));
    for reason in &reasons {
        let _ = writeln!(out, "  {reason}");
    }
    out.push('\n');
    out.push_str(&table(&node_rows));
    out
}

/// `text` cut to `width` characters, ending in `…` when cut.
fn shorten(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

/// Left-aligned columns, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(&widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(finished: u64) -> pb::NodeInfo {
        pb::NodeInfo {
            node_id: "n1".into(),
            address: "127.0.0.1:1".into(),
            labels: vec!["zone=a".into()],
            slots_total: 4,
            slots_busy: 3,
            queue_length: 7,
            tasks_finished: finished,
            up: true,
            connected: true,
            ..Default::default()
        }
    }

    #[test]
    fn reports_rates_between_polls_and_unreachable_schedulers() {
        let start = Instant::now();
        let stats = |finished| pb::SchedulerStats {
            tasks_finished: finished,
            nodes: vec![node(finished)],
            ..Default::default()
        };
        let previous = Poll { at: start, answers: vec![("s1:1".into(), Ok(stats(100)))] };
        let current = Poll {
            at: start + Duration::from_secs(2),
            answers: vec![("s1:1".into(), Ok(stats(300))), ("s2:2".into(), Err("unreachable".into()))],
        };
        let text = render(&previous, &current);
        assert!(text.contains("100.0"), "{text}");
        assert!(text.contains("3/4"), "{text}");
        assert!(text.contains("zone=a"), "{text}");
        assert!(text.contains("down: unreachable"), "{text}");
        assert!(text.contains("up, streaming"), "{text}");
    }

    #[test]
    fn a_long_reason_is_cut_in_the_table_and_printed_whole_below() {
        let start = Instant::now();
        let reason = "transport error: tcp connect error: Connection refused (os error 111) while dialing".to_owned();
        let previous = Poll { at: start, answers: vec![] };
        let current = Poll { at: start + Duration::from_secs(1), answers: vec![("s2:2".into(), Err(reason.clone()))] };
        let text = render(&previous, &current);
        let table_line = text.lines().find(|line| line.starts_with("s2:2")).expect("a row for s2:2");
        assert!(table_line.chars().count() <= "SCHEDULER".len() + 2 + STATE_WIDTH, "{table_line}");
        assert!(text.contains(&format!("  s2:2: {reason}")), "{text}");
    }
}
