"""Channel-last 2-D convolution with a hand-written VJP, fast inside compiled loops on CPU.

XLA:CPU runs the convolutions that JAX's autodiff emits for a conv's gradients 10–70×
slower inside `while`/`scan` bodies than at top level (jax-ml/jax#12868; measured here:
8 input-gradient steps of a 32→32 5×5 conv on 128 images of 14×14 took 8.3 s in a
`fori_loop` vs 0.45 s with this VJP). The attack engine runs its whole loop compiled, so
the convolutions of adprf's networks use channel-last layout and compute the input
gradient as a channel-last convolution with the flipped, transposed kernel. The kernel
gradient keeps JAX's own rule, which is fast at top level where training steps run.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from .._types import Array, Float, PRNGKeyArray

_DN = ("NHWC", "HWIO", "NHWC")


@jax.custom_vjp
def conv2d_same(x: Float[Array, "n h w c"], kernel: Float[Array, "kh kw c o"]) -> Float[Array, "n h w o"]:
    """Stride-1, 'same'-padded convolution (cross-correlation) of NHWC images, odd kernels."""
    return lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=_DN)


def _conv_fwd(x, kernel):
    return conv2d_same(x, kernel), (x, kernel)


def _conv_bwd(residuals, cotangent):
    x, kernel = residuals
    flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
    dx = lax.conv_general_dilated(cotangent, flipped, (1, 1), "SAME", dimension_numbers=_DN)
    _, kernel_vjp = jax.vjp(lambda k: lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=_DN), kernel)
    return dx, kernel_vjp(cotangent)[0]


conv2d_same.defvjp(_conv_fwd, _conv_bwd)


class Conv2d(eqx.Module):
    """'Same' convolution of one channel-last image (H, W, C_in) → (H, W, C_out), with bias.

    Initialised like `eqx.nn.Conv2d` (uniform in ±1/√fan_in).
    """

    weight: Float[Array, "kh kw cin cout"]
    bias: Float[Array, " cout"]

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, key: PRNGKeyArray):
        if kernel_size % 2 != 1:
            raise ValueError(f"Conv2d uses 'same' padding and needs an odd kernel_size, got {kernel_size}")
        kw, kb = jax.random.split(key)
        bound = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.weight = jax.random.uniform(
            kw, (kernel_size, kernel_size, in_channels, out_channels), minval=-bound, maxval=bound
        )
        self.bias = jax.random.uniform(kb, (out_channels,), minval=-bound, maxval=bound)

    def __call__(self, x: Float[Array, "h w cin"]) -> Float[Array, "h w cout"]:
        return conv2d_same(x[None], self.weight)[0] + self.bias


def max_pool_2x2(x: Float[Array, "h w c"]) -> Float[Array, "h/2 w/2 c"]:
    """2×2 max pooling with stride 2 of a channel-last image (even sides)."""
    h, w, c = x.shape
    return x.reshape(h // 2, 2, w // 2, 2, c).max(axis=(1, 3))
