"""Classifiers and their training on real MNIST digits."""

import equinox as eqx
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
    # a NaN pixel or an out-of-range label used to surface as "training diverged (loss nan)"
    xs, ys = jnp.asarray(xtr[:10]), jnp.asarray(ytr[:10])
    with pytest.raises(ValueError, match="NaN or infinite"):
        train_classifier(model, xs.at[0, 3].set(jnp.nan), ys, key=jax.random.PRNGKey(0), batch_size=5)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\).*example 2 has 12"):
        train_classifier(model, xs, ys.at[2].set(12), key=jax.random.PRNGKey(0), batch_size=5)
    with pytest.raises(ValueError, match="example 0 has -1"):
        train_classifier(model, xs, ys.at[0].set(-1), key=jax.random.PRNGKey(0), batch_size=5)


def test_conv_vjp_matches_autodiff_of_lax_conv():
    """The hand-written input gradient and JAX's kernel gradient against JAX's own rules, on a
    batch, one example at a time under vmap, and through a second derivative."""
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
    # one example at a time under vmap, as a training step calls a model: the kernel gradient
    # summed over the batch
    per_example = lambda f: lambda x, k: jnp.sum(jnp.sin(jax.vmap(lambda xi: f(xi[None], k)[0])(x)))
    ours, theirs = jax.grad(per_example(conv2d_same), (0, 1))(x, k), jax.grad(loss(reference), (0, 1))(x, k)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-4, atol=1e-4)
    # a second derivative through the input gradient: d/dk of |∂loss/∂x|²
    penalty = lambda f: lambda k: jnp.sum(jax.grad(loss(f))(x, k) ** 2)
    np.testing.assert_allclose(jax.grad(penalty(conv2d_same))(k), jax.grad(penalty(reference))(k), rtol=1e-3, atol=1e-3)


# --- defences as data (adprf.nets._defences) -------------------------------------------


def test_build_filter_from_every_defence_spec():
    from adprf.nets import DEFENCES, Filtered, HardThreshold, Hill, ProofreadingLayer, build_filter

    assert build_filter(DEFENCES["natural"]) is None and build_filter(DEFENCES["adversarial"]) is None
    hill = build_filter(DEFENCES["hill-16-low"])
    assert isinstance(hill, Hill)
    # x^n / (x^n + θ^n) is ½ at the threshold θ = 0.3 and (1/2)^16 / (1 + (1/2)^16) at θ/2
    np.testing.assert_allclose(hill(jnp.array([0.3, 0.15])), [0.5, 2.0**-16 / (1 + 2.0**-16)], rtol=1e-5)
    hard = build_filter(DEFENCES["hard-threshold"])
    assert isinstance(hard, HardThreshold)
    np.testing.assert_array_equal(hard(jnp.array([0.2, 0.8])), [0.0, 1.0])
    layer = build_filter(DEFENCES["proofreading"])
    assert isinstance(layer, ProofreadingLayer) and (layer.N, layer.m) == (3, 2)
    assert float(build_filter({"filter": "power", "exponent": 2})(jnp.asarray(0.5))) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="unknown filter 'median'"):
        build_filter({"filter": "median"})
    model = Filtered(MLP(width=8, depth=1, key=jax.random.PRNGKey(0)), hill)
    assert model(jnp.zeros((28, 28))).shape == (10,)


def test_describe_defence_labels():
    from adprf.nets import DEFENCES, describe_defence

    labels = {name: describe_defence(spec) for name, spec in DEFENCES.items()}
    assert labels == {
        "natural": "natural",
        "hill-4": "Hill θ=0.5 n=4",
        "hill-16": "Hill θ=0.5 n=16",
        "hill-16-low": "Hill θ=0.3 n=16",
        "hard-threshold": "hard threshold θ=0.5",
        "proofreading": "proofreading N=3 m=2",
        "adversarial": "adversarial (PGD ε=0.3)",
    }
    assert describe_defence({"filter": "power", "exponent": 2}) == "power x^2"


def test_build_classifier_from_specs():
    from adprf.nets import CNN_CLASSIFIER, MLP_CLASSIFIER, build_classifier

    key = jax.random.PRNGKey(0)
    mlp = build_classifier(MLP_CLASSIFIER, key)
    assert isinstance(mlp, MLP) and mlp(jnp.zeros((28, 28))).shape == (10,)
    assert isinstance(build_classifier(CNN_CLASSIFIER, key), MadryCNN)
    # the same key gives the same initial weights; the spec's training entries are ignored
    same = build_classifier({"arch": "mlp", "width": 256, "depth": 2}, key)
    assert eqx.tree_equal(mlp, same)
    with pytest.raises(ValueError, match="unknown architecture 'vit'"):
        build_classifier({"arch": "vit"}, key)


def test_train_defence_trains_once_then_loads(tmp_path):
    from adprf._results import Run
    from adprf.nets import Filtered, train_defence

    classifier = {"arch": "mlp", "width": 8, "depth": 1, "epochs": 1, "batch_size": 200}
    spec = {"filter": "hill", "threshold": 0.5, "steepness": 4}
    model, seconds = train_defence(Run("a", "quick", {}, tmp_path), spec, classifier, "mnist-subset", 0)
    assert isinstance(model, Filtered) and seconds > 0
    # another run naming the same specs loads the shared model (0 s of training)
    again, seconds = train_defence(Run("b", "quick", {}, tmp_path), dict(spec), dict(classifier), "mnist-subset", 0)
    assert seconds == 0.0
    assert eqx.tree_equal(model, again)
    assert len(list((tmp_path / "_models").glob("*.eqx"))) == 1
