""" "LTD" centring of granule activity: z = h − μ, with μ a running mean held as explicit state.

Yuezhang et al. (2021) model long-term depression at parallel-fibre synapses as subtracting
the running average of every granule cell's activity: during training, before each batch is
read out, μ ← β μ + (1 − β) mean_batch(h) (β = 0.99, μ₀ = 0), then z = h − μ. At evaluation
and attack time μ is frozen, and no gradient ever flows through it.

A model without LTD holds the same state with β = 1: μ then stays at μ₀ = 0 and z = h
exactly. Keeping β an array (not a static field) gives models with and without LTD the same
structure, so they share every compiled attack and training step.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Float


class LTD(eqx.Module):
    """Centring by the running mean of granule activity.

    **Arguments:**
    - `mean`: μ, one value per granule cell (start from zeros: `LTD.init(m)`).
    - `momentum`: β of the running-mean update, in [0, 1] (default 0.99; 1 = no LTD).
    """

    mean: Float[Array, " m"]
    momentum: Float[Array, ""]

    def __init__(self, mean: Float[Array, " m"], momentum: float | Float[Array, ""] = 0.99):
        if isinstance(momentum, (int, float)) and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"LTD momentum β must be in [0, 1] (1 switches LTD off), got {momentum}")
        self.mean = mean
        self.momentum = jnp.asarray(momentum, dtype=jnp.result_type(mean))

    @classmethod
    def init(cls, width: int, momentum: float = 0.99) -> "LTD":
        """μ₀ = 0 for `width` granule cells."""
        return cls(jnp.zeros((width,)), momentum)

    @classmethod
    def off(cls, width: int) -> "LTD":
        """No LTD: β = 1, so μ stays 0 and the centring is the identity."""
        return cls.init(width, 1.0)

    @property
    def enabled(self) -> bool:
        """Whether training moves μ (β < 1); needs a concrete β (not inside `jit`)."""
        return bool(self.momentum < 1.0)

    def update(self, activity: Float[Array, "batch m"]) -> "LTD":
        """The state after seeing a training batch of granule activity (μ ← β μ + (1 − β) h̄)."""
        batch_mean = jax.lax.stop_gradient(jnp.mean(activity, axis=0))
        return LTD(self.momentum * self.mean + (1 - self.momentum) * batch_mean, self.momentum)

    def __call__(self, activity: Float[Array, "*batch m"]) -> Float[Array, "*batch m"]:
        """z = h − μ with μ frozen."""
        return activity - jax.lax.stop_gradient(self.mean)
