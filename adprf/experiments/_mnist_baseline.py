"""mnist-baseline: natural MLP and Madry CNN on MNIST, FGSM and PGD-40 robust accuracy.

The first vertical slice: train both classifiers with optax, then evaluate L∞ robust
accuracy for ε ∈ {0, 0.05, …, 0.3} with adprf's engine, each ε grid in one compiled call, and
audit each model for gradient masking. The natural classifiers are the shared models of
`adprf.nets.train_defence` (the MLP of biomimetic-defence, the CNN of cerebellum-ablation).
Reference numbers: the natural CNN of Yuezhang et al. 2021 (ablation table, full MNIST, attacks
on the MSE loss); ours attack the cross-entropy.
"""

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from matplotlib.figure import Figure

from ..attacks import FGSM, PGD, attack, audit, linf, robust_accuracy
from ..data import load_dataset
from ..nets import CNN_CLASSIFIER, MLP_CLASSIFIER, train_defence
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register
from ._suite import SuiteConfig, suite_stage

EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)

REFERENCE_CNN = {"clean": 99.2, "FGSM 0.1": 77.6, "FGSM 0.3": 8.4, "PGD 0.1": 48.2, "PGD 0.3": 0.0}
"""Yuezhang et al. 2021, ablation table: a natural CNN on full MNIST (their attacks: MSE loss), in %."""


@dataclass(frozen=True, kw_only=True)
class PGDConfig(AbstractConfig):
    """The PGD attack (random start, cross-entropy, early stop at success)."""

    steps: int = 40
    step_size: float = 0.01
    restarts: int = 1


@dataclass(frozen=True, kw_only=True)
class AuditConfig(AbstractConfig):
    """The masking audit (`adprf.attacks.audit`) on the first `n_test` test images; its APGD-DLR
    check runs `apgd_steps`, its Square check `square_queries` queries."""

    n_test: int
    batch_size: int
    apgd_steps: int = 100
    square_queries: int = 1000


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """Natural classifiers (`adprf.nets` classifier specs, trained with `train_defence` on
    `dataset`) attacked on the first `n_test` test images at every ε of `epsilons` (the first
    is 0: the clean accuracy), and by the standard suite (`suite`: its budget and images; None:
    not run); PGD examples of the CNN drawn at `example_epsilons`."""

    dataset: str
    n_test: int
    seed: int = 0
    batch_size: int
    classifiers: tuple[Mapping[str, Any], ...]
    pgd: PGDConfig = PGDConfig()
    audit: AuditConfig
    epsilons: tuple[float, ...] = EPSILONS
    example_epsilons: tuple[float, ...] = (0.1, 0.2, 0.3)
    n_examples: int = 8
    suite: SuiteConfig | None = SuiteConfig(budget="fast", n_test=100)


def methods(pgd: PGDConfig) -> dict:
    """The attacks, by the name the tables use: FGSM and PGD-<steps> (random start)."""
    return {
        "FGSM": FGSM(),
        f"PGD-{pgd.steps}": PGD(steps=pgd.steps, step_size=pgd.step_size, random_start=True, restarts=pgd.restarts),
    }


def _attack_stage(run, tag: str, model, x, y, method, cfg: Config, key, progress: str) -> dict:
    def evaluate():
        t0 = time.perf_counter()
        r = robust_accuracy(
            model, x, y, list(cfg.epsilons), method, key=key, batch_size=cfg.batch_size, progress=progress
        )
        return {
            "accuracy": r.accuracy,
            "seconds": time.perf_counter() - t0,
            "evaluations": float(r.gradient_evaluations.mean()),
        }

    return run.stage(tag, evaluate)


def _audit_stage(run, tag: str, model, x, y, cfg: Config, key) -> dict:
    def run_audit():
        t0 = time.perf_counter()
        result = audit(
            model,
            x,
            y,
            epsilons=list(cfg.epsilons[1:]),
            key=key,
            pgd=PGD(steps=cfg.pgd.steps, step_size=cfg.pgd.step_size, restarts=cfg.pgd.restarts),
            batch_size=cfg.audit.batch_size,
            apgd_steps=cfg.audit.apgd_steps,
            square_queries=cfg.audit.square_queries,
            progress=True,
        )
        return {**result.as_dict(), "seconds": time.perf_counter() - t0}

    return run.stage(tag, run_audit)


def _examples(model, x, y, cfg: Config, key) -> dict:
    """PGD adversarial examples of the first `n_examples` test images at every example ε."""
    x, y = x[: cfg.n_examples], y[: cfg.n_examples]
    pgd = methods(cfg.pgd)[f"PGD-{cfg.pgd.steps}"]
    images, predictions = [], []
    for eps in cfg.example_epsilons:
        res = attack(model, x, y, method=pgd, threat=linf(eps), key=key)
        predictions.append(np.argmax(np.asarray(jax.vmap(model)(res.adversarial)), 1))
        images.append(np.round(np.asarray(res.adversarial), 4))
    return {"epsilons": list(cfg.example_epsilons), "labels": y, "images": images, "predictions": predictions}


def compute(run, cfg: Config) -> dict:
    """Train (or load) each classifier, attack it with FGSM and PGD at every ε, audit it, and
    draw PGD examples of the CNN."""
    train, test = load_dataset(cfg.dataset, "train"), load_dataset(cfg.dataset, "test")
    n_test = min(cfg.n_test, len(test))
    x, y = test.images[:n_test], test.labels[:n_test]
    n_audit = min(cfg.audit.n_test, n_test)
    key = jax.random.PRNGKey(cfg.seed)
    models, examples = [], None
    for index, spec in enumerate(cfg.classifiers):
        arch, k_attack = spec["arch"], jax.random.fold_in(key, index)
        model, train_seconds = train_defence(run, {}, spec, cfg.dataset, cfg.seed)
        attacks = [
            {
                "method": name,
                **_attack_stage(
                    run, f"{arch}-{name}", model, x, y, method, cfg, k_attack, f"{arch} {name} ({len(cfg.epsilons)} ε)"
                ),
            }
            for name, method in methods(cfg.pgd).items()
        ]
        if cfg.suite is not None:
            n, budget, size = min(cfg.suite.n_test, n_test), cfg.suite.budget, cfg.batch_size
            stage = suite_stage(
                run, f"{arch}-suite", model, x[:n], y[:n], cfg.epsilons, budget=budget, key=k_attack, batch_size=size
            )
            attacks.append({**stage, "method": f"{stage['method']}, first {n} images"})
        audited = _audit_stage(run, f"{arch}-audit", model, x[:n_audit], y[:n_audit], cfg, k_attack)
        models.append(
            {
                "arch": arch,
                "epochs": spec.get("epochs", 10),
                "train_seconds": train_seconds,
                "attacks": attacks,
                "audit": audited,
            }
        )
        if arch == "cnn":
            examples = _examples(model, x, y, cfg, key)
    return {
        "train_source": train.source,
        "n_train": len(train),
        "test_source": test.source,
        "n_test": n_test,
        "n_audit": n_audit,
        "epsilons": list(cfg.epsilons),
        "models": models,
        "examples": examples,
    }


def reference_note(reference: Mapping[str, float]) -> str:
    """The paper's numbers for its natural CNN, as a note."""
    numbers = ", ".join(f"{k} {v}" for k, v in reference.items())
    return f"Reference (Yuezhang et al. 2021, natural CNN, full MNIST, MSE-loss attacks): {numbers}."


def cnn_note(epsilons: Sequence[float], pgd_accuracy: Sequence[float]) -> str | None:
    """Our CNN's clean accuracy and PGD accuracy at ε = 0.1 and 0.3 (the reference's radii), in %;
    `None` when `epsilons` lacks one of 0, 0.1 and 0.3."""
    if not {0.0, 0.1, 0.3} <= set(epsilons):
        return None
    at = {eps: 100 * a for eps, a in zip(epsilons, pgd_accuracy)}
    return f"Ours (CNN): clean {at[0.0]:.1f}, PGD 0.1 {at[0.1]:.1f}, PGD 0.3 {at[0.3]:.1f}."


def _plot_curves(facts: dict, title: str) -> Figure:
    models = facts["models"]
    fig = Figure(figsize=(5 * len(models), 3.6))
    axes = fig.subplots(1, len(models), sharey=True, squeeze=False)
    for ax, m in zip(axes[0], models):
        for a in m["attacks"]:
            style = "--" if a["method"] == "FGSM" else "-"
            ax.plot(facts["epsilons"], 100 * np.asarray(a["accuracy"]), marker="o", ls=style, label=a["method"])
        ax.set(title=m["arch"].upper(), xlabel="ε (L∞)", ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0, 0].set_ylabel("robust accuracy (%)")
    fig.suptitle(title)
    return fig


def _plot_examples(examples: dict) -> Figure:
    labels, rows = examples["labels"], len(examples["epsilons"])
    fig = Figure(figsize=(1.3 * len(labels), 1.45 * rows))
    axes = fig.subplots(rows, len(labels), squeeze=False)
    for row, (eps, images, predictions) in enumerate(
        zip(examples["epsilons"], examples["images"], examples["predictions"])
    ):
        for col, (label, prediction) in enumerate(zip(labels, predictions)):
            ax = axes[row, col]
            ax.imshow(np.asarray(images[col]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{label}→{prediction}", fontsize=8, color="red" if prediction != label else "k")
            if col == 0:
                ax.set_ylabel(f"ε={eps}", fontsize=8)
    fig.suptitle("PGD adversarial examples for the CNN (label→prediction)", fontsize=9)
    return fig


def _tables(facts: dict) -> list[Table]:
    rows, timing = [], []
    for m in facts["models"]:
        name = m["arch"].upper()
        for a in m["attacks"]:
            rows.append([name, a["method"], *[round(100 * v, 1) for v in a["accuracy"]]])
            timing.append([name, a["method"], round(a["seconds"], 1), round(a["evaluations"], 1)])
        timing.append([name, f"training ({m['epochs']} epochs)", round(m["train_seconds"], 1), "–"])
        timing.append([name, f"audit ({facts['n_audit']} images)", round(m["audit"]["seconds"], 1), "–"])
    audits = {m["arch"].upper(): m["audit"] for m in facts["models"]}
    return [
        Table("Robust accuracy (%)", ["model", "attack", *[f"ε={e:g}" for e in facts["epsilons"]]], rows, audits),
        Table("Compute", ["model", "stage", "seconds", "mean gradient evaluations per (ε, image)"], timing),
    ]


def render(cfg: Config, facts: dict) -> Rendered:
    suite = (
        f" and, on the first {cfg.suite.n_test} of them, the standard suite ({cfg.suite.budget} budget: APGD-CE, "
        f"APGD-T over the top classes, Square; the worst case per image, Croce & Hein 2020; the audit's PGD curve "
        f"covers the same images when it audits as many)"
        if cfg.suite
        else ""
    )
    summary = (
        f"Natural classifiers trained on {facts['train_source']} ({facts['n_train']} images), attacked on "
        f"{facts['n_test']} test images with L∞ FGSM and PGD-{cfg.pgd.steps} (step {cfg.pgd.step_size}, "
        f"random start, cross-entropy, early stop at success){suite}. Accuracy in %."
    )
    notes = [reference_note(REFERENCE_CNN)]
    pgd_name = f"PGD-{cfg.pgd.steps}"
    for m in facts["models"]:
        if m["arch"] == "cnn":
            pgd = next(a["accuracy"] for a in m["attacks"] if a["method"] == pgd_name)
            notes += [note for note in [cnn_note(facts["epsilons"], pgd)] if note]
    title = f"Robust accuracy on {facts['test_source']} ({facts['n_test']} test images)"
    figures = {"robust_accuracy.png": _plot_curves(facts, title)}
    if facts["examples"] is not None:
        figures["examples.png"] = _plot_examples(facts["examples"])
    return Rendered(summary=summary, tables=_tables(facts), figures=figures, notes=notes)


EXPERIMENT = register(
    Experiment(
        name="mnist-baseline",
        title="MNIST baseline: natural MLP and CNN under FGSM and PGD",
        paper="foundation (Madry et al. 2018 CNN; reference numbers from Yuezhang et al. 2021)",
        presets={
            # four radii (0, 0.1, 0.2, 0.3): the CNN audit is half the quick preset's time, and the
            # notes read 0, 0.1 and 0.3.
            "quick": Config(
                dataset="mnist-subset",
                n_test=500,
                batch_size=256,
                epsilons=(0.0, 0.1, 0.2, 0.3),
                classifiers=(MLP_CLASSIFIER, CNN_CLASSIFIER),
                audit=AuditConfig(n_test=100, batch_size=16),
            ),
            "paper": Config(
                dataset="mnist",
                n_test=10000,
                batch_size=512,
                classifiers=(
                    {"arch": "mlp", "width": 256, "depth": 2, "epochs": 20},
                    {"arch": "cnn", "epochs": 10, "batch_size": 128},
                ),
                audit=AuditConfig(n_test=1000, batch_size=512),
                suite=SuiteConfig(budget="standard", n_test=1000),
            ),
        },
        compute=compute,
        render=render,
    )
)
