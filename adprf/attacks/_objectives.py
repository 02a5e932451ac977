"""Attack objectives: a loss the attacker maximises, and the success criterion.

Every objective acts on one model output and one target (no batch axis); the engine
vmaps it. Classification objectives are untargeted by default (success: the predicted
class differs from the label); with `targeted=True` the target is the class to reach.
"""

import abc
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, ArrayLike, Bool, Float, Int, Scalar, Target
from ._values import as_value, is_traced, like, shown


class AbstractObjective(eqx.Module):
    """What an attack pursues.

    `loss(output, target)` is maximised by the attacker; `success(output, target)` says
    whether the attack has reached its goal for this output.
    """

    @abc.abstractmethod
    def loss(self, output: Array, target: Target) -> Scalar:
        """The scalar the attacker maximises."""

    @abc.abstractmethod
    def success(self, output: Array, target: Target) -> Bool[Array, ""]:
        """Whether `output` is adversarial."""

    def check_targets(self, model: Callable, example, targets, owner: str = "attack") -> None:
        """Check a batch's `targets` against what `model` returns on one `example`, at the public
        boundary (host side, before anything is compiled); raise a `ValueError` naming the
        offending value and the fix. Objectives without targets check nothing."""

    def for_restart(self, target: Target, restart: Int[Array, ""]) -> Target:
        """The target that run `restart` of an example pursues (the example's target for every
        run, except for objectives whose runs take turns, such as `TargetedDLR`)."""
        return target


_apply = eqx.filter_jit(lambda model, example: model(example))


def _output_of(model: Callable, example, owner: str):
    """The shape and dtype of `model(example)` (traced once per model structure and input shape,
    like a compiled call), or an error saying why the model cannot take it."""
    try:
        return eqx.filter_eval_shape(_apply, model, example)
    except Exception as error:  # the model's own message follows
        shapes = [tuple(np.shape(a)) for a in jax.tree.leaves(example)]
        raise ValueError(
            f"{owner}: the model cannot be applied to one example (leaf shapes {shapes}): {error}. "
            f"Models act on ONE example; the inputs need a leading batch axis (x[None] for one)"
        ) from error


class _Classification(AbstractObjective):
    targeted: bool = eqx.field(static=True, default=False, kw_only=True)

    def check_targets(self, model, example, targets, owner="attack"):
        kind = "target classes" if self.targeted else "labels"
        output = _output_of(model, example, owner)
        shape = getattr(output, "shape", None)
        if shape is None or len(shape) != 1 or shape[0] < 2:
            raise ValueError(
                f"{owner}: {type(self).__name__} needs a model returning one logit per class (a vector of "
                f"≥ 2), but one example gives output shape {shape}: use ScalarThreshold for a scalar "
                f"output, or check that the inputs have their batch axis"
            )
        classes = shape[0]
        if targets is None:
            raise ValueError(f"{owner}: {type(self).__name__} needs {kind} (y), got None")
        leaves = jax.tree.leaves(targets)
        if len(leaves) != 1:
            raise ValueError(f"{owner}: {kind} must be one integer array, got a pytree of {len(leaves)} arrays")
        values = np.asarray(leaves[0])
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(
                f"{owner}: {kind} must be integer class indices, got dtype {values.dtype}: convert them "
                f"(e.g. y.astype(int)) after checking they are whole numbers in [0, {classes})"
            )
        bad = (values < 0) | (values >= classes)
        if values.ndim != 1:
            raise ValueError(f"{owner}: {kind} must be a vector (one per example), got shape {values.shape}")
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{owner}: {kind} must lie in [0, {classes}) for a model with {classes} outputs; "
                f"{int(bad.sum())} of {values.size} do not (example {first} has {values[first]}): "
                f"remap them or drop those examples"
            )

    def success(self, output: Array, target: Target) -> Bool[Array, ""]:
        hit = jnp.argmax(output) == target
        return hit if self.targeted else ~hit

    def _signed(self, untargeted_loss: Scalar) -> Scalar:
        return -untargeted_loss if self.targeted else untargeted_loss


class CrossEntropy(_Classification):
    """Softmax cross-entropy of the logits with the label (targeted: minus that with the target)."""

    def loss(self, output: Array, target: Target) -> Scalar:
        return self._signed(jax.nn.logsumexp(output) - output[target])


class Margin(_Classification):
    """Carlini–Wagner margin: max_{j≠y} z_j − z_y (targeted: z_t − max_{j≠t} z_j).

    Positive exactly when the attack succeeds (up to ties).
    """

    def loss(self, output: Array, target: Target) -> Scalar:
        other = jnp.max(jnp.where(jnp.arange(output.shape[-1]) == target, -jnp.inf, output))
        margin = other - output[target]
        return -margin if self.targeted else margin


class MSEOneHot(_Classification):
    """½‖z − onehot(y)‖², the cerebellum's training loss (targeted: minus that to the target)."""

    def loss(self, output: Array, target: Target) -> Scalar:
        onehot = jax.nn.one_hot(target, output.shape[-1], dtype=output.dtype)
        return self._signed(0.5 * jnp.sum((output - onehot) ** 2))


def _classes(model, example, owner: str, name: str, least: int) -> int:
    """The number of logits `model` returns on one example, at least `least`."""
    shape = getattr(_output_of(model, example, owner), "shape", None)
    if shape is None or len(shape) != 1 or shape[0] < least:
        raise ValueError(
            f"{owner}: {name} needs a model returning one logit per class, at least {least} classes, but one "
            f"example gives output shape {shape}: use CrossEntropy or Margin with fewer classes"
        )
    return shape[0]


class DLR(_Classification):
    """The difference-of-logits ratio (Croce & Hein 2020), maximised:

        DLR = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 10⁻¹²),

    with π sorting the logits in decreasing order. Like the margin it is positive exactly when
    the example is misclassified; the denominator makes it invariant to a rescaling of the
    logits, so a model cannot hide behind large or tiny logits. Needs at least 3 classes.
    Untargeted only: the targeted variant is `TargetedDLR`.
    """

    def __check_init__(self):
        if self.targeted:
            raise ValueError("DLR is untargeted; use TargetedDLR for APGD-T's targeted loss")

    def check_targets(self, model, example, targets, owner="attack"):
        _classes(model, example, owner, "DLR", 3)
        super().check_targets(model, example, targets, owner)

    def loss(self, output: Array, target: Target) -> Scalar:
        ranked = jnp.sort(output)[::-1]
        other = jnp.max(jnp.where(jnp.arange(output.shape[-1]) == target, -jnp.inf, output))
        return -(output[target] - other) / (ranked[0] - ranked[2] + 1e-12)


class TargetedDLR(AbstractObjective):
    """The targeted DLR loss of APGD-T (Croce & Hein 2020), maximised:

        −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 10⁻¹²),

    for the label y and a target class t. The target of an example is its label followed by k ≥ 1
    target classes, `(y, t_1, …, t_k)` (an integer array of shape `(n, 1 + k)`), and run r of
    the example (its restart r) pursues t_{1 + r mod k}: with `restarts=k` an APGD runs each
    target once, in order, and stops at the first success, as AutoAttack's APGD-T does. Success
    is misclassification (argmax ≠ y): the target only steers the search. Needs at least 4
    classes.
    """

    def check_targets(self, model, example, targets, owner="attack"):
        classes = _classes(model, example, owner, "TargetedDLR", 4)
        leaves = jax.tree.leaves(targets) if targets is not None else []
        values = np.asarray(leaves[0]) if len(leaves) == 1 else None
        if values is None or values.ndim != 2 or values.shape[1] < 2 or not np.issubdtype(values.dtype, np.integer):
            got = "None" if values is None else f"shape {values.shape}, dtype {values.dtype}"
            raise ValueError(
                f"{owner}: TargetedDLR needs per example its label and k ≥ 1 target classes, an integer array of "
                f"shape (n, 1 + k); got {got}"
            )
        bad = (values < 0) | (values >= classes)
        if bad.any():
            first = int(np.flatnonzero(bad.any(axis=1))[0])
            raise ValueError(
                f"{owner}: labels and target classes must lie in [0, {classes}); row {first} is {values[first]}"
            )
        same = values[:, 1:] == values[:, :1]
        if same.any():
            first = int(np.flatnonzero(same.any(axis=1))[0])
            raise ValueError(f"{owner}: the target classes must differ from the label; row {first} is {values[first]}")

    def for_restart(self, target, restart):
        k = target.shape[-1] - 1
        return jnp.stack([target[0], target[1 + restart % k]])

    def loss(self, output: Array, target: Target) -> Scalar:
        ranked = jnp.sort(output)[::-1]
        return -(output[target[0]] - output[target[1]]) / (ranked[0] - 0.5 * (ranked[2] + ranked[3]) + 1e-12)

    def success(self, output: Array, target: Target) -> Bool[Array, ""]:
        return jnp.argmax(output) != target[0]


class ScalarThreshold(AbstractObjective):
    """Push a scalar output below (or above) a threshold; the target is ignored.

    `direction="below"`: loss = threshold − output, success iff output ≤ threshold (turn a
    response off: v1 ligand attacks stop at the first T ≤ 1). `direction="above"`:
    loss = output − threshold, success iff output > threshold (targeted "turn on").

    **Arguments:**
    - `threshold`: the decision threshold, one finite number (data: an array leaf, so objectives
      that differ only in it share one compiled attack).
    - `direction`: "below" or "above".
    """

    threshold: Float[ArrayLike, ""] = eqx.field(default=1.0, converter=as_value)
    direction: str = eqx.field(static=True, default="below")

    def __check_init__(self):
        if self.direction not in ("below", "above"):
            raise ValueError(f"ScalarThreshold direction must be 'below' or 'above', got {self.direction!r}")
        if not is_traced(self.threshold):
            try:
                value = np.asarray(self.threshold, dtype=np.float64)
            except (TypeError, ValueError):
                value = np.asarray(np.nan)
            if value.size != 1 or not np.isfinite(value).all():
                raise ValueError(f"ScalarThreshold needs one finite threshold, got {shown(self.threshold)}")

    def loss(self, output: Array, target: Target) -> Scalar:
        output = jnp.reshape(output, ())
        threshold = like(self.threshold, output)
        return threshold - output if self.direction == "below" else output - threshold

    def success(self, output: Array, target: Target) -> Bool[Array, ""]:
        output = jnp.reshape(output, ())
        threshold = like(self.threshold, output)
        return output <= threshold if self.direction == "below" else output > threshold


OBJECTIVES = {"cross-entropy": CrossEntropy, "margin": Margin, "mse": MSEOneHot, "dlr": DLR}


def as_objective(objective: "AbstractObjective | str") -> AbstractObjective:
    """Accept an objective or one of the names in `OBJECTIVES`."""
    if isinstance(objective, AbstractObjective):
        return objective
    if isinstance(objective, str) and objective in OBJECTIVES:
        return OBJECTIVES[objective]()
    raise ValueError(f"unknown objective {objective!r}: pass an AbstractObjective or one of {sorted(OBJECTIVES)}")
