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


def test_p4_tied_bids_share_pro_rata_and_the_leftover_goes_in_drawn_order(repo):
    """Validation case P4 (shared/validation/README.md): bids tied at the clearing price get
    the remaining quantity in proportion to their bids, rounded down to whole lots; the lots
    left over go one at a time in the order drawn from the seed."""
    cleared = ets.auction.clear(repo / RULES, repo / BIDS, exact=True)
    awards = cleared.awards
    price = Decimal(cleared.clearing["clearing_price"])
    above = awards[awards["price"] > price]
    tied = awards[awards["price"] == price]
    assert len(tied) == 3
    import tomllib

    rules = tomllib.loads((repo / RULES).read_text(encoding="utf-8"))
    # No tied bidder won above the price, so each may take up to the bidder cap.
    cap = Decimal(rules["supply"]) * Decimal(rules["bidder_cap_percent"]) / 100
    assert not set(tied["bidder"]) & set(above["bidder"])
    wanted = {b: min(q, cap) for b, q in zip(tied["bidder"], tied["quantity"])}
    remaining = Decimal(cleared.clearing["sold"]) - sum(above["awarded"])
    total = sum(wanted.values())
    shares = {b: (remaining * q / total) // 1 for b, q in wanted.items()}
    leftover = int(remaining - sum(shares.values()))
    assert leftover == cleared.clearing["tie_leftover_lots"] > 0
    for bidder in cleared.clearing["tie_draw"][:leftover]:
        shares[bidder] += 1
    assert dict(zip(tied["bidder"], tied["awarded"])) == shares
    assert all(above["awarded"] == above["quantity"])
