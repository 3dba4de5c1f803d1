"""Compact JSON text, the way every reply and generated value is written.

``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` builds a new encoder on
every call, which costs a generated value or a 20-event stream more than the encoding
itself; :func:`compact_json` is the same text from one encoder built once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def _compact_encoder() -> Callable[[Any], str]:
    """``json.dumps(v, ensure_ascii=False, separators=(",", ":"))`` without its per-call set-up."""
    encoder = json.JSONEncoder(ensure_ascii=False, check_circular=False, separators=(",", ":"))
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return encoder.encode
    escape = json.encoder.encode_basestring  # keeps non-ASCII characters, as ensure_ascii=False does
    # Values written here are trees (decoded JSON, generated values): no circular check.
    iterencode = make(None, encoder.default, escape, None, ":", ",", False, False, True)
    return lambda value: "".join(iterencode(value, 0))


compact_json: Callable[[Any], str] = _compact_encoder()
"""Compact JSON text of a value, non-ASCII characters kept as they are."""
