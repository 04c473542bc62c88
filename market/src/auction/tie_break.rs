//! The seeded draw that orders tied bidders, and the seed commitment published at opening.
//!
//! The draw is a Fisher–Yates shuffle driven by ChaCha20 keyed with
//! SHA-256(domain ‖ auction id ‖ seed). Index selection uses Lemire's multiply-shift on one
//! 64-bit output per step. Both are written out here (not taken from `rand::seq`) so that the
//! draw of a stored auction never changes with a library upgrade.

use crate::ids::AuctionId;
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"ets-market/auction-tie-break/v1";

/// SHA-256 of the seed: what the bureau publishes when the auction opens.
pub fn seed_commitment(seed: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(seed).into()
}

/// The key of the draw for one auction.
pub(crate) fn tie_seed(auction: AuctionId, seed: &[u8; 32]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    hasher.update(auction.0.to_le_bytes());
    hasher.update(seed);
    hasher.finalize().into()
}

pub(crate) struct TieDraw {
    rng: ChaCha20Rng,
}

impl TieDraw {
    pub fn new(key: [u8; 32]) -> Self {
        TieDraw {
            rng: ChaCha20Rng::from_seed(key),
        }
    }

    /// Shuffles `items` in place; every permutation is (nearly) equally likely.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let bound = (i + 1) as u128;
            let j = ((u128::from(self.rng.next_u64()) * bound) >> 64) as usize;
            items.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_is_reproducible_and_seed_dependent() {
        let key = tie_seed(AuctionId(1), &[7; 32]);
        let draw = |key| {
            let mut items: Vec<u32> = (0..20).collect();
            TieDraw::new(key).shuffle(&mut items);
            items
        };
        assert_eq!(draw(key), draw(key));
        assert_ne!(draw(key), draw(tie_seed(AuctionId(2), &[7; 32])));
        let mut sorted = draw(key);
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<u32>>());
    }
}
