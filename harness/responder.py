"""The Responder: Source → Fault plan → Dialect, the one function every delivery calls.

``respond`` is pure given its inputs: the same (seed, case, call) and request give the
same :class:`~harness.wire.WireReply`, byte for byte. Deliveries (in-process interceptor,
fake provider server) only turn that reply into a response.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping
from typing import Any, Protocol

from harness.case import CaseDeadlineExceeded, CaseState, ServedCall
from harness.dialects.base import Dialect, dialect_for_path
from harness.faults.base import FaultContext, FaultUse, Layer
from harness.plan import CLEAN, FaultPlan
from harness.seeding import rng_for
from harness.wire import Completion, ModelRequest, WireReply

LAYER_ORDER = {Layer.CONTENT: 0, Layer.ENVELOPE: 1, Layer.TRANSPORT: 2}
"""The order the Responder applies a chain's faults in: content, then envelope, then transport."""


def fault_rng(seed: int, case: int, call: int, position: int, name: str) -> random.Random:
    """The rng fault ``name`` at ``position`` of a chain draws from for (seed, case, call)."""
    return rng_for(seed, "fault", case, call, position, name)


class Source(Protocol):
    """Where the clean reply comes from (generated, inline, cassette)."""

    def completion(self, request: ModelRequest, rng: Any) -> Completion:
        """The clean completion for ``request``, drawn from ``rng``."""
        ...


class Responder:
    """Serves one model call: clean reply from the source, faults from the plan, bytes from the dialect."""

    def __init__(self, source: Source, plan: FaultPlan = CLEAN, *, seed: int = 0) -> None:
        self.source = source
        self.plan = plan
        self.seed = seed

    def respond(
        self,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        case: CaseState,
        *,
        read_timeout: float | None = None,
    ) -> WireReply:
        """Answer one request for ``case``; raises ``ValueError`` if no dialect serves ``path``.

        A body the dialect cannot parse gets the provider's own 400 error envelope.
        """
        if case.abandoned:
            raise CaseDeadlineExceeded(f"case {case.case_id} was abandoned at its deadline")
        dialect = dialect_for_path(path)
        if dialect is None:
            raise ValueError(f"no dialect serves {path}")
        if case.memory is None:
            return self._respond(dialect, path, body, headers, case, read_timeout)
        with case.memory.provider():
            return self._respond(dialect, path, body, headers, case, read_timeout)

    def _respond(
        self,
        dialect: Dialect,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        case: CaseState,
        read_timeout: float | None,
    ) -> WireReply:
        call = case.next_call()
        try:
            request = dialect.parse(path, body, headers)
        except ValueError as exc:
            # A real provider answers a request it cannot read with a 400, not a crash.
            return self._bad_request(dialect, path, str(exc), case, call)
        request.read_timeout = read_timeout
        uses = self.plan.faults_for(case.seed, case.index, call)
        reply, completion = self.render(dialect, request, uses, case.seed, case.index, call)
        self._stamp(reply, case, [u.label for u in uses])
        case.record(
            ServedCall(
                call=call,
                dialect=dialect.name,
                path=path,
                stream=request.stream,
                faults=reply.faults,
                status=reply.status,
                body=reply.served_body,
                injected_delay=reply.total_delay,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
            )
        )
        return reply

    def _bad_request(self, dialect: Dialect, path: str, reason: str, case: CaseState, call: int) -> WireReply:
        envelope = dialect.render_error(
            400, reason, None, None, rng_for(case.seed, "error", case.index, call)
        )
        reply = dialect.serialize(envelope)
        self._stamp(reply, case, [])
        case.record(
            ServedCall(call, dialect.name, path, False, [], reply.status, reply.body, reply.total_delay)
        )
        return reply

    @staticmethod
    def _stamp(reply: WireReply, case: CaseState, faults: list[str]) -> None:
        reply.case_id = case.case_id
        reply.faults = faults
        reply.headers.append(("x-harness-case", case.case_id))
        reply.headers.append(("x-harness-faults", ";".join(faults) or "clean"))

    def render(
        self,
        dialect: Dialect,
        request: ModelRequest,
        uses: tuple[FaultUse, ...],
        seed: int,
        case: int,
        call: int,
    ) -> tuple[WireReply, Completion]:
        """Apply the chain layer by layer: content → envelope → transport."""
        request.call = call
        # One stream per reply: the source draws the value, then the dialect its ids (and a
        # stream's split) from where the source left off. Seeding a stream costs more than
        # all the draws of a reply, so a reply seeds one, not one per stage.
        reply_rng = rng_for(seed, "reply", case, call)
        completion = self.source.completion(request, reply_rng)
        if request.forced_tool and completion.tool_name is None:
            completion.tool_name = request.forced_tool
        ordered = sorted(enumerate(uses), key=_layer_rank)

        def context(position: int, use: FaultUse) -> FaultContext:
            return FaultContext(request, dialect, fault_rng(seed, case, call, position, use.fault.name))

        for position, use in ordered:
            if use.fault.layer is Layer.CONTENT:
                completion = use.apply_to(built(completion), context(position, use))
        if any(use.fault.layer is Layer.ENVELOPE for use in uses):
            # Envelope faults edit the text inside the envelope: they get it built.
            completion = built(completion)
        envelope = dialect.render(completion, request, reply_rng)
        for position, use in ordered:
            if use.fault.layer is Layer.ENVELOPE:
                envelope = use.apply_to(envelope, context(position, use))
        reply = dialect.serialize(envelope, lazy=completion.lazy_text is not None)
        if completion.head_delay or completion.chunk_times:
            recorded_timing(reply, completion.head_delay, completion.chunk_times)
        for position, use in ordered:
            if use.fault.layer is Layer.TRANSPORT:
                reply = use.apply_to(reply, context(position, use))
        return reply, completion


def _layer_rank(pair: tuple[int, FaultUse]) -> int:
    return LAYER_ORDER[pair[1].fault.layer]


def built(completion: Completion) -> Completion:
    """``completion`` with a lazy text built into its plain ``text``, for a fault that reads the text."""
    if completion.lazy_text is None:
        return completion
    return dataclasses.replace(completion, text=str(completion.lazy_text), lazy_text=None)


def recorded_timing(reply: WireReply, head_delay: float, chunk_times: tuple[float, ...]) -> None:
    """Give ``reply`` a recorded timing: the status line after ``head_delay``, segments at ``chunk_times``.

    The rendered reply rarely has as many segments as the recording had chunks, so segment
    *j* of *n* arrives at recorded time *round(j·(m−1)/(n−1))* of *m*: the first and the last
    chunk keep their recorded times and the pace in between follows the recording.
    """
    reply.head_delay = head_delay
    segments, times = list(reply.segments), chunk_times
    reply.segments = segments
    if not segments or not times:
        return
    count = len(segments)
    arrivals = (
        [times[-1]]
        if count == 1
        else [times[round(j * (len(times) - 1) / (count - 1))] for j in range(count)]
    )
    previous = 0.0
    for segment, at in zip(segments, arrivals, strict=True):
        segment.delay, previous = max(0.0, at - previous), at
