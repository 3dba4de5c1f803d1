"""Load tests: Locust drives a pipeline service while the fake provider misbehaves; SLOs gate the run.

``harness load SCENARIO --target …`` (:mod:`harness.load.engine`) runs it all; in your own
locustfile, ``from harness.load import PipelineUser``. Importing this package imports no
Locust (which monkey-patches the process with gevent): :data:`PipelineUser` loads on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "PipelineUser": "harness.load.user",
    "LoadRun": "harness.load.model",
    "LoadSample": "harness.load.model",
    "LoadSettings": "harness.load.model",
}

__all__ = ["LoadRun", "LoadSample", "LoadSettings", "PipelineUser"]

if TYPE_CHECKING:
    from harness.load.model import LoadRun, LoadSample, LoadSettings
    from harness.load.user import PipelineUser


def __getattr__(name: str) -> Any:
    """Import exported names on first use (PipelineUser imports Locust)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'harness.load' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
