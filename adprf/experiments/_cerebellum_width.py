"""cerebellum-width: dense granule layers of growing width m, without and with LTD centring.

Yuezhang et al. (2021), Table 1: test accuracy rises with m and saturates, FGSM accuracy rises
with m much more with LTD than without (at m = 200,000: 62.0 vs 45.2 % at ε = 0.1), while
PGD accuracy stays low (15–20 % at ε = 0.1, ~1 % at 0.3) with or without it.
"""

from .._results import Run
from ..cerebellum import (
    PAPER_EPSILONS,
    PAPER_WIDTH,
    TABLE_COLUMNS,
    column_difference,
    load_split_data,
    paper_cell,
    robustness_curves_figure,
    spec_label,
    sweep_cerebellums,
)
from ._registry import LegacyExperiment as Experiment, register


def run(run: Run) -> dict:
    cfg = run.config
    data = load_split_data(cfg)
    specs = {
        spec_label(s): s
        for m in cfg["widths"]
        for s in (
            {"width": m, "connectivity": "dense", "ltd": False},
            {"width": m, "connectivity": "dense", "ltd": True},
        )
    }
    rows, curves, seconds = sweep_cerebellums(run, specs, cfg, data)
    table = []
    for name, spec in specs.items():
        paper = PAPER_WIDTH.get(spec["width"])
        table.append(
            [
                spec["width"],
                "yes" if spec["ltd"] else "no",
                *rows[name],
                paper_cell(paper[spec["ltd"]] if paper else None),
                round(seconds[name], 1),
            ]
        )
    run.save_figure(
        robustness_curves_figure(
            curves,
            PAPER_EPSILONS,
            f"Dense cerebellum, width sweep_cerebellums ({data[4]}, {min(cfg['n_test'], len(data[3]))} attacked images)",
            {
                "no LTD": [n for n, s in specs.items() if not s["ltd"]],
                "with LTD": [n for n, s in specs.items() if s["ltd"]],
            },
        ),
        "width_curves.png",
    )
    gains = []
    for m in cfg["widths"]:
        ours = column_difference(
            rows,
            spec_label({"width": m, "connectivity": "dense", "ltd": True}),
            spec_label({"width": m, "connectivity": "dense", "ltd": False}),
            "FGSM .1",
        )
        paper = PAPER_WIDTH.get(m)
        gains.append([m, ours, round(paper[1][1] - paper[0][1], 1) if paper else "–"])
    big = cfg["widths"][-1]
    notes = [
        f"Does LTD help FGSM at large m? LTD − no LTD at FGSM ε = 0.1, m = {big}: ours {gains[-1][1]:+g} "
        f"points, paper {gains[-1][2] if isinstance(gains[-1][2], str) else f'{gains[-1][2]:+g}'} points "
        f"(paper at m = 200,000: +16.8).",
        "Paper columns: Yuezhang et al. (2021) Table 1, full MNIST (60,000 training images, 10,000 "
        "attacked), mean of seeds 0 and 123.",
    ]
    return {
        "summary": (
            f"Dense (FC) granule layers of width m, trained by the delta rule with RMSprop "
            f"(batch {cfg.get('train_batch', 50)}, {cfg.get('epochs', 10)} epochs, best test epoch) on "
            f"{len(data[0])} images of {data[4]}; seeds {cfg['seeds']} averaged. Attacks: L∞ FGSM and "
            f"PGD-{cfg['pgd']['steps']} (step {cfg['pgd']['step_size']}), MSE loss, on the first "
            f"{min(cfg['n_test'], len(data[3]))} test images; Test = accuracy on all {len(data[3])}. "
            f"Accuracy in %; ours beside the paper's (Test / FGSM .1 / FGSM .3 / PGD .1 / PGD .3)."
        ),
        "tables": [
            {
                "title": "Width sweep_cerebellums (%)",
                "columns": ["m", "LTD", *TABLE_COLUMNS, "paper", "compute s"],
                "rows": table,
            },
            {"title": "LTD gain at FGSM ε = 0.1 (points)", "columns": ["m", "ours", "paper"], "rows": gains},
        ],
        "numbers": {"rows": rows, "curves": curves, "epsilons": PAPER_EPSILONS},
        "notes": notes,
    }


register(
    Experiment(
        name="cerebellum-width",
        title="Cerebellum: granule-layer width, with and without LTD (Yuezhang et al. Table 1)",
        paper="Yuezhang, Li & Chen, PMLR 2021, Table 1",
        presets={
            "quick": {
                "dataset": "mnist-subset",
                "n_test": 300,
                "seeds": [0],
                "widths": [1000, 2000, 5000],
                "epochs": 10,
                "train_batch": 50,
                "pgd": {"steps": 40, "step_size": 0.01},
            },
            "paper": {
                "dataset": "mnist",
                "n_test": 10000,
                "seeds": [0, 123],
                "widths": [1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000],
                "epochs": 10,
                "train_batch": 50,
                "pgd": {"steps": 40, "step_size": 0.01},
            },
        },
        run=run,
    )
)
