"""ODE cell models: closed form vs Newton vs integration to equilibrium (values and gradients),
finite differences, the strong-feedback limit of the kinase model, and loud failures."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf import RESULTS
from adprf._ligands import Ligands
from adprf.cells import (
    AdaptiveProofreading,
    KinaseFeedback,
    KineticProofreading,
    SHP1Feedback,
    steady_state,
    time_course,
)

with jax.enable_x64(True):  # the rates are array leaves, float64 when built inside
    MODELS = {
        "kpr": KineticProofreading(),
        "kpr-excess": KineticProofreading(N=3, ligand_excess=True),
        "shp1": SHP1Feedback(),
        "kinase-2-1": KinaseFeedback(2, 1),
        "kinase-4-2": KinaseFeedback(4, 2),
        "kinase-1-0": KinaseFeedback(1, 0),
    }
MIXTURE = ([6.0, 1.0], [2e3, 2e4])  # agonists + an excess of weaker ligands


def _lig(tau, amount):
    return Ligands(jnp.asarray(tau, jnp.float64), jnp.asarray(amount, jnp.float64))


@eqx.filter_jit
def _value_and_grad(model, ligands, method):
    return jax.value_and_grad(lambda lig: steady_state(model, lig, method=method).output)(ligands)


@pytest.mark.parametrize("name", MODELS)
def test_three_methods_agree_in_value_and_gradient(name):
    model = MODELS[name]
    with jax.enable_x64(True):
        lig = _lig(*MIXTURE)
        results = {m: _value_and_grad(model, lig, m) for m in ("closed-form", "newton", "ode")}
        value, grad = results["closed-form"]
        assert value > 0
        for method, (v, g) in results.items():
            np.testing.assert_allclose(v, value, rtol=1e-8, err_msg=method)
            np.testing.assert_allclose(g.tau, grad.tau, rtol=1e-6, err_msg=method)
            np.testing.assert_allclose(g.amount, grad.amount, rtol=1e-6, err_msg=method)
        # central finite differences on the closed form (float64, relative step 1e-6)
        out = eqx.filter_jit(lambda lig: steady_state(model, lig).output)
        for leaf, index in (("tau", 0), ("tau", 1), ("amount", 0), ("amount", 1)):
            x = getattr(lig, leaf)
            h = 1e-6 * float(x[index])
            plus = eqx.tree_at(lambda l: getattr(l, leaf), lig, x.at[index].add(h))
            minus = eqx.tree_at(lambda l: getattr(l, leaf), lig, x.at[index].add(-h))
            fd = (out(plus) - out(minus)) / (2 * h)
            np.testing.assert_allclose(getattr(grad, leaf)[index], fd, rtol=2e-5, atol=1e-12 * abs(value) / h)


def test_kpr_closed_form_is_mckeithan():
    """One species: C_T from the quadratic; C_n = C_T r^n/(1 + φτ), C_N = C_T r^N."""
    with jax.enable_x64(True):
        model = KineticProofreading(N=4)
        L, R, k, phi = 1e4, float(model.receptors), float(model.kappa), float(model.phi)
        for tau in (0.5, 3.0, 10.0):
            C = steady_state(model, _lig([tau], [L]), method="newton").state[0]
            a = L + R + 1 / (k * tau)
            c_t = 0.5 * (a - np.sqrt(a * a - 4 * L * R))
            r = phi * tau / (1 + phi * tau)
            expected = [c_t * r**n / (1 + phi * tau) for n in range(4)] + [c_t * r**4]
            np.testing.assert_allclose(C, expected, rtol=1e-9)
        # the documented default threshold: 10^4 ligands at τ = 4 s
        np.testing.assert_allclose(
            KineticProofreading()(_lig([4.0], [1e4])), KineticProofreading().threshold, rtol=0.05
        )


def test_shp1_closed_form_satisfies_its_ode_and_threshold_default():
    with jax.enable_x64(True):
        model = SHP1Feedback()
        lig = _lig([4.0], [1e4])
        sol = steady_state(model, lig)
        residual = model.vector_field(0.0, sol.state, lig)
        assert np.max(np.abs(residual)) < 1e-9 * np.max(sol.state)
        # the documented default: 10^4 ligands at τ = 4 s sit at the threshold (τ_c ≈ 4 s)
        np.testing.assert_allclose(sol.output, model.threshold, rtol=0.05)
        # near-absolute discrimination: 100× more ligands changes the output less than 2×
        many = steady_state(model, _lig([4.0], [1e5])).output
        few = steady_state(model, _lig([4.0], [1e3])).output
        assert 0.5 < many / few < 2


@pytest.mark.parametrize("N, m", [(1, 0), (2, 1), (4, 2)])
def test_kinase_feedback_tends_to_T_N_plus_1_m_plus_1(N, m):
    """Deeper into the limit (φ, κ → 0 by 10×, δ up so that δ Σ C_m/ε stays as large) the
    error to T_{N+1,m+1} shrinks ~10×."""
    tau, amount = [4.0, 0.8, 2.0], [1e3, 5e3, 2e3]
    errors = []
    with jax.enable_x64(True):
        lig = _lig(tau, amount)
        for depth in (1.0, 0.1, 0.01):
            model = KinaseFeedback(N, m, phi=0.01 * depth, kappa=1e-6 * depth, delta=1e4 / depth ** (m + 2))
            limit = model.limit()
            assert (limit.N, limit.m) == (N + 1, m + 1)
            ratio = steady_state(model, lig).output / model.threshold
            errors.append(abs(float(ratio / limit(lig)) - 1))
    assert errors[0] < 0.03
    assert errors[1] < errors[0] / 5 and errors[2] < errors[1] / 5, errors


def test_batched_and_decision():
    with jax.enable_x64(True):
        model = SHP1Feedback()
        batch = _lig([[8.0, 0.5], [8.0, 2.0], [2.0, 1.0]], [[1e4, 1e3], [1e4, 1e5], [1e4, 1e4]])
        out = jax.vmap(model)(batch)
        newton = jax.vmap(lambda lig: steady_state(model, lig, method="newton").output)(batch)
        np.testing.assert_allclose(out, newton, rtol=1e-8)
        assert list(jax.vmap(model.decide)(batch)) == list(out > model.threshold)


def test_failures_are_loud():
    with jax.enable_x64(True):
        model = SHP1Feedback()
        lig = _lig(*MIXTURE)
        with pytest.raises(Exception, match=r"SHP1Feedback steady state \(ode\): .*max_steps"):
            steady_state(model, lig, method="ode", max_steps=5)
        sol = steady_state(model, lig, method="ode", max_steps=5, throw=False)
        assert sol.result == RESULTS.max_steps_reached and np.isnan(sol.output) and "max_steps" in sol.message()
        assert not sol.successful
        sol = steady_state(model, lig, method="newton", max_steps=1, throw=False)
        assert sol.result == RESULTS.nonlinear_divergence and np.isnan(sol.output)
    with pytest.raises(RuntimeError, match="enable_x64"):
        model(Ligands.of([3.0], [1e3]))
    with pytest.raises(ValueError, match="method"):
        with jax.enable_x64(True):
            steady_state(model, _lig(*MIXTURE), method="euler")
    with pytest.raises(ValueError, match="m < N"):
        KinaseFeedback(2, 2)


def test_time_course_relaxes_to_the_steady_state():
    with jax.enable_x64(True):
        model = KinaseFeedback(2, 1)
        lig = _lig(*MIXTURE)
        times = np.concatenate([[0.0], np.logspace(-2, 5, 30)])
        states, outputs = time_course(model, lig, times)
        assert outputs.shape == (31,) and float(outputs[0]) == 0.0
        np.testing.assert_allclose(outputs[-1], steady_state(model, lig).output, rtol=1e-5)
        np.testing.assert_allclose(states[1][0], model.K_tot)  # the kinase starts fully active
    with pytest.raises(ValueError, match="increasing"):
        with jax.enable_x64(True):
            time_course(model, lig, [1.0, 0.5])


def test_solver_choice_on_the_model():
    with jax.enable_x64(True):
        lig = _lig(*MIXTURE)
        a = SHP1Feedback()(lig)
        b = SHP1Feedback(solver="newton")(lig)
        np.testing.assert_allclose(a, b, rtol=1e-9)
    assert isinstance(KinaseFeedback(2, 1).limit(), AdaptiveProofreading)
