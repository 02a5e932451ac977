"""Loss landscapes against closed forms (linear, quadratic, T_{N,m}), finite differences and
direct evaluation of the model at the grid points."""

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf import Ligands
from adprf.analysis import Landscape, loss_landscape, plot_landscape_contour, plot_landscape_surface
from adprf.attacks import ScalarThreshold, l2, linf, move_binding_times, turn_off, unbounded
from adprf.cells import AdaptiveProofreading

KEY = jax.random.PRNGKey(0)


def _softplus(t):
    return np.logaddexp(0.0, t)


def _linear_loss(w, b, z, y):
    """Cross-entropy of the logits (−s/2, s/2), s = w·z + b: softplus(−s) for y = 1, softplus(s) for y = 0."""
    s = z @ w + b
    return _softplus(np.where(y == 1, -s, s))


@pytest.mark.parametrize("project", [False, True])
def test_linear_model_matches_closed_form(linear_problem, project):
    model, x, y, _ = linear_problem
    x, y = x[:5] * 0.5 + 0.5, y[:5]  # inputs in [0, 1] for the box
    w, b = np.asarray(model.w, np.float64), float(model.b)
    threat = linf(0.4) if project else linf(0.4, bounds=None)
    land = loss_landscape(model, x, y, threat=threat, span=0.4, points=9, key=KEY, project=project)
    assert isinstance(land, Landscape) and land.loss.shape == (5, 9, 9) and land.projected == project
    e = np.linspace(-0.4, 0.4, 9)
    np.testing.assert_allclose(land.e1, e, atol=1e-7)
    d1, d2 = (np.asarray(d, np.float64) for d in land.directions)
    yn = np.asarray(y)
    # ∂L/∂z = ∓ sigmoid(∓s) w: the L∞ steepest ascent is ±sign(w), + when y = 0
    np.testing.assert_array_equal(d1, np.where(yn[:, None] == 1, -1.0, 1.0) * np.sign(w)[None, :])
    assert np.all(np.abs(d2) == 1.0)
    z = (
        np.asarray(x, np.float64)[:, None, None, :]
        + e[None, :, None, None] * d1[:, None, None, :]
        + e[None, None, :, None] * d2[:, None, None, :]
    )
    if project:
        z = np.clip(z, 0.0, 1.0)
    expected = _linear_loss(w, b, z, yn[:, None, None])
    np.testing.assert_allclose(land.loss, expected, rtol=2e-5, atol=1e-6)
    np.testing.assert_array_equal(land.success, (z @ w + b > 0) != (yn[:, None, None] == 1))


def test_quadratic_model_is_the_taylor_polynomial():
    """f(z) = ½ zᵀAz + bᵀz is its own second-order Taylor expansion on the grid."""
    rng = np.random.default_rng(0)
    d = 12
    m = rng.normal(size=(d, d))
    a, bvec = (m + m.T) / 2, rng.normal(size=d)
    x = rng.uniform(-1, 1, size=(3, d))
    aj, bj = jnp.asarray(a, jnp.float32), jnp.asarray(bvec, jnp.float32)

    def model(z):
        return 0.5 * z @ aj @ z + bj @ z

    objective = ScalarThreshold(0.0, direction="above")  # loss = f(z)
    land = loss_landscape(
        model,
        jnp.asarray(x, jnp.float32),
        objective=objective,
        threat=linf(1.0, bounds=None),
        span=0.5,
        points=11,
        key=KEY,
        project=False,
    )
    g = x @ a + bvec
    d1, d2 = (np.asarray(d, np.float64) for d in land.directions)
    np.testing.assert_array_equal(d1, np.sign(g))
    e = np.linspace(-0.5, 0.5, 11)
    f0 = 0.5 * np.einsum("ni,ij,nj->n", x, a, x) + x @ bvec
    quad = lambda u, v: np.einsum("ni,ij,nj->n", u, a, v)
    expected = (
        f0[:, None, None]
        + e[None, :, None] * np.sum(g * d1, 1)[:, None, None]
        + e[None, None, :] * np.sum(g * d2, 1)[:, None, None]
        + 0.5 * e[None, :, None] ** 2 * quad(d1, d1)[:, None, None]
        + e[None, :, None] * e[None, None, :] * quad(d1, d2)[:, None, None]
        + 0.5 * e[None, None, :] ** 2 * quad(d2, d2)[:, None, None]
    )
    np.testing.assert_allclose(land.loss, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(land.origin_loss, f0, rtol=1e-5)
    np.testing.assert_allclose(land.slopes, np.stack([np.abs(g).sum(1), np.sum(g * d2, 1)], 1), rtol=1e-5)


def _tanh_net(rng, d=10, hidden=8, classes=3):
    w1, b1 = rng.normal(size=(d, hidden)) / np.sqrt(d), rng.normal(size=hidden)
    w2 = rng.normal(size=(hidden, classes))
    jw1, jb1, jw2 = (jnp.asarray(a, jnp.float32) for a in (w1, b1, w2))

    def model(z):
        return jnp.tanh(z @ jw1 + jb1) @ jw2

    def numpy_loss(z, label):
        logits = np.tanh(z @ w1 + b1) @ w2
        return np.log(np.sum(np.exp(logits - logits.max()))) + logits.max() - logits[label]

    return model, numpy_loss


def test_gradient_sign_matches_finite_differences():
    rng = np.random.default_rng(1)
    model, numpy_loss = _tanh_net(rng)
    x = rng.uniform(0.2, 0.8, size=(4, 10))
    y = np.array([0, 1, 2, 1])
    land = loss_landscape(model, jnp.asarray(x, jnp.float32), jnp.asarray(y), span=0.1, points=3, key=KEY)
    d1 = np.asarray(land.directions[0])
    h = 1e-5
    for i in range(4):
        fd = np.array([(numpy_loss(x[i] + h * u, y[i]) - numpy_loss(x[i] - h * u, y[i])) / (2 * h) for u in np.eye(10)])
        clear = np.abs(fd) > 1e-3 * np.abs(fd).max()  # float32 autodiff vs float64 differences
        assert clear.sum() >= 8
        np.testing.assert_array_equal(d1[i][clear], np.sign(fd[clear]))
        np.testing.assert_allclose(land.slopes[i, 0], np.abs(fd).sum(), rtol=1e-3)
        np.testing.assert_allclose(land.origin_loss[i], numpy_loss(x[i], y[i]), rtol=1e-5, atol=1e-6)


def test_origin_of_the_grid_is_the_clean_loss_and_points_are_the_model_at_the_displaced_input():
    rng = np.random.default_rng(2)
    model, numpy_loss = _tanh_net(rng)
    x = jnp.asarray(rng.uniform(0.0, 1.0, size=(3, 10)), jnp.float32)
    y = jnp.asarray([2, 0, 1])
    land = loss_landscape(model, x, y, span=0.3, points=7, key=KEY, batch_size=10)
    centre = 3
    direct = [numpy_loss(np.asarray(x[i], np.float64), int(y[i])) for i in range(3)]
    np.testing.assert_allclose(land.loss[:, centre, centre], direct, rtol=1e-5)
    np.testing.assert_allclose(land.origin_loss, direct, rtol=1e-5)
    logits = jax.vmap(model)(x)
    np.testing.assert_array_equal(land.origin_success, np.argmax(logits, 1) != np.asarray(y))
    # every point: the model evaluated directly at clip(x + e1 d1 + e2 d2, 0, 1)
    d1, d2 = land.directions
    for i, a, b in [(0, 0, 6), (1, 5, 2), (2, 6, 6), (2, 1, 3)]:
        z = jnp.clip(x[i] + land.e1[a] * d1[i] + land.e2[b] * d2[i], 0.0, 1.0)
        out = model(z)
        np.testing.assert_allclose(land.loss[i, a, b], jax.nn.logsumexp(out) - out[y[i]], rtol=1e-5)
        assert bool(land.success[i, a, b]) == bool(jnp.argmax(out) != y[i])
    # the (input, point) batching of lax.map does not change anything
    other = loss_landscape(model, x, y, span=0.3, points=7, key=KEY, batch_size=4096)
    np.testing.assert_allclose(other.loss, land.loss, rtol=1e-6)
    # each input's random direction comes from fold_in(key, i): a batch of one reproduces input 0
    single = loss_landscape(model, x[:1], y[:1], span=0.3, points=7, key=KEY)
    np.testing.assert_allclose(single.loss[0], land.loss[0], rtol=1e-6)


def test_one_compiled_call_for_all_inputs_and_points():
    rng = np.random.default_rng(3)
    net, _ = _tanh_net(rng)
    traces = []

    def model(z):
        traces.append(1)  # runs only while JAX traces the compiled call
        return net(z)

    def count(n, points):
        before = len(traces)
        x = jnp.asarray(rng.uniform(0, 1, size=(n, 10)), jnp.float32)
        land = loss_landscape(model, x, jnp.zeros(n, jnp.int32), span=0.2, points=points, key=KEY)
        assert land.loss.shape == (n, points, points)
        return len(traces) - before

    small, large = count(2, 3), count(6, 9)
    # traced once per compile, whatever n · points² (the first call also traces the model once
    # to check the labels against its output)
    assert large <= small <= 3
    assert count(2, 3) == 0  # same shapes: the compiled call is reused


def _mixture(key, agonists=6, selves=10):
    k1, k2 = jax.random.split(key)
    tau = jnp.concatenate(
        [3.5 + 0.1 * jax.random.normal(k1, (agonists,)), jnp.abs(jax.random.normal(k2, (selves,)) / 3)]
    )
    amount = jnp.concatenate([jnp.full(agonists, 2.0), jnp.linspace(1.0, 3.0, selves)])
    return Ligands(tau, amount)


@pytest.mark.parametrize("m", [0, 1, 3])
def test_proofreading_in_binding_time_space(m):
    model = AdaptiveProofreading(5, m, tau_c=3.0)
    mixtures = [_mixture(jax.random.PRNGKey(s)) for s in range(2)]
    batch = jax.tree.map(lambda *a: jnp.stack(a), *mixtures)
    land = loss_landscape(
        model, batch, objective=turn_off(model), threat=move_binding_times(0.3, tau_c=3.0), span=0.5, points=5, key=KEY
    )
    d1, d2 = land.directions
    np.testing.assert_array_equal(d1.amount, 0.0)  # amounts never move
    np.testing.assert_array_equal(d2.amount, 0.0)
    agonist = np.asarray(batch.tau) >= 3.0
    np.testing.assert_array_equal(np.asarray(d1.tau)[agonist], 0.0)  # nor do the agonists
    np.testing.assert_array_equal(np.asarray(d2.tau)[agonist], 0.0)
    assert np.all(np.abs(np.asarray(d2.tau)[~agonist]) == 1.0)
    for i, mix in enumerate(mixtures):
        # loss = 1 − T, so d1 = −sign(∂T/∂τ) from the closed-form gradient of T_{N,m}
        np.testing.assert_array_equal(
            np.asarray(d1.tau[i])[~agonist[i]], -np.sign(np.asarray(model.gradient(mix)))[~agonist[i]]
        )
        tau0 = np.asarray(mix.tau, np.float64)
        amount = np.asarray(mix.amount, np.float64)
        for a in range(5):
            for b in range(5):
                tau = np.maximum(tau0 + land.e1[a] * np.asarray(d1.tau[i]) + land.e2[b] * np.asarray(d2.tau[i]), 0)
                t = np.sum(amount * tau**5) / np.sum(amount * tau**m) / 3.0 ** (5 - m)
                np.testing.assert_allclose(land.loss[i, a, b], 1.0 - t, rtol=1e-4, atol=1e-5)
                assert bool(land.success[i, a, b]) == (t <= 1.0)
                # and T evaluated directly at the displaced ligands
                displaced = Ligands(jnp.asarray(tau, jnp.float32), mix.amount)
                np.testing.assert_allclose(land.loss[i, a, b], 1.0 - model(displaced), rtol=1e-5, atol=1e-6)


def test_l2_geometry_uses_unit_vectors():
    rng = np.random.default_rng(4)
    model, _ = _tanh_net(rng)
    x = jnp.asarray(rng.uniform(0.2, 0.8, size=(2, 10)), jnp.float32)
    land = loss_landscape(model, x, jnp.asarray([0, 1]), threat=l2(1.0), span=0.2, points=3, key=KEY)
    d1, d2 = (np.asarray(d) for d in land.directions)
    grad = np.asarray(jax.vmap(jax.grad(lambda z, t: jax.nn.logsumexp(model(z)) - model(z)[t]))(x, jnp.asarray([0, 1])))
    np.testing.assert_allclose(d1, grad / np.linalg.norm(grad, axis=1, keepdims=True), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(d2, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.abs(d2), 1 / np.sqrt(10), rtol=1e-6)


def test_bad_arguments_raise():
    rng = np.random.default_rng(5)
    model, _ = _tanh_net(rng)
    x = jnp.asarray(rng.uniform(0, 1, size=(2, 10)), jnp.float32)
    y = jnp.asarray([0, 1])
    call = lambda **kw: loss_landscape(model, kw.pop("x", x), kw.pop("y", y), key=KEY, **kw)
    # ours, or (wrong type) the runtime type check naming the parameter
    for span in (0.0, -0.1, float("nan"), float("inf"), "wide"):
        with pytest.raises((ValueError, TypeError), match="span"):
            call(span=span)
    for points in (1, 0, 2.5, True):
        with pytest.raises((ValueError, TypeError), match="points"):
            call(points=points)
    with pytest.raises(ValueError, match="batch_size"):
        call(batch_size=0)
    with pytest.raises(ValueError, match="targets"):
        call(y=jnp.asarray([0, 1, 2]))
    with pytest.raises(ValueError, match="leading batch axis"):
        call(x={"a": x, "b": x[:1]}, threat=linf(0.3))
    with pytest.raises(ValueError, match="box"):
        call(x=x + 2.0)
    with pytest.raises(ValueError, match="NaN"):
        call(x=x.at[0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="norm ball"):
        call(threat=unbounded())
    with pytest.raises(ValueError, match="objective"):
        call(objective="hinge")
    with pytest.raises(ValueError, match="pass a threat"):
        loss_landscape(
            AdaptiveProofreading(2, 1), jax.tree.map(lambda a: a[None], _mixture(KEY)), key=KEY, objective=turn_off(1.0)
        )
    land = call(points=3)
    with pytest.raises(ValueError, match="index"):
        plot_landscape_contour(land, 5)


def test_plots_return_figures_with_the_axes_named(linear_problem):
    model, x, y, _ = linear_problem
    land = loss_landscape(model, x[:2] * 0.5 + 0.5, y[:2], span=0.5, points=11, key=KEY)
    assert land.success[0].any() and not land.success[0].all()  # a boundary to draw
    for plot in (plot_landscape_contour, plot_landscape_surface):
        fig = plot(land, 0, title="linear")
        ax = fig.axes[0]
        assert ax.get_xlabel() == "ε₁ (gradient sign)" and ax.get_ylabel() == "ε₂ (random ±1)"
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        assert buffer.tell() > 1000
