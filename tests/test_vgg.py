"""The VGG-style encoder and classifier: shapes, a NCHW lax reference, finite differences."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from adprf.nets._vgg import POOL, VGG_PLAN, VGGClassifier, VGGEncoder, scaled_plan

TINY = 1 / 16  # channels 4, 4, 8, 8, 16 × 4


def test_feature_count_and_shapes():
    model = eqx.filter_eval_shape(VGGClassifier, key=jax.random.PRNGKey(0))  # shapes only, nothing drawn
    assert model.encoder.features == 4096 == 4 * 4 * 256  # Yuezhang et al. 2021 (CIFAR-10) at width 1
    assert eqx.filter_eval_shape(model.encoder, jnp.zeros((32, 32, 3))).shape == (4096,)
    assert eqx.filter_eval_shape(model, jnp.zeros((32, 32, 3))).shape == (10,)
    convs = [(k.shape, b.shape) for k, b in zip(model.encoder.kernels, model.encoder.biases)]
    channels = [3] + [s for s in VGG_PLAN if s != POOL]
    assert convs == [((3, 3, a, b), (b,)) for a, b in zip(channels, channels[1:])]
    assert model.head.weight.shape == (10, 4096)
    small = VGGClassifier(0.25, classes=7, key=jax.random.PRNGKey(0))
    assert small.encoder.plan == (16, 16, POOL, 32, 32, POOL, 64, 64, 64, 64, POOL)
    assert small.encoder.features == 1024
    batched = eqx.filter_jit(lambda m, x: jax.vmap(m)(x))
    batch = batched(small, jnp.full((5, 32, 32, 3), 0.5))
    assert batch.shape == (5, 7) and bool(jnp.all(jnp.isfinite(batch)))
    # He initialisation keeps the signal alive through eight ReLU layers
    features = batched(small.encoder, jax.random.uniform(jax.random.PRNGKey(1), (5, 32, 32, 3)))
    assert 0.2 < float(jnp.mean(features > 0)) < 0.95 and 0.1 < float(jnp.sqrt(jnp.mean(features**2))) < 100
    assert VGGEncoder(TINY, image_size=8, key=jax.random.PRNGKey(0)).features == 16


def test_bad_arguments_are_named():
    encoder = VGGEncoder(TINY, key=jax.random.PRNGKey(0))
    # ours, or jaxtyping's runtime check of the "side side channels" annotation, which fires first in the tests
    with pytest.raises(
        (ValueError, TypeError), match=r"channel-last image of shape \(32, 32, 3\), got shape \(3, 32, 32\)|Type-check"
    ):
        encoder(jnp.zeros((3, 32, 32)))
    with pytest.raises(ValueError, match="multiple of 8"):
        VGGEncoder(key=jax.random.PRNGKey(0), image_size=28)
    with pytest.raises(ValueError, match="positive number"):
        scaled_plan(0.0)
    with pytest.raises(ValueError, match="one value per input channel"):
        VGGEncoder(in_channels=1, key=jax.random.PRNGKey(0))


def _reference(model: VGGClassifier, x: np.ndarray) -> np.ndarray:
    """The same network written independently: NCHW, lax convolutions, reduce_window pooling."""
    enc = model.encoder
    h = ((x - np.asarray(enc.mean)) / np.asarray(enc.std)).transpose(2, 0, 1)[None]  # (1, C, H, W)
    layers = iter(zip(enc.kernels, enc.biases))
    for step in enc.plan:
        if step == POOL:
            h = lax.reduce_window(h, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        else:
            kernel, bias = next(layers)
            h = lax.conv_general_dilated(h, jnp.transpose(kernel, (3, 2, 0, 1)), (1, 1), ((1, 1), (1, 1)))  # OIHW
            h = jax.nn.relu(h + bias[None, :, None, None])
    features = jnp.transpose(h[0], (1, 2, 0)).ravel()  # row, column, channel
    return np.asarray(model.head.weight @ features + model.head.bias)


def test_forward_matches_an_nchw_reference():
    model = VGGClassifier(TINY, image_size=16, key=jax.random.PRNGKey(3))
    x = np.asarray(jax.random.uniform(jax.random.PRNGKey(4), (16, 16, 3)))
    model = jax.tree.map(lambda a: a + 0.05 if eqx.is_inexact_array(a) else a, model)  # non-zero biases
    np.testing.assert_allclose(eqx.filter_jit(model)(jnp.asarray(x)), _reference(model, x), rtol=1e-5, atol=1e-5)


def test_gradients_match_finite_differences():
    """Input and parameter gradients of a tiny instance in float64 against central differences."""
    with jax.enable_x64(True):
        model = VGGClassifier(TINY, image_size=8, key=jax.random.PRNGKey(0))
        model = jax.tree.map(lambda a: a.astype(jnp.float64) if eqx.is_inexact_array(a) else a, model)
        x = jax.random.uniform(jax.random.PRNGKey(1), (8, 8, 3), jnp.float64)
        params, static = eqx.partition(model, eqx.is_inexact_array)

        @jax.jit
        def loss(p, x):
            return jnp.sum(jnp.sin(eqx.combine(p, static)(x)) * jnp.arange(1.0, 11.0))

        g_params, g_x = jax.jit(jax.grad(loss, (0, 1)))(params, x)
        h = 1e-6
        for seed in range(3):
            kx, kp = jax.random.split(jax.random.PRNGKey(10 + seed))
            v = jax.random.normal(kx, x.shape, jnp.float64)
            fd = (loss(params, x + h * v) - loss(params, x - h * v)) / (2 * h)
            np.testing.assert_allclose(jnp.vdot(g_x, v), fd, rtol=1e-6, atol=1e-9)
            leaves, tree = jax.tree.flatten(params)
            dirs = jax.tree.unflatten(
                tree,
                [jax.random.normal(k, a.shape, a.dtype) for k, a in zip(jax.random.split(kp, len(leaves)), leaves)],
            )
            shift = lambda s: jax.tree.map(lambda p, d: p + s * d, params, dirs)
            fd = (loss(shift(h), x) - loss(shift(-h), x)) / (2 * h)
            analytic = sum(jnp.vdot(g, d) for g, d in zip(jax.tree.leaves(g_params), jax.tree.leaves(dirs)))
            np.testing.assert_allclose(analytic, fd, rtol=1e-6, atol=1e-9)


# ----------------------------------------------------------------------------- training pieces


def test_flip_and_crop_is_a_shifted_possibly_mirrored_window():
    from adprf.nets import flip_and_crop

    images = jnp.arange(2 * 8 * 8 * 1, dtype=jnp.float32).reshape(2, 8, 8, 1) + 1
    out = np.asarray(flip_and_crop(images, jax.random.PRNGKey(3), pad=2))
    assert out.shape == images.shape and out.dtype == np.float32
    for original, moved in zip(np.asarray(images), out):
        assert set(moved.ravel()) - {0.0} <= set(original.ravel())  # zero padding enters; nothing else is invented
        found = [
            (r, c)
            for f in (original, original[:, ::-1])
            for r in range(-2, 3)
            for c in range(-2, 3)
            if np.array_equal(moved, np.pad(f, ((2, 2), (2, 2), (0, 0)))[2 + r : 10 + r, 2 + c : 10 + c])
        ]
        assert found


def test_flip_and_crop_offsets_cover_the_padding_and_no_more():
    from adprf.nets import flip_and_crop

    # one bright pixel in the middle of each image: its position after augmentation is the shift
    n, pad = 400, 3
    images = np.zeros((n, 9, 9, 2), np.float32)
    images[:, 4, 4, :] = 1.0
    out = np.asarray(flip_and_crop(jnp.asarray(images), jax.random.PRNGKey(0), pad=pad))
    rows, cols = np.nonzero(out[..., 0].reshape(n, -1))[1] // 9, np.nonzero(out[..., 0].reshape(n, -1))[1] % 9
    assert len(rows) == n and np.array_equal(out[..., 0], out[..., 1])  # every channel moves together
    assert set(rows - 4) == set(range(-pad, pad + 1)) == set(cols - 4)  # every offset in 0..2·pad is drawn
    # flips: an asymmetric image comes back mirrored about half the time
    marked = np.zeros((n, 4, 4, 1), np.float32)
    marked[:, :, 0] = 1.0
    flipped = np.asarray(flip_and_crop(jnp.asarray(marked), jax.random.PRNGKey(1), pad=0))
    mirrored = np.mean(flipped[:, :, -1, 0] == 1.0, axis=1) == 1.0
    assert np.all(mirrored | (flipped[:, :, 0, 0] == 1.0).all(axis=1)) and 0.4 < mirrored.mean() < 0.6
    assert np.array_equal(np.asarray(flip_and_crop(jnp.asarray(marked), jax.random.PRNGKey(1), pad=0)), flipped)


def test_augmented_cross_entropy_is_the_loss_of_the_augmented_batch():
    from adprf.nets import augmented_cross_entropy, cross_entropy_loss, flip_and_crop

    model = VGGClassifier(TINY, image_size=8, key=jax.random.PRNGKey(0))
    images = jax.random.uniform(jax.random.PRNGKey(1), (4, 8, 8, 3))
    labels = jnp.array([0, 1, 2, 3])
    key = jax.random.PRNGKey(2)
    k_augment, k_loss = jax.random.split(key)
    expected = cross_entropy_loss(model, flip_and_crop(images, k_augment), labels, k_loss)
    assert float(augmented_cross_entropy(model, images, labels, key)) == pytest.approx(float(expected), rel=1e-6)


def _updates(optimizer, steps: int, param: float = 0.0, gradient: float = 1.0) -> np.ndarray:
    """The updates the optimiser makes on one parameter under a constant gradient."""
    params = jnp.array([param])
    state, out = optimizer.init(params), []
    for _ in range(steps):
        update, state = optimizer.update(jnp.array([gradient]), state, params)
        out.append(float(update[0]))
    return np.asarray(out)


def test_vgg_optimizer_schedules_and_decay():
    from adprf.nets import vgg_optimizer

    # Adam under a constant gradient moves by the learning rate at every step (bias-corrected
    # m / √v = 1), so its updates read the schedule off directly.
    constant = _updates(vgg_optimizer(learning_rate=1e-3, steps=8), 8)
    np.testing.assert_allclose(constant, -1e-3, rtol=1e-4)
    cosine = _updates(vgg_optimizer(learning_rate=1e-3, schedule="cosine", steps=8), 10)
    t = np.arange(10)
    np.testing.assert_allclose(cosine, -1e-3 * 0.5 * (1 + np.cos(np.pi * np.minimum(t, 8) / 8)), rtol=1e-4, atol=1e-9)
    # AdamW: decoupled decay, −lr·(1 + wd·θ) on the first step
    np.testing.assert_allclose(
        _updates(vgg_optimizer(learning_rate=1e-3, weight_decay=0.5, steps=8), 1, param=2.0), -1e-3 * 2.0, rtol=1e-4
    )
    # SGD, Nesterov momentum 0.9, L2 decay added to the gradient: g' = g + wd·θ, trace_t = g' + 0.9·trace_{t−1},
    # update = −lr·(g' + 0.9·trace_t)
    sgd = _updates(vgg_optimizer(optimizer="sgd", learning_rate=0.1, weight_decay=0.5, steps=8), 3, param=2.0)
    g, trace, expected = 1.0 + 0.5 * 2.0, 0.0, []
    for _ in range(3):
        trace = g + 0.9 * trace
        expected.append(-0.1 * (g + 0.9 * trace))
    np.testing.assert_allclose(sgd, expected, rtol=1e-5)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        vgg_optimizer(optimizer="rmsprop", learning_rate=1e-3, steps=1)
    with pytest.raises(ValueError, match="schedule one of"):
        vgg_optimizer(learning_rate=1e-3, schedule="linear", steps=1)


def test_scaled_encoder_and_frozen_features():
    from adprf.nets import ScaledEncoder, encode_images, frozen_features

    encoder = VGGEncoder(TINY, image_size=8, key=jax.random.PRNGKey(0))
    train = jax.random.uniform(jax.random.PRNGKey(1), (6, 8, 8, 3))
    test = jax.random.uniform(jax.random.PRNGKey(2), (3, 8, 8, 3))
    raw = np.asarray(jax.vmap(encoder)(train))
    np.testing.assert_allclose(np.asarray(encode_images(encoder, train)), raw, rtol=1e-6)
    frozen = frozen_features(encoder, 0.335, train, test)
    assert isinstance(frozen.encoder, ScaledEncoder)
    assert frozen.encoder.factor == pytest.approx(0.335 / np.sqrt(np.mean(raw**2)), rel=1e-5)
    assert float(jnp.sqrt(jnp.mean(frozen.train**2))) == pytest.approx(0.335, rel=1e-5)
    # the scaled encoder is the same map the features came from: attacks see what the head learnt on
    np.testing.assert_allclose(np.asarray(jax.vmap(frozen.encoder)(test)), np.asarray(frozen.test), rtol=1e-5)
    np.testing.assert_allclose(
        np.asarray(ScaledEncoder(encoder, 2.0)(test[0])), 2 * np.asarray(encoder(test[0])), rtol=1e-6
    )
    kept = frozen_features(encoder, None, train, test)
    assert kept.encoder.factor == 1.0 and np.allclose(np.asarray(kept.train), raw, rtol=1e-6)
    dead = eqx.tree_at(lambda e: e.kernels, encoder, tuple(jnp.zeros_like(k) for k in encoder.kernels))
    dead = eqx.tree_at(lambda e: e.biases, dead, tuple(jnp.zeros_like(b) for b in encoder.biases))
    with pytest.raises(FloatingPointError, match="dead encoder"):
        frozen_features(dead, 0.335, train, test)


class _FakeRun:
    """The shared-model cache of a run, in memory: trains once per spec."""

    def __init__(self):
        self.models, self.calls = {}, 0

    def shared_model(self, spec, template, build):
        import json

        key = json.dumps(spec, sort_keys=True)
        if key not in self.models:
            self.calls += 1
            self.models[key] = build()
        return self.models[key]


def test_train_vgg_caches_by_its_recipe_and_learns():
    from adprf.nets import accuracy, train_vgg

    rng = np.random.default_rng(0)
    labels = np.arange(60) % 3
    palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9]], np.float32)
    images = (palette[labels][:, None, None, :] + rng.uniform(-0.05, 0.05, (60, 32, 32, 3))).astype(np.float32)
    recipe = {"width": TINY, "epochs": 3, "batch_size": 20, "learning_rate": 3e-3, "augment": True, "seed": 0}
    run = _FakeRun()
    trained = train_vgg(run, recipe, images, labels, dataset="colours")
    assert trained.spec == {
        "architecture": "VGGClassifier",
        "plan": list(VGG_PLAN),
        "dataset": "colours",
        "n_train": 60,
        **recipe,
    }
    assert trained.seconds > 0 and accuracy(trained.model, images, labels) > 0.6
    again = train_vgg(run, recipe, images, labels, dataset="colours")
    assert run.calls == 1 and again.seconds == 0.0 and again.model is trained.model
