"""A small client of a live ets registry, built on its OpenAPI document.

The client reads ``/openapi.json`` once and offers every operation by its ``operationId``,
with path and query parameters as keyword arguments and the request body as ``body``::

    reg = ets.client.Registry("http://127.0.0.1:8080", key="ets_...")
    reg.operations()                       # what the server offers, with summaries
    reg.list_accounts(owner="bureau")      # GET /v1/accounts?owner=bureau
    reg.run_scenario(body=toml_text)       # POST /v1/scenarios/run (application/toml)
    reg.run_scenario(body=toml_text, accept="text/csv")   # the long table as a DataFrame

A refusal raises :class:`ets.errors.ApiError` with the status, the problem document and its
``field``. Every POST gets a fresh ``Idempotency-Key`` unless one is given, so a retry with
the same key is answered once. Only the standard library is used for HTTP.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .errors import ApiError


@dataclass(frozen=True)
class Operation:
    """One operation of the OpenAPI document."""

    id: str
    method: str
    path: str
    summary: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]
    body_types: tuple[str, ...]


def _operations(spec: dict) -> dict[str, Operation]:
    found = {}
    for path, item in spec.get("paths", {}).items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "patch", "delete") or "operationId" not in op:
                continue
            params = op.get("parameters", [])
            content = (op.get("requestBody") or {}).get("content", {})
            found[op["operationId"]] = Operation(
                id=op["operationId"],
                method=method.upper(),
                path=path,
                summary=op.get("summary", ""),
                path_params=tuple(p["name"] for p in params if p.get("in") == "path"),
                query_params=tuple(p["name"] for p in params if p.get("in") == "query"),
                body_types=tuple(content),
            )
    return found


class Registry:
    """A registry at ``base_url`` called with the API key ``key`` (``ets admin create-key``)."""

    def __init__(self, base_url: str, key: str | None = None, *, timeout: float = 60.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.timeout = timeout
        self.spec = self._send("GET", "/openapi.json", None, {}, None)
        self._ops = _operations(self.spec)

    def operations(self) -> pd.DataFrame:
        """Every operation: id, method, path and summary."""
        rows = [(o.id, o.method, o.path, o.summary) for o in self._ops.values()]
        return pd.DataFrame(rows, columns=["operation", "method", "path", "summary"])

    def __getattr__(self, name: str):
        ops = self.__dict__.get("_ops", {})
        if name in ops:
            return lambda **kw: self.call(name, **kw)
        raise AttributeError(f"{type(self).__name__} has no operation {name!r}")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_ops", {})))

    def call(
        self,
        operation: str,
        /,
        *,
        body: Any = None,
        content_type: str | None = None,
        accept: str | None = None,
        idempotency_key: str | None = None,
        **params: Any,
    ) -> Any:
        """Calls ``operation`` (an operationId) and returns its decoded answer."""
        op = self._ops.get(operation)
        if op is None:
            raise KeyError(f"no operation {operation!r}; see Registry.operations()")
        path = op.path
        for name in op.path_params:
            if name not in params:
                raise TypeError(f"{operation} needs the path parameter {name!r}")
            path = path.replace("{" + name + "}", urllib.parse.quote(str(params.pop(name)), safe=""))
        unknown = set(params) - set(op.query_params)
        if unknown:
            raise TypeError(f"{operation} takes no parameter {sorted(unknown)}; it takes {list(op.query_params)}")
        query = {k: v for k, v in params.items() if v is not None}
        if query:
            path += "?" + urllib.parse.urlencode(query)
        headers = {}
        if op.method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        if accept:
            headers["Accept"] = accept
        data = None
        if body is not None:
            data, kind = _encode(body, content_type, op.body_types)
            headers["Content-Type"] = kind
        return self._send(op.method, path, data, headers, accept)

    def _send(self, method: str, path: str, data: bytes | None, headers: dict, accept: str | None):
        if self.key:
            headers = {**headers, "Authorization": f"Bearer {self.key}"}
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _decode(response.headers.get("Content-Type", ""), response.read())
        except urllib.error.HTTPError as error:
            raise _problem(error) from None


def _encode(body: Any, content_type: str | None, offered: tuple[str, ...]) -> tuple[bytes, str]:
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode(), content_type or "application/json"
    if isinstance(body, bytes):
        return body, content_type or (offered[0] if offered else "application/octet-stream")
    text = str(body)
    kind = content_type or ("application/json" if text.lstrip().startswith(("{", "[")) else None)
    return text.encode(), kind or (offered[0] if offered else "text/plain")


def _decode(content_type: str, raw: bytes) -> Any:
    kind = content_type.split(";")[0].strip()
    if kind.endswith("json"):
        return json.loads(raw) if raw else None
    if kind == "text/csv":
        # The long table, typed as ets.scenario.run types it (tags stay text, "NA" is a name).
        from ._frames import frame
        from .scenario import LONG_TEXT

        return frame(raw.decode("utf-8"), keep_text=LONG_TEXT)
    return raw.decode("utf-8", "replace")


def _problem(error: urllib.error.HTTPError) -> ApiError:
    raw = error.read()
    try:
        problem = json.loads(raw)
    except ValueError:
        problem = {"detail": raw.decode("utf-8", "replace")}
    if not isinstance(problem, dict):
        problem = {"detail": str(problem)}
    detail = problem.get("detail") or problem.get("title") or error.reason
    field = problem.get("field")
    message = f"{error.code} {problem.get('title', '')}: {detail}".replace(" : ", ": ")
    return ApiError(message, status=error.code, problem=problem, field=field)


