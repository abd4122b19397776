"""The running bridge's garbage collection policy (collector.py): young objects only, a full pass rarely."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from asterisk_bridge.collector import GarbageCollector


class _Cycle:
    def __init__(self) -> None:
        self.me = self


async def test_objects_that_lived_leave_the_young_collections_and_a_full_pass_frees_their_cycles():
    collector = GarbageCollector(freeze_every=0.05, full_every=0.3)
    thresholds = gc.get_threshold()
    collector.start()
    try:
        assert gc.get_freeze_count() > 0
        cycle = _Cycle()
        gone = weakref.ref(cycle)
        del cycle  # cyclic garbage: reference counting cannot free it
        await asyncio.sleep(0.12)
        gc.collect(0)
        gc.collect(1)
        assert gone() is not None  # frozen: out of the young passes' sight
        async with asyncio.timeout(2):
            while collector.full_collections == 0:
                await asyncio.sleep(0.05)
        assert gone() is None  # the full pass freed it
        assert gc.get_freeze_count() > 0  # and froze the rest again
        extra = _Cycle()
        del extra
        assert collector.collect() >= 1
    finally:
        collector.stop()
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == thresholds


def test_bad_intervals_are_refused():
    with pytest.raises(ValueError, match="freeze_every"):
        GarbageCollector(freeze_every=0)
    with pytest.raises(ValueError, match="freeze_every"):
        GarbageCollector(freeze_every=10, full_every=1)
