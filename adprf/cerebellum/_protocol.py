"""The protocol of Yuezhang et al. (2021) for a simulated cerebellum: build it from a spec, train
it (cached across experiments), attack it with FGSM and PGD and tabulate the accuracies.

A model is a `CerebellumSpec` (dense or random-sparse granule layer of m cells, with or without
LTD centring). Training follows Yuezhang et al. 2021 (delta rule + RMSprop, lr 0.5/m, the epoch
of best test accuracy; `TrainingSchedule`); the trained model is cached under
`<results>/_models/` by the hash of everything that determines it (`fit_cerebellum`), so
experiments that use the same model share it. Attacks follow the paper's Tables 1–3
(`AttackProtocol`): L∞ FGSM and PGD-40 (step 0.01, uniform random start), MSE to the one-hot
label, ε ∈ {0, 0.05, …, 0.3}, accuracy on the attacked test images. adprf's PGD stops each
example at its first successful iterate instead of returning the last one: an example counted
fooled was fooled by a point inside the ball, so our PGD accuracy is at most the last-iterate one.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.figure import Figure

from ..attacks import FGSM, PGD, Ensemble, evaluate_robustness, robust_accuracy
from ..data import load_dataset
from ..nets import accuracy
from ._model import CONNECTIVITIES, Cerebellum
from ._paper_values import PAPER_EPSILONS, SYNAPSE_BUDGET, TABLE_COLUMNS
from ._train import train_cerebellum

# ----------------------------------------------------------------------------- what is trained


def sparsity_width(k: int, synapses: float = SYNAPSE_BUDGET) -> int:
    """The synapse-count control m = ⌊synapses / (k + 20)⌋ of Yuezhang et al. 2021, Table 2
    (`synapses` = 4.8·10⁶ there)."""
    return int(synapses // (k + 20))


@dataclass(frozen=True, kw_only=True)
class CerebellumSpec:
    """What determines an untrained `Cerebellum` (with the PRNG key and the input size).

    **Arguments:**
    - `width`: m, the number of granule cells.
    - `connectivity`: "dense" (FC) or "sparse" (RC, `k` random inputs per cell).
    - `k`: inputs per granule cell; required for "sparse", absent for "dense".
    - `replace`: sparse inputs drawn with replacement (the original code's choice).
    - `ltd`: LTD centring of granule activity.
    """

    width: int
    connectivity: str
    k: int | None = None
    replace: bool = True
    ltd: bool = False

    def __post_init__(self):
        if self.connectivity not in CONNECTIVITIES:
            raise ValueError(f"connectivity must be one of {CONNECTIVITIES}, got {self.connectivity!r}")
        if (self.connectivity == "sparse") != (self.k is not None):
            raise ValueError(
                f"a {self.connectivity} spec {'needs' if self.k is None else 'takes no'} k, got k={self.k}"
            )

    @classmethod
    def dense(cls, width: int, *, ltd: bool = False) -> "CerebellumSpec":
        """An FC granule layer of `width` cells."""
        return cls(width=width, connectivity="dense", ltd=ltd)

    @classmethod
    def sparse(
        cls,
        k: int,
        width: int | None = None,
        *,
        synapses: float = SYNAPSE_BUDGET,
        replace: bool = True,
        ltd: bool = False,
    ) -> "CerebellumSpec":
        """An RC granule layer with `k` inputs per cell; `width` defaults to `sparsity_width(k, synapses)`."""
        width = sparsity_width(k, synapses) if width is None else width
        return cls(width=width, connectivity="sparse", k=k, replace=replace, ltd=ltd)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "CerebellumSpec":
        """The spec of a dict written by `as_dict` (e.g. the "cerebellum" entry of a cached model's JSON)."""
        return cls(**spec)

    def as_dict(self) -> dict[str, Any]:
        """The JSON-able spec, part of the shared cache key of the trained model: `{"width", "connectivity",
        "ltd"}` for dense, `{"width", "connectivity", "k", "replace", "ltd"}` for sparse."""
        if self.connectivity == "dense":
            return {"width": self.width, "connectivity": "dense", "ltd": self.ltd}
        return {"width": self.width, "connectivity": "sparse", "k": self.k, "replace": self.replace, "ltd": self.ltd}

    @property
    def label(self) -> str:
        """A short name, e.g. "RC k=4 m=200000 + LTD" or "FC m=1000"."""
        base = f"FC m={self.width}" if self.connectivity == "dense" else f"RC k={self.k} m={self.width}"
        return base + (" + LTD" if self.ltd else "")

    def build(self, key, inputs: int = 784) -> Cerebellum:
        """The untrained `Cerebellum` of `inputs` inputs, its random weights drawn from `key`."""
        return Cerebellum(
            inputs, self.width, connectivity=self.connectivity, k=self.k, replace=self.replace, ltd=self.ltd, key=key
        )


def spec_label(spec: CerebellumSpec) -> str:
    """`spec.label`: a short name, e.g. "RC k=4 m=200000 + LTD"."""
    return spec.label


def build_cerebellum(spec: CerebellumSpec, key, inputs: int = 784) -> Cerebellum:
    """`spec.build(key, inputs)`: the untrained `Cerebellum` of a spec."""
    return spec.build(key, inputs)


@dataclass(frozen=True, kw_only=True)
class TrainingSchedule:
    """How `train_cerebellum` trains: `epochs` (10), `batch_size` (50; 1 in the paper's appendix)
    and the plasticity `rule` ("delta", the paper's)."""

    epochs: int = 10
    batch_size: int = 50
    rule: str = "delta"

    def as_dict(self) -> dict[str, Any]:
        """`{"epochs", "batch_size", "rule"}`, part of the shared cache key of the trained model."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "rule": self.rule}


@dataclass(frozen=True, kw_only=True)
class AttackProtocol:
    """The paper's robustness evaluation (Yuezhang et al. 2021, Tables 1–3).

    **Arguments:**
    - `n_test`: how many test images are attacked (the first ones; clean accuracy uses all).
    - `pgd_steps`, `pgd_step_size`: PGD's iterations (40) and step (0.01; None means 2.5 ε / steps
      at each ε). PGD starts uniformly in the ball; FGSM is one signed-gradient step.
    - `epsilons`: the L∞ radii of the curves (`PAPER_EPSILONS`).
    - `suite`: also the standard suite (`adprf.attacks.evaluate_robustness`: APGD-CE, APGD-T,
      Square, on the classes' argmax, not the MSE) at this budget, "fast" or "standard"; None: not.
    - `suite_epsilons`: the radii the suite runs at, some of `epsilons` (None: all of them). The
      suite is the costliest evaluation by far; the tables read it at ε = 0.1 and 0.3 only.
    """

    n_test: int
    pgd_steps: int = 40
    pgd_step_size: float | None = 0.01
    epsilons: tuple[float, ...] = PAPER_EPSILONS
    suite: str | None = None
    suite_epsilons: tuple[float, ...] | None = None

    def __post_init__(self):
        if self.suite_epsilons is None:
            return
        if self.suite is None:
            raise ValueError(
                f"AttackProtocol: suite_epsilons={list(self.suite_epsilons)} but suite=None; "
                f"give the suite's budget (suite='fast' or 'standard') or leave suite_epsilons out"
            )
        if not self.suite_epsilons:
            raise ValueError("AttackProtocol: suite_epsilons is empty; give some of epsilons, or None for all")
        outside = [e for e in self.suite_epsilons if not _matches(self.epsilons, e)]
        if outside:
            raise ValueError(
                f"AttackProtocol: suite_epsilons {outside} are not among the curves' epsilons {list(self.epsilons)}; "
                f"the suite runs at some of those radii (or at all of them with suite_epsilons=None)"
            )

    def suite_radii(self) -> tuple[float, ...]:
        """The radii the suite runs at: `suite_epsilons`, or else all of `epsilons`."""
        return self.epsilons if self.suite_epsilons is None else self.suite_epsilons

    def pgd_spec(self) -> dict[str, Any]:
        """`{"steps", "step_size"}`, part of the shared cache key of the curves."""
        return {"steps": self.pgd_steps, "step_size": self.pgd_step_size}

    def methods(self) -> dict[str, Any]:
        """The attacks by name: `{"FGSM": FGSM(), "PGD": PGD(...)}`."""
        return {"FGSM": FGSM(), "PGD": PGD(steps=self.pgd_steps, step_size=self.pgd_step_size, random_start=True)}


class SplitData(NamedTuple):
    """The training and test split a cerebellum learns and is attacked on (images, or features of
    a frozen encoder), and where they came from."""

    train_images: Any
    train_labels: Any
    test_images: Any
    test_labels: Any
    source: str


def load_split_data(dataset: str, n_train: int | None = None) -> SplitData:
    """The first `n_train` (all if None) training images and the whole test split of `dataset`."""
    train, test = load_dataset(dataset, "train"), load_dataset(dataset, "test")
    n_train = n_train or len(train)
    return SplitData(train.images[:n_train], train.labels[:n_train], test.images, test.labels, test.source)


class FittedCerebellum(NamedTuple):
    """A trained model, the seconds spent training it (0 when loaded) and the full spec it is cached
    by (which the curves' cache key contains)."""

    model: Cerebellum
    seconds: float
    spec: dict


def fit_cerebellum(
    run,
    spec: CerebellumSpec,
    data: SplitData,
    *,
    dataset: str,
    schedule: TrainingSchedule,
    seed: int,
    context: Mapping[str, Any] | None = None,
) -> FittedCerebellum:
    """Train (or load from the run's shared model cache) the model of `spec`.

    **Arguments:**
    - `run`: the `Run` whose results folder holds the shared cache.
    - `spec`: the model.
    - `data`: what the granule layer reads: images (flattened by the model) or features of a
      frozen encoder computed once (then `context` must say what determines them, e.g. the
      encoder's own spec: it joins the cache key).
    - `dataset`: the data set's name (part of the cache key).
    - `schedule`: epochs, batch size and rule.
    - `seed`: splits into the keys of the initial weights and of the shuffling.

    **Returns:** a `FittedCerebellum`; its `spec` is `{"cerebellum": spec.as_dict(), "dataset",
    "n_train", "seed", "epochs", "batch_size", "rule", **context}`.
    """
    xtr, ytr, xte, yte, _ = data
    k_init, k_train = jax.random.split(jax.random.PRNGKey(seed))
    template = spec.build(k_init, inputs=int(np.prod(np.shape(xtr)[1:])))
    seconds = [0.0]

    def train():
        start = time.perf_counter()
        model, _ = train_cerebellum(
            template,
            xtr,
            ytr,
            key=k_train,
            eval_data=(xte, yte),
            description=f"train {spec.label} (seed {seed})",
            **schedule.as_dict(),
        )
        seconds[0] = time.perf_counter() - start
        return model

    full_spec = {
        "cerebellum": spec.as_dict(),
        "dataset": dataset,
        "n_train": len(xtr),
        "seed": seed,
        **schedule.as_dict(),
        **(context or {}),
    }
    return FittedCerebellum(run.shared_model(full_spec, template, train), seconds[0], full_spec)


# ----------------------------------------------------------------------------- attacking it


def attack_batch(width: int, cap: int = 256) -> int:
    """Examples the engine attacks at once, so that granule activity stays within ~2²⁵ floats."""
    return int(max(8, min(cap, (1 << 25) // width)))


@dataclass(frozen=True)
class RobustnessCurves:
    """One model's evaluation: `clean` accuracy on the whole test split, `fgsm` and `pgd` accuracy
    on the attacked images at each ε of the protocol (fractions in [0, 1]), the standard suite's
    worst case (`suite`, None when not run) at `suite_epsilons` (None: at each ε of the protocol
    too), and the `seconds` the evaluation took."""

    clean: float
    fgsm: tuple[float, ...]
    pgd: tuple[float, ...]
    seconds: float
    suite: tuple[float, ...] | None = None
    suite_epsilons: tuple[float, ...] | None = None

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> "RobustnessCurves":
        """From the cached record `{"clean", "FGSM", "PGD", "seconds"}` (and `"suite"`, if run,
        with `"suite_epsilons"` if it ran at some radii only)."""
        suite = tuple(stored["suite"]) if stored.get("suite") is not None else None
        radii = tuple(stored["suite_epsilons"]) if stored.get("suite_epsilons") is not None else None
        return cls(stored["clean"], tuple(stored["FGSM"]), tuple(stored["PGD"]), stored["seconds"], suite, radii)

    def as_dict(self) -> dict[str, Any]:
        """`{"clean", "FGSM", "PGD", "seconds"}` (curves as lists; `"suite"` too if run, and
        `"suite_epsilons"` if given), the cached record."""
        record: dict[str, Any] = {
            "clean": self.clean,
            "FGSM": list(self.fgsm),
            "PGD": list(self.pgd),
            "seconds": self.seconds,
        }
        if self.suite is not None:
            record["suite"] = list(self.suite)
        if self.suite_epsilons is not None:
            record["suite_epsilons"] = list(self.suite_epsilons)
        return record


def evaluate_cerebellum(
    run,
    tag: str,
    model,
    model_spec: dict,
    data: SplitData,
    *,
    attack: AttackProtocol,
    seed: int,
    objective: str = "mse",
    batch_size: int | None = None,
) -> RobustnessCurves:
    """Clean accuracy on the whole test set and FGSM / PGD curves on the attacked test images,
    cached across experiments by the model's full spec and the attack's settings.

    **Arguments:**
    - `run`: the `Run` whose results folder holds the shared cache.
    - `tag`: the progress bars' name.
    - `model`: a `Cerebellum` (attacked with `objective`, its training loss: MSE to the one-hot
      label) or any classifier of one input, e.g. a CNN attacked with "cross-entropy"; then pass
      `batch_size` (default: from the Cerebellum's width).
    - `model_spec`: everything that determines the trained model (`FittedCerebellum.spec`).
    - `data`: the test split is attacked (`data.test_images`, `data.test_labels`).
    - `attack`: the protocol; `seed`: the attack key is `PRNGKey(1000 + seed)`.

    **Returns:** the model's `RobustnessCurves`.
    """
    (result,) = evaluate_seeds(
        run, tag, [model], [model_spec], data, attack=attack, seeds=[seed], objective=objective, batch_size=batch_size
    )
    return result


def evaluate_seeds(
    run,
    tag: str,
    models: Sequence,
    model_specs: Sequence[dict],
    data: SplitData,
    *,
    attack: AttackProtocol,
    seeds: Sequence[int],
    objective: str = "mse",
    batch_size: int | None = None,
) -> list[RobustnessCurves]:
    """`evaluate_cerebellum` for the seeds of one configuration.

    The seeds not yet in the cache are attacked together: their models (one architecture) form
    an `Ensemble`, so each method is one compiled call with the seeds vmapped and the images
    split across devices, each seed keeping its own attack key (`1000 + seed`) and the slots of
    a single evaluation, so each seed's curves are those `evaluate_cerebellum` gives it alone,
    bit for bit.

    **Returns:** one `RobustnessCurves` per seed (seconds: the shared time divided among the seeds
    computed together).
    """
    xte, yte = data.test_images, data.test_labels
    n = min(attack.n_test, len(yte))
    methods = attack.methods()
    attack_size = batch_size or attack_batch(models[0].width)
    clean_size = batch_size or attack_batch(models[0].width, 1000)
    specs = [
        {
            "model": model_spec,
            "n_test": n,
            "pgd": attack.pgd_spec(),
            "epsilons": list(attack.epsilons),
            "objective": objective,
            "attack_seed": 1000 + seed,
            **({"suite": attack.suite} if attack.suite else {}),
            **({"suite_epsilons": list(attack.suite_epsilons)} if attack.suite_epsilons is not None else {}),
        }
        for model_spec, seed in zip(model_specs, seeds)
    ]

    def compute(indices: list[int]) -> dict[int, dict]:
        start = time.perf_counter()
        members = [models[i] for i in indices]
        target = members[0] if len(members) == 1 else Ensemble.of(members)
        keys = jnp.stack([jax.random.PRNGKey(1000 + seeds[i]) for i in indices])
        out: dict[int, dict[str, Any]] = {
            i: {"clean": accuracy(models[i], xte, yte, batch_size=clean_size)} for i in indices
        }
        name_ = tag if len(indices) == 1 else f"{tag} seeds {', '.join(str(seeds[i]) for i in indices)}"
        for name, method in methods.items():
            r = robust_accuracy(
                target,
                xte[:n],
                yte[:n],
                attack.epsilons,
                method,
                objective=objective,
                key=keys[0] if len(indices) == 1 else keys,
                batch_size=attack_size,
                progress=f"{name_} {name}",
            )
            for i, curve in zip(indices, np.asarray(r.accuracy).reshape(len(indices), -1)):
                out[i][name] = curve.tolist()
        if attack.suite:
            for i in indices:  # the suite takes one model at a time
                out[i]["suite"] = _suite_curve(models[i], xte[:n], yte[:n], attack, 1000 + seeds[i], attack_size)
                if attack.suite_epsilons is not None:
                    out[i]["suite_epsilons"] = list(attack.suite_epsilons)
        seconds = (time.perf_counter() - start) / len(indices)
        return {i: {**o, "seconds": seconds} for i, o in out.items()}

    with run.holding_shared_stages(specs):  # another process (reproduce --jobs) may want the same curves
        missing = [i for i, spec in enumerate(specs) if not run.has_shared_stage(spec)]
        computed = compute(missing) if missing else {}
        stored = [run.shared_stage(spec, lambda i=i: computed[i]) for i, spec in enumerate(specs)]
    return [RobustnessCurves.from_dict(s) for s in stored]


def _suite_curve(model, x, y, attack: AttackProtocol, seed: int, batch_size: int) -> list[float]:
    """The standard suite's robust accuracy per ε of `attack.suite_radii()` (its budget `attack.suite`)."""
    assert attack.suite is not None
    result = evaluate_robustness(
        model,
        x,
        y,
        attack.suite_radii(),
        key=jax.random.PRNGKey(seed),
        budget=attack.suite,
        batch_size=batch_size,
        progress=True,
    )
    return np.asarray(result.accuracy).tolist()


# ----------------------------------------------------------------------------- tabulating it


def _matches(epsilons: Sequence[float], epsilon: float) -> list[int]:
    """Where `epsilon` lies in `epsilons`, up to float rounding (none: an empty list)."""
    return [i for i, e in enumerate(epsilons) if abs(e - epsilon) <= 1e-9 + 1e-6 * abs(epsilon)]


def epsilon_index(epsilons: Sequence[float], epsilon: float) -> int:
    """Where `epsilon` lies in the grid `epsilons` (up to float rounding); a clear error if absent."""
    matches = _matches(epsilons, epsilon)
    if not matches:
        raise ValueError(
            f"ε = {epsilon:g} is not in the attacked grid {list(epsilons)}: the table needs it, "
            f"add it to the config's epsilons"
        )
    return matches[0]


def summarise_seeds(
    results: Sequence[RobustnessCurves],
    epsilons: Sequence[float] = PAPER_EPSILONS,
    at: tuple[float, float] = (0.1, 0.3),
) -> list[float]:
    """Mean over seeds of (Test, FGSM at[0], FGSM at[1], PGD at[0], PGD at[1]) in %, rounded to
    0.1 (MNIST: ε = .1 and .3, the columns `TABLE_COLUMNS`), then the suite's at[0] and at[1]
    when it was run (`table_columns`; read at its own radii, `RobustnessCurves.suite_epsilons`)."""
    i1, i3 = (epsilon_index(epsilons, e) for e in at)
    rows = [[r.clean, r.fgsm[i1], r.fgsm[i3], r.pgd[i1], r.pgd[i3]] for r in results]
    if all(r.suite is not None for r in results):
        for row, r in zip(rows, results):
            radii = r.suite_epsilons or epsilons
            row += [r.suite[epsilon_index(radii, e)] for e in at]  # type: ignore[index]
    return [round(100 * float(v), 1) for v in np.mean(rows, axis=0)]


def table_columns(attack: AttackProtocol) -> tuple[str, ...]:
    """The columns of `summarise_seeds`'s rows: `TABLE_COLUMNS`, then "suite .1" and "suite .3"
    when the protocol runs the standard suite."""
    return TABLE_COLUMNS + (("suite .1", "suite .3") if attack.suite else ())


def mean_curves(results: Sequence[RobustnessCurves]) -> dict[str, list[float]]:
    """Mean over seeds of the curves: `{"FGSM": [...], "PGD": [...]}` (and `"suite"`, if run;
    fractions, one per ε; with `"suite_epsilons"`, its radii, if the suite ran at some only)."""
    curves = {
        "FGSM": np.mean([r.fgsm for r in results], axis=0).tolist(),
        "PGD": np.mean([r.pgd for r in results], axis=0).tolist(),
    }
    if all(r.suite is not None for r in results):
        radii = {r.suite_epsilons for r in results}
        if len(radii) > 1:
            raise ValueError(f"mean_curves: the seeds' suites ran at different radii {sorted(map(str, radii))}")
        curves["suite"] = np.mean([r.suite for r in results if r.suite is not None], axis=0).tolist()
        if results[0].suite_epsilons is not None:
            curves["suite_epsilons"] = list(results[0].suite_epsilons)
    return curves


class SweepEntry(NamedTuple):
    """One model of a sweep: its table `row` (`summarise_seeds`), mean `curves` (`mean_curves`)
    and the `seconds` spent training and attacking it over all seeds."""

    row: list[float]
    curves: dict[str, list[float]]
    seconds: float


def sweep_cerebellums(
    run,
    specs: Mapping[str, CerebellumSpec],
    data: SplitData,
    *,
    dataset: str,
    schedule: TrainingSchedule,
    attack: AttackProtocol,
    seeds: Sequence[int],
) -> dict[str, SweepEntry]:
    """Train and attack every model of `specs` (name → spec) for every seed (`fit_cerebellum`,
    `evaluate_seeds`; the name is the progress bars' tag).

    **Returns:** name → `SweepEntry`, in the order of `specs`.
    """
    out = {}
    for name, spec in specs.items():
        fitted = [fit_cerebellum(run, spec, data, dataset=dataset, schedule=schedule, seed=seed) for seed in seeds]
        per_seed = evaluate_seeds(
            run, name, [f.model for f in fitted], [f.spec for f in fitted], data, attack=attack, seeds=list(seeds)
        )
        spent = sum(f.seconds for f in fitted) + sum(r.seconds for r in per_seed)
        out[name] = SweepEntry(summarise_seeds(per_seed, attack.epsilons), mean_curves(per_seed), spent)
    return out


def paper_cell(values: Sequence[float] | None) -> str:
    """The paper's five numbers as one table cell, "94.1 / 20.4 / 10.5 / 9 / 1.3" ("–" for None)."""
    return " / ".join(f"{v:g}" for v in values) if values is not None else "–"


def column_difference(rows: Mapping[str, Sequence[float]], with_: str, without: str, column: str) -> float:
    """rows[with_] − rows[without] in the `TABLE_COLUMNS` column `column` (percentage points, rounded to 0.1)."""
    i = TABLE_COLUMNS.index(column)
    return round(rows[with_][i] - rows[without][i], 1)


def robustness_curves_figure(
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    epsilons: Sequence[float],
    title: str,
    groups: Mapping[str, Sequence[str]],
    xlabel: str = "ε (L∞)",
) -> Figure:
    """Robust accuracy vs ε (plotted at `epsilons`, in the units `xlabel` names), one panel per
    group of model names; FGSM dashed, PGD solid, the suite dotted. `curves`: name → `{"FGSM", "PGD"}`
    (and `"suite"`, at `"suite_epsilons"` if given, else at `epsilons`) fractions (`mean_curves`)."""
    fig = Figure(figsize=(5.2 * len(groups), 3.8))
    axes = fig.subplots(1, len(groups), sharey=True, squeeze=False)
    for ax, (group, names) in zip(axes[0], groups.items()):
        colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, max(len(names), 1)))
        for colour, name in zip(colours, names):
            ax.plot(epsilons, 100 * np.asarray(curves[name]["PGD"]), "-o", ms=3, color=colour, label=name)
            ax.plot(epsilons, 100 * np.asarray(curves[name]["FGSM"]), "--", color=colour, alpha=0.7)
            if "suite" in curves[name]:
                radii = curves[name].get("suite_epsilons", epsilons)
                ax.plot(radii, 100 * np.asarray(curves[name]["suite"]), ":o", ms=2, color=colour, lw=2)
        ax.set(title=group, xlabel=xlabel, ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    suite = any("suite" in c for c in curves.values())
    axes[0, 0].set_ylabel("accuracy (%)  — PGD solid, FGSM dashed" + (", suite dotted" if suite else ""))
    fig.suptitle(title, fontsize=10)
    return fig
