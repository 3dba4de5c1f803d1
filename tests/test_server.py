"""The fake provider server: every dialect over real HTTP, case pinning, determinism, the CLI.

Shared helpers for ``test_server_faults.py`` and ``test_server_control.py`` live here too:
SDK clients that point at a :class:`~harness.server.ProviderServer` and a scenario builder
that swaps the served faults live through the control API.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
import yaml

from harness.case import CaseState
from harness.dialects import DIALECTS
from harness.interception import Interceptor
from harness.scenario import load_scenario
from harness.server import ProviderServer, parse_pin
from tests.test_sdk_outcomes import HI, TEXT

DIALECT_NAMES = [n for n in ("openai-chat", "anthropic-messages", "openai-responses") if n in DIALECTS.items]
"""Every dialect the server serves (openai-responses once registered)."""
PATHS = {
    "openai-chat": "/v1/chat/completions",
    "anthropic-messages": "/v1/messages",
    "openai-responses": "/v1/responses",
}
CLIENT_TIMEOUT = 10.0
"""Client timeout for replies that do arrive (generous: the suite may run on a busy machine)."""
HTTP = httpx.Client(
    timeout=CLIENT_TIMEOUT,
    transport=httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]),
)
"""One plain client for control calls: a new client costs ~40 ms of TLS setup, and without
TCP_NODELAY a PUT's body waits for the server's delayed ACK of its headers (~40 ms)."""


def scenario_yaml(
    faults: list[dict[str, Any]] | None = None, *, name: str = "wire-test", **extra: Any
) -> str:
    """A scenario serving TEXT with ``faults`` (a RatePlan) as YAML text."""
    data: dict[str, Any] = {
        "version": 1,
        "name": name,
        "description": "server test scenario",
        "source": {"content": TEXT},
        "faults": faults or [],
        "inputs": ["hi"],
        "contract": {"schema": {"type": "object"}},
        **extra,
    }
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def put_scenario(server: ProviderServer, text: str, *, token: str | None = None) -> httpx.Response:
    """Replace the served scenario live (PUT /_harness/scenario)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return HTTP.put(f"{server.url}/_harness/scenario", content=text.encode(), headers=headers)


def serve_fault(server: ProviderServer, name: str, params: Mapping[str, Any] | None = None) -> None:
    """Serve fault ``name`` on every call from now on (and forget what was served)."""
    faults = [] if name == "clean" else [{"fault": name, "params": dict(params or {})}]
    reply = put_scenario(server, scenario_yaml(faults))
    assert reply.status_code == 200, reply.text
    assert HTTP.post(f"{server.url}/_harness/reset").status_code == 200


def request_body(dialect: str, *, stream: bool = False) -> dict[str, Any]:
    """A minimal valid request body of ``dialect``."""
    if dialect == "openai-responses":
        return {"model": "gpt-4o-mini", "input": "hi", "stream": stream}
    body: dict[str, Any] = {"model": "m", "messages": HI, "stream": stream}
    if dialect == "anthropic-messages":
        body["max_tokens"] = 64
    return body


@dataclass(frozen=True)
class Answer:
    """What a client got: the text, and whether the reply said it was finished."""

    text: str
    finished: bool


def ask(
    server_url: str, dialect: str, *, stream: bool, timeout: float = CLIENT_TIMEOUT, max_retries: int = 0
) -> Answer:
    """One call through the real SDK of ``dialect`` against ``server_url`` (raises what the SDK raises)."""
    if dialect == "anthropic-messages":
        return _ask_anthropic(server_url, stream, timeout, max_retries)
    client = _openai(server_url, timeout, max_retries)
    if dialect == "openai-responses":
        return _ask_responses(client, stream)
    if not stream:
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
        return Answer(reply.choices[0].message.content or "", reply.choices[0].finish_reason is not None)
    text, finished = "", False
    for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True):
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finished = finished or choice.finish_reason is not None
    return Answer(text, finished)


@functools.cache
def _openai(server_url: str, timeout: float, max_retries: int) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{server_url}/v1", api_key="sk-test", timeout=timeout, max_retries=max_retries
    )


@functools.cache
def _anthropic(server_url: str, timeout: float, max_retries: int) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        base_url=server_url, api_key="sk-ant-test", timeout=timeout, max_retries=max_retries
    )


def _ask_responses(client: openai.OpenAI, stream: bool) -> Answer:
    if not stream:
        reply = client.responses.create(model="gpt-4o-mini", input="hi")
        return Answer(reply.output_text, reply.status == "completed")
    text, finished = "", False
    for event in client.responses.create(model="gpt-4o-mini", input="hi", stream=True):
        if event.type == "response.output_text.delta":
            text += event.delta
        finished = finished or event.type == "response.completed"
    return Answer(text, finished)


def _ask_anthropic(server_url: str, stream: bool, timeout: float, max_retries: int) -> Answer:
    client = _anthropic(server_url, timeout, max_retries)
    if not stream:
        message = client.messages.create(model="claude-x", max_tokens=64, messages=HI)
        block = message.content[0]
        return Answer(block.text if block.type == "text" else "", message.stop_reason is not None)
    text, finished = "", False
    for event in client.messages.create(model="claude-x", max_tokens=64, messages=HI, stream=True):
        if event.type == "content_block_delta" and event.delta.type == "text_delta":
            text += event.delta.text
        finished = finished or event.type == "message_stop"
    return Answer(text, finished)


@pytest.fixture(scope="module")
def server() -> Iterator[ProviderServer]:
    """One fake provider for the module; tests swap its scenario through the control API."""
    with ProviderServer(load_scenario_text(scenario_yaml()), time_scale=0.01, hold_cap=5.0) as running:
        yield running


def load_scenario_text(text: str) -> Any:
    """A Scenario from YAML text (no file)."""
    from harness.scenario import parse_scenario, read_yaml

    return parse_scenario(read_yaml(text, "test"), Path("test.yaml"))


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_every_dialect_answers_through_its_real_sdk(
    server: ProviderServer, dialect: str, stream: bool
) -> None:
    serve_fault(server, "clean")
    assert ask(server.url, dialect, stream=stream) == Answer(TEXT, True)
    [entry] = HTTP.get(f"{server.url}/_harness/cases").json()
    assert (entry["case"], entry["call"], entry["faults"], entry["stream"]) == ("0-0", 1, [], stream)
    assert entry["path"] == PATHS[dialect]


def test_base_urls_are_what_the_sdks_expect(server: ProviderServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}" and server.port > 0
    assert server.openai_base_url == f"{server.url}/v1"
    assert server.anthropic_base_url == server.url


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_served_replies_name_their_case_and_faults(server: ProviderServer, dialect: str) -> None:
    serve_fault(server, "wrap_in_prose")
    url = f"{server.url}{PATHS[dialect]}"
    first, second = (HTTP.post(url, json=request_body(dialect)) for _ in range(2))
    assert [first.headers["x-harness-case"], second.headers["x-harness-case"]] == ["0-0", "0-1"]
    assert first.headers["x-harness-faults"] == second.headers["x-harness-faults"] == "wrap_in_prose"


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_a_pinned_case_replays_byte_identically(server: ProviderServer, dialect: str, stream: bool) -> None:
    reply = put_scenario(
        server,
        scenario_yaml(
            [
                {"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}, "rate": 0.5},
                {"fault": "split_utf8", "rate": 0.5},
                {"fault": "unicode_oddities", "rate": 0.5},
            ]
        ),
    )
    assert reply.status_code == 200
    url, body = f"{server.url}{PATHS[dialect]}", request_body(dialect, stream=stream)
    with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        served = [client.post(url, json=body) for _ in range(6)]
        for original in served:
            pin = original.headers["x-harness-case"]
            again = client.post(url, json=body, headers={"x-harness-case": f"{pin}-1"})
            assert again.content == original.content
            assert again.headers.items() == original.headers.items()
    assert len({r.content for r in served}) > 1, "different cases, different bytes"


def test_a_pin_without_call_continues_that_case(server: ProviderServer) -> None:
    steps: dict[str, Any] = {"steps": [{"fault": "http_status", "params": {"status": 503}}, "clean"]}
    assert (
        put_scenario(server, scenario_yaml(None, sequence=steps).replace("faults: []\n", "")).status_code
        == 200
    )
    url, body = f"{server.url}/v1/chat/completions", request_body("openai-chat")
    pinned = {"x-harness-case": "0-40"}
    statuses = [HTTP.post(url, json=body, headers=pinned).status_code for _ in range(3)]
    assert statuses == [503, 200, 200]
    unpinned = [HTTP.post(url, json=body).status_code for _ in range(2)]
    assert unpinned == [503, 503], "every unpinned request is call 1 of a new case"
    client = openai.OpenAI(
        base_url=server.openai_base_url,
        api_key="sk-test",
        max_retries=1,
        default_headers={"x-harness-case": "0-41"},
    )
    reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert reply.choices[0].message.content == TEXT, "the SDK's retry is call 2 of the pinned case"


@pytest.mark.parametrize("pin", ["x", "1-", "1-2-0", "1-2-3-4", "1-2-99999"])
def test_a_bad_pin_is_a_400_naming_the_header(server: ProviderServer, pin: str) -> None:
    reply = HTTP.post(
        f"{server.url}/v1/chat/completions", json=request_body("openai-chat"), headers={"x-harness-case": pin}
    )
    assert reply.status_code == 400
    assert reply.text.startswith("x-harness-case") and reply.text.count("\n") == 1


def test_parse_pin_reads_seed_case_and_call() -> None:
    assert parse_pin("7-3") == (7, 3, None)
    assert parse_pin("-1-0-2") == (-1, 0, 2)


def test_a_request_the_dialect_cannot_parse_gets_its_400_envelope(server: ProviderServer) -> None:
    serve_fault(server, "clean")
    client = openai.OpenAI(base_url=server.openai_base_url, api_key="sk-test", max_retries=0)
    with pytest.raises(openai.BadRequestError, match="request body lacks required field 'messages'"):
        client.post("/chat/completions", body={"model": "m"}, cast_to=dict)
    assert HTTP.get(f"{server.url}/v1/models").status_code == 404


def test_same_seed_same_fault_multiset_in_process_and_over_the_wire(server: ProviderServer) -> None:
    faults = [
        {"fault": "rename_keys", "params": {"mapping": {"user_id": "UserID"}}, "rate": 0.3},
        {"fault": "wrap_in_prose", "rate": 0.3},
        {"fault": "latency", "params": {"seconds": 1.0}, "rate": 0.3},
        {"fault": "http_status", "params": {"status": 500}, "rate": 0.2},
    ]
    text = scenario_yaml(faults, seed=11)
    cases = 30
    scenario = load_scenario_text(text)
    in_process: Counter[str] = Counter()
    with httpx.Client(timeout=CLIENT_TIMEOUT) as client:
        for index in range(cases):
            case = CaseState(seed=11, index=index, time_scale=0.0)
            with Interceptor(scenario.build_responder(), time_scale=0.0, default_case=case):
                client.post("https://api.openai.com/v1/chat/completions", json=request_body("openai-chat"))
            in_process.update(case.calls[0].faults or ["clean"])
        assert put_scenario(server, text).status_code == 200
        client.post(f"{server.url}/_harness/reset")
        url = f"{server.url}/v1/chat/completions"
        wire = Counter(
            label
            for _ in range(cases)
            for label in client.post(url, json=request_body("openai-chat"))
            .headers["x-harness-faults"]
            .split(";")
        )
        stats = client.get(f"{server.url}/_harness/stats").json()
    assert wire == in_process
    assert len(in_process) > 2, "the plan served several different faults"
    assert stats["labels"] == dict(in_process) and stats["requests"] == cases


def test_serve_refuses_a_public_host_without_a_token() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "harness", "serve", "scenarios/clean-baseline.yaml", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "harness: error: binding 0.0.0.0 (beyond loopback) needs a control token: pass --token"
    ]


def test_serve_prints_the_base_urls_and_serves_until_interrupted(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "harness", "serve", "scenarios/clean-baseline.yaml", "--time-scale", "0"]
    with subprocess.Popen(
        command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(4)]
            base = lines[1].strip().removeprefix("OPENAI_BASE_URL=")
            assert lines[0].startswith("harness: serving clean-baseline (seed 1) on http://127.0.0.1:")
            assert base.startswith("http://127.0.0.1:") and base.endswith("/v1")
            assert lines[2].strip() == f"ANTHROPIC_BASE_URL={base.removesuffix('/v1')}"
            client = openai.OpenAI(base_url=base, api_key="sk-test", max_retries=0, timeout=CLIENT_TIMEOUT)
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=HI)
            assert reply.choices[0].finish_reason == "stop"
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_the_scenario_time_scale_and_seed_apply_unless_overridden() -> None:
    path = Path(__file__).resolve().parent.parent / "scenarios" / "clean-baseline.yaml"
    scenario = load_scenario(path)
    with ProviderServer(scenario) as default, ProviderServer(scenario, seed=5, time_scale=0.5) as overridden:
        assert (
            default.provider.seed == scenario.seed
            and default.provider.clock.time_scale == scenario.time_scale
        )
        assert overridden.provider.seed == 5 and overridden.provider.clock.time_scale == 0.5
        assert default.provider.describe()["source"] == path.read_text(encoding="utf-8")
