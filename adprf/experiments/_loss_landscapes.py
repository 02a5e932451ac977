"""loss-landscapes: the attacker's loss around test points, along the gradient sign and a random
±1 direction, for natural, biomimetically filtered and adversarially trained networks, and T_{N,m}
in binding-time space (Rademaker et al. 2019, SPEC §4; the protocol is open, choices below).

**Networks.** The defended MNIST classifiers of `biomimetic-defence` (`defences.train_defences`
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
move); the tables also give the 0.3 and 1 squares.

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

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .._ligands import v1_mixture
from .._results import Run
from ..analysis import Landscape, loss_landscape, plot_landscape_contour, plot_landscape_surface
from ..attacks import move_binding_times, turn_off
from ..cells import AdaptiveProofreading
from ..data import load_dataset
from ..nets import DEFENCES, MLP_CLASSIFIER, describe_defence, train_defences
from ._registry import LegacyExperiment as Experiment, register

SATURATED = 1e-6
"""A clean cross-entropy below this is saturated: in float32, softmax − one-hot rounds the label's
component (1 − p_y ≈ loss) to within ~10⁻⁷ of its value, so the gradient at the image, and its
sign, are rounding noise there (measured: two compilations of the same gradient disagree on most
pixel signs at loss 0, on ~3 of 784 at loss 10⁻⁵)."""


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
    axes = lambda a: tuple(range(1, a.ndim))
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


def measures(stage: dict) -> dict:
    """The key numbers of one set of landscapes (a stage of `_stage_of`), means over test points."""
    e = np.asarray(stage["e"])
    along_g, along_r = np.asarray(stage["loss_gradient"]), np.asarray(stage["loss_random"])
    hit_g, hit_r = np.asarray(stage["success_gradient"], bool), np.asarray(stage["success_random"], bool)
    slopes, origin = np.asarray(stage["slopes"]), np.asarray(stage["origin_loss"])
    scale = float(np.abs(origin).mean())
    peak = along_g.mean(0)
    flat = peak.max() - origin.mean() <= 1e-4 * (1.0 + scale)
    out = {
        "loss_at_origin": float(origin.mean()),
        "slope_gradient": float(slopes[:, 0].mean()),
        "slope_random": float(slopes[:, 1].mean()),
        "clean_success": float(np.mean(stage["origin_success"])),
        "zero_gradient_share": float(np.mean(stage["zero_gradient"])),
        "saturated_share": float(np.mean(origin < SATURATED)),
        "pushed_up_share": float(np.mean(stage["pushed_up"])),
        "peak_gradient_e": float("nan") if flat else float(e[np.argmax(peak)]),
        "peak_gradient_loss": float(peak.max()),
        "by_radius": {},
    }
    squares = dict(zip(stage["radii"], np.asarray(stage["square_success"]).mean(0)))
    for r in stage["radii"]:
        inside, (lo, _, hi) = _on_axes(e, r)
        rise_g = float((along_g[:, inside] - origin[:, None]).max(1).mean())
        rise_r = float((along_r[:, inside] - origin[:, None]).max(1).mean())
        out["by_radius"][f"{r:g}"] = {
            "rise_gradient": rise_g,
            "rise_random": rise_r,
            "gradient_over_random": _ratio(rise_g, rise_r, scale),
            "rise_over_linear": _ratio(float((along_g[:, hi] - origin).mean()), r * float(slopes[:, 0].mean()), scale),
            "fgsm_success": float(hit_g[:, hi].mean()),
            "random_success": float((hit_r[:, lo] | hit_r[:, hi]).mean()),
            "grid_success": float(squares[r]),
        }
    return out


def _landscape_of(stage: dict, value=None) -> Landscape:
    """A `Landscape` of the kept grids (no directions) for the plots; `value` maps the loss
    (e.g. to T = 1 − loss for the cells)."""
    e = jnp.asarray(stage["e"])
    loss = np.asarray(stage["grid_loss"])
    keep = loss.shape[0]
    origin = np.asarray(stage["origin_loss"])[:keep]
    if value is not None:
        loss, origin = value(loss), value(origin)
    return Landscape(
        e,
        e,
        jnp.asarray(loss),
        jnp.asarray(np.asarray(stage["grid_success"], bool)),
        jnp.asarray(origin),
        jnp.asarray(np.asarray(stage["origin_success"], bool)[:keep]),
        jnp.asarray(stage["slopes"])[:keep],
        (None, None),
    )


def _image_landscapes(run: Run, cfg: dict, key) -> tuple[dict, dict, dict]:
    models, train_seconds = train_defences(run, cfg["defences"], cfg["classifier"], cfg["dataset"], cfg["seed"])
    test = load_dataset(cfg["dataset"], "test")
    img = cfg["images"]
    n = min(img["n_test"], len(test))
    x, y = jnp.asarray(test.images[:n]), jnp.asarray(test.labels[:n])
    stages = {}
    for name, model in models.items():

        def build(model=model):
            start = time.perf_counter()
            land = loss_landscape(
                model,
                x,
                y,
                objective=img["objective"],
                span=img["span"],
                points=img["points"],
                key=key,
                batch_size=cfg["batch_size"],
            )
            jax.block_until_ready(land.loss)
            return _stage_of(land, img["radii"], cfg["figure_images"], time.perf_counter() - start)

        stages[name] = run.stage(f"images-{name}", build)
    return stages, train_seconds, {"labels": np.asarray(y), "n": n, "source": test.source}


def cell_mixtures(cells: dict, seed: int) -> list:
    """The ligand mixtures of the cellular landscapes: mixture j is
    `v1_mixture(fold_in(fold_in(PRNGKey(seed), 2), j), n_ligands, agonist_fraction)`."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), 2)
    return [
        v1_mixture(jax.random.fold_in(key, j), cells["n_ligands"], cells["agonist_fraction"])
        for j in range(cells["mixtures"])
    ]


def critical_binding_time(N: int, m: int, tau, amount) -> float:
    """The probe critical point of T_{N,m} at a mixture, closed form (SPEC §2.1): τ* solves
    N τ*^(N−m) S_m = m S_N; NaN for m = 0 (no sign change)."""
    if m == 0:
        return float("nan")
    tau, amount = np.asarray(tau, np.float64), np.asarray(amount, np.float64)
    s_n, s_m = np.sum(amount * tau**N), np.sum(amount * tau**m)
    return float((m * s_n / (N * s_m)) ** (1.0 / (N - m)))


def _cell_landscapes(run: Run, cfg: dict, key) -> dict:
    cells = cfg["cells"]
    mixes = cell_mixtures(cells, cfg["seed"])
    batch = jax.tree.map(lambda *a: jnp.stack(a), *mixes)
    stages = {}
    for N, m in cells["models"]:
        model = AdaptiveProofreading(N, m, tau_c=cells["tau_c"])

        def build(model=model, N=N, m=m):
            start = time.perf_counter()
            land = loss_landscape(
                model,
                batch,
                objective=turn_off(model),
                threat=move_binding_times(cells["span"], tau_c=cells["tau_c"]),
                span=cells["span"],
                points=cells["points"],
                key=key,
            )
            jax.block_until_ready(land.loss)
            stage = _stage_of(land, cells["radii"], 1, time.perf_counter() - start)
            stage["critical_point"] = [critical_binding_time(N, m, mix.tau, mix.amount) for mix in mixes]
            return stage

        stages[f"{N},{m}"] = run.stage(f"cells-{N}-{m}", build)
    return stages


def _plot_image_contours(stages: dict, cfg: dict, rows: int, labels):
    names = list(stages)
    rows = min(rows, len(labels))
    fig = Figure(figsize=(3.1 * len(names), 2.7 * rows))
    axes = fig.subplots(rows, len(names), squeeze=False)
    for col, name in enumerate(names):
        land = _landscape_of(stages[name])
        for row in range(rows):
            ax = axes[row, col]
            plot_landscape_contour(
                land,
                row,
                ax=ax,
                levels=16,
                title=f"{describe_defence(cfg['defences'][name])}, image {row} (y={labels[row]})",
            )
            if row < rows - 1:
                ax.set_xlabel("")
            if col > 0:
                ax.set_ylabel("")
    fig.suptitle(
        f"Cross-entropy around test images (hatched, red line: misclassified; + clean image; "
        f"ε ∈ ±{cfg['images']['span']:g})",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _plot_image_surfaces(stages: dict, titles: dict, index: int = 0):
    fig = Figure(figsize=(4.6 * len(stages), 4.2))
    for k, (name, stage) in enumerate(stages.items()):
        ax = fig.add_subplot(1, len(stages), k + 1, projection="3d")
        plot_landscape_surface(_landscape_of(stage), index, ax=ax, title=titles[name], zlabel="loss")
    fig.suptitle(
        f"Cross-entropy surfaces around test image {index} (red on the floor: where it is misclassified)", fontsize=10
    )
    fig.subplots_adjust(left=0.02, right=0.97, wspace=0.25)
    return fig


def _plot_profiles(stages: dict, titles: dict, ylabel: str, suptitle: str, value=None):
    fig = Figure(figsize=(9.0, 3.4))
    axes = fig.subplots(1, 2, sharey=True)
    for name, stage in stages.items():
        e = np.asarray(stage["e"])
        along_g, along_r = np.asarray(stage["loss_gradient"]), np.asarray(stage["loss_random"])
        if value is not None:
            along_g, along_r = value(along_g), value(along_r)
        (line,) = axes[0].plot(e, along_g.mean(0), label=titles[name])
        axes[1].plot(e, along_r.mean(0), color=line.get_color())
    axes[0].set(xlabel="ε₁ (gradient sign), ε₂ = 0", ylabel=ylabel)
    axes[1].set(xlabel="ε₂ (random ±1), ε₁ = 0")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def _plot_cells(stages: dict, titles: dict, cfg: dict):
    names = list(stages)
    fig = Figure(figsize=(4.2 * len(names), 7.4))
    for k, name in enumerate(names):
        land = _landscape_of(stages[name], lambda loss: 1.0 - loss)
        t = np.asarray(land.loss[0])
        # levels at quantiles of T: the corners (self ligands pushed past τ_c) would take every colour
        levels = np.unique(np.quantile(t, np.linspace(0.0, 1.0, 17)))
        ax = fig.add_subplot(2, len(names), k + 1)
        plot_landscape_contour(
            land, 0, ax=ax, levels=levels if len(levels) > 2 else 16, title=titles[name], zlabel="T (quantile levels)"
        )
        ax3 = fig.add_subplot(2, len(names), len(names) + k + 1, projection="3d")
        plot_landscape_surface(land, 0, ax=ax3, zlabel="T")
    cells = cfg["cells"]
    fig.suptitle(
        f"T_{{N,m}} around ligand mixture 0 in τ space (τ_c = {cells['tau_c']:g}; only τ < τ_c move; ε ∈ "
        f"±{cells['span']:g}; + the clean mixture; red: T ≤ 1 where reached)",
        fontsize=10,
    )
    fig.tight_layout()
    return fig


def _r(value, digits=3):
    value = float(value)
    return round(value, digits) + 0.0 if np.isfinite(value) else str(value)


def run(run: Run) -> dict:
    cfg = run.config
    key = jax.random.PRNGKey(cfg["seed"])
    start = time.perf_counter()
    image_stages, train_seconds, meta = _image_landscapes(run, cfg, jax.random.fold_in(key, 1))
    cell_stages = _cell_landscapes(run, cfg, jax.random.fold_in(key, 3))
    img, cel = cfg["images"], cfg["cells"]
    titles = {name: describe_defence(spec) for name, spec in cfg["defences"].items()}
    cell_titles = {k: f"$T_{{{k}}}$" for k in cell_stages}

    run.save_figure(_plot_image_contours(image_stages, cfg, cfg["figure_images"], meta["labels"]), "image_contours.png")
    run.save_figure(_plot_image_surfaces(image_stages, titles), "image_surfaces.png")
    run.save_figure(
        _plot_profiles(
            image_stages,
            titles,
            "cross-entropy (mean over images)",
            f"Loss along each axis, mean over {meta['n']} test images",
        ),
        "image_profiles.png",
    )
    run.save_figure(_plot_cells(cell_stages, cell_titles, cfg), "cell_landscapes.png")
    run.save_figure(
        _plot_profiles(
            cell_stages,
            cell_titles,
            "T (mean over mixtures)",
            f"T_{{N,m}} along each axis, mean over {cel['mixtures']} mixtures",
            value=lambda loss: 1.0 - loss,
        ),
        "cell_profiles.png",
    )

    image_numbers = {name: measures(s) for name, s in image_stages.items()}
    cell_numbers = {name: measures(s) for name, s in cell_stages.items()}
    for name, s in cell_stages.items():
        cell_numbers[name]["T_at_origin"] = 1.0 - cell_numbers[name]["loss_at_origin"]
        cell_numbers[name]["critical_point"] = (
            float(np.nanmean(np.asarray(s["critical_point"], float)))
            if np.any(np.isfinite(np.asarray(s["critical_point"], float)))
            else float("nan")
        )

    lo, hi = min(img["radii"]), img["span"]
    shape_rows, fooled_rows = [], []
    for name, nb in image_numbers.items():
        a, b = nb["by_radius"][f"{lo:g}"], nb["by_radius"][f"{hi:g}"]
        shape_rows.append(
            [
                titles[name],
                _r(1 - nb["clean_success"]),
                _r(nb["loss_at_origin"]),
                _r(nb["slope_gradient"]),
                _r(nb["slope_random"]),
                _r(a["rise_gradient"]),
                _r(a["rise_random"]),
                _r(b["rise_gradient"]),
                _r(b["rise_random"]),
                _r(b["gradient_over_random"], 2),
                _r(a["rise_over_linear"], 2),
                _r(b["rise_over_linear"], 2),
                _r(nb["zero_gradient_share"]),
                _r(nb["saturated_share"]),
            ]
        )
        fooled_rows.append(
            [
                titles[name],
                _r(a["fgsm_success"]),
                _r(b["fgsm_success"]),
                _r(a["random_success"]),
                _r(b["random_success"]),
                _r(a["grid_success"]),
                _r(b["grid_success"]),
                _r(image_stages[name]["seconds"], 2),
                _r(train_seconds[name], 1),
            ]
        )
    cell_rows = []
    c_lo, c_mid, c_hi = min(cel["radii"]), sorted(cel["radii"])[len(cel["radii"]) // 2], cel["span"]
    for name, nb in cell_numbers.items():
        a, m, b = (nb["by_radius"][f"{r:g}"] for r in (c_lo, c_mid, c_hi))
        cell_rows.append(
            [
                f"({name})",
                _r(nb["T_at_origin"]),
                _r(nb["critical_point"]),
                _r(nb["pushed_up_share"], 2),
                _r(-nb["slope_gradient"], 4),
                _r(-nb["slope_random"], 4),
                _r(a["rise_gradient"], 4),
                _r(a["rise_random"], 4),
                _r(b["rise_gradient"], 4),
                _r(b["rise_random"], 4),
                _r(b["gradient_over_random"], 2),
                _r(a["rise_over_linear"], 2),
                _r(m["rise_over_linear"], 2),
                _r(1.0 - nb["peak_gradient_loss"]),
                _r(nb["peak_gradient_e"], 2),
                _r(b["grid_success"]),
            ]
        )
    tables = [
        {
            "title": f"Networks: shape of the cross-entropy landscape (means over {meta['n']} test images)",
            "columns": [
                "network",
                "clean accuracy",
                "loss at 0",
                "slope ∇",
                "slope random",
                f"rise ∇ ≤{lo:g}",
                f"rise random ≤{lo:g}",
                f"rise ∇ ≤{hi:g}",
                f"rise random ≤{hi:g}",
                f"∇/random at {hi:g}",
                f"rise/linear at {lo:g}",
                f"rise/linear at {hi:g}",
                "zero-gradient pixels",
                f"saturated (loss < {SATURATED:g})",
            ],
            "rows": shape_rows,
        },
        {
            "title": "Networks: share misclassified at the FGSM point (+r, 0), at random noise (0, ±r) and on the "
            "grid within r (clean errors included)",
            "columns": [
                "network",
                f"FGSM (+{lo:g}, 0)",
                f"FGSM (+{hi:g}, 0)",
                f"random (0, ±{lo:g})",
                f"random (0, ±{hi:g})",
                f"grid ≤{lo:g}",
                f"grid ≤{hi:g}",
                "landscape s",
                "training s",
            ],
            "rows": fooled_rows,
        },
        {
            "title": f"T_{{N,m}} in τ space (means over {cel['mixtures']} mixtures; drops of T = rises of the loss 1 − T)",
            "columns": [
                "(N, m)",
                "T at 0",
                "τ* (probe)",
                "share pushed up",
                "dT/dε ∇",
                "dT/dε random",
                f"T drop ∇ ≤{c_lo:g}",
                f"T drop random ≤{c_lo:g}",
                f"T drop ∇ ≤{c_hi:g}",
                f"T drop random ≤{c_hi:g}",
                f"∇/random at {c_hi:g}",
                f"drop/linear at {c_lo:g}",
                f"drop/linear at {c_mid:g}",
                "lowest T on the ∇ axis",
                "at ε₁",
                f"grid T ≤ 1 (≤{c_hi:g})",
            ],
            "rows": cell_rows,
        },
    ]
    summary = (
        f"Cross-entropy on a {img['points']}² grid, ε₁ (gradient sign), ε₂ (random ±1) ∈ [−{img['span']:g}, "
        f"{img['span']:g}], around the first {meta['n']} images of {meta['source']} for the "
        f"{cfg['classifier']['arch'].upper()} classifier trained naturally, behind Hill filters and a proofreading "
        f"layer, and adversarially (the models of biomimetic-defence); and T_{{N,m}} (τ_c = {cel['tau_c']:g}) in "
        f"binding-time space around {cel['mixtures']} mixture(s) of {cel['n_ligands']} ligands "
        f"({cel['agonist_fraction']:g} agonists), ε ∈ [−{cel['span']:g}, {cel['span']:g}], "
        f"for (N, m) = {', '.join(f'({N}, {m})' for N, m in cel['models'])}. "
        f"Wall time {time.perf_counter() - start:.1f} s (training included where the models were not cached)."
    )
    notes = _notes(image_numbers, cell_numbers, titles, cfg)
    numbers = {
        "images": image_numbers,
        "cells": cell_numbers,
        "image_origin_loss": {k: s["origin_loss"] for k, s in image_stages.items()},
        "cell_T_at_origin": {k: [1.0 - v for v in s["origin_loss"]] for k, s in cell_stages.items()},
        "labels": meta["labels"],
        "train_seconds": train_seconds,
    }
    return {"summary": summary, "tables": tables, "notes": notes, "numbers": numbers}


def _notes(images: dict, cells: dict, titles: dict, cfg: dict) -> list[str]:
    """Interpretation, with the numbers it rests on; a claim that the numbers do not carry is not made."""
    img, cel = cfg["images"], cfg["cells"]
    lo, hi = f"{min(img['radii']):g}", f"{img['span']:g}"
    notes = [
        "Geometry: grid points are clipped to the threat's constraints (pixels to [0, 1], τ ≥ 0) but not to its "
        "ball, so the ε₂ = 0 line is exactly FGSM of radius ε₁ and a corner of the grid lies at L∞ distance "
        "|ε₁| + |ε₂|; each image has one random direction shared by all networks. The cross-entropy is convex in "
        "the logit margin (≈ e^(−margin) at a confidently classified point), so rise/linear > 1 is expected even "
        "for a smooth network: compare it across networks rather than with 1.",
    ]
    nat = images.get("natural")
    for name, nb in images.items():
        a, b = nb["by_radius"][lo], nb["by_radius"][hi]
        text = (
            f"{titles[name]}: slope along the gradient sign {nb['slope_gradient']:.3g}, loss rise within ε ≤ {hi} "
            f"{b['rise_gradient']:.3g} along ∇ vs {b['rise_random']:.3g} along the random direction "
            f"({b['gradient_over_random']:.3g}×); rise/linear {a['rise_over_linear']:.2f} at {lo}, "
            f"{b['rise_over_linear']:.2f} at {hi}; FGSM misclassifies {100 * a['fgsm_success']:.0f}% / "
            f"{100 * b['fgsm_success']:.0f}% at {lo} / {hi} (clean: {100 * nb['clean_success']:.0f}%)"
        )
        if nb["zero_gradient_share"] > 0.01:
            text += (
                f"; {100 * nb['zero_gradient_share']:.0f}% of the pixels have an exactly zero gradient (the "
                f"filter is flat at 0, so the dark background never moves along ε₁)"
            )
        if nat is not None and name != "natural" and nat["slope_gradient"] > 0:
            text += f"; its slope is {nb['slope_gradient'] / nat['slope_gradient']:.2g}× the natural network's"
        notes.append(text + ".")
    saturated = {titles[k]: nb["saturated_share"] for k, nb in images.items() if nb["saturated_share"] > 0}
    if saturated:
        notes.append(
            "Saturated images (clean cross-entropy < "
            + f"{SATURATED:g}"
            + "): "
            + ", ".join(f"{100 * v:.0f}% for {k}" for k, v in saturated.items())
            + ". There the float32 gradient of the "
            "cross-entropy is rounding noise (1 − p_y is below the resolution of p_y), so their ε₁ axis is an "
            "arbitrary ±1 direction, not the gradient sign (FGSM with this loss gets the same arbitrary "
            "direction); a margin loss does not saturate. They are kept in the means."
        )
    steeper = [titles[k] for k, nb in images.items() if nb["by_radius"][hi]["gradient_over_random"] > 1]
    if len(steeper) == len(images):
        notes.append(
            f"For every network the loss rises more along the gradient sign than along the random ±1 "
            f"direction within ε ≤ {hi}: no landscape shows the masking signature in which a random "
            f"direction beats the gradient."
        )
    else:
        others = [titles[k] for k in images if titles[k] not in steeper]
        notes.append(
            f"The random ±1 direction raises the loss at least as much as the gradient sign within ε ≤ {hi} "
            f"for {', '.join(others)}: the gradient at the image misleads there (gradient masking suspected)."
        )
    if nat is not None:
        relative = {
            k: (
                nb["by_radius"][lo]["rise_gradient"] / nat["by_radius"][lo]["rise_gradient"],
                nb["by_radius"][hi]["rise_gradient"] / nat["by_radius"][hi]["rise_gradient"],
            )
            for k, nb in images.items()
            if k != "natural"
        }
        near = [titles[k] for k, (a, b) in relative.items() if a < 0.5 * b]
        text = (
            f"Rise of the loss along the gradient sign relative to the natural network, within ε ≤ {lo} / {hi}: "
            + ", ".join(f"{titles[k]} {a:.2g} / {b:.2g}" for k, (a, b) in relative.items())
            + "."
        )
        if near:
            text += (
                f" {', '.join(near)} flatten the landscape most near the image: a sign step of {lo} barely "
                f"raises the loss, larger ones do. Whether iterative or straight-through attacks get through is "
                f"measured in biomimetic-defence, not here."
            )
        notes.append(text)
    c_lo, c_mid = f"{min(cel['radii']):g}", f"{sorted(cel['radii'])[len(cel['radii']) // 2]:g}"
    for name, nb in cells.items():
        N, m = (int(v) for v in name.split(","))
        a, mid = nb["by_radius"][c_lo], nb["by_radius"][c_mid]
        span = nb["by_radius"][f"{cel['span']:g}"]
        noise = 1e-4 * (1.0 + abs(nb["T_at_origin"]))
        lowest = 1.0 - nb["peak_gradient_loss"]
        text = (
            f"T_{{{name}}}: T = {nb['T_at_origin']:.3g} at the mixture, dT/dε₁ = {-nb['slope_gradient']:.2g}; the "
            f"sign direction pushes {100 * nb['pushed_up_share']:.0f}% of the movable ligands up"
        )
        if not np.isfinite(nb["peak_gradient_e"]):
            text += f" and T does not fall along it (lowest {lowest:.4g})"
            if m == 0:
                text += (
                    ": ∂T/∂τ > 0 for every ligand when m = 0, so the sign direction pushes the self ligands down, "
                    "they reach τ = 0 at once, and there T_{N,0} no longer depends on them except through "
                    "their amount (S_0): moving binding times cannot lower it. T only rises, where self ligands "
                    "are pushed up towards τ_c (ε₁ < 0, or either sign of ε₂)"
                )
        else:
            if nb["pushed_up_share"] == 1.0 and np.isfinite(nb["critical_point"]):
                text += f" (all lie below the probe critical point τ* = {nb['critical_point']:.3g})"
            text += (
                f". T falls {a['rise_gradient']:.2g} within ε ≤ {c_lo} ({a['rise_over_linear']:.2f}× the "
                f"first-order prediction; {mid['rise_over_linear']:.2f}× at ε = {c_mid}) and is lowest, "
                f"{lowest:.3g}, at ε₁ = {nb['peak_gradient_e']:.2g}"
            )
            if nb["peak_gradient_e"] < cel["span"]:
                text += (
                    ", then rises again as the ligands pass τ* towards τ_c: along the sign direction a larger "
                    "step is not a stronger attack"
                )
            if m > 1 and mid["rise_over_linear"] > 2:
                text += (
                    f". For m = {m} > 1 the gradient vanishes like τ^(m−1) near τ = 0, where the self ligands "
                    f"sit: the slope at the mixture predicts a {mid['rise_over_linear']:.2g}× smaller fall at "
                    f"ε = {c_mid} than the landscape shows; the sign of the gradient, not its size, points the way"
                )
        if span["rise_random"] > noise:
            text += (
                f". Along the random ±1 direction T falls {span['rise_random']:.2g} within ε ≤ {cel['span']:g} "
                f"(∇/random {span['gradient_over_random']:.2g})"
            )
        else:
            text += ". Along the random ±1 direction T does not fall"
        notes.append(text + f"; {100 * span['grid_success']:.0f}% of the grid turns the cell off.")
    if all(nb["by_radius"][f"{cel['span']:g}"]["grid_success"] == 0 for nb in cells.values()):
        notes.append(
            f"With {100 * cel['agonist_fraction']:.0f}% agonists held fixed, no point of the grid reaches "
            f"T ≤ 1 for any of these (N, m): moving the binding times of the self ligands by up to "
            f"{cel['span']:g} (and up to {2 * cel['span']:g} at the corners) is not enough to turn these "
            f"cells off."
        )
    return notes


_CLASSIFIER_QUICK = MLP_CLASSIFIER
_DEFENCES = {name: DEFENCES[name] for name in ("natural", "hill-4", "hill-16", "proofreading", "adversarial")}
_CELLS = {
    "tau_c": 3.0,
    "models": [[5, 0], [5, 1], [5, 3]],
    "agonist_fraction": 0.5,
    "span": 3.0,
    "points": 61,
    "radii": [0.3, 1.0, 3.0],
}

register(
    Experiment(
        name="loss-landscapes",
        title="Loss landscapes: networks (natural, biomimetic filters, adversarial) and T_{N,m} in τ space",
        paper="Rademaker et al. 2019 (loss landscapes, protocol open: SPEC §4)",
        presets={
            "quick": {
                "dataset": "mnist-subset",
                "seed": 0,
                "classifier": _CLASSIFIER_QUICK,
                "defences": _DEFENCES,
                "images": {"n_test": 32, "span": 0.3, "points": 61, "objective": "cross-entropy", "radii": [0.1, 0.3]},
                "cells": {**_CELLS, "n_ligands": 1000, "mixtures": 4},
                "figure_images": 3,
                "batch_size": 2048,
            },
            # paper: the CNN models of biomimetic-defence's paper preset (same specs, same cache entries)
            "paper": {
                "dataset": "mnist",
                "seed": 0,
                "classifier": {"arch": "cnn", "epochs": 10, "batch_size": 128},
                "defences": {
                    **_DEFENCES,
                    "adversarial": {
                        "adversarial": {"epsilon": 0.3, "steps": 40, "step_size": 0.01, "warmup": 0.0, "epochs": 20}
                    },
                },
                "images": {"n_test": 100, "span": 0.3, "points": 61, "objective": "cross-entropy", "radii": [0.1, 0.3]},
                "cells": {**_CELLS, "n_ligands": 10201, "mixtures": 8},
                "figure_images": 3,
                "batch_size": 512,
            },
        },
        run=run,
        tags=("networks", "cells", "landscapes"),
    )
)
