"""ode-antagonism: which mechanistic models antagonise, and where the strongest antagonist sits.

Fold-change curves FC(τ2) = T(agonists + L2 ligands at τ2) / T(agonists) for the ODE models of
Rademaker et al. 2019 — McKeithan's kinetic proofreading (KPR), KPR with SHP-1 feedback (François
et al., PNAS 2013), and the kinase-feedback ("adaptive sorting", Lalanne & François 2013) model —
read at their steady states, beside the idealised T_{N,m} (the kinase model's strong-feedback
limit is T_{N+1,m+1}). Then the same question as an attack: the engine adds antagonists to the
SHP-1 model's agonists under an amount budget, and the smallest budget that switches the cell off
is checked against the numeric decision boundary.
Choices (open in the papers): agonists L1 at τ1 = 2 τ_c of each model; SHP-1 with its default
rates (threshold ≈ the output of 10^4 ligands at 4 s).
"""

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .._ligands import Ligands
from ..analysis import antagonist_attack, critical_point, decision_boundary, fold_change
from ..cells import AdaptiveProofreading, KinaseFeedback, KineticProofreading, SHP1Feedback, time_course
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register

ANTAGONISM_BELOW = 0.9
"""A model antagonises when its smallest fold change is below this."""


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """L1 agonists at τ1 = 2 τ_c plus L2 ligands at `n_tau2` binding times τ2 in `tau2_range`
    (log-spaced); the kinase-feedback model's (N, m) = `kinase`; SHP-1 time courses up to `t_end`;
    the budget attack adds antagonists at the `candidates` τ2 under budgets `budget_factors` × the
    smallest L2*, with `pgd_steps` PGD steps."""

    L1: float = 1000.0
    L2: float = 30000.0
    tau_c: float = 3.0
    kinase: tuple[int, int] = (4, 2)
    tau2_range: tuple[float, float] = (0.01, 20.0)
    n_tau2: int
    t_end: float = 1e4
    candidates: tuple[float, ...]
    budget_factors: tuple[float, ...]
    pgd_steps: int
    seed: int = 0


def _models(cfg: Config) -> dict:
    """name → (model, τ_c used to place the agonists)."""
    N, m = cfg.kinase
    kinase = KinaseFeedback(N, m, tau_c=cfg.tau_c)
    return {
        "KPR (N=5)": (KineticProofreading(), 4.0),
        "SHP-1 (N=5, m=1)": (SHP1Feedback(), 4.0),
        f"kinase feedback (N={N}, m={m})": (kinase, cfg.tau_c),
        f"T_{{{N + 1},{m + 1}}} (its limit)": (kinase.limit(), cfg.tau_c),
        "T_{5,0}": (AdaptiveProofreading(5, 0, cfg.tau_c), cfg.tau_c),
        "T_{2,1}": (AdaptiveProofreading(2, 1, cfg.tau_c), cfg.tau_c),
    }


def _curves(cfg: Config) -> dict:
    """Every model's fold-change curve, its strongest antagonist on the grid and the critical
    point of its probe gradient."""
    tau2 = np.geomspace(cfg.tau2_range[0], cfg.tau2_range[1], cfg.n_tau2)
    models = []
    for name, (model, tau_c) in _models(cfg).items():
        tau1 = 2 * tau_c
        agonists = Ligands(jnp.asarray([tau1]), jnp.asarray([cfg.L1]))
        fc = np.asarray(jax.jit(lambda t: fold_change(model, agonists, t, cfg.L2))(jnp.asarray(tau2)))
        best = int(np.argmin(np.where(tau2 < tau1, fc, np.inf)))
        models.append(
            {
                "name": name,
                "tau1": tau1,
                "fc": fc,
                "best": best,
                "fc_min": float(fc[best]),
                "tau2_at_min": float(tau2[best]),
                "critical_point": float(critical_point(model, agonists, lower=tau2[0], upper=tau1)),
            }
        )
    return {"tau2": tau2, "models": models}


def _time_courses(cfg: Config) -> dict:
    """SHP-1 outputs from the unbound state, agonists alone (as a species of amount 0 beside
    them, so both mixtures share one compiled, vmapped integration) and with antagonists."""
    model = SHP1Feedback()
    times = np.concatenate([[0.0], np.geomspace(0.1, cfg.t_end, 80)])
    mixtures = Ligands(jnp.asarray([[8.0, 1.0], [8.0, 1.0]]), jnp.asarray([[cfg.L1, 0.0], [cfg.L1, cfg.L2]]))
    outputs = np.asarray(jax.jit(jax.vmap(lambda lig: time_course(model, lig, times)[1]))(mixtures))
    return {
        "times": times.tolist(),
        "threshold": float(model.threshold),
        "outputs": {"agonists": outputs[0].tolist(), "agonists + antagonists": outputs[1].tolist()},
    }


def _budget_attack(cfg: Config, key) -> dict:
    """Add antagonists to SHP-1's agonists until the cell switches off; compare with L2*."""
    model = SHP1Feedback()
    tau1, amount1 = 8.0, cfg.L1
    grid = np.asarray(cfg.candidates, dtype=float)
    boundary = np.asarray(decision_boundary(model, tau1, amount1, jnp.asarray(grid), method="numeric"))
    best = int(np.nanargmin(boundary))
    agonists = Ligands(jnp.asarray([tau1]), jnp.asarray([amount1]))
    budgets = [factor * boundary[best] for factor in cfg.budget_factors]
    attacks = antagonist_attack(model, agonists, grid, budgets, steps=cfg.pgd_steps, key=key)
    return {
        "boundary": boundary.tolist(),
        "grid": grid.tolist(),
        "best": best,
        "attacks": [{"factor": f, **a._asdict()} for f, a in zip(cfg.budget_factors, attacks)],
    }


def compute(run, cfg: Config) -> dict:
    """Fold-change curves, SHP-1 time courses and the budget attack (float64)."""
    with jax.enable_x64(True):  # the ODE steady states need float64 (never set globally)
        return {
            "antagonism": run.stage("fold-change", lambda: _curves(cfg)),
            "time_courses": run.stage("time-courses", lambda: _time_courses(cfg)),
            "budget_attack": run.stage("budget-attack", lambda: _budget_attack(cfg, jax.random.PRNGKey(cfg.seed))),
        }


# ----------------------------------------------------------------------------- verdicts


def antagonism_kind(best: int, fc_min: float) -> str:
    """Broad (the weakest ligands, the first of the grid, antagonise most), specialised (the
    strongest antagonist at an intermediate τ2) or none (no fold change below 0.9)."""
    if best == 0:
        return "broad (weakest ligands)"
    return "specialised" if fc_min < ANTAGONISM_BELOW else "–"


def kinds_note(names: list[str], kinds: list[str]) -> str:
    """Which models antagonise, and how, from their kinds (`antagonism_kind`)."""
    groups = {
        "specialised (the strongest antagonist at an intermediate τ2)": "specialised",
        "broad (the weakest ligands antagonise most)": "broad (weakest ligands)",
        f"no antagonism (FC ≥ {ANTAGONISM_BELOW:g}: a second species only competes for receptors)": "–",
    }
    parts = [
        f"{label}: {', '.join(n for n, k in zip(names, kinds) if k == kind)}"
        for label, kind in groups.items()
        if kind in kinds
    ]
    return "Antagonism by model — " + "; ".join(parts) + "."


def limit_note(kinase: str, limit: str, fc_min: tuple[float, float], tau2_at_min: tuple[float, float]) -> str:
    """Whether the kinase-feedback model follows its strong-feedback limit: the same strongest
    antagonist and a minimum fold change within 0.05."""
    close = tau2_at_min[0] == tau2_at_min[1] and abs(fc_min[0] - fc_min[1]) < 0.05
    verdict = "follows its limit" if close else "departs from its limit"
    return (
        f"The {kinase} model (rates near the strong-feedback limit) {verdict} {limit}: min FC "
        f"{fc_min[0]:.3g} vs {fc_min[1]:.3g} at τ2 = {tau2_at_min[0]:.3g} vs {tau2_at_min[1]:.3g} "
        "(exponents shift by one because binding itself is a proofreading step)."
    )


def budget_verdict(factors: list[float], switched_off: list[bool]) -> str:
    """Whether the engine's attack switches the cell off exactly when its budget exceeds the
    smallest numeric L2* (factor > 1)."""
    wrong = [f for f, off in zip(factors, switched_off) if off != (f > 1)]
    if not wrong:
        return "fails below min L2* and succeeds above it"
    return f"disagrees with L2* at budget factors {wrong} (it should fail below 1 and succeed above)"


# ----------------------------------------------------------------------------- render


def _plot(facts: dict, cfg: Config) -> Figure:
    fig = Figure(figsize=(12, 4.2))
    axes = fig.subplots(1, 2)
    curves, courses = facts["antagonism"], facts["time_courses"]
    tau2 = np.asarray(curves["tau2"])
    for c in curves["models"]:
        below = tau2 < c["tau1"]
        axes[0].plot(
            tau2[below] / c["tau1"],
            np.asarray(c["fc"])[below],
            "--" if c["name"].startswith("T_") else "-",
            label=c["name"],
        )
    axes[0].axhline(1, color="k", lw=0.6)
    axes[0].set(
        xscale="log",
        xlabel="τ2 / τ1 (agonists at τ1 = 2 τ_c)",
        ylabel="fold change FC",
        title=f"L1 = {cfg.L1:g} agonists + L2 = {cfg.L2:g} at τ2",
        ylim=(0, 1.3),
    )
    axes[0].legend(fontsize=7)
    times = np.asarray(courses["times"])
    for label, out in courses["outputs"].items():
        axes[1].plot(times[1:], np.asarray(out)[1:], label=label)
    axes[1].axhline(courses["threshold"], color="k", ls=":", label="threshold")
    axes[1].set(
        xscale="log",
        yscale="log",
        xlabel="time (s)",
        ylabel="output Σ C_N",
        title="SHP-1 model: response from the unbound state (τ1 = 8 s, antagonists τ2 = 1 s)",
    )
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def _model_row(c: dict) -> list:
    star = c["critical_point"]
    return [
        c["name"],
        c["tau1"],
        round(c["fc"][0], 4),
        round(c["fc_min"], 4),
        round(c["tau2_at_min"], 3),
        "yes" if c["fc_min"] < ANTAGONISM_BELOW else "no",
        antagonism_kind(c["best"], c["fc_min"]),
        "none" if np.isnan(star) else round(star, 3),
    ]


def _attack_row(a: dict) -> list:
    return [
        round(a["factor"], 3),
        round(a["budget"], 1),
        a["switched_off"],
        round(a["tau2_chosen"], 3),
        round(a["amount_added"], 1),
        round(a["output_after"], 4),
    ]


def render(cfg: Config, facts: dict) -> Rendered:
    models, attacked = facts["antagonism"]["models"], facts["budget_attack"]
    names = [c["name"] for c in models]
    kinds = [antagonism_kind(c["best"], c["fc_min"]) for c in models]
    kinase, limit = models[2], models[3]  # see `_models`
    boundary = ", ".join(f"{b:.1f}" for b in attacked["boundary"])
    attacks = attacked["attacks"]
    notes = [
        kinds_note(names, kinds),
        limit_note(
            kinase["name"],
            limit["name"],
            (kinase["fc_min"], limit["fc_min"]),
            (kinase["tau2_at_min"], limit["tau2_at_min"]),
        ),
        f"Budget attack on SHP-1 (agonists L1 = {cfg.L1:g} at τ1 = 8 s; candidates τ2 ∈ {attacked['grid']}): "
        f"numeric L2* per candidate [{boundary}]; the engine's PGD on the added amounts (turn-off objective "
        "through the steady state) "
        + budget_verdict([a["factor"] for a in attacks], [a["switched_off"] for a in attacks])
        + ".",
    ]
    columns = [
        "model",
        "τ1 (agonists)",
        "FC at smallest τ2",
        "min FC",
        "τ2 at min FC (strongest antagonist)",
        "antagonism (FC < 0.9)",
        "kind",
        "critical point τ* of the probe gradient",
    ]
    attack_columns = ["budget / min L2*", "budget", "switched off", "τ2 chosen", "amount added", "output after"]
    return Rendered(
        summary="Fold-change curves of the ODE models (steady states, closed form in float64) beside T_{N,m}; "
        "an amount-budget attack on the SHP-1 model through the engine.",
        tables=[
            Table("Antagonism by model", columns, [_model_row(c) for c in models]),
            Table(
                "Adding antagonists under a budget (SHP-1, PGD on amounts)",
                attack_columns,
                [_attack_row(a) for a in attacks],
            ),
        ],
        figures={"fold_change.png": _plot(facts, cfg)},
        notes=notes,
    )


register(
    Experiment(
        name="ode-antagonism",
        title="Antagonism in the ODE models (KPR, SHP-1, kinase feedback) beside T_{N,m}",
        paper="Rademaker et al. 2019 §II (models of François et al. 2013, Lalanne & François 2013)",
        presets={
            "quick": Config(
                n_tau2=80, candidates=(0.1, 0.5, 1.0, 2.0, 3.0, 4.0), budget_factors=(0.9, 1.1), pgd_steps=60
            ),
            "paper": Config(
                n_tau2=300,
                candidates=tuple(float(t) for t in np.round(np.geomspace(0.05, 6.0, 25), 3)),
                budget_factors=(0.5, 0.9, 0.99, 1.01, 1.1, 2.0),
                pgd_steps=200,
            ),
        },
        compute=compute,
        render=render,
    )
)
