"""What the real SDKs do under the catalogue's faults, intercepted in-process with default clients.

Each outcome is what the SDK does against a real provider misbehaving the same way (see
``reference/wire-formats.md``; where an installed SDK disagrees with that page, the SDK
wins and the test says so). Time is scaled to zero wherever waiting is not the point; where
the SDK itself sleeps between retries, the served ``retry-after`` is tiny.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from harness.case import CaseDeadlineExceeded
from harness.faults import FaultUse
from harness.interception import Interceptor, intercept
from harness.plan import RatePlan, Rule, SequencePlan
from harness.responder import Responder
from harness.sources import InlineSource, SchemaSource

ROOT = Path(__file__).resolve().parent.parent
OPENAI2_DIR = ROOT / ".cache" / "openai2"
PROBE = Path(__file__).with_name("sdk_openai2_probe.py")

TEXT = '{"user_id": 42, "name": "Ada Lövelace"}'
HI: list[Any] = [{"role": "user", "content": "hi"}]
"""A one-message conversation (both SDKs accept it)."""
USER_SCHEMA = {
    "type": "object",
    "properties": {"user_id": {"type": "integer"}, "name": {"type": "string"}},
    "required": ["user_id", "name"],
    "additionalProperties": False,
}
QUICK_429 = {"status": 429, "retry_after": 0.01, "retry_after_form": "float"}
"""A rate limit whose retry-after the SDKs honour (floats allowed), short enough not to matter."""

Step = tuple[str, Mapping[str, Any]] | None


def every_call(name: str, params: Mapping[str, Any] | None = None, *, source: Any = None) -> Responder:
    """A Responder applying fault ``name`` to every model call."""
    use = FaultUse.of(name, params)
    return Responder(source or InlineSource(TEXT), RatePlan((Rule((use,)),)))


def in_order(*steps: Step) -> Responder:
    """A Responder serving step k to call k (None: clean), then clean replies."""
    rules = tuple(Rule(() if s is None else (FaultUse.of(s[0], s[1]),)) for s in steps)
    return Responder(InlineSource(TEXT), SequencePlan(rules))


def ask(client: openai.OpenAI | None = None, **kwargs: Any) -> Any:
    """One chat completion through ``client`` (default: a default ``OpenAI()``)."""
    return (client or openai.OpenAI()).chat.completions.create(model="gpt-4o-mini", messages=HI, **kwargs)


def renaming_user_id() -> Responder:
    """Generated users whose ``user_id`` the model renames to ``UserID``."""
    return every_call("rename_keys", {"mapping": {"user_id": "UserID"}}, source=SchemaSource(USER_SCHEMA))


def stream_text(chunks: Any) -> tuple[str, list[str | None]]:
    """Concatenated delta content and the finish reasons of an openai chunk iterator."""
    text, finishes = "", []
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finishes.append(choice.finish_reason)
    return text, finishes


# --------------------------------------------------------------------------- openai: status and retries


def test_429_with_retry_after_then_clean_succeeds_on_the_second_call() -> None:
    with intercept(in_order(("http_status", QUICK_429)), time_scale=0) as it:
        reply = ask()
    assert reply.choices[0].message.content == TEXT
    assert [c.status for c in it.calls] == [429, 200]


def test_insufficient_quota_429_is_retried_until_the_budget_is_spent() -> None:
    quota = every_call("http_status", {**QUICK_429, "code": "insufficient_quota"})
    with intercept(quota, time_scale=0) as it, pytest.raises(openai.RateLimitError) as caught:
        ask(openai.OpenAI(max_retries=2))
    assert caught.value.code == "insufficient_quota"
    assert len(it.calls) == 3


def test_x_should_retry_false_stops_the_retry_of_a_500() -> None:
    with (
        intercept(every_call("http_status", {"status": 500, "should_retry": False}), time_scale=0) as it,
        pytest.raises(openai.InternalServerError),
    ):
        ask()
    assert len(it.calls) == 1


def test_html_502_keeps_the_raw_page_as_the_error_body() -> None:
    # openai 3.x puts only "Error code: 502" in the message and the raw text in .body
    # (openai/_base_client.py _make_status_error_from_response); 2.x used the raw text as message.
    with (
        intercept(every_call("http_status", {"status": 502}), time_scale=0) as it,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        ask(openai.OpenAI(max_retries=0))
    assert caught.value.message == "Error code: 502"
    assert caught.value.body == it.calls[0].body.decode().strip()
    assert str(caught.value.body).startswith("<html>") and caught.value.code is None


# --------------------------------------------------------------------------- openai: transport


def test_reset_mid_body_is_a_connection_error_caused_by_the_protocol_error() -> None:
    with (
        intercept(every_call("connection_reset", {"fraction": 0.5}), time_scale=0) as it,
        pytest.raises(openai.APIConnectionError) as caught,
    ):
        ask(openai.OpenAI(max_retries=0))
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert "peer closed connection without sending complete message body" in str(caught.value.__cause__)
    assert len(it.calls) == 1


def test_reset_of_a_plain_reply_is_retried_like_any_failed_send() -> None:
    with intercept(in_order(("connection_reset", {"fraction": 0.5})), time_scale=0) as it:
        reply = ask(openai.OpenAI(max_retries=1))
    assert reply.choices[0].message.content == TEXT
    assert len(it.calls) == 2


def test_reset_mid_stream_surfaces_while_iterating_and_is_not_retried() -> None:
    received: list[Any] = []
    with intercept(every_call("connection_reset", {"fraction": 0.5}), time_scale=0) as it:
        stream = ask(stream=True)
        # openai 3.x wraps transport errors raised mid-iteration (openai/_streaming.py _iter_events).
        with pytest.raises(openai.APIConnectionError) as caught:
            received.extend(stream)
    assert received, "the first chunks arrive before the reset"
    assert isinstance(caught.value.__cause__, httpx2.RemoteProtocolError)
    assert len(it.calls) == 1


def test_timeout_fault_hits_the_client_read_timeout_without_real_waiting() -> None:
    with (
        intercept(every_call("timeout"), time_scale=0) as it,
        pytest.raises(openai.APITimeoutError) as caught,
    ):
        openai.OpenAI(timeout=0.5, max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert isinstance(caught.value.__cause__, httpx2.ReadTimeout)
    assert it.case.skipped == 0.5


def test_stream_stall_kept_alive_runs_into_the_case_deadline() -> None:
    responder = every_call("stream_stall", {"keepalive": True, "keepalive_every": 1.0})
    with Interceptor(responder, time_scale=0, deadline=30.0) as it:
        stream = ask(stream=True)
        with pytest.raises(CaseDeadlineExceeded):
            list(stream)
    assert len(it.calls) == 1


def test_stream_cut_ends_the_openai_loop_silently_without_finish_reason() -> None:
    with intercept(every_call("stream_cut", {"after_fraction": 0.5}), time_scale=0):
        stream = ask(stream=True)
        text, finishes = stream_text(stream)
    assert TEXT.startswith(text) and text != TEXT
    assert set(finishes) == {None}


def test_error_in_200_on_an_openai_stream_raises_api_error() -> None:
    with intercept(every_call("error_in_200"), time_scale=0) as it:
        stream = ask(stream=True)
        with pytest.raises(openai.APIError) as caught:
            list(stream)
    assert not isinstance(caught.value, openai.APIStatusError)
    assert len(it.calls) == 1


def test_truncated_sse_json_breaks_the_openai_stream() -> None:
    with intercept(every_call("malformed_sse", {"kind": "truncated_json"}), time_scale=0):
        stream = ask(stream=True)
        with pytest.raises(json.JSONDecodeError):
            list(stream)


def test_split_utf8_is_reassembled_by_both_sdks() -> None:
    with intercept(every_call("split_utf8"), time_scale=0) as it:
        stream = ask(stream=True)
        openai_text, _ = stream_text(stream)
        with anthropic.Anthropic().messages.stream(model="claude-x", max_tokens=64, messages=HI) as events:
            anthropic_text = events.get_final_text()
    assert openai_text == TEXT == anthropic_text
    assert all(call.faults == ["split_utf8"] for call in it.calls)


def test_async_openai_sees_the_same_outcomes() -> None:
    async def main() -> tuple[str | None, type[BaseException]]:
        async with intercept(in_order(("http_status", QUICK_429), ("connection_reset", {})), time_scale=0):
            client = openai.AsyncOpenAI(max_retries=0)
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model="gpt-4o-mini", messages=HI)
            stream = await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
            try:
                async for _ in stream:
                    pass
            except openai.APIConnectionError as exc:
                broken: type[BaseException] = type(exc.__cause__ or exc)
            reply = await client.chat.completions.create(model="gpt-4o-mini", messages=HI)
            return reply.choices[0].message.content, broken

    assert asyncio.run(main()) == (TEXT, httpx2.RemoteProtocolError)


# --------------------------------------------------------------------------- anthropic


def test_anthropic_529_is_overloaded_and_retried_then_succeeds() -> None:
    overloaded = {"status": 529, "retry_after": 0.01, "retry_after_form": "float"}
    interceptor = intercept(in_order(("http_status", overloaded)), time_scale=0)
    with interceptor:
        message = anthropic.Anthropic().messages.create(model="claude-x", max_tokens=64, messages=HI)
    assert message.content[0].type == "text"
    assert [c.status for c in interceptor.calls] == [529, 200]
    with interceptor, pytest.raises(anthropic.OverloadedError):  # a fresh case: 529 first again
        anthropic.Anthropic(max_retries=0).messages.create(model="claude-x", max_tokens=64, messages=HI)
    assert [c.status for c in interceptor.calls] == [529]


def test_anthropic_stream_error_event_is_a_status_200_error_not_retried() -> None:
    with (
        intercept(every_call("error_in_200"), time_scale=0) as it,
        pytest.raises(anthropic.APIStatusError) as caught,
        anthropic.Anthropic().messages.stream(model="claude-x", max_tokens=64, messages=HI) as events,
    ):
        events.get_final_text()
    assert caught.value.status_code == 200
    assert len(it.calls) == 1


def test_anthropic_async_stream_surfaces_a_raw_reset() -> None:
    # anthropic 2.x does not wrap mid-stream transport errors (anthropic/_streaming.py), openai 3.x does.
    async def main() -> None:
        async with intercept(every_call("connection_reset", {"fraction": 0.5}), time_scale=0):
            client = anthropic.AsyncAnthropic()
            async with client.messages.stream(model="claude-x", max_tokens=64, messages=HI) as events:
                await events.get_final_text()

    with pytest.raises(httpx2.RemoteProtocolError, match="incomplete chunked read"):
        asyncio.run(main())


# --------------------------------------------------------------------------- forced tool calls


def test_content_faults_reach_openai_tool_call_arguments() -> None:
    tools: list[Any] = [{"type": "function", "function": {"name": "save_user", "parameters": USER_SCHEMA}}]
    responder = every_call(
        "rename_keys", {"mapping": {"user_id": "UserID"}}, source=SchemaSource(USER_SCHEMA)
    )
    with intercept(responder, time_scale=0):
        reply = openai.OpenAI().chat.completions.create(
            model="gpt-4o-mini",
            messages=HI,
            tools=tools,
            tool_choice={"type": "function", "function": {"name": "save_user"}},
        )
    message = reply.choices[0].message
    assert message.content is None and message.tool_calls
    call = message.tool_calls[0]
    assert call.type == "function" and call.function.name == "save_user"
    assert set(json.loads(call.function.arguments)) == {"UserID", "name"}
    assert reply.choices[0].finish_reason == "tool_calls"


def test_content_faults_reach_anthropic_tool_use_input() -> None:
    tools: list[Any] = [{"name": "save_user", "input_schema": USER_SCHEMA}]
    responder = every_call(
        "rename_keys", {"mapping": {"user_id": "UserID"}}, source=SchemaSource(USER_SCHEMA)
    )
    with intercept(responder, time_scale=0):
        message = anthropic.Anthropic().messages.create(
            model="claude-x",
            max_tokens=256,
            messages=HI,
            tools=tools,
            tool_choice={"type": "tool", "name": "save_user"},
        )
    block = message.content[0]
    assert block.type == "tool_use" and block.name == "save_user"
    assert isinstance(block.input, dict) and set(block.input) == {"UserID", "name"}
    assert message.stop_reason == "tool_use"


# --------------------------------------------------------------------------- openai 2.x (httpx)


def _has_openai2(folder: Path) -> bool:
    return any(folder.glob("openai-2.*.dist-info")) and any(folder.glob("distro-*.dist-info"))


@pytest.fixture(scope="session")
def openai2_dir() -> Path:
    """A folder holding openai 2.x (it cannot live beside openai 3.x), installed once."""
    if not _has_openai2(OPENAI2_DIR):
        # distro is an openai 2.x dependency that openai 3.x dropped; the rest are shared.
        command = [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(OPENAI2_DIR)]
        result = subprocess.run(
            [*command, "openai>=2,<3", "distro>=1.7,<2"], capture_output=True, text=True, check=False
        )
        if result.returncode != 0 or not _has_openai2(OPENAI2_DIR):
            last = (result.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.fail(f"could not install openai 2.x into {OPENAI2_DIR} with pip: {last}")
    return OPENAI2_DIR


@pytest.mark.slow
def test_openai2_over_httpx_is_intercepted_through_respx(openai2_dir: Path) -> None:
    path = os.pathsep.join([str(openai2_dir), str(ROOT), os.environ.get("PYTHONPATH", "")])
    result = subprocess.run(
        [sys.executable, str(PROBE)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["version"].startswith("2.") and report["client"] == "httpx.Client"
    assert report["clean"] == {"content": TEXT, "calls": 1}
    assert report["429_then_clean"] == {"content": TEXT, "statuses": [429, 200]}
    assert report["stream_cut"]["finishes"] == [None] * len(report["stream_cut"]["finishes"])
    assert TEXT.startswith(report["stream_cut"]["text"])
    assert report["reset_mid_body"] == {"error": "APIConnectionError", "cause": "httpx.RemoteProtocolError"}
    assert report["html_502"]["message"] == report["html_502"]["body"]
    assert report["html_502"]["message"].startswith("<html>")
    assert report["async_stream"] == TEXT
