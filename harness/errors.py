"""The one exception tree of harness.

::

    HarnessError
    ├── UsageError                 bad input: exit code 2, one line, no traceback
    │   ├── ScenarioError          a scenario file is wrong (file, field, expectation)
    │   ├── FaultParamsError       a fault's parameters do not validate
    │   └── UnknownNameError       a fault, dialect or metric that is not registered
    ├── TargetError                the pipeline under test could not be loaded or reached
    └── SLOFailure (AssertionError) one or more SLOs broke; carries the verdicts
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.slo import Verdict


class HarnessError(Exception):
    """Root of every error raised by harness itself."""


class UsageError(HarnessError):
    """The user gave harness something it cannot use; reported as one line with exit code 2."""


class ScenarioError(UsageError):
    """A scenario file is invalid: names the file, the field and what was expected."""

    def __init__(self, path: str, field: str, expected: str) -> None:
        self.path = path
        self.field = field
        self.expected = expected
        super().__init__(f"{path}: {field}: {expected}")


class FaultParamsError(UsageError):
    """A fault's parameters do not validate against its parameter model."""

    def __init__(self, fault: str, field: str, expected: str) -> None:
        self.fault = fault
        self.field = field
        self.expected = expected
        super().__init__(f"fault {fault!r}: {field}: {expected}")


class UnknownNameError(UsageError):
    """A name that no registry holds; the message lists the valid ones."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown {kind} {name!r}; expected one of: {', '.join(self.known)}")


class TargetError(HarnessError):
    """The pipeline under test could not be imported, started or reached."""


class SLOFailure(HarnessError, AssertionError):
    """One or more SLOs broke; an AssertionError so pytest reports it as a test failure."""

    def __init__(self, verdicts: Sequence[Verdict], replay: str | None = None, *, detail: str = "") -> None:
        self.verdicts = list(verdicts)
        self.replay = replay
        lines = [v.describe() for v in self.verdicts if not v.passed]
        if detail:
            lines.append(detail)
        if replay:
            lines.append(f"Reproduce with: {replay}")
        super().__init__("\n".join(lines))
