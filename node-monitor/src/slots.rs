//! The node's executor slots: which attached executor instances offer which
//! executor type, how many of their slots are busy, and how many are claimed
//! by GetTask calls still in flight.
//!
//! Pure code. An instance is an attached executor process (or the in-process
//! built-in host); it has an id, a type and a slot count. An instance that
//! queues (its hello declared queue places and the node prefetches) also
//! takes tasks beyond its slots and starts them itself as slots free: its
//! places are its slots plus its queue places, and a task in either is busy.

use std::collections::HashMap;

/// Identifies one attached executor instance on this node.
pub type InstanceId = u64;

#[derive(Debug)]
struct Instance {
    executor: String,
    slots: u32,
    /// Places beyond the slots the instance queues tasks in.
    queue: u32,
    /// Tasks sent to the instance and not yet ended (running or queued there).
    busy: u32,
}

impl Instance {
    fn places(&self) -> u32 {
        self.slots + self.queue
    }
}

#[derive(Debug, Default)]
struct TypeSlots {
    /// Slots set aside for GetTask calls in flight.
    claimed: u32,
}

/// Slots of every executor type on the node.
#[derive(Debug, Default)]
pub struct SlotTable {
    instances: HashMap<InstanceId, Instance>,
    types: HashMap<String, TypeSlots>,
}

impl SlotTable {
    /// Adds an attached executor instance with `queue` places beyond its
    /// `slots` (0: it gets a task only into a free slot).
    pub fn attach(&mut self, id: InstanceId, executor: &str, slots: u32, queue: u32) {
        self.instances.insert(id, Instance { executor: executor.to_owned(), slots, queue, busy: 0 });
        self.types.entry(executor.to_owned()).or_default();
    }

    /// Removes an instance (its process exited or its stream closed).
    pub fn detach(&mut self, id: InstanceId) {
        self.instances.remove(&id);
    }

    /// Places (slots, and queue places of queueing instances) of `executor`
    /// neither busy nor claimed.
    pub fn free(&self, executor: &str) -> u32 {
        let (places, busy) =
            self.of(executor).fold((0u32, 0u32), |(places, busy), i| (places + i.places(), busy + i.busy));
        let claimed = self.types.get(executor).map_or(0, |t| t.claimed);
        places.saturating_sub(busy).saturating_sub(claimed)
    }

    /// Slots of `executor` running nothing and not claimed: a task started
    /// now would run at once (a free queue place would only queue it).
    pub fn idle(&self, executor: &str) -> u32 {
        let idle: u32 = self.of(executor).map(|i| i.slots.saturating_sub(i.busy)).sum();
        let claimed = self.types.get(executor).map_or(0, |t| t.claimed);
        idle.saturating_sub(claimed)
    }

    /// (total, busy) slots of `executor` over its instances; tasks queued in
    /// an instance are not counted busy slots.
    pub fn totals(&self, executor: &str) -> (u32, u32) {
        self.of(executor).fold((0, 0), |(total, busy), i| (total + i.slots, busy + i.busy.min(i.slots)))
    }

    /// Slots of `executor` on instances that do not queue: the node itself
    /// holds the tasks it prefetches for these.
    pub fn unqueued_slots(&self, executor: &str) -> u32 {
        self.of(executor).filter(|i| i.queue == 0).map(|i| i.slots).sum()
    }

    fn of<'a>(&'a self, executor: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances.values().filter(move |i| i.executor == executor)
    }

    /// Sets `count` free slots aside for a GetTask call in flight.
    pub fn claim(&mut self, executor: &str, count: u32) {
        debug_assert!(count <= self.free(executor));
        self.types.entry(executor.to_owned()).or_default().claimed += count;
    }

    /// Returns claimed slots (the GetTask answer came, or its link broke).
    pub fn unclaim(&mut self, executor: &str, count: u32) {
        if let Some(slots) = self.types.get_mut(executor) {
            slots.claimed = slots.claimed.saturating_sub(count);
        }
    }

    /// Starts a task on the least busy instance of `executor` with a free
    /// place; returns the instance, or `None` if every place is busy.
    pub fn start(&mut self, executor: &str) -> Option<InstanceId> {
        let (&id, instance) = self
            .instances
            .iter_mut()
            .filter(|(_, i)| i.executor == executor && i.busy < i.places())
            .min_by_key(|(id, i)| (i.busy * 1000 / i.slots.max(1), **id))?;
        instance.busy += 1;
        Some(id)
    }

    /// A task on `id` ended; its slot is free again.
    pub fn finish(&mut self, id: InstanceId) {
        if let Some(instance) = self.instances.get_mut(&id) {
            instance.busy = instance.busy.saturating_sub(1);
        }
    }

    /// Every executor type an instance has attached with (some may have
    /// none attached now), without allocating.
    pub fn type_names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }

    /// Executor types with at least one attached instance, sorted.
    pub fn executor_types(&self) -> Vec<String> {
        let mut types: Vec<String> = self.instances.values().map(|i| i.executor.clone()).collect();
        types.sort_unstable();
        types.dedup();
        types
    }

    /// Attached instances of `executor`.
    pub fn instance_count(&self, executor: &str) -> u32 {
        self.instances.values().filter(|i| i.executor == executor).count() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_slots_account_for_busy_and_claimed() {
        let mut table = SlotTable::default();
        table.attach(1, "echo", 2, 0);
        table.attach(2, "echo", 2, 0);
        assert_eq!(table.free("echo"), 4);
        table.claim("echo", 3);
        assert_eq!(table.free("echo"), 1);
        table.unclaim("echo", 3);
        let first = table.start("echo").unwrap();
        let second = table.start("echo").unwrap();
        assert_ne!(first, second, "spreads over instances");
        assert_eq!(table.free("echo"), 2);
        table.finish(first);
        assert_eq!(table.free("echo"), 3);
        assert_eq!(table.free("sleep"), 0);
    }

    #[test]
    fn detached_instance_takes_its_slots_away() {
        let mut table = SlotTable::default();
        table.attach(1, "echo", 2, 0);
        table.start("echo");
        table.detach(1);
        assert_eq!(table.totals("echo"), (0, 0));
        assert!(table.start("echo").is_none());
        assert!(table.executor_types().is_empty());
    }

    #[test]
    fn a_queueing_instance_takes_tasks_beyond_its_slots() {
        let mut table = SlotTable::default();
        table.attach(1, "echo", 1, 3);
        table.attach(2, "echo", 2, 0);
        assert_eq!(table.free("echo"), 6);
        assert_eq!(table.unqueued_slots("echo"), 2);
        let started: Vec<InstanceId> = (0..6).map(|_| table.start("echo").unwrap()).collect();
        assert_eq!(started.iter().filter(|&&id| id == 1).count(), 4, "slot plus three queue places: {started:?}");
        assert_eq!(started.iter().filter(|&&id| id == 2).count(), 2);
        assert!(table.start("echo").is_none());
        assert_eq!(table.totals("echo"), (3, 3), "queued tasks are not busy slots");
        table.finish(1);
        assert_eq!(table.free("echo"), 1);
    }
}
