//! Market units ↔ the API's: ticks and lots ↔ CNY per tonne and tonnes, market timestamps ↔
//! UTC times, market sides ↔ [`SideBody`].

use chrono::{DateTime, Utc};
use market::{InstrumentSpec, Side, Timestamp};
use rust_decimal::Decimal;

use super::types::SideBody;
use crate::state::AppState;

/// The market's time: the ledger's clock, in the engine's milliseconds.
pub(super) fn now(state: &AppState) -> Timestamp {
    Timestamp(state.now().timestamp_millis())
}

pub(super) fn time_of(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.0).unwrap_or_default()
}

/// CNY per tonne, always with its two decimal places.
pub(super) fn price(spec: &InstrumentSpec, ticks: u64) -> Decimal {
    let mut value = spec.price_cny_per_t(ticks);
    value.rescale(2);
    value
}

pub(super) fn tonnes(spec: &InstrumentSpec, lots: u64) -> Decimal {
    Decimal::from(lots.saturating_mul(spec.lot_t))
}

pub(super) fn side_body(side: Side) -> SideBody {
    match side {
        Side::Buy => SideBody::Buy,
        Side::Sell => SideBody::Sell,
    }
}
