//! Test support: a fresh database per test on every backend, and a small fixture register.
#![allow(dead_code)]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Duration, TimeZone, Utc};
use ledger::{Action, Ledger, LedgerOptions, Party, Quantity, Request};
use rust_decimal::Decimal;

/// Valid unified social credit codes (check characters computed per GB 32100-2015).
pub const A: &str = "91500103MA5U00011H";
pub const B: &str = "91500104MA5U0002XP";
pub const C: &str = "91500105MA5U000386";

pub const COD: &str = "COD.yangtze-cq.2024";
pub const SO2: &str = "SO2.cq-main.2024";
pub const CNY: &str = "CNY";
pub const CEA: &str = "CEA.2024";

/// One database per call: a temporary SQLite file, or a fresh PostgreSQL database when
/// `ETS_TEST_PG_URL` is set. With `ETS_REQUIRE_PG=1` (as the project's test script sets), a
/// missing PostgreSQL is a failure, never a silent skip.
pub async fn databases() -> Vec<(String, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = format!("sqlite://{}", dir.path().join("ledger.db").display());
    let mut out = vec![(sqlite, Some(dir))];
    if let Some(url) = postgres_database().await {
        out.push((url, None));
    }
    out
}

/// A new empty PostgreSQL database, if PostgreSQL is configured.
pub async fn postgres_database() -> Option<String> {
    ledger::testing::postgres_database("ets_test")
        .await
        .expect("a test database on ETS_TEST_PG_URL")
}

/// A clock the test moves by hand.
#[derive(Clone)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    pub fn new(start: DateTime<Utc>) -> TestClock {
        TestClock(Arc::new(AtomicI64::new(start.timestamp_micros())))
    }
    pub fn advance(&self, by: Duration) {
        self.0
            .fetch_add(by.num_microseconds().unwrap_or(0), Ordering::SeqCst);
    }
    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_micros(self.0.load(Ordering::SeqCst)).unwrap_or_default()
    }
    pub fn options(&self) -> LedgerOptions {
        let me = self.clone();
        LedgerOptions {
            clock: Arc::new(move || me.now()),
            ..LedgerOptions::default()
        }
    }
}

pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 8, 0, 0).unwrap()
}

pub fn q(text: &str) -> Quantity {
    Quantity(Decimal::from_str(text).expect("decimal"))
}

pub fn req(key: &str, actions: Vec<Action>) -> Request {
    Request {
        idempotency_key: key.to_owned(),
        actor: "bureau".into(),
        memo: None,
        actions,
    }
}

pub fn ent(code: &str) -> Party {
    Party::Enterprise(code.to_owned())
}

pub fn enterprise_input(
    code: &str,
    name: &str,
    district: &str,
) -> ledger::enterprise::EnterpriseInput {
    serde_json::from_value(serde_json::json!({
        "credit_code": code,
        "name": name,
        "district": district,
        "industry_codes": ["3961"],
        "declared_tags": ["high_tech_manufacturing"],
        "credit_grade": "good",
        "zoning": "general",
        "distance_to_river_m": 4200,
        "permit_number": format!("{code}001P"),
    }))
    .expect("enterprise input")
}

/// Regions, instruments and three enterprises: the register most tests start from.
pub fn setup_actions() -> Vec<Action> {
    let instruments = serde_json::json!([
        {"code": COD, "kind": "discharge_right", "pollutant": "COD", "region": "yangtze-cq",
         "valid_from": "2024-01-01", "valid_to": "2028-12-31", "scale": 3, "unit": "t/a"},
        {"code": SO2, "kind": "discharge_right", "pollutant": "SO2", "region": "cq-main",
         "valid_from": "2020-01-01", "valid_to": "2024-12-31", "scale": 3, "unit": "t/a"},
        {"code": CNY, "kind": "cash", "currency": "CNY", "scale": 2, "unit": "CNY"},
        {"code": CEA, "kind": "carbon_allowance", "vintage": 2024, "scale": 0, "unit": "tCO2e"},
    ]);
    let mut actions: Vec<Action> = serde_json::from_value(serde_json::json!([
        {"type": "define_region", "region": {"code": "yangtze-cq", "name": "Yangtze (Chongqing reach)", "kind": "basin"}},
        {"type": "define_region", "region": {"code": "cq-main", "name": "Chongqing main-city airshed", "kind": "airshed"}},
    ]))
    .expect("regions");
    for instrument in instruments.as_array().expect("array") {
        actions.push(Action::DefineInstrument {
            instrument: serde_json::from_value(instrument.clone()).expect("instrument"),
        });
    }
    for (code, name, district) in [
        (A, "Chongqing Alpha Chips", "500103"),
        (B, "Beta Pharma", "500104"),
        (C, "Gamma Steel", "500105"),
    ] {
        actions.push(Action::RegisterEnterprise {
            enterprise: enterprise_input(code, name, district),
        });
    }
    actions
}

pub async fn open(url: &str, clock: &TestClock) -> Ledger {
    let ledger = Ledger::open(url, clock.options())
        .await
        .expect("open ledger");
    ledger
        .submit(req("setup", setup_actions()))
        .await
        .expect("setup");
    ledger
}

/// The balance of an account, as a decimal string ("0" when it does not exist).
pub async fn balance(ledger: &Ledger, account: &str) -> Decimal {
    ledger
        .store()
        .balances(None)
        .await
        .expect("balances")
        .into_iter()
        .find(|b| b.account == account)
        .map(|b| b.balance)
        .unwrap_or_default()
}

pub async fn assert_verified(ledger: &Ledger) {
    let report = ledger::verify(ledger.store()).await.expect("verify runs");
    assert!(
        report.is_ok(),
        "verify found problems: {:#?}",
        report.problems
    );
}
