"""A reallocation round from tables, on the registry's optimizer (``ets round solve``).

``applications`` and ``pools`` are DataFrames, CSV paths or CSV text in the formats of
``optimizer/examples/README.md``; ``policy`` is a TOML path, TOML text or a dict. Quantities
must fit the pollutant's scale (3 decimals by default): more places are refused, not rounded,
so build request columns from decimals or round them yourself.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import _ets
from ._frames import document, frame, header, table

GRANT_TEXT = ("application", "enterprise", "status", "excluded_by", "binding", "notes")
POOL_TEXT = ("kind", "id", "pollutant", "area")
POOL_AMOUNTS = ("total", "held_back", "available", "used", "granted", "retired", "left")


@dataclass
class Solved:
    """grants.csv, pools.csv and summary.json of a solved round."""

    grants: pd.DataFrame
    pools: pd.DataFrame
    summary: dict


def _solved(texts: tuple[str, str, str], exact: bool) -> Solved:
    grants, pools, summary = texts
    g_header = header(grants)
    amounts = [c for c in g_header if c.endswith(("_requested", "_granted", "_drawn"))] if exact else []
    p_header = header(pools)
    pool_amounts = [c for c in p_header if c in POOL_AMOUNTS] if exact else []
    return Solved(
        frame(grants, keep_text=[c for c in GRANT_TEXT if c in g_header], exact=amounts),
        frame(pools, keep_text=[c for c in POOL_TEXT if c in p_header], exact=pool_amounts),
        json.loads(summary),
    )


def solve(
    applications: Any = None,
    pools: Any = None,
    policy: Any = None,
    *,
    round: Any = None,
    id: str = "offline",
    exact: bool = False,
) -> Solved:
    """Solves a round: from ``applications`` + ``pools`` + ``policy``, or from a whole
    ``round`` document (JSON/TOML path or dict) with an optional replacing ``policy``.

    With ``exact=True`` tonnage columns hold :class:`decimal.Decimal` instead of floats.
    """
    if round is not None:
        policy_text = document(policy, "policy") if policy is not None else None
        return _solved(_ets.round_solve_document(document(round, "round"), policy_text), exact)
    if applications is None or pools is None or policy is None:
        raise TypeError("solve needs applications, pools and policy (or round=...)")
    texts = _ets.round_solve(
        id, table(applications, "applications"), table(pools, "pools"), document(policy, "policy")
    )
    return _solved(texts, exact)
