"""Robust accuracy over a grid of radii, in one compiled call."""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, ArrayLike, Bool, Float, Int, PRNGKeyArray, PyTree
from ._engine import NONFINITE_POLICIES, AttackResult, as_targets, check_finite, run_attack
from ._ensemble import Ensemble, MemberKeys
from ._members import members_of
from ._methods import AbstractMethod
from ._objectives import AbstractObjective, as_objective
from ._threats import DEFAULT_BOUNDS, ThreatModel, _DefaultBounds, as_threat


class RobustAccuracy(eqx.Module):
    """Accuracy under attack at each ε.

    - `epsilons`: the radii, shape `(n_eps,)`.
    - `accuracy`: fraction of examples neither misclassified nor fooled, per ε (per member
      and ε, shape `(members, n_eps)`, for an `Ensemble`; likewise a leading member axis on
      `success` and `gradient_evaluations`).
    - `success`: per (ε, example), whether the attack succeeded (at ε = 0: the clean
      example is already misclassified).
    - `gradient_evaluations`: gradient evaluations spent per (ε, example).
    - `failed`: per (ε, example), whether the evaluation failed (a NaN or infinite model
      output, loss or gradient, at the clean input or during the attack). Failed pairs are
      neither robust nor fooled: `accuracy` is taken over the others (NaN if none is left).
      Only `nonfinite="report"` returns failed pairs; by default they raise.
    """

    epsilons: Float[Array, " eps"]
    accuracy: Float[Array, "*members eps"]
    success: Bool[Array, "*members eps n"]
    gradient_evaluations: Int[Array, "*members eps n"]
    failed: Bool[Array, "*members eps n"]

    def as_dict(self) -> dict[str, list[float]]:
        record = {"epsilons": np.asarray(self.epsilons).tolist(), "accuracy": np.asarray(self.accuracy).tolist()}
        failed = np.asarray(self.failed)
        if failed.any():
            record["failed"] = failed.sum(axis=-1).tolist()
        return record


def robust_accuracy(
    model: Callable | Ensemble,
    x: PyTree[Float[ArrayLike, "n ..."]],
    y,
    epsilons: Sequence[float] | Float[ArrayLike, " eps"],
    method: AbstractMethod,
    *,
    threat: ThreatModel | str = "linf",
    objective: AbstractObjective | str = "cross-entropy",
    key: PRNGKeyArray | MemberKeys,
    batch_size: int = 256,
    straight_through: str | Sequence[str] = (),
    bounds: tuple[float, float] | None | _DefaultBounds = DEFAULT_BOUNDS,
    progress: bool | str = False,
    nested: bool = True,
    devices=None,
    nonfinite: str = "raise",
) -> RobustAccuracy:
    """Robust accuracy of `model` on `(x, y)` at every ε of `epsilons`, one compiled call.

    **Arguments:**
    - `model`: function of one unbatched input returning logits, or an `Ensemble` of such
      models (one architecture, e.g. several seeds), all attacked in one call; `key` may then
      hold one key per member.
    - `x`, `y`: inputs (leading batch axis) and integer labels.
    - `epsilons`: the radii; the (ε, example) pairs share one queue of work.
    - `method`: e.g. `FGSM()` or `PGD(steps=40, step_size=0.01)`.
    - `threat`: "linf" | "l2" (with box `bounds`, default (0, 1)), or a `ThreatModel` whose
      radius is replaced by each ε (it carries its own box: `bounds` is then not passed).
    - `objective`, `key`, `batch_size`, `straight_through`, `progress`: as in `attack`.
    - `nested`: count an example fooled at some ε as fooled at every larger ε (the balls
      are nested, so its adversarial is valid there) and skip attacking it again. The curve
      is then monotone and cheaper; `False` attacks every (ε, example) pair independently.
    - `devices`: the devices the examples are split across (`None`: all of `jax.devices()`,
      every host's under `jax.distributed`; an integer k: the first k). The accuracies do
      not depend on it.
    - `nonfinite`: "raise" (default) raises `NonFiniteError` if the model's output, the loss
      or its gradient is NaN or infinite for some example (clean or attacked); "report"
      returns those pairs as failed evaluations (`failed`), left out of `accuracy`.

    **Returns:** a `RobustAccuracy`.
    """
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
    threat, y = as_threat(threat, bounds), as_targets(y)
    if threat.ball is None:
        raise ValueError("robust_accuracy sweeps a radius: the threat needs a norm ball (linf or l2)")
    result = run_attack(
        model,
        x,
        y,
        epsilons,
        method=method,
        threat=threat,
        objective=objective,
        key=key,
        batch_size=batch_size,
        straight_through=straight_through,
        keep_adversarial=False,
        progress=progress,
        nested=nested,
        devices=devices,
        nonfinite="report",
    )
    x_clean, objective = jax.tree.map(jnp.asarray, x), as_objective(objective)
    clean_fooled, clean_finite = members_of(model).each(lambda member: _clean_success(member, x_clean, y, objective))
    return _with_clean_examples(result, epsilons, clean_fooled, clean_finite, nonfinite)


def _with_clean_examples(result: AttackResult, epsilons, clean_fooled, clean_finite, nonfinite: str) -> RobustAccuracy:
    """The accuracy per ε from an attack's results and the clean examples' verdicts.

    A method that starts from a random point never looks at the clean input: an example the
    model already gets wrong counts as fooled at every ε (robust ≤ clean accuracy). A pair is
    failed where the attack met a non-finite value or the clean output is not finite.
    """
    failed = result.nonfinite | ~clean_finite[..., None, :]
    check_finite(failed, nonfinite)
    success = (result.success | clean_fooled[..., None, :]) & ~failed
    evaluated = (~failed).sum(axis=-1).astype(jnp.float32)
    over_evaluated = jnp.where(evaluated > 0, 1.0 - success.sum(axis=-1) / jnp.maximum(evaluated, 1.0), jnp.nan)
    # With nothing failed, exactly the plain mean (the same float rounding as ever).
    accuracy = jnp.where(failed.any(axis=-1), over_evaluated, 1.0 - success.mean(axis=-1))
    return RobustAccuracy(jnp.asarray(epsilons, jnp.float32), accuracy, success, result.gradient_evaluations, failed)


@eqx.filter_jit
def _clean_success(model, x, y, objective: AbstractObjective):
    """Per example: whether the clean input already meets the objective's success criterion,
    and whether the model's output (and the loss) there are finite."""
    if y is None:
        y = jnp.zeros(jax.tree.leaves(x)[0].shape[0], jnp.int32)

    def one(xi, yi):
        output = model(xi)
        finite = jnp.all(jnp.isfinite(output)) & jnp.isfinite(objective.loss(output, yi))
        return objective.success(output, yi) & finite, finite

    return jax.vmap(one)(x, y)
