//! A real ledger per backend (temp SQLite file; a fresh PostgreSQL database when
//! `ETS_TEST_PG_URL` is set, required when `ETS_REQUIRE_PG=1`), funded enterprises, and checks
//! that the ledger agrees with the market's own `LedgerModel`.
#![allow(dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use exchange::{HoldHorizons, LedgerBalances, LedgerMapping, LedgerMarket};
use ledger::enterprise::CreditCode;
use ledger::{Action, Ledger, LedgerOptions, Party, Quantity, Request};
use market::{
    AccountId, AccountRules, Asset, InstrumentId, InstrumentSpec, LedgerModel, Market,
    SelfTradePrevention, Timestamp,
};
use rust_decimal::Decimal;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

pub const COD: &str = "COD.yangtze-cq.2024";
pub const CNY: &str = "CNY";
pub const RIGHTS: InstrumentId = InstrumentId(1);
pub const RIGHTS_ASSET: Asset = Asset::Rights(RIGHTS);
pub const BUREAU: AccountId = AccountId(0);
/// 100.00 CNY/t previous close, tick 0.01 CNY, lot 10 t.
pub const CLOSE_TICKS: u64 = 10_000;
pub const LOT_T: u64 = 10;

pub async fn databases() -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let mut out = vec![(sqlite, Some(dir))];
    if let Some(url) = postgres_database().await {
        out.push((url, None));
    }
    out
}

pub async fn postgres_database() -> Option<String> {
    ledger::testing::postgres_database("ets_mkt_test")
        .await
        .expect("a test database on ETS_TEST_PG_URL")
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 3, 9, 30, 0).unwrap()
}

/// The market clock at `minutes` after the opening.
pub fn at(minutes: i64) -> Timestamp {
    Timestamp((start_time() + Duration::minutes(minutes)).timestamp_millis())
}

pub fn horizons() -> HoldHorizons {
    HoldHorizons {
        trading_day_end: start_time() + Duration::hours(8),
        transfer_grace: Duration::hours(1),
    }
}

/// A fixed ledger clock (the test moves it by hand).
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn new() -> TestClock {
        TestClock(Arc::new(AtomicI64::new(start_time().timestamp_micros())))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        self.0.store(at.timestamp_micros(), Ordering::SeqCst);
    }
    pub fn options(&self) -> LedgerOptions {
        let me = self.0.clone();
        LedgerOptions {
            clock: Arc::new(move || {
                DateTime::from_timestamp_micros(me.load(Ordering::SeqCst)).unwrap_or_default()
            }),
            ..LedgerOptions::default()
        }
    }
}

/// Synthetic valid credit codes for enterprises 1..=n.
pub fn credit_code(n: u64) -> String {
    CreditCode::from_parts("91", "500103", &format!("MA5U{n:04}"))
        .expect("valid synthetic credit code")
        .as_str()
        .to_owned()
}

pub fn enterprise_input(code: &str, n: u64) -> ledger::enterprise::EnterpriseInput {
    serde_json::from_value(serde_json::json!({
        "credit_code": code,
        "name": format!("Enterprise {n}"),
        "district": "500103",
        "industry_codes": ["3961"],
        "declared_tags": ["high_tech_manufacturing"],
        "credit_grade": "good",
        "zoning": "general",
        "distance_to_river_m": 4200,
        "permit_number": format!("{code}001P"),
    }))
    .expect("enterprise input")
}

pub fn q(value: u64, scale: u32) -> Quantity {
    Quantity(Decimal::new(value as i64, scale))
}

pub fn req(key: &str, actions: Vec<Action>) -> Request {
    Request {
        idempotency_key: key.to_owned(),
        actor: "bureau".into(),
        memo: None,
        actions,
    }
}

pub struct Fixture {
    pub bridge: LedgerMarket,
    pub model: LedgerModel,
    pub clock: TestClock,
    pub accounts: Vec<AccountId>,
    pub url: String,
}

/// A ledger with COD (scale 3, t/a) and CNY, enterprises 1..=n each funded with `rights_t` and
/// `cash_fen`, the bureau's reserve with `reserve_t`; a market with COD listed; the model funded
/// identically.
pub async fn fixture(
    url: &str,
    enterprises: u64,
    rights_t: u64,
    cash_fen: u64,
    reserve_t: u64,
) -> Fixture {
    let clock = TestClock::new();
    let ledger = Ledger::open(url, clock.options())
        .await
        .expect("open ledger");
    let mut actions: Vec<Action> = serde_json::from_value(serde_json::json!([
        {"type": "define_region", "region": {"code": "yangtze-cq", "name": "Yangtze (Chongqing reach)", "kind": "basin"}},
        {"type": "define_instrument", "instrument": {"code": COD, "kind": "discharge_right", "pollutant": "COD", "region": "yangtze-cq",
         "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"}},
        {"type": "define_instrument", "instrument": {"code": CNY, "kind": "cash", "currency": "CNY", "scale": 2, "unit": "CNY"}},
    ]))
    .expect("setup actions");
    let mut mapping = LedgerMapping::new("t1", "market", CNY).expect("mapping");
    mapping.map_account(BUREAU, Party::Reserve).expect("bureau");
    mapping.map_instrument(RIGHTS, COD).expect("cod");
    let mut model = LedgerModel::default();
    let mut accounts = Vec::new();
    for n in 1..=enterprises {
        let code = credit_code(n);
        actions.push(Action::RegisterEnterprise {
            enterprise: enterprise_input(&code, n),
        });
        if rights_t > 0 {
            actions.push(Action::Issue {
                instrument: COD.into(),
                to: Party::Enterprise(code.clone()),
                amount: q(rights_t, 0),
            });
        }
        if cash_fen > 0 {
            actions.push(Action::Deposit {
                instrument: CNY.into(),
                enterprise: code.clone(),
                amount: q(cash_fen, 2),
            });
        }
        mapping
            .map_account(AccountId(n), Party::Enterprise(code))
            .expect("enterprise");
        model.deposit(AccountId(n), RIGHTS_ASSET, rights_t);
        model.deposit(AccountId(n), Asset::CashFen, cash_fen);
        accounts.push(AccountId(n));
    }
    if reserve_t > 0 {
        actions.push(Action::Issue {
            instrument: COD.into(),
            to: Party::Reserve,
            amount: q(reserve_t, 0),
        });
        model.deposit(BUREAU, RIGHTS_ASSET, reserve_t);
    }
    ledger
        .submit(req("setup", actions))
        .await
        .expect("setup accepted");
    let mut market = Market::new(AccountRules::default(), SelfTradePrevention::CancelResting);
    let mut spec = InstrumentSpec::new(RIGHTS, 1, LOT_T).expect("spec");
    spec.block_min_t = 10_000;
    market.list_instrument(spec, CLOSE_TICKS).expect("listed");
    let bridge = LedgerMarket::open(market, ledger, mapping, horizons())
        .await
        .expect("bridge opens");
    Fixture {
        bridge,
        model,
        clock,
        accounts,
        url: url.to_owned(),
    }
}

impl Fixture {
    /// Applies the last command's instructions to the model (contract-checked).
    pub fn follow(&mut self) {
        self.model
            .apply_all(self.bridge.last_settlements())
            .expect("instructions keep the settlement contract");
    }

    /// Every account in the fixture, bureau first.
    pub fn all_accounts(&self) -> Vec<AccountId> {
        std::iter::once(BUREAU)
            .chain(self.accounts.iter().copied())
            .collect()
    }

    /// The ledger, read fresh from storage, equals the model and the bridge's own view.
    pub async fn assert_agrees(&self, context: &str) {
        let fresh = LedgerBalances::load(self.bridge.ledger(), self.bridge.mapping())
            .await
            .expect("balances load");
        for account in self.all_accounts() {
            for asset in [RIGHTS_ASSET, Asset::CashFen] {
                let held = self.model.held(account, asset);
                let expected = (self.model.posted(account, asset) - held, held);
                let got = (fresh.balance(account, asset), fresh.held(account, asset));
                assert_eq!(
                    got, expected,
                    "{}: {context}: {account} {asset:?} (balance, held) in the ledger vs the model",
                    self.url
                );
                let cached = (
                    self.bridge.balances().balance(account, asset),
                    self.bridge.balances().held(account, asset),
                );
                assert_eq!(cached, expected, "{}: {context}: bridge view", self.url);
            }
        }
        self.assert_conserved(context).await;
    }

    /// Rights and cash in holdings, the reserve and escrow add up to what was put in.
    pub async fn assert_conserved(&self, context: &str) {
        let balances = self
            .bridge
            .ledger()
            .store()
            .balances(None)
            .await
            .expect("balances");
        for (code, asset) in [(COD, RIGHTS_ASSET), (CNY, Asset::CashFen)] {
            let inside: Decimal = balances
                .iter()
                .filter(|b| b.instrument == code)
                .filter(|b| {
                    matches!(
                        b.kind,
                        ledger::AccountKind::Holding
                            | ledger::AccountKind::Reserve
                            | ledger::AccountKind::Escrow
                    )
                })
                .map(|b| b.balance)
                .sum();
            let expected = self.model.total(asset);
            assert_eq!(
                exchange::ledger_bridge::market_units(asset, inside),
                expected,
                "{}: {context}: {code} is conserved",
                self.url
            );
            let all: Decimal = balances
                .iter()
                .filter(|b| b.instrument == code)
                .map(|b| b.balance)
                .sum();
            assert_eq!(
                all,
                Decimal::ZERO,
                "{}: double entry sums to zero",
                self.url
            );
        }
    }

    /// No open hold and empty escrow accounts.
    pub async fn assert_escrow_empty(&self) {
        let store = self.bridge.ledger().store();
        let open: Vec<_> = store
            .holds()
            .await
            .expect("holds")
            .into_iter()
            .filter(|h| h.state == ledger::book::HoldState::Open)
            .map(|h| h.id)
            .collect();
        assert!(open.is_empty(), "{}: open holds left: {open:?}", self.url);
        for b in store.balances(None).await.expect("balances") {
            if b.kind == ledger::AccountKind::Escrow {
                assert_eq!(
                    b.balance,
                    Decimal::ZERO,
                    "{}: {} not empty",
                    self.url,
                    b.account
                );
            }
        }
        assert_eq!(self.model.open_holds(), 0);
        assert_eq!(self.bridge.balances().open_holds(), 0);
    }

    pub async fn assert_verified(&self) {
        let report = ledger::verify(self.bridge.ledger().store())
            .await
            .expect("verify runs");
        assert!(
            report.is_ok(),
            "{}: verify: {:#?}",
            self.url,
            report.problems
        );
    }
}
