"""compact_json: the text ``json.dumps(v, ensure_ascii=False, separators=(",", ":"))`` writes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.jsontext import compact_json

VALUES: list[Any] = [
    {"user_id": 1815, "name": "Ada Lovelace", "is_active": True, "plan": None},
    {"naïve": "café – 東京 🚀", "escapes": 'quote " backslash \\ newline \n tab \t nul \x00'},
    [1.5, -0.0, 1e300, 3.141592653589793, 10**40, [], {}],
    {"nested": {"deeper": [{"a": [1, {"b": "c"}]}]}},
    "plain string",
    42,
]


@pytest.mark.parametrize("value", VALUES)
def test_compact_json_is_json_dumps_compact_with_non_ascii_kept(value: Any) -> None:
    assert compact_json(value) == json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_values_json_cannot_write_are_refused_as_json_dumps_refuses_them() -> None:
    with pytest.raises(TypeError, match="not JSON serializable"):
        compact_json({"when": object()})
