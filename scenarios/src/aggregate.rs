//! The aggregate abatement curve of one year: all firms' pieces merged and sorted once,
//! then evaluated at any price in O(log n).
//!
//! Ramps form a continuous piecewise-linear function (sorted breakpoints with the level
//! and slope after each); jumps are kept apart with prefix sums so that the two one-sided
//! limits at a step price, `lower_t` and `upper_t`, are exact. This is what makes the
//! equilibrium exact for linear, piecewise-linear and step curves.

use crate::curve::{Piece, price_tolerance};

#[derive(Clone, Debug, Default)]
pub struct AggregateCurve {
    ramp_prices: Vec<f64>,
    ramp_levels_t: Vec<f64>,
    ramp_slopes_t_per_price: Vec<f64>,
    jump_prices: Vec<f64>,
    /// `jump_prefix_t[k]` = total of jumps `0..k`; one longer than `jump_prices`.
    jump_prefix_t: Vec<f64>,
}

impl AggregateCurve {
    /// Builds from pieces; ramps and jumps in any order.
    pub fn from_pieces(pieces: impl IntoIterator<Item = Piece>) -> Self {
        let mut ramp_events: Vec<(f64, f64)> = Vec::new();
        let mut jumps: Vec<(f64, f64)> = Vec::new();
        for piece in pieces {
            match piece {
                Piece::Ramp {
                    price_start,
                    price_end,
                    quantity_t,
                } => {
                    let slope = quantity_t / (price_end - price_start);
                    ramp_events.push((price_start, slope));
                    ramp_events.push((price_end, -slope));
                }
                Piece::Jump { price, quantity_t } => jumps.push((price, quantity_t)),
            }
        }
        ramp_events.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
        jumps.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));

        let mut curve = AggregateCurve::default();
        let mut level = 0.0;
        let mut slope = 0.0;
        let mut previous = f64::NEG_INFINITY;
        for (index, &(price, delta)) in ramp_events.iter().enumerate() {
            if price == previous {
                slope += delta;
                if let Some(last) = curve.ramp_slopes_t_per_price.last_mut() {
                    *last = slope;
                }
            } else {
                if index > 0 {
                    level += slope * (price - previous);
                }
                slope += delta;
                curve.ramp_prices.push(price);
                curve.ramp_levels_t.push(level);
                curve.ramp_slopes_t_per_price.push(slope);
                previous = price;
            }
        }
        // Every ramp has ended after the last event; cancel the rounding residue of the
        // running slope sum so that very high prices do not drift.
        if let Some(last) = curve.ramp_slopes_t_per_price.last_mut() {
            *last = 0.0;
        }
        curve.jump_prefix_t.push(0.0);
        let mut total = 0.0;
        for (price, quantity) in jumps {
            total += quantity;
            curve.jump_prices.push(price);
            curve.jump_prefix_t.push(total);
        }
        curve
    }

    fn ramp_t(&self, price: f64) -> f64 {
        let k = self.ramp_prices.partition_point(|&p| p <= price);
        if k == 0 {
            return 0.0;
        }
        self.ramp_levels_t[k - 1]
            + self.ramp_slopes_t_per_price[k - 1] * (price - self.ramp_prices[k - 1])
    }

    /// Abatement at `price` counting none of the steps at the price (left limit).
    pub fn lower_t(&self, price: f64) -> f64 {
        let limit = price - price_tolerance(price);
        let k = self.jump_prices.partition_point(|&p| p < limit);
        self.ramp_t(price) + self.jump_prefix_t[k]
    }

    /// Abatement at `price` counting all of the steps at the price (right limit).
    pub fn upper_t(&self, price: f64) -> f64 {
        let limit = price + price_tolerance(price);
        let k = self.jump_prices.partition_point(|&p| p <= limit);
        self.ramp_t(price) + self.jump_prefix_t[k]
    }

    /// The step price within tolerance of `price`, if any, so reported prices are the
    /// step costs themselves rather than a bisection's neighbour of them.
    pub fn snap(&self, price: f64) -> Option<f64> {
        let tolerance = 2.0 * price_tolerance(price);
        let k = self.jump_prices.partition_point(|&p| p < price - tolerance);
        self.jump_prices
            .get(k)
            .copied()
            .filter(|&p| (p - price).abs() <= tolerance)
    }

    /// Breakpoints (ramp ends and steps) for plotting the aggregate MAC.
    pub fn breakpoints(&self) -> Vec<f64> {
        let mut prices: Vec<f64> = self
            .ramp_prices
            .iter()
            .chain(self.jump_prices.iter())
            .copied()
            .collect();
        prices.sort_unstable_by(f64::total_cmp);
        prices.dedup();
        prices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_differ_only_at_steps() {
        let curve = AggregateCurve::from_pieces([
            Piece::Ramp {
                price_start: 0.0,
                price_end: 10.0,
                quantity_t: 10.0,
            },
            Piece::Jump {
                price: 5.0,
                quantity_t: 3.0,
            },
        ]);
        assert!((curve.lower_t(5.0) - 5.0).abs() < 1e-12);
        assert!((curve.upper_t(5.0) - 8.0).abs() < 1e-12);
        assert!((curve.upper_t(20.0) - 13.0).abs() < 1e-12);
        assert_eq!(curve.snap(5.0 + 1e-12), Some(5.0));
    }
}
