//! Dense tick ladder for one side of a book: one `Level` per tick of the regular band, indexed by
//! `price_ticks - band.lower_ticks`, plus a bitset of non-empty levels and a cursor on the best.
//!
//! The band bounds every price the book accepts, so the ladder is small (a ±10% band around
//! CNY 300.00 at CNY 0.01 is 6,001 levels) and a level is found by indexing, never searching.
//! The bitset finds the next best level 64 ticks per step when the best one empties.

use super::arena::{Arena, NIL};
use crate::ids::Side;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Level {
    pub head: u32,
    pub tail: u32,
    pub lots: u64,
    pub orders: u32,
}

const EMPTY: Level = Level {
    head: NIL,
    tail: NIL,
    lots: 0,
    orders: 0,
};

#[derive(Clone, Debug)]
pub(crate) struct Ladder {
    pub levels: Vec<Level>,
    occupied: Vec<u64>,
    /// Index of the best non-empty level (highest bid, lowest ask), `NIL` when empty.
    best: u32,
    side: Side,
}

impl Ladder {
    pub fn new(len: usize, side: Side) -> Self {
        Ladder {
            levels: vec![EMPTY; len],
            occupied: vec![0; len.div_ceil(64)],
            best: NIL,
            side,
        }
    }

    pub fn best(&self) -> Option<u32> {
        (self.best != NIL).then_some(self.best)
    }

    /// The next non-empty level strictly worse than `idx`, in priority order.
    pub fn next_worse(&self, idx: u32) -> Option<u32> {
        match self.side {
            Side::Buy => idx.checked_sub(1).and_then(|i| self.highest_at_or_below(i)),
            Side::Sell => self.lowest_at_or_above(idx + 1),
        }
    }

    /// Appends `slot` (with `lots`) to the FIFO of level `idx`.
    pub fn push_back(&mut self, arena: &mut Arena, idx: u32, slot: u32, lots: u64) {
        let level = &mut self.levels[idx as usize];
        let tail = level.tail;
        level.tail = slot;
        if tail == NIL {
            level.head = slot;
        }
        level.lots += lots;
        level.orders += 1;
        if tail != NIL {
            arena.node_mut(tail).next = slot;
        }
        let node = arena.node_mut(slot);
        node.prev = tail;
        node.next = NIL;
        node.level = idx;
        node.resting = true;
        if level_was_empty(tail) {
            self.mark(idx);
        }
    }

    /// Removes `slot` from its level's FIFO; its remaining lots leave the level total.
    pub fn unlink(&mut self, arena: &mut Arena, slot: u32) {
        let node = *arena.node(slot);
        let idx = node.level;
        if node.prev != NIL {
            arena.node_mut(node.prev).next = node.next;
        }
        if node.next != NIL {
            arena.node_mut(node.next).prev = node.prev;
        }
        let level = &mut self.levels[idx as usize];
        if level.head == slot {
            level.head = node.next;
        }
        if level.tail == slot {
            level.tail = node.prev;
        }
        level.lots -= node.lots;
        level.orders -= 1;
        arena.node_mut(slot).resting = false;
        if level.head == NIL {
            self.unmark(idx);
        }
    }

    fn mark(&mut self, idx: u32) {
        self.occupied[(idx / 64) as usize] |= 1 << (idx % 64);
        let better = match self.side {
            Side::Buy => self.best == NIL || idx > self.best,
            Side::Sell => self.best == NIL || idx < self.best,
        };
        if better {
            self.best = idx;
        }
    }

    fn unmark(&mut self, idx: u32) {
        self.occupied[(idx / 64) as usize] &= !(1 << (idx % 64));
        if idx == self.best {
            self.best = self.next_worse(idx).unwrap_or(NIL);
        }
    }

    fn highest_at_or_below(&self, idx: u32) -> Option<u32> {
        let mut word_index = (idx / 64) as usize;
        // Keep bits 0..=idx%64 of the first word.
        let mut word = self.occupied[word_index] & (u64::MAX >> (63 - idx % 64));
        loop {
            if word != 0 {
                return Some(word_index as u32 * 64 + 63 - word.leading_zeros());
            }
            if word_index == 0 {
                return None;
            }
            word_index -= 1;
            word = self.occupied[word_index];
        }
    }

    fn lowest_at_or_above(&self, idx: u32) -> Option<u32> {
        let mut word_index = (idx / 64) as usize;
        if word_index >= self.occupied.len() {
            return None;
        }
        let mut word = self.occupied[word_index] & (u64::MAX << (idx % 64));
        loop {
            if word != 0 {
                return Some(word_index as u32 * 64 + word.trailing_zeros());
            }
            word_index += 1;
            if word_index >= self.occupied.len() {
                return None;
            }
            word = self.occupied[word_index];
        }
    }
}

fn level_was_empty(previous_tail: u32) -> bool {
    previous_tail == NIL
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::AccountId;

    #[test]
    fn best_cursor_follows_adds_and_removals() {
        let mut arena = Arena::default();
        let mut bids = Ladder::new(300, Side::Buy);
        let mut asks = Ladder::new(300, Side::Sell);
        let mut slots = Vec::new();
        for idx in [5_u32, 70, 199, 130] {
            let (slot, _) = arena.alloc(AccountId(1), Side::Buy, 1, 0);
            bids.push_back(&mut arena, idx, slot, 1);
            let (ask_slot, _) = arena.alloc(AccountId(1), Side::Sell, 1, 0);
            asks.push_back(&mut arena, idx, ask_slot, 1);
            slots.push((slot, ask_slot));
        }
        assert_eq!(bids.best(), Some(199));
        assert_eq!(asks.best(), Some(5));
        bids.unlink(&mut arena, slots[2].0);
        asks.unlink(&mut arena, slots[0].1);
        assert_eq!(bids.best(), Some(130));
        assert_eq!(asks.best(), Some(70));
        assert_eq!(bids.next_worse(130), Some(70));
        assert_eq!(asks.next_worse(130), Some(199));
        assert_eq!(asks.next_worse(199), None);
    }
}
