"""PGD adversarial training (Madry et al. 2018) through adprf's attack engine.

The training loss is the cross-entropy at the worst case the engine finds in the threat
around each training image: min_θ E max_{δ ∈ S} L(θ, x + δ, y). Pass it as `loss_fn` to
`train_classifier`.
"""

import equinox as eqx
import jax
import optax

from .._types import Array, PRNGKeyArray
from ..attacks import PGD, AbstractMethod, AbstractObjective, CrossEntropy, ThreatModel, linf, perturb


class AdversarialLoss(eqx.Module):
    """`(model, images, labels, key) -> mean cross-entropy at the engine's adversarials`.

    **Arguments:**
    - `threat`: the perturbation set, e.g. `linf(0.3)`.
    - `method`: the inner attack, e.g. `PGD(steps=40, step_size=0.01, stop_at_success=False)`.
    - `objective`: what the inner attack maximises (default cross-entropy).
    - `clean_weight`: weight of the clean loss mixed in (0: pure adversarial training, as
      Madry et al.).
    - `warmup`: fraction of the epochs over which ε ramps linearly up to the threat's
      radius (0: the full radius from the first step, as Madry et al.; small networks such
      as MLPs collapse to the uniform prediction at ε = 0.3 without it).
    """

    threat: ThreatModel
    method: AbstractMethod
    objective: AbstractObjective = CrossEntropy()
    clean_weight: float = eqx.field(static=True, default=0.0)
    warmup: float = eqx.field(static=True, default=0.0)

    def __check_init__(self):
        if not 0.0 <= self.clean_weight <= 1.0:
            raise ValueError(f"clean_weight must be in [0, 1], got {self.clean_weight!r}")
        if not 0.0 <= self.warmup <= 1.0:
            raise ValueError(f"warmup must be a fraction of the epochs in [0, 1], got {self.warmup!r}")

    def at_epoch(self, epoch: int, epochs: int) -> "AdversarialLoss":
        """This loss with ε scaled by min(1, (epoch + 1) / (warmup · epochs)) (the warm-up)."""
        if self.warmup == 0:
            return self
        scale = min(1.0, (epoch + 1) / max(self.warmup * epochs, 1.0))
        return eqx.tree_at(lambda s: s.threat, self, self.threat.with_epsilon(scale * self.threat.epsilon))

    def __call__(self, model, images: Array, labels: Array, key: PRNGKeyArray) -> Array:
        adversarial = perturb(
            model, images, labels, method=self.method, threat=self.threat, objective=self.objective, key=key
        )
        loss = optax.softmax_cross_entropy_with_integer_labels(jax.vmap(model)(adversarial), labels).mean()
        if self.clean_weight:
            clean = optax.softmax_cross_entropy_with_integer_labels(jax.vmap(model)(images), labels).mean()
            loss = (1 - self.clean_weight) * loss + self.clean_weight * clean
        return loss


def madry_loss(
    epsilon: float = 0.3,
    steps: int = 40,
    step_size: float = 0.01,
    bounds: tuple[float, float] = (0.0, 1.0),
    warmup: float = 0.0,
) -> AdversarialLoss:
    """Madry et al.'s MNIST recipe: L∞ ε = 0.3, PGD 40 × 0.01 from a random start, every
    step run (no early stop), the highest-loss iterate kept; `warmup` as in `AdversarialLoss`."""
    if not epsilon > 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon!r}")
    method = PGD(steps=steps, step_size=step_size, random_start=True, stop_at_success=False)
    return AdversarialLoss(linf(epsilon, bounds=bounds), method, warmup=warmup)
