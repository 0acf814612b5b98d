//! The node monitor's reservation queue: bounded, with strict priorities and
//! weighted fair queuing across tenants.
//!
//! A reservation is a promise to ask a job's scheduler for a task when a slot
//! frees (late binding). Reservations of one job that arrive together are one
//! entry with a count. The queue never holds more than `capacity`
//! reservations: [`ReservationQueue::enqueue`] accepts what fits and refuses
//! the rest, so the scheduler learns at once that this node is full.
//!
//! Order of service, for an executor type with a free slot:
//! 1. Strict priority: the highest priority with a redeemable entry goes
//!    first. A reservation's priority is the job's, capped by the operator's
//!    limit for its tenant ([`TenantPolicy::cap_priority`]).
//! 2. Within a priority, start-time fair queuing across tenants: each tenant
//!    has a virtual finish time that grows by `count / weight` per
//!    reservation redeemed; the redeemable tenant with the smallest one goes
//!    next. A tenant that was idle restarts at the queue's virtual time, so
//!    it can neither bank credit while idle nor shed debt by pausing
//!    briefly. Tenants of weight 0 go only when no positive-weight tenant of
//!    that priority can.
//! 3. Within a tenant, FIFO (skipping entries whose executor is busy).
//!
//! With one tenant and one priority this is the plain FIFO of Sparrow.
//! Pure code: no I/O, no clock. The caller says which executor types have
//! free slots; the queue says which job to ask next.

use std::collections::{BTreeMap, HashMap, VecDeque};

use crate::tenants::TenantPolicy;

/// A batch of reservations of one job for one executor type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The job the reservations are for.
    pub job_id: String,
    /// The scheduler to ask for the job's tasks (host:port).
    pub scheduler: String,
    /// The job's tenant.
    pub tenant: String,
    /// The job's priority (capped per tenant when queued).
    pub priority: i32,
    /// The executor type a slot must offer.
    pub executor: String,
    /// How many reservations this entry holds.
    pub count: u32,
}

/// Reservations taken from the queue to redeem with one GetTask call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redeem {
    /// The job to ask for tasks.
    pub job_id: String,
    /// The scheduler to ask.
    pub scheduler: String,
    /// The executor type the tasks are for.
    pub executor: String,
    /// How many tasks to ask for (one per reservation redeemed).
    pub count: u32,
    /// The tenant charged for them (see [`ReservationQueue::refund`]).
    pub tenant: String,
}

/// A tenant's place in the fair-queuing order.
#[derive(Debug, Clone, Copy, Default)]
struct TenantClock {
    /// Virtual time at which the tenant's service so far finishes.
    finish: f64,
    /// Reservations of the tenant in the queue.
    queued: u32,
}

/// Entries of one priority, per tenant in arrival order: (sequence, entry).
type Level = BTreeMap<String, VecDeque<(u64, Reservation)>>;

/// Tenant clocks kept for idle tenants before the idle ones are pruned.
const MAX_IDLE_CLOCKS: usize = 4096;

/// A bounded queue of reservations, by priority, tenant share and arrival.
#[derive(Debug)]
pub struct ReservationQueue {
    levels: BTreeMap<i32, Level>,
    clocks: HashMap<String, TenantClock>,
    virtual_now: f64,
    policy: TenantPolicy,
    next_sequence: u64,
    len: u32,
    capacity: u32,
}

impl ReservationQueue {
    /// An empty queue holding at most `capacity` reservations, with the
    /// default tenant policy (every tenant equal, priorities capped at 0).
    pub fn new(capacity: u32) -> Self {
        Self::with_policy(capacity, TenantPolicy::default())
    }

    /// An empty queue holding at most `capacity` reservations, ordered by
    /// `policy`.
    pub fn with_policy(capacity: u32, policy: TenantPolicy) -> Self {
        Self {
            levels: BTreeMap::new(),
            clocks: HashMap::new(),
            virtual_now: 0.0,
            policy,
            next_sequence: 0,
            len: 0,
            capacity,
        }
    }

    /// Replaces the tenant policy; applies to reservations queued from now on.
    pub fn set_policy(&mut self, policy: TenantPolicy) {
        self.policy = policy;
    }

    /// The tenant policy in force.
    pub fn policy(&self) -> &TenantPolicy {
        &self.policy
    }

    /// Reservations waiting.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The most reservations the queue holds.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Reservations queued per tenant, for tenants with any, sorted by name.
    pub fn tenant_lengths(&self) -> Vec<(String, u32)> {
        let mut lengths: Vec<(String, u32)> =
            self.clocks.iter().filter(|(_, clock)| clock.queued > 0).map(|(t, c)| (t.clone(), c.queued)).collect();
        lengths.sort();
        lengths
    }

    /// Queues as many of `reservation.count` as fit; returns how many.
    pub fn enqueue(&mut self, mut reservation: Reservation) -> u32 {
        let room = self.capacity - self.len;
        let accepted = reservation.count.min(room);
        if accepted == 0 {
            return 0;
        }
        reservation.count = accepted;
        reservation.priority = self.policy.cap_priority(&reservation.tenant, reservation.priority);
        if self.clocks.len() >= MAX_IDLE_CLOCKS {
            let virtual_now = self.virtual_now;
            self.clocks.retain(|_, clock| clock.queued > 0 || clock.finish > virtual_now);
            if self.clocks.len() >= MAX_IDLE_CLOCKS {
                // Too many tenants came and went: forgive idle tenants' debt.
                self.clocks.retain(|_, clock| clock.queued > 0);
            }
        }
        let clock = self.clocks.entry(reservation.tenant.clone()).or_default();
        if clock.queued == 0 {
            clock.finish = clock.finish.max(self.virtual_now);
        }
        clock.queued += accepted;
        self.len += accepted;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        self.levels
            .entry(reservation.priority)
            .or_default()
            .entry(reservation.tenant.clone())
            .or_default()
            .push_back((sequence, reservation));
        debug_assert!(self.len <= self.capacity);
        accepted
    }

    /// Takes the next reservations to redeem (see the module doc for the
    /// order): up to `free_slots(executor)` of one job. `None` if nothing
    /// can run now.
    pub fn next_redeem(&mut self, free_slots: impl Fn(&str) -> u32) -> Option<Redeem> {
        self.next_redeem_capped(free_slots, |_| u32::MAX)
    }

    /// As [`Self::next_redeem`], taking at most `cap(entry)` reservations of
    /// an entry at once and skipping (but keeping) the entries whose cap is
    /// 0, such as those of a scheduler that does not answer.
    pub fn next_redeem_capped(
        &mut self,
        free_slots: impl Fn(&str) -> u32,
        cap: impl Fn(&Reservation) -> u32,
    ) -> Option<Redeem> {
        let usable = |entry: &Reservation| cap(entry) > 0;
        let (priority, tenant, position) = self.choose(&free_slots, &usable)?;
        let level = self.levels.get_mut(&priority)?;
        let entries = level.get_mut(&tenant)?;
        let entry = &mut entries[position].1;
        let count = entry.count.min(free_slots(&entry.executor)).min(cap(entry));
        let redeem = Redeem {
            job_id: entry.job_id.clone(),
            scheduler: entry.scheduler.clone(),
            executor: entry.executor.clone(),
            count,
            tenant: tenant.clone(),
        };
        entry.count -= count;
        if entry.count == 0 {
            entries.remove(position);
            if entries.is_empty() {
                level.remove(&tenant);
                if level.is_empty() {
                    self.levels.remove(&priority);
                }
            }
        }
        let weight = self.policy.weight(&tenant);
        let clock = self.clocks.entry(tenant.clone()).or_default();
        if weight > 0 {
            self.virtual_now = self.virtual_now.max(clock.finish);
            clock.finish += f64::from(count) / f64::from(weight);
        }
        self.len -= count;
        self.release(&tenant, count);
        Some(redeem)
    }

    /// Gives back the fair-queuing charge of `count` redeemed reservations
    /// of `tenant` that got no task (the job had none left): the tenant's
    /// share is of slots used, not of scheduler round trips. Never moves the
    /// tenant before the queue's virtual time.
    pub fn refund(&mut self, tenant: &str, count: u32) {
        let weight = self.policy.weight(tenant);
        if weight == 0 || count == 0 {
            return;
        }
        if let Some(clock) = self.clocks.get_mut(tenant) {
            clock.finish = (clock.finish - f64::from(count) / f64::from(weight)).max(self.virtual_now);
        }
    }

    /// The entry to serve next: (priority, tenant, position in its FIFO).
    fn choose(
        &self,
        free_slots: &impl Fn(&str) -> u32,
        usable: &impl Fn(&Reservation) -> bool,
    ) -> Option<(i32, String, usize)> {
        // Free slots per executor type, asked once per type: the scan below
        // visits every queued reservation, and most share a few types.
        let mut free_by_type: Vec<(&str, bool)> = Vec::new();
        for (&priority, level) in self.levels.iter().rev() {
            // Order key: positive weights first, then virtual finish, then arrival.
            let mut best: Option<((bool, f64, u64), &str, usize)> = None;
            for (tenant, entries) in level {
                let Some(position) =
                    entries.iter().position(|(_, e)| has_free(&mut free_by_type, &e.executor, free_slots) && usable(e))
                else {
                    continue;
                };
                let sequence = entries[position].0;
                let key = if self.policy.weight(tenant) == 0 {
                    (true, 0.0, sequence)
                } else {
                    (false, self.clocks.get(tenant).map_or(0.0, |c| c.finish), sequence)
                };
                let better = best.as_ref().is_none_or(|(b, _, _)| {
                    (!key.0 && b.0) || (key.0 == b.0 && (key.1 < b.1 || (key.1 == b.1 && key.2 < b.2)))
                });
                if better {
                    best = Some((key, tenant.as_str(), position));
                }
            }
            if let Some((_, tenant, position)) = best {
                return Some((priority, tenant.to_owned(), position));
            }
        }
        None
    }

    /// Notes that `count` of `tenant`'s reservations left the queue.
    fn release(&mut self, tenant: &str, count: u32) {
        if let Some(clock) = self.clocks.get_mut(tenant) {
            clock.queued -= count;
            if clock.queued == 0 && clock.finish <= self.virtual_now {
                self.clocks.remove(tenant);
            }
        }
    }

    /// Removes the entries `matches` selects; returns how many reservations.
    fn remove_where(&mut self, matches: impl Fn(&Reservation) -> bool) -> u32 {
        let mut released: Vec<(String, u32)> = Vec::new();
        for level in self.levels.values_mut() {
            for (tenant, entries) in level.iter_mut() {
                let mut removed = 0;
                entries.retain(|(_, entry)| {
                    let hit = matches(entry);
                    if hit {
                        removed += entry.count;
                    }
                    !hit
                });
                if removed > 0 {
                    released.push((tenant.clone(), removed));
                }
            }
            level.retain(|_, entries| !entries.is_empty());
        }
        self.levels.retain(|_, level| !level.is_empty());
        let mut total = 0;
        for (tenant, count) in released {
            self.release(&tenant, count);
            total += count;
        }
        self.len -= total;
        total
    }

    /// Removes a job's reservations (of one executor type, or all when
    /// `executor` is `None`); returns how many were removed.
    pub fn cancel(&mut self, job_id: &str, executor: Option<&str>) -> u32 {
        self.remove_where(|entry| entry.job_id == job_id && executor.is_none_or(|e| e == entry.executor))
    }

    /// Removes every reservation redeemable at `scheduler` (it is gone).
    pub fn drop_scheduler(&mut self, scheduler: &str) -> u32 {
        self.remove_where(|entry| entry.scheduler == scheduler)
    }
}

/// Whether `executor` has a free slot, asking `free_slots` only for a type
/// not yet in `known`.
fn has_free<'a>(known: &mut Vec<(&'a str, bool)>, executor: &'a str, free_slots: &impl Fn(&str) -> u32) -> bool {
    if let Some(&(_, free)) = known.iter().find(|(seen, _)| *seen == executor) {
        return free;
    }
    let free = free_slots(executor) > 0;
    known.push((executor, free));
    free
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
