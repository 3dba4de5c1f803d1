"""The fault catalogue; importing this package registers every built-in fault.

Modules by layer: :mod:`~harness.faults.content` and :mod:`~harness.faults.content_text`
(the model's text: its JSON structure, and the text as a whole), :mod:`~harness.faults.envelope`
(the provider JSON), :mod:`~harness.faults.transport` (status, timing, framing, the connection)
and :mod:`~harness.faults.socket` (raw bytes instead of HTTP, a dripping body).
"""

from __future__ import annotations

from harness.faults import base
from harness.faults import content as content
from harness.faults import content_text as content_text
from harness.faults import envelope as envelope
from harness.faults import socket as socket
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
    "content_text",
    "envelope",
    "fault",
    "socket",
    "transport",
]
