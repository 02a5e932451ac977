"""XLA compiler flags for compile-bound processes (the test suite).

XLA reads `XLA_FLAGS` once, when JAX starts its backend (the first computation or
`jax.devices()`), so flags must be set before that; importing adprf sets none.

Most of the test suite's time is XLA compiling: thousands of small programs, each run a few
times. `FAST_COMPILE` switches the CPU backend to its older loop emitters and LLVM to -O0:
adprf's programs then compile about four times faster and run up to twice slower. The flags
change which machine code runs, not the operations it computes: float32 results can differ from
the defaults' in their last bits (`tests/test_xla_flags.py` checks that decisions do not). Long
runs (the command line, benchmarks) keep XLA's defaults: the persistent compilation cache covers
their compile time, and on the benchmarks the older emitters alone ran 0–30 % slower (on the whole
quick reproduce, two experiments at a time: 3 % less time cold, 6 % more warm). The
optimisation level is not CPU-specific: on a GPU, `ADPRF_XLA_DEFAULTS=1` keeps the tests' GPU
code optimised.
"""

import os
from collections.abc import Mapping

from jax._src import xla_bridge

FAST_COMPILE = {"xla_cpu_use_fusion_emitters": "false", "xla_backend_optimization_level": "0"}
"""Flags for work that compiles far more than it runs."""

DEFAULTS_VARIABLE = "ADPRF_XLA_DEFAULTS"
"""Set to 1 to keep XLA's defaults: `fast_compile` then sets nothing."""


def add_xla_flags(flags: Mapping[str, object]) -> str:
    """Append `--name=value` to `XLA_FLAGS` for each flag it does not set already (a flag the
    caller set wins).

    **Arguments:**

    - `flags`: flag names (without `--`) and their values.

    **Returns:** the new `XLA_FLAGS`.

    **Raises:** `ValueError` for a malformed name or value; `RuntimeError` if JAX's backend has
    started: XLA would ignore the flags.
    """
    current = os.environ.get("XLA_FLAGS", "")
    new = [f"--{name}={_value(name, value)}" for name, value in flags.items() if f"--{name}=" not in current]
    if not new:
        return current
    if xla_bridge.backends_are_initialized():
        raise RuntimeError(
            f"cannot set {' '.join(new)}: JAX's backend has already started and XLA reads XLA_FLAGS only "
            "when it starts; set them before the first computation or jax.devices()"
        )
    os.environ["XLA_FLAGS"] = " ".join([current, *new]).strip()
    return os.environ["XLA_FLAGS"]


def _value(name: str, value: object) -> str:
    """`value` as XLA reads it (booleans as true/false), after checking `name` and `value`."""
    if not isinstance(name, str) or not name or name.startswith("-") or any(c in name for c in "= \t\n"):
        raise ValueError(
            f"flag name {name!r}: give the name alone, e.g. 'xla_cpu_use_fusion_emitters', "
            "without the leading -- or a value"
        )
    if isinstance(value, bool):
        return str(value).lower()
    if not isinstance(value, str | int | float):
        raise ValueError(f"{name}={value!r}: give a string, a number or a boolean")
    if any(c.isspace() for c in str(value)):
        raise ValueError(f"{name}={value!r}: XLA_FLAGS separates flags by spaces, so a value cannot hold one")
    return str(value)


def fast_compile() -> str | None:
    """`add_xla_flags(FAST_COMPILE)`, unless `$ADPRF_XLA_DEFAULTS` is 1 (or on, true, yes).

    **Returns:** the new `XLA_FLAGS`, or `None` when XLA's defaults are kept.
    """
    if os.environ.get(DEFAULTS_VARIABLE, "").strip().lower() in ("1", "on", "true", "yes"):
        return None
    return add_xla_flags(FAST_COMPILE)
