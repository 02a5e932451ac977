"""The exact optimal L∞ attack on the binding times of adaptive proofreading T_{N,m}.

T_{N,m} ≤ 1 ⟺ S_N − τ_c^(N−m) S_m ≤ 0 (the *excess*), a sum over ligands of L_i f(τ_i) with
f(τ) = τ^N − τ_c^(N−m) τ^m. Each ligand lowers the excess on its own, so the best point of an
L∞ ball around a distribution moves every movable binding time as close as the ball allows to
the minimiser τ_b of f over τ ≥ 0: f decreases below τ_b = τ_c (m/N)^(1/(N−m)) and increases
above it for m ≥ 1 (τ_b is then the critical point τ* on the decision boundary, Rademaker et
al. 2019), and increases everywhere for m = 0 (τ_b = 0: every binding time down by ε, the broad
antagonism of T_{N,0}). The smallest radius that turns the response off is the root of a
monotone function of ε, found by bisection. These are the oracles of the two-regimes experiment:
what FGSM and PGD on the binding times should reach.
"""

import jax
import numpy as np

from ..cells import AdaptiveProofreading


def optimal_binding_time(model: AdaptiveProofreading) -> float:
    """τ_b, the minimiser over τ ≥ 0 of f(τ) = τ^N − τ_c^(N−m) τ^m: where the optimal attack
    moves every ligand it can reach.

    **Arguments:**
    - `model`: the adaptive proofreading model T_{N,m}.

    **Returns:** τ_c (m/N)^(1/(N−m)) (`model.boundary_critical_point()`, as a Python float64) for
    m ≥ 1; 0 for m = 0, where f increases on τ ≥ 0 (there the critical point is NaN: ∂T/∂τ
    never changes sign, but the attack's target is still the left end, τ = 0).
    """
    if model.m == 0:
        return 0.0
    with jax.enable_x64(True):  # the closed form in float64, not rounded to float32
        return float(model.boundary_critical_point())


def best_excess(model: AdaptiveProofreading, tau, amount, movable, epsilon) -> np.ndarray:
    """The minimum over the L∞ ball of radius ε (τ ≥ 0) of the excess S_N − τ_c^(N−m) S_m: every
    movable τ moved as close to `optimal_binding_time(model)` as the ball allows. ≤ 0 iff some
    point of the ball turns the response off (T ≤ 1).

    **Arguments:**
    - `model`: T_{N,m}.
    - `tau`, `amount`: binding times and amounts, (D, R) NumPy arrays (float64).
    - `movable`: (D, R) bool, the binding times the attacker may move.
    - `epsilon`: the radius, (D,) or a scalar.

    **Returns:** the smallest excess per distribution, (D,).
    """
    N, m, tau_c = model.N, model.m, float(model.tau_c)  # a NumPy float64 computation
    epsilon = np.asarray(epsilon, np.float64)[..., None]
    moved = np.clip(optimal_binding_time(model), np.maximum(tau - epsilon, 0.0), tau + epsilon)
    x = np.where(movable, moved, tau)
    return np.sum(amount * (x**N - tau_c ** (N - m) * x**m), axis=-1)


def minimal_radius(model: AdaptiveProofreading, tau, amount, movable, iterations: int = 80) -> np.ndarray:
    """The exact smallest ε at which an L∞ attack on the movable binding times can reach T ≤ 1.

    Bisection on the monotone `best_excess`, in float64, `iterations` halvings of
    [0, max |τ − τ_b|] (τ_b = `optimal_binding_time(model)`).

    **Arguments:**
    - `model`: T_{N,m}.
    - `tau`, `amount`: binding times and amounts, (D, R).
    - `movable`: (D, R) bool, the binding times the attacker may move.
    - `iterations`: bisection steps.

    **Returns:** ε per distribution (D,), the upper end of the final bracket; ∞ where even moving
    every movable ligand onto τ_b does not turn the response off.
    """
    tau, amount, movable = (np.asarray(a, np.float64) for a in (tau, amount, movable))
    movable = movable.astype(bool)
    tau_b = optimal_binding_time(model)
    lo = np.zeros(tau.shape[0])
    hi = np.max(np.where(movable, np.abs(tau - tau_b), 0.0), axis=1)
    reachable = best_excess(model, tau, amount, movable, hi) <= 0
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        ok = best_excess(model, tau, amount, movable, mid) <= 0
        lo, hi = np.where(ok, lo, mid), np.where(ok, mid, hi)
    return np.where(reachable, hi, np.inf)
