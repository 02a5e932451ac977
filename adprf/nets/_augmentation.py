"""Data augmentation of colour images for training: the standard CIFAR-10 random flip and crop.

Each training batch is replaced by a random variant: every image is mirrored left–right with
probability 1/2, then a window of its own size is cut at a random offset from the image
zero-padded by `pad` pixels on every side (the CIFAR-10 recipe of He et al. 2016, "Deep
Residual Learning for Image Recognition", with pad = 4). The label is unchanged; the test images are never augmented.
"""

import jax
import jax.numpy as jnp

from .._types import Array, Float, Int, PRNGKeyArray
from ._train import cross_entropy_loss


def flip_and_crop(images: Float[Array, "n h w c"], key: PRNGKeyArray, pad: int = 4) -> Float[Array, "n h w c"]:
    """A random horizontal flip, then a random crop, of every channel-last image of a batch.

    **Arguments:**
    - `images`: the batch, shape (n, h, w, c).
    - `key`: PRNG key (one flip and one offset per image).
    - `pad`: zero padding on every side before cropping; the crop's offset is uniform in
      0, …, 2·pad in each direction, so an image moves by at most `pad` pixels.

    **Returns:** the augmented batch, shape (n, h, w, c): each image a shifted (possibly
    mirrored) window of the original, with zeros where the window leaves it.
    """
    n, h, w, c = images.shape
    k_flip, k_row, k_col = jax.random.split(key, 3)
    flip = jax.random.bernoulli(k_flip, 0.5, (n,))
    images = jnp.where(flip[:, None, None, None], images[:, :, ::-1], images)
    padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = jax.random.randint(k_row, (n,), 0, 2 * pad + 1)
    cols = jax.random.randint(k_col, (n,), 0, 2 * pad + 1)
    return jax.vmap(lambda im, r, s: jax.lax.dynamic_slice(im, (r, s, 0), (h, w, c)))(padded, rows, cols)


def augmented_cross_entropy(
    model, images: Float[Array, "n h w c"], labels: Int[Array, " n"], key: PRNGKeyArray
) -> Float[Array, ""]:
    """The cross-entropy of `model` on the batch after `flip_and_crop` (a `loss_fn` of
    `train_classifier`).

    **Arguments:**
    - `model`: a classifier of one image (returns logits).
    - `images`, `labels`: the batch.
    - `key`: PRNG key; split between the augmentation and the loss.

    **Returns:** the mean cross-entropy over the augmented batch.
    """
    k_augment, k_loss = jax.random.split(key)
    return cross_entropy_loss(model, flip_and_crop(images, k_augment), labels, k_loss)
