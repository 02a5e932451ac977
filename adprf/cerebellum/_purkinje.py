"""The Purkinje readout ŷ = Wᵀ z: the only learning synapses of the cerebellar model."""

import math

import equinox as eqx
import jax

from .._types import Array, Float, PRNGKeyArray


class Purkinje(eqx.Module):
    """Linear readout of (centred) granule activity by `outputs` Purkinje cells, no bias.

    **Arguments:**
    - `width`: m, the number of granule cells read.
    - `outputs`: number of Purkinje cells (10 classes for MNIST).
    - `key`: PRNG key; W ~ N(0, 1/m).
    """

    weight: Float[Array, "m outputs"]

    def __init__(self, width: int, outputs: int = 10, *, key: PRNGKeyArray):
        if not isinstance(outputs, int) or outputs < 1:
            raise ValueError(f"outputs must be a positive integer, got {outputs!r}")
        self.weight = jax.random.normal(key, (width, outputs)) / math.sqrt(width)

    def __call__(self, z: Float[Array, "*batch m"]) -> Float[Array, "*batch outputs"]:
        return z @ self.weight
