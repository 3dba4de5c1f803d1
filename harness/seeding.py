"""Derive independent, stable random streams from one seed and a key path.

Seeding a Mersenne Twister costs about 4 µs — more than most draws a model call makes —
and many derived streams are never drawn from (a fault that needs no randomness, an
inline source). So :func:`rng_for` hands out a stream that seeds itself on its first
draw: the numbers are exactly those of ``random.Random(derive_seed(seed, *key))``.
:func:`below` and :func:`between` are ``randrange`` and ``randint`` for the hot paths:
the same numbers, drawn in one small function.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

_random_random: Any = random.Random.random
_random_getrandbits: Any = random.Random.getrandbits


def derive_seed(seed: int, *key: object) -> int:
    """A 64-bit seed for ``key`` under ``seed``; stable across processes and Python versions."""
    text = "\x1f".join([str(seed), *map(str, key)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


class DerivedRandom(random.Random):
    """The stream of one key path: a plain ``random.Random`` once it has been seeded."""


class _Unseeded(DerivedRandom):
    """A derived stream not drawn from yet; its first draw seeds it and makes it a :class:`DerivedRandom`.

    Every draw of ``random.Random`` goes through ``random()`` or ``getrandbits()``, so
    overriding those two (and the state accessors) is enough to seed before any number
    is produced; ``choices`` seeds first too, as it looks ``random`` up once for many draws.
    """

    _key: tuple[object, ...]

    def random(self) -> float:
        """The first draw: seed, then draw."""
        if type(self) is _Unseeded:
            _wake(self)
        return float(_random_random(self))

    def getrandbits(self, k: int, /) -> int:
        """The first draw: seed, then draw."""
        if type(self) is _Unseeded:
            _wake(self)
        return int(_random_getrandbits(self, k))

    def choices(self, *args: Any, **kwargs: Any) -> list[Any]:
        """Seed first: ``choices`` holds on to ``self.random`` for all of its draws."""
        _wake(self)
        return random.Random.choices(self, *args, **kwargs)

    def getstate(self) -> tuple[Any, ...]:
        """The state after seeding."""
        _wake(self)
        return random.Random.getstate(self)

    def setstate(self, state: tuple[Any, ...]) -> None:
        """Replace the pending seed by ``state``."""
        self.__class__ = DerivedRandom  # type: ignore[assignment]
        random.Random.setstate(self, state)

    def seed(self, a: Any = None, version: int = 2) -> None:
        """Replace the pending seed by ``a``."""
        self.__class__ = DerivedRandom  # type: ignore[assignment]
        random.Random.seed(self, a, version)


def _wake(rng: random.Random) -> None:
    """Seed ``rng`` if it has not been yet (a method captured before the first draw still lands here)."""
    if type(rng) is _Unseeded:
        key = rng._key
        # A plain class again: later draws run at C speed, with no per-draw check.
        rng.__class__ = DerivedRandom  # type: ignore[assignment]
        random.Random.seed(rng, derive_seed(*key))  # type: ignore[arg-type]


def rng_for(seed: int, *key: object) -> random.Random:
    """A ``random.Random`` seeded from ``(seed, *key)``: same key, same stream (seeded on first use)."""
    rng = _Unseeded.__new__(_Unseeded)
    rng._key = (seed, *key)
    rng.gauss_next = None  # type: ignore[attr-defined]  # what random.Random.__init__ sets
    return rng


def below(rng: random.Random, n: int) -> int:
    """``rng.randrange(n)`` for ``n`` > 0: the same number from the same stream, without its checks.

    Draws ``n.bit_length()`` bits until they fall below ``n`` (Python's own method); being
    ours, the numbers also stay the same whatever Python's ``random`` does in a later version.
    """
    bits = n.bit_length()
    getrandbits = rng.getrandbits
    drawn = getrandbits(bits)
    while drawn >= n:
        drawn = getrandbits(bits)
    return int(drawn)


def between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint(low, high)`` (``low`` <= ``high``), drawn as :func:`below` draws."""
    return low + below(rng, high - low + 1)
