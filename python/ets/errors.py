"""The exceptions of the ets package.

Every refusal names what to fix: ``field`` (a column, a dotted scenario key, an auction
setting), ``file`` (the path or the DataFrame it came from) and ``line`` (1 is the header of
a CSV file) when the engine knows them.
"""

from __future__ import annotations


class EtsError(Exception):
    """Anything the ets engine refuses or fails at."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.file = file
        self.line = line


class InputError(EtsError, ValueError):
    """The input is wrong: a value, a column, a setting; ``field`` names it."""


class InfeasibleError(EtsError):
    """The scenario is well formed but no price clears the market."""


class EngineError(EtsError):
    """The engine broke one of its own rules: a bug, please report it."""


class ApiError(EtsError):
    """The registry answered with a problem (RFC 9457); ``status`` is the HTTP status."""

    def __init__(self, message: str, *, status: int, problem: dict | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.status = status
        self.problem = problem or {}
