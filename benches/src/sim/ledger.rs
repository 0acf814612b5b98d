//! The simulator's invariant checks: every task runs exactly once and no slot
//! runs two tasks at once. Every strategy reports each start and finish here.

/// Marks an empty slot.
const IDLE: u64 = u64::MAX;

/// Counts of runs per task and the task each slot is running.
#[derive(Debug)]
pub struct Ledger {
    starts: Vec<u8>,
    finishes: Vec<u8>,
    slot_task: Vec<u64>,
    slots_per_node: u32,
    violations: Vec<String>,
    violation_count: u64,
}

/// The most violations kept as text (all are counted).
const KEPT_VIOLATIONS: usize = 10;

impl Ledger {
    /// A ledger for `task_count` tasks on `nodes` nodes of `slots_per_node`.
    pub fn new(task_count: u64, nodes: u32, slots_per_node: u32) -> Self {
        Self {
            starts: vec![0; task_count as usize],
            finishes: vec![0; task_count as usize],
            slot_task: vec![IDLE; nodes as usize * slots_per_node as usize],
            slots_per_node,
            violations: Vec::new(),
            violation_count: 0,
        }
    }

    /// `task` starts on `slot` of `node`.
    pub fn start(&mut self, node: u32, slot: u32, task: u64) {
        let slot_index = self.slot_index(node, slot);
        let previous = self.slot_task[slot_index];
        if previous != IDLE {
            self.violate(format!("node {node} slot {slot} starts task {task} while running task {previous}"));
        }
        self.slot_task[slot_index] = task;
        let starts = &mut self.starts[task as usize];
        *starts = starts.saturating_add(1);
        if *starts > 1 {
            self.violate(format!("task {task} started {} times", self.starts[task as usize]));
        }
    }

    /// `task` finished on `slot` of `node`.
    pub fn finish(&mut self, node: u32, slot: u32, task: u64) {
        let slot_index = self.slot_index(node, slot);
        if self.slot_task[slot_index] != task {
            self.violate(format!("node {node} slot {slot} finishes task {task} it was not running"));
        }
        self.slot_task[slot_index] = IDLE;
        let finishes = &mut self.finishes[task as usize];
        *finishes = finishes.saturating_add(1);
    }

    /// Ok when every task started and finished exactly once and nothing
    /// overlapped; otherwise the first violations found.
    pub fn verify(&self) -> Result<(), String> {
        let mut problems = self.violations.clone();
        let mut count = self.violation_count;
        for (task, (&starts, &finishes)) in self.starts.iter().zip(&self.finishes).enumerate() {
            if starts != 1 || finishes != 1 {
                count += 1;
                if problems.len() < KEPT_VIOLATIONS {
                    problems.push(format!("task {task} started {starts} and finished {finishes} times"));
                }
            }
        }
        if count == 0 {
            return Ok(());
        }
        Err(format!("{count} invariant violations: {}", problems.join("; ")))
    }

    fn slot_index(&self, node: u32, slot: u32) -> usize {
        assert!(slot < self.slots_per_node, "slot {slot} out of range");
        node as usize * self.slots_per_node as usize + slot as usize
    }

    fn violate(&mut self, message: String) {
        self.violation_count += 1;
        if self.violations.len() < KEPT_VIOLATIONS {
            self.violations.push(message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_overlap_and_double_runs() {
        let mut ledger = Ledger::new(3, 1, 2);
        ledger.start(0, 0, 0);
        ledger.start(0, 0, 1);
        let error = ledger.verify().unwrap_err();
        assert!(error.contains("while running task 0"), "{error}");
        let mut twice = Ledger::new(1, 1, 1);
        twice.start(0, 0, 0);
        twice.finish(0, 0, 0);
        twice.start(0, 0, 0);
        twice.finish(0, 0, 0);
        assert!(twice.verify().unwrap_err().contains("started 2 times"));
    }

    #[test]
    fn clean_run_verifies() {
        let mut ledger = Ledger::new(2, 1, 1);
        for task in 0..2 {
            ledger.start(0, 0, task);
            ledger.finish(0, 0, task);
        }
        assert_eq!(ledger.verify(), Ok(()));
    }
}
