"""The control API under /_harness/: health, live scenario replacement, stats, case log, reset, token."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from harness.errors import UsageError
from harness.server import ProviderServer, is_loopback
from tests.test_sdk_outcomes import HI, TEXT
from tests.test_server import HTTP, load_scenario_text, put_scenario, request_body, scenario_yaml

TOKEN = "s3cret-token"


@pytest.fixture(scope="module")
def server() -> Iterator[ProviderServer]:
    """A fake provider with a control token (on loopback: a token may be set anywhere)."""
    with ProviderServer(load_scenario_text(scenario_yaml(seed=4)), time_scale=0.0, token=TOKEN) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_slate(server: ProviderServer) -> None:
    """Every test starts from the plain scenario and empty counters."""
    assert put_scenario(server, scenario_yaml(seed=4), token=TOKEN).status_code == 200
    assert HTTP.post(f"{server.url}/_harness/reset", headers={"x-harness-token": TOKEN}).status_code == 200


def get(server: ProviderServer, route: str) -> object:
    """GET a control route with the token; returns the decoded JSON."""
    reply = HTTP.get(f"{server.url}/_harness/{route}", headers={"authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200, reply.text
    return reply.json()


def chat(server: ProviderServer) -> str:
    """One chat completion through the real SDK; returns its content."""
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    return reply.choices[0].message.content or ""


def test_health_answers_without_a_token(server: ProviderServer) -> None:
    reply = HTTP.get(f"{server.url}/_harness/health")
    assert (reply.status_code, reply.json()) == (200, {"status": "ok"})


@pytest.mark.parametrize(
    ("method", "route"),
    [("GET", "scenario"), ("PUT", "scenario"), ("GET", "stats"), ("GET", "cases"), ("POST", "reset")],
)
def test_every_other_route_needs_the_token(server: ProviderServer, method: str, route: str) -> None:
    url = f"{server.url}/_harness/{route}"
    for headers in ({}, {"authorization": "Bearer wrong"}, {"x-harness-token": TOKEN[:-1]}):
        reply = HTTP.request(method, url, headers=headers, content=scenario_yaml().encode())
        assert reply.status_code == 401
        assert reply.text.count("\n") == 1 and "token" in reply.text
    accepted = HTTP.request(method, url, headers={"x-harness-token": TOKEN}, content=scenario_yaml().encode())
    assert accepted.status_code == 200


def test_get_scenario_describes_what_is_served(server: ProviderServer) -> None:
    described = get(server, "scenario")
    assert isinstance(described, dict)
    assert (described["name"], described["seed"], described["faults"]) == ("wire-test", 4, [])
    assert described["time_scale"] == 0.0 and "InlineSource" in described["reply_source"]
    assert described["source"] == scenario_yaml(seed=4), "the YAML last PUT"


def test_a_put_scenario_takes_effect_on_the_next_request(server: ProviderServer) -> None:
    assert chat(server) == TEXT
    text = scenario_yaml([{"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}}], seed=9)
    reply = put_scenario(server, text, token=TOKEN)
    assert reply.status_code == 200 and reply.json()["faults"] == ["rename_keys"]
    assert chat(server) == TEXT.replace("user_id", "UserID")
    described = get(server, "scenario")
    assert isinstance(described, dict)
    assert (described["seed"], described["source"]) == (9, text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nname: [unclosed",
            "scenario (PUT): line 2, column 16: not valid YAML: expected ',' or ']'",
        ),
        (
            scenario_yaml([{"fault": "no_such_fault"}]),
            "scenario (PUT): faults[0].fault: expected a fault, one of: add_fields",
        ),
        (scenario_yaml([{"fault": "http_status", "params": {"status": "x"}}]), "faults[0].params.status"),
        ("just a string", "scenario (PUT): (top level): expected a mapping of scenario keys"),
    ],
    ids=["syntax", "unknown-fault", "bad-params", "not-a-mapping"],
)
def test_a_bad_scenario_is_a_one_line_400_and_the_old_one_stays(
    server: ProviderServer, text: str, expected: str
) -> None:
    reply = put_scenario(server, text, token=TOKEN)
    assert reply.status_code == 400
    assert reply.text.endswith("\n") and reply.text.count("\n") == 1
    assert expected in reply.text
    assert chat(server) == TEXT
    described = get(server, "scenario")
    assert isinstance(described, dict) and described["name"] == "wire-test"


def test_stats_and_case_log_count_what_was_served_and_reset_clears_them(server: ProviderServer) -> None:
    faults = [
        {"fault": "wrap_in_prose", "rate": 0.5},
        {"fault": "http_status", "params": {"status": 503}, "rate": 0.5},
    ]
    assert put_scenario(server, scenario_yaml(faults, seed=4), token=TOKEN).status_code == 200
    url = f"{server.url}/v1/chat/completions"
    replies = [HTTP.post(url, json=request_body("openai-chat")) for _ in range(12)]
    pinned = HTTP.post(url, json=request_body("openai-chat"), headers={"x-harness-case": "4-3-2"})
    stats = get(server, "stats")
    cases = get(server, "cases")
    assert isinstance(stats, dict) and isinstance(cases, list)
    assert stats["requests"] == 13 and stats["cases"] == 12
    statuses = [r.status_code for r in [*replies, pinned]]
    assert stats["statuses"] == {str(s): statuses.count(s) for s in set(statuses)}
    served = [label for r in [*replies, pinned] for label in r.headers["x-harness-faults"].split(";")]
    assert stats["labels"] == {label: served.count(label) for label in set(served)}
    assert stats["faults"]["http_status"] == served.count("http_status(status=503)")
    assert [c["case"] for c in cases] == [f"4-{i}" for i in range(12)] + ["4-3"]
    assert [c["call"] for c in cases] == [1] * 12 + [2] and [c["pinned"] for c in cases][-2:] == [False, True]
    assert [c["status"] for c in cases] == statuses
    assert [c["bytes"] for c in cases] == [len(r.content) for r in [*replies, pinned]]
    assert HTTP.post(f"{server.url}/_harness/reset", headers={"x-harness-token": TOKEN}).json() == {
        "status": "reset"
    }
    assert get(server, "stats") == {"requests": 0, "cases": 0, "faults": {}, "labels": {}, "statuses": {}}
    assert get(server, "cases") == []
    assert HTTP.post(url, json=request_body("openai-chat")).headers["x-harness-case"] == "4-0"


def test_unknown_routes_and_methods_say_what_exists(server: ProviderServer) -> None:
    headers = {"x-harness-token": TOKEN}
    missing = HTTP.get(f"{server.url}/_harness/nope", headers=headers)
    assert missing.status_code == 404 and "health, scenario, stats, cases, reset" in missing.text
    assert HTTP.delete(f"{server.url}/_harness/stats", headers=headers).status_code == 405
    assert HTTP.get(f"{server.url}/_harness/reset", headers=headers).status_code == 405


def test_binding_beyond_loopback_needs_a_token() -> None:
    scenario = load_scenario_text(scenario_yaml())
    with pytest.raises(UsageError, match=r"binding 0\.0\.0\.0 \(beyond loopback\) needs a control token"):
        ProviderServer(scenario, host="0.0.0.0")
    assert is_loopback("127.0.0.2") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.com")


def test_without_a_token_the_control_api_is_open_on_loopback() -> None:
    with ProviderServer(load_scenario_text(scenario_yaml()), time_scale=0.0) as open_server:
        assert HTTP.get(f"{open_server.url}/_harness/stats").status_code == 200
