"""Policy scenarios: one run, a comparison, a parameter sweep, a seeded Monte Carlo.

A scenario is a path to a TOML/JSON file (relative firm files resolve from its folder), TOML
text, or a dict. Every function returns DataFrames with the columns of the files the
``ets scenario`` commands write (``results_long.csv``, ``sweep_runs.csv``, ``mc_draws.csv``),
and the JSON documents as dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import pandas as pd

from . import _ets
from ._frames import frame, is_path

LONG_TEXT = ("scenario", "run_id", "region", "sector", "entity", "variable", "unit")


def _source(scenario: Any) -> tuple[str, str]:
    if isinstance(scenario, Mapping):
        return ("json", json.dumps(scenario))
    if is_path(scenario):
        return ("path", str(scenario))
    if isinstance(scenario, str):
        kind = "json" if scenario.lstrip().startswith("{") else "toml"
        return (kind, scenario)
    raise TypeError(f"scenario: expected a path, TOML text or a dict, got {type(scenario).__name__}")


def _overrides(values: Mapping[str, float] | None) -> list[tuple[str, float]]:
    return [(str(k), float(v)) for k, v in (values or {}).items()]


@dataclass
class Run:
    """One run: ``long`` is results_long.csv, ``summary`` is summary.json."""

    long: pd.DataFrame
    summary: dict

    @property
    def market(self) -> pd.DataFrame:
        """The market's rows, one per year, a column per variable (price, emissions, bank, ...)."""
        rows = self.long[self.long["entity"] == "market"]
        return rows.pivot_table(index="year", columns="variable", values="value", sort=False)

    @property
    def firms(self) -> pd.DataFrame:
        """Per-firm yearly results: one row per firm and year, a column per variable."""
        rows = self.long[~self.long["entity"].isin(["market", "sector", "region"])]
        return rows.pivot_table(
            index=["entity", "region", "sector", "year"], columns="variable", values="value"
        ).reset_index()


def run(scenario: Any, *, set: Mapping[str, float] | None = None) -> Run:
    """Runs one scenario; ``set`` overrides scalars by dotted path (``cap.base_t``)."""
    long, summary = _ets.scenario_run(_source(scenario), _overrides(set))
    return Run(frame(long, keep_text=LONG_TEXT), json.loads(summary))


def compare(scenario: Any, baseline: Any, *, set: Mapping[str, float] | None = None):
    """A scenario against a baseline: (both runs' long table by run_id, comparison dict)."""
    long, comparison = _ets.scenario_compare(_source(scenario), _source(baseline), _overrides(set))
    return frame(long, keep_text=LONG_TEXT), json.loads(comparison)


def sweep(scenario: Any, params: Mapping[str, Any], *, threads: int | None = None):
    """A grid over dotted parameters: ``{"cap.base_t": [90, 100]}`` or ``"0.02:0.05:0.01"``.

    Returns (sweep_runs, long): one row per grid point, and every point's market rows.
    """
    axes = [f"{path}={_values(v)}" for path, v in params.items()]
    runs, long = _ets.scenario_sweep(_source(scenario), axes, threads)
    return frame(runs, keep_text=("run_id", "status", "error")), frame(long, keep_text=LONG_TEXT)


def _values(values: Any) -> str:
    if isinstance(values, str):
        return values
    return ",".join(repr(float(v)) for v in values)


def mc(scenario: Any, *, draws: int | None = None, seed: int | None = None, threads: int | None = None):
    """Seeded Monte Carlo: (one row per draw and year, the p5/p50/p95 bands as a dict).

    Results do not depend on ``threads``: draw i is seeded from (seed, i).
    """
    table, summary = _ets.scenario_mc(_source(scenario), draws, seed, threads)
    draws_table = frame(table, keep_text=("error",))
    # A failed draw has one row without a year: keep the column integral.
    draws_table["year"] = draws_table["year"].astype("Int64")
    return draws_table, json.loads(summary)


def validate_cases() -> pd.DataFrame:
    """The published validation cases P1-P3: one row per check (case, quantity, expected,
    actual, passed), as ``ets scenario validate --cases`` prints them."""
    return pd.DataFrame(json.loads(_ets.validate_cases()))
