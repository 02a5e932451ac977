"""Timing shared by the benchmark scripts (imported as `from _timing import machine, timed`)."""

import os
import statistics
import time

import jax


def machine(**versions: str) -> str:
    """The first line of every benchmark's output: the cores and their load (Unix only), the
    devices, JAX's version, the `versions` given (name=version, e.g. `numpy=np.__version__`) and
    the XLA flags the figures were measured under. `XLA_FLAGS` changes the code XLA generates, and with it
    compile and run times (e.g. the test suite's `--xla_cpu_use_fusion_emitters=false`), so a
    table measured under other flags says so."""
    flags = os.environ.get("XLA_FLAGS", "").strip()
    parts = [
        f"os.cpu_count()={os.cpu_count()}",
        f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "load average n/a",
        f"devices={jax.devices()}",
        f"jax {jax.__version__}",
        *(f"{name} {version}" for name, version in versions.items()),
        f"XLA_FLAGS={flags!r}" if flags else "XLA's default flags",
    ]
    return "machine: " + ", ".join(parts)


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
