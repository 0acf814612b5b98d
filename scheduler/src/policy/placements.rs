//! Placement calls in flight for one job, counted per generation. A job
//! entry starts a generation; each placement it starts holds a ticket of
//! that generation, and only a ticket of the current generation counts back
//! down when its call returns. A placement started for an earlier entry of
//! the same job id (the job finished or was replaced while the call was in
//! flight) is recognised as stale instead of driving the count below zero.
//!
//! Pure code: no I/O, no clock.

/// A placement call's claim on its job's in-flight count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlacementTicket {
    generation: u64,
}

/// The in-flight placement calls of one job entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placements {
    generation: u64,
    in_flight: u32,
}

impl Placements {
    /// No calls in flight, for the entry of generation `generation` (unique
    /// per entry in the scheduler's life).
    pub fn new(generation: u64) -> Self {
        Self { generation, in_flight: 0 }
    }

    /// The entry's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Calls in flight (no re-probing while above zero).
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Counts a new call; its ticket comes back through [`Placements::finish`].
    pub fn start(&mut self) -> PlacementTicket {
        self.in_flight += 1;
        PlacementTicket { generation: self.generation }
    }

    /// Counts a call back. False (and no change) for a ticket of another
    /// generation: its answers belong to an entry that no longer exists.
    pub fn finish(&mut self, ticket: PlacementTicket) -> bool {
        if ticket.generation != self.generation {
            return false;
        }
        debug_assert!(self.in_flight > 0, "placement finished twice");
        self.in_flight = self.in_flight.saturating_sub(1);
        true
    }

    /// Whether `ticket` belongs to this entry.
    pub fn owns(&self, ticket: PlacementTicket) -> bool {
        ticket.generation == self.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_count_up_and_down() {
        let mut placements = Placements::new(1);
        let first = placements.start();
        let second = placements.start();
        assert_eq!(placements.in_flight(), 2);
        assert!(placements.finish(first));
        assert!(placements.finish(second));
        assert_eq!(placements.in_flight(), 0);
    }

    /// Issue 16, item 10: a placement of an earlier entry of the same job id
    /// returns while the new entry's own placement is in flight.
    #[test]
    fn test_reproduce_16_stale_placement_does_not_underflow() {
        let mut earlier = Placements::new(1);
        let stale = earlier.start();
        // The job finished and was resubmitted: a new entry, a new generation.
        let mut current = Placements::new(2);
        let own = current.start();
        assert!(!current.owns(stale));
        assert!(!current.finish(stale), "a stale ticket is refused");
        assert_eq!(current.in_flight(), 1, "the new entry's call still counts");
        assert!(current.finish(own));
        assert_eq!(current.in_flight(), 0, "no wrap below zero");
    }
}
