"""Robust accuracy over a grid of radii, in one compiled call."""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import numpy as np

from .._types import Array, Bool, Float, Int, Input, PRNGKeyArray
from .engine import run_attack
from .ensemble import Ensemble
from .methods import AbstractMethod
from .objectives import AbstractObjective, as_objective
from .threats import ThreatModel, as_threat


class RobustAccuracy(eqx.Module):
    """Accuracy under attack at each ε.

    - `epsilons`: the radii, shape `(n_eps,)`.
    - `accuracy`: fraction of examples neither misclassified nor fooled, per ε (per member
      and ε, shape `(members, n_eps)`, for an `Ensemble`; likewise a leading member axis on
      `success` and `gradient_evaluations`).
    - `success`: per (ε, example), whether the attack succeeded (at ε = 0: the clean
      example is already misclassified).
    - `gradient_evaluations`: gradient evaluations spent per (ε, example).
    """

    epsilons: Float[Array, " eps"]
    accuracy: Float[Array, "*members eps"]
    success: Bool[Array, "*members eps n"]
    gradient_evaluations: Int[Array, "*members eps n"]

    def as_dict(self) -> dict[str, list[float]]:
        return {"epsilons": np.asarray(self.epsilons).tolist(),
                "accuracy": np.asarray(self.accuracy).tolist()}


def robust_accuracy(model: Callable, x: Input, y, epsilons: Sequence[float], method: AbstractMethod,
                    *, threat: ThreatModel | str = "linf",
                    objective: AbstractObjective | str = "cross-entropy", key: PRNGKeyArray,
                    batch_size: int = 256, straight_through: str | Sequence[str] = (),
                    bounds: tuple[float, float] | None = (0.0, 1.0),
                    progress: bool | str = False, nested: bool = True, devices=None) -> RobustAccuracy:
    """Robust accuracy of `model` on `(x, y)` at every ε of `epsilons`, one compiled call.

    **Arguments:**
    - `model`: function of one unbatched input returning logits, or an `Ensemble` of such
      models (one architecture, e.g. several seeds), all attacked in one call; `key` may then
      hold one key per member.
    - `x`, `y`: inputs (leading batch axis) and integer labels.
    - `epsilons`: the radii; the (ε, example) pairs share one queue of work.
    - `method`: e.g. `FGSM()` or `PGD(steps=40, step_size=0.01)`.
    - `threat`: "linf" | "l2" (with box `bounds`), or a `ThreatModel` whose radius is
      replaced by each ε.
    - `objective`, `key`, `batch_size`, `straight_through`, `progress`: as in `attack`.
    - `nested`: count an example fooled at some ε as fooled at every larger ε (the balls
      are nested, so its adversarial is valid there) and skip attacking it again. The curve
      is then monotone and cheaper; `False` attacks every (ε, example) pair independently.
    - `devices`: the devices the examples are split across (`None`: all of `jax.devices()`,
      every host's under `jax.distributed`; an integer k: the first k). The accuracies do
      not depend on it.

    **Returns:** a `RobustAccuracy`.
    """
    threat = as_threat(threat, bounds)
    if threat.ball is None:
        raise ValueError("robust_accuracy sweeps a radius: the threat needs a norm ball (linf or l2)")
    result = run_attack(model, x, y, epsilons, method=method, threat=threat, objective=objective,
                        key=key, batch_size=batch_size, straight_through=straight_through,
                        keep_adversarial=False, progress=progress, nested=nested,
                        devices=devices)
    # A method that starts from a random point never looks at the clean input: an example the
    # model already gets wrong counts as fooled at every ε (robust ≤ clean accuracy).
    x_clean, objective = jax.tree.map(jax.numpy.asarray, x), as_objective(objective)
    if isinstance(model, Ensemble):
        clean_fooled = jax.numpy.stack([_clean_success(model.member(i), x_clean, y, objective)
                                        for i in range(model.size)])
    else:
        clean_fooled = _clean_success(model, x_clean, y, objective)
    success = result.success | clean_fooled[..., None, :]
    accuracy = 1.0 - success.mean(axis=-1)
    return RobustAccuracy(jax.numpy.asarray(epsilons, jax.numpy.float32), accuracy,
                          success, result.gradient_evaluations)


@eqx.filter_jit
def _clean_success(model, x, y, objective: AbstractObjective):
    if y is None:
        y = jax.numpy.zeros(jax.tree.leaves(x)[0].shape[0], jax.numpy.int32)
    return jax.vmap(lambda xi, yi: objective.success(model(xi), yi))(x, y)
