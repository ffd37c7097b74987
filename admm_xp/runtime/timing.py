"""Per-step timers for the benchmark's breakdown (a no-op unless one is passed in)."""
from __future__ import annotations

import time
from contextlib import contextmanager


class StepTimer:
    """Accumulates seconds per named step; synchronises the device around each step."""

    def __init__(self, synchronize=None):
        self.sync = synchronize or (lambda: None)
        self.totals: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        self.sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.sync()
            self.totals[name] = self.totals.get(name, 0.0) + time.perf_counter() - t0

    def reset(self) -> None:
        self.totals = {}


class _NoTimer:
    @contextmanager
    def __call__(self, name: str):
        yield


NO_TIMER = _NoTimer()
