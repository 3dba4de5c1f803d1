"""Route the provider SDKs' retry backoff through the case clock.

openai and anthropic sleep between retries with ``time.sleep`` / ``anyio.sleep`` inside
their ``_base_client`` modules. Under a time scale below 1 those real sleeps would both
slow the run and escape the scenario-time latency; routing them through
:meth:`CaseState.wait` scales them like every injected delay and lets the case deadline
end a retry loop that would outlive it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from types import ModuleType
from typing import Any
from unittest import mock

import anyio

from harness.case import CaseState

SDK_CLIENT_MODULES = ("openai._base_client", "anthropic._base_client")
"""Modules whose module-level ``time`` and ``anyio`` names the SDKs use for retry sleeps."""


class _ClockedModule:
    """Stands in for a module, replacing only its ``sleep``."""

    def __init__(self, real: ModuleType, sleep: Callable[..., Any]) -> None:
        self._real = real
        self.sleep = sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def patch_sdk_backoff(stack: ExitStack, case_for: Callable[[], CaseState | None]) -> None:
    """Patch every imported SDK client module so retry sleeps wait on ``case_for()``'s clock.

    Idempotent: a module already patched is left alone.
    """

    def sleep(seconds: float) -> None:
        case = case_for()
        if case is None:
            time.sleep(seconds)
        else:
            case.wait(seconds)

    async def async_sleep(seconds: float) -> None:
        case = case_for()
        if case is None:
            await anyio.sleep(seconds)
        else:
            await case.async_wait(seconds)

    for name in SDK_CLIENT_MODULES:
        # Only SDKs already imported: importing one just to patch it costs a second or more.
        # The interceptor calls this again on every model call, so a pipeline that imports
        # its SDK lazily is patched before the first retry can sleep.
        module = sys.modules.get(name)
        if module is None:
            continue
        if getattr(module, "time", None) is time:
            stack.enter_context(mock.patch.object(module, "time", _ClockedModule(time, sleep)))
        if getattr(module, "anyio", None) is anyio:
            stack.enter_context(mock.patch.object(module, "anyio", _ClockedModule(anyio, async_sleep)))
