"""loss-landscapes: the attacker's loss around test points, along the gradient sign and a random
±1 direction, for natural, biomimetically filtered and adversarially trained networks, and T_{N,m}
in binding-time space (Rademaker et al. 2019, loss landscapes; the protocol is open, the choices
below are ours).

**Networks.** The defended MNIST classifiers of `biomimetic-defence` (`adprf.nets.train_defences`
with the same specs, hence the same cached models): natural, Hill filters θ = 0.5 with n = 4 and
16, a proofreading layer (N, m) = (3, 2), and PGD adversarial training (ε = 0.3, 40 steps of 0.01,
ε warm-up). Around each of the first `n_test` test images, `adprf.analysis.loss_landscape` gives
the cross-entropy at clip(x + ε₁ sign ∇L + ε₂ r, 0, 1), r a Rademacher ±1 vector, ε₁, ε₂ ∈
[−span, span] on `points` values (61 for span 0.3: a step of 0.01, so that 0.1 lies on the grid).
The ε₂ = 0 line is exactly the FGSM adversarial of radius ε₁. Image i has the same r under every
network (its direction comes from `fold_in(key, i)`): the columns of the figures differ only by
the network.

**Cells.** T_{N,m} (τ_c = 3; (N, m) = (5, 0), (5, 1), (5, 3)) around `mixtures` v1-style
mixtures (`v1_mixture`: agonists τ ~ 3.5 + N(0, 0.1), self τ = |N(0, 1/3)|, amount 1) with
agonist fraction `agonist_fraction` = 0.5, so that all three models respond (T > 1) at the origin
(the v1 fraction 0.3 leaves T_{5,0} at 0.66). Threat `move_binding_times(·, tau_c)`: only ligands
with clean τ < τ_c move, amounts never, τ clipped at 0. Objective `turn_off`: loss = 1 − T, so the
gradient-sign direction lowers T and "success" is T ≤ 1; the figures show T. The span in τ is
`span` = 3 = τ_c, wide enough to see where lowering T stops (at 0.3 the cellular surfaces barely
move); the tables also give the 0.3 and 1 squares. τ* of each mixture is the closed form
`AdaptiveProofreading.critical_binding_time` (NaN for m = 0).

**Measures** (means over the test points): the loss at the origin; the slopes ⟨∇L, d⟩ along both
directions (the first-order rise per unit ε); the largest rise of the loss on each axis within
radius r (max over |ε| ≤ r of L(ε, 0) − L(0, 0), resp. L(0, ε) − L(0, 0)) and their ratio; the
rise at ε₁ = +r over its first-order prediction r · ⟨∇L, d₁⟩ ("rise/linear", a ratio of means:
< 1 the loss saturates, > 1 it rises faster than the gradient at x says); the share of the
images misclassified at (+r, 0) (FGSM of radius r, counting images misclassified already) and at
(0, ±r) (random ±1 noise of radius r), and of the r square's grid points; the share of input
coordinates where the gradient is exactly 0 (the sign direction leaves them in place). Ratios
whose denominator is rounding noise (≤ 10⁻⁴ of the loss scale) are reported as nan.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .._ligands import Ligands, v1_mixture
from ..analysis import Landscape, loss_landscape, plot_landscape_contour, plot_landscape_surface
from ..attacks import move_binding_times, turn_off
from ..cells import AdaptiveProofreading
from ..data import load_dataset
from ..nets import DEFENCES, MLP_CLASSIFIER, describe_defence, train_defences
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register

SATURATED = 1e-6
"""A clean cross-entropy below this is saturated: in float32, softmax − one-hot rounds the label's
component (1 − p_y ≈ loss) to within ~10⁻⁷ of its value, so the gradient at the image, and its
sign, are rounding noise there (measured: two compilations of the same gradient disagree on most
pixel signs at loss 0, on ~3 of 784 at loss 10⁻⁵)."""


# ----------------------------------------------------------------------------- configs


@dataclass(frozen=True, kw_only=True)
class ImagesConfig(AbstractConfig):
    """Landscapes around the first `n_test` test images: `objective` on a `points`² grid of
    [−span, span]², measured within each of `radii` (each must lie on the grid; the largest is
    `span`)."""

    n_test: int
    span: float = 0.3
    points: int = 61
    objective: str = "cross-entropy"
    radii: tuple[float, ...] = (0.1, 0.3)


@dataclass(frozen=True, kw_only=True)
class CellsConfig(AbstractConfig):
    """Landscapes of T_{N,m} for each (N, m) of `models` around `mixtures` v1 mixtures of
    `n_ligands` ligands (a share `agonist_fraction` of agonists), on a `points`² grid of
    [−span, span]² in binding time, measured within each of `radii`."""

    tau_c: float = 3.0
    models: tuple[tuple[int, int], ...] = ((5, 0), (5, 1), (5, 3))
    agonist_fraction: float = 0.5
    span: float = 3.0
    points: int = 61
    radii: tuple[float, ...] = (0.3, 1.0, 3.0)
    n_ligands: int
    mixtures: int


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """The `defences` (name → `adprf.nets` defence spec) of the `classifier` trained on `dataset`
    (shared with biomimetic-defence), their image landscapes, and the cells' landscapes; the
    figures show the first `figure_images` images."""

    dataset: str
    seed: int = 0
    classifier: Mapping[str, Any]
    defences: Mapping[str, Mapping[str, Any]]
    images: ImagesConfig
    cells: CellsConfig
    figure_images: int = 3
    batch_size: int


# ----------------------------------------------------------------------------- stages and measures


def _on_axes(e: np.ndarray, radius: float):
    """Indices of the grid within |e| ≤ radius, and of −radius, 0 and +radius (which must be on it)."""
    inside = np.flatnonzero(np.abs(e) <= radius + 1e-6)
    exact = [int(np.argmin(np.abs(e - v))) for v in (-radius, 0.0, radius)]
    if any(abs(e[i] - v) > 1e-6 for i, v in zip(exact, (-radius, 0.0, radius))):
        raise ValueError(
            f"the grid {e[0]:g} … {e[-1]:g} ({len(e)} points) does not contain ±{radius:g} and 0: "
            f"choose points so that the radii fall on it (e.g. span 0.3 with 61 points)"
        )
    return inside, exact


def _stage_of(land: Landscape, radii, keep: int, seconds: float) -> dict:
    """What the experiment keeps of a set of landscapes: per test point, the loss and success
    along both axes, the share of each radius' square where the attack succeeds, the slopes and
    the direction statistics; the whole grids and the directions (leaves of d₁, d₂) of the first
    `keep` points."""
    e = np.asarray(land.e1)
    loss, success = np.asarray(land.loss), np.asarray(land.success)
    _, (_, c, _) = _on_axes(e, float(e[-1]))
    d1, d2 = (jax.tree.leaves(d) for d in land.directions)

    def axes(a):
        return tuple(range(1, a.ndim))

    movable = sum(np.sum(np.asarray(b) != 0, axis=axes(b)) for b in d2)  # d2 is ±1 where τ, pixels move
    zero = sum(np.sum((np.asarray(a) == 0) & (np.asarray(b) != 0), axis=axes(a)) for a, b in zip(d1, d2))
    up = sum(np.sum(np.asarray(a) > 0, axis=axes(a)) for a in d1)
    squares = []
    for r in radii:
        inside, _ = _on_axes(e, r)
        squares.append(success[:, inside][:, :, inside].mean(axis=(1, 2)))
    return {
        "e": e,
        "radii": list(radii),
        "origin_loss": land.origin_loss,
        "origin_success": land.origin_success,
        "slopes": land.slopes,
        "loss_gradient": loss[:, :, c],
        "loss_random": loss[:, c, :],
        "success_gradient": success[:, :, c],
        "success_random": success[:, c, :],
        "square_success": np.stack(squares, 1),
        "zero_gradient": zero / np.maximum(movable, 1),
        "pushed_up": up / np.maximum(movable, 1),
        "grid_loss": loss[:keep],
        "grid_success": success[:keep],
        "directions": [[np.asarray(leaf)[:keep] for leaf in d] for d in (d1, d2)],
        "seconds": seconds,
    }


def _ratio(top: float, bottom: float, scale: float) -> float:
    """top / bottom, NaN where the bottom is rounding noise (|bottom| ≤ 1e-4 · (1 + scale))."""
    return float(top / bottom) if abs(bottom) > 1e-4 * (1.0 + abs(scale)) else float("nan")


def _by_radius(stage: dict, r: float, square: float, scale: float) -> dict:
    """The measures within radius `r` (see the module's docstring); `square`: the share of the
    r square's grid points where the attack succeeds."""
    e, origin, slopes = np.asarray(stage["e"]), np.asarray(stage["origin_loss"]), np.asarray(stage["slopes"])
    along_g, along_r = np.asarray(stage["loss_gradient"]), np.asarray(stage["loss_random"])
    hit_g, hit_r = np.asarray(stage["success_gradient"], bool), np.asarray(stage["success_random"], bool)
    inside, (lo, _, hi) = _on_axes(e, r)
    rise_g = float((along_g[:, inside] - origin[:, None]).max(1).mean())
    rise_r = float((along_r[:, inside] - origin[:, None]).max(1).mean())
    return {
        "rise_gradient": rise_g,
        "rise_random": rise_r,
        "gradient_over_random": _ratio(rise_g, rise_r, scale),
        "rise_over_linear": _ratio(float((along_g[:, hi] - origin).mean()), r * float(slopes[:, 0].mean()), scale),
        "fgsm_success": float(hit_g[:, hi].mean()),
        "random_success": float((hit_r[:, lo] | hit_r[:, hi]).mean()),
        "grid_success": float(square),
    }


def measures(stage: dict) -> dict:
    """The key numbers of one set of landscapes (a stage of `_stage_of`), means over test points;
    `by_radius[k]` holds the measures within `stage["radii"][k]`."""
    e = np.asarray(stage["e"])
    along_g = np.asarray(stage["loss_gradient"])
    slopes, origin = np.asarray(stage["slopes"]), np.asarray(stage["origin_loss"])
    scale = float(np.abs(origin).mean())
    peak = along_g.mean(0)
    flat = peak.max() - origin.mean() <= 1e-4 * (1.0 + scale)
    squares = np.asarray(stage["square_success"]).mean(0)
    return {
        "loss_at_origin": float(origin.mean()),
        "slope_gradient": float(slopes[:, 0].mean()),
        "slope_random": float(slopes[:, 1].mean()),
        "clean_success": float(np.mean(stage["origin_success"])),
        "zero_gradient_share": float(np.mean(stage["zero_gradient"])),
        "saturated_share": float(np.mean(origin < SATURATED)),
        "pushed_up_share": float(np.mean(stage["pushed_up"])),
        "peak_gradient_e": float("nan") if flat else float(e[np.argmax(peak)]),
        "peak_gradient_loss": float(peak.max()),
        "by_radius": [_by_radius(stage, r, square, scale) for r, square in zip(stage["radii"], squares)],
    }


def _figure_data(stage: dict, keep: int) -> dict:
    """What the figures show of a set of landscapes: the grid, the kept points' whole grids, and
    the loss along each axis (mean over the points)."""
    return {
        "e": stage["e"],
        "grid_loss": stage["grid_loss"][:keep],
        "grid_success": stage["grid_success"][:keep],
        "origin_loss": stage["origin_loss"][:keep],
        "origin_success": stage["origin_success"][:keep],
        "slopes": stage["slopes"][:keep],
        "profile_gradient": np.asarray(stage["loss_gradient"]).mean(0),
        "profile_random": np.asarray(stage["loss_random"]).mean(0),
    }


# ----------------------------------------------------------------------------- compute


def _image_landscapes(run, cfg: Config, key) -> dict:
    """Every defended classifier trained (or loaded) and its landscapes around the test images:
    one fact record per defence (in `cfg.defences` order), and the images' labels and source."""
    defences = {name: dict(spec) for name, spec in cfg.defences.items()}
    models, train_seconds = train_defences(run, defences, dict(cfg.classifier), cfg.dataset, cfg.seed)
    test = load_dataset(cfg.dataset, "test")
    img = cfg.images
    n = min(img.n_test, len(test))
    x, y = jnp.asarray(test.images[:n]), jnp.asarray(test.labels[:n])
    networks = []
    for name, model in models.items():

        def build(model=model):
            start = time.perf_counter()
            land = loss_landscape(
                cast(Callable[..., Any], model),  # a trained classifier
                x,
                y,
                objective=img.objective,
                span=img.span,
                points=img.points,
                key=key,
                batch_size=cfg.batch_size,
            )
            jax.block_until_ready(land.loss)
            return _stage_of(land, img.radii, cfg.figure_images, time.perf_counter() - start)

        stage = run.stage(f"images-{name}", build)
        networks.append(
            {
                "name": name,
                "measures": measures(stage),
                "figure": _figure_data(stage, cfg.figure_images),
                "seconds": stage["seconds"],
                "training_seconds": train_seconds[name],
            }
        )
    return {"networks": networks, "labels": np.asarray(y), "n": n, "source": test.source}


def cell_mixtures(cells: CellsConfig, seed: int) -> list[Ligands]:
    """The ligand mixtures of the cellular landscapes: mixture j is
    `v1_mixture(fold_in(fold_in(PRNGKey(seed), 2), j), n_ligands, agonist_fraction)`."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 2)
    return [
        v1_mixture(jax.random.fold_in(key, j), cells.n_ligands, cells.agonist_fraction) for j in range(cells.mixtures)
    ]


def _critical_binding_time(model: AdaptiveProofreading, mixture: Ligands) -> float:
    """τ* of a mixture (`AdaptiveProofreading.critical_binding_time`) in float64; NaN for m = 0."""
    with jax.enable_x64(True):
        tau, amount = (jnp.asarray(np.asarray(a, np.float64)) for a in (mixture.tau, mixture.amount))
        return float(model.critical_binding_time(Ligands(tau, amount)))


def _cell_landscapes(run, cfg: Config, key) -> list[dict]:
    """T_{N,m}'s landscapes around the mixtures for every (N, m): one fact record each."""
    cells = cfg.cells
    mixes = cell_mixtures(cells, cfg.seed)
    batch = jax.tree.map(lambda *a: jnp.stack(a), *mixes)
    records = []
    for N, m in cells.models:
        model = AdaptiveProofreading(N, m, tau_c=cells.tau_c)

        def build(model=model):
            start = time.perf_counter()
            land = loss_landscape(
                model,
                batch,
                objective=turn_off(model.threshold),
                threat=move_binding_times(cells.span, tau_c=cells.tau_c),
                span=cells.span,
                points=cells.points,
                key=key,
            )
            jax.block_until_ready(land.loss)
            stage = _stage_of(land, cells.radii, 1, time.perf_counter() - start)
            stage["critical_point"] = [_critical_binding_time(model, mix) for mix in mixes]
            return stage

        stage = run.stage(f"cells-{N}-{m}", build)
        critical = np.asarray(stage["critical_point"], float)
        numbers = measures(stage)
        numbers["T_at_origin"] = 1.0 - numbers["loss_at_origin"]
        numbers["critical_point"] = float(np.nanmean(critical)) if np.any(np.isfinite(critical)) else float("nan")
        records.append({"name": f"{N},{m}", "N": N, "m": m, "measures": numbers, "figure": _figure_data(stage, 1)})
    return records


def compute(run, cfg: Config) -> dict:
    """The image landscapes of every defence and the cells' landscapes, with their measures."""
    key = jax.random.PRNGKey(cfg.seed)
    start = time.perf_counter()
    images = _image_landscapes(run, cfg, jax.random.fold_in(key, 1))
    cells = _cell_landscapes(run, cfg, jax.random.fold_in(key, 3))
    return {"images": images, "cells": cells, "seconds": time.perf_counter() - start}


# ----------------------------------------------------------------------------- figures


def _landscape_of(figure: dict, value=None) -> Landscape:
    """A `Landscape` of the kept grids (no directions) for the plots; `value` maps the loss
    (e.g. to T = 1 − loss for the cells)."""
    e = jnp.asarray(figure["e"])
    loss, origin = np.asarray(figure["grid_loss"]), np.asarray(figure["origin_loss"])
    if value is not None:
        loss, origin = value(loss), value(origin)
    return Landscape(
        e,
        e,
        jnp.asarray(loss),
        jnp.asarray(np.asarray(figure["grid_success"], bool)),
        jnp.asarray(origin),
        jnp.asarray(np.asarray(figure["origin_success"], bool)),
        jnp.asarray(figure["slopes"]),
        (None, None),
    )


def _plot_image_contours(networks: list, titles: dict, labels, rows: int, span: float) -> Figure:
    rows = min(rows, len(labels))
    fig = Figure(figsize=(3.1 * len(networks), 2.7 * rows))
    axes = fig.subplots(rows, len(networks), squeeze=False)
    for col, network in enumerate(networks):
        land = _landscape_of(network["figure"])
        for row in range(rows):
            ax = axes[row, col]
            title = f"{titles[network['name']]}, image {row} (y={labels[row]})"
            plot_landscape_contour(land, row, ax=ax, levels=16, title=title)
            if row < rows - 1:
                ax.set_xlabel("")
            if col > 0:
                ax.set_ylabel("")
    fig.suptitle(
        f"Cross-entropy around test images (hatched, red line: misclassified; + clean image; ε ∈ ±{span:g})",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _plot_image_surfaces(networks: list, titles: dict, index: int = 0) -> Figure:
    fig = Figure(figsize=(4.6 * len(networks), 4.2))
    for k, network in enumerate(networks):
        ax = fig.add_subplot(1, len(networks), k + 1, projection="3d")
        plot_landscape_surface(
            _landscape_of(network["figure"]), index, ax=ax, title=titles[network["name"]], zlabel="loss"
        )
    fig.suptitle(
        f"Cross-entropy surfaces around test image {index} (red on the floor: where it is misclassified)", fontsize=10
    )
    fig.subplots_adjust(left=0.02, right=0.97, wspace=0.25)
    return fig


def _plot_profiles(records: list, titles: dict, ylabel: str, suptitle: str, value=None) -> Figure:
    fig = Figure(figsize=(9.0, 3.4))
    axes = fig.subplots(1, 2, sharey=True)
    for record in records:
        figure = record["figure"]
        along_g, along_r = np.asarray(figure["profile_gradient"]), np.asarray(figure["profile_random"])
        if value is not None:
            along_g, along_r = value(along_g), value(along_r)
        (line,) = axes[0].plot(figure["e"], along_g, label=titles[record["name"]])
        axes[1].plot(figure["e"], along_r, color=line.get_color())
    axes[0].set(xlabel="ε₁ (gradient sign), ε₂ = 0", ylabel=ylabel)
    axes[1].set(xlabel="ε₂ (random ±1), ε₁ = 0")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def _plot_cells(cells: list, titles: dict, cfg: CellsConfig) -> Figure:
    fig = Figure(figsize=(4.2 * len(cells), 7.4))
    for k, record in enumerate(cells):
        land = _landscape_of(record["figure"], lambda loss: 1.0 - loss)
        t = np.asarray(land.loss[0])
        # levels at quantiles of T: the corners (self ligands pushed past τ_c) would take every colour
        levels = np.unique(np.quantile(t, np.linspace(0.0, 1.0, 17)))
        ax = fig.add_subplot(2, len(cells), k + 1)
        title = titles[record["name"]]
        plot_landscape_contour(
            land, 0, ax=ax, levels=levels if len(levels) > 2 else 16, title=title, zlabel="T (quantile levels)"
        )
        ax3 = fig.add_subplot(2, len(cells), len(cells) + k + 1, projection="3d")
        plot_landscape_surface(land, 0, ax=ax3, zlabel="T")
    fig.suptitle(
        f"T_{{N,m}} around ligand mixture 0 in τ space (τ_c = {cfg.tau_c:g}; only τ < τ_c move; ε ∈ "
        f"±{cfg.span:g}; + the clean mixture; red: T ≤ 1 where reached)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _figures(cfg: Config, facts: dict, titles: dict, cell_titles: dict) -> dict[str, Figure]:
    images, cells = facts["images"], facts["cells"]
    networks = images["networks"]
    return {
        "image_contours.png": _plot_image_contours(
            networks, titles, images["labels"], cfg.figure_images, cfg.images.span
        ),
        "image_surfaces.png": _plot_image_surfaces(networks, titles),
        "image_profiles.png": _plot_profiles(
            networks,
            titles,
            "cross-entropy (mean over images)",
            f"Loss along each axis, mean over {images['n']} test images",
        ),
        "cell_landscapes.png": _plot_cells(cells, cell_titles, cfg.cells),
        "cell_profiles.png": _plot_profiles(
            cells,
            cell_titles,
            "T (mean over mixtures)",
            f"T_{{N,m}} along each axis, mean over {cfg.cells.mixtures} mixtures",
            value=lambda loss: 1.0 - loss,
        ),
    }


# ----------------------------------------------------------------------------- verdicts

GEOMETRY = (
    "Geometry: grid points are clipped to the threat's constraints (pixels to [0, 1], τ ≥ 0) but not to its "
    "ball, so the ε₂ = 0 line is exactly FGSM of radius ε₁ and a corner of the grid lies at L∞ distance "
    "|ε₁| + |ε₂|; each image has one random direction shared by all networks. The cross-entropy is convex in "
    "the logit margin (≈ e^(−margin) at a confidently classified point), so rise/linear > 1 is expected even "
    "for a smooth network: compare it across networks rather than with 1."
)


def network_note(title: str, numbers: dict, lo: float, hi: float, natural_slope: float | None) -> str:
    """One network's landscape in a sentence: slope, rises within `hi` along ∇ and the random
    direction, rise/linear and FGSM's success at `lo` and `hi` (`numbers`: its `measures`, with
    `by_lo`, `by_hi` the measures within those radii); the share of zero-gradient pixels where
    above 1%, and the slope relative to the natural network's (`natural_slope`, if given and > 0)."""
    a, b = numbers["by_lo"], numbers["by_hi"]
    text = (
        f"{title}: slope along the gradient sign {numbers['slope_gradient']:.3g}, loss rise within ε ≤ {hi:g} "
        f"{b['rise_gradient']:.3g} along ∇ vs {b['rise_random']:.3g} along the random direction "
        f"({b['gradient_over_random']:.3g}×); rise/linear {a['rise_over_linear']:.2f} at {lo:g}, "
        f"{b['rise_over_linear']:.2f} at {hi:g}; FGSM misclassifies {100 * a['fgsm_success']:.0f}% / "
        f"{100 * b['fgsm_success']:.0f}% at {lo:g} / {hi:g} (clean: {100 * numbers['clean_success']:.0f}%)"
    )
    if numbers["zero_gradient_share"] > 0.01:
        text += (
            f"; {100 * numbers['zero_gradient_share']:.0f}% of the pixels have an exactly zero gradient (the "
            f"filter is flat at 0, so the dark background never moves along ε₁)"
        )
    if natural_slope is not None and natural_slope > 0:
        text += f"; its slope is {numbers['slope_gradient'] / natural_slope:.2g}× the natural network's"
    return text + "."


def saturation_note(saturated: dict[str, float]) -> str | None:
    """The networks (title → share) with saturated images, or None if there are none."""
    saturated = {title: share for title, share in saturated.items() if share > 0}
    if not saturated:
        return None
    return (
        f"Saturated images (clean cross-entropy < {SATURATED:g}): "
        + ", ".join(f"{100 * v:.0f}% for {k}" for k, v in saturated.items())
        + ". There the float32 gradient of the "
        "cross-entropy is rounding noise (1 − p_y is below the resolution of p_y), so their ε₁ axis is an "
        "arbitrary ±1 direction, not the gradient sign (FGSM with this loss gets the same arbitrary "
        "direction); a margin loss does not saturate. They are kept in the means."
    )


def masking_verdict(gradient_over_random: dict[str, float], hi: float) -> str:
    """Whether, for every network (title → ∇/random rise ratio within `hi`), the loss rises more
    along the gradient sign than along the random direction; else which ones suggest masking."""
    others = [title for title, ratio in gradient_over_random.items() if not ratio > 1]
    if not others:
        return (
            f"For every network the loss rises more along the gradient sign than along the random ±1 "
            f"direction within ε ≤ {hi:g}: no landscape shows the masking signature in which a random "
            f"direction beats the gradient."
        )
    return (
        f"The random ±1 direction raises the loss at least as much as the gradient sign within ε ≤ {hi:g} "
        f"for {', '.join(others)}: the gradient at the image misleads there (gradient masking suspected)."
    )


def flattening_note(relative: dict[str, tuple[float, float]], lo: float, hi: float) -> str:
    """The rise along the gradient sign relative to the natural network's within `lo` and `hi`
    (title → (ratio at lo, ratio at hi)); networks whose ratio at `lo` is below half that at
    `hi` flatten the landscape near the image."""
    near = [title for title, (a, b) in relative.items() if a < 0.5 * b]
    text = (
        f"Rise of the loss along the gradient sign relative to the natural network, within ε ≤ {lo:g} / {hi:g}: "
        + ", ".join(f"{title} {a:.2g} / {b:.2g}" for title, (a, b) in relative.items())
        + "."
    )
    if near:
        text += (
            f" {', '.join(near)} flatten the landscape most near the image: a sign step of {lo:g} barely "
            f"raises the loss, larger ones do. Whether iterative or straight-through attacks get through is "
            f"measured in biomimetic-defence, not here."
        )
    return text


def cell_descent_clause(m: int, numbers: dict, lo: float, mid: float, span: float) -> str:
    """What happens to T_{N,m} along the gradient sign: whether it falls at all (m = 0: it cannot),
    how much within `lo` against the first-order prediction (and at `mid`), where it is lowest,
    whether it rises again before `span`, and, for m > 1, the gradient vanishing near τ = 0.
    `numbers`: the cell's measures with `by_lo`, `by_mid` the measures within `lo`, `mid`."""
    a, b = numbers["by_lo"], numbers["by_mid"]
    lowest = 1.0 - numbers["peak_gradient_loss"]
    if not np.isfinite(numbers["peak_gradient_e"]):
        text = f" and T does not fall along it (lowest {lowest:.4g})"
        if m == 0:
            text += (
                ": ∂T/∂τ > 0 for every ligand when m = 0, so the sign direction pushes the self ligands down, "
                "they reach τ = 0 at once, and there T_{N,0} no longer depends on them except through "
                "their amount (S_0): moving binding times cannot lower it. T only rises, where self ligands "
                "are pushed up towards τ_c (ε₁ < 0, or either sign of ε₂)"
            )
        return text
    text = ""
    if numbers["pushed_up_share"] == 1.0 and np.isfinite(numbers["critical_point"]):
        text += f" (all lie below the probe critical point τ* = {numbers['critical_point']:.3g})"
    text += (
        f". T falls {a['rise_gradient']:.2g} within ε ≤ {lo:g} ({a['rise_over_linear']:.2f}× the "
        f"first-order prediction; {b['rise_over_linear']:.2f}× at ε = {mid:g}) and is lowest, "
        f"{lowest:.3g}, at ε₁ = {numbers['peak_gradient_e']:.2g}"
    )
    if numbers["peak_gradient_e"] < span:
        text += (
            ", then rises again as the ligands pass τ* towards τ_c: along the sign direction a larger "
            "step is not a stronger attack"
        )
    if m > 1 and b["rise_over_linear"] > 2:
        text += (
            f". For m = {m} > 1 the gradient vanishes like τ^(m−1) near τ = 0, where the self ligands "
            f"sit: the slope at the mixture predicts a {b['rise_over_linear']:.2g}× smaller fall at "
            f"ε = {mid:g} than the landscape shows; the sign of the gradient, not its size, points the way"
        )
    return text


def cell_random_clause(numbers: dict, span: float) -> str:
    """Whether T falls along the random direction within `span` (beyond rounding noise,
    10⁻⁴ (1 + |T|)), and the share of the grid that turns the cell off (`by_span`)."""
    c = numbers["by_span"]
    if c["rise_random"] > 1e-4 * (1.0 + abs(numbers["T_at_origin"])):
        text = (
            f". Along the random ±1 direction T falls {c['rise_random']:.2g} within ε ≤ {span:g} "
            f"(∇/random {c['gradient_over_random']:.2g})"
        )
    else:
        text = ". Along the random ±1 direction T does not fall"
    return text + f"; {100 * c['grid_success']:.0f}% of the grid turns the cell off."


def cell_note(name: str, m: int, numbers: dict, lo: float, mid: float, span: float) -> str:
    """T_{N,m}'s landscape in a sentence (`cell_descent_clause`, `cell_random_clause`)."""
    return (
        f"T_{{{name}}}: T = {numbers['T_at_origin']:.3g} at the mixture, dT/dε₁ = {-numbers['slope_gradient']:.2g}; "
        f"the sign direction pushes {100 * numbers['pushed_up_share']:.0f}% of the movable ligands up"
        + cell_descent_clause(m, numbers, lo, mid, span)
        + cell_random_clause(numbers, span)
    )


def unreachable_verdict(grid_success: list[float], agonist_fraction: float, span: float) -> str | None:
    """If no grid point turns any cell off (`grid_success` per model, within `span`), why; else None."""
    if any(share != 0 for share in grid_success):
        return None
    return (
        f"With {100 * agonist_fraction:.0f}% agonists held fixed, no point of the grid reaches "
        f"T ≤ 1 for any of these (N, m): moving the binding times of the self ligands by up to "
        f"{span:g} (and up to {2 * span:g} at the corners) is not enough to turn these cells off."
    )


# ----------------------------------------------------------------------------- tables, notes, render


def _r(value, digits=3):
    value = float(value)
    return round(value, digits) + 0.0 if np.isfinite(value) else str(value)


def _within(numbers: dict, radii, **chosen: float) -> dict:
    """`numbers` (a `measures` record) with `by_<label>`: its measures within each chosen radius
    (which must be one of `radii`, the config's, aligned with `by_radius`)."""
    radii = list(radii)
    return {**numbers, **{f"by_{label}": numbers["by_radius"][radii.index(r)] for label, r in chosen.items()}}


def _cell_radii(cfg: CellsConfig) -> dict[str, float]:
    """The cells' radii the tables and notes show: the smallest, the middle one and the span."""
    return {"lo": min(cfg.radii), "mid": sorted(cfg.radii)[len(cfg.radii) // 2], "span": cfg.span}


def _network_rows(facts: dict, cfg: Config, titles: dict) -> tuple[list, list]:
    lo, hi = min(cfg.images.radii), cfg.images.span
    shape_rows, fooled_rows = [], []
    for network in facts["images"]["networks"]:
        nb = _within(network["measures"], cfg.images.radii, lo=lo, hi=hi)
        a, b, title = nb["by_lo"], nb["by_hi"], titles[network["name"]]
        shape_rows.append(
            [title, _r(1 - nb["clean_success"]), _r(nb["loss_at_origin"]), _r(nb["slope_gradient"])]
            + [_r(nb["slope_random"]), _r(a["rise_gradient"]), _r(a["rise_random"]), _r(b["rise_gradient"])]
            + [_r(b["rise_random"]), _r(b["gradient_over_random"], 2), _r(a["rise_over_linear"], 2)]
            + [_r(b["rise_over_linear"], 2), _r(nb["zero_gradient_share"]), _r(nb["saturated_share"])]
        )
        fooled_rows.append(
            [title, _r(a["fgsm_success"]), _r(b["fgsm_success"]), _r(a["random_success"]), _r(b["random_success"])]
            + [_r(a["grid_success"]), _r(b["grid_success"]), _r(network["seconds"], 2)]
            + [_r(network["training_seconds"], 1)]
        )
    return shape_rows, fooled_rows


def _cell_rows(facts: dict, cfg: CellsConfig) -> list:
    rows = []
    for record in facts["cells"]:
        nb = _within(record["measures"], cfg.radii, **_cell_radii(cfg))
        a, m, b = nb["by_lo"], nb["by_mid"], nb["by_span"]
        rows.append(
            [f"({record['name']})", _r(nb["T_at_origin"]), _r(nb["critical_point"]), _r(nb["pushed_up_share"], 2)]
            + [_r(-nb["slope_gradient"], 4), _r(-nb["slope_random"], 4), _r(a["rise_gradient"], 4)]
            + [_r(a["rise_random"], 4), _r(b["rise_gradient"], 4), _r(b["rise_random"], 4)]
            + [_r(b["gradient_over_random"], 2), _r(a["rise_over_linear"], 2), _r(m["rise_over_linear"], 2)]
            + [_r(1.0 - nb["peak_gradient_loss"]), _r(nb["peak_gradient_e"], 2), _r(b["grid_success"])]
        )
    return rows


def _tables(facts: dict, cfg: Config, titles: dict) -> list[Table]:
    lo, hi = min(cfg.images.radii), cfg.images.span
    c = _cell_radii(cfg.cells)
    shape_rows, fooled_rows = _network_rows(facts, cfg, titles)
    shape_columns = ["network", "clean accuracy", "loss at 0", "slope ∇", "slope random"]
    shape_columns += [f"rise ∇ ≤{lo:g}", f"rise random ≤{lo:g}", f"rise ∇ ≤{hi:g}", f"rise random ≤{hi:g}"]
    shape_columns += [f"∇/random at {hi:g}", f"rise/linear at {lo:g}", f"rise/linear at {hi:g}"]
    shape_columns += ["zero-gradient pixels", f"saturated (loss < {SATURATED:g})"]
    fooled_columns = ["network", f"FGSM (+{lo:g}, 0)", f"FGSM (+{hi:g}, 0)", f"random (0, ±{lo:g})"]
    fooled_columns += [f"random (0, ±{hi:g})", f"grid ≤{lo:g}", f"grid ≤{hi:g}", "landscape s", "training s"]
    cell_columns = ["(N, m)", "T at 0", "τ* (probe)", "share pushed up", "dT/dε ∇", "dT/dε random"]
    cell_columns += [f"T drop ∇ ≤{c['lo']:g}", f"T drop random ≤{c['lo']:g}", f"T drop ∇ ≤{c['span']:g}"]
    cell_columns += [f"T drop random ≤{c['span']:g}", f"∇/random at {c['span']:g}", f"drop/linear at {c['lo']:g}"]
    cell_columns += [f"drop/linear at {c['mid']:g}", "lowest T on the ∇ axis", "at ε₁", f"grid T ≤ 1 (≤{c['span']:g})"]
    return [
        Table(
            f"Networks: shape of the cross-entropy landscape (means over {facts['images']['n']} test images)",
            shape_columns,
            shape_rows,
        ),
        Table(
            "Networks: share misclassified at the FGSM point (+r, 0), at random noise (0, ±r) and on the "
            "grid within r (clean errors included)",
            fooled_columns,
            fooled_rows,
        ),
        Table(
            f"T_{{N,m}} in τ space (means over {cfg.cells.mixtures} mixtures; drops of T = rises of the loss 1 − T)",
            cell_columns,
            _cell_rows(facts, cfg.cells),
        ),
    ]


def _network_notes(facts: dict, cfg: Config, titles: dict) -> list[str]:
    lo, hi = min(cfg.images.radii), cfg.images.span
    numbers = {
        network["name"]: _within(network["measures"], cfg.images.radii, lo=lo, hi=hi)
        for network in facts["images"]["networks"]
    }
    natural = numbers.get("natural")
    notes = [
        network_note(titles[name], nb, lo, hi, natural["slope_gradient"] if natural and name != "natural" else None)
        for name, nb in numbers.items()
    ]
    saturated = saturation_note({titles[name]: nb["saturated_share"] for name, nb in numbers.items()})
    notes += [saturated] if saturated else []
    notes.append(masking_verdict({titles[k]: nb["by_hi"]["gradient_over_random"] for k, nb in numbers.items()}, hi))
    if natural is not None:
        relative = {
            titles[k]: (
                nb["by_lo"]["rise_gradient"] / natural["by_lo"]["rise_gradient"],
                nb["by_hi"]["rise_gradient"] / natural["by_hi"]["rise_gradient"],
            )
            for k, nb in numbers.items()
            if k != "natural"
        }
        notes.append(flattening_note(relative, lo, hi))
    return notes


def _cell_notes(facts: dict, cfg: CellsConfig) -> list[str]:
    c = _cell_radii(cfg)
    notes = []
    for record in facts["cells"]:
        nb = _within(record["measures"], cfg.radii, **c)
        notes.append(cell_note(record["name"], record["m"], nb, c["lo"], c["mid"], cfg.span))
    by_span = [_within(r["measures"], cfg.radii, span=cfg.span)["by_span"]["grid_success"] for r in facts["cells"]]
    unreachable = unreachable_verdict(by_span, cfg.agonist_fraction, cfg.span)
    return notes + ([unreachable] if unreachable else [])


def _summary(cfg: Config, facts: dict) -> str:
    img, cel, images = cfg.images, cfg.cells, facts["images"]
    return (
        f"Cross-entropy on a {img.points}² grid, ε₁ (gradient sign), ε₂ (random ±1) ∈ [−{img.span:g}, "
        f"{img.span:g}], around the first {images['n']} images of {images['source']} for the "
        f"{cfg.classifier['arch'].upper()} classifier trained naturally, behind Hill filters and a proofreading "
        f"layer, and adversarially (the models of biomimetic-defence); and T_{{N,m}} (τ_c = {cel.tau_c:g}) in "
        f"binding-time space around {cel.mixtures} mixture(s) of {cel.n_ligands} ligands "
        f"({cel.agonist_fraction:g} agonists), ε ∈ [−{cel.span:g}, {cel.span:g}], "
        f"for (N, m) = {', '.join(f'({N}, {m})' for N, m in cel.models)}."
    )


def render(cfg: Config, facts: dict) -> Rendered:
    titles = {name: describe_defence(spec) for name, spec in cfg.defences.items()}
    cell_titles = {record["name"]: f"$T_{{{record['name']}}}$" for record in facts["cells"]}
    return Rendered(
        summary=_summary(cfg, facts),
        tables=_tables(facts, cfg, titles),
        figures=_figures(cfg, facts, titles, cell_titles),
        notes=[GEOMETRY, *_network_notes(facts, cfg, titles), *_cell_notes(facts, cfg.cells)],
    )


# ----------------------------------------------------------------------------- presets

_DEFENCES = {name: DEFENCES[name] for name in ("natural", "hill-4", "hill-16", "proofreading", "adversarial")}
_IMAGES = {"span": 0.3, "points": 61, "objective": "cross-entropy", "radii": (0.1, 0.3)}

EXPERIMENT = register(
    Experiment(
        name="loss-landscapes",
        title="Loss landscapes: networks (natural, biomimetic filters, adversarial) and T_{N,m} in τ space",
        paper="Rademaker et al. 2019 (loss landscapes, protocol open)",
        presets={
            "quick": Config(
                dataset="mnist-subset",
                classifier=MLP_CLASSIFIER,
                defences=_DEFENCES,
                images=ImagesConfig(n_test=32, **_IMAGES),
                cells=CellsConfig(n_ligands=1000, mixtures=4),
                batch_size=2048,
            ),
            # paper: the CNN models of biomimetic-defence's paper preset (same specs, same cache entries)
            "paper": Config(
                dataset="mnist",
                classifier={"arch": "cnn", "epochs": 10, "batch_size": 128},
                defences={
                    **_DEFENCES,
                    "adversarial": {
                        "adversarial": {"epsilon": 0.3, "steps": 40, "step_size": 0.01, "warmup": 0.0, "epochs": 20}
                    },
                },
                images=ImagesConfig(n_test=100, **_IMAGES),
                cells=CellsConfig(n_ligands=10201, mixtures=8),
                batch_size=512,
            ),
        },
        compute=compute,
        render=render,
        tags=("networks", "cells", "landscapes"),
    )
)
