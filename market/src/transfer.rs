//! Bilateral transfers (negotiated trades) as a state machine:
//!
//! `propose` (the seller's rights are held) → `accept` by the buyer (its cash is held and the
//! trade settles delivery-versus-payment in the same instruction list) | `reject` by the buyer |
//! `withdraw` by the seller | `veto` by the bureau | expiry at `expires_at`.
//!
//! A transfer of at least the instrument's block size is a block trade and must be priced within
//! the block band (±30% of the previous close); a smaller one within the regular band. Neither
//! enters the book, the trade tape or the day's VWAP.

use crate::error::MarketError;
use crate::ids::{AccountId, InstrumentId, Timestamp, TransferId};
use crate::instrument::InstrumentSpec;
use crate::rules::AccountRules;
use crate::settlement::{Asset, Balances, HoldId, Settlement, SettlementRef, check_available};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRequest {
    pub instrument: InstrumentId,
    pub seller: AccountId,
    pub buyer: AccountId,
    pub lots: u64,
    pub price_ticks: u64,
    pub expires_at: Timestamp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransferState {
    Proposed,
    Settled,
    Rejected,
    Withdrawn,
    Vetoed,
    Expired,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: TransferId,
    pub request: TransferRequest,
    pub quantity_t: u64,
    pub cash_fen: u64,
    pub is_block: bool,
    pub state: TransferState,
    pub proposed_at: Timestamp,
    pub decided_at: Option<Timestamp>,
}

/// Every transfer proposal of the market, by id.
#[derive(Clone, Debug, Default)]
pub struct Transfers {
    items: BTreeMap<TransferId, Transfer>,
    next_id: u64,
}

impl Transfers {
    pub fn get(&self, id: TransferId) -> Option<&Transfer> {
        self.items.get(&id)
    }

    /// Every proposal, in id order.
    pub fn iter(&self) -> impl Iterator<Item = &Transfer> {
        self.items.values()
    }

    /// Proposes a transfer and holds the seller's rights.
    #[allow(clippy::too_many_arguments)]
    pub fn propose(
        &mut self,
        request: TransferRequest,
        spec: &InstrumentSpec,
        previous_close_ticks: u64,
        balances: &impl Balances,
        rules: &AccountRules,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<TransferId, MarketError> {
        if request.seller == request.buyer {
            return Err(MarketError::SameAccount);
        }
        rules.check_not_frozen(request.seller)?;
        rules.check_not_frozen(request.buyer)?;
        if request.lots == 0 {
            return Err(MarketError::ZeroQuantity);
        }
        if request.expires_at <= now {
            return Err(MarketError::InvalidConfig(
                "a transfer must expire in the future",
            ));
        }
        let quantity_t = spec.tonnes(request.lots)?;
        let is_block = quantity_t >= spec.block_min_t;
        let band = if is_block {
            spec.block_band(previous_close_ticks)
        } else {
            spec.regular_band(previous_close_ticks)
        };
        if !band.contains(request.price_ticks) {
            return Err(MarketError::OutsideBand {
                price_ticks: request.price_ticks,
                lower_ticks: band.lower_ticks,
                upper_ticks: band.upper_ticks,
                tick_fen: spec.tick_fen,
            });
        }
        let cash_fen = spec.cash_fen(request.lots, request.price_ticks)?;
        let asset = Asset::Rights(request.instrument);
        check_available(balances, request.seller, asset, quantity_t)?;

        let id = TransferId(self.next_id);
        self.next_id += 1;
        self.items.insert(
            id,
            Transfer {
                id,
                request,
                quantity_t,
                cash_fen,
                is_block,
                state: TransferState::Proposed,
                proposed_at: now,
                decided_at: None,
            },
        );
        out.push(Settlement::PlaceHold {
            hold: HoldId::TransferRights { transfer: id },
            holder: request.seller,
            asset,
            amount: quantity_t,
        });
        Ok(id)
    }

    /// The buyer accepts: its cash is held and the transfer settles in one instruction list.
    pub fn accept(
        &mut self,
        id: TransferId,
        buyer: AccountId,
        balances: &impl Balances,
        rules: &AccountRules,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        let transfer = self.pending(id, now)?;
        let request = transfer.request;
        if buyer != request.buyer {
            return Err(MarketError::NotCounterparty {
                transfer: id,
                account: buyer,
            });
        }
        rules.check_not_frozen(request.seller)?;
        rules.check_not_frozen(buyer)?;
        let position_t = balances.position_t(buyer, request.instrument);
        rules.check_holding(
            buyer,
            request.instrument,
            position_t.saturating_add(transfer.quantity_t),
        )?;
        check_available(balances, buyer, Asset::CashFen, transfer.cash_fen)?;
        out.push(Settlement::PlaceHold {
            hold: HoldId::TransferCash { transfer: id },
            holder: buyer,
            asset: Asset::CashFen,
            amount: transfer.cash_fen,
        });
        out.push(Settlement::DeliveryVersusPayment {
            reference: SettlementRef::Transfer { transfer: id },
            instrument: request.instrument,
            seller: request.seller,
            buyer,
            quantity_t: transfer.quantity_t,
            rights_hold: HoldId::TransferRights { transfer: id },
            cash_fen: transfer.cash_fen,
            cash_hold: HoldId::TransferCash { transfer: id },
            cash_to: request.seller,
        });
        self.decide(id, TransferState::Settled, now);
        Ok(())
    }

    /// The buyer declines; the seller's rights are released.
    pub fn reject(
        &mut self,
        id: TransferId,
        buyer: AccountId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        let transfer = self.pending(id, now)?;
        if buyer != transfer.request.buyer {
            return Err(MarketError::NotCounterparty {
                transfer: id,
                account: buyer,
            });
        }
        self.end(id, TransferState::Rejected, now, out);
        Ok(())
    }

    /// The seller takes its proposal back.
    pub fn withdraw(
        &mut self,
        id: TransferId,
        seller: AccountId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        let transfer = self.pending(id, now)?;
        if seller != transfer.request.seller {
            return Err(MarketError::NotCounterparty {
                transfer: id,
                account: seller,
            });
        }
        self.end(id, TransferState::Withdrawn, now, out);
        Ok(())
    }

    /// The bureau vetoes a pending transfer (the caller checks the bureau role).
    pub fn veto(
        &mut self,
        id: TransferId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Result<(), MarketError> {
        let transfer = self
            .items
            .get(&id)
            .ok_or(MarketError::UnknownTransfer(id))?;
        if transfer.state != TransferState::Proposed {
            return Err(MarketError::TransferNotPending(id));
        }
        self.end(id, TransferState::Vetoed, now, out);
        Ok(())
    }

    /// Expires every pending transfer whose time has come; returns their ids in id order.
    pub fn expire_due(&mut self, now: Timestamp, out: &mut Vec<Settlement>) -> Vec<TransferId> {
        let due: Vec<TransferId> = self
            .items
            .values()
            .filter(|t| t.state == TransferState::Proposed && t.request.expires_at <= now)
            .map(|t| t.id)
            .collect();
        for &id in &due {
            self.end(id, TransferState::Expired, now, out);
        }
        due
    }

    /// Vetoes every pending transfer involving `account` (when the bureau freezes it).
    pub fn veto_all_of(
        &mut self,
        account: AccountId,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) -> Vec<TransferId> {
        let involved: Vec<TransferId> = self
            .items
            .values()
            .filter(|t| t.state == TransferState::Proposed)
            .filter(|t| t.request.seller == account || t.request.buyer == account)
            .map(|t| t.id)
            .collect();
        for &id in &involved {
            self.end(id, TransferState::Vetoed, now, out);
        }
        involved
    }

    fn pending(&self, id: TransferId, now: Timestamp) -> Result<Transfer, MarketError> {
        let transfer = *self
            .items
            .get(&id)
            .ok_or(MarketError::UnknownTransfer(id))?;
        if transfer.state != TransferState::Proposed {
            return Err(MarketError::TransferNotPending(id));
        }
        if now >= transfer.request.expires_at {
            return Err(MarketError::TransferExpired {
                transfer: id,
                expires_at: transfer.request.expires_at,
            });
        }
        Ok(transfer)
    }

    fn end(
        &mut self,
        id: TransferId,
        state: TransferState,
        now: Timestamp,
        out: &mut Vec<Settlement>,
    ) {
        if let Some(transfer) = self.items.get(&id) {
            out.push(Settlement::ReleaseHold {
                hold: HoldId::TransferRights { transfer: id },
                holder: transfer.request.seller,
                asset: Asset::Rights(transfer.request.instrument),
                amount: transfer.quantity_t,
            });
        }
        self.decide(id, state, now);
    }

    fn decide(&mut self, id: TransferId, state: TransferState, now: Timestamp) {
        if let Some(transfer) = self.items.get_mut(&id) {
            transfer.state = state;
            transfer.decided_at = Some(now);
        }
    }
}
