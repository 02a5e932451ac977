"""antagonism-potential: T_{N,m} of agonists plus a second species, as a function of its τ.

Rademaker et al. 2019, v1 figure "antagonism potential": L1 = 4000 agonists at τ1 = τ_c = 3
(alone exactly on the boundary, T = 1) and L2 = 6000 ligands of binding time τ2 ∈ [0.01, 3).
T(τ2) is the fold change caused by the second species. For every (N, m) with m < N ≤ 5 we mark
the minimum of T (the strongest antagonist: where ∂T/∂τ2 = 0, `critical_point` of species 2)
and the inflection point (where T turns from concave to convex, `inflection_point` of
species 2), both found on grids of autodiff derivatives (`first_crossing`); a minimum at the left end
of the range (m = 0: the weakest ligands antagonise most) is reported as such, not as a root.
"""

from dataclasses import dataclass
from typing import Any

import equinox as eqx
import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .._ligands import Ligands
from ..analysis import critical_point, fold_change, inflection_point
from ..cells import AdaptiveProofreading
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """L1 agonists at τ1 plus L2 ligands at τ2 on a grid of `points` in `tau2_range`, for
    every 0 ≤ m < N ≤ `N_max`; critical and inflection points searched on `search_points`."""

    tau_c: float = 3.0
    tau1: float = 3.0
    amount1: float = 4000.0
    amount2: float = 6000.0
    tau2_range: tuple[float, float] = (0.01, 3.0)
    points: int
    search_points: int
    N_max: int = 5


@eqx.filter_jit
def _searches(model: AdaptiveProofreading, mixture: Ligands, agonists: Ligands, lo: float, hi: float, points: int):
    """The minimum and inflection point of T(τ2) in [lo, hi], and the agonists' probe critical
    point below hi: one compiled program per model."""
    search: dict[str, Any] = dict(species=1, lower=lo, upper=hi, grid_size=points)
    return (
        critical_point(model, mixture, **search),
        inflection_point(model, mixture, **search),
        critical_point(model, agonists, upper=hi, grid_size=points),
    )


def _curve(model: AdaptiveProofreading, cfg: Config) -> dict:
    """T(τ2) on the grid and its key numbers for one model."""
    lo, hi = cfg.tau2_range
    grid = np.linspace(lo, hi, cfg.points, endpoint=False)
    agonists = Ligands.of([cfg.tau1], [cfg.amount1])
    t_agonists = float(model(agonists))
    fc = np.asarray(fold_change(model, agonists, grid, cfg.amount2))
    mixture = Ligands.of([cfg.tau1, lo], [cfg.amount1, cfg.amount2])
    interior, inflection, probe = map(float, _searches(model, mixture, agonists, lo, hi, cfg.search_points))
    argmin = interior if np.isfinite(interior) else float(grid[np.argmin(fc)])
    fc_min = float(fold_change(model, agonists, argmin, cfg.amount2))
    return {
        "N": model.N,
        "m": model.m,
        "T": fc * t_agonists,
        "T_agonists": t_agonists,
        "argmin": argmin,
        "interior_minimum": bool(np.isfinite(interior)),
        "min_T": fc_min * t_agonists,
        "fold_change_at_min": fc_min,
        "inflection": inflection,
        "T_at_zero": float(fold_change(model, agonists, 0.0, cfg.amount2)) * t_agonists,
        # The probe's critical point of the agonists alone (a small-amount antagonist); they sit
        # on the boundary, so it is τ_c (m/N)^(1/(N−m)).
        "probe_critical_point": probe,
    }


def compute(run, cfg: Config) -> dict:
    """T(τ2) and its minimum, inflection point and probe critical point for every (N, m)."""
    lo, hi = cfg.tau2_range
    curves = [
        _curve(AdaptiveProofreading(N, m, tau_c=cfg.tau_c), cfg) for N in range(1, cfg.N_max + 1) for m in range(N)
    ]
    return {"tau2": np.linspace(lo, hi, cfg.points, endpoint=False), "curves": curves}


def _plot(facts: dict, cfg: Config) -> Figure:
    n_max = cfg.N_max
    fig = Figure(figsize=(3.3 * n_max, 3.4))
    axes = fig.subplots(1, n_max, sharey=True, squeeze=False)
    colours = matplotlib.colormaps["viridis"]
    tau2 = np.asarray(facts["tau2"])
    for c in facts["curves"]:
        ax = axes[0, c["N"] - 1]
        colour = colours(c["m"] / max(n_max - 1, 1))
        ax.plot(tau2, c["T"], color=colour, label=f"m={c['m']}")
        ax.plot([c["argmin"]], [c["min_T"]], "o", color=colour, ms=5)
        if np.isfinite(c["inflection"]):
            t_inf = float(np.interp(c["inflection"], tau2, c["T"]))
            ax.plot([c["inflection"]], [t_inf], "x", color=colour, ms=7, mew=2)
    for N in range(1, n_max + 1):
        ax = axes[0, N - 1]
        ax.axhline(1.0, color="k", lw=0.6, ls=":")
        ax.set(title=f"N = {N}", xlabel="τ2 (second species)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[0, 0].set_ylabel("$T_{N,m}$ (= fold change)")
    fig.suptitle(
        f"Antagonism potential: L1 = {cfg.amount1:g} agonists at τ1 = {cfg.tau1:g}, "
        f"L2 = {cfg.amount2:g} at τ2 (τ_c = {cfg.tau_c:g}); o minimum, x inflection point",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _number(value: float, digits: int = 4):
    return round(value, digits) if np.isfinite(value) else "none"


def render(cfg: Config, facts: dict) -> Rendered:
    rows = [
        [
            c["N"],
            c["m"],
            _number(c["argmin"]) if c["interior_minimum"] else f"{c['argmin']:g} (edge)",
            _number(c["min_T"]),
            _number(c["inflection"]),
            _number(c["fold_change_at_min"]),
            _number(c["T_at_zero"]),
            _number(c["probe_critical_point"]),
        ]
        for c in facts["curves"]
    ]
    columns = [
        "N",
        "m",
        "argmin τ2",
        "min T",
        "inflection τ2",
        "fold change at min",
        "T(τ2→0)",
        "probe τ* of the agonists",
    ]
    summary = (
        f"T_{{N,m}} of {cfg.amount1:g} agonists at τ1 = τ_c = {cfg.tau1:g} plus {cfg.amount2:g} "
        f"ligands at τ2 ∈ [{cfg.tau2_range[0]:g}, {cfg.tau2_range[1]:g}) on {cfg.points} points, "
        f"for all 0 ≤ m < N ≤ {cfg.N_max}. The agonists alone give T = 1, so T is the fold change."
    )
    notes = [
        "argmin τ2: the root of ∂T/∂τ2 (autodiff gradient on a grid, refined on finer grids inside the bracket); "
        "'(edge)' where T has no interior minimum and is smallest at the left end of the range (m = 0: broad "
        "antagonism, the weakest ligands antagonise most).",
        "inflection τ2: where ∂²T/∂τ2² turns from − to + (T concave → convex); none for m ≤ 1.",
        f"T(τ2→0) is T at τ2 = 0: L1/(L1 + L2) = {cfg.amount1 / (cfg.amount1 + cfg.amount2):.3g} for "
        f"m = 0 (self antagonises), 1 for m ≥ 1 (it does not).",
        "probe τ*: the critical point of the gradient felt by a small amount of ligand in the agonists' "
        "distribution, τ_c (m/N)^(1/(N−m)) since they sit on the boundary (the limit L2 → 0 of argmin τ2). With "
        f"L2 = {cfg.amount2:g} the strongest antagonist sits below it (a larger L2 lowers the root of "
        "(N−m) L2 τ^N + N L1 τ1^m τ^(N−m) = m L1 τ1^N), and closer to τ_c as m grows (specialised antagonism).",
    ]
    return Rendered(
        summary=summary,
        tables=[Table("Antagonism potential: key numbers per (N, m)", columns, rows)],
        figures={"antagonism_potential.png": _plot(facts, cfg)},
        notes=notes,
    )


EXPERIMENT = register(
    Experiment(
        name="antagonism-potential",
        title="Antagonism potential: T_{N,m} of agonists plus a second species of binding time τ2",
        paper="Rademaker et al. 2019 (v1 fig. 'antagonism potential')",
        presets={"quick": Config(points=300, search_points=256), "paper": Config(points=3000, search_points=2048)},
        compute=compute,
        render=render,
        tags=("cells", "antagonism"),
    )
)
