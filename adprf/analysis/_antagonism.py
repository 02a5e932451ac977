"""Ligand antagonism: the fold change caused by a second species, and the decision boundary.

Agonists (τ1 above τ_c) make a cell respond; adding a second species (τ2, L2) changes the
output by the fold change FC = T(agonists + species 2) / T(agonists). FC < 1 is
antagonism. For T_{N,m} (Rademaker et al. 2019)

    FC = 1 − [L2 τ2^m / (L1 τ1^m + L2 τ2^m)] · [1 − (τ2/τ1)^(N−m)],

and the amount of species 2 that brings a two-species mixture to the boundary T = 1 is

    L2* = −L1 (τ1^N − τ1^m τ_c^(N−m)) / (τ2^N − τ2^m τ_c^(N−m)).

Both functions here work for any `AbstractCellModel`; T_{N,m} gets the closed form for L2*,
every other model a root find.
"""

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands, concatenate
from .._types import Array, Float, Scalar
from ..cells import AbstractCellModel, AdaptiveProofreading
from ._critical import checked_grid_size, first_crossing

BOUNDARY_METHODS = ("auto", "closed_form", "numeric")

ROUNDING = 64
"""The numeric L2* trusts the sign of output − threshold only beyond 64 ulps of the threshold."""


def _non_negative(name: str, value, fix: str, *, positive: bool = False) -> Float[Array, "..."]:
    """`value` as a float array; concrete values must be finite and ≥ 0 (> 0 if `positive`)."""
    if not isinstance(value, jax.core.Tracer):
        array = np.asarray(value, dtype=float)
        bad = ~np.isfinite(array) | ((array <= 0) if positive else (array < 0))
        if bad.any():
            first = int(np.flatnonzero(bad.ravel())[0])
            raise ValueError(
                f"{name} must be finite and {'> 0' if positive else '≥ 0'}; entry {first} is "
                f"{array.ravel()[first]} ({int(bad.sum())} bad values in all): {fix}"
            )
    return jnp.asarray(value, dtype=jnp.result_type(float))


def fold_change(model: AbstractCellModel, agonists: Ligands, tau2, amount2) -> Float[Array, "*tau2"]:
    """FC = T(agonists + one species (τ2, L2)) / T(agonists alone), for every τ2.

    **Arguments:**
    - `model`: any cell model.
    - `agonists`: the ligands already present (any number of species).
    - `tau2`: binding time(s) of the added species (any shape; vmapped).
    - `amount2`: its amount L2 (broadcast against `tau2`).

    **Returns:**
    The fold change, shape of `tau2` and `amount2` broadcast. Below 1: antagonism. Concrete
    agonists whose output is 0 or not finite raise (the ratio is undefined).
    """
    tau2 = _non_negative("tau2 (binding time of the added species)", tau2, "pass binding times ≥ 0")
    amount2 = _non_negative("amount2 (amount of the added species)", amount2, "pass amounts ≥ 0")
    tau2, amount2 = jnp.broadcast_arrays(tau2, amount2)

    def mixed(t, a):
        return model(
            concatenate(agonists, Ligands(t[None].astype(agonists.tau.dtype), a[None].astype(agonists.amount.dtype)))
        )

    outputs = jax.vmap(mixed)(jnp.ravel(tau2), jnp.ravel(amount2)).reshape(tau2.shape)
    alone = model(agonists)
    if not isinstance(alone, jax.core.Tracer) and not (np.isfinite(alone) and alone > 0):
        raise ValueError(
            f"the agonists alone give output {float(alone)}, so the fold change T(mixture)/T(agonists) "
            f"is undefined: pass agonists with a positive, finite output (e.g. τ > 0 and L > 0)"
        )
    return outputs / alone


def _proofreading_boundary(model: AdaptiveProofreading, tau1, amount1, tau2) -> Float[Array, "..."]:
    """The closed-form L2* of T_{N,m}; NaN where it is negative or not finite, or L1 = 0 (no
    agonists: T is then (τ2/τ_c)^(N−m) whatever L2)."""
    N, m, tau_c = model.N, model.m, model.tau_c
    excess1 = tau1**N - tau1**m * tau_c ** (N - m)
    excess2 = tau2**N - tau2**m * tau_c ** (N - m)
    amount2 = -amount1 * excess1 / excess2
    return jnp.where(jnp.isfinite(amount2) & (amount2 >= 0) & (amount1 > 0), jnp.abs(amount2), jnp.nan)


@eqx.filter_jit
def _numeric_boundary(model: AbstractCellModel, tau1, amount1, tau2, log_range, grid_size: int):
    """L2* by a nested-grid search (`first_crossing`) in log L2, vmapped over the (flat) inputs."""

    def one(t1, a1, t2) -> Scalar:
        def excess(log_amount2):
            mix = Ligands(jnp.stack([t1, t2]), jnp.stack([a1, jnp.exp(log_amount2)]))
            return model(mix) - model.threshold

        at_boundary = model(Ligands(t1[None], a1[None])) == model.threshold
        # An output within rounding of the threshold is no evidence of a crossing: a mixture
        # that only approaches the boundary as L2 → ∞ (τ2 = τ_c) would otherwise "cross" there.
        resolution = ROUNDING * jnp.finfo(log_range.dtype).eps * jnp.abs(model.threshold)
        log_root = first_crossing(
            excess, log_range[0], log_range[1], grid_size=grid_size, direction="any", resolution=resolution
        )
        return jnp.where(at_boundary, 0.0, jnp.exp(log_root))

    return jax.vmap(one)(tau1, amount1, tau2)


def decision_boundary(
    model: AbstractCellModel,
    tau1,
    amount1,
    tau2,
    *,
    method: str = "auto",
    amount_range: tuple[float, float] = (1e-6, 1e15),
    grid_size: int = 512,
) -> Float[Array, "..."]:
    """L2*: the amount of a second species (τ2) that brings agonists (τ1, L1) to the decision
    boundary, model(two species) = model.threshold.

    `method="auto"` uses the closed form for `AdaptiveProofreading`,
    L2* = −L1 (τ1^N − τ1^m τ_c^(N−m)) / (τ2^N − τ2^m τ_c^(N−m)), and a numeric search for every
    other model: the output minus the threshold on `grid_size` points evenly spaced in log L2
    over `amount_range`, the first sign change (the smallest amount that flips the decision)
    refined on finer grids (`first_crossing`). `method="numeric"` forces the search (e.g. to
    check it against the closed form on T_{N,m}).

    **Arguments:**
    - `model`: any cell model.
    - `tau1`, `amount1`: binding time and amount (> 0) of the agonists.
    - `tau2`: binding time of the second species. The three broadcast together (vmapped).
    - `method`: "auto", "closed_form" (T_{N,m} only) or "numeric".
    - `amount_range`: (smallest, largest) L2 searched by the numeric method.
    - `grid_size`: log-spaced points of the numeric search's bracketing grid.

    **Returns:**
    L2*, shape of the broadcast inputs. 0 where the agonists alone sit exactly on the boundary.
    NaN where no positive amount of the second species reaches the boundary: the mixture's output
    moves from T(agonists) towards T(species 2 alone), so it never crosses when both lie on the
    same side (e.g. agonists with τ1 < τ_c and a self species), nor when τ2 = τ_c; the numeric
    method also returns NaN for a crossing outside `amount_range` or a failed model evaluation
    before the crossing.
    """
    if not isinstance(method, str) or method not in BOUNDARY_METHODS:
        raise ValueError(f"method must be one of {BOUNDARY_METHODS}, got {method!r}")
    if method == "closed_form" and not isinstance(model, AdaptiveProofreading):
        raise ValueError(
            f"the closed form of L2* is for AdaptiveProofreading, not {type(model).__name__}: "
            f"use method='numeric' (or 'auto')"
        )
    if np.shape(amount_range) != (2,):
        raise ValueError(f"amount_range must be (smallest, largest), got {amount_range!r}")
    lo, hi = (float(x) for x in amount_range)
    if not (np.isfinite(lo) and np.isfinite(hi) and 0 < lo < hi):
        raise ValueError(f"amount_range must be (smallest, largest) with 0 < smallest < largest, got {amount_range!r}")
    tau1 = _non_negative("tau1 (agonist binding time)", tau1, "pass binding times ≥ 0")
    amount1 = _non_negative(
        "amount1 (agonist amount)",
        amount1,
        "pass amounts L1 > 0 (without agonists the output does not depend on L2: there is no boundary to find)",
        positive=True,
    )
    tau2 = _non_negative("tau2 (binding time of the second species)", tau2, "pass binding times ≥ 0")
    grid_size = checked_grid_size(grid_size)
    tau1, amount1, tau2 = jnp.broadcast_arrays(tau1, amount1, tau2)
    if method != "numeric" and isinstance(model, AdaptiveProofreading):
        return _proofreading_boundary(model, tau1, amount1, tau2)
    log_range = jnp.log(jnp.asarray([lo, hi], tau1.dtype))
    flat = _numeric_boundary(model, jnp.ravel(tau1), jnp.ravel(amount1), jnp.ravel(tau2), log_range, grid_size)
    return flat.reshape(tau1.shape)
