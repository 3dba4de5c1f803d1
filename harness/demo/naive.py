"""The extractor as it was on the day of the outage: it works on the happy path, and only there.

Written the way such code usually is: a default client (600 s read timeout, two
retries), one blocking call, ``json.loads`` on whatever came back, and the record built
with ``dict.get``. So a renamed key becomes ``None``, ``"Yes"`` goes through as is,
a haiku or a fenced reply raises ``JSONDecodeError``, and a 16 MB reply is parsed in
full. Do not copy it; :mod:`harness.demo.hardened` is the fixed version.
"""

from __future__ import annotations

import json
from typing import Any

from openai import OpenAI

from harness.demo.contract import FIELDS, SYSTEM_PROMPT


def extract(text: str) -> dict[str, Any]:
    """Ask the model for the user record in ``text`` and pass its fields on, unchecked."""
    client = OpenAI()
    resp = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": text},
        ],
        response_format={"type": "json_object"},
    )
    data = json.loads(resp.choices[0].message.content)  # type: ignore[arg-type]
    return {key: data.get(key) for key in FIELDS}
