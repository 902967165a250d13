"""Timing helpers shared by the benchmarks (run as scripts, so they import this as a sibling module)."""

from __future__ import annotations

import time
from collections.abc import Callable


def per_call(work: Callable[[], object], number: int) -> float:
    """Return the wall time of one call of ``work`` in microseconds, averaged over ``number`` calls."""
    started = time.perf_counter()
    for _ in range(number):
        work()
    return (time.perf_counter() - started) / number * 1e6
