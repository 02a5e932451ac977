"""cerebellum-sparsity: random-sparse granule layers (k inputs per cell) at a fixed synapse count.

Yuezhang et al. 2021, Table 2: m = ⌊4.8·10⁶/(k + 20)⌋ granule cells with k random inputs
each. Their striking result: with LTD, k = 4 and k = 2 keep 55.8 and 57.3 % accuracy under
PGD at ε = 0.1 (13–18 % for k ≥ 50), at a small cost in clean accuracy. `cerebellum-batch1`
audits whether such numbers survive stronger attacks. The quick preset scales the synapse
count down tenfold; training and attacks are those of `cerebellum-width`, and its standard
suite runs at the table's radii (ε = 0.1, 0.3) only.
"""

from dataclasses import dataclass

from ..cerebellum import (
    PAPER_SPARSITY,
    SYNAPSE_BUDGET,
    TABLE_COLUMNS,
    CerebellumSpec,
    load_split_data,
    paper_cell,
    robustness_curves_figure,
    sweep_cerebellums,
    table_columns,
)
from ._cerebellar_config import CerebellarConfig, PGDConfig
from ._experiment import Experiment, Rendered, Table
from ._registry import register

SPARSE_KS = (2, 4)  # the paper's robust sparse connectivities
BROAD_MIN_K = 50  # k ≥ 50: the paper's non-robust broad connectivities


@dataclass(frozen=True, kw_only=True)
class Config(CerebellarConfig):
    """Random-sparse (RC) cerebellums with k ∈ `ks` inputs per cell and m = ⌊`synapses`/(k + 20)⌋
    cells, inputs drawn `with_replacement` or not, without and with LTD, trained with batches of
    `train_batch` (see `CerebellarConfig` for the shared fields)."""

    ks: tuple[int, ...]
    synapses: float
    with_replacement: bool = True  # a field named `replace` would hide `AbstractConfig.replace`
    train_batch: int = 50


def specs_for(ks, synapses: float, replace: bool = True) -> list[CerebellumSpec]:
    """RC models without then with LTD for every k, m = ⌊synapses/(k + 20)⌋."""
    return [CerebellumSpec.sparse(k, synapses=synapses, replace=replace, ltd=ltd) for k in ks for ltd in (False, True)]


def compute(run, cfg: Config) -> dict:
    """Train and attack every model of the sweep (shared cache), one fact record per model."""
    data = load_split_data(cfg.dataset, cfg.n_train)
    specs = specs_for(cfg.ks, cfg.synapses, cfg.with_replacement)
    sweep = sweep_cerebellums(
        run,
        {spec.label: spec for spec in specs},
        data,
        dataset=cfg.dataset,
        schedule=cfg.schedule(cfg.train_batch),
        attack=cfg.attack(),
        seeds=cfg.seeds,
    )
    return {
        "source": data.source,
        "n_train": len(data.train_labels),
        "n_attacked": min(cfg.n_test, len(data.test_labels)),
        "epsilons": list(cfg.epsilons),
        "models": [
            {
                "name": spec.label,
                "k": spec.k,
                "width": spec.width,
                "ltd": spec.ltd,
                "row": sweep[spec.label].row,
                "curves": sweep[spec.label].curves,
                "seconds": sweep[spec.label].seconds,
            }
            for spec in specs
        ],
    }


def sparse_pgd_verdict(sparse_ks, ours_sparse: float, broad_ks, ours_broad: float) -> str:
    """Whether sparse connectivity (k = 2–4) buys PGD robustness with LTD: our best PGD ε = 0.1
    accuracy (%) at the sparse and at the broad k, beside the paper's."""
    answer = "Yes here" if ours_sparse > ours_broad else "Not here"
    return (
        f"Does k = 2–4 help PGD? {answer}: with LTD, PGD ε = 0.1: ours {ours_sparse:g} % at k ∈ {list(sparse_ks)} "
        f"vs {ours_broad:g} % at k ∈ {list(broad_ks)}; paper 55.8–57.3 % vs 13.2–17.6 %."
    )


def scale_note(synapses: float) -> str:
    """Which synapse count the run used and where the paper columns come from."""
    scale = "the paper" if synapses == SYNAPSE_BUDGET else "reduced from the paper’s 4.8·10⁶"
    return (
        f"Scale: m = ⌊{synapses:.3g}/(k+20)⌋ ({scale}); paper columns from Yuezhang et al. 2021, Table 2 "
        "(full MNIST, seeds 0 and 123)."
    )


def _pgd_by_k(models: list[dict]) -> list[list]:
    """Per k: PGD ε = 0.1 with and without LTD, ours and the paper's."""
    pgd = TABLE_COLUMNS.index("PGD .1")
    without = {model["k"]: model["row"][pgd] for model in models if not model["ltd"]}
    trend = []
    for model in models:
        if model["ltd"]:
            paper = PAPER_SPARSITY.get(model["k"])
            trend.append(
                [
                    model["k"],
                    model["row"][pgd],
                    without[model["k"]],
                    paper.with_ltd.pgd_small if paper else "–",
                    paper.without_ltd.pgd_small if paper else "–",
                ]
            )
    return trend


def suite_note(models: list[dict], budget: str) -> str:
    """Per model, MSE-PGD's accuracy at ε = 0.1 beside the standard suite's (the rows' "suite .1"
    column follows `TABLE_COLUMNS`)."""
    pgd, suite = TABLE_COLUMNS.index("PGD .1"), len(TABLE_COLUMNS)
    parts = [f"{m['name']}: {m['row'][pgd]:.1f} → {m['row'][suite]:.1f}" for m in models]
    return (
        f"Does the robustness survive the field's standard? Accuracy at ε = 0.1 under the paper's MSE-PGD → "
        f"under the standard suite ({budget} budget: APGD-CE, APGD-T, Square; worst case per image), %: "
        + "; ".join(parts)
        + "."
    )


def _at(radii) -> str:
    """ ", at ε = 0.1, 0.3" for radii given, "" for None (all of the curves' radii)."""
    return "" if radii is None else ", at ε = " + ", ".join(f"{e:g}" for e in radii)


def render(cfg: Config, facts: dict) -> Rendered:
    models = facts["models"]
    table = [
        [
            model["k"],
            model["width"],
            "yes" if model["ltd"] else "no",
            *model["row"],
            paper_cell(PAPER_SPARSITY[model["k"]][model["ltd"]] if model["k"] in PAPER_SPARSITY else None),
            round(model["seconds"], 1),
        ]
        for model in models
    ]
    figure = robustness_curves_figure(
        {model["name"]: model["curves"] for model in models},
        facts["epsilons"],
        f"Random-sparse cerebellum, m = ⌊{cfg.synapses:.3g}/(k+20)⌋ ({facts['source']})",
        {
            "RC": [model["name"] for model in models if not model["ltd"]],
            "RC + LTD": [model["name"] for model in models if model["ltd"]],
        },
    )
    trend = _pgd_by_k(models)
    sparse_ks = [k for k in cfg.ks if k in SPARSE_KS]
    broad_ks = [k for k in cfg.ks if k >= BROAD_MIN_K]
    notes = []
    if sparse_ks and broad_ks:
        by_k = {row[0]: row[1] for row in trend}
        best = max(by_k[k] for k in sparse_ks), max(by_k[k] for k in broad_ks)
        notes.append(sparse_pgd_verdict(sparse_ks, best[0], broad_ks, best[1]))
    if cfg.suite is not None:
        notes.append(suite_note(models, cfg.suite))
    notes.append(scale_note(cfg.synapses))
    summary = (
        f"Random-sparse (RC) granule layers, k inputs per cell drawn {'with' if cfg.with_replacement else 'without'} "
        f"replacement, weights N(0, 1/k), trained as in cerebellum-width on {facts['n_train']} images of "
        f"{facts['source']}, seeds {list(cfg.seeds)}; attacked with L∞ FGSM and PGD-{cfg.pgd.steps} (MSE loss)"
        + (f" and the standard suite ({cfg.suite} budget{_at(cfg.suite_epsilons)})" if cfg.suite else "")
        + f" on {facts['n_attacked']} test images. Accuracy in %."
    )
    return Rendered(
        summary=summary,
        tables=[
            Table("Sparsity sweep (%)", ["k", "m", "LTD", *table_columns(cfg.attack()), "paper", "compute s"], table),
            Table("PGD ε = 0.1 by k (%)", ["k", "ours + LTD", "ours", "paper + LTD", "paper"], trend),
        ],
        figures={"sparsity_curves.png": figure},
        notes=notes,
    )


EXPERIMENT = register(
    Experiment(
        name="cerebellum-sparsity",
        title="Cerebellum: sparse granule connectivity at a fixed synapse count (Yuezhang et al. Table 2)",
        paper="Yuezhang, Li & Chen, PMLR 2021, Table 2",
        presets={
            "quick": Config(
                dataset="mnist-subset",
                n_test=300,
                seeds=(0,),
                ks=(784, 50, 4, 2, 1),
                synapses=4.8e5,
                epochs=10,
                train_batch=50,
                pgd=PGDConfig(steps=40, step_size=0.01),
                suite="fast",
                suite_epsilons=(0.1, 0.3),  # the table's radii: the suite was 2/3 of the attack time at all 7
            ),
            "paper": Config(
                dataset="mnist",
                n_test=10000,
                seeds=(0, 123),
                ks=(784, 200, 50, 10, 4, 2, 1),
                synapses=4.8e6,
                epochs=10,
                train_batch=50,
                pgd=PGDConfig(steps=40, step_size=0.01),
                suite="standard",
            ),
            # The paper's sizes (m = ⌊4.8·10⁶/(k+20)⌋: 200,000 cells at k = 4) and attacks, trained on the
            # embedded subset's 4,000 images and attacked on 500 test images at the table's radii, for
            # the sparse k of the paper's claim and two broad ones: about an hour on 2 CPU cores.
            "paper-subset": Config(
                dataset="mnist-subset",
                n_test=500,
                seeds=(0,),
                ks=(784, 50, 4, 2),
                synapses=4.8e6,
                epochs=10,
                train_batch=50,
                pgd=PGDConfig(steps=40, step_size=0.01),
                epsilons=(0.0, 0.1, 0.3),
                suite="fast",
            ),
        },
        compute=compute,
        render=render,
    )
)
