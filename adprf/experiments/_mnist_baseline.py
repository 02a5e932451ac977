"""mnist-baseline: natural MLP and Madry CNN on MNIST, FGSM and PGD-40 robust accuracy.

The first vertical slice: train both classifiers with optax, then evaluate L∞ robust
accuracy for ε ∈ {0, 0.05, …, 0.3} with adprf's engine, each ε grid in one compiled call.
"""

import time

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .._results import Run
from ..attacks import FGSM, PGD, attack, audit, linf, robust_accuracy
from ..data import load_dataset
from ..nets import CNN_CLASSIFIER, MLP_CLASSIFIER, train_defence
from ._registry import LegacyExperiment as Experiment, register

EPSILONS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
MLP_CLASSIFIER_OPTIONS = {k: v for k, v in MLP_CLASSIFIER.items() if k != "arch"}
CNN_CLASSIFIER_OPTIONS = {k: v for k, v in CNN_CLASSIFIER.items() if k != "arch"}

# Yuezhang et al. 2021, ablation table: a natural CNN on full MNIST (their attack: MSE loss).
REFERENCE_CNN = {"clean": 99.2, "FGSM 0.1": 77.6, "FGSM 0.3": 8.4, "PGD 0.1": 48.2, "PGD 0.3": 0.0}


def methods(config: dict) -> dict:
    pgd = config["pgd"]
    return {
        "FGSM": FGSM(),
        f"PGD-{pgd['steps']}": PGD(
            steps=pgd["steps"], step_size=pgd["step_size"], random_start=True, restarts=pgd.get("restarts", 1)
        ),
    }


def _plot_curves(curves: dict, epsilons, title: str):
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.6), sharey=True, squeeze=False)
    for ax, (arch, by_method) in zip(axes[0], curves.items()):
        for method, acc in by_method.items():
            ax.plot(epsilons, 100 * np.asarray(acc), marker="o", ls="--" if method == "FGSM" else "-", label=method)
        ax.set(title=f"{arch.upper()}", xlabel="ε (L∞)", ylim=(-2, 102))
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0, 0].set_ylabel("robust accuracy (%)")
    fig.suptitle(title)
    return fig


def _plot_examples(model, images, labels, key, epsilons, pgd):
    fig, axes = plt.subplots(len(epsilons), len(images), figsize=(1.3 * len(images), 1.45 * len(epsilons)))
    for row, eps in enumerate(epsilons):
        res = attack(model, images, labels, method=pgd, threat=linf(eps), key=key)
        pred = np.argmax(np.asarray(jax.vmap(model)(res.adversarial)), 1)
        for col in range(len(images)):
            ax = axes[row, col]
            ax.imshow(np.asarray(res.adversarial[col]), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_title(f"{labels[col]}→{pred[col]}", fontsize=8, color="red" if pred[col] != labels[col] else "k")
            if col == 0:
                ax.set_ylabel(f"ε={eps}", fontsize=8)
    fig.suptitle("PGD adversarial examples for the CNN (label→prediction)", fontsize=9)
    return fig


def run(run: Run) -> dict:
    cfg = run.config
    train, test = load_dataset(cfg["dataset"], "train"), load_dataset(cfg["dataset"], "test")
    n_test = min(cfg["n_test"], len(test))
    x, y = test.images[:n_test], test.labels[:n_test]
    key = jax.random.PRNGKey(cfg["seed"])
    curves, rows, timing, models, audits = {}, [], [], {}, {}
    for index, (arch, options) in enumerate(cfg["models"].items()):
        k_attack = jax.random.fold_in(key, index)
        # The natural classifiers are cached once for every experiment that uses them
        # (biomimetic-defence's MLP, cerebellum-ablation's CNN).
        model, train_s = train_defence(run, {}, {"arch": arch, **options}, cfg["dataset"], cfg["seed"])
        models[arch] = model
        curves[arch] = {}
        for name, method in methods(cfg).items():

            def evaluate():
                t0 = time.perf_counter()
                r = robust_accuracy(
                    model,
                    x,
                    y,
                    EPSILONS,
                    method,
                    key=k_attack,
                    batch_size=cfg["batch_size"],
                    progress=f"{arch} {name} ({len(EPSILONS)} ε)",
                )
                return {
                    "accuracy": r.accuracy,
                    "seconds": time.perf_counter() - t0,
                    "evaluations": float(r.gradient_evaluations.mean()),
                }

            stage = run.stage(f"{arch}-{name}", evaluate)
            curves[arch][name] = stage["accuracy"]
            rows.append([arch.upper(), name, *[round(100 * a, 1) for a in stage["accuracy"]]])
            timing.append([arch.upper(), name, round(stage["seconds"], 1), round(stage["evaluations"], 1)])
        timing.append([arch.upper(), f"training ({options['epochs']} epochs)", round(train_s, 1), "–"])
        n_audit = min(cfg["audit"]["n_test"], n_test)

        def run_audit():
            t0 = time.perf_counter()
            pgd = cfg["pgd"]
            result = audit(
                model,
                x[:n_audit],
                y[:n_audit],
                epsilons=EPSILONS[1:],
                key=k_attack,
                pgd=PGD(steps=pgd["steps"], step_size=pgd["step_size"], restarts=pgd.get("restarts", 1)),
                batch_size=cfg["audit"]["batch_size"],
                progress=True,
            )
            return {**result.as_dict(), "seconds": time.perf_counter() - t0}

        audits[arch.upper()] = run.stage(f"{arch}-audit", run_audit)
        timing.append([arch.upper(), f"audit ({n_audit} images)", round(audits[arch.upper()]["seconds"], 1), "–"])
    run.save_figure(
        _plot_curves(curves, EPSILONS, f"Robust accuracy on {test.source} ({n_test} test images)"),
        "robust_accuracy.png",
    )
    if "cnn" in models:
        pgd = methods(cfg)[f"PGD-{cfg['pgd']['steps']}"]
        run.save_figure(_plot_examples(models["cnn"], x[:8], y[:8], key, [0.1, 0.2, 0.3], pgd), "examples.png")
    columns = ["model", "attack", *[f"ε={e:g}" for e in EPSILONS]]
    cnn_pgd = curves.get("cnn", {}).get(f"PGD-{cfg['pgd']['steps']}")
    summary = (
        f"Natural classifiers trained on {train.source} ({len(train)} images), attacked on {n_test} "
        f"test images with L∞ FGSM and PGD-{cfg['pgd']['steps']} (step {cfg['pgd']['step_size']}, "
        f"random start, cross-entropy, early stop at success). Accuracy in %."
    )
    notes = [
        "Reference (Yuezhang et al. 2021, natural CNN, full MNIST, MSE-loss attacks): "
        + ", ".join(f"{k} {v}" for k, v in REFERENCE_CNN.items())
        + "."
    ]
    if cnn_pgd is not None:
        notes.append(
            f"Ours (CNN): clean {100 * cnn_pgd[0]:.1f}, PGD 0.1 {100 * cnn_pgd[2]:.1f}, "
            f"PGD 0.3 {100 * cnn_pgd[-1]:.1f}."
        )
    return {
        "summary": summary,
        "tables": [
            {"title": "Robust accuracy (%)", "columns": columns, "rows": rows, "audits": audits},
            {
                "title": "Compute",
                "columns": ["model", "stage", "seconds", "mean gradient evaluations per (ε, image)"],
                "rows": timing,
            },
        ],
        "numbers": {
            "curves": curves,
            "epsilons": EPSILONS,
            "audits": {arch: {"verdict": a["verdict"], "reasons": a["reasons"]} for arch, a in audits.items()},
        },
        "notes": notes,
    }


register(
    Experiment(
        name="mnist-baseline",
        title="MNIST baseline: natural MLP and CNN under FGSM and PGD",
        paper="foundation (Madry et al. 2018 CNN; reference numbers from Yuezhang et al. 2021)",
        presets={
            "quick": {
                "dataset": "mnist-subset",
                "n_test": 500,
                "seed": 0,
                "batch_size": 256,
                "models": {"mlp": MLP_CLASSIFIER_OPTIONS, "cnn": CNN_CLASSIFIER_OPTIONS},
                "pgd": {"steps": 40, "step_size": 0.01},
                "audit": {"n_test": 100, "batch_size": 16},
            },
            "paper": {
                "dataset": "mnist",
                "n_test": 10000,
                "seed": 0,
                "batch_size": 512,
                "models": {"mlp": {"width": 256, "depth": 2, "epochs": 20}, "cnn": {"epochs": 10, "batch_size": 128}},
                "pgd": {"steps": 40, "step_size": 0.01},
                "audit": {"n_test": 1000, "batch_size": 512},
            },
        },
        run=run,
    )
)
