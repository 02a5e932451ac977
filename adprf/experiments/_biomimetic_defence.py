"""biomimetic-defence: filters inspired by proofreading with m > 1 in front of an MNIST
classifier, against the adaptive attack, with the masking audit (Rademaker et al. 2019, SPEC §4).

Every defence is trained in place (the classifier learns behind its filter) and evaluated on
the same test images at ε ∈ {0, 0.05, …, 0.3} under FGSM, PGD (random start) and BPDA (PGD
through the filter with an identity backward pass). Each model's numbers come from
`adprf.attacks._audit`, whose stronger attacks (more steps, restarts, a larger step, the margin
loss, an unbounded radius) give the worst case that decides whether a defence holds.
"""

import time

import jax
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .._results import Run
from ..attacks import PGD, audit
from ..data import load_dataset
from ..nets import DEFENCES, MLP_CLASSIFIER, accuracy, build_filter, describe_defence, train_defences
from ._registry import LegacyExperiment as Experiment, register

EPSILONS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
CLASSIFIER = MLP_CLASSIFIER
# The quick preset leaves out Hill θ = 0.3 (one more audit would take the three issue-4
# experiments past 8 minutes on 2 cores); the paper preset has it.
DEFENCES = {name: spec for name, spec in DEFENCES.items() if name != "hill-16-low"}
# A defence "holds" at ε when the worst case of every attack in the audit stays this many
# points above the natural classifier's worst case.
HOLDS_MARGIN = 10.0


def _evaluate(model, x, y, cfg, key) -> dict:
    start = time.perf_counter()
    pgd = PGD(
        steps=cfg["pgd"]["steps"],
        step_size=cfg["pgd"].get("step_size"),
        random_start=True,
        restarts=cfg["pgd"].get("restarts", 1),
    )
    result = audit(model, x, y, epsilons=EPSILONS[1:], key=key, pgd=pgd, batch_size=cfg["batch_size"], progress=True)
    return {"clean": accuracy(model, x, y), "audit": result.as_dict(), "seconds": time.perf_counter() - start}


def _reading(name: str, stage: dict, natural: dict, at: int) -> str:
    """How to read a defence at ε index `at`: holds, holds in part (PGD overstates it: masking),
    masks gradients (only PGD sees a gain), or no gain over the natural classifier."""
    if name == "natural":
        return "baseline"
    pgd, worst = 100 * stage["audit"]["curves"]["PGD"][at], 100 * _worst(stage)[at]
    gain_pgd = pgd - 100 * natural["audit"]["curves"]["PGD"][at]
    gain_worst = worst - 100 * _worst(natural)[at]
    if gain_worst >= HOLDS_MARGIN:
        if pgd - worst >= HOLDS_MARGIN:
            return f"holds in part: PGD overstates it by {pgd - worst:.0f} points (masking)"
        return "holds"
    if gain_pgd >= HOLDS_MARGIN:
        return "masks gradients: the PGD gain vanishes under the stronger attacks"
    return "no gain"


def _worst(stage: dict) -> list[float]:
    curves = stage["audit"]["curves"]
    return np.min([v for k, v in curves.items() if k != "unbounded"], axis=0).tolist()


def _rows(label: str, stage: dict) -> list[list]:
    curves, clean = stage["audit"]["curves"], 100 * stage["clean"]
    bpda = next((k for k in curves if k.startswith("BPDA")), None)
    rows = []
    for attack_name, key in [("FGSM", "FGSM"), ("PGD", "PGD"), ("BPDA", bpda), ("worst case (audit)", None)]:
        values = _worst(stage) if attack_name.startswith("worst") else curves.get(key) if key else None
        if values is None:
            continue
        rows.append([label, attack_name, round(clean, 1), *[round(100 * v, 1) for v in values]])
    return rows


def _plot_curves(stages: dict, labels: dict):
    n = len(stages)
    cols = min(4, n)
    fig, axes = plt.subplots(
        (n + cols - 1) // cols, cols, figsize=(4.2 * cols, 3.3 * ((n + cols - 1) // cols)), sharey=True, squeeze=False
    )
    for ax, (name, stage) in zip(axes.flat, stages.items()):
        curves, clean = stage["audit"]["curves"], stage["clean"]
        for key, style in [("FGSM", dict(ls="--", marker="o")), ("PGD", dict(ls="-", marker="o"))]:
            ax.plot(EPSILONS, 100 * np.asarray([clean, *curves[key]]), label=key, **style)
        bpda = next((k for k in curves if k.startswith("BPDA")), None)
        if bpda:
            ax.plot(EPSILONS, 100 * np.asarray([clean, *curves[bpda]]), ls=":", marker="s", label="BPDA")
        ax.plot(EPSILONS, 100 * np.asarray([clean, *_worst(stage)]), color="k", lw=2.5, alpha=0.4, label="worst case")
        verdict = stage["audit"]["verdict"]
        ax.set_title(f"{labels[name]}\n{verdict}", fontsize=9, color="firebrick" if stage["audit"]["masking"] else "k")
        ax.set(xlabel="ε (L∞)", ylim=(-2, 102))
        ax.grid(alpha=0.3)
    for ax in axes.flat[n:]:
        ax.axis("off")
    axes[0, 0].set_ylabel("accuracy (%)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _plot_filters(defences: dict, image):
    filtered = {name: build_filter(spec) for name, spec in defences.items() if build_filter(spec) is not None}
    fig, axes = plt.subplots(1, len(filtered) + 2, figsize=(2.4 * (len(filtered) + 2), 2.6))
    x = np.linspace(0, 1, 401)
    for name, filt in filtered.items():
        if type(filt).__name__ == "ProofreadingLayer":
            continue
        axes[0].plot(x, np.asarray(filt(x)), label=describe_defence(defences[name]))
    axes[0].plot(x, x, "k:", label="identity")
    axes[0].set(title="pixel transfer", xlabel="pixel x", ylabel="filtered")
    axes[0].legend(fontsize=6)
    axes[1].imshow(np.asarray(image), cmap="gray", vmin=0, vmax=1)
    axes[1].set_title("input", fontsize=8)
    for ax, (name, filt) in zip(axes[2:], filtered.items()):
        out = np.asarray(filt(image))
        ax.imshow(out, cmap="gray", vmin=0, vmax=max(float(out.max()), 1e-6))
        ax.set_title(describe_defence(defences[name]), fontsize=8)
    for ax in axes[1:]:
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    return fig


def run(run: Run) -> dict:
    cfg = run.config
    test = load_dataset(cfg["dataset"], "test")
    n_test = min(cfg["n_test"], len(test))
    x, y = test.images[:n_test], test.labels[:n_test]
    models, seconds = train_defences(run, cfg["defences"], cfg["classifier"], cfg["dataset"], cfg["seed"])
    key = jax.random.PRNGKey(cfg["seed"] + 1)
    stages = {
        name: run.stage(f"evaluate-{name}", lambda m=model: _evaluate(m, x, y, cfg, key))
        for name, model in models.items()
    }
    labels = {name: describe_defence(spec) for name, spec in cfg["defences"].items()}

    rows = [row for name, stage in stages.items() for row in _rows(labels[name], stage)]
    natural = stages.get("natural")
    at1, at3 = EPSILONS.index(0.1) - 1, EPSILONS.index(0.3) - 1
    verdicts = []
    for name, stage in stages.items():
        curves = stage["audit"]["curves"]
        verdicts.append(
            [
                labels[name],
                round(100 * stage["clean"], 1),
                round(100 * curves["PGD"][at1], 1),
                round(100 * _worst(stage)[at1], 1),
                round(100 * curves["PGD"][at3], 1),
                round(100 * _worst(stage)[at3], 1),
                stage["audit"]["verdict"],
                _reading(name, stage, natural, at1) if natural else "–",
                _reading(name, stage, natural, at3) if natural else "–",
                round(seconds[name], 1) if seconds[name] else "cached",
                round(stage["seconds"], 1),
            ]
        )
    audits = {labels[name]: stage["audit"] for name, stage in stages.items()}
    run.save_figure(_plot_curves(stages, labels), "robust_accuracy.png")
    run.save_figure(_plot_filters(cfg["defences"], x[0]), "filters.png")

    pgd = cfg["pgd"]
    step = "2.5 ε / steps" if pgd.get("step_size") is None else f"{pgd['step_size']:g}"
    adversarial = cfg["defences"].get("adversarial", {}).get("adversarial", {})
    summary = (
        f"An {cfg['classifier']['arch'].upper()} trained on {test.source} behind each filter (in place), "
        f"plain, or adversarially (Madry: PGD ε = {adversarial.get('epsilon', 0.3)}, "
        f"{adversarial.get('steps', 40)} × {adversarial.get('step_size', 0.01)}, random start"
        + (
            f"; here with a linear ε warm-up over the first {100 * adversarial['warmup']:.0f} % of the epochs, "
            f"without which the MLP collapses to the uniform prediction"
            if adversarial.get("warmup")
            else ""
        )
        + f"). Attacked on {n_test} test images, L∞, box [0, 1]. FGSM; PGD-{pgd['steps']} "
        f"(step {step}, random start, cross-entropy); BPDA = the same PGD with the filter's "
        f"backward pass replaced by the identity; 'worst case' = the lowest accuracy any attack of the audit "
        f"reached (PGD ×5 steps, ×5 restarts, ×4 step, margin loss, BPDA, FGSM). Accuracy in %."
    )
    notes = [
        f"A defence **holds** at ε if its worst-case accuracy is ≥ {HOLDS_MARGIN:g} points above the "
        f"natural classifier's worst case (**in part** when PGD alone overstates it by ≥ {HOLDS_MARGIN:g} "
        f"points); it **masks gradients** if only its PGD number clears that bar. 'Worst case' is over "
        f"gradient-based attacks (with BPDA through the filter): evidence, not a certificate."
    ]
    for name, stage in stages.items():
        if name != "natural" and natural:
            pgd, worst = stage["audit"]["curves"]["PGD"], _worst(stage)
            notes.append(
                f"{labels[name]}: at ε = 0.1 {_reading(name, stage, natural, at1)} (PGD {100 * pgd[at1]:.1f} %, "
                f"worst {100 * worst[at1]:.1f} %); at ε = 0.3 {_reading(name, stage, natural, at3)} (PGD "
                f"{100 * pgd[at3]:.1f} %, worst {100 * worst[at3]:.1f} %); natural worst case "
                f"{100 * _worst(natural)[at1]:.1f} / {100 * _worst(natural)[at3]:.1f} %; audit: "
                f"{stage['audit']['verdict']}."
            )
    return {
        "summary": summary,
        "tables": [
            {
                "title": "Robust accuracy (%) under FGSM, PGD, BPDA and the audit's worst case",
                "columns": ["defence", "attack", "clean", *[f"ε={e:g}" for e in EPSILONS[1:]]],
                "rows": rows,
                "audits": audits,
            },
            {
                "title": "Which defences hold against the adaptive attack",
                "columns": [
                    "defence",
                    "clean",
                    "PGD ε=0.1",
                    "worst ε=0.1",
                    "PGD ε=0.3",
                    "worst ε=0.3",
                    "audit",
                    "reading ε=0.1",
                    "reading ε=0.3",
                    "train s",
                    "evaluate + audit s",
                ],
                "rows": verdicts,
            },
        ],
        "numbers": {
            name: {
                "clean": s["clean"],
                "curves": s["audit"]["curves"],
                "worst": _worst(s),
                "verdict": s["audit"]["verdict"],
                "reasons": s["audit"]["reasons"],
            }
            for name, s in stages.items()
        },
        "notes": notes,
    }


register(
    Experiment(
        name="biomimetic-defence",
        title="Biomimetic defence: proofreading-inspired filters vs adversarial training, with the masking audit",
        paper="Rademaker, Bengio & François 2019 (PRX), biomimetic defence (SPEC §4; protocol ours)",
        presets={
            # batch_size 16: one pool of slots, the fastest compile on a CPU (compiling dominates here).
            "quick": {
                "dataset": "mnist-subset",
                "n_test": 400,
                "seed": 0,
                "batch_size": 16,
                "classifier": CLASSIFIER,
                "defences": DEFENCES,
                "pgd": {"steps": 40, "step_size": None, "restarts": 1},
            },
            "paper": {
                "dataset": "mnist",
                "n_test": 10000,
                "seed": 0,
                "batch_size": 512,
                "classifier": {"arch": "cnn", "epochs": 10, "batch_size": 128},
                "defences": {
                    **DEFENCES,
                    "power-2": {"filter": "power", "exponent": 2},
                    "adversarial": {
                        "adversarial": {"epsilon": 0.3, "steps": 40, "step_size": 0.01, "warmup": 0.0, "epochs": 20}
                    },
                },
                "pgd": {"steps": 100, "step_size": None, "restarts": 1},
            },
        },
        run=run,
    )
)
