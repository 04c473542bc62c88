//! Slab of order nodes with a free list: O(1) allocation and release, no per-order heap boxes.
//!
//! A node is linked into its price level's FIFO through `prev`/`next` (slot indices), so adding,
//! cancelling and filling an order never searches.

use crate::ids::{AccountId, OrderId, Side};

/// "No node": the end of a list.
pub(crate) const NIL: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub(crate) struct Node {
    pub prev: u32,
    pub next: u32,
    /// Index of the node's price level in its side's ladder.
    pub level: u32,
    /// Bumped on release, so an old `OrderId` never addresses a reused slot.
    pub generation: u32,
    pub owner: AccountId,
    pub side: Side,
    /// True while the order is in the book (resting) or being matched.
    pub live: bool,
    /// True once the order rests in a level FIFO.
    pub resting: bool,
    pub lots: u64,
    /// What is left of the order's hold: tonnes for a sell, fen for a buy.
    pub hold_remaining: u64,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    free_head: Option<u32>,
    live: u32,
}

impl Arena {
    pub fn live(&self) -> u32 {
        self.live
    }

    pub fn alloc(&mut self, owner: AccountId, side: Side, lots: u64, hold: u64) -> (u32, OrderId) {
        let fresh = Node {
            prev: NIL,
            next: NIL,
            level: NIL,
            generation: 0,
            owner,
            side,
            live: true,
            resting: false,
            lots,
            hold_remaining: hold,
        };
        self.live += 1;
        let slot = match self.free_head {
            Some(slot) => {
                let node = &mut self.nodes[slot as usize];
                self.free_head = (node.next != NIL).then_some(node.next);
                *node = Node {
                    generation: node.generation,
                    ..fresh
                };
                slot
            }
            None => {
                let slot = u32::try_from(self.nodes.len())
                    .unwrap_or_else(|_| unreachable!("orders_max keeps the arena below u32::MAX"));
                self.nodes.push(fresh);
                slot
            }
        };
        (
            slot,
            OrderId::new(slot, self.nodes[slot as usize].generation),
        )
    }

    pub fn release(&mut self, slot: u32) {
        let node = &mut self.nodes[slot as usize];
        debug_assert!(node.live);
        node.live = false;
        node.resting = false;
        node.generation = node.generation.wrapping_add(1);
        node.next = self.free_head.unwrap_or(NIL);
        self.free_head = Some(slot);
        self.live -= 1;
    }

    /// The slot of a live order, if `id` still names one.
    pub fn find(&self, id: OrderId) -> Option<u32> {
        let node = self.nodes.get(id.slot() as usize)?;
        (node.live && node.generation == id.generation()).then_some(id.slot())
    }

    pub fn id_of(&self, slot: u32) -> OrderId {
        OrderId::new(slot, self.nodes[slot as usize].generation)
    }

    pub fn node(&self, slot: u32) -> &Node {
        &self.nodes[slot as usize]
    }

    pub fn node_mut(&mut self, slot: u32) -> &mut Node {
        &mut self.nodes[slot as usize]
    }

    /// Slots of resting orders, in slot order (deterministic).
    pub fn resting_slots(&self) -> Vec<u32> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].resting)
            .map(|i| i as u32)
            .collect()
    }
}
