"""Timing shared by the benchmark scripts (imported as `from _timing import timed`)."""

import statistics
import time

import jax


def timed(fn, repeats):
    """(first-call seconds, median of `repeats` later calls, last result): the first call
    includes compilation, the median does not."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn())
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times), out
