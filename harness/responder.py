"""The Responder: Source → Fault plan → Dialect, the one function every delivery calls.

``respond`` is pure given its inputs: the same (seed, case, call) and request give the
same :class:`~harness.wire.WireReply`, byte for byte. Deliveries (in-process interceptor,
fake provider server) only turn that reply into a response.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from harness.case import CaseState, ServedCall
from harness.dialects.base import Dialect, dialect_for_path
from harness.faults.base import FaultContext, FaultUse, Layer
from harness.plan import CLEAN, FaultPlan
from harness.seeding import rng_for
from harness.wire import Completion, ModelRequest, WireReply

_LAYER_ORDER = {Layer.CONTENT: 0, Layer.ENVELOPE: 1, Layer.TRANSPORT: 2}


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
        """Answer one request for ``case``; raises ``ValueError`` if no dialect serves ``path``."""
        dialect = dialect_for_path(path)
        if dialect is None:
            raise ValueError(f"no dialect serves {path}")
        request = dialect.parse(path, body, headers)
        request.read_timeout = read_timeout
        call = case.next_call()
        uses = self.plan.faults_for(case.seed, case.index, call)
        reply, completion = self.render(dialect, request, uses, case.seed, case.index, call)
        reply.case_id = case.case_id
        reply.faults = [u.label for u in uses]
        reply.headers.append(("x-harness-case", case.case_id))
        reply.headers.append(("x-harness-faults", ";".join(reply.faults) or "clean"))
        case.record(
            ServedCall(
                call=call,
                dialect=dialect.name,
                path=path,
                stream=request.stream,
                faults=reply.faults,
                status=reply.status,
                body=reply.body,
                injected_delay=reply.total_delay,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
            )
        )
        return reply

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
        completion = self.source.completion(request, rng_for(seed, "source", case, call))
        if request.forced_tool and completion.tool_name is None:
            completion.tool_name = request.forced_tool
        ordered = sorted(enumerate(uses), key=lambda pair: _LAYER_ORDER[pair[1].fault.layer])

        def context(position: int, use: FaultUse) -> FaultContext:
            return FaultContext(
                request, dialect, rng_for(seed, "fault", case, call, position, use.fault.name)
            )

        for position, use in ordered:
            if use.fault.layer is Layer.CONTENT:
                completion = use.apply_to(completion, context(position, use))
        envelope = dialect.render(completion, request, rng_for(seed, "render", case, call))
        for position, use in ordered:
            if use.fault.layer is Layer.ENVELOPE:
                envelope = use.apply_to(envelope, context(position, use))
        reply = dialect.serialize(envelope)
        for position, use in ordered:
            if use.fault.layer is Layer.TRANSPORT:
                reply = use.apply_to(reply, context(position, use))
        return reply, completion
