"""Shared fixtures: the repository's paths, the `ets` binary, and a real `ets serve` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def ets_binary() -> Path:
    """The `ets` the test-suite built (ETS_BIN, else CARGO_TARGET_DIR/debug/ets)."""
    if os.environ.get("ETS_BIN"):
        return Path(os.environ["ETS_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "ets"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def ets_bin() -> Path:
    path = ets_binary()
    if not path.exists():
        pytest.fail(f"no ets binary at {path}: build it (cargo build) or set ETS_BIN")
    return path


def run_ets(ets_bin: Path, *args: str, env: dict | None = None, cwd: Path = REPO):
    return subprocess.run(
        [str(ets_bin), *args], capture_output=True, text=True, cwd=cwd, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="session")
def registry(ets_bin: Path, tmp_path_factory):
    """A live `ets serve` on a fresh SQLite database, and an economist's and the bureau's keys."""
    db = tmp_path_factory.mktemp("registry") / "ets.db"
    env = {"ETS_DATABASE_URL": f"sqlite://{db}", "ETS_DUTY_SECONDS": "0"}
    keys = {}
    server = subprocess.Popen(
        [str(ets_bin), "serve", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        env={**os.environ, **env},
    )
    try:
        first = server.stdout.readline().strip()
        address = first.split()[-1].removeprefix("http://")
        assert ":" in address, f"ets serve printed {first!r}"
        for role in ("economist", "bureau"):
            made = run_ets(ets_bin, "admin", "create-key", "--role", role, "--label", f"pytest-{role}", env=env)
            assert made.returncode == 0, made.stderr
            keys[role] = made.stdout.strip()
        yield {"base": f"http://{address}", **keys}
    finally:
        server.terminate()
        server.wait(timeout=10)
