"""The attack engine against closed forms, finite differences and a second method."""

import io

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import enable_x64
from tqdm import tqdm

from adprf.attacks import (
    BIM,
    FGSM,
    PGD,
    CrossEntropy,
    GradientDescent,
    Margin,
    Mask,
    Minimal,
    MSEOneHot,
    NonNegative,
    ScalarThreshold,
    ThreatModel,
    attack,
    l2,
    linf,
    robust_accuracy,
    unbounded,
)

KEY = jax.random.PRNGKey(0)


# --- linear classifier: closed-form minimal perturbations -----------------------------


def _exact(model, s, norm):
    return np.abs(np.asarray(s)) / float(jnp.linalg.norm(model.w, ord=norm))


@pytest.mark.parametrize("method", [FGSM(), PGD(steps=20, step_size=0.05), BIM(steps=10)])
def test_linf_success_matches_closed_form(linear_problem, method):
    model, x, y, s = linear_problem
    eps_star = _exact(model, s, 1)
    grid = np.array([0.0, 0.05, 0.1, 0.2, 0.4])
    result = robust_accuracy(model, x, y, grid, method, threat=linf(0.0, bounds=None), key=KEY)
    expected = eps_star[None, :] < grid[:, None]
    assert np.array_equal(np.asarray(result.success), expected)
    np.testing.assert_allclose(result.accuracy, 1 - expected.mean(1))


@pytest.mark.parametrize("threat, norm", [(linf, 1), (l2, 2)])
@pytest.mark.parametrize("method", [FGSM(), PGD(steps=50, step_size=0.02, random_start=False)])
def test_minimal_radius_is_exact(linear_problem, threat, norm, method):
    """Just above ε* every attack succeeds, just below none can (FGSM is optimal here)."""
    model, x, y, s = linear_problem
    eps_star = _exact(model, s, norm)
    for i in range(6):
        xi, yi = x[i : i + 1], y[i : i + 1]
        above = attack(model, xi, yi, method=method, threat=threat(eps_star[i] * 1.002, bounds=None), key=KEY)
        below = attack(model, xi, yi, method=method, threat=threat(eps_star[i] * 0.998, bounds=None), key=KEY)
        assert bool(above.success[0]) and not bool(below.success[0])
        assert float(above.distance[0]) <= eps_star[i] * 1.002 + 1e-6


def test_minimal_attack_finds_the_l2_distance(linear_problem):
    model, x, y, s = linear_problem
    result = attack(model, x, y, method=Minimal(steps=300), threat=ThreatModel(None), objective="margin", key=KEY)
    assert bool(result.success.all())
    exact, found = _exact(model, s, 2), np.asarray(result.distance)
    assert np.all(found >= exact * (1 - 1e-5))  # nothing beats the minimal distance
    assert np.all(found <= exact + 0.015)  # within ~ the Adam step (0.01) of it


def test_l2_projection_and_zero_radius(linear_problem):
    model, x, y, _ = linear_problem
    ball = l2(0.5, bounds=None)
    far = x[0] + 3.0
    np.testing.assert_allclose(np.linalg.norm(ball.project(far, x[0]) - x[0]), 0.5, rtol=1e-6)
    np.testing.assert_array_equal(ball.project(x[0] + 0.01, x[0]), x[0] + 0.01)  # inside: unchanged
    zero = robust_accuracy(model, x, y, [0.0], PGD(steps=3, step_size=0.1), threat="l2", bounds=None, key=KEY)
    assert float(zero.accuracy[0]) == 1.0 and np.all(np.isfinite(np.asarray(zero.accuracy)))


def test_pgd_l2_random_start_stays_in_ball(linear_problem):
    model, x, y, _ = linear_problem
    for eps in (0.05, 0.5):
        res = attack(model, x, y, method=PGD(steps=1, step_size=1e-9), threat=l2(eps, bounds=None), key=KEY)
        assert float(res.distance[~res.success].max(initial=0)) <= eps * (1 + 1e-5)


# --- a trained network ----------------------------------------------------------------


def test_pgd_beats_fgsm_and_accuracy_falls_with_eps(trained_mlp, mnist_small):
    _, _, x, y = mnist_small
    grid = [0.0, 0.05, 0.1, 0.2]
    fgsm = robust_accuracy(trained_mlp, x, y, grid, FGSM(), key=KEY)
    pgd = robust_accuracy(trained_mlp, x, y, grid, PGD(steps=20, step_size=0.01), key=KEY)
    assert np.all(np.diff(np.asarray(pgd.accuracy)) <= 0)
    assert np.all(np.asarray(pgd.accuracy) <= np.asarray(fgsm.accuracy) + 1e-6)
    assert float(pgd.accuracy[0]) == float(fgsm.accuracy[0]) > 0.7  # ε = 0: clean accuracy
    assert float(pgd.accuracy[-1]) < 0.1
    # ε = 0 costs one evaluation; clean mistakes then stop at once where already in flight,
    # and are not attacked at all once their ε = 0 result is known (nested balls)
    assert np.all(np.asarray(pgd.gradient_evaluations[0]) == 1)
    mistakes = np.asarray(pgd.gradient_evaluations)[1:, np.asarray(pgd.success[0])]
    assert np.all(mistakes <= 1) and np.mean(mistakes == 0) > 0.5


def test_nested_sweep_equals_cumulative_independent_attacks(trained_mlp, mnist_small):
    """Each pair draws the same random start either way, so the nested sweep must equal the
    running OR over smaller ε of independent attacks, for any order of the grid."""
    _, _, x, y = mnist_small
    grid = [0.1, 0.0, 0.03, 0.05, 0.2]
    kw = dict(key=KEY, batch_size=64)
    method = PGD(steps=10, step_size=0.01)
    independent = robust_accuracy(trained_mlp, x, y, grid, method, nested=False, **kw)
    nested = robust_accuracy(trained_mlp, x, y, grid, method, **kw)
    ind = np.asarray(independent.success)
    expected = np.stack([ind[[j for j, f in enumerate(grid) if f <= e]].any(axis=0) for e in grid])
    np.testing.assert_array_equal(np.asarray(nested.success), expected)
    assert int(nested.gradient_evaluations.sum()) < int(independent.gradient_evaluations.sum())


def test_adversarials_respect_threat(trained_mlp, mnist_small):
    _, _, x, y = mnist_small
    res = attack(trained_mlp, x, y, method=PGD(steps=10, step_size=0.02), threat=linf(0.1), key=KEY)
    adv = np.asarray(res.adversarial)
    assert adv.min() >= 0 and adv.max() <= 1
    assert np.abs(adv - x).max() <= 0.1 + 1e-6
    logits = jax.vmap(trained_mlp)(jnp.asarray(adv))
    np.testing.assert_array_equal(np.asarray(jnp.argmax(logits, 1) != y), np.asarray(res.success))


def test_deterministic_and_batch_size_invariant(trained_mlp, mnist_small):
    _, _, x, y = mnist_small
    kw = dict(method=PGD(steps=10, step_size=0.01), threat=linf(0.05), key=KEY)
    a = attack(trained_mlp, x, y, batch_size=64, **kw)
    b = attack(trained_mlp, x, y, batch_size=64, **kw)
    c = attack(trained_mlp, x, y, batch_size=17, **kw)
    np.testing.assert_array_equal(np.asarray(a.adversarial), np.asarray(b.adversarial))
    np.testing.assert_array_equal(np.asarray(a.success), np.asarray(c.success))
    np.testing.assert_allclose(np.asarray(a.adversarial), np.asarray(c.adversarial), atol=1e-5)
    d = attack(trained_mlp, x, y, method=kw["method"], threat=kw["threat"], key=jax.random.PRNGKey(1))
    assert not np.array_equal(np.asarray(a.adversarial), np.asarray(d.adversarial))


def test_restarts_only_add_success(trained_mlp, mnist_small):
    _, _, x, y = mnist_small
    one = attack(trained_mlp, x, y, method=PGD(steps=5, step_size=0.01), threat=linf(0.04), key=KEY)
    five = attack(trained_mlp, x, y, method=PGD(steps=5, step_size=0.01, restarts=5), threat=linf(0.04), key=KEY)
    assert int(five.success.sum()) >= int(one.success.sum())
    # robust examples spend all restarts: 5 runs of 6 evaluations
    assert int(five.gradient_evaluations.max()) == 30
    assert np.all(np.asarray(five.gradient_evaluations)[~np.asarray(five.success)] == 30)


# --- objectives: finite differences ----------------------------------------------------


@pytest.mark.parametrize(
    "objective", [CrossEntropy(), Margin(), MSEOneHot(), CrossEntropy(targeted=True), Margin(targeted=True)]
)
def test_objective_gradients_match_finite_differences(objective):
    with enable_x64():
        z = jnp.asarray(np.random.default_rng(0).normal(size=10))
        g = jax.grad(objective.loss)(z, 3)
        h = 1e-6
        fd = np.array(
            [(objective.loss(z.at[j].add(h), 3) - objective.loss(z.at[j].add(-h), 3)) / (2 * h) for j in range(10)]
        )
        np.testing.assert_allclose(np.asarray(g), fd, rtol=1e-6, atol=1e-8)


def test_objective_success_criteria():
    z = jnp.array([0.1, 2.0, -1.0])
    assert bool(CrossEntropy().success(z, 0)) and not bool(CrossEntropy().success(z, 1))
    assert bool(Margin(targeted=True).success(z, 1)) and not bool(Margin(targeted=True).success(z, 2))
    assert float(Margin().loss(z, 0)) == pytest.approx(1.9)
    below, above = ScalarThreshold(1.0), ScalarThreshold(1.0, direction="above")
    assert bool(below.success(jnp.array(1.0), None)) and not bool(above.success(jnp.array(1.0), None))
    with pytest.raises(ValueError, match="direction"):
        ScalarThreshold(1.0, direction="sideways")


# --- scalar-threshold descent against the closed-form iteration count -----------------


def test_raw_gradient_descent_stops_at_threshold():
    """T(x) = Σx²: x_k = x₀(1 − 2α)^k, so T ≤ 1 after ⌈log(1/T₀) / (2 log(1 − 2α))⌉ steps."""
    x0 = jnp.array([[1.2, 1.6], [0.3, 0.4], [3.0, 4.0]])
    alpha = 0.05
    res = attack(
        lambda x: jnp.sum(x**2),
        x0,
        None,
        method=GradientDescent(step_size=alpha, steps=10_000),
        threat=unbounded(),
        objective=ScalarThreshold(1.0),
        key=KEY,
    )
    t0 = np.sum(np.asarray(x0) ** 2, axis=1)
    steps = np.maximum(np.ceil(np.log(1 / t0) / (2 * np.log(1 - 2 * alpha))), 0)
    np.testing.assert_array_equal(np.asarray(res.gradient_evaluations) - 1, steps)
    assert np.all(np.sum(np.asarray(res.adversarial) ** 2, 1) <= 1.0)


def test_mask_and_reset_constraints():
    """Only masked coordinates move; coordinates pushed below 0 are reset to 0.1."""
    x0 = jnp.array([[0.5, 2.0, 0.2]])
    threat = unbounded([NonNegative(reset=0.1), Mask(lambda x: x < 1.0)])
    res = attack(
        lambda x: jnp.sum(x),
        x0,
        None,
        method=GradientDescent(step_size=0.3, steps=3),
        threat=threat,
        objective=ScalarThreshold(-10.0),
        key=KEY,
    )
    adv = np.asarray(res.adversarial[0])
    assert adv[1] == 2.0  # masked out: never moves
    assert not bool(res.success[0])
    # steps of −0.3: 0.5 → 0.2 → 0.1 (reset from −0.1) → 0.1 (reset from −0.2); 0.2 → 0.1 → 0.1
    np.testing.assert_allclose(adv[[0, 2]], [0.1, 0.1], atol=1e-6)


# --- straight-through (BPDA) -----------------------------------------------------------


class Quantised(eqx.Module):
    """A linear classifier behind a staircase quantiser: zero input gradient everywhere."""

    quantise: eqx.Module
    head: eqx.Module

    def __call__(self, x):
        return self.head(self.quantise(x))


class Staircase(eqx.Module):
    def __call__(self, x):
        return jnp.round(x * 8) / 8


def test_straight_through_defeats_gradient_masking(linear_problem):
    model, x, y, s = linear_problem
    masked = Quantised(Staircase(), model)
    y_q = jnp.argmax(jax.vmap(masked)(x), 1)
    plain = attack(masked, x, y_q, method=PGD(steps=20, step_size=0.05), threat=linf(0.5, bounds=None), key=KEY)
    bpda = attack(
        masked,
        x,
        y_q,
        method=PGD(steps=20, step_size=0.05),
        threat=linf(0.5, bounds=None),
        key=KEY,
        straight_through="quantise",
    )
    assert float(plain.success.mean()) < 0.2  # gradients are zero: only random starts
    assert float(bpda.success.mean()) > 0.9
    with pytest.raises(ValueError, match="no part named"):
        attack(masked, x, y_q, method=FGSM(), threat=linf(0.1, bounds=None), key=KEY, straight_through="filter")


# --- validation ------------------------------------------------------------------------


def test_bad_inputs_raise_clear_errors(linear_problem):
    model, x, y, _ = linear_problem
    with pytest.raises(ValueError, match="box"):
        attack(model, x, y, method=FGSM(), threat=linf(0.1), key=KEY)  # x in [−1, 1]
    with pytest.raises(ValueError, match="targets"):
        attack(model, x, y[:3], method=FGSM(), threat=linf(0.1, bounds=None), key=KEY)
    with pytest.raises(ValueError, match="epsilons"):
        robust_accuracy(model, x, y, [-0.1], FGSM(), threat=linf(0.0, bounds=None), key=KEY)
    with pytest.raises(ValueError, match="NaN"):
        attack(model, x.at[0, 0].set(jnp.nan), y, method=FGSM(), threat=linf(0.1, bounds=None), key=KEY)
    with pytest.raises(ValueError, match="steps"):
        PGD(steps=0)
    with pytest.raises(ValueError, match="unknown threat"):
        robust_accuracy(model, x, y, [0.1], FGSM(), threat="l7", key=KEY)


def test_robust_accuracy_never_exceeds_clean_accuracy(mnist_small):
    # A hard threshold has zero input gradients: PGD from a random start cannot move, and an
    # image misclassified when clean must still count as fooled.
    from adprf.attacks import PGD, robust_accuracy
    from adprf.nets import MLP, Filtered, HardThreshold

    _, _, x, y = mnist_small
    model = Filtered(MLP(width=16, depth=1, key=jax.random.PRNGKey(3)), HardThreshold(0.5))  # untrained
    clean = float(jnp.mean(jnp.argmax(jax.vmap(model)(x), 1) == y))
    result = robust_accuracy(model, x, y, [0.0, 0.1, 0.3], PGD(steps=5), key=jax.random.PRNGKey(0))
    assert float(result.accuracy[0]) == pytest.approx(clean)
    assert bool(jnp.all(result.accuracy <= clean + 1e-6))


class _Bar(tqdm):
    """A tqdm bar writing to a buffer that records the positions it is moved to."""

    def __init__(self, **kw):
        self.positions = []
        super().__init__(file=io.StringIO(), **kw)

    def update(self, n=1):
        shown = super().update(n)
        self.positions.append(self.n)
        return shown


def test_pool_layout_does_not_change_results(trained_mlp, mnist_small, monkeypatch):
    """Short runs keep one pool, long ones shrink it for the tail (`pool_sizes`); the pairs are
    independent, so an attack gives the same records either way, with and without a bar."""
    from adprf.attacks import _loop, run_attack

    assert _loop.pool_sizes(256, False) == [(256, 0)]
    assert _loop.pool_sizes(256, True) == [(256, 128), (128, 64), (64, 32), (32, 16), (16, 0)]
    assert not _loop.shrinks(PGD(steps=40), 256) and _loop.shrinks(PGD(steps=200), 256)
    assert _loop.shrinks(PGD(restarts=5), 64) and not _loop.shrinks(PGD(steps=200), 16)
    _, _, x, y = mnist_small
    kw = dict(method=PGD(steps=10, step_size=0.02), threat=linf(0.1), objective="cross-entropy", key=KEY, batch_size=64)
    runs = {}
    for shrink_after in (1, _loop.SHRINK_AFTER):
        monkeypatch.setattr(_loop, "SHRINK_AFTER", shrink_after)
        for progress in (False, "layout"):
            runs[shrink_after, progress] = run_attack(
                trained_mlp, x[:150], y[:150], [0.0, 0.05, 0.1], progress=progress, **kw
            )
    first = runs[1, False]
    assert 0 < int(np.sum(first.success)) < first.success.size
    for other in runs.values():
        for name in ("success", "distance", "gradient_evaluations", "adversarial"):
            np.testing.assert_array_equal(getattr(first, name), getattr(other, name), err_msg=name)


def test_parked_pairs_give_the_records_of_a_turnover_per_finish(trained_mlp, mnist_small, monkeypatch):
    """Once the queue is drained, a pair that finishes is parked until a run restarts, none is
    left or the pool shrinks (`AttackLoop.steps`), instead of a turnover at every finish. The
    records must be those of a turnover per finish (the loop told the queue never drains), in
    one call and in chunks of steps (with a progress bar), for early stopping, restarts, a nested
    sweep, a minimal attack and a shrinking pool."""
    from adprf.attacks import _loop, run_attack

    _, _, x, y = mnist_small
    steps = _loop.AttackLoop.steps

    def never_drained(self, slots, fill, drained, next_slots, limit=None):
        return steps(self, slots, fill, jnp.asarray(False), next_slots, limit)

    cases = [  # method, threat, radii, nested, SHRINK_AFTER (1: the pool of 64 shrinks to 16)
        (PGD(steps=12, step_size=0.02, restarts=2), linf(0.1), [0.02, 0.05, 0.1], True, 1),
        (PGD(steps=12, step_size=0.02), linf(0.1), [0.1], False, _loop.SHRINK_AFTER),
        (Minimal(steps=15), l2(3.0), [3.0], False, _loop.SHRINK_AFTER),
    ]
    for method, threat, eps, nested, shrink_after in cases:
        monkeypatch.setattr(_loop, "SHRINK_AFTER", shrink_after)
        runs = []
        for per_finish, progress in [(True, False), (False, False), (False, "chunks")]:
            if per_finish:
                monkeypatch.setattr(_loop.AttackLoop, "steps", never_drained)
            jax.clear_caches()  # the loop is traced again, with the `steps` of this run
            kw = dict(method=method, threat=threat, objective="cross-entropy", key=KEY, batch_size=64, nested=nested)
            runs.append(run_attack(trained_mlp, x[:100], y[:100], eps, progress=progress, **kw))
            monkeypatch.setattr(_loop.AttackLoop, "steps", steps)
        turnover_per_finish = runs[0]
        assert 0 < int(np.sum(turnover_per_finish.success)) < turnover_per_finish.success.size  # some finish early
        for parked in runs[1:]:  # in one call, and in chunks of steps (a progress bar)
            for name in ("success", "distance", "gradient_evaluations", "adversarial"):
                np.testing.assert_array_equal(getattr(parked, name), getattr(turnover_per_finish, name), err_msg=name)


def test_batches_of_one_bucket_share_a_program_and_give_the_same_records(trained_mlp, mnist_small):
    """On one device a batch is padded to the next power of two (`sharding.bucket`) and the
    padding is never queued: 40 and 50 examples (both padded to 64) run one compiled program,
    and with one radius (pair index = example index, so the same random starts) the first 40
    examples get the same records either way; 70 examples (padded to 128) need another."""
    import jax.monitoring

    from adprf import sharding
    from adprf.attacks import run_attack

    assert [sharding.bucket(n) for n in (1, 2, 3, 33, 64, 65, 500)] == [1, 2, 4, 64, 64, 128, 512]
    for bad in (0, -3):
        with pytest.raises(ValueError, match="count of examples ≥ 1"):
            sharding.bucket(bad)
    _, _, x, y = mnist_small
    kw = dict(method=PGD(steps=10, step_size=0.02), threat=linf(0.1), objective="cross-entropy", key=KEY, batch_size=16)
    compiled = []

    def count(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(duration)

    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        runs = {}
        for n in (40, 50, 70):
            before = len(compiled)
            runs[n] = run_attack(trained_mlp, x[:n], y[:n], [0.1], **kw)
            runs[n, "programs"] = len(compiled) - before
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert runs[50, "programs"] < runs[70, "programs"], runs  # the loop itself is not compiled again for 50
    assert runs[50].success.shape == (1, 50)
    assert 0 < int(np.sum(runs[40].success)) < 40
    for name in ("success", "distance", "gradient_evaluations", "adversarial"):
        np.testing.assert_array_equal(getattr(runs[40], name), getattr(runs[50], name)[:, :40], err_msg=name)
        np.testing.assert_array_equal(getattr(runs[40], name), getattr(runs[70], name)[:, :40], err_msg=name)


def test_steps_and_restarts_are_data_one_program_and_the_closed_form_budget(trained_mlp, mnist_small):
    """PGD's `steps` and `restarts` reach the compiled loop as data (`budget_as_data`): PGD-3,
    PGD-7 and PGD-3 with 2 restarts run one program (the later calls compile nothing), and at a
    radius too small to fool anything each correctly classified pair takes exactly
    (steps + 1) · restarts evaluations; a misclassified one, a single evaluation."""
    import jax.monitoring

    from adprf.attacks import run_attack

    _, _, x, y = mnist_small
    compiled = []

    def count(event, duration, **_):
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(duration)

    jax.monitoring.register_event_duration_secs_listener(count)
    runs = {}
    try:
        for steps, restarts in ((3, 1), (7, 1), (3, 2)):
            before = len(compiled)
            method = PGD(steps=steps, step_size=1e-7, restarts=restarts)
            runs[steps, restarts] = run_attack(
                trained_mlp,
                x[:30],
                y[:30],
                [1e-6],
                method=method,
                threat=linf(1e-6),
                objective="cross-entropy",
                key=KEY,
                batch_size=8,
            )
            runs[steps, restarts, "programs"] = len(compiled) - before
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert runs[3, 1, "programs"] > 0 and runs[7, 1, "programs"] == 0 and runs[3, 2, "programs"] == 0, runs
    clean = np.asarray(jnp.argmax(jax.vmap(trained_mlp)(x[:30]), axis=-1) == y[:30])
    assert clean.sum() > 0
    for (steps, restarts), result in ((k, v) for k, v in runs.items() if len(k) == 2):
        np.testing.assert_array_equal(np.asarray(result.success[0]), ~clean)
        expected = np.where(clean, (steps + 1) * restarts, 1)
        np.testing.assert_array_equal(np.asarray(result.gradient_evaluations[0]), expected)


@pytest.mark.parametrize("case", ["pgd", "minimal-nested", "ensemble"])
def test_progress_runs_the_same_iterations_in_chunks(case, trained_mlp, mnist_small, monkeypatch):
    """With a bar the loop runs as compiled chunks that return to the host between them
    (start, advance ×k per pool, shrink, finish), each compiled once: the results equal the
    one-call loop's bit for bit (restarts, the pools shrinking 64 → 16, nested skips, ensemble
    members finishing at different times), and the bar ends at the number of pairs after
    several moves. Without a bar a shrinking pool runs in the same stages, each pool to its end.
    A pool that no run is left for is skipped, never compiled."""
    from conftest import LinearClassifier

    from adprf.attacks import Ensemble, _loop, _shards, run_attack

    bars, traced = [], []
    monkeypatch.setattr(_shards, "tqdm", lambda **kw: bars.append(_Bar(**kw)) or bars[-1])
    monkeypatch.setattr(_loop, "SHRINK_AFTER", 1)  # these short runs move through every pool size

    def spy(replicated, batched, offset, n_valid, carry, stage_of=_shards._attack_shard):
        traced.append(replicated[1][0])  # runs when a stage is traced, not when it runs
        return stage_of(replicated, batched, offset, n_valid, carry)

    monkeypatch.setattr(_shards, "_attack_shard", spy)
    _, _, x, y = mnist_small
    x, y, epsilons, members = x[:150], y[:150], [0.0, 0.05, 0.1], 1
    kw = dict(key=KEY, batch_size=64)
    if case == "pgd":
        model = trained_mlp
        kw |= dict(method=PGD(steps=8, step_size=0.02, random_start=True, restarts=2), threat=linf(0.1))
        kw |= dict(objective="cross-entropy")
    elif case == "minimal-nested":
        model = trained_mlp
        kw |= dict(method=Minimal(steps=12), threat=linf(0.1), objective="margin", nested=True)
    else:  # a member fooled at once beside one never fooled (zero weights)
        x, w = x.reshape(len(x), -1), jax.random.normal(jax.random.PRNGKey(7), (784,))
        model = Ensemble.of([LinearClassifier(w, jnp.asarray(0.0)), LinearClassifier(0 * w, jnp.asarray(0.0))])
        y, members = (x @ w > 0).astype(jnp.int32), 2
        kw |= dict(method=PGD(steps=4, step_size=0.05, random_start=True, restarts=2), threat=linf(0.1))
        kw |= dict(objective="cross-entropy")
    with monkeypatch.context() as patch:  # the whole loop in one call, shrinking pools and all
        patch.setattr(_shards, "one_call", lambda options, progress: True)
        whole = run_attack(model, x, y, epsilons, **kw)
    quiet = run_attack(model, x, y, epsilons, **kw)  # stages, each pool to its end
    shown = run_attack(model, x, y, epsilons, progress="chunks", **kw)
    for name in ("success", "distance", "gradient_evaluations", "nonfinite", "adversarial"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(shown, name), err_msg=name)
        np.testing.assert_array_equal(getattr(whole, name), getattr(quiet, name), err_msg=name)
    assert 0 < int(np.sum(shown.success)) < shown.success.size  # some pairs fooled, some not
    (bar,) = bars
    assert bar.disable  # closed
    assert bar.n == bar.total == len(epsilons) * x.shape[0] * members
    assert len(bar.positions) >= 3 and bar.positions == sorted(bar.positions)
    # every stage compiles once: the chunks after the first find the types the first left, and the
    # stages without a bar are those with one (the budget is data)
    assert len(traced) == len(set(traced))
    stages = [type(t).__name__ for t in traced]
    if case == "minimal-nested":  # every run ends in the first pool: the smaller ones are never compiled
        assert stages == ["Whole", "Start", "Advance", "Finish"], stages
    else:  # runs are left for every pool: 64 → 32 → 16
        assert stages.count("Shrink") == 2 and stages.count("Advance") == 3, stages


def test_chunk_budgets_aim_at_fifty_moves_of_the_bar():
    from adprf.attacks._shards import UPDATES, _next_budget

    assert UPDATES == 50
    assert _next_budget(4, iterations=7, done=0, total=1000) == 8  # nothing done yet: double
    assert _next_budget(8, iterations=100, done=500, total=1000) == 4  # 20 pairs (1/50) take 4 iterations
    assert _next_budget(1, iterations=100, done=500, total=10**6) == 2  # grows at most twofold
    assert _next_budget(64, iterations=10, done=10**4, total=10**4) == 1
