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

use crate::curve::price_tolerance;
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

/// One year's price and net flow under banking when the Hotelling price is `raw`, with
/// share `side` of the ties taken.
///
/// Strictly below a hard floor the price is the floor and the year's whole surplus is
/// withdrawn; strictly above the ceiling the price is the ceiling and the whole shortfall
/// is sold, so such a year passes the bank through (README, "price controls"). Exactly at
/// a bound, the withdrawal or sale is a tie like a step: the bank keeps what it wants at
/// that price and only the rest is withdrawn (or bought at the ceiling).
fn banked_net(
    market: &YearMarket,
    raw: f64,
    side: f64,
    auction_t: f64,
    price_max: f64,
) -> (f64, f64) {
    let top = market.ceiling.min(price_max);
    let floor = market.floor;
    let between = |lower: f64, upper: f64| lower + side * (upper - lower);
    if floor > 0.0 && raw <= floor + price_tolerance(floor) {
        let (lower, upper) = (
            market.net_lower_t(floor, auction_t),
            market.net_upper_t(floor, auction_t),
        );
        let strictly_below = raw < floor - price_tolerance(floor);
        let upper = if strictly_below {
            upper.min(0.0)
        } else {
            upper
        };
        (floor, between(lower.min(0.0), upper))
    } else if top.is_finite() && raw >= top - price_tolerance(top) {
        let (lower, upper) = (
            market.net_lower_t(top, auction_t),
            market.net_upper_t(top, auction_t),
        );
        let strictly_above = raw > top + price_tolerance(top);
        let lower = if strictly_above {
            lower.max(0.0)
        } else {
            lower
        };
        (top, between(lower, upper.max(0.0)))
    } else {
        (raw, market.net_t(raw, side, auction_t))
    }
}

/// The years from `start` to the horizon, seen from an opening bank.
struct Segment<'a> {
    markets: &'a [YearMarket],
    auction_t: &'a [f64],
    growth: &'a [f64],
    start: usize,
    opening_bank_t: f64,
    bank_min_t: f64,
    price_max: f64,
}

impl Segment<'_> {
    /// Lowest bank allowed at the end of year `t`: the last year may not end borrowed.
    fn bound(&self, t: usize) -> f64 {
        if t + 1 == self.markets.len() {
            0.0
        } else {
            self.bank_min_t
        }
    }

    /// Bank at the end of each year from `start` at Hotelling price p0, on one side of the ties.
    fn banks(&self, p0: f64, side: f64) -> Vec<f64> {
        let mut bank = self.opening_bank_t;
        (self.start..self.markets.len())
            .map(|t| {
                let raw = p0 * self.growth[t];
                bank += banked_net(
                    &self.markets[t],
                    raw,
                    side,
                    self.auction_t[t],
                    self.price_max,
                )
                .1;
                bank
            })
            .collect()
    }

    fn feasible(&self, p0: f64, exact_t: f64) -> bool {
        self.banks(p0, 1.0)
            .iter()
            .enumerate()
            .all(|(i, b)| *b >= self.bound(self.start + i) - exact_t)
    }
}

/// How one segment clears: its last year, the Hotelling price interval, the pick and the tie share.
struct SegmentClearing {
    end: usize,
    p0_low: f64,
    p0_high: f64,
    p0: f64,
    theta: f64,
}

fn clear_segment(
    segment: &Segment<'_>,
    settings: SolverSettings,
    year: i32,
) -> Result<SegmentClearing> {
    let start = segment.start;
    let scale: f64 = segment.markets[start..]
        .iter()
        .map(|m| m.baseline_t + m.free_t)
        .sum::<f64>()
        .max(1.0);
    // Binding years are recognised within `tolerance_t`; feasibility and flat price
    // stretches use the much tighter `exact_t` (rounding of the bank sums only), so the
    // bank ends at its bound and no spurious price interval appears.
    let tolerance_t = 1e-9 * scale;
    let exact_t = 1e-13 * scale;
    let top = settings.price_max / segment.growth[start];
    let p0_low = if segment.feasible(0.0, exact_t) {
        0.0
    } else if segment.feasible(top, exact_t) {
        threshold(0.0, top, |p0| segment.feasible(p0, exact_t))
    } else {
        return Err(ScenarioError::Infeasible {
            year,
            price_max: settings.price_max,
        });
    };
    // The segment ends at the last year whose bound binds at p0; steps exactly at the
    // price are taken with the smallest share that keeps every year within bounds.
    let bound = |i: usize| segment.bound(start + i);
    let (binding, _) = segment_end(
        &segment.banks(p0_low, 0.0),
        &segment.banks(p0_low, 1.0),
        bound,
        tolerance_t,
    );
    let end = if p0_low == 0.0 {
        segment.markets.len() - 1
    } else {
        start + binding
    };
    let limit = segment.bound(end);
    let above = |p0: f64| segment.banks(p0, 0.0)[binding] > limit + exact_t;
    let p0_high = if p0_low == 0.0 || above(p0_low) {
        p0_low
    } else if !above(top) {
        top
    } else {
        threshold(p0_low, top, above)
    };
    let p0 = pick(settings, p0_low, p0_high);
    let theta = if p0 == 0.0 {
        0.0
    } else {
        let (lower, upper) = (segment.banks(p0, 0.0), segment.banks(p0, 1.0));
        segment_end(&lower[..=binding], &upper[..=binding], bound, tolerance_t).1
    };
    Ok(SegmentClearing {
        end,
        p0_low,
        p0_high,
        p0,
        theta,
    })
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
    let price_max = settings.price_max;
    let mut points = vec![YearPoint::default(); count];
    let mut start = 0;
    let mut bank_t = rules.initial_bank_t;
    while start < count {
        let segment = Segment {
            markets,
            auction_t,
            growth: &growth,
            start,
            opening_bank_t: bank_t,
            bank_min_t: rules.bank_min_t,
            price_max,
        };
        let clearing = clear_segment(&segment, settings, years[start])?;
        let theta = clearing.theta;
        for t in start..=clearing.end {
            let market = &markets[t];
            let price_at =
                |p0: f64| market.snap(banked_net(market, p0 * growth[t], 0.0, 0.0, price_max).0);
            let (raw_price, net) = banked_net(
                market,
                clearing.p0 * growth[t],
                theta,
                auction_t[t],
                price_max,
            );
            let price = market.snap(raw_price);
            let full = market.net_t(price, theta, auction_t[t]);
            // Reaching `price_max` where no ceiling sells allowances means nothing clears.
            if price >= price_max && market.ceiling.is_infinite() {
                return Err(ScenarioError::Infeasible {
                    year: years[t],
                    price_max,
                });
            }
            points[t] = YearPoint {
                price,
                price_low: price_at(clearing.p0_low),
                price_high: price_at(clearing.p0_high),
                theta,
                surplus_t: (full - net).max(0.0),
                ceiling_sales_t: (net - full).max(0.0),
            };
            bank_t += net;
        }
        start = clearing.end + 1;
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
