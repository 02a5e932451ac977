"""cerebellum-batch1: batch-1 training with LTD, and the audit of its robustness.

Yuezhang et al. 2021, appendix: trained one example at a time, the sparse cerebellum with
LTD keeps 95.2 % (k = 4), 94.1 % (k = 2), 88.3 % (k = 10) and 55.6 % (k = 1) accuracy under
PGD at ε = 0.1, while without LTD it stays near 15–34 %. The authors suspected a too-weak
attack. Here the LTD models are audited (`adprf.attacks.audit`): the same PGD with 5× the
steps, 5 restarts, a 4× step, the margin and cross-entropy losses instead of MSE, FGSM, an
unbounded attack and gradient statistics, on the same images and ε; the robustness is real
only if none of them lowers accuracy by more than 3 points (`AuditConfig.tolerance`). The same
models trained with batch 50 (Yuezhang et al. 2021, Table 2) are shown beside them.
"""

import time
from dataclasses import dataclass

import jax

from ..attacks import PGD, audit
from ..cerebellum import (
    PAPER_BATCH1_LTD_PGD,
    PAPER_BATCH1_NO_LTD_PGD,
    PAPER_SPARSITY,
    TABLE_COLUMNS,
    CerebellumSpec,
    SplitData,
    fit_cerebellum,
    load_split_data,
    robustness_curves_figure,
    sweep_cerebellums,
    table_columns,
)
from ._cerebellar_config import CerebellarConfig, PGDConfig
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register

BATCH_SIZES = (1, 50)  # the appendix's batch-1 training, and the tables' batch 50 for comparison
AUDIT_KEY = 2000
AUDIT_COLUMNS = (
    ("PGD", "MSE PGD-40 (paper's)"),
    ("PGD-200", "PGD-200"),
    ("PGD ×5 restarts", "5 restarts"),
    ("PGD step ×4", "step ×4"),
    ("margin loss", "margin"),
    ("cross-entropy loss", "cross-entropy"),
    ("FGSM", "FGSM"),
)


@dataclass(frozen=True, kw_only=True)
class AuditConfig(AbstractConfig):
    """Which batch-1 LTD models are audited (`ks`), on how many test images, attacked `batch_size`
    at a time, at which ε; the robustness survives if no audited attack lowers accuracy by more
    than `tolerance` (a fraction); the audit's APGD-DLR check runs `apgd_steps`, its Square check
    `square_queries` queries."""

    ks: tuple[int, ...]
    n_test: int
    batch_size: int
    epsilons: tuple[float, ...]
    tolerance: float = 0.03
    apgd_steps: int = 100
    square_queries: int = 1000


@dataclass(frozen=True, kw_only=True)
class Config(CerebellarConfig):
    """Random-sparse cerebellums with k ∈ `ks` inputs per cell and m = ⌊`synapses`/(k + 20)⌋ cells,
    without and with LTD, each trained with batch 1 and batch 50, and the `audit` of the batch-1
    LTD models (see `CerebellarConfig` for the shared fields)."""

    ks: tuple[int, ...]
    synapses: float
    audit: AuditConfig


def specs_for(ks, synapses: float) -> list[CerebellumSpec]:
    """RC models (inputs drawn with replacement) without then with LTD for every k."""
    return [CerebellumSpec.sparse(k, synapses=synapses, ltd=ltd) for k in ks for ltd in (False, True)]


def worst_curve(curves: dict[str, list[float]]) -> list[float]:
    """At each ε, the lowest accuracy any audited attack reached (the unbounded check aside)."""
    bounded = [curve for name, curve in curves.items() if name != "unbounded"]
    return [min(curve[i] for curve in bounded) for i in range(len(curves["PGD"]))]


def robustness_drop(reference: list[float], worst: list[float]) -> float:
    """The largest fall (points) from the paper's attack to the strongest audited one."""
    return 100 * max(r - w for r, w in zip(reference, worst))


def _audit(run, spec: CerebellumSpec, data: SplitData, cfg: Config) -> dict:
    """The audit of the batch-1 model of `spec` (the first seed), as facts."""
    model = fit_cerebellum(run, spec, data, dataset=cfg.dataset, schedule=cfg.schedule(1), seed=cfg.seeds[0]).model
    n = min(cfg.audit.n_test, len(data.test_labels))

    def compute():
        start = time.perf_counter()
        result = audit(
            model,
            data.test_images[:n],
            data.test_labels[:n],
            epsilons=cfg.audit.epsilons,
            key=jax.random.PRNGKey(AUDIT_KEY),
            objective="mse",
            pgd=PGD(steps=cfg.pgd.steps, step_size=cfg.pgd.step_size),
            batch_size=cfg.audit.batch_size,
            apgd_steps=cfg.audit.apgd_steps,
            square_queries=cfg.audit.square_queries,
            progress=True,
        )
        return {**result.as_dict(), "seconds": time.perf_counter() - start}

    result = run.stage(f"audit-{spec.label.replace(' ', '_')}", compute)
    worst = worst_curve(result["curves"])
    drop = robustness_drop(result["curves"]["PGD"], worst)
    return {
        "name": spec.label,
        "k": spec.k,
        "audit": result,
        "worst": worst,
        "drop": drop,
        "survives": drop <= 100 * cfg.audit.tolerance,
    }


def compute(run, cfg: Config) -> dict:
    """Every model trained with batch 1 and 50 and attacked (shared cache), and the audits."""
    data = load_split_data(cfg.dataset, cfg.n_train)
    specs = specs_for(cfg.ks, cfg.synapses)
    sweeps = {
        batch: sweep_cerebellums(
            run,
            {spec.label: spec for spec in specs},
            data,
            dataset=cfg.dataset,
            schedule=cfg.schedule(batch),
            attack=cfg.attack(),
            seeds=cfg.seeds,
        )
        for batch in BATCH_SIZES
    }
    models = [
        {
            "name": spec.label,
            "k": spec.k,
            "width": spec.width,
            "ltd": spec.ltd,
            "batch": batch,
            "row": sweeps[batch][spec.label].row,
            "curves": sweeps[batch][spec.label].curves,
            "seconds": sweeps[batch][spec.label].seconds,
        }
        for spec in specs
        for batch in BATCH_SIZES
    ]
    audited = [spec for spec in specs if spec.ltd and spec.k in cfg.audit.ks]
    return {
        "source": data.source,
        "n_train": len(data.train_labels),
        "n_attacked": min(cfg.n_test, len(data.test_labels)),
        "epsilons": list(cfg.epsilons),
        "models": models,
        "audits": [_audit(run, spec, data, cfg) for spec in audited],
    }


def paper_pgd(k: int, ltd: bool, batch: int) -> float | str:
    """The paper's PGD ε = 0.1 accuracy (%) for a model, "–" where it has none."""
    if batch == 1:
        return PAPER_BATCH1_LTD_PGD.get(k, "–") if ltd else PAPER_BATCH1_NO_LTD_PGD
    return PAPER_SPARSITY[k][ltd].pgd_small if k in PAPER_SPARSITY else "–"


def survival_cell(survives: bool, drop: float) -> str:
    """The audit table's verdict cell."""
    return "survives" if survives else f"does not survive (−{drop:.0f} points)"


def audit_verdict(k: int, reference: list[float], worst: list[float], epsilons, survives: bool, drop: float) -> str:
    """Whether the batch-1 LTD model's PGD robustness survives the audit: the paper's attack and the
    strongest audited one, accuracy (fractions) at each ε."""
    verdict = (
        ". The robustness survives stronger attacks."
        if survives
        else f". The robustness does not survive: it drops by {drop:.0f} points, so it was an artefact "
        "of the attack (gradient masking), not robustness."
    )
    return (
        f"Audit, k = {k}, LTD, batch 1: the paper's attack leaves "
        + ", ".join(f"{100 * r:.0f} % at ε = {e:g}" for r, e in zip(reference, epsilons))
        + "; the strongest audited attack leaves "
        + ", ".join(f"{100 * w:.0f} %" for w in worst)
        + verdict
    )


def batch_note(k: int, batch1: float, batch50: float) -> str:
    """Our PGD ε = 0.1 accuracy (%) of the k, LTD model with batch 1 and 50, beside the paper's."""
    return (
        f"k = {k}, LTD: PGD ε = 0.1 {batch1:g} % with batch 1 vs {batch50:g} % with batch 50 "
        f"(paper: {paper_pgd(k, True, 1)} vs {paper_pgd(k, True, 50)})."
    )


def _audit_row(audited: dict) -> list:
    curves = audited["audit"]["curves"]
    cells = [" / ".join(f"{100 * v:.0f}" for v in curves[key]) if curves.get(key) else "–" for key, _ in AUDIT_COLUMNS]
    worst = " / ".join(f"{100 * w:.0f}" for w in audited["worst"])
    return [audited["k"], *cells, worst, survival_cell(audited["survives"], audited["drop"])]


def _notes(cfg: Config, facts: dict) -> list[str]:
    pgd = TABLE_COLUMNS.index("PGD .1")
    ltd_rows = {(m["k"], m["batch"]): m["row"][pgd] for m in facts["models"] if m["ltd"]}
    notes = [batch_note(k, ltd_rows[k, 1], ltd_rows[k, 50]) for k in cfg.ks]
    for a in facts["audits"]:
        reference = a["audit"]["curves"]["PGD"]
        notes.append(audit_verdict(a["k"], reference, a["worst"], cfg.audit.epsilons, a["survives"], a["drop"]))
    return notes


def render(cfg: Config, facts: dict) -> Rendered:
    models = facts["models"]
    table = [
        [
            m["k"],
            m["width"],
            "yes" if m["ltd"] else "no",
            m["batch"],
            *m["row"],
            paper_pgd(m["k"], m["ltd"], m["batch"]),
            round(m["seconds"], 1),
        ]
        for m in models
    ]
    curve_name = {1: "{}", 50: "{} (batch 50)"}
    groups = {f"batch {b}": [curve_name[b].format(m["name"]) for m in models if m["batch"] == b] for b in BATCH_SIZES}
    figure = robustness_curves_figure(
        {curve_name[m["batch"]].format(m["name"]): m["curves"] for m in models},
        facts["epsilons"],
        f"Sparse cerebellum trained with batch 1 vs 50 ({facts['source']})",
        groups,
    )
    a = cfg.audit
    summary = (
        f"Random-sparse cerebellum (m = ⌊{cfg.synapses:.3g}/(k+20)⌋) trained with batch 1 (and batch 50 for "
        f"comparison) on {facts['n_train']} images of {facts['source']}, seeds {list(cfg.seeds)}; L∞ FGSM and "
        f"PGD-{cfg.pgd.steps} with the MSE loss on {facts['n_attacked']} test images. The LTD models with "
        f"k ∈ {list(a.ks)} are audited on {a.n_test} images at ε = {', '.join(map(str, a.epsilons))}. Accuracy in %."
    )
    audit_title = (
        "Audit of the batch-1 LTD models: accuracy (%) at ε = "
        + " / ".join(map(str, a.epsilons))
        + " under each attack"
    )
    return Rendered(
        summary=summary,
        tables=[
            Table(
                "Batch 1 vs batch 50 (%); paper column: PGD ε = 0.1",
                ["k", "m", "LTD", "batch", *table_columns(cfg.attack()), "paper PGD .1", "compute s"],
                table,
                audits={f"{x['name']}, batch 1": x["audit"] for x in facts["audits"]},
            ),
            Table(
                audit_title,
                ["k", *[c for _, c in AUDIT_COLUMNS], "worst", "robustness"],
                list(map(_audit_row, facts["audits"])),
            ),
        ],
        figures={"batch1_curves.png": figure},
        notes=_notes(cfg, facts),
    )


EXPERIMENT = register(
    Experiment(
        name="cerebellum-batch1",
        title="Cerebellum: batch-1 training with LTD, and whether its PGD robustness survives the audit",
        paper="Yuezhang, Li & Chen, PMLR 2021, appendix (batch size 1)",
        presets={
            "quick": Config(
                dataset="mnist-subset",
                n_train=2000,
                n_test=300,
                seeds=(0,),
                ks=(4,),
                synapses=2.4e5,
                epochs=10,
                pgd=PGDConfig(steps=40, step_size=0.01),
                audit=AuditConfig(ks=(4,), n_test=100, batch_size=16, epsilons=(0.1, 0.3)),
            ),
            "paper": Config(
                dataset="mnist",
                n_test=10000,
                seeds=(0, 123),
                ks=(1, 2, 4, 10),
                synapses=4.8e6,
                epochs=10,
                pgd=PGDConfig(steps=40, step_size=0.01),
                audit=AuditConfig(ks=(1, 2, 4, 10), n_test=1000, batch_size=256, epsilons=(0.1, 0.3)),
                suite="standard",
            ),
            # The paper's sizes and attacks on the embedded subset (4,000 training images, 500 attacked at
            # the table's radii), for k = 2 and 4; the batch-50 models are those of cerebellum-sparsity's
            # paper-subset preset (shared cache).
            "paper-subset": Config(
                dataset="mnist-subset",
                n_test=500,
                seeds=(0,),
                ks=(2, 4),
                synapses=4.8e6,
                epochs=10,
                pgd=PGDConfig(steps=40, step_size=0.01),
                epsilons=(0.0, 0.1, 0.3),
                audit=AuditConfig(ks=(4,), n_test=100, batch_size=100, epsilons=(0.1, 0.3)),
                suite="fast",
            ),
        },
        compute=compute,
        render=render,
    )
)
