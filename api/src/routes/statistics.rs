//! Anonymised aggregates for economists (and the bureau): enterprise holdings per instrument by
//! district or by sector, with statistical disclosure control so that no enterprise can be
//! identified or its holding worked out:
//!
//! - a cell with fewer than [`CELL_HOLDERS_MIN`] holding enterprises is suppressed;
//! - a cell where one enterprise holds more than [`DOMINANCE_SHARE_PCT`] % is suppressed
//!   (dominance rule);
//! - if an instrument has exactly one suppressed cell, the next smallest cell is suppressed too
//!   (secondary suppression), since the instrument's total is published in `/v1/aggregates`
//!   and the single gap could be computed from it.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use ledger::AccountKind;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Caller;
use crate::error::{ApiError, Problem};
use crate::extract::ApiQuery;
use crate::keys::Role;
use crate::state::AppState;

/// Fewest holding enterprises a published cell may have.
pub const CELL_HOLDERS_MIN: usize = 3;
/// Largest share (per cent) of a published cell one enterprise may hold.
pub const DOMINANCE_SHARE_PCT: u32 = 85;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(holdings_by_group))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct GroupQuery {
    /// `district` (GB/T 2260 code) or `sector` (GB/T 4754 division: the first two digits of the
    /// principal industry class).
    pub by: String,
}

/// One published cell: an instrument in one district or sector.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupCell {
    pub instrument: String,
    pub group: String,
    /// Sum of the enterprises' holdings; absent when suppressed.
    pub held: Option<String>,
    /// Enterprises with a positive holding; absent when suppressed.
    pub holders: Option<usize>,
    /// True when the cell is withheld to protect an enterprise (see `suppression`).
    pub suppressed: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GroupAggregates {
    /// The journal head the figures are read at.
    pub head_seq: u64,
    pub by: String,
    /// The rules applied to every cell.
    pub suppression: String,
    pub cells: Vec<GroupCell>,
}

/// Enterprise holdings per instrument by district or sector, anonymised (bureau, economist).
#[utoipa::path(
    get, path = "/v1/statistics/holdings", tag = "reads",
    params(GroupQuery),
    responses(
        (status = 200, body = GroupAggregates),
        (status = "4XX", description = "Refused", body = Problem, content_type = "application/problem+json"),
    ),
    security(("api_key" = []))
)]
async fn holdings_by_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<GroupQuery>,
) -> Result<Json<GroupAggregates>, ApiError> {
    caller.require(
        &[Role::Bureau, Role::Economist],
        "reading anonymised aggregates",
    )?;
    let by_sector = match query.by.as_str() {
        "district" => false,
        "sector" => true,
        other => {
            return Err(ApiError::param(
                crate::error::Location::Query,
                "by",
                format!("{other:?}: group by `district` or `sector`"),
            ));
        }
    };
    let store = state.ledger().store();
    let (head_seq, _) = store.head().await?;
    let group_of: BTreeMap<String, String> = store
        .enterprises()
        .await?
        .into_iter()
        .map(|e| {
            let group = if by_sector {
                e.industry_codes
                    .first()
                    .map(|c| c.to_string().chars().take(2).collect())
                    .unwrap_or_else(|| "unknown".to_owned())
            } else {
                format!("{:06}", e.district.value())
            };
            (e.credit_code.to_string(), group)
        })
        .collect();
    // (instrument, group) -> holdings of each enterprise
    let mut cells: BTreeMap<(String, String), Vec<Decimal>> = BTreeMap::new();
    for balance in store.balances(None).await? {
        if balance.kind != AccountKind::Holding || balance.balance <= Decimal::ZERO {
            continue;
        }
        let Some(group) = group_of.get(&balance.owner) else {
            continue;
        };
        cells
            .entry((balance.instrument, group.clone()))
            .or_default()
            .push(balance.balance);
    }
    let out = anonymise(cells);
    Ok(Json(GroupAggregates {
        head_seq,
        by: query.by,
        suppression: format!(
            "cells with fewer than {CELL_HOLDERS_MIN} holders, or with one holder above {DOMINANCE_SHARE_PCT}% of the cell, are suppressed; when an instrument has one such cell, its next smallest cell is suppressed too"
        ),
        cells: out,
    }))
}

/// Applies the suppression rules to cells of per-enterprise holdings.
pub fn anonymise(cells: BTreeMap<(String, String), Vec<Decimal>>) -> Vec<GroupCell> {
    let dominance = Decimal::from(DOMINANCE_SHARE_PCT) / Decimal::from(100);
    let mut by_instrument: BTreeMap<String, Vec<(String, Decimal, usize, bool)>> = BTreeMap::new();
    for ((instrument, group), holdings) in cells {
        let total: Decimal = holdings.iter().copied().sum();
        let largest = holdings.iter().copied().max().unwrap_or_default();
        let suppressed = holdings.len() < CELL_HOLDERS_MIN || largest > total * dominance;
        by_instrument.entry(instrument).or_default().push((
            group,
            total,
            holdings.len(),
            suppressed,
        ));
    }
    let mut out = Vec::new();
    for (instrument, mut groups) in by_instrument {
        if groups.iter().filter(|g| g.3).count() == 1
            && let Some(next) = groups
                .iter_mut()
                .filter(|g| !g.3)
                .min_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)))
        {
            next.3 = true;
        }
        for (group, total, holders, suppressed) in groups {
            out.push(GroupCell {
                instrument: instrument.clone(),
                group,
                held: (!suppressed).then(|| total.to_string()),
                holders: (!suppressed).then_some(holders),
                suppressed,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(list: &[(&str, &[i64])]) -> BTreeMap<(String, String), Vec<Decimal>> {
        list.iter()
            .map(|(group, holdings)| {
                (
                    ("X".to_owned(), (*group).to_owned()),
                    holdings.iter().map(|h| Decimal::from(*h)).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn small_and_dominated_cells_are_suppressed_with_a_partner() {
        let out = anonymise(cells(&[
            ("a", &[10, 10, 10]),
            ("b", &[5, 5]),
            ("c", &[100, 1, 1]),
            ("d", &[20, 20, 20, 20]),
        ]));
        let hidden: Vec<&str> = out
            .iter()
            .filter(|c| c.suppressed)
            .map(|c| c.group.as_str())
            .collect();
        assert_eq!(hidden, ["b", "c"]);
        assert!(out.iter().all(|c| c.suppressed == c.held.is_none()));
    }

    #[test]
    fn a_single_suppressed_cell_takes_the_smallest_other_with_it() {
        let out = anonymise(cells(&[
            ("a", &[10, 10, 10]),
            ("b", &[5]),
            ("d", &[20, 20, 20, 20]),
        ]));
        let hidden: Vec<&str> = out
            .iter()
            .filter(|c| c.suppressed)
            .map(|c| c.group.as_str())
            .collect();
        assert_eq!(hidden, ["a", "b"]);
    }
}
