//! The explicit map between the market's integer ids and the ledger's text codes, and the pure
//! translation of one [`Settlement`] into one ledger [`Request`].

use super::BridgeError;
use chrono::{DateTime, Utc};
use ledger::{Action, Party, Purpose, Quantity, Request};
use market::ids::{AccountId, InstrumentId};
use market::settlement::{Asset, HoldId, Settlement, SettlementRef};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// Longest namespace: keeps every ledger hold code within the ledger's 64-character limit.
pub const NAMESPACE_LEN_MAX: usize = 16;

/// Who is who on both sides. The integrator builds it (the market never sees credit codes, the
/// ledger never sees `AccountId`s) and must keep it stable for the life of the namespace: the
/// same `AccountId` must always name the same party, or replays would post to someone else.
///
/// * every market account maps to exactly one ledger [`Party`] and back (one-to-one): an
///   enterprise's credit code, or [`Party::Reserve`] for the bureau (its reserve of each
///   instrument, which is also where auction proceeds in cash land);
/// * every market instrument maps to one ledger instrument code (one-to-one); rights are counted
///   in whole tonnes, so any ledger scale works;
/// * cash is one ledger cash instrument (normally `CNY`) whose scale is at least 2 (fen);
/// * `namespace` prefixes every hold code and idempotency key, so two market sessions (a restart
///   with fresh order ids, a test run) never collide in one ledger; replaying the same session
///   under the same namespace is safe (the ledger answers each request with its first receipt).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LedgerMapping {
    namespace: String,
    actor: String,
    cash_instrument: String,
    accounts: BTreeMap<AccountId, Party>,
    parties: BTreeMap<Party, AccountId>,
    instruments: BTreeMap<InstrumentId, String>,
    codes: BTreeMap<String, InstrumentId>,
}

impl LedgerMapping {
    /// `namespace`: 1–16 characters of `A-Z a-z 0-9 _ -`; `actor`: recorded in every journal
    /// entry the bridge writes (e.g. `market`); `cash_instrument`: the ledger's cash code.
    pub fn new(namespace: &str, actor: &str, cash_instrument: &str) -> Result<Self, BridgeError> {
        let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if namespace.is_empty() || namespace.len() > NAMESPACE_LEN_MAX || !namespace.chars().all(ok)
        {
            return Err(BridgeError::InvalidMapping(format!(
                "namespace {namespace:?} must be 1 to {NAMESPACE_LEN_MAX} characters of A-Z a-z 0-9 _ -"
            )));
        }
        if actor.trim().is_empty() {
            return Err(BridgeError::InvalidMapping(
                "actor must not be empty".into(),
            ));
        }
        ledger::instrument::validate_code(cash_instrument).map_err(BridgeError::InvalidMapping)?;
        Ok(LedgerMapping {
            namespace: namespace.to_owned(),
            actor: actor.to_owned(),
            cash_instrument: cash_instrument.to_owned(),
            accounts: BTreeMap::new(),
            parties: BTreeMap::new(),
            instruments: BTreeMap::new(),
            codes: BTreeMap::new(),
        })
    }

    /// Maps a market account to a ledger party; each side may appear once.
    pub fn map_account(&mut self, account: AccountId, party: Party) -> Result<(), BridgeError> {
        if let Party::Enterprise(code) = &party
            && code == ledger::account::BUREAU
        {
            return Err(BridgeError::InvalidMapping(format!(
                "{account}: use Party::Reserve for the bureau, not {code:?}"
            )));
        }
        if self.accounts.contains_key(&account) || self.parties.contains_key(&party) {
            return Err(BridgeError::InvalidMapping(format!(
                "{account} or ledger party {party} is already mapped"
            )));
        }
        self.accounts.insert(account, party.clone());
        self.parties.insert(party, account);
        Ok(())
    }

    /// Maps a market instrument to a ledger instrument code; each side may appear once.
    pub fn map_instrument(
        &mut self,
        instrument: InstrumentId,
        code: &str,
    ) -> Result<(), BridgeError> {
        if code == self.cash_instrument
            || self.instruments.contains_key(&instrument)
            || self.codes.contains_key(code)
        {
            return Err(BridgeError::InstrumentTaken {
                instrument,
                code: code.to_owned(),
            });
        }
        self.instruments.insert(instrument, code.to_owned());
        self.codes.insert(code.to_owned(), instrument);
        Ok(())
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn cash_instrument(&self) -> &str {
        &self.cash_instrument
    }

    pub fn party(&self, account: AccountId) -> Result<&Party, BridgeError> {
        self.accounts
            .get(&account)
            .ok_or(BridgeError::UnmappedAccount(account))
    }

    pub fn account_of(&self, party: &Party) -> Option<AccountId> {
        self.parties.get(party).copied()
    }

    pub fn instrument_code(&self, instrument: InstrumentId) -> Result<&str, BridgeError> {
        self.instruments
            .get(&instrument)
            .map(String::as_str)
            .ok_or(BridgeError::UnmappedInstrument(instrument))
    }

    pub fn instrument_of(&self, code: &str) -> Option<InstrumentId> {
        self.codes.get(code).copied()
    }

    pub fn accounts(&self) -> impl Iterator<Item = (AccountId, &Party)> {
        self.accounts.iter().map(|(&a, p)| (a, p))
    }

    pub fn instruments(&self) -> impl Iterator<Item = (InstrumentId, &str)> {
        self.instruments.iter().map(|(&i, c)| (i, c.as_str()))
    }

    /// The ledger code of an asset: the mapped instrument, or the cash instrument.
    pub fn asset_code(&self, asset: Asset) -> Result<&str, BridgeError> {
        match asset {
            Asset::Rights(instrument) => self.instrument_code(instrument),
            Asset::CashFen => Ok(&self.cash_instrument),
        }
    }

    /// The ledger's hold id for a market hold: `{namespace}.order.1.4294967301`. The market's
    /// text form (`mkt/order/1/…`) has slashes, which ledger codes do not allow.
    pub fn hold_code(&self, hold: HoldId) -> String {
        let text = hold.to_string();
        let body = text.strip_prefix("mkt/").unwrap_or(&text).replace('/', ".");
        format!("{}.{body}", self.namespace)
    }

    /// The idempotency key of the request that settles `settlement`: unique per instruction for
    /// the life of the namespace (holds are placed and released once, each reference settles
    /// once), so a retry or a replay of the same session is answered with the first receipt.
    pub fn idempotency_key(&self, settlement: &Settlement) -> String {
        let ns = &self.namespace;
        match settlement {
            Settlement::PlaceHold { hold, .. } => format!("{ns}/place/{hold}"),
            Settlement::DeliveryVersusPayment { reference, .. } => format!("{ns}/dvp/{reference}"),
            Settlement::ReleaseHold { hold, .. } => format!("{ns}/void/{hold}"),
        }
    }

    /// One settlement instruction as one ledger request (pure). `expires_at` is used only by
    /// `PlaceHold`. A delivery-versus-payment is one request of two `PostHold`s: the ledger
    /// applies both or neither.
    pub fn request(
        &self,
        settlement: &Settlement,
        expires_at: DateTime<Utc>,
    ) -> Result<Request, BridgeError> {
        let actions = match *settlement {
            Settlement::PlaceHold {
                hold,
                holder,
                asset,
                amount,
            } => vec![Action::PlaceHold {
                hold: self.hold_code(hold),
                instrument: self.asset_code(asset)?.to_owned(),
                from: self.party(holder)?.clone(),
                amount: quantity(asset, amount)?,
                expires_at,
            }],
            Settlement::DeliveryVersusPayment {
                reference,
                instrument,
                buyer,
                quantity_t,
                rights_hold,
                cash_fen,
                cash_hold,
                cash_to,
                ..
            } => {
                let purpose = match reference {
                    SettlementRef::Trade { .. } => Purpose::Trade,
                    SettlementRef::AuctionAward { .. } => Purpose::Auction,
                    SettlementRef::Transfer { .. } => Purpose::Transfer,
                };
                vec![
                    Action::PostHold {
                        hold: self.hold_code(rights_hold),
                        to: self.party(buyer)?.clone(),
                        amount: quantity(Asset::Rights(instrument), quantity_t)?,
                        purpose,
                    },
                    Action::PostHold {
                        hold: self.hold_code(cash_hold),
                        to: self.party(cash_to)?.clone(),
                        amount: quantity(Asset::CashFen, cash_fen)?,
                        purpose,
                    },
                ]
            }
            Settlement::ReleaseHold { hold, .. } => vec![Action::VoidHold {
                hold: self.hold_code(hold),
            }],
        };
        Ok(Request {
            idempotency_key: self.idempotency_key(settlement),
            actor: self.actor.clone(),
            memo: None,
            actions,
        })
    }
}

/// Tonnes as a whole decimal; fen as CNY at scale 2.
pub fn quantity(asset: Asset, amount: u64) -> Result<Quantity, BridgeError> {
    let units = i64::try_from(amount).map_err(|_| BridgeError::AmountOutOfRange(amount))?;
    Ok(Quantity(match asset {
        Asset::Rights(_) => Decimal::from(units),
        Asset::CashFen => Decimal::new(units, 2),
    }))
}

/// A ledger decimal back in market units, rounded down (a right of 12.345 t trades as 12 t;
/// negative balances, which only system accounts have, count as zero).
pub fn market_units(asset: Asset, value: Decimal) -> u64 {
    let scaled = match asset {
        Asset::Rights(_) => value,
        Asset::CashFen => value * Decimal::ONE_HUNDRED,
    };
    u64::try_from(scaled.floor()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use market::ids::{AuctionId, BidId, OrderId};

    fn mapping() -> LedgerMapping {
        let mut m = LedgerMapping::new("day-1", "market", "CNY").expect("mapping");
        m.map_account(AccountId(1), Party::Reserve).expect("bureau");
        m.map_account(AccountId(2), Party::Enterprise("E2".into()))
            .expect("e2");
        m.map_instrument(InstrumentId(7), "COD.x.2024")
            .expect("cod");
        m
    }

    #[test]
    fn hold_codes_are_ledger_codes_and_keys_are_stable() {
        let m = mapping();
        let hold = HoldId::AuctionBid {
            auction: AuctionId(u64::MAX),
            bid: BidId(u32::MAX),
        };
        let code = m.hold_code(hold);
        assert_eq!(code, format!("day-1.auction-bid.{}.{}", u64::MAX, u32::MAX));
        assert!(ledger::instrument::validate_code(&code).is_ok());
        let order = HoldId::Order {
            instrument: InstrumentId(u32::MAX),
            order: OrderId(u64::MAX),
        };
        assert!(ledger::instrument::validate_code(&m.hold_code(order)).is_ok());
        let place = Settlement::PlaceHold {
            hold,
            holder: AccountId(2),
            asset: Asset::CashFen,
            amount: 12_345,
        };
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let request = m.request(&place, at).expect("request");
        assert_eq!(request, m.request(&place, at).expect("again"));
        assert_eq!(
            request.idempotency_key,
            format!("day-1/place/mkt/auction-bid/{}/{}", u64::MAX, u32::MAX)
        );
        match &request.actions[..] {
            [Action::PlaceHold { amount, from, .. }] => {
                assert_eq!(amount.0.to_string(), "123.45");
                assert_eq!(from, &Party::Enterprise("E2".into()));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mapping_is_one_to_one_and_refuses_bad_names() {
        let mut m = mapping();
        assert!(m.map_account(AccountId(3), Party::Reserve).is_err());
        assert!(
            m.map_account(AccountId(2), Party::Enterprise("E3".into()))
                .is_err()
        );
        assert!(m.map_instrument(InstrumentId(8), "COD.x.2024").is_err());
        assert!(m.map_instrument(InstrumentId(8), "CNY").is_err());
        assert!(LedgerMapping::new("has.dot", "m", "CNY").is_err());
        assert!(LedgerMapping::new("seventeen-chars-x", "m", "CNY").is_err());
        assert!(matches!(
            m.party(AccountId(9)),
            Err(BridgeError::UnmappedAccount(AccountId(9)))
        ));
    }

    #[test]
    fn units_round_trip_and_round_down() {
        let cash = quantity(Asset::CashFen, 1).expect("fen");
        assert_eq!(cash.0.to_string(), "0.01");
        assert_eq!(market_units(Asset::CashFen, cash.0), 1);
        let rights = Asset::Rights(InstrumentId(7));
        assert_eq!(market_units(rights, Decimal::new(12_345, 3)), 12);
        assert_eq!(market_units(rights, Decimal::new(-5, 0)), 0);
        assert!(quantity(Asset::CashFen, u64::MAX).is_err());
    }
}
