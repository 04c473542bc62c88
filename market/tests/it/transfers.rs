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

mod props {
    use crate::common::*;
    use market::{Asset, Timestamp, TransferId, TransferRequest, TransferState};
    use proptest::collection::vec;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Propose {
            seller: u64,
            buyer: u64,
            lots: u64,
            offset: i64,
            life: i64,
        },
        Accept {
            pick: usize,
            as_buyer: bool,
        },
        Reject {
            pick: usize,
        },
        Withdraw {
            pick: usize,
        },
        Veto {
            pick: usize,
        },
        Expire,
        Freeze {
            who: u64,
        },
        Wait {
            ms: i64,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..4_u64, 0..4_u64, prop_oneof![1..30_u64, 1_000..1_010_u64], -3_500..3_500_i64, 1..50_i64)
                .prop_map(|(seller, buyer, lots, offset, life)| Step::Propose { seller, buyer, lots, offset, life }),
            4 => (any::<usize>(), prop::bool::weighted(0.9)).prop_map(|(pick, as_buyer)| Step::Accept { pick, as_buyer }),
            1 => any::<usize>().prop_map(|pick| Step::Reject { pick }),
            1 => any::<usize>().prop_map(|pick| Step::Withdraw { pick }),
            1 => any::<usize>().prop_map(|pick| Step::Veto { pick }),
            1 => Just(Step::Expire),
            1 => (0..6_u64).prop_map(|who| Step::Freeze { who }),
            2 => (1..20_i64).prop_map(|ms| Step::Wait { ms }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn transfers_conserve_and_hold_exactly_the_pending_proposals(steps in vec(step(), 1..80)) {
            // 12,000 t and 2 M CNY each: block trades are possible but not always affordable.
            let mut h = Harness::new(&[0, 1, 2, 3], 12_000, 200_000_000);
            let rights_total = h.ledger.total(RIGHTS_ASSET);
            let cash_total = h.ledger.total(Asset::CashFen);
            let mut ids: Vec<TransferId> = Vec::new();
            for step in steps {
                let mut out = Vec::new();
                let pick = |p: usize| (!ids.is_empty()).then(|| ids[p % ids.len()]);
                let result: Result<(), market::MarketError> = match step {
                    Step::Propose { seller, buyer, lots, offset, life } => {
                        let request = TransferRequest {
                            instrument: RIGHTS,
                            seller: account(seller),
                            buyer: account(buyer),
                            lots,
                            price_ticks: CLOSE_TICKS.saturating_add_signed(offset),
                            expires_at: Timestamp(h.now.0 + life),
                        };
                        h.market.propose_transfer(request, &h.ledger, h.now, &mut out).map(|id| ids.push(id))
                    }
                    Step::Accept { pick: p, as_buyer } => match pick(p) {
                        Some(id) => {
                            let buyer = h.market.transfer(id).unwrap().request.buyer;
                            let who = if as_buyer { buyer } else { account(buyer.0 + 1) };
                            h.market.accept_transfer(id, who, &h.ledger, h.now, &mut out)
                        }
                        None => Ok(()),
                    },
                    Step::Reject { pick: p } => match pick(p) {
                        Some(id) => {
                            let buyer = h.market.transfer(id).unwrap().request.buyer;
                            h.market.reject_transfer(id, buyer, h.now, &mut out)
                        }
                        None => Ok(()),
                    },
                    Step::Withdraw { pick: p } => match pick(p) {
                        Some(id) => {
                            let seller = h.market.transfer(id).unwrap().request.seller;
                            h.market.withdraw_transfer(id, seller, h.now, &mut out)
                        }
                        None => Ok(()),
                    },
                    Step::Veto { pick: p } => match pick(p) {
                        Some(id) => h.market.veto_transfer(id, h.now, &mut out),
                        None => Ok(()),
                    },
                    Step::Expire => {
                        h.market.expire_transfers(h.now, &mut out);
                        Ok(())
                    }
                    Step::Freeze { who } => {
                        h.market.freeze(account(who), h.now, &mut out);
                        Ok(())
                    }
                    Step::Wait { ms } => {
                        h.now.0 += ms;
                        Ok(())
                    }
                };
                if result.is_err() {
                    prop_assert!(out.is_empty(), "a refused step emits nothing: {:?}", result);
                }
                h.post(&out);
                prop_assert_eq!(h.ledger.total(RIGHTS_ASSET), rights_total);
                prop_assert_eq!(h.ledger.total(Asset::CashFen), cash_total);
                let pending = ids
                    .iter()
                    .filter(|&&id| h.market.transfer(id).unwrap().state == TransferState::Proposed)
                    .count();
                prop_assert_eq!(h.ledger.open_holds(), pending, "one rights hold per pending proposal");
            }
        }
    }
}
