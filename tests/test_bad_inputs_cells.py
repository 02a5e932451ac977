"""Inputs a careful (or hostile) user tries on the cell models, ligands and antagonism analysis:
each is either refused with a message that names the value and the fix, or computed right
against an independent oracle (float64 NumPy, closed forms, finite differences)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64

from adprf._ligands import Ligands
from adprf.analysis import decision_boundary, first_crossing, fold_change
from adprf.cells import (
    AdaptiveProofreading,
    KinaseFeedback,
    KineticProofreading,
    SHP1Feedback,
    steady_state,
    time_course,
)

GRID = [(n, m) for n in range(1, 6) for m in range(n)]


def reference_T(tau, amount, N, m, tau_c):
    """T_{N,m} in float64 NumPy, straight from its definition S_N / S_m / τ_c^(N−m)."""
    tau, amount = np.asarray(tau, np.float64), np.asarray(amount, np.float64)
    return np.sum(amount * tau**N) / np.sum(amount * tau**m) / tau_c ** (N - m)


def closed_form_boundary(N, m, tau_c, tau1, amount1, tau2):
    """L2* = −L1 (τ1^N − τ1^m τ_c^(N−m)) / (τ2^N − τ2^m τ_c^(N−m)) (Rademaker et al. 2019), float64."""
    return -amount1 * (tau1**N - tau1**m * tau_c ** (N - m)) / (tau2**N - tau2**m * tau_c ** (N - m))


# --- T_{N,m}: no NaN for valid input -------------------------------------------------------------


def test_no_positive_amount_is_refused_when_concrete():
    model = AdaptiveProofreading(4, 2)
    for ligands in (Ligands.of([1.0, 3.5], [0.0, 0.0]), Ligands(jnp.zeros(0), jnp.zeros(0))):
        with pytest.raises(
            ValueError, match="(no ligand has a positive amount|no ligands).*add at least one ligand with L > 0"
        ):
            model(ligands)
    with pytest.raises(ValueError, match="no ligand has a positive amount"):
        model.gradient(Ligands.of([1.0, 3.5], [0.0, 0.0]))
    with pytest.raises(ValueError, match="no ligands"):
        Ligands.of([])


def test_no_positive_amount_under_tracing_is_nan_not_an_error():
    model = AdaptiveProofreading(4, 2)
    zero = Ligands.of([1.0, 3.5], [0.0, 0.0])
    assert np.isnan(eqx.filter_jit(model)(zero))  # τ_c is an array leaf: the model is data, not hashable
    assert np.all(np.isnan(jax.vmap(model)(Ligands(jnp.ones((3, 2)), jnp.zeros((3, 2))))))
    assert np.all(np.isnan(eqx.filter_jit(model.gradient)(zero)))


@pytest.mark.parametrize("N, m", GRID)
def test_huge_binding_time_matches_float64_reference(N, m):
    """τ = 1e30 overflowed S_N in float32 (T was NaN); now T is right where float32 can hold it,
    inf where it cannot, never NaN."""
    tau, amount = [1e30, 2.0, 0.3], [1.0, 5.0, 2.0]
    got = float(AdaptiveProofreading(N, m, tau_c=3.0)(Ligands.of(tau, amount)))
    expected = reference_T(tau, amount, N, m, 3.0)
    if expected < np.finfo(np.float32).max:
        np.testing.assert_allclose(got, expected, rtol=1e-5)
    else:
        assert got == np.inf


@pytest.mark.parametrize("N, m", GRID)
@pytest.mark.parametrize(
    "tau, amount",
    [
        ([1e-30, 1e6, 2.0], [1.0, 1.0, 5.0]),  # huge and tiny binding times together
        ([1e-20, 4e4, 1e-3, 7.0], [3.0, 1e-5, 1e4, 1.0]),  # … and amounts over nine decades
        ([1.0, 2.0, 0.5], [1e38, 2e38, 3e38]),  # Σ L beyond float32
    ],
)
def test_mixed_magnitudes_match_float64_reference(N, m, tau, amount):
    got = float(AdaptiveProofreading(N, m, tau_c=3.0)(Ligands.of(tau, amount)))
    np.testing.assert_allclose(got, reference_T(tau, amount, N, m, 3.0), rtol=2e-5)


def test_prefactor_overflow_with_a_tiny_amount_is_not_inf():
    """(τ_max/τ_c)^(N−m) overflows float32 but T does not: a tiny amount sits at the huge τ."""
    tau, amount = [1e30, 1.0], [1e-30, 1.0]
    got = float(AdaptiveProofreading(2, 0, tau_c=3.0)(Ligands.of(tau, amount)))
    np.testing.assert_allclose(got, reference_T(tau, amount, 2, 0, 3.0), rtol=1e-4)


@pytest.mark.parametrize("N, m", GRID)
def test_absent_ligand_at_huge_binding_time_counts_for_nothing(N, m):
    """A ligand with L = 0 far above the others (τ^N beyond float32): T is that of the others,
    and no gradient is NaN (∂T/∂L of the absent ligand is what budget attacks follow)."""
    model = AdaptiveProofreading(N, m, tau_c=3.0)
    ligands = Ligands.of([1e30, 2.0, 3.5], [0.0, 1.0, 2.0])
    np.testing.assert_allclose(model(ligands), reference_T([2.0, 3.5], [1.0, 2.0], N, m, 3.0), rtol=1e-5)
    grads = jax.grad(model)(ligands)
    assert np.all(~np.isnan(grads.tau)) and np.all(~np.isnan(grads.amount))
    assert float(grads.tau[0]) == 0.0 and np.all(np.isfinite(model.gradient(ligands)))


@pytest.mark.parametrize("N, m", GRID)
def test_every_present_ligand_at_zero_binding_time_gives_zero(N, m):
    """S_N = S_m = 0 for m ≥ 1 (it was 0/0); T's limit there is 0, and so is T for m = 0."""
    model = AdaptiveProofreading(N, m, tau_c=3.0)
    ligands = Ligands.of([0.0, 0.0, 5.0], [1.0, 2.0, 0.0])
    assert float(model(ligands)) == 0.0
    assert np.all(np.isfinite(jax.grad(model)(ligands).tau)) and np.all(np.isfinite(model.gradient(ligands)))


@pytest.mark.parametrize("tau_c", [3.0, 3.3, 0.7, 11.1])
@pytest.mark.parametrize("N, m", [(1, 0), (4, 2), (5, 0)])
def test_one_ligand_type_at_tau_c_is_exactly_on_the_boundary(N, m, tau_c):
    assert float(AdaptiveProofreading(N, m, tau_c=tau_c)(Ligands.of([tau_c, 0.2], [7.0, 0.0]))) == 1.0


@pytest.mark.parametrize("N, m", [(1, 0), (2, 1), (3, 0), (4, 2), (5, 3), (5, 4)])
@pytest.mark.parametrize("scale", [1.0, 1e-20, 1e40])
def test_gradients_are_exact_at_every_scale(N, m, scale):
    """jax.grad through T (with its gradient-stopped units) equals the closed-form `gradient`, central
    finite differences in τ and the closed form of ∂T/∂L, also for the ligand at τ_max and for an
    absent one, under jit and vmap, and at binding times (and τ_c) scaled by 1e-20 and 1e40."""
    with enable_x64():
        rng = np.random.default_rng(10 * N + m)
        tau = scale * rng.uniform(0.2, 4.5, 12)
        amount = rng.uniform(0.5, 3.0, 12)
        amount[3] = 0.0  # an absent ligand: ∂T/∂L still counts
        model = AdaptiveProofreading(N, m, tau_c=3.0 * scale)
        ligands = Ligands.of(tau, amount)
        auto = jax.jit(jax.grad(model))(ligands)
        np.testing.assert_allclose(auto.tau, model.gradient(ligands), rtol=1e-10, atol=1e-14 / scale)
        batched = jax.vmap(jax.grad(model))(Ligands(jnp.stack([ligands.tau] * 2), jnp.stack([ligands.amount] * 2)))
        np.testing.assert_allclose(batched.tau[1], auto.tau, rtol=1e-12)
        top = int(np.argmax(np.where(amount > 0, tau, 0)))
        for j in (top, 0, 3):
            h = 1e-6 * tau[j]
            fd = (
                reference_T(np.where(np.arange(12) == j, tau + h, tau), amount, N, m, 3.0 * scale)
                - reference_T(np.where(np.arange(12) == j, tau - h, tau), amount, N, m, 3.0 * scale)
            ) / (2 * h)
            np.testing.assert_allclose(auto.tau[j], fd, rtol=1e-6, atol=1e-12 / scale)
            # ∂T/∂L_j = (τ_j^N S_m − τ_j^m S_N) / (S_m² τ_c^(N−m)), in float64 NumPy, in units of
            # `scale` (T depends on τ/τ_c only; 1e40^5 · S_m would overflow float64)
            t = tau / scale
            s_n, s_m = np.sum(amount * t**N), np.sum(amount * t**m)
            d_amount = (t[j] ** N * s_m - t[j] ** m * s_n) / (s_m**2 * 3.0 ** (N - m))
            np.testing.assert_allclose(auto.amount[j], d_amount, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("N, m", [(3, 2), (5, 2), (4, 1)])
def test_second_derivative_is_exact(N, m):
    """∂²T/∂τ_j² (what `inflection_point` differentiates) equals finite differences of the
    closed-form gradient, for the ligand at τ_max too."""
    with enable_x64():
        rng = np.random.default_rng(N + m)
        tau, amount = rng.uniform(0.2, 4.5, 8), rng.uniform(0.5, 3.0, 8)
        model = AdaptiveProofreading(N, m, tau_c=3.0)
        for j in (int(np.argmax(tau)), 2):

            def along(t, j=j):
                return model(Ligands(jnp.asarray(tau).at[j].set(t), jnp.asarray(amount)))

            second = jax.grad(jax.grad(along))(tau[j])
            h = 1e-5
            fd = (
                model.gradient(Ligands.of(np.where(np.arange(8) == j, tau + h, tau), amount))[j]
                - model.gradient(Ligands.of(np.where(np.arange(8) == j, tau - h, tau), amount))[j]
            ) / (2 * h)
            np.testing.assert_allclose(second, fd, rtol=1e-6)


# --- model parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, match",
    [
        (
            lambda: AdaptiveProofreading(4, 2, tau_c=np.inf),
            r"AdaptiveProofreading: tau_c .* finite and > 0, got tau_c=inf",
        ),
        (lambda: AdaptiveProofreading(4, 2, tau_c=np.nan), r"tau_c .* finite and > 0, got tau_c=nan"),
        (lambda: AdaptiveProofreading(4, 2, tau_c=0.0), r"tau_c .* > 0, got tau_c=0.0"),
        (lambda: AdaptiveProofreading(4, 2, tau_c=-3.0), r"tau_c .* > 0, got tau_c=-3.0"),
        (lambda: AdaptiveProofreading(4.5, 2), r"N must be an integer, got N=4.5"),
        (lambda: AdaptiveProofreading(0, 0), r"needs integers 1 ≤ N, got N=0"),
        (lambda: AdaptiveProofreading(4, -1), r"0 ≤ m < N, got m=-1, N=4"),
        (lambda: AdaptiveProofreading(4, 4), r"0 ≤ m < N, got m=4, N=4"),
        (
            lambda: KineticProofreading(phi=np.inf),
            r"KineticProofreading: phi \(the phosphorylation rate φ\) must be finite",
        ),
        (lambda: KineticProofreading(kappa=0.0), r"kappa .* must be finite and > 0, got kappa=0.0"),
        (lambda: KineticProofreading(receptors=np.nan), r"receptors .* got receptors=nan"),
        (lambda: KineticProofreading(threshold=-1.0), r"threshold .* > 0, got threshold=-1.0"),
        (lambda: KineticProofreading(N=0), r"1 ≤ N, got N=0"),
        (lambda: KineticProofreading(solver="euler"), r"unknown solver 'euler': use one of"),
        (lambda: SHP1Feedback(gamma=-1e-6), r"gamma .* must be finite and ≥ 0 \(0 turns the SHP-1 feedback off\)"),
        (lambda: SHP1Feedback(b=0.0), r"SHP1Feedback: b .* > 0, got b=0.0"),
        (lambda: SHP1Feedback(N=3, m=4), r"0 ≤ m ≤ N, got m=4, N=3"),
        (lambda: SHP1Feedback(C_star=np.inf), r"C_star .* got C_star=inf"),
        (lambda: KinaseFeedback(2, 1, delta=np.inf), r"KinaseFeedback: delta .* got delta=inf"),
        (lambda: KinaseFeedback(2, 1, tau_c=np.nan), r"tau_c .* got tau_c=nan"),
        (lambda: KinaseFeedback(2, 2), r"0 ≤ m < N, got m=2, N=2"),
        (lambda: KinaseFeedback(40, 0, phi=1e-10), r"the threshold .* is 0.0 .* finite and > 0"),
    ],
)
def test_bad_parameters_are_refused_by_name(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: AdaptiveProofreading(True, 0), r"N must be an integer, got N=True"),
        (lambda: AdaptiveProofreading("4", 2), r"N must be an integer, got N='4'"),
        (lambda: AdaptiveProofreading(4, 2, tau_c="3"), r"tau_c .* must be a real number|parameter 'tau_c'"),
        (
            lambda: KineticProofreading(ligand_excess="no"),
            r"ligand_excess must be True or False, got ligand_excess='no'|parameter 'ligand_excess'",
        ),
        (lambda: SHP1Feedback(phi=True), r"phi .* must be a real number, got phi=True"),
    ],
)
def test_parameters_of_the_wrong_type_are_refused_by_name(make, match):
    with pytest.raises(TypeError, match=match):
        make()


def test_numpy_integers_are_integers():
    for model, plain in [
        (AdaptiveProofreading(np.int64(4), np.int32(2)), AdaptiveProofreading(4, 2)),
        (KineticProofreading(N=np.int64(3)), KineticProofreading(N=3)),
        (SHP1Feedback(N=np.int16(4), m=np.uint8(2)), SHP1Feedback(N=4, m=2)),
        (KinaseFeedback(np.int64(2), np.int64(1)), KinaseFeedback(2, 1)),
        (AdaptiveProofreading(4.0, 2.0), AdaptiveProofreading(4, 2)),
    ]:
        assert type(model.N) is int and type(getattr(model, "m", 0)) is int
        assert jax.tree.structure(model) == jax.tree.structure(plain)  # one compilation for both
    ligands = Ligands.of([3.5, 1.0], [1.0, 2.0])
    assert float(AdaptiveProofreading(np.int64(4), np.int64(2))(ligands)) == float(AdaptiveProofreading(4, 2)(ligands))


# --- Ligands -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tau, amount, match",
    [
        ([1.0, -0.5], [1.0, 1.0], r"binding time τ must be finite and ≥ 0; ligand 1 has -0.5"),
        ([1.0, np.nan], [1.0, 1.0], r"binding time τ must be finite and ≥ 0; ligand 1 has nan"),
        ([1.0, 2.0], [np.inf, 1.0], r"amount L must be finite and ≥ 0; ligand 0 has inf"),
        ([1.0, 2.0], [1.0, -3.0], r"amount L must be finite and ≥ 0; ligand 1 has -3.0 .*pass finite"),
        ([1.0, 2.0], [1.0, 2.0, 3.0], r"binding times have shape \(2,\) but amounts \(3,\)"),
    ],
)
def test_bare_ligands_are_checked_like_ligands_of(tau, amount, match):
    for dtype in (np.float32, np.float64):
        with pytest.raises(ValueError, match=match):
            Ligands(np.asarray(tau, dtype), np.asarray(amount, dtype))
    with pytest.raises(ValueError, match=match.split(" .*")[0]):
        Ligands(jnp.asarray(tau), jnp.asarray(amount))
    if len(tau) == len(amount):
        with pytest.raises(ValueError, match=match.split(" .*")[0]):
            Ligands.of(tau, amount)


def test_ligand_checks_skip_tracers_masks_and_rebuilt_trees():
    negative = jnp.asarray([-1.0, 2.0])
    np.testing.assert_array_equal(jax.jit(lambda t: Ligands(t, t).tau)(negative), negative)  # traced
    np.testing.assert_array_equal(jax.vmap(lambda t: Ligands(t, t).amount)(negative), negative)
    masks = Ligands(jnp.asarray([True, False]), jnp.asarray([False, False]))  # booleans
    assert masks.tau.dtype == bool
    model = AdaptiveProofreading(4, 2)
    ligands = Ligands.of([3.5, 1.0, 0.4], [1.0, 2.0, 3.0])
    grads = jax.grad(model)(ligands)  # equinox's unflatten does not run __check_init__
    assert isinstance(grads, Ligands) and np.any(np.asarray(grads.tau) < 0)
    flipped = jax.tree.map(jnp.negative, ligands)
    assert float(flipped.tau[0]) == -3.5


def test_ligands_of_uses_jax_default_float():
    assert Ligands.of([1.0, 2.0], 3.0).tau.dtype == jnp.float32
    with enable_x64():
        ligands = Ligands.of([1.0, 1 / 3], 3.0)
        assert ligands.tau.dtype == jnp.float64 and ligands.amount.dtype == jnp.float64
        assert float(ligands.tau[1]) == 1 / 3
        assert float(Ligands.of([1e39], 1.0).tau[0]) == 1e39
    with pytest.raises(ValueError, match=r"binding time τ 1e\+39 is beyond the range of float32 .*enable_x64"):
        Ligands.of([1e39], 1.0)


# --- ODE models ----------------------------------------------------------------------------------

# Built inside `enable_x64` (their rates are float64 array leaves from construction on).
ODE_MODELS = [KineticProofreading, SHP1Feedback, lambda: KinaseFeedback(2, 1)]


@pytest.mark.parametrize("make", ODE_MODELS, ids=["KineticProofreading", "SHP1Feedback", "KinaseFeedback"])
def test_ode_models_refuse_what_they_cannot_read(make):
    with enable_x64():
        model = make()
        with pytest.raises(ValueError, match="no ligand has a positive amount"):
            model(Ligands.of([1.0, 4.0], [0.0, 0.0]))
        with pytest.raises(ValueError, match=r"needs binding times τ > 0 .*ligand 0 has τ = 0.0: drop ligands"):
            model(Ligands.of([0.0, 4.0], [0.0, 1e3]))  # was NaN, reported as a solver failure
        with pytest.raises(ValueError, match=r"reads one ligand distribution \(1-D\), got ligands of shape \(2, 2\)"):
            model(Ligands.of(np.full((2, 2), 4.0), 1e3))
        with pytest.raises(ValueError, match="no ligands"):
            model(Ligands(jnp.zeros(0), jnp.zeros(0)))
        # a single ligand as a scalar is one species (it was an IndexError)
        np.testing.assert_allclose(model(Ligands.of(4.0, 1e3)), model(Ligands.of([4.0], [1e3])), rtol=1e-12)


def test_steady_state_options_are_checked():
    with enable_x64():
        model = KineticProofreading()
        ligands = Ligands.of([4.0], [1e3])
        for options, match in [
            ({"rtol": -1e-10}, r"steady_state: rtol .* > 0, got rtol=-1e-10"),
            ({"atol": np.nan}, r"steady_state: atol .* got atol=nan"),
            ({"max_steps": 0}, r"steady_state needs integers 1 ≤ max_steps, got max_steps=0"),
            ({"integration_tolerances": (1e-6,)}, r"integration_tolerances must be a pair"),
            ({"integration_tolerances": (1e-6, 0.0)}, r"integration_tolerances\[1\] .* > 0"),
            ({"method": "euler"}, r"unknown steady-state method 'euler'"),
        ]:
            with pytest.raises(ValueError, match=match):
                steady_state(model, ligands, **options)
        with pytest.raises(ValueError, match="finite values ≥ 0"):
            time_course(model, ligands, [0.0, np.nan])
        with pytest.raises(ValueError, match=r"time_course: rtol"):
            time_course(model, ligands, [0.0, 1.0], rtol=0.0)


# --- decision boundary and fold change ------------------------------------------------------------


@pytest.mark.parametrize(
    "N, m, tau_c, tau1, amount1, tau2, expected",
    [
        (1, 0, 4.0, 6.0, 500.0, 3.0, 1000.0),  # the reported case: T_{1,0}, L2* = 1000 on a grid point
        (1, 0, 4.0, 6.0, 0.5, 3.0, 1.0),
        (2, 1, 3.0, 4.0, 500.0, 1.0, 1000.0),
        (2, 1, 3.0, 4.0, 5e-4, 1.0, 1e-3),
        (3, 1, 2.0, 4.0, 62500.0, 1.0, 1e6),
        (3, 1, 2.0, 4.0, 6.25e7, 1.0, 1e9),
    ],
)
def test_numeric_boundary_finds_a_root_on_a_grid_point(N, m, tau_c, tau1, amount1, tau2, expected):
    """L2* = 10^(3k) lies on the default log grid (1e-6 … 1e15, 512 points): it was NaN."""
    assert closed_form_boundary(N, m, tau_c, tau1, amount1, tau2) == expected
    model = AdaptiveProofreading(N, m, tau_c=tau_c)
    np.testing.assert_allclose(decision_boundary(model, tau1, amount1, tau2, method="numeric"), expected, rtol=1e-5)
    if expected == 1000.0:
        with enable_x64():
            np.testing.assert_allclose(
                decision_boundary(model, tau1, amount1, tau2, method="numeric"), expected, rtol=1e-12
            )


@pytest.mark.parametrize("N, m", [(1, 0), (3, 1), (5, 2)])
def test_numeric_boundary_matches_closed_form_on_random_cases(N, m):
    rng = np.random.default_rng(N * 10 + m)
    tau1, amount1, tau2 = rng.uniform(3.5, 5.0, 16), rng.uniform(10.0, 1e3, 16), rng.uniform(0.8, 2.5, 16)
    with enable_x64():
        got = decision_boundary(AdaptiveProofreading(N, m, tau_c=3.0), tau1, amount1, tau2, method="numeric")
    np.testing.assert_allclose(got, closed_form_boundary(N, m, 3.0, tau1, amount1, tau2), rtol=1e-9)


def test_first_crossing_on_and_between_grid_points():
    grid = np.linspace(0.0, 4.0, 5)  # 2.0 is a first-grid point
    for direction, fn in [("up", lambda x: x - 2.0), ("down", lambda x: 2.0 - x), ("any", lambda x: x - 2.0)]:
        assert float(first_crossing(fn, grid[0], grid[-1], grid_size=5, direction=direction, resolution=1e-6)) == 2.0
    # a plateau of exact zeros narrower than the first grid's spacing: zeros first appear on a finer grid
    plateau = lambda x: jnp.where(x < 1.30, x - 1.30, jnp.where(x > 1.31, x - 1.31, 0.0))
    root = float(first_crossing(plateau, 0.0, 4.0, grid_size=5))
    assert 1.30 <= root <= 1.30 + 4.0 / 4**3
    # a touch of 0 is no change of sign
    assert np.isnan(first_crossing(lambda x: -((x - 2.0) ** 2), 0.0, 4.0, grid_size=5))


def test_boundary_without_agonists_is_refused():
    model = AdaptiveProofreading(2, 1)
    with pytest.raises(ValueError, match=r"amount1 \(agonist amount\) must be finite and > 0; entry 0 is 0.0"):
        decision_boundary(model, 4.0, 0.0, 1.0)
    assert np.isnan(jax.jit(lambda a: decision_boundary(model, 4.0, a, 4.0))(0.0))  # was 0: "on the boundary"
    # ours, or the runtime type check naming the parameter
    with pytest.raises((ValueError, TypeError), match=r"grid_size must be an integer ≥ 3|parameter 'grid_size'"):
        decision_boundary(model, 4.0, 1.0, 1.0, method="numeric", grid_size=512.0)
    with pytest.raises(
        (ValueError, TypeError), match=r"amount_range must be \(smallest, largest\)|parameter 'amount_range'"
    ):
        decision_boundary(model, 4.0, 1.0, 1.0, amount_range=(1.0, 2.0, 3.0))


def test_fold_change_of_agonists_with_zero_output_is_refused():
    """T(agonists) = 0 made FC = x/0 (inf or NaN)."""
    with pytest.raises(ValueError, match=r"agonists alone give output 0.0, so the fold change .* is undefined"):
        fold_change(AdaptiveProofreading(2, 1), Ligands.of([0.0], [10.0]), 1.0, 5.0)
