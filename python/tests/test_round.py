"""ets.round: the registry's optimizer on DataFrames, with the columns of `ets round solve`."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

import ets
from conftest import run_ets

EXAMPLES = "optimizer/examples"


def test_the_example_round_from_files(repo):
    solved = ets.round.solve(
        repo / EXAMPLES / "applications.csv",
        repo / EXAMPLES / "pools.csv",
        repo / EXAMPLES / "strict-priority.toml",
        exact=True,
    )
    assert solved.summary["applications"] == 5
    assert solved.summary["by_status"] == {"full": 2, "partial": 3}
    assert solved.summary["pollutants"]["cod"]["granted"] == "14.000"
    assert sum(g for g in solved.grants["cod_granted"] if g is not None) == Decimal("14.000")
    names = set(solved.grants["enterprise"])
    assert {"重庆长江新材料有限公司", 'Jialing "Green" Pharma Co., Ltd.'} <= names


def test_dataframes_give_what_the_cli_writes(repo, ets_bin, tmp_path):
    applications = pd.read_csv(repo / EXAMPLES / "applications.csv", dtype=str, keep_default_na=False)
    pools = pd.read_csv(repo / EXAMPLES / "pools.csv", dtype=str)
    policy = repo / EXAMPLES / "strict-priority.toml"
    solved = ets.round.solve(applications, pools, policy)
    cli = run_ets(
        ets_bin, "round", "solve",
        "--applications", str(repo / EXAMPLES / "applications.csv"),
        "--pools", str(repo / EXAMPLES / "pools.csv"),
        "--policy", str(policy), "--out", str(tmp_path),
    )
    assert cli.returncode == 0, cli.stderr
    grants = pd.read_csv(tmp_path / "grants.csv", keep_default_na=False, na_values={"cod_granted": [""]})
    assert grants["application"].tolist() == solved.grants["application"].tolist()
    assert grants["status"].tolist() == solved.grants["status"].tolist()
    pd.testing.assert_series_equal(grants["cod_granted"], solved.grants["cod_granted"])


def test_the_peer_files_as_they_are(repo):
    peer = repo / EXAMPLES / "peer-300"
    solved = ets.round.solve(
        pd.read_csv(peer / "applications.csv"), peer / "pools.csv", repo / EXAMPLES / "strict-priority.toml",
        exact=True,
    )
    assert len(solved.grants) == 300
    total = sum(
        (g for p in ("cod", "nh3n", "so2", "nox") for g in solved.grants[f"{p}_granted"] if g is not None),
        Decimal(0),
    )
    partial = (solved.grants["status"] == "partial").sum()
    # The analyst's highspy script grants 2076.188 t; ours round down to whole kilograms.
    assert Decimal("2076.188") - Decimal(4 * int(partial)) / 1000 <= total <= Decimal("2076.188")


def test_more_places_than_the_scale_is_refused_naming_the_cell(repo):
    applications = pd.read_csv(repo / EXAMPLES / "applications.csv", dtype=str, keep_default_na=False)
    applications.loc[1, "cod"] = "2.0001"
    with pytest.raises(ets.InputError) as refused:
        ets.round.solve(applications, repo / EXAMPLES / "pools.csv", repo / EXAMPLES / "strict-priority.toml")
    error = refused.value
    assert (error.field, error.line) == ("cod", 3), error
    assert error.file == "applications (DataFrame)"
    assert "2.0001" in str(error)


def round_document() -> dict:
    def application(id: str, tonnes: str, value: str) -> dict:
        return {
            "id": id,
            "enterprise": f"E-{id}",
            "requests": [{"pollutant": "COD", "quantity": tonnes}],
            "location": {"district": "fuling", "basin": "wujiang", "airshed": "east", "zone": "general"},
            "credit": "good",
            "value_added_cny_per_year": value,
            "filed_at_unix_s": 0,
        }

    return {
        "id": "doc-1",
        "districts": ["fuling"],
        "basins": ["wujiang"],
        "airsheds": ["east"],
        "pollutants": [{"id": "COD", "medium": "water", "scale": 3}],
        "pools": [
            {"id": "cod-wujiang", "pollutant": "COD", "area": "wujiang",
             "sources": [{"reduction_id": "R-1", "quantity": "10.000"}]}
        ],
        "applications": [application("A", "6.000", "900"), application("B", "6.000", "800")],
        "policy": {"version": "inline", "default_tier": 4},
    }


def test_a_whole_round_document_and_a_replacing_policy():
    solved = ets.round.solve(round=round_document(), exact=True)
    assert list(zip(solved.grants["application"], solved.grants["COD_granted"])) == [
        ("A", Decimal("6.000")),
        ("B", Decimal("4.000")),
    ]
    held = ets.round.solve(round=round_document(), policy='version = "reserve"\nreserve_share = "0.05"\ndefault_tier = 4\n', exact=True)
    assert (held.pools.loc[0, "held_back"], held.pools.loc[0, "available"]) == (Decimal("0.500"), Decimal("9.500"))
    assert held.summary["policy_version"] == "reserve"


def test_pandas_default_dtypes_are_accepted(repo, tmp_path):
    """pd.read_csv makes a column with a blank into floats (tier 1.0, NaN): still read as the
    integers the clerk wrote."""
    text = (repo / EXAMPLES / "applications.csv").read_text(encoding="utf-8").splitlines()
    header, first, *rest = text
    columns = header.split(",")
    cells = first.split(",")
    cells[columns.index("tier")] = ""
    path = tmp_path / "applications.csv"
    path.write_text("\n".join([header, ",".join(cells), *rest]) + "\n", encoding="utf-8")
    applications = pd.read_csv(path)
    assert applications["tier"].dtype == "float64"
    from_frame = ets.round.solve(applications, repo / EXAMPLES / "pools.csv", repo / EXAMPLES / "strict-priority.toml")
    from_file = ets.round.solve(path, repo / EXAMPLES / "pools.csv", repo / EXAMPLES / "strict-priority.toml")
    pd.testing.assert_frame_equal(from_frame.grants, from_file.grants)


def test_a_mistyped_path_is_not_read_as_text(repo):
    with pytest.raises(FileNotFoundError):
        ets.round.solve(repo / EXAMPLES / "applications.csv", repo / EXAMPLES / "pools.csv", "strict-priorty.toml")
    with pytest.raises(ets.InputError):
        ets.round.solve(round={"id": "r"})
