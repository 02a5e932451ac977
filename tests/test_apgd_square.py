"""APGD, the DLR losses and the Square attack against closed forms and the paper's schedules."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf.attacks import (
    APGD,
    DLR,
    PGD,
    CrossEntropy,
    Margin,
    Mask,
    Square,
    TargetedDLR,
    ThreatModel,
    attack,
    evaluate_robustness,
    l1,
    l2,
    linf,
    robust_accuracy,
    suite_attacks,
)
from adprf.attacks._square import SCHEDULE

KEY = jax.random.PRNGKey(0)


class LinearMulticlass(eqx.Module):
    """Logits z = W x + b: the adversarial set of class j is a half-space, so the smallest
    L∞ (L2) radius that flips example x is min_{j≠y} (z_y − z_j) / ‖w_y − w_j‖₁ (‖·‖₂)."""

    w: jax.Array
    b: jax.Array

    def __call__(self, x):
        return self.w @ x + self.b


def _multiclass(classes=5, d=12, n=24):
    k1, k2, k3 = jax.random.split(jax.random.PRNGKey(7), 3)
    model = LinearMulticlass(jax.random.normal(k1, (classes, d)), 0.1 * jax.random.normal(k2, (classes,)))
    x = jax.random.uniform(k3, (n, d), minval=-1.0, maxval=1.0)
    y = jnp.argmax(jax.vmap(model)(x), axis=1)
    return model, x, y


def _radius(model, x, y, ord):
    """The closed-form minimal radius per example (see `LinearMulticlass`)."""
    z = np.asarray(jax.vmap(model)(x), np.float64)
    w = np.asarray(model.w, np.float64)
    out = []
    for zi, yi in zip(z, np.asarray(y)):
        gaps = [(zi[yi] - zi[j]) / np.linalg.norm(w[yi] - w[j], ord=ord) for j in range(len(zi)) if j != yi]
        out.append(min(gaps))
    return np.asarray(out)


def _flips(model, x, y, method, objective, threat, radii):
    """Per example, whether the attack succeeds at the given radius (each alone)."""
    flips = []
    for i, r in enumerate(radii):
        result = attack(
            model, x[i : i + 1], y[i : i + 1], method=method, threat=threat(r), objective=objective, key=KEY
        )
        flips.append(bool(result.success[0]))
    return np.asarray(flips)


@pytest.mark.parametrize(
    "method, objective, ord, above",
    [
        (APGD(steps=50), CrossEntropy(), 1, 1.01),
        (APGD(steps=50), CrossEntropy(), 2, 1.01),
        (Square(queries=1000), Margin(), 1, 1.01),
        # random search reaches the L2 optimum (δ along w_1 − w_0) only roughly: within 20 % in
        # 3,000 queries (at 1,000, 6 of 8 examples)
        (Square(queries=3000), Margin(), 2, 1.2),
    ],
)
def test_linear_classifier_minimal_radius(method, objective, ord, above):
    """Two classes: above the closed-form radius the attack flips every example, just below it
    none. (With more classes an untargeted ascent can settle in the corner of another class,
    a local maximum of the loss: that is what the targeted runs of APGD-T are for; see
    `test_targeted_dlr_reaches_its_target_class_boundary` and the suite's tests.)"""
    model, x, y = _multiclass(classes=2, n=8)
    radius = _radius(model, x, y, ord)
    threat = (lambda e: linf(e, bounds=None)) if ord == 1 else (lambda e: l2(e, bounds=None))
    assert _flips(model, x, y, method, objective, threat, above * radius).all()
    assert not _flips(model, x, y, method, objective, threat, 0.99 * radius).any()


def test_targeted_dlr_reaches_its_target_class_boundary():
    """APGD with the targeted DLR loss toward class t crosses the half-space z_t ≥ z_y, whose
    L∞ distance is (z_y − z_t)/‖w_y − w_t‖₁: success (argmax ≠ y) at 1.01× that radius."""
    model, x, y = _multiclass(n=6)
    z, w = np.asarray(jax.vmap(model)(x)), np.asarray(model.w)
    target = np.argsort(z, axis=1)[:, -2]  # the runner-up class
    radius = (z[np.arange(6), y] - z[np.arange(6), target]) / np.abs(w[y] - w[target]).sum(axis=1)
    pairs = np.stack([np.asarray(y), target], axis=1).astype(np.int32)
    for i in range(6):
        result = attack(
            model,
            x[i : i + 1],
            pairs[i : i + 1],
            method=APGD(steps=50),
            threat=linf(1.01 * radius[i], bounds=None),
            objective=TargetedDLR(),
            key=KEY,
        )
        assert result.adversarial is not None and bool(result.success[0])
        adversarial = result.adversarial[0]
        assert int(jnp.argmax(model(adversarial))) != int(y[i])


def test_targeted_runs_take_the_target_classes_in_turn():
    """Targets (y, t_1, …, t_k) ordered farthest first: run r pursues t_{1+r}, so with k restarts
    the last run reaches the nearest class boundary (1.01× its radius); at a radius too small
    for any, each example spends k full runs."""
    model, x, y = _multiclass(classes=5, n=6)
    z, w = np.asarray(jax.vmap(model)(x)), np.asarray(model.w)
    rows = np.arange(6)[:, None]
    others = np.stack([np.delete(np.arange(5), yi) for yi in np.asarray(y)])
    radius = (z[rows, np.asarray(y)[:, None]] - z[rows, others]) / np.abs(w[np.asarray(y)][:, None] - w[others]).sum(-1)
    order = np.argsort(-radius, axis=1)  # farthest first
    targets = np.concatenate([np.asarray(y)[:, None], np.take_along_axis(others, order, axis=1)], axis=1)
    nearest = radius.min(axis=1)
    method = APGD(steps=30, restarts=4)
    for i in range(6):
        one = x[i : i + 1], targets[i : i + 1].astype(np.int32)
        hit = attack(
            model, *one, method=method, threat=linf(1.01 * nearest[i], bounds=None), objective=TargetedDLR(), key=KEY
        )
        assert bool(hit.success[0])
    miss = attack(
        model,
        x,
        targets.astype(np.int32),
        method=method,
        threat=linf(0.001, bounds=None),
        objective=TargetedDLR(),
        key=KEY,
    )
    assert not np.any(np.asarray(miss.success))
    np.testing.assert_array_equal(np.asarray(miss.gradient_evaluations), 4 * 31)
    np.testing.assert_array_equal(TargetedDLR().for_restart(jnp.asarray([3, 5, 7, 9]), jnp.asarray(4)), [3, 7])


def test_dlr_formulas_by_hand():
    z = jnp.asarray([3.0, 1.0, 2.5, -1.0, 0.5])
    # untargeted, label 0: −(3 − 2.5) / (3 − 1)
    np.testing.assert_allclose(DLR().loss(z, 0), -(3.0 - 2.5) / (3.0 - 1.0), rtol=1e-6)
    # label 2 (misclassified): −(2.5 − 3) / (3 − 1) > 0
    np.testing.assert_allclose(DLR().loss(z, 2), (3.0 - 2.5) / 2.0, rtol=1e-6)
    # targeted, label 0, target 4: −(3 − 0.5) / (3 − (1 + 0.5)/2)
    np.testing.assert_allclose(TargetedDLR().loss(z, jnp.asarray([0, 4])), -2.5 / (3.0 - 0.75), rtol=1e-6)
    # scale invariance: the DLR of 10 z is that of z
    np.testing.assert_allclose(DLR().loss(10 * z, 1), DLR().loss(z, 1), rtol=1e-6)


def test_apgd_is_at_least_as_strong_as_pgd(trained_mlp, mnist_small):
    """Same budget (40 steps, same random starts): APGD leaves no more accuracy than PGD
    (one example of slack for the different paths)."""
    _, _, x, y = mnist_small
    eps = [0.03, 0.06, 0.1]
    pgd = robust_accuracy(trained_mlp, x, y, eps, PGD(steps=40, relative_step=2.5 / 40), key=KEY)
    apgd = robust_accuracy(trained_mlp, x, y, eps, APGD(steps=40), key=KEY)
    assert np.all(np.asarray(apgd.accuracy) <= np.asarray(pgd.accuracy) + 1 / len(y))
    dlr = robust_accuracy(trained_mlp, x, y, eps, APGD(steps=40), objective=DLR(), key=KEY)
    assert np.all(np.asarray(dlr.accuracy) <= np.asarray(pgd.accuracy) + 1 / len(y))


class Quantised(eqx.Module):
    """A linear classifier of the input rounded to halves: every input gradient is exactly 0."""

    w: jax.Array

    def __call__(self, x):
        s = jnp.sum(self.w * jnp.round(2 * x) / 2)
        return jnp.stack([-s, s])


def test_square_fools_a_model_without_gradients_where_pgd_cannot():
    d = 16
    model = Quantised(jax.random.normal(jax.random.PRNGKey(3), (d,)))
    x = jax.random.uniform(jax.random.PRNGKey(4), (40, d), minval=0.3, maxval=0.7)
    y = jnp.argmax(jax.vmap(model)(x), axis=1)
    threat = linf(0.3, bounds=None)
    gradient = jax.vmap(jax.grad(lambda xi, yi: CrossEntropy().loss(model(xi), yi)))(x, y)
    assert not np.any(np.asarray(gradient))  # nothing for a gradient to follow
    pgd = attack(model, x, y, method=PGD(steps=50, random_start=False), threat=threat, key=KEY)
    square = attack(model, x, y, method=Square(queries=300), threat=threat, objective=Margin(), key=KEY)
    assert not np.any(np.asarray(pgd.success))
    assert np.mean(np.asarray(square.success)) > 0.9


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_square_stays_in_the_threat(trained_mlp, mnist_small, norm):
    """Every candidate lies in the ball, the box and the mask: the kept adversarial does, and
    the masked border of each image never moves."""
    _, _, x, y = mnist_small
    x, y = x[:32], y[:32]
    eps = 0.1 if norm == "linf" else 1.0
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False
    ball = linf(eps) if norm == "linf" else l2(eps)
    threat = ThreatModel(ball.ball, [*ball.constraints, Mask(~border)])
    result = attack(trained_mlp, x, y, method=Square(queries=200), threat=threat, objective=Margin(), key=KEY)
    adversarial = np.asarray(result.adversarial)
    delta = (adversarial - np.asarray(x)).reshape(len(x), -1)
    norms = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    assert np.all(norms <= eps * (1 + 1e-5))
    assert adversarial.min() >= 0 and adversarial.max() <= 1
    np.testing.assert_array_equal(adversarial[:, border], np.asarray(x)[:, border])
    assert np.mean(np.asarray(result.success)) > 0.1  # it does attack
    queries = np.asarray(result.gradient_evaluations)
    assert queries.max() <= 200 and np.all(queries[~np.asarray(result.success)] == 200)


def test_square_window_schedule():
    """p: 0.8 at the start, halved after 10, 50, ..., 8000 queries of 10,000 (rescaled)."""
    square = Square(queries=10_000)
    assert float(square.fraction(jnp.asarray(10))) == pytest.approx(0.8)
    for i, t in enumerate(SCHEDULE):
        assert float(square.fraction(jnp.asarray(t + 1))) == pytest.approx(0.8 / 2 ** (i + 1))
    assert float(Square(queries=1000).fraction(jnp.asarray(2))) == pytest.approx(0.4)  # 20 of 10,000


def test_apgd_halves_its_step_at_checkpoints_when_the_loss_stalls():
    """On a constant loss every checkpoint halves the step (condition 1: the loss never rose):
    at 100 steps the intervals are 22, 19, 16, 13, 10, 7, then 6: checkpoints 22, 41, ..., 99."""
    apgd = APGD(steps=100, random_start=False)
    threat = linf(0.1, bounds=None)
    x0 = jnp.zeros(3)
    x, state = apgd.init(KEY, x0, threat)
    halvings = []
    for k in range(100):
        x, new = apgd.update(x, state, jnp.asarray(1.0), jnp.ones(3), x0, threat)
        if float(new.step) < float(state.step):
            halvings.append(k)
        state = new
    assert halvings == [22, 41, 57, 70, 80, 87, 93, 99]
    assert float(state.step) == pytest.approx(0.2 / 2**8)


def test_methods_reject_bad_settings():
    with pytest.raises(ValueError, match="relative_step"):
        APGD(step_size=0.1)  # both set
    with pytest.raises(ValueError, match="queries"):
        Square(queries=0)
    with pytest.raises(ValueError, match="p_init"):
        Square(p_init=1.5)
    model, x, y = _multiclass(classes=2, n=2)
    with pytest.raises(ValueError, match="at least 3 classes"):
        attack(model, x, y, method=APGD(steps=5), threat=linf(0.1, bounds=None), objective=DLR(), key=KEY)
    with pytest.raises(ValueError, match="L∞ or L2"):
        attack(model, x, y, method=Square(queries=5), threat=l1(0.1, bounds=None), objective=Margin(), key=KEY)
    model, x, y = _multiclass(classes=5, n=2)
    with pytest.raises(ValueError, match=r"shape \(n, 1 \+ k\)"):
        attack(model, x, y, method=APGD(steps=5), threat=linf(0.1, bounds=None), objective=TargetedDLR(), key=KEY)
    same = np.stack([np.asarray(y), np.asarray(y)], axis=1)
    with pytest.raises(ValueError, match="must differ"):
        attack(model, x, same, method=APGD(steps=5), threat=linf(0.1, bounds=None), objective=TargetedDLR(), key=KEY)


# --- the standard suite -------------------------------------------------------------------


def test_suite_finds_the_closed_form_radius_of_a_multiclass_linear_model():
    """APGD-T toward every other class crosses the nearest class boundary: the suite's verdict
    is exactly `radius < ε` (pairs within 1 % of the radius are not judged)."""
    model, x, y = _multiclass(classes=5, n=24)
    radius = _radius(model, x, y, 1)
    eps = np.array([0.0, 0.03, 0.06, 0.1, 0.15, 0.25])
    result = evaluate_robustness(model, x, y, eps, key=KEY, threat=linf(0.0, bounds=None), budget="fast")
    assert result.attacks == ("APGD-CE", "APGD-T", "Square")
    fooled = np.asarray(result.fooled_by) >= 0
    expected = radius[None, :] < eps[:, None]
    clear = np.abs(radius[None, :] - eps[:, None]) > 0.01 * radius[None, :]
    np.testing.assert_array_equal(fooled[clear], expected[clear])
    np.testing.assert_allclose(result.accuracy, 1 - fooled.mean(axis=1), atol=1e-6)
    after = np.asarray(result.after)
    assert np.all(np.diff(after, axis=0) <= 0)  # each attack only adds fooled examples
    np.testing.assert_array_equal(after[-1], result.accuracy)


def test_suite_is_no_weaker_than_its_first_attack_alone(trained_mlp, mnist_small):
    _, _, x, y = mnist_small
    eps = [0.0, 0.05, 0.1]
    suite = evaluate_robustness(trained_mlp, x, y, eps, key=KEY, budget="fast")
    alone = robust_accuracy(trained_mlp, x, y, eps, APGD(steps=50), key=KEY)
    assert np.all(np.asarray(suite.accuracy) <= np.asarray(alone.accuracy) + 1 / len(y))
    fooled_by = np.asarray(suite.fooled_by)
    clean_wrong = np.asarray(jnp.argmax(jax.vmap(trained_mlp)(x), axis=1)) != y
    np.testing.assert_array_equal(fooled_by[0] == -2, clean_wrong)
    assert np.all((fooled_by[0] == -2) | (fooled_by[0] == -1))  # nothing is attacked at ε = 0
    record = suite.as_dict()
    assert sum(record["fooled_by"].values(), start=np.zeros(3)).tolist() == (fooled_by >= 0).sum(axis=1).tolist()


def test_suite_leaves_out_what_does_not_apply():
    model, x, y = _multiclass(classes=2, n=4)
    result = evaluate_robustness(model, x, y, [0.1], key=KEY, threat=linf(0.0, bounds=None), budget="fast")
    assert result.attacks == ("APGD-CE", "Square") and "APGD-T" in dict(result.left_out)
    attacks, left_out = suite_attacks("fast", 10, l1(0.0, bounds=None))
    assert [a.name for a in attacks] == ["APGD-CE", "APGD-T"] and "Square" in left_out
    with pytest.raises(ValueError, match="budget"):
        suite_attacks("thorough", 10, linf(0.1))
