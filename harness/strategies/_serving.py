"""Turn what a strategy drew into a Responder, and serve it to the pipeline for one example."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from hypothesis.errors import InvalidArgument

from harness.case import CaseDeadlineExceeded
from harness.faults.base import FaultUse
from harness.plan import FaultPlan, RatePlan, Rule
from harness.responder import Responder, Source
from harness.sources.inline import InlineSource
from harness.strategies._faults import order_chain
from harness.strategies._replies import IMPORT_PATH, MutatedReply, schema_source

if TYPE_CHECKING:
    from harness.interception import Interceptor

Drawn = FaultUse | Sequence[FaultUse] | FaultPlan
"""What :func:`responder_for` serves: one fault, a chain (every call), or a plan (call by call)."""

DEFAULT_CASE_TIMEOUT = 60.0
"""Scenario seconds one example may take before :class:`PipelineHung` (free with time_scale 0)."""


class PipelineHung(AssertionError):
    """The pipeline was still waiting at the example's case timeout: it would hang in production.

    An ``AssertionError``, unlike :class:`~harness.case.CaseDeadlineExceeded`, so Hypothesis
    counts it as a failure and shrinks the example.
    """


def as_plan(drawn: Drawn) -> FaultPlan:
    """The fault plan for ``drawn``: a chain applies to every call; a plan is kept."""
    if isinstance(drawn, FaultPlan):
        return drawn
    uses = (drawn,) if isinstance(drawn, FaultUse) else tuple(drawn)
    if not all(isinstance(u, FaultUse) for u in uses):
        raise InvalidArgument(f"drawn={drawn!r}; expected a FaultUse, a sequence of them, or a FaultPlan")
    return RatePlan((Rule(order_chain(uses)),))


def as_source(source: Any) -> Source:
    """A Responder source: a harness source, reply text, a MutatedReply's clean text, or a schema."""
    if isinstance(source, MutatedReply):
        return InlineSource(source.clean)
    if hasattr(source, "completion") and not isinstance(source, type):
        return source
    if isinstance(source, str) and not IMPORT_PATH.match(source):
        return InlineSource(source)
    return schema_source(source)


def responder_for(drawn: Drawn, source: Any, *, seed: int = 0) -> Responder:
    """A Responder serving ``drawn`` on top of clean replies from ``source``.

    ``drawn`` is a fault, a chain (applied to every model call, as retries of a broken
    provider see it) or a plan from :func:`call_plans` (call by call). ``source`` is a JSON
    Schema, a pydantic model class or its ``pkg.mod:Model`` path (Faker-generated replies),
    reply text (served verbatim, e.g. from :func:`clean_replies`), a ``MutatedReply`` (its
    clean text) or any harness source. ``seed`` seeds the faults' and generator's random
    streams; draw it (``st.integers(0, 2**32 - 1)``) to let Hypothesis vary and shrink it.
    ``harness.intercept(responder, time_scale=0)`` serves it; :func:`intercepting` does
    that and adds the case timeout.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InvalidArgument(f"seed={seed!r} must be an integer")
    return Responder(as_source(source), as_plan(drawn), seed=seed)


class Intercepting:
    """One example's fake provider: a fresh interceptor, case and call counter on every ``with``.

    Delays are accounted in scenario time, not slept (``time_scale`` 0 by default), and a
    pipeline still waiting after ``case_timeout`` scenario seconds raises
    :class:`PipelineHung`, which Hypothesis shrinks like any failure.
    """

    def __init__(
        self,
        responder: Responder,
        *,
        time_scale: float = 0.0,
        case_timeout: float | None = DEFAULT_CASE_TIMEOUT,
        hosts: Iterable[str] | None = None,
    ) -> None:
        self.responder = responder
        self.time_scale = time_scale
        self.case_timeout = case_timeout
        self.hosts = hosts
        self.interceptor: Interceptor | None = None
        """The active interceptor (its ``calls`` are this example's served calls)."""

    def __enter__(self) -> Interceptor:
        from harness.interception import Interceptor

        self.interceptor = Interceptor(
            self.responder, hosts=self.hosts, time_scale=self.time_scale, deadline=self.case_timeout
        )
        return self.interceptor.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.interceptor is not None:
            self.interceptor.stop()
        if isinstance(exc, CaseDeadlineExceeded):
            raise PipelineHung(f"the pipeline hung: {exc} (case_timeout={self.case_timeout}s)") from exc

    async def __aenter__(self) -> Interceptor:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def intercepting(
    drawn: Drawn,
    source: Any,
    *,
    seed: int = 0,
    time_scale: float = 0.0,
    case_timeout: float | None = DEFAULT_CASE_TIMEOUT,
    hosts: Iterable[str] | None = None,
) -> Intercepting:
    """Fake the provider for one Hypothesis example: ``with intercepting(chain, Model) as provider:``.

    Use it inside the ``@given`` test body, not as a fixture: each ``with`` starts a new
    case (call counter 1, empty call log) and removes its patches on exit, so nothing
    leaks between examples. ``drawn``, ``source`` and ``seed`` are those of
    :func:`responder_for`; ``time_scale`` (default 0: delays accounted, never slept),
    ``case_timeout`` (scenario seconds before :class:`PipelineHung`; None waits forever)
    and ``hosts`` are the interceptor's.
    """
    if isinstance(time_scale, bool) or not isinstance(time_scale, int | float) or time_scale < 0:
        raise InvalidArgument(f"time_scale={time_scale!r} must be a number >= 0")
    if case_timeout is not None and (
        isinstance(case_timeout, bool) or not isinstance(case_timeout, int | float) or case_timeout <= 0
    ):
        raise InvalidArgument(f"case_timeout={case_timeout!r} must be a number > 0 or None")
    return Intercepting(
        responder_for(drawn, source, seed=seed),
        time_scale=float(time_scale),
        case_timeout=None if case_timeout is None else float(case_timeout),
        hosts=hosts,
    )
