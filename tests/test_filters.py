"""Biomimetic input filters: closed forms, limits, the proofreading layer against T_{N,m},
and the straight-through (BPDA) view through a filter."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._ligands import Ligands
from adprf.attacks import FGSM, attack, linf, straight_through
from adprf.cells import AdaptiveProofreading
from adprf.nets import MLP
from adprf.nets._filters import Filtered, HardThreshold, Hill, PowerLaw, ProofreadingLayer

X = jnp.linspace(0.0, 1.0, 101)


def test_hill_is_half_at_threshold_and_tends_to_the_hard_threshold():
    for theta in (0.3, 0.5, 0.7):
        np.testing.assert_allclose(Hill(theta, 3.0)(jnp.asarray(theta)), 0.5, rtol=1e-6)
    away = jnp.abs(X - 0.5) > 0.05
    gaps = [float(jnp.max(jnp.abs(Hill(0.5, n)(X) - HardThreshold(0.5)(X))[away])) for n in (4.0, 16.0, 64.0)]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 1e-2
    assert bool(jnp.all(jnp.diff(Hill(0.5, 8.0)(X)) >= 0))  # monotone
    assert bool(jnp.all(jnp.isfinite(Hill(0.5, 500.0)(X))))  # no overflow at large n


def test_flat_near_zero_and_closed_form_derivatives():
    for n in (2.0, 3.5):
        g = jax.vmap(jax.grad(PowerLaw(n)))(X[1:])
        np.testing.assert_allclose(g, n * X[1:] ** (n - 1), rtol=1e-5)
        assert float(jax.grad(PowerLaw(n))(0.0)) == 0.0
    hill = Hill(0.5, 4.0)
    x = X[1:]
    expected = 4 * x**3 * 0.5**4 / (x**4 + 0.5**4) ** 2
    np.testing.assert_allclose(jax.vmap(jax.grad(hill))(x), expected, rtol=1e-4, atol=1e-7)
    assert float(hill(0.0)) == 0.0 and float(jax.grad(hill)(0.0)) == 0.0  # finite at a black pixel
    # n = 1 is x/(x + θ): slope 1/θ at a black pixel, not a floored 0.
    for theta in (0.25, 0.5):
        assert float(jax.grad(Hill(theta, 1.0))(0.0)) == pytest.approx(1 / theta, rel=1e-6)
    np.testing.assert_allclose(jax.vmap(jax.grad(Hill(0.5, 1.0)))(X), 0.5 / (X + 0.5) ** 2, rtol=1e-5)
    grads = jax.vmap(jax.grad(Hill(0.5, 500.0)))(X)
    assert bool(jnp.all(jnp.isfinite(grads)))  # no NaN from either branch
    assert float(jnp.max(jnp.abs(jax.grad(lambda z: jnp.sum(HardThreshold()(z)))(X)))) == 0.0


@pytest.mark.parametrize("N, m", [(1, 0), (3, 1), (3, 2), (5, 3)])
def test_proofreading_layer_averages_to_T_N_m(N, m):
    image = jax.random.uniform(jax.random.PRNGKey(N + m), (8, 8))
    layer = ProofreadingLayer(N, m, floor=1e-12)
    T = AdaptiveProofreading(N, m, tau_c=1.0)(Ligands(image.ravel(), jnp.ones(64)))
    np.testing.assert_allclose(jnp.mean(layer(image)), T, rtol=1e-4)
    assert layer(image).shape == image.shape
    assert bool(jnp.all(jnp.isfinite(layer(jnp.zeros((8, 8))))))


def test_filtered_classifier_and_straight_through():
    model = Filtered(MLP(64, 3, width=16, depth=1, key=jax.random.PRNGKey(0)), HardThreshold(0.5))
    x = jax.random.uniform(jax.random.PRNGKey(1), (8, 8))
    np.testing.assert_allclose(model(x), model.classifier(HardThreshold(0.5)(x)))
    loss = lambda mdl, z: mdl(z)[0]
    assert float(jnp.max(jnp.abs(jax.grad(loss, argnums=1)(model, x)))) == 0.0  # masked
    bpda = straight_through(model, "filter")
    np.testing.assert_allclose(bpda(x), model(x))  # same forward pass
    # the backward pass is the classifier's gradient at the filtered point
    expected = jax.grad(lambda z: model.classifier(z)[0])(HardThreshold(0.5)(x))
    np.testing.assert_allclose(jax.grad(loss, argnums=1)(bpda, x), expected, rtol=1e-6)
    # through the engine: FGSM without BPDA cannot move the input at all
    batch, labels = x[None], jnp.argmax(model(x))[None]
    res = attack(model, batch, labels, method=FGSM(), threat=linf(0.3), key=jax.random.PRNGKey(2))
    np.testing.assert_array_equal(res.adversarial, batch)


def test_filters_reject_bad_parameters():
    with pytest.raises(ValueError, match="threshold"):
        Hill(1.5, 2.0)
    with pytest.raises(ValueError, match="steepness"):
        Hill(0.5, 0.5)
    with pytest.raises(ValueError, match="exponent"):
        PowerLaw(0.5)
    with pytest.raises(ValueError, match="m < N"):
        ProofreadingLayer(2, 2)


def test_trained_in_place_in_front_of_a_classifier(mnist_small):
    """The filter is part of the model: training sees filtered pixels and the filter stays fixed."""
    from adprf.nets import accuracy, train_classifier

    xtr, ytr, xte, yte = mnist_small
    model = Filtered(MLP(width=64, depth=1, key=jax.random.PRNGKey(0)), Hill(0.5, 4.0))
    trained, _ = train_classifier(model, xtr, ytr, key=jax.random.PRNGKey(1), epochs=3, batch_size=50, progress=False)
    assert trained.filter == model.filter
    assert float(accuracy(trained, xte, yte)) > 0.7
