"""Report writers produce parseable, self-contained files, each written atomically."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from harness import atomic
from harness.observation import ModelCall, Observation, Outcome
from harness.reports import (
    RunReport,
    ScenarioResult,
    fault_chain,
    short_target,
    verdict_status,
    write_reports,
)
from harness.reports import json_report as json_module
from harness.slo import evaluate_all, parse_slo

NAIVE = "py:harness.demo.naive:extract"
HARDENED = "py:harness.demo.hardened:extract"
HOSTILE_BODY = '{"UserID": 42}\x00\x1b<script>alert(1)</script> <img src="http://evil.example/x.png">'


def replay(seed: int, case: int) -> str:
    return f"harness run scenarios/renamed-key-outage.yaml --target {NAIVE} --seed {seed} --case {case}"


def observation(
    case: int, outcome: Outcome, *, latency: float = 0.2, body: str = '{"user_id": 1}'
) -> Observation:
    faulty = outcome is not Outcome.KEPT
    calls = [
        ModelCall(
            call=1,
            faults=["rename_keys(mapping={user_id:UserID})"] if faulty else [],
            status=200,
            stream=False,
            injected_delay=0.0,
            bytes_served=len(body.encode()),
            body_preview=body,
        )
    ]
    if outcome is Outcome.ALLOWED_ERROR:
        calls.append(ModelCall(2, ["http_status(status=429)"], 429, False, 0.0, 20, '{"error": {}}'))
    return Observation(
        scenario="renamed-key-outage",
        target=NAIVE,
        seed=7,
        case=case,
        input=f"input {case}",
        outcome=outcome,
        latency=latency,
        wall=latency,
        output={"UserID": 42} if outcome is Outcome.GARBAGE else None,
        violation="'user_id' is a required property" if outcome is Outcome.GARBAGE else None,
        error="ExtractionError: bad reply" if outcome is Outcome.ALLOWED_ERROR else None,
        calls=calls,
        replay=replay(7, case),
        at=case * 0.5,
    )


def result(
    target: str,
    observations: list[Observation],
    slos: list[str],
    status: str,
    *,
    xfail: str | None = None,
    expected: list[str] | None = None,
) -> ScenarioResult:
    verdicts = evaluate_all([parse_slo(text) for text in slos], observations)
    return ScenarioResult(
        scenario="renamed-key-outage",
        description="A provider renamed user_id to UserID & broke <parsers>.",
        target=target,
        verdicts=verdicts,
        xfail_reason=xfail,
        expected_broken=expected or [],
        status=status,
        observations=observations,
    )


SLOS = ["schema_violations == 0", "p95 < 2s"]


def make_report(body: str = '{"UserID": 42}') -> RunReport:
    naive = [observation(i, Outcome.GARBAGE if i in (2, 5) else Outcome.KEPT, body=body) for i in range(8)]
    naive[6] = observation(6, Outcome.KEPT, latency=15.2)
    hardened = [observation(i, Outcome.ALLOWED_ERROR if i == 2 else Outcome.KEPT) for i in range(8)]
    expected = ["schema_violations == 0"]
    return RunReport(
        run_id="20250101-000000-s7",
        started_at="2025-01-01T00:00:00+00:00",
        command="harness run scenarios/ --seed 7",
        seed=7,
        version="0.1.0",
        duration=1.25,
        results=[
            result(NAIVE, naive, SLOS, "failed"),
            result(HARDENED, hardened, SLOS, "passed"),
            result(
                NAIVE, naive, ["schema_violations == 0"], "xfailed", xfail="naive parser", expected=expected
            ),
            result(
                HARDENED, hardened, ["schema_violations == 0"], "xpassed", xfail="flaky", expected=expected
            ),
        ],
    )


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_reports(make_report(body=HOSTILE_BODY), tmp_path_factory.mktemp("run"))


def test_write_reports_writes_every_format(written: dict[str, Path]) -> None:
    assert {name: path.name for name, path in written.items()} == {
        "html": "report.html",
        "json": "report.json",
        "junit": "junit.xml",
        "markdown": "summary.md",
    }
    folder = next(iter(written.values())).parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "junit.xml",
        "report.html",
        "report.json",
        "summary.md",
    ]


# --- report.json ---------------------------------------------------------------------------


def test_json_report_carries_verdicts_counts_and_replayable_failing_cases(written: dict[str, Path]) -> None:
    data = json.loads(written["json"].read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert data["run"]["seed"] == 7 and data["run"]["harness_version"] == "0.1.0"
    assert data["summary"] == {
        "ok": False,
        "results": 4,
        "passed": 1,
        "failed": 1,
        "xfailed": 1,
        "xpassed": 1,
    }
    naive = data["results"][0]
    assert naive["status"] == "failed"
    assert naive["outcomes"]["garbage_passed"] == 2 and naive["outcomes"]["kept_contract"] == 6
    assert naive["latency"]["max"] == 15.2
    assert [v["passed"] for v in naive["verdicts"]] == [False, False]
    assert naive["verdicts"][0]["offending"] == ["7-2", "7-5"]
    failing = {case["case_id"]: case for case in naive["failing_cases"]}
    assert sorted(failing) == ["7-2", "7-5", "7-6"]  # two garbage cases and the slow one
    garbage = failing["7-2"]
    assert garbage["seed"] == 7 and garbage["outcome"] == "garbage_passed"
    assert garbage["broke"] == ["schema_violations == 0"]
    assert garbage["fault_chain"] == "#1 rename_keys(mapping={user_id:UserID}) [200]"
    assert garbage["calls"][0]["body_preview"] == HOSTILE_BODY
    assert garbage["violation"] == "'user_id' is a required property"
    assert garbage["replay"] == replay(7, 2)
    assert failing["7-6"]["broke"] == ["p95 < 2s"]


def test_json_report_is_byte_identical_for_the_same_run(tmp_path: Path) -> None:
    first = write_reports(make_report(), tmp_path / "a", formats=["json", "html"])
    second = write_reports(make_report(), tmp_path / "b", formats=["json", "html"])
    for name in ("json", "html"):
        assert first[name].read_bytes() == second[name].read_bytes()


def test_json_survives_a_lone_surrogate_in_pipeline_output(tmp_path: Path) -> None:
    report = make_report()
    report.results[0].observations[2].output = {"name": "broken \ud800 text"}
    path = write_reports(report, tmp_path, formats=["json"])["json"]
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["results"][0]["failing_cases"][0]["output"] == {"name": "broken \ud800 text"}


# --- junit.xml -----------------------------------------------------------------------------


def junit_cases(path: Path) -> dict[str, ET.Element]:
    root = ET.parse(path).getroot()
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_junit_names_each_target_and_slo_and_lists_offending_cases(written: dict[str, Path]) -> None:
    root = ET.parse(written["junit"]).getroot()
    assert [suite.get("name") for suite in root.iter("testsuite")] == ["renamed-key-outage"]
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("6", "3", "1")
    cases = junit_cases(written["junit"])
    assert sorted(cases) == [
        "renamed-key-outage[hardened.extract] p95 < 2s",
        "renamed-key-outage[hardened.extract] schema_violations == 0",
        "renamed-key-outage[naive.extract] p95 < 2s",
        "renamed-key-outage[naive.extract] schema_violations == 0",
    ]
    assert len(list(root.iter("testcase"))) == 6


def test_junit_failure_text_has_fault_chain_and_replay_command(written: dict[str, Path]) -> None:
    root = ET.parse(written["junit"]).getroot()
    broken = next(
        case
        for case in root.iter("testcase")
        if case.get("name") == "renamed-key-outage[naive.extract] schema_violations == 0"
        and case.find("failure") is not None
    )
    failure = broken.find("failure")
    assert failure is not None
    assert failure.get("message") == (
        "schema_violations == 0: measured 2, limit 0 — broken by 2 cases: 7-2, 7-5"
    )
    text = failure.text or ""
    assert f"Reproduce with: {replay(7, 2)}" in text
    assert f"Reproduce with: {replay(7, 5)}" in text
    assert "case 7-2: garbage_passed; faults: #1 rename_keys(mapping={user_id:UserID}) [200]" in text


def test_junit_marks_expected_breaks_skipped_and_strict_xpass_failed(written: dict[str, Path]) -> None:
    root = ET.parse(written["junit"]).getroot()
    name = "renamed-key-outage[naive.extract] schema_violations == 0"
    skipped = [case.find("skipped") for case in root.iter("testcase") if case.get("name") == name]
    assert [s.get("message") for s in skipped if s is not None] == ["xfail: naive parser"]
    name = "renamed-key-outage[hardened.extract] schema_violations == 0"
    failures = [case.find("failure") for case in root.iter("testcase") if case.get("name") == name]
    messages = [f.get("message", "") for f in failures if f is not None]
    assert len(messages) == 1 and messages[0].startswith("XPASS(strict): expected to break (flaky)")


def test_junit_stays_parseable_with_control_characters(tmp_path: Path) -> None:
    report = make_report(body="ok\x00\x08\x1b done")
    report.results[0].observations[2].violation = "bad byte \x00 in \ud800 output"
    path = write_reports(report, tmp_path, formats=["junit"])["junit"]
    text = ET.parse(path).getroot().iter("failure").__next__().text or ""
    assert "bad byte \\x00 in \\ud800 output" in text


# --- summary.md ----------------------------------------------------------------------------


def test_markdown_has_status_table_and_broken_slos_with_replay(written: dict[str, Path]) -> None:
    text = written["markdown"].read_text(encoding="utf-8")
    assert "| renamed-key-outage | naive.extract | ❌ failed | 8 | 6 | 0 | 2 | 0 | 0 | 0 |" in text
    assert "| renamed-key-outage | hardened.extract | ✅ passed | 8 |" in text
    assert "## Broken SLOs" in text
    assert "- `p95 < 2s`: measured" in text
    assert f"`{replay(7, 2)}`" in text
    assert "## Expected failures (xfail)" in text
    assert "<script>" not in text


# --- report.html ---------------------------------------------------------------------------


class ResourceLinks(HTMLParser):
    """Collects every attribute that makes a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "data", "poster", "action") and value:
                self.links.append(value)


def test_html_is_self_contained_with_inline_svg_plots(tmp_path: Path) -> None:
    html = write_reports(make_report(), tmp_path, formats=["html"])["html"].read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert html.count("<svg") == 4  # a latency plot per scenario and target
    parser = ResourceLinks()
    parser.feed(html)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert all(link.startswith("#") for link in parser.links)


def test_html_escapes_bytes_received_and_shows_the_replay_command(written: dict[str, Path]) -> None:
    html = written["html"].read_text(encoding="utf-8")
    parser = ResourceLinks()
    parser.feed(html)
    assert all(link.startswith("#") for link in parser.links)  # the hostile <img> stayed text
    assert "script" not in parser.tags and "img" not in parser.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "\\x00\\x1b" in html  # invisible bytes shown, not dropped
    assert "#1 rename_keys(mapping={user_id:UserID}) [200]" in html
    assert replay(7, 2) in html
    assert "broke <code>schema_violations == 0</code>" in html
    assert "A provider renamed user_id to UserID &amp; broke &lt;parsers&gt;." in html


def test_html_outcome_matrix_rows_are_fault_labels(written: dict[str, Path]) -> None:
    html = written["html"].read_text(encoding="utf-8")
    assert "<td><code>rename_keys(mapping={user_id:UserID})</code></td>" in html
    assert "<td><code>clean</code></td>" in html


def test_html_handles_a_result_without_observations(tmp_path: Path) -> None:
    report = make_report()
    report.results = [result(NAIVE, [], SLOS, "failed")]
    html = write_reports(report, tmp_path, formats=["html"])["html"].read_text(encoding="utf-8")
    assert "<svg" not in html and "No observations." in html


# --- atomic writes -------------------------------------------------------------------------


def test_atomic_write_leaves_nothing_when_the_data_source_raises(tmp_path: Path) -> None:
    target = tmp_path / "report.json"

    def chunks() -> Iterator[bytes]:
        yield b'{"half": '
        raise RuntimeError("serializer died")

    with pytest.raises(RuntimeError, match="serializer died"):
        atomic.write_bytes(target, chunks())
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_the_old_file_when_the_new_one_fails(tmp_path: Path) -> None:
    target = tmp_path / "summary.md"
    atomic.write_text(target, "old report\n")

    def pieces() -> Iterator[str]:
        yield "new rep"
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic.write_text(target, pieces())
    assert target.read_text() == "old report\n"
    assert list(tmp_path.iterdir()) == [target]


def test_atomic_write_replaces_and_honours_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "junit.xml"
    old = os.umask(0o027)
    try:
        atomic.write_bytes(target, b"first")
        atomic.write_bytes(target, [b"sec", b"ond"])
    finally:
        os.umask(old)
    assert target.read_bytes() == b"second"
    assert target.stat().st_mode & 0o777 == 0o640
    assert [p.name for p in target.parent.iterdir()] == ["junit.xml"]


def test_a_failing_writer_leaves_no_partial_file_and_others_are_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "report.json").write_text('{"previous": true}\n')

    def broken(_report: RunReport) -> dict[str, object]:
        raise TypeError("not JSON serializable")

    monkeypatch.setattr(json_module, "report_data", broken)
    with pytest.raises(TypeError, match="not JSON serializable"):
        write_reports(make_report(), tmp_path)
    assert (tmp_path / "report.json").read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "junit.xml",
        "report.html",
        "report.json",
        "summary.md",
    ]


# --- helpers -------------------------------------------------------------------------------


def test_fault_chain_and_short_target() -> None:
    obs = observation(3, Outcome.ALLOWED_ERROR)
    assert (
        fault_chain(obs)
        == "#1 rename_keys(mapping={user_id:UserID}) [200] → #2 http_status(status=429) [429]"
    )
    obs.calls = []
    assert fault_chain(obs) == "no model calls"
    assert short_target(NAIVE) == "naive.extract"
    assert short_target("http://localhost:8000/extract") == "http://localhost:8000/extract"


def test_verdict_status_follows_strict_xfail() -> None:
    report = make_report()
    naive, hardened, naive_xfail, hardened_xpass = report.results
    assert [verdict_status(naive, v) for v in naive.verdicts] == ["failed", "failed"]
    assert [verdict_status(hardened, v) for v in hardened.verdicts] == ["passed", "passed"]
    assert [verdict_status(naive_xfail, v) for v in naive_xfail.verdicts] == ["xfailed"]
    assert [verdict_status(hardened_xpass, v) for v in hardened_xpass.verdicts] == ["xpassed"]
    assert not report.ok
