"""VCR.py / pytest-recording cassettes imported into the harness format, redacted, then replayed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import openai
import pytest
import yaml

from harness.cli import main
from harness.interception import intercept
from harness.responder import Responder
from harness.sources import CassetteSource
from harness.vcr_import import import_vcr
from harness.wire import ModelRequest

VCR = Path(__file__).parent / "data" / "vcr"


def test_openai_chat_keeps_provider_calls_only_and_redacts(tmp_path: Path) -> None:
    out = tmp_path / "openai.json"
    assert import_vcr(VCR / "openai-chat.yaml", out) == 2  # GET /v1/models is not a provider call
    raw = out.read_bytes()
    assert b"VCRSECRET" not in raw
    document = json.loads(raw)
    first, limited = document["interactions"]
    assert first["request"]["body"]["user"] == "<redacted:openai-key>"
    assert first["response"]["headers"]["set-cookie"] == "<redacted:set-cookie>"
    assert first["response"]["headers"]["openai-organization"] == "<redacted:openai-organization>"
    assert limited["response"]["status"] == 429
    source = CassetteSource(out)
    assert len(source) == 1  # the 429 is kept in the file but serves no content
    reply = source.completion(ModelRequest("openai-chat", "/v1/chat/completions", {}), random.Random(0))
    assert json.loads(reply.text or "") == {
        "user_id": 1906,
        "name": "Grace Hopper",
        "email": "grace@navy.example.mil",
    }
    assert (reply.input_tokens, reply.output_tokens) == (38, 21)


def test_anthropic_stream_becomes_events_and_replays_through_the_sdk(tmp_path: Path) -> None:
    out = tmp_path / "anthropic.json"
    assert import_vcr(VCR / "anthropic-stream.yaml", out) == 1
    assert b"VCRSECRET" not in out.read_bytes()
    interaction = json.loads(out.read_text())["interactions"][0]
    assert interaction["request"]["query"] == "beta=true"
    events = interaction["response"]["events"]
    assert [e["event"] for e in events][:3] == ["message_start", "content_block_start", "ping"]
    assert len(events) == 8
    assert {e["at"] for e in events} == {0.0}
    source = CassetteSource(out)
    with intercept(Responder(source), time_scale=0):
        client = openai.OpenAI(max_retries=0)
        text = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert json.loads(text.choices[0].message.content or "") == {"user_id": 1912, "name": "Alan Turing"}


def test_cli_import_vcr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.json"
    assert main(["cassettes", "import-vcr", str(VCR / "openai-chat.yaml"), "--cassette", str(out)]) == 0
    assert "2 provider call(s)" in capsys.readouterr().out
    assert len(CassetteSource(out)) == 1


def test_gzip_bodies_vcr_kept_compressed_are_decoded(tmp_path: Path) -> None:
    import gzip

    body = {"choices": [{"message": {"content": "zipped"}, "finish_reason": "stop"}]}
    vcr = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/chat/completions",
                    "body": "{}",
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {"Content-Encoding": ["gzip"], "Content-Type": ["application/json"]},
                    "body": {"string": gzip.compress(json.dumps(body).encode())},
                },
            }
        ],
    }
    source = tmp_path / "zipped.yaml"
    source.write_text(yaml.safe_dump(vcr))
    out = tmp_path / "out.json"
    import_vcr(source, out)
    assert CassetteSource(out).completion(ModelRequest("x", "/p", {}), random.Random(0)).text == "zipped"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("interactions: [", "line 1, column 16: not valid YAML"),
        ("- just a list", "(top level): expected a VCR cassette mapping; got a list"),
        ("version: 2\ninteractions: []", "version: expected VCR cassette version 1; got 2"),
        ("version: 1", "interactions: expected a list; got null"),
        (
            "interactions:\n- request: {method: GET, uri: 'https://x/v1/models'}\n"
            "  response: {status: {code: 200}}",
            "interactions: expected at least one provider call; got none",
        ),
        (
            "interactions:\n- request: {method: POST, uri: 'https://x/v1/messages', body: '{}'}\n"
            "  response: {status: {code: OK}, body: {string: '{}'}}",
            "interactions[0].response.status.code: expected an HTTP status code; got a string 'OK'",
        ),
        (
            "interactions:\n- request: {method: POST, uri: 'https://x/v1/messages', body: '{}'}\n"
            "  response: {status: {code: 502}, body: {string: '<html>bad gateway</html>'}}",
            "interactions[0].response.body.string: expected a JSON object or a text/event-stream body",
        ),
        ("interactions:\n- response: {}", "interactions[0].request: expected a mapping; got null"),
    ],
)
def test_bad_vcr_input_is_one_line_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    source = tmp_path / "bad.yaml"
    source.write_text(content)
    out = tmp_path / "out.json"
    assert main(["cassettes", "import-vcr", str(source), "--cassette", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"harness: error: {source}: {expected}")
    assert not out.exists()


def test_missing_vcr_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.yaml"
    assert main(["cassettes", "import-vcr", str(missing), "--cassette", str(tmp_path / "o.json")]) == 2
    assert capsys.readouterr().err == f"harness: error: {missing}: file: VCR cassette not found\n"
