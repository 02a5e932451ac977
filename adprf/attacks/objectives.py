"""Attack objectives: a loss the attacker maximises, and the success criterion.

Every objective acts on one model output and one target (no batch axis); the engine
vmaps it. Classification objectives are untargeted by default (success: the predicted
class differs from the label); with `targeted=True` the target is the class to reach.
"""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Bool, Scalar, Target


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


class _Classification(AbstractObjective):
    targeted: bool = eqx.field(static=True, default=False, kw_only=True)

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


class ScalarThreshold(AbstractObjective):
    """Push a scalar output below (or above) a threshold; the target is ignored.

    `direction="below"`: loss = threshold − output, success iff output ≤ threshold (turn a
    response off: v1 ligand attacks stop at the first T ≤ 1). `direction="above"`:
    loss = output − threshold, success iff output > threshold (targeted "turn on").

    **Arguments:**
    - `threshold`: the decision threshold.
    - `direction`: "below" or "above".
    """

    threshold: float = 1.0
    direction: str = eqx.field(static=True, default="below")

    def __check_init__(self):
        if self.direction not in ("below", "above"):
            raise ValueError(f"ScalarThreshold direction must be 'below' or 'above', got {self.direction!r}")

    def loss(self, output: Array, target: Target) -> Scalar:
        output = jnp.reshape(output, ())
        return self.threshold - output if self.direction == "below" else output - self.threshold

    def success(self, output: Array, target: Target) -> Bool[Array, ""]:
        output = jnp.reshape(output, ())
        return output <= self.threshold if self.direction == "below" else output > self.threshold


OBJECTIVES = {"cross-entropy": CrossEntropy, "margin": Margin, "mse": MSEOneHot}


def as_objective(objective: "AbstractObjective | str") -> AbstractObjective:
    """Accept an objective or one of the names in `OBJECTIVES`."""
    if isinstance(objective, AbstractObjective):
        return objective
    if isinstance(objective, str) and objective in OBJECTIVES:
        return OBJECTIVES[objective]()
    raise ValueError(f"unknown objective {objective!r}: pass an AbstractObjective or one of {sorted(OBJECTIVES)}")
