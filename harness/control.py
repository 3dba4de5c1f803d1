"""The fake provider's control API under ``/_harness/``: health, scenario, stats, case log, reset.

==========================  =================================================================
``GET  /_harness/health``   ``{"status": "ok"}`` (never needs the token: readiness probes)
``GET  /_harness/scenario`` name, seed, time scale, fault names, reply source, YAML source text
``PUT  /_harness/scenario`` a YAML scenario body replaces the scenario live; a bad one answers
                            400 with the one-line :class:`~harness.errors.ScenarioError` text
                            and the old scenario stays
``GET  /_harness/stats``    model requests served, per-fault, per-label and per-status counts
``GET  /_harness/cases``    the case log: case id, call, faults, status, body bytes, time received
                            (unix seconds; newest last)
``POST /_harness/reset``    clears counters, case log, the case counter and pinned cases
==========================  =================================================================

With a token set, every route but health needs ``Authorization: Bearer <token>`` or
``x-harness-token: <token>`` (401 otherwise). A token is required to bind beyond loopback:
a scenario may name ``model: pkg.mod:Model``, which imports code, or a cassette file.
"""

from __future__ import annotations

import hmac
import json
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from harness.errors import UsageError

if TYPE_CHECKING:
    from harness.server import Provider

PREFIX = "/_harness/"
"""Every control route starts here; no dialect path does."""
MAX_CONTROL_BODY = 1 << 20
"""Largest scenario body accepted by ``PUT /_harness/scenario`` (bytes)."""


@dataclass(frozen=True, slots=True)
class ControlReply:
    """A control answer: status, content type and body."""

    status: int
    body: bytes
    content_type: str = "application/json"

    @classmethod
    def json(cls, value: Any, status: int = 200) -> ControlReply:
        """A JSON answer."""
        return cls(status, json.dumps(value, separators=(",", ":"), sort_keys=True).encode() + b"\n")

    @classmethod
    def text(cls, status: int, line: str) -> ControlReply:
        """A one-line plain-text answer (errors)."""
        return cls(status, line.encode() + b"\n", "text/plain; charset=utf-8")


class CaseRecord(NamedTuple):
    """One served model call, as the case log shows it (a tuple: one is made per request)."""

    case: str
    call: int
    faults: list[str]
    status: int
    bytes: int
    path: str
    stream: bool
    pinned: bool
    received: float = 0.0
    """Unix time (seconds) the server took the request in: injected delays count from here."""

    def as_json(self) -> dict[str, Any]:
        """The record as a JSON object."""
        return {
            "case": self.case,
            "call": self.call,
            "faults": self.faults,
            "status": self.status,
            "bytes": self.bytes,
            "path": self.path,
            "stream": self.stream,
            "pinned": self.pinned,
            "received": round(self.received, 6),
        }


_CLEAN = ("clean",)


@dataclass
class Ledger:
    """What the server has served since start or the last reset: counters and a bounded case log."""

    log_size: int = 10_000
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    """Served count per fault name (``clean`` for a reply without faults)."""
    labels: Counter[str] = field(default_factory=Counter)
    """Served count per fault label (name with its non-default parameters)."""
    statuses: Counter[int] = field(default_factory=Counter)
    log: deque[CaseRecord] = field(init=False)
    """The latest :attr:`log_size` records, oldest first."""

    def __post_init__(self) -> None:
        self.log = deque(maxlen=self.log_size)

    def record(self, entry: CaseRecord) -> None:
        """Count one served model call and append it to the case log (the oldest drops out when full)."""
        self.requests += 1
        for label in entry.faults or _CLEAN:
            self.labels[label] += 1
            self.faults[label.partition("(")[0]] += 1
        self.statuses[entry.status] += 1
        self.log.append(entry)

    def stats(self) -> dict[str, Any]:
        """Counters as JSON."""
        return {
            "requests": self.requests,
            "faults": dict(self.faults),
            "labels": dict(self.labels),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }

    def reset(self) -> None:
        """Forget everything served."""
        self.requests = 0
        self.faults.clear()
        self.labels.clear()
        self.statuses.clear()
        self.log.clear()


def authorized(headers: Mapping[str, str], token: str | None) -> bool:
    """True when no token is set or the request carries it (bearer or ``x-harness-token``)."""
    if token is None:
        return True
    bearer = headers.get("authorization", "")
    offered = bearer[7:] if bearer[:7].lower() == "bearer " else headers.get("x-harness-token", "")
    return hmac.compare_digest(offered.encode(), token.encode())


def handle(
    provider: Provider, method: str, path: str, headers: Mapping[str, str], body: bytes
) -> ControlReply:
    """Answer one control request (``path`` starts with :data:`PREFIX`)."""
    route = path[len(PREFIX) :].rstrip("/")
    if route == "health":
        return ControlReply.json({"status": "ok"}) if method == "GET" else _not_allowed(method, path)
    if not authorized(headers, provider.token):
        return ControlReply.text(401, "missing or wrong control token (Authorization: Bearer <token>)")
    if route == "scenario" and method == "PUT":
        return _replace_scenario(provider, body)
    getters = {"scenario": provider.describe, "stats": provider.stats, "cases": provider.cases}
    if route in getters:
        return ControlReply.json(getters[route]()) if method == "GET" else _not_allowed(method, path)
    if route == "reset":
        if method != "POST":
            return _not_allowed(method, path)
        provider.reset()
        return ControlReply.json({"status": "reset"})
    return ControlReply.text(404, f"no control route {path}; expected one of: {', '.join(ROUTES)}")


ROUTES = ("health", "scenario", "stats", "cases", "reset")
"""The control routes, under :data:`PREFIX`."""


def _replace_scenario(provider: Provider, body: bytes) -> ControlReply:
    if len(body) > MAX_CONTROL_BODY:
        return ControlReply.text(413, f"scenario body over {MAX_CONTROL_BODY} bytes")
    try:
        text = body.decode("utf-8")
        provider.replace_scenario(text)
    except UnicodeDecodeError:
        return ControlReply.text(400, "scenario body is not UTF-8 text")
    except UsageError as exc:
        return ControlReply.text(400, str(exc).replace("\n", " "))
    return ControlReply.json(provider.describe())


def _not_allowed(method: str, path: str) -> ControlReply:
    return ControlReply.text(405, f"{method} not allowed on {path}")
