"""Transport faults and latency distributions: the wire replies they make, read back with the SDK parsers."""

from __future__ import annotations

import dataclasses
import email.utils
import json
import random
import statistics
from typing import Any

import anthropic
import httpx2
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai._streaming import ServerSentEvent, SSEDecoder

import harness.dialects
import harness.faults.transport  # noqa: F401  (registers the faults)
from harness.dialects import DIALECTS
from harness.errors import FaultParamsError
from harness.faults.base import FaultContext, FaultUse
from harness.faults.distributions import LogNormal, Normal, Spikes, Uniform, build_distribution
from harness.faults.http_errors import REFERENCE_EPOCH
from harness.wire import KEEPALIVE_COMMENT as KEEPALIVE
from harness.wire import Break, Completion, Finish, ModelRequest, WireReply

OPENAI = DIALECTS.get("openai-chat")
ANTHROPIC = DIALECTS.get("anthropic-messages")
TEXT = '{"name": "Ada Lovelace", "city": "Zürich", "motto": "日本語 ok"}'
ASCII_TEXT = '{"name": "Ada Lovelace", "age": 36}'
OPENAI_CLIENT = openai.OpenAI(api_key="sk-test", base_url="http://provider.test/v1")
ANTHROPIC_CLIENT = anthropic.Anthropic(api_key="sk-ant-test", base_url="http://provider.test")


def make_request(dialect: str = "openai-chat", *, stream: bool = False) -> ModelRequest:
    """A parsed request for ``dialect``; streams ask for the usage chunk."""
    if dialect == "openai-chat":
        body: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
        return OPENAI.parse("/v1/chat/completions", json.dumps(body).encode(), {})
    body = {"model": "claude-x", "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}
    if stream:
        body["stream"] = True
    return ANTHROPIC.parse("/v1/messages", json.dumps(body).encode(), {})


def wire(
    dialect: str = "openai-chat", *, stream: bool = False, text: str = TEXT
) -> tuple[WireReply, ModelRequest]:
    """A clean reply rendered and serialised by the real dialect."""
    request = make_request(dialect, stream=stream)
    completion = Completion(text, Finish.STOP, input_tokens=12, output_tokens=40)
    envelope = DIALECTS.get(dialect).render(completion, request, random.Random(1))
    return DIALECTS.get(dialect).serialize(envelope), request


def apply(
    name: str, params: dict[str, Any] | None, reply: WireReply, request: ModelRequest, seed: int = 0
) -> WireReply:
    """Apply fault ``name`` the way the Responder does."""
    ctx = FaultContext(request, DIALECTS.get(request.dialect), random.Random(seed))
    out = FaultUse.of(name, params).apply_to(reply, ctx)
    assert isinstance(out, WireReply)
    return out


def decode(segments: list[bytes]) -> list[ServerSentEvent]:
    """The events openai-python's own SSE decoder reads from these body pieces."""
    return list(SSEDecoder().iter_bytes(iter(segments)))


def pieces(reply: WireReply) -> list[bytes]:
    return [s.data for s in reply.segments]


def headers(reply: WireReply) -> httpx2.Headers:
    return httpx2.Headers(reply.headers)


# --------------------------------------------------------------------------- distributions


def test_lognormal_median_and_p99_hold_over_many_seeded_samples() -> None:
    dist = LogNormal(median=0.8, p99=15.0)
    rng = random.Random(20261)
    draws = sorted(dist.sample(rng) for _ in range(40_000))
    assert 0.72 < statistics.median(draws) < 0.88
    assert 12.0 < draws[int(0.99 * len(draws))] < 18.5
    assert dist.quantile(0.5) == pytest.approx(0.8)
    assert dist.quantile(0.99) == pytest.approx(15.0)


def test_quantiles_of_the_other_distributions() -> None:
    assert Uniform(low=1, high=3).quantile(0.25) == pytest.approx(1.5)
    assert Normal(mean=0.1, stddev=1).quantile(0.01) == 0.0  # clamped, never negative
    spikes = Spikes(base=0.2, spike_rate=0.05, spike_seconds=(15, 30))
    assert spikes.quantile(0.5) == pytest.approx(0.2)
    assert spikes.quantile(0.975) == pytest.approx(22.5)
    with pytest.raises(ValueError, match="strictly between"):
        spikes.quantile(1.0)


def test_spikes_hit_their_rate_and_stay_in_range() -> None:
    dist = Spikes(base=0.1, spike_rate=0.1, spike_seconds=(15, 30))
    rng = random.Random(7)
    draws = [dist.sample(rng) for _ in range(10_000)]
    spikes = [d for d in draws if d != 0.1]
    assert 800 < len(spikes) < 1200
    assert all(15 <= d <= 30 for d in spikes)


def test_normal_draws_are_clamped_at_zero() -> None:
    rng = random.Random(3)
    assert min(Normal(mean=0.0, stddev=1.0).sample(rng) for _ in range(1000)) == 0.0


@pytest.mark.parametrize(
    ("kind", "values", "message"),
    [
        ("fixed", {"low": 1.0}, "takes seconds; not low"),
        ("uniform", {"low": 3.0, "high": 1.0}, "must not exceed high"),
        ("lognormal", {"median": 2.0, "p99": 1.0}, "at least the median"),
        ("lognormal", {"median": 0.0}, "greater than 0"),
        ("spikes", {"spike_seconds": (30.0, 15.0)}, "must not exceed"),
        ("pareto", {}, "one of fixed, uniform"),
    ],
)
def test_bad_distribution_parameters_name_the_problem(
    kind: str, values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        build_distribution(kind, values)


# --------------------------------------------------------------------------- latency


def test_fixed_latency_delays_the_head_only_on_plain_replies() -> None:
    reply, request = wire()
    out = apply("latency", {"seconds": 3.5, "per_chunk": True}, reply, request)
    assert out.head_delay == 3.5
    assert [s.delay for s in out.segments] == [0.0]
    assert reply.head_delay == 0.0  # input untouched


def test_per_chunk_latency_delays_every_gap_of_a_stream() -> None:
    reply, request = wire(stream=True)
    out = apply(
        "latency",
        {"distribution": "uniform", "low": 0.1, "high": 0.2, "per_chunk": True, "first_byte": False},
        reply,
        request,
    )
    assert out.head_delay == 0.0
    assert out.segments[0].delay == 0.0
    assert all(0.1 <= s.delay <= 0.2 for s in out.segments[1:])
    assert out.body == reply.body


def test_lognormal_latency_through_the_fault_is_heavy_tailed() -> None:
    reply, request = wire()
    delays = sorted(
        apply(
            "latency", {"distribution": "lognormal", "median": 1, "p99": 20}, reply, request, seed
        ).head_delay
        for seed in range(2000)
    )
    assert 0.85 < statistics.median(delays) < 1.15
    assert delays[-1] > 10


def test_latency_is_deterministic_per_seed() -> None:
    reply, request = wire(stream=True)
    params = {"distribution": "spikes", "spike_rate": 0.5, "per_chunk": True}
    assert apply("latency", params, reply, request, 9) == apply("latency", params, reply, request, 9)
    assert apply("latency", params, reply, request, 9) != apply("latency", params, reply, request, 10)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"low": 1}, "params", "takes seconds; not low"),
        ({"distribution": "uniform", "low": 5, "high": 1}, "params", "must not exceed high"),
        ({"first_byte": False}, "params", "nothing to delay"),
        ({"seconds": -1}, "seconds", "expected a number of at least 0"),
        ({"distribution": "weibull"}, "distribution", "expected one of .fixed."),
        ({"sconds": 1}, "sconds", "unknown key"),
    ],
)
def test_latency_param_errors_are_one_line(params: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(FaultParamsError, match=message) as info:
        FaultUse.of("latency", params)
    assert info.value.field == field
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- timeout


def test_read_timeout_hangs_before_the_head() -> None:
    reply, request = wire()
    out = apply("timeout", None, reply, request)
    assert (out.before_head, out.ending, out.segments) == (Break.HANG, None, [])


def test_connect_timeout() -> None:
    reply, request = wire(stream=True)
    out = apply("timeout", {"phase": "connect"}, reply, request)
    assert out.before_head is Break.CONNECT_TIMEOUT
    assert out.segments == []


def test_timeout_after_headers_sends_the_head_then_nothing() -> None:
    reply, request = wire(stream=True)
    out = apply("timeout", {"after_headers": True}, reply, request)
    assert out.before_head is None
    assert out.status == 200
    assert out.header("content-type") == reply.header("content-type")
    assert (out.segments, out.ending, out.keepalive_every) == ([], Break.HANG, None)


def test_connect_timeout_has_no_headers_to_send() -> None:
    with pytest.raises(FaultParamsError, match="after_headers needs phase 'read'"):
        FaultUse.of("timeout", {"phase": "connect", "after_headers": True})


# --------------------------------------------------------------------------- http_status


def openai_error(reply: WireReply) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://provider.test/v1/chat/completions")
    response = httpx2.Response(reply.status, headers=reply.headers, content=reply.body, request=request)
    return OPENAI_CLIENT._make_status_error_from_response(response)


def test_429_is_a_rate_limit_error_with_exhausted_rate_limit_headers() -> None:
    reply, request = wire(stream=True)
    out = apply("http_status", {"status": 429, "retry_after": 2}, reply, request)
    error = openai_error(out)
    assert isinstance(error, openai.RateLimitError)
    assert error.code == "rate_limit_exceeded"
    got = headers(out)
    assert got["content-type"] == "application/json"
    assert got["x-ratelimit-remaining-requests"] == "0"
    assert got["x-ratelimit-reset-requests"] == "2s"
    assert got["retry-after"] == "2"
    assert OPENAI_CLIENT._parse_retry_after_header(got) == 2.0
    assert len(out.segments) == 1  # a plain error body, no longer a stream


def test_insufficient_quota_and_a_custom_message() -> None:
    reply, request = wire()
    out = apply(
        "http_status", {"status": 429, "code": "insufficient_quota", "message": "pay up"}, reply, request
    )
    error = openai_error(out)
    assert isinstance(error, openai.RateLimitError)
    assert (error.code, error.message) == ("insufficient_quota", "Error code: 429 - pay up")


@pytest.mark.parametrize(
    ("form", "value", "header", "text", "seconds"),
    [
        ("seconds", 1.2, "retry-after", "2", 2.0),
        ("float", 0.1, "retry-after", "0.1", 0.1),
        ("ms", 0.25, "retry-after-ms", "250", 0.25),
        ("absurd", None, "retry-after", "86400", 86400.0),
    ],
)
def test_retry_after_forms_parse_in_the_sdks(
    form: str, value: float | None, header: str, text: str, seconds: float
) -> None:
    reply, request = wire()
    out = apply(
        "http_status", {"status": 503, "retry_after": value, "retry_after_form": form}, reply, request
    )
    got = headers(out)
    assert got[header] == text
    assert OPENAI_CLIENT._parse_retry_after_header(got) == pytest.approx(seconds)
    assert ANTHROPIC_CLIENT._parse_retry_after_header(got) == pytest.approx(seconds)


def test_absurd_retry_after_stops_the_sdk_retrying() -> None:
    reply, request = wire()
    plain = apply("http_status", {"status": 503}, reply, request)
    absurd = apply("http_status", {"status": 503, "retry_after_form": "absurd"}, reply, request)
    assert OPENAI_CLIENT._should_retry(httpx2.Response(503, headers=plain.headers))
    assert not OPENAI_CLIENT._should_retry(httpx2.Response(503, headers=absurd.headers))


def test_http_date_retry_after_is_fixed_from_the_reference_epoch() -> None:
    reply, request = wire()
    out = apply("http_status", {"retry_after": 30, "retry_after_form": "http_date"}, reply, request)
    stamp = headers(out)["retry-after"]
    assert stamp == "Thu, 01 Jan 2026 00:00:30 GMT"
    assert email.utils.parsedate_to_datetime(stamp).timestamp() == REFERENCE_EPOCH + 30
    # The SDK compares the date with its wall clock; a past date is not a usable delay.
    assert OPENAI_CLIENT._parse_retry_after_header(headers(out)) is not None


def test_no_retry_headers_unless_asked() -> None:
    reply, request = wire()
    out = apply("http_status", {"status": 500}, reply, request)
    got = headers(out)
    assert "retry-after" not in got and "retry-after-ms" not in got
    assert "x-ratelimit-remaining-requests" not in got  # rate-limit headers only for 429 by default
    assert OPENAI_CLIENT._parse_retry_after_header(got) is None
    assert isinstance(openai_error(out), openai.InternalServerError)


def test_x_should_retry_overrides_the_status_table() -> None:
    reply, request = wire()
    out = apply("http_status", {"status": 400, "should_retry": True}, reply, request)
    assert headers(out)["x-should-retry"] == "true"
    assert OPENAI_CLIENT._should_retry(httpx2.Response(400, headers=out.headers))
    out = apply("http_status", {"status": 500, "should_retry": False}, reply, request)
    assert not OPENAI_CLIENT._should_retry(httpx2.Response(500, headers=out.headers))


def test_502_is_an_nginx_html_page() -> None:
    reply, request = wire()
    out = apply("http_status", {"status": 502}, reply, request)
    assert out.status == 502
    assert out.header("content-type") == "text/html"
    assert b"<title>502 Bad Gateway</title>" in out.body
    error = openai_error(out)
    assert isinstance(error, openai.InternalServerError)
    assert error.code is None and "502 Bad Gateway" in str(error.body)
    json_502 = apply("http_status", {"status": 502, "html": False}, reply, request)
    assert json.loads(json_502.body)["error"]["type"] == "server_error"


def test_anthropic_529_overloaded_with_anthropic_rate_limit_headers() -> None:
    reply, request = wire("anthropic-messages", stream=True)
    out = apply("http_status", {"status": 529, "ratelimit_headers": True, "retry_after": 5}, reply, request)
    body = json.loads(out.body)
    assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"
    got = headers(out)
    assert got["anthropic-ratelimit-requests-remaining"] == "0"
    assert got["anthropic-ratelimit-requests-reset"] == "2026-01-01T00:00:05Z"
    assert ANTHROPIC_CLIENT._parse_retry_after_header(got) == 5.0
    response = httpx2.Response(
        529,
        headers=out.headers,
        content=out.body,
        request=httpx2.Request("POST", "http://provider.test/v1/messages"),
    )
    assert isinstance(ANTHROPIC_CLIENT._make_status_error_from_response(response), anthropic.OverloadedError)


def test_http_status_keeps_injected_head_delay() -> None:
    reply, request = wire()
    slow = apply("latency", {"seconds": 4}, reply, request)
    assert apply("http_status", {"status": 500}, slow, request).head_delay == 4


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"status": 200}, "expected a number of at least 400"),
        ({"retry_after_form": "absurd", "retry_after": 3}, "takes no retry_after"),
        ({"retry_after_form": "minutes"}, "expected one of .seconds."),
    ],
)
def test_http_status_param_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultParamsError, match=message):
        FaultUse.of("http_status", params)


# --------------------------------------------------------------------------- connection_reset


def test_reset_before_headers() -> None:
    reply, request = wire()
    out = apply("connection_reset", {"at": "before_headers"}, reply, request)
    assert (out.before_head, out.segments) == (Break.RESET, [])


def test_reset_mid_body_of_a_plain_reply() -> None:
    reply, request = wire()
    out = apply("connection_reset", {"fraction": 0.5}, reply, request)
    assert out.ending is Break.RESET
    assert out.body == reply.body[: len(reply.body) // 2]


def test_reset_mid_stream_splits_a_segment_and_keeps_delays() -> None:
    reply, request = wire(stream=True)
    slow = apply("latency", {"seconds": 0.5, "per_chunk": True, "first_byte": False}, reply, request)
    out = apply("connection_reset", {"fraction": 0.37}, slow, request)
    size = int(len(reply.body) * 0.37)
    assert out.body == reply.body[:size]
    assert [s.delay for s in out.segments] == [s.delay for s in slow.segments[: len(out.segments)]]
    assert not reply.body[:size].endswith(b"\n\n")  # cut inside a frame here
    assert out.ending is Break.RESET


def test_reset_fraction_drawn_from_the_rng_is_deterministic() -> None:
    reply, request = wire(stream=True)
    sizes = {len(apply("connection_reset", None, reply, request, seed).body) for seed in (1, 1, 1)}
    assert len(sizes) == 1
    assert 0.1 * len(reply.body) <= sizes.pop() <= 0.9 * len(reply.body)


def test_fraction_needs_mid_body() -> None:
    with pytest.raises(FaultParamsError, match="only to at: mid_body"):
        FaultUse.of("connection_reset", {"at": "before_headers", "fraction": 0.5})


# --------------------------------------------------------------------------- stream_stall


def test_stall_forever_after_half_the_events() -> None:
    reply, request = wire(stream=True)
    total = len(decode(pieces(reply)))
    out = apply("stream_stall", None, reply, request)
    assert len(decode(pieces(out))) == total // 2
    assert (out.ending, out.keepalive_every) == (Break.HANG, None)
    kept = apply(
        "stream_stall", {"after_events": 2, "keepalive": True, "keepalive_every": 2.5}, reply, request
    )
    assert len(decode(pieces(kept))) == 2
    assert (kept.ending, kept.keepalive_every) == (Break.HANG, 2.5)


def test_finite_stall_with_keepalives_then_the_rest() -> None:
    reply, request = wire(stream=True)
    out = apply("stream_stall", {"after_events": 3, "seconds": 12, "keepalive": True}, reply, request)
    assert out.ending is None
    comments = [i for i, s in enumerate(out.segments) if s.data == KEEPALIVE]
    assert comments == [3, 4]
    assert [out.segments[i].delay for i in (3, 4, 5)] == [5.0, 5.0, 2.0]
    assert out.total_delay == 12
    assert out.body.replace(KEEPALIVE, b"") == reply.body
    assert [e.data for e in decode(pieces(out))] == [e.data for e in decode(pieces(reply))]


def test_finite_stall_without_keepalive_is_one_delay() -> None:
    reply, request = wire("anthropic-messages", stream=True)
    out = apply("stream_stall", {"after_events": 1, "seconds": 30}, reply, request)
    assert [s.delay for s in out.segments][:3] == [0.0, 30.0, 0.0]
    assert out.body == reply.body


# --------------------------------------------------------------------------- stream_cut


def test_openai_stream_cut_has_no_done() -> None:
    reply, request = wire(stream=True)
    events = decode(pieces(apply("stream_cut", None, reply, request)))
    assert all(e.data != "[DONE]" for e in events)
    assert len(events) == len(decode(pieces(reply))) - 1
    assert any(
        c["choices"] and c["choices"][0]["finish_reason"] == "stop" for c in (e.json() for e in events)
    )


def test_anthropic_stream_cut_has_no_message_stop() -> None:
    reply, request = wire("anthropic-messages", stream=True)
    events = list(
        anthropic._streaming.SSEDecoder().iter_bytes(iter(pieces(apply("stream_cut", None, reply, request))))
    )
    names = [e.event for e in events]
    assert "message_stop" not in names
    assert names[-1] == "message_delta"


def test_stream_cut_early_drops_the_finish_reason_too() -> None:
    reply, request = wire(stream=True)
    out = apply("stream_cut", {"after_fraction": 0.5}, reply, request)
    chunks = [e.json() for e in decode(pieces(out))]
    assert chunks and all(c["choices"] and c["choices"][0]["finish_reason"] is None for c in chunks)
    assert out.body.endswith(b"\n\n") and out.ending is None


def test_stream_cut_finds_the_terminator_after_resegmenting() -> None:
    reply, request = wire(stream=True)
    split = apply("split_utf8", None, reply, request)
    out = apply("stream_cut", None, split, request)
    assert b"[DONE]" not in out.body
    assert out.body == reply.body.removesuffix(b"data: [DONE]\n\n")
    assert all(segment.data for segment in out.segments)


# --------------------------------------------------------------------------- malformed_sse


def test_truncated_json_frame_fails_to_parse() -> None:
    reply, request = wire(stream=True)
    out = apply("malformed_sse", {"at": 2}, reply, request)
    events = decode(pieces(out))
    assert len(events) == len(decode(pieces(reply)))
    with pytest.raises(json.JSONDecodeError):
        events[2].json()
    assert events[1].json() == decode(pieces(reply))[1].json()


def test_missing_blank_line_glues_two_events() -> None:
    reply, request = wire(stream=True)
    out = apply("malformed_sse", {"kind": "missing_blank_line", "at": 1}, reply, request)
    events = decode(pieces(out))
    assert len(events) == len(decode(pieces(reply))) - 1
    with pytest.raises(json.JSONDecodeError, match="Extra data"):
        events[1].json()


def test_event_line_on_an_openai_chat_stream() -> None:
    reply, request = wire(stream=True)
    out = apply(
        "malformed_sse", {"kind": "event_line_on_chat", "at": 1, "event_name": "delta"}, reply, request
    )
    assert [e.event for e in decode(pieces(out))][:3] == [None, "delta", None]


def test_event_line_removed_on_an_anthropic_stream() -> None:
    reply, request = wire("anthropic-messages", stream=True)
    out = apply("malformed_sse", {"kind": "event_line_on_chat", "at": 0}, reply, request)
    first = decode(pieces(out))[0]
    assert first.event is None and first.json()["type"] == "message_start"


def test_garbage_frame_is_not_utf8() -> None:
    reply, request = wire(stream=True)
    out = apply("malformed_sse", {"kind": "garbage"}, reply, request, seed=4)
    with pytest.raises(UnicodeDecodeError):
        decode(pieces(out))
    assert out == apply("malformed_sse", {"kind": "garbage"}, reply, request, seed=4)


def test_frame_without_data_prefix_is_lost() -> None:
    reply, request = wire(stream=True)
    out = apply("malformed_sse", {"kind": "no_data_prefix"}, reply, request, seed=2)
    events = decode(pieces(out))
    assert len(events) == len(decode(pieces(reply))) - 1
    assert all(e.data == "[DONE]" or isinstance(e.json(), dict) for e in events)


def test_rng_chosen_frame_is_a_content_frame_and_deterministic() -> None:
    reply, request = wire(stream=True)
    bodies = {apply("malformed_sse", None, reply, request, seed).body for seed in range(8)}
    assert len(bodies) > 1
    for body in bodies:
        assert body.endswith(b"data: [DONE]\n\n")
        assert body.startswith(b"data: {")


# --------------------------------------------------------------------------- split_utf8


def multibyte_cuts(body: bytes) -> list[int]:
    """Offsets just after the first byte of each multi-byte character."""
    return [i + 1 for i, byte in enumerate(body) if byte >= 0xC0]


def test_split_utf8_cuts_every_multibyte_character() -> None:
    reply, request = wire(stream=True)
    out = apply("split_utf8", None, reply, request)
    cuts = multibyte_cuts(reply.body)
    assert len(cuts) == 4  # ü 日 本 語
    assert out.body == reply.body
    assert len(out.segments) == len(reply.segments) + len(cuts)
    end = 0
    for piece in pieces(out):
        end += len(piece)
        if end in cuts:
            with pytest.raises(UnicodeDecodeError):
                piece.decode()
    assert [e.data for e in decode(pieces(out))] == [e.data for e in decode(pieces(reply))]


def test_split_utf8_every_n() -> None:
    reply, request = wire(stream=True)
    out = apply("split_utf8", {"every_n": 3, "gap": 0.01}, reply, request)
    assert len(out.segments) - len(reply.segments) == 2  # characters 1 and 4 of 4
    assert out.total_delay == pytest.approx(0.02)


def test_split_utf8_without_multibyte_splits_every_frame_once() -> None:
    reply, request = wire(stream=True, text=ASCII_TEXT)
    out = apply("split_utf8", None, reply, request, seed=5)
    assert len(out.segments) == 2 * len(reply.segments)
    assert out.body == reply.body
    assert out == apply("split_utf8", None, reply, request, seed=5)


# --------------------------------------------------------------------------- plain replies


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("stream_stall", None),
        ("stream_cut", {"after_fraction": 0.5}),
        ("malformed_sse", {"kind": "garbage"}),
        ("split_utf8", None),
    ],
)
def test_stream_only_faults_leave_plain_replies_alone(name: str, params: dict[str, Any] | None) -> None:
    reply, request = wire()
    assert apply(name, params, reply, request) == reply
    streamed, stream_request = wire(stream=True)
    error = apply("http_status", {"status": 500}, streamed, stream_request)
    assert apply(name, params, error, stream_request) == error


def test_faults_do_not_mutate_their_input() -> None:
    reply, request = wire(stream=True)
    snapshot = dataclasses.replace(reply, segments=list(reply.segments), headers=list(reply.headers))
    for name, params in [
        ("latency", {"per_chunk": True}),
        ("connection_reset", None),
        ("stream_stall", {"seconds": 3, "keepalive": True, "keepalive_every": 1}),
        ("stream_cut", None),
        ("malformed_sse", None),
        ("split_utf8", None),
        ("http_status", None),
    ]:
        apply(name, params, reply, request)
        assert reply == snapshot


# --------------------------------------------------------------------------- composition


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1), st.integers(0, 2**32), st.integers(0, 12), st.floats(0, 20), st.booleans())
def test_chained_faults_keep_bytes_and_timing_consistent(
    fraction: float, seed: int, after: int, stall: float, keepalive: bool
) -> None:
    reply, request = wire(stream=True)
    split = apply("split_utf8", None, reply, request, seed)
    slow = apply(
        "latency", {"distribution": "uniform", "low": 0, "high": 1, "per_chunk": True}, split, request, seed
    )
    stalled = apply(
        "stream_stall", {"after_events": after, "seconds": stall, "keepalive": keepalive}, slow, request, seed
    )
    assert stalled.body.replace(KEEPALIVE, b"") == reply.body
    assert stalled.total_delay == pytest.approx(slow.total_delay + stall)
    assert all(segment.data for segment in stalled.segments[:-1])
    broken = apply("connection_reset", {"fraction": fraction}, stalled, request, seed)
    assert stalled.body.startswith(broken.body)
    assert len(broken.body) == int(len(stalled.body) * fraction)
    assert [s.delay for s in broken.segments] == [s.delay for s in stalled.segments[: len(broken.segments)]]
