"""Continuous values of attack methods, threats and objectives as array leaves.

A step size, a box bound, a floor, a critical binding time or a mask is data, not structure:
held as an array leaf of its module, it changes no compiled program (two attacks that differ
only in such values share one) and can be traced, so a module built inside `jit` or `vmap`
takes it as a tracer (e.g. a `vmap` over step sizes).

A number given as a Python or NumPy scalar is kept in float64 (a NumPy array) and converted,
at the point of use, to the dtype of the array it meets (`like`), exactly as JAX converts a
Python number there: a float32 image stays float32, and a value built outside
`jax.enable_x64` keeps its full precision when it meets float64 ligands. A JAX array (or a
tracer) is kept as given.
"""

import math
from collections.abc import Callable
from typing import Any, TypeAlias

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from .._types import ArrayLike, Float

Value: TypeAlias = float | Float[ArrayLike, ""]
"""A continuous value as given: a Python, NumPy or JAX scalar, or a tracer."""


def as_value(value: Any) -> Any:
    """The converter of a continuous field: a number as a float64 NumPy array, a JAX array or a
    tracer as given, `None` (not set) as is. Anything else (a boolean, a string, a list of
    several numbers that cannot be one value) is left for `__check_init__` to name."""
    if value is None or isinstance(value, (bool, np.bool_, str, jax.Array)):
        return value
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return value
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        return value
    return array.astype(np.float64)


class StaticFunction(eqx.Module):
    """A plain function of the clean example held as structure (a mask rule such as
    `lambda x: x < 1.0`): a module field the engine can carry through `vmap`, which takes
    only arrays."""

    function: Callable = eqx.field(static=True)

    def __call__(self, *args):
        return self.function(*args)


def as_mask(mask: Any) -> Any:
    """The converter of a mask: an equinox module that computes it from the clean example as
    given (its array fields, such as τ_c, are data); a plain function as structure
    (`StaticFunction`); a pytree of booleans with every leaf an array (data)."""
    if isinstance(mask, eqx.Module) and callable(mask):
        return mask
    if callable(mask):
        return StaticFunction(mask)
    return jax.tree.map(lambda m: m if isinstance(m, jax.Array) else np.asarray(m), mask)


def like(value: Any, array: Any) -> Any:
    """`value` in the dtype of `array`, as JAX would convert a Python number meeting it."""
    return jnp.asarray(value, dtype=jnp.result_type(array))


def number(value: Any) -> float:
    """A concrete scalar value as a Python float."""
    return float(np.asarray(value))


def shown(value: Any) -> str:
    """A value as an error message names it: `-0.02`, `nan`, `[0.1 0.2]`, `'abc'`."""
    if isinstance(value, (np.ndarray, jax.Array)):
        return str(np.asarray(value))
    return repr(value)


def is_traced(value: Any) -> bool:
    """Whether `value` is (or holds) a tracer: a module built inside `jit`/`vmap`, whose values
    are checked where they were concrete."""
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(value))


def check_value(owner: str, name: str, value: Any, *, positive: bool | None = True, fix: str = "") -> None:
    """Reject a concrete value that is not one finite real number, > 0 (`positive=True`), ≥ 0
    (`False`) or of any sign (`None`); tracers pass. The message names the value and the fix."""
    if is_traced(value):
        return
    ok = not isinstance(value, (bool, np.bool_, str)) and np.ndim(value) == 0
    try:
        number = float(value) if ok else math.nan
    except (TypeError, ValueError):
        number = math.nan
    low = positive is not None and (number <= 0 if positive else number < 0)
    if not math.isfinite(number) or low:
        bound = {True: " > 0", False: " ≥ 0", None: ""}[positive]
        raise ValueError(
            f"{owner}: {name} must be a finite number{bound}, got {shown(value)}" + (f"; {fix}" if fix else "")
        )
