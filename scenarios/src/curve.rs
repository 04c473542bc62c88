//! Marginal abatement cost curves, reduced to ordered pieces.
//!
//! Every curve, for one firm-year, is a sequence of pieces in increasing marginal cost:
//! a *ramp* spreads `quantity_t` evenly over the price interval `[price_start, price_end]`
//! (a linear MAC segment) and a *jump* offers `quantity_t` at one price (a step). The
//! aggregate curve, a firm's response to a price and its abatement cost all derive from
//! the same pieces, so the market totals and the firm rows agree by construction.

/// Relative width within which two prices count as equal. Steps closer than this merge;
/// it is the only tolerance in the price logic and both the aggregate and firm responses
/// use it, which keeps them consistent at step prices.
pub const PRICE_TOLERANCE_RELATIVE: f64 = 1e-10;

/// Absolute price tolerance around `price`.
#[inline]
pub fn price_tolerance(price: f64) -> f64 {
    PRICE_TOLERANCE_RELATIVE * price.abs().max(1.0)
}

/// Share of a jump at `jump_price` taken at `price`: all of it below, none above, and
/// `theta` (the market's tie fraction) when the two prices coincide.
#[inline]
pub fn jump_share(jump_price: f64, price: f64, theta: f64) -> f64 {
    let tolerance = price_tolerance(price);
    if jump_price < price - tolerance {
        1.0
    } else if jump_price <= price + tolerance {
        theta
    } else {
        0.0
    }
}

/// One piece of a curve, in the firm-year's own prices (already scaled).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Piece {
    Ramp {
        price_start: f64,
        price_end: f64,
        quantity_t: f64,
    },
    Jump {
        price: f64,
        quantity_t: f64,
    },
}

/// A validated MAC curve. Quantities are tonnes unless `share` says shares of baseline.
#[derive(Clone, Debug, PartialEq)]
pub enum Curve {
    /// MAC(a) = intercept + slope·a on [0, max_t]; slope 0 makes it a single step.
    Linear {
        intercept: f64,
        slope: f64,
        max_t: f64,
    },
    /// Points (abatement_t, mac), abatement strictly increasing from 0, MAC non-decreasing.
    Piecewise { points: Vec<(f64, f64)> },
    /// Steps (quantity, cost) sorted by cost.
    Steps { steps: Vec<(f64, f64)>, share: bool },
}

impl Curve {
    /// Calls `visit` with each piece, in increasing price, for a firm-year with baseline
    /// `baseline_t` and cost multiplier `mac_scale`. Abatement stops at the baseline:
    /// a firm cannot cut more than it emits.
    pub fn for_each_piece(&self, baseline_t: f64, mac_scale: f64, mut visit: impl FnMut(Piece)) {
        let mut room_t = baseline_t.max(0.0);
        let mut push = |piece: Piece, room_t: &mut f64| {
            if *room_t <= 0.0 {
                return;
            }
            match piece {
                Piece::Ramp {
                    price_start,
                    price_end,
                    quantity_t,
                } => {
                    let kept_t = quantity_t.min(*room_t);
                    if kept_t <= 0.0 {
                        return;
                    }
                    let end = price_start + (price_end - price_start) * (kept_t / quantity_t);
                    *room_t -= kept_t;
                    // A ramp narrower than the price tolerance is a step for all purposes.
                    if end - price_start <= price_tolerance(end) {
                        visit(Piece::Jump {
                            price: price_start,
                            quantity_t: kept_t,
                        });
                    } else {
                        visit(Piece::Ramp {
                            price_start,
                            price_end: end,
                            quantity_t: kept_t,
                        });
                    }
                }
                Piece::Jump { price, quantity_t } => {
                    let kept_t = quantity_t.min(*room_t);
                    if kept_t > 0.0 {
                        *room_t -= kept_t;
                        visit(Piece::Jump {
                            price,
                            quantity_t: kept_t,
                        });
                    }
                }
            }
        };
        match self {
            Curve::Linear {
                intercept,
                slope,
                max_t,
            } => {
                // Clip before computing the end price: `max_t` may be infinite.
                let kept_t = max_t.min(room_t);
                push(
                    Piece::Ramp {
                        price_start: mac_scale * intercept,
                        price_end: mac_scale * (intercept + slope * kept_t),
                        quantity_t: kept_t,
                    },
                    &mut room_t,
                );
            }
            Curve::Piecewise { points } => {
                for pair in points.windows(2) {
                    let (a0, m0) = pair[0];
                    let (a1, m1) = pair[1];
                    push(
                        Piece::Ramp {
                            price_start: mac_scale * m0,
                            price_end: mac_scale * m1,
                            quantity_t: a1 - a0,
                        },
                        &mut room_t,
                    );
                }
            }
            Curve::Steps { steps, share } => {
                for &(quantity, cost) in steps {
                    let quantity_t = if *share {
                        quantity * baseline_t
                    } else {
                        quantity
                    };
                    push(
                        Piece::Jump {
                            price: mac_scale * cost,
                            quantity_t,
                        },
                        &mut room_t,
                    );
                }
            }
        }
    }

    /// Abatement at `price`, taking share `theta` of steps exactly at the price.
    pub fn response_t(&self, baseline_t: f64, mac_scale: f64, price: f64, theta: f64) -> f64 {
        let mut total_t = 0.0;
        self.for_each_piece(baseline_t, mac_scale, |piece| {
            total_t += match piece {
                Piece::Ramp {
                    price_start,
                    price_end,
                    quantity_t,
                } => {
                    quantity_t * ((price - price_start) / (price_end - price_start)).clamp(0.0, 1.0)
                }
                Piece::Jump {
                    price: at,
                    quantity_t,
                } => quantity_t * jump_share(at, price, theta),
            };
        });
        total_t
    }

    /// Cost of abating `abatement_t`, filling pieces in order of marginal cost.
    pub fn cost(&self, baseline_t: f64, mac_scale: f64, abatement_t: f64) -> f64 {
        let mut left_t = abatement_t.max(0.0);
        let mut cost = 0.0;
        self.for_each_piece(baseline_t, mac_scale, |piece| {
            if left_t <= 0.0 {
                return;
            }
            match piece {
                Piece::Ramp {
                    price_start,
                    price_end,
                    quantity_t,
                } => {
                    let x = left_t.min(quantity_t);
                    // Area under a linear MAC from 0 to x.
                    cost +=
                        price_start * x + (price_end - price_start) * x * x / (2.0 * quantity_t);
                    left_t -= x;
                }
                Piece::Jump { price, quantity_t } => {
                    let x = left_t.min(quantity_t);
                    cost += price * x;
                    left_t -= x;
                }
            }
        });
        cost
    }

    /// Largest abatement the firm can do in a year with this baseline.
    pub fn potential_t(&self, baseline_t: f64) -> f64 {
        let mut total_t = 0.0;
        self.for_each_piece(baseline_t, 1.0, |piece| {
            total_t += match piece {
                Piece::Ramp { quantity_t, .. } | Piece::Jump { quantity_t, .. } => quantity_t,
            };
        });
        total_t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_response_and_cost_match_textbook() {
        let curve = Curve::Linear {
            intercept: 0.0,
            slope: 0.05,
            max_t: 50.0,
        };
        assert!((curve.response_t(50.0, 1.0, 2.0, 0.0) - 40.0).abs() < 1e-9);
        assert!((curve.cost(50.0, 1.0, 40.0) - 40.0).abs() < 1e-9);
    }

    #[test]
    fn abatement_stops_at_baseline() {
        let curve = Curve::Steps {
            steps: vec![(0.6, 1.0), (0.6, 2.0)],
            share: true,
        };
        assert!((curve.potential_t(10.0) - 10.0).abs() < 1e-12);
        assert!((curve.response_t(10.0, 1.0, 5.0, 0.0) - 10.0).abs() < 1e-12);
        assert!((curve.response_t(10.0, 1.0, 2.0, 0.5) - 8.0).abs() < 1e-12);
    }
}
