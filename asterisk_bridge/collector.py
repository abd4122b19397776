"""When the running bridge collects cyclic garbage: rarely, and never over objects that have lived.

Why: almost nothing the bridge makes is cyclic garbage (a load of 4,500 calls left about 800
objects for the collector; reference counting frees the rest), yet every automatic collection
walked all the young objects, thousands of suspended sessions among them, and stalled every call in
the menu for 10-50 ms (bench/load_bench.py at 300 new calls/s, one run each: p99 command
turnaround 17 ms with automatic collections every 20,000 young objects, 5 ms with none). So:

- objects older than ``FREEZE_EVERY`` seconds are moved out of the collector's sight
  (``gc.freeze``, a constant-time list move): a collection only ever walks what was made in the
  last second, and at moderate load none is due at all;
- reference counting still frees every frozen object that is dropped; only cyclic garbage that
  outlived a second waits, for the full collection every ``FULL_EVERY`` seconds (everything is
  unfrozen, collected once, frozen again; its time is logged at DEBUG);
- stopping unfreezes everything, so an embedding process (the tests, the demo) is as it was.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("asterisk_bridge.service")

#: seconds after which a live object leaves the young collections' sight
FREEZE_EVERY = 1.0
#: seconds between full collections (what cyclic garbage outlived FREEZE_EVERY is freed then)
FULL_EVERY = 3600.0
#: young objects (net allocations) that trigger an automatic collection in between
YOUNG_THRESHOLD = 20_000


class GarbageCollector:
    """``start()`` on the running loop, ``stop()`` at the end (see the module docstring)."""

    def __init__(self, freeze_every: float = FREEZE_EVERY, full_every: float = FULL_EVERY) -> None:
        if not 0 < freeze_every <= full_every:
            raise ValueError(f"GarbageCollector: need 0 < freeze_every <= full_every, got {freeze_every}, {full_every}")
        self.freeze_every = freeze_every
        self.full_every = full_every
        self.full_collections = 0
        self._timer: asyncio.TimerHandle | None = None
        self._thresholds = gc.get_threshold()
        self._next_full = 0.0

    def start(self) -> None:
        self._thresholds = gc.get_threshold()
        gc.set_threshold(YOUNG_THRESHOLD, 20, 50)
        gc.freeze()  # modules, configuration: alive for good
        self._next_full = time.monotonic() + self.full_every
        self._timer = asyncio.get_running_loop().call_later(self.freeze_every, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            gc.unfreeze()
            gc.set_threshold(*self._thresholds)

    def _tick(self) -> None:
        if time.monotonic() >= self._next_full:
            self.collect()
        gc.freeze()
        self._timer = asyncio.get_running_loop().call_later(self.freeze_every, self._tick)

    def collect(self) -> int:
        """A full collection now, over every object; returns how many were freed."""
        started = time.perf_counter()
        gc.unfreeze()
        freed = gc.collect()
        gc.freeze()
        self.full_collections += 1
        self._next_full = time.monotonic() + self.full_every
        log.debug("garbage collection: %d cyclic objects freed in %.0f ms", freed,
                  (time.perf_counter() - started) * 1000)
        return freed
