"""mtl-to-ml: a ligand image spelling "MTL", descended to the boundary, reads "ML" to the cell.

Rademaker et al. 2019, v1 figure "MTL → ML" (SPEC §3). The letters are rendered with matplotlib
(DejaVu Sans Bold) and rasterised to a `rows × cols` grid of ligands, one ligand of amount 1 per
pixel: the pixels of M and L are agonists (τ = τ_c + 1/3 + N(0, 0.01)), the pixels of T
antagonists (τ = τ_c − |N(0, 1/3)|), the background self ligands (τ = |N(0, 1/3)|); τ_c = 3. For
N = 2 … 5, m = 1 … 4, m < N, the v1 gradient descent of `ligand-boundary` (the same engine call:
τ ← τ − 0.2 ∂T/∂τ for clean τ < τ_c, τ < 0 reset to 0.1, stop at the first T ≤ 1, capped) moves
the antagonists and the self ligands; the agonists never move.

Our choices (SPEC leaves them open):

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

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._ligands import Ligands, agonists, antagonists, ligand_image, self_ligands
from .._results import Run
from ._ligand_boundary import BoundaryDescent, boundary_critical_point, descend, proofreading_grid
from ._registry import LegacyExperiment as Experiment, register

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


def _plot(clean_tau, descent, views_before, views_after, tau_c, title):
    grid = descent.grid
    fig, axes = plt.subplots(len(grid) + 1, 3, figsize=(9.6, 1.45 * (len(grid) + 1)), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].imshow(np.clip(clean_tau, 0, tau_c), cmap="Greys_r", vmin=0, vmax=tau_c, interpolation="nearest")
    axes[0, 0].set_title("binding times, clean", fontsize=8)
    for row, (n, m) in enumerate(grid, start=1):
        k = int(descent.iterations[row - 1])
        status = "" if bool(descent.reached[row - 1]) else ", cap"
        for col, (image, label) in enumerate(
            [
                (views_before[row - 1], f"cell's view before (N={n}, m={m})"),
                (views_after[row - 1], f"after {k:,} it.{status}"),
                (np.asarray(descent.tau[row - 1]), "binding times after"),
            ]
        ):
            ax = axes[row, col]
            if col < 2:
                ax.imshow(np.clip(image, 0, 1), cmap="Greys_r", vmin=0, vmax=1, interpolation="nearest")
            else:
                ax.imshow(np.clip(image, 0, tau_c), cmap="Greys_r", vmin=0, vmax=tau_c, interpolation="nearest")
            ax.set_title(label, fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def run(run: Run) -> dict:
    cfg = run.config
    tau_c = cfg["tau_c"]
    grid = proofreading_grid(cfg["N_max"], n_min=2, m_min=1)
    classes, letters = mtl_classes(tuple(cfg["shape"]), cfg["margin"])
    agonist_pixels, t_pixels, background_pixels = classes == AGONIST, letters == 2, letters == 0
    with jax.enable_x64(cfg["dtype"] == "float64"):
        clean = mtl_ligands(jax.random.PRNGKey(cfg["seed"]), classes, tau_c)
        dtype = jnp.float64 if cfg["dtype"] == "float64" else jnp.float32
        clean = Ligands(clean.tau.astype(dtype), clean.amount.astype(dtype))
        descent = BoundaryDescent.from_json(grid, run.stage("descent", lambda: descend(cfg, clean, grid).to_json()))
    tau_clean = np.asarray(clean.tau, np.float64)
    rows, views_before, views_after = [], [], []
    numbers = {
        "grid": grid,
        "iterations": {},
        "T_before": {},
        "T_after": {},
        "reached": {},
        "T_visibility_before": {},
        "T_visibility_after": {},
        "reads_ML": {},
    }
    for i, (n, m) in enumerate(grid):
        before, after = cells_view(tau_clean, agonist_pixels, n), cells_view(descent.tau[i], agonist_pixels, n)
        views_before.append(before)
        views_after.append(after)
        visible_before = float(np.median(before[t_pixels]))
        visible_after = float(np.median(after[t_pixels]))
        background = float(np.median(after[background_pixels]))
        k, reached = int(descent.iterations[i]), bool(descent.reached[i])
        reads_ml = k > 0 and reached and visible_after <= cfg["reads_ml_below"]
        key = f"{n},{m}"
        numbers["iterations"][key], numbers["reached"][key] = k, reached
        numbers["T_before"][key], numbers["T_after"][key] = float(descent.output_clean[i]), float(descent.output[i])
        numbers["T_visibility_before"][key], numbers["T_visibility_after"][key] = visible_before, visible_after
        numbers["reads_ML"][key] = reads_ml
        status = "already T ≤ 1" if k == 0 else ("T ≤ 1" if reached else "cap (T > 1)")
        rows.append(
            [
                n,
                m,
                round(float(descent.output_clean[i]), 6),
                k,
                status,
                round(float(descent.output[i]), 6),
                round(visible_before, 3),
                round(visible_after, 3),
                round(background, 4),
                round(float(np.median(descent.tau[i][t_pixels])), 3),
                round(boundary_critical_point(n, m, tau_c), 3),
                "yes" if reads_ml else "no",
            ]
        )
    shape = tuple(cfg["shape"])
    title = (
        f'"MTL" in {shape[0]} × {shape[1]} ligands: M, L agonists, T antagonists; v1 descent until T ≤ 1 '
        f"(cap {cfg['max_iterations']:,})\ncell's view = weight in S_N relative to the agonists (white = 1)"
    )
    run.save_figure(_plot(tau_clean, descent, views_before, views_after, tau_c, title), "mtl_to_ml.png")
    counts = {
        name: int((classes == value).sum())
        for name, value in [("agonist", AGONIST), ("antagonist", ANTAGONIST), ("self", SELF)]
    }
    columns = [
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
    ]
    read = [f"({n},{m})" for n, m in grid if numbers["reads_ML"][f"{n},{m}"]]
    already = [f"({n},{m})" for n, m in grid if numbers["iterations"][f"{n},{m}"] == 0]
    summary = (
        f'A {shape[0]} × {shape[1]} ligand image spelling "MTL" ({counts["agonist"]} agonists in M and L at '
        f"τ_c + 1/3 ± 0.01, {counts['antagonist']} antagonists in T at τ_c − |N(0, 1/3)|, {counts['self']} self "
        f"ligands at |N(0, 1/3)|; τ_c = {tau_c}), descended with the v1 rule (step {cfg['step_size']}, "
        f"reset {cfg['reset']}) until T_{{N,m}} ≤ 1, at most {cfg['max_iterations']:,} iterations, "
        f"{cfg['dtype']}. The cell's view is each ligand's weight in S_N relative to the agonists."
    )
    notes = [
        "T visibility = median weight in S_N of the T pixels relative to the agonists; the cell's view reads "
        f'"ML" when it is ≤ {cfg["reads_ml_below"]} after a descent that reached T ≤ 1. Reads ML: '
        + (", ".join(read) if read else "none")
        + ".",
        "The antagonists are pushed down towards τ* (where they suppress the response most through S_m while "
        "weighing little in S_N); self ligands rise slowly (their gradient ∝ τ^(m−1)), staying dark in the view.",
        "Iterations = updates applied before the first T ≤ 1; iteration counts grow ∝ the number of ligands.",
    ]
    if already:
        notes.append(
            f"Already T ≤ 1 before any step (antagonists and self outweigh the agonists), nothing to "
            f"attack: {', '.join(already)}."
        )
    return {
        "summary": summary,
        "tables": [{"title": "MTL → ML per (N, m)", "columns": columns, "rows": rows}],
        "numbers": {**numbers, "counts": counts},
        "notes": notes,
    }


_V1 = {
    "tau_c": 3.0,
    "step_size": 0.2,
    "reset": 0.1,
    "N_max": 5,
    "seed": 0,
    "dtype": "float64",
    "margin": 1,
    "reads_ml_below": 0.25,
}

register(
    Experiment(
        name="mtl-to-ml",
        title='MTL → ML: a ligand image descended to the boundary reads "ML" to the cell',
        paper="Rademaker et al. 2019, v1 fig. 'MTL → ML'",
        presets={
            "quick": {**_V1, "shape": [22, 56], "max_iterations": 100_000, "share_compilation": True},
            "paper": {**_V1, "shape": [51, 127], "max_iterations": 1_000_000, "share_compilation": False},
        },
        run=run,
        tags=("cells", "attacks"),
    )
)
