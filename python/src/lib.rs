//! `ets._ets`: the Rust half of the `ets` Python package, on the same cores as the `ets` CLI.
//!
//! Every function takes its inputs as named texts (`(label, text)`: the label names the input
//! in errors and, by its extension, picks JSON or TOML) and returns the very tables the CLI
//! writes, as CSV and JSON text, so a DataFrame has the files' columns by construction. The
//! Python side (`python/ets/`) turns DataFrames and paths into texts and texts into DataFrames.
//! The GIL is released while the engine works. Errors become the exceptions of
//! `ets.errors`, with the field, file and line they name.

use offline::FormatError;
use offline::round::{Input, report};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use scenarios::output;
use scenarios::{RunOptions, RunResult, Scenario, ScenarioError};

/// An input text and the label it is known by (a path, or `applications (DataFrame)`).
type Named = (String, String);

/// What went wrong, before it becomes a Python exception (built without the GIL).
struct Problem {
    /// The class in `ets.errors`.
    class: &'static str,
    message: String,
    field: Option<String>,
    file: Option<String>,
    line: Option<u64>,
}

impl Problem {
    fn input(message: impl Into<String>) -> Problem {
        Problem {
            class: "InputError",
            message: message.into(),
            field: None,
            file: None,
            line: None,
        }
    }

    fn field(mut self, field: impl Into<String>) -> Problem {
        self.field = Some(field.into());
        self
    }

    fn file(mut self, file: impl Into<String>) -> Problem {
        self.file = Some(file.into());
        self
    }

    fn into_err(self, py: Python<'_>) -> PyErr {
        let class = match py.import("ets.errors").and_then(|m| m.getattr(self.class)) {
            Ok(class) => class,
            Err(error) => return error,
        };
        let kwargs = PyDict::new(py);
        let details = [
            kwargs.set_item("field", self.field),
            kwargs.set_item("file", self.file),
            kwargs.set_item("line", self.line),
        ];
        if let Some(Err(error)) = details.into_iter().find(Result::is_err) {
            return error;
        }
        match class.call((self.message,), Some(&kwargs)) {
            Ok(exception) => PyErr::from_value(exception),
            Err(error) => error,
        }
    }
}

impl From<ScenarioError> for Problem {
    fn from(error: ScenarioError) -> Problem {
        let message = error.to_string();
        match error {
            ScenarioError::Invalid { key, .. } => Problem::input(message).field(key),
            ScenarioError::Parameter { path, .. } => Problem::input(message).field(path),
            ScenarioError::Io { path, .. } => {
                Problem::input(message).file(path.display().to_string())
            }
            ScenarioError::Csv { path, line, .. } => Problem {
                line: Some(line as u64),
                ..Problem::input(message).file(path.display().to_string())
            },
            ScenarioError::Parse(_) => Problem::input(message),
            ScenarioError::Infeasible { .. } => Problem {
                class: "InfeasibleError",
                ..Problem::input(message)
            },
            ScenarioError::Conservation { .. }
            | ScenarioError::Reallocation { .. }
            | ScenarioError::Output { .. } => Problem {
                class: "EngineError",
                ..Problem::input(message)
            },
        }
    }
}

impl From<FormatError> for Problem {
    fn from(error: FormatError) -> Problem {
        let message = error.to_string();
        match error {
            FormatError::Field {
                file, line, column, ..
            } => Problem {
                line: Some(line),
                ..Problem::input(message).field(column).file(file)
            },
            FormatError::Setting { file, field, .. } => {
                Problem::input(message).field(field).file(file)
            }
            FormatError::File { file, .. } => Problem::input(message).file(file),
            FormatError::Csv { file, source } => Problem {
                line: source.position().map(|p| p.line()),
                ..Problem::input(message).file(file)
            },
            FormatError::Refused(_) => Problem::input(message),
        }
    }
}

impl From<optimizer::Error> for Problem {
    fn from(error: optimizer::Error) -> Problem {
        match error {
            optimizer::Error::InvalidRound(_) => Problem::input(error.to_string()),
            // HiGHS failing on a model we built is a bug, not the caller's input.
            optimizer::Error::Solver { .. } => engine(error),
        }
    }
}

/// A table or document the engine wrote cannot be turned into text: a bug, never bad input.
fn engine(error: impl std::fmt::Display) -> Problem {
    Problem {
        class: "EngineError",
        ..Problem::input(error.to_string())
    }
}

fn text(bytes: Vec<u8>) -> Result<String, Problem> {
    String::from_utf8(bytes).map_err(engine)
}

fn input(named: &Named) -> Input<&[u8]> {
    Input {
        label: named.0.clone(),
        reader: named.1.as_bytes(),
    }
}

/// Runs `job` without the GIL (so other Python threads go on) and raises its problem, if any.
fn detached<T: Send>(
    py: Python<'_>,
    job: impl Send + FnOnce() -> Result<T, Problem>,
) -> PyResult<T> {
    py.detach(job).map_err(|problem| problem.into_err(py))
}

/// `threads` worker threads for `job` (None: rayon's default, every core).
fn with_threads<T: Send>(
    threads: Option<usize>,
    job: impl Send + FnOnce() -> Result<T, Problem>,
) -> Result<T, Problem> {
    match threads {
        None => job(),
        Some(0) => Err(Problem::input("threads must be at least 1").field("threads")),
        Some(count) => rayon_pool(count)?.install(job),
    }
}

fn rayon_pool(threads: usize) -> Result<rayon::ThreadPool, Problem> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(engine)
}

/// Loads a scenario given as `("path", PATH)`, `("toml", TEXT)` or `("json", TEXT)`.
fn scenario(source: &Named, overrides: &[(String, f64)]) -> Result<Scenario, Problem> {
    let (kind, value) = source;
    let scenario = match kind.as_str() {
        "path" => Scenario::from_path(std::path::Path::new(value))?,
        "toml" => Scenario::from_toml_str(value, None)?,
        "json" => Scenario::from_json_str(value, None)?,
        other => return Err(Problem::input(format!("unknown scenario kind {other:?}"))),
    };
    Ok(scenario.with_overrides(overrides)?)
}

fn long_table(runs: &[(&RunResult, &str)]) -> Result<String, Problem> {
    let mut out = Vec::new();
    output::write_long_table(&mut out, runs).map_err(engine)?;
    text(out)
}

/// One scenario run: (the long table, summary.json).
#[pyfunction]
#[pyo3(signature = (source, overrides=Vec::new()))]
fn scenario_run(
    py: Python<'_>,
    source: Named,
    overrides: Vec<(String, f64)>,
) -> PyResult<(String, String)> {
    detached(py, move || {
        let result = scenario(&source, &overrides)?.run(&RunOptions::default())?;
        let summary = output::json_text(&result).map_err(engine)?;
        Ok((long_table(&[(&result, "0")])?, summary))
    })
}

/// A scenario against a baseline: (both runs' long table, comparison.json).
#[pyfunction]
#[pyo3(signature = (source, baseline, overrides=Vec::new()))]
fn scenario_compare(
    py: Python<'_>,
    source: Named,
    baseline: Named,
    overrides: Vec<(String, f64)>,
) -> PyResult<(String, String)> {
    detached(py, move || {
        let result = scenario(&source, &overrides)?.run(&RunOptions::default())?;
        let base = scenario(&baseline, &[])?.run(&RunOptions::default())?;
        let comparison = scenarios::compare::compare(&result, &base);
        let long = long_table(&[(&result, "scenario"), (&base, "baseline")])?;
        Ok((long, output::json_text(&comparison).map_err(engine)?))
    })
}

/// A grid over `params` (`PATH=V1,V2` or `PATH=START:STOP:STEP`): (sweep_runs.csv, long table).
#[pyfunction]
#[pyo3(signature = (source, params, threads=None))]
fn scenario_sweep(
    py: Python<'_>,
    source: Named,
    params: Vec<String>,
    threads: Option<usize>,
) -> PyResult<(String, String)> {
    detached(py, move || {
        let scenario = scenario(&source, &[])?;
        let axes = params
            .iter()
            .map(|p| scenarios::sweep::SweepAxis::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        let runs = with_threads(threads, || {
            Ok(scenarios::sweep::run_sweep(&scenario, &axes, None)?)
        })?;
        let mut table = Vec::new();
        output::write_sweep_runs(&mut table, &axes, &runs).map_err(engine)?;
        let long = output::sweep_long_runs(&runs);
        let long: Vec<(&RunResult, &str)> = long.iter().map(|(r, id)| (*r, id.as_str())).collect();
        Ok((text(table)?, long_table(&long)?))
    })
}

/// Monte Carlo over the scenario's uncertainty block: (mc_draws.csv, mc_summary.json).
#[pyfunction]
#[pyo3(signature = (source, draws=None, seed=None, threads=None))]
fn scenario_mc(
    py: Python<'_>,
    source: Named,
    draws: Option<u32>,
    seed: Option<u64>,
    threads: Option<usize>,
) -> PyResult<(String, String)> {
    detached(py, move || {
        let scenario = scenario(&source, &[])?;
        let Some(uncertainty) = &scenario.spec().uncertainty else {
            return Err(
                Problem::input("the scenario has no [uncertainty] block").field("uncertainty")
            );
        };
        let draws = draws.unwrap_or(uncertainty.draws);
        if draws == 0 || draws > scenarios::limits::DRAWS_MAX {
            let reason = format!("draws must be in 1..={}", scenarios::limits::DRAWS_MAX);
            return Err(Problem::input(reason).field("draws"));
        }
        let seed = seed.unwrap_or(uncertainty.seed);
        let mc = with_threads(threads, || {
            Ok(scenarios::mc::run_mc(&scenario, draws, seed, None)?)
        })?;
        let mut table = Vec::new();
        output::write_mc_draws(&mut table, &mc).map_err(engine)?;
        let summary = output::json_text(&output::McSummary::of(&mc, draws)).map_err(engine)?;
        Ok((text(table)?, summary))
    })
}

/// The published validation cases P1-P3, each check as JSON (what `ets scenario validate
/// --cases` prints).
#[pyfunction]
fn validate_cases(py: Python<'_>) -> PyResult<String> {
    detached(py, || {
        let checks = scenarios::cases::run_published_cases()?;
        serde_json::to_string(&checks).map_err(engine)
    })
}

/// A solved round as (grants.csv, pools.csv, summary.json), as `ets round solve` writes them.
fn solved(round: &optimizer::Round) -> Result<(String, String, String), Problem> {
    let allocation = optimizer::allocate(round)?;
    let mut grants = Vec::new();
    report::write_grants(round, &allocation, &mut grants, "grants.csv")?;
    let mut pools = Vec::new();
    report::write_pools(&allocation, &mut pools, "pools.csv")?;
    let summary = serde_json::to_string_pretty(&report::summary(&allocation)).map_err(engine)?;
    Ok((text(grants)?, text(pools)?, summary))
}

/// A reallocation round from its applications and pools tables under a policy.
#[pyfunction]
fn round_solve(
    py: Python<'_>,
    round_id: String,
    applications: Named,
    pools: Named,
    policy: Named,
) -> PyResult<(String, String, String)> {
    detached(py, move || {
        let policy = offline::round::policy_from(input(&policy))?;
        let round =
            offline::round::from_tables(&round_id, input(&applications), input(&pools), policy)?;
        solved(&round)
    })
}

/// A reallocation round given whole (an optimizer `Round` as JSON or TOML), optionally under
/// another policy.
#[pyfunction]
#[pyo3(signature = (round, policy=None))]
fn round_solve_document(
    py: Python<'_>,
    round: Named,
    policy: Option<Named>,
) -> PyResult<(String, String, String)> {
    detached(py, move || {
        let policy = policy
            .as_ref()
            .map(|p| offline::round::policy_from(input(p)))
            .transpose()?;
        solved(&offline::round::from_document(input(&round), policy)?)
    })
}

/// A sealed-bid auction: (awards.csv, clearing.json), as `ets auction clear` writes them.
#[pyfunction]
fn auction_clear(py: Python<'_>, rules: Named, bids: Named) -> PyResult<(String, String)> {
    detached(py, move || {
        let prepared = offline::auction::rules_from(input(&rules))?;
        let lines = offline::auction::bids_from(input(&bids))?;
        let outcome = offline::auction::clear(&prepared, &lines, &bids.0)?;
        let mut awards = Vec::new();
        offline::auction::write_awards(&outcome, &mut awards, "awards.csv")?;
        let clearing = serde_json::to_string_pretty(&outcome).map_err(engine)?;
        Ok((text(awards)?, clearing))
    })
}

#[pymodule]
fn _ets(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", scenarios::output::VERSION)?;
    module.add("__commit__", scenarios::output::COMMIT)?;
    module.add_function(wrap_pyfunction!(scenario_run, module)?)?;
    module.add_function(wrap_pyfunction!(scenario_compare, module)?)?;
    module.add_function(wrap_pyfunction!(scenario_sweep, module)?)?;
    module.add_function(wrap_pyfunction!(scenario_mc, module)?)?;
    module.add_function(wrap_pyfunction!(validate_cases, module)?)?;
    module.add_function(wrap_pyfunction!(round_solve, module)?)?;
    module.add_function(wrap_pyfunction!(round_solve_document, module)?)?;
    module.add_function(wrap_pyfunction!(auction_clear, module)?)?;
    Ok(())
}
