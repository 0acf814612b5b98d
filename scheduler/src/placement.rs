//! The I/O of placement: sending a job's reservations to the node monitors
//! the sampler picked, and cancelling leftovers. Results are fed back into
//! the job state under the scheduler's lock.

use std::sync::Arc;
use std::time::Duration;

use passer_proto::pb;

use crate::core::{collect_probes, Followups, Scheduler};
use crate::policy::job::ProbeDemand;
use crate::policy::sampler::sample_nodes;
use crate::stats::add;

/// How long one EnqueueReservations call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait between re-probes of a job nodes keep refusing.
const MAX_PROBE_BACKOFF: Duration = Duration::from_secs(1);

/// Places `demand` reservations for `job_id` by batch sampling.
pub fn place(scheduler: Arc<Scheduler>, job_id: String, demand: ProbeDemand) {
    tokio::spawn(async move {
        let (tenant, priority) = match scheduler.jobs.lock().get(&job_id) {
            Some(entry) => (entry.state.tenant().to_owned(), entry.state.priority()),
            None => return,
        };
        let eligible = scheduler.nodes.eligible_for(&demand.executor, &demand.constraint);
        let probes = {
            let mut rng = scheduler.rng.lock();
            sample_nodes(eligible.len(), demand.count as usize, scheduler.config.probe_ratio, &mut *rng)
        };
        let calls = probes.into_iter().map(|probe| {
            let (node_id, mut client) = eligible[probe.node_index].clone();
            let request = pb::EnqueueReservationsRequest {
                job_id: job_id.clone(),
                scheduler_address: scheduler.address.clone(),
                tenant: tenant.clone(),
                priority,
                executor: demand.executor.clone(),
                count: probe.reservations,
            };
            async move {
                let answer = tokio::time::timeout(CALL_TIMEOUT, client.enqueue_reservations(request)).await;
                let accepted = match answer {
                    Ok(Ok(response)) => {
                        let response = response.into_inner();
                        if response.accepted < probe.reservations && !response.refusal.is_empty() {
                            tracing::debug!(%node_id, refusal = %response.refusal, "reservations refused");
                        }
                        response.accepted
                    }
                    Ok(Err(status)) => {
                        tracing::debug!(%node_id, %status, "cannot place reservations");
                        0
                    }
                    Err(_) => 0,
                };
                (node_id, probe.reservations, accepted)
            }
        });
        let answers = futures::future::join_all(calls).await;
        let now = scheduler.now();
        let mut followups = Followups::default();
        {
            let mut jobs = scheduler.jobs.lock();
            let Some(entry) = jobs.get_mut(&job_id) else {
                // The job ended meanwhile; what was accepted is now surplus.
                for (node_id, _, accepted) in answers {
                    if accepted > 0 {
                        followups.cancels.push((job_id.clone(), demand.executor.clone(), node_id));
                    }
                }
                drop(jobs);
                scheduler.carry_out(followups);
                return;
            };
            entry.placing -= 1;
            let mut refused = false;
            for (node_id, offered, accepted) in answers {
                add(&scheduler.stats.reservations_sent, u64::from(accepted));
                add(&scheduler.stats.reservations_refused, u64::from(offered - accepted));
                refused |= accepted < offered;
                if entry.state.demand_placed(&demand, &node_id, accepted, now) {
                    followups.cancels.push((job_id.clone(), demand.executor.clone(), node_id));
                }
            }
            if refused || entry.state.probe_demands().iter().any(|d| d.executor == demand.executor) {
                entry.next_probe_at = now + entry.probe_backoff;
                entry.probe_backoff = (entry.probe_backoff * 2).min(MAX_PROBE_BACKOFF);
            } else {
                entry.probe_backoff = Duration::from_millis(20);
            }
            if entry.placing == 0 && now >= entry.next_probe_at {
                collect_probes(&job_id, entry, &mut followups);
            }
        }
        scheduler.carry_out(followups);
    });
}

/// Cancels `job_id`'s reservations on `node_id` (one executor type, or all
/// with running tasks stopped when `executor` is empty: job cancellation).
pub fn cancel_reservations(scheduler: Arc<Scheduler>, job_id: String, executor: String, node_id: String) {
    let Some(mut client) = scheduler.nodes.client(&node_id) else { return };
    tokio::spawn(async move {
        let stop_running = executor.is_empty();
        let request = pb::CancelReservationsRequest { job_id, stop_running, executor };
        if let Ok(Ok(response)) = tokio::time::timeout(CALL_TIMEOUT, client.cancel_reservations(request)).await {
            add(&scheduler.stats.reservations_cancelled, u64::from(response.into_inner().cancelled));
        }
    });
}
