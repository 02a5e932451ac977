"""Bad input at the attack engine's public boundary: each case raises an error naming the value and
the fix, or gives the right answer. (Cell models, ligands and analysis: test_bad_inputs_cells.py;
the results store and CLI: test_cache_integrity.py, test_interrupts.py.)"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf.attacks import (
    FGSM,
    PGD,
    Box,
    CrossEntropy,
    Ensemble,
    GradientDescent,
    L2Ball,
    LinfBall,
    Margin,
    Mask,
    Minimal,
    ScalarThreshold,
    ThreatModel,
    attack,
    audit,
    l2,
    linf,
    robust_accuracy,
    run_attack,
)
from adprf.attacks._engine import NonFiniteError

KEY = jax.random.PRNGKey(0)
CLASSES = 10


class Linear(eqx.Module):
    """Logits W x + b for inputs of 6 pixels."""

    weight: jax.Array
    bias: jax.Array

    def __call__(self, x):
        return self.weight @ x + self.bias


class NaNWhere(eqx.Module):
    """The linear model, with NaN logits wherever the first pixel exceeds `above`."""

    model: Linear
    above: float = eqx.field(static=True)

    def __call__(self, x):
        return jnp.where(x[0] > self.above, jnp.nan, self.model(x))


@pytest.fixture(scope="module")
def problem():
    k1, k2, k3 = jax.random.split(KEY, 3)
    model = Linear(jax.random.normal(k1, (CLASSES, 6)), jax.random.normal(k2, (CLASSES,)))
    x = jax.random.uniform(k3, (12, 6))
    y = jnp.argmax(jax.vmap(model)(x), axis=1)  # every clean example correct
    return model, x, y


# --- labels --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [CLASSES, -1])
def test_labels_out_of_range_are_refused(problem, bad):
    model, x, y = problem
    labels = y.at[3].set(bad)
    with pytest.raises(ValueError, match=rf"labels must lie in \[0, {CLASSES}\).*example 3 has {bad}"):
        robust_accuracy(model, x, labels, [0.0, 0.1], FGSM(), key=KEY)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        attack(model, x, labels, method=FGSM(), threat=linf(0.1), key=KEY)


def test_targeted_classes_out_of_range_are_refused(problem):
    model, x, y = problem
    with pytest.raises(ValueError, match=r"target classes must lie in \[0, 10\)"):
        attack(model, x, y + 10, method=PGD(steps=2), threat=linf(0.1), objective=Margin(targeted=True), key=KEY)


@pytest.mark.parametrize("labels", [lambda y: y.astype(jnp.float32), lambda y: y.astype(bool)])
def test_non_integer_labels_are_refused(problem, labels):
    model, x, y = problem
    with pytest.raises(ValueError, match="labels must be integer class indices"):
        robust_accuracy(model, x, labels(y), [0.1], FGSM(), key=KEY)


def test_numpy_and_python_integer_labels_are_accepted(problem):
    model, x, y = problem
    as_list = robust_accuracy(model, x, [int(v) for v in y], [0.0], FGSM(), key=KEY)
    as_numpy = robust_accuracy(model, x, np.asarray(y, np.int64), [0.0], FGSM(), key=KEY)
    assert float(as_list.accuracy[0]) == float(as_numpy.accuracy[0]) == 1.0


def test_labels_missing_for_a_classification_objective(problem):
    model, x, _ = problem
    with pytest.raises(ValueError, match=r"CrossEntropy needs labels \(y\), got None"):
        attack(model, x, None, method=FGSM(), threat=linf(0.1), key=KEY)


def test_missing_batch_axis_is_named(problem):
    model, x, y = problem
    with pytest.raises(ValueError, match="inputs need a leading batch axis"):
        # 6 "examples" of one pixel each, with 6 labels: the model cannot take one of them
        attack(model, x[0], y[:6], method=FGSM(), threat=linf(0.1), key=KEY)
    with pytest.raises(ValueError, match=r"1 inputs need 1 targets|need .* targets"):
        attack(model, x[0][None], y[0], method=FGSM(), threat=linf(0.1), key=KEY)


def test_classification_objective_on_a_scalar_output(problem):
    _, x, y = problem
    with pytest.raises(ValueError, match=r"one logit per class .* ScalarThreshold"):
        attack(lambda z: jnp.sum(z), x, y, method=FGSM(), threat=linf(0.1), key=KEY)


# --- methods and threats ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: PGD(step_size=-0.02), "PGD: step_size must be a finite number > 0, got -0.02"),
        (lambda: PGD(step_size=float("nan")), "PGD: step_size must be a finite number > 0, got nan"),
        (lambda: PGD(step_size=float("inf")), "step_size must be a finite number > 0, got inf"),
        (lambda: PGD(step_size=0.0), "step_size must be a finite number > 0, got 0.0"),
        (lambda: GradientDescent(-0.2), "GradientDescent: step_size must be a finite number > 0"),
        (lambda: Minimal(c=float("nan")), "Minimal: c must be a finite number > 0"),
        (lambda: Minimal(confidence=-1.0), "Minimal: confidence must be a finite number ≥ 0"),
        (lambda: Minimal(optimizer="adam"), "optimizer must be an optax.GradientTransformation"),
        (lambda: PGD(steps=0), "steps must be an integer ≥ 1"),
        (lambda: PGD(restarts=2.5), "restarts must be an integer ≥ 1"),
    ],
)
def test_method_constants(make, words):
    # ours, or jaxtyping's runtime check of the annotation, which may fire first in the tests
    with pytest.raises(
        (ValueError, TypeError), match=words.replace("(", r"\(").replace(")", r"\)") + "|Type-check error"
    ):
        make()


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda: linf(-0.1), "linf needs a radius ε ≥ 0"),
        (lambda: linf(float("nan")), "linf needs a radius ε ≥ 0"),
        (lambda: l2(-1.0), "l2 needs a radius ε ≥ 0"),
        (lambda: l2([0.1, 0.2]), "a single number"),
        (lambda: LinfBall(jnp.asarray(-0.3)), "LinfBall needs a radius ε ≥ 0"),
        (lambda: L2Ball(float("nan")), "L2Ball needs a radius ε ≥ 0"),
        (lambda: Box(1.0, 0.0), "Box needs lower < upper"),
        (lambda: Box(0.0, float("nan")), "Box needs lower < upper"),
        (lambda: ThreatModel(0.3), "ball must be an AbstractBall"),
        (lambda: ThreatModel(LinfBall(0.1), ["clip"]), "constraints must be AbstractConstraints"),
        (lambda: ScalarThreshold(threshold=float("nan")), "one finite threshold"),
    ],
)
def test_threat_and_objective_values(make, words):
    with pytest.raises((ValueError, TypeError), match=words + "|Type-check error"):
        make()


def test_infinite_radius_is_allowed(problem):
    model, x, y = problem
    r = robust_accuracy(model, x, y, [0.0, np.inf], PGD(steps=20, step_size=0.5), key=KEY)
    assert float(r.accuracy[1]) == 0.0  # the whole box: every linear classifier can be flipped here


def test_negative_step_no_longer_overstates_robustness(problem):
    """Before: PGD(step_size=-0.02) descended the loss and reported higher robustness."""
    model, x, y = problem
    with pytest.raises(ValueError, match="overstates robustness"):
        robust_accuracy(model, x, y, [0.1], PGD(steps=10, step_size=-0.02), key=KEY)


def test_bounds_beside_a_threat_model(problem):
    model, x, y = problem
    with pytest.raises(
        ValueError, match=r"bounds=\(0.0, 2.0\) was passed with a ThreatModel whose box is \(0.0, 1.0\)"
    ):
        robust_accuracy(model, x, y, [0.1], FGSM(), threat=linf(0.0), bounds=(0.0, 2.0), key=KEY)
    with pytest.raises(ValueError, match="whose box is None"):
        robust_accuracy(model, x, y, [0.1], FGSM(), threat=linf(0.0, bounds=None), bounds=(0.0, 1.0), key=KEY)
    same = robust_accuracy(model, x, y, [0.1], FGSM(), threat=linf(0.0), bounds=(0, 1), key=KEY)
    plain = robust_accuracy(model, x, y, [0.1], FGSM(), threat=linf(0.0), key=KEY)
    np.testing.assert_array_equal(same.accuracy, plain.accuracy)
    with pytest.raises(ValueError, match="bounds="):
        audit(model, x, y, epsilons=[0.1], key=KEY, threat=linf(0.0), bounds=(0.0, 2.0))


def test_bad_epsilons_and_policies(problem):
    model, x, y = problem
    with pytest.raises(ValueError, match="epsilons must be a non-empty 1-D list of values ≥ 0"):
        robust_accuracy(model, x, y, [0.1, float("nan")], FGSM(), key=KEY)
    with pytest.raises(ValueError, match="nonfinite must be one of"):
        robust_accuracy(model, x, y, [0.1], FGSM(), key=KEY, nonfinite="ignore")
    with pytest.raises(ValueError, match="the inputs contain NaN"):
        attack(model, x.at[0, 0].set(jnp.nan), y, method=FGSM(), threat=linf(0.1), key=KEY)


# --- non-finite model outputs ----------------------------------------------------------------------


def test_nan_outputs_are_never_a_robustness_number(problem):
    """Before: a model whose outputs are NaN was reported partly robust (argmax of NaN is class 0)."""
    model, x, y = problem
    broken = NaNWhere(model, above=-1.0)  # NaN everywhere
    with pytest.raises(NonFiniteError, match=r"24 of 24 \(ε, example\) pairs met a NaN or infinite"):
        robust_accuracy(broken, x, y, [0.0, 0.1], FGSM(), key=KEY)
    with pytest.raises(NonFiniteError, match="nonfinite='report'"):
        attack(broken, x, y, method=PGD(steps=3), threat=linf(0.1), key=KEY)
    reported = robust_accuracy(broken, x, y, [0.0, 0.1], FGSM(), key=KEY, nonfinite="report")
    assert np.isnan(np.asarray(reported.accuracy)).all() and bool(reported.failed.all())
    assert not bool(reported.success.any())


def test_partial_nan_is_left_out_and_counted(problem):
    model, x, y = problem
    broken = NaNWhere(model, above=0.6)  # NaN for the examples whose first pixel > 0.6
    bad = np.asarray(x[:, 0] > 0.6)
    assert 0 < bad.sum() < len(bad)
    r = robust_accuracy(broken, x, y, [0.0], FGSM(), key=KEY, nonfinite="report")
    np.testing.assert_array_equal(np.asarray(r.failed[0]), bad)
    assert float(r.accuracy[0]) == 1.0  # the others are all correct, and only they count
    assert r.as_dict()["failed"] == [int(bad.sum())]
    result = attack(broken, x, y, method=FGSM(), threat=linf(0.0), key=KEY, nonfinite="report")
    np.testing.assert_array_equal(np.asarray(result.nonfinite), bad)
    assert not bool(result.success[bad].any())


def test_nan_met_during_the_attack_is_flagged(problem):
    """Finite at the clean points, NaN once the attack moves the first pixel past 0.9."""
    model, x, y = problem
    x = x.at[:, 0].set(0.85)
    broken = NaNWhere(model, above=0.9)
    with pytest.raises(NonFiniteError):
        robust_accuracy(
            broken, x, y, [0.2], PGD(steps=5, step_size=0.1, random_start=False), key=KEY, objective=Margin()
        )
    clean = robust_accuracy(broken, x, y, [0.0], FGSM(), key=KEY)  # at ε = 0 nothing moves: finite
    assert float(clean.accuracy[0]) == 1.0


def test_nan_scalar_output_under_a_threshold_objective():
    """A scalar model that is NaN (e.g. a cell model on a set with no ligand amount under tracing)
    never 'turns off'."""

    def cell(z):
        return jnp.sum(z) / jnp.sum(z * 0.0)  # 0/0 or x/0 for every input

    x = jnp.ones((3, 4))
    with pytest.raises(NonFiniteError, match="3 of 3"):
        attack(
            cell,
            x,
            None,
            method=GradientDescent(0.1, steps=5),
            threat=linf(1.0, bounds=None),
            objective=ScalarThreshold(1.0),
            key=KEY,
        )


def test_ensemble_member_with_nan_outputs(problem):
    model, x, y = problem
    members = Ensemble.of([model, Linear(model.weight, model.bias * jnp.nan)])  # the second: NaN logits
    with pytest.raises(NonFiniteError):
        robust_accuracy(members, x, y, [0.0], FGSM(), key=KEY)
    r = robust_accuracy(members, x, y, [0.0], FGSM(), key=KEY, nonfinite="report")
    assert float(r.accuracy[0, 0]) == 1.0 and np.isnan(float(r.accuracy[1, 0]))


def test_audit_reports_nan_as_a_failed_solver_check(problem):
    model, x, y = problem
    result = audit(NaNWhere(model, above=0.95), x, y, epsilons=[0.2], key=KEY, pgd=PGD(steps=5, step_size=0.1))
    solver = {c.name: c for c in result.checks}["solver"]
    assert solver.verdict == "fail" and result.masking
    assert "NaN or infinite" in solver.reason or "non-finite outputs" in solver.reason


def test_cross_entropy_check_uses_the_model_not_the_wrapper(problem):
    """run_attack checks labels against an Ensemble's member, not against the stacked models."""
    model, x, y = problem
    members = Ensemble.of([model, model])
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        run_attack(members, x, y + 20, [0.1], method=FGSM(), threat=linf(0.1), objective=CrossEntropy(), key=KEY)


class SqrtAt(eqx.Module):
    """The linear model plus 0·√x_i: the same logits, but an infinite derivative (times 0:
    NaN) wherever x_i = 0."""

    model: Linear
    coordinate: int = eqx.field(static=True)

    def __call__(self, x):
        return self.model(x) + 0.0 * jnp.sqrt(x[self.coordinate])


def test_nan_gradient_on_a_coordinate_that_moves_is_flagged(problem):
    """Finite outputs and losses everywhere, but a NaN gradient at the clean point (where the
    attack starts) on a pixel the attack may move: a failed evaluation, never a success."""
    model, x, y = problem
    x = x.at[:, 2].set(0.0)
    result = attack(
        SqrtAt(model, 2),
        x,
        y,
        method=PGD(steps=5, step_size=0.3, random_start=False),
        threat=linf(1.0),
        key=KEY,
        nonfinite="report",
    )
    assert bool(result.nonfinite.all()) and not bool(result.success.any())
    with pytest.raises(NonFiniteError, match="12 of 12"):
        attack(
            SqrtAt(model, 2), x, y, method=PGD(steps=5, step_size=0.3, random_start=False), threat=linf(1.0), key=KEY
        )


def test_nan_gradient_on_a_fixed_coordinate_changes_nothing(problem):
    """The same NaN derivative on a pixel a mask keeps fixed never moves the iterate: the
    attack equals the attack on the plain model, bit for bit, and nothing is flagged."""
    model, x, y = problem
    x = x.at[:, 2].set(0.0)
    threat = linf(1.0, constraints=[Mask(jnp.arange(6) != 2)])
    kw = dict(method=PGD(steps=5, step_size=0.3), threat=threat, key=KEY, nonfinite="report")
    broken, plain = attack(SqrtAt(model, 2), x, y, **kw), attack(model, x, y, **kw)
    assert not bool(broken.nonfinite.any()) and bool(broken.success.any())
    for name in ("success", "distance", "gradient_evaluations", "adversarial"):
        np.testing.assert_array_equal(getattr(broken, name), getattr(plain, name), err_msg=name)


class Rises(eqx.Module):
    """Two classes, class 1 once x₀ > 0.6; NaN logits once x₀ > 0.9."""

    def __call__(self, x):
        logits = jnp.stack([jnp.zeros(()), x[0] - 0.6])
        return jnp.where(x[0] > 0.9, jnp.nan, logits)


def test_a_pair_fooled_before_it_meets_nan_is_not_a_success():
    """All steps run (no early stop): x₀ climbs 0.5, 0.6, 0.7 (fooled), ..., 0.95 (NaN). The
    pair is flagged, and its earlier success does not count."""
    x, y = jnp.full((1, 2), 0.5), jnp.zeros(1, jnp.int32)
    pgd = PGD(steps=6, step_size=0.1, random_start=False, stop_at_success=False)
    kw = dict(method=pgd, threat=linf(0.45), key=KEY, objective=Margin())
    short = attack(Rises(), x, y, **(kw | dict(threat=linf(0.35))))  # stops at 0.85: fooled, finite
    assert bool(short.success[0]) and not bool(short.nonfinite[0])
    result = attack(Rises(), x, y, **kw, nonfinite="report")
    assert bool(result.nonfinite[0]) and not bool(result.success[0])


@pytest.mark.parametrize(
    "change, message",
    [
        ({"y": np.arange(6) + 20}, "must lie in"),
        ({"y": np.arange(6).astype(float)}, "integer class indices"),
        ({"y": None}, "needs the labels"),
        ({"y": np.arange(3)}, "6 inputs need 6 targets"),
        ({"epsilons": [-0.1]}, "values ≥ 0"),
        ({"epsilons": [float("nan")]}, "values ≥ 0"),
        ({"x": np.full((6, 784), 3.0, np.float32)}, "rescale the inputs"),
        ({"x": np.full((6, 784), np.nan, np.float32)}, "NaN"),
        ({"attacks": []}, "non-empty sequence of SuiteAttack"),
    ],
)
def test_the_suite_checks_its_inputs_before_anything_runs(change, message):
    """An untrained model misclassifies every clean image, so no attack of the suite would run:
    bad labels or radii must still be named, not pass as a quiet 0 %."""
    from adprf.attacks import evaluate_robustness
    from adprf.nets import MLP

    model = MLP(width=8, depth=1, key=jax.random.PRNGKey(0))
    args = {"x": np.full((6, 784), 0.5, np.float32), "y": np.arange(6), "epsilons": [0.1]}
    kwargs = {"attacks": change["attacks"]} if "attacks" in change else {}
    args.update({k: v for k, v in change.items() if k != "attacks"})
    with pytest.raises(ValueError, match=message):
        evaluate_robustness(model, args["x"], args["y"], args["epsilons"], key=KEY, budget="fast", **kwargs)
