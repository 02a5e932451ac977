"""Biomimetic input filters (Rademaker et al. 2019, biomimetic defence; the filters are ours):
the lesson of proofreading with m > 1 — ignore weakly bound ligands — turned into a defence
placed in front of a classifier.

Pixels play the part of binding times: a filter that is flat near 0 makes faint perturbations
of dark pixels invisible, as T_{N,m} with m > 1 is blind to ligands with τ → 0. All filters act
on one unbatched image with pixels in [0, 1] and keep its shape; `Filtered(classifier, filter)`
puts one in front of any classifier (train it in place with `train_classifier`; attack through
it with `straight_through="filter"`, the BPDA adaptive attack).
"""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp

from .._types import Array, ArrayLike, Float


def _check(owner: str, name: str, value, low: float, high: float = float("inf"), closed_low: bool = False):
    """Raise unless `value` lies in (low, high) (or [low, high)); a traced value (a filter built
    inside `jit` or `vmap`, e.g. a batch of steepnesses) is not looked at."""
    if isinstance(value, jax.core.Tracer):
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    ok = (number >= low if closed_low else number > low) and number < high
    if not ok:
        bracket = "[" if closed_low else "("
        raise ValueError(f"{owner}: {name} must be a number in {bracket}{low}, {high}), got {value!r}")


def _non_negative(x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    """max(x, 0) with the one-sided slope 1 at x = 0 (`jnp.maximum` splits it to ½ at the tie)."""
    return jnp.where(x >= 0, x, 0.0)  # pyright: ignore[reportOperatorIssue]  # Float[ArrayLike] excludes complex


def _parameter(value) -> Array:
    """Filter parameters are float32 array leaves, not static fields: models that differ only
    in θ, n or δ share one compiled attack (a sweep over steepness compiles once, and a batch of
    filters vmaps). They are frozen (`stop_gradient` in `__call__`), so training the classifier
    in place leaves them. Traced values (a filter built inside `jit` or `vmap`) are kept as they
    are."""
    if isinstance(value, jax.core.Tracer):
        return value
    return jnp.asarray(value, jnp.float32)


class PowerLaw(eqx.Module):
    """x ↦ x^n, pixel-wise: flat near 0 for n > 1 (derivative n x^(n−1) → 0).

    **Arguments:**
    - `exponent`: n ≥ 1 (1 is the identity).
    """

    exponent: Float[Array, ""] = eqx.field(default=2.0, converter=_parameter)

    def __check_init__(self):
        _check("PowerLaw", "exponent", self.exponent, 1.0, closed_low=True)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        return _non_negative(x) ** jax.lax.stop_gradient(self.exponent)


class Hill(eqx.Module):
    """x ↦ x^n / (x^n + θ^n), pixel-wise: a sigmoid switch at θ; the hard threshold as n → ∞.

    **Arguments:**
    - `threshold`: θ in (0, 1) (default 0.5, our choice).
    - `steepness`: n ≥ 1; larger n is flatter away from θ and steeper at θ.
    """

    threshold: Float[Array, ""] = eqx.field(default=0.5, converter=_parameter)
    steepness: Float[Array, ""] = eqx.field(default=4.0, converter=_parameter)

    def __check_init__(self):
        _check("Hill", "threshold", self.threshold, 0.0, 1.0)
        _check("Hill", "steepness", self.steepness, 1.0, closed_low=True)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        # With r = x/θ: r^n/(1 + r^n) below θ and 1/(1 + r^−n) above it, each branch fed only
        # values where it is finite, so neither overflows at large n and the gradient at x = 0
        # is exact (1/θ for n = 1, 0 for n > 1).
        threshold, steepness = jax.lax.stop_gradient((self.threshold, self.steepness))
        r = _non_negative(x) / threshold
        low = jnp.where(r < 1, r, 1.0) ** steepness
        high = jnp.where(r < 1, 1.0, r) ** -steepness
        return jnp.where(r < 1, low / (1 + low), 1 / (1 + high))


class HardThreshold(eqx.Module):
    """x ↦ 1 if x > θ else 0: the n → ∞ limit of `Hill`. Its gradient is 0 almost everywhere,
    so gradient attacks see nothing through it — the textbook case of gradient masking; attack
    it with a straight-through (BPDA) stand-in.

    **Arguments:**
    - `threshold`: θ in (0, 1) (default 0.5).
    """

    threshold: Float[Array, ""] = eqx.field(default=0.5, converter=_parameter)

    def __check_init__(self):
        _check("HardThreshold", "threshold", self.threshold, 0.0, 1.0)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        return jnp.greater(x, jax.lax.stop_gradient(self.threshold)).astype(jnp.result_type(x, float))


class ProofreadingLayer(eqx.Module):
    """Divisive normalisation S_N / S_m of the image, pixel by pixel: each pixel is a ligand
    with binding time x_i and amount 1, and the layer returns its share of the proofread
    signal, y_i = x_i^N / (S_m / R + δ) with S_m = Σ_j x_j^m over the R pixels, so that
    mean_i y_i = T_{N,m} (τ_c = 1) of the image when δ = 0. With m ≥ 1 faint pixels neither
    pass (x^N) nor dilute the normalisation (x^m), the adaptive-proofreading defence; with
    m = 0 the layer is x^N / (1 + δ).

    **Arguments:**
    - `N`, `m`: integers 0 ≤ m < N (the proofreading and adaptation steps; static, they set
      the exponents).
    - `floor`: δ > 0, keeps a blank image finite (default 1e-3); a float32 array leaf, frozen
      like the other filters' parameters.
    """

    N: int = eqx.field(static=True, default=3)
    m: int = eqx.field(static=True, default=2)
    floor: Float[Array, ""] = eqx.field(default=1e-3, converter=_parameter)

    def __check_init__(self):
        if not (isinstance(self.N, int) and isinstance(self.m, int) and 0 <= self.m < self.N):
            raise ValueError(f"ProofreadingLayer needs integers 0 ≤ m < N, got N={self.N!r}, m={self.m!r}")
        _check("ProofreadingLayer", "floor", self.floor, 0.0)

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        x = _non_negative(x)
        return x**self.N / (jnp.mean(x**self.m) + jax.lax.stop_gradient(self.floor))


class Filtered(eqx.Module):
    """`classifier(filter(x))`: a defence in front of any classifier of one example.

    **Arguments:**
    - `classifier`: e.g. `MLP` or `MadryCNN`.
    - `filter`: `PowerLaw`, `Hill`, `HardThreshold`, `ProofreadingLayer`, or any function of
      one image that keeps its shape. The field is named `filter` so that
      `attack(..., straight_through="filter")` replaces it by the identity on the backward pass.
    """

    classifier: Callable[..., Float[Array, "..."]]
    filter: Callable[..., Float[Array, "..."]]

    def __call__(self, x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
        return self.classifier(self.filter(x))
