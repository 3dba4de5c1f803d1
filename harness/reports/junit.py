"""``junit.xml``: one ``<testsuite>`` per scenario, one ``<testcase>`` per target and SLO.

Test names read ``renamed-key-outage[naive.extract] schema_violations == 0``. A broken
SLO is a ``<failure>`` whose message is the verdict's one line and whose text lists the
offending cases with their fault chain and replay command; an expected break (xfail) is
``<skipped message="xfail: reason">``; an SLO that held although expected to break is a
failure, as with pytest's ``xfail(strict=True)``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from harness.reports import (
    FailingCase,
    RunReport,
    ScenarioResult,
    fault_chain,
    report_writer,
    results_by_scenario,
    short_target,
    verdict_status,
)
from harness.slo import Verdict

_LISTED_CASES = 20
# XML 1.0 cannot carry most control characters, even escaped; bytes served by faults can.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@report_writer("junit", "junit.xml")
def render_junit(report: RunReport) -> bytes:
    """The run as JUnit XML, as CI systems (GitHub, GitLab, Jenkins) read it."""
    root = ET.Element("testsuites", name="harness", time=_seconds(report.duration))
    totals = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for scenario, results in results_by_scenario(report.results).items():
        suite = _suite(scenario, results)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _suite(scenario: str, results: Sequence[ScenarioResult]) -> ET.Element:
    suite = ET.Element("testsuite", name=scenario)
    wall = sum(obs.wall for result in results for obs in result.observations)
    counts = dict.fromkeys(("tests", "failures", "errors", "skipped"), 0)
    for result in results:
        for case in _testcases(result):
            suite.append(case)
            counts["tests"] += 1
            counts["failures"] += case.find("failure") is not None
            counts["skipped"] += case.find("skipped") is not None
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("time", _seconds(wall))
    return suite


def _testcases(result: ScenarioResult) -> list[ET.Element]:
    prefix = f"{result.scenario}[{short_target(result.target)}]"
    failing = result.failing_cases()
    cases = [_verdict_case(result, prefix, verdict, failing) for verdict in result.verdicts]
    reported = any(case.find("failure") is not None for case in cases)
    if result.status in ("failed", "xpassed") and not reported:
        # e.g. an xfail entry with no SLO list that held: the run fails, so JUnit must say so too
        case = _testcase(prefix, result.scenario)
        _fail(case, f"{result.status}: {result.xfail_reason or 'see report.json'}", "")
        cases.append(case)
    if not cases:
        cases.append(_testcase(prefix, result.scenario))
    return cases


def _verdict_case(
    result: ScenarioResult, prefix: str, verdict: Verdict, failing: Sequence[FailingCase]
) -> ET.Element:
    case = _testcase(f"{prefix} {verdict.slo.text}", result.scenario)
    status = verdict_status(result, verdict)
    if status == "failed":
        _fail(case, verdict.describe(), _offending_text(verdict, failing))
    elif status == "xpassed":
        _fail(case, f"XPASS(strict): expected to break ({result.xfail_reason}); {verdict.describe()}", "")
    elif status == "xfailed":
        ET.SubElement(case, "skipped", message=_xml_text(f"xfail: {result.xfail_reason}"))
    return case


def _testcase(name: str, classname: str) -> ET.Element:
    return ET.Element("testcase", name=_xml_text(name), classname=_xml_text(classname))


def _fail(case: ET.Element, message: str, text: str) -> None:
    failure = ET.SubElement(case, "failure", message=_xml_text(message), type="SLOFailure")
    failure.text = _xml_text(text or message)


def _offending_text(verdict: Verdict, failing: Sequence[FailingCase]) -> str:
    by_id = {case.observation.case_id: case.observation for case in failing}
    lines = [verdict.describe()]
    for case_id in verdict.offending[:_LISTED_CASES]:
        obs = by_id.get(case_id)
        if obs is None:
            continue
        problem = obs.violation or obs.error
        lines.append(f"case {case_id}: {obs.outcome.value}; faults: {fault_chain(obs)}")
        if problem:
            lines.append(f"  {problem}")
        lines.append(f"  Reproduce with: {obs.replay}")
    if len(verdict.offending) > _LISTED_CASES:
        lines.append(f"… and {len(verdict.offending) - _LISTED_CASES} more cases in report.json")
    return "\n".join(lines)


def _xml_text(text: str) -> str:
    return _NOT_XML.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _seconds(value: float) -> str:
    return f"{value:.3f}"
