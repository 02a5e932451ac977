"""Training the cerebellum: the delta rule on the Purkinje weights with RMSprop, as in Yuezhang et al.

Only W learns (the granule weights are fixed): loss = mean squared error between ŷ and the
one-hot label, whose gradient is the delta rule ΔW ∝ z eᵀ with e = ŷ − y; RMSprop (decay
0.99, eps 1e-8 outside the square root, as PyTorch's) with lr = 0.5/m; batch 50 (or 1);
10 epochs; the epoch with the best test accuracy is kept (the original code's selection,
optimistic since it looks at the test set; `select="last"` keeps the last epoch). LTD's
running mean is updated before each batch is read out. `rule="backprop"` instead trains the
granule weights too, by autodiff of the same loss (a comparison, not the paper's model).

Every epoch is one compiled `lax.scan` over its batches, so batch-1 training (60,000 steps
per epoch) is not a Python loop.
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from .._types import Array, ArrayLike, Float, Int, PRNGKeyArray
from ._model import Cerebellum, evaluation_batch

RULES = ("delta", "backprop")


def rmsprop(learning_rate: float, decay: float = 0.99, eps: float = 1e-8) -> optax.GradientTransformation:
    """RMSprop as in PyTorch: w ← w − lr · g / (√v + eps), v ← decay · v + (1 − decay) g², v₀ = 0."""
    return optax.rmsprop(learning_rate, decay=decay, eps=eps, eps_in_sqrt=False)


def mse_loss(output: Float[Array, "batch c"], labels: Int[Array, " batch"]) -> Float[Array, ""]:
    """Mean over batch and outputs of (ŷ − onehot(y))²."""
    return jnp.mean((output - jax.nn.one_hot(labels, output.shape[-1], dtype=output.dtype)) ** 2)


def delta_rule(
    model: Cerebellum,
    xb: Float[Array, "batch d"],
    yb: Int[Array, " batch"],
) -> tuple[Float[Array, "m c"], Cerebellum, Float[Array, ""]]:
    """One batch of the delta rule on features `xb` (already flattened / encoded).

    **Returns:** `(gradient of mse_loss with respect to W, i.e. 2 zᵀ e / (batch · c); the model
    with its LTD mean updated on this batch; the loss)`.
    """
    h = jax.vmap(model.granule)(xb)
    model = eqx.tree_at(lambda m: m.ltd, model, model.ltd.update(h))  # β = 1 (no LTD): μ stays 0
    z = model.centred(h)
    output = model.purkinje(z)
    error = output - jax.nn.one_hot(yb, output.shape[-1], dtype=output.dtype)
    gradient = z.T @ error * (2.0 / error.size)
    return gradient, model, jnp.mean(error**2)


def _backprop(model: Cerebellum, xb, yb):
    """Gradient of the same loss with respect to every granule and Purkinje weight."""
    h = jax.lax.stop_gradient(jax.vmap(model.granule)(xb))
    model = eqx.tree_at(lambda m: m.ltd, model, model.ltd.update(h))  # β = 1 (no LTD): μ stays 0
    params, static = eqx.partition(_learnable(model, "backprop"), eqx.is_inexact_array)

    def loss(p):
        granule, purkinje = eqx.combine(p, static)
        return mse_loss(purkinje(model.centred(jax.vmap(granule)(xb))), yb)

    value, grads = jax.value_and_grad(loss)(params)
    return grads, model, value


def _learnable(model: Cerebellum, rule: str):
    """The sub-pytree that learns: W for the delta rule, granule and W for backprop."""
    if rule == "delta":
        return model.purkinje.weight
    return (model.granule, model.purkinje)


def _replace_learnable(model: Cerebellum, rule: str, value) -> Cerebellum:
    if rule == "delta":
        return eqx.tree_at(lambda m: m.purkinje.weight, model, value)
    return eqx.tree_at(lambda m: (m.granule, m.purkinje), model, value)


@eqx.filter_jit
def _epoch(model, opt_state, features, labels, key, optimizer, batch_size, rule):
    n_batches = features.shape[0] // batch_size
    order = jax.random.permutation(key, features.shape[0])[: n_batches * batch_size]
    xs = features[order].reshape(n_batches, batch_size, -1)
    ys = labels[order].reshape(n_batches, batch_size)
    dynamic, static = eqx.partition(model, eqx.is_array)

    def step(carry, batch):
        dyn, state = carry
        m = eqx.combine(dyn, static)
        if rule == "delta":
            grads, m, loss = delta_rule(m, *batch)
            params = m.purkinje.weight
        else:
            grads, m, loss = _backprop(m, *batch)
            params = eqx.filter(_learnable(m, rule), eqx.is_inexact_array)
        updates, state = optimizer.update(grads, state, params)
        learned = eqx.apply_updates(_learnable(m, rule), updates)
        m = _replace_learnable(m, rule, learned)
        return (eqx.filter(m, eqx.is_array), state), loss

    (dynamic, opt_state), losses = jax.lax.scan(step, (dynamic, opt_state), (xs, ys))
    return eqx.combine(dynamic, static), opt_state, jnp.mean(losses)


@eqx.filter_jit
def _encode(encoder, images, batch_size):
    return jax.lax.map(lambda x: jnp.ravel(encoder(x)), images, batch_size=batch_size)


def encode(model: Cerebellum, images: Float[ArrayLike, "n ..."]) -> Float[Array, "n d"]:
    """The granule layer's input for every image: flattened pixels, or frozen-encoder features."""
    images = jnp.asarray(images)
    if model.encoder is None:
        return images.reshape(images.shape[0], -1)
    return _encode(model.encoder, images, min(256, images.shape[0]))


@eqx.filter_jit
def _head_accuracy(head, features, labels, batch_size):
    predictions = jax.lax.map(lambda x: jnp.argmax(head(x)), features, batch_size=batch_size)
    return jnp.mean(predictions == labels)


def _check_training(model: Cerebellum, images, labels, epochs, batch_size, rule, select, eval_data):
    """The training set as arrays, once every argument of `train_cerebellum` is checked."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if select not in ("best", "last"):
        raise ValueError(f"select must be 'best' or 'last', got {select!r}")
    if select == "best" and eval_data is None:
        raise ValueError(
            "select='best' keeps the epoch of best test accuracy: pass eval_data=(images, labels) or use select='last'"
        )
    images, labels = jnp.asarray(images), jnp.asarray(labels, dtype=jnp.int32)
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
    if not isinstance(batch_size, int) or not 1 <= batch_size <= images.shape[0]:
        raise ValueError(
            f"batch_size must be an integer in [1, {images.shape[0]}] (the training-set size), got {batch_size!r}"
        )
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    n_out = model.purkinje.weight.shape[1]
    if int(labels.min()) < 0 or int(labels.max()) >= n_out:
        raise ValueError(
            f"labels must lie in 0..{n_out - 1} (one Purkinje cell per class), "
            f"got {int(labels.min())}..{int(labels.max())}"
        )
    return images, labels


def train_cerebellum(
    model: Cerebellum,
    images: Float[ArrayLike, "n ..."],
    labels: Int[ArrayLike, " _n"],  # its length is checked with a clear message
    *,
    key: PRNGKeyArray,
    epochs: int = 10,
    batch_size: int = 50,
    learning_rate: float | None = None,
    decay: float = 0.99,
    eps: float = 1e-8,
    rule: str = "delta",
    eval_data: tuple[Float[ArrayLike, "n_eval ..."], Int[ArrayLike, " n_eval"]] | None = None,
    select: str = "best",
    progress: bool = True,
    description: str = "cerebellum",
) -> tuple[Cerebellum, dict]:
    """Train a `Cerebellum` as Yuezhang et al.: delta rule + RMSprop on W, LTD mean updated.

    **Arguments:**
    - `model`: the untrained `Cerebellum` (its encoder, if any, stays frozen: features are
      computed once).
    - `images`, `labels`: the training set (leading batch axis; pixels in the model's range).
    - `key`: PRNG key of the shuffling.
    - `epochs`, `batch_size`: 10 and 50 in the paper (batch 1 in its appendix); the last
      incomplete batch of an epoch is dropped.
    - `learning_rate`: RMSprop step, default 0.5 / m.
    - `decay`, `eps`: RMSprop constants (0.99, 1e-8 outside the square root).
    - `rule`: "delta" (only W learns: the paper) or "backprop" (granule weights too).
    - `eval_data`: `(images, labels)` evaluated after every epoch; required by `select="best"`.
    - `select`: "best" keeps the epoch of highest `eval_data` accuracy (the original code),
      "last" the last epoch.
    - `progress`: tqdm bar over epochs.

    **Returns:** `(trained model, history)` with per-epoch `loss`, `eval_accuracy` (if
    `eval_data`), and `best_epoch` (0-based) of the returned model.
    """
    images, labels = _check_training(model, images, labels, epochs, batch_size, rule, select, eval_data)
    learning_rate = 0.5 / model.width if learning_rate is None else learning_rate
    optimizer = rmsprop(learning_rate, decay, eps)

    encoder = model.encoder
    head = eqx.tree_at(lambda m: m.encoder, model, None, is_leaf=lambda x: x is None)
    features = encode(model, images)
    eval_features = eval_labels = None
    if eval_data is not None:
        eval_features = encode(model, eval_data[0])
        eval_labels = jnp.asarray(eval_data[1], dtype=jnp.int32)
    chunk = evaluation_batch(model.width)

    opt_state = optimizer.init(eqx.filter(_learnable(head, rule), eqx.is_inexact_array))
    history: dict[str, Any] = {"loss": []}  # per-epoch lists, and best_epoch
    best, best_accuracy, best_epoch = head, -1.0, 0
    bar = tqdm(range(epochs), desc=description, disable=not progress, leave=False)
    for epoch, k in zip(bar, jax.random.split(key, epochs)):
        head, opt_state, loss = _epoch(head, opt_state, features, labels, k, optimizer, batch_size, rule)
        history["loss"].append(float(loss))
        if not np.isfinite(history["loss"][-1]):
            raise FloatingPointError(
                f"training diverged at epoch {epoch} (loss {history['loss'][-1]}): "
                f"lower the learning rate (now {learning_rate:g})"
            )
        postfix = {"loss": f"{float(loss):.4f}"}
        if eval_features is not None:
            acc = float(_head_accuracy(head, eval_features, eval_labels, min(chunk, eval_features.shape[0])))
            history.setdefault("eval_accuracy", []).append(acc)
            postfix["test"] = f"{acc:.3f}"
            if select == "best" and acc > best_accuracy:
                best, best_accuracy, best_epoch = head, acc, epoch
        bar.set_postfix(postfix)
    if select == "last":
        best, best_epoch = head, epochs - 1
    history["best_epoch"] = best_epoch
    return eqx.tree_at(lambda m: m.encoder, best, encoder, is_leaf=lambda x: x is None), history
