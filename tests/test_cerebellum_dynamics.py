"""The cerebellar rate network against independent oracles: the static `Cerebellum` (its steady
state), the closed-form two-exponential response of one granule/Purkinje pair to a step, an exact
bin-by-bin propagation written in NumPy (the network is linear inside a bin), finite
differences of the stimulus gradient; failures are loud."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf import RESULTS
from adprf.cerebellum._dynamics import CerebellarDynamics, ResponseAt, spread_time_constants
from adprf.cerebellum._model import Cerebellum


def exact_trajectory(drive, tau_g, tau_p, weight, mean, dt):
    """ŷ at the end of every bin, bin by bin in closed form (NumPy, float64).

    Inside a bin of constant drive g, τ_g h' = g − h and τ_p y_j' = h_j − μ_j − y_j (ŷ = Σ_j W_j y_j)
    solve to h(s) = g + (h₀ − g) e^{−s/τ_g} and
    y_j(s) = (g − μ) + (y₀ − g + μ) e^{−s/τ_p} + (h₀ − g) τ_g/(τ_g − τ_p) (e^{−s/τ_g} − e^{−s/τ_p}).
    """
    drive, tau_g, weight, mean = (np.asarray(a, np.float64) for a in (drive, tau_g, weight, mean))
    h, y = np.zeros_like(tau_g), -mean.copy()
    eg, ep = np.exp(-dt / tau_g), np.exp(-dt / tau_p)
    out = []
    for g in drive:
        y = (g - mean) + (y - g + mean) * ep + (h - g) * tau_g / (tau_g - tau_p) * (eg - ep)
        h = g + (h - g) * eg
        out.append(y @ weight)
    return np.asarray(out)


def _model(connectivity, ltd, *, inputs=30, width=40, outputs=3, seed=0):
    k_model, k_mean = jax.random.split(jax.random.PRNGKey(seed))
    model = Cerebellum(
        inputs,
        width,
        connectivity=connectivity,
        k=4 if connectivity == "sparse" else None,
        ltd=ltd,
        outputs=outputs,
        key=k_model,
    )
    if ltd:  # a non-trivial running mean, as after training
        model = eqx.tree_at(lambda m: m.ltd.mean, model, 0.3 * jax.random.uniform(k_mean, (width,)))
    return model


@pytest.mark.parametrize("connectivity", ["dense", "sparse"])
@pytest.mark.parametrize("ltd", [False, True])
def test_steady_state_is_the_static_model(connectivity, ltd):
    model = _model(connectivity, ltd)
    tau = spread_time_constants(model.width, 2.0, 20.0)
    # one bin of constant input, 40 slowest time constants long: e^{-40} is far below float32
    dynamics = CerebellarDynamics(model, tau, 5.0, dt=800.0, rtol=1e-6, atol=1e-7)
    x = jax.random.uniform(jax.random.PRNGKey(1), (8, 5, 6))  # 8 images of 5 × 6 = 30 inputs
    ode = eqx.filter_jit(lambda x: jax.vmap(lambda xi: dynamics(xi[None])[-1])(x))(x)
    static = jax.vmap(model)(x)
    np.testing.assert_allclose(ode, static, rtol=1e-5, atol=1e-5)
    assert float(jnp.max(jnp.abs(static))) > 0.1  # not a trivially small output


def test_step_response_of_one_pair_is_two_exponentials():
    """One granule cell (τ_g = 30) reading one input with weight a, one Purkinje cell (τ_p = 8)
    with weight w, LTD mean μ; the input steps from 0 to 1 at t = 0:
    ŷ(t) = w [a (1 − (τ_g e^{−t/τ_g} − τ_p e^{−t/τ_p}) / (τ_g − τ_p)) − μ]."""
    a, w, mu, tau_g, tau_p, dt = 0.7, -1.3, 0.2, 30.0, 8.0, 5.0
    model = _model("dense", True, inputs=1, width=1, outputs=1)
    model = eqx.tree_at(
        lambda m: (m.granule.weight, m.purkinje.weight, m.ltd.mean),
        model,
        (jnp.full((1, 1), a), jnp.full((1, 1), w), jnp.full((1,), mu)),
    )
    dynamics = CerebellarDynamics(model, tau_g, tau_p, dt=dt, rtol=1e-7, atol=1e-8)
    trajectory = eqx.filter_jit(dynamics.solve)(jnp.ones((40, 1)))
    t = np.arange(1, 41) * dt
    expected = w * (a * (1 - (tau_g * np.exp(-t / tau_g) - tau_p * np.exp(-t / tau_p)) / (tau_g - tau_p)) - mu)
    np.testing.assert_allclose(trajectory.times, t, rtol=1e-6)
    np.testing.assert_allclose(trajectory.purkinje[:, 0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trajectory.granule[:, 0], a * (1 - np.exp(-t / tau_g)), rtol=1e-5, atol=1e-6)
    assert trajectory.result == RESULTS.successful and trajectory.successful


@pytest.mark.parametrize("connectivity", ["dense", "sparse"])
def test_time_varying_stimulus_matches_exact_propagation(connectivity):
    """Heterogeneous τ_g, a random stimulus changing every bin, LTD: float64 against the NumPy
    closed form (ReLU drives computed in NumPy from the dense connectivity)."""
    with jax.enable_x64(True):
        model = _model(connectivity, True, width=25)
        tau = spread_time_constants(model.width, 3.0, 60.0)
        dynamics = CerebellarDynamics(model, tau, 7.0, dt=10.0, rtol=1e-10, atol=1e-12)
        stimulus = jax.random.uniform(jax.random.PRNGKey(2), (12, 30), jnp.float64)
        got = eqx.filter_jit(dynamics)(stimulus)
        drive = np.maximum(np.asarray(stimulus) @ np.asarray(model.granule.as_dense()), 0.0)
        expected = exact_trajectory(drive, tau, 7.0, model.purkinje.weight, model.ltd.mean, 10.0)
        assert got.dtype == jnp.float64
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-10)


def test_basis_times_weights_is_the_output():
    model = _model("dense", True)
    dynamics = CerebellarDynamics(model, spread_time_constants(model.width, 2.0, 50.0), 5.0, dt=10.0)
    stimulus = jax.random.uniform(jax.random.PRNGKey(3), (9, 30))
    basis, output = eqx.filter_jit(lambda s: (dynamics.basis(s), dynamics(s)))(stimulus)
    np.testing.assert_allclose(basis @ model.purkinje.weight, output, rtol=1e-4, atol=1e-5)


def test_stimulus_gradient_matches_finite_differences():
    with jax.enable_x64(True):
        model = _model("dense", True)
        dynamics = CerebellarDynamics(
            model, spread_time_constants(model.width, 2.0, 40.0), 5.0, dt=8.0, rtol=1e-10, atol=1e-12
        )
        readout = eqx.filter_jit(ResponseAt(dynamics, 4, output=1))
        stimulus = jax.random.uniform(jax.random.PRNGKey(4), (7, 30), jnp.float64)
        grad = eqx.filter_jit(lambda s: jax.grad(readout)(s))(stimulus)
        assert np.all(np.asarray(grad[5:]) == 0.0)  # causal: bins after the read-out do not count
        h = 1e-5
        for seed in range(3):
            v = jax.random.normal(jax.random.PRNGKey(10 + seed), stimulus.shape, jnp.float64)
            fd = (readout(stimulus + h * v) - readout(stimulus - h * v)) / (2 * h)
            np.testing.assert_allclose(jnp.vdot(grad, v), fd, rtol=1e-6)


def test_failures_are_loud():
    model = _model("dense", False)
    dynamics = CerebellarDynamics(model, 1.0, 1.0, dt=1000.0, max_steps=4)
    stimulus = jnp.ones((2, 30))
    trajectory = eqx.filter_jit(lambda s: dynamics.solve(s, throw=False))(stimulus)
    assert trajectory.result == RESULTS.max_steps_reached and "max_steps" in trajectory.message()
    assert np.all(np.isnan(trajectory.purkinje))
    with pytest.raises(Exception, match="max_steps"):
        jax.block_until_ready(eqx.filter_jit(dynamics)(stimulus))
    with pytest.raises(Exception, match="max_steps"):  # under vmap and value_and_grad, as the engine calls it
        evaluate = eqx.filter_jit(lambda s: jax.vmap(jax.value_and_grad(ResponseAt(dynamics, 1)))(s))
        jax.block_until_ready(evaluate(stimulus[None]))
    nan = eqx.filter_jit(lambda s: CerebellarDynamics(model, 1.0, 1.0, dt=1.0).solve(s, throw=False))(
        stimulus.at[0, 0].set(jnp.nan)
    )
    failed = (RESULTS.max_steps_reached, RESULTS.integration_failed, RESULTS.nonfinite)
    assert any(nan.result == reason for reason in failed) and np.all(np.isnan(nan.purkinje))


def test_bad_arguments_are_named():
    model = _model("dense", False)
    with pytest.raises(ValueError, match="one time constant per granule cell"):
        CerebellarDynamics(model, jnp.ones(3), 1.0, dt=1.0)
    with pytest.raises(ValueError, match="finite and > 0"):
        CerebellarDynamics(model, -1.0, 1.0, dt=1.0)
    with pytest.raises(ValueError, match="dt must be"):
        CerebellarDynamics(model, 1.0, 1.0, dt=0.0)
    with pytest.raises(ValueError, match="purkinje_time must be"):
        CerebellarDynamics(model, 1.0, float("inf"), dt=1.0)
    with pytest.raises(ValueError, match="fastest"):
        spread_time_constants(4, 10.0, 1.0)
    dynamics = CerebellarDynamics(model, 1.0, 1.0, dt=1.0)
    with pytest.raises(ValueError, match="leading time axis"):
        dynamics(jnp.ones(30))
    with pytest.raises(ValueError, match="must hold the granule layer's 30 inputs"):
        dynamics(jnp.ones((3, 20)))
    with pytest.raises(ValueError, match=r"x\[None\]"):
        dynamics(jnp.ones((5, 6)))  # one 5 × 6 image without its time axis
    with pytest.raises(ValueError, match="reads bin 5"):
        ResponseAt(dynamics, 5)(jnp.ones((3, 30)))
