"""cerebellum-sparsity: random-sparse granule layers (k inputs per cell) at a fixed synapse count.

Yuezhang et al. (2021), Table 2: m = ⌊4.8·10⁶/(k + 20)⌋ granule cells with k random inputs
each. Their striking result: with LTD, k = 4 and k = 2 keep 55.8 and 57.3 % accuracy under
PGD at ε = 0.1 (13–18 % for k ≥ 50), at a small cost in clean accuracy. `cerebellum-batch1`
audits whether such numbers survive stronger attacks.
"""

from .._results import Run
from ..cerebellum import (
    PAPER_EPSILONS,
    PAPER_SPARSITY,
    SYNAPSE_BUDGET,
    TABLE_COLUMNS,
    load_split_data,
    paper_cell,
    robustness_curves_figure,
    sparsity_width,
    spec_label,
    sweep_cerebellums,
)
from ._registry import LegacyExperiment as Experiment, register


def specs_for(ks, synapses, replace=True) -> dict[str, dict]:
    """RC models without and with LTD for every k, m = ⌊synapses/(k + 20)⌋."""
    out = {}
    for k in ks:
        for ltd in (False, True):
            spec = {
                "width": sparsity_width(k, synapses),
                "connectivity": "sparse",
                "k": k,
                "replace": replace,
                "ltd": ltd,
            }
            out[spec_label(spec)] = spec
    return out


def run(run: Run) -> dict:
    cfg = run.config
    data = load_split_data(cfg)
    specs = specs_for(cfg["ks"], cfg["synapses"], cfg.get("replace", True))
    rows, curves, seconds = sweep_cerebellums(run, specs, cfg, data)
    table = [
        [
            s["k"],
            s["width"],
            "yes" if s["ltd"] else "no",
            *rows[n],
            paper_cell(PAPER_SPARSITY[s["k"]][s["ltd"]] if s["k"] in PAPER_SPARSITY else None),
            round(seconds[n], 1),
        ]
        for n, s in specs.items()
    ]
    run.save_figure(
        robustness_curves_figure(
            curves,
            PAPER_EPSILONS,
            f"Random-sparse cerebellum, m = ⌊{cfg['synapses']:.3g}/(k+20)⌋ ({data[4]})",
            {
                "RC": [n for n, s in specs.items() if not s["ltd"]],
                "RC + LTD": [n for n, s in specs.items() if s["ltd"]],
            },
        ),
        "sparsity_curves.png",
    )
    pgd = TABLE_COLUMNS.index("PGD .1")
    trend = []
    for s in specs.values():
        if s["ltd"]:
            paper = PAPER_SPARSITY.get(s["k"])
            trend.append(
                [
                    s["k"],
                    rows[spec_label(s)][pgd],
                    rows[spec_label({**s, "ltd": False})][pgd],
                    paper[1][3] if paper else "–",
                    paper[0][3] if paper else "–",
                ]
            )
    sparse_ks = [k for k in cfg["ks"] if k in (2, 4)]
    broad_ks = [k for k in cfg["ks"] if k >= 50]
    notes = []
    if sparse_ks and broad_ks:
        by_k = {row[0]: row for row in trend}
        ours_sparse = max(by_k[k][1] for k in sparse_ks)
        ours_broad = max(by_k[k][1] for k in broad_ks)
        notes.append(
            f"Does k = 2–4 help PGD? With LTD, PGD ε = 0.1: ours {ours_sparse:g} % at k ∈ {sparse_ks} vs "
            f"{ours_broad:g} % at k ∈ {broad_ks}; paper 55.8–57.3 % vs 13.2–17.6 %."
        )
    notes.append(
        f"Scale: m = ⌊{cfg['synapses']:.3g}/(k+20)⌋ ({'the paper' if cfg['synapses'] == SYNAPSE_BUDGET else 'reduced from the paper’s 4.8·10⁶'}); "
        "paper columns from Yuezhang et al. (2021) Table 2 (full MNIST, seeds 0 and 123)."
    )
    return {
        "summary": (
            f"Random-sparse (RC) granule layers, k inputs per cell drawn "
            f"{'with' if cfg.get('replace', True) else 'without'} replacement, weights N(0, 1/k), trained "
            f"as in cerebellum-width on {len(data[0])} images of {data[4]}, seeds {cfg['seeds']}; attacked "
            f"with L∞ FGSM and PGD-{cfg['pgd']['steps']} (MSE loss) on {min(cfg['n_test'], len(data[3]))} "
            f"test images. Accuracy in %."
        ),
        "tables": [
            {
                "title": "Sparsity sweep_cerebellums (%)",
                "columns": ["k", "m", "LTD", *TABLE_COLUMNS, "paper", "compute s"],
                "rows": table,
            },
            {
                "title": "PGD ε = 0.1 by k (%)",
                "columns": ["k", "ours + LTD", "ours", "paper + LTD", "paper"],
                "rows": trend,
            },
        ],
        "numbers": {"rows": rows, "curves": curves, "epsilons": PAPER_EPSILONS},
        "notes": notes,
    }


register(
    Experiment(
        name="cerebellum-sparsity",
        title="Cerebellum: sparse granule connectivity at a fixed synapse count (Yuezhang et al. Table 2)",
        paper="Yuezhang, Li & Chen, PMLR 2021, Table 2",
        presets={
            "quick": {
                "dataset": "mnist-subset",
                "n_test": 300,
                "seeds": [0],
                "ks": [784, 50, 4, 2, 1],
                "synapses": 4.8e5,
                "epochs": 10,
                "train_batch": 50,
                "pgd": {"steps": 40, "step_size": 0.01},
            },
            "paper": {
                "dataset": "mnist",
                "n_test": 10000,
                "seeds": [0, 123],
                "ks": [784, 200, 50, 10, 4, 2, 1],
                "synapses": 4.8e6,
                "epochs": 10,
                "train_batch": 50,
                "pgd": {"steps": 40, "step_size": 0.01},
            },
        },
        run=run,
    )
)
