"""adprf.analysis against closed forms of T_{N,m}, a second method and a non-proofreading model."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from adprf._ligands import Ligands
from adprf.analysis import (
    Regime,
    critical_point,
    decision_boundary,
    first_crossing,
    fold_change,
    inflection_point,
    probe_gradient,
    regime,
)
from adprf.cells import AbstractCellModel, AdaptiveProofreading

GRID = [(n, m) for n in range(1, 6) for m in range(n)]
TAU_C = 3.0


class QuadraticSum(AbstractCellModel):
    """A model that is not T_{N,m}: output Σ L τ², respond above `theta`. Its L2* is
    (θ − L1 τ1²)/τ2² where positive."""

    theta: float = eqx.field(static=True)

    @property
    def threshold(self) -> float:
        return self.theta

    def __call__(self, ligands):
        return ligands.moment(2)


def closed_form_fold_change(N, m, t1, l1, t2, l2):
    return 1 - l2 * t2**m / (l1 * t1**m + l2 * t2**m) * (1 - (t2 / t1) ** (N - m))


def closed_form_g(N, m, lig, tau, tau_c=TAU_C):
    """g(τ) = τ^(m−1)[N τ^(N−m) S_m − m S_N]/(S_m² τ_c^(N−m)), written so that m = 0 is finite."""
    s_n, s_m = float(lig.moment(N)), float(lig.moment(m))
    adaptive = m * tau ** (m - 1) * s_n if m >= 1 else 0.0
    return (N * tau ** (N - 1) * s_m - adaptive) / (s_m**2 * tau_c ** (N - m))


def random_ligands(seed, n=20, dtype=jnp.float64):
    key = jax.random.PRNGKey(seed)
    return Ligands(
        jax.random.uniform(key, (n,), dtype, 0.1, 4.0),
        jax.random.uniform(jax.random.fold_in(key, 1), (n,), dtype, 10.0, 1000.0),
    )


# --- fold change -------------------------------------------------------------------------------


@pytest.mark.parametrize("N, m", GRID)
def test_fold_change_matches_closed_form(N, m):
    with enable_x64():
        model = AdaptiveProofreading(N, m, tau_c=TAU_C)
        tau2 = np.linspace(0.01, 4.5, 37)
        for t1, l1, l2 in [(3.0, 4000.0, 6000.0), (4.2, 150.0, 2e4)]:
            fc = fold_change(model, Ligands(jnp.asarray([t1]), jnp.asarray([l1])), tau2, l2)
            np.testing.assert_allclose(fc, closed_form_fold_change(N, m, t1, l1, tau2, l2), rtol=1e-12)


def test_fold_change_broadcasts_and_works_in_float32():
    model = AdaptiveProofreading(4, 2, tau_c=TAU_C)
    agonists = Ligands.of([3.0], [4000.0])
    tau2 = np.linspace(0.1, 2.9, 12).reshape(3, 4)
    amount2 = np.array([[10.0], [1e3], [1e5]])
    fc = fold_change(model, agonists, tau2, amount2)
    assert fc.shape == (3, 4) and fc.dtype == jnp.float32
    np.testing.assert_allclose(fc, closed_form_fold_change(4, 2, 3.0, 4000.0, tau2, amount2), rtol=1e-5)


def test_fold_change_of_several_agonist_species_and_a_generic_model():
    agonists = Ligands.of([3.5, 4.0, 3.2], [100.0, 50.0, 20.0])
    model = QuadraticSum(theta=1.0)
    s2 = float(agonists.moment(2))
    np.testing.assert_allclose(
        fold_change(model, agonists, [0.5, 2.0], 30.0), (s2 + 30.0 * np.array([0.25, 4.0])) / s2, rtol=1e-6
    )


# --- decision boundary -------------------------------------------------------------------------


@pytest.mark.parametrize("N, m", GRID)
def test_closed_form_boundary_puts_the_mixture_on_the_boundary(N, m):
    with enable_x64():
        model = AdaptiveProofreading(N, m, tau_c=TAU_C)
        tau1, amount1 = np.meshgrid([3.3, 4.0, 5.5], [1.0, 40.0, 1e4])
        amount2 = decision_boundary(model, tau1, amount1, 0.7)
        assert amount2.shape == tau1.shape and np.all(amount2 > 0)
        outputs = jax.vmap(lambda t, a, b: model(Ligands(jnp.stack([t, jnp.asarray(0.7)]), jnp.stack([a, b]))))(
            jnp.ravel(tau1), jnp.ravel(amount1), jnp.ravel(amount2)
        )
        np.testing.assert_allclose(outputs, 1.0, rtol=1e-10)


@pytest.mark.parametrize("N, m", [(1, 0), (2, 1), (5, 3)])
def test_numeric_boundary_agrees_with_closed_form(N, m):
    model = AdaptiveProofreading(N, m, tau_c=TAU_C)
    # agonists above τ_c + self/antagonists (finite L2*), agonists below τ_c + a strong agonist
    # (finite), and the cases with no crossing: both above, both below, τ2 = τ_c.
    tau1 = np.array([4.5, 3.2, 6.0, 2.5, 2.0, 4.0, 1.5])
    amount1 = np.array([100.0, 1.0, 1e4, 50.0, 10.0, 10.0, 10.0])
    tau2 = np.array([0.1, 2.0, 2.9, 5.0, 1.0, 4.5, 3.0])
    with enable_x64():
        closed = decision_boundary(model, tau1, amount1, tau2)
        numeric = decision_boundary(model, tau1, amount1, tau2, method="numeric")
        np.testing.assert_array_equal(np.isnan(closed), [False, False, False, False, True, True, True])
        np.testing.assert_array_equal(np.isnan(numeric), np.isnan(closed))
        np.testing.assert_allclose(numeric, closed, rtol=1e-9)
    numeric32 = decision_boundary(model, tau1, amount1, tau2, method="numeric")
    assert numeric32.dtype == jnp.float32
    np.testing.assert_array_equal(np.isnan(numeric32), np.isnan(closed))
    np.testing.assert_allclose(numeric32, closed, rtol=2e-4)


def test_boundary_is_zero_on_the_boundary_and_nan_without_a_crossing():
    model = AdaptiveProofreading(5, 3, tau_c=4.0)
    assert decision_boundary(model, 4.0, 100.0, 0.1) == 0.0
    assert decision_boundary(model, 4.0, 100.0, 0.1, method="numeric") == 0.0
    # τ2 = τ_c: the mixture only approaches T = 1 as L2 → ∞; float32 rounding must not fake a crossing
    assert np.isnan(decision_boundary(model, 5.0, 100.0, 4.0, method="numeric"))
    assert np.isnan(decision_boundary(model, 5.0, 100.0, 4.0))


def test_numeric_boundary_of_a_generic_model():
    model = QuadraticSum(theta=1000.0)
    tau1, amount1, tau2 = np.array([2.0, 3.0, 5.0]), np.array([100.0, 10.0, 100.0]), np.array([0.5, 1.0, 1.0])
    found = decision_boundary(model, tau1, amount1, tau2)  # "auto": numeric for this model
    expected = (1000.0 - amount1 * tau1**2) / tau2**2
    np.testing.assert_allclose(found[:2], expected[:2], rtol=1e-4)
    assert np.isnan(found[2])  # already above θ: adding only raises it
    with pytest.raises(ValueError, match="method='numeric'"):
        decision_boundary(model, 2.0, 100.0, 0.5, method="closed_form")


def test_boundary_validation_names_the_value():
    model = AdaptiveProofreading(2, 1)
    with pytest.raises(ValueError, match="tau2 .* entry 1 is -1.0"):
        decision_boundary(model, 4.0, 1.0, [0.5, -1.0])
    with pytest.raises(ValueError, match="method must be one of"):
        decision_boundary(model, 4.0, 1.0, 0.5, method="newton")
    with pytest.raises(ValueError, match="amount_range"):
        decision_boundary(model, 4.0, 1.0, 0.5, method="numeric", amount_range=(10.0, 1.0))
    with pytest.raises(ValueError, match="amount2 .* nan"):
        fold_change(model, Ligands.of([3.0], [1.0]), 0.5, np.nan)


def test_numeric_boundary_is_jittable():
    model = AdaptiveProofreading(3, 1, tau_c=TAU_C)
    jitted = jax.jit(lambda t1: decision_boundary(model, t1, 100.0, 0.5, method="numeric"))
    np.testing.assert_allclose(
        jitted(jnp.asarray([4.0, 5.0])), decision_boundary(model, [4.0, 5.0], 100.0, 0.5), rtol=2e-4
    )


# --- probe gradient, critical point, inflection point -------------------------------------------


@pytest.mark.parametrize("N, m", GRID)
def test_probe_gradient_matches_closed_form(N, m):
    with enable_x64():
        lig = random_ligands(10 * N + m)
        model = AdaptiveProofreading(N, m, tau_c=TAU_C)
        tau = np.linspace(0.05, 5.0, 9)
        exact = closed_form_g(N, m, lig, tau)
        probe = probe_gradient(model, lig, tau, probe_amount=1e-9)
        np.testing.assert_allclose(probe, exact, rtol=1e-8, atol=1e-12 * np.abs(exact).max())
        # the default probe (10^-6 of the total amount) is off by O(10^-6)
        np.testing.assert_allclose(probe_gradient(model, lig, tau), exact, rtol=1e-4, atol=1e-6 * np.abs(exact).max())
        # species mode: g of ligand j is its closed-form gradient per unit amount
        j = 3
        moved = probe_gradient(model, lig, lig.tau[j], species=j)
        np.testing.assert_allclose(moved, model.gradient(lig)[j] / lig.amount[j], rtol=1e-10)


@pytest.mark.parametrize("N, m", GRID)
def test_critical_and_inflection_points_on_the_boundary(N, m):
    """A distribution at T = 1: τ* = τ_c (m/N)^(1/(N−m)) for m ≥ 1 and the interior minimum of g
    at τ_c (m(m−1)/(N(N−1)))^(1/(N−m)) for m > 1; none otherwise."""
    model = AdaptiveProofreading(N, m, tau_c=TAU_C)
    boundary = Ligands.of([TAU_C], [500.0])
    result = regime(model, boundary)
    assert isinstance(result, Regime)
    if m == 0:
        assert np.isnan(result.critical_point) and result.label == "no critical point"
    else:
        np.testing.assert_allclose(result.critical_point, TAU_C * (m / N) ** (1 / (N - m)), rtol=1e-4)
        assert result.label == "critical point" and bool(result.has_critical_point)
    if m > 1:
        np.testing.assert_allclose(
            result.inflection_point, TAU_C * (m * (m - 1) / (N * (N - 1))) ** (1 / (N - m)), rtol=1e-4
        )
    else:
        assert np.isnan(result.inflection_point) and not bool(result.has_inflection_point)


@pytest.mark.parametrize("N, m", [(2, 1), (3, 2), (5, 4)])
def test_critical_point_of_a_general_distribution(N, m):
    """N τ*^(N−m) S_m = m S_N off the boundary; the inflection point against finite differences of g."""
    with enable_x64():
        lig = random_ligands(N + 7 * m)
        model = AdaptiveProofreading(N, m, tau_c=TAU_C)
        tau_star = critical_point(model, lig, upper=10.0, probe_amount=1e-6)  # 10^-10 of the total
        s_n, s_m = float(lig.moment(N)), float(lig.moment(m))
        np.testing.assert_allclose(tau_star, (m * s_n / (N * s_m)) ** (1 / (N - m)), rtol=1e-8)
        np.testing.assert_allclose(
            closed_form_g(N, m, lig, float(tau_star)),
            0.0,
            atol=1e-8 * abs(closed_form_g(N, m, lig, 2 * float(tau_star))),
        )
        inflection = inflection_point(model, lig, upper=10.0, probe_amount=1e-6)
        if m == 1:
            assert np.isnan(inflection)
            return
        h = 1e-4  # central second differences of the closed-form g: an independent second method
        tau = np.linspace(0.05, float(tau_star), 20001)
        dg = (closed_form_g(N, m, lig, tau + h) - closed_form_g(N, m, lig, tau - h)) / (2 * h)
        crossing = np.flatnonzero((dg[:-1] < 0) & (dg[1:] >= 0))[0]
        np.testing.assert_allclose(inflection, tau[crossing], atol=2 * (tau[1] - tau[0]))


def test_critical_point_beyond_the_search_range_is_nan():
    """Far above the boundary τ* = τ_c (m T / N)^(1/(N−m)) > τ_c: nothing in (0, τ_c)."""
    model = AdaptiveProofreading(2, 1, tau_c=TAU_C)
    far_above = Ligands.of([9.0], [1.0])
    assert np.isnan(critical_point(model, far_above))
    np.testing.assert_allclose(critical_point(model, far_above, upper=20.0), 4.5, rtol=1e-4)


def test_species_mode_finds_the_strongest_antagonist():
    """The minimum of T(τ2) for L1 = 4000 at τ1 = 3 and L2 = 6000 solves
    (N−m) L2 τ^N + N L1 τ1^m τ^(N−m) = m L1 τ1^N."""
    N, m, l1, l2 = 4, 2, 4000.0, 6000.0
    with enable_x64():
        model = AdaptiveProofreading(N, m, tau_c=TAU_C)
        mix = Ligands(jnp.asarray([TAU_C, 1.0]), jnp.asarray([l1, l2]))
        found = critical_point(model, mix, species=1, lower=0.01)
    coefficients = np.zeros(N + 1)
    coefficients[0], coefficients[m], coefficients[N] = (N - m) * l2, N * l1 * TAU_C**m, -m * l1 * TAU_C**N
    roots = np.roots(coefficients)
    (expected,) = [r.real for r in roots if abs(r.imag) < 1e-9 and 0 < r.real < TAU_C]
    np.testing.assert_allclose(found, expected, rtol=1e-8)


def test_search_validation():
    model = AdaptiveProofreading(3, 1)
    lig = Ligands.of([3.0], [1.0])
    with pytest.raises(ValueError, match="pass upper="):
        critical_point(QuadraticSum(theta=1.0), lig)
    with pytest.raises(ValueError, match="0 < lower < upper"):
        critical_point(model, lig, lower=2.0, upper=1.0)
    with pytest.raises(ValueError, match="either species"):
        critical_point(model, lig, species=0, probe_amount=1.0)
    with pytest.raises(ValueError, match="species must be an index"):
        inflection_point(model, lig, species=5)
    with pytest.raises(ValueError, match="probe_amount must be finite and > 0"):
        probe_gradient(model, lig, 1.0, probe_amount=0.0)


def test_critical_point_under_jit_and_for_a_generic_model():
    model = AdaptiveProofreading(5, 2, tau_c=TAU_C)
    lig = Ligands.of([TAU_C], [1.0])
    jitted = eqx.filter_jit(lambda mod, l: critical_point(mod, l))(model, lig)
    np.testing.assert_allclose(jitted, TAU_C * 0.4 ** (1 / 3), rtol=1e-4)
    # Σ L τ² has g = 2τ > 0: no critical point
    assert np.isnan(critical_point(QuadraticSum(theta=1.0), lig, upper=5.0))


# --- the root finder -----------------------------------------------------------------------------


def test_first_crossing_directions_nan_and_resolution():
    f = lambda x: jnp.sin(x)  # roots at π (down) and 2π (up)
    np.testing.assert_allclose(first_crossing(f, 1.0, 7.0, direction="down"), np.pi, rtol=1e-6)
    np.testing.assert_allclose(first_crossing(f, 1.0, 7.0, direction="up"), 2 * np.pi, rtol=1e-6)
    np.testing.assert_allclose(first_crossing(f, 1.0, 7.0, direction="any"), np.pi, rtol=1e-6)
    assert np.isnan(first_crossing(f, 0.5, 3.0, direction="up"))
    nan_before = lambda x: jnp.where(x < 2.0, jnp.nan, jnp.sin(x))
    assert np.isnan(first_crossing(nan_before, 1.0, 7.0, direction="down"))
    creeping = lambda x: 1e-9 * (x - 5.0)  # a crossing within "rounding"
    assert np.isnan(first_crossing(creeping, 1.0, 7.0, resolution=1e-6))
    np.testing.assert_allclose(first_crossing(creeping, 1.0, 7.0), 5.0, rtol=1e-6)
    with pytest.raises(ValueError, match="direction"):
        first_crossing(f, 1.0, 7.0, direction="sideways")
    for lower, upper in [(7.0, 1.0), (2.0, 2.0), (np.nan, 7.0), (1.0, np.inf)]:
        with pytest.raises(ValueError, match="need lower < upper, both finite"):
            first_crossing(f, lower, upper)
    with pytest.raises(ValueError, match=r"scalar to a scalar, but it returned shape \(2,\)"):
        first_crossing(lambda x: jnp.stack([x, x]), 1.0, 7.0)


def test_first_crossing_traces_fn_once():
    """The grid levels are one loop: fn is traced once, not once per level. The roots: one
    exactly on a grid point (0.25), one at a jump between grid points (0.3)."""
    traces = []

    def fn(x):
        traces.append(x)
        return x - 0.25

    np.testing.assert_allclose(first_crossing(fn, 0.0, 1.0, grid_size=5), 0.25, rtol=0, atol=1e-12)
    assert len(traces) == 1
    step = lambda x: jnp.where(x < 0.3, -1.0, 1.0)  # a jump: the bracket shrinks onto it
    np.testing.assert_allclose(first_crossing(step, 0.0, 1.0, grid_size=11), 0.3, atol=1e-3)


def test_critical_point_is_compiled_once_per_model_structure():
    """Eager calls with other values (τ_c, ligands, interval) reuse one compiled search; the
    roots are each model's closed form."""
    calls = []

    class Counted(AdaptiveProofreading):
        def __call__(self, ligands):
            calls.append(None)
            return super().__call__(ligands)

    for tau_c in (2.0, 3.0, 4.0):
        root = critical_point(Counted(5, 2, tau_c=tau_c), Ligands.of([tau_c], [1.0]), lower=0.01 * tau_c)
        np.testing.assert_allclose(root, tau_c * 0.4 ** (1 / 3), rtol=1e-4)
    assert 0 < len(calls) <= 2  # traced for the first call only (grad may trace the model twice)
