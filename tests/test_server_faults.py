"""Every dialect × streaming mode × transport fault through the real server, with the real SDKs and httpx.

Each case is played twice — over the wire and in-process (same scenario, same case) —
and both must show what the SDK does against a real provider misbehaving that way (the
outcomes ``test_sdk_outcomes.py`` asserts in-process). The one deliberate difference: a
reset before the headers is a real RST on the socket, which httpx reports as ``ReadError``
(connection reset by peer), where the in-process delivery raises ``RemoteProtocolError``;
both are the SDKs' ``APIConnectionError``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import openai
import pytest

from harness.case import CaseState
from harness.delivery_http import raw_response_error
from harness.interception import Interceptor
from harness.server import ProviderServer
from harness.wire import KEEPALIVE_COMMENT
from tests.test_sdk_outcomes import HI, QUICK_429, TEXT
from tests.test_server import (
    CLIENT_TIMEOUT,
    DIALECT_NAMES,
    HTTP,
    PATHS,
    ask,
    load_scenario_text,
    request_body,
    scenario_yaml,
    serve_fault,
)

HANG_TIMEOUT = 0.25
"""Client read timeout where the server hangs on purpose (real seconds)."""
KEEPALIVE_READ_TIMEOUT = 0.5
"""Client read timeout against a kept-alive stall (comments come every 20 ms)."""
TIME_SCALE = 0.01
"""The server's time scale: a scenario second is 10 ms."""


@dataclass(frozen=True)
class Outcome:
    """What a client observed: an exception (class and cause class) or text (complete? finished?)."""

    error: str | None = None
    cause: str | None = None
    complete: bool = True
    finished: bool = True


OK = Outcome()
CUT = Outcome(complete=False, finished=False)
UNFINISHED = Outcome(finished=False)


def observe(url: str, dialect: str, stream: bool, timeout: float) -> Outcome:
    """Run one SDK call and describe what happened."""
    try:
        answer = ask(url, dialect, stream=stream, timeout=timeout)
    except Exception as exc:
        cause = exc.__cause__
        top = type(exc)
        # A raw httpx2 exception is chained from httpcore2 over a real socket only.
        cause_name = None if cause is None or top.__module__ == "httpx2" else _name(type(cause))
        return Outcome(_name(top), cause_name)
    return Outcome(complete=answer.text == TEXT, finished=answer.finished)


def _name(kind: type[BaseException]) -> str:
    return f"{kind.__module__.split('.')[0]}.{kind.__name__}"


def sdk(dialect: str) -> str:
    """The package of the SDK speaking ``dialect``."""
    return "anthropic" if dialect == "anthropic-messages" else "openai"


@dataclass(frozen=True)
class FaultCase:
    """A fault, its parameters, and the outcome per dialect and mode."""

    name: str
    params: dict[str, Any]
    hangs: bool = False

    def expected(self, dialect: str, stream: bool, *, over_wire: bool) -> Outcome:
        """What the real SDK does (see the module docstring)."""
        lib = sdk(dialect)
        raw_stream_error = dialect == "anthropic-messages" and stream  # anthropic 2.x doesn't wrap
        key = (self.name, json.dumps(self.params, sort_keys=True))
        stream_only = {"stream_stall", "stream_cut", "malformed_sse"}
        if self.name in stream_only and not stream:
            return OK
        if key[0] in {"latency", "slow_drip", "split_utf8"}:
            return OK
        if self.name in {"timeout", "stream_stall"}:
            after_head = self.params.get("after_headers") or self.name == "stream_stall"
            if after_head and raw_stream_error:
                return Outcome("httpx2.ReadTimeout")
            return Outcome(f"{lib}.APITimeoutError", "httpx2.ReadTimeout")
        if self.name == "http_status":
            status = self.params["status"]
            kind = {
                429: "RateLimitError",
                529: "OverloadedError" if lib == "anthropic" else "InternalServerError",
            }
            return Outcome(f"{lib}.{kind.get(status, 'InternalServerError')}")
        if self.name == "connection_reset" and self.params.get("at") == "before_headers":
            cause = "httpx2.ReadError" if over_wire else "httpx2.RemoteProtocolError"
            return Outcome(f"{lib}.APIConnectionError", cause)
        if self.name in {"connection_reset", "empty_reply", "random_bytes"}:
            if raw_stream_error and self.name == "connection_reset":
                return Outcome("httpx2.RemoteProtocolError")
            return Outcome(f"{lib}.APIConnectionError", "httpx2.RemoteProtocolError")
        if self.name == "stream_cut":
            if self.params:
                return CUT
            return OK if dialect == "openai-chat" else UNFINISHED  # only [DONE] / the closing event is lost
        if self.name == "malformed_sse":
            return Outcome("json.JSONDecodeError")
        raise AssertionError(f"no expectation for {self.name}")

    @property
    def id(self) -> str:
        """Readable test id."""
        inner = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({inner})" if inner else self.name


MATRIX = [
    FaultCase("latency", {"seconds": 2.0}),
    FaultCase("latency", {"distribution": "uniform", "low": 0.5, "high": 1.0, "per_chunk": True}),
    FaultCase("timeout", {}, hangs=True),
    FaultCase("timeout", {"after_headers": True}, hangs=True),
    FaultCase("http_status", dict(QUICK_429)),
    FaultCase("http_status", {"status": 502}),
    FaultCase("http_status", {"status": 529}),
    FaultCase("http_status", {"status": 500}),
    FaultCase("connection_reset", {"at": "before_headers"}),
    FaultCase("connection_reset", {"fraction": 0.5}),
    FaultCase("stream_stall", {}, hangs=True),
    FaultCase("stream_cut", {}),
    FaultCase("stream_cut", {"after_fraction": 0.5}),
    FaultCase("malformed_sse", {"kind": "truncated_json", "at": 4}),  # a text delta in every dialect
    FaultCase("split_utf8", {"gap": 0.5}),
    FaultCase("empty_reply", {}),
    FaultCase("random_bytes", {"size": 200}),
    FaultCase("slow_drip", {"bytes_per_second": 5000}),
]


@pytest.fixture(scope="module")
def server() -> Iterator[ProviderServer]:
    """One fake provider for the module (faults swapped live through the control API)."""
    with ProviderServer(load_scenario_text(scenario_yaml()), time_scale=TIME_SCALE, hold_cap=5.0) as running:
        yield running


@pytest.mark.parametrize("case", MATRIX, ids=[c.id for c in MATRIX])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_sdk_outcome_over_the_wire_matches_in_process(
    server: ProviderServer, dialect: str, stream: bool, case: FaultCase
) -> None:
    serve_fault(server, case.name, case.params)
    timeout = HANG_TIMEOUT if case.hangs else CLIENT_TIMEOUT
    wire = observe(server.url, dialect, stream, timeout)
    scenario = load_scenario_text(scenario_yaml([{"fault": case.name, "params": case.params}]))
    with Interceptor(
        scenario.build_responder(), time_scale=0.0, default_case=CaseState(seed=0, index=0, time_scale=0.0)
    ):
        in_process = observe(server.url, dialect, stream, timeout)
    assert wire == case.expected(dialect, stream, over_wire=True)
    assert in_process == case.expected(dialect, stream, over_wire=False)


# --------------------------------------------------------------------------- retries and error bodies


def test_a_429_storm_is_retried_until_the_budget_is_spent(server: ProviderServer) -> None:
    serve_fault(server, "http_status", QUICK_429)
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=2)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    stats = HTTP.get(f"{server.url}/_harness/stats").json()
    assert stats["requests"] == 3 and stats["statuses"] == {"429": 3}


def test_html_502_reaches_the_sdk_as_the_raw_page(server: ProviderServer) -> None:
    serve_fault(server, "http_status", {"status": 502})
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert caught.value.message == "Error code: 502"
    assert str(caught.value.body).startswith("<html>") and caught.value.code is None
    assert caught.value.response.headers["content-type"] == "text/html"


# --------------------------------------------------------------------------- plain httpx on the socket


def _post(server: ProviderServer, *, stream: bool, timeout: float = CLIENT_TIMEOUT) -> list[bytes]:
    """POST a chat request with plain httpx and return the raw body reads (raises what httpx raises)."""
    body = request_body("openai-chat", stream=stream)
    url = f"{server.url}{PATHS['openai-chat']}"
    with httpx.stream("POST", url, json=body, timeout=timeout) as response:
        return list(response.iter_raw())


@pytest.mark.parametrize(
    ("fault", "params", "stream", "error", "message"),
    [
        ("connection_reset", {"at": "before_headers"}, False, httpx.ReadError, "Connection reset by peer"),
        ("connection_reset", {"fraction": 0.5}, False, httpx.RemoteProtocolError, "expected"),
        ("connection_reset", {"fraction": 0.5}, True, httpx.RemoteProtocolError, "incomplete chunked read"),
        (
            "empty_reply",
            {},
            False,
            httpx.RemoteProtocolError,
            "Server disconnected without sending a response.",
        ),
        ("timeout", {}, False, httpx.ReadTimeout, "timed out"),
        ("timeout", {"after_headers": True}, True, httpx.ReadTimeout, "timed out"),
        ("stream_stall", {}, True, httpx.ReadTimeout, "timed out"),
    ],
    ids=["reset-head", "reset-body", "reset-stream", "empty", "hang", "headers-then-silence", "stall"],
)
def test_plain_httpx_sees_the_socket_fault(
    server: ProviderServer,
    fault: str,
    params: dict[str, Any],
    stream: bool,
    error: type[Exception],
    message: str,
) -> None:
    serve_fault(server, fault, params)
    with pytest.raises(error, match=message):
        _post(server, stream=stream, timeout=HANG_TIMEOUT)


def test_random_bytes_fail_as_the_in_process_delivery_predicts(server: ProviderServer) -> None:
    params = {"size": 300}
    serve_fault(server, "random_bytes", params)
    with pytest.raises(httpx.RemoteProtocolError) as caught:
        _post(server, stream=False)
    scenario = load_scenario_text(scenario_yaml([{"fault": "random_bytes", "params": params}]))
    body = json.dumps(request_body("openai-chat")).encode()
    reply = scenario.build_responder().respond(PATHS["openai-chat"], body, {}, CaseState(seed=0, index=0))
    assert reply.raw_response is not None and len(reply.raw_response) == 300
    assert str(caught.value) == raw_response_error(reply.raw_response)


def test_split_utf8_really_splits_a_character_across_reads(server: ProviderServer) -> None:
    serve_fault(server, "split_utf8", {"gap": 5.0})  # 50 ms between the halves at this time scale
    reads = _post(server, stream=True)
    body = b"".join(reads)
    assert "Lövelace".encode() in body.replace(b"\\u00f6", "ö".encode()) or "ö".encode() in body
    assert any(_splits_a_character(chunk) for chunk in reads)


def _splits_a_character(chunk: bytes) -> bool:
    try:
        chunk.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def test_slow_drip_delivers_the_body_in_pieces(server: ProviderServer) -> None:
    serve_fault(server, "clean")
    clean = b"".join(_post(server, stream=False))
    serve_fault(server, "slow_drip", {"bytes_per_second": 50, "chunk_size": 100})  # 20 ms per piece
    reads = _post(server, stream=False)
    assert b"".join(reads) == clean
    assert len(reads) >= 2


def test_a_kept_alive_stall_defeats_the_read_timeout_only_a_deadline_ends_it(server: ProviderServer) -> None:
    serve_fault(server, "stream_stall", {"keepalive": True, "keepalive_every": 2.0})  # a comment every 20 ms

    async def read_until_deadline() -> tuple[list[bytes], type[BaseException] | None]:
        reads: list[bytes] = []
        body = request_body("openai-chat", stream=True)
        async with httpx.AsyncClient(timeout=KEEPALIVE_READ_TIMEOUT) as client:
            try:
                async with (
                    asyncio.timeout(1.5),
                    client.stream("POST", f"{server.url}{PATHS['openai-chat']}", json=body) as response,
                ):
                    async for chunk in response.aiter_raw():
                        reads.append(chunk)
            except BaseException as exc:
                return reads, type(exc)
        return reads, None

    reads, error = asyncio.run(read_until_deadline())
    assert error is TimeoutError, "the overall deadline fired, not httpx's read timeout"
    assert sum(chunk.count(KEEPALIVE_COMMENT) for chunk in reads) >= 2


def test_a_kept_alive_stall_keeps_an_sdk_stream_open_past_its_read_timeout(server: ProviderServer) -> None:
    serve_fault(server, "stream_stall", {"keepalive": True, "keepalive_every": 2.0})

    async def main() -> str:
        client = openai.AsyncOpenAI(
            base_url=server.openai_base_url, api_key="sk-test", timeout=KEEPALIVE_READ_TIMEOUT, max_retries=0
        )
        text = ""
        try:
            async with asyncio.timeout(1.5):
                stream = await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
                async for chunk in stream:
                    text += "".join(choice.delta.content or "" for choice in chunk.choices)
        except TimeoutError:
            return text
        finally:
            await client.close()
        raise AssertionError("the stream ended before the deadline")

    text = asyncio.run(main())
    assert TEXT.startswith(text) and text != TEXT


def test_slow_drip_cuts_the_body_into_timed_pieces_without_changing_it() -> None:
    scenario = load_scenario_text(scenario_yaml([{"fault": "slow_drip", "params": {"bytes_per_second": 40}}]))
    body = json.dumps(request_body("openai-chat")).encode()
    reply = scenario.build_responder().respond(PATHS["openai-chat"], body, {}, CaseState(seed=0, index=0))
    clean = (
        load_scenario_text(scenario_yaml())
        .build_responder()
        .respond(PATHS["openai-chat"], body, {}, CaseState(seed=0, index=0))
    )
    assert reply.body == clean.body and reply.faults == ["slow_drip(bytes_per_second=40.0)"]
    assert all(len(s.data) <= 4 for s in reply.segments) and len(reply.segments) >= len(clean.body) // 4
    assert [s.delay for s in reply.segments[1:]] == [len(s.data) / 40 for s in reply.segments[1:]]
