"""Parse the human units scenarios and SLOs are written in: durations, sizes and growth rates.

- durations: ``250ms``, ``2s``, ``1.5m``, ``1h`` (also ``us``, ``min``) → seconds;
- sizes: ``512MB``, ``64KiB``, ``100B`` → bytes. ``kB/MB/GB/TB`` are decimal (1000ⁿ) and
  ``KiB/MiB/GiB/TiB`` binary (1024ⁿ), as the SI and IEC define them; case-insensitive;
- rates: ``5MB/min``, ``100KiB/s``, ``1GB/h`` → bytes per minute.

Each parser raises ``ValueError`` whose message says what was expected and what was found,
so callers can put it on one line after a file and field name.
"""

from __future__ import annotations

import math
import re

_NUMBER = r"(?P<number>\d+(?:\.\d*)?|\.\d+)"

_DURATION_UNITS: dict[str, float] = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}

_SIZE_UNITS: dict[str, int] = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}

_PER_MINUTE: dict[str, float] = {
    "s": 60.0,
    "sec": 60.0,
    "m": 1.0,
    "min": 1.0,
    "h": 1 / 60,
    "hour": 1 / 60,
}

_DURATION_RE = re.compile(rf"^{_NUMBER}\s*(?P<unit>[a-zµ]+)$")
_SIZE_RE = re.compile(rf"^{_NUMBER}\s*(?P<unit>[a-z]+)$", re.IGNORECASE)

DURATION_EXPECTED = "a duration like 250ms, 2s or 1.5m (units: us, ms, s, m, min, h)"
SIZE_EXPECTED = "a size like 512MB or 64KiB (units: B, kB, MB, GB, TB, KiB, MiB, GiB, TiB)"
RATE_EXPECTED = "a rate like 5MB/min or 64KiB/s (a size, '/', then s, min or h)"


def parse_duration(text: str) -> float:
    """Seconds in ``text`` (``250ms`` → 0.25, ``1.5m`` → 90.0); a unit is required."""
    match = _DURATION_RE.match(_clean(text, DURATION_EXPECTED))
    unit = match and _DURATION_UNITS.get(match["unit"])
    if match is None or unit is None:
        raise ValueError(f"expected {DURATION_EXPECTED}; got {text!r}")
    return _finite(float(match["number"]) * unit, text, DURATION_EXPECTED)


def parse_size(text: str) -> int:
    """Bytes in ``text`` (``64KiB`` → 65536, ``512MB`` → 512000000), rounded to a whole byte."""
    match = _SIZE_RE.match(_clean(text, SIZE_EXPECTED))
    unit = match and _SIZE_UNITS.get(match["unit"].lower())
    if match is None or unit is None:
        raise ValueError(f"expected {SIZE_EXPECTED}; got {text!r}")
    return round(_finite(float(match["number"]) * unit, text, SIZE_EXPECTED))


def parse_rate(text: str) -> float:
    """Bytes per minute in ``text`` (``5MB/min`` → 5e6, ``1KiB/s`` → 61440.0)."""
    cleaned = _clean(text, RATE_EXPECTED)
    size_text, slash, per = cleaned.partition("/")
    factor = _PER_MINUTE.get(per.strip().lower())
    if not slash or factor is None:
        raise ValueError(f"expected {RATE_EXPECTED}; got {text!r}")
    try:
        size = parse_size(size_text.strip())
    except ValueError:
        raise ValueError(f"expected {RATE_EXPECTED}; got {text!r}") from None
    return size * factor


def _clean(text: object, expected: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"expected {expected}; got {text!r}")
    return text.strip()


def _finite(value: float, text: str, expected: str) -> float:
    if not math.isfinite(value):
        raise ValueError(f"expected {expected}; got {text!r}")
    return value
