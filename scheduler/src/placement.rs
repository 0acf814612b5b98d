//! The I/O of placement: sending a job's reservations to the node monitors
//! the sampler picked (with tasks offered to those that look idle), and
//! cancelling leftovers. Answers are fed back into the job state under the
//! scheduler's lock: declined offers return to late binding, unanswered ones
//! count as lost attempts.

use std::sync::Arc;
use std::time::Duration;

use passer_proto::pb;

use crate::core::{collect_probes, Followups, Scheduler};
use crate::node_stream;
use crate::policy::job::{Finish, ProbeDemand};
use crate::policy::placements::PlacementTicket;
use crate::policy::sampler::sample_nodes;
use crate::stats::add;

/// How long one EnqueueReservations call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait between re-probes of a job nodes keep refusing.
const MAX_PROBE_BACKOFF: Duration = Duration::from_secs(1);

/// Places `demand` reservations for `job_id` by batch sampling. `ticket`
/// ties the call to the job entry that asked for it: if that entry is gone
/// when the answers come (even if a new entry of the same id took its
/// place), they are not applied to another entry's state.
pub fn place(scheduler: Arc<Scheduler>, job_id: String, demand: ProbeDemand, ticket: PlacementTicket) {
    tokio::spawn(async move {
        let (tenant, priority) = match scheduler.jobs.lock().get(&job_id) {
            Some(entry) if entry.placements.owns(ticket) => (entry.state.tenant().to_owned(), entry.state.priority()),
            Some(_) | None => return,
        };
        let eligible = scheduler.nodes.eligible_for(&demand.executor, &demand.constraint);
        let plan = plan_calls(&scheduler, &job_id, &demand, ticket, &eligible);
        let calls = plan.into_iter().map(|(node_index, reservations, offered)| {
            let (node_id, client) = eligible[node_index].clone();
            let stream_opt = scheduler.node_stream(&node_id);
            let request = pb::EnqueueReservationsRequest {
                job_id: job_id.clone(),
                scheduler_address: scheduler.address.clone(),
                tenant: tenant.clone(),
                priority,
                executor: demand.executor.clone(),
                count: reservations,
                offered: offered.clone(),
                request_id: 0,
            };
            let scheduler = Arc::clone(&scheduler);
            async move {
                let sent = node_stream::enqueue(stream_opt, client, request, CALL_TIMEOUT, &scheduler.stats).await;
                let reply = match sent {
                    Ok(response) => {
                        if response.accepted < reservations && !response.refusal.is_empty() {
                            tracing::debug!(%node_id, refusal = %response.refusal, "reservations refused");
                        }
                        Some(response)
                    }
                    Err(error) => {
                        tracing::debug!(%node_id, %error, "cannot place reservations");
                        None
                    }
                };
                Answer { node_id, reservations, offered, reply }
            }
        });
        let answers = futures::future::join_all(calls).await;
        // What the nodes did counts whatever became of the job meanwhile: an
        // offer a node took is a launch even when the job's result (which the
        // node reported on its session) ended the job before this answer came.
        for answer in &answers {
            let (accepted, taken) = (answer.accepted(), answer.taken());
            add(&scheduler.stats.reservations_sent, u64::from(accepted));
            add(&scheduler.stats.offers_taken, u64::from(taken));
            add(&scheduler.stats.tasks_launched, u64::from(taken));
            add(&scheduler.stats.reservations_refused, u64::from(answer.reservations.saturating_sub(accepted)));
        }
        let now = scheduler.now();
        let mut followups = Followups::default();
        {
            let mut jobs = scheduler.jobs.lock();
            if jobs.get(&job_id).is_some_and(|entry| !entry.placements.owns(ticket)) {
                // The job ended and was submitted again meanwhile: the new
                // entry places its own reservations (and may redeem these,
                // which name only the job id); these answers are not its.
                tracing::debug!(%job_id, "placement answers of an earlier entry of the job ignored");
                return;
            }
            let Some(entry) = jobs.get_mut(&job_id) else {
                // The job ended meanwhile; what was accepted is now surplus.
                for answer in answers {
                    if answer.accepted() > 0 {
                        followups.cancels.push((job_id.clone(), demand.executor.clone(), answer.node_id));
                    }
                }
                drop(jobs);
                scheduler.carry_out(followups);
                return;
            };
            entry.placements.finish(ticket);
            let mut refused = false;
            let mut lost_offers = Vec::new();
            for answer in answers {
                let (accepted, taken) = (answer.accepted(), answer.taken());
                let unused = answer.reservations.saturating_sub(accepted);
                refused |= unused > 0;
                match &answer.reply {
                    Some(reply) => {
                        let declined = |launch: &&pb::TaskLaunch| reply.declined_task_ids.contains(&launch.task_id);
                        for launch in answer.offered.iter().filter(declined) {
                            entry.state.offer_declined(&answer.node_id, &launch.task_id, launch.attempt);
                        }
                        let returned = answer.offered.len() as u64 - u64::from(taken);
                        scheduler.nodes.note_tasks(&answer.node_id, 0, returned);
                        if returned > 0 || reply.queue_length > 0 {
                            // Busier than its last poll showed: no offers until the next.
                            scheduler.nodes.mark_busy(&answer.node_id);
                        }
                    }
                    None => {
                        for launch in &answer.offered {
                            lost_offers.push(entry.state.offer_unanswered(
                                &answer.node_id,
                                &launch.task_id,
                                launch.attempt,
                                now,
                            ));
                        }
                    }
                }
                if entry.state.demand_placed(&demand, &answer.node_id, accepted, now) {
                    followups.cancels.push((job_id.clone(), demand.executor.clone(), answer.node_id));
                }
            }
            if lost_offers.iter().any(|finish| !matches!(finish, Finish::Ignored)) {
                // May send results or retire the job; re-probing follows below.
                scheduler.apply_finishes(&mut jobs, &job_id, lost_offers, &mut followups);
            }
            let Some(entry) = jobs.get_mut(&job_id) else {
                drop(jobs);
                scheduler.carry_out(followups);
                return;
            };
            // Back off only when nodes refused; a deficit left by declined
            // offers (or retries) is probed again at once.
            if refused {
                entry.next_probe_at = now + entry.probe_backoff;
                entry.probe_backoff = (entry.probe_backoff * 2).min(MAX_PROBE_BACKOFF);
            } else {
                entry.probe_backoff = Duration::from_millis(20);
            }
            if entry.placements.in_flight() == 0 && now >= entry.next_probe_at {
                collect_probes(&job_id, entry, &mut followups);
            }
        }
        scheduler.carry_out(followups);
    });
}

/// One node's answer to an EnqueueReservations call.
struct Answer {
    node_id: String,
    /// Reservations asked for.
    reservations: u32,
    /// Tasks offered with them.
    offered: Vec<pb::TaskLaunch>,
    /// The reply; `None` when the call failed or timed out.
    reply: Option<pb::EnqueueReservationsResponse>,
}

impl Answer {
    /// Reservations queued.
    fn accepted(&self) -> u32 {
        self.reply.as_ref().map_or(0, |reply| reply.accepted)
    }

    /// Offered tasks the node started.
    fn taken(&self) -> u32 {
        self.reply.as_ref().map_or(0, |reply| {
            let declined = self.offered.iter().filter(|l| reply.declined_task_ids.contains(&l.task_id)).count();
            (self.offered.len() - declined) as u32
        })
    }
}

/// What to send where: `(eligible index, reservations, offered tasks)` per
/// node. Tasks go first to nodes that look idle (among up to `d × count`
/// sampled candidates), one node per task and no reservations for them;
/// the rest get `d` reservations each by batch sampling, as in Sparrow.
fn plan_calls(
    scheduler: &Scheduler,
    job_id: &str,
    demand: &ProbeDemand,
    ticket: PlacementTicket,
    eligible: &[(String, passer::security::tls::NodeClient)],
) -> Vec<(usize, u32, Vec<pb::TaskLaunch>)> {
    let probe_ratio = scheduler.config.probe_ratio;
    let mut plan: Vec<(usize, u32, Vec<pb::TaskLaunch>)> = Vec::new();
    let mut to_probe = demand.count as usize;
    if scheduler.config.offer_to_idle && !eligible.is_empty() {
        let wanted = ((demand.count as f64 * probe_ratio).ceil() as usize).clamp(1, eligible.len());
        let candidates = rand::seq::index::sample(&mut *scheduler.rng.lock(), eligible.len(), wanted);
        let now = scheduler.now();
        let mut jobs = scheduler.jobs.lock();
        if let Some(entry) = jobs.get_mut(job_id).filter(|entry| entry.placements.owns(ticket)) {
            for node_index in candidates {
                if to_probe == 0 {
                    break;
                }
                let node_id = &eligible[node_index].0;
                let idle = scheduler.nodes.idle_slots(node_id, &demand.executor).min(to_probe as u32);
                if idle == 0 {
                    continue;
                }
                let offered = entry.state.offer(demand, node_id, idle, now);
                if offered.is_empty() {
                    continue;
                }
                scheduler.nodes.note_tasks(node_id, offered.len() as u64, 0);
                add(&scheduler.stats.tasks_offered, offered.len() as u64);
                to_probe -= offered.len();
                plan.push((node_index, 0, offered));
            }
        }
    }
    if to_probe > 0 {
        let probes = sample_nodes(eligible.len(), to_probe, probe_ratio, &mut *scheduler.rng.lock());
        for probe in probes {
            match plan.iter_mut().find(|(index, _, _)| *index == probe.node_index) {
                Some(call) => call.1 += probe.reservations,
                None => plan.push((probe.node_index, probe.reservations, Vec::new())),
            }
        }
    }
    plan
}

/// Cancels `job_id`'s reservations on `node_id` (one executor type, or all
/// with running tasks stopped when `executor` is empty: job cancellation).
pub fn cancel_reservations(scheduler: Arc<Scheduler>, job_id: String, executor: String, node_id: String) {
    let stream_opt = scheduler.node_stream(&node_id);
    let client_opt = scheduler.nodes.client(&node_id);
    if stream_opt.is_none() && client_opt.is_none() {
        return;
    }
    tokio::spawn(async move {
        let stop_running = executor.is_empty();
        let request = pb::CancelReservationsRequest { job_id, stop_running, executor };
        let cancelled = node_stream::cancel(stream_opt, client_opt, request, CALL_TIMEOUT).await;
        add(&scheduler.stats.reservations_cancelled, u64::from(cancelled));
    });
}
