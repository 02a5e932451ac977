"""cerebellum-cifar: cerebellar heads on a frozen VGG-style encoder, CIFAR-10 (Yuezhang et al. 2021).

Protocol (Yuezhang et al. 2021, CIFAR-10 paragraph; the choices not fixed there are ours):

1. A `VGGClassifier` (their encoder: conv 64, 64, pool, 128, 128, pool, 256 ×4, pool → 4096
   features at width 1, + a linear head) is trained with cross-entropy (`train_vgg`: optax;
   optional random crop + flip augmentation) and cached in `<results>/_models/` (shared across
   experiments).
2. Its encoder is frozen. Its features of every training and test image are computed once and
   rescaled by one fixed factor so that their RMS over the training images is `feature_rms`
   (default 0.335, the RMS of MNIST pixels: the paper's learning rate 0.5/m was tuned on
   pixels, and for a ReLU network the input scale acts as a learning-rate multiplier); the
   factor is part of the frozen encoder (`ScaledEncoder`, `frozen_features`), so attacks see it.
3. Cerebellum heads (granule layer → LTD → Purkinje, `Cerebellum`) are trained on those
   features with `train_cerebellum` exactly as on MNIST (delta rule + RMSprop, lr 0.5/m,
   batch 50, 10 epochs, best test epoch), per seed. By default a head's width is the
   synapse-count control of the sparsity sweep (Yuezhang et al. 2021, Table 2),
   m = ⌊synapses/(k + 20)⌋ with k = d (the feature count) for a dense head: the paper's dense
   m = 1166 = ⌊4.8·10⁶/(4096 + 20)⌋ and RC k = 4, m = 200,000.
4. The VGG alone is attacked with cross-entropy (its training loss), every cerebellar model
   end to end through the frozen encoder with MSE to the one-hot label (its training loss, as
   the paper): L∞ FGSM and PGD-40 with a uniform random start, over a small ε grid that holds
   2/255 and 8/255, pixels in [0, 1]. PGD's step is 2.5 ε / steps at each ε (Madry et al.;
   0.5/255 at ε = 8/255) unless the config sets one: the paper's code used 0.01 for MNIST,
   more than ε = 8/255 ≈ 0.031 allows with 40 steps to matter.

CIFAR-10 is not embedded: where it is absent the runner records a "skipped" result with the
fetch command, which it does not treat as final (see `run_experiment`).
"""

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from ..attacks import PGD, attack, linf
from ..cerebellum import (
    AttackProtocol,
    Cerebellum,
    CerebellumSpec,
    SplitData,
    TrainingSchedule,
    attack_batch,
    epsilon_index,
    evaluate_cerebellum,
    fit_cerebellum,
    load_split_data,
    mean_curves,
    paper_cell,
    robustness_curves_figure,
    sparsity_width,
    summarise_seeds,
)
from ..data import CIFAR10_CLASSES
from ..nets import frozen_features, predict, train_vgg
from ._cerebellar_config import PGDConfig
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register

TABLE_EPSILONS_255 = (2, 8)
COLUMNS = ("Test", "FGSM 2/255", "FGSM 8/255", "PGD 2/255", "PGD 8/255")
PAPER_VGG = (93.0, 54.4, 43.1, 35.7, 15.4)
"""Yuezhang et al. 2021, CIFAR-10 paragraph: their VGG-11 (%), in the order of `COLUMNS`."""
PAPER_HEADS_CLEAN = (92.7, 92.9)
"""The cerebellum heads' clean accuracy range (%); the paper gives no attacked numbers for them."""
MNIST_PIXEL_RMS = 0.335
VGG = "VGG alone"

# ----------------------------------------------------------------------------- config


@dataclass(frozen=True, kw_only=True)
class VGGConfig(AbstractConfig):
    """The VGG's training recipe (see `adprf.nets.train_vgg`)."""

    width: float
    epochs: int
    batch_size: int = 128
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "constant"
    augment: bool = False
    seed: int = 0

    def recipe(self) -> dict:
        """The recipe as `train_vgg` takes it (and caches the model by)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "data_substituted"}


@dataclass(frozen=True, kw_only=True)
class HeadConfig(AbstractConfig):
    """One cerebellar head: `connectivity` "dense" or "sparse" (`k` inputs per granule cell,
    drawn `with_replacement` or not), `ltd`; `width` None: m = ⌊synapses/(k + 20)⌋ (k = d if dense)."""

    connectivity: str
    k: int | None = None
    with_replacement: bool = True
    ltd: bool = False
    width: int | None = None

    def spec(self, features: int, synapses: float) -> CerebellumSpec:
        """The head's `CerebellumSpec` on `features` inputs at the synapse budget `synapses`."""
        k = self.k if self.connectivity == "sparse" else None
        width = self.width if self.width is not None else sparsity_width(features if k is None else k, synapses)
        return CerebellumSpec(
            width=width, connectivity=self.connectivity, k=k, replace=self.with_replacement, ltd=self.ltd
        )


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """CIFAR-10 (`n_train` training images, None: all; the first `n_test` test images attacked),
    the `vgg`, its features rescaled to `feature_rms`, `heads` at `synapses` trained for `epochs`
    in batches of `train_batch` per seed of `seeds`; FGSM and `pgd` at ε = `epsilons_255`/255,
    `attack_batch` images at a time. A head given as a dict becomes a `HeadConfig`."""

    dataset: str = "cifar10"
    n_train: int | None
    n_test: int
    seeds: tuple[int, ...]
    vgg: VGGConfig
    feature_rms: float | None = MNIST_PIXEL_RMS
    synapses: float
    heads: tuple[HeadConfig, ...]
    epochs: int = 10
    train_batch: int = 50
    epsilons_255: tuple[float, ...]
    pgd: PGDConfig = PGDConfig(steps=40, step_size=None)
    attack_batch: int

    def __post_init__(self):
        if self.dataset != "cifar10":
            raise ValueError(f"cerebellum-cifar runs on CIFAR-10: set dataset='cifar10', not {self.dataset!r}")
        heads = tuple(HeadConfig(**h) if isinstance(h, Mapping) else h for h in self.heads)
        object.__setattr__(self, "heads", heads)

    @property
    def epsilons(self) -> tuple[float, ...]:
        return tuple(e / 255 for e in self.epsilons_255)

    def attack(self) -> AttackProtocol:
        """FGSM and PGD on the first `n_test` test images at every ε."""
        return AttackProtocol(
            n_test=self.n_test, pgd_steps=self.pgd.steps, pgd_step_size=self.pgd.step_size, epsilons=self.epsilons
        )


# ----------------------------------------------------------------------------- compute


def with_encoder(head: Cerebellum, encoder) -> Cerebellum:
    """The head trained on features, now reading images through the frozen encoder."""
    return eqx.tree_at(lambda m: m.encoder, head, encoder, is_leaf=lambda x: x is None)


def head_specs(cfg: Config, features: int) -> dict[str, CerebellumSpec]:
    """Table name → the `CerebellumSpec` of every head on `features` inputs."""
    specs = [head.spec(features, cfg.synapses) for head in cfg.heads]
    return {"VGG + " + spec.label: spec for spec in specs}


def _examples(models: Mapping, objectives: Mapping[str, str], data: SplitData, epsilon: float, pgd: PGD) -> dict:
    """PGD adversarials of the first 8 test images and the predictions on them, per model."""
    images, labels = jnp.asarray(data.test_images[:8]), np.asarray(data.test_labels[:8])
    attacked = {}
    for name, model in models.items():
        result = attack(
            model,
            images,
            labels,
            method=pgd,
            threat=linf(epsilon),
            objective=objectives[name],
            key=jax.random.PRNGKey(7),
        )
        adversarial = np.asarray(result.adversarial)
        attacked[name] = {"adversarial": adversarial, "predicted": np.asarray(predict(model, adversarial))}
    return {"images": np.asarray(images), "labels": labels, "epsilon": epsilon, "steps": pgd.steps, "models": attacked}


def _heads(
    run, cfg: Config, specs: Mapping[str, CerebellumSpec], features: SplitData, data: SplitData, encoder, vgg_spec
):
    """Every head fitted on the features of the frozen `encoder` (of the VGG of `vgg_spec`) and
    evaluated end to end on `data`, per seed: (curves per seed, seconds, the first seed's model)
    by name."""
    context = {"encoder": vgg_spec, "feature_rms": cfg.feature_rms}
    schedule = TrainingSchedule(epochs=cfg.epochs, batch_size=cfg.train_batch)
    results, seconds, models = {}, {}, {}
    for name, spec in specs.items():
        results[name], seconds[name] = [], 0.0
        for seed in cfg.seeds:
            head, train_s, model_spec = fit_cerebellum(
                run, spec, features, dataset=cfg.dataset, schedule=schedule, seed=seed, context=context
            )
            model = with_encoder(head, encoder)
            models.setdefault(name, model)
            result = evaluate_cerebellum(
                run,
                f"{name} seed {seed}",
                model,
                model_spec,
                data,
                attack=cfg.attack(),
                seed=seed,
                objective="mse",
                batch_size=min(cfg.attack_batch, attack_batch(spec.width)),
            )
            results[name].append(result)
            seconds[name] += train_s + result.seconds
    return results, seconds, models


def compute(run, cfg: Config) -> dict:
    """Train the VGG, freeze and rescale its features, fit the heads on them, attack every model."""
    epsilons, at = cfg.epsilons, (TABLE_EPSILONS_255[0] / 255, TABLE_EPSILONS_255[1] / 255)
    for e in at:
        epsilon_index(epsilons, e)  # fail early, before training, if the table's ε are not attacked
    data = load_split_data(cfg.dataset, cfg.n_train)
    vgg = train_vgg(run, cfg.vgg.recipe(), data.train_images, data.train_labels, dataset=cfg.dataset)
    start = time.perf_counter()
    encoder, ftr, fte = frozen_features(vgg.model.encoder, cfg.feature_rms, data.train_images, data.test_images)
    encode_s = time.perf_counter() - start
    features = SplitData(ftr, data.train_labels, fte, data.test_labels, f"{data.source}, frozen VGG features")
    vgg_result = evaluate_cerebellum(
        run,
        "VGG",
        vgg.model,
        vgg.spec,
        data,
        attack=cfg.attack(),
        seed=vgg.spec["seed"],
        objective="cross-entropy",
        batch_size=cfg.attack_batch,
    )
    specs = head_specs(cfg, vgg.model.encoder.features)
    results, seconds, models = _heads(run, cfg, specs, features, data, encoder, vgg.spec)
    results, seconds = {VGG: [vgg_result], **results}, {VGG: vgg.seconds + vgg_result.seconds, **seconds}
    shown = {VGG: vgg.model, **({list(specs)[-1]: models[list(specs)[-1]]} if specs else {})}
    pgd = PGD(steps=cfg.pgd.steps, step_size=cfg.pgd.step_size, random_start=True)
    objectives = {VGG: "cross-entropy", **dict.fromkeys(specs, "mse")}
    return {
        "rows": {name: summarise_seeds(per_seed, epsilons, at) for name, per_seed in results.items()},
        "curves": {name: mean_curves(per_seed) for name, per_seed in results.items()},
        "seconds": seconds,
        "epsilons_255": list(cfg.epsilons_255),
        "feature_factor": encoder.factor,
        "heads": {name: spec.as_dict() for name, spec in specs.items()},
        "features": vgg.model.encoder.features,
        "n_train": len(data.train_labels),
        "n_test": len(data.test_labels),
        "n_attacked": min(cfg.n_test, len(data.test_labels)),
        "source": data.source,
        "encode_seconds": encode_s,
        "examples": _examples(shown, objectives, data, max(at), pgd),
    }


# ----------------------------------------------------------------------------- verdicts


def clean_gap_verdict(test: float, paper_test: float = PAPER_VGG[0]) -> str:
    """Our VGG's clean accuracy against the paper's VGG-11 (%)."""
    if test < paper_test:
        return (
            f"{paper_test - test:.1f} points below the paper's {paper_test:g} %, expected from a smaller, "
            f"shorter-trained encoder without batch-norm, most of all in the quick preset"
        )
    return f"at or above the paper's {paper_test:g} %"


def head_verdict(best: str, head_pgd: float, vgg_pgd: float) -> str:
    """The most PGD-robust head against the VGG alone at ε = 8/255 (%), with the caution a
    robust-looking head calls for."""
    if head_pgd > vgg_pgd:
        return (
            f"Best head under PGD 8/255: {best} ({head_pgd:g} % vs {vgg_pgd:g} % for the VGG). The heads are attacked "
            f"with MSE and the VGG with cross-entropy (each model's training loss, as the paper); a head that looks "
            f"robust should be re-checked with cross-entropy or margin losses and more steps (`adprf.attacks.audit`) "
            f"before the robustness is believed."
        )
    return (
        f"No head is more robust than the VGG alone under PGD 8/255 (best: {best}, {head_pgd:g} % vs {vgg_pgd:g} %); "
        f"the heads are attacked with MSE and the VGG with cross-entropy (each model's training loss, as the paper)."
    )


# ----------------------------------------------------------------------------- render


def _plot_examples(examples: dict) -> Figure:
    """Clean test images, and per model its PGD adversarial and the perturbation (amplified)."""
    images, labels, epsilon = np.asarray(examples["images"]), np.asarray(examples["labels"]), examples["epsilon"]
    models = examples["models"]
    rows, cols = 1 + 2 * len(models), len(images)
    fig = Figure(figsize=(1.25 * cols, 1.35 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for col in range(cols):
        axes[0, col].imshow(images[col])
        axes[0, col].set_title(CIFAR10_CLASSES[int(labels[col])], fontsize=7)
    for index, (name, attacked) in enumerate(models.items()):
        adversarial, predicted = np.asarray(attacked["adversarial"]), np.asarray(attacked["predicted"])
        for col in range(cols):
            ax = axes[1 + 2 * index, col]
            ax.imshow(np.clip(adversarial[col], 0, 1))
            wrong = predicted[col] != labels[col]
            ax.set_title(f"→{CIFAR10_CLASSES[int(predicted[col])][:5]}", fontsize=7, color="red" if wrong else "k")
            delta = (adversarial[col] - images[col]) / (2 * epsilon) + 0.5
            axes[2 + 2 * index, col].imshow(np.clip(delta, 0, 1))
        axes[1 + 2 * index, 0].set_ylabel(name.removeprefix("VGG + "), fontsize=6)
        axes[2 + 2 * index, 0].set_ylabel("δ (scaled)", fontsize=6)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"PGD-{examples['steps']} at ε = {255 * epsilon:g}/255: adversarial images (prediction) and perturbations",
        fontsize=8,
    )
    return fig


def _curves_figure(cfg: Config, facts: dict) -> Figure:
    heads = facts["heads"]
    groups = {
        "VGG alone and heads without LTD": [VGG, *[n for n, s in heads.items() if not s.get("ltd")]],
        "VGG alone and heads with LTD": [VGG, *[n for n, s in heads.items() if s.get("ltd")]],
    }
    groups = {title: names for title, names in groups.items() if len(names) > 1} or {VGG: [VGG]}
    return robustness_curves_figure(
        facts["curves"],
        cfg.epsilons_255,
        f"CIFAR-10: VGG alone (cross-entropy attacks) and "
        f"cerebellar heads on its frozen encoder (MSE attacks), {facts['n_attacked']} attacked images",
        groups,
        xlabel="ε (L∞, in units of 1/255)",
    )


def _tables(facts: dict) -> list[Table]:
    rows, seconds, heads = facts["rows"], facts["seconds"], list(facts["heads"])
    table = [[VGG, "cross-entropy", *rows[VGG], paper_cell(PAPER_VGG), round(seconds[VGG], 1)]]
    paper_heads = f"{PAPER_HEADS_CLEAN[0]:g}–{PAPER_HEADS_CLEAN[1]:g} / – / – / – / –"
    table += [[name, "MSE", *rows[name], paper_heads, round(seconds[name], 1)] for name in heads]
    gains = [[name, *[round(rows[name][i] - rows[VGG][i], 1) for i in range(len(COLUMNS))]] for name in heads]
    return [
        Table("CIFAR-10 robust accuracy (%)", ["model", "attack loss", *COLUMNS, "paper", "compute s"], table),
        Table("Head − VGG alone (points)", ["model", *COLUMNS], gains),
    ]


def _step_text(cfg: Config) -> str:
    step = cfg.pgd.step_size
    return "2.5 ε / steps at each ε" if step is None else f"{step:g}"


def _notes(cfg: Config, facts: dict, gains: Sequence[Sequence]) -> list[str]:
    rows, heads = facts["rows"], list(facts["heads"])
    vgg_row = rows[VGG]
    notes = [
        f"VGG alone: ours {paper_cell(vgg_row)} vs the paper's VGG-11 {paper_cell(PAPER_VGG)} (Test / FGSM 2/255 / "
        f"FGSM 8/255 / PGD 2/255 / PGD 8/255). Our encoder is the paper's VGG-style stack (8 convolutions, no "
        f"batch-norm, width {cfg.vgg.width:g}, {cfg.vgg.epochs} epochs on {facts['n_train']} images), not exactly "
        f"their VGG-11: its clean accuracy is {clean_gap_verdict(vgg_row[0])}."
    ]
    if heads:
        best = max(heads, key=lambda n: rows[n][COLUMNS.index("PGD 8/255")])
        notes.append(
            "Do the cerebellar heads change robustness? Head − VGG alone, points: "
            + "; ".join(f"{g[0]}: Test {g[1]:+g}, FGSM 8/255 {g[3]:+g}, PGD 8/255 {g[5]:+g}" for g in gains)
            + ". "
            + head_verdict(best, rows[best][4], vgg_row[4])
        )
    notes += [
        f"Paper: the cerebellum heads reach {PAPER_HEADS_CLEAN[0]:g}–{PAPER_HEADS_CLEAN[1]:g} % clean; the paper "
        f"gives no attacked numbers for them, so their paper cells are '–'.",
        f"Features rescaled by {facts['feature_factor']:.4g} to RMS {cfg.feature_rms} over the training images "
        f"(MNIST pixels: {MNIST_PIXEL_RMS}), so that the paper's lr 0.5/m acts as on MNIST; encoding "
        f"{facts['n_train'] + facts['n_test']} images took {facts['encode_seconds']:.1f} s.",
        f"PGD-{cfg.pgd.steps} step: {_step_text(cfg)}"
        + (f" ({2.5 * 8 / cfg.pgd.steps:.3g}/255 at ε = 8/255)" if cfg.pgd.step_size is None else "")
        + ". adprf's PGD stops an example at its first success, so its accuracy is at most the last-iterate "
        "one; curves are nested over ε.",
    ]
    return notes


def render(cfg: Config, facts: dict) -> Rendered:
    tables = _tables(facts)
    summary = (
        f"A VGG-style classifier (width {cfg.vgg.width:g}, {facts['features']} features) trained "
        f"with cross-entropy on {facts['n_train']} CIFAR-10 training images; cerebellar heads "
        f"({', '.join(facts['heads']) or 'none'}) trained on its frozen features by the delta rule with RMSprop "
        f"(batch {cfg.train_batch}, {cfg.epochs} epochs, best test epoch), seeds {list(cfg.seeds)} averaged. L∞ FGSM "
        f"and PGD-{cfg.pgd.steps} (random start, step {_step_text(cfg)}) on the first {facts['n_attacked']} test "
        f"images, end to end through the encoder; Test = accuracy on all {facts['n_test']} test images. Accuracy in "
        f"%. Data: {facts['source']}."
    )
    return Rendered(
        summary=summary,
        tables=tables,
        figures={
            "cifar_curves.png": _curves_figure(cfg, facts),
            "cifar_examples.png": _plot_examples(facts["examples"]),
        },
        notes=_notes(cfg, facts, tables[1].rows),
    )


EXPERIMENT = register(
    Experiment(
        name="cerebellum-cifar",
        title="Cerebellum on CIFAR-10: cerebellar heads on a frozen VGG encoder (Yuezhang et al. §CIFAR-10)",
        paper="Yuezhang, Li & Chen, PMLR 2021, CIFAR-10 experiment",
        presets={
            # A few minutes on a laptop CPU: a quarter-width VGG (1024 features), 2 epochs on 10,000 images,
            # heads at a 10× smaller synapse budget (dense m = 459, RC k = 4 m = 20,000), 200 attacked images.
            "quick": Config(
                n_train=10000,
                n_test=200,
                seeds=(0,),
                vgg=VGGConfig(width=0.25, epochs=2),
                synapses=4.8e5,
                heads=(
                    HeadConfig(connectivity="dense", ltd=True),
                    HeadConfig(connectivity="sparse", k=4, with_replacement=True, ltd=True),
                ),
                epsilons_255=(0, 1, 2, 4, 8),
                attack_batch=200,
            ),
            # The paper: full-width VGG on all 50,000 images (AdamW 1e-3, decoupled weight decay 0.05 — Adam
            # because without batch-norm it is the safer optimiser —, cosine decay, crop + flip), the heads
            # dense m = ⌊4.8·10⁶/(4096 + 20)⌋ = 1166 and RC k = 4 m = 200,000, without and with LTD,
            # seeds 0 and 123, the whole test set attacked.
            "paper": Config(
                n_train=None,
                n_test=10000,
                seeds=(0, 123),
                vgg=VGGConfig(width=1.0, epochs=60, weight_decay=0.05, schedule="cosine", augment=True),
                synapses=4.8e6,
                heads=(
                    HeadConfig(connectivity="dense", ltd=False),
                    HeadConfig(connectivity="dense", ltd=True),
                    HeadConfig(connectivity="sparse", k=4, with_replacement=True, ltd=False),
                    HeadConfig(connectivity="sparse", k=4, with_replacement=True, ltd=True),
                ),
                epsilons_255=(0, 1, 2, 4, 8, 16),
                attack_batch=256,
            ),
        },
        compute=compute,
        render=render,
        tags=("cerebellum", "cifar"),
    )
)
