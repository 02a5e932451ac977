"""Training the VGG-style classifier on colour images, cached as a shared model.

The recipe is a small JSON-able mapping (it is also the model's cache key):

- `width`: the encoder's channel multiplier (`VGGClassifier`);
- `epochs`, `batch_size`: the training length;
- `optimizer`: "adam" (AdamW when `weight_decay` > 0) or "sgd" (Nesterov momentum 0.9, L2
  `weight_decay`), with `learning_rate`, `weight_decay` (default 0) and `schedule`
  ("constant", or "cosine": decay to 0 over the whole training) — see `vgg_optimizer`;
- `augment`: train on `flip_and_crop` variants of every batch (default off);
- `seed`: the initialisation and shuffling.

Cross-entropy throughout; no batch normalisation (see `VGGEncoder`).
"""

import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import numpy as np
import optax

from .._types import ArrayLike, Float, Int
from ._augmentation import augmented_cross_entropy
from ._train import cross_entropy_loss, train_classifier
from ._vgg import VGG_PLAN, VGGClassifier

OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("constant", "cosine")


def vgg_optimizer(
    *,
    optimizer: str = "adam",
    learning_rate: float,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    steps: int,
) -> optax.GradientTransformation:
    """The optimiser of a VGG recipe.

    **Arguments:**
    - `optimizer`: "adam" (`optax.adamw`: decoupled weight decay, Adam when `weight_decay` is
      0) or "sgd" (L2 `weight_decay` added to the gradient, then SGD with Nesterov momentum 0.9).
    - `learning_rate`: the (initial) step size.
    - `weight_decay`: the decay coefficient (default 0).
    - `schedule`: "constant", or "cosine": learning_rate · ½(1 + cos(π t / steps)) at update t,
      0 from `steps` on.
    - `steps`: the number of updates of the whole training (epochs × batches per epoch).

    **Returns:** the `optax.GradientTransformation`.
    """
    if optimizer not in OPTIMIZERS or schedule not in SCHEDULES:
        raise ValueError(
            f"vgg optimizer must be one of {OPTIMIZERS} and schedule one of {SCHEDULES}, "
            f"got {optimizer!r} and {schedule!r}"
        )
    rate = optax.cosine_decay_schedule(learning_rate, steps) if schedule == "cosine" else learning_rate
    if optimizer == "adam":
        return optax.adamw(rate, weight_decay=weight_decay)
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.sgd(rate, momentum=0.9, nesterov=True))


class TrainedVGG(NamedTuple):
    """A `VGGClassifier` from `train_vgg`: the model, the spec it is cached by (the recipe plus
    architecture, data set and training-set size) and the seconds spent training (0 when it
    was loaded from the cache)."""

    model: VGGClassifier
    spec: dict[str, Any]
    seconds: float


def train_vgg(
    run, recipe: Mapping[str, Any], images: Float[ArrayLike, "n h w c"], labels: Int[ArrayLike, " n"], *, dataset: str
) -> TrainedVGG:
    """Train a `VGGClassifier` by `recipe` (see the module's docstring), or load it from `run`'s
    shared model cache (an `adprf.experiments.Run`; `<results>/_models/`).

    **Arguments:**
    - `run`: the experiment run whose shared cache holds the model.
    - `recipe`: width, epochs, batch_size, optimizer, learning_rate, weight_decay, schedule,
      augment and seed.
    - `images`, `labels`: the training set (channel-last images in [0, 1]).
    - `dataset`: the name of the data set they come from (part of the cache key).

    **Returns:** a `TrainedVGG`.
    """
    recipe = dict(recipe)
    k_init, k_train = jax.random.split(jax.random.PRNGKey(recipe["seed"]))
    template = VGGClassifier(recipe["width"], key=k_init)
    spec = {
        "architecture": "VGGClassifier",
        "plan": list(VGG_PLAN),
        "dataset": dataset,
        "n_train": int(np.shape(images)[0]),
        **recipe,
    }
    steps = recipe["epochs"] * (int(np.shape(images)[0]) // recipe["batch_size"])
    optimizer = vgg_optimizer(
        optimizer=recipe.get("optimizer", "adam"),
        learning_rate=recipe["learning_rate"],
        weight_decay=recipe.get("weight_decay", 0.0),
        schedule=recipe.get("schedule", "constant"),
        steps=steps,
    )
    seconds = [0.0]

    def train():
        start = time.perf_counter()
        model, _ = train_classifier(
            template,
            images,
            labels,
            key=k_train,
            epochs=recipe["epochs"],
            batch_size=recipe["batch_size"],
            optimizer=optimizer,
            loss_fn=augmented_cross_entropy if recipe.get("augment") else cross_entropy_loss,
            description=f"train VGG (width {recipe['width']:g})",
        )
        seconds[0] = time.perf_counter() - start
        return model

    return TrainedVGG(run.shared_model(spec, template, train), spec, seconds[0])
