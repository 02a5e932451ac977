"""The defended MNIST classifiers shared by `biomimetic-defence`, `loss-landscapes` and
`two-regimes`: one classifier architecture, trained with a biomimetic filter in place, plain,
or adversarially (Madry); cached once under `<results>/_models/` for all three experiments.

A defence is a small JSON-able spec:

- `{}`: the natural classifier;
- `{"filter": "hill", "threshold": 0.5, "steepness": 4}`, `{"filter": "power", "exponent": 2}`,
  `{"filter": "hard", "threshold": 0.5}`, `{"filter": "proofreading", "N": 3, "m": 2}`;
- `{"adversarial": {"epsilon": 0.3, "steps": 40, "step_size": 0.01, "warmup": 0.5}}`.
"""

import time

import equinox as eqx
import jax

from ..data import load_dataset
from ._adversarial_training import madry_loss
from ._cnn import MadryCNN
from ._filters import Filtered, HardThreshold, Hill, PowerLaw, ProofreadingLayer
from ._mlp import MLP
from ._train import cross_entropy_loss, train_classifier

# The quick presets' classifier and defences, shared by the experiments (same dicts ⇒ the same
# cached models).
MLP_CLASSIFIER = {"arch": "mlp", "width": 256, "depth": 2, "epochs": 10, "batch_size": 128}
CNN_CLASSIFIER = {"arch": "cnn", "epochs": 3, "batch_size": 128}  # mnist-baseline and cerebellum-ablation
DEFENCES = {
    "natural": {},
    "hill-4": {"filter": "hill", "threshold": 0.5, "steepness": 4},
    "hill-16": {"filter": "hill", "threshold": 0.5, "steepness": 16},
    "hill-16-low": {"filter": "hill", "threshold": 0.3, "steepness": 16},
    "hard-threshold": {"filter": "hard", "threshold": 0.5},
    "proofreading": {"filter": "proofreading", "N": 3, "m": 2},
    "adversarial": {"adversarial": {"epsilon": 0.3, "steps": 40, "step_size": 0.01, "warmup": 0.5, "epochs": 20}},
}

FILTERS = {
    "hill": lambda s: Hill(threshold=s.get("threshold", 0.5), steepness=s["steepness"]),
    "power": lambda s: PowerLaw(exponent=s["exponent"]),
    "hard": lambda s: HardThreshold(threshold=s.get("threshold", 0.5)),
    "proofreading": lambda s: ProofreadingLayer(N=s["N"], m=s["m"], floor=s.get("floor", 1e-3)),
}


def build_filter(spec: dict) -> eqx.Module | None:
    """The filter a defence spec names, or `None` for an unfiltered classifier."""
    kind = spec.get("filter")
    if kind is None:
        return None
    if kind not in FILTERS:
        raise ValueError(f"unknown filter {kind!r}: use one of {sorted(FILTERS)}")
    return FILTERS[kind](spec)


def build_classifier(classifier: dict, key) -> eqx.Module:
    """The untrained classifier: `{"arch": "mlp", "width", "depth"}` or `{"arch": "cnn"}`."""
    arch = classifier.get("arch", "mlp")
    if arch == "mlp":
        return MLP(width=classifier.get("width", 256), depth=classifier.get("depth", 2), key=key)
    if arch == "cnn":
        return MadryCNN(key=key)
    raise ValueError(f"unknown architecture {arch!r}: use 'mlp' or 'cnn'")


def describe_defence(spec: dict) -> str:
    """A short label for tables and plots, e.g. "Hill θ=0.5 n=4"."""
    kind = spec.get("filter")
    if "adversarial" in spec:
        a = spec["adversarial"]
        return f"adversarial (PGD ε={a['epsilon']:g})"
    if kind is None:
        return "natural"
    if kind == "hill":
        return f"Hill θ={spec.get('threshold', 0.5):g} n={spec['steepness']:g}"
    if kind == "power":
        return f"power x^{spec['exponent']:g}"
    if kind == "hard":
        return f"hard threshold θ={spec.get('threshold', 0.5):g}"
    return f"proofreading N={spec['N']} m={spec['m']}"


def train_defence(run, spec: dict, classifier: dict, dataset: str, seed: int) -> tuple[eqx.Module, float]:
    """Train (or load from `run`'s shared cache, an `adprf.experiments.Run`) the classifier with
    the defence `spec` on the training split of `dataset`.

    **Returns:** `(model, seconds spent training; 0 when loaded)`.
    """
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
    run, defences: dict[str, dict], classifier: dict, dataset: str, seed: int
) -> tuple[dict[str, eqx.Module], dict[str, float]]:
    """Every defence of `defences` (name → spec), trained or loaded: `(models, seconds)`."""
    models, seconds = {}, {}
    for name, spec in defences.items():
        models[name], seconds[name] = train_defence(run, spec, classifier, dataset, seed)
    return models, seconds
