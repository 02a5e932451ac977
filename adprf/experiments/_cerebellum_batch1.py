"""cerebellum-batch1: batch-1 training with LTD, and the audit of its robustness.

Yuezhang et al. (2021), appendix: trained one example at a time, the sparse cerebellum with
LTD keeps 95.2 % (k = 4), 94.1 % (k = 2), 88.3 % (k = 10) and 55.6 % (k = 1) accuracy under
PGD at ε = 0.1, while without LTD it stays near 15–34 %. The authors suspected a too-weak
attack. Here the LTD models are audited (`adprf.attacks._audit`): the same PGD with 5× the
steps, 5 restarts, a 4× step, the margin and cross-entropy losses instead of MSE, FGSM, an
unbounded attack and gradient statistics, on the same images and ε; the robustness is real
only if none of them lowers accuracy by more than 3 points.
"""

import time

import jax

from .._results import Run
from ..attacks import PGD, audit
from ..cerebellum import (
    PAPER_EPSILONS,
    PAPER_SPARSITY,
    TABLE_COLUMNS,
    fit_cerebellum,
    load_split_data,
    robustness_curves_figure,
    sparsity_width,
    spec_label,
    sweep_cerebellums,
)
from ._registry import LegacyExperiment as Experiment, register

PAPER_BATCH1_LTD_PGD = {4: 95.2, 2: 94.1, 10: 88.3, 1: 55.6}  # PGD ε = 0.1, RC + LTD, batch 1
AUDIT_COLUMNS = [
    ("PGD", "MSE PGD-40 (paper's)"),
    ("PGD-200", "PGD-200"),
    ("PGD ×5 restarts", "5 restarts"),
    ("PGD step ×4", "step ×4"),
    ("margin loss", "margin"),
    ("cross-entropy loss", "cross-entropy"),
    ("FGSM", "FGSM"),
]


def specs_for(ks, synapses) -> dict[str, dict]:
    out = {}
    for k in ks:
        for ltd in (False, True):
            spec = {"width": sparsity_width(k, synapses), "connectivity": "sparse", "k": k, "replace": True, "ltd": ltd}
            out[spec_label(spec)] = spec
    return out


def _audit(run: Run, model, spec: dict, data, cfg: dict) -> dict:
    _, _, xte, yte, _ = data
    a = cfg["audit"]
    n = min(a["n_test"], len(yte))

    def compute():
        start = time.perf_counter()
        result = audit(
            model,
            xte[:n],
            yte[:n],
            epsilons=a["epsilons"],
            key=jax.random.PRNGKey(2000),
            objective="mse",
            pgd=PGD(steps=cfg["pgd"]["steps"], step_size=cfg["pgd"]["step_size"]),
            batch_size=a["batch_size"],
            progress=True,
        )
        return {**result.as_dict(), "seconds": time.perf_counter() - start}

    return run.stage(f"audit-{spec_label(spec).replace(' ', '_')}", compute)


def run(run: Run) -> dict:
    cfg = run.config
    data = load_split_data(cfg)
    specs = specs_for(cfg["ks"], cfg["synapses"])
    batch1 = {**cfg, "train_batch": 1}
    rows1, curves1, seconds1 = sweep_cerebellums(run, specs, batch1, data)
    rows50, curves50, seconds50 = sweep_cerebellums(run, specs, {**cfg, "train_batch": 50}, data)
    pgd = TABLE_COLUMNS.index("PGD .1")
    table = []
    for name, spec in specs.items():
        for batch, rows, seconds in ((1, rows1, seconds1), (50, rows50, seconds50)):
            if batch == 1:
                paper = PAPER_BATCH1_LTD_PGD.get(spec["k"], "–") if spec["ltd"] else "15–34"
            else:
                paper = PAPER_SPARSITY[spec["k"]][spec["ltd"]][3] if spec["k"] in PAPER_SPARSITY else "–"
            table.append(
                [
                    spec["k"],
                    spec["width"],
                    "yes" if spec["ltd"] else "no",
                    batch,
                    *rows[name],
                    paper,
                    round(seconds[name], 1),
                ]
            )

    audits, audit_rows, verdicts = {}, [], []
    for name, spec in specs.items():
        if not spec["ltd"] or spec["k"] not in cfg["audit"]["ks"]:
            continue
        model, _, _ = fit_cerebellum(run, spec, data, batch1, cfg["seeds"][0])
        result = _audit(run, model, spec, data, cfg)
        audits[f"{name}, batch 1"] = result
        eps = result["epsilons"]
        cells = []
        for key, _ in AUDIT_COLUMNS:
            curve = result["curves"].get(key)
            cells.append(" / ".join(f"{100 * v:.0f}" for v in curve) if curve else "–")
        worst = [min(result["curves"][k][i] for k in result["curves"] if k != "unbounded") for i in range(len(eps))]
        drop = 100 * max(result["curves"]["PGD"][i] - worst[i] for i in range(len(eps)))
        survives = drop <= 100 * cfg["audit"].get("tolerance", 0.03)
        audit_rows.append(
            [
                spec["k"],
                *cells,
                " / ".join(f"{100 * w:.0f}" for w in worst),
                "survives" if survives else f"does not survive (−{drop:.0f} points)",
            ]
        )
        verdicts.append((spec["k"], survives, drop, result["curves"]["PGD"], worst))
    groups = {"batch 1": [n for n in specs], "batch 50": [f"{n} (batch 50)" for n in specs]}
    curves = {**curves1, **{f"{n} (batch 50)": c for n, c in curves50.items()}}
    run.save_figure(
        robustness_curves_figure(
            curves, PAPER_EPSILONS, f"Sparse cerebellum trained with batch 1 vs 50 ({data[4]})", groups
        ),
        "batch1_curves.png",
    )

    notes = []
    for k in cfg["ks"]:
        ltd = spec_label({"width": sparsity_width(k, cfg["synapses"]), "connectivity": "sparse", "k": k, "ltd": True})
        notes.append(
            f"k = {k}, LTD: PGD ε = 0.1 {rows1[ltd][pgd]:g} % with batch 1 vs {rows50[ltd][pgd]:g} % with "
            f"batch 50 (paper: {PAPER_BATCH1_LTD_PGD.get(k, '–')} vs "
            f"{PAPER_SPARSITY[k][1][3] if k in PAPER_SPARSITY else '–'})."
        )
    for k, survives, drop, reference, worst in verdicts:
        eps = cfg["audit"]["epsilons"]
        notes.append(
            f"Audit, k = {k}, LTD, batch 1: the paper's attack leaves "
            + ", ".join(f"{100 * r:.0f} % at ε = {e:g}" for r, e in zip(reference, eps))
            + "; the strongest audited attack leaves "
            + ", ".join(f"{100 * w:.0f} %" for w in worst)
            + (
                ". The robustness survives stronger attacks."
                if survives
                else f". The robustness does not survive: it drops by {drop:.0f} points, so it was an artefact "
                "of the attack (gradient masking), not robustness."
            )
        )
    a = cfg["audit"]
    return {
        "summary": (
            f"Random-sparse cerebellum (m = ⌊{cfg['synapses']:.3g}/(k+20)⌋) trained with batch 1 (and batch "
            f"50 for comparison) on {len(data[0])} images of {data[4]}, seeds {cfg['seeds']}; L∞ FGSM and "
            f"PGD-{cfg['pgd']['steps']} with the MSE loss on {min(cfg['n_test'], len(data[3]))} test images. "
            f"The LTD models with k ∈ {a['ks']} are audited on {a['n_test']} images at ε = "
            f"{', '.join(map(str, a['epsilons']))}. Accuracy in %."
        ),
        "tables": [
            {
                "title": "Batch 1 vs batch 50 (%); paper column: PGD ε = 0.1",
                "columns": ["k", "m", "LTD", "batch", *TABLE_COLUMNS, "paper PGD .1", "compute s"],
                "rows": table,
                "audits": audits,
            },
            {
                "title": "Audit of the batch-1 LTD models: accuracy (%) at ε = "
                + " / ".join(map(str, a["epsilons"]))
                + " under each attack",
                "columns": ["k", *[c for _, c in AUDIT_COLUMNS], "worst", "robustness"],
                "rows": audit_rows,
            },
        ],
        "numbers": {
            "batch1": rows1,
            "batch50": rows50,
            "curves": curves,
            "epsilons": PAPER_EPSILONS,
            "audits": {k: {"survives": s, "drop": d, "reference": r, "worst": w} for k, s, d, r, w in verdicts},
        },
        "notes": notes,
    }


register(
    Experiment(
        name="cerebellum-batch1",
        title="Cerebellum: batch-1 training with LTD, and whether its PGD robustness survives the audit",
        paper="Yuezhang, Li & Chen, PMLR 2021, appendix (batch size 1)",
        presets={
            "quick": {
                "dataset": "mnist-subset",
                "n_train": 2000,
                "n_test": 300,
                "seeds": [0],
                "ks": [4],
                "synapses": 2.4e5,
                "epochs": 10,
                "pgd": {"steps": 40, "step_size": 0.01},
                "audit": {"ks": [4], "n_test": 100, "batch_size": 16, "epsilons": [0.1, 0.3]},
            },
            "paper": {
                "dataset": "mnist",
                "n_test": 10000,
                "seeds": [0, 123],
                "ks": [1, 2, 4, 10],
                "synapses": 4.8e6,
                "epochs": 10,
                "pgd": {"steps": 40, "step_size": 0.01},
                "audit": {"ks": [1, 2, 4, 10], "n_test": 1000, "batch_size": 256, "epsilons": [0.1, 0.3]},
            },
        },
        run=run,
    )
)
