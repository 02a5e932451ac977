"""The field's standard evaluation: APGD-CE, APGD-T (targeted DLR) and Square, worst case per
example (Croce & Hein 2020, AutoAttack; RobustBench reports robustness this way).

Each attack of the suite is one compiled call of the engine over every radius (nested: an
example fooled at some ε counts as fooled at every larger one) and runs only on the examples
that every earlier attack left robust at some radius; APGD-T's runs of an example take its top classes
in turn (one restart per target class) and stop at its first success. An example
counts as robust at ε when no attack fooled it there and the clean model classifies it right.
"""

import dataclasses
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray
from ._apgd import APGD
from ._engine import NONFINITE_POLICIES, _validate, as_targets, check_finite, run_attack
from ._evaluate import _clean_success
from ._members import members_of
from ._methods import AbstractMethod
from ._objectives import DLR, AbstractObjective, CrossEntropy, Margin, TargetedDLR
from ._square import Square
from ._threats import DEFAULT_BOUNDS, L2Ball, LinfBall, ThreatModel, _DefaultBounds, as_threat


@dataclasses.dataclass(frozen=True)
class SuiteAttack:
    """One attack of a suite: its `name`, `method` and `objective`; with `targets` = k > 0 the
    objective is `TargetedDLR` and each example's target is its label followed by its k most
    likely other classes (at the clean input): with `restarts=k`, its runs take them in turn
    and stop at the first success, as APGD-T does."""

    name: str
    method: AbstractMethod
    objective: AbstractObjective
    targets: int = 0


BUDGETS = {
    # AutoAttack's "standard" version without FAB-T: APGD-CE (100 steps, no restarts), APGD-T
    # (100 steps, 9 target classes), Square (5,000 queries).
    "standard": (100, 9, 5000),
    # a quarter of the work: 50 steps, 3 target classes, 1,000 queries.
    "fast": (50, 3, 1000),
}


def suite_attacks(budget: str, classes: int, threat: ThreatModel) -> tuple[list[SuiteAttack], dict[str, str]]:
    """The suite's attacks at `budget` ("standard" | "fast") for a classifier of `classes`
    outputs under `threat`, and those left out with the reason."""
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    steps, targets, queries = BUDGETS[budget]
    attacks = [SuiteAttack("APGD-CE", APGD(steps=steps), CrossEntropy())]
    left_out = {}
    if classes >= 4:
        k = min(targets, classes - 1)
        attacks.append(SuiteAttack("APGD-T", APGD(steps=steps, restarts=k), TargetedDLR(), targets=k))
    else:
        left_out["APGD-T"] = f"the targeted DLR loss needs at least 4 classes (the model has {classes})"
        if classes == 3:
            attacks.append(SuiteAttack("APGD-DLR", APGD(steps=steps), DLR()))
    if isinstance(threat.ball, (LinfBall, L2Ball)):
        attacks.append(SuiteAttack("Square", Square(queries=queries), Margin()))
    else:
        left_out["Square"] = f"Square searches L∞ or L2 balls, not {type(threat.ball).__name__}"
    return attacks, left_out


class RobustnessEvaluation(eqx.Module):
    """The suite's verdict per (ε, example), and how each attack contributed.

    - `epsilons`: the radii. `accuracy`: the worst-case robust accuracy per ε (failed pairs
      left out, as in `robust_accuracy`).
    - `attacks`: the names of the attacks run, in order; `left_out`: those skipped and why.
    - `after`: the accuracy per ε after each attack (cumulative; row i counts the attacks
      0..i), shape `(attacks, eps)`.
    - `fooled_by`: per (ε, example), the index in `attacks` of the first attack that fooled
      it, `-1` where it is robust, `-2` where the clean model already misclassifies it.
    - `evaluations`: objective evaluations (gradient steps or queries) each attack spent.
    - `failed`: per (ε, example), whether some evaluation met a NaN or infinite value.
    """

    epsilons: Float[Array, " eps"]
    accuracy: Float[Array, " eps"]
    after: Float[Array, "attacks eps"]
    fooled_by: Int[Array, "eps n"]
    failed: Bool[Array, "eps n"]
    evaluations: tuple[int, ...] = eqx.field(static=True)
    attacks: tuple[str, ...] = eqx.field(static=True)
    left_out: tuple[tuple[str, str], ...] = eqx.field(static=True, default=())

    def as_dict(self) -> dict:
        record = {
            "epsilons": np.asarray(self.epsilons).tolist(),
            "accuracy": np.asarray(self.accuracy).tolist(),
            "attacks": list(self.attacks),
            "after": {name: np.asarray(row).tolist() for name, row in zip(self.attacks, self.after)},
            "fooled_by": {
                name: np.sum(np.asarray(self.fooled_by) == i, axis=1).tolist() for i, name in enumerate(self.attacks)
            },
            "evaluations": dict(zip(self.attacks, self.evaluations)),
            "left_out": dict(self.left_out),
        }
        if np.asarray(self.failed).any():
            record["failed"] = np.asarray(self.failed).sum(axis=-1).tolist()
        return record


@eqx.filter_jit
def _top_classes(model, x, y, k: int) -> Int[Array, "n k"]:
    """Per example, the k classes of highest clean logit other than the label."""

    def one(xi, yi):
        logits = model(xi)
        logits = jnp.where(jnp.arange(logits.shape[0]) == yi, -jnp.inf, logits)
        return jnp.argsort(-logits)[:k].astype(jnp.int32)

    return jax.vmap(one)(x, y)


def evaluate_robustness(
    model: Callable,
    x,
    y,
    epsilons: Sequence[float] | Float[ArrayLike, " eps"],
    *,
    key: PRNGKeyArray,
    threat: ThreatModel | str = "linf",
    bounds: tuple[float, float] | None | _DefaultBounds = DEFAULT_BOUNDS,
    budget: str = "standard",
    attacks: Sequence[SuiteAttack] | None = None,
    batch_size: int = 256,
    progress: bool = False,
    devices=None,
    nonfinite: str = "raise",
) -> RobustnessEvaluation:
    """Robust accuracy of a classifier under the standard suite: APGD-CE, APGD-T (targeted DLR
    over the top classes) and Square, keeping the worst case per example.

    **Arguments:**
    - `model`: a function of one unbatched input returning logits (≥ 2 classes).
    - `x`, `y`: inputs (leading batch axis) and integer labels.
    - `epsilons`: the radii; every attack sweeps all of them in one call.
    - `key`: PRNG key of the random starts and of Square's search.
    - `threat`, `bounds`: as in `robust_accuracy` ("linf" | "l2" with the box, or a `ThreatModel`).
    - `budget`: "standard" (APGD 100 steps, 9 target classes, Square 5,000 queries) or "fast"
      (50 steps, 3 target classes, 1,000 queries).
    - `attacks`: the suite's attacks instead of the budget's (`SuiteAttack`s, run in order).
    - `batch_size`, `progress`, `devices`: as in `robust_accuracy`.
    - `nonfinite`: "raise" (default) or "report", as in `robust_accuracy`.

    **Returns:** a `RobustnessEvaluation`.
    """
    if members_of(model).axes:
        raise TypeError("evaluate_robustness takes one model: evaluate the members of an Ensemble one by one")
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
    threat = as_threat(threat, bounds)
    if threat.ball is None:
        raise ValueError("evaluate_robustness sweeps a radius: the threat needs a norm ball (linf or l2)")
    n, x, y = _checked_batch(model, x, y, epsilons, threat, batch_size)
    eps = np.asarray(epsilons, np.float32)
    classes = int(np.shape(eqx.filter_eval_shape(model, jax.tree.map(lambda a: a[0], x)))[0])
    left_out: dict[str, str] = {}
    if attacks is None:
        attacks, left_out = suite_attacks(budget, classes, threat)
    elif not attacks or not all(isinstance(a, SuiteAttack) for a in attacks):
        raise ValueError(f"attacks must be a non-empty sequence of SuiteAttack, got {attacks!r}")
    clean_fooled, clean_finite = (np.asarray(a) for a in _clean_success(model, x, y, CrossEntropy()))
    fooled = np.zeros((len(eps), n), bool) | clean_fooled[None, :]
    fooled_by = np.where(fooled, -2, -1)
    failed = np.zeros((len(eps), n), bool) | ~clean_finite[None, :]
    after, evaluations = [], []
    for index, suite_attack in enumerate(attacks):
        todo = np.flatnonzero(~(fooled | failed)[eps > 0].all(axis=0))  # robust at some ε > 0
        success, bad, spent = _run(model, x, y, todo, eps, suite_attack, threat, key, batch_size, progress, devices)
        new = success & ~fooled & ~bad
        fooled_by = np.where(new, index, fooled_by)
        fooled |= new
        failed |= bad & ~fooled  # an adversarial found by a sound evaluation stands
        after.append(_accuracy(fooled, failed))
        evaluations.append(spent)
    check_finite(failed, nonfinite)
    return RobustnessEvaluation(
        epsilons=jnp.asarray(eps),
        accuracy=jnp.asarray(after[-1] if after else _accuracy(fooled, failed)),
        after=jnp.asarray(np.asarray(after).reshape(len(after), len(eps))),
        fooled_by=jnp.asarray(fooled_by),
        failed=jnp.asarray(failed),
        evaluations=tuple(evaluations),
        attacks=tuple(a.name for a in attacks),
        left_out=tuple(left_out.items()),
    )


def _checked_batch(model, x, y, epsilons, threat: ThreatModel, batch_size: int):
    """The batch size and the batch as arrays, after every check of the suite's inputs: all run
    before any attack, because an attack that never runs (every example misclassified clean)
    would let bad labels or radii through as a quiet 0 %."""
    if y is None:
        raise ValueError("evaluate_robustness needs the labels y of a classifier, got None")
    y = as_targets(y)
    n = _validate(x, y, epsilons, threat, batch_size, owner="evaluate_robustness")
    x = jax.tree.map(jnp.asarray, x)
    CrossEntropy().check_targets(model, jax.tree.map(lambda a: a[0], x), y, "evaluate_robustness")
    return n, x, jnp.asarray(np.asarray(y))


def _accuracy(fooled: np.ndarray, failed: np.ndarray) -> np.ndarray:
    """Per ε, the fraction of the evaluated (not failed) examples that were not fooled."""
    evaluated = (~failed).sum(axis=1)
    robust = (~fooled & ~failed).sum(axis=1)
    return np.where(evaluated > 0, robust / np.maximum(evaluated, 1), np.nan).astype(np.float32)


def _run(model, x, y, todo, eps, suite_attack: SuiteAttack, threat, key, batch_size, progress, devices):
    """One attack of the suite on the examples `todo`: success and failure per (ε, example) over
    the whole batch (False outside `todo`), and the evaluations it spent."""
    n = int(y.shape[0])
    success, failed = np.zeros((len(eps), n), bool), np.zeros((len(eps), n), bool)
    if todo.size == 0:
        return success, failed, 0
    # the target classes of the whole batch, then the subset: one compiled program per batch
    ys = (
        y
        if not suite_attack.targets
        else jnp.concatenate([y[:, None], _top_classes(model, x, y, suite_attack.targets)], axis=1)
    )
    xs, ys = jax.tree.map(lambda a: a[todo], x), ys[todo]
    result = run_attack(
        model,
        xs,
        ys,
        eps,
        method=suite_attack.method,
        threat=threat,
        objective=suite_attack.objective,
        key=key,
        batch_size=batch_size,
        keep_adversarial=False,
        progress=f"suite {suite_attack.name}" if progress else False,
        nested=True,
        devices=devices,
        nonfinite="report",
    )
    success[:, todo], failed[:, todo] = np.asarray(result.success), np.asarray(result.nonfinite)
    return success, failed, int(np.asarray(result.gradient_evaluations).sum())
