//! Market-clearing prices: year by year, or across years with banking (Hotelling).
//!
//! Every search is a bisection on a monotone predicate built from the exact aggregate
//! curves, run until the bracket is two adjacent doubles, then snapped to the step price
//! it straddles. Nothing is discretised, so linear, piecewise-linear and step curves are
//! solved exactly up to floating-point resolution.
//!
//! With banking, prices follow p_t = p0·(1+r)^t while the bank is above its lower bound.
//! The horizon splits into segments: in each, p0 is the smallest price that keeps the
//! bank within bounds in every remaining year, and the segment ends at the last year
//! where the bound binds (Hotelling with a non-negative bank; see the README).

use crate::error::{Result, ScenarioError};
use crate::market::YearMarket;
use crate::spec::PricePick;

/// Clearing of one year.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct YearPoint {
    pub price: f64,
    /// The clearing-price interval (equal to `price` unless a step leaves a flat stretch).
    pub price_low: f64,
    pub price_high: f64,
    /// Share taken of the steps sitting exactly at the price.
    pub theta: f64,
    /// Surplus at the price: withdrawn at a hard floor, lapsed at a zero price without banking.
    pub surplus_t: f64,
    /// Allowances sold at the ceiling.
    pub ceiling_sales_t: f64,
}

/// Settings shared by the solvers.
#[derive(Clone, Copy, Debug)]
pub struct SolverSettings {
    pub pick: PricePick,
    pub price_max: f64,
}

/// Smallest `x` in `[low, high]` with `pred(x)`, given `!pred(low)` and `pred(high)`.
fn threshold(mut low: f64, mut high: f64, pred: impl Fn(f64) -> bool) -> f64 {
    for _ in 0..2000 {
        let mid = low + (high - low) / 2.0;
        if mid <= low || mid >= high {
            break;
        }
        if pred(mid) {
            high = mid;
        } else {
            low = mid;
        }
    }
    high
}

fn pick(settings: SolverSettings, low: f64, high: f64) -> f64 {
    match settings.pick {
        PricePick::Lower => low,
        PricePick::Upper => high,
        PricePick::Midpoint => low + (high - low) / 2.0,
    }
}

/// Tie fraction that makes `net` zero between its one-sided limits.
fn tie_fraction(lower: f64, upper: f64) -> f64 {
    if lower >= 0.0 {
        0.0
    } else if upper <= 0.0 {
        1.0
    } else {
        (-lower / (upper - lower)).clamp(0.0, 1.0)
    }
}

/// Clears one year on its own (no banking).
pub fn solve_year(
    market: &YearMarket,
    auction_t: f64,
    settings: SolverSettings,
    year: i32,
) -> Result<YearPoint> {
    let upper = |p: f64| market.net_upper_t(p, auction_t);
    let lower = |p: f64| market.net_lower_t(p, auction_t);
    let bottom = market.floor;
    let top = market.ceiling.min(settings.price_max);
    if upper(top) < 0.0 {
        if market.ceiling > settings.price_max {
            return Err(ScenarioError::Infeasible {
                year,
                price_max: settings.price_max,
            });
        }
        // Short even at the ceiling: the ceiling sells the difference.
        return Ok(YearPoint {
            price: market.ceiling,
            price_low: market.ceiling,
            price_high: market.ceiling,
            theta: 1.0,
            surplus_t: 0.0,
            ceiling_sales_t: -upper(market.ceiling),
        });
    }
    let price_low = if upper(bottom) >= 0.0 {
        bottom
    } else {
        market.snap(threshold(bottom, top, |p| upper(p) >= 0.0))
    };
    let price_high = if lower(price_low) > 0.0 {
        price_low
    } else if lower(top) <= 0.0 {
        top
    } else {
        market.snap(threshold(price_low, top, |p| lower(p) > 0.0))
    };
    let price = pick(settings, price_low, price_high);
    let theta = tie_fraction(lower(price), upper(price));
    Ok(YearPoint {
        price,
        price_low,
        price_high,
        theta,
        surplus_t: market.net_t(price, theta, auction_t).max(0.0),
        ceiling_sales_t: 0.0,
    })
}

/// Banking rules in solver form.
#[derive(Clone, Copy, Debug)]
pub struct BankRules {
    pub discount_rate: f64,
    pub initial_bank_t: f64,
    /// Lowest bank allowed before the last year (−∞ for unlimited borrowing).
    pub bank_min_t: f64,
}

/// One year's net flow under banking when the Hotelling price is `raw`.
///
/// At a hard floor the year's surplus is withdrawn and at the ceiling its shortfall is
/// sold, so a year pinned at a bound passes the bank through (README, "price controls").
fn banked_net(
    market: &YearMarket,
    raw: f64,
    side: f64,
    auction_t: f64,
    price_max: f64,
) -> (f64, f64) {
    let top = market.ceiling.min(price_max);
    if market.floor > 0.0 && raw <= market.floor {
        let price = market.floor;
        (price, market.net_t(price, side, auction_t).min(0.0))
    } else if raw >= top {
        (top, market.net_t(top, side, auction_t).max(0.0))
    } else {
        (raw, market.net_t(raw, side, auction_t))
    }
}

/// Clears all years jointly with banking (and borrowing if `bank_min_t < 0`).
pub fn solve_banked(
    markets: &[YearMarket],
    auction_t: &[f64],
    rules: BankRules,
    settings: SolverSettings,
    years: &[i32],
) -> Result<Vec<YearPoint>> {
    let count = markets.len();
    let growth: Vec<f64> = (0..count)
        .map(|t| (1.0 + rules.discount_rate).powi(t as i32))
        .collect();
    let bound = |t: usize| {
        if t + 1 == count {
            0.0
        } else {
            rules.bank_min_t
        }
    };
    let mut points = vec![YearPoint::default(); count];
    let mut start = 0;
    let mut bank_t = rules.initial_bank_t;
    while start < count {
        let scale: f64 = markets[start..]
            .iter()
            .map(|m| m.baseline_t + m.free_t)
            .sum::<f64>()
            .max(1.0);
        // Binding years are recognised within `tolerance_t`; feasibility and flat price
        // stretches use the much tighter `exact_t` (rounding of the bank sums only), so the
        // bank ends at its bound and no spurious price interval appears.
        let tolerance_t = 1e-9 * scale;
        let exact_t = 1e-13 * scale;
        // Bank at the end of each year of the segment at p0, on one side of the ties.
        let banks = |p0: f64, side: f64| -> Vec<f64> {
            let mut bank = bank_t;
            (start..count)
                .map(|t| {
                    bank += banked_net(
                        &markets[t],
                        p0 * growth[t],
                        side,
                        auction_t[t],
                        settings.price_max,
                    )
                    .1;
                    bank
                })
                .collect()
        };
        let feasible = |p0: f64| {
            banks(p0, 1.0)
                .iter()
                .enumerate()
                .all(|(i, b)| *b >= bound(start + i) - exact_t)
        };
        let top = settings.price_max / growth[start];
        let p0_low = if feasible(0.0) {
            0.0
        } else {
            if !feasible(top) {
                return Err(ScenarioError::Infeasible {
                    year: years[start],
                    price_max: settings.price_max,
                });
            }
            threshold(0.0, top, feasible)
        };
        // The segment ends at the last year whose bound binds at p0; steps exactly at the
        // price are taken with the smallest share that keeps every year within bounds.
        let (binding, _) = segment_end(
            &banks(p0_low, 0.0),
            &banks(p0_low, 1.0),
            |i| bound(start + i),
            tolerance_t,
        );
        let end = if p0_low == 0.0 {
            count - 1
        } else {
            start + binding
        };
        let limit = bound(end);
        let p0_high = if p0_low == 0.0 || banks(p0_low, 0.0)[binding] > limit + exact_t {
            p0_low
        } else if banks(top, 0.0)[binding] <= limit + exact_t {
            top
        } else {
            threshold(p0_low, top, |p0| banks(p0, 0.0)[binding] > limit + exact_t)
        };
        let p0 = pick(settings, p0_low, p0_high);
        let theta = if p0 == 0.0 {
            0.0
        } else {
            let (lower, upper) = (banks(p0, 0.0), banks(p0, 1.0));
            let (_, theta) = segment_end(
                &lower[..=binding],
                &upper[..=binding],
                |i| bound(start + i),
                tolerance_t,
            );
            theta
        };
        for t in start..=end {
            let market = &markets[t];
            let (raw_price, net) = banked_net(
                market,
                p0 * growth[t],
                theta,
                auction_t[t],
                settings.price_max,
            );
            let price = market.snap(raw_price);
            let full = market.net_t(price, theta, auction_t[t]);
            points[t] = YearPoint {
                price,
                price_low: market
                    .snap(banked_net(market, p0_low * growth[t], 0.0, 0.0, settings.price_max).0),
                price_high: market
                    .snap(banked_net(market, p0_high * growth[t], 0.0, 0.0, settings.price_max).0),
                theta,
                surplus_t: (full - net).max(0.0),
                ceiling_sales_t: (net - full).max(0.0),
            };
            bank_t += net;
        }
        // Reaching `price_max` where no ceiling sells allowances means nothing clears.
        if let Some(t) = (start..=end)
            .find(|&t| points[t].price >= settings.price_max && markets[t].ceiling.is_infinite())
        {
            return Err(ScenarioError::Infeasible {
                year: years[t],
                price_max: settings.price_max,
            });
        }
        start = end + 1;
    }
    Ok(points)
}

/// Given end-of-year banks without (`lower`) and with (`upper`) the steps at the price,
/// returns the offset of the segment's last binding year and the tie share: the largest
/// share any year needs to stay within its bound (the bank only grows with the share).
fn segment_end(
    lower: &[f64],
    upper: &[f64],
    bound: impl Fn(usize) -> f64,
    tolerance_t: f64,
) -> (usize, f64) {
    let mut theta = 0.0;
    let mut end = None;
    for (i, (low, high)) in lower.iter().zip(upper).enumerate() {
        let gap = low - bound(i);
        if gap < -tolerance_t {
            let span = high - low;
            let needed = if span > 0.0 {
                (-gap / span).clamp(0.0, 1.0)
            } else {
                1.0
            };
            if needed > theta + 1e-12 {
                theta = needed;
                end = Some(i);
            } else if needed >= theta - 1e-12 {
                end = Some(i);
            }
        }
    }
    if let Some(end) = end {
        return (end, theta);
    }
    let gaps: Vec<f64> = lower
        .iter()
        .enumerate()
        .map(|(i, b)| b - bound(i))
        .collect();
    let smallest = gaps.iter().copied().fold(f64::INFINITY, f64::min);
    let end = gaps
        .iter()
        .rposition(|g| *g <= smallest.max(0.0) + tolerance_t)
        .unwrap_or(lower.len().saturating_sub(1));
    (end, 0.0)
}
