"""ets.scenario: the same numbers and columns as the `ets scenario` commands."""

from __future__ import annotations

import io
import threading
import time

import pandas as pd
import pytest

import ets
from conftest import run_ets

LONG_COLUMNS = ["scenario", "run_id", "year", "region", "sector", "entity", "variable", "unit", "value"]


def test_validation_cases_match_the_cli(ets_bin):
    checks = ets.scenario.validate_cases()
    assert len(checks) == 21 and checks["passed"].all()
    cli = run_ets(ets_bin, "scenario", "validate", "--cases")
    assert cli.returncode == 0, cli.stderr
    printed = [line.split() for line in cli.stdout.splitlines() if line.startswith("pass")]
    assert len(printed) == len(checks)
    for (_, row), words in zip(checks.iterrows(), printed):
        assert words[-1] == f"{row['actual']:.6f}", (row["case"], row["quantity"], words)


def test_p1_from_the_file_gives_the_published_answer(repo):
    run = ets.scenario.run(repo / "scenarios/examples/p1_two_firms_linear.toml")
    assert list(run.long.columns) == LONG_COLUMNS
    assert run.market.loc[2026, "price"] == pytest.approx(2.0, rel=1e-6)
    firms = run.firms.set_index("entity")
    assert firms.loc["firm1", "abatement"] == pytest.approx(40.0, rel=1e-6)
    assert firms.loc["firm2", "abatement"] == pytest.approx(20.0, rel=1e-6)
    assert firms.loc["firm1", "sales"] == pytest.approx(20.0, rel=1e-6)
    assert run.summary["totals"]["abatement_cost"] == pytest.approx(60.0, rel=1e-6)


def test_the_long_table_equals_the_cli_file(repo, ets_bin, tmp_path):
    path = repo / "scenarios/examples/policy.toml"
    cli = run_ets(ets_bin, "scenario", "run", str(path), "--out", str(tmp_path), "--no-plots")
    assert cli.returncode == 0, cli.stderr
    from_file = pd.read_csv(tmp_path / "results_long.csv", dtype={"run_id": str})
    run = ets.scenario.run(path)
    pd.testing.assert_frame_equal(run.long, from_file)
    # The per-firm wide table the CLI writes is what Run.firms pivots from the long one.
    wide = pd.read_csv(tmp_path / "firms_yearly.csv").rename(columns={"firm": "entity"})
    firms = run.firms
    keys = ["entity", "region", "sector", "year"]
    pd.testing.assert_frame_equal(
        wide.sort_values(keys).reset_index(drop=True)[sorted(wide.columns)],
        firms.sort_values(keys).reset_index(drop=True)[sorted(wide.columns)],
        check_names=False,
    )


def test_the_parquet_table_equals_the_csv(repo, ets_bin, tmp_path):
    path = repo / "scenarios/examples/policy.toml"
    cli = run_ets(ets_bin, "scenario", "run", str(path), "--out", str(tmp_path), "--no-plots", "--format", "csv,parquet")
    assert cli.returncode == 0, cli.stderr
    parquet = pd.read_parquet(tmp_path / "results_long.parquet")
    csv = pd.read_csv(tmp_path / "results_long.csv", dtype={"run_id": str})
    assert list(parquet.columns) == LONG_COLUMNS
    assert str(parquet["year"].dtype) == "int32" and str(parquet["value"].dtype) == "float64"
    parquet["year"] = parquet["year"].astype("int64")
    pd.testing.assert_frame_equal(parquet.astype({"run_id": object}), csv.astype({"run_id": object}), check_dtype=False)


NAMES = ['Jialing "Green" Pharma, Ltd.', "重庆钢铁股份有限公司", "Fuling Power; Unit 3"]


def names_scenario() -> str:
    firms = "\n".join(
        f"""
[[firms]]
id = '{name}'
sector = 'power, heat'
baseline_t = {50 + 10 * i}.0
free_t = 20.0
mac = {{ type = "linear", intercept = 0.0, slope = {0.05 * (i + 1)} }}
"""
        for i, name in enumerate(NAMES)
    )
    return f"""schema_version = 1
name = "names, quotes"
years = {{ start = 2026, end = 2027 }}
[cap]
by_year = 60.0
[allocation]
method = "explicit"
{firms}"""


def test_commas_quotes_and_chinese_names_round_trip(ets_bin, tmp_path):
    run = ets.scenario.run(names_scenario())
    firms = run.long[run.long["variable"] == "abatement"]
    assert set(NAMES) <= set(firms["entity"])
    assert set(firms[firms["entity"].isin(NAMES)]["sector"]) == {"power, heat"}
    assert run.long["scenario"].unique().tolist() == ["names, quotes"]
    # The same table through a file and back: pandas reads what the engine wrote, field by field.
    scenario = tmp_path / "names.toml"
    scenario.write_text(names_scenario(), encoding="utf-8")
    cli = run_ets(ets_bin, "scenario", "run", str(scenario), "--out", str(tmp_path / "out"), "--no-plots")
    assert cli.returncode == 0, cli.stderr
    text = (tmp_path / "out/results_long.csv").read_text(encoding="utf-8")
    back = pd.read_csv(io.StringIO(text), dtype={"run_id": str})
    pd.testing.assert_frame_equal(run.long, back)
    assert "1.9999999999999998" not in text and "e-1" not in text


def test_compare_labels_both_runs(repo):
    long, comparison = ets.scenario.compare(
        repo / "scenarios/examples/policy.toml", repo / "scenarios/examples/policy_baseline.toml"
    )
    assert set(long["run_id"]) == {"scenario", "baseline"}
    assert comparison["winners"] + comparison["losers"] > 0


def test_sweep_has_a_row_per_point_and_the_files_columns(repo):
    runs, long = ets.scenario.sweep(
        repo / "scenarios/examples/policy.toml", {"cap.linear_reduction_factor": [0.02, 0.04, 0.06]}
    )
    assert list(runs.columns)[:3] == ["run_id", "cap.linear_reduction_factor", "status"]
    assert runs["status"].tolist() == ["ok"] * 3
    assert runs["cap.linear_reduction_factor"].tolist() == [0.02, 0.04, 0.06]
    # A tighter cap never lowers the last year's price.
    assert runs["last_year_price"].is_monotonic_increasing
    assert set(long["run_id"]) == {"0", "1", "2"}


def test_monte_carlo_is_seeded_and_thread_independent(repo):
    path = repo / "scenarios/examples/policy.toml"
    one, summary = ets.scenario.mc(path, draws=40, seed=11, threads=1)
    two, _ = ets.scenario.mc(path, draws=40, seed=11, threads=2)
    pd.testing.assert_frame_equal(one, two)
    assert summary["seed"] == 11 and summary["draws"] == 40
    other, _ = ets.scenario.mc(path, draws=40, seed=12, threads=2)
    assert not one["price"].equals(other["price"])


def test_a_bad_key_names_the_field():
    text = names_scenario().replace("by_year = 60.0", "by_year = -5.0")
    with pytest.raises(ets.InputError) as refused:
        ets.scenario.run(text)
    assert refused.value.field == "cap", refused.value
    with pytest.raises(ets.InputError) as unknown:
        ets.scenario.run(names_scenario(), set={"cap.nonsense": 1.0})
    assert unknown.value.field == "cap.nonsense"
    with pytest.raises(ets.InputError) as draws:
        ets.scenario.mc(names_scenario())
    assert draws.value.field == "uncertainty"


def test_the_gil_is_released_during_a_run(repo):
    """While one thread runs the engine, another keeps running Python: with the GIL held for
    the whole call it would not tick at all until the call returned."""
    path = repo / "scenarios/examples/policy.toml"
    draws = 200
    while True:
        done = threading.Event()
        worker = threading.Thread(target=lambda: (ets.scenario.mc(path, draws=draws, seed=3, threads=1), done.set()))
        started = time.perf_counter()
        worker.start()
        ticks = 0
        while not done.is_set():
            ticks += 1
            time.sleep(0.001)
        worker.join()
        elapsed = time.perf_counter() - started
        if elapsed > 0.2 or draws >= 50_000:
            break
        draws *= 4  # too fast to tell on this machine: a longer run
    assert ticks >= 20, (elapsed, ticks, draws)


def test_sweep_tables_join_on_run_id(repo):
    runs, long = ets.scenario.sweep(repo / "scenarios/examples/policy.toml", {"cap.linear_reduction_factor": [0.06, 0.02]})
    joined = runs.merge(long[long["variable"] == "price"], on="run_id")
    assert set(joined["cap.linear_reduction_factor"]) == {0.06, 0.02}
    with pytest.raises(ets.InputError) as refused:
        ets.scenario.sweep(repo / "scenarios/examples/policy.toml", {"cap.linear_reduction_factor": "a,b"})
    assert refused.value.field == "cap.linear_reduction_factor"
