"""Record → redact → replay: the real SDKs through the recording proxy to a real fake-provider upstream."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml

from harness.case import CaseState
from harness.cli import main
from harness.interception import intercept
from harness.plan import CLEAN
from harness.record import Recorder, parse_sse
from harness.responder import Responder
from harness.server import ProviderServer
from harness.sources import CassetteSource, InlineSource, SchemaSource
from harness.wire import ModelRequest
from tests.test_sdk_outcomes import TEXT, USER_SCHEMA

OPENAI_SECRET = "sk-test-SECRETopenai0123456789abcdef"
ANTHROPIC_SECRET = "sk-ant-SECRETanthropic0123456789"
COOKIE_SECRET = "SECRETcookie42"
BODY_SECRET = "sk-test-SECRETinbody0123456789abcdef"
QUERY_SECRET = "SECRETquery777"
QUERY_KEY_SECRET = "sk-test-SECRETinquery0123456789"
CUSTOM_SECRET = "SECRETgateway55"
PLANTED = [
    OPENAI_SECRET,
    ANTHROPIC_SECRET,
    COOKIE_SECRET,
    BODY_SECRET,
    QUERY_SECRET,
    QUERY_KEY_SECRET,
    CUSTOM_SECRET,
]
"""Every secret a test plants; none may appear in any file written."""


@pytest.fixture(scope="module")
def upstream() -> Iterator[ProviderServer]:
    """A clean fake provider serving TEXT: the upstream the proxy records."""
    with ProviderServer(Responder(InlineSource(TEXT), CLEAN), time_scale=0) as server:
        yield server


def openai_client(recorder: Recorder, key: str = OPENAI_SECRET, **kwargs: Any) -> openai.OpenAI:
    """An openai SDK client pointed at the proxy, no retries."""
    return openai.OpenAI(base_url=recorder.openai_base_url, api_key=key, max_retries=0, **kwargs)


def anthropic_client(recorder: Recorder) -> anthropic.Anthropic:
    """An anthropic SDK client pointed at the proxy, no retries."""
    return anthropic.Anthropic(base_url=recorder.anthropic_base_url, api_key=ANTHROPIC_SECRET, max_retries=0)


def ask(client: openai.OpenAI, text: str = "hi", **kwargs: Any) -> Any:
    """One chat completion asking ``text``."""
    return client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **kwargs
    )


def record_four(upstream: ProviderServer, cassette: Path) -> list[str]:
    """Record openai and anthropic, streaming and not; returns what the SDKs read."""
    seen: list[str] = []
    with Recorder(upstream.url, cassette) as recorder:
        client = openai_client(recorder)
        seen.append(ask(client).choices[0].message.content)
        stream = ask(client, stream=True, stream_options={"include_usage": True})
        seen.append("".join(c.choices[0].delta.content or "" for c in stream if c.choices))
        claude = anthropic_client(recorder)
        message = claude.messages.create(
            model="claude-3-5-haiku-latest", max_tokens=200, messages=[{"role": "user", "content": "hi"}]
        )
        seen.append(message.content[0].text)  # type: ignore[union-attr]
        with claude.messages.stream(
            model="claude-3-5-haiku-latest", max_tokens=200, messages=[{"role": "user", "content": "hi"}]
        ) as streamed:
            seen.append(streamed.get_final_text())
        assert recorder.recorded == 4
    return seen


def test_recording_passes_replies_through_and_writes_a_valid_cassette(
    upstream: ProviderServer, tmp_path: Path
) -> None:
    cassette = tmp_path / "cassettes" / "session.json"
    assert record_four(upstream, cassette) == [TEXT] * 4
    document = json.loads(cassette.read_text())
    assert [i["request"]["path"] for i in document["interactions"]] == [
        "/v1/chat/completions",
        "/v1/chat/completions",
        "/v1/messages",
        "/v1/messages",
    ]
    streamed = [i["response"] for i in document["interactions"] if "events" in i["response"]]
    assert len(streamed) == 2
    for response in streamed:
        times = [event["at"] for event in response["events"]]
        assert times == sorted(times)
        assert response["head_delay"] >= 0
    assert streamed[0]["events"][-1]["data"] == "[DONE]"
    assert streamed[1]["events"][-1]["event"] == "message_stop"
    source = CassetteSource(cassette)
    assert len(source) == 4
    replies = [
        source.completion(ModelRequest("x", "/v1/chat/completions", {}, call=k), random.Random(0))
        for k in (1, 2, 3, 4)
    ]
    assert [r.text for r in replies] == [TEXT] * 4
    assert not list(tmp_path.glob("cassettes/.*.tmp"))  # atomic writes leave no temporary files


def test_an_existing_cassette_is_appended_to(upstream: ProviderServer, tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"
    for _ in range(2):
        with Recorder(upstream.url, cassette) as recorder:
            ask(openai_client(recorder))
    assert len(json.loads(cassette.read_text())["interactions"]) == 2


def write_scenario(
    folder: Path, cassette: Path, source: dict[str, Any], faults: list[Any] | None = None
) -> Path:
    """A scenario replaying ``cassette`` with extra ``source`` options and ``faults``."""
    path = folder / "replay.yaml"
    data = {
        "version": 1,
        "name": "replay",
        "description": "recorded replies with faults on top",
        "time_scale": 0,
        "source": {"cassette": str(cassette.relative_to(folder)), **source},
        "faults": faults or [],
        "inputs": ["hi"],
        "contract": {"schema": {"type": "object"}},
    }
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


def test_replay_serves_the_recording_with_a_fault_on_top(upstream: ProviderServer, tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"
    record_four(upstream, cassette)
    scenario = write_scenario(
        tmp_path, cassette, {}, [{"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}}]
    )
    with intercept(scenario):
        plain = ask(openai.OpenAI(api_key="sk-replay-other", max_retries=0)).choices[0].message.content
        claude = anthropic.Anthropic(api_key="sk-ant-replay-other", max_retries=0)
        message = claude.messages.create(
            model="claude-3-5-haiku-latest", max_tokens=200, messages=[{"role": "user", "content": "hi"}]
        )
    expected = {"UserID": 42, **{k: v for k, v in json.loads(TEXT).items() if k != "user_id"}}
    assert json.loads(plain) == expected
    assert json.loads(message.content[0].text) == expected  # type: ignore[union-attr]


def plant_secrets(recorder: Recorder, message: str, key: str = OPENAI_SECRET) -> Any:
    """A chat call carrying secrets in its headers, its body and its query string."""
    client = openai_client(
        recorder,
        key,
        default_headers={"Cookie": f"session={COOKIE_SECRET}", "X-Gateway-Auth": CUSTOM_SECRET},
        default_query={"key": QUERY_SECRET, "note": QUERY_KEY_SECRET},
    )
    return ask(client, message, extra_body={"user": BODY_SECRET, "metadata": {"api_key": QUERY_SECRET}})


def test_planted_secrets_reach_no_file_and_replay_still_matches(tmp_path: Path) -> None:
    folder = tmp_path / "cassettes"
    cassette = folder / "secrets.json"
    with (
        ProviderServer(Responder(SchemaSource(USER_SCHEMA), CLEAN), time_scale=0) as varied,
        Recorder(varied.url, cassette, redact_headers=["x-gateway-auth"]) as recorder,
    ):
        first = plant_secrets(recorder, "sign up Ada").choices[0].message.content
        second = plant_secrets(recorder, "sign up Grace").choices[0].message.content
        claude = anthropic_client(recorder)
        claude.messages.create(
            model="claude-3-5-haiku-latest",
            max_tokens=50,
            messages=[{"role": "user", "content": f"my key is {ANTHROPIC_SECRET}"}],
        )
    assert first != second
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert written == [cassette]
    for path in written:
        data = path.read_bytes()
        for secret in PLANTED:
            assert secret.encode() not in data, f"{secret} reached {path}"
    text = cassette.read_text()
    assert "<redacted:openai-key>" in text
    assert "<redacted:anthropic-key>" in text
    assert "key=%3Credacted%3Akey%3E" in text or "key=<redacted:key>" in text

    # Replay with a different real key, the calls in the other order: fields matching finds each reply.
    scenario = write_scenario(folder, cassette, {"match": "fields", "fields": ["messages", "user"]})
    with intercept(scenario):
        client = openai.OpenAI(api_key="sk-test-ANOTHERkey0123456789abc", max_retries=0)
        other = "sk-test-ANOTHERbodykey0123456789"
        replayed_second = ask(client, "sign up Grace", extra_body={"user": other}).choices[0].message.content
        replayed_first = ask(client, "sign up Ada", extra_body={"user": other}).choices[0].message.content
    assert (replayed_first, replayed_second) == (first, second)


def test_fields_matching_falls_back_to_order_without_a_match(
    tmp_path: Path, upstream: ProviderServer
) -> None:
    cassette = tmp_path / "c.json"
    with Recorder(upstream.url, cassette) as recorder:
        ask(openai_client(recorder), "one")
    source = CassetteSource(cassette, match="fields", fields=["messages"])
    request = ModelRequest(
        "openai-chat", "/v1/chat/completions", {"messages": [{"role": "user", "content": "x"}]}
    )
    assert source.completion(request, random.Random(0)).text == TEXT


def test_recorded_and_scaled_timing_become_segment_delays(tmp_path: Path) -> None:
    cassette = tmp_path / "timed.json"
    events = [
        {"data": {"choices": [{"delta": {"content": c}}]}, "at": at} for c, at in [("{", 0.5), ("}", 2.0)]
    ]
    events.append({"data": "[DONE]", "at": 2.0})
    document = {
        "version": 1,
        "interactions": [
            {
                "request": {"path": "/v1/chat/completions", "body": {"model": "m", "messages": []}},
                "response": {"status": 200, "head_delay": 0.25, "events": events},
            }
        ],
    }
    cassette.write_text(json.dumps(document))
    body = json.dumps(
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    ).encode()

    def reply(**options: Any) -> Any:
        responder = Responder(CassetteSource(cassette, **options))
        return responder.respond("/v1/chat/completions", body, {}, CaseState(seed=0, index=0, time_scale=0))

    untimed = reply()
    assert untimed.total_delay == 0
    recorded = reply(timing="recorded")
    assert recorded.head_delay == 0.25
    assert recorded.segments[0].delay == 0.5  # the first chunk keeps its recorded time
    assert sum(s.delay for s in recorded.segments) == pytest.approx(2.0)  # and the last one too
    scaled = reply(timing="scaled", timing_scale=0.5)
    assert scaled.head_delay == 0.125
    assert sum(s.delay for s in scaled.segments) == pytest.approx(1.0)


def test_latency_fault_adds_to_recorded_timing(tmp_path: Path, upstream: ProviderServer) -> None:
    cassette = tmp_path / "c.json"
    with Recorder(upstream.url, cassette) as recorder:
        ask(openai_client(recorder))
    document = json.loads(cassette.read_text())
    document["interactions"][0]["response"]["head_delay"] = 1.5
    cassette.write_text(json.dumps(document))
    scenario = write_scenario(
        tmp_path, cassette, {"timing": "recorded"}, [{"fault": "latency", "params": {"seconds": 2}}]
    )
    with intercept(scenario, time_scale=0) as it:
        assert ask(openai.OpenAI(max_retries=0)).choices[0].message.content == TEXT
    assert it.calls[0].injected_delay == pytest.approx(3.5)


def test_sse_parsing_keeps_arrival_times_and_drops_comments() -> None:
    chunks = [
        (0.1, b'event: a\ndata: {"x"'),
        (0.2, b": 1}\n\n: keep-alive\n\n"),
        (0.3, b"data: [DONE]\r\n\r\n"),
    ]
    assert parse_sse(chunks) == [(0.2, "a", {"x": 1}), (0.3, None, "[DONE]")]


def test_unreachable_upstream_is_a_502_and_not_recorded(tmp_path: Path) -> None:
    cassette = tmp_path / "c.json"
    with Recorder("http://127.0.0.1:9", cassette) as recorder, pytest.raises(openai.InternalServerError):
        ask(openai_client(recorder))
    assert not cassette.exists()


def test_cli_record_refuses_a_broken_cassette_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cassette = tmp_path / "broken.json"
    cassette.write_text('{"version": 2, "interactions": []}')
    assert main(["record", "--upstream", "http://127.0.0.1:9", "--cassette", str(cassette)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"harness: error: {cassette}: version: expected cassette version 1; got 2"


def test_cli_record_refuses_a_bad_upstream_and_a_bad_pattern(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = str(tmp_path / "c.json")
    assert main(["record", "--upstream", "api.openai.com", "--cassette", out]) == 2
    assert main(["record", "--upstream", "http://x", "--cassette", out, "--redact-pattern", "("]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "harness: error: --upstream 'api.openai.com': expected an http:// or https:// URL"
    assert lines[1].startswith("harness: error: --redact-pattern '(': not a regular expression")
