"""Classifiers and their training on real MNIST digits."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf.nets import MLP, MadryCNN, accuracy, predict, train_classifier


def test_shapes_and_parameter_count():
    cnn = MadryCNN(key=jax.random.PRNGKey(0))
    assert cnn(jnp.zeros((28, 28))).shape == (10,)
    assert cnn(jnp.zeros((1, 28, 28))).shape == (10,)
    # Madry et al.: 5·5·32+32 + 5·5·32·64+64 + 3136·1024+1024 + 1024·10+10 parameters
    n = sum(a.size for a in jax.tree.leaves(cnn) if hasattr(a, "size"))
    assert n == 832 + 51264 + 3212288 + 10250
    assert MLP(key=jax.random.PRNGKey(0))(jnp.zeros((28, 28))).shape == (10,)


def test_training_learns_real_digits(trained_mlp, mnist_small):
    _, _, x, y = mnist_small
    assert accuracy(trained_mlp, x, y) > 0.8
    pred = predict(trained_mlp, x, batch_size=64)
    np.testing.assert_array_equal(pred, jnp.argmax(jax.vmap(trained_mlp)(x), 1))


def test_cnn_one_epoch_beats_chance(mnist_small):
    xtr, ytr, x, y = mnist_small
    model, history = train_classifier(
        MadryCNN(channels=(8, 16), hidden=64, key=jax.random.PRNGKey(0)),
        xtr[:600],
        ytr[:600],
        key=jax.random.PRNGKey(1),
        epochs=3,
        batch_size=50,
        eval_data=(x, y),
        progress=False,
    )
    assert history["loss"][-1] < history["loss"][0]
    assert history["eval_accuracy"][-1] > 0.4  # chance: 0.1


def test_training_rejects_bad_arguments(mnist_small):
    xtr, ytr, _, _ = mnist_small
    model = MLP(width=8, depth=1, key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="labels"):
        train_classifier(model, xtr, ytr[:10], key=jax.random.PRNGKey(0))
    with pytest.raises(ValueError, match="batch_size"):
        train_classifier(model, xtr[:10], ytr[:10], key=jax.random.PRNGKey(0), batch_size=100)


def test_conv_vjp_matches_autodiff_of_lax_conv():
    """The hand-written VJP (input and kernel gradients) against JAX's own."""
    from jax import lax

    from adprf.nets._conv import conv2d_same

    x = jax.random.normal(jax.random.PRNGKey(0), (3, 12, 12, 4))
    k = jax.random.normal(jax.random.PRNGKey(1), (5, 5, 4, 6))

    def reference(x, k):
        return lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    loss = lambda f: lambda x, k: jnp.sum(jnp.sin(f(x, k)))
    ours, theirs = jax.grad(loss(conv2d_same), (0, 1))(x, k), jax.grad(loss(reference), (0, 1))(x, k)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(conv2d_same(x, k), reference(x, k), rtol=1e-5, atol=1e-5)
