"""Defended MNIST classifiers as data: a defence spec and a classifier spec say everything that
determines a trained model, so experiments that name the same specs share one cached model.

The biomimetic defence of Rademaker et al. 2019 puts a filter that ignores faint inputs (as
proofreading with m > 1 ignores weakly bound ligands) in front of a classifier, which is then
trained in place behind it; its baseline is adversarial training (Madry et al. 2018). Both are
specs here, small JSON-able dicts:

- a **defence spec**: `{}` (the natural classifier);
  `{"filter": "hill", "threshold": 0.5, "steepness": 4}` (`Hill`),
  `{"filter": "power", "exponent": 2}` (`PowerLaw`), `{"filter": "hard", "threshold": 0.5}`
  (`HardThreshold`), `{"filter": "proofreading", "N": 3, "m": 2}` (`ProofreadingLayer`);
  or `{"adversarial": {"epsilon": 0.3, "steps": 40, "step_size": 0.01, "warmup": 0.5,
  "epochs": 20}}` (`madry_loss`; `epochs` overrides the classifier's);
- a **classifier spec**: `{"arch": "mlp", "width": 256, "depth": 2, "epochs": 10,
  "batch_size": 128}` (`MLP`) or `{"arch": "cnn", "epochs": 3, "batch_size": 128}` (`MadryCNN`).

`train_defence` trains (or loads) one under an `adprf.experiments.Run`'s shared cache
(`<results>/_models/`), keyed by both specs, the data set and the seed: the dicts below are
therefore cache keys, shared by `biomimetic-defence`, `loss-landscapes`, `two-regimes`,
`mnist-baseline` and `cerebellum-ablation`; changing one retrains every model it names.
"""

import time
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax

from .._types import PRNGKeyArray
from ..data import load_dataset
from ._adversarial_training import madry_loss
from ._cnn import MadryCNN
from ._filters import Filtered, HardThreshold, Hill, PowerLaw, ProofreadingLayer
from ._mlp import MLP
from ._train import cross_entropy_loss, train_classifier

MLP_CLASSIFIER = {"arch": "mlp", "width": 256, "depth": 2, "epochs": 10, "batch_size": 128}
"""The quick presets' MLP (biomimetic-defence, loss-landscapes, two-regimes, mnist-baseline)."""

CNN_CLASSIFIER = {"arch": "cnn", "epochs": 3, "batch_size": 128}
"""The quick presets' Madry CNN (mnist-baseline, cerebellum-ablation)."""

DEFENCES = {
    "natural": {},
    "hill-4": {"filter": "hill", "threshold": 0.5, "steepness": 4},
    "hill-16": {"filter": "hill", "threshold": 0.5, "steepness": 16},
    "hill-16-low": {"filter": "hill", "threshold": 0.3, "steepness": 16},
    "hard-threshold": {"filter": "hard", "threshold": 0.5},
    "proofreading": {"filter": "proofreading", "N": 3, "m": 2},
    "adversarial": {"adversarial": {"epsilon": 0.3, "steps": 40, "step_size": 0.01, "warmup": 0.5, "epochs": 20}},
}
"""The defences of the quick presets, by name (defence specs, see the module's docstring)."""


def build_filter(spec: Mapping[str, Any]) -> Hill | PowerLaw | HardThreshold | ProofreadingLayer | None:
    """The input filter a defence spec names.

    **Arguments:**
    - `spec`: a defence spec; its `"filter"` entry is "hill" (`threshold`, default 0.5, and
      `steepness`), "power" (`exponent`), "hard" (`threshold`, default 0.5) or "proofreading"
      (`N`, `m`, `floor`, default 1e-3).

    **Returns:** the filter module, or `None` when the spec names no filter (the natural and
    the adversarially trained classifiers).
    """
    match spec.get("filter"):
        case None:
            return None
        case "hill":
            return Hill(threshold=spec.get("threshold", 0.5), steepness=spec["steepness"])
        case "power":
            return PowerLaw(exponent=spec["exponent"])
        case "hard":
            return HardThreshold(threshold=spec.get("threshold", 0.5))
        case "proofreading":
            return ProofreadingLayer(N=spec["N"], m=spec["m"], floor=spec.get("floor", 1e-3))
        case kind:
            raise ValueError(f"unknown filter {kind!r}: use one of ['hard', 'hill', 'power', 'proofreading']")


def build_classifier(classifier: Mapping[str, Any], key: PRNGKeyArray) -> MLP | MadryCNN:
    """The untrained classifier a classifier spec names.

    **Arguments:**
    - `classifier`: `{"arch": "mlp", "width", "depth"}` (defaults 256 and 2) or
      `{"arch": "cnn"}` (Madry et al.'s CNN); other entries (training settings) are ignored.
    - `key`: the PRNG key of the initial weights.

    **Returns:** an `MLP` or a `MadryCNN`.
    """
    arch = classifier.get("arch", "mlp")
    if arch == "mlp":
        return MLP(width=classifier.get("width", 256), depth=classifier.get("depth", 2), key=key)
    if arch == "cnn":
        return MadryCNN(key=key)
    raise ValueError(f"unknown architecture {arch!r}: use 'mlp' or 'cnn'")


def describe_defence(spec: Mapping[str, Any]) -> str:
    """A short label of a defence spec for tables and plots, e.g. "Hill θ=0.5 n=4",
    "adversarial (PGD ε=0.3)" or "natural"."""
    kind = spec.get("filter")
    if "adversarial" in spec:
        return f"adversarial (PGD ε={spec['adversarial']['epsilon']:g})"
    if kind is None:
        return "natural"
    if kind == "hill":
        return f"Hill θ={spec.get('threshold', 0.5):g} n={spec['steepness']:g}"
    if kind == "power":
        return f"power x^{spec['exponent']:g}"
    if kind == "hard":
        return f"hard threshold θ={spec.get('threshold', 0.5):g}"
    return f"proofreading N={spec['N']} m={spec['m']}"


def _plain(value: Any) -> Any:
    """A spec as plain dicts (a read-only mapping from a frozen config keys the cache as a dict)."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def train_defence(
    run, spec: Mapping[str, Any], classifier: Mapping[str, Any], dataset: str, seed: int
) -> tuple[eqx.Module, float]:
    """The classifier trained with a defence, or loaded from the shared cache.

    The filter (if any) sits in front of the classifier during training (`Filtered`); an
    adversarial spec trains with `madry_loss` instead of the cross-entropy.

    **Arguments:**
    - `run`: the `adprf.experiments.Run` whose shared cache (`<results>/_models/`) holds the
      model, keyed by `spec`, `classifier`, `dataset`, `seed` and the number of epochs.
    - `spec`: the defence spec (see the module's docstring).
    - `classifier`: the classifier spec; `epochs` (default 10) and `batch_size` (default 128)
      are its training settings.
    - `dataset`: the name of the data set (`adprf.data.load_dataset`); its training split is used.
    - `seed`: seeds the initial weights and the training batches.

    **Returns:** `(model, seconds spent training)`; the seconds are 0 when the model was loaded.
    """
    spec, classifier = _plain(spec), _plain(classifier)
    k_init, k_train = jax.random.split(jax.random.PRNGKey(seed))
    template = build_classifier(classifier, k_init)
    filt = build_filter(spec)
    if filt is not None:
        template = Filtered(template, filt)
    adversarial = spec.get("adversarial")
    loss_fn = cross_entropy_loss
    if adversarial is not None:
        loss_fn = madry_loss(
            adversarial["epsilon"],
            adversarial.get("steps", 40),
            adversarial.get("step_size", 0.01),
            warmup=adversarial.get("warmup", 0.0),
        )
    epochs = (adversarial or {}).get("epochs", classifier.get("epochs", 10))
    seconds = [0.0]

    def build():
        train = load_dataset(dataset, "train")
        start = time.perf_counter()
        model, _ = train_classifier(
            template,
            train.images,
            train.labels,
            key=k_train,
            epochs=epochs,
            batch_size=classifier.get("batch_size", 128),
            loss_fn=loss_fn,
            description=f"train {describe_defence(spec)}",
        )
        seconds[0] = time.perf_counter() - start
        return model

    full_spec = {"defence": spec, "classifier": classifier, "dataset": dataset, "seed": seed, "epochs": epochs}
    model = run.shared_model(full_spec, template, build)
    return model, seconds[0]


def train_defences(
    run, defences: Mapping[str, Mapping[str, Any]], classifier: Mapping[str, Any], dataset: str, seed: int
) -> tuple[dict[str, eqx.Module], dict[str, float]]:
    """Every defence of `defences` (name → defence spec) trained or loaded with `train_defence`
    (same `run`, `classifier`, `dataset` and `seed`).

    **Returns:** `(models, seconds)`, both by name.
    """
    models, seconds = {}, {}
    for name, spec in defences.items():
        models[name], seconds[name] = train_defence(run, spec, classifier, dataset, seed)
    return models, seconds
