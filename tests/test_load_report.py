"""Load-run reports: every file exists, parses and carries the figures of the run it describes.

Most tests use a synthetic :class:`LoadRun` (no Locust needed); one runs a real, short
Locust run in a subprocess (Locust monkey-patches the process it is imported in) and
checks Locust's own HTML and CSV reports land next to ours.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.load.model import LoadRun, LoadSample, LoadSettings
from harness.load.report import (
    LOAD_REPORT_VERSION,
    format_total,
    load_verdict_status,
    render_html,
    write_load_reports,
)
from harness.slo import Verdict, parse_slo

REPO = Path(__file__).resolve().parents[1]


def verdict(text: str, measured: float) -> Verdict:
    slo = parse_slo(text)
    return Verdict(slo, slo.metric, measured, slo.limit, slo.holds(measured), [], slo.unit)


def sample(second: int, *, rss: int | None = 100_000_000) -> LoadSample:
    return LoadSample(
        elapsed=float(second),
        users=min(10, 5 * second),
        requests=40 * second,
        rps=40.0,
        p50=0.05,
        p95=0.4 if second < 5 else 15.2,
        p99=0.9 if second < 5 else 15.3,
        errors=second,
        garbage_passed=2 * second,
        model_calls=45 * second,
        rss=None if rss is None else rss + 3_000_000 * second,
        faults_served={"clean": 38 * second, "latency": 2 * second},
    )


def synthetic_run(**changes: object) -> LoadRun:
    run = LoadRun(
        scenario="latency-collapse",
        target="py:harness.demo.naive:extract",
        settings=LoadSettings(users=10, spawn_rate=5, duration=10, seed=7),
        samples=[sample(s) for s in range(1, 11)],
        totals={"requests": 400, "p95": 15.2, "peak_rss": 130_000_000, "calls_per_request": 1.125},
        faults_served={"clean": 380, "latency": 20, "rename_keys+truncate": 3},
        stopped_by="duration",
        description="5 % of model calls take 15 s and the pipeline has no timeout.",
        verdicts=[
            verdict("p95 < 2s", 15.2),
            verdict("schema_violations == 0", 20),
            verdict("error_rate < 5%", 0.025),
        ],
        started_at="2026-11-28T12:00:00+00:00",
        wall=10.4,
        command="harness load scenarios/load/latency-collapse.yaml --target py:harness.demo.naive:extract",
    )
    for key, value in changes.items():
        setattr(run, key, value)
    return run


def test_every_file_is_written_and_parses(tmp_path: Path) -> None:
    written = write_load_reports(synthetic_run(), tmp_path / "run")
    names = {path.name for path in written.values()}
    assert names == {"report.json", "junit.xml", "summary.md", "report.html", "samples.csv"}
    assert all(path.stat().st_size > 0 for path in written.values())
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]  # atomic writes


def test_report_json_carries_the_run(tmp_path: Path) -> None:
    data = json.loads(write_load_reports(synthetic_run(), tmp_path)["json"].read_text())
    assert data["version"] == LOAD_REPORT_VERSION and data["kind"] == "load"
    assert data["summary"] == {"ok": False, "status": "failed"}
    assert [v["slo"] for v in data["verdicts"] if v["status"] == "failed"] == [
        "p95 < 2s",
        "schema_violations == 0",
    ]
    assert data["verdicts"][0]["measured"] == 15.2
    assert data["totals"]["calls_per_request"] == 1.125
    assert data["faults_served"]["latency"] == 20
    assert len(data["samples"]) == 10 and data["samples"][-1]["p95"] == 15.2
    assert data["settings"]["seed"] == 7 and data["run"]["command"].startswith("harness load")


def test_junit_has_one_testcase_per_slo_and_honours_xfail(tmp_path: Path) -> None:
    run = synthetic_run(xfail_reason="no timeout", expected_broken=["p95 < 2s"])
    root = ET.parse(write_load_reports(run, tmp_path)["junit"]).getroot()
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == [
        "load:latency-collapse[naive.extract] p95 < 2s",
        "load:latency-collapse[naive.extract] schema_violations == 0",
        "load:latency-collapse[naive.extract] error_rate < 5%",
    ]
    assert cases[0].find("skipped") is not None  # expected to break, and did
    failure = cases[1].find("failure")
    assert failure is not None and "measured 20, limit 0" in (failure.get("message") or "")
    assert "Reproduce with: harness load" in (failure.text or "")
    assert cases[2].find("failure") is None and cases[2].find("skipped") is None
    assert root.get("tests") == "3" and root.get("failures") == "1" and root.get("skipped") == "1"


def test_a_held_slo_expected_to_break_fails_strictly() -> None:
    run = synthetic_run(xfail_reason="should collapse", expected_broken=["error_rate < 5%"])
    assert load_verdict_status(run, run.verdicts[2]) == "xpassed"
    assert run.status == "failed" and not run.ok
    exact = synthetic_run(xfail_reason="no timeout", expected_broken=["p95 < 2s", "schema_violations == 0"])
    assert exact.status == "xfailed" and exact.ok


def test_summary_shows_verdicts_totals_fault_mix_and_the_exit(tmp_path: Path) -> None:
    run = synthetic_run(target_exit="exit -9 (SIGKILL): OOM kill; peak RSS 210.0MB", stopped_by="target exit")
    text = write_load_reports(run, tmp_path)["markdown"].read_text()
    assert "❌ failed" in text and "stopped by target exit" in text
    assert "| `p95 < 2s` | 15.2s | 2s | ❌ failed |" in text
    assert "| `error_rate < 5%` | 2.5% | 5% | ✅ passed |" in text
    assert "| peak_rss | 130MB |" in text
    assert "| `clean` | 380 | 94.3% |" in text
    assert "OOM kill" in text
    assert text.rstrip().endswith(f"Reproduce with: `{run.command}`")


def test_slos_a_load_run_cannot_measure_are_listed_as_skipped(tmp_path: Path) -> None:
    reason = "tracemalloc measures in-process runs only; under load use peak_rss"
    run = synthetic_run(
        totals={"requests": 400, "skipped: peak_memory < 128MB": reason},
        skipped={"tokens_per_request < 900": "not measured under load"},
    )
    written = write_load_reports(run, tmp_path)
    data = json.loads(written["json"].read_text())
    assert data["skipped"] == {
        "peak_memory < 128MB": reason,
        "tokens_per_request < 900": "not measured under load",
    }
    text = written["markdown"].read_text()
    assert f"| `peak_memory < 128MB` | - | - | ⏭️ skipped: {reason} |" in text
    assert "| skipped: peak_memory" not in text  # not repeated among the totals
    cases = ET.parse(written["junit"]).getroot().findall(".//testcase")
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert [c.get("name", "").rsplit("] ", 1)[-1] for c in skipped] == [
        "peak_memory < 128MB",
        "tokens_per_request < 900",
    ]
    assert "status-skipped" in written["html"].read_text()


def test_html_is_self_contained_with_the_four_plots(tmp_path: Path) -> None:
    page = write_load_reports(synthetic_run(), tmp_path)["html"].read_text()
    assert page.count("<svg") == 4
    assert "http://" not in page.replace('href="locust.html"', "")
    assert "src=" not in page  # nothing fetched
    assert "rename_keys+truncate" in page and "15.2s" in page
    assert "p95 &lt; 2s" in page  # the SLO limit line is labelled in the latency plot


def test_html_without_samples_or_rss_says_so() -> None:
    run = synthetic_run(samples=[sample(1, rss=None)], faults_served={})
    page = render_html(run).decode()
    assert "Not measured" in page and "No model calls were served." in page
    empty = render_html(synthetic_run(samples=[], faults_served={})).decode()
    assert "<svg" not in empty and "No samples." in empty


def test_samples_csv_has_one_row_per_second(tmp_path: Path) -> None:
    with write_load_reports(synthetic_run(), tmp_path)["samples"].open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    assert rows[0]["elapsed"] == "1.0" and rows[-1]["p95"] == "15.2"
    assert rows[0]["faults_served"] == "clean=38;latency=2"


def test_throughput_is_taken_second_by_second_from_the_running_counts() -> None:
    from harness.load.plots import per_second

    samples = [sample(1), sample(2), sample(3)]
    assert per_second(samples, "requests") == [40.0, 40.0, 40.0]
    assert per_second(samples, "errors") == [1.0, 1.0, 1.0]


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("p95", 1.234, "1.23s"),
        ("peak_rss", 2_500_000, "2.5MB"),
        ("requests", 17, "17"),
        ("rps", 41.23456, "41.2"),  # a registered metric: its unit decides
        ("locust_requests", 17.5, "17.5"),
    ],
)
def test_totals_are_shown_in_their_unit(key: str, value: float, shown: str) -> None:
    assert format_total(key, value) == shown


LOCUST_SCRIPT = textwrap.dedent(
    """
    import sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    from locust import constant, task
    from locust.contrib.fasthttp import FastHttpUser
    from locust.env import Environment
    import gevent

    from harness.load.model import LoadRun, LoadSettings
    from harness.load.report import start_locust_csv, write_load_reports

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.send_header("content-length", "2"); self.end_headers()
            self.wfile.write(b"ok")
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    class User(FastHttpUser):
        host = f"http://127.0.0.1:{server.server_address[1]}"
        wait_time = constant(0.05)
        @task
        def get(self):
            self.client.get("/")

    folder = Path(sys.argv[1])
    env = Environment(user_classes=[User])
    runner = env.create_local_runner()
    stop_csv = start_locust_csv(env, folder)
    runner.start(2, spawn_rate=10)
    gevent.sleep(2.5)
    runner.stop()
    stop_csv()
    run = LoadRun(scenario="s", target=User.host, settings=LoadSettings(users=2, duration=2))
    print(sorted(write_load_reports(run, folder, env)))
    runner.quit()
    """
)


@pytest.mark.slow
def test_locust_reports_land_next_to_ours(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOCUST_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = {p.name for p in tmp_path.iterdir()}
    assert {"locust.html", "locust_stats.csv", "locust_failures.csv", "locust_exceptions.csv"} <= names
    assert "locust_stats_history.csv" in names and "report.json" in names
    rows = list(csv.DictReader((tmp_path / "locust_stats.csv").open()))
    aggregated = next(row for row in rows if row["Name"] == "Aggregated")
    assert int(aggregated["Request Count"]) > 0 and aggregated["Failure Count"] == "0"
    assert "<html" in (tmp_path / "locust.html").read_text().lower()
    history = (tmp_path / "locust_stats_history.csv").read_text().splitlines()
    assert history[0].startswith("Timestamp,User Count") and len(history) >= 2
