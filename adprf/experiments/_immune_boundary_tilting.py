"""immune-boundary-tilting: how much of a second species brings agonists to the boundary.

Rademaker et al. 2019, v1 figure "boundary tilting for immune recognition": for agonists of
binding time τ1 ∈ [4, 6] and amount L1 ∈ [1, 10^4] (τ_c = 4, so alone they respond), L2* is
the amount of a second species (self, τ2 = 0.1, or antagonist, τ2 = 3) that brings the
mixture to T = 1, for the linear model (N, m) = (1, 0) and for (5, 3). For T_{N,m},
L2* = L1 · r(τ1, τ2), so log10 L2* is a plane of slope 1 in log10 L1, shifted by log10 r(τ1):
the boundary is tilted, and how far depends on τ2 and (N, m). The linear model is fooled more
cheaply by self than by antagonists; (5, 3) ignores self (10^4 times more needed) and is
fooled by antagonists.

Surfaces are drawn as filled contours (a 2-D view reads better than a 3-D surface and shows
the same level sets). At τ1 = τ_c the agonists alone sit on the boundary, L2* = 0 and
log10 L2* = −∞: that column is left blank. The closed form gives the surfaces; the numeric
root find of `decision_boundary` is checked against it at the corners.
"""

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .._results import Run
from ..analysis import decision_boundary
from ..cells import AdaptiveProofreading
from ._registry import LegacyExperiment as Experiment, register


def _panels(cfg: dict):
    for N, m in cfg["models"]:
        for label, tau2 in cfg["tau2"].items():
            yield (N, m), label, tau2


def _grid(cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    tau1 = np.linspace(*cfg["tau1_range"], cfg["points"])
    log_amount1 = np.linspace(*cfg["log10_amount1_range"], cfg["points"])
    return tau1, log_amount1


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)


def _plot(surfaces: dict, tau1, log_amount1, cfg: dict):
    fig, axes = plt.subplots(
        len(cfg["models"]), len(cfg["tau2"]), figsize=(5.2 * len(cfg["tau2"]), 4.0 * len(cfg["models"])), squeeze=False
    )
    for (row, col), ((N, m), label, tau2) in zip(np.ndindex(axes.shape), _panels(cfg)):
        ax = axes[row, col]
        z = np.ma.masked_invalid(surfaces[(N, m, label)])
        image = ax.contourf(tau1, log_amount1, z.T, levels=20, cmap="viridis")
        ax.contour(tau1, log_amount1, z.T, levels=image.levels[::4], colors="w", linewidths=0.5, linestyles="solid")
        fig.colorbar(image, ax=ax, label="log10 L2*")
        ax.set(
            title=f"(N, m) = ({N}, {m}), τ2 = {tau2:g} ({label})",
            xlabel="τ1 (agonist binding time)",
            ylabel="log10 L1 (agonist amount)",
        )
    fig.suptitle(
        f"Boundary tilting: amount L2* of the second species that brings the agonists to T = 1 "
        f"(τ_c = {cfg['tau_c']:g})",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _number(value: float):
    return float(f"{value:.4g}") if np.isfinite(value) else "none"


def run(run: Run) -> dict:
    cfg = run.config
    tau1, log_amount1 = _grid(cfg)
    tau1_mesh, log_amount1_mesh = np.meshgrid(tau1, log_amount1, indexing="ij")
    corners = [(tau1[-1], log_amount1[0]), (tau1[-1], log_amount1[-1]), (tau1[1], log_amount1[0])]
    surfaces, numbers, rows = {}, {"tau1": tau1, "log10_amount1": log_amount1, "panels": {}}, []
    for (N, m), label, tau2 in _panels(cfg):
        model = AdaptiveProofreading(N, m, tau_c=cfg["tau_c"])
        amount2 = np.asarray(decision_boundary(model, tau1_mesh, 10.0**log_amount1_mesh, tau2))
        log_amount2 = _log10(amount2)
        surfaces[(N, m, label)] = log_amount2
        finite = np.isfinite(log_amount2)
        corner_tau1, corner_log_l1 = np.asarray(corners).T
        closed = np.asarray(decision_boundary(model, corner_tau1, 10.0**corner_log_l1, tau2))
        numeric = np.asarray(decision_boundary(model, corner_tau1, 10.0**corner_log_l1, tau2, method="numeric"))
        ratio = amount2[:, 0] / 10.0 ** log_amount1[0]  # L2*/L1 along τ1 (the same for every L1)
        panel = {
            "N": N,
            "m": m,
            "tau2": tau2,
            "L2_over_L1": ratio,
            "log10_L2_min": float(log_amount2[finite].min()),
            "log10_L2_max": float(log_amount2[finite].max()),
            "L2_at_corners": closed,
            "L2_numeric_at_corners": numeric,
            "numeric_vs_closed_max_rel_diff": float(np.max(np.abs(numeric / closed - 1))),
            "zero_cells": int(np.sum(amount2 == 0)),
            "nan_cells": int(np.sum(np.isnan(amount2))),
        }
        numbers["panels"][f"{N},{m},{label}"] = panel
        mid = int(np.argmin(np.abs(tau1 - 0.5 * (tau1[0] + tau1[-1]))))
        rows.append(
            [
                f"({N}, {m})",
                f"{tau2:g} ({label})",
                _number(ratio[mid]),
                _number(ratio[-1]),
                round(panel["log10_L2_min"], 3),
                round(panel["log10_L2_max"], 3),
                _number(closed[0]),
                _number(closed[1]),
                f"{panel['numeric_vs_closed_max_rel_diff']:.1e}",
                f"{panel['zero_cells']} / {panel['nan_cells']}",
            ]
        )
    run.save_figure(_plot(surfaces, tau1, log_amount1, cfg), "boundary_tilting.png")
    mid_tau1 = tau1[int(np.argmin(np.abs(tau1 - 0.5 * (tau1[0] + tau1[-1]))))]
    columns = [
        "(N, m)",
        "τ2",
        f"L2*/L1 at τ1={mid_tau1:.3g}",
        f"L2*/L1 at τ1={tau1[-1]:g}",
        "min log10 L2*",
        "max log10 L2*",
        f"L2* (τ1={tau1[-1]:g}, L1=10^{log_amount1[0]:g})",
        f"L2* (τ1={tau1[-1]:g}, L1=10^{log_amount1[-1]:g})",
        "numeric vs closed (rel.)",
        "cells L2*=0 / NaN",
    ]
    summary = (
        f"log10 L2* over τ1 ∈ [{cfg['tau1_range'][0]:g}, {cfg['tau1_range'][1]:g}] × log10 L1 ∈ "
        f"[{cfg['log10_amount1_range'][0]:g}, {cfg['log10_amount1_range'][1]:g}] ({cfg['points']}² grid), "
        f"τ_c = {cfg['tau_c']:g}, from the closed form of T_{{N,m}}; filled contours (4 panels)."
    )
    panels = numbers["panels"]
    self_vs_antagonist = {
        f"({N}, {m})": panels[f"{N},{m},self"]["L2_over_L1"][-1] / panels[f"{N},{m},antagonist"]["L2_over_L1"][-1]
        for N, m in cfg["models"]
    }
    numbers["self_over_antagonist_L2"] = self_vs_antagonist
    notes = [
        "L2* = L1 · r(τ1, τ2) for T_{N,m}: the surfaces are planes of slope 1 in log10 L1, so L2*/L1 depends on τ1 "
        "only; the min/max of log10 L2* exclude the τ1 = τ_c column, where L2* = 0 (agonists alone on the boundary).",
        "Self needs "
        + ", ".join(f"{v:.3g}× the antagonist amount under {k}" for k, v in self_vs_antagonist.items())
        + ": the linear model is fooled more cheaply by self ligands, (5, 3) ignores self and is fooled by "
        "antagonists.",
        "The numeric root find (log-spaced grid in L2, then finer grids inside the bracket) agrees with the closed "
        "form at the corners to the relative difference shown.",
    ]
    return {
        "summary": summary,
        "tables": [{"title": "Boundary tilting: key numbers per panel", "columns": columns, "rows": rows}],
        "numbers": numbers,
        "notes": notes,
    }


_PRESET = {
    "tau_c": 4.0,
    "tau1_range": [4.0, 6.0],
    "log10_amount1_range": [0.0, 4.0],
    "tau2": {"self": 0.1, "antagonist": 3.0},
    "models": [[1, 0], [5, 3]],
}

register(
    Experiment(
        name="immune-boundary-tilting",
        title="Boundary tilting for immune recognition: L2* over agonist quality and quantity",
        paper="Rademaker et al. 2019 (v1 fig. 'boundary tilting for immune recognition')",
        presets={"quick": {**_PRESET, "points": 41}, "paper": {**_PRESET, "points": 201}},
        run=run,
        tags=("cells", "antagonism"),
    )
)
