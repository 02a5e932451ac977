"""two-regimes: single-step attacks work without a critical point and fail near one.

Rademaker et al. 2019 ("two regimes, with or without a critical point"), protocol open. The
same L∞ attacks, FGSM (one sign step of ε) and PGD (iterated sign steps, projected), run
through adprf's one engine on two kinds of decision-makers.

**Cells.** T_{N,m} (`AdaptiveProofreading`, threshold 1) for N = 5 and every m = 0 … N − 1,
τ_c = 3. Each ligand distribution holds `n_agonists` agonists (τ ~ 3.5 + N(0, 0.1), the v1
agonists) and `n_others` sub-threshold ligands, each an antagonist (τ = τ_c − |N(0, 1/2)|,
`antagonists`) with probability f ~ U(`antagonist_fraction`) drawn per distribution, else a self
ligand (τ = |N(0, 1/3)|, `self_ligands`); the sub-threshold ligands have amount 1
(`adprf.analysis.draw_mixtures`). Per distribution a target T_0 ~ U(`T_clean`) is drawn, and for
every m the agonists' common amount is set so that T_{N,m} = T_0 exactly
(`adprf.analysis.agonist_amount`; modestly above 1: the response is ON, and every m starts at the
same distance from the boundary; only the agonist amount differs between m). The antagonists
matter: self ligands near τ = 0 hardly enter S_N, so without ligands of intermediate τ an
attacker who lowers binding times could never turn T_{N,0} off.
The attacker moves the binding times of the sub-threshold ligands (clean τ < τ_c; agonists and
amounts fixed; τ ≥ 0) within ‖Δτ‖∞ ≤ ε (`move_binding_times(ε, τ_c)`) to reach T ≤ 1
(`turn_off`). Methods: FGSM, and PGD with `steps` iterations of 2.5 ε / steps (the engine's
default step; BIM without random start, optionally with one). Every (ε, distribution) pair is
attacked independently (`nested=False`): the success rate of a method at ε is what that attack
achieves at that radius, so a single step that succeeds at a small ε and fails at a larger one
shows as a dip. The smallest successful ε is the first grid ε where the attack succeeds.

*The exact minimal radius* (`adprf.analysis.minimal_radius`). T ≤ 1 ⟺ S_N − τ_c^(N−m) S_m ≤ 0,
a sum over ligands of L_i f(τ_i) with f(τ) = τ^N − τ_c^(N−m) τ^m, minimised by each ligand on its
own: f decreases below τ_b = τ_c (m/N)^(1/(N−m)) and increases above it (m ≥ 1; for m = 0 it
increases everywhere, τ_b = 0). So the best point of the ball moves every movable ligand as
close to τ_b as ε allows, and the smallest ε that turns the response off is the root of a
monotone function of ε, found by bisection. τ_b is the critical point of the gradient on the
boundary, τ* = τ_c (m/N)^(1/(N−m)) (Rademaker et al. 2019, the closed-form adaptive proofreading
model): the optimal attack at the minimal radius parks every ligand within reach on τ*, and
moves the others by ε towards it. For m = 0 this is "every τ down by ε", which is exactly FGSM's
step (T_{N,0} is increasing in every τ, so the sign of the gradient points to the best corner of
the ball). For m ≥ 1 FGSM moves every ligand by the full ε in the direction of −sign ∂T/∂τ at the
clean point, which changes sign at the clean τ*: a ligand closer than ε to τ* is carried past
it, by up to ε, to where it antagonises less (and ligands near τ* whose gradient is almost 0
move as far as any other). PGD's smaller steps stop at τ*. The tables give the fraction of
sub-threshold ligands that FGSM carries across τ*, the fraction that ends within 0.05 of τ_b,
and T after FGSM and after PGD at the same ε.

*Where the strongest antagonists sit* (`adprf.analysis`): the probe critical point τ* of the
clean distributions (`regime`: the sign change of ∂T/∂τ, τ_c (m T/N)^(1/(N−m)) for a
distribution at T) and their inflection point; τ* on the boundary (`critical_point` of one
species at τ_c, T = 1); the binding time τ2 at which all `n_others` sub-threshold ligands,
gathered in one species beside the agonists, antagonise most (the minimum of the fold change,
`fold_change`, located as the root of ∂T/∂τ2 by `critical_point(species=...)`; at τ2 → 0 for
m = 0); and τ* of PGD's adversarials.

For m ≥ 2, ∂T/∂τ = 0 at τ = 0: a binding time that reaches 0 (a random start clips it there)
is stranded for every gradient method; the sign step still moves ligands whose gradient is
tiny but non-zero. All in float64 (`jax.enable_x64`), the five models share one compiled
attack per method (`adprf.cells.OneOf`).

**Networks.** MNIST MLPs (quick; the Madry CNN in the paper preset) with a Hill filter
x^n/(x^n + θ^n), θ = 0.5, of increasing steepness n in front, trained in place, and the
natural classifier, shared with `biomimetic-defence` (`adprf.nets.train_defence`). Robust
accuracy at ε ∈ {0.1, 0.2, 0.3} (ε = 0: clean accuracy) under FGSM, PGD (40 steps of 0.01,
random start) and BPDA (the same PGD with the filter replaced by the identity on the backward
pass, `straight_through="filter"`), nested over ε (`robust_accuracy`'s default). Filter
parameters are array leaves, so the Hill models share one compiled attack per method. The
Hill filter's gradient at a pixel of exactly 0 is 0 for every n (its derivative n x^(n−1)/θ^n
vanishes there for n > 1; for n = 1 the filter floors x at 1e-30, so the gradient is 0 instead
of 1/θ) — the analogue of ligands stranded at τ = 0 for m ≥ 2 — and most MNIST pixels are 0.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

from .._ligands import Ligands
from ..analysis import (
    agonist_amount,
    critical_point,
    draw_mixtures,
    fold_change,
    minimal_radius,
    optimal_binding_time,
    probe_gradient,
    regime,
)
from ..attacks import FGSM, PGD, move_binding_times, robust_accuracy, run_attack, turn_off
from ..cells import AdaptiveProofreading, OneOf
from ..data import load_dataset
from ..nets import MLP_CLASSIFIER, train_defence
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register
from ._suite import suite_stage

NEAR = 0.05
"""A ligand is 'at τ*' when its binding time is within this distance of τ_b."""


# ----------------------------------------------------------------------------- configs


@dataclass(frozen=True, kw_only=True)
class CellMethod(AbstractConfig):
    """One attack on the cells, shown as `name`: `method` "fgsm" (one sign step of ε) or "pgd"
    (`steps` sign steps of 2.5 ε / steps, the engine's default; optionally a random start and
    `restarts`)."""

    name: str
    method: str
    steps: int = 0
    random_start: bool = False
    restarts: int = 1


@dataclass(frozen=True, kw_only=True)
class CellsConfig(AbstractConfig):
    """The cells: T_{N,m}, m = 0 … N − 1, on `n_distributions` mixtures (see the module's
    docstring for the laws), attacked at every radius of `epsilons` by every method of
    `methods`; `reference` names the PGD whose adversarials the first table describes."""

    N: int = 5
    tau_c: float = 3.0
    n_agonists: int = 20
    n_others: int = 80
    agonist_mean: float = 3.5
    agonist_std: float = 0.1
    self_scale: float = 1 / 3
    antagonist_scale: float = 0.5
    antagonist_fraction: tuple[float, float] = (0.2, 0.6)
    T_clean: tuple[float, float] = (1.02, 1.1)
    histogram_max: float = 1.25
    histogram_bins: int = 75
    reference: str = "PGD-100"
    seed: int = 0
    batch_size: int = 16
    n_distributions: int
    epsilons: tuple[float, ...]
    methods: tuple[CellMethod, ...]


@dataclass(frozen=True, kw_only=True)
class PGDConfig(AbstractConfig):
    """PGD on images: `steps` steps of `step_size`, random start."""

    steps: int = 40
    step_size: float = 0.01


@dataclass(frozen=True, kw_only=True)
class NetworksConfig(AbstractConfig):
    """Classifiers of `dataset` (an `adprf.nets` classifier spec) behind Hill filters of each
    `steepness` at `threshold`, and the natural one, attacked on `n_test` test images (FGSM, PGD,
    BPDA, and the standard suite at budget `suite`: "fast" | "standard" | None)."""

    dataset: str
    classifier: Mapping[str, Any]
    steepness: tuple[int, ...] = (1, 2, 4, 8, 16)
    threshold: float = 0.5
    epsilons: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
    n_test: int
    seed: int = 0
    batch_size: int
    pgd: PGDConfig = field(default_factory=PGDConfig)
    suite: str | None = "fast"


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """The two halves of the experiment: T_{N,m} on ligand mixtures, and Hill-filtered networks."""

    cells: CellsConfig
    networks: NetworksConfig


# ----------------------------------------------------------------------------- cells: compiled pieces


def _cell_method(spec: CellMethod):
    if spec.method == "fgsm":
        return FGSM()
    if spec.method == "pgd":
        return PGD(steps=spec.steps, step_size=None, random_start=spec.random_start, restarts=spec.restarts)
    raise ValueError(f"unknown cell attack method {spec.method!r}: use 'fgsm' or 'pgd'")


@eqx.filter_jit
def _outputs(model, ligands: Ligands):
    """T of a batch of distributions (any leading axes); one compilation for every `OneOf` member."""
    flat = jax.tree.map(lambda a: a.reshape((-1, a.shape[-1])), ligands)
    return jax.vmap(model)(flat).reshape(ligands.tau.shape[:-1])


@eqx.filter_jit
def _sign_step(model, clean: Ligands, epsilons, threat, objective):
    """Where FGSM's one step lands for every (ε, distribution): the library's `FGSM` update at
    the clean point. (The engine reports the better of this point and the clean one, so a step
    that raises T shows there as the clean distribution.)"""

    def one(x, epsilon):
        loss, grad = jax.value_and_grad(lambda z: objective.loss(model(z), None))(x)
        return FGSM().update(x, None, loss, grad, x, threat.with_epsilon(epsilon))[0]

    return jax.vmap(lambda e: jax.vmap(lambda x: one(x, e))(clean))(epsilons)


@eqx.filter_jit
def _diagnostics(model, clean: Ligands, tau_c: float, lump: float):
    """Per clean distribution: both regime diagnostics, and the fold-change minimum of `lump`
    sub-threshold ligands gathered at one τ2 beside the agonists (clean τ ≥ τ_c)."""
    search = dict(upper=tau_c, grid_size=512)

    def one(ligands):
        reg = regime(model, ligands, **search)
        is_agonist = ligands.tau >= tau_c
        # The agonists, the others with amount 0 (they do not count), and the lump last.
        mixture = Ligands(
            jnp.append(ligands.tau, 0.5 * tau_c), jnp.append(jnp.where(is_agonist, ligands.amount, 0.0), lump)
        )
        argmin = critical_point(
            model, mixture, species=ligands.tau.shape[-1], lower=1e-3 * tau_c, upper=tau_c, grid_size=512
        )
        agonists_only = Ligands(ligands.tau, jnp.where(is_agonist, ligands.amount, 0.0))
        at = jnp.where(jnp.isfinite(argmin), argmin, 0.0)
        fc = fold_change(model, agonists_only, at, lump)
        return reg.critical_point, reg.inflection_point, argmin, fc

    return jax.vmap(one)(clean)


@eqx.filter_jit
def _critical_points(model, ligands: Ligands, tau_c: float):
    """τ* of each distribution of a batch (searched in (0, τ_c))."""
    return jax.vmap(lambda l: critical_point(model, l, upper=tau_c, grid_size=512))(ligands)


_probe_gradient = eqx.filter_jit(probe_gradient)


def _batch(tau: np.ndarray, amount: np.ndarray) -> Ligands:
    """Binding times with leading axes (…, D, R) and the clean amounts (D, R) as `Ligands`."""
    return Ligands(jnp.asarray(tau), jnp.broadcast_to(jnp.asarray(amount), tau.shape))


def _first_success(success: np.ndarray) -> np.ndarray:
    """Index of the first ε with success per distribution (E, D) → (D,), −1 if none."""
    return np.where(success.any(0), np.argmax(success, 0), -1)


def _crossed(clean, final, movable, star) -> np.ndarray:
    """Fraction of movable ligands on the other side of `star` (per distribution) after the attack."""
    star = np.asarray(star)[..., None]
    across = (np.sign(clean - star) * np.sign(final - star) < 0) & movable
    return np.where(np.isfinite(star[..., 0]), across.sum(-1) / movable.sum(-1), 0.0)


# ----------------------------------------------------------------------------- cells: the stage


class _CellSetUp(NamedTuple):
    """What every m shares: the clean binding times (D, R) and the target T_0 (D,), the movable
    mask, the five models, the threat, the attacks' key, the radii (float32, as the engine uses
    them), the histogram bins, the probe grid and a distribution on the boundary."""

    tau: np.ndarray
    target: np.ndarray
    movable: np.ndarray
    models: list
    threat: Any
    key: Any
    epsilons: np.ndarray
    bins: np.ndarray
    probe_grid: np.ndarray
    on_boundary: Ligands


def _set_up(cfg: CellsConfig) -> tuple[_CellSetUp, np.ndarray]:
    """The shared set-up (call inside `jax.enable_x64(True)`), and which sub-threshold ligands
    are antagonists."""
    mixtures = draw_mixtures(
        jax.random.PRNGKey(cfg.seed),
        cfg.n_distributions,
        n_agonists=cfg.n_agonists,
        n_others=cfg.n_others,
        tau_c=cfg.tau_c,
        agonist_mean=cfg.agonist_mean,
        agonist_std=cfg.agonist_std,
        self_scale=cfg.self_scale,
        antagonist_scale=cfg.antagonist_scale,
        antagonist_fraction=cfg.antagonist_fraction,
        target_range=cfg.T_clean,
    )
    tau = mixtures.tau
    set_up = _CellSetUp(
        tau=tau,
        target=mixtures.target,
        movable=tau < cfg.tau_c,
        models=[AdaptiveProofreading(cfg.N, m, tau_c=cfg.tau_c) for m in range(cfg.N)],
        threat=move_binding_times(0.0, cfg.tau_c),
        key=jax.random.PRNGKey(cfg.seed + 1),
        epsilons=np.asarray(cfg.epsilons, np.float32),
        bins=np.linspace(0.0, cfg.histogram_max * cfg.tau_c, cfg.histogram_bins + 1),
        probe_grid=np.linspace(0.01, cfg.histogram_max * cfg.tau_c, 240),
        # Every ligand at τ_c: T = 1, so its τ* is the boundary value (the batch's shape: one compilation).
        on_boundary=Ligands(jnp.full(tau.shape, cfg.tau_c), jnp.ones(tau.shape)),
    )
    return set_up, mixtures.antagonist


def _diagnose(cfg: CellsConfig, s: _CellSetUp, m: int, model, clean: Ligands, amount: np.ndarray) -> dict:
    """T, the regime diagnostics, the fold-change minimum, τ* on the boundary, τ_b, the exact
    minimal radius and the probe gradient of distribution 0, for T_{N,m}."""
    star, inflection, argmin, fc = (np.asarray(a) for a in _diagnostics(model, clean, cfg.tau_c, float(cfg.n_others)))
    return {
        "agonist_amount": amount[:, 0],
        "T_clean": np.asarray(_outputs(model, clean)),
        "tau_star_clean": star,
        "inflection": inflection,
        "fold_change_argmin": argmin,
        "fold_change_min": fc,
        "tau_star_boundary": float(_critical_points(model, s.on_boundary, cfg.tau_c)[0]),
        "tau_b": optimal_binding_time(s.models[m]),
        "minimal_radius": minimal_radius(s.models[m], s.tau, amount, s.movable),
        "probe_gradient_clean": np.asarray(
            _probe_gradient(model, jax.tree.map(lambda a: a[0], clean), jnp.asarray(s.probe_grid))
        ),
    }


def _sweep(cfg: CellsConfig, s: _CellSetUp, spec: CellMethod, model, clean: Ligands) -> tuple[dict, np.ndarray]:
    """One method at every (ε, distribution), each pair attacked on its own: its record and the
    adversarial binding times (E, D, R)."""
    start = time.perf_counter()
    result = run_attack(
        model,
        clean,
        None,
        s.epsilons,
        method=_cell_method(spec),
        threat=s.threat,
        objective=turn_off(model),
        key=s.key,
        keep_adversarial=True,
        nested=False,
        batch_size=cfg.batch_size,
    )
    seconds = time.perf_counter() - start
    assert result.adversarial is not None  # keep_adversarial=True
    record = {
        "success": np.asarray(result.success),
        "seconds": seconds,
        "evaluations": np.asarray(result.gradient_evaluations).mean(1),  # mean per ε
    }
    return record, np.asarray(result.adversarial.tau)


def _at_reference(cfg: CellsConfig, s: _CellSetUp, model, per: dict, amount, reference, step) -> tuple[dict, dict]:
    """Where the reference PGD (final binding times `reference`, (E, D, R)) and FGSM's step
    (`step`) put the ligands, at the reference's smallest successful ε: histograms and their
    statistics over the distributions it turns off."""
    tau, movable, bins, tau_b = s.tau, s.movable, s.bins, per["tau_b"]
    first = _first_success(per["methods"][cfg.reference]["success"])
    hit = np.flatnonzero(first >= 0)
    # The reference's final distributions on all D (one shape, one compilation), kept where it succeeded.
    final = _batch(reference[np.maximum(first, 0), np.arange(len(first))], amount)
    at_ref = {cfg.reference: np.asarray(final.tau)[hit], "FGSM": step[first[hit], hit]}
    t_at_ref = {
        cfg.reference: np.asarray(_outputs(model, final))[hit],
        "FGSM": per["fgsm_step"]["T"][first[hit], hit],
    }

    def clip(values):
        return np.clip(values[movable[hit]], bins[0], bins[-1])

    def near(values):
        return float(np.mean(np.abs(values[movable[hit]] - tau_b) <= NEAR)) if hit.size else float("nan")

    histogram = {
        "clean": np.histogram(clip(tau[hit]), bins)[0],
        **{name: np.histogram(clip(values), bins)[0] for name, values in at_ref.items()},
    }
    first_final = Ligands(jnp.asarray(at_ref[cfg.reference][0]), jnp.asarray(amount[0])) if hit.size else None
    at_reference = {
        "distributions": int(hit.size),
        "near_tau_b": {"clean": near(tau[hit]), **{name: near(v) for name, v in at_ref.items()}},
        "T": t_at_ref,
        "crossed": {"FGSM": _crossed(tau[hit], at_ref["FGSM"], movable[hit], per["tau_star_clean"][hit])},
        "tau_star_final": np.asarray(_critical_points(model, final, cfg.tau_c))[hit],
        "probe_gradient_final": (
            np.asarray(_probe_gradient(model, first_final, jnp.asarray(s.probe_grid)))
            if first_final is not None and hit[0] == 0
            else None
        ),
    }
    return histogram, at_reference


def _cells_of_m(cfg: CellsConfig, s: _CellSetUp, m: int) -> dict:
    """Everything about T_{N,m}: diagnostics, every method's sweep, FGSM's own step and the
    ligands at the reference's smallest successful ε."""
    model = OneOf(s.models, m)
    amount = np.ones_like(s.tau)
    amount[:, : cfg.n_agonists] = agonist_amount(s.models[m], s.tau, cfg.n_agonists, s.target)[:, None]
    clean = Ligands(jnp.asarray(s.tau), jnp.asarray(amount))
    per = _diagnose(cfg, s, m, model, clean, amount)
    per["methods"], adversarial = {}, {}
    for spec in cfg.methods:
        per["methods"][spec.name], adversarial[spec.name] = _sweep(cfg, s, spec, model, clean)
    # FGSM's own step (also where it raises T), and how many ligands it carries across the clean τ*.
    step = np.asarray(_sign_step(model, clean, jnp.asarray(s.epsilons), s.threat, turn_off(model.threshold)).tau)
    per["fgsm_step"] = {"T": np.asarray(_outputs(model, _batch(step, amount)))}
    per["histogram"], per["at_reference"] = _at_reference(cfg, s, model, per, amount, adversarial[cfg.reference], step)
    return per


def cell_attacks(cfg: CellsConfig) -> dict:
    """The cells stage: distributions, diagnostics, and every method's sweep for every m
    (`per_m[m]`)."""
    names = [spec.name for spec in cfg.methods]
    if "FGSM" not in names or cfg.reference not in names:
        raise ValueError(
            f"the cell methods need an 'FGSM' entry and the reference {cfg.reference!r}, got {sorted(names)}"
        )
    with jax.enable_x64(True):
        s, antagonist = _set_up(cfg)
        return {
            "tau": s.tau,
            "antagonist": antagonist,
            "T_target": s.target,
            "movable": s.movable,
            "epsilons": s.epsilons.astype(np.float64),  # the engine's radii are float32: the oracle uses the same
            "bins": s.bins,
            "probe_tau": s.probe_grid,
            "per_m": [_cells_of_m(cfg, s, m) for m in range(cfg.N)],
        }


# ----------------------------------------------------------------------------- cells: facts


def _median(values) -> float:
    values = np.asarray(values, np.float64)
    return float(np.median(values)) if values.size else float("nan")


def _smallest_success(success, epsilons) -> np.ndarray:
    """The first grid ε where the attack succeeds, per distribution; ∞ if none."""
    first = _first_success(np.asarray(success, bool))
    return np.where(first >= 0, np.asarray(epsilons)[np.maximum(first, 0)], np.inf)


def _first_success_agreement(smallest: dict, pgds: list[str]) -> float:
    """Among the distributions some PGD turns off in the grid, the share where FGSM first
    succeeds at the same ε as the earliest PGD (0 if PGD turns none off)."""
    pgd_first = np.min([np.asarray(smallest[n], np.float64) for n in pgds], 0)
    reached = np.isfinite(pgd_first)
    fgsm_first = np.asarray(smallest["FGSM"], np.float64)
    return float(np.mean(fgsm_first[reached] == pgd_first[reached])) if reached.any() else 0.0


def _facts_of_m(per: dict, eps: np.ndarray, names: list[str]) -> dict:
    """The numbers of T_{N,m} that the tables, figures and notes show (medians over
    distributions, success rates per ε), from its part of the cells stage."""
    at = per["at_reference"]
    optimum = np.asarray(per["minimal_radius"], np.float64)
    smallest = {name: _smallest_success(per["methods"][name]["success"], eps) for name in names}
    return {
        "tau_b": per["tau_b"],
        "tau_star_boundary": float(per["tau_star_boundary"]),
        "tau_star_clean": _median(per["tau_star_clean"]),
        "inflection": _median(per["inflection"]),
        "fold_change_argmin": _median(per["fold_change_argmin"]),
        "fold_change_min": _median(per["fold_change_min"]),
        "tau_star_final": _median(at["tau_star_final"]),
        "distributions": at["distributions"],
        "near_tau_b": {name: float(v) for name, v in at["near_tau_b"].items()},
        "crossed": _median(at["crossed"]["FGSM"]),
        "T_at_reference": {name: _median(v) for name, v in at["T"].items()},
        "minimal_radius": optimum,
        "minimal_radius_median": _median(optimum),
        "optimum_rate": np.mean(optimum[None] <= eps[:, None], 1),
        "success_rate": {name: np.mean(np.asarray(per["methods"][name]["success"], bool), 1) for name in names},
        "smallest_epsilon": smallest,
        "smallest_epsilon_median": {name: _median(s) for name, s in smallest.items()},
        "never": {name: int(np.sum(~np.isfinite(s))) for name, s in smallest.items()},
        "first_success_agreement": _first_success_agreement(smallest, [n for n in names if n != "FGSM"]),
        "histogram": per["histogram"],
        "probe_gradient_clean": per["probe_gradient_clean"],
        "probe_gradient_final": at["probe_gradient_final"],
        "seconds": {name: per["methods"][name]["seconds"] for name in names},
    }


def cell_facts(stage: dict, cfg: CellsConfig) -> dict:
    """The facts of the cells (`per_m[m]` for m = 0 … N − 1) from the cells stage."""
    eps = np.asarray(stage["epsilons"], np.float64)
    names = [spec.name for spec in cfg.methods]
    return {
        "epsilons": eps,
        "bins": stage["bins"],
        "probe_tau": stage["probe_tau"],
        "per_m": [_facts_of_m(per, eps, names) for per in stage["per_m"]],
    }


# ----------------------------------------------------------------------------- networks


def network_defences(cfg: NetworksConfig) -> dict[str, dict]:
    """label → defence spec (`adprf.nets`): the natural classifier and one Hill filter per steepness."""
    specs = {"natural": {}}
    for n in cfg.steepness:
        specs[f"Hill n={n}"] = {"filter": "hill", "threshold": cfg.threshold, "steepness": n}
    return specs


def network_attacks(cfg: NetworksConfig) -> dict:
    """name → (method, straight_through)."""
    pgd = PGD(steps=cfg.pgd.steps, step_size=cfg.pgd.step_size, random_start=True)
    return {"FGSM": (FGSM(), ()), f"PGD-{cfg.pgd.steps}": (pgd, ()), "BPDA": (pgd, "filter")}


def network_evaluations(run, cfg: NetworksConfig) -> list[dict]:
    """Train (or load) every defended classifier and attack it. **Returns:** one record per
    defence (in `network_defences` order): its label, training seconds, and per attack the robust
    accuracy at every ε (BPDA only where there is a filter to see through)."""
    test = load_dataset(cfg.dataset, "test")
    n_test = min(cfg.n_test, len(test))
    x, y = test.images[:n_test], test.labels[:n_test]
    key = jax.random.PRNGKey(cfg.seed)
    models = []
    for label, spec in network_defences(cfg).items():
        model, training = train_defence(run, spec, dict(cfg.classifier), cfg.dataset, cfg.seed)
        attacks = {}
        for name, (method, through) in network_attacks(cfg).items():
            if through and "filter" not in spec:
                continue  # no filter to see through: BPDA is PGD

            def evaluate(method=method, through=through, label=label, name=name, model=model):
                start = time.perf_counter()
                r = robust_accuracy(
                    cast(Callable[..., Any], model),  # a trained classifier
                    x,
                    y,
                    cfg.epsilons,
                    method,
                    key=key,
                    batch_size=cfg.batch_size,
                    straight_through=through,
                    progress=f"{label} {name}",
                )
                return {
                    "accuracy": r.accuracy,
                    "seconds": time.perf_counter() - start,
                    "evaluations": float(np.mean(np.asarray(r.gradient_evaluations))),
                }

            attacks[name] = run.stage(f"net-{label.replace(' ', '').replace('=', '')}-{name}", evaluate)
        if cfg.suite is not None:
            tag, size = f"net-{label.replace(' ', '').replace('=', '')}-suite", cfg.batch_size
            attacks["suite"] = suite_stage(
                run, tag, model, x, y, cfg.epsilons, budget=cfg.suite, key=key, batch_size=size
            )
        models.append({"label": label, "training_seconds": training, "attacks": attacks})
    return models


def network_facts(run, cfg: NetworksConfig) -> dict:
    """The networks' robust accuracies, the FGSM − PGD gap (points, at every ε > 0) and the share
    of test pixels within the largest ε of the filter's threshold."""
    models = network_evaluations(run, cfg)
    attacks = list(network_attacks(cfg)) + (["suite"] if cfg.suite is not None else [])
    shown = [i for i, e in enumerate(cfg.epsilons) if e > 0]
    for model in models:
        acc = {name: np.asarray(r["accuracy"]) for name, r in model["attacks"].items()}
        model["gap_fgsm_minus_pgd"] = [100 * (acc["FGSM"][i] - acc[attacks[1]][i]) for i in shown]
    test = load_dataset(cfg.dataset, "test").images[: cfg.n_test]
    near = float(np.mean(np.abs(test - cfg.threshold) <= max(cfg.epsilons)))
    return {"attacks": attacks, "shown": shown, "models": models, "near_threshold": near}


def compute(run, cfg: Config) -> dict:
    """The cells stage (cached as `cells`) and its facts, then the networks."""
    start = time.perf_counter()
    stage = run.stage("cells", lambda: cell_attacks(cfg.cells))
    cells = {**cell_facts(stage, cfg.cells), "seconds": time.perf_counter() - start}
    return {"cells": cells, "networks": network_facts(run, cfg.networks)}


# ----------------------------------------------------------------------------- figures


def _plot_success(cells: dict, cfg: CellsConfig) -> Figure:
    N, eps = cfg.N, np.asarray(cells["epsilons"])
    fig = Figure(figsize=(3.3 * N, 3.4))
    axes = fig.subplots(1, N, sharey=True, squeeze=False)
    for m, per in enumerate(cells["per_m"]):
        ax = axes[0, m]
        ax.plot(eps, 100 * np.asarray(per["optimum_rate"]), color="k", lw=2.5, alpha=0.25, label="optimum (exact)")
        for name, rate in per["success_rate"].items():
            style = dict(ls="--", marker="s", ms=3, color="tab:red") if name == "FGSM" else dict(marker="o", ms=2.5)
            ax.plot(eps, 100 * np.asarray(rate), label=name, **style)
        ax.set(
            xscale="log",
            title=f"m = {m}" + (" (no critical point)" if m == 0 else f", τ* = {per['tau_b']:.2f}"),
            xlabel="ε (L∞ on binding times)",
            ylim=(-3, 103),
        )
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("success rate (%)")
    axes[0, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"Turning T_{{{N},m}} off by moving sub-threshold binding times: {cfg.n_distributions} "
        f"distributions, T_0 ∈ [{cfg.T_clean[0]}, {cfg.T_clean[1]}], each (ε, distribution) attacked "
        f"independently",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _plot_probe_gradients(gax, per: dict, grid: np.ndarray, tau_c: float, ref: str) -> None:
    for values, colour, name in (
        (per["probe_gradient_clean"], "0.3", "clean"),
        (per["probe_gradient_final"], "tab:blue", f"after {ref}"),
    ):
        if values is not None:
            g = np.asarray(values, np.float64)
            # Scaled by the depth of the negative well (where descent moves ligands up), else by g(τ_c).
            scale = -g.min() if g.min() < 0 else np.interp(tau_c, grid, g)
            gax.plot(grid, g / scale, color=colour, lw=1.2, label=name)


def _plot_histograms(cells: dict, cfg: CellsConfig) -> Figure:
    N, tau_c, ref = cfg.N, cfg.tau_c, cfg.reference
    bins, grid = np.asarray(cells["bins"]), np.asarray(cells["probe_tau"])
    fig = Figure(figsize=(3.3 * N, 5.6))
    axes = fig.subplots(2, N, squeeze=False, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for m, per in enumerate(cells["per_m"]):
        ax, gax = axes[0, m], axes[1, m]
        hist = per["histogram"]
        ax.stairs(hist["clean"], bins, color="0.6", fill=True, alpha=0.5, label="clean")
        ax.stairs(hist["FGSM"], bins, color="tab:red", lw=1.3, label="FGSM step")
        ax.stairs(hist[ref], bins, color="tab:blue", lw=1.3, label=ref)
        for a in (ax, gax):
            a.axvline(tau_c, color="grey", ls="--", lw=0.9)
            if m >= 1:
                a.axvline(per["tau_b"], color="k", ls=":", lw=1.1)
                a.axvline(per["fold_change_argmin"], color="tab:green", ls="-.", lw=0.9)
        ax.set_yscale("log")
        ax.set_title(f"m = {m}: {per['distributions']} distributions", fontsize=9)
        _plot_probe_gradients(gax, per, grid, tau_c, ref)
        gax.axhline(0, color="k", lw=0.5)
        gax.set_xlabel("binding time τ")
        gax.set_ylim(-1.3, 1.3)
    axes[0, 0].set_ylabel("sub-threshold ligands (log count)")
    axes[1, 0].set_ylabel("∂T/∂τ per amount (scaled)")
    axes[0, 0].legend(fontsize=7)
    axes[1, N - 1].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"Final binding times of the sub-threshold ligands at the smallest ε where {ref} succeeds (FGSM's "
        f"step at the same ε); dashed τ_c, dotted τ* = τ_c (m/N)^(1/(N−m)), dash-dot fold-change minimum of "
        f"a lump.\nBottom: probe gradient of distribution 0 (scaled by its negative well), clean and after "
        f"{ref}: FGSM steps every ligand by ε along −sign, which flips at τ*.",
        fontsize=8,
    )
    fig.tight_layout()
    return fig


def _plot_networks(networks: dict, cfg: NetworksConfig) -> Figure:
    eps, attacks, models = cfg.epsilons, networks["attacks"], networks["models"]
    shown = networks["shown"]
    fig = Figure(figsize=(3.6 * len(shown), 3.4))
    axes = fig.subplots(1, len(shown), sharey=True, squeeze=False)
    x = np.arange(len(models))
    styles = {"FGSM": dict(color="tab:red", ls="--", marker="s"), "BPDA": dict(color="tab:purple", marker="^")}
    for ax, i in zip(axes[0], shown):
        clean = [100 * model["attacks"][attacks[0]]["accuracy"][0] for model in models]
        ax.plot(x, clean, color="0.6", marker=".", label="clean")
        for name in attacks:
            values = [100 * m["attacks"][name]["accuracy"][i] if name in m["attacks"] else np.nan for m in models]
            ax.plot(x, values, label=name, **styles.get(name, dict(color="tab:blue", marker="o")))
        ax.set_xticks(x, [model["label"].replace("Hill ", "") for model in models], fontsize=8)
        ax.set(title=f"ε = {eps[i]:g}", xlabel="Hill steepness (natural: no filter)", ylim=(-3, 103))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("robust accuracy (%)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        f"{cfg.classifier['arch'].upper()} with a Hill filter (θ = {cfg.threshold}) trained in place, "
        f"{cfg.dataset}, {cfg.n_test} test images",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- verdicts


def regime_label(critical: float, inflection: float) -> str:
    """The regime of a model, from its (median) critical and inflection points (NaN: none)."""
    label = "critical point" if np.isfinite(critical) else "no critical point"
    return label + (" + inflection" if np.isfinite(inflection) else "")


def _best_pgd(success: dict) -> np.ndarray:
    """The best success rate of any PGD at each ε (every method but FGSM)."""
    return np.max([np.asarray(rate) for name, rate in success.items() if name != "FGSM"], 0)


def _rate_span(rate) -> str:
    return f"{100 * np.min(rate):.0f}–{100 * np.max(rate):.0f}%"


def _fmt_eps(value: float, eps_max: float) -> str:
    return f"> {eps_max:g}" if not np.isfinite(value) else f"{value:.3g}"


def no_critical_point_verdict(fgsm, best, optimum) -> str:
    """m = 0: whether FGSM's success rates (per ε) equal the best PGD's and the exact optimum's."""
    fgsm, best, optimum = (np.asarray(a) for a in (fgsm, best, optimum))
    return (
        f"m = 0 (no critical point): FGSM succeeds on {_rate_span(fgsm)} of the distributions over the grid, "
        f"{'exactly as often as' if np.array_equal(fgsm, best) else 'NOT exactly as often as'} the best PGD at "
        f"every ε, and {'exactly' if np.array_equal(fgsm, optimum) else 'NOT exactly'} where the exact minimal "
        f"radius says an attack can succeed (every τ moved down by ε is the optimum of the ball)."
    )


def overshoot_note(m: int, tau_b: float, success: dict, smallest_median: dict, exact_median: float, eps_max) -> str:
    """m ≥ 1: FGSM against the best PGD (the one with the smallest median successful ε, then the
    highest rates), and whether FGSM's rate dips as ε grows or beats PGD somewhere."""
    fgsm, best = np.asarray(success["FGSM"]), _best_pgd(success)
    pgds = [name for name in success if name != "FGSM"]
    best_name = min(pgds, key=lambda n: (smallest_median[n], -np.sum(success[n])))
    dips = int(np.sum(np.diff(fgsm) < 0))
    return (
        f"m = {m} (τ* = {tau_b:.3f}): FGSM's best success rate over the grid is "
        f"{100 * fgsm.max():.0f}% against {100 * best.max():.0f}% for PGD; median smallest ε FGSM "
        f"{_fmt_eps(smallest_median['FGSM'], eps_max)}, {best_name} {_fmt_eps(smallest_median[best_name], eps_max)}, "
        f"exact minimum {_fmt_eps(exact_median, eps_max)}"
        + (f"; FGSM's rate drops {dips} time(s) as ε grows (overshoot)" if dips else "")
        + ("; at some ε FGSM succeeds more often than the best PGD" if np.any(fgsm > best) else "")
        + "."
    )


def fgsm_verdict(fgsm, best, optimum, agreement: float, eps_max: float) -> tuple[str, str]:
    """How FGSM fares on one model: ("optimal" | "late" | "fails", the clause saying so).

    "optimal": its rates are the exact optimum's; "late": it first succeeds at the same ε as PGD
    on ≥ 90% of the distributions PGD turns off (`agreement`) and its best rate is within 5
    points of PGD's, but it fails at larger ε; "fails" otherwise."""
    fgsm, best, optimum = (np.asarray(a) for a in (fgsm, best, optimum))
    if np.array_equal(fgsm, optimum):
        return "optimal", "FGSM is optimal"
    if agreement >= 0.9 and fgsm.max() >= best.max() - 0.05:
        return "late", (
            f"FGSM first succeeds at the same ε as PGD for {100 * agreement:.0f}% of the distributions PGD turns "
            f"off, but fails at large ε (down to {100 * fgsm[-1]:.0f}% at ε = {eps_max:g})"
        )
    return "fails", (
        f"FGSM fails (at most {100 * fgsm.max():.0f}% against {100 * best.max():.0f}% for PGD; the same "
        f"smallest ε as PGD for {100 * agreement:.0f}% of the distributions PGD turns off)"
    )


def optimal_pgd_clause(optimal: list[str]) -> str:
    """Which PGDs reach the exact optimum at every ε."""
    if not optimal:
        return "no PGD reaches the exact optimum at every ε"
    return f"{', '.join(optimal)} {'reaches' if len(optimal) == 1 else 'reach'} the exact optimum at every ε"


def claim_verdict(clauses: list[str], fails: list[int], late: list[int]) -> str:
    """The experiment's verdict: the per-m clauses, and for which m the claim holds (FGSM fails
    where PGD succeeds) or holds only at larger ε."""

    def listed(ms):
        return ", ".join(map(str, ms)) or "none"

    return (
        "Verdict (cells) — " + "; ".join(clauses) + ". On this data the claim (single-step attacks work "
        "without a critical point and fail near one, where iterative attacks still succeed) holds for "
        f"m = {listed(fails)} against m = 0; for m = {listed(late)} the sign step still succeeds at the "
        "smallest ε (few sub-threshold ligands lie within so small an ε of τ*) and fails only at larger ε."
    )


def antagonist_verdict(argmins, tau_b, tau_star_clean, edge: bool, n_others: int, ref: str) -> str:
    """Where the strongest antagonist sits for m = 1 … N − 1 (`argmins`, medians): whether below τ*
    on the boundary (`tau_b`), moving up with m, and whether τ* of the clean distributions lies
    above the boundary value; `edge`: m = 0 has no interior fold-change minimum."""
    below = all(a < b for a, b in zip(argmins, tau_b))
    rising = all(b > a for a, b in zip(argmins, argmins[1:]))
    above = all(s > b for s, b in zip(tau_star_clean, tau_b))
    return (
        f"The strongest antagonist (fold-change minimum of the {n_others} sub-threshold ligands gathered "
        f"in one species beside the agonists) sits at τ2 = "
        + ", ".join(f"{a:.3f}" for a in argmins)
        + f" for m = 1 … {len(argmins)}: {'below' if below else 'NOT always below'} τ* on the boundary, "
        f"{'moving towards τ_c as m grows' if rising else 'NOT moving monotonically towards τ_c with m'}"
        + (
            "; for m = 0 the fold change has no interior minimum and falls towards τ2 → 0 (broad antagonism)"
            if edge
            else "; for m = 0 it has an interior minimum (unexpected)"
        )
        + f". τ* of the clean distributions {'lies above' if above else 'does NOT always lie above'} the "
        f"boundary value, as τ_c (m T_0/N)^(1/(N−m)) with T_0 > 1 says; τ* of {ref}'s adversarials (T ≈ 1) "
        f"returns to it."
    )


def gap_trend(series) -> str:
    """Whether the FGSM − PGD gap grows (or shrinks) monotonically along `series` (steepness)."""
    grows = all(b >= a - 1e-9 for a, b in zip(series, series[1:]))
    shrinks = all(b <= a + 1e-9 for a, b in zip(series, series[1:]))
    if grows:
        return "grows monotonically with steepness"
    if shrinks:
        return "does NOT grow with steepness: it shrinks monotonically"
    return "does NOT grow monotonically with steepness"


def steepest_filter_verdict(
    label: str, epsilon: float, fgsm: float, pgd: float, bpda: float, pgd_name: str, near: float, step: float
) -> str:
    """The steepest filter at the largest ε (accuracies as fractions): PGD weaker than FGSM
    (gradient masking), and whether BPDA lowers the accuracy further; `near`: the share of test
    pixels within ε of the threshold, `step`: PGD's step size."""
    return (
        f"Steepest filter ({label}) at ε = {epsilon:g}: FGSM {100 * fgsm:.1f}%, {pgd_name} "
        f"{100 * pgd:.1f}%, BPDA {100 * bpda:.1f}%"
        + (
            " — PGD is weaker than FGSM here: small steps cannot leave the filter's flat regions (gradient masking), "
            if pgd > fgsm
            else ", "
        )
        + (
            "and BPDA lowers it further: part of the apparent robustness is masked gradients."
            if bpda < min(pgd, fgsm) - 1e-9
            else f"and BPDA does not lower it further. A steep Hill filter binarises the image at θ, and ε = "
            f"{epsilon:g} can flip only pixels within ε of θ ({100 * near:.1f}% of the test "
            f"pixels), so part of this robustness may be real; this experiment's attacks (40 steps of "
            f"{step}) do not settle it."
        )
    )


# ----------------------------------------------------------------------------- tables and notes


def _number(value, digits: int = 4):
    value = float(value)
    return round(value, digits) if np.isfinite(value) else "none"


def _pct(value) -> float | str:
    value = float(value)
    return round(100 * value, 1) if np.isfinite(value) else "–"


def _antagonist_row(m: int, per: dict, ref: str) -> list:
    argmin = per["fold_change_argmin"]
    return [
        m,
        regime_label(per["tau_star_clean"], per["inflection"]),
        round(per["tau_b"], 4),
        _number(per["tau_star_boundary"]),
        _number(per["tau_star_clean"]),
        _number(per["inflection"]),
        "→ 0 (edge)" if not np.isfinite(argmin) else _number(argmin),
        _number(per["fold_change_min"]),
        _number(per["tau_star_final"]),
        _pct(per["near_tau_b"]["clean"]),
        _pct(per["near_tau_b"][ref]),
        _pct(per["near_tau_b"]["FGSM"]),
        _pct(per["crossed"]),
        _number(per["T_at_reference"][ref]),
        _number(per["T_at_reference"]["FGSM"]),
    ]


def _cell_tables(cells: dict, cfg: CellsConfig) -> list[Table]:
    eps, ref = np.asarray(cells["epsilons"], np.float64), cfg.reference
    names = [spec.name for spec in cfg.methods]
    antagonists, radii, rates = [], [], []
    for m, per in enumerate(cells["per_m"]):
        antagonists.append(_antagonist_row(m, per, ref))
        radii.append(
            [
                m,
                _fmt_eps(per["minimal_radius_median"], eps[-1]),
                *[_fmt_eps(per["smallest_epsilon_median"][name], eps[-1]) for name in names],
                *[per["never"][name] for name in names],
            ]
        )
        rates += [[m, name, *[round(100 * r) for r in per["success_rate"][name]]] for name in names]
        rates.append([m, "optimum (exact)", *[round(100 * r) for r in per["optimum_rate"]]])
    antagonist_columns = [
        "m",
        "regime",
        "τ_b = τ_c (m/N)^(1/(N−m))",
        "τ* boundary (critical_point)",
        "τ* clean",
        "inflection clean",
        f"fold-change argmin τ2 ({cfg.n_others} ligands)",
        "fold change at argmin",
        f"τ* after {ref}",
        f"% within {NEAR} of τ_b: clean",
        f"% … {ref}",
        "% … FGSM step",
        "% carried across clean τ* by FGSM step",
        f"T after {ref}",
        "T after FGSM step",
    ]
    return [
        Table(
            f"Cells: where the antagonists sit, and where {ref} and FGSM's step put the sub-threshold ligands at the "
            f"smallest ε where {ref} succeeds (medians over distributions; τ_b = 0 for m = 0, the optimum's target)",
            antagonist_columns,
            antagonists,
        ),
        Table(
            "Cells: smallest successful ε (median over distributions) and how many never succeed in the grid",
            ["m", "exact minimum", *names, *[f"never: {name}" for name in names]],
            radii,
        ),
        Table(
            "Cells: success rate (%) vs ε (each pair attacked independently)",
            ["m", "attack", *[f"{e:.3g}" for e in eps]],
            rates,
        ),
    ]


def _cell_notes(cells: dict, cfg: CellsConfig) -> list[str]:
    eps_max, ref, per_m = float(cells["epsilons"][-1]), cfg.reference, cells["per_m"]
    pgds = [spec.name for spec in cfg.methods if spec.name != "FGSM"]
    first = per_m[0]
    notes = [
        no_critical_point_verdict(
            first["success_rate"]["FGSM"], _best_pgd(first["success_rate"]), first["optimum_rate"]
        )
    ]
    notes += [
        overshoot_note(
            m, per["tau_b"], per["success_rate"], per["smallest_epsilon_median"], per["minimal_radius_median"], eps_max
        )
        for m, per in enumerate(per_m)
        if m >= 1
    ]
    clauses, fails, late = [], [], []
    for m, per in enumerate(per_m):
        success, optimum = per["success_rate"], per["optimum_rate"]
        kind, clause = fgsm_verdict(
            success["FGSM"], _best_pgd(success), optimum, per["first_success_agreement"], eps_max
        )
        if kind == "fails":
            fails.append(m)
        elif kind == "late":
            late.append(m)
        optimal = [n for n in pgds if np.array_equal(np.asarray(success[n]), np.asarray(optimum))]
        clauses.append(f"m = {m}: {clause}; {optimal_pgd_clause(optimal)}")
    notes.insert(0, claim_verdict(clauses, fails, late))
    rest = per_m[1:]
    notes.append(
        f"At the smallest ε where {ref} succeeds, FGSM's step carries this median share of the sub-threshold ligands "
        "across the clean τ* ("
        + ", ".join(f"m = {m}: {100 * per['crossed']:.0f}%" for m, per in enumerate(per_m) if m >= 1)
        + f"); {ref} leaves "
        + ", ".join(f"{_pct(per['near_tau_b'][ref])}%" for per in rest)
        + f" of them within {NEAR} of τ* (m = 1 … {cfg.N - 1}; clean: "
        + ", ".join(f"{_pct(per['near_tau_b']['clean'])}%" for per in rest)
        + ")."
    )
    notes.append(
        antagonist_verdict(
            [per["fold_change_argmin"] for per in rest],
            [per["tau_b"] for per in rest],
            [per["tau_star_clean"] for per in rest],
            not np.isfinite(first["fold_change_argmin"]),
            cfg.n_others,
            ref,
        )
    )
    notes.append(
        "PGD with a random start: for m ≥ 2 the start clips binding times within ε of 0 to 0, where "
        "∂T/∂τ = 0, so they never move again (compare it with the PGD rows without random start)."
    )
    return notes


def _network_tables(networks: dict, cfg: NetworksConfig) -> list[Table]:
    eps, attacks = cfg.epsilons, networks["attacks"]
    shown: list[int] = networks["shown"]
    pgd = attacks[1]
    rows, compute_rows = [], []
    for model in networks["models"]:
        by_attack = model["attacks"]
        acc = {name: np.asarray(r["accuracy"]) for name, r in by_attack.items()}
        row = [model["label"], round(100 * acc["FGSM"][0], 1)]
        for i in shown:
            row += [round(100 * acc[name][i], 1) if name in acc else "= PGD" for name in attacks]
        rows.append(row + [np.round(g, 1) for g in model["gap_fgsm_minus_pgd"]])  # NumPy rounding, as the rest
        compute_rows.append(
            [
                model["label"],
                round(model["training_seconds"], 1),
                *[round(by_attack[name]["seconds"], 1) if name in by_attack else "–" for name in attacks],
            ]
        )
    columns = [
        "model",
        "clean",
        *[f"{name} ε={eps[i]:g}" for i in shown for name in attacks],
        *[f"FGSM − {pgd} ε={eps[i]:g}" for i in shown],
    ]
    return [
        Table(
            f"Networks: robust accuracy (%) vs Hill steepness ({cfg.dataset}, {cfg.n_test} test images)", columns, rows
        ),
        Table(
            "Networks: compute (training 0 when loaded from the shared cache)",
            ["model", "training s", *[f"{name} s" for name in attacks]],
            compute_rows,
        ),
    ]


def _network_notes(networks: dict, cfg: NetworksConfig) -> list[str]:
    eps, attacks, shown = cfg.epsilons, networks["attacks"], networks["shown"]
    pgd = attacks[1]
    gaps = {model["label"]: model["gap_fgsm_minus_pgd"] for model in networks["models"]}
    hill = [label for label in gaps if label != "natural"]
    notes = []
    for j, i in enumerate(shown):
        series = [gaps[label][j] for label in hill]
        notes.append(
            f"ε = {eps[i]:g}: FGSM − {pgd} accuracy gap for n = "
            + ", ".join(f"{label.split('=')[1]}: {g:.1f}" for label, g in zip(hill, series))
            + f" points (natural {gaps['natural'][j]:.1f}); the gap {gap_trend(series)}."
        )
    steep = networks["models"][-1]
    acc = {name: np.asarray(r["accuracy"]) for name, r in steep["attacks"].items()}
    notes.append(
        steepest_filter_verdict(
            steep["label"],
            eps[shown[-1]],
            acc["FGSM"][-1],
            acc[pgd][-1],
            acc["BPDA"][-1],
            pgd,
            networks["near_threshold"],
            cfg.pgd.step_size,
        )
    )
    notes.append(
        "Every Hill filter, n = 1 included, has gradient exactly 0 at pixels equal to 0 (most MNIST pixels; "
        "for n = 1 an artefact of the filter's floor at 1e-30, the true derivative there is 1/θ = 2): FGSM "
        "cannot move those pixels, PGD's random start can. This is the image analogue of ligands stranded at "
        "τ = 0 for m ≥ 2, and part of the FGSM/PGD gap even at n = 1."
    )
    return notes


def _summary(cfg: Config) -> str:
    c, n = cfg.cells, cfg.networks
    pgds = ", ".join(spec.name for spec in c.methods if spec.name != "FGSM")
    return (
        f"Cells: T_{{{c.N},m}} (τ_c = {c.tau_c:g}) for m = 0 … {c.N - 1}, {c.n_distributions} "
        f"distributions of {c.n_agonists} agonists (3.5 ± 0.1, amount set per m so that T = T_0 ∈ "
        f"[{c.T_clean[0]}, {c.T_clean[1]}]) and {c.n_others} sub-threshold ligands (antagonists "
        f"τ_c − |N(0, {c.antagonist_scale:g})| with probability U{tuple(c.antagonist_fraction)}, else self "
        f"|N(0, {c.self_scale:.3g})|); the attacker moves the sub-threshold binding times within an L∞ ball of "
        f"radius ε to turn the response off, with FGSM and PGD ({pgds}; step 2.5 ε / steps), against the exact "
        f"minimal radius. Networks: {n.classifier['arch'].upper()}s on {n.dataset} behind a Hill filter "
        f"(θ = {n.threshold}) of steepness n ∈ {list(n.steepness)}, trained in place, and the natural classifier; "
        f"FGSM, PGD-{n.pgd.steps} (step {n.pgd.step_size}, random start) and BPDA at ε ∈ "
        f"{[e for e in n.epsilons if e > 0]}."
    )


def render(cfg: Config, facts: dict) -> Rendered:
    cells, networks = facts["cells"], facts["networks"]
    return Rendered(
        summary=_summary(cfg),
        tables=[
            *_cell_tables(cells, cfg.cells),
            *_network_tables(networks, cfg.networks),
            Table("Cells: compute (0 when loaded)", ["stage", "compute s"], [["cells", round(cells["seconds"], 1)]]),
        ],
        figures={
            "cells_success.png": _plot_success(cells, cfg.cells),
            "cells_histograms.png": _plot_histograms(cells, cfg.cells),
            "networks.png": _plot_networks(networks, cfg.networks),
        },
        notes=[
            *_cell_notes(cells, cfg.cells),
            *_network_notes(networks, cfg.networks),
        ],
    )


# ----------------------------------------------------------------------------- presets

_QUICK_EPS = tuple(round(float(e), 4) for e in np.geomspace(0.02, 3.0, 18))
_PAPER_EPS = tuple(round(float(e), 4) for e in np.geomspace(0.01, 3.0, 40))
_FGSM = CellMethod(name="FGSM", method="fgsm")
_PGD = {steps: CellMethod(name=f"PGD-{steps}", method="pgd", steps=steps) for steps in (10, 100, 1000)}

EXPERIMENT = register(
    Experiment(
        name="two-regimes",
        title="Two regimes: single-step vs iterative attacks with and without a critical point (cells and "
        "Hill-filtered networks)",
        paper="Rademaker et al. 2019 (two regimes; protocol open)",
        presets={
            "quick": Config(
                cells=CellsConfig(
                    n_distributions=32,
                    epsilons=_QUICK_EPS,
                    methods=(
                        _FGSM,
                        _PGD[10],
                        _PGD[100],
                        CellMethod(name="PGD-100 rs", method="pgd", steps=100, random_start=True),
                    ),
                ),
                # 250 images: the standard suite on six networks is most of the experiment's time.
                networks=NetworksConfig(dataset="mnist-subset", classifier=MLP_CLASSIFIER, n_test=250, batch_size=16),
            ),
            "paper": Config(
                cells=CellsConfig(
                    n_distributions=256,
                    epsilons=_PAPER_EPS,
                    methods=(
                        _FGSM,
                        _PGD[10],
                        _PGD[100],
                        _PGD[1000],
                        CellMethod(name="PGD-100 rs", method="pgd", steps=100, random_start=True, restarts=5),
                    ),
                ),
                networks=NetworksConfig(
                    dataset="mnist",
                    classifier={"arch": "cnn", "epochs": 10, "batch_size": 128},
                    n_test=10000,
                    batch_size=512,
                    suite="standard",
                ),
            ),
        },
        compute=compute,
        render=render,
        tags=("cells", "attacks", "defence"),
    )
)
