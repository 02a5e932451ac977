"""Eyelid conditioning with the cerebellar rate network, and attacks on its temporal stimulus
through the one engine: in a linear regime the engine reaches the exact L∞ optimum written out in
NumPy (superposed two-exponential step responses); on the trained task the CR is timed to the US
and PGD lowers it monotonically in ε."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf.attacks import FGSM, PGD, ScalarThreshold, attack, linf, run_attack
from adprf.cerebellum._conditioning import EyelidConditioning
from adprf.cerebellum._dynamics import CerebellarDynamics, ResponseAt, spread_time_constants
from adprf.cerebellum._model import Cerebellum


def step_response(t, tau_g, tau_p):
    """Purkinje response of one granule/Purkinje pair to a unit step of drive at t = 0."""
    t = np.maximum(t, 0.0)
    return 1 - (tau_g * np.exp(-t / tau_g) - tau_p * np.exp(-t / tau_p)) / (tau_g - tau_p)


def linear_gradient(model, tau_g, tau_p, dt, bins, index):
    """∂ŷ(t_index)/∂x for a network whose drives never rectify (J ≥ 0, x ≥ 0): a pulse of drive in
    bin i is a step at i·dt minus a step at (i + 1)·dt, weighted by W and read through J."""
    tau_g, J = np.asarray(tau_g, np.float64), np.asarray(model.granule.weight, np.float64)
    w = np.asarray(model.purkinje.weight, np.float64)[:, 0]
    t = (index + 1) * dt
    grad = np.zeros((bins, J.shape[0]))
    for i in range(bins):
        pulse = step_response(t - i * dt, tau_g, tau_p) - step_response(t - (i + 1) * dt, tau_g, tau_p)
        grad[i] = J @ (w * pulse)
    return grad


def test_engine_reaches_the_linear_optimum():
    """With J ≥ 0 every drive stays ≥ 0, ReLU is the identity and ŷ(t) is linear in the stimulus:
    the lowest ŷ over the L∞ ball ∩ [0, 1] is at x − ε sign(∂ŷ/∂x), clipped. FGSM takes exactly
    that step; PGD (random start, 30 steps) must reach the same value; bins after the read-out
    have no gradient and FGSM leaves them alone."""
    d, m, bins, index, dt, tau_p, eps = 6, 12, 8, 5, 10.0, 7.0, 0.15
    model = Cerebellum(d, m, ltd=False, outputs=1, key=jax.random.PRNGKey(0))
    model = eqx.tree_at(lambda c: c.granule.weight, model, jnp.abs(model.granule.weight))
    tau = spread_time_constants(m, 3.0, 60.0)
    readout = ResponseAt(CerebellarDynamics(model, tau, tau_p, dt=dt, rtol=1e-7, atol=1e-8), index)
    x = jax.random.uniform(jax.random.PRNGKey(1), (5, bins, d))
    grad = linear_gradient(model, tau, tau_p, dt, bins, index)
    assert np.all(grad[index + 1 :] == 0) and np.all(grad[: index + 1] != 0)
    optimum = np.clip(np.asarray(x, np.float64) - eps * np.sign(grad), 0.0, 1.0)
    clean_value = np.sum(grad * np.asarray(x, np.float64), axis=(1, 2))
    best_value = np.sum(grad * optimum, axis=(1, 2))
    evaluate = eqx.filter_jit(lambda s: jax.vmap(readout)(s))
    np.testing.assert_allclose(evaluate(x), clean_value, rtol=1e-5, atol=1e-6)  # the linear model is right

    never = ScalarThreshold(-10.0, "below")  # unreachable: every method runs all its steps
    assert np.all(best_value > -10.0)  # (a float32 loss near -1e6 would round the iterates' ranking)
    fgsm = attack(readout, x, method=FGSM(), threat=linf(eps), objective=never, key=jax.random.PRNGKey(2))
    np.testing.assert_allclose(fgsm.adversarial, optimum, atol=1e-6)
    pgd = attack(readout, x, method=PGD(steps=30), threat=linf(eps), objective=never, key=jax.random.PRNGKey(3))
    for result in (fgsm, pgd):
        np.testing.assert_allclose(evaluate(result.adversarial), best_value, rtol=1e-4, atol=1e-5)
    moved = np.asarray(pgd.adversarial)[:, : index + 1]
    np.testing.assert_allclose(moved, optimum[:, : index + 1], atol=1e-5)


@pytest.fixture(scope="module")
def conditioned():
    task = EyelidConditioning(isi=300.0, duration=400.0, dt=20.0, noise=0.05)
    d, m = 20, 100
    k_model, k_tone, k_train, k_test = jax.random.split(jax.random.PRNGKey(0), 4)
    model = Cerebellum(d, m, ltd=False, outputs=1, key=k_model)
    dynamics = CerebellarDynamics(model, spread_time_constants(m, 10.0, 1000.0), 10.0, dt=task.dt, rtol=1e-4)
    tone = task.tone(d, key=k_tone)
    trained = task.fit(dynamics, task.trials(tone, 20, key=k_train), ridge=1e-5)
    test = task.trials(tone, 6, key=k_test)
    return task, trained, test


def test_conditioned_response_is_timed_to_the_us(conditioned):
    task, trained, test = conditioned
    trajectory = eqx.filter_jit(lambda s: jax.vmap(trained)(s))(test)[..., 0]  # (trials, T)
    assert trajectory.shape == (6, task.bins)
    peak = np.asarray(task.times())[np.argmax(np.asarray(trajectory), axis=1)]
    assert np.all(np.abs(peak - task.isi) <= task.dt)
    cr = np.asarray(trajectory[:, task.us_bin])
    assert np.all(cr > task.threshold) and np.all(np.abs(cr - 1.0) < 0.25)
    assert np.all(np.abs(np.asarray(trajectory[:, 0])) < 0.2)  # no CR at CS onset
    np.testing.assert_allclose(eqx.filter_jit(lambda s: jax.vmap(task.response(trained))(s))(test), cr, rtol=1e-6)


def test_attack_suppresses_the_cr_monotonically(conditioned):
    task, trained, test = conditioned
    epsilons = [0.0, 0.02, 0.05, 0.2]
    result = run_attack(
        task.response(trained),
        test,
        None,
        epsilons,
        threat=linf(0.0),
        key=jax.random.PRNGKey(4),
        method=PGD(steps=10, stop_at_success=False),
        objective=task.objective(),
        batch_size=16,
    )
    cr = np.asarray(eqx.filter_jit(lambda s: jax.vmap(jax.vmap(task.response(trained)))(s))(result.adversarial))
    mean = cr.mean(axis=1)
    assert np.all(np.diff(mean) < 0), mean
    assert np.all(np.asarray(result.success) == (cr <= task.threshold))
    suppressed = np.asarray(result.success).mean(axis=1)
    assert suppressed[0] == 0 and np.all(np.diff(suppressed) >= 0) and suppressed[-1] == 1
    delta = np.abs(np.asarray(result.adversarial) - np.asarray(test)[None])
    assert np.all(delta.max(axis=(1, 2, 3)) <= np.asarray(epsilons) + 1e-6)
    assert np.all((np.asarray(result.adversarial) >= 0) & (np.asarray(result.adversarial) <= 1))


def test_task_arguments_are_checked():
    with pytest.raises(ValueError, match="multiple of the bin width"):
        EyelidConditioning(isi=310.0, dt=20.0)
    with pytest.raises(ValueError, match="within the trial"):
        EyelidConditioning(isi=600.0, duration=400.0)
    task = EyelidConditioning()
    model = Cerebellum(4, 5, ltd=False, outputs=1, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="dt=20.0"):
        task.fit(CerebellarDynamics(model, 5.0, 5.0, dt=10.0), jnp.zeros((2, task.bins, 4)))
    with pytest.raises(ValueError, match="shape"):
        task.fit(CerebellarDynamics(model, 5.0, 5.0, dt=20.0), jnp.zeros((2, 3, 4)))
    assert task.us_bin == 14 and np.isclose(float(task.target()[task.us_bin]), 1.0)
