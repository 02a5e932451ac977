"""PGD adversarial training through the engine: the inner attack (`perturb`), the loss, training."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adprf.attacks import PGD, attack, linf, perturb, robust_accuracy
from adprf.nets import MLP, AdversarialLoss, madry_loss, train_classifier


def _corner(model, x, y, eps):
    """The L∞ worst case of a two-class linear model: every coordinate moves ε against the label."""
    away = jnp.where(y == 1, -1.0, 1.0)[:, None]
    return x + eps * away * jnp.sign(model.w)[None, :]


def test_perturb_runs_every_step_and_keeps_the_highest_loss(linear_problem):
    model, x, y, _ = linear_problem
    eps = 0.25
    method = PGD(steps=30, step_size=0.02, random_start=False, stop_at_success=False)
    adversarial = jax.jit(
        lambda m, a, b: perturb(m, a, b, method=method, threat=linf(eps, bounds=None), key=jax.random.PRNGKey(0))
    )(model, x, y)
    # Cross-entropy of a linear model grows monotonically towards the corner, which 30 × 0.02
    # reaches: the highest-loss iterate is the corner, for fooled and robust examples alike.
    np.testing.assert_allclose(adversarial, _corner(model, x, y, eps), atol=1e-5)
    # With early stopping the same attack keeps the first success instead (a smaller move).
    early = attack(
        model,
        x,
        y,
        method=PGD(steps=30, step_size=0.02, random_start=False),
        threat=linf(eps, bounds=None),
        key=jax.random.PRNGKey(0),
    )
    moved = jnp.max(jnp.abs(early.adversarial - x), axis=1)
    assert bool(jnp.any(early.success & (moved < eps - 1e-3)))


def test_adversarial_loss_is_the_loss_at_the_attack_without_its_gradient(linear_problem):
    model, x, y, _ = linear_problem
    loss_fn = AdversarialLoss(
        linf(0.25, bounds=None), PGD(steps=30, step_size=0.02, random_start=False, stop_at_success=False)
    )
    key = jax.random.PRNGKey(0)
    value, grads = eqx.filter_value_and_grad(lambda m: loss_fn(m, x, y, key))(model)
    corner = _corner(model, x, y, 0.25)

    def at_corner(m):  # Danskin: the gradient is that of the loss at the fixed maximiser
        return optax.softmax_cross_entropy_with_integer_labels(jax.vmap(m)(corner), y).mean()

    expected_value, expected = eqx.filter_value_and_grad(at_corner)(model)
    assert float(value) == pytest.approx(float(expected_value), rel=1e-5)
    np.testing.assert_allclose(grads.w, expected.w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grads.b, expected.b, rtol=1e-4, atol=1e-6)


def test_warmup_ramps_epsilon():
    loss_fn = madry_loss(0.3, warmup=0.5)
    radii = [float(loss_fn.at_epoch(e, 10).threat.epsilon) for e in range(10)]
    np.testing.assert_allclose(radii, [0.06, 0.12, 0.18, 0.24, 0.3, 0.3, 0.3, 0.3, 0.3, 0.3], rtol=1e-6)
    assert madry_loss(0.3).at_epoch(0, 10) is not None and float(
        madry_loss(0.3).at_epoch(0, 10).threat.epsilon
    ) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="warmup"):
        madry_loss(0.3, warmup=2.0)
    with pytest.raises(ValueError, match="epsilon"):
        madry_loss(0.0)


def test_adversarial_training_buys_robustness(mnist_small, trained_mlp):
    xtr, ytr, xte, yte = mnist_small
    robust, _ = train_classifier(
        MLP(width=64, depth=1, key=jax.random.PRNGKey(0)),
        xtr,
        ytr,
        key=jax.random.PRNGKey(1),
        epochs=5,
        batch_size=50,
        progress=False,
        loss_fn=madry_loss(0.1, steps=10, step_size=0.025),
    )
    pgd = PGD(steps=20, step_size=0.01)
    natural = robust_accuracy(trained_mlp, xte, yte, [0.0, 0.1], pgd, key=jax.random.PRNGKey(2)).accuracy
    trained = robust_accuracy(robust, xte, yte, [0.0, 0.1], pgd, key=jax.random.PRNGKey(2)).accuracy
    assert float(trained[0]) > 0.6  # still a classifier
    assert float(trained[1]) > float(natural[1]) + 0.2  # and much more robust at ε = 0.1
