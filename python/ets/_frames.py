"""Turning the engine's CSV text into DataFrames and DataFrames or files into named texts."""

from __future__ import annotations

import csv
import io
import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

Named = tuple[str, str]


def frame(text: str, *, keep_text: Iterable[str] = (), exact: Iterable[str] = ()) -> pd.DataFrame:
    """A DataFrame of a CSV table the engine wrote.

    Columns in ``keep_text`` stay strings (ids, names: never ``NaN`` for an empty field);
    columns in ``exact`` become :class:`decimal.Decimal` (the file's exact decimals).
    """
    keep = set(keep_text) | set(exact)
    table = pd.read_csv(
        io.StringIO(text),
        dtype={c: str for c in keep},
        keep_default_na=False,
        na_values={c: [""] for c in header(text) if c not in keep},
    )
    for column in exact:
        if column in table.columns:
            table[column] = [Decimal(v) if v != "" else None for v in table[column]]
    return table


def header(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text)), [])


def is_path(value: Any) -> bool:
    return isinstance(value, os.PathLike) or (
        isinstance(value, str) and "\n" not in value and Path(value).suffix != "" and Path(value).exists()
    )


def table(value: Any, name: str) -> Named:
    """A CSV table given as a DataFrame, a path or CSV text, as (label, text)."""
    if isinstance(value, pd.DataFrame):
        return (f"{name} (DataFrame)", value.to_csv(index=False))
    if is_path(value):
        return (str(value), Path(value).read_text(encoding="utf-8"))
    if isinstance(value, (list, tuple)):
        return table(pd.DataFrame(value), name)
    if isinstance(value, str):
        return (f"{name} (text)", value)
    raise TypeError(f"{name}: expected a DataFrame, a path or CSV text, got {type(value).__name__}")


def document(value: Any, name: str) -> Named:
    """A TOML/JSON document given as a dict, a path or TOML text, as (label, text)."""
    if isinstance(value, dict):
        return (f"{name}.json", json.dumps(value))
    if is_path(value):
        return (str(value), Path(value).read_text(encoding="utf-8"))
    if isinstance(value, str):
        stripped = value.lstrip()
        suffix = ".json" if stripped.startswith(("{", "[")) else ".toml"
        return (f"{name}{suffix}", value)
    raise TypeError(f"{name}: expected a dict, a path or TOML text, got {type(value).__name__}")
