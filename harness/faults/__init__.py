"""The fault catalogue; importing this package registers every built-in fault.

One module per layer: :mod:`~harness.faults.content` (the model's text),
:mod:`~harness.faults.envelope` (the provider JSON) and :mod:`~harness.faults.transport`
(status, timing, framing, the connection).
"""

from __future__ import annotations

from harness.faults import base
from harness.faults import content as content
from harness.faults import envelope as envelope
from harness.faults import transport as transport
from harness.faults.base import FAULTS, Fault, FaultContext, FaultUse, Layer, NoParams, Params, fault

__all__ = [
    "FAULTS",
    "Fault",
    "FaultContext",
    "FaultUse",
    "Layer",
    "NoParams",
    "Params",
    "base",
    "content",
    "envelope",
    "fault",
    "transport",
]
