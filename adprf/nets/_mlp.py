"""A multilayer perceptron on flattened images."""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Float, Logits, PRNGKeyArray


class MLP(eqx.Module):
    """ReLU multilayer perceptron; flattens its (unbatched) input.

    **Arguments:**
    - `in_size`: number of input features (784 for MNIST).
    - `out_size`: number of classes.
    - `width`: hidden units per layer (default 256).
    - `depth`: hidden layers (default 2).
    - `key`: PRNG key for the initialisation.
    """

    mlp: eqx.nn.MLP

    def __init__(self, in_size: int = 784, out_size: int = 10, width: int = 256, depth: int = 2, *, key: PRNGKeyArray):
        self.mlp = eqx.nn.MLP(in_size, out_size, width, depth, activation=jax.nn.relu, key=key)

    def __call__(self, x: Float[Array, "..."]) -> Logits:
        return self.mlp(jnp.ravel(x))
