"""ets.auction: clearing a bid stack exactly as the registry does."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

import ets

RULES = "market/examples/auction-rules.toml"
BIDS = "market/examples/auction-bids.csv"


def test_the_example_clears_at_58(repo):
    cleared = ets.auction.clear(repo / RULES, repo / BIDS, exact=True)
    assert cleared.clearing["clearing_price"] == "58.00"
    assert cleared.clearing["below_reserve"] == 1
    awarded = dict(zip(cleared.awards["bid"], cleared.awards["awarded"]))
    assert (awarded["b3"], awarded["b4"], awarded["b6"]) == (Decimal("134"), Decimal("100"), Decimal("66"))
    assert cleared.clearing["tie_draw"][0] == "Changshou Chemicals"
    assert "Fuling Power, Unit 3" in set(cleared.awards["bidder"])


def test_a_dataframe_of_bids_and_a_dict_of_rules(repo):
    import tomllib

    rules = tomllib.loads((repo / RULES).read_text(encoding="utf-8"))
    bids = pd.read_csv(repo / BIDS, dtype=str)
    cleared = ets.auction.clear(rules, bids)
    assert cleared.clearing["revenue_cny"] == "58000.00"
    assert cleared.awards["status"].tolist()[4] == "below_reserve"


def test_a_bad_setting_is_named(repo):
    import tomllib

    rules = tomllib.loads((repo / RULES).read_text(encoding="utf-8"))
    rules["reserve_price"] = "30.001"
    with pytest.raises(ets.InputError) as refused:
        ets.auction.clear(rules, repo / BIDS)
    assert refused.value.field == "reserve_price", refused.value
