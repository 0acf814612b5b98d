//! The I/O of placement: sending a job's reservations and offers to the node
//! monitors the policy picked ([`crate::policy::offers`]), and cancelling
//! leftovers. Answers are fed back under the scheduler's lock into the job
//! state (declined offers return to late binding, unanswered ones count as
//! lost attempts), the nodes' idle estimates ([`crate::policy::idle`]) and
//! the job's re-probe backoff ([`crate::policy::probe_backoff`]).

use std::sync::Arc;
use std::time::Duration;

use passer_proto::pb;

use crate::core::{collect_probes, Followups, Scheduler};
use crate::node_stream;
use crate::policy::job::{Finish, ProbeDemand};
use crate::policy::offers::{plan_calls, PlacementRequest, PlannedCall};
use crate::policy::placements::PlacementTicket;
use crate::stats::add;

/// How long one EnqueueReservations call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

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
        let planned = plan(&scheduler, &job_id, &demand, ticket, &eligible);
        let offered_us = passer_proto::unix_micros();
        let calls = planned.into_iter().map(|call| {
            let PlannedCall { node_index, reservations, offered } = call;
            let node_id = eligible[node_index].clone();
            let stream_opt = scheduler.node_stream(&node_id);
            let request = pb::EnqueueReservationsRequest {
                job_id: job_id.clone(),
                scheduler_address: scheduler.address.clone(),
                tenant: tenant.clone(),
                priority,
                executor: demand.executor.clone(),
                count: reservations,
                offered: stamp_offered(&offered, offered_us),
                request_id: 0,
            };
            let scheduler = Arc::clone(&scheduler);
            async move {
                let sent = node_stream::enqueue(
                    stream_opt,
                    &scheduler.nodes,
                    &node_id,
                    request,
                    CALL_TIMEOUT,
                    &scheduler.stats,
                )
                .await;
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
        let mut sojourn_opt = None;
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
            if answers.iter().any(|answer| answer.taken() > 0) {
                sojourn_opt = entry.first_launch_sojourn(now);
            }
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
                        let queue_length = reply.queue_length;
                        scheduler
                            .nodes
                            .update_idle(&answer.node_id, |idle| idle.offer_answered(returned, queue_length));
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
            entry.backoff.placement_answered(refused, now);
            if entry.backoff.may_reprobe(&entry.placements, now) {
                collect_probes(&job_id, entry, &mut followups);
            }
        }
        scheduler.note_first_launches(sojourn_opt.as_slice(), now);
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
/// node, as the policy's [`plan_calls`] decides from the nodes' idle
/// estimates; offered tasks are noted on their nodes' estimates.
fn plan(
    scheduler: &Scheduler,
    job_id: &str,
    demand: &ProbeDemand,
    ticket: PlacementTicket,
    eligible: &[String],
) -> Vec<PlannedCall<pb::TaskLaunch>> {
    let request = PlacementRequest {
        tasks: demand.count,
        probe_ratio: scheduler.config.probe_ratio,
        offer_to_idle: scheduler.config.offer_to_idle,
        eligible: eligible.len(),
    };
    let now = scheduler.now();
    let calls = {
        let mut jobs = scheduler.jobs.lock();
        let mut entry_opt = jobs.get_mut(job_id).filter(|entry| entry.placements.owns(ticket));
        let idle_slots = |node_index: usize| scheduler.nodes.idle_slots(&eligible[node_index], &demand.executor);
        let offer = |node_index: usize, max: u32| match entry_opt.as_mut() {
            Some(entry) => entry.state.offer(demand, &eligible[node_index], max, now),
            None => Vec::new(),
        };
        plan_calls(request, &mut *scheduler.rng.lock(), idle_slots, offer)
    };
    for call in calls.iter().filter(|call| !call.offered.is_empty()) {
        let offered = call.offered.len() as u64;
        scheduler.nodes.update_idle(&eligible[call.node_index], |idle| idle.note_tasks(offered, 0));
        add(&scheduler.stats.tasks_offered, offered);
    }
    calls
}

/// Cancels `job_id`'s reservations on `node_id` (one executor type, or all
/// with running tasks stopped when `executor` is empty: job cancellation).
pub fn cancel_reservations(scheduler: Arc<Scheduler>, job_id: String, executor: String, node_id: String) {
    let stop_running = executor.is_empty();
    let request = pb::CancelReservationsRequest { job_id, stop_running, executor };
    // Down the node's session when it takes them: no task, no client clone.
    let request = match scheduler.node_stream(&node_id) {
        Some(stream) => match stream.cancel(request) {
            Ok(()) => return,
            Err(request) => request,
        },
        None => request,
    };
    let Some(client) = scheduler.nodes.client(&node_id) else { return };
    tokio::spawn(async move {
        let cancelled = node_stream::cancel_unary(client, request, CALL_TIMEOUT).await;
        add(&scheduler.stats.reservations_cancelled, u64::from(cancelled));
    });
}

/// The offered launches as sent: each notes in its hop times when the
/// scheduler offered it (its grant; an offer has no GetTask, so no ask).
fn stamp_offered(offered: &[pb::TaskLaunch], offered_us: u64) -> Vec<pb::TaskLaunch> {
    offered
        .iter()
        .map(|launch| pb::TaskLaunch {
            hops: Some(pb::HopTimes { granted_us: offered_us, ..Default::default() }),
            ..launch.clone()
        })
        .collect()
}
