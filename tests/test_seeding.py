"""Derived random streams: stable seeds, and lazily seeded streams that match ``random.Random`` exactly."""

from __future__ import annotations

import copy
import pickle
import random
from collections.abc import Callable
from typing import Any

import pytest

from harness.seeding import below, between, derive_seed, rng_for

KEY = (7, "source", 3, 1)


def _shuffled(rng: random.Random, items: list[int]) -> list[int]:
    rng.shuffle(items)
    return items


DRAWS: dict[str, Callable[[random.Random], Any]] = {
    "random": lambda r: [r.random() for _ in range(5)],
    "choices": lambda r: r.choices("abcdefgh", k=40),
    "weighted choices": lambda r: r.choices("abc", weights=[1, 2, 3], k=10),
    "choice": lambda r: [r.choice(range(1000)) for _ in range(5)],
    "randint": lambda r: [r.randint(0, 10**30), r.randint(1, 6)],
    "sample": lambda r: r.sample(range(100), 10),
    "shuffle": lambda r: _shuffled(r, list(range(20))),
    "uniform": lambda r: r.uniform(-1, 1),
    "gauss": lambda r: [r.gauss(0, 1), r.gauss(0, 1)],
    "getrandbits": lambda r: r.getrandbits(200),
    "randbytes": lambda r: r.randbytes(33),
    "state": lambda r: r.getstate(),
}


def test_derived_seeds_are_pinned_across_processes_and_versions() -> None:
    assert derive_seed(*KEY) == 5912217285507874078
    assert derive_seed(0) == 6912158355717386040
    assert derive_seed(7, "source", 3, 2) != derive_seed(*KEY)


@pytest.mark.parametrize("draw", list(DRAWS.values()), ids=list(DRAWS))
def test_a_derived_stream_is_exactly_random_random_of_its_derived_seed(
    draw: Callable[[random.Random], Any],
) -> None:
    lazy, plain = rng_for(*KEY), random.Random(derive_seed(*KEY))
    assert draw(lazy) == draw(plain)
    assert [lazy.random() for _ in range(3)] == [plain.random() for _ in range(3)]
    assert isinstance(lazy, random.Random)


def test_a_stream_never_drawn_from_copies_pickles_and_reseeds_like_any_other() -> None:
    expected = random.Random(derive_seed(*KEY)).random()
    assert copy.deepcopy(rng_for(*KEY)).random() == expected
    assert pickle.loads(pickle.dumps(rng_for(*KEY))).random() == expected
    reseeded = rng_for(*KEY)
    reseeded.seed(99)
    assert reseeded.random() == random.Random(99).random()
    restored = rng_for(*KEY)
    restored.setstate(random.Random(5).getstate())
    assert restored.random() == random.Random(5).random()


def test_a_method_captured_before_the_first_draw_still_draws_the_stream() -> None:
    lazy, plain = rng_for(*KEY), random.Random(derive_seed(*KEY))
    draw = lazy.random  # held across the first draw, as random.Random.choices does
    assert [draw() for _ in range(4)] == [plain.random() for _ in range(4)]


def test_below_and_between_draw_what_randrange_and_randint_draw_and_are_pinned() -> None:
    """The hot paths' draws: Python's numbers today, and these numbers whatever Python does later."""
    ours, stdlib = rng_for(*KEY), random.Random(derive_seed(*KEY))
    drawn = [between(ours, 1, 6) for _ in range(8)]
    assert drawn == [stdlib.randint(1, 6) for _ in range(8)]
    assert drawn == [2, 4, 2, 4, 1, 2, 2, 1]
    assert below(ours, 10**12) == stdlib.randrange(10**12) == 360765282122
    assert below(ours, 1) == stdlib.randrange(1) == 0
    assert [below(ours, 62) for _ in range(50)] == [stdlib.randrange(62) for _ in range(50)]


def test_between_covers_its_whole_range_and_nothing_else() -> None:
    rng = random.Random(3)
    assert {between(rng, -2, 2) for _ in range(500)} == {-2, -1, 0, 1, 2}
