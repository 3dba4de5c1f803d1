"""Observations: one pipeline call each, appended to a JSONL journal as it happens."""

from __future__ import annotations

import enum
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

JOURNAL_VERSION = 1


class Outcome(enum.StrEnum):
    """How one pipeline call ended, from best to worst."""

    KEPT = "kept_contract"
    """An output that keeps the contract."""
    ALLOWED_ERROR = "allowed_error"
    """A declared clean error (typed exception): counts against the error budget only."""
    GARBAGE = "garbage_passed"
    """An output that breaks the contract: garbage passed downstream, the worst outcome."""
    UNDECLARED_ERROR = "undeclared_error"
    """An exception the pipeline did not declare."""
    TIMEOUT = "timeout"
    """The call ran past the case deadline (a hang)."""
    CRASH = "crash"
    """The pipeline process died (OOM kill, segfault)."""


@dataclass(slots=True)
class ModelCall:
    """One model call made during a case, as the provider side saw it."""

    call: int
    faults: list[str]
    status: int
    stream: bool
    injected_delay: float
    bytes_served: int
    body_preview: str
    """The first bytes the pipeline received (UTF-8, replaced errors), capped for the journal."""
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True)
class Observation:
    """One pipeline call: input, faults served, outcome, latency, memory, model calls."""

    scenario: str
    target: str
    seed: int
    case: int
    input: Any
    outcome: Outcome
    latency: float
    """Scenario-time seconds (wall time plus injected delay skipped by time scaling)."""
    wall: float
    """Real seconds the case took."""
    output: Any = None
    error: str | None = None
    """``ExceptionType: message`` for errors and timeouts."""
    violation: str | None = None
    """Why the output breaks the contract, for garbage passed."""
    memory_peak: int = 0
    """tracemalloc peak bytes during the case."""
    rss_peak: int = 0
    """Resident set size high-water mark (bytes) sampled during the case."""
    calls: list[ModelCall] = field(default_factory=list)
    replay: str = ""
    """One-line command that replays exactly this case."""
    at: float = 0.0
    """Seconds since the run started when the case began."""

    @property
    def case_id(self) -> str:
        """``<seed>-<case>``, as in ``x-harness-case``."""
        return f"{self.seed}-{self.case}"

    @property
    def model_calls(self) -> int:
        """How many model calls the case made (retry amplification)."""
        return len(self.calls)

    @property
    def faults(self) -> list[str]:
        """Every fault label served during the case, in call order."""
        return [f for c in self.calls for f in c.faults]

    @property
    def tokens(self) -> int:
        """Input plus output tokens over all model calls."""
        return sum(c.input_tokens + c.output_tokens for c in self.calls)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (outcome as its string value)."""
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["case_id"] = self.case_id
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Observation:
        """Inverse of :meth:`to_json`."""
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        fields["outcome"] = Outcome(fields["outcome"])
        fields["calls"] = [ModelCall(**c) for c in fields.get("calls", [])]
        return cls(**fields)


class Journal:
    """Append-only JSONL journal of observations, flushed and synced per line.

    A new journal starts empty (a run owns its file; a rerun under the same run id must not
    mix with the last one); ``resume=True`` appends to an existing file instead.
    """

    def __init__(self, path: Path, *, resume: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a" if resume else "w", encoding="utf-8")

    def append(self, observation: Observation) -> None:
        """Write one observation as a line and push it to disk before returning."""
        self._file.write(json.dumps(observation.to_json(), default=str, ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_journal(path: Path) -> list[Observation]:
    """Every observation in a journal file, in order."""
    with path.open(encoding="utf-8") as handle:
        return [Observation.from_json(json.loads(line)) for line in handle if line.strip()]
