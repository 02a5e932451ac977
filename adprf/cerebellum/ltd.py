""""LTD" centring of granule activity: z = h − μ, with μ a running mean held as explicit state.

Yuezhang et al. (2021) model long-term depression at parallel-fibre synapses as subtracting
the running average of every granule cell's activity: during training, before each batch is
read out, μ ← β μ + (1 − β) mean_batch(h) (β = 0.99, μ₀ = 0), then z = h − μ. At evaluation
and attack time μ is frozen, and no gradient ever flows through it.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Float


class LTD(eqx.Module):
    """Centring by the running mean of granule activity.

    **Arguments:**
    - `mean`: μ, one value per granule cell (start from zeros: `LTD.init(m)`).
    - `momentum`: β of the running-mean update (default 0.99).
    """

    mean: Float[Array, " m"]
    momentum: float = eqx.field(static=True, default=0.99)

    def __check_init__(self):
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"LTD momentum β must be in [0, 1), got {self.momentum}")

    @classmethod
    def init(cls, width: int, momentum: float = 0.99) -> "LTD":
        """μ₀ = 0 for `width` granule cells."""
        return cls(jnp.zeros((width,)), momentum)

    def update(self, activity: Float[Array, "batch m"]) -> "LTD":
        """The state after seeing a training batch of granule activity (μ ← β μ + (1 − β) h̄)."""
        batch_mean = jax.lax.stop_gradient(jnp.mean(activity, axis=0))
        return LTD(self.momentum * self.mean + (1 - self.momentum) * batch_mean, self.momentum)

    def __call__(self, activity: Float[Array, "*batch m"]) -> Float[Array, "*batch m"]:
        """z = h − μ with μ frozen."""
        return activity - jax.lax.stop_gradient(self.mean)
