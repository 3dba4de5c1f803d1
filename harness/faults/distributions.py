"""Latency distributions for the ``latency`` fault: small frozen models that draw seconds from an rng.

Each distribution has a ``kind`` (the scenario word), ``sample(rng) -> float`` (never
negative) and ``quantile(q) -> float``, so a scenario author can check what "p99 = 15 s"
means before running anything. :func:`build_distribution` builds one from the flat
parameters a scenario writes (``distribution: lognormal, median: 0.8, p99: 15``) and
refuses parameters that belong to another distribution.
"""

from __future__ import annotations

import math
import random
from statistics import NormalDist
from typing import Annotated, Any, Literal

import pydantic

Z99 = NormalDist().inv_cdf(0.99)
"""The standard normal 99th percentile (≈ 2.3263): lognormal sigma = ln(p99 / median) / Z99."""

_STANDARD = NormalDist()
NonNegative = Annotated[float, pydantic.Field(ge=0, allow_inf_nan=False)]


class _Distribution(pydantic.BaseModel):
    """Base of the latency distributions: frozen, unknown fields refused."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    def sample(self, rng: random.Random) -> float:
        """One draw in seconds, at least 0."""
        raise NotImplementedError

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0 < q < 1) in seconds."""
        raise NotImplementedError


class Fixed(_Distribution):
    """Always the same delay."""

    kind: Literal["fixed"] = "fixed"
    seconds: NonNegative = 2.0

    def sample(self, rng: random.Random) -> float:
        """``seconds``; draws nothing from ``rng``."""
        return self.seconds

    def quantile(self, q: float) -> float:
        """``seconds`` for every ``q``."""
        return self.seconds


class Uniform(_Distribution):
    """Evenly spread between ``low`` and ``high``."""

    kind: Literal["uniform"] = "uniform"
    low: NonNegative = 0.5
    high: NonNegative = 5.0

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) must not exceed high ({self.high})")
        return self

    def sample(self, rng: random.Random) -> float:
        """A uniform draw in [low, high]."""
        return rng.uniform(self.low, self.high)

    def quantile(self, q: float) -> float:
        """Linear between ``low`` and ``high``."""
        return self.low + _check_q(q) * (self.high - self.low)


class Normal(_Distribution):
    """Bell-shaped around ``mean``; draws below zero are clamped to zero."""

    kind: Literal["normal"] = "normal"
    mean: NonNegative = 2.0
    stddev: NonNegative = 0.5

    def sample(self, rng: random.Random) -> float:
        """A normal draw, clamped at 0."""
        return max(0.0, rng.normalvariate(self.mean, self.stddev))

    def quantile(self, q: float) -> float:
        """The normal quantile, clamped at 0."""
        if self.stddev == 0:
            return self.mean
        return max(0.0, NormalDist(self.mean, self.stddev).inv_cdf(_check_q(q)))


class LogNormal(_Distribution):
    """Heavy right tail set by its ``median`` and ``p99``: most calls fast, a few very slow."""

    kind: Literal["lognormal"] = "lognormal"
    median: Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)] = 1.0
    p99: Annotated[float, pydantic.Field(gt=0, allow_inf_nan=False)] = 15.0

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> LogNormal:
        if self.p99 < self.median:
            raise ValueError(f"p99 ({self.p99}) must be at least the median ({self.median})")
        return self

    @property
    def mu(self) -> float:
        """Mean of the underlying normal: ln(median)."""
        return math.log(self.median)

    @property
    def sigma(self) -> float:
        """Standard deviation of the underlying normal: ln(p99 / median) / z(0.99)."""
        return math.log(self.p99 / self.median) / Z99

    def sample(self, rng: random.Random) -> float:
        """A lognormal draw."""
        return rng.lognormvariate(self.mu, self.sigma)

    def quantile(self, q: float) -> float:
        """exp(mu + sigma · z(q))."""
        return math.exp(self.mu + self.sigma * _STANDARD.inv_cdf(_check_q(q)))


class Spikes(_Distribution):
    """``base`` seconds, except with probability ``spike_rate`` a spike drawn from ``spike_seconds``."""

    kind: Literal["spikes"] = "spikes"
    base: NonNegative = 0.2
    spike_rate: Annotated[float, pydantic.Field(ge=0, le=1)] = 0.05
    spike_seconds: tuple[NonNegative, NonNegative] = (15.0, 30.0)
    """[low, high] of the uniform spike duration."""

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> Spikes:
        low, high = self.spike_seconds
        if low > high:
            raise ValueError(f"spike_seconds low ({low}) must not exceed high ({high})")
        return self

    def sample(self, rng: random.Random) -> float:
        """Two draws: whether this call spikes, then how long (always drawn, for stable streams)."""
        spikes = rng.random() < self.spike_rate
        spike = rng.uniform(*self.spike_seconds)
        return spike if spikes else self.base

    def quantile(self, q: float) -> float:
        """Inverse of the mixture's CDF (point mass at ``base``, uniform spikes), by bisection."""
        q = _check_q(q)
        low, high = min(self.base, self.spike_seconds[0]), max(self.base, self.spike_seconds[1])
        for _ in range(80):
            mid = (low + high) / 2
            if self._cdf(mid) >= q:
                high = mid
            else:
                low = mid
        return high

    def _cdf(self, x: float) -> float:
        low, high = self.spike_seconds
        spike_part = 1.0 if x >= high else (0.0 if x < low or high == low else (x - low) / (high - low))
        return (1 - self.spike_rate) * (x >= self.base) + self.spike_rate * spike_part


Distribution = Annotated[Fixed | Uniform | Normal | LogNormal | Spikes, pydantic.Field(discriminator="kind")]
"""Any latency distribution, told apart by ``kind``."""

DistributionKind = Literal["fixed", "uniform", "normal", "lognormal", "spikes"]
"""The distribution names a scenario may write."""

KINDS: dict[str, type[_Distribution]] = {
    "fixed": Fixed,
    "uniform": Uniform,
    "normal": Normal,
    "lognormal": LogNormal,
    "spikes": Spikes,
}
"""Distribution classes by scenario name."""

_ADAPTER: pydantic.TypeAdapter[Distribution] = pydantic.TypeAdapter(Distribution)


def distribution_fields(kind: str) -> frozenset[str]:
    """The parameter names distribution ``kind`` takes (besides ``kind``)."""
    return frozenset(KINDS[kind].model_fields) - {"kind"}


def build_distribution(kind: str, values: dict[str, Any]) -> Distribution:
    """Build distribution ``kind`` from flat parameters; ``ValueError`` names a misfit parameter."""
    if kind not in KINDS:
        raise ValueError(f"distribution must be one of {', '.join(KINDS)}; got {kind!r}")
    foreign = sorted(set(values) - distribution_fields(kind))
    if foreign:
        takes = ", ".join(sorted(distribution_fields(kind)))
        raise ValueError(f"distribution {kind!r} takes {takes}; not {', '.join(foreign)}")
    try:
        return _ADAPTER.validate_python({"kind": kind, **values})
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"][1:]) or kind
        raise ValueError(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None


def _check_q(q: float) -> float:
    if not 0 < q < 1:
        raise ValueError(f"quantile q must be strictly between 0 and 1; got {q}")
    return q
