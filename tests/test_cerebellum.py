"""The static cerebellum: granule layers, LTD state, Purkinje readout, delta-rule training."""

import contextlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf.attacks import PGD, robust_accuracy
from adprf.cerebellum import LTD, Cerebellum, DenseGranule, SparseGranule, delta_rule, rmsprop, train_cerebellum
from adprf.cerebellum._train import mse_loss

KEY = jax.random.PRNGKey(0)


@pytest.mark.parametrize("replace", [True, False])
def test_sparse_gather_equals_dense_matrix(replace):
    granule = SparseGranule(50, 300, 7, replace=replace, key=KEY)
    x = jax.random.uniform(jax.random.PRNGKey(1), (50,))
    j = np.zeros((50, 300))
    for cell in range(300):  # an independent construction of the masked matrix
        for idx, w in zip(np.asarray(granule.indices[cell]), np.asarray(granule.weights[cell])):
            j[idx, cell] += w
    np.testing.assert_allclose(np.asarray(granule.as_dense()), j, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(granule(x)), np.maximum(np.asarray(x) @ j, 0), rtol=1e-5, atol=1e-6)


def test_sparse_draws():
    with_rep = SparseGranule(10, 20000, 4, key=KEY)
    counts = np.bincount(np.asarray(with_rep.indices).ravel(), minlength=10)
    expected = 80000 / 10
    assert ((counts - expected) ** 2 / expected).sum() < 30  # χ² with 9 dof: p ≈ 4e-4
    assert np.any([len(set(r)) < 4 for r in np.asarray(with_rep.indices[:2000])])  # repeats happen
    without = SparseGranule(10, 2000, 4, replace=False, key=KEY)
    assert all(len(set(r)) == 4 for r in np.asarray(without.indices))
    full = SparseGranule(10, 5, 10, replace=False, key=KEY)  # k = d: every row a permutation
    assert all(sorted(r) == list(range(10)) for r in np.asarray(full.indices).tolist())
    assert abs(float(jnp.std(SparseGranule(784, 50000, 4, key=KEY).weights)) - 0.5) < 0.01
    assert abs(float(jnp.std(DenseGranule(784, 2000, key=KEY).weight)) - 784**-0.5) < 0.001


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match="distinct inputs"):
        SparseGranule(10, 5, 11, replace=False, key=KEY)
    with pytest.raises(ValueError, match="k .* positive"):
        SparseGranule(10, 5, 0, key=KEY)
    with pytest.raises(ValueError, match="needs k"):
        Cerebellum(10, 5, connectivity="sparse", key=KEY)
    with pytest.raises(ValueError, match="connectivity"):
        Cerebellum(10, 5, connectivity="random", key=KEY)
    with pytest.raises(ValueError, match="inputs=12"):
        Cerebellum(10, 5, key=KEY)(jnp.zeros((3, 4)))


def test_forward_closed_form_and_frozen_ltd():
    model = Cerebellum(12, 30, key=KEY)
    mean = jax.random.uniform(jax.random.PRNGKey(2), (30,))
    model = eqx.tree_at(lambda m: m.ltd.mean, model, mean)
    x = jax.random.uniform(jax.random.PRNGKey(3), (3, 4))
    j, w = np.asarray(model.granule.weight), np.asarray(model.purkinje.weight)
    expected = (np.maximum(np.asarray(x).ravel() @ j, 0) - np.asarray(mean)) @ w
    np.testing.assert_allclose(np.asarray(model(x)), expected, rtol=1e-5, atol=1e-6)
    grad_mean = jax.grad(lambda mu: eqx.tree_at(lambda m: m.ltd.mean, model, mu)(x).sum())(mean)
    assert np.all(np.asarray(grad_mean) == 0)  # no gradient through μ


def test_ltd_update_is_the_running_mean():
    ltd = LTD.init(3)
    batches = np.random.default_rng(0).uniform(size=(5, 4, 3))
    mu = np.zeros(3)
    for b in batches:
        ltd = ltd.update(jnp.asarray(b))
        mu = 0.99 * mu + 0.01 * b.mean(0)
    np.testing.assert_allclose(np.asarray(ltd.mean), mu, rtol=1e-5)
    with pytest.raises(ValueError, match="momentum"):
        LTD(jnp.zeros(3), 1.5)
    off = LTD.off(3).update(jnp.asarray(batches[0]))  # β = 1: no LTD, μ stays exactly 0
    assert not off.enabled and np.all(np.asarray(off.mean) == 0) and ltd.enabled
    with_ltd, without = Cerebellum(12, 30, ltd=True, key=KEY), Cerebellum(12, 30, ltd=False, key=KEY)
    assert jax.tree.structure(with_ltd) == jax.tree.structure(without)  # one compiled attack serves both


def test_delta_rule_is_the_mse_gradient():
    model = Cerebellum(20, 40, connectivity="sparse", k=3, key=KEY)
    xb = jax.random.uniform(jax.random.PRNGKey(4), (6, 20))
    yb = jnp.array([0, 1, 2, 3, 4, 9])
    gradient, updated, loss = delta_rule(model, xb, yb)
    mu = 0.01 * jax.vmap(model.granule)(xb).mean(0)
    np.testing.assert_allclose(np.asarray(updated.ltd.mean), np.asarray(mu), rtol=1e-5)
    auto = jax.grad(lambda w: mse_loss(jax.vmap(eqx.tree_at(lambda m: m.purkinje.weight, updated, w))(xb), yb))(
        model.purkinje.weight
    )
    np.testing.assert_allclose(np.asarray(gradient), np.asarray(auto), rtol=1e-4, atol=1e-7)
    assert np.isclose(float(loss), float(mse_loss(jax.vmap(updated)(xb), yb)), rtol=1e-5)


def test_rmsprop_matches_pytorch_formula():
    opt = rmsprop(0.1, 0.99, 1e-8)
    w = jnp.array([1.0, -2.0])
    state = opt.init(w)
    v, w_ref = np.zeros(2), np.array([1.0, -2.0])
    for g in ([0.5, -1.0], [0.1, 0.2], [-0.3, 0.0]):
        updates, state = opt.update(jnp.asarray(g), state, w)
        w = w + updates
        v = 0.99 * v + 0.01 * np.square(g)
        w_ref = w_ref - 0.1 * np.asarray(g) / (np.sqrt(v) + 1e-8)
    np.testing.assert_allclose(np.asarray(w), w_ref, rtol=1e-5)


def _numpy_training(model, x, y, key, batch_size, lr):
    """One epoch of the paper's rule written out in NumPy, with the same shuffling."""
    order = np.asarray(jax.random.permutation(jax.random.split(key, 1)[0], x.shape[0]))
    j = np.asarray(model.granule.as_dense(), np.float64)
    w = np.asarray(model.purkinje.weight, np.float64)
    mu, v = np.zeros(j.shape[1]), np.zeros_like(w)
    for start in range(0, (x.shape[0] // batch_size) * batch_size, batch_size):
        idx = order[start : start + batch_size]
        h = np.maximum(np.asarray(x[idx], np.float64).reshape(len(idx), -1) @ j, 0)
        mu = 0.99 * mu + 0.01 * h.mean(0)
        z = h - mu
        e = z @ w - np.eye(w.shape[1])[np.asarray(y[idx])]
        g = z.T @ e * 2 / e.size
        v = 0.99 * v + 0.01 * g**2
        w = w - lr * g / (np.sqrt(v) + 1e-8)
    return w, mu


@pytest.mark.parametrize("batch_size", [1, 7])
def test_training_epoch_equals_numpy_delta_rule(batch_size):
    model = Cerebellum(16, 25, connectivity="sparse", k=4, key=KEY)
    x = jax.random.uniform(jax.random.PRNGKey(5), (42, 4, 4))
    y = jax.random.randint(jax.random.PRNGKey(6), (42,), 0, 10)
    key = jax.random.PRNGKey(7)
    trained, history = train_cerebellum(
        model, x, y, key=key, epochs=1, batch_size=batch_size, select="last", progress=False
    )
    w, mu = _numpy_training(model, x, y, key, batch_size, 0.5 / 25)
    np.testing.assert_allclose(np.asarray(trained.ltd.mean), mu, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(trained.purkinje.weight), w, rtol=2e-3, atol=2e-4)
    assert np.all(trained.granule.weights == model.granule.weights)  # granule fixed


def test_training_on_mnist_and_best_epoch(mnist_small):
    xtr, ytr, xte, yte = mnist_small
    model = Cerebellum(784, 1000, key=KEY)
    trained, history = train_cerebellum(model, xtr, ytr, key=KEY, epochs=4, eval_data=(xte, yte), progress=False)
    best = int(np.argmax(history["eval_accuracy"]))
    assert history["best_epoch"] == best
    accuracy = float(jnp.mean(jnp.argmax(jax.vmap(trained)(xte), -1) == yte))
    assert accuracy == pytest.approx(history["eval_accuracy"][best], abs=1e-6)
    assert accuracy > 0.8
    backprop, _ = train_cerebellum(
        model, xtr, ytr, key=KEY, epochs=1, rule="backprop", select="last", learning_rate=1e-3, progress=False
    )
    assert not np.allclose(backprop.granule.weight, model.granule.weight)  # granule learns too
    with pytest.raises(ValueError, match="eval_data"):
        train_cerebellum(model, xtr, ytr, key=KEY)
    with pytest.raises(ValueError, match="rule"):
        train_cerebellum(model, xtr, ytr, key=KEY, rule="hebb", select="last")
    with pytest.raises(ValueError, match="batch_size"):
        train_cerebellum(model, xtr, ytr, key=KEY, batch_size=0, select="last")


def test_encoder_head_is_trained_on_frozen_features():
    encoder = eqx.nn.Linear(6, 5, key=jax.random.PRNGKey(8))
    model = Cerebellum(5, 20, encoder=encoder, key=KEY)
    x = jax.random.uniform(jax.random.PRNGKey(9), (30, 6))
    y = jax.random.randint(KEY, (30,), 0, 10)
    trained, _ = train_cerebellum(model, x, y, key=KEY, epochs=2, batch_size=5, select="last", progress=False)
    assert all(np.all(a == b) for a, b in zip(jax.tree.leaves(trained.encoder), jax.tree.leaves(encoder)))
    head = eqx.tree_at(lambda m: m.encoder, trained, None, is_leaf=lambda v: v is None)
    np.testing.assert_allclose(np.asarray(trained(x[0])), np.asarray(head(encoder(x[0]))), rtol=1e-6)


def test_attacks_sparse_equals_dense_and_gradient_matches_fd(mnist_small):
    _, _, xte, yte = mnist_small
    sparse = Cerebellum(784, 500, connectivity="sparse", k=4, key=KEY)
    sparse = eqx.tree_at(lambda m: m.ltd.mean, sparse, jnp.full(500, 0.1))
    dense = eqx.tree_at(lambda m: m.granule, sparse, _Masked(sparse.granule.as_dense(), 784, 500))
    x, y = xte[:32], yte[:32]
    np.testing.assert_allclose(np.asarray(jax.vmap(sparse)(x)), np.asarray(jax.vmap(dense)(x)), atol=1e-5)
    loss = lambda img: jnp.sum(sparse(img) ** 2)
    point = 0.8 * x[0] + 0.1  # no black pixels: no granule cell sits exactly at its ReLU kink
    g = jax.grad(loss)(point)
    direction = jax.random.normal(KEY, point.shape)
    fd = (loss(point + 1e-4 * direction) - loss(point - 1e-4 * direction)) / 2e-4  # no kink crossed
    assert float(jnp.sum(g * direction)) == pytest.approx(float(fd), rel=1e-2)
    runs = [
        robust_accuracy(m, x, y, [0.0, 0.05], PGD(10, 0.01), objective="mse", key=KEY).accuracy for m in (sparse, dense)
    ]
    np.testing.assert_allclose(np.asarray(runs[0]), np.asarray(runs[1]), atol=1 / 32 + 1e-6)


class _Masked(DenseGranule):
    def __init__(self, weight, inputs, width):
        self.weight, self.inputs, self.width = weight, inputs, width


@pytest.mark.parametrize("method", ["gather", "dense"])
def test_sparse_methods_values_and_gradients(method):
    granule = SparseGranule(30, 40, 5, method=method, key=KEY)
    dense = granule.as_dense()
    x = jax.random.uniform(jax.random.PRNGKey(11), (3, 30))
    probe = jax.random.normal(jax.random.PRNGKey(12), (3, 40))
    f = lambda g, xs: jnp.sum(probe * jax.vmap(g.drive)(xs))
    ref = lambda w, xs: jnp.sum(probe * (xs @ w))
    rectified = lambda g, xs: jnp.sum(probe * jax.vmap(g)(xs))
    np.testing.assert_allclose(
        np.asarray(jax.grad(rectified, argnums=1)(granule, x)),
        np.asarray(jax.grad(lambda xs: jnp.sum(probe * jax.nn.relu(xs @ dense)))(x)),
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(np.asarray(jax.vmap(granule.drive)(x)), np.asarray(x @ dense), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(jax.grad(f, argnums=1)(granule, x)),
        np.asarray(jax.grad(ref, argnums=1)(dense, x)),
        rtol=1e-5,
        atol=1e-6,
    )
    # the weights' gradient (backprop rule): chain rule through the dense matrix
    dw = jax.grad(lambda w: f(eqx.tree_at(lambda g: g.weights, granule, w), x))(granule.weights)
    dj = np.asarray(jax.grad(ref)(dense, x))
    expected = dj[np.asarray(granule.indices), np.arange(40)[:, None]]
    np.testing.assert_allclose(np.asarray(dw), expected, rtol=1e-5, atol=1e-6)
    assert (
        SparseGranule(784, 10, 4, key=KEY).method == "gather" and SparseGranule(784, 10, 49, key=KEY).method == "dense"
    )


def _sparse_oracle(x, probe, indices, weights):
    """One example's rectified sparse drive and the input gradient of Σ probe · activity, in
    float64 NumPy: the gather summed over the slots, and the scatter-add of its transpose."""
    x, probe, indices, weights = (
        np.asarray(a, np.float64 if a.dtype.kind == "f" else a.dtype) for a in (x, probe, indices, weights)
    )
    drive = np.sum(weights * x[indices], axis=1)
    dx = np.zeros_like(x)
    np.add.at(dx, indices, np.where(drive > 0, probe, 0)[:, None] * weights)
    return np.maximum(drive, 0), dx


def test_sparse_layer_batched_rule_against_an_oracle():
    """The batched rule of the sparse kernel (cell-major rows) against a float64 oracle of one
    example at a time: plain batches, nested batches (the outer level batches the rule's own
    operations) and models with their own connectivity (batched indices: the plain rule)."""
    granule = SparseGranule(60, 500, 4, method="gather", key=KEY)
    x = jax.random.uniform(jax.random.PRNGKey(13), (6, 60))
    probe = jax.random.normal(jax.random.PRNGKey(14), (6, 500))
    loss = lambda g, xi, pi: jnp.sum(pi * g(xi))
    per_example = jax.vmap(jax.grad(loss, argnums=1), in_axes=(None, 0, 0))
    values, gradients = np.asarray(jax.jit(jax.vmap(granule))(x)), np.asarray(jax.jit(per_example)(granule, x, probe))
    nested = jax.vmap(per_example, in_axes=(None, 0, 0))(granule, x.reshape(2, 3, 60), probe.reshape(2, 3, 500))
    models = eqx.filter_vmap(lambda k: SparseGranule(60, 500, 4, method="gather", key=k))(jax.random.split(KEY, 3))
    by_model = eqx.filter_vmap(lambda g: per_example(g, x, probe))(models)
    for i in range(6):
        value, gradient = _sparse_oracle(x[i], probe[i], granule.indices, granule.weights)
        np.testing.assert_allclose(values[i], value, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(gradients[i], gradient, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.asarray(nested).reshape(6, 60)[i], gradient, rtol=1e-5, atol=1e-6)
        for m in range(3):
            _, gradient = _sparse_oracle(x[i], probe[i], models.indices[m], models.weights[m])
            np.testing.assert_allclose(np.asarray(by_model[m, i]), gradient, rtol=1e-5, atol=1e-6)
    assert 0 < np.mean(values > 0) < 1 and np.mean(gradients != 0) > 0.5


# --- the protocol of Yuezhang et al. (2021): specs, cache keys, tabulation ----------------------------


def test_spec_dicts_are_the_shared_cache_keys():
    from adprf.cerebellum import CerebellumSpec, build_cerebellum, sparsity_width, spec_label

    dense = CerebellumSpec.dense(1000, ltd=True)
    sparse = CerebellumSpec.sparse(4, synapses=4.8e5)
    # exactly the dicts the cached models were keyed by before the typed specs
    assert dense.as_dict() == {"width": 1000, "connectivity": "dense", "ltd": True}
    assert sparse.as_dict() == {"width": 20000, "connectivity": "sparse", "k": 4, "replace": True, "ltd": False}
    assert sparsity_width(4) == 200000 and sparsity_width(784, 4.8e5) == 597
    assert CerebellumSpec.from_dict(sparse.as_dict()) == sparse and CerebellumSpec.from_dict(dense.as_dict()) == dense
    assert spec_label(dense) == "FC m=1000 + LTD" and sparse.label == "RC k=4 m=20000"
    with pytest.raises(ValueError, match="needs k"):
        CerebellumSpec(width=10, connectivity="sparse")
    with pytest.raises(ValueError, match="connectivity"):
        CerebellumSpec(width=10, connectivity="random")
    model = build_cerebellum(CerebellumSpec.sparse(3, 40, ltd=True), KEY, inputs=30)
    assert isinstance(model.granule, SparseGranule) and model.width == 40


class _RecordingRun:
    """A stand-in for `Run` that records the shared keys and returns canned results."""

    def __init__(self, stored: dict):
        self.models, self.stages, self.stored = [], [], stored

    def shared_model(self, spec, template, build):
        self.models.append(spec)
        return template

    def has_shared_stage(self, spec):
        return True

    def shared_stage(self, spec, build):
        self.stages.append(spec)
        return self.stored

    @contextlib.contextmanager
    def holding_shared_stages(self, specs):
        self.locked = list(specs)
        yield


def test_fit_and_evaluate_keep_the_cache_keys():
    from adprf.cerebellum import (
        AttackProtocol,
        CerebellumSpec,
        RobustnessCurves,
        SplitData,
        TrainingSchedule,
        evaluate_cerebellum,
        fit_cerebellum,
    )

    stored = {"clean": 0.9, "FGSM": [0.9, 0.5], "PGD": [0.9, 0.25], "seconds": 2.0}
    run = _RecordingRun(stored)
    data = SplitData(np.zeros((6, 28, 28)), np.zeros(6, int), np.zeros((4, 28, 28)), np.zeros(4, int), "test data")
    spec = CerebellumSpec.sparse(4, 50, ltd=True)
    fitted = fit_cerebellum(
        run, spec, data, dataset="mnist-subset", schedule=TrainingSchedule(batch_size=1), seed=3, context={"x": 1}
    )
    old_key = {  # the key of the dict-based protocol: cfg epochs 10, train_batch 1, rule "delta"
        "cerebellum": {"width": 50, "connectivity": "sparse", "k": 4, "replace": True, "ltd": True},
        "dataset": "mnist-subset",
        "n_train": 6,
        "seed": 3,
        "epochs": 10,
        "batch_size": 1,
        "rule": "delta",
        "x": 1,
    }
    assert run.models == [old_key] and fitted.spec == old_key and fitted.seconds == 0.0
    assert fitted.model.width == 50
    attack = AttackProtocol(n_test=300, epsilons=(0.0, 0.1))
    result = evaluate_cerebellum(run, "tag", fitted.model, fitted.spec, data, attack=attack, seed=3)
    assert run.locked == run.stages  # the stages it stores are those it held the locks of
    assert run.stages == [
        {
            "model": old_key,
            "n_test": 4,  # at most the test split
            "pgd": {"steps": 40, "step_size": 0.01},
            "epsilons": [0.0, 0.1],
            "objective": "mse",
            "attack_seed": 1003,
        }
    ]
    assert result == RobustnessCurves(0.9, (0.9, 0.5), (0.9, 0.25), 2.0) and result.as_dict() == stored


def test_tables_by_hand():
    from adprf.cerebellum import (
        PAPER_SPARSITY,
        PAPER_WIDTH,
        RobustnessCurves,
        column_difference,
        epsilon_index,
        mean_curves,
        paper_cell,
        summarise_seeds,
    )

    eps = (0.0, 0.1, 0.2, 0.3)
    a = RobustnessCurves(0.95, (0.95, 0.5, 0.3, 0.2), (0.95, 0.2, 0.1, 0.0), 1.0)
    b = RobustnessCurves(0.97, (0.97, 0.6, 0.3, 0.1), (0.97, 0.3, 0.1, 0.02), 1.0)
    assert summarise_seeds([a, b], eps) == [96.0, 55.0, 15.0, 25.0, 1.0]
    assert mean_curves([a, b]) == {
        "FGSM": pytest.approx([0.96, 0.55, 0.3, 0.15]),
        "PGD": pytest.approx([0.96, 0.25, 0.1, 0.01]),
    }
    assert epsilon_index(eps, 0.1 + 1e-12) == 1
    with pytest.raises(ValueError, match="not in the attacked grid"):
        epsilon_index(eps, 0.15)
    assert column_difference({"a": [90, 50.2, 0, 0, 0], "b": [91, 40.0, 0, 0, 0]}, "a", "b", "FGSM .1") == 10.2
    assert paper_cell(PAPER_WIDTH[1000][False]) == "94.1 / 20.4 / 10.5 / 9 / 1.3" and paper_cell(None) == "–"
    assert PAPER_SPARSITY[4][True].pgd_small == 55.8 and PAPER_SPARSITY[4].with_ltd[3] == 55.8


class _ComputingRun(_RecordingRun):
    """A `_RecordingRun` that computes every stage."""

    def has_shared_stage(self, spec):
        return False

    def shared_stage(self, spec, build):
        self.stages.append(spec)
        return build()


@pytest.fixture(scope="module")
def tiny_cerebellum(mnist_small):
    """A small RC cerebellum (k = 4, 400 cells) trained 2 epochs, and its first 40 test images."""
    from adprf.cerebellum import CerebellumSpec, SplitData, train_cerebellum

    xtr, ytr, x, y = mnist_small
    model = CerebellumSpec.sparse(4, 400).build(jax.random.PRNGKey(0))
    model, _ = train_cerebellum(model, xtr, ytr, key=jax.random.PRNGKey(1), epochs=2, select="last", progress=False)
    return model, SplitData(xtr, ytr, x[:40], y[:40], "test data")


def test_the_suite_joins_the_tables_and_the_cache_key(tiny_cerebellum):
    """With `suite`, a protocol's cached record, rows and columns gain the standard suite's worst
    case; a real tiny cerebellum's suite curve is at most its PGD curve."""
    from adprf.cerebellum import (
        AttackProtocol,
        RobustnessCurves,
        evaluate_cerebellum,
        mean_curves,
        summarise_seeds,
        table_columns,
    )

    eps = (0.0, 0.1, 0.3)
    a = RobustnessCurves(0.95, (0.95, 0.5, 0.2), (0.95, 0.2, 0.0), 1.0, suite=(0.95, 0.1, 0.0))
    assert summarise_seeds([a], eps) == [95.0, 50.0, 20.0, 20.0, 0.0, 10.0, 0.0]
    assert mean_curves([a])["suite"] == pytest.approx([0.95, 0.1, 0.0])
    assert RobustnessCurves.from_dict(a.as_dict()) == a
    protocol = AttackProtocol(n_test=40, epsilons=eps, pgd_steps=10, suite="fast")
    assert (
        table_columns(protocol)[-2:] == ("suite .1", "suite .3") and len(table_columns(AttackProtocol(n_test=1))) == 5
    )

    model, data = tiny_cerebellum
    run = _ComputingRun({})
    curves = evaluate_cerebellum(run, "tag", model, {"m": 1}, data, attack=protocol, seed=0, batch_size=40)
    assert run.stages[0]["suite"] == "fast"
    assert curves.suite is not None and np.all(np.asarray(curves.suite) <= np.asarray(curves.pgd) + 1e-6)


def test_the_suite_at_some_radii_only(tiny_cerebellum):
    """`suite_epsilons`: the suite runs at those radii only, its record says so (and so does the
    cache key), the tables read it there, and its values are `evaluate_robustness`'s at those radii
    with the protocol's key; radii outside the curves, or without a suite, are refused by name."""
    from adprf.attacks import evaluate_robustness
    from adprf.cerebellum import (
        AttackProtocol,
        RobustnessCurves,
        evaluate_cerebellum,
        mean_curves,
        robustness_curves_figure,
        summarise_seeds,
    )

    eps = (0.0, 0.05, 0.1, 0.3)
    a = RobustnessCurves(
        0.9, (0.9, 0.7, 0.5, 0.2), (0.9, 0.6, 0.3, 0.0), 1.0, suite=(0.25, 0.05), suite_epsilons=(0.1, 0.3)
    )
    assert summarise_seeds([a], eps) == [90.0, 50.0, 20.0, 30.0, 0.0, 25.0, 5.0]
    assert RobustnessCurves.from_dict(a.as_dict()) == a
    curves = mean_curves([a, a])
    assert curves["suite"] == pytest.approx([0.25, 0.05]) and curves["suite_epsilons"] == [0.1, 0.3]
    figure = robustness_curves_figure({"a": curves}, eps, "t", {"g": ["a"]})
    dotted = [line for line in figure.axes[0].lines if line.get_linestyle() == ":"]
    assert list(dotted[0].get_xdata()) == [0.1, 0.3] and list(dotted[0].get_ydata()) == pytest.approx([25.0, 5.0])
    with pytest.raises(ValueError, match="suite=None"):
        AttackProtocol(n_test=1, epsilons=eps, suite_epsilons=(0.1,))
    with pytest.raises(ValueError, match=r"suite_epsilons \[0.2\] are not among the curves' epsilons"):
        AttackProtocol(n_test=1, epsilons=eps, suite="fast", suite_epsilons=(0.1, 0.2))
    with pytest.raises(ValueError, match="empty"):
        AttackProtocol(n_test=1, epsilons=eps, suite="fast", suite_epsilons=())

    model, data = tiny_cerebellum
    protocol = AttackProtocol(n_test=40, epsilons=eps, pgd_steps=10, suite="fast", suite_epsilons=(0.1, 0.3))
    run = _ComputingRun({})
    result = evaluate_cerebellum(run, "tag", model, {"m": 1}, data, attack=protocol, seed=0, batch_size=40)
    assert run.stages[0]["suite_epsilons"] == [0.1, 0.3] and result.suite_epsilons == (0.1, 0.3)
    x, y = data.test_images, data.test_labels
    direct = evaluate_robustness(model, x, y, [0.1, 0.3], key=jax.random.PRNGKey(1000), budget="fast", batch_size=40)
    assert result.suite == tuple(np.asarray(direct.accuracy).tolist())
    assert len(result.pgd) == 4 and np.all(np.asarray(result.suite) <= np.asarray(result.pgd)[[2, 3]] + 1e-6)
