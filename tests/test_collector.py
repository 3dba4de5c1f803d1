"""QuietCollector: full collections from the event loop while idle, CPython's collector given back after."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import httpx

from harness.collector import NEVER, QuietCollector
from harness.server import ProviderServer

CLEAN = Path(__file__).resolve().parent.parent / "scenarios" / "clean-baseline.yaml"


def test_a_busy_server_is_collected_only_when_a_collection_is_overdue() -> None:
    busy = True
    collector = QuietCollector(lambda: busy, max_interval=30.0)
    start = collector._last
    assert not collector.tick(start + 29.0)
    assert collector.tick(start + 31.0)  # overdue: collected although busy
    assert not collector.tick(start + 32.0)
    busy = False
    assert collector.tick(start + 33.0)  # idle: collected at once
    assert collector.collections == 2


def test_start_takes_full_collections_over_and_stop_gives_everything_back() -> None:
    before = gc.get_threshold()

    async def scenario() -> tuple[tuple[int, int, int], int, int]:
        collector = QuietCollector(lambda: False, check_every=0.01)
        collector.start()
        during, frozen = gc.get_threshold(), gc.get_freeze_count()
        while collector.collections == 0:  # idle: the first look collects
            await asyncio.sleep(0.01)
        await collector.stop()
        return during, frozen, collector.collections

    during, frozen, collections = asyncio.run(scenario())
    assert during == (before[0], before[1], NEVER)
    assert frozen > 0 and collections >= 1
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_quiet_gc_server_serves_and_restores_the_collector_when_it_stops() -> None:
    before = gc.get_threshold()
    with ProviderServer(CLEAN, time_scale=0.0, quiet_gc=True) as server:
        assert gc.get_threshold()[2] == NEVER
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Ada, ada@example.com"}]}
        reply = httpx.post(f"{server.url}/v1/chat/completions", json=body, timeout=10)
        assert reply.status_code == 200 and reply.json()["object"] == "chat.completion"
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
