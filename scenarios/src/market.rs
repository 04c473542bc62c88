//! One year's allowance market as a function of price: supply minus emissions.
//!
//! Supply is the free allocation, the auction (offered at its reserve price), CCR tiers
//! (at their triggers) and offsets (at their price). Emissions are baselines minus the
//! aggregate abatement. Both sides are monotone in price, so their difference is a
//! non-decreasing set-valued function whose root is the clearing price.

use crate::aggregate::AggregateCurve;
use crate::curve::{Piece, jump_share, price_tolerance};
use crate::model::Model;

/// Kinds of price-dependent supply besides the auction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SupplyKind {
    Ccr,
    Offsets,
}

#[derive(Clone, Copy, Debug)]
pub struct SupplyStep {
    pub kind: SupplyKind,
    pub price: f64,
    pub volume_t: f64,
}

#[derive(Clone, Debug)]
pub struct YearMarket {
    pub curve: AggregateCurve,
    pub baseline_t: f64,
    /// Free allocation plus reallocated volume: supplied whatever the price.
    pub free_t: f64,
    pub reserve_price: f64,
    pub steps: Vec<SupplyStep>,
    /// 0 without a floor.
    pub floor: f64,
    /// +∞ without a ceiling.
    pub ceiling: f64,
}

impl YearMarket {
    /// Builds the market of year index `year` with the given free allocation total.
    pub fn build(model: &Model, year: usize, free_t: f64) -> YearMarket {
        let mut pieces: Vec<Piece> = Vec::with_capacity(model.firms.len() * 2);
        let mut baseline_t = 0.0;
        for (index, firm) in model.firms.iter().enumerate() {
            let baseline = model.baseline(index, year);
            baseline_t += baseline;
            firm.curve
                .for_each_piece(baseline, firm.mac_scale, |piece| pieces.push(piece));
        }
        let mut steps: Vec<SupplyStep> = model.ccr[year]
            .iter()
            .map(|&(price, volume_t)| SupplyStep {
                kind: SupplyKind::Ccr,
                price,
                volume_t,
            })
            .collect();
        let (offset_price, offset_volume) = model.offsets[year];
        if offset_volume > 0.0 {
            steps.push(SupplyStep {
                kind: SupplyKind::Offsets,
                price: offset_price,
                volume_t: offset_volume,
            });
        }
        YearMarket {
            curve: AggregateCurve::from_pieces(pieces),
            baseline_t,
            free_t,
            reserve_price: model.reserve_price[year],
            steps,
            floor: model.floor[year],
            ceiling: model.ceiling[year],
        }
    }

    /// Share of the auction sold at `price`: a reserve of 0 means it always sells.
    pub fn auction_share(&self, price: f64, theta: f64) -> f64 {
        if self.reserve_price <= 0.0 {
            1.0
        } else {
            jump_share(self.reserve_price, price, theta)
        }
    }

    fn supply_t(&self, price: f64, theta: f64, auction_t: f64) -> f64 {
        let steps: f64 = self
            .steps
            .iter()
            .map(|s| s.volume_t * jump_share(s.price, price, theta))
            .sum();
        self.free_t + auction_t * self.auction_share(price, theta) + steps
    }

    /// Supply minus emissions with nothing taken at the price's own steps.
    pub fn net_lower_t(&self, price: f64, auction_t: f64) -> f64 {
        self.supply_t(price, 0.0, auction_t) + self.curve.lower_t(price) - self.baseline_t
    }

    /// Supply minus emissions with everything taken at the price's own steps.
    pub fn net_upper_t(&self, price: f64, auction_t: f64) -> f64 {
        self.supply_t(price, 1.0, auction_t) + self.curve.upper_t(price) - self.baseline_t
    }

    /// Supply minus emissions at tie fraction `theta`.
    pub fn net_t(&self, price: f64, theta: f64, auction_t: f64) -> f64 {
        let lower = self.net_lower_t(price, auction_t);
        let upper = self.net_upper_t(price, auction_t);
        lower + theta * (upper - lower)
    }

    /// The step price (abatement step, reserve, CCR trigger, offset price) within
    /// tolerance of `price`, or `price` itself.
    pub fn snap(&self, price: f64) -> f64 {
        if let Some(p) = self.curve.snap(price) {
            return p;
        }
        let tolerance = 2.0 * price_tolerance(price);
        std::iter::once(self.reserve_price)
            .chain(self.steps.iter().map(|s| s.price))
            .chain([self.floor, self.ceiling])
            .find(|p| (p - price).abs() <= tolerance)
            .unwrap_or(price)
    }
}
