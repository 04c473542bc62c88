"""A sealed-bid auction cleared exactly as the registry clears it (``ets auction clear``).

``rules`` is a TOML/JSON path, TOML text or a dict (supply, reserve_price, lot, tick,
bidder_cap_percent, pricing, undersubscribed, seed, [containment]); ``bids`` a DataFrame, a
CSV path or CSV text with ``bidder, price, quantity`` (and optionally ``bid``), in submission
order. Bids below the reserve price are listed unfilled, not refused.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import _ets
from ._frames import document, frame, header, table


@dataclass
class Cleared:
    """awards.csv (one row per bid) and clearing.json (price, sold, revenue, tie draw)."""

    awards: pd.DataFrame
    clearing: dict


def clear(rules: Any, bids: Any, *, exact: bool = False) -> Cleared:
    """Clears ``bids`` under ``rules``; ``exact=True`` keeps prices and tonnes as Decimal."""
    awards, clearing = _ets.auction_clear(document(rules, "rules"), table(bids, "bids"))
    columns = header(awards)
    amounts = [c for c in columns if c in ("price", "quantity", "awarded", "pays", "amount_cny")] if exact else []
    text = [c for c in columns if c in ("bid", "bidder", "status")]
    return Cleared(frame(awards, keep_text=text, exact=amounts), json.loads(clearing))
