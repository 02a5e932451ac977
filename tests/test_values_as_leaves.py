"""Values are data: the continuous parameters of the cell models and filters (τ_c, rates,
thresholds, bin widths, filter steepness and floor) are array leaves. A sweep over them is one
compiled program, a batch of models vmaps, and outputs are differentiable in them. Oracles:
closed forms in float64 NumPy (T_{N,m}, McKeithan's KPR, the filters' formulas), the per-value
Python loop, and central finite differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._ligands import Ligands
from adprf.cells import AdaptiveProofreading, HistogramReadout, KinaseFeedback, KineticProofreading, SHP1Feedback
from adprf.nets import Hill, ProofreadingLayer

TAU = np.array([0.4, 1.7, 2.9, 4.2, 6.0])
AMOUNT = np.array([3.0, 1.0, 2.0, 0.5, 0.25])
TAU_CS = [1.5, 2.5, 3.0, 3.3, 4.7]


def reference_T(N, m, tau_c, tau=TAU, amount=AMOUNT):
    """T_{N,m} = S_N / S_m / τ_c^(N−m), float64 NumPy."""
    return np.sum(amount * tau**N) / np.sum(amount * tau**m) / tau_c ** (N - m)


def reference_kpr(N, phi, kappa, R, tau, L):
    """McKeithan's steady output of one species: C_N = C_T (φτ/(1 + φτ))^N, C_T from the quadratic."""
    a = L + R + 1 / (kappa * tau)
    c_t = 0.5 * (a - np.sqrt(a * a - 4 * L * R))
    return c_t * (phi * tau / (1 + phi * tau)) ** N


def counted(fn):
    """`eqx.filter_jit(fn)` and a list that grows by one each time `fn` is traced (a compilation)."""
    traces = []

    def traced(*args):
        traces.append(None)
        return fn(*args)

    return eqx.filter_jit(traced), traces


# --- (a) one compiled program for a sweep ---------------------------------------------------------


def test_tau_c_sweep_compiles_once_and_equals_the_loop():
    with jax.enable_x64(True):
        ligands = Ligands.of(TAU, AMOUNT)
        run, traces = counted(lambda model, lig: (model(lig), model.gradient(lig)))
        swept = [run(AdaptiveProofreading(4, 2, tau_c), ligands) for tau_c in TAU_CS]
        assert len(traces) == 1  # a static τ_c traced (and compiled) once per value: 5
        for tau_c, (value, gradient) in zip(TAU_CS, swept):
            model = AdaptiveProofreading(4, 2, tau_c)
            # the per-value loop, op by op (to rounding: XLA fuses the compiled program)
            np.testing.assert_allclose(float(value), float(model(ligands)), rtol=1e-14)
            np.testing.assert_allclose(gradient, model.gradient(ligands), rtol=1e-14)
            np.testing.assert_allclose(float(value), reference_T(4, 2, tau_c), rtol=1e-13)
        # every value shares one tree structure, so also one `jax.jit` cache entry
        assert len({jax.tree.structure(AdaptiveProofreading(4, 2, t)) for t in TAU_CS}) == 1


def test_ode_rate_sweep_compiles_once():
    with jax.enable_x64(True):
        ligands = Ligands.of([3.0], [1e4])
        run, traces = counted(lambda model, lig: model(lig))
        phis = [0.03, 0.09, 0.2]
        values = [float(run(KineticProofreading(N=3, phi=phi), ligands)) for phi in phis]
        assert len(traces) == 1
        np.testing.assert_allclose(values, [reference_kpr(3, phi, 1e-4, 3e4, 3.0, 1e4) for phi in phis], rtol=1e-10)


def test_filter_sweeps_compile_once():
    x = jnp.linspace(0.0, 1.0, 11)
    run, traces = counted(lambda f, x: f(x))
    steepness = [1.0, 2.0, 4.0, 8.0]
    for n in steepness:
        xs, theta = np.asarray(x, np.float64), 0.5
        expected = xs**n / (xs**n + theta**n)
        np.testing.assert_allclose(run(Hill(threshold=theta, steepness=n), x), expected, rtol=1e-5, atol=1e-7)
    assert len(traces) == 1
    run, traces = counted(lambda f, x: f(x))
    for floor in (1e-3, 1e-2, 0.5):
        xs = np.asarray(x, np.float64)
        expected = xs**3 / (np.mean(xs**2) + np.float32(floor))
        np.testing.assert_allclose(run(ProofreadingLayer(N=3, m=2, floor=floor), x), expected, rtol=1e-5)
    assert len(traces) == 1


def test_bin_width_sweep_compiles_once():
    """HistogramReadout with w an array leaf: one program for every w (same number of bins)."""
    with jax.enable_x64(True):
        ligands = Ligands.of(TAU, AMOUNT)
        run, traces = counted(lambda model, lig: model(lig))
        for w in (0.7, 1.0, 1.3):
            got = float(run(HistogramReadout(AdaptiveProofreading(3, 1), w, 8), ligands))
            index = np.minimum(np.floor(TAU / w), 7).astype(int)
            centres = (np.arange(8) + 0.5) * w
            counts = np.bincount(index, AMOUNT, minlength=8)
            np.testing.assert_allclose(got, reference_T(3, 1, 3.0, centres, counts), rtol=1e-12)
        assert len(traces) == 1


# --- (b) a batch of models vmaps ------------------------------------------------------------------


def test_vmap_over_a_batch_of_models_equals_the_loop():
    with jax.enable_x64(True):
        ligands = Ligands.of(TAU, AMOUNT)
        taus = jnp.asarray(TAU_CS)
        models = eqx.filter_vmap(lambda t: AdaptiveProofreading(5, 2, t))(taus)  # built under vmap: tracers
        assert models.tau_c.shape == (5,)
        batched = eqx.filter_vmap(lambda model: model(ligands))(models)
        loop = [float(AdaptiveProofreading(5, 2, t)(ligands)) for t in TAU_CS]
        np.testing.assert_allclose(batched, loop, rtol=1e-14)
        np.testing.assert_allclose(batched, [reference_T(5, 2, t) for t in TAU_CS], rtol=1e-13)
        # stacked leaves, no constructor: eqx.tree_at on one model
        stacked = eqx.tree_at(lambda model: model.tau_c, AdaptiveProofreading(5, 2), taus)
        np.testing.assert_array_equal(eqx.filter_vmap(lambda model: model(ligands))(stacked), batched)


def test_vmap_over_ode_models_equals_the_loop():
    with jax.enable_x64(True):
        ligands = Ligands.of([3.0], [1e4])
        phis = jnp.asarray([0.03, 0.09, 0.2])
        models = eqx.filter_vmap(lambda phi: KineticProofreading(N=3, phi=phi))(phis)
        batched = eqx.filter_vmap(lambda model: model(ligands))(models)
        loop = [float(KineticProofreading(N=3, phi=float(p))(ligands)) for p in phis]
        np.testing.assert_allclose(batched, loop, rtol=1e-12)
        np.testing.assert_allclose(batched, [reference_kpr(3, float(p), 1e-4, 3e4, 3.0, 1e4) for p in phis], rtol=1e-10)
        # the kinase model's threshold (a property of its leaves) is batched with them
        kinases = eqx.filter_vmap(lambda t: KinaseFeedback(4, 2, tau_c=t))(jnp.asarray([2.0, 3.0]))
        expected = [0.1 * 1e-3 * 1.0 * 0.01 * t**2 / 1e4 for t in (2.0, 3.0)]
        np.testing.assert_allclose(kinases.threshold, expected, rtol=1e-14)


def test_vmap_over_filters_equals_the_loop():
    x = jnp.linspace(0.0, 1.0, 7)
    steepness = jnp.asarray([1.0, 3.0, 6.0])
    filters = eqx.filter_vmap(lambda n: Hill(steepness=n))(steepness)
    batched = eqx.filter_vmap(lambda f: f(x))(filters)
    loop = np.stack([Hill(steepness=float(n))(x) for n in steepness])
    np.testing.assert_allclose(batched, loop, rtol=1e-6)


# --- (c) derivatives in the parameters ------------------------------------------------------------


@pytest.mark.parametrize("N, m", [(1, 0), (3, 1), (5, 2)])
def test_derivative_in_tau_c(N, m):
    """∂T/∂τ_c = −(N − m) T/τ_c (closed form), and central finite differences, float64."""
    with jax.enable_x64(True):
        ligands = Ligands.of(TAU, AMOUNT)
        grad = jax.grad(lambda t: AdaptiveProofreading(N, m, t)(ligands))(3.3)  # built under grad: a tracer
        h = 1e-6
        fd = (reference_T(N, m, 3.3 + h) - reference_T(N, m, 3.3 - h)) / (2 * h)
        np.testing.assert_allclose(grad, -(N - m) * reference_T(N, m, 3.3) / 3.3, rtol=1e-12)
        np.testing.assert_allclose(grad, fd, rtol=1e-8)
        # the same through a model's leaf (eqx.filter_grad differentiates every float leaf)
        model_grad = eqx.filter_grad(lambda model: model(ligands))(AdaptiveProofreading(N, m, 3.3))
        np.testing.assert_allclose(model_grad.tau_c, grad, rtol=1e-14)


def test_derivative_of_an_ode_model_in_its_rates():
    """d output/dφ of KPR (closed form, through the receptor-balance root) against central
    finite differences of McKeithan's formula, float64."""
    with jax.enable_x64(True):
        ligands = Ligands.of([3.0], [1e4])
        model = KineticProofreading(N=3)
        grads = eqx.filter_grad(lambda model: model(ligands))(model)
        for name, value in (("phi", 0.09), ("kappa", 1e-4), ("receptors", 3e4)):
            h = 1e-6 * value

            def ref(v, name=name):
                rates = {"phi": 0.09, "kappa": 1e-4, "receptors": 3e4, name: v}
                return reference_kpr(3, rates["phi"], rates["kappa"], rates["receptors"], 3.0, 1e4)

            fd = (ref(value + h) - ref(value - h)) / (2 * h)
            np.testing.assert_allclose(getattr(grads, name), fd, rtol=1e-7)
        assert float(grads.threshold) == 0.0  # the output does not read the threshold


# --- construction: concrete values are checked, traced ones are not; float64 is kept -------------


def test_values_are_float64_leaves_inside_enable_x64():
    with jax.enable_x64(True):
        model = SHP1Feedback(phi=0.09)
        assert model.phi.dtype == jnp.float64 and float(model.phi) == 0.09
    outside = AdaptiveProofreading(2, 1, 3.0)
    assert outside.tau_c.dtype == jnp.float32 and outside.tau_c.weak_type


def test_ode_model_built_outside_enable_x64_is_refused():
    """Its rates were rounded to float32 (0.09 → 0.0900000035): the solve refuses it by name."""
    model = KineticProofreading()
    assert float(model.phi) != 0.09
    with jax.enable_x64(True):
        with pytest.raises(RuntimeError, match=r"KineticProofreading: phi is float32, .*build it inside"):
            model(Ligands.of([3.0], [1e3]))


def test_traced_construction_skips_value_checks_but_concrete_values_are_checked():
    with pytest.raises(ValueError, match=r"tau_c .* > 0, got tau_c=-1.0"):
        AdaptiveProofreading(2, 1, -1.0)
    with pytest.raises(ValueError, match=r"bin_width .* > 0, got bin_width=0.0"):
        HistogramReadout(AdaptiveProofreading(2, 1), 0.0, 4)
    with pytest.raises(ValueError, match=r"ProofreadingLayer: floor must be a number in \(0.0"):
        ProofreadingLayer(floor=0.0)
    # under jit the values are tracers: nothing to check at construction, nothing raised
    value = jax.jit(lambda t: AdaptiveProofreading(2, 1, t)(Ligands.of([3.0], [1.0])))(1.5)
    np.testing.assert_allclose(value, (3.0 / 1.5) ** 1, rtol=1e-6)
