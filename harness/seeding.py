"""Derive independent, stable random streams from one seed and a key path."""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, *key: object) -> int:
    """A 64-bit seed for ``key`` under ``seed``; stable across processes and Python versions."""
    text = "\x1f".join([str(seed), *map(str, key)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def rng_for(seed: int, *key: object) -> random.Random:
    """A ``random.Random`` seeded from ``(seed, *key)``: same key, same stream."""
    return random.Random(derive_seed(seed, *key))
