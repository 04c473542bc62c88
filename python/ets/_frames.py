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
        # Empty, and the engine's `NaN` (a value it could not compute), are missing numbers.
        na_values={c: ["", "NaN"] for c in header(text) if c not in keep},
    )
    for column in exact:
        if column in table.columns:
            table[column] = [Decimal(v) if v != "" else None for v in table[column]]
    return table


def header(text: str) -> list[str]:
    return next(csv.reader(io.StringIO(text)), [])


#: Suffixes of the files a string may name; a one-line string ending in one is a path.
FILE_SUFFIXES = (".toml", ".json", ".csv")


def is_path(value: Any) -> bool:
    """True for a path-like or a one-line string naming an existing file.

    A one-line string ending in ``.toml``, ``.json`` or ``.csv`` that names no file raises
    :class:`FileNotFoundError` (a mistyped path, not a document).
    """
    if isinstance(value, os.PathLike):
        return True
    if not isinstance(value, str) or "\n" in value or "=" in value:
        return False
    try:
        exists = Path(value).is_file()
    except (OSError, ValueError):  # too long for a file name, or a NUL byte: text
        return False
    if not exists and value.strip().lower().endswith(FILE_SUFFIXES):
        raise FileNotFoundError(value)
    return exists


def _csv_of(frame: pd.DataFrame) -> str:
    """CSV text of a DataFrame as a clerk would write it: a float column of whole numbers
    (pandas' way of holding an integer column with blanks) is written as integers."""
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_float_dtype(values):
            present = values.dropna()
            if len(present) and (present == present.round()).all():
                out[column] = values.astype("Int64")
    return out.to_csv(index=False)


def table(value: Any, name: str) -> Named:
    """A CSV table given as a DataFrame, a path or CSV text, as (label, text)."""
    if isinstance(value, pd.DataFrame):
        return (f"{name} (DataFrame)", _csv_of(value))
    if isinstance(value, (list, tuple)):
        return table(pd.DataFrame(value), name)
    if is_path(value):
        return (str(value), Path(value).read_text(encoding="utf-8"))
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
        # A document is a table: JSON opens with `{`; TOML may open with `[section]`.
        suffix = ".json" if value.lstrip().startswith("{") else ".toml"
        return (f"{name}{suffix}", value)
    raise TypeError(f"{name}: expected a dict, a path or TOML text, got {type(value).__name__}")
