"""What the cerebellum experiments share: building, training (cached across experiments),
attacking and tabulating `Cerebellum` models beside the numbers of Yuezhang et al. (2021).

A model is a small JSON-able spec, `{"width": m, "connectivity": "dense"}` or
`{"width": m, "connectivity": "sparse", "k": 4, "replace": True}`, plus `"ltd": bool`.
Training follows SPEC §5.1 (delta rule + RMSprop, lr 0.5/m, best-test epoch); the trained
model is cached under `<results>/_models/` by the hash of everything that determines it, so
`cerebellum-ablation` reuses the models of `cerebellum-width` and `cerebellum-sparsity`.
Attacks follow SPEC §5.2: L∞ FGSM and PGD-40 (step 0.01, uniform random start), MSE to the
one-hot label, ε ∈ {0, 0.05, …, 0.3}, accuracy on the attacked test images. adprf's PGD stops
each example at its first successful iterate instead of returning the last one: an example
counted fooled was fooled by a point inside the ball, so our PGD accuracy is at most the
last-iterate one.
"""

import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..attacks import FGSM, PGD, Ensemble, robust_accuracy
from ..data import load_dataset
from ..nets import accuracy
from ._model import Cerebellum
from ._train import train_cerebellum

PAPER_EPSILONS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
TABLE_COLUMNS = ["Test", "FGSM .1", "FGSM .3", "PGD .1", "PGD .3"]
SYNAPSE_BUDGET = 4.8e6  # the sparsity sweep's synapse budget: m = ⌊4.8·10⁶ / (k + 20)⌋

# SPEC §5.3, Yuezhang et al. (2021), MNIST, batch 50: Test, FGSM .1, FGSM .3, PGD .1, PGD .3 (%).
PAPER_WIDTH = {  # m -> (no LTD, with LTD)
    1000: ((94.1, 20.4, 10.5, 9.0, 1.3), (94.4, 21.2, 10.9, 9.5, 1.4)),
    2000: ((95.4, 27.6, 14.2, 13.8, 1.8), (95.6, 29.7, 15.6, 12.3, 1.4)),
    5000: ((96.3, 37.5, 20.1, 15.7, 1.3), (96.6, 41.8, 21.2, 14.4, 1.3)),
    10000: ((96.8, 38.4, 18.8, 16.4, 1.0), (97.0, 48.3, 22.6, 13.0, 1.0)),
    20000: ((97.1, 42.9, 21.1, 16.2, 0.9), (97.3, 55.7, 28.2, 16.1, 1.0)),
    50000: ((97.2, 43.9, 22.1, 15.6, 0.6), (97.3, 59.2, 29.2, 16.2, 0.8)),
    100000: ((97.2, 45.6, 23.1, 15.3, 0.7), (97.3, 61.0, 29.4, 17.8, 0.8)),
    200000: ((97.1, 45.2, 22.9, 15.3, 0.6), (97.4, 62.0, 30.4, 19.6, 0.7)),
}
PAPER_SPARSITY = {  # k -> (RC, RC + LTD), m = ⌊4.8M/(k+20)⌋
    784: ((96.5, 33.8, 15.9, 13.9, 1.3), (96.9, 42.4, 20.4, 13.2, 0.9)),
    200: ((97.1, 43.6, 22.3, 15.1, 1.0), (97.2, 55.6, 27.4, 14.8, 0.8)),
    50: ((97.2, 46.1, 23.9, 16.3, 0.6), (97.3, 60.0, 29.3, 17.6, 0.6)),
    10: ((96.7, 44.2, 19.5, 12.1, 0.2), (96.9, 60.2, 24.5, 24.4, 0.3)),
    4: ((96.0, 48.3, 18.2, 17.6, 0.5), (96.1, 62.0, 23.4, 55.8, 4.9)),
    2: ((94.2, 54.2, 14.9, 24.2, 2.0), (94.5, 61.4, 19.4, 57.3, 16.0)),
    1: ((85.8, 68.4, 28.3, 20.2, 9.7), (86.6, 70.1, 33.1, 33.6, 17.7)),
}


def sparsity_width(k: int, synapses: float = SYNAPSE_BUDGET) -> int:
    """The synapse-count control m = ⌊synapses / (k + 20)⌋ (4.8·10⁶ in the paper)."""
    return int(synapses // (k + 20))


def spec_label(spec: dict) -> str:
    """A short name, e.g. "RC k=4 m=200000 + LTD"."""
    base = f"FC m={spec['width']}" if spec["connectivity"] == "dense" else f"RC k={spec['k']} m={spec['width']}"
    return base + (" + LTD" if spec.get("ltd") else "")


def build_cerebellum(spec: dict, key, inputs: int = 784) -> Cerebellum:
    """The untrained `Cerebellum` of a spec."""
    return Cerebellum(
        inputs,
        spec["width"],
        connectivity=spec["connectivity"],
        k=spec.get("k"),
        replace=spec.get("replace", True),
        ltd=spec.get("ltd", False),
        key=key,
    )


def load_split_data(cfg: dict):
    """(train images, train labels, test images, test labels, source) of the config's data set."""
    train, test = load_dataset(cfg["dataset"], "train"), load_dataset(cfg["dataset"], "test")
    n_train = cfg.get("n_train") or len(train)
    return train.images[:n_train], train.labels[:n_train], test.images, test.labels, test.source


def fit_cerebellum(
    run,
    spec: dict,
    data,
    cfg: dict,
    seed: int,
    *,
    context: dict | None = None,
) -> tuple[Cerebellum, float, dict]:
    """Train (or load from the shared cache) the model of `spec` with the config's schedule.

    `data` holds what the granule layer reads: images (flattened by the model) or features
    of a frozen encoder computed once (then `context` must say what determines them, e.g. the
    encoder's own spec: it joins the cache key).

    **Returns:** `(model, seconds spent training (0 when loaded), the full spec it is cached by)`.
    """
    xtr, ytr, xte, yte, _ = data
    k_init, k_train = jax.random.split(jax.random.PRNGKey(seed))
    template = build_cerebellum(spec, k_init, inputs=int(np.prod(np.shape(xtr)[1:])))
    schedule = {
        "epochs": cfg.get("epochs", 10),
        "batch_size": cfg.get("train_batch", 50),
        "rule": cfg.get("rule", "delta"),
    }
    seconds = [0.0]

    def train():
        start = time.perf_counter()
        model, _ = train_cerebellum(
            template,
            xtr,
            ytr,
            key=k_train,
            eval_data=(xte, yte),
            description=f"train {spec_label(spec)} (seed {seed})",
            **schedule,
        )
        seconds[0] = time.perf_counter() - start
        return model

    full_spec = {
        "cerebellum": spec,
        "dataset": cfg["dataset"],
        "n_train": len(xtr),
        "seed": seed,
        **schedule,
        **(context or {}),
    }
    return run.shared_model(full_spec, template, train), seconds[0], full_spec


def attack_batch(width: int, cap: int = 256) -> int:
    """Examples the engine attacks at once, so that granule activity stays within ~2²⁵ floats."""
    return int(max(8, min(cap, (1 << 25) // width)))


def evaluate_cerebellum(
    run,
    tag: str,
    model,
    model_spec: dict,
    data,
    cfg: dict,
    seed: int,
    *,
    objective: str = "mse",
    batch_size: int | None = None,
) -> dict:
    """Clean accuracy on the whole test set and FGSM / PGD curves on the attacked test images,
    cached across experiments by the model's full spec and the attack's settings.

    `model` is a `Cerebellum` (attacked with `objective`, its training loss: MSE to the one-hot
    label) or any classifier of one input, e.g. a CNN attacked with "cross-entropy"; then pass
    `batch_size` (default: from the Cerebellum's width). `cfg["pgd"]["step_size"]` None means
    2.5 ε / steps at each ε.

    **Returns:** `{"clean", "FGSM", "PGD", "seconds"}`.
    """
    return evaluate_seeds(
        run, tag, [model], [model_spec], data, cfg, [seed], objective=objective, batch_size=batch_size
    )[0]


def evaluate_seeds(
    run,
    tag: str,
    models: list,
    model_specs: list[dict],
    data,
    cfg: dict,
    seeds: list[int],
    *,
    objective: str = "mse",
    batch_size: int | None = None,
) -> list[dict]:
    """`evaluate_cerebellum` for the seeds of one configuration. The seeds not yet in the cache are
    attacked together: their models (one architecture) form an `Ensemble`, so each method is
    one compiled call with the seeds vmapped and the images split across devices, each seed
    keeping its own attack key (`1000 + seed`) and the slots of a single evaluation, so each
    seed's curves are those `evaluate_cerebellum` gives it alone, bit for bit.

    **Returns:** one `{"clean", "FGSM", "PGD", "seconds"}` per seed (seconds: the shared time
    divided among the seeds computed together).
    """
    _, _, xte, yte, _ = data
    n = min(cfg["n_test"], len(yte))
    pgd = cfg["pgd"]
    methods = {"FGSM": FGSM(), "PGD": PGD(steps=pgd["steps"], step_size=pgd["step_size"], random_start=True)}
    attack_size = batch_size or attack_batch(models[0].width)
    clean_size = batch_size or attack_batch(models[0].width, 1000)
    epsilons = cfg.get("epsilons", PAPER_EPSILONS)
    specs = [
        {
            "model": model_spec,
            "n_test": n,
            "pgd": pgd,
            "epsilons": epsilons,
            "objective": objective,
            "attack_seed": 1000 + seed,
        }
        for model_spec, seed in zip(model_specs, seeds)
    ]

    def compute(indices: list[int]) -> dict[int, dict]:
        start = time.perf_counter()
        members = [models[i] for i in indices]
        target = members[0] if len(members) == 1 else Ensemble.of(members)
        keys = jnp.stack([jax.random.PRNGKey(1000 + seeds[i]) for i in indices])
        out = {i: {"clean": accuracy(models[i], xte, yte, batch_size=clean_size)} for i in indices}
        name_ = tag if len(indices) == 1 else f"{tag} seeds {', '.join(str(seeds[i]) for i in indices)}"
        for name, method in methods.items():
            r = robust_accuracy(
                target,
                xte[:n],
                yte[:n],
                epsilons,
                method,
                objective=objective,
                key=keys[0] if len(indices) == 1 else keys,
                batch_size=attack_size,
                progress=f"{name_} {name}",
            )
            for i, curve in zip(indices, np.asarray(r.accuracy).reshape(len(indices), -1)):
                out[i][name] = curve.tolist()
        seconds = (time.perf_counter() - start) / len(indices)
        return {i: {**o, "seconds": seconds} for i, o in out.items()}

    missing = [i for i, spec in enumerate(specs) if not run.has_shared_stage(spec)]
    computed = compute(missing) if missing else {}
    return [run.shared_stage(spec, lambda i=i: computed[i]) for i, spec in enumerate(specs)]


def epsilon_index(epsilons, epsilon: float) -> int:
    """Where `epsilon` lies in the grid `epsilons` (up to float rounding); a clear error if absent."""
    matches = [i for i, e in enumerate(epsilons) if abs(e - epsilon) <= 1e-9 + 1e-6 * abs(epsilon)]
    if not matches:
        raise ValueError(
            f"ε = {epsilon:g} is not in the attacked grid {list(epsilons)}: the table needs it, "
            f"add it to the config's epsilons"
        )
    return matches[0]


def summarise_seeds(results: list[dict], epsilons=PAPER_EPSILONS, at: tuple[float, float] = (0.1, 0.3)) -> list[float]:
    """Mean over seeds of (Test, FGSM at[0], FGSM at[1], PGD at[0], PGD at[1]) in %
    (MNIST: ε = .1 and .3)."""
    i1, i3 = (epsilon_index(epsilons, e) for e in at)
    rows = [[r["clean"], r["FGSM"][i1], r["FGSM"][i3], r["PGD"][i1], r["PGD"][i3]] for r in results]
    return [round(100 * float(v), 1) for v in np.mean(rows, axis=0)]


def mean_curves(results: list[dict]) -> dict[str, list[float]]:
    """Mean over seeds of the FGSM and PGD curves."""
    return {m: np.mean([r[m] for r in results], axis=0).tolist() for m in ("FGSM", "PGD")}


def sweep_cerebellums(run, specs: dict[str, dict], cfg: dict, data=None) -> tuple[dict, dict, dict]:
    """Train and attack every model of `specs` (name → spec) for every seed of the config.

    **Returns:** `(summary row per name, mean curves per name, seconds per name)`.
    """
    data = data if data is not None else load_split_data(cfg)
    rows, curves, seconds = {}, {}, {}
    for name, spec in specs.items():
        fitted = [fit_cerebellum(run, spec, data, cfg, seed) for seed in cfg["seeds"]]
        per_seed = evaluate_seeds(
            run, name, [f[0] for f in fitted], [f[2] for f in fitted], data, cfg, list(cfg["seeds"])
        )
        spent = sum(f[1] for f in fitted) + sum(r["seconds"] for r in per_seed)
        rows[name], curves[name], seconds[name] = (
            summarise_seeds(per_seed, cfg.get("epsilons", PAPER_EPSILONS)),
            mean_curves(per_seed),
            spent,
        )
    return rows, curves, seconds


def paper_cell(values) -> str:
    """The paper's five numbers as one table cell."""
    return " / ".join(f"{v:g}" for v in values) if values is not None else "–"


def robustness_curves_figure(
    curves: dict[str, dict], epsilons, title: str, groups: dict[str, list[str]], xlabel: str = "ε (L∞)"
):
    """Robust accuracy vs ε (plotted at `epsilons`, in the units `xlabel` names), one panel per
    group of model names; FGSM dashed, PGD solid."""
    fig = Figure(figsize=(5.2 * len(groups), 3.8))
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)
    for ax, (group, names) in zip(axes[0], groups.items()):
        colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, max(len(names), 1)))
        for colour, name in zip(colours, names):
            ax.plot(epsilons, 100 * np.asarray(curves[name]["PGD"]), "-o", ms=3, color=colour, label=name)
            ax.plot(epsilons, 100 * np.asarray(curves[name]["FGSM"]), "--", color=colour, alpha=0.7)
        ax.set(title=group, xlabel=xlabel, ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("accuracy (%)  — PGD solid, FGSM dashed")
    fig.suptitle(title, fontsize=10)
    return fig


def column_difference(rows: dict, with_: str, without: str, column: str) -> float:
    """rows[with_] − rows[without] in the given column (percentage points)."""
    i = TABLE_COLUMNS.index(column)
    return round(rows[with_][i] - rows[without][i], 1)
