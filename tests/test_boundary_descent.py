"""adprf.analysis.boundary_descent (the v1 descent to the boundary over a grid of T_{N,m}) against
an independent oracle: the v1 scripts' loop written out in NumPy, continuous and binned."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._ligands import Ligands, v1_mixture
from adprf.analysis import BoundaryDescent, boundary_descent
from adprf.cells import proofreading_grid


def numpy_descent(tau, N, m, max_iterations, tau_c=3.0, bin_width=None, dtype=np.float64):
    """The v1 descent in NumPy: (final τ, updates applied before the first T ≤ 1).

    Continuous: every ligand with clean τ < τ_c moves by −0.2 ∂T/∂τ_i. Binned (v1 scripts): the
    cell reads the histogram (bins of `bin_width` from 0, centres, counts as amounts) and every
    movable ligand moves by −0.2 ∂T/∂τ_b of its bin (which carries the count)."""
    tau = np.array(tau, dtype)
    movable = tau < tau_c
    scale = dtype(tau_c) ** (N - m)
    n_bins = int(np.floor(tau.max() / bin_width)) + 1 if bin_width else 0
    for iteration in range(max_iterations + 1):
        if bin_width:
            index = np.clip(np.floor(tau / bin_width).astype(int), 0, n_bins - 1)
            x, amount = (np.arange(n_bins) + 0.5) * bin_width, np.bincount(index, minlength=n_bins).astype(dtype)
        else:
            x, amount = tau, np.ones_like(tau)
        s_n, s_m = np.sum(amount * x**N), np.sum(amount * x**m)
        if s_n / s_m / scale <= 1 or iteration == max_iterations:
            return tau, iteration
        adaptive = m * x ** (m - 1) * s_n if m else 0
        grad = amount * (N * x ** (N - 1) * s_m - adaptive) / (s_m**2 * scale)
        step = grad[index] if bin_width else grad
        tau = np.where(movable, tau - dtype(0.2) * step, tau)
        tau = np.where(tau < 0, dtype(0.1), tau)


def test_proofreading_grid():
    assert proofreading_grid(3) == [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]
    assert proofreading_grid(4, n_min=3, m_min=1) == [(3, 1), (3, 2), (4, 1), (4, 2), (4, 3)]
    assert len(proofreading_grid()) == 15


def test_float32_stops_with_float64_numpy_and_binned_variant_matches_v1():
    """float32 on a small R stops within one iteration of the float64 NumPy loop; the binned
    variant reproduces the v1 scripts' binned loop."""
    grid = [(2, 1), (4, 2), (5, 1)]
    lig = v1_mixture(jax.random.PRNGKey(0), n=400)
    descent = boundary_descent(lig, grid, max_iterations=20_000, share_compilation=False)
    assert descent.tau.dtype == jnp.float32
    for i, (n, m) in enumerate(grid):
        tau, k = numpy_descent(np.asarray(lig.tau), n, m, 20_000)
        assert abs(int(descent.iterations[i]) - k) <= 1 and bool(descent.reached[i])
        np.testing.assert_allclose(np.asarray(descent.tau[i]), tau, atol=2e-3)
    with jax.enable_x64(True):
        lig64 = Ligands(lig.tau.astype(jnp.float64), lig.amount.astype(jnp.float64))
        binned = boundary_descent(lig64, grid, max_iterations=2000, bin_width=0.2)
        for i, (n, m) in enumerate(grid):
            tau, k = numpy_descent(np.asarray(lig64.tau), n, m, 2000, bin_width=0.2)
            assert int(binned.iterations[i]) == k
            np.testing.assert_allclose(np.asarray(binned.tau[i]), tau, atol=1e-9)


def test_shared_compilation_cap_and_json_round_trip():
    """One compilation for the grid (`OneOf`) gives the float64 NumPy loop's iterations exactly,
    already-below-boundary models take no step, the cap is reported, and `to_json`/`from_json`
    round-trip."""
    grid = [(1, 0), (2, 1), (3, 2)]
    with jax.enable_x64(True):
        lig = v1_mixture(jax.random.PRNGKey(4), n=225)
        lig = Ligands(lig.tau.astype(jnp.float64), lig.amount.astype(jnp.float64))
        descent = boundary_descent(lig, grid, max_iterations=300)
        for i, (n, m) in enumerate(grid):
            tau, k = numpy_descent(np.asarray(lig.tau), n, m, 300)
            assert int(descent.iterations[i]) == k and bool(descent.reached[i]) == (k < 300)
            np.testing.assert_allclose(np.asarray(descent.tau[i]), tau, atol=1e-12)
            scale = 3.0 ** (n - m)
            t_after = np.sum(tau**n) / np.sum(tau**m) / scale
            np.testing.assert_allclose(float(descent.output[i]), t_after, rtol=1e-12)
    assert int(descent.iterations[0]) == 0 and float(descent.output_clean[0]) <= 1  # (1, 0): T ≤ 1 already
    assert not all(bool(r) for r in descent.reached)  # (3, 2) needs more than 300 steps
    back = BoundaryDescent.from_json(grid, descent.to_json())
    assert back.grid == tuple(grid)
    np.testing.assert_array_equal(back.tau, np.asarray(descent.tau))
    np.testing.assert_array_equal(back.iterations, np.asarray(descent.iterations))


def test_validation():
    lig = v1_mixture(jax.random.PRNGKey(0), n=16)
    with pytest.raises(ValueError, match="0 ≤ m < N"):
        boundary_descent(lig, [(2, 2)])
    with pytest.raises(ValueError, match="0 ≤ m < N"):
        boundary_descent(lig, [])
    with pytest.raises(ValueError, match="max_iterations"):
        boundary_descent(lig, [(2, 1)], max_iterations=0)
