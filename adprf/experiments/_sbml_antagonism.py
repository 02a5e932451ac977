"""sbml-antagonism: the SHP-1 model attacked through SBML gives the built-in model's antagonism.

The SHP-1 feedback model (François et al., PNAS 2013; the cell of Rademaker et al. 2019, §II) is
written to SBML (`cells.to_sbml`, reactions with mass-action kinetic laws) and read back as a
generic network (`cells.from_sbml`): nothing of the built-in model's code or closed form is left,
only the document. On that path: the fold-change curve FC(τ2) of agonists plus a second ligand,
and the amount-budget attack of `ode-antagonism` (the engine adds antagonists until the cell
switches off), each beside the built-in model's (closed-form steady state). The SBML path's steady
states come from the network's own equations (a pseudo-transient continuation from its initial
state, then Newton's method), its gradients from the implicit function theorem. This is how a
user attacks a network they did not write.
"""

import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .._ligands import Ligands
from ..analysis import antagonist_attack, decision_boundary, fold_change
from ..cells import SHP1Feedback
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register

TAU1 = 8.0  # the agonists' binding time (s), as in ode-antagonism's budget attack


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """L1 agonists at τ1 = 8 s; the curve adds L2 ligands at `n_tau2` binding times in `tau2_range`
    (log-spaced); the attack adds antagonists at the `candidates` τ2 under budgets `budget_factors`
    × the smallest L2* of the built-in model, with `pgd_steps` PGD steps."""

    L1: float = 1000.0
    L2: float = 30000.0
    tau2_range: tuple[float, float] = (0.05, 7.0)
    n_tau2: int
    candidates: tuple[float, ...]
    budget_factors: tuple[float, ...]
    pgd_steps: int
    seed: int = 0


def _sbml_cell(model: SHP1Feedback, ligands: int):
    """`model` through SBML: exported with `ligands` ligand species, read back as a network."""
    from ..cells import from_sbml, to_sbml  # the SBML stack, imported when this experiment runs

    placeholder = Ligands(jnp.full((ligands,), TAU1), jnp.ones((ligands,)))
    slots = [{"amount": f"L_{i}", "tau": f"tau_{i}"} for i in range(ligands)]
    return from_sbml(to_sbml(model, placeholder), ligands=slots, output="output", threshold=model.threshold)


def _timed(fn):
    start = time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - start


def _curves(cfg: Config) -> dict:
    """FC(τ2) of the built-in model and of its SBML round trip."""
    model = SHP1Feedback()
    agonists = Ligands(jnp.asarray([TAU1]), jnp.asarray([cfg.L1]))
    tau2 = jnp.asarray(np.geomspace(*cfg.tau2_range, cfg.n_tau2))
    cells = {"built-in (closed form)": model, "SBML (generic network)": _sbml_cell(model, 2)}
    out = {"tau2": np.asarray(tau2).tolist(), "curves": {}, "seconds": {}}
    for name, cell in cells.items():
        fc, seconds = _timed(lambda: jax.jit(lambda t: fold_change(cell, agonists, t, cfg.L2))(tau2))
        out["curves"][name], out["seconds"][name] = np.asarray(fc).tolist(), seconds
    return out


def _attacks(cfg: Config, key) -> dict:
    """The budget attack on both paths, budgets relative to the built-in model's smallest L2*."""
    model = SHP1Feedback()
    grid = np.asarray(cfg.candidates, dtype=float)
    boundary = np.asarray(decision_boundary(model, TAU1, cfg.L1, jnp.asarray(grid), method="numeric"))
    budgets = [factor * float(np.nanmin(boundary)) for factor in cfg.budget_factors]
    agonists = Ligands(jnp.asarray([TAU1]), jnp.asarray([cfg.L1]))
    cells = {"built-in (closed form)": model, "SBML (generic network)": _sbml_cell(model, 1 + grid.size)}
    out = {"grid": grid.tolist(), "boundary": boundary.tolist(), "attacks": {}, "seconds": {}}
    for name, cell in cells.items():
        found, seconds = _timed(lambda: antagonist_attack(cell, agonists, grid, budgets, steps=cfg.pgd_steps, key=key))
        out["attacks"][name] = [{"factor": f, **a._asdict()} for f, a in zip(cfg.budget_factors, found)]
        out["seconds"][name] = seconds
    return out


def compute(run, cfg: Config) -> dict:
    """Both curves and both attacks (float64: the steady states need it)."""
    with jax.enable_x64(True):
        return {
            "curves": run.stage("fold-change", lambda: _curves(cfg)),
            "attacks": run.stage("budget-attack", lambda: _attacks(cfg, jax.random.PRNGKey(cfg.seed))),
        }


def agreement_note(curves: dict) -> str:
    """The largest relative difference between the two fold-change curves."""
    built_in, sbml = (np.asarray(c) for c in curves["curves"].values())
    gap = float(np.max(np.abs(sbml - built_in) / np.abs(built_in)))
    verdict = "the same curve" if gap < 1e-5 else "NOT the same curve"
    return (
        f"Fold change through SBML vs built-in: largest relative difference {gap:.1e} over "
        f"{len(built_in)} binding times: {verdict}."
    )


def attack_note(attacks: dict) -> str:
    """Whether both paths switch the cell off at the same budgets and choose the same antagonist."""
    built_in, sbml = attacks["attacks"].values()
    same = all(
        a["switched_off"] == b["switched_off"] and a["tau2_chosen"] == b["tau2_chosen"] for a, b in zip(built_in, sbml)
    )
    return (
        "Budget attack: "
        + (
            "the SBML path switches the cell off at the same budgets and picks the same antagonist τ2"
            if same
            else "the two paths DISAGREE (see the table)"
        )
        + f"; smallest L2* of the built-in model {np.nanmin(attacks['boundary']):.1f}."
    )


def _plot(facts: dict, cfg: Config) -> Figure:
    fig = Figure(figsize=(6.5, 4.2))
    ax = fig.subplots()
    tau2 = np.asarray(facts["curves"]["tau2"])
    for (name, fc), style in zip(facts["curves"]["curves"].items(), ("-", "--")):
        ax.plot(tau2, fc, style, lw=2 if style == "-" else 1.5, label=name)
    ax.axhline(1, color="k", lw=0.6)
    ax.set(
        xscale="log",
        xlabel="τ2 (s)",
        ylabel="fold change FC",
        title=f"SHP-1: L1 = {cfg.L1:g} at τ1 = {TAU1:g} s + L2 = {cfg.L2:g} at τ2",
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def render(cfg: Config, facts: dict) -> Rendered:
    curves, attacks = facts["curves"], facts["attacks"]
    rows = []
    for name, found in attacks["attacks"].items():
        for a in found:
            rows.append(
                [
                    name,
                    a["factor"],
                    round(a["budget"], 1),
                    a["switched_off"],
                    a["tau2_chosen"],
                    round(a["amount_added"], 1),
                    round(a["output_after"], 4),
                ]
            )
    timing = [
        [name, round(curves["seconds"][name], 2), round(attacks["seconds"][name], 2)] for name in curves["seconds"]
    ]
    return Rendered(
        summary=(
            "The SHP-1 model written to SBML and read back as a generic network, beside the built-in model: "
            f"fold change of {cfg.L1:g} agonists at τ1 = {TAU1:g} s plus {cfg.L2:g} ligands at τ2, and the engine's "
            f"amount-budget attack (PGD-{cfg.pgd_steps} on added antagonists at τ2 ∈ {list(cfg.candidates)})."
        ),
        tables=[
            Table(
                "Budget attack: built-in vs SBML",
                ["path", "budget / min L2*", "budget", "switched off", "τ2 chosen", "amount added", "output after"],
                rows,
            ),
            Table("Compute (compilation included)", ["path", "fold-change curve s", "budget attacks s"], timing),
        ],
        figures={"sbml_fold_change.png": _plot(facts, cfg)},
        notes=[agreement_note(curves), attack_note(attacks)],
    )


EXPERIMENT = register(
    Experiment(
        name="sbml-antagonism",
        title="Attacking a network through SBML: the SHP-1 model's antagonism, exported and read back",
        paper="Rademaker et al. 2019 §II (SHP-1 model of François et al. 2013), through SBML",
        presets={
            "quick": Config(n_tau2=24, candidates=(0.5, 1.0, 2.0, 4.0), budget_factors=(0.9, 1.1), pgd_steps=40),
            "paper": Config(
                n_tau2=100,
                candidates=tuple(float(t) for t in np.round(np.geomspace(0.05, 6.0, 12), 3)),
                budget_factors=(0.5, 0.9, 1.1, 2.0),
                pgd_steps=200,
            ),
        },
        compute=compute,
        render=render,
    )
)
