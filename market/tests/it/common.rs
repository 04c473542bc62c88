//! Shared fixtures: an instrument, funded accounts and a harness that posts every command's
//! settlement instructions to the in-memory ledger model (failing the test on any breach of the
//! settlement contract).

use market::{
    AccountId, AccountRules, Asset, InstrumentId, InstrumentSpec, LedgerModel, Market, MarketError,
    OrderAck, OrderPrice, OrderRequest, SelfTradePrevention, Settlement, Side, TimeInForce,
    Timestamp,
};

pub const RIGHTS: InstrumentId = InstrumentId(1);
pub const RIGHTS_ASSET: Asset = Asset::Rights(RIGHTS);
/// Previous close 100.00 CNY/t at a 0.01 tick: band 90.00..=110.00.
pub const CLOSE_TICKS: u64 = 10_000;
pub const LOT_T: u64 = 10;

pub fn spec() -> InstrumentSpec {
    let mut spec = InstrumentSpec::new(RIGHTS, 1, LOT_T).expect("valid spec");
    spec.block_min_t = 10_000;
    spec
}

pub fn account(n: u64) -> AccountId {
    AccountId(n)
}

pub fn funded(accounts: &[u64], rights_t: u64, cash_fen: u64) -> LedgerModel {
    let mut ledger = LedgerModel::default();
    for &n in accounts {
        ledger.deposit(account(n), RIGHTS_ASSET, rights_t);
        ledger.deposit(account(n), Asset::CashFen, cash_fen);
    }
    ledger
}

pub fn limit(owner: u64, side: Side, price_ticks: u64, lots: u64) -> OrderRequest {
    OrderRequest {
        owner: account(owner),
        side,
        price: OrderPrice::Limit { price_ticks },
        lots,
        time_in_force: TimeInForce::Day,
    }
}

pub struct Harness {
    pub market: Market,
    pub ledger: LedgerModel,
    pub out: Vec<Settlement>,
    pub now: Timestamp,
}

impl Harness {
    pub fn new(accounts: &[u64], rights_t: u64, cash_fen: u64) -> Self {
        Self::with(
            accounts,
            rights_t,
            cash_fen,
            SelfTradePrevention::CancelResting,
        )
    }

    pub fn with(
        accounts: &[u64],
        rights_t: u64,
        cash_fen: u64,
        self_trade: SelfTradePrevention,
    ) -> Self {
        let mut market = Market::new(AccountRules::default(), self_trade);
        market.list_instrument(spec(), CLOSE_TICKS).expect("listed");
        Harness {
            market,
            ledger: funded(accounts, rights_t, cash_fen),
            out: Vec::new(),
            now: Timestamp(1_700_000_000_000),
        }
    }

    /// Submits an order and posts its settlement instructions; returns only this command's.
    pub fn order(
        &mut self,
        request: OrderRequest,
    ) -> Result<(OrderAck, Vec<Settlement>), MarketError> {
        self.now.0 += 1;
        let mut out = Vec::new();
        let ack = self
            .market
            .submit_order(RIGHTS, &request, &self.ledger, self.now, &mut out);
        self.post(&out);
        ack.map(|ack| (ack, out))
    }

    pub fn post(&mut self, out: &[Settlement]) {
        self.ledger
            .apply_all(out)
            .expect("settlement contract holds");
        self.out.extend_from_slice(out);
    }

    pub fn rights(&self, n: u64) -> u64 {
        self.ledger.posted(account(n), RIGHTS_ASSET)
    }

    pub fn cash(&self, n: u64) -> u64 {
        self.ledger.posted(account(n), Asset::CashFen)
    }
}
