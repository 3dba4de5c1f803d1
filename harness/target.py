"""Targets: the pipeline under test.

``py:package.module:function`` targets run in-process (sync or async functions, called
with one input). Service targets — ``http://host:port/path``, or a command the harness
launches (``--target-cmd`` with ``--target-url``) — live in :mod:`harness.targets_wire`.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from harness.errors import UsageError
from harness.importing import ObjectImportError, import_object
from harness.reports import short_target

if TYPE_CHECKING:
    from harness.targets_wire import HttpTarget


class Target(Protocol):
    """What the runner, reports and replay commands need of any target."""

    @property
    def label(self) -> str:
        """The target's name in reports and xfail maps."""
        ...

    @property
    def short(self) -> str:
        """A compact name for tables."""
        ...

    def replay_args(self) -> list[str]:
        """The command-line options that select this target again."""
        ...


@dataclass(frozen=True)
class PyTarget:
    """A Python callable taking one input and returning the pipeline's output."""

    spec: str
    """As written by the user: ``py:package.module:function``."""
    fn: Callable[[Any], Any]

    @property
    def label(self) -> str:
        """The spec, used as the target's name in reports and xfail maps."""
        return self.spec

    @property
    def short(self) -> str:
        """A compact name for tables: the module's last part and the function."""
        return short_target(self.spec)

    def replay_args(self) -> list[str]:
        """``--target <spec>``."""
        return ["--target", self.spec]

    def call(self, value: Any) -> Any:
        """Call the pipeline with one input; coroutine functions run on a fresh event loop."""
        if inspect.iscoroutinefunction(self.fn):
            return asyncio.run(self.fn(value))
        result = self.fn(value)
        if inspect.isawaitable(result):
            return asyncio.run(_await(result))
        return result


async def _await(awaitable: Any) -> Any:
    return await awaitable


def parse_target(spec: str) -> PyTarget | HttpTarget:
    """Resolve ``py:…`` or ``http(s)://…``; bad specs raise :class:`UsageError` naming what was expected."""
    if spec.startswith(("http://", "https://")):
        from harness.targets_wire import http_target

        return http_target(spec)
    if spec.startswith("py:"):
        _import_from_working_directory()
        try:
            fn = import_object(spec.removeprefix("py:"))
        except ObjectImportError as exc:
            raise UsageError(f"--target {spec}: {exc.reason}") from None
        if not callable(fn):
            raise UsageError(f"--target {spec}: expected a callable, got {type(fn).__name__}")
        return PyTarget(spec, fn)
    raise UsageError(f"--target {spec!r}: expected py:package.module:function or http://host:port/path")


def _import_from_working_directory() -> None:
    # `python -m harness` puts the working directory on sys.path, the console script does
    # not; a user's pipeline module next to them must import either way (as with uvicorn).
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def target_from_callable(fn: Callable[[Any], Any]) -> PyTarget:
    """Wrap a callable given in code (pytest plugin, library use) as a target."""
    return PyTarget(f"py:{fn.__module__}:{fn.__qualname__}", fn)
