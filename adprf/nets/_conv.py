"""Channel-last 2-D convolution with a hand-written input gradient, fast inside compiled loops
on CPU.

XLA:CPU runs the convolutions that JAX's autodiff emits for a conv's gradients 10–70×
slower inside `while`/`scan` bodies than at top level (jax-ml/jax#12868; measured here:
8 input-gradient steps of a 32→32 5×5 conv on 128 images of 14×14 took 8.3 s in a
`fori_loop` vs 0.45 s with this VJP). The attack engine runs its whole loop compiled, so
the convolutions of adprf's networks use channel-last layout and compute the input
gradient as a channel-last convolution with the flipped, transposed kernel.

The kernel gradient keeps JAX's own rule, outside the custom VJP: the output is JAX's
convolution of the (gradient-stopped) input, passed through an identity whose VJP adds the
input gradient. A kernel gradient inside a custom VJP would be computed per example under
`vmap`, as a training step calls a model (a convolution grouped by example: 191 of the 280 ms
of a Madry CNN training step of 128 images on this CPU), where JAX's rule sums over the batch
in one convolution (about 95 ms a step). The one derivative this gives up: the kernel
gradient's derivative with respect to the input (a second derivative mixing the two) is zero.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jax import lax

from .._types import Array, Float, PRNGKeyArray

_DN = ("NHWC", "HWIO", "NHWC")


def conv2d_same(x: Float[Array, "n h w c"], kernel: Float[Array, "kh kw c o"]) -> Float[Array, "n h w o"]:
    """Stride-1, 'same'-padded convolution (cross-correlation) of NHWC images, odd kernels."""
    out = lax.conv_general_dilated(lax.stop_gradient(x), kernel, (1, 1), "SAME", dimension_numbers=_DN)
    return _with_input_gradient(x, kernel, out)


@jax.custom_vjp
def _with_input_gradient(x: Float[Array, "n h w c"], kernel: Float[Array, "kh kw c o"], out: Float[Array, "n h w o"]):
    """`out` (the convolution of `x` by `kernel`), with the convolution's input gradient added
    to its VJP; `out`'s own cotangent goes on to JAX's rules (the kernel gradient)."""
    return out


def _with_input_gradient_fwd(x, kernel, out):
    return out, kernel


def _with_input_gradient_bwd(kernel, cotangent):
    flipped = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)
    dx = lax.conv_general_dilated(cotangent, flipped, (1, 1), "SAME", dimension_numbers=_DN)
    return dx, None, cotangent


_with_input_gradient.defvjp(_with_input_gradient_fwd, _with_input_gradient_bwd)


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
