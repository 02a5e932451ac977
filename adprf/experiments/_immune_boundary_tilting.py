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

from dataclasses import dataclass
from typing import cast

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..analysis import decision_boundary
from ..cells import AdaptiveProofreading
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """L2* on a `points` × `points` grid of τ1 ∈ `tau1_range` and log10 L1 ∈ `log10_amount1_range`,
    for every model (N, m) of `models` and every second species (`species`, binding time `tau2`)."""

    tau_c: float = 4.0
    tau1_range: tuple[float, float] = (4.0, 6.0)
    log10_amount1_range: tuple[float, float] = (0.0, 4.0)
    species: tuple[str, ...] = ("self", "antagonist")
    tau2: tuple[float, ...] = (0.1, 3.0)
    models: tuple[tuple[int, int], ...] = ((1, 0), (5, 3))
    points: int


def _panels(cfg: Config):
    """(N, m), species and τ2 of every panel: models × second species."""
    for N, m in cfg.models:
        for label, tau2 in zip(cfg.species, cfg.tau2, strict=True):
            yield (N, m), label, tau2


def _grid(cfg: Config) -> tuple[np.ndarray, np.ndarray]:
    tau1 = np.linspace(*cfg.tau1_range, cfg.points)
    log_amount1 = np.linspace(*cfg.log10_amount1_range, cfg.points)
    return tau1, log_amount1


def _log10(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(values)


def _panel(model: AdaptiveProofreading, label: str, tau2: float, tau1, log_amount1, corners) -> dict:
    """L2* of one panel over the grid, its key numbers, and the numeric root find at the corners."""
    tau1_mesh, log_amount1_mesh = np.meshgrid(tau1, log_amount1, indexing="ij")
    amount2 = np.asarray(decision_boundary(model, tau1_mesh, 10.0**log_amount1_mesh, tau2))
    log_amount2 = _log10(amount2)
    finite = np.isfinite(log_amount2)
    corner_tau1, corner_log_l1 = np.asarray(corners).T
    closed = np.asarray(decision_boundary(model, corner_tau1, 10.0**corner_log_l1, tau2))
    numeric = np.asarray(decision_boundary(model, corner_tau1, 10.0**corner_log_l1, tau2, method="numeric"))
    return {
        "N": model.N,
        "m": model.m,
        "species": label,
        "tau2": tau2,
        "L2_over_L1": amount2[:, 0] / 10.0 ** log_amount1[0],  # along τ1 (the same for every L1)
        "log10_L2_min": float(log_amount2[finite].min()),
        "log10_L2_max": float(log_amount2[finite].max()),
        "L2_at_corners": closed,
        "L2_numeric_at_corners": numeric,
        "numeric_vs_closed_max_rel_diff": float(np.max(np.abs(numeric / closed - 1))),
        "zero_cells": int(np.sum(amount2 == 0)),
        "nan_cells": int(np.sum(np.isnan(amount2))),
        "log10_L2": np.round(log_amount2, 4),  # the surface the figure shows (to 10^-4)
    }


def compute(run, cfg: Config) -> dict:
    """L2* over the grid for every panel (closed form), checked against the numeric root find."""
    tau1, log_amount1 = _grid(cfg)
    corners = [(tau1[-1], log_amount1[0]), (tau1[-1], log_amount1[-1]), (tau1[1], log_amount1[0])]
    boundaries = [
        _panel(AdaptiveProofreading(N, m, tau_c=cfg.tau_c), label, tau2, tau1, log_amount1, corners)
        for (N, m), label, tau2 in _panels(cfg)
    ]
    by_panel = {(b["N"], b["m"], b["species"]): b for b in boundaries}
    # L2* of self over L2* of antagonists at the largest τ1, per model
    self_over_antagonist = [
        float(by_panel[(N, m, "self")]["L2_over_L1"][-1] / by_panel[(N, m, "antagonist")]["L2_over_L1"][-1])
        for N, m in cfg.models
    ]
    return {
        "tau1": tau1,
        "log10_amount1": log_amount1,
        "boundaries": boundaries,
        "self_over_antagonist": self_over_antagonist,
    }


# ----------------------------------------------------------------------------- verdicts


def cheaper_species(models: list[str], self_over_antagonist: list[float]) -> str:
    """Which second species fools each model more cheaply, from L2*(self) / L2*(antagonist)."""
    parts = []
    for model, ratio in zip(models, self_over_antagonist, strict=True):
        if ratio < 1:
            parts.append(f"{model} is fooled more cheaply by self ligands ({ratio:.3g}× the antagonist amount)")
        elif ratio > 1:
            parts.append(f"{model} is fooled more cheaply by antagonists (self needs {ratio:.3g}× their amount)")
        else:
            parts.append(f"{model} is fooled equally cheaply by both")
    return "; ".join(parts) + "."


def agreement_note(max_rel_diff: float, tolerance: float = 1e-4) -> str:
    """Whether the numeric root find agrees with the closed form at the corners."""
    verdict = "agrees with" if max_rel_diff <= tolerance else "departs from"
    return (
        "The numeric root find (log-spaced grid in L2, then finer grids inside the bracket) "
        f"{verdict} the closed form at the corners (largest relative difference {max_rel_diff:.1e}, "
        f"tolerance {tolerance:g})."
    )


# ----------------------------------------------------------------------------- render


def _plot(facts: dict, cfg: Config) -> Figure:
    n_rows, n_cols = len(cfg.models), len(cfg.tau2)
    fig = Figure(figsize=(5.2 * n_cols, 4.0 * n_rows))
    axes = fig.subplots(n_rows, n_cols, squeeze=False)
    tau1, log_amount1 = np.asarray(facts["tau1"]), np.asarray(facts["log10_amount1"])
    for (row, col), b in zip(np.ndindex(axes.shape), facts["boundaries"]):
        ax = cast(Axes, axes[row, col])
        z = np.ma.masked_invalid(np.asarray(b["log10_L2"], np.float64))
        image = ax.contourf(tau1, log_amount1, z.T, levels=20, cmap="viridis")
        ax.contour(
            tau1, log_amount1, z.T, levels=np.asarray(image.levels)[::4], colors="w", linewidths=0.5, linestyles="solid"
        )
        fig.colorbar(image, ax=ax, label="log10 L2*")
        ax.set(
            title=f"(N, m) = ({b['N']}, {b['m']}), τ2 = {b['tau2']:g} ({b['species']})",
            xlabel="τ1 (agonist binding time)",
            ylabel="log10 L1 (agonist amount)",
        )
    fig.suptitle(
        f"Boundary tilting: amount L2* of the second species that brings the agonists to T = 1 (τ_c = {cfg.tau_c:g})",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _number(value: float):
    return float(f"{value:.4g}") if np.isfinite(value) else "none"


def _row(b: dict, mid: int) -> list:
    return [
        f"({b['N']}, {b['m']})",
        f"{b['tau2']:g} ({b['species']})",
        _number(b["L2_over_L1"][mid]),
        _number(b["L2_over_L1"][-1]),
        round(b["log10_L2_min"], 3),
        round(b["log10_L2_max"], 3),
        _number(b["L2_at_corners"][0]),
        _number(b["L2_at_corners"][1]),
        f"{b['numeric_vs_closed_max_rel_diff']:.1e}",
        f"{b['zero_cells']} / {b['nan_cells']}",
    ]


def render(cfg: Config, facts: dict) -> Rendered:
    tau1, log_amount1 = np.asarray(facts["tau1"]), np.asarray(facts["log10_amount1"])
    mid = int(np.argmin(np.abs(tau1 - 0.5 * (tau1[0] + tau1[-1]))))
    columns = [
        "(N, m)",
        "τ2",
        f"L2*/L1 at τ1={tau1[mid]:.3g}",
        f"L2*/L1 at τ1={tau1[-1]:g}",
        "min log10 L2*",
        "max log10 L2*",
        f"L2* (τ1={tau1[-1]:g}, L1=10^{log_amount1[0]:g})",
        f"L2* (τ1={tau1[-1]:g}, L1=10^{log_amount1[-1]:g})",
        "numeric vs closed (rel.)",
        "cells L2*=0 / NaN",
    ]
    summary = (
        f"log10 L2* over τ1 ∈ [{cfg.tau1_range[0]:g}, {cfg.tau1_range[1]:g}] × log10 L1 ∈ "
        f"[{cfg.log10_amount1_range[0]:g}, {cfg.log10_amount1_range[1]:g}] ({cfg.points}² grid), "
        f"τ_c = {cfg.tau_c:g}, from the closed form of T_{{N,m}}; filled contours "
        f"({len(facts['boundaries'])} panels)."
    )
    models = [f"({N}, {m})" for N, m in cfg.models]
    notes = [
        "L2* = L1 · r(τ1, τ2) for T_{N,m}: the surfaces are planes of slope 1 in log10 L1, so L2*/L1 depends on τ1 "
        "only; the min/max of log10 L2* exclude the τ1 = τ_c column, where L2* = 0 (agonists alone on the boundary).",
        f"At τ1 = {tau1[-1]:g}: " + cheaper_species(models, facts["self_over_antagonist"]),
        agreement_note(max(b["numeric_vs_closed_max_rel_diff"] for b in facts["boundaries"])),
    ]
    return Rendered(
        summary=summary,
        tables=[Table("Boundary tilting: key numbers per panel", columns, [_row(b, mid) for b in facts["boundaries"]])],
        figures={"boundary_tilting.png": _plot(facts, cfg)},
        notes=notes,
    )


register(
    Experiment(
        name="immune-boundary-tilting",
        title="Boundary tilting for immune recognition: L2* over agonist quality and quantity",
        paper="Rademaker et al. 2019 (v1 fig. 'boundary tilting for immune recognition')",
        presets={"quick": Config(points=41), "paper": Config(points=201)},
        compute=compute,
        render=render,
        tags=("cells", "antagonism"),
    )
)
