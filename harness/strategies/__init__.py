"""Hypothesis strategies over faults and model replies, for fuzzing a pipeline in-process.

::

    from hypothesis import given, settings
    from harness.strategies import fault_chains, intercepting

    @settings(deadline=None)
    @given(chain=fault_chains(max_size=2))
    def test_extract_never_passes_garbage(chain):
        with intercepting(chain, UserRecord):
            try:
                record = extract("Sign up Ada Lovelace, ada@example.com")
            except ExtractionError:
                return                         # a declared, clean failure
        UserRecord.model_validate(record)      # anything else must keep the contract

When the test fails, Hypothesis shrinks the chain to the fewest, simplest faults that
still break it (``[FaultUse(rename_keys)]``), prints it, and replays it from its example
database on the next run. Every random choice — fault parameters, the faults' own random
streams, generated replies — comes from Hypothesis draws, so ``--hypothesis-seed`` and
``@example`` work as usual.

- :func:`faults` — one registered fault with drawn parameters;
- :func:`fault_chains` — faults for one call across layers, in the Responder's order;
- :func:`call_plans` — what call 1, 2, 3 of a retrying pipeline see (a SequencePlan);
- :func:`clean_replies` — JSON valid against a schema or pydantic model;
- :func:`mutated_replies` — content faults applied to a clean reply (:class:`MutatedReply`);
- :func:`responder_for` / :func:`intercepting` — serve what was drawn to the pipeline.
"""

from __future__ import annotations

from harness.strategies._faults import LAYER_ORDER, Chain, call_plans, fault_chains, faults, order_chain
from harness.strategies._params import FUZZ_BOUNDS
from harness.strategies._replies import SEEDS, MutatedReply, clean_replies, mutated_replies
from harness.strategies._serving import (
    DEFAULT_CASE_TIMEOUT,
    Intercepting,
    PipelineHung,
    intercepting,
    responder_for,
)

__all__ = [
    "DEFAULT_CASE_TIMEOUT",
    "FUZZ_BOUNDS",
    "LAYER_ORDER",
    "SEEDS",
    "Chain",
    "Intercepting",
    "MutatedReply",
    "PipelineHung",
    "call_plans",
    "clean_replies",
    "fault_chains",
    "faults",
    "intercepting",
    "mutated_replies",
    "order_chain",
    "responder_for",
]
