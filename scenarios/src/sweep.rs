//! Parameter sweeps: a grid over named dotted parameters, run in parallel, results in
//! grid order whatever the thread count.

use crate::error::{Result, ScenarioError};
use crate::limits::SWEEP_RUNS_MAX;
use crate::results::RunResult;
use crate::run::RunOptions;
use crate::scenario::Scenario;
use indicatif::ProgressBar;
use rayon::prelude::*;

/// One swept parameter and its values.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepAxis {
    pub path: String,
    pub values: Vec<f64>,
}

impl SweepAxis {
    /// Parses `path=v1,v2,...` or `path=start:stop:step` (stop included).
    pub fn parse(text: &str) -> Result<SweepAxis> {
        // The error names the parameter (the text before `=`), or the whole text without one.
        let named = text.split_once('=').map_or(text, |(path, _)| path).trim();
        let error = |reason: &str| ScenarioError::Parameter {
            path: named.to_string(),
            reason: format!("{reason} (in `{text}`)"),
        };
        let (path, values) = text
            .split_once('=')
            .ok_or_else(|| error("expected PATH=V1,V2 or PATH=START:STOP:STEP"))?;
        let number = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| error("values must be numbers"))
        };
        let values = if values.contains(':') {
            let parts: Vec<&str> = values.split(':').collect();
            let [start, stop, step] = parts.as_slice() else {
                return Err(error("a range is START:STOP:STEP"));
            };
            let (start, stop, step) = (number(start)?, number(stop)?, number(step)?);
            if step.is_nan() || step <= 0.0 || stop < start {
                return Err(error("a range needs STEP > 0 and STOP >= START"));
            }
            let count = ((stop - start) / step + 1e-9).floor() as usize + 1;
            if count > SWEEP_RUNS_MAX {
                return Err(error("too many values"));
            }
            (0..count).map(|i| start + step * i as f64).collect()
        } else {
            values
                .split(',')
                .map(number)
                .collect::<Result<Vec<f64>>>()?
        };
        if values.is_empty() {
            return Err(error("no values"));
        }
        Ok(SweepAxis {
            path: path.trim().to_string(),
            values,
        })
    }
}

/// The Cartesian product of the axes, first axis slowest.
pub fn grid(axes: &[SweepAxis]) -> Result<Vec<Vec<(String, f64)>>> {
    let size = axes
        .iter()
        .try_fold(1usize, |acc, axis| acc.checked_mul(axis.values.len()));
    match size {
        Some(n) if n <= SWEEP_RUNS_MAX => {}
        _ => {
            return Err(ScenarioError::Parameter {
                path: "sweep".into(),
                reason: format!("the grid has more than {SWEEP_RUNS_MAX} runs"),
            });
        }
    }
    let mut runs: Vec<Vec<(String, f64)>> = vec![Vec::new()];
    for axis in axes {
        runs = runs
            .into_iter()
            .flat_map(|run| {
                axis.values.iter().map(move |v| {
                    let mut next = run.clone();
                    next.push((axis.path.clone(), *v));
                    next
                })
            })
            .collect();
    }
    Ok(runs)
}

/// One point of a sweep: its overrides and its result or the reason it failed.
#[derive(Debug)]
pub struct SweepRun {
    pub run_id: usize,
    pub overrides: Vec<(String, f64)>,
    pub outcome: std::result::Result<RunResult, String>,
}

/// Runs every grid point. Invalid or infeasible points are recorded, not fatal: a sweep
/// is exactly where an economist finds the edge of the feasible region.
pub fn run_sweep(
    scenario: &Scenario,
    axes: &[SweepAxis],
    progress: Option<&ProgressBar>,
) -> Result<Vec<SweepRun>> {
    let points = grid(axes)?;
    // Check the paths once up front so a typo fails the sweep instead of every point.
    if let Some(first) = points.first() {
        scenario.with_overrides(first)?;
    }
    let options = RunOptions {
        firm_detail: false,
        ..RunOptions::default()
    };
    Ok(points
        .into_par_iter()
        .enumerate()
        .map(|(run_id, overrides)| {
            let outcome = scenario
                .with_overrides(&overrides)
                .and_then(|s| s.run(&options))
                .map_err(|e| e.to_string());
            if let Some(bar) = progress {
                bar.inc(1);
            }
            SweepRun {
                run_id,
                overrides,
                outcome,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_ranges() {
        assert_eq!(
            SweepAxis::parse("a.b=1,2").expect("list").values,
            vec![1.0, 2.0]
        );
        assert_eq!(
            SweepAxis::parse("a=0:1:0.5").expect("range").values,
            vec![0.0, 0.5, 1.0]
        );
        assert!(SweepAxis::parse("a=1:0:1").is_err());
        let axes = [
            SweepAxis::parse("x=1,2").expect("x"),
            SweepAxis::parse("y=3,4,5").expect("y"),
        ];
        assert_eq!(grid(&axes).expect("grid").len(), 6);
    }
}
