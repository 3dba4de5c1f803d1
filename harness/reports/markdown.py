"""``summary.md``: a status table and the broken SLOs with replay commands, for a CI job summary."""

from __future__ import annotations

import re
from collections.abc import Iterator

from harness.metrics import Unit, format_value
from harness.reports import (
    RunReport,
    ScenarioResult,
    fault_chain,
    report_writer,
    short_target,
    verdict_status,
)

STATUS_MARK = {"passed": "✅ passed", "failed": "❌ failed", "xfailed": "🟡 xfailed", "xpassed": "❌ xpassed"}
_LISTED_CASES = 10
_PROBLEM_CHARS = 160
_OUTCOME_COLUMNS = ("kept", "allowed", "garbage", "undeclared", "timeout", "crash")


@report_writer("markdown", "summary.md")
def render_markdown(report: RunReport) -> bytes:
    """The run as GitHub-flavoured Markdown."""
    return "\n".join(_lines(report)).encode("utf-8", "backslashreplace")


def _lines(report: RunReport) -> Iterator[str]:
    verdict = "passed" if report.ok else "failed"
    counts = ", ".join(f"{n} {status}" for status, n in report.status_counts().items() if n)
    yield f"# harness run {_code(report.run_id)}"
    yield ""
    seed = f"seed {report.seed}" if report.seed is not None else "scenario seeds"
    yield f"{_code(report.command)} · {seed} · harness {report.version} · {report.duration:.1f}s"
    yield ""
    yield f"**{verdict}**" + (f" ({counts})" if counts else "")
    yield ""
    yield from _status_table(report)
    yield from _broken(report)
    yield from _expected(report)


def _status_table(report: RunReport) -> Iterator[str]:
    yield "| scenario | target | status | cases | " + " | ".join(_OUTCOME_COLUMNS) + " | p95 |"
    yield "|---|---|---|" + "---:|" * (len(_OUTCOME_COLUMNS) + 2)
    for result in report.results:
        counts = list(result.outcome_counts().values())
        p95 = result.latency_summary()["p95"]
        cells = [
            _cell(result.scenario),
            _cell(short_target(result.target)),
            STATUS_MARK.get(result.status, result.status),
            str(len(result.observations)),
            *map(str, counts),
            "-" if p95 is None else format_value(Unit.DURATION, p95),
        ]
        yield "| " + " | ".join(cells) + " |"
    yield ""


def _broken(report: RunReport) -> Iterator[str]:
    failing = [r for r in report.results if r.status in ("failed", "xpassed")]
    if not failing:
        return
    yield "## Broken SLOs"
    yield ""
    for result in failing:
        yield f"### {_cell(result.scenario)} · {_cell(short_target(result.target))}"
        yield ""
        for verdict in result.verdicts:
            status = verdict_status(result, verdict)
            if status == "failed":
                detail = verdict.describe().removeprefix(f"{verdict.slo.text}: ")
                yield f"- {_code(verdict.slo.text)}: {_cell(detail)}"
            elif status == "xpassed":
                reason = _cell(result.xfail_reason or "")
                yield f"- {_code(verdict.slo.text)} held but was expected to break: {reason}"
        yield ""
        yield from _case_table(result)


def _case_table(result: ScenarioResult) -> Iterator[str]:
    cases = result.failing_cases()
    if not cases:
        return
    yield "| case | outcome | broke | faults | problem | replay |"
    yield "|---|---|---|---|---|---|"
    for case in cases[:_LISTED_CASES]:
        obs = case.observation
        slow = f"latency {format_value(Unit.DURATION, obs.latency)}"
        problem = _truncate(obs.violation or obs.error or slow, _PROBLEM_CHARS)
        cells = [
            obs.case_id,
            obs.outcome.value,
            ", ".join(_code(text, table=True) for text in case.broke),
            _cell(fault_chain(obs)),
            _cell(problem),
            _code(obs.replay, table=True),
        ]
        yield "| " + " | ".join(cells) + " |"
    if len(cases) > _LISTED_CASES:
        yield ""
        more = len(cases) - _LISTED_CASES
        yield f"… and {more} more failing case{'s' if more > 1 else ''} in `report.json`."
    yield ""


def _expected(report: RunReport) -> Iterator[str]:
    xfailed = [r for r in report.results if r.status == "xfailed"]
    if not xfailed:
        return
    yield "## Expected failures (xfail)"
    yield ""
    for result in xfailed:
        broke = ", ".join(_code(v.slo.text) for v in result.verdicts if not v.passed)
        reason = _cell(result.xfail_reason or "")
        yield f"- {_cell(result.scenario)} · {_cell(short_target(result.target))}: {reason} — broke {broke}"
    yield ""


def _cell(text: str) -> str:
    """Plain text safe inside a table cell: no line breaks, pipes escaped, no raw HTML."""
    flat = " ".join(text.split())
    return flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _code(text: str, *, table: bool = False) -> str:
    """An inline code span that survives backticks in ``text`` (and pipes, inside a table)."""
    flat = " ".join(text.split())
    if table:
        flat = flat.replace("|", "\\|")  # GFM splits cells before it parses code spans
    longest = max((len(run) for run in re.findall("`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
