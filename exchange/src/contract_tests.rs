//! The settlement contract (`market::HoldBook`) answered alike by its three stores: the
//! engine's model, the settlement bridge's balances and the durable market's overlay.

use crate::LedgerBalances;
use crate::durable::{JournalView, Overlay, View};
use ContractViolation::*;
use market::{
    AccountId, Asset, Balances, ContractViolation, HoldId, InstrumentId, LedgerModel, Settlement,
    SettlementRef, TransferId,
};

const SELLER: AccountId = AccountId(1);
const BUYER: AccountId = AccountId(2);
const INSTRUMENT: InstrumentId = InstrumentId(1);
const RIGHTS: Asset = Asset::Rights(INSTRUMENT);
const CASH: Asset = Asset::CashFen;

fn rights_hold(n: u64) -> HoldId {
    HoldId::TransferRights {
        transfer: TransferId(n),
    }
}

fn cash_hold(n: u64) -> HoldId {
    HoldId::TransferCash {
        transfer: TransferId(n),
    }
}

fn place(hold: HoldId, holder: AccountId, asset: Asset, amount: u64) -> Settlement {
    Settlement::PlaceHold {
        hold,
        holder,
        asset,
        amount,
    }
}

fn release(hold: HoldId, holder: AccountId, asset: Asset, amount: u64) -> Settlement {
    Settlement::ReleaseHold {
        hold,
        holder,
        asset,
        amount,
    }
}

/// SELLER delivers `quantity_t` from `rights` against `cash_fen` from BUYER's `cash`.
fn dvp(rights: HoldId, cash: HoldId, quantity_t: u64, cash_fen: u64) -> Settlement {
    Settlement::DeliveryVersusPayment {
        reference: SettlementRef::Transfer {
            transfer: TransferId(0),
        },
        instrument: INSTRUMENT,
        seller: SELLER,
        buyer: BUYER,
        quantity_t,
        rights_hold: rights,
        cash_fen,
        cash_hold: cash,
        cash_to: SELLER,
    }
}

/// Instructions and what the contract answers, starting from 10 t of SELLER and 1,000 fen
/// of BUYER: every violation once, each next to the valid instruction it differs from.
fn script() -> Vec<(Settlement, Result<(), ContractViolation>)> {
    let (r1, c1, r2) = (rights_hold(1), cash_hold(1), rights_hold(2));
    let insufficient = Insufficient {
        holder: SELLER,
        asset: RIGHTS,
        amount: 11,
        available: 10,
    };
    let over = |hold, remaining, amount| OverPost {
        hold,
        remaining,
        amount,
    };
    let mismatch = |hold, remaining, amount| ReleaseMismatch {
        hold,
        remaining,
        amount,
    };
    vec![
        (place(r1, SELLER, RIGHTS, 0), Err(EmptyHold(r1))),
        (place(r1, SELLER, RIGHTS, 11), Err(insufficient)),
        (place(r1, SELLER, RIGHTS, 6), Ok(())),
        (place(r1, SELLER, RIGHTS, 1), Err(DuplicateHold(r1))),
        (place(c1, BUYER, CASH, 600), Ok(())),
        (dvp(r1, c1, 7, 100), Err(over(r1, 6, 7))),
        // The rights leg alone is valid: nothing is posted either.
        (dvp(r1, c1, 2, 601), Err(over(c1, 600, 601))),
        (dvp(c1, c1, 2, 200), Err(Mismatch(c1))),
        (dvp(r1, r2, 2, 200), Err(UnknownHold(r2))),
        (dvp(r1, c1, 2, 200), Ok(())),
        (release(r1, SELLER, RIGHTS, 3), Err(mismatch(r1, 4, 3))),
        (release(r1, BUYER, RIGHTS, 4), Err(Mismatch(r1))),
        (release(c1, BUYER, CASH, 0), Err(mismatch(c1, 400, 0))),
        (release(r1, SELLER, RIGHTS, 4), Ok(())),
        (release(r1, SELLER, RIGHTS, 4), Err(UnknownHold(r1))),
        (place(r2, SELLER, RIGHTS, 8), Ok(())),
        // Used up exactly: both holds close.
        (dvp(r2, c1, 8, 400), Ok(())),
        (dvp(r2, c1, 0, 0), Err(UnknownHold(r2))),
    ]
}

/// The model, the bridge's balances and the durable overlay give the same answer to every
/// instruction and end with the same balances, since they share the book.
#[test]
fn every_store_answers_the_contract_alike() {
    let mut model = LedgerModel::default();
    let mut bridge = LedgerBalances::default();
    let (journal, mut overlay) = (JournalView::default(), Overlay::default());
    for (holder, asset, amount) in [(SELLER, RIGHTS, 10), (BUYER, CASH, 1_000)] {
        model.deposit(holder, asset, amount);
        bridge.deposit(holder, asset, amount);
        overlay.deposit(holder, asset, amount);
    }
    for (step, (settlement, expected)) in script().into_iter().enumerate() {
        assert_eq!(model.apply(&settlement), expected, "model, step {step}");
        assert_eq!(bridge.apply(&settlement), expected, "bridge, step {step}");
        let durable = overlay.apply(&journal, &settlement);
        assert_eq!(durable, expected, "overlay, step {step}");
        let view = View {
            view: &journal,
            overlay: &overlay,
        };
        for (holder, asset) in [
            (SELLER, RIGHTS),
            (BUYER, RIGHTS),
            (SELLER, CASH),
            (BUYER, CASH),
        ] {
            let available = model.available(holder, asset);
            assert_eq!(bridge.available(holder, asset), available, "step {step}");
            assert_eq!(view.available(holder, asset), available, "step {step}");
        }
        assert_eq!(bridge.open_holds(), model.open_holds(), "step {step}");
        assert_eq!(overlay.open_holds(), model.open_holds(), "step {step}");
    }
    assert_eq!(model.open_holds(), 0);
    assert_eq!(model.posted(BUYER, RIGHTS), 10);
    assert_eq!(model.posted(SELLER, RIGHTS), 0);
    assert_eq!(model.posted(SELLER, CASH), 600);
    assert_eq!(model.posted(BUYER, CASH), 400);
    assert_eq!(bridge.position_t(BUYER, INSTRUMENT), 10);
}

/// Only the model remembers closed holds; the bridges check the open ones.
#[test]
fn only_the_model_refuses_a_closed_hold_again() {
    let hold = rights_hold(1);
    let mut model = LedgerModel::default();
    let mut bridge = LedgerBalances::default();
    model.deposit(SELLER, RIGHTS, 2);
    bridge.deposit(SELLER, RIGHTS, 2);
    for settlement in [
        place(hold, SELLER, RIGHTS, 1),
        release(hold, SELLER, RIGHTS, 1),
    ] {
        assert_eq!(model.apply(&settlement), Ok(()));
        assert_eq!(bridge.apply(&settlement), Ok(()));
    }
    let again = place(hold, SELLER, RIGHTS, 1);
    assert_eq!(model.apply(&again), Err(DuplicateHold(hold)));
    assert_eq!(bridge.apply(&again), Ok(()));
}
