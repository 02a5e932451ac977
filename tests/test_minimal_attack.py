"""adprf.analysis' exact optimal attack on T_{N,m}'s binding times and the mixtures set at a
response, against T_{N,m} written out in NumPy: random points of the ball, a brute-force grid
minimum of f(τ) = τ^N − τ_c^(N−m) τ^m, the closed-form critical point."""

import jax
import numpy as np
import pytest

from adprf.analysis import agonist_amount, best_excess, draw_mixtures, minimal_radius, optimal_binding_time
from adprf.cells import AdaptiveProofreading

N, TAU_C = 5, 3.0


def _proofreading(tau, amount, N, m, tau_c):
    """T_{N,m} in NumPy, float64, over the last axis."""
    return np.sum(amount * tau**N, -1) / np.sum(amount * tau**m, -1) / tau_c ** (N - m)


@pytest.mark.parametrize("m", range(N))
def test_optimal_binding_time_minimises_f(m):
    model = AdaptiveProofreading(N, m, tau_c=TAU_C)
    grid = np.linspace(0.0, 2 * TAU_C, 600_001)
    f = grid**N - TAU_C ** (N - m) * grid**m
    tau_b = optimal_binding_time(model)
    assert isinstance(tau_b, float)
    assert tau_b == pytest.approx(grid[np.argmin(f)], abs=2e-5)
    if m == 0:
        assert tau_b == 0.0 and np.isnan(float(model.boundary_critical_point()))
    else:  # the critical point on the boundary, in float64
        assert tau_b == TAU_C * (m / N) ** (1.0 / (N - m))


@pytest.mark.parametrize("m", range(N))
def test_best_excess_is_the_minimum_over_the_ball(m):
    """No random point of the ball has a lower excess than `best_excess`, which is attained."""
    rng = np.random.default_rng(m)
    model = AdaptiveProofreading(N, m, tau_c=TAU_C)
    tau = rng.uniform(0.0, 3.5, (3, 8))
    amount = rng.uniform(0.5, 2.0, (3, 8))
    movable = tau < TAU_C
    epsilon = np.array([0.05, 0.4, 2.0])
    best = best_excess(model, tau, amount, movable, epsilon)
    delta = rng.uniform(-1, 1, (20_000, 3, 8)) * epsilon[None, :, None]
    points = np.where(movable, np.maximum(tau + delta, 0.0), tau)
    excess = np.sum(amount * (points**N - TAU_C ** (N - m) * points**m), -1)
    assert np.all(excess >= best[None] - 1e-9)
    # monotone in ε
    assert np.all(best_excess(model, tau, amount, movable, 2 * epsilon) <= best + 1e-12)


def test_minimal_radius_against_random_points_of_the_ball():
    """Inside a ball slightly smaller than the exact radius no point turns T off; the optimum's
    construction at the radius does (random distributions, every m)."""
    rng = np.random.default_rng(0)
    tau = np.concatenate([rng.normal(3.5, 0.1, (6, 5)), rng.uniform(0.0, TAU_C, (6, 12))], axis=1)
    movable = tau < TAU_C
    for m in range(N):
        model = AdaptiveProofreading(N, m, tau_c=TAU_C)
        amount = np.ones_like(tau)
        amount[:, :5] = agonist_amount(model, tau, 5, np.full(6, 1.05))[:, None]  # T = 1.05
        np.testing.assert_allclose(_proofreading(tau, amount, N, m, TAU_C), 1.05, rtol=1e-12)
        radius = minimal_radius(model, tau, amount, movable)
        ok = np.isfinite(radius)
        assert ok.sum() >= 3 and np.all(radius[ok] > 0), (m, radius)
        inner = 0.98 * radius[ok]
        delta = rng.uniform(-1, 1, (4000,) + tau[ok].shape) * inner[None, :, None]
        points = np.where(movable[ok][None], np.maximum(tau[ok][None] + delta, 0.0), tau[ok][None])
        corners = np.where(
            movable[ok][None], np.maximum(tau[ok][None] + np.sign(delta) * inner[None, :, None], 0.0), tau[ok][None]
        )
        for sample in (points, corners):
            assert np.all(_proofreading(sample, amount[ok][None], N, m, TAU_C) > 1.0), m
        tau_b = 0.0 if m == 0 else TAU_C * (m / N) ** (1 / (N - m))
        lo, hi = np.maximum(tau[ok] - radius[ok, None], 0), tau[ok] + radius[ok, None]
        best = np.where(movable[ok], np.clip(tau_b, lo, hi), tau[ok])
        assert np.all(_proofreading(best, amount[ok], N, m, TAU_C) <= 1.0 + 1e-9), m


def test_minimal_radius_unreachable_is_infinite():
    model = AdaptiveProofreading(N, 2, tau_c=TAU_C)
    tau = np.array([[3.5, 3.6, 0.5]])  # one self ligand cannot outweigh two agonists
    radius = minimal_radius(model, tau, np.ones_like(tau), tau < TAU_C)
    assert np.isinf(radius[0])


def test_agonist_amount_refuses_an_unreachable_target():
    model = AdaptiveProofreading(N, 1, tau_c=TAU_C)
    tau = np.array([[3.5, 1.0, 2.0]])
    with pytest.raises(ValueError, match="cannot be reached"):
        agonist_amount(model, tau, 1, np.array([(3.5 / TAU_C) ** 4 * 1.01]))  # above the agonists' own T


def test_draw_mixtures():
    with jax.enable_x64(True):
        kwargs = dict(n_agonists=4, n_others=30, antagonist_fraction=(0.2, 0.6), target_range=(1.02, 1.1))
        mixtures = draw_mixtures(jax.random.PRNGKey(0), 8, **kwargs)
        again = draw_mixtures(jax.random.PRNGKey(0), 8, **kwargs)
    tau, antagonist, target = mixtures
    assert tau.shape == (8, 34) and antagonist.shape == (8, 30) and target.shape == (8,)
    assert tau.dtype == np.float64
    np.testing.assert_array_equal(tau, again.tau)
    assert np.all(tau[:, :4] > TAU_C) and np.all(tau[:, 4:] < TAU_C) and np.all(tau >= 0)
    assert np.all((1.02 <= target) & (target <= 1.1))
    assert 0 < antagonist.mean() < 1
    with pytest.raises(ValueError, match="target_range"):
        draw_mixtures(jax.random.PRNGKey(0), 2, n_agonists=2, n_others=3, target_range=(0.9, 1.1))
