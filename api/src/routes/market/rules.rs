//! Market rules the bureau sets at run time: holding limits, daily purchase limits and price
//! bands, each logged as a market command with who set it, when and why, and listed with its
//! history. A limit given as a share of the instrument's circulation (what enterprises hold,
//! on hold included; not the bureau's reserve) is converted to whole tonnes when it is set,
//! rounded down. Limits apply at once, bands from the next day's close. Lifting an
//! enterprise's limit lifts its own: the default for all, if one is set, applies to it again.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use exchange::durable::{MarketCommand, RuleNote};
use exchange::{CommandOutcome, DurableMarket};
use ledger::AccountKind;
use ledger::text::{Form, REASON_CHARS_MAX, check_text};
use market::AccountId;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::command::{Open, Planned, execute};
use super::lookup::code_of;
use super::units::{now, time_of};
use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, IdempotencyKey};
use crate::keys::Role;
use crate::services::market::{account_of, instrument_of, party_name};
use crate::state::AppState;

/// Which rule a body sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Most an enterprise may hold of the instrument, counting open purchases.
    HoldingLimit,
    /// Most an enterprise may buy of the instrument in one trading day.
    PurchaseLimit,
    /// The price bands around the previous close.
    Bands,
}

/// A market rule set by the bureau. Limits take `limit_t` or `limit_share_pct` (or `lift`),
/// for one `enterprise` or, without it, for every enterprise; bands take both percentages.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarketRuleBody {
    pub rule: RuleKind,
    /// Ledger code of a listed instrument.
    pub instrument: String,
    /// Limits: the enterprise (credit code) the limit is for; absent: the default for all.
    #[serde(default)]
    pub enterprise: Option<String>,
    /// Limits: the limit in whole tonnes.
    #[serde(default)]
    pub limit_t: Option<u64>,
    /// Limits: the limit as a percentage (at most two decimals) of the instrument's units
    /// enterprises hold now (on hold included), converted to whole tonnes (rounded down).
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub limit_share_pct: Option<Decimal>,
    /// Limits: lift the limit instead of setting one (an enterprise's own; the default, if
    /// set, then applies to it).
    #[serde(default)]
    pub lift: bool,
    /// Bands: orders in the book within ± this percentage of the previous close (from the
    /// next day's close, like the block band).
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub regular_band_pct: Option<Decimal>,
    /// Bands: block trades within ± this percentage of the previous close.
    #[serde(default, with = "ledger::amount::plain_option")]
    #[schema(value_type = Option<String>)]
    pub block_band_pct: Option<Decimal>,
    /// Why the rule is set: kept in its history.
    pub reason: String,
}

/// One rule as set, with who set it, when and why.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MarketRuleRecord {
    pub rule: RuleKind,
    pub instrument: String,
    /// Limits: the enterprise; absent: the default for every enterprise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise: Option<String>,
    /// Limits: the limit in tonnes; absent: lifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_t: Option<u64>,
    /// Bands: in percent of the previous close.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regular_band_pct: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_band_pct: Option<String>,
    /// Who set it (the key's role and id), when, and why.
    pub by: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

/// The rules in force and how they came to be.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MarketRulesBody {
    /// Every rule set through this API, oldest first (the last one per rule, instrument and
    /// enterprise is in force).
    pub history: Vec<MarketRuleRecord>,
}

/// Set a market rule (bureau): a holding or daily purchase limit, or the price bands.
#[utoipa::path(
    post, path = "/v1/market/rules", tag = "market",
    request_body = MarketRuleBody,
    params(("Idempotency-Key" = String, Header, description = "Chosen by the client, reused on retry")),
    responses(
        (status = 201, body = MarketRuleRecord),
        (status = "4XX", description = "Refused; nothing was written", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn post_rule(
    State(state): State<AppState>,
    caller: Caller,
    key: IdempotencyKey,
    ApiJson(body): ApiJson<MarketRuleBody>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Bureau], "setting a market rule")?;
    check_shape(&body)?;
    let share_base_t = match body.limit_share_pct {
        Some(_) => Some(circulation_t(&state, &body.instrument).await?),
        None => None,
    };
    let note = RuleNote {
        by: caller.actor(),
        reason: body.reason.clone(),
        at: now(&state),
    };
    execute(
        &state,
        &caller,
        key,
        &body,
        Open::Existing,
        async |market| {
            let command = rule_command(market, &body, share_base_t, note)?;
            Ok(Planned::new(command, ()))
        },
        // The rule as logged (a retry finds the first outcome under its key).
        |market, outcome, ()| match outcome {
            CommandOutcome::RuleSet { rule } => record(market, &rule)
                .ok_or_else(|| ApiError::Internal("a rule was logged without its note".into())),
            other => Err(ApiError::Internal(format!("a rule answered {other:?}"))),
        },
    )
    .await
}

/// The market's rules with their history (everyone: the rules bind every trader).
#[utoipa::path(
    get, path = "/v1/market/rules", tag = "market",
    responses(
        (status = 200, body = MarketRulesBody),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
pub(super) async fn get_rules(
    State(state): State<AppState>,
    _caller: Caller,
) -> Result<Json<MarketRulesBody>, ApiError> {
    let market = match state.market().lock(false).await {
        Ok(market) => market,
        Err(ApiError::NotFound(_)) => return Ok(Json(MarketRulesBody { history: vec![] })),
        Err(e) => return Err(e),
    };
    let history = market.rule_log().iter();
    let history = history.filter_map(|c| record(&market, c)).collect();
    Ok(Json(MarketRulesBody { history }))
}

/// Refuses fields that do not belong to the body's rule, and a limit given twice or not at all.
fn check_shape(body: &MarketRuleBody) -> Result<(), ApiError> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::field("reason", "say why the rule is set"));
    }
    check_text(&body.reason, REASON_CHARS_MAX, Form::Prose)
        .map_err(|problem| ApiError::field("reason", problem.to_string()))?;
    let misplaced =
        |field: &str, what: &str| ApiError::field(field, format!("does not apply to {what}"));
    match body.rule {
        RuleKind::Bands => {
            if body.enterprise.is_some() {
                return Err(misplaced("enterprise", "bands, which bind everyone"));
            }
            if body.limit_t.is_some() || body.limit_share_pct.is_some() || body.lift {
                return Err(misplaced("limit_t", "bands"));
            }
            for (field, value) in [
                ("regular_band_pct", body.regular_band_pct),
                ("block_band_pct", body.block_band_pct),
            ] {
                if value.is_none() {
                    return Err(ApiError::field(field, "bands need both percentages"));
                }
            }
        }
        RuleKind::HoldingLimit | RuleKind::PurchaseLimit => {
            if body.regular_band_pct.is_some() || body.block_band_pct.is_some() {
                return Err(misplaced("regular_band_pct", "limits"));
            }
            let given = [
                body.limit_t.is_some(),
                body.limit_share_pct.is_some(),
                body.lift,
            ];
            if given.iter().filter(|&&g| g).count() != 1 {
                return Err(ApiError::field(
                    "limit_t",
                    "give exactly one of limit_t, limit_share_pct or lift: true",
                ));
            }
        }
    }
    Ok(())
}

/// The instrument's units in enterprises' hands (their holdings and what is on hold from
/// them, in escrow), in whole tonnes rounded down: not the reserve, nor what was retired.
async fn circulation_t(state: &AppState, instrument: &str) -> Result<u64, ApiError> {
    let balances = state.ledger().store().positive_balances(instrument).await?;
    let circulating = balances
        .iter()
        .filter(|b| matches!(b.kind, AccountKind::Holding | AccountKind::Escrow));
    let total: Decimal = circulating.map(|b| b.balance).sum();
    Ok(u64::try_from(total.floor().mantissa()).unwrap_or(u64::MAX))
}

/// The command the body asks for (its shape already checked).
fn rule_command(
    market: &mut DurableMarket,
    body: &MarketRuleBody,
    share_base_t: Option<u64>,
    note: RuleNote,
) -> Result<MarketCommand, ApiError> {
    let instrument = instrument_of(market, &body.instrument)?;
    if body.rule == RuleKind::Bands {
        return Ok(MarketCommand::SetBands {
            instrument,
            regular_band_bp: basis_points("regular_band_pct", body.regular_band_pct)?,
            block_band_bp: basis_points("block_band_pct", body.block_band_pct)?,
            note: Some(note),
        });
    }
    let account = match &body.enterprise {
        Some(code) => Some(account_of(market, code)?),
        None => None,
    };
    let limit_t = match (body.limit_t, body.limit_share_pct, share_base_t) {
        (Some(limit_t), _, _) => Some(limit_t),
        (None, Some(pct), Some(base_t)) => Some(share_of(pct, base_t)?),
        _ => None,
    };
    Ok(match body.rule {
        RuleKind::HoldingLimit => MarketCommand::SetHoldingLimit {
            instrument,
            account,
            limit_t,
            note: Some(note),
        },
        _ => MarketCommand::SetPurchaseLimit {
            instrument,
            account,
            limit_t,
            note: Some(note),
        },
    })
}

/// A percentage with at most two decimals, below 100, as basis points.
fn basis_points(field: &str, pct: Option<Decimal>) -> Result<u64, ApiError> {
    let pct = pct.ok_or_else(|| ApiError::field(field, "is required"))?;
    // Checked: a huge percentage must be refused, not overflow.
    let bp = pct
        .checked_mul(Decimal::ONE_HUNDRED)
        .unwrap_or(Decimal::MAX);
    if pct <= Decimal::ZERO || pct >= Decimal::ONE_HUNDRED || bp.fract() != Decimal::ZERO {
        return Err(ApiError::field(
            field,
            "must be above 0 and below 100, with at most two decimals",
        ));
    }
    Ok(u64::try_from(bp.mantissa() / 10_i128.pow(bp.scale())).unwrap_or(u64::MAX))
}

/// `pct` percent of `base_t` tonnes, rounded down to whole tonnes.
fn share_of(pct: Decimal, base_t: u64) -> Result<u64, ApiError> {
    let bp = basis_points("limit_share_pct", Some(pct))?;
    Ok(u64::try_from(u128::from(base_t) * u128::from(bp) / 10_000).unwrap_or(u64::MAX))
}

/// A logged rule command as the API shows it.
fn record(market: &DurableMarket, command: &MarketCommand) -> Option<MarketRuleRecord> {
    let pct = |bp: u64| {
        (Decimal::from(bp) / Decimal::ONE_HUNDRED)
            .normalize()
            .to_string()
    };
    let (rule, instrument, account, limit_t, bands, note) = match command {
        MarketCommand::SetHoldingLimit {
            instrument,
            account,
            limit_t,
            note,
        } => (
            RuleKind::HoldingLimit,
            instrument,
            account,
            *limit_t,
            None,
            note,
        ),
        MarketCommand::SetPurchaseLimit {
            instrument,
            account,
            limit_t,
            note,
        } => (
            RuleKind::PurchaseLimit,
            instrument,
            account,
            *limit_t,
            None,
            note,
        ),
        MarketCommand::SetBands {
            instrument,
            regular_band_bp,
            block_band_bp,
            note,
        } => (
            RuleKind::Bands,
            instrument,
            &None,
            None,
            Some((*regular_band_bp, *block_band_bp)),
            note,
        ),
        _ => return None,
    };
    let note = note.clone()?;
    Some(MarketRuleRecord {
        rule,
        instrument: code_of(market, *instrument),
        enterprise: account.map(|a: AccountId| party_name(market, a)),
        limit_t,
        regular_band_pct: bands.map(|(regular, _)| pct(regular)),
        block_band_pct: bands.map(|(_, block)| pct(block)),
        by: note.by,
        at: time_of(note.at),
        reason: note.reason,
    })
}
