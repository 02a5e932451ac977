"""two-regimes: single-step attacks work without a critical point and fail near one (SPEC §4).

Rademaker et al. 2019 ("two regimes, with or without a critical point"), protocol open. The
same L∞ attacks, FGSM (one sign step of ε) and PGD (iterated sign steps, projected), run
through adprf's one engine on two kinds of decision-makers.

**Cells.** T_{N,m} (`AdaptiveProofreading`, threshold 1) for N = 5 and every m = 0 … N − 1,
τ_c = 3. Each ligand distribution holds `n_agonists` agonists (τ ~ 3.5 + N(0, 0.1), the v1
agonists) and `n_others` sub-threshold ligands, each an antagonist (τ = τ_c − |N(0, 1/2)|,
`antagonists`) with probability f ~ U(`antagonist_fraction`) drawn per distribution, else a self
ligand (τ = |N(0, 1/3)|, `self_ligands`); the sub-threshold ligands have amount 1. Per
distribution a target T_0 ~ U(`T_clean`) is drawn, and for every m the agonists' common amount
is set so that T_{N,m} = T_0 exactly (modestly above 1: the response is ON, and every m starts
at the same distance from the boundary; only the agonist amount differs between m). The
antagonists matter: self ligands near τ = 0 hardly enter S_N, so without ligands of
intermediate τ an attacker who lowers binding times could never turn T_{N,0} off.
The attacker moves the binding times of the sub-threshold ligands (clean τ < τ_c; agonists and
amounts fixed; τ ≥ 0) within ‖Δτ‖∞ ≤ ε (`move_binding_times(ε, τ_c)`) to reach T ≤ 1
(`turn_off`). Methods: FGSM, and PGD with `steps` iterations of 2.5 ε / steps (the engine's
default step; BIM without random start, optionally with one). Every (ε, distribution) pair is
attacked independently (`nested=False`): the success rate of a method at ε is what that attack
achieves at that radius, so a single step that succeeds at a small ε and fails at a larger one
shows as a dip. The smallest successful ε is the first grid ε where the attack succeeds.

*The exact minimal radius.* T ≤ 1 ⟺ S_N − τ_c^(N−m) S_m ≤ 0, a sum over ligands of
L_i f(τ_i) with f(τ) = τ^N − τ_c^(N−m) τ^m, minimised by each ligand on its own: f decreases
below τ_b = τ_c (m/N)^(1/(N−m)) and increases above it (m ≥ 1; for m = 0 it increases
everywhere, τ_b = 0). So the best point of the ball moves every movable ligand as close to τ_b
as ε allows, and the smallest ε that turns the response off (`minimal_radius`) is the root of a
monotone function of ε, found by bisection. τ_b is the critical point of the gradient on the
boundary, τ* = τ_c (m/N)^(1/(N−m)) (SPEC §2.1): the optimal attack at the minimal radius parks
every ligand within reach on τ*, and moves the others by ε towards it. For m = 0 this is
"every τ down by ε", which is exactly FGSM's step (T_{N,0} is increasing in every τ, so the
sign of the gradient points to the best corner of the ball). For m ≥ 1 FGSM moves every ligand
by the full ε in the direction of −sign ∂T/∂τ at the clean point, which changes sign at the
clean τ*: a ligand closer than ε to τ* is carried past it, by up to ε, to where it antagonises
less (and ligands near τ* whose gradient is almost 0 move as far as any other). PGD's smaller
steps stop at τ*. The tables give the fraction of sub-threshold ligands that FGSM carries
across τ*, the fraction that ends within 0.05 of τ_b, and T after FGSM and after PGD at the
same ε.

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
natural classifier, shared with `biomimetic-defence` (`defences.train_defence`). Robust
accuracy at ε ∈ {0.1, 0.2, 0.3} (ε = 0: clean accuracy) under FGSM, PGD (40 steps of 0.01,
random start) and BPDA (the same PGD with the filter replaced by the identity on the backward
pass, `straight_through="filter"`), nested over ε (`robust_accuracy`'s default). Filter
parameters are array leaves, so the Hill models share one compiled attack per method. The
Hill filter's gradient at a pixel of exactly 0 is 0 for every n (its derivative n x^(n−1)/θ^n
vanishes there for n > 1; for n = 1 the filter floors x at 1e-30, so the gradient is 0 instead
of 1/θ) — the analogue of ligands stranded at τ = 0 for m ≥ 2 — and most MNIST pixels are 0.
"""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .._ligands import Ligands, agonists, antagonists, self_ligands
from .._results import Run
from ..analysis import critical_point, fold_change, probe_gradient, regime
from ..attacks import FGSM, PGD, move_binding_times, robust_accuracy, run_attack, turn_off
from ..cells import AdaptiveProofreading, OneOf
from ..data import load_dataset
from ..nets import train_defence

from ._registry import LegacyExperiment as Experiment, register

NEAR = 0.05
"""A ligand is 'at τ*' when its binding time is within this distance of τ_b."""


# ----------------------------------------------------------------------------- cells: set-up


def draw_mixtures(cfg: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The clean binding times of every distribution (agonists first), which sub-threshold
    ligands are antagonists, and the target T_0 of each distribution.

    **Returns:** `(tau (D, R), antagonist (D, n_others) bool, T_0 (D,))` as NumPy arrays (float64
    inside `jax.enable_x64`).
    """
    n_ag, n_oth, tau_c = cfg["n_agonists"], cfg["n_others"], cfg["tau_c"]
    f_lo, f_hi = cfg["antagonist_fraction"]
    t_lo, t_hi = cfg["T_clean"]
    if not 1.0 < t_lo <= t_hi:
        raise ValueError(
            f"T_clean must be a range [lo, hi] with 1 < lo ≤ hi (the response starts ON), got {cfg['T_clean']!r}"
        )

    def one(key):
        k_ag, k_self, k_ant, k_frac, k_pick, k_target = jax.random.split(key, 6)
        ag = agonists(k_ag, n_ag, cfg["agonist_mean"], cfg["agonist_std"])
        own = self_ligands(k_self, n_oth, cfg["self_scale"])
        ant = antagonists(k_ant, n_oth, tau_c, cfg["antagonist_scale"])
        fraction = jax.random.uniform(k_frac, (), minval=f_lo, maxval=f_hi)
        pick = jax.random.uniform(k_pick, (n_oth,)) < fraction
        target = jax.random.uniform(k_target, (), minval=t_lo, maxval=t_hi)
        return jnp.concatenate([ag.tau, jnp.where(pick, ant.tau, own.tau)]), pick, target

    keys = jax.random.split(jax.random.PRNGKey(cfg["seed"]), cfg["n_distributions"])
    tau, pick, target = jax.jit(jax.vmap(one))(keys)
    return np.asarray(tau), np.asarray(pick), np.asarray(target)


def agonist_amount(tau: np.ndarray, n_agonists: int, N: int, m: int, tau_c: float, target: np.ndarray) -> np.ndarray:
    """The common amount of the agonists (the first `n_agonists` ligands) that gives T_{N,m} =
    `target`, the other ligands having amount 1: from (a A_N + s_N) = T_0 τ_c^(N−m) (a A_m + s_m).

    **Returns:** the amount per distribution; raises if some target cannot be reached (T_0 above
    the agonists' own T, or below the other ligands').
    """
    c = tau_c ** (N - m)
    ag, others = tau[:, :n_agonists], tau[:, n_agonists:]
    amount = (target * c * np.sum(others**m, 1) - np.sum(others**N, 1)) / (
        np.sum(ag**N, 1) - target * c * np.sum(ag**m, 1)
    )
    if not np.all(np.isfinite(amount) & (amount > 0)):
        bad = int(np.flatnonzero(~(np.isfinite(amount) & (amount > 0)))[0])
        raise ValueError(
            f"T_{{{N},{m}}} = {target[bad]:.4g} cannot be reached by scaling the agonists of "
            f"distribution {bad} (it must lie between the T of the other ligands and the agonists' "
            f"own T): lower T_clean or raise agonist_mean"
        )
    return amount


def boundary_binding_time(N: int, m: int, tau_c: float) -> float:
    """τ_b = τ_c (m/N)^(1/(N−m)): the minimiser over τ ≥ 0 of f(τ) = τ^N − τ_c^(N−m) τ^m (0 for
    m = 0), i.e. the critical point τ* on the boundary T = 1."""
    return tau_c * (m / N) ** (1.0 / (N - m))


def best_excess(tau, amount, movable, N: int, m: int, tau_c: float, epsilon) -> np.ndarray:
    """min over the ball of S_N − τ_c^(N−m) S_m: every movable τ moved as close to τ_b as
    ‖Δτ‖∞ ≤ ε and τ ≥ 0 allow. ≤ 0 iff some point of the ball turns the response off.

    **Arguments:** binding times, amounts and the movable mask (D, R); `epsilon` (D,) or scalar.
    """
    epsilon = np.asarray(epsilon, np.float64)[..., None]
    tau_b = boundary_binding_time(N, m, tau_c)
    moved = np.clip(tau_b, np.maximum(tau - epsilon, 0.0), tau + epsilon)
    x = np.where(movable, moved, tau)
    return np.sum(amount * (x**N - tau_c ** (N - m) * x**m), axis=-1)


def minimal_radius(tau, amount, movable, N: int, m: int, tau_c: float, iterations: int = 80) -> np.ndarray:
    """The exact smallest ε at which an L∞ attack on the movable binding times can reach T ≤ 1
    (see the module docstring); ∞ where even moving every movable ligand onto τ_b does not.

    Bisection on the monotone `best_excess`, float64, `iterations` halvings of
    [0, max |τ − τ_b|]. **Returns:** ε per distribution (D,).
    """
    tau, amount, movable = (np.asarray(a, np.float64) for a in (tau, amount, movable))
    movable = movable.astype(bool)
    tau_b = boundary_binding_time(N, m, tau_c)
    lo = np.zeros(tau.shape[0])
    hi = np.max(np.where(movable, np.abs(tau - tau_b), 0.0), axis=1)
    reachable = best_excess(tau, amount, movable, N, m, tau_c, hi) <= 0
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        ok = best_excess(tau, amount, movable, N, m, tau_c, mid) <= 0
        lo, hi = np.where(ok, lo, mid), np.where(ok, mid, hi)
    return np.where(reachable, hi, np.inf)


def _cell_method(spec: dict):
    if spec["method"] == "fgsm":
        return FGSM()
    if spec["method"] == "pgd":
        return PGD(
            steps=spec["steps"],
            step_size=None,
            random_start=spec.get("random_start", False),
            restarts=spec.get("restarts", 1),
        )
    raise ValueError(f"unknown cell attack method {spec['method']!r}: use 'fgsm' or 'pgd'")


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
        grad = jax.grad(lambda z: objective.loss(model(z), None))(x)
        return FGSM().update(x, None, None, grad, x, threat.with_epsilon(epsilon))[0]

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


def cell_attacks(cfg: dict) -> dict:
    """The cells stage: distributions, diagnostics, and every method's sweep for every m."""
    N, tau_c, n_ag = cfg["N"], cfg["tau_c"], cfg["n_agonists"]
    if "FGSM" not in cfg["methods"] or cfg["reference"] not in cfg["methods"]:
        raise ValueError(
            f"the cell methods need an 'FGSM' entry and the reference {cfg['reference']!r}, got "
            f"{sorted(cfg['methods'])}"
        )
    epsilons = np.asarray(cfg["epsilons"], np.float32)
    eps64 = epsilons.astype(np.float64)  # the engine's radii are float32: the oracle uses the same values
    bins = np.linspace(0.0, cfg["histogram_max"] * tau_c, cfg["histogram_bins"] + 1)
    with jax.enable_x64(True):
        tau, pick, target = draw_mixtures(cfg)
        movable = tau < tau_c
        models = [AdaptiveProofreading(N, m, tau_c=tau_c) for m in range(N)]
        threat = move_binding_times(0.0, tau_c)
        key = jax.random.PRNGKey(cfg["seed"] + 1)
        # Every ligand at τ_c: T = 1, so its τ* is the boundary value (the batch's shape: one compilation).
        on_boundary = Ligands(jnp.full(tau.shape, tau_c), jnp.ones(tau.shape))
        probe_grid = np.linspace(0.01, cfg["histogram_max"] * tau_c, 240)
        out = {
            "tau": tau,
            "antagonist": pick,
            "T_target": target,
            "movable": movable,
            "epsilons": eps64,
            "bins": bins,
            "probe_tau": probe_grid,
            "per_m": {},
        }
        for m in range(N):
            model = OneOf(models, m)
            amount = np.ones_like(tau)
            amount[:, :n_ag] = agonist_amount(tau, n_ag, N, m, tau_c, target)[:, None]
            clean = Ligands(jnp.asarray(tau), jnp.asarray(amount))
            t_clean = np.asarray(_outputs(model, clean))
            star, inflection, argmin, fc = (
                np.asarray(a) for a in _diagnostics(model, clean, tau_c, float(cfg["n_others"]))
            )
            per = {
                "agonist_amount": amount[:, 0],
                "T_clean": t_clean,
                "tau_star_clean": star,
                "inflection": inflection,
                "fold_change_argmin": argmin,
                "fold_change_min": fc,
                "tau_star_boundary": float(_critical_points(model, on_boundary, tau_c)[0]),
                "tau_b": boundary_binding_time(N, m, tau_c),
                "minimal_radius": minimal_radius(tau, amount, movable, N, m, tau_c),
                "probe_gradient_clean": np.asarray(
                    _probe_gradient(model, jax.tree.map(lambda a: a[0], clean), jnp.asarray(probe_grid))
                ),
                "methods": {},
            }
            adversarial = {}
            for name, spec in cfg["methods"].items():
                start = time.perf_counter()
                result = run_attack(
                    model,
                    clean,
                    None,
                    epsilons,
                    method=_cell_method(spec),
                    threat=threat,
                    objective=turn_off(model),
                    key=key,
                    keep_adversarial=True,
                    nested=False,
                    batch_size=cfg["batch_size"],
                )
                seconds = time.perf_counter() - start
                adversarial[name] = np.asarray(result.adversarial.tau)  # (E, D, R)
                per["methods"][name] = {
                    "success": np.asarray(result.success),
                    "seconds": seconds,
                    "evaluations": np.asarray(result.gradient_evaluations).mean(1),  # mean per ε
                }
            # FGSM's own step (also where it raises T), and how many ligands it carries across the clean τ*.
            step = np.asarray(_sign_step(model, clean, jnp.asarray(epsilons), threat, turn_off(model)).tau)
            per["fgsm_step"] = {"T": np.asarray(_outputs(model, _batch(step, amount)))}
            # Where the reference PGD and FGSM's step put the ligands, at the reference's smallest successful ε.
            ref = per["methods"][cfg["reference"]]
            first = _first_success(ref["success"])
            hit = np.flatnonzero(first >= 0)
            # The reference's final distributions on all D (one shape, one compilation), kept where it succeeded.
            final = _batch(adversarial[cfg["reference"]][np.maximum(first, 0), np.arange(len(first))], amount)
            at_ref = {cfg["reference"]: np.asarray(final.tau)[hit], "FGSM": step[first[hit], hit]}
            t_at_ref = {
                cfg["reference"]: np.asarray(_outputs(model, final))[hit],
                "FGSM": per["fgsm_step"]["T"][first[hit], hit],
            }
            clip = lambda values: np.clip(values[movable[hit]], bins[0], bins[-1])
            per["histogram"] = {
                "clean": np.histogram(clip(tau[hit]), bins)[0],
                **{name: np.histogram(clip(values), bins)[0] for name, values in at_ref.items()},
            }
            tau_b = per["tau_b"]

            def near(values):
                return float(np.mean(np.abs(values[movable[hit]] - tau_b) <= NEAR)) if hit.size else float("nan")

            per["at_reference"] = {
                "distributions": int(hit.size),
                "near_tau_b": {"clean": near(tau[hit]), **{name: near(v) for name, v in at_ref.items()}},
                "T": t_at_ref,
                "crossed": {"FGSM": _crossed(tau[hit], at_ref["FGSM"], movable[hit], star[hit])},
                "tau_star_final": np.asarray(_critical_points(model, final, tau_c))[hit],
                "probe_gradient_final": (
                    np.asarray(
                        _probe_gradient(
                            model,
                            Ligands(jnp.asarray(at_ref[cfg["reference"]][0]), clean.amount[0]),
                            jnp.asarray(probe_grid),
                        )
                    )
                    if hit.size and hit[0] == 0
                    else None
                ),
            }
            out["per_m"][str(m)] = per
    return out


# ----------------------------------------------------------------------------- networks


def network_defences(cfg: dict) -> dict[str, dict]:
    """label → defence spec: the natural classifier and one Hill filter per steepness."""
    specs = {"natural": {}}
    for n in cfg["steepness"]:
        specs[f"Hill n={n}"] = {"filter": "hill", "threshold": cfg["threshold"], "steepness": n}
    return specs


def network_attacks(cfg: dict) -> dict:
    """name → (method, straight_through)."""
    pgd = PGD(steps=cfg["pgd"]["steps"], step_size=cfg["pgd"]["step_size"], random_start=True)
    return {"FGSM": (FGSM(), ()), f"PGD-{cfg['pgd']['steps']}": (pgd, ()), "BPDA": (pgd, "filter")}


def network_evaluations(run: Run, cfg: dict) -> tuple[dict, dict]:
    """Train (or load) every defended classifier and attack it: accuracy per (label, attack)."""
    test = load_dataset(cfg["dataset"], "test")
    n_test = min(cfg["n_test"], len(test))
    x, y = test.images[:n_test], test.labels[:n_test]
    key = jax.random.PRNGKey(cfg["seed"])
    results, training = {}, {}
    for label, spec in network_defences(cfg).items():
        model, training[label] = train_defence(run, spec, cfg["classifier"], cfg["dataset"], cfg["seed"])
        results[label] = {}
        for name, (method, through) in network_attacks(cfg).items():
            if through and "filter" not in spec:
                continue  # no filter to see through: BPDA is PGD

            def evaluate(method=method, through=through, label=label, name=name, model=model):
                start = time.perf_counter()
                r = robust_accuracy(
                    model,
                    x,
                    y,
                    cfg["epsilons"],
                    method,
                    key=key,
                    batch_size=cfg["batch_size"],
                    straight_through=through,
                    progress=f"{label} {name}",
                )
                return {
                    "accuracy": r.accuracy,
                    "seconds": time.perf_counter() - start,
                    "evaluations": float(np.mean(np.asarray(r.gradient_evaluations))),
                }

            results[label][name] = run.stage(f"net-{label.replace(' ', '').replace('=', '')}-{name}", evaluate)
    return results, training


# ----------------------------------------------------------------------------- figures


def _median(values) -> float:
    values = np.asarray(values, np.float64)
    return float(np.median(values)) if values.size else float("nan")


def _plot_success(cells: dict, cfg: dict):
    N, eps = cfg["N"], np.asarray(cells["epsilons"])
    fig, axes = plt.subplots(1, N, figsize=(3.3 * N, 3.4), sharey=True, squeeze=False)
    for m in range(N):
        per, ax = cells["per_m"][str(m)], axes[0, m]
        optimum = np.asarray(per["minimal_radius"], np.float64)
        ax.plot(
            eps,
            100 * np.mean(optimum[None, :] <= eps[:, None], 1),
            color="k",
            lw=2.5,
            alpha=0.25,
            label="optimum (exact)",
        )
        for name, res in per["methods"].items():
            style = dict(ls="--", marker="s", ms=3, color="tab:red") if name == "FGSM" else dict(marker="o", ms=2.5)
            ax.plot(eps, 100 * np.mean(np.asarray(res["success"], bool), 1), label=name, **style)
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
        f"Turning T_{{{N},m}} off by moving sub-threshold binding times: {cfg['n_distributions']} "
        f"distributions, T_0 ∈ [{cfg['T_clean'][0]}, {cfg['T_clean'][1]}], each (ε, distribution) attacked "
        f"independently",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def _plot_histograms(cells: dict, cfg: dict):
    N, tau_c, ref = cfg["N"], cfg["tau_c"], cfg["reference"]
    bins = np.asarray(cells["bins"])
    grid = np.asarray(cells["probe_tau"])
    fig, axes = plt.subplots(
        2, N, figsize=(3.3 * N, 5.6), squeeze=False, sharex=True, gridspec_kw={"height_ratios": [2, 1]}
    )
    for m in range(N):
        per = cells["per_m"][str(m)]
        ax, gax = axes[0, m], axes[1, m]
        hist = per["histogram"]
        ax.stairs(hist["clean"], bins, color="0.6", fill=True, alpha=0.5, label="clean")
        ax.stairs(hist["FGSM"], bins, color="tab:red", lw=1.3, label="FGSM step")
        ax.stairs(hist[ref], bins, color="tab:blue", lw=1.3, label=ref)
        argmin = _median(per["fold_change_argmin"])
        for a in (ax, gax):
            a.axvline(tau_c, color="grey", ls="--", lw=0.9)
            if m >= 1:
                a.axvline(per["tau_b"], color="k", ls=":", lw=1.1)
                a.axvline(argmin, color="tab:green", ls="-.", lw=0.9)
        ax.set_yscale("log")
        ax.set_title(f"m = {m}: {per['at_reference']['distributions']} distributions", fontsize=9)
        for values, colour, name in (
            (per["probe_gradient_clean"], "0.3", "clean"),
            (per["at_reference"]["probe_gradient_final"], "tab:blue", f"after {ref}"),
        ):
            if values is not None:
                g = np.asarray(values, np.float64)
                # Scaled by the depth of the negative well (where descent moves ligands up), else by g(τ_c).
                scale = -g.min() if g.min() < 0 else np.interp(tau_c, grid, g)
                gax.plot(grid, g / scale, color=colour, lw=1.2, label=name)
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


def _plot_networks(networks: dict, cfg: dict):
    eps = cfg["epsilons"]
    labels = list(networks)
    attacks = list(network_attacks(cfg))
    shown = [i for i, e in enumerate(eps) if e > 0]
    fig, axes = plt.subplots(1, len(shown), figsize=(3.6 * len(shown), 3.4), sharey=True, squeeze=False)
    x = np.arange(len(labels))
    styles = {"FGSM": dict(color="tab:red", ls="--", marker="s"), "BPDA": dict(color="tab:purple", marker="^")}
    for ax, i in zip(axes[0], shown):
        clean = [100 * networks[label][attacks[0]]["accuracy"][0] for label in labels]
        ax.plot(x, clean, color="0.6", marker=".", label="clean")
        for name in attacks:
            values = [
                100 * networks[label][name]["accuracy"][i] if name in networks[label] else np.nan for label in labels
            ]
            ax.plot(x, values, label=name, **styles.get(name, dict(color="tab:blue", marker="o")))
        ax.set_xticks(x, [label.replace("Hill ", "") for label in labels], fontsize=8)
        ax.set(title=f"ε = {eps[i]:g}", xlabel="Hill steepness (natural: no filter)", ylim=(-3, 103))
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("robust accuracy (%)")
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(
        f"{cfg['classifier']['arch'].upper()} with a Hill filter (θ = {cfg['threshold']}) trained in place, "
        f"{cfg['dataset']}, {cfg['n_test']} test images",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- tables and notes


def _fmt_eps(value: float, eps_max: float) -> str:
    return f"> {eps_max:g}" if not np.isfinite(value) else f"{value:.3g}"


def _smallest_success(success, epsilons) -> np.ndarray:
    first = _first_success(np.asarray(success, bool))
    return np.where(first >= 0, np.asarray(epsilons)[np.maximum(first, 0)], np.inf)


def _cell_tables(cells: dict, cfg: dict) -> tuple[list, dict, list]:
    N, eps = cfg["N"], np.asarray(cells["epsilons"], np.float64)
    names = list(cfg["methods"])
    ref = cfg["reference"]
    antag_rows, radius_rows, rate_rows = [], [], []
    numbers = {
        "tau_star_boundary": {},
        "tau_b": {},
        "smallest_epsilon": {},
        "success": {},
        "minimal_radius": {},
        "tau_star_clean": {},
        "fold_change_argmin": {},
        "near_tau_b": {},
        "crossed": {},
        "T_at_reference": {},
    }
    for m in range(N):
        per = cells["per_m"][str(m)]
        star, inflection = _median(per["tau_star_clean"]), _median(per["inflection"])
        label = ("critical point" if np.isfinite(star) else "no critical point") + (
            " + inflection" if np.isfinite(inflection) else ""
        )
        argmin = _median(per["fold_change_argmin"])
        at = per["at_reference"]
        antag_rows.append(
            [
                m,
                label,
                round(per["tau_b"], 4),
                _number(per["tau_star_boundary"]),
                _number(star),
                _number(inflection),
                "→ 0 (edge)" if not np.isfinite(argmin) else _number(argmin),
                _number(_median(per["fold_change_min"])),
                _number(_median(at["tau_star_final"])),
                _pct(at["near_tau_b"]["clean"]),
                _pct(at["near_tau_b"][ref]),
                _pct(at["near_tau_b"]["FGSM"]),
                _pct(_median(at["crossed"]["FGSM"])),
                _number(_median(at["T"][ref])),
                _number(_median(at["T"]["FGSM"])),
            ]
        )
        optimum = np.asarray(per["minimal_radius"], np.float64)
        smallest = {name: _smallest_success(per["methods"][name]["success"], eps) for name in names}
        radius_rows.append(
            [
                m,
                _fmt_eps(_median(optimum), eps[-1]),
                *[_fmt_eps(_median(smallest[name]), eps[-1]) for name in names],
                *[int(np.sum(~np.isfinite(smallest[name]))) for name in names],
            ]
        )
        for name in names:
            rate = np.mean(np.asarray(per["methods"][name]["success"], bool), 1)
            rate_rows.append([m, name, *[round(100 * r) for r in rate]])
        rate_rows.append([m, "optimum (exact)", *[round(100 * r) for r in np.mean(optimum[None] <= eps[:, None], 1)]])
        key = str(m)
        numbers["tau_star_boundary"][key] = per["tau_star_boundary"]
        numbers["tau_b"][key] = per["tau_b"]
        numbers["tau_star_clean"][key] = _median(per["tau_star_clean"])
        numbers["fold_change_argmin"][key] = argmin
        numbers["minimal_radius"][key] = optimum
        numbers["smallest_epsilon"][key] = {name: s for name, s in smallest.items()}
        numbers["success"][key] = {
            name: np.mean(np.asarray(per["methods"][name]["success"], bool), 1) for name in names
        }
        numbers["near_tau_b"][key] = at["near_tau_b"]
        numbers["crossed"][key] = _median(at["crossed"]["FGSM"])
        numbers["T_at_reference"][key] = {name: _median(v) for name, v in at["T"].items()}
    tables = [
        {
            "title": f"Cells: where the antagonists sit, and where {ref} and FGSM's step put the sub-threshold ligands at the "
            f"smallest ε where {ref} succeeds (medians over distributions; τ_b = 0 for m = 0, the optimum's target)",
            "columns": [
                "m",
                "regime",
                "τ_b = τ_c (m/N)^(1/(N−m))",
                "τ* boundary (critical_point)",
                "τ* clean",
                "inflection clean",
                f"fold-change argmin τ2 ({cfg['n_others']} ligands)",
                "fold change at argmin",
                f"τ* after {ref}",
                f"% within {NEAR} of τ_b: clean",
                f"% … {ref}",
                "% … FGSM step",
                "% carried across clean τ* by FGSM step",
                f"T after {ref}",
                "T after FGSM step",
            ],
            "rows": antag_rows,
        },
        {
            "title": "Cells: smallest successful ε (median over distributions) and how many never succeed in the grid",
            "columns": ["m", "exact minimum", *names, *[f"never: {name}" for name in names]],
            "rows": radius_rows,
        },
        {
            "title": "Cells: success rate (%) vs ε (each pair attacked independently)",
            "columns": ["m", "attack", *[f"{e:.3g}" for e in eps]],
            "rows": rate_rows,
        },
    ]
    numbers["epsilons"] = eps
    return tables, numbers, names


def _number(value, digits: int = 4):
    value = float(value)
    return round(value, digits) if np.isfinite(value) else "none"


def _pct(value) -> float | str:
    value = float(value)
    return round(100 * value, 1) if np.isfinite(value) else "–"


def _cell_notes(cells: dict, cfg: dict, numbers: dict, names: list) -> list[str]:
    N, eps = cfg["N"], np.asarray(cells["epsilons"], np.float64)
    pgds = [name for name in names if name != "FGSM"]
    notes = []
    fgsm0, best0 = numbers["success"]["0"]["FGSM"], np.max([numbers["success"]["0"][n] for n in pgds], 0)
    optimum0 = np.mean(np.asarray(numbers["minimal_radius"]["0"])[None] <= eps[:, None], 1)
    notes.append(
        f"m = 0 (no critical point): FGSM succeeds on {_rate_span(fgsm0)} of the distributions over the grid, "
        f"{'exactly as often as' if np.array_equal(fgsm0, best0) else 'NOT exactly as often as'} the best PGD at every ε, "
        f"and {'exactly' if np.array_equal(fgsm0, optimum0) else 'NOT exactly'} where the exact minimal radius says "
        f"an attack can succeed (every τ moved down by ε is the optimum of the ball)."
    )
    for m in range(1, N):
        success = numbers["success"][str(m)]
        fgsm, best = success["FGSM"], np.max([success[n] for n in pgds], 0)
        smallest = numbers["smallest_epsilon"][str(m)]
        med = {n: _median(smallest[n]) for n in names}
        best_name = min(pgds, key=lambda n: (med[n], -np.sum(success[n])))
        dips = int(np.sum(np.diff(fgsm) < 0))
        notes.append(
            f"m = {m} (τ* = {numbers['tau_b'][str(m)]:.3f}): FGSM's best success rate over the grid is "
            f"{100 * fgsm.max():.0f}% against {100 * best.max():.0f}% for PGD; median smallest ε FGSM "
            f"{_fmt_eps(med['FGSM'], eps[-1])}, {best_name} {_fmt_eps(med[best_name], eps[-1])}, exact minimum "
            f"{_fmt_eps(_median(numbers['minimal_radius'][str(m)]), eps[-1])}"
            + (f"; FGSM's rate drops {dips} time(s) as ε grows (overshoot)" if dips else "")
            + ("; at some ε FGSM succeeds more often than the best PGD" if np.any(fgsm > best) else "")
            + "."
        )
    ref = cfg["reference"]
    verdict, fails, late = [], [], []
    for m in range(N):
        success = numbers["success"][str(m)]
        fgsm, best = success["FGSM"], np.max([success[n] for n in pgds], 0)
        optimum = np.mean(np.asarray(numbers["minimal_radius"][str(m)])[None] <= eps[:, None], 1)
        smallest = numbers["smallest_epsilon"][str(m)]
        pgd_first = np.min([np.asarray(smallest[n], np.float64) for n in pgds], 0)
        reached = np.isfinite(pgd_first)  # among the distributions some PGD turns off in the grid
        fgsm_first = np.asarray(smallest["FGSM"], np.float64)
        agree = np.mean(fgsm_first[reached] == pgd_first[reached]) if reached.any() else 0.0
        if np.array_equal(fgsm, optimum):
            kind = "FGSM is optimal"
        elif agree >= 0.9 and fgsm.max() >= best.max() - 0.05:
            kind = (
                f"FGSM first succeeds at the same ε as PGD for {100 * agree:.0f}% of the distributions PGD turns "
                f"off, but fails "
                f"at large ε (down to {100 * fgsm[-1]:.0f}% at ε = {eps[-1]:g})"
            )
            late.append(m)
        else:
            kind = (
                f"FGSM fails (at most {100 * fgsm.max():.0f}% against {100 * best.max():.0f}% for PGD; the same "
                f"smallest ε as PGD for {100 * agree:.0f}% of the distributions PGD turns off)"
            )
            fails.append(m)
        optimal_pgd = [n for n in pgds if np.array_equal(success[n], optimum)]
        verdict.append(
            f"m = {m}: {kind}; "
            + (
                f"{', '.join(optimal_pgd)} {'reaches' if len(optimal_pgd) == 1 else 'reach'} the exact optimum at every ε"
                if optimal_pgd
                else "no PGD reaches the exact optimum at every ε"
            )
        )
    listed = lambda ms: ", ".join(map(str, ms)) or "none"
    notes.insert(
        0,
        "Verdict (cells) — " + "; ".join(verdict) + ". On this data the claim (single-step attacks work "
        "without a critical point and fail near one, where iterative attacks still succeed) holds for "
        f"m = {listed(fails)} against m = 0; for m = {listed(late)} the sign step still succeeds at the "
        "smallest ε (few sub-threshold ligands lie within so small an ε of τ*) and fails only at larger ε.",
    )
    crossed = [f"m = {m}: {100 * numbers['crossed'][str(m)]:.0f}%" for m in range(1, N)]
    notes.append(
        f"At the smallest ε where {ref} succeeds, FGSM's step carries this median share of the sub-threshold ligands "
        f"across the clean τ* ("
        + ", ".join(crossed)
        + "); "
        + ref
        + " leaves "
        + ", ".join(f"{_pct(numbers['near_tau_b'][str(m)][ref])}%" for m in range(1, N))
        + f" of them within {NEAR} of τ* (m = 1 … {N - 1}; clean: "
        + ", ".join(f"{_pct(numbers['near_tau_b'][str(m)]['clean'])}%" for m in range(1, N))
        + ")."
    )
    argmins = [numbers["fold_change_argmin"][str(m)] for m in range(1, N)]
    below = all(a < numbers["tau_b"][str(m)] for m, a in zip(range(1, N), argmins))
    rising = all(b > a for a, b in zip(argmins, argmins[1:]))
    above = all(numbers["tau_star_clean"][str(m)] > numbers["tau_b"][str(m)] for m in range(1, N))
    edge = not np.isfinite(numbers["fold_change_argmin"]["0"])
    notes.append(
        f"The strongest antagonist (fold-change minimum of the {cfg['n_others']} sub-threshold ligands gathered "
        f"in one species beside the agonists) sits at τ2 = "
        + ", ".join(f"{a:.3f}" for a in argmins)
        + f" for m = 1 … {N - 1}: {'below' if below else 'NOT always below'} τ* on the boundary, "
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
    notes.append(
        "PGD with a random start: for m ≥ 2 the start clips binding times within ε of 0 to 0, where "
        "∂T/∂τ = 0, so they never move again (compare it with the PGD rows without random start)."
    )
    return notes


def _rate_span(rate) -> str:
    return f"{100 * np.min(rate):.0f}–{100 * np.max(rate):.0f}%"


def _network_tables(networks: dict, training: dict, cfg: dict, near_threshold: float) -> tuple[list, dict, list]:
    eps = cfg["epsilons"]
    attacks = list(network_attacks(cfg))
    pgd = attacks[1]
    shown = [i for i, e in enumerate(eps) if e > 0]
    rows, compute, gaps = [], [], {}
    for label, by_attack in networks.items():
        acc = {name: np.asarray(r["accuracy"]) for name, r in by_attack.items()}
        clean = 100 * acc["FGSM"][0]
        row = [label, round(clean, 1)]
        for i in shown:
            row += [round(100 * acc[name][i], 1) if name in acc else "= PGD" for name in attacks]
        gaps[label] = [100 * (acc["FGSM"][i] - acc[pgd][i]) for i in shown]
        row += [round(g, 1) for g in gaps[label]]
        rows.append(row)
        compute.append(
            [
                label,
                round(training[label], 1),
                *[round(by_attack[name]["seconds"], 1) if name in by_attack else "–" for name in attacks],
            ]
        )
    columns = [
        "model",
        "clean",
        *[f"{name} ε={eps[i]:g}" for i in shown for name in attacks],
        *[f"FGSM − {pgd} ε={eps[i]:g}" for i in shown],
    ]
    tables = [
        {
            "title": f"Networks: robust accuracy (%) vs Hill steepness ({cfg['dataset']}, {cfg['n_test']} test images)",
            "columns": columns,
            "rows": rows,
        },
        {
            "title": "Networks: compute (s; training 0 when loaded from the shared cache)",
            "columns": ["model", "training", *attacks],
            "rows": compute,
        },
    ]
    notes = []
    hill = [label for label in networks if label != "natural"]
    for j, i in enumerate(shown):
        series = [gaps[label][j] for label in hill]
        grows = all(b >= a - 1e-9 for a, b in zip(series, series[1:]))
        shrinks = all(b <= a + 1e-9 for a, b in zip(series, series[1:]))
        trend = (
            "grows monotonically with steepness"
            if grows
            else "does NOT grow with steepness: it shrinks monotonically"
            if shrinks
            else "does NOT grow monotonically with steepness"
        )
        notes.append(
            f"ε = {eps[i]:g}: FGSM − {pgd} accuracy gap for n = "
            + ", ".join(f"{label.split('=')[1]}: {g:.1f}" for label, g in zip(hill, series))
            + f" points (natural {gaps['natural'][j]:.1f}); the gap {trend}."
        )
    steep = hill[-1]
    acc = {name: np.asarray(r["accuracy"]) for name, r in networks[steep].items()}
    notes.append(
        f"Steepest filter ({steep}) at ε = {eps[shown[-1]]:g}: FGSM {100 * acc['FGSM'][-1]:.1f}%, {pgd} "
        f"{100 * acc[pgd][-1]:.1f}%, BPDA {100 * acc['BPDA'][-1]:.1f}%"
        + (
            " — PGD is weaker than FGSM here: small steps cannot leave the filter's flat regions (gradient masking), "
            if acc[pgd][-1] > acc["FGSM"][-1]
            else ", "
        )
        + (
            "and BPDA lowers it further: part of the apparent robustness is masked gradients."
            if acc["BPDA"][-1] < min(acc[pgd][-1], acc["FGSM"][-1]) - 1e-9
            else f"and BPDA does not lower it further. A steep Hill filter binarises the image at θ, and ε = "
            f"{eps[shown[-1]]:g} can flip only pixels within ε of θ ({100 * near_threshold:.1f}% of the test "
            f"pixels), so part of this robustness may be real; this experiment's attacks (40 steps of "
            f"{cfg['pgd']['step_size']}) do not settle it."
        )
    )
    notes.append(
        "Every Hill filter, n = 1 included, has gradient exactly 0 at pixels equal to 0 (most MNIST pixels; "
        "for n = 1 an artefact of the filter's floor at 1e-30, the true derivative there is 1/θ = 2): FGSM "
        "cannot move those pixels, PGD's random start can. This is the image analogue of ligands stranded at "
        "τ = 0 for m ≥ 2, and part of the FGSM/PGD gap even at n = 1."
    )
    return (
        tables,
        {
            "gap_fgsm_minus_pgd": gaps,
            "accuracy": {label: {n: r["accuracy"] for n, r in by.items()} for label, by in networks.items()},
        },
        notes,
    )


# ----------------------------------------------------------------------------- run


def run(run: Run) -> dict:
    cfg = run.config
    ccfg, ncfg = cfg["cells"], cfg["networks"]
    start = time.perf_counter()
    cells = run.stage("cells", lambda: cell_attacks(ccfg))
    cells_s = time.perf_counter() - start
    run.save_figure(_plot_success(cells, ccfg), "cells_success.png")
    run.save_figure(_plot_histograms(cells, ccfg), "cells_histograms.png")
    cell_tables, cell_numbers, names = _cell_tables(cells, ccfg)
    cell_notes = _cell_notes(cells, ccfg, cell_numbers, names)

    networks, training = network_evaluations(run, ncfg)
    run.save_figure(_plot_networks(networks, ncfg), "networks.png")
    test = load_dataset(ncfg["dataset"], "test").images[: ncfg["n_test"]]
    near_threshold = float(np.mean(np.abs(test - ncfg["threshold"]) <= max(ncfg["epsilons"])))
    net_tables, net_numbers, net_notes = _network_tables(networks, training, ncfg, near_threshold)

    summary = (
        f"Cells: T_{{{ccfg['N']},m}} (τ_c = {ccfg['tau_c']:g}) for m = 0 … {ccfg['N'] - 1}, {ccfg['n_distributions']} "
        f"distributions of {ccfg['n_agonists']} agonists (3.5 ± 0.1, amount set per m so that T = T_0 ∈ "
        f"[{ccfg['T_clean'][0]}, {ccfg['T_clean'][1]}]) and {ccfg['n_others']} sub-threshold ligands (antagonists "
        f"τ_c − |N(0, {ccfg['antagonist_scale']:g})| with probability U{tuple(ccfg['antagonist_fraction'])}, else self "
        f"|N(0, {ccfg['self_scale']:.3g})|); the attacker moves the sub-threshold binding times within an L∞ ball of "
        f"radius ε to turn the response off, with FGSM and PGD ({', '.join(n for n in names if n != 'FGSM')}; step "
        f"2.5 ε / steps), against the exact minimal radius. Networks: {ncfg['classifier']['arch'].upper()}s on "
        f"{ncfg['dataset']} behind a Hill filter (θ = {ncfg['threshold']}) of steepness n ∈ {ncfg['steepness']}, "
        f"trained in place, and the natural classifier; FGSM, PGD-{ncfg['pgd']['steps']} (step "
        f"{ncfg['pgd']['step_size']}, random start) and BPDA at ε ∈ {[e for e in ncfg['epsilons'] if e > 0]}."
    )
    notes = cell_notes + net_notes + [f"Cells stage {cells_s:.1f} s (0 when loaded)."]
    return {
        "summary": summary,
        "tables": cell_tables + net_tables,
        "notes": notes,
        "numbers": {"cells": cell_numbers, "networks": net_numbers},
    }


_CELLS = {
    "N": 5,
    "tau_c": 3.0,
    "n_agonists": 20,
    "n_others": 80,
    "agonist_mean": 3.5,
    "agonist_std": 0.1,
    "self_scale": 1 / 3,
    "antagonist_scale": 0.5,
    "antagonist_fraction": [0.2, 0.6],
    "T_clean": [1.02, 1.1],
    "histogram_max": 1.25,
    "histogram_bins": 75,
    "reference": "PGD-100",
    "seed": 0,
    "batch_size": 16,
}
_QUICK_EPS = [round(float(e), 4) for e in np.geomspace(0.02, 3.0, 18)]
_PAPER_EPS = [round(float(e), 4) for e in np.geomspace(0.01, 3.0, 40)]
_HILL_MLP = {"arch": "mlp", "width": 256, "depth": 2, "epochs": 10, "batch_size": 128}

register(
    Experiment(
        name="two-regimes",
        title="Two regimes: single-step vs iterative attacks with and without a critical point (cells and Hill-filtered networks)",
        paper="Rademaker et al. 2019 (two regimes; protocol open)",
        presets={
            "quick": {
                "cells": {
                    **_CELLS,
                    "n_distributions": 32,
                    "epsilons": _QUICK_EPS,
                    "methods": {
                        "FGSM": {"method": "fgsm"},
                        "PGD-10": {"method": "pgd", "steps": 10},
                        "PGD-100": {"method": "pgd", "steps": 100},
                        "PGD-100 rs": {"method": "pgd", "steps": 100, "random_start": True},
                    },
                },
                "networks": {
                    "dataset": "mnist-subset",
                    "classifier": _HILL_MLP,
                    "steepness": [1, 2, 4, 8, 16],
                    "threshold": 0.5,
                    "epsilons": [0.0, 0.1, 0.2, 0.3],
                    "n_test": 500,
                    "seed": 0,
                    "batch_size": 16,
                    "pgd": {"steps": 40, "step_size": 0.01},
                },
            },
            "paper": {
                "cells": {
                    **_CELLS,
                    "n_distributions": 256,
                    "epsilons": _PAPER_EPS,
                    "methods": {
                        "FGSM": {"method": "fgsm"},
                        "PGD-10": {"method": "pgd", "steps": 10},
                        "PGD-100": {"method": "pgd", "steps": 100},
                        "PGD-1000": {"method": "pgd", "steps": 1000},
                        "PGD-100 rs": {"method": "pgd", "steps": 100, "random_start": True, "restarts": 5},
                    },
                },
                "networks": {
                    "dataset": "mnist",
                    "classifier": {"arch": "cnn", "epochs": 10, "batch_size": 128},
                    "steepness": [1, 2, 4, 8, 16],
                    "threshold": 0.5,
                    "epsilons": [0.0, 0.1, 0.2, 0.3],
                    "n_test": 10000,
                    "seed": 0,
                    "batch_size": 512,
                    "pgd": {"steps": 40, "step_size": 0.01},
                },
            },
        },
        run=run,
        tags=("cells", "attacks", "defence"),
    )
)
