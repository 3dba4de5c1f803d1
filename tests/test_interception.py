"""The in-process delivery: both httpx families, sync and async, against the WireReply timing semantics.

Replies are shaped by a transport step written here (a real :class:`Fault`, not registered),
so these tests pin the delivery itself; tests/test_sdk_outcomes.py covers the catalogue's
faults through the real SDKs. Time is scaled to zero: waits are accounted, never slept.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
import respx

from harness.case import CURRENT_CASE, CaseDeadlineExceeded, CaseState
from harness.faults import Fault, FaultContext, FaultUse, Layer, NoParams
from harness.interception import DUMMY_KEYS, Interceptor, intercept
from harness.plan import Rule, SequencePlan
from harness.responder import Responder
from harness.scenario import load_scenario
from harness.sources import InlineSource
from harness.wire import KEEPALIVE_COMMENT as KEEPALIVE
from harness.wire import Break, ModelRequest, Segment, WireReply

TEXT = '{"user_id": 42, "name": "Ada Lövelace"}'
OPENAI_URL = "https://api.openai.com/v1/chat/completions"
ANTHROPIC_URL = "https://api.anthropic.com/v1/messages"
HI: list[Any] = [{"role": "user", "content": "hi"}]
REAL_STATUS = 418
"""What the ``local_server`` fixture answers every request with."""
FAMILIES: dict[str, Any] = {"httpx": httpx, "httpx2": httpx2}
COMBOS = [(f, m) for f in FAMILIES for m in ("sync", "async")]
COMBO_IDS = [f"{f}-{m}" for f, m in COMBOS]


def chat(stream: bool = False) -> dict[str, Any]:
    """An OpenAI chat request body."""
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": stream}


def reshaping(
    fn: Callable[[WireReply], WireReply] = lambda r: r,
    *,
    text: str = TEXT,
    seen: list[ModelRequest] | None = None,
) -> Responder:
    """A Responder whose every reply goes through ``fn``: a transport step written by the test."""

    def apply(reply: WireReply, params: NoParams, ctx: FaultContext) -> WireReply:
        if seen is not None:
            seen.append(ctx.request)
        return fn(reply)

    use = FaultUse(Fault("reshape", Layer.TRANSPORT, NoParams, apply, "Test reshaping."), NoParams())
    return Responder(InlineSource(text), SequencePlan((Rule((use,)),), then="last"))


def changed(**changes: Any) -> Callable[[WireReply], WireReply]:
    """A reshaping step that replaces WireReply fields."""
    return lambda reply: dataclasses.replace(reply, **changes)


def first_bytes(size: int, **changes: Any) -> Callable[[WireReply], WireReply]:
    """Keep only the first ``size`` body bytes (one segment), plus field changes."""
    return lambda reply: dataclasses.replace(reply, segments=[Segment(reply.body[:size])], **changes)


def first_segments(count: int, **changes: Any) -> Callable[[WireReply], WireReply]:
    """Keep only the first ``count`` segments, plus field changes."""
    return lambda reply: dataclasses.replace(reply, segments=reply.segments[:count], **changes)


def delayed(each: float, head: float = 0.0) -> Callable[[WireReply], WireReply]:
    """Every segment waits ``each`` seconds; the head waits ``head``."""
    return lambda reply: dataclasses.replace(
        reply, head_delay=head, segments=[Segment(s.data, each) for s in reply.segments]
    )


def gap_at(index: int, seconds: float) -> Callable[[WireReply], WireReply]:
    """Segment ``index`` waits ``seconds``."""

    def apply(reply: WireReply) -> WireReply:
        segments = list(reply.segments)
        segments[index] = Segment(segments[index].data, seconds)
        return dataclasses.replace(reply, segments=segments)

    return apply


@dataclass
class Fetched:
    """What a raw client saw: head, body chunks as they arrived, the error that ended it."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)
    marks: list[Any] = field(default_factory=list)
    """``probe()`` after the head and after every chunk."""
    error: BaseException | None = None

    @property
    def body(self) -> bytes:
        """All chunks joined."""
        return b"".join(self.chunks)


def fetch(
    family: str,
    mode: str,
    body: dict[str, Any],
    *,
    url: str = OPENAI_URL,
    timeout: tuple[float | None, float | None] = (5.0, 600.0),
    probe: Callable[[], Any] = lambda: None,
) -> Fetched:
    """POST ``body`` with a default client of ``family`` and stream the raw body, catching the end."""
    module = FAMILIES[family]
    connect, read = timeout
    limits = module.Timeout(None, connect=connect, read=read)
    # No TLS happens in-process; skipping the CA bundle load keeps the many fetches fast.
    out = Fetched()

    def head(response: Any) -> None:
        out.status, out.headers = response.status_code, dict(response.headers)
        out.marks.append(probe())

    def chunk(data: bytes) -> None:
        out.chunks.append(data)
        out.marks.append(probe())

    async def run_async() -> None:
        async with (
            module.AsyncClient(timeout=limits, verify=False) as client,
            client.stream("POST", url, json=body) as r,
        ):
            head(r)
            async for data in r.aiter_raw():
                chunk(data)

    try:
        if mode == "async":
            asyncio.run(run_async())
        else:
            with (
                module.Client(timeout=limits, verify=False) as client,
                client.stream("POST", url, json=body) as r,
            ):
                head(r)
                for data in r.iter_raw():
                    chunk(data)
    except (Exception, CaseDeadlineExceeded) as exc:
        out.error = exc
    return out


@pytest.fixture(params=COMBOS, ids=COMBO_IDS)
def combo(request: pytest.FixtureRequest) -> tuple[str, str]:
    """(client family, sync|async)."""
    return request.param


def zero_time(responder: Responder, **kwargs: Any) -> Interceptor:
    """An interceptor that accounts injected time without sleeping."""
    return Interceptor(responder, time_scale=0.0, **kwargs)


# --------------------------------------------------------------------------- framing


def test_plain_reply_has_its_length_and_the_served_bytes(combo: tuple[str, str]) -> None:
    with zero_time(reshaping()) as it:
        out = fetch(*combo, chat())
    assert out.error is None and out.status == 200
    assert out.body == it.calls[0].body
    assert out.headers["content-length"] == str(len(out.body))
    assert "transfer-encoding" not in out.headers
    assert out.headers["x-harness-case"] == "0-0"


def test_stream_reply_is_chunked_one_segment_per_read(combo: tuple[str, str]) -> None:
    with zero_time(reshaping()) as it:
        out = fetch(*combo, chat(stream=True))
    assert out.error is None and out.status == 200
    assert out.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in out.headers
    assert out.body == it.calls[0].body
    assert len(out.chunks) == it.calls[0].body.count(b"\n\n") > 2


def test_waits_happen_while_the_client_reads(combo: tuple[str, str]) -> None:
    interceptor = zero_time(reshaping(delayed(1.0, head=0.5)))
    with interceptor:
        out = fetch(*combo, chat(stream=True), probe=lambda: interceptor.case.skipped)
    assert out.error is None
    assert out.marks == [0.5 + k for k in range(len(out.chunks) + 1)]


# --------------------------------------------------------------------------- breaks and timeouts


@dataclass(frozen=True)
class BreakRow:
    """One row of the break table: how the reply is shaped and what the client must see."""

    shape: Callable[[WireReply], WireReply]
    stream: bool
    timeout: tuple[float | None, float | None]
    error: str
    message: str
    chunks: int | None
    """Body chunks received before the error (None: any number)."""
    status: int | None
    skipped: float


BREAKS = {
    "head-delay-past-read-timeout": BreakRow(
        changed(head_delay=30.0), False, (5.0, 2.0), "ReadTimeout", "timed out", 0, None, 2.0
    ),
    "reset-before-head": BreakRow(
        changed(before_head=Break.RESET, head_delay=1.5),
        False,
        (5.0, 600.0),
        "RemoteProtocolError",
        "Server disconnected without sending a response.",
        0,
        None,
        1.5,
    ),
    "hang-before-head": BreakRow(
        changed(before_head=Break.HANG), False, (5.0, 3.0), "ReadTimeout", "timed out", 0, None, 3.0
    ),
    "connect-timeout": BreakRow(
        changed(before_head=Break.CONNECT_TIMEOUT),
        False,
        (4.0, 600.0),
        "ConnectTimeout",
        "timed out",
        0,
        None,
        4.0,
    ),
    "reset-mid-body": BreakRow(
        first_bytes(10, ending=Break.RESET),
        False,
        (5.0, 600.0),
        "RemoteProtocolError",
        "peer closed connection without sending complete message body (received 10 bytes, expected 11)",
        1,
        200,
        0.0,
    ),
    "reset-mid-stream": BreakRow(
        first_segments(2, ending=Break.RESET),
        True,
        (5.0, 600.0),
        "RemoteProtocolError",
        "peer closed connection without sending complete message body (incomplete chunked read)",
        2,
        200,
        0.0,
    ),
    "gap-past-read-timeout": BreakRow(
        gap_at(2, 10.0), True, (5.0, 2.5), "ReadTimeout", "timed out", 2, 200, 2.5
    ),
    "hang-after-body": BreakRow(
        changed(ending=Break.HANG), True, (5.0, 4.0), "ReadTimeout", "timed out", None, 200, 4.0
    ),
}


@pytest.mark.parametrize("row", BREAKS.values(), ids=BREAKS.keys())
def test_breaks_raise_the_family_error_where_a_real_connection_would(
    combo: tuple[str, str], row: BreakRow
) -> None:
    family, mode = combo
    interceptor = zero_time(reshaping(row.shape))
    with interceptor:
        out = fetch(family, mode, chat(stream=row.stream), timeout=row.timeout)
    expected_type = getattr(FAMILIES[family], row.error)
    assert type(out.error) is expected_type, out.error
    assert str(out.error) == row.message
    assert str(out.error.request.url) == OPENAI_URL  # type: ignore[union-attr]
    assert out.status == row.status
    if row.chunks is not None:
        assert len(out.chunks) == row.chunks
    assert interceptor.case.skipped == row.skipped


def test_keepalive_stall_runs_into_the_case_deadline_not_the_read_timeout(combo: tuple[str, str]) -> None:
    case = CaseState(seed=0, index=0, deadline=6.0, time_scale=0.0)
    interceptor = Interceptor(reshaping(changed(ending=Break.HANG, keepalive_every=1.0)), default_case=case)
    with interceptor:
        out = fetch(*combo, chat(stream=True), timeout=(5.0, 2.0))
    assert isinstance(out.error, CaseDeadlineExceeded)
    assert out.body.startswith(interceptor.calls[0].body)
    tail = out.chunks[out.chunks.index(KEEPALIVE) :]
    assert tail and set(tail) == {KEEPALIVE}


def test_a_kept_alive_stall_with_neither_sleep_nor_deadline_refuses_to_spin(combo: tuple[str, str]) -> None:
    with zero_time(reshaping(changed(ending=Break.HANG, keepalive_every=1.0))) as it:
        out = fetch(*combo, chat(stream=True))
    assert isinstance(out.error, CaseDeadlineExceeded)
    assert out.body == it.calls[0].body


def test_a_hang_without_client_timeout_ends_at_the_case_deadline(combo: tuple[str, str]) -> None:
    case = CaseState(seed=0, index=0, deadline=7.0, time_scale=0.0)
    with Interceptor(reshaping(changed(before_head=Break.HANG)), default_case=case):
        out = fetch(*combo, chat(), timeout=(5.0, None))
    assert isinstance(out.error, CaseDeadlineExceeded)
    assert out.status is None
    assert case.elapsed() >= 7.0


def test_the_client_read_timeout_reaches_the_responder(combo: tuple[str, str]) -> None:
    seen: list[ModelRequest] = []
    with zero_time(reshaping(seen=seen)):
        fetch(*combo, chat(), timeout=(5.0, 3.0))
    assert [r.read_timeout for r in seen] == [3.0]


# --------------------------------------------------------------------------- SDK round trips


def test_openai_sync_plain_and_stream_with_statement() -> None:
    with intercept(reshaping()) as it:
        client = openai.OpenAI()
        plain = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
        streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert plain.choices[0].message.content == TEXT == streamed
    assert [(c.call, c.stream) for c in it.calls] == [(1, False), (2, True)]


def test_openai_async_plain_and_stream_async_with() -> None:
    async def main() -> tuple[str | None, str, int]:
        async with intercept(reshaping()) as it:
            client = openai.AsyncOpenAI()
            plain = await client.chat.completions.create(model="gpt-4o-mini", messages=HI)
            stream = await client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True)
            streamed = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return plain.choices[0].message.content, streamed, len(it.calls)

    assert asyncio.run(main()) == (TEXT, TEXT, 2)


def test_decorator_gives_each_sync_call_a_fresh_case() -> None:
    interceptor = intercept(reshaping())

    @interceptor
    def ask(question: str) -> str | None:
        """Ask the model."""
        reply = openai.OpenAI().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}]
        )
        return reply.choices[0].message.content

    assert ask.__name__ == "ask" and ask.__doc__ == "Ask the model."
    assert ask("one") == TEXT
    first = interceptor.case
    assert ask("two") == TEXT
    assert interceptor.case is not first
    assert [c.call for c in first.calls] == [c.call for c in interceptor.calls] == [1]
    assert not interceptor.active


def test_decorator_wraps_async_functions() -> None:
    interceptor = intercept(reshaping())

    @interceptor
    async def ask() -> str | None:
        client = openai.AsyncOpenAI()
        reply = await client.chat.completions.create(model="m", messages=HI)
        return reply.choices[0].message.content

    assert asyncio.run(ask()) == TEXT
    assert len(interceptor.calls) == 1 and not interceptor.active


def test_anthropic_sync_create_and_stream() -> None:
    with intercept(reshaping()) as it:
        client = anthropic.Anthropic()
        message = client.messages.create(model="claude-x", max_tokens=64, messages=HI)
        with client.messages.stream(model="claude-x", max_tokens=64, messages=HI) as stream:
            streamed = stream.get_final_text()
    assert message.content[0].type == "text" and message.content[0].text == TEXT == streamed
    assert [c.dialect for c in it.calls] == ["anthropic-messages"] * 2


def test_anthropic_async_create_and_stream() -> None:
    async def main() -> tuple[str, str]:
        async with intercept(reshaping()):
            client = anthropic.AsyncAnthropic()
            message = await client.messages.create(model="claude-x", max_tokens=64, messages=HI)
            async with client.messages.stream(model="claude-x", max_tokens=64, messages=HI) as stream:
                streamed = await stream.get_final_text()
            block = message.content[0]
            return (block.text if block.type == "text" else ""), streamed

    assert asyncio.run(main()) == (TEXT, TEXT)


# --------------------------------------------------------------------------- cases, nesting, hosts


def test_the_runner_case_wins_over_the_default_case() -> None:
    case = CaseState(seed=9, index=4, time_scale=0.0)
    with zero_time(reshaping()) as it:
        token = CURRENT_CASE.set(case)
        try:
            out = fetch("httpx2", "sync", chat())
        finally:
            CURRENT_CASE.reset(token)
    assert out.headers["x-harness-case"] == "9-4"
    assert len(case.calls) == 1 and it.calls == []


def test_intercept_seed_names_the_default_case() -> None:
    with intercept(reshaping(), seed=5) as it:
        out = fetch("httpx", "sync", chat())
    assert it.case.case_id == "5-0" == out.headers["x-harness-case"]


SCENARIO = """\
version: 1
name: slow-provider
description: The provider takes three seconds to answer; the case deadline is two.
seed: 11
case_timeout: 2s
time_scale: 0.0
source:
  content: '{"ok": true}'
faults:
  - fault: latency
    params: {seconds: 3}
inputs: [one]
contract:
  schema: {type: object}
"""


def test_intercept_takes_its_seed_time_scale_and_deadline_from_a_scenario(tmp_path: Path) -> None:
    path = tmp_path / "slow-provider.yaml"
    path.write_text(SCENARIO)
    with intercept(str(path)) as it:
        out = fetch("httpx2", "sync", chat())
    assert isinstance(out.error, CaseDeadlineExceeded)
    assert (it.case.case_id, it.case.time_scale, it.case.deadline) == ("11-0", 0.0, 2.0)
    with intercept(load_scenario(path), seed=3, time_scale=0.0) as it:
        assert it.case.case_id == "3-0"


def test_the_innermost_interceptor_answers_and_exits_in_any_order() -> None:
    outer, inner = zero_time(reshaping(text="outer")), zero_time(reshaping(text="inner"))

    def answer() -> str:
        return "inner" if b"inner" in fetch("httpx2", "sync", chat()).body else "outer"

    with outer:
        assert answer() == "outer"
        inner.start()
        assert answer() == "inner"
        with inner:  # re-entering an active interceptor only counts
            assert answer() == "inner"
        outer.stop()  # out of order: inner still answers, patches stay
        assert answer() == "inner"
        inner.stop()
        outer.start()  # balance the with-statement's own stop
    assert not outer.active and not inner.active


def test_hosts_narrow_what_an_interceptor_answers() -> None:
    anthropic_only = zero_time(reshaping(text="inner"), hosts=["api.anthropic.com"])
    with zero_time(reshaping(text="outer")), anthropic_only:
        openai_body = fetch("httpx", "sync", chat()).body
        anthropic_out = fetch(
            "httpx2",
            "sync",
            {"model": "claude-x", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
            url=ANTHROPIC_URL,
        )
    assert b"outer" in openai_body and b"inner" not in openai_body
    assert b"inner" in anthropic_out.body


# --------------------------------------------------------------------------- the rest of the world


def test_other_requests_reach_the_network(combo: tuple[str, str], local_server: str) -> None:
    with zero_time(reshaping(), hosts=["api.openai.com"]) as it:
        other_path = fetch(*combo, chat(), url=f"{local_server}/v2/other")
        other_host = fetch(*combo, chat(), url=f"{local_server}/v1/chat/completions")
    assert (other_path.status, other_path.body) == (REAL_STATUS, b"real POST /v2/other")
    assert (other_host.status, other_host.body) == (REAL_STATUS, b"real POST /v1/chat/completions")
    assert it.calls == []


def test_nothing_is_intercepted_after_exit(combo: tuple[str, str], local_server: str) -> None:
    url = f"{local_server}/v1/chat/completions"
    with zero_time(reshaping()):
        during = fetch(*combo, chat(), url=url)
    after = fetch(*combo, chat(), url=url)
    assert during.status == 200
    assert (after.status, after.body) == (REAL_STATUS, b"real POST /v1/chat/completions")


def test_get_on_a_provider_path_is_not_a_model_call(local_server: str) -> None:
    with zero_time(reshaping()) as it:
        response = httpx2.get(f"{local_server}/v1/chat/completions")
    assert response.status_code == REAL_STATUS and it.calls == []


def test_respx_mocks_started_inside_or_outside_still_work() -> None:
    with respx.mock(assert_all_called=False) as before, zero_time(reshaping()) as it:
        before.get("https://service-a.test/").respond(201)
        with respx.mock(assert_all_called=False) as after:
            after.get("https://service-b.test/").respond(202)
            statuses = [
                httpx.get("https://service-a.test/").status_code,
                httpx.get("https://service-b.test/").status_code,
            ]
            model = fetch("httpx", "sync", chat())
    assert statuses == [201, 202]
    assert model.status == 200 and len(it.calls) == 1


def test_dummy_keys_only_while_active(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "mine")
    with intercept(reshaping()):
        inside = (os.environ.get("OPENAI_API_KEY"), os.environ.get("ANTHROPIC_API_KEY"))
        openai.OpenAI()
    assert inside == (DUMMY_KEYS["OPENAI_API_KEY"], "mine")
    assert "OPENAI_API_KEY" not in os.environ and os.environ["ANTHROPIC_API_KEY"] == "mine"
