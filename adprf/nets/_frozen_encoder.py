"""A frozen feature extractor whose features are rescaled by one fixed factor.

A cerebellar head (or any readout) trained on the features of a frozen encoder sees them at
the encoder's own scale; a learning rate tuned on pixels (Yuezhang et al. 2021's 0.5/m, on
MNIST) acts on features of another scale as if multiplied by it. `frozen_features` encodes a
training and a test set once and fixes the factor that brings the training features to a
chosen root mean square; `ScaledEncoder` applies the same factor to every input, so an attack
through the encoder sees exactly the features the head was trained on.
"""

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._types import Array, ArrayLike, Float


class ScaledEncoder(eqx.Module):
    """A frozen encoder whose features are multiplied by a fixed factor.

    **Arguments:**
    - `encoder`: the feature extractor of one input (e.g. a trained `VGGEncoder`).
    - `factor`: the fixed scale (a Python float, part of the structure).
    """

    encoder: Callable[..., Float[Array, "..."]]
    factor: float = eqx.field(static=True)

    def __call__(self, x: Array) -> Float[Array, " features"]:
        return self.factor * self.encoder(x)


@eqx.filter_jit
def _encode(encoder, images, batch_size):
    return jax.lax.map(lambda x: jnp.ravel(encoder(x)), images, batch_size=batch_size)


def encode_images(encoder, images: ArrayLike) -> Float[Array, "n features"]:
    """The flattened features of every input of `images` (leading axis), in chunks of at most 256."""
    images = jnp.asarray(images)
    return _encode(encoder, images, min(256, images.shape[0]))


class FrozenFeatures(NamedTuple):
    """The outputs of `frozen_features`: the rescaled encoder and the rescaled features of the
    training and test inputs, shapes (n_train, features) and (n_test, features)."""

    encoder: ScaledEncoder
    train: Float[Array, "n_train features"]
    test: Float[Array, "n_test features"]


def frozen_features(
    encoder, feature_rms: float | None, images_train: ArrayLike, images_test: ArrayLike
) -> FrozenFeatures:
    """Encode both input sets once with the frozen `encoder` and rescale them to `feature_rms`.

    **Arguments:**
    - `encoder`: the feature extractor of one input.
    - `feature_rms`: the root mean square the training features are scaled to (over all
      training inputs and features); `None` keeps them as they are (factor 1).
    - `images_train`, `images_test`: the inputs.

    **Returns:** a `FrozenFeatures` (`ScaledEncoder(encoder, factor)`, train and test features
    times the factor). Raises `FloatingPointError` when the training features are all zero
    (a dead encoder) or not finite, so that no factor exists.
    """
    train, test = encode_images(encoder, images_train), encode_images(encoder, images_test)
    factor = 1.0 if feature_rms is None else float(feature_rms / jnp.sqrt(jnp.mean(train**2)))
    if not np.isfinite(factor) or factor <= 0:
        raise FloatingPointError(
            f"the encoder's training features have RMS {float(jnp.sqrt(jnp.mean(train**2)))}: "
            f"cannot rescale them to {feature_rms} (dead encoder? retrain it)"
        )
    return FrozenFeatures(ScaledEncoder(encoder, factor), factor * train, factor * test)
