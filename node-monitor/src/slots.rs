//! The node's executor slots: which attached executor instances offer which
//! executor type, how many of their slots are busy, and how many are claimed
//! by GetTask calls still in flight.
//!
//! Pure code. An instance is an attached executor process (or the in-process
//! built-in host); it has an id, a type and a slot count.

use std::collections::HashMap;

/// Identifies one attached executor instance on this node.
pub type InstanceId = u64;

#[derive(Debug)]
struct Instance {
    executor: String,
    slots: u32,
    busy: u32,
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
    /// Adds an attached executor instance.
    pub fn attach(&mut self, id: InstanceId, executor: &str, slots: u32) {
        self.instances.insert(id, Instance { executor: executor.to_owned(), slots, busy: 0 });
        self.types.entry(executor.to_owned()).or_default();
    }

    /// Removes an instance (its process exited or its stream closed).
    pub fn detach(&mut self, id: InstanceId) {
        self.instances.remove(&id);
    }

    /// Slots of `executor` neither busy nor claimed.
    pub fn free(&self, executor: &str) -> u32 {
        let (total, busy) = self.totals(executor);
        let claimed = self.types.get(executor).map_or(0, |t| t.claimed);
        total.saturating_sub(busy).saturating_sub(claimed)
    }

    /// (total, busy) slots of `executor` over its instances.
    pub fn totals(&self, executor: &str) -> (u32, u32) {
        self.instances
            .values()
            .filter(|i| i.executor == executor)
            .fold((0, 0), |(total, busy), i| (total + i.slots, busy + i.busy))
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
    /// slot; returns the instance, or `None` if every slot is busy.
    pub fn start(&mut self, executor: &str) -> Option<InstanceId> {
        let (&id, instance) = self
            .instances
            .iter_mut()
            .filter(|(_, i)| i.executor == executor && i.busy < i.slots)
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
        table.attach(1, "echo", 2);
        table.attach(2, "echo", 2);
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
        table.attach(1, "echo", 2);
        table.start("echo");
        table.detach(1);
        assert_eq!(table.totals("echo"), (0, 0));
        assert!(table.start("echo").is_none());
        assert!(table.executor_types().is_empty());
    }
}
