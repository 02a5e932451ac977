"""A VGG-style convolutional encoder of 32 × 32 colour images, and a classifier on top of it.

The encoder of Yuezhang et al. 2021 for CIFAR-10 (their CIFAR-10 paragraph): 3×3 convolutions with ReLU,
64, 64, pool, 128, 128, pool, 256, 256, 256, 256, pool, giving 4 × 4 × 256 = 4096 features
at 32 × 32 input. Channel-last throughout, through `adprf.nets._conv.conv2d_same` (whose
hand-written input-gradient VJP keeps compiled attack loops fast on CPU).

No batch normalisation: a module of one example must be a pure function at attack time, and
batch statistics would make it depend on the batch (or need a train/eval state). Instead the
convolutions get He (Kaiming-normal, fan-in) initialisation, which keeps the activations'
scale through the eight ReLU layers, and the input is standardised by fixed per-channel
statistics (CIFAR-10's by default) inside the module, so that attacks still act on pixels
in [0, 1].
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, Float, Logits, PRNGKeyArray
from ._conv import conv2d_same, max_pool_2x2

POOL = "pool"
VGG_PLAN: tuple[int | str, ...] = (64, 64, POOL, 128, 128, POOL, 256, 256, 256, 256, POOL)
"""The encoder of Yuezhang et al. 2021: output channels of each 3×3 convolution, `POOL` for 2×2 max pooling."""
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)


def scaled_plan(width: float, plan: tuple[int | str, ...] = VGG_PLAN) -> tuple[int | str, ...]:
    """`plan` with every convolution's channels multiplied by `width` (rounded, at least 1)."""
    if not (isinstance(width, (int, float)) and math.isfinite(width) and width > 0):
        raise ValueError(f"width is a channel multiplier and must be a positive number, got {width!r}")
    return tuple(step if step == POOL else max(1, round(_channels(step) * width)) for step in plan)


def _channels(step: int | str) -> int:
    """A plan step that is no `POOL`: its channel count."""
    if isinstance(step, str):
        raise TypeError(f"a plan step is a channel count or {POOL!r}, got {step!r}")
    return step


def _convolutions(plan: tuple[int | str, ...]) -> list[int]:
    """The output channels of the convolutions of a plan, in order."""
    return [_channels(step) for step in plan if step != POOL]


def _he_kernels(channels: list[int], key: PRNGKeyArray) -> tuple[Float[Array, "3 3 cin cout"], ...]:
    """3×3 kernels from `channels[i]` to `channels[i + 1]` channels, He-normal N(0, 2 / fan_in), all
    drawn in one random call (eager JAX compiles a draw per shape: 8 draws took ~6 s)."""
    shapes = [(3, 3, c_in, c_out) for c_in, c_out in zip(channels, channels[1:])]
    offsets = np.cumsum([0, *map(math.prod, shapes)])
    normal = jax.random.normal(key, (int(offsets[-1]),))
    return tuple(
        normal[start:stop].reshape(shape) * math.sqrt(2.0 / (9 * shape[2]))
        for shape, start, stop in zip(shapes, offsets, offsets[1:])
    )


class VGGEncoder(eqx.Module):
    """The VGG-style feature extractor of one channel-last image (side, side, channels).

    x ↦ standardise per channel ↦ [3×3 conv + ReLU | 2×2 max pool]* ↦ flatten (row, column,
    channel order). With the default plan at width 1 and 32 × 32 input: 4 × 4 × 256 = 4096
    non-negative features.

    **Arguments:**
    - `width`: channel multiplier (channels × width, rounded, ≥ 1); e.g. 0.25 for a cheap
      encoder (1024 features).
    - `plan`: channels per convolution and `POOL` steps (default `VGG_PLAN`, Yuezhang et al. 2021).
    - `image_size`: side of the square input (default 32; divisible by 2^pools).
    - `in_channels`: colour channels of the input (default 3).
    - `mean`, `std`: the per-channel standardisation (default CIFAR-10's training-set
      statistics); pass zeros and ones for none.
    - `key`: PRNG key of the initialisation.
    """

    kernels: tuple[Float[Array, "3 3 cin cout"], ...]
    biases: tuple[Float[Array, " cout"], ...]
    plan: tuple[int | str, ...] = eqx.field(static=True)
    width: float = eqx.field(static=True)
    image_size: int = eqx.field(static=True)
    in_channels: int = eqx.field(static=True)
    mean: tuple[float, ...] = eqx.field(static=True)
    std: tuple[float, ...] = eqx.field(static=True)

    def __init__(
        self,
        width: float = 1.0,
        *,
        plan: tuple[int | str, ...] = VGG_PLAN,
        image_size: int = 32,
        in_channels: int = 3,
        mean: tuple[float, ...] = CIFAR10_MEAN,
        std: tuple[float, ...] = CIFAR10_STD,
        key: PRNGKeyArray,
    ):
        self.plan = scaled_plan(width, tuple(plan))
        self.width = float(width)
        pools = self.plan.count(POOL)
        if not isinstance(image_size, int) or image_size < 2**pools or image_size % 2**pools:
            raise ValueError(
                f"the plan pools {pools} times, so image_size must be a positive multiple of "
                f"{2**pools}; got {image_size!r}"
            )
        if not any(step != POOL for step in self.plan):
            raise ValueError(f"the plan {plan!r} has no convolution")
        if len(mean) != in_channels or len(std) != in_channels or min(std) <= 0:
            raise ValueError(
                f"mean and std need one value per input channel ({in_channels}), std > 0; "
                f"got mean={mean!r}, std={std!r}"
            )
        self.image_size, self.in_channels = image_size, in_channels
        self.mean, self.std = tuple(map(float, mean)), tuple(map(float, std))
        channels = _convolutions(self.plan)
        self.kernels = _he_kernels([in_channels, *channels], key)
        self.biases = tuple(jnp.asarray(np.zeros(c, np.float32)) for c in channels)

    @property
    def features(self) -> int:
        """The number of output features: (side / 2^pools)² × the last convolution's channels."""
        side = self.image_size // 2 ** self.plan.count(POOL)
        return side * side * _convolutions(self.plan)[-1]

    def __call__(self, x: Float[Array, "side side channels"]) -> Float[Array, " features"]:
        expected = (self.image_size, self.image_size, self.in_channels)
        if x.shape != expected:
            raise ValueError(
                f"VGGEncoder takes one channel-last image of shape {expected}, got shape {x.shape}; "
                f"batch with jax.vmap, transpose channel-first images with x.transpose(1, 2, 0), "
                f"or build the encoder with image_size / in_channels of your data"
            )
        h = (x - jnp.asarray(self.mean, x.dtype)) / jnp.asarray(self.std, x.dtype)
        layers = iter(zip(self.kernels, self.biases))
        for step in self.plan:
            if step == POOL:
                h = max_pool_2x2(h)
            else:
                kernel, bias = next(layers)
                h = jax.nn.relu(conv2d_same(h[None], kernel)[0] + bias)
        return jnp.ravel(h)


class VGGClassifier(eqx.Module):
    """`VGGEncoder` + a linear head to class logits, of one image; trained with cross-entropy.

    **Arguments:**
    - `width`: the encoder's channel multiplier (default 1).
    - `classes`: number of outputs (default 10).
    - `image_size`, `in_channels`, `plan`, `mean`, `std`: as in `VGGEncoder` (defaults: 32, 3,
      `VGG_PLAN`, CIFAR-10's channel statistics).
    - `key`: PRNG key of the initialisation.
    """

    encoder: VGGEncoder
    head: eqx.nn.Linear

    def __init__(
        self,
        width: float = 1.0,
        classes: int = 10,
        *,
        image_size: int = 32,
        in_channels: int = 3,
        plan: tuple[int | str, ...] = VGG_PLAN,
        mean: tuple[float, ...] = CIFAR10_MEAN,
        std: tuple[float, ...] = CIFAR10_STD,
        key: PRNGKeyArray,
    ):
        k_encoder, k_head = jax.random.split(key)
        self.encoder = VGGEncoder(
            width, plan=plan, image_size=image_size, in_channels=in_channels, mean=mean, std=std, key=k_encoder
        )
        self.head = eqx.nn.Linear(self.encoder.features, classes, key=k_head)

    def __call__(self, x: Float[Array, "side side channels"]) -> Logits:
        return self.head(self.encoder(x))
