"""The MNIST convolutional network of Madry et al. (2018)."""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Float, Logits, PRNGKeyArray
from ._conv import Conv2d, max_pool_2x2


class MadryCNN(eqx.Module):
    """conv5×5×32 – maxpool 2 – conv5×5×64 – maxpool 2 – FC1024 – FC10, ReLU, 'same' padding.

    Takes one image of shape (28, 28), (1, 28, 28) or (28, 28, 1); runs channel-last (see
    `adprf.nets._conv` for why).

    **Arguments:**
    - `channels`: the two convolutions' widths (default (32, 64), Madry et al.).
    - `hidden`: the fully connected layer's width (default 1024).
    - `classes`: number of outputs (default 10).
    - `image_size`: side of the square input (default 28, divisible by 4).
    - `key`: PRNG key for the initialisation.
    """

    conv1: Conv2d
    conv2: Conv2d
    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear

    def __init__(
        self,
        channels: tuple[int, int] = (32, 64),
        hidden: int = 1024,
        classes: int = 10,
        image_size: int = 28,
        *,
        key: PRNGKeyArray,
    ):
        k1, k2, k3, k4 = jax.random.split(key, 4)
        self.conv1 = Conv2d(1, channels[0], 5, key=k1)
        self.conv2 = Conv2d(channels[0], channels[1], 5, key=k2)
        side = image_size // 4
        self.fc1 = eqx.nn.Linear(channels[1] * side * side, hidden, key=k3)
        self.fc2 = eqx.nn.Linear(hidden, classes, key=k4)

    def __call__(self, x: Float[Array, "..."]) -> Logits:
        side = x.shape[-2] if x.shape[-1] == 1 else x.shape[-1]
        h = x.reshape(side, side, 1)
        h = max_pool_2x2(jax.nn.relu(self.conv1(h)))
        h = max_pool_2x2(jax.nn.relu(self.conv2(h)))
        h = jax.nn.relu(self.fc1(jnp.ravel(h)))
        return self.fc2(h)
