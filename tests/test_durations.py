"""Durations, sizes and rates as scenarios and SLOs write them."""

from __future__ import annotations

import pytest

from harness.durations import parse_duration, parse_rate, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5m", 90.0),
        ("1h", 3600.0),
        ("2min", 120.0),
        ("500us", 0.0005),
        (" 30s ", 30.0),
        ("0.5 s", 0.5),
        (".5s", 0.5),
        ("0s", 0.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["2", "fast", "-1s", "2 seconds", "1.5.2s", "s", "", "2S", "infs"])
def test_parse_duration_refuses_with_expectation(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a duration like 250ms, 2s or 1\.5m .*; got ") as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def test_parse_duration_refuses_non_text() -> None:
    with pytest.raises(ValueError, match="got 30"):
        parse_duration(30)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512MB", 512_000_000),
        ("64KiB", 65_536),
        ("1.5GiB", 1_610_612_736),
        ("100B", 100),
        ("10kb", 10_000),
        ("2 MiB", 2_097_152),
        ("1TB", 10**12),
        ("0.5KiB", 512),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert isinstance(parse_size(text), int)


@pytest.mark.parametrize("text", ["512", "12XB", "MB", "-1MB", "1e3MB", "big"])
def test_parse_size_refuses_with_expectation(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a size like 512MB or 64KiB .*; got "):
        parse_size(text)


@pytest.mark.parametrize(
    ("text", "per_minute"),
    [
        ("5MB/min", 5_000_000.0),
        ("1KiB/s", 61_440.0),
        ("60MB/h", 1_000_000.0),
        ("2 MiB / m", 2_097_152.0),
        ("10kB/sec", 600_000.0),
    ],
)
def test_parse_rate(text: str, per_minute: float) -> None:
    assert parse_rate(text) == pytest.approx(per_minute)


@pytest.mark.parametrize("text", ["5MB", "5MB/day", "/min", "fast/min", "5MB/min/s"])
def test_parse_rate_refuses_with_expectation(text: str) -> None:
    with pytest.raises(ValueError, match=r"^expected a rate like 5MB/min or 64KiB/s .*; got "):
        parse_rate(text)
