"""ligand-boundary: gradient descent of a ligand distribution to the decision boundary of T_{N,m}.

Rademaker et al. 2019, v1 figure "ligand distribution at the boundary" (the v1 protocol,
exactly). R = 10201 ligands (a 101 × 101 image), 30% agonists at τ ~ 3.5 + N(0, 0.1) and self
ligands at τ = |N(0, 1/3)|, all of amount 1; τ_c = 3. For every (N, m) with 0 ≤ m < N ≤ 5, while
T_{N,m} > 1 and at most `max_iterations` times: τ_i ← τ_i − 0.2 ∂T/∂τ_i for the ligands whose
clean τ_i < τ_c (raw gradient, no sign), a τ pushed below 0 is reset to 0.1. The descent stops at
the first T ≤ 1. It runs through adprf's one attack engine (`adprf.analysis.boundary_descent`:
`GradientDescent(step_size=0.2)`, the `turn_off` objective, the `v1_descent` threat).

Choices (open in the paper, or ours):

- **Iterations.** The reported count is the number of updates applied before the first T ≤ 1
  (0 if the clean distribution already has T ≤ 1). The v1 script's printed counter is this
  number + 2 (its loop tests the T of the previous iterate and starts at 1), and its final
  distribution is one update past the first T ≤ 1; ours is the first distribution with T ≤ 1.
  A descent that reaches the cap is reported as such, with its last (lowest-T) distribution.
- **Compilations** (`share_compilation`). One engine call per (N, m); sharing one compilation
  for the grid (`OneOf`) pays off for small R only (see `adprf.analysis.boundary_descent`), so
  both presets compile once per model.
- **Precision.** float64 by default (`dtype`): at R = 10201 over 10⁵ iterations float32 rounding
  shifts the stopping iteration by several steps; the computation runs inside
  `jax.enable_x64(True)`, never flipping the global config.
- **Binned variant** (`bin_width`, v1: 0.2; default `None`, continuous τ). The v1 scripts keep
  every ligand's τ but let the cell read the histogram (`HistogramReadout`): the ligands are
  counted in bins of `bin_width` from 0, T is evaluated on the bin centres with the counts as
  amounts, and every ligand moves by −0.2 ∂T/∂τ_b of its bin. Unlike v1 (whose bins stop at 3.5
  and so drop the agonists above it), the bins cover every ligand.
- **Images.** The ligands sit at random positions of the √R × √R image (v1 also drew a random
  permutation); pixels show τ clipped to [0, τ_c] (the v1 "immune picture": agonists white),
  recorded to 0.01.
- **Where ligands pile up.** For m ≥ 1 the probe gradient vanishes at the critical point τ*,
  τ_c (m/N)^(1/(N−m)) on the boundary (`AdaptiveProofreading.boundary_critical_point`); the
  table gives it, τ* of the final distribution (`AdaptiveProofreading.critical_binding_time`;
  it differs from the boundary value when the cap stops the descent with T > 1), and where the
  movable ligands end up: their 99th percentile (the front of the flow towards τ*) and the share
  within 0.1 of τ*.
"""

import math
from dataclasses import dataclass
from typing import cast

import jax
import jax.numpy as jnp
import matplotlib.ticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._ligands import Ligands, v1_mixture
from ..analysis import BoundaryDescent, boundary_descent
from ..cells import AdaptiveProofreading, proofreading_grid
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register

HISTOGRAM_BINS = 80
"""The number of bin edges of the figure's binding-time histograms (from 0 to the largest τ)."""


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """The v1 descent of `n_ligands` ligands (a perfect square: they form an image) for every
    0 ≤ m < N ≤ `N_max`, at most `max_iterations` updates each."""

    tau_c: float = 3.0
    agonist_fraction: float = 0.3
    step_size: float = 0.2
    reset: float = 0.1
    N_max: int = 5
    seed: int = 0
    bin_width: float | None = None
    dtype: str = "float64"
    n_ligands: int = 10201
    max_iterations: int
    share_compilation: bool = False


def initial_distribution(cfg: Config) -> Ligands:
    """The v1 distribution of the config (`n_ligands`, `agonist_fraction`, `seed`) at random
    positions of the image, in the config's `dtype` (call inside `jax.enable_x64` for float64)."""
    key = jax.random.PRNGKey(cfg.seed)
    ligands = v1_mixture(key, cfg.n_ligands, cfg.agonist_fraction)
    order = jax.random.permutation(jax.random.fold_in(key, 1), ligands.size)
    dtype = jnp.float64 if cfg.dtype == "float64" else jnp.float32
    return Ligands(ligands.tau[order].astype(dtype), ligands.amount[order].astype(dtype))


def _descend(cfg: Config, ligands: Ligands, grid) -> BoundaryDescent:
    """`boundary_descent` with the config's protocol settings."""
    return boundary_descent(
        ligands,
        grid,
        tau_c=cfg.tau_c,
        step_size=cfg.step_size,
        reset=cfg.reset,
        max_iterations=cfg.max_iterations,
        bin_width=cfg.bin_width,
        share_compilation=cfg.share_compilation,
    )


def pile_up(tau_final, tau_clean, movable, tau_star: float, window: float = 0.1) -> dict:
    """Where the movable ligands end up: their 99th percentile (the front of the flow towards
    τ*), the fraction within `window` of `tau_star`, and the fraction that moved by more than
    0.02."""
    tau_final, tau_clean = np.ravel(tau_final), np.ravel(tau_clean)
    movable = np.ravel(movable)
    near = np.abs(tau_final[movable] - tau_star) <= window if np.isfinite(tau_star) else np.zeros(movable.sum(), bool)
    return {
        "front": float(np.percentile(tau_final[movable], 99)),
        "near": float(near.mean()),
        "shifted": float((np.abs(tau_final - tau_clean)[movable] > 0.02).mean()),
    }


def _boundary_tau_star(model: AdaptiveProofreading) -> float:
    """τ* on the boundary as a float64 number, whatever the run's precision."""
    with jax.enable_x64(True):
        return float(model.boundary_critical_point())


def _picture(tau, movable, edges, tau_c: float) -> dict:
    """What the figures show of one distribution: its histograms (fixed agonists, movable
    ligands) and its image (τ clipped to [0, τ_c], to 0.01)."""
    tau = np.asarray(tau, np.float64)
    side = math.isqrt(tau.size)
    return {
        "fixed": np.histogram(tau[~movable], bins=edges)[0],
        "movable": np.histogram(tau[movable], bins=edges)[0],
        "image": np.round(np.clip(tau, 0, tau_c), 2).reshape(side, side),
    }


def _descent_facts(cfg: Config, descent: BoundaryDescent, clean: Ligands, edges) -> list[dict]:
    """The numbers of every (N, m)'s descent (call inside the run's precision)."""
    tau_clean = np.asarray(clean.tau, np.float64)
    movable = tau_clean < cfg.tau_c
    facts = []
    for i, (n, m) in enumerate(descent.grid):
        model = AdaptiveProofreading(n, m, tau_c=cfg.tau_c)
        final = Ligands(jnp.asarray(descent.tau[i]), clean.amount)
        star_final = float(model.critical_binding_time(final))
        pile = pile_up(np.asarray(descent.tau[i], np.float64), tau_clean, movable, star_final)
        facts.append(
            {
                "N": n,
                "m": m,
                "iterations": int(descent.iterations[i]),
                "reached": bool(descent.reached[i]),
                "T_before": float(descent.output_clean[i]),
                "T_after": float(descent.output[i]),
                "tau_star_boundary": _boundary_tau_star(model),
                "tau_star_final": star_final,
                "front_99": pile["front"],
                "near_tau_star": pile["near"],
                "shifted": pile["shifted"],
                "max_shift": float(np.abs(descent.tau[i] - tau_clean).max()),
                "seconds": float(descent.seconds[i]),
                **_picture(descent.tau[i], movable, edges, cfg.tau_c),
            }
        )
    return facts


def compute(run, cfg: Config) -> dict:
    """The descent of the v1 distribution for every (N, m), and what the figures show."""
    grid = proofreading_grid(cfg.N_max)
    if math.isqrt(cfg.n_ligands) ** 2 != cfg.n_ligands:
        raise ValueError(f"n_ligands must be a perfect square (the ligands form an image), got {cfg.n_ligands}")
    with jax.enable_x64(cfg.dtype == "float64"):
        clean = initial_distribution(cfg)
        descent = BoundaryDescent.from_json(grid, run.stage("descent", lambda: _descend(cfg, clean, grid).to_json()))
        tau_clean = np.asarray(clean.tau, np.float64)
        edges = np.linspace(0.0, float(max(np.max(descent.tau), tau_clean.max())), HISTOGRAM_BINS)
        descents = _descent_facts(cfg, descent, clean, edges)
    return {
        "grid": grid,
        "agonists": int((tau_clean >= cfg.tau_c).sum()),
        "histogram_edges": edges,
        "clean": _picture(tau_clean, tau_clean < cfg.tau_c, edges, cfg.tau_c),
        "descents": descents,
    }


# ----------------------------------------------------------------------------- verdicts


def stop_status(iterations: int, reached: bool) -> str:
    """How a descent stopped: before any step, at T ≤ 1, or at the cap."""
    return "already T ≤ 1" if iterations == 0 else ("T ≤ 1" if reached else "cap (T > 1)")


def already_note(already: list[str], agonist_fraction: float) -> str | None:
    """The (N, m) whose clean distribution already has T ≤ 1, or None if there are none."""
    if not already:
        return None
    return (
        f"Already T ≤ 1 before any step, nothing to attack: {', '.join(already)} (for m = 0, T_{{N,0}} "
        f"is the mean of (τ/τ_c)^N, and {100 * agonist_fraction:g}% agonists at 3.5 do not "
        f"outweigh the self ligands near 0)."
    )


def capped_note(capped: list[str], max_iterations: int) -> str | None:
    """The (N, m) stopped by the cap with T > 1, or None if every descent reached T ≤ 1."""
    if not capped:
        return None
    return (
        f"Reached the cap of {max_iterations:,} iterations with T > 1: {', '.join(capped)} "
        f"(descent slows as the moved ligands approach τ*, where the gradient vanishes)."
    )


def size_note(n_ligands: int, max_iterations: int) -> str | None:
    """How a run smaller than v1 (R = 10201, cap 10⁶) compares with it, or None at the v1 size."""
    if n_ligands == 10201 and max_iterations == 1_000_000:
        return None
    return (
        f"Smaller than v1 (R = 10201, cap 10⁶): iteration counts grow ∝ R (each step moves a τ by "
        f"~0.2/R), so R = {n_ligands} with cap {max_iterations:,} corresponds to a v1 cap "
        f"of about {max_iterations * 10201 // n_ligands:,}."
    )


# ----------------------------------------------------------------------------- figures


def _grid_axes(n_max: int, size: float):
    """A triangle of panels, rows N = 1 … n_max, columns m = 0 … n_max − 1, and the unused top
    right panel (`extra`, for the clean distribution); the other unused panels are hidden."""
    fig = Figure(figsize=(size * n_max, size * n_max))
    axes = fig.subplots(n_max, n_max, squeeze=False)
    for row in range(n_max):
        for col in range(row + 1, n_max - (row == 0)):
            axes[row, col].axis("off")
    return fig, axes, axes[0, n_max - 1]


def _plot_histograms(facts: dict, tau_c: float, title: str) -> Figure:
    descents = facts["descents"]
    n_max = max(d["N"] for d in descents)
    fig, axes, extra = _grid_axes(n_max, 2.0)
    edges = np.asarray(facts["histogram_edges"])
    panels = [(extra, facts["clean"], "clean")] + [
        (axes[d["N"] - 1, d["m"]], d, f"N={d['N']}, m={d['m']}") for d in descents
    ]
    for ax, picture, label in panels:
        for part, colour, name in [
            ("fixed", "tab:red", "agonists (fixed)"),
            ("movable", "tab:blue", "movable (clean τ < τ_c)"),
        ]:
            ax.stairs(picture[part], edges, fill=True, color=colour, label=name)
        ax.axvline(tau_c, color="grey", ls="--", lw=0.8)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(matplotlib.ticker.NullLocator())
        ax.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.xaxis.set_major_locator(matplotlib.ticker.MultipleLocator(1.0))
        ax.tick_params(labelsize=6)
        ax.set_title(label, fontsize=8)
    for d in descents:
        ax = cast(Axes, axes[d["N"] - 1, d["m"]])
        if d["m"] >= 1:
            ax.axvline(d["tau_star_boundary"], color="k", ls=":", lw=0.9)
        ax.set_xlabel(f"{d['iterations']:,} it." + ("" if d["reached"] else " (cap, T>1)"), fontsize=7)
    axes[0, 0].legend(fontsize=5, loc="upper left")
    fig.suptitle(title + "\n(log counts; dashed τ_c, dotted τ* = τ_c (m/N)^(1/(N−m)))", fontsize=9)
    fig.tight_layout()
    return fig


def _plot_images(facts: dict, tau_c: float, title: str) -> Figure:
    descents = facts["descents"]
    n_max = max(d["N"] for d in descents)
    fig, axes, extra = _grid_axes(n_max, 1.7)
    panels = [(extra, facts["clean"], "clean (before)")] + [
        (axes[d["N"] - 1, d["m"]], d, f"N={d['N']}, m={d['m']}") for d in descents
    ]
    for ax, picture, label in panels:
        ax.imshow(np.asarray(picture["image"]), cmap="Greys_r", vmin=0, vmax=tau_c, interpolation="nearest")
        ax.axis("off")
        ax.set_title(label, fontsize=8)
    fig.suptitle(title + "\n(τ clipped to [0, τ_c]: black τ = 0, white τ ≥ τ_c)", fontsize=9)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- render

COLUMNS = (
    "N",
    "m",
    "T before",
    "iterations",
    "stopped at",
    "T after",
    "τ* boundary",
    "τ* final",
    "front (99th pct)",
    "% within 0.1 of τ* final",
    "% moved > 0.02",
    "max |Δτ|",
    "engine s",
)


def _row(d: dict) -> list:
    return [
        d["N"],
        d["m"],
        round(d["T_before"], 6),
        d["iterations"],
        stop_status(d["iterations"], d["reached"]),
        round(d["T_after"], 6),
        round(d["tau_star_boundary"], 3),
        round(d["tau_star_final"], 3),
        round(d["front_99"], 3),
        round(100 * d["near_tau_star"], 1),
        round(100 * d["shifted"], 1),
        d["max_shift"],
        round(d["seconds"], 2),
    ]


def render(cfg: Config, facts: dict) -> Rendered:
    descents = facts["descents"]
    variant = "continuous τ" if cfg.bin_width is None else f"binned τ (bins of {cfg.bin_width})"
    title = (
        f"Ligand distribution at the boundary: R = {cfg.n_ligands}, {variant}, cap {cfg.max_iterations:,} iterations"
    )
    summary = (
        f"v1 gradient descent τ ← τ − {cfg.step_size} ∂T/∂τ on the ligands with τ < τ_c = {cfg.tau_c} "
        f"(τ < 0 reset to {cfg.reset}) until the first T_{{N,m}} ≤ 1, for all 0 ≤ m < N ≤ {cfg.N_max}; "
        f"R = {cfg.n_ligands} ligands ({facts['agonists']} agonists at 3.5 ± 0.1, fixed; the rest self, |N(0, 1/3)|), "
        f"{variant}, {cfg.dtype}, at most {cfg.max_iterations:,} iterations; one engine call per (N, m) "
        f"({'one compilation for the grid' if cfg.share_compilation else 'one compilation per model'})."
    )
    already = [f"({d['N']},{d['m']})" for d in descents if d["iterations"] == 0]
    capped = [f"({d['N']},{d['m']})" for d in descents if not d["reached"]]
    notes = [
        "Iterations = updates applied before the first T ≤ 1 (the v1 script prints this + 2). Engine s: wall "
        "time of each model's engine call, compilation included (with one compilation for the grid, the first "
        "call carries it).",
        "For m ≥ 1 the moved ligands flow up towards τ* (the gradient is negative below τ*), the front of the "
        "flow (99th percentile) approaching it; ligands near 0 move slowly for m ≥ 2 (∂T/∂τ ∝ τ^(m−1)).",
        already_note(already, cfg.agonist_fraction),
        capped_note(capped, cfg.max_iterations),
        size_note(cfg.n_ligands, cfg.max_iterations),
    ]
    return Rendered(
        summary=summary,
        tables=[Table("Descent to the boundary per (N, m)", COLUMNS, [_row(d) for d in descents])],
        figures={
            "histograms.png": _plot_histograms(facts, cfg.tau_c, title),
            "images.png": _plot_images(facts, cfg.tau_c, title),
        },
        notes=[note for note in notes if note],
    )


_V1 = Config(max_iterations=1_000_000)

register(
    Experiment(
        name="ligand-boundary",
        title="Ligand distribution at the boundary: v1 gradient descent for every T_{N,m}",
        paper="Rademaker et al. 2019, v1 fig. 'ligand distribution at the boundary'",
        presets={
            # quick: the v1 size (R = 10201) with a cap of 400,000 iterations instead of 10^6 (~2 min
            # on 2 cores): the six (N, m) that reach T ≤ 1 do so; the other four stop at the cap.
            "quick": _V1.replace(max_iterations=400_000),
            "paper": _V1,
        },
        compute=compute,
        render=render,
        tags=("cells", "attacks"),
    )
)
