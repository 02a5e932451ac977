"""mtl-to-ml: a ligand image spelling "MTL", descended to the boundary, reads "ML" to the cell.

Rademaker et al. 2019, v1 figure "MTL → ML". The letters are rendered with matplotlib
(DejaVu Sans Bold) and rasterised to a `rows × cols` grid of ligands, one ligand of amount 1 per
pixel: the pixels of M and L are agonists (τ = τ_c + 1/3 + N(0, 0.01)), the pixels of T
antagonists (τ = τ_c − |N(0, 1/3)|), the background self ligands (τ = |N(0, 1/3)|); τ_c = 3. For
N = 2 … 5, m = 1 … 4, m < N, the v1 gradient descent of `ligand-boundary`
(`adprf.analysis.boundary_descent`: τ ← τ − 0.2 ∂T/∂τ for clean τ < τ_c, τ < 0 reset to 0.1,
stop at the first T ≤ 1, capped) moves the antagonists and the self ligands; the agonists never
move.

Our choices (open in the paper):

- **Letter classes.** M and L are agonists (the foreign signal), T the antagonists: the attacker
  may only move what is not foreign, and the antagonists are what it uses.
- **The cell's view** is each ligand's weight in S_N = Σ_i L_i τ_i^N, the proofreading output
  that activates the cell: v_i = τ_i^N / median over agonists of τ^N (1 = as bright as an
  agonist; shown clipped to [0, 1]). Before the attack the T is a bright letter in this view
  ((2.75/3.33)^N ≈ 0.4–0.7 of M and L); the descent pushes the antagonists down towards the
  critical point τ* = τ_c (m/N)^(1/(N−m)) < τ_c, where they antagonise most through S_m while
  their weight in S_N falls towards (τ*/3.33)^N ≈ 0.1–0.2: the cell's view reads "ML", and the cell
  no longer responds to the M and L it still sees. The **T visibility** is the median view of the
  T pixels; the view **reads "ML"** when it is at most `reads_ml_below` (default 0.25) while M and
  L stay at 1.
- **Image size.** Iterations grow ∝ R (each step moves a τ by ~0.2/R), so the quick preset uses a
  small image and cap; the paper preset uses the v1 cap of 10⁶. The v1 image (≈ 179 × 424 pixels,
  binned τ) is not reproduced pixel for pixel.
- When the clean image already has T ≤ 1 (antagonists and self outweigh the agonists for small N
  with m = 1) there is nothing to attack; the table says so.
"""

import functools
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._ligands import Ligands, agonists, antagonists, ligand_image, self_ligands
from ..analysis import BoundaryDescent, boundary_descent
from ..cells import AdaptiveProofreading, proofreading_grid
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register

SELF, AGONIST, ANTAGONIST = 0, 1, 2


def _area_resample(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mean of `image` over the source pixels that fall in each target pixel."""
    out = image
    for axis, size in enumerate(shape):
        starts = np.floor(np.arange(size) * out.shape[axis] / size).astype(int)
        sums = np.add.reduceat(out, starts, axis=axis)
        counts = np.diff(np.append(starts, out.shape[axis]))
        out = sums / np.expand_dims(counts, 1 - axis)
    return out


def letter_masks(text: str, shape: tuple[int, int], margin: int = 1, resolution: int = 200) -> np.ndarray:
    """The pixels of each letter of `text` rendered in DejaVu Sans Bold on a `shape` grid.

    The letters are drawn side by side at `resolution` pixels of height, cropped to their joint
    ink and area-averaged onto the grid inside a `margin` of background; a pixel belongs to a
    letter when at least half of it is ink.

    **Arguments:**
    - `text`: the letters, e.g. "MTL".
    - `shape`: (rows, columns) of the grid.
    - `margin`: background pixels around the text.
    - `resolution`: the rendering height in pixels before resampling.

    **Returns:** a boolean array of shape `(len(text), rows, columns)`.
    """
    rows, cols = shape
    if not text or rows <= 2 * margin or cols <= 2 * margin:
        raise ValueError(f"need some text and a grid larger than twice the margin, got {text!r} on {shape}")
    width = resolution * len(text)
    figure = Figure(figsize=(width / 100, resolution / 100), dpi=100)
    canvas = FigureCanvasAgg(figure)
    inks = []
    for index, letter in enumerate(text):
        figure.clear()
        figure.text(
            (index + 0.5) / len(text),
            0.5,
            letter,
            ha="center",
            va="center",
            family="DejaVu Sans",
            fontweight="bold",
            fontsize=0.7 * resolution * 72 / 100,
        )
        canvas.draw()
        inks.append(1.0 - np.asarray(canvas.buffer_rgba())[..., 0] / 255.0)
    inks = np.stack(inks)
    ink_rows, ink_cols = np.flatnonzero(inks.max(axis=(0, 2)) > 0.5), np.flatnonzero(inks.max(axis=(0, 1)) > 0.5)
    inks = inks[:, ink_rows[0] : ink_rows[-1] + 1, ink_cols[0] : ink_cols[-1] + 1]
    masks = np.zeros((len(text), rows, cols), bool)
    inner = (rows - 2 * margin, cols - 2 * margin)
    for index, ink in enumerate(inks):
        masks[index, margin : rows - margin, margin : cols - margin] = _area_resample(ink, inner) >= 0.5
    return masks


def mtl_classes(shape: tuple[int, int], margin: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The class of every pixel of the "MTL" image (`SELF`, `AGONIST` for M and L, `ANTAGONIST`
    for T) and the letter of every pixel (0 background, 1 M, 2 T, 3 L)."""
    masks = letter_masks("MTL", shape, margin)
    letters = np.zeros(shape, np.int32)
    for index, mask in enumerate(masks):
        letters[mask] = index + 1
    classes = np.select([letters == 2, letters > 0], [ANTAGONIST, AGONIST], SELF).astype(np.int32)
    return classes, letters


def mtl_ligands(key, classes: np.ndarray, tau_c: float) -> Ligands:
    """The v1 "MTL" ligands on the class map: agonists τ_c + 1/3 + N(0, 0.01), antagonists
    τ_c − |N(0, 1/3)|, self |N(0, 1/3)|."""
    builders = {
        SELF: self_ligands,
        AGONIST: functools.partial(agonists, mean=tau_c + 1 / 3, std=0.01),
        ANTAGONIST: functools.partial(antagonists, tau_c=tau_c),
    }
    return ligand_image(key, classes, [builders[k] for k in range(3)])


def cells_view(tau, agonist_pixels, N: int) -> np.ndarray:
    """Each ligand's weight in S_N relative to the median agonist: τ^N / median(τ_agonists^N)."""
    weight = np.asarray(tau, np.float64) ** N
    return weight / np.median(weight[agonist_pixels])


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """The "MTL" image on a `shape` grid (inside a `margin` of background), descended for every
    (N, m) with 2 ≤ N ≤ `N_max`, 1 ≤ m < N, at most `max_iterations` updates each; the cell's
    view reads "ML" when the T's visibility is at most `reads_ml_below`."""

    tau_c: float = 3.0
    step_size: float = 0.2
    reset: float = 0.1
    N_max: int = 5
    seed: int = 0
    dtype: str = "float64"
    margin: int = 1
    reads_ml_below: float = 0.25
    shape: tuple[int, int]
    max_iterations: int
    share_compilation: bool


def _descend(cfg: Config, ligands: Ligands, grid) -> BoundaryDescent:
    """`boundary_descent` with the config's protocol settings (continuous τ)."""
    return boundary_descent(
        ligands,
        grid,
        tau_c=cfg.tau_c,
        step_size=cfg.step_size,
        reset=cfg.reset,
        max_iterations=cfg.max_iterations,
        share_compilation=cfg.share_compilation,
    )


def _boundary_tau_star(model: AdaptiveProofreading) -> float:
    """τ* on the boundary as a float64 number, whatever the run's precision."""
    with jax.enable_x64(True):
        return float(model.boundary_critical_point())


def _model_facts(n: int, m: int, i: int, descent: BoundaryDescent, tau_clean, classes, letters, tau_c: float) -> dict:
    """The numbers and pictures of the descent of one (N, m)."""
    agonist_pixels, t_pixels = classes == AGONIST, letters == 2
    tau = np.asarray(descent.tau[i], np.float64)
    before, after = cells_view(tau_clean, agonist_pixels, n), cells_view(tau, agonist_pixels, n)
    return {
        "N": n,
        "m": m,
        "iterations": int(descent.iterations[i]),
        "reached": bool(descent.reached[i]),
        "T_before": float(descent.output_clean[i]),
        "T_after": float(descent.output[i]),
        "T_visibility_before": float(np.median(before[t_pixels])),
        "T_visibility_after": float(np.median(after[t_pixels])),
        "background_view_after": float(np.median(after[letters == 0])),
        "median_tau_T_after": float(np.median(tau[t_pixels])),
        "tau_star_boundary": _boundary_tau_star(AdaptiveProofreading(n, m, tau_c=tau_c)),
        # the pictures: the cell's view before and after (clipped to [0, 1], to 0.001) and the
        # binding times after (clipped to [0, τ_c], to 0.01)
        "view_before": np.round(np.clip(before, 0, 1), 3),
        "view_after": np.round(np.clip(after, 0, 1), 3),
        "image_after": np.round(np.clip(tau, 0, tau_c), 2),
    }


def compute(run, cfg: Config) -> dict:
    """The "MTL" image, its descent for every (N, m), and the cell's view before and after."""
    grid = proofreading_grid(cfg.N_max, n_min=2, m_min=1)
    classes, letters = mtl_classes(cfg.shape, cfg.margin)
    with jax.enable_x64(cfg.dtype == "float64"):
        clean = mtl_ligands(jax.random.PRNGKey(cfg.seed), classes, cfg.tau_c)
        dtype = jnp.float64 if cfg.dtype == "float64" else jnp.float32
        clean = Ligands(clean.tau.astype(dtype), clean.amount.astype(dtype))
        descent = BoundaryDescent.from_json(grid, run.stage("descent", lambda: _descend(cfg, clean, grid).to_json()))
    tau_clean = np.asarray(clean.tau, np.float64)
    return {
        "grid": grid,
        "counts": {
            name: int((classes == value).sum())
            for name, value in [("agonist", AGONIST), ("antagonist", ANTAGONIST), ("self", SELF)]
        },
        "clean_image": np.round(np.clip(tau_clean, 0, cfg.tau_c), 2),
        "models": [
            _model_facts(n, m, i, descent, tau_clean, classes, letters, cfg.tau_c) for i, (n, m) in enumerate(grid)
        ],
    }


# ----------------------------------------------------------------------------- verdicts


def stop_status(iterations: int, reached: bool) -> str:
    """How a descent stopped: before any step, at T ≤ 1, or at the cap."""
    return "already T ≤ 1" if iterations == 0 else ("T ≤ 1" if reached else "cap (T > 1)")


def reads_ml(iterations: int, reached: bool, visibility_after: float, threshold: float) -> bool:
    """Whether the cell's view reads "ML": a descent that moved and reached T ≤ 1 left the T at
    most `threshold` as visible as the agonists."""
    return iterations > 0 and reached and visibility_after <= threshold


def reads_ml_note(read: list[str], threshold: float) -> str:
    """Which (N, m) read "ML", and what that means."""
    return (
        "T visibility = median weight in S_N of the T pixels relative to the agonists; the cell's view reads "
        f'"ML" when it is ≤ {threshold} after a descent that reached T ≤ 1. Reads ML: '
        + (", ".join(read) if read else "none")
        + "."
    )


def already_note(already: list[str]) -> str | None:
    """The (N, m) whose clean image already has T ≤ 1, or None if there are none."""
    if not already:
        return None
    return (
        f"Already T ≤ 1 before any step (antagonists and self outweigh the agonists), nothing to "
        f"attack: {', '.join(already)}."
    )


# ----------------------------------------------------------------------------- render


def _plot(facts: dict, tau_c: float, title: str) -> Figure:
    models = facts["models"]
    fig = Figure(figsize=(9.6, 1.45 * (len(models) + 1)))
    axes = fig.subplots(len(models) + 1, 3, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    grey = dict(cmap="Greys_r", vmin=0, interpolation="nearest")
    axes[0, 0].imshow(np.asarray(facts["clean_image"]), vmax=tau_c, **grey)
    axes[0, 0].set_title("binding times, clean", fontsize=8)
    for row, d in enumerate(models, start=1):
        status = "" if d["reached"] else ", cap"
        panels = [
            (d["view_before"], 1, f"cell's view before (N={d['N']}, m={d['m']})"),
            (d["view_after"], 1, f"after {d['iterations']:,} it.{status}"),
            (d["image_after"], tau_c, "binding times after"),
        ]
        for col, (image, top, label) in enumerate(panels):
            axes[row, col].imshow(np.asarray(image), vmax=top, **grey)
            axes[row, col].set_title(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


COLUMNS = (
    "N",
    "m",
    "T before",
    "iterations",
    "stopped at",
    "T after",
    "T visibility before",
    "T visibility after",
    "background view after",
    "median τ of T after",
    "τ* boundary",
    "reads ML",
)


def _row(d: dict, threshold: float) -> list:
    return [
        d["N"],
        d["m"],
        round(d["T_before"], 6),
        d["iterations"],
        stop_status(d["iterations"], d["reached"]),
        round(d["T_after"], 6),
        round(d["T_visibility_before"], 3),
        round(d["T_visibility_after"], 3),
        round(d["background_view_after"], 4),
        round(d["median_tau_T_after"], 3),
        round(d["tau_star_boundary"], 3),
        "yes" if reads_ml(d["iterations"], d["reached"], d["T_visibility_after"], threshold) else "no",
    ]


def render(cfg: Config, facts: dict) -> Rendered:
    models, counts, (rows, cols) = facts["models"], facts["counts"], cfg.shape
    title = (
        f'"MTL" in {rows} × {cols} ligands: M, L agonists, T antagonists; v1 descent until T ≤ 1 '
        f"(cap {cfg.max_iterations:,})\ncell's view = weight in S_N relative to the agonists (white = 1)"
    )
    summary = (
        f'A {rows} × {cols} ligand image spelling "MTL" ({counts["agonist"]} agonists in M and L at '
        f"τ_c + 1/3 ± 0.01, {counts['antagonist']} antagonists in T at τ_c − |N(0, 1/3)|, {counts['self']} self "
        f"ligands at |N(0, 1/3)|; τ_c = {cfg.tau_c}), descended with the v1 rule (step {cfg.step_size}, "
        f"reset {cfg.reset}) until T_{{N,m}} ≤ 1, at most {cfg.max_iterations:,} iterations, "
        f"{cfg.dtype}. The cell's view is each ligand's weight in S_N relative to the agonists."
    )
    threshold = cfg.reads_ml_below
    read = [
        f"({d['N']},{d['m']})"
        for d in models
        if reads_ml(d["iterations"], d["reached"], d["T_visibility_after"], threshold)
    ]
    notes = [
        reads_ml_note(read, threshold),
        "The antagonists are pushed down towards τ* (where they suppress the response most through S_m while "
        "weighing little in S_N); self ligands rise slowly (their gradient ∝ τ^(m−1)), staying dark in the view.",
        "Iterations = updates applied before the first T ≤ 1; iteration counts grow ∝ the number of ligands.",
        already_note([f"({d['N']},{d['m']})" for d in models if d["iterations"] == 0]),
    ]
    return Rendered(
        summary=summary,
        tables=[Table("MTL → ML per (N, m)", COLUMNS, [_row(d, threshold) for d in models])],
        figures={"mtl_to_ml.png": _plot(facts, cfg.tau_c, title)},
        notes=[note for note in notes if note],
    )


_V1 = Config(shape=(51, 127), max_iterations=1_000_000, share_compilation=False)

register(
    Experiment(
        name="mtl-to-ml",
        title='MTL → ML: a ligand image descended to the boundary reads "ML" to the cell',
        paper="Rademaker et al. 2019, v1 fig. 'MTL → ML'",
        presets={
            "quick": _V1.replace(shape=(22, 56), max_iterations=100_000, share_compilation=True),
            "paper": _V1,
        },
        compute=compute,
        render=render,
        tags=("cells", "attacks"),
    )
)
