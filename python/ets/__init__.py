"""ets for economists: policy scenarios, reallocation rounds and sealed-bid auctions on the
ets engine's own cores, as pandas DataFrames, plus a small client of a live registry.

>>> import ets
>>> run = ets.scenario.run("scenarios/examples/policy.toml")
>>> run.market["price"]

Modules: :mod:`ets.scenario`, :mod:`ets.round`, :mod:`ets.auction`, :mod:`ets.client`;
exceptions in :mod:`ets.errors` (``InputError`` names the field, file and line).
"""

from . import auction, client, errors, round, scenario
from ._ets import __version__
from .errors import ApiError, EngineError, EtsError, InfeasibleError, InputError

__all__ = [
    "ApiError",
    "EngineError",
    "EtsError",
    "InfeasibleError",
    "InputError",
    "__version__",
    "auction",
    "client",
    "errors",
    "round",
    "scenario",
]
