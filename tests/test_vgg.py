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
    assert model.encoder.features == 4096 == 4 * 4 * 256  # SPEC §5.3 at width 1
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
    with pytest.raises(ValueError, match=r"channel-last image of shape \(32, 32, 3\), got shape \(3, 32, 32\)"):
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
