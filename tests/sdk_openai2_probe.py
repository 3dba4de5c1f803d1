"""Run under openai 2.x (httpx) by tests/test_sdk_outcomes.py: a few cases, results printed as JSON.

openai 2.x cannot be installed beside openai 3.x, so the test puts it first on PYTHONPATH
and runs this script in a subprocess. It checks it really got 2.x on ``httpx`` (so the
respx half of the interceptor is what answers), then prints one JSON object.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai

from harness.faults import FaultUse
from harness.interception import intercept
from harness.plan import RatePlan, Rule, SequencePlan
from harness.responder import Responder
from harness.sources import InlineSource

TEXT = '{"user_id": 42, "name": "Ada Lövelace"}'
HI: list[Any] = [{"role": "user", "content": "hi"}]


def every_call(name: str, params: dict[str, Any] | None = None) -> Responder:
    """Fault ``name`` on every model call."""
    return Responder(InlineSource(TEXT), RatePlan((Rule((FaultUse.of(name, params),)),)))


def clean() -> dict[str, Any]:
    """A clean non-streaming call."""
    with intercept(Responder(InlineSource(TEXT)), time_scale=0) as it:
        reply = openai.OpenAI().chat.completions.create(model="gpt-4o-mini", messages=HI)
    return {"content": reply.choices[0].message.content, "calls": len(it.calls)}


def rate_limited_then_clean() -> dict[str, Any]:
    """429 with a tiny retry-after, then clean: the SDK retries once."""
    step = FaultUse.of("http_status", {"status": 429, "retry_after": 0.01, "retry_after_form": "float"})
    with intercept(Responder(InlineSource(TEXT), SequencePlan((Rule((step,)),))), time_scale=0) as it:
        reply = openai.OpenAI().chat.completions.create(model="gpt-4o-mini", messages=HI)
    return {"content": reply.choices[0].message.content, "statuses": [c.status for c in it.calls]}


def stream_cut() -> dict[str, Any]:
    """A stream cut inside the content: the loop ends quietly."""
    text, finishes = "", []
    with intercept(every_call("stream_cut", {"after_fraction": 0.5}), time_scale=0):
        for chunk in openai.OpenAI().chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True):
            for choice in chunk.choices:
                text += choice.delta.content or ""
                finishes.append(choice.finish_reason)
    return {"text": text, "finishes": finishes}


def reset_mid_body() -> dict[str, Any]:
    """The connection drops mid-body on a plain reply."""
    with intercept(every_call("connection_reset", {"fraction": 0.5}), time_scale=0):
        try:
            openai.OpenAI(max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=HI)
        except openai.APIConnectionError as exc:
            cause = type(exc.__cause__)
            return {"error": type(exc).__name__, "cause": f"{cause.__module__}.{cause.__name__}"}
    return {"error": None}


def html_502() -> dict[str, Any]:
    """A proxy's HTML 502: openai 2.x makes the raw text the message."""
    with intercept(every_call("http_status", {"status": 502}), time_scale=0):
        try:
            openai.OpenAI(max_retries=0).chat.completions.create(model="gpt-4o-mini", messages=HI)
        except openai.InternalServerError as exc:
            return {"message": exc.message, "body": exc.body}
    return {"message": None}


async def async_stream() -> str:
    """A clean stream through AsyncOpenAI (respx's async path)."""
    async with intercept(Responder(InlineSource(TEXT)), time_scale=0):
        stream = await openai.AsyncOpenAI().chat.completions.create(
            model="gpt-4o-mini", messages=HI, stream=True
        )
        return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])


def main() -> None:
    """Print the report."""
    client = openai.OpenAI(api_key="probe")._client
    assert isinstance(client, httpx.Client), type(client)
    report = {
        "version": openai.__version__,
        "client": "httpx.Client",
        "clean": clean(),
        "429_then_clean": rate_limited_then_clean(),
        "stream_cut": stream_cut(),
        "reset_mid_body": reset_mid_body(),
        "html_502": html_502(),
        "async_stream": asyncio.run(async_stream()),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
