//! Seeded Monte Carlo over the scenario's `[uncertainty]` parameters.
//!
//! Each draw's RNG is ChaCha20 seeded with SHA-256(master seed, draw index), so a draw
//! depends only on its index: rayon may schedule draws on any thread in any order and the
//! results, collected in index order, are identical whatever the thread count.

use crate::error::{Result, ScenarioError};
use crate::run::RunOptions;
use crate::scenario::Scenario;
use crate::spec::{Distribution, UncertainParameter};
use indicatif::ProgressBar;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Seed of draw `index` under `master_seed`.
pub fn draw_seed(master_seed: u64, index: u64) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"scenarios-mc-v1");
    hasher.update(master_seed.to_le_bytes());
    hasher.update(index.to_le_bytes());
    hasher.finalize().into()
}

fn standard_normal(rng: &mut impl Rng) -> f64 {
    // Box-Muller; 1 - u keeps the logarithm finite.
    let (u1, u2) = (1.0 - rng.random::<f64>(), rng.random::<f64>());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Samples one value; `min`/`max` given with a normal or lognormal clamp the draw.
pub fn sample(parameter: &UncertainParameter, rng: &mut impl Rng) -> f64 {
    let value = match parameter.distribution {
        Distribution::Normal => {
            parameter.mean.unwrap_or(0.0) + parameter.sd.unwrap_or(0.0) * standard_normal(rng)
        }
        Distribution::Lognormal => {
            // `mean` and `sd` describe the variable itself, not its logarithm.
            let (mean, sd) = (parameter.mean.unwrap_or(1.0), parameter.sd.unwrap_or(0.0));
            let sigma2 = (1.0 + (sd / mean).powi(2)).ln();
            let mu = mean.ln() - sigma2 / 2.0;
            (mu + sigma2.sqrt() * standard_normal(rng)).exp()
        }
        Distribution::Uniform => {
            let (min, max) = (parameter.min.unwrap_or(0.0), parameter.max.unwrap_or(1.0));
            min + (max - min) * rng.random::<f64>()
        }
        Distribution::Triangular => {
            let (a, c, b) = (
                parameter.min.unwrap_or(0.0),
                parameter.mode.unwrap_or(0.5),
                parameter.max.unwrap_or(1.0),
            );
            let u = rng.random::<f64>();
            if u < (c - a) / (b - a) {
                a + ((b - a) * (c - a) * u).sqrt()
            } else {
                b - ((b - a) * (b - c) * (1.0 - u)).sqrt()
            }
        }
    };
    value.clamp(
        parameter.min.unwrap_or(f64::NEG_INFINITY),
        parameter.max.unwrap_or(f64::INFINITY),
    )
}

/// One draw's yearly series (or the reason it failed).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Draw {
    pub index: u64,
    pub parameters: Vec<f64>,
    pub prices: Vec<f64>,
    pub emissions_t: Vec<f64>,
    pub bank_t: Vec<f64>,
    pub abatement_cost: f64,
    pub error: Option<String>,
}

/// Quantiles per year over the successful draws.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Bands {
    pub p5: Vec<f64>,
    pub p50: Vec<f64>,
    pub p95: Vec<f64>,
    pub mean: Vec<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct McResult {
    pub seed: u64,
    pub years: Vec<i32>,
    pub parameter_paths: Vec<String>,
    pub draws: Vec<Draw>,
    pub failed_draws: usize,
    pub price_bands: Bands,
    pub emissions_bands: Bands,
    pub bank_bands: Bands,
}

/// Runs `draws` draws of the scenario's uncertainty block with `seed`.
pub fn run_mc(
    scenario: &Scenario,
    draws: u32,
    seed: u64,
    progress: Option<&ProgressBar>,
) -> Result<McResult> {
    let uncertainty = scenario.spec().uncertainty.as_ref().ok_or_else(|| {
        ScenarioError::invalid(
            "uncertainty",
            "Monte Carlo needs an [uncertainty] block with parameters",
        )
    })?;
    let parameters = &uncertainty.parameters;
    // Fail on a bad path once, before spending the draws.
    let probe: Vec<(String, f64)> = parameters
        .iter()
        .map(|p| (p.path.clone(), p.mean.or(p.min).unwrap_or(1.0)))
        .collect();
    scenario.with_overrides(&probe)?;
    let options = RunOptions {
        firm_detail: false,
        ..RunOptions::default()
    };
    let results: Vec<Draw> = (0..u64::from(draws))
        .into_par_iter()
        .map(|index| {
            let mut rng = ChaCha20Rng::from_seed(draw_seed(seed, index));
            let values: Vec<f64> = parameters.iter().map(|p| sample(p, &mut rng)).collect();
            let overrides: Vec<(String, f64)> = parameters
                .iter()
                .map(|p| p.path.clone())
                .zip(values.iter().copied())
                .collect();
            let outcome = scenario
                .with_overrides(&overrides)
                .and_then(|s| s.run(&options));
            if let Some(bar) = progress {
                bar.inc(1);
            }
            match outcome {
                Ok(result) => Draw {
                    index,
                    parameters: values,
                    prices: result.market.iter().map(|y| y.price).collect(),
                    emissions_t: result.market.iter().map(|y| y.emissions_t).collect(),
                    bank_t: result.market.iter().map(|y| y.bank_t).collect(),
                    abatement_cost: result.totals.abatement_cost,
                    error: None,
                },
                Err(error) => Draw {
                    index,
                    parameters: values,
                    prices: Vec::new(),
                    emissions_t: Vec::new(),
                    bank_t: Vec::new(),
                    abatement_cost: f64::NAN,
                    error: Some(error.to_string()),
                },
            }
        })
        .collect();
    let ok: Vec<&Draw> = results.iter().filter(|d| d.error.is_none()).collect();
    let years = scenario.model().years.clone();
    Ok(McResult {
        seed,
        parameter_paths: parameters.iter().map(|p| p.path.clone()).collect(),
        failed_draws: results.len() - ok.len(),
        price_bands: bands(&ok, years.len(), |d| &d.prices),
        emissions_bands: bands(&ok, years.len(), |d| &d.emissions_t),
        bank_bands: bands(&ok, years.len(), |d| &d.bank_t),
        draws: results,
        years,
    })
}

fn bands(draws: &[&Draw], years: usize, series: impl Fn(&Draw) -> &Vec<f64>) -> Bands {
    let mut result = Bands::default();
    if draws.is_empty() {
        return result;
    }
    for t in 0..years {
        let mut values: Vec<f64> = draws.iter().map(|d| series(d)[t]).collect();
        values.sort_by(f64::total_cmp);
        let quantile = |q: f64| {
            // Linear interpolation between order statistics (type 7, as numpy's default).
            let position = q * (values.len() - 1) as f64;
            let (low, high) = (position.floor() as usize, position.ceil() as usize);
            values[low] + (values[high] - values[low]) * (position - low as f64)
        };
        result.p5.push(quantile(0.05));
        result.p50.push(quantile(0.5));
        result.p95.push(quantile(0.95));
        result
            .mean
            .push(values.iter().sum::<f64>() / values.len() as f64);
    }
    result
}
