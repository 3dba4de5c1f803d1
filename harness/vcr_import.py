"""Import VCR.py / pytest-recording cassettes (YAML, version 1) into the harness cassette format.

A VCR cassette holds ``interactions: [{request: {method, uri, body, headers}, response:
{status: {code, message}, headers, body: {string}}}]``. Only provider calls are kept (a
``POST`` with a JSON body on a path some dialect serves); a server-sent-event body becomes
``events`` (VCR keeps no timing, so every ``at`` is 0), a JSON body becomes ``body``;
gzip/deflate bodies VCR stored undecoded are decompressed. Everything is redacted on the way
(:mod:`harness.redact`), and the result is validated as a cassette before it is written.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

import harness.dialects  # noqa: F401  (registers every built-in dialect)
from harness import atomic
from harness.dialects.base import dialect_for_path
from harness.errors import ScenarioError
from harness.redact import Redactor
from harness.sources.cassette import CASSETTE_VERSION, CassetteFile, load_cassette, parse_sse
from harness.validation import describe


def import_vcr(source: Path, out: Path, redactor: Redactor | None = None) -> int:
    """Convert VCR cassette ``source`` into harness cassette ``out``; returns the interactions kept."""
    interactions = convert(read_vcr(source), str(source), redactor or Redactor())
    if not interactions:
        raise ScenarioError(str(source), "interactions", "expected at least one provider call; got none")
    document = {"version": CASSETTE_VERSION, "interactions": interactions}
    CassetteFile.model_validate(document)
    try:
        atomic.write_text(out, json.dumps(document, ensure_ascii=False, indent=2) + "\n")
    except OSError as exc:
        raise ScenarioError(str(out), "file", f"cannot write the cassette: {exc.strerror or exc}") from None
    load_cassette(out)  # the same checks a replay makes, so a bad import fails here and not later
    return len(interactions)


def read_vcr(path: Path) -> list[Any]:
    """The ``interactions`` list of a VCR cassette file (one-line :class:`ScenarioError` otherwise)."""
    where = str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ScenarioError(where, "file", "VCR cassette not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(where, "file", f"cannot read the VCR cassette: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "file"
        raise ScenarioError(where, at, f"not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(raw, dict):
        raise ScenarioError(where, "(top level)", f"expected a VCR cassette mapping; got {describe(raw)}")
    if raw.get("version", 1) != 1:
        raise ScenarioError(where, "version", f"expected VCR cassette version 1; got {raw['version']!r}")
    interactions = raw.get("interactions")
    if not isinstance(interactions, list):
        raise ScenarioError(where, "interactions", f"expected a list; got {describe(interactions)}")
    return interactions


def convert(interactions: list[Any], where: str, redactor: Redactor) -> list[dict[str, Any]]:
    """VCR interactions → harness interactions (provider calls only, redacted)."""
    kept: list[dict[str, Any]] = []
    for index, item in enumerate(interactions):
        at = f"interactions[{index}]"
        request, response = _mapping(item, "request", where, at), _mapping(item, "response", where, at)
        method = str(request.get("method", "")).upper()
        uri = request.get("uri")
        if not isinstance(uri, str):
            raise ScenarioError(where, f"{at}.request.uri", f"expected a URL; got {describe(uri)}")
        parts = urlsplit(uri)
        body = _json_or_none(_text(request.get("body"), _headers(request.get("headers"))))
        if method != "POST" or dialect_for_path(parts.path) is None or not isinstance(body, dict):
            continue
        recorded: dict[str, Any] = {"method": "POST", "path": parts.path, "body": redactor.json(body)}
        if parts.query:
            recorded["query"] = redactor.query(parts.query)
        kept.append({"request": recorded, "response": _response(response, where, f"{at}.response", redactor)})
    return kept


def _response(response: dict[str, Any], where: str, at: str, redactor: Redactor) -> dict[str, Any]:
    status = response.get("status")
    code = status.get("code") if isinstance(status, dict) else status
    if not isinstance(code, int) or isinstance(code, bool):
        raise ScenarioError(where, f"{at}.status.code", f"expected an HTTP status code; got {describe(code)}")
    headers = _headers(response.get("headers"))
    body = response.get("body")
    text = _text(body.get("string") if isinstance(body, dict) else body, headers)
    recorded_headers = {
        k: v
        for k, v in headers.items()
        if k not in {"content-length", "content-encoding", "transfer-encoding"}
    }
    out: dict[str, Any] = {"status": code, "headers": redactor.headers(recorded_headers)}
    if "text/event-stream" in headers.get("content-type", ""):
        events = parse_sse([(0.0, text.encode())])
        return {**out, "events": [{"event": n, "data": redactor.json(d), "at": 0.0} for _, n, d in events]}
    decoded = _json_or_none(text)
    if not isinstance(decoded, dict):
        raise ScenarioError(
            where, f"{at}.body.string", "expected a JSON object or a text/event-stream body; got neither"
        )
    return {**out, "body": redactor.json(decoded)}


def _mapping(item: Any, key: str, where: str, at: str) -> dict[str, Any]:
    value = item.get(key) if isinstance(item, dict) else None
    if not isinstance(value, dict):
        raise ScenarioError(where, f"{at}.{key}", f"expected a mapping; got {describe(value)}")
    return value


def _headers(raw: Any) -> dict[str, str]:
    """VCR headers (``{name: [values]}`` or ``{name: value}``) → lower-case names, values joined."""
    if not isinstance(raw, dict):
        return {}
    headers: dict[str, str] = {}
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        headers[str(name).lower()] = ", ".join(str(v) for v in values)
    return headers


def _text(body: Any, headers: dict[str, str]) -> str:
    """A VCR body (text, bytes from ``!!binary``, or null) as text, decompressed if VCR kept it compressed."""
    if body is None:
        return ""
    if isinstance(body, str):
        return body
    data = bytes(body) if isinstance(body, bytes | bytearray) else str(body).encode()
    encoding = headers.get("content-encoding", "").lower()
    try:
        if encoding == "gzip" or data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
        elif encoding == "deflate":
            data = zlib.decompress(data)
    except (OSError, zlib.error):
        pass  # not compressed after all: read it as it is
    return data.decode("utf-8", errors="replace")


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text) if text else None
    except json.JSONDecodeError:
        return None
