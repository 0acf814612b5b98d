//! The node monitors a scheduler samples from: their addresses, ids, the
//! executors they offer and whether they are up. A background poller
//! (`GetLoad`, the heartbeat) keeps it fresh; the scheduling path only reads
//! it. The address set can be replaced at any time (static list or discovery).
//! Each node's idle estimate is kept here but decided by
//! [`crate::policy::idle`].

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use parking_lot::RwLock;
use passer::security::tls::NodeClient;
use passer::security::PeerConnector;
use passer_proto::pb;

use crate::policy::constraint::Constraint;
use crate::policy::idle::IdleEstimate;

/// A node monitor as the scheduler knows it.
#[derive(Clone)]
pub struct Node {
    /// Where to reach it.
    pub address: String,
    /// Its id (the address until it has answered a poll).
    pub node_id: String,
    /// The gRPC client (a cheap clone of one long-lived channel).
    pub client: NodeClient,
    /// Its last answer to `GetLoad`.
    pub load: Option<pb::NodeLoad>,
    /// Whether it answered the last poll and has not lost its session since.
    pub up: bool,
    /// Polls failed in a row.
    pub failures: u32,
    /// What this scheduler knows of its idle slots since the last poll
    /// (the decision lives in the policy).
    pub idle: IdleEstimate,
    /// Executor types it has offered since it became known (at most
    /// [`MAX_REMEMBERED_EXECUTORS`]): one missing now may be restarting.
    pub offered_before: HashSet<String>,
}

/// Most executor types remembered per node as offered before.
const MAX_REMEMBERED_EXECUTORS: usize = 64;

impl Node {
    fn offers(&self, executor: &str) -> bool {
        self.load
            .as_ref()
            .is_some_and(|load| load.executors.iter().any(|e| e.executor == executor && e.slots_total > 0))
    }

    fn labels(&self) -> &[String] {
        self.load.as_ref().map_or(&[], |load| load.labels.as_slice())
    }

    fn can_run(&self, executor: &str, constraint: &Constraint) -> bool {
        self.up && self.offers(executor) && constraint.admits(&self.node_id, self.labels())
    }
}

/// The set of known node monitors.
#[derive(Default)]
pub struct NodeRegistry {
    nodes: RwLock<Vec<Node>>,
    /// TLS and token for the channels to node monitors.
    peers: PeerConnector,
}

impl NodeRegistry {
    /// An empty registry whose channels use `peers`.
    pub fn new(peers: PeerConnector) -> Self {
        Self { nodes: RwLock::new(Vec::new()), peers }
    }

    /// Replaces the address set: new addresses are added (down until their
    /// first poll), missing ones removed. Returns the node ids removed.
    pub fn set_addresses(&self, addresses: &[String]) -> Vec<String> {
        let mut nodes = self.nodes.write();
        let removed: Vec<String> =
            nodes.iter().filter(|n| !addresses.contains(&n.address)).map(|n| n.node_id.clone()).collect();
        nodes.retain(|n| addresses.contains(&n.address));
        for address in addresses {
            if nodes.iter().any(|n| &n.address == address) {
                continue;
            }
            match self.peers.node_client(address, Duration::from_secs(1)) {
                Ok(client) => nodes.push(Node {
                    address: address.clone(),
                    node_id: address.clone(),
                    client,
                    load: None,
                    up: false,
                    failures: 0,
                    idle: IdleEstimate::default(),
                    offered_before: HashSet::new(),
                }),
                Err(error) => tracing::warn!(%error, "ignoring node monitor"),
            }
        }
        removed
    }

    /// Polls every node's load once, concurrently. Returns the ids of nodes
    /// that just went down (failed `down_after` polls in a row).
    pub async fn poll(&self, timeout: Duration, down_after: u32) -> Vec<String> {
        let targets: Vec<(String, NodeClient)> =
            self.nodes.read().iter().map(|n| (n.address.clone(), n.client.clone())).collect();
        let polls = targets.into_iter().map(|(address, mut client)| async move {
            let answer = tokio::time::timeout(timeout, client.get_load(pb::GetLoadRequest {})).await;
            let load = match answer {
                Ok(Ok(response)) => Ok(response.into_inner()),
                Ok(Err(status)) => Err(status.message().to_owned()),
                Err(_) => Err("timed out".to_owned()),
            };
            (address, load)
        });
        let answers = futures::future::join_all(polls).await;
        let mut went_down = Vec::new();
        let mut nodes = self.nodes.write();
        for (address, load) in answers {
            let Some(node) = nodes.iter_mut().find(|n| n.address == address) else { continue };
            match load {
                Ok(load) => {
                    if !node.up {
                        tracing::info!(address = %node.address, node_id = %load.node_id, "node monitor up");
                    }
                    node.node_id = load.node_id.clone();
                    node.up = !load.draining;
                    node.failures = 0;
                    node.idle.polled();
                    for offered in load.executors.iter().filter(|e| e.slots_total > 0) {
                        if node.offered_before.len() < MAX_REMEMBERED_EXECUTORS {
                            node.offered_before.insert(offered.executor.clone());
                        }
                    }
                    node.load = Some(load);
                }
                Err(error) => {
                    node.failures += 1;
                    if node.up && node.failures >= down_after {
                        tracing::warn!(address = %node.address, %error, "node monitor down");
                        node.up = false;
                        went_down.push(node.node_id.clone());
                    }
                }
            }
        }
        went_down
    }

    /// Slots of `executor` on `node_id` that look idle (the policy's
    /// [`IdleEstimate`]); 0 for a node that is down or unknown.
    pub fn idle_slots(&self, node_id: &str, executor: &str) -> u32 {
        self.nodes
            .read()
            .iter()
            .find(|n| n.node_id == node_id && n.up)
            .map_or(0, |n| n.idle.idle_slots(n.load.as_ref(), executor))
    }

    /// Applies `change` to `node_id`'s idle estimate (tasks started or
    /// reported, an offer answered).
    pub fn update_idle(&self, node_id: &str, change: impl FnOnce(&mut IdleEstimate)) {
        if let Some(node) = self.nodes.write().iter_mut().find(|n| n.node_id == node_id) {
            change(&mut node.idle);
        }
    }

    /// Why no node can run `executor` under `constraint` *now*, when that
    /// may pass (`None` when the view is healthy and the absence is real):
    /// a node that offered the executor before and does not now (its
    /// executor restarting, the node down or draining), or any known node
    /// unreachable (it may be the one that offers it), or no node known yet.
    pub fn transient_absence(&self, executor: &str, constraint: &Constraint) -> Option<String> {
        let nodes = self.nodes.read();
        if nodes.is_empty() {
            return Some("no node monitor is known yet".to_owned());
        }
        let admitted = |n: &&Node| constraint.admits(&n.node_id, n.labels());
        let lately = nodes.iter().filter(admitted).filter(|n| n.offered_before.contains(executor)).count();
        if lately > 0 {
            return Some(format!("{lately} node monitor(s) offered it lately and may be back soon"));
        }
        let unreachable = nodes.iter().filter(|n| !n.up).count();
        if unreachable > 0 {
            return Some(format!("{unreachable} of {} node monitors are unreachable or draining", nodes.len()));
        }
        None
    }

    /// True if some node that is up offers `executor`.
    pub fn offers(&self, executor: &str) -> bool {
        self.nodes.read().iter().any(|n| n.up && n.offers(executor))
    }

    /// Ids of the up nodes offering `executor`.
    pub fn eligible(&self, executor: &str) -> Vec<String> {
        self.eligible_for(executor, &Constraint::default())
    }

    /// Ids of the up nodes offering `executor` that `constraint` admits.
    /// Their clients are not cloned here: placement mostly goes down the
    /// nodes' sessions, and a client clone per node per job was ~2% of the
    /// scheduler's CPU; [`Self::client`] gives one when a unary call is due.
    pub fn eligible_for(&self, executor: &str, constraint: &Constraint) -> Vec<String> {
        self.nodes.read().iter().filter(|n| n.can_run(executor, constraint)).map(|n| n.node_id.clone()).collect()
    }

    /// True if some up node offering `executor` satisfies `constraint`.
    pub fn satisfies(&self, executor: &str, constraint: &Constraint) -> bool {
        self.nodes.read().iter().any(|n| n.can_run(executor, constraint))
    }

    /// The labels the node with this id last reported.
    pub fn labels(&self, node_id: &str) -> Vec<String> {
        self.nodes.read().iter().find(|n| n.node_id == node_id).map_or_else(Vec::new, |n| n.labels().to_vec())
    }

    /// The slots of the node monitors that are up: per node, the most of
    /// any one executor type (builtin types each count the same slots
    /// again, so a sum over types would overstate what one workload gets).
    pub fn slots_up(&self) -> u64 {
        self.nodes
            .read()
            .iter()
            .filter(|n| n.up)
            .filter_map(|n| n.load.as_ref())
            .map(|load| load.executors.iter().map(|e| u64::from(e.slots_total)).max().unwrap_or(0))
            .sum()
    }

    /// How many nodes are up.
    pub fn up_count(&self) -> usize {
        self.nodes.read().iter().filter(|n| n.up).count()
    }

    /// The client of the node with this id.
    pub fn client(&self, node_id: &str) -> Option<NodeClient> {
        self.nodes.read().iter().find(|n| n.node_id == node_id).map(|n| n.client.clone())
    }

    /// Every known node, for stats.
    pub fn describe(&self, connected: &HashMap<String, u64>) -> Vec<pb::NodeInfo> {
        self.nodes
            .read()
            .iter()
            .map(|n| {
                let load = n.load.clone().unwrap_or_default();
                pb::NodeInfo {
                    node_id: n.node_id.clone(),
                    address: n.address.clone(),
                    executors: load.executors.iter().map(|e| e.executor.clone()).collect(),
                    connected: connected.contains_key(&n.node_id),
                    labels: load.labels.clone(),
                    slots_total: load.executors.iter().map(|e| e.slots_total).sum(),
                    slots_busy: load.executors.iter().map(|e| e.slots_busy).sum(),
                    queue_length: load.queue_length,
                    tasks_finished: load.tasks_finished,
                    up: n.up,
                }
            })
            .collect()
    }
}
