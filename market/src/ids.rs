//! Identifiers and the caller-supplied clock.
//!
//! Every identifier is a plain integer newtype so the engine can store it in flat arrays; the
//! meaning of the number belongs to the integrator (ledger account ids, instrument ids, ...).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A ledger account (an enterprise's holding account, the bureau's reserve or proceeds account).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AccountId(pub u64);

/// One tradable instrument: a pollutant right in one basin or airshed and period, or a carbon
/// vintage. Each instrument has its own book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InstrumentId(pub u32);

/// An order resting in (or submitted to) a book. Assigned by the book as (generation, slot) so a
/// cancel finds its order without a hash map and a stale id can never hit a reused slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct OrderId(pub u64);

impl OrderId {
    pub(crate) fn new(slot: u32, generation: u32) -> Self {
        OrderId((u64::from(generation) << 32) | u64::from(slot))
    }

    pub(crate) fn slot(self) -> u32 {
        // Truncation is the point: the low 32 bits are the slot.
        (self.0 & u64::from(u32::MAX)) as u32
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

/// A primary auction or a one-way bidding session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AuctionId(pub u64);

/// A bid inside one auction, numbered from 0 in order of submission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BidId(pub u32);

/// A bilateral transfer proposal (plain or block trade).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransferId(pub u64);

/// Milliseconds since the Unix epoch, always passed in by the caller: the engine never reads the
/// OS clock, so every run replays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC (`2026-12-03T09:30:00Z`), or the raw milliseconds if out of range.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match chrono::DateTime::from_timestamp_millis(self.0) {
            Some(at) => write!(
                f,
                "{}",
                at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            ),
            None => write!(f, "{} ms", self.0),
        }
    }
}

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Side {
    Buy,
    Sell,
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "account {}", self.0)
    }
}

impl fmt::Display for InstrumentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instrument {}", self.0)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "order {}:{}", self.generation(), self.slot())
    }
}

impl fmt::Display for AuctionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "auction {}", self.0)
    }
}

impl fmt::Display for TransferId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "transfer {}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_id_round_trips_slot_and_generation() {
        let id = OrderId::new(7, 3);
        assert_eq!((id.slot(), id.generation()), (7, 3));
    }
}
