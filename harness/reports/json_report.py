"""``report.json``: the versioned, machine-readable report of a run (sorted keys, stable bytes)."""

from __future__ import annotations

import json
from typing import Any

from harness.reports import FailingCase, RunReport, ScenarioResult, fault_chain, report_writer, verdict_status

REPORT_VERSION = 1
"""Bumped when a field changes meaning or goes away; new fields do not bump it."""


@report_writer("json", "report.json")
def render_json(report: RunReport) -> bytes:
    """The whole report as indented JSON with sorted keys."""
    text = json.dumps(report_data(report), indent=2, sort_keys=True, ensure_ascii=False, default=str)
    # a lone surrogate (from a pipeline's output) cannot be UTF-8; inside a JSON string its
    # backslash form is the very escape json would have written with ensure_ascii
    return (text + "\n").encode("utf-8", "backslashreplace")


def report_data(report: RunReport) -> dict[str, Any]:
    """The report as JSON-ready data."""
    return {
        "version": REPORT_VERSION,
        "run": {
            "id": report.run_id,
            "started_at": report.started_at,
            "command": report.command,
            "seed": report.seed,
            "harness_version": report.version,
            "duration": report.duration,
        },
        "summary": {"ok": report.ok, "results": len(report.results), **report.status_counts()},
        "results": [result_data(result) for result in report.results],
    }


def result_data(result: ScenarioResult) -> dict[str, Any]:
    """One scenario and target: status, verdicts, outcome counts, latency and failing cases."""
    xfail = None
    if result.xfail_reason is not None:
        xfail = {"reason": result.xfail_reason, "slos": list(result.expected_broken)}
    return {
        "scenario": result.scenario,
        "description": result.description,
        "target": result.target,
        "status": result.status,
        "xfail": xfail,
        "cases": len(result.observations),
        "outcomes": result.outcome_counts(),
        "latency": result.latency_summary(),
        "verdicts": [{**v.to_json(), "status": verdict_status(result, v)} for v in result.verdicts],
        "failing_cases": [case_data(case) for case in result.failing_cases()],
    }


def case_data(case: FailingCase) -> dict[str, Any]:
    """A failing case with everything needed to understand and replay it."""
    obs = case.observation
    return {
        "case_id": obs.case_id,
        "seed": obs.seed,
        "case": obs.case,
        "input": obs.input,
        "outcome": obs.outcome.value,
        "error": obs.error,
        "violation": obs.violation,
        "output": obs.output,
        "latency": obs.latency,
        "broke": list(case.broke),
        "fault_chain": fault_chain(obs),
        "calls": [
            {
                "call": call.call,
                "faults": list(call.faults),
                "status": call.status,
                "stream": call.stream,
                "injected_delay": call.injected_delay,
                "bytes_served": call.bytes_served,
                "body_preview": call.body_preview,
            }
            for call in obs.calls
        ],
        "replay": obs.replay,
    }
