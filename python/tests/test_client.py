"""ets.client against a real `ets serve` process."""

from __future__ import annotations

import pandas as pd
import pytest

import ets


def test_operations_come_from_the_openapi_document(registry):
    reg = ets.client.Registry(registry["base"], registry["economist"])
    ops = reg.operations()
    assert {"run_scenario", "whoami"} <= set(ops["operation"])
    assert reg.whoami()["role"] == "economist"


def test_a_scenario_over_http_equals_the_local_run(registry, repo):
    text = (repo / "scenarios/examples/p1_two_firms_linear.toml").read_text(encoding="utf-8")
    reg = ets.client.Registry(registry["base"], registry["economist"])
    answer = reg.run_scenario(body=text, content_type="application/toml")
    local = ets.scenario.run(text)
    assert answer["result"]["market"][0]["price"] == pytest.approx(local.market.loc[2026, "price"])
    table = reg.run_scenario(body=text, content_type="application/toml", accept="text/csv")
    assert set(table["run_id"]) == {"api"}  # the server labels its runs
    pd.testing.assert_frame_equal(table.drop(columns="run_id"), local.long.drop(columns="run_id"))


def test_a_refusal_raises_with_the_field(registry, repo):
    text = (repo / "scenarios/examples/p1_two_firms_linear.toml").read_text(encoding="utf-8")
    reg = ets.client.Registry(registry["base"], registry["economist"])
    with pytest.raises(ets.ApiError) as refused:
        reg.run_scenario(body=text.replace("by_year = 60.0", "by_year = -1.0"), content_type="application/toml")
    assert refused.value.status == 422
    assert refused.value.field == "/cap", refused.value.problem
    with pytest.raises(ets.ApiError) as forbidden:
        ets.client.Registry(registry["base"], "ets_not-a-key").whoami()
    assert forbidden.value.status == 401
