"""cerebellum-width: dense granule layers of growing width m, without and with LTD centring.

Yuezhang et al. 2021, Table 1: test accuracy rises with m and saturates, FGSM accuracy rises
with m much more with LTD than without (at m = 200,000: 62.0 vs 45.2 % at ε = 0.1), while
PGD accuracy stays low (15–20 % at ε = 0.1, ~1 % at 0.3) with or without it. Models are trained
and attacked by the protocol of `adprf.cerebellum` (delta rule + RMSprop, batch 50, best test
epoch; L∞ FGSM and PGD-40 with the MSE loss) and shared with the other cerebellum experiments.
"""

from dataclasses import dataclass

from ..cerebellum import (
    PAPER_WIDTH,
    CerebellumSpec,
    PaperPair,
    column_difference,
    load_split_data,
    paper_cell,
    robustness_curves_figure,
    sweep_cerebellums,
    table_columns,
)
from ._cerebellar_config import CerebellarConfig, PGDConfig
from ._experiment import Experiment, Rendered, Table
from ._registry import register


@dataclass(frozen=True, kw_only=True)
class Config(CerebellarConfig):
    """Dense (FC) cerebellums of each width in `widths`, without and with LTD, trained with
    batches of `train_batch` (see `CerebellarConfig` for the shared fields)."""

    widths: tuple[int, ...]
    train_batch: int = 50


def specs_for(widths) -> list[CerebellumSpec]:
    """The dense models, without then with LTD, for every width."""
    return [CerebellumSpec.dense(m, ltd=ltd) for m in widths for ltd in (False, True)]


def compute(run, cfg: Config) -> dict:
    """Train and attack every model of the sweep (shared cache), one fact record per model."""
    data = load_split_data(cfg.dataset, cfg.n_train)
    specs = specs_for(cfg.widths)
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
        "n_test": len(data.test_labels),
        "n_attacked": min(cfg.n_test, len(data.test_labels)),
        "epsilons": list(cfg.epsilons),
        "models": [
            {
                "name": spec.label,
                "width": spec.width,
                "ltd": spec.ltd,
                "row": sweep[spec.label].row,
                "curves": sweep[spec.label].curves,
                "seconds": sweep[spec.label].seconds,
            }
            for spec in specs
        ],
    }


def paper_ltd_gain(paper: PaperPair | None) -> float | str:
    """The paper's LTD − no LTD at FGSM ε = 0.1 (points), "–" where the paper has no such width."""
    return round(paper.with_ltd.fgsm_small - paper.without_ltd.fgsm_small, 1) if paper else "–"


def ltd_fgsm_verdict(width: int, ours: float, paper: float | str) -> str:
    """Whether LTD helps FGSM at the largest width run: our gain (points) beside the paper's."""
    paper_text = paper if isinstance(paper, str) else f"{paper:+g}"
    answer = "Yes here" if ours > 0 else "Not here"
    return (
        f"Does LTD help FGSM at large m? {answer}: LTD − no LTD at FGSM ε = 0.1, m = {width}: ours {ours:+g} "
        f"points, paper {paper_text} points (paper at m = 200,000: +16.8)."
    )


def _gains(cfg: Config, rows: dict[str, list[float]]) -> list[list]:
    gains = []
    for m in cfg.widths:
        with_, without = CerebellumSpec.dense(m, ltd=True).label, CerebellumSpec.dense(m).label
        gains.append([m, column_difference(rows, with_, without, "FGSM .1"), paper_ltd_gain(PAPER_WIDTH.get(m))])
    return gains


def render(cfg: Config, facts: dict) -> Rendered:
    models = facts["models"]
    table = []
    for model in models:
        paper = PAPER_WIDTH.get(model["width"])
        table.append(
            [
                model["width"],
                "yes" if model["ltd"] else "no",
                *model["row"],
                paper_cell(paper[model["ltd"]] if paper else None),
                round(model["seconds"], 1),
            ]
        )
    figure = robustness_curves_figure(
        {model["name"]: model["curves"] for model in models},
        facts["epsilons"],
        f"Dense cerebellum, width sweep ({facts['source']}, {facts['n_attacked']} attacked images)",
        {
            "no LTD": [model["name"] for model in models if not model["ltd"]],
            "with LTD": [model["name"] for model in models if model["ltd"]],
        },
    )
    gains = _gains(cfg, {model["name"]: model["row"] for model in models})
    summary = (
        f"Dense (FC) granule layers of width m, trained by the delta rule with RMSprop "
        f"(batch {cfg.train_batch}, {cfg.epochs} epochs, best test epoch) on {facts['n_train']} images of "
        f"{facts['source']}; seeds {list(cfg.seeds)} averaged. Attacks: L∞ FGSM and PGD-{cfg.pgd.steps} "
        f"(step {cfg.pgd.step_size}), MSE loss, on the first {facts['n_attacked']} test images; Test = accuracy on "
        f"all {facts['n_test']}. Accuracy in %; ours beside the paper's (Test / FGSM .1 / FGSM .3 / PGD .1 / PGD .3)."
    )
    notes = [
        ltd_fgsm_verdict(gains[-1][0], gains[-1][1], gains[-1][2]),
        "Paper columns: Yuezhang et al. 2021, Table 1, full MNIST (60,000 training images, 10,000 attacked), "
        "mean of seeds 0 and 123.",
    ]
    return Rendered(
        summary=summary,
        tables=[
            Table("Width sweep (%)", ["m", "LTD", *table_columns(cfg.attack()), "paper", "compute s"], table),
            Table("LTD gain at FGSM ε = 0.1 (points)", ["m", "ours", "paper"], gains),
        ],
        figures={"width_curves.png": figure},
        notes=notes,
    )


EXPERIMENT = register(
    Experiment(
        name="cerebellum-width",
        title="Cerebellum: granule-layer width, with and without LTD (Yuezhang et al. Table 1)",
        paper="Yuezhang, Li & Chen, PMLR 2021, Table 1",
        presets={
            "quick": Config(
                dataset="mnist-subset",
                n_test=300,
                seeds=(0,),
                widths=(1000, 2000, 5000),
                epochs=10,
                train_batch=50,
                pgd=PGDConfig(steps=40, step_size=0.01),
            ),
            "paper": Config(
                dataset="mnist",
                n_test=10000,
                seeds=(0, 123),
                widths=(1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000),
                epochs=10,
                train_batch=50,
                pgd=PGDConfig(steps=40, step_size=0.01),
                suite="standard",
            ),
        },
        compute=compute,
        render=render,
    )
)
