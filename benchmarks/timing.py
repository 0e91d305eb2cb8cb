"""Wall-clock timing shared by the speed benchmarks."""
from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    """The median of `repeats` timed calls after one untimed warm-up, and the warm-up's result (to
    compare outputs without another call)."""
    out = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out
