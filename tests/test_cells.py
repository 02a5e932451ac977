"""T_{N,m} against its closed forms; ligand validation; the v1 descent through the engine."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from adprf._ligands import Ligands, v1_mixture
from adprf.attacks import GradientDescent, ScalarThreshold, attack, v1_descent
from adprf.cells import AdaptiveProofreading

GRID = [(n, m) for n in range(1, 6) for m in range(n)]


@pytest.mark.parametrize("N, m", GRID)
def test_gradient_matches_closed_form(N, m):
    with enable_x64():
        key = jax.random.PRNGKey(N * 10 + m)
        lig = Ligands(
            jax.random.uniform(key, (50,), jnp.float64, 0.05, 5.0),
            jax.random.uniform(jax.random.fold_in(key, 1), (50,), jnp.float64, 0.5, 2.0),
        )
        model = AdaptiveProofreading(N, m, tau_c=3.0)
        auto = jax.grad(model)(lig).tau
        np.testing.assert_allclose(auto, model.gradient(lig), rtol=1e-10)
        h = 1e-6
        fd = (model(Ligands(lig.tau.at[7].add(h), lig.amount)) - model(Ligands(lig.tau.at[7].add(-h), lig.amount))) / (
            2 * h
        )
        np.testing.assert_allclose(auto[7], fd, rtol=1e-5)  # central differences, h = 1e-6


@pytest.mark.parametrize("N, m", GRID)
def test_single_ligand_type_is_absolute_discrimination(N, m):
    model = AdaptiveProofreading(N, m, tau_c=3.0)
    for tau, amount in itertools.product([0.5, 3.0, 4.2], [1.0, 1e3]):
        lig = Ligands.of(np.full(4, tau), amount)
        np.testing.assert_allclose(model(lig), (tau / 3.0) ** (N - m), rtol=1e-5)


@pytest.mark.parametrize("N, m", GRID)
def test_fold_change_closed_form(N, m):
    """FC = 1 − [L2 τ2^m / (L1 τ1^m + L2 τ2^m)] · [1 − (τ2/τ1)^(N−m)]."""
    model = AdaptiveProofreading(N, m, tau_c=3.0)
    l1, t1, l2 = 4000.0, 3.0, 6000.0
    for t2 in [0.1, 1.0, 2.5]:
        mix = Ligands.of([t1, t2], [l1, l2])
        fc = model(mix) / model(Ligands.of([t1], [l1]))
        expected = 1 - l2 * t2**m / (l1 * t1**m + l2 * t2**m) * (1 - (t2 / t1) ** (N - m))
        np.testing.assert_allclose(fc, expected, rtol=1e-5)


def test_ligand_validation_names_the_value():
    with pytest.raises(ValueError, match="ligand 1 has -0.5"):
        Ligands.of([1.0, -0.5], 1.0)
    with pytest.raises(ValueError, match="amount L"):
        Ligands.of([1.0], [np.nan])
    with pytest.raises(ValueError, match="one amount per ligand"):
        Ligands.of([1.0, 2.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="0 ≤ m < N"):
        AdaptiveProofreading(2, 2)


def _numpy_v1_descent(tau, amount, N, m, tau_c=3.0, rate=0.2, max_iter=100_000):
    """The v1 algorithm as a plain NumPy loop (float64): an independent second method."""
    tau = tau.astype(np.float64).copy()
    movable = tau < tau_c
    for it in range(max_iter):
        s_n, s_m = np.sum(amount * tau**N), np.sum(amount * tau**m)
        if s_n / s_m / tau_c ** (N - m) <= 1:
            return tau, it
        adaptive = m * tau ** (m - 1) * s_n if m >= 1 else 0.0
        grad = amount * (N * tau ** (N - 1) * s_m - adaptive) / (s_m**2 * tau_c ** (N - m))
        tau = np.where(movable, tau - rate * grad, tau)
        tau = np.where(tau < 0, 0.1, tau)
    return tau, max_iter


@pytest.mark.parametrize("N, m", [(1, 0), (2, 1), (3, 2)])
def test_v1_descent_through_the_engine_matches_numpy(N, m):
    """Raw gradient descent on τ (only τ < τ_c moves, τ < 0 reset to 0.1) until T ≤ 1."""
    lig = v1_mixture(jax.random.PRNGKey(0), n=400)
    model = AdaptiveProofreading(N, m, tau_c=3.0)
    threat = v1_descent(tau_c=3.0)  # only τ < τ_c moves, amounts fixed, τ < 0 → 0.1
    batch = jax.tree.map(lambda a: a[None], lig)
    res = attack(
        model,
        batch,
        None,
        method=GradientDescent(step_size=0.2, steps=100_000),
        threat=threat,
        objective=ScalarThreshold(1.0),
        key=jax.random.PRNGKey(0),
    )
    tau_np, iterations = _numpy_v1_descent(np.asarray(lig.tau), np.asarray(lig.amount), N, m)
    assert bool(res.success[0])
    assert int(res.gradient_evaluations[0]) - 1 == iterations
    np.testing.assert_allclose(np.asarray(res.adversarial.tau[0]), tau_np, rtol=2e-3, atol=2e-3)
    assert float(model(jax.tree.map(lambda a: a[0], res.adversarial))) <= 1.0


# --- τ*: the critical binding time ------------------------------------------------------------


@pytest.mark.parametrize("N, m", GRID)
def test_critical_binding_time_against_its_equation_and_the_probe_gradient(N, m):
    """τ* of `critical_binding_time` against a numeric root of N τ^(N−m) S_m = m S_N (Brent's
    method) and against `adprf.analysis.critical_point` (the sign change of the probe gradient);
    on the boundary (T = 1) it is `boundary_critical_point()` = τ_c (m/N)^(1/(N−m)). NaN for m = 0."""
    from scipy.optimize import brentq

    from adprf.analysis import critical_point

    model = AdaptiveProofreading(N, m, tau_c=3.0)
    with enable_x64():
        key = jax.random.PRNGKey(7 * N + m)
        lig = Ligands(
            jax.random.uniform(key, (40,), jnp.float64, 0.1, 4.5),
            jax.random.uniform(jax.random.fold_in(key, 1), (40,), jnp.float64, 0.5, 2.0),
        )
        boundary = Ligands.of([1.0, 3.0], [0.0, 700.0])  # one ligand type at τ_c: T = 1
        assert float(model(boundary)) == 1.0
        star, star_boundary = float(model.critical_binding_time(lig)), float(model.boundary_critical_point())
        on_boundary = float(model.critical_binding_time(boundary))
        if m == 0:
            assert np.isnan(star) and np.isnan(star_boundary) and np.isnan(on_boundary)
            assert np.isnan(float(critical_point(model, lig, upper=20.0)))
            return
        s_n, s_m = float(lig.moment(N)), float(lig.moment(m))
        root = brentq(lambda t: N * t ** (N - m) * s_m - m * s_n, 1e-9, 100.0, xtol=1e-14, rtol=1e-14)
        np.testing.assert_allclose(star, root, rtol=1e-12)
        np.testing.assert_allclose(star, float(critical_point(model, lig, upper=20.0)), rtol=1e-4)
        np.testing.assert_allclose(star_boundary, 3.0 * (m / N) ** (1 / (N - m)), rtol=1e-15)
        np.testing.assert_allclose(on_boundary, star_boundary, rtol=1e-12)
        np.testing.assert_allclose(star_boundary, float(critical_point(model, boundary)), rtol=1e-4)


def test_critical_binding_time_refuses_ligands_without_amount():
    with pytest.raises(ValueError, match="no ligand has a positive amount"):
        AdaptiveProofreading(3, 1).critical_binding_time(Ligands.of([1.0, 2.0], [0.0, 0.0]))
