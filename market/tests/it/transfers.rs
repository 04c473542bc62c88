//! Bilateral transfers and block trades as a state machine.

use crate::common::*;
use market::{Asset, MarketError, Settlement, Timestamp, TransferRequest, TransferState};

const RICH: u64 = 1_000_000_000;

fn request(lots: u64, price_ticks: u64) -> TransferRequest {
    TransferRequest {
        instrument: RIGHTS,
        seller: account(1),
        buyer: account(2),
        lots,
        price_ticks,
        expires_at: Timestamp(2_000_000_000_000),
    }
}

#[test]
fn propose_then_accept_settles_delivery_versus_payment() {
    let mut h = Harness::new(&[1, 2], 50_000, RICH);
    let mut out = Vec::new();
    let id = h
        .market
        .propose_transfer(request(2, 10_500), &h.ledger, h.now, &mut out)
        .unwrap();
    h.post(&out);
    assert_eq!(h.ledger.held(account(1), RIGHTS_ASSET), 20);
    out.clear();
    assert!(matches!(
        h.market
            .accept_transfer(id, account(3), &h.ledger, h.now, &mut out),
        Err(MarketError::NotCounterparty { .. })
    ));
    h.market
        .accept_transfer(id, account(2), &h.ledger, h.now, &mut out)
        .unwrap();
    h.post(&out);
    assert!(matches!(
        out[1],
        Settlement::DeliveryVersusPayment {
            quantity_t: 20,
            cash_fen: 210_000,
            ..
        }
    ));
    assert_eq!(h.rights(2), 50_020);
    assert_eq!(h.cash(1), RICH + 210_000);
    assert_eq!(h.ledger.open_holds(), 0);
    assert_eq!(h.market.transfer(id).unwrap().state, TransferState::Settled);
    assert_eq!(
        h.market.reject_transfer(id, account(2), h.now, &mut out),
        Err(MarketError::TransferNotPending(id))
    );
}

#[test]
fn reject_veto_expiry_and_freeze_release_the_seller() {
    let mut h = Harness::new(&[1, 2], 50_000, RICH);
    let mut out = Vec::new();
    let propose = |h: &mut Harness| {
        let mut out = Vec::new();
        let id = h
            .market
            .propose_transfer(request(1, 10_000), &h.ledger, h.now, &mut out)
            .unwrap();
        h.post(&out);
        id
    };
    let rejected = propose(&mut h);
    h.market
        .reject_transfer(rejected, account(2), h.now, &mut out)
        .unwrap();
    let vetoed = propose(&mut h);
    h.market.veto_transfer(vetoed, h.now, &mut out).unwrap();
    let expired = propose(&mut h);
    h.post(&out);
    out.clear();
    let late = Timestamp(2_000_000_000_000);
    assert!(matches!(
        h.market
            .accept_transfer(expired, account(2), &h.ledger, late, &mut out),
        Err(MarketError::TransferExpired { .. })
    ));
    assert_eq!(h.market.expire_transfers(late, &mut out), vec![expired]);
    let frozen = propose(&mut h);
    let report = h.market.freeze(account(2), h.now, &mut out);
    assert_eq!(report.vetoed_transfers, vec![frozen]);
    h.post(&out);
    assert_eq!(h.ledger.open_holds(), 0);
    assert_eq!(h.rights(1), 50_000);
    let states: Vec<_> = [rejected, vetoed, expired, frozen]
        .iter()
        .map(|&id| h.market.transfer(id).unwrap().state)
        .collect();
    assert_eq!(
        states,
        vec![
            TransferState::Rejected,
            TransferState::Vetoed,
            TransferState::Expired,
            TransferState::Vetoed
        ]
    );
    out.clear();
    assert_eq!(
        h.market
            .propose_transfer(request(1, 10_000), &h.ledger, h.now, &mut out),
        Err(MarketError::AccountFrozen(account(2)))
    );
    assert!(out.is_empty());
}

#[test]
fn block_trades_use_the_wider_band_and_small_transfers_the_regular_one() {
    let mut h = Harness::new(&[1, 2], 50_000, RICH);
    let mut out = Vec::new();
    // 1,000 lots = 10,000 t: a block trade, allowed up to +30%.
    let block = h
        .market
        .propose_transfer(request(1_000, 12_900), &h.ledger, h.now, &mut out)
        .unwrap();
    assert!(h.market.transfer(block).unwrap().is_block);
    assert!(matches!(
        h.market
            .propose_transfer(request(1_000, 13_001), &h.ledger, h.now, &mut out),
        Err(MarketError::OutsideBand { .. })
    ));
    assert!(matches!(
        h.market
            .propose_transfer(request(1, 12_900), &h.ledger, h.now, &mut out),
        Err(MarketError::OutsideBand { .. })
    ));
    assert!(matches!(
        h.market
            .propose_transfer(request(10_000, 10_000), &h.ledger, h.now, &mut out),
        Err(MarketError::InsufficientBalance { .. })
    ));
    assert_eq!(out.len(), 1, "only the accepted proposal held anything");
    h.post(&out);
    assert_eq!(h.ledger.held(account(1), Asset::Rights(RIGHTS)), 10_000);
}
