"""ART (adversarial-robustness-toolbox) as an independent oracle for APGD and Square, on JAX models.

No torch or tensorflow: `JaxClassifier` implements ART's abstract estimator API with `jax.vmap`
and `jax.grad`. Two limits of ART 1.20 decide the design:

* `AutoProjectedGradientDescent(loss_type="cross_entropy" | "difference_logits_ratio")` only
  accepts `TensorFlowV2Classifier` / `PyTorchClassifier` (anything else raises "The loss type ...
  is not supported for the provided estimator"). With `loss_type=None` it attacks the estimator's
  own `loss_gradient` / `compute_loss(..., reduction="none")`, so the loss is chosen here, per
  classifier. Targeted APGD minimises that loss at the target label, for both losses (so "dlr",
  targeted, is ART's DLR at the target, not AutoAttack's targeted DLR).
* `SquareAttack` wants `NeuralNetworkMixin` (not the plain `BlackBoxClassifier`) and 4-d inputs;
  a 2-d input shape (MNIST's (28, 28)) gets a trailing channel axis on the ART side only.

Both attacks draw from NumPy's global RNG (Square's L2 also from `random`); the helpers seed them.
A classifier counts the examples it evaluates (`forward_rows`: logits or loss only; `gradient_rows`:
loss gradients), and can be built once (`art_classifier`) and passed to the helpers, so that its
compiled functions are reused (benchmarks/suite.py times the attacks that way).
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "PyTorch not found ..." and the like
    from art.attacks.evasion import AutoProjectedGradientDescent, SquareAttack
    from art.estimators.classification.classifier import ClassifierMixin
    from art.estimators.estimator import BaseEstimator, LossGradientsMixin, NeuralNetworkMixin

Loss = Literal["ce", "dlr"]
_CHUNK = 1024  # largest batch one compiled call sees; smaller ones are padded to a power of two


def _ce(logits: jax.Array, onehot: jax.Array) -> jax.Array:
    return -jnp.sum(onehot * jax.nn.log_softmax(logits))


def _dlr(logits: jax.Array, onehot: jax.Array) -> jax.Array:
    """Croce & Hein's difference of logits ratio, -(z_y - max_{i≠y} z_i) / (z_π1 - z_π3)."""
    z = jnp.sort(logits)
    z_y = jnp.sum(onehot * logits)
    z_other = jnp.max(jnp.where(onehot > 0, -jnp.inf, logits))
    return -(z_y - z_other) / (z[-1] - z[-3] + 1e-12)


class JaxClassifier(ClassifierMixin, LossGradientsMixin, NeuralNetworkMixin, BaseEstimator):
    """An ART classifier (channels last) around `model`, a JAX function of one unbatched input to logits."""

    def __init__(
        self,
        model: Callable[[jax.Array], jax.Array],
        input_shape: tuple[int, ...],
        n_classes: int,
        clip_values: tuple[float, float] | None = (0.0, 1.0),
        loss: Loss = "ce",
    ) -> None:
        super().__init__(model=model, clip_values=clip_values, channels_first=False, preprocessing=None)
        self.nb_classes = n_classes
        self._model_shape = tuple(input_shape)
        self._input_shape = self._model_shape + (1,) if len(input_shape) == 2 else self._model_shape
        self._layer_names = None
        self.loss_name: Loss = loss
        self.forward_rows = 0  # examples whose logits or loss were evaluated (no gradient)
        self.gradient_rows = 0  # examples whose loss gradient was evaluated
        per_example = {"ce": _ce, "dlr": _dlr}[loss]
        loss_fn = lambda x, y: per_example(model(x.reshape(self._model_shape)), y)
        self._logits = jax.jit(jax.vmap(lambda x: model(x.reshape(self._model_shape))))
        self._loss = jax.jit(jax.vmap(loss_fn))
        self._grad = jax.jit(jax.vmap(jax.grad(loss_fn)))

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._input_shape

    def _run(self, fn: Callable[..., jax.Array], *arrays: np.ndarray) -> np.ndarray:
        """`fn` on float32 `arrays` in chunks padded to a few fixed sizes (one compilation per size)."""
        arrays = tuple(np.asarray(a, np.float32) for a in arrays)
        n, out = len(arrays[0]), []
        for i in range(0, n, _CHUNK):
            parts = [a[i : i + _CHUNK] for a in arrays]
            m = len(parts[0])
            size = max(8, 1 << (m - 1).bit_length())
            parts = [np.concatenate([p, np.zeros((size - m, *p.shape[1:]), p.dtype)]) for p in parts]
            out.append(np.asarray(fn(*parts))[:m])
        return np.concatenate(out) if out else np.asarray(fn(*arrays))

    def predict(self, x: np.ndarray, batch_size: int = 128, **kwargs: Any) -> np.ndarray:
        self.forward_rows += len(x)
        return self._run(self._logits, x)

    def compute_loss(self, x: np.ndarray, y: np.ndarray, reduction: str = "none", **kwargs: Any) -> np.ndarray:
        self.forward_rows += len(x)
        losses = self._run(self._loss, x, y)
        return {"none": losses, "mean": losses.mean(), "sum": losses.sum()}[reduction]

    def loss_gradient(self, x: np.ndarray, y: np.ndarray, **kwargs: Any) -> np.ndarray:
        self.gradient_rows += len(x)
        return self._run(self._grad, x, y).reshape(x.shape)

    def fit(self, x: np.ndarray, y: np.ndarray, batch_size: int = 128, nb_epochs: int = 20, **kwargs: Any) -> None:
        raise NotImplementedError

    def get_activations(self, x: np.ndarray, layer: int | str, batch_size: int, framework: bool = False) -> np.ndarray:
        raise NotImplementedError


def art_classifier(
    model: Callable[[jax.Array], jax.Array],
    input_shape: tuple[int, ...],
    n_classes: int,
    clip_values: tuple[float, float] | None = (0.0, 1.0),
    loss: Loss = "ce",
) -> JaxClassifier:
    """ART classifier for `model`; `loss` is what APGD (with `loss_type=None`) ascends."""
    return JaxClassifier(model, input_shape, n_classes, clip_values, loss)


def _onehot(y: np.ndarray, n_classes: int) -> np.ndarray:
    return np.eye(n_classes, dtype=np.float32)[np.asarray(y)]


def _classifier(
    classifier: JaxClassifier | None,
    model: Callable[[jax.Array], jax.Array],
    input_shape: tuple[int, ...],
    n_classes: int,
    clip_values: tuple[float, float],
    loss: Loss,
) -> JaxClassifier:
    """`classifier` if given (its loss must be `loss`), else a new one."""
    if classifier is None:
        return art_classifier(model, input_shape, n_classes, clip_values, loss)
    if classifier.loss_name != loss or classifier.input_shape[: len(input_shape)] != tuple(input_shape):
        raise ValueError(f"the classifier given ascends {classifier.loss_name!r} on {classifier.input_shape}")
    return classifier


def art_apgd(
    model: Callable[[jax.Array], jax.Array],
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    *,
    norm: float = np.inf,
    loss: Loss = "ce",
    targeted: bool = False,
    max_iter: int = 100,
    eps_step: float | None = None,
    nb_random_init: int = 1,
    batch_size: int = 256,
    n_classes: int = 10,
    clip_values: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    classifier: JaxClassifier | None = None,
) -> np.ndarray:
    """ART's APGD on `x` (n, *input_shape) with labels `y` (targets if `targeted`); adversarial `x`, same shape.

    `eps_step` defaults to 2·eps (AutoAttack's first step). ART always starts from a random point in the ball
    (`nb_random_init` >= 1), returns its last iterate where that is adversarial and the random start elsewhere;
    examples misclassified (targeted: already at the target) on entry come back unchanged.
    `classifier`: one from `art_classifier(..., loss=loss)` to reuse (its compiled functions, its counts).
    """
    clf = _classifier(classifier, model, x.shape[1:], n_classes, clip_values, loss)
    attack = AutoProjectedGradientDescent(
        clf,  # pyright: ignore[reportArgumentType]  (ART types it as a union of its own estimators)
        norm=norm,
        eps=eps,
        eps_step=2 * eps if eps_step is None else eps_step,
        max_iter=max_iter,
        targeted=targeted,
        nb_random_init=nb_random_init,
        batch_size=batch_size,
        loss_type=None,
        verbose=False,
    )
    np.random.seed(seed)
    x_art = np.asarray(x, np.float32).reshape(len(x), *clf.input_shape)
    return attack.generate(x_art, _onehot(y, n_classes)).reshape(x.shape)


def art_square(
    model: Callable[[jax.Array], jax.Array],
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    *,
    norm: float = np.inf,
    max_iter: int = 1000,
    p_init: float = 0.8,
    nb_restarts: int = 1,
    n_classes: int = 10,
    clip_values: tuple[float, float] = (0.0, 1.0),
    seed: int = 0,
    classifier: JaxClassifier | None = None,
) -> np.ndarray:
    """ART's (untargeted, margin-loss) Square attack, `max_iter` queries per example; adversarial `x`, same shape.

    ART's L2 variant divides the window's new perturbation by the norm it should multiply by
    (square_attack.py, `delta_new /= ... * np.sqrt(...)`), so it is weaker than the paper's. Its L∞
    variant draws one window and one sign per iteration for the whole batch (the paper: one per
    example). Each iteration predicts on the whole batch and evaluates the margin twice on the
    examples still robust. `classifier`: as in `art_apgd` (loss "ce"; Square uses the logits only).
    """
    clf = _classifier(classifier, model, x.shape[1:], n_classes, clip_values, "ce")
    attack = SquareAttack(
        clf,  # pyright: ignore[reportArgumentType]
        norm=norm,
        eps=eps,
        max_iter=max_iter,
        p_init=p_init,
        nb_restarts=nb_restarts,
        batch_size=_CHUNK,
        verbose=False,
    )
    np.random.seed(seed)
    random.seed(seed)
    x_art = np.asarray(x, np.float32).reshape(len(x), *clf.input_shape)
    with np.errstate(divide="ignore", invalid="ignore"):  # ART's L2 update divides 0 by 0 (rejected as NaN loss)
        return attack.generate(x_art, _onehot(y, n_classes)).reshape(x.shape)
