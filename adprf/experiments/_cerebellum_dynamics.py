"""cerebellum-dynamics: the cerebellum as a rate network (ours, beyond Yuezhang et al. 2021).

Yuezhang et al. (2021) study a static network, ŷ = Wᵀ(ReLU(Jᵀ x) − μ). Here it is the steady
state of τ_g dh/dt = −h + ReLU(Jᵀ x(t)), τ_p dŷ/dt = −ŷ + Wᵀ(h − μ) (`CerebellarDynamics`,
diffrax), and two things follow.

**(a) Steady state.** A `Cerebellum` trained as in the paper (`train_cerebellum`: delta rule +
RMSprop on W, LTD running mean; dense, small m; the last epoch kept) is played each test image
as a constant stimulus from rest, for `horizon` slowest granule time constants (20: e^{−20} is
below float32's resolution), read every `horizon · τ_max / bins`. At the end the Purkinje
outputs must equal the static model's (max |ŷ_ODE − ŷ_static| over images and outputs, and both
accuracies); on the way, the error decays like e^{−t/τ_max} and the accuracy of argmax ŷ(t)
rises to the static one.

**(b) Timing and attacks on temporal stimuli.** Delay eyelid conditioning (`EyelidConditioning`):
a tone (CS) switches on a pattern of mossy-fibre rates at t = 0, the air puff (US) arrives at
t = ISI. Granule time constants spread geometrically from fast to slow turn the step into a
temporal basis; the Purkinje readout is fitted in closed form (ridge least squares, the fixed
point of the delta rule the US teaches) so that the conditioned response ŷ(t) ramps up and
peaks at the US. The attacker then perturbs every mossy-fibre rate in every bin of held-out CS
trials, ‖δ‖∞ ≤ ε inside [0, 1], with PGD through adprf's engine (`run_attack`, objective
`ScalarThreshold`: push the CR at the US time to `threshold` or below; all steps run and the
lowest CR found is kept; no random start by default, see below). Reported per ε: the CR at the
US (mean, min), the fraction of trials whose CR is suppressed, the first-order optimum (every
input moved by ε against ∂CR/∂x, within the box: the exact optimum if the network were linear),
the CR under random ±ε noise of the same size (what a perturbation without a gradient
achieves), and where the CR now peaks. Causality is visible in the adversarial stimulus: bins
after the US do not affect ŷ(ISI), their gradient is exactly zero, and PGD started at the clean
trial (`random_start=False`) leaves them untouched; a random start would only scatter noise
there.

Choices (ours; the papers leave them open): piecewise-constant stimuli (zero-order hold) on a
fixed grid, read at the end of every bin; the network starts at rest (h = 0); LTD off in the
timing network; the US teaches through the closed-form least-squares fixed point of the delta
rule; the CR is the Purkinje output read directly as pause depth.
"""

import time
from dataclasses import dataclass

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from matplotlib.figure import Figure
from tqdm import tqdm

from ..attacks import PGD, linf, run_attack
from ..cerebellum import (
    CerebellarDynamics,
    Cerebellum,
    EyelidConditioning,
    evaluation_batch,
    spread_time_constants,
    train_cerebellum,
)
from ..data import load_dataset
from ._experiment import AbstractConfig, Experiment, Rendered, Table
from ._registry import register

# ----------------------------------------------------------------------------- config


@dataclass(frozen=True, kw_only=True)
class StaticConfig(AbstractConfig):
    """(a) The static cerebellum (dense, `width` granule cells, LTD on or off, trained for
    `epochs` in batches of `batch_size`) and its rate network (granule time constants spread
    over `granule_time` (fastest, slowest) in ms, Purkinje `purkinje_time`), each of `n_test`
    test images held for `horizon` slowest time constants, read in `bins` bins; the solver's
    `rtol`, `atol`."""

    width: int
    ltd: bool = True
    epochs: int
    batch_size: int = 50
    n_test: int
    granule_time: tuple[float, float] = (5.0, 50.0)
    purkinje_time: float = 10.0
    horizon: int = 20
    bins: int
    rtol: float = 1e-6
    atol: float = 1e-7


@dataclass(frozen=True, kw_only=True)
class TimingConfig(AbstractConfig):
    """(b) The eyelid-conditioning network: `inputs` mossy fibres, `width` granule cells with
    time constants over `granule_time`, Purkinje `purkinje_time`, bins of `dt` ms; the task's
    `isi`, `duration`, `sharpness`, `threshold` and trial `noise` (see `EyelidConditioning`);
    the readout's `ridge`; `n_train` training and `n_test` attacked trials; the solver's `rtol`."""

    inputs: int
    width: int
    granule_time: tuple[float, float] = (10.0, 1000.0)
    purkinje_time: float = 10.0
    dt: float
    isi: float = 300.0
    duration: float = 500.0
    sharpness: float = 4.0
    threshold: float = 0.5
    noise: float = 0.05
    ridge: float = 1e-5
    n_train: int
    n_test: int
    rtol: float


@dataclass(frozen=True, kw_only=True)
class PGDConfig(AbstractConfig):
    """PGD on the CS trials: `steps` per restart, `restarts`, `random_start`, at every ε of
    `epsilons` (L∞, rates in [0, 1]), `batch_size` trials at a time."""

    epsilons: tuple[float, ...]
    steps: int
    restarts: int = 1
    random_start: bool = False
    batch_size: int


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """(a) on `dataset` (`static`), (b) `timing` attacked by `attack`; `seed` draws both networks."""

    dataset: str
    seed: int = 0
    static: StaticConfig
    timing: TimingConfig
    attack: PGDConfig


# ----------------------------------------------------------------------------- (a) steady state


@eqx.filter_jit
def _settle_chunk(dynamics: CerebellarDynamics, images, bins: int):
    def one(x):
        trajectory = dynamics.solve(jnp.broadcast_to(x, (bins,) + x.shape))
        return trajectory.purkinje, trajectory.steps

    return jax.vmap(one)(images)


def settle(dynamics: CerebellarDynamics, images, bins: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Purkinje outputs at the end of every bin, (n, bins, outputs), and solver steps, (n,), each
    image held for `bins` bins; chunks of `batch` images (the last one padded: one compilation)."""
    images = np.asarray(images)
    outputs, steps = [], []
    for start in tqdm(range(0, len(images), batch), desc="rate network to steady state", leave=False):
        chunk = images[start : start + batch]
        padded = np.concatenate([chunk, np.repeat(chunk[-1:], batch - len(chunk), axis=0)])
        y, k = _settle_chunk(dynamics, jnp.asarray(padded), bins)
        outputs.append(np.asarray(y)[: len(chunk)])
        steps.append(np.asarray(k)[: len(chunk)])
    return np.concatenate(outputs), np.concatenate(steps)


@eqx.filter_jit
def _static(model: Cerebellum, images, batch: int):
    return jax.lax.map(model, images, batch_size=batch)


def _static_model(run, cfg: Config, train) -> Cerebellum:
    """The static cerebellum trained on `train` (cached as the run's model "cerebellum")."""
    s = cfg.static
    k_init, k_train = jax.random.split(jax.random.PRNGKey(cfg.seed))
    template = Cerebellum(int(np.prod(train.images.shape[1:])), s.width, connectivity="dense", ltd=s.ltd, key=k_init)
    return run.model(
        "cerebellum",
        template,
        lambda: train_cerebellum(
            template,
            train.images,
            train.labels,
            key=k_train,
            epochs=s.epochs,
            batch_size=s.batch_size,
            select="last",
            description=f"cerebellum m={s.width}",
        )[0],
    )


def _compare(model: Cerebellum, s: StaticConfig, images, labels) -> dict:
    """The rate network of `model` against the static model on `images`: the error and accuracy
    at every read-out time, and the end values."""
    n_test = len(labels)
    fastest, slowest = s.granule_time
    dynamics = CerebellarDynamics(
        model,
        spread_time_constants(model.width, fastest, slowest),
        s.purkinje_time,
        dt=s.horizon * slowest / s.bins,
        rtol=s.rtol,
        atol=s.atol,
    )
    batch = min(evaluation_batch(model.width * s.bins, budget=1 << 22), n_test)
    start = time.perf_counter()
    static = np.asarray(_static(model, images, min(evaluation_batch(model.width), n_test)))
    ode, steps = settle(dynamics, images, s.bins, batch)  # (n, bins, 10), (n,)
    error = np.abs(ode - static[:, None]).max(axis=(0, 2))  # per read-out time
    accuracy = (ode.argmax(-1) == labels[:, None]).mean(0)
    return {
        "times": np.asarray(dynamics.times(s.bins)),
        "error": error,
        "accuracy_t": accuracy,
        "static_accuracy": float((static.argmax(-1) == labels).mean()),
        "ode_accuracy": float(accuracy[-1]),
        "max_error": float(error[-1]),
        "agreement": float((static.argmax(-1) == ode[:, -1].argmax(-1)).mean()),
        "steps": float(steps.mean()),
        "n_test": n_test,
        "seconds": time.perf_counter() - start,
    }


def steady_state(run, cfg: Config) -> dict:
    """Train the static model (cached) and compare it with its rate network on test images
    (the run's stage "steady-state")."""
    train, test = load_dataset(cfg.dataset, "train"), load_dataset(cfg.dataset, "test")
    n_test = min(cfg.static.n_test, len(test))
    model = _static_model(run, cfg, train)
    images, labels = test.images[:n_test], np.asarray(test.labels[:n_test])
    return run.stage("steady-state", lambda: {**_compare(model, cfg.static, images, labels), "source": test.source})


# ----------------------------------------------------------------------------- (b) timing


@eqx.filter_jit
def _gradients(response, stimuli):
    return jax.vmap(jax.value_and_grad(response))(stimuli)


def first_order_optimum(value, gradient, stimulus, epsilon: float):
    """The lowest value of the first-order model value + ⟨gradient, δ⟩ over ‖δ‖∞ ≤ ε with
    stimulus + δ in [0, 1]: every coordinate moves against its gradient by ε, or as far as the
    box lets it (the exact optimum if the response were linear)."""
    room = np.where(gradient > 0, stimulus, 1.0 - stimulus)
    axes = tuple(range(1, np.ndim(gradient)))
    return value - np.sum(np.abs(gradient) * np.minimum(epsilon, room), axis=axes)


@eqx.filter_jit
def _trajectories(dynamics: CerebellarDynamics, stimuli):
    trajectory = jax.vmap(dynamics.solve)(stimuli)
    return trajectory.purkinje[..., 0], trajectory.granule


def _conditioning(t: TimingConfig, key) -> tuple[EyelidConditioning, CerebellarDynamics]:
    """The task and the untrained rate network with one Purkinje cell (LTD off)."""
    task = EyelidConditioning(
        isi=t.isi, duration=t.duration, dt=t.dt, sharpness=t.sharpness, threshold=t.threshold, noise=t.noise
    )
    model = Cerebellum(t.inputs, t.width, connectivity="dense", ltd=False, outputs=1, key=key)
    fastest, slowest = t.granule_time
    dynamics = CerebellarDynamics(
        model, spread_time_constants(model.width, fastest, slowest), t.purkinje_time, dt=task.dt, rtol=t.rtol
    )
    return task, dynamics


def _pgd_on_cs(task: EyelidConditioning, trained: CerebellarDynamics, test, a: PGDConfig, key):
    """PGD through the engine on the CS trials `test`, at every ε of `a.epsilons`."""
    method = PGD(steps=a.steps, restarts=a.restarts, random_start=a.random_start, stop_at_success=False)
    return run_attack(
        task.response(trained),
        test,
        None,
        [float(e) for e in a.epsilons],
        method=method,
        threat=linf(0.0),
        objective=task.objective(),
        key=key,
        batch_size=a.batch_size,
        progress=f"PGD-{a.steps} on CS trials ({len(a.epsilons)} ε)",
    )


def _responses(trained: CerebellarDynamics, test: np.ndarray, adversarial: np.ndarray, noisy: np.ndarray):
    """CR traces of the clean (n, T), adversarial (E, n, T) and noisy (E, n, T) trials, in one
    batch, and the granule rates of all of them."""
    n, n_eps = len(test), len(adversarial)
    batch = np.concatenate([test, adversarial.reshape(-1, *test.shape[1:]), noisy.reshape(-1, *test.shape[1:])])
    cr_t, granule = _trajectories(trained, jnp.asarray(batch))
    cr_t, granule = np.asarray(cr_t), np.asarray(granule)
    clean_t = cr_t[:n]
    attacked_t = cr_t[n : n + n_eps * n].reshape(n_eps, n, -1)
    noisy_t = cr_t[n + n_eps * n :].reshape(n_eps, n, -1)
    return clean_t, attacked_t, noisy_t, granule


def _traces(task: EyelidConditioning, trained: CerebellarDynamics, test, result, epsilons, k_noise) -> dict:
    """Everything measured on the clean, attacked (`result`, at `epsilons`) and noisy trials."""
    test = np.asarray(test)
    adversarial = np.asarray(result.adversarial)  # (E, n, T, d)
    epsilons = np.asarray([float(e) for e in epsilons])
    signs = np.asarray(jax.random.rademacher(k_noise, adversarial.shape, jnp.float32))
    noisy = np.clip(test[None] + epsilons[:, None, None, None] * signs, 0.0, 1.0)
    value, gradient = (np.asarray(a, np.float64) for a in _gradients(task.response(trained), jnp.asarray(test)))
    linear = np.stack([first_order_optimum(value, gradient, test.astype(np.float64), e) for e in epsilons])
    start = time.perf_counter()
    clean_t, attacked_t, noisy_t, granule = _responses(trained, test, adversarial, noisy)
    evaluate_s = time.perf_counter() - start
    us, times = task.us_bin, np.asarray(task.times())
    target = np.asarray(task.target())
    active = np.flatnonzero(granule[0, -1] > 0)  # cells the tone drives, by τ_g
    cells = active[np.unique(np.linspace(0, len(active) - 1, min(6, len(active))).round().astype(int))]
    after_us = np.abs(adversarial[:, :, us + 1 :] - test[None, :, us + 1 :]).max() if us + 1 < task.bins else 0.0
    return {
        "times": times,
        "target": target,
        "us_bin": us,
        "isi": task.isi,
        "threshold": task.threshold,
        "clean": {
            "trajectory_mean": clean_t.mean(0),
            "trajectory_std": clean_t.std(0),
            "cr": clean_t[:, us],
            "peak_time": times[clean_t.argmax(1)],
            "rmse": float(np.sqrt(np.mean((clean_t - target) ** 2))),
        },
        "attacked": {
            "trajectory_mean": attacked_t.mean(1),
            "cr": attacked_t[:, :, us],
            "peak_time": times[attacked_t.argmax(2)],
            "success": np.asarray(result.success),
            "evaluations": np.asarray(result.gradient_evaluations).mean(1),
        },
        "noisy": {"cr": noisy_t[:, :, us]},
        "first_order": {"cr": linear, "gradient_l1": np.abs(gradient).sum(axis=(1, 2))},
        "example": {
            "stimulus": test[0],
            "perturbation": adversarial[-1, 0] - test[0],
            "clean": clean_t[0],
            "adversarial": attacked_t[-1, 0],
            "after_us_max": float(after_us),
        },
        "granule": {"cells": cells, "tau": np.asarray(trained.granule_time)[cells], "trace": granule[0][:, cells].T},
        "weight_l1": float(np.abs(np.asarray(trained.cerebellum.purkinje.weight)).sum()),
        "evaluate_s": evaluate_s,
    }


def timing(cfg: Config) -> dict:
    """Fit the CR, attack it over the ε grid, measure everything in one batch of trajectories."""
    t = cfg.timing
    k_model, k_tone, k_train, k_test, k_attack, k_noise = jax.random.split(jax.random.PRNGKey(cfg.seed + 1), 6)
    task, dynamics = _conditioning(t, k_model)
    tone = task.tone(t.inputs, key=k_tone)
    start = time.perf_counter()
    trained = task.fit(dynamics, task.trials(tone, t.n_train, key=k_train), ridge=t.ridge)
    fit_s = time.perf_counter() - start
    test = task.trials(tone, t.n_test, key=k_test)
    start = time.perf_counter()
    result = _pgd_on_cs(task, trained, test, cfg.attack, k_attack)
    attack_s = time.perf_counter() - start
    traces = _traces(task, trained, test, result, cfg.attack.epsilons, k_noise)
    seconds = {"fit": fit_s, "attack": attack_s, "evaluate": traces.pop("evaluate_s")}
    return {"epsilons": [float(e) for e in cfg.attack.epsilons], **traces, "tone": np.asarray(tone), "seconds": seconds}


# ----------------------------------------------------------------------------- compute


def _timing_numbers(r: dict) -> dict:
    """The attack's key numbers per ε: mean CR at the US under PGD, under noise, at the
    first-order optimum, the fraction of suppressed CRs; and the clean CR's."""
    return {
        "cr_mean": np.asarray(r["attacked"]["cr"]).mean(1),
        "suppressed": np.asarray(r["attacked"]["success"], bool).mean(1),
        "noise_cr_mean": np.asarray(r["noisy"]["cr"]).mean(1),
        "first_order_cr_mean": np.asarray(r["first_order"]["cr"]).mean(1),
        "clean_cr_mean": float(np.asarray(r["clean"]["cr"]).mean()),
        "clean_peak_time": float(np.mean(r["clean"]["peak_time"])),
        "rmse": r["clean"]["rmse"],
        "after_us_max": r["example"]["after_us_max"],
    }


def compute(run, cfg: Config) -> dict:
    """(a) the steady state against the static model, (b) the CR fitted, attacked and measured."""
    ss = steady_state(run, cfg)
    r = run.stage("timing", lambda: timing(cfg))
    return {"steady_state": ss, "timing": {**r, **_timing_numbers(r)}}


# ----------------------------------------------------------------------------- verdicts


def steady_state_verdict(max_error: float, agreement: float, tolerance: float = 1e-4) -> str:
    """Whether the rate network settles on the static model: within `tolerance` on every output
    and with the same prediction on every image."""
    if max_error < tolerance and agreement == 1.0:
        return "its steady state is the static model"
    return (
        f"its steady state departs from the static model (max |ŷ_ODE − ŷ_static| = {max_error:.1e}, "
        f"same prediction on {100 * agreement:.2f} % of images)"
    )


def first_suppression(epsilons, success) -> str:
    """The smallest ε at which some trial's CR is suppressed, as text."""
    hit = [e for e, row in zip(epsilons, np.asarray(success)) if np.any(row)]
    return f"{hit[0]:g}" if hit else f"> {epsilons[-1]:g} (none)"


def noise_verdict(clean_cr: float, pgd_cr: float, noise_cr: float) -> str:
    """Random ±ε noise against PGD at the same ε: does noise lower the mean CR by less than half
    as much as PGD?"""
    if abs(noise_cr - clean_cr) < 0.5 * (clean_cr - pgd_cr):
        return "the CR is robust to noise and fragile to the worst direction"
    return "noise of the same size lowers the CR comparably: the attack's direction matters little"


def linearity_verdict(pgd_drop: float, linear_drop: float, tolerance: float = 0.2) -> str:
    """PGD's drop of the mean CR at the smallest ε > 0 against the first-order optimum's: within
    `tolerance` (relative) the response is near-linear there."""
    if abs(pgd_drop - linear_drop) <= tolerance * abs(linear_drop):
        return (
            "near-linear at small ε; where PGD goes below the first-order optimum, granule cells switching on or "
            "off (ReLU) add to the drop"
        )
    return (
        f"not linear even at the smallest ε (PGD lowers the mean CR by {pgd_drop:.3f}, the first-order optimum "
        f"by {linear_drop:.3f}): granule cells switching on or off (ReLU) shape the response"
    )


def causality_verdict(after_us_max: float) -> str:
    """Whether PGD left the bins after the US (which cannot affect ŷ(ISI)) untouched."""
    head = "Causality: ŷ(ISI) cannot depend on input after the US; its gradient there is exactly 0"
    if after_us_max == 0.0:
        return (
            f"{head} and PGD (started at the clean trial) leaves those bins untouched (largest change after the US: 0)."
        )
    return (
        f"{head}, yet PGD changed those bins by up to {after_us_max:.3g} (a random start scatters noise there, "
        "which cannot change the CR at the US)."
    )


def peak_verdict(isi: float, clean_peak: float, attacked_peak: float) -> str:
    """Whether the attack moves the CR's mean peak time away from the US (ISI)."""
    if abs(attacked_peak - isi) > abs(clean_peak - isi):
        return (
            "The adversarial CR is not merely scaled down: PGD carves a notch at the US and the peak moves away "
            "from it (mean peak time in the table)."
        )
    return "PGD scales the CR down without moving its peak away from the US (mean peak time in the table)."


# ----------------------------------------------------------------------------- figures


def _plot_steady_state(ss: dict, s: StaticConfig) -> Figure:
    times, error = np.asarray(ss["times"]), np.asarray(ss["error"])
    fig = Figure(figsize=(10, 3.6), layout="constrained")
    ax_err, ax_acc = fig.subplots(1, 2)
    ax_err.semilogy(times, np.maximum(error, 1e-12), marker=".", label="ODE")
    ax_err.semilogy(
        times, error[0] * np.exp(-(times - times[0]) / s.granule_time[1]), ls="--", c="gray", label="e^(−t/τ_max)"
    )
    ax_err.set_ylim(max(1e-9, 0.1 * error.min()), 2 * error.max())
    ax_err.set(
        xlabel="time after image onset (ms)", ylabel="max |ŷ(t) − ŷ_static|", title="approach to the static model"
    )
    ax_err.legend()
    ax_acc.semilogx(times, 100 * np.asarray(ss["accuracy_t"]), marker=".", label="argmax ŷ(t)")
    ax_acc.axhline(100 * ss["static_accuracy"], ls="--", c="k", label="static model")
    ax_acc.set(
        xlabel="time after image onset (ms)",
        ylabel="test accuracy (%)",
        ylim=(0, 100),
        title=f"{ss['n_test']} test images, m = {s.width}",
    )
    ax_acc.legend(loc="lower right")
    for ax in (ax_err, ax_acc):
        ax.grid(alpha=0.3)
    return fig


def _plot_conditioning(r: dict) -> Figure:
    times, us_t, eps = np.asarray(r["times"]), r["isi"], r["epsilons"]
    fig = Figure(figsize=(15, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    ax = axes[0]
    for trace, tau in zip(np.asarray(r["granule"]["trace"]), r["granule"]["tau"]):
        peak = np.max(np.abs(trace))
        ax.plot(times, trace / (peak if peak > 0 else 1.0), label=f"τ_g = {tau:.0f} ms")
    ax.set(
        xlabel="time after CS onset (ms)",
        ylabel="granule rate (normalised)",
        title="granule cells under the CS: a temporal basis",
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    mean, std = np.asarray(r["clean"]["trajectory_mean"]), np.asarray(r["clean"]["trajectory_std"])
    ax.plot(times, r["target"], c="k", ls="--", label="target r*(t)")
    ax.plot(times, mean, c="C0", label="CR (held-out trials, mean ± sd)")
    ax.fill_between(times, mean - std, mean + std, color="C0", alpha=0.3)
    ax.set(xlabel="time after CS onset (ms)", ylabel="CR drive ŷ(t)", title="the conditioned response")
    ax.legend(fontsize=8)
    ax = axes[2]
    colours = matplotlib.colormaps["viridis"](np.linspace(0, 0.9, len(eps)))
    for e, trace, c in zip(eps, np.asarray(r["attacked"]["trajectory_mean"]), colours):
        ax.plot(times, trace, c=c, label=f"ε = {e:g}")
    ax.set(xlabel="time after CS onset (ms)", ylabel="mean CR drive ŷ(t)", title="after PGD on the CS")
    ax.legend(fontsize=8)
    for ax in axes[1:]:
        ax.axvline(us_t, c="r", lw=1, alpha=0.6)
        ax.axhline(r["threshold"], c="gray", lw=1, ls=":")
        ax.text(us_t, ax.get_ylim()[1], " US", color="r", va="top", fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig


def _plot_adversarial(r: dict) -> Figure:
    ex, times = r["example"], np.asarray(r["times"])
    stimulus, delta = np.asarray(ex["stimulus"]), np.asarray(ex["perturbation"])
    extent = (0, times[-1], stimulus.shape[1] - 0.5, -0.5)
    fig = Figure(figsize=(15, 3.8), layout="constrained")
    axes = fig.subplots(1, 3)
    im = axes[0].imshow(stimulus.T, aspect="auto", cmap="gray", vmin=0, vmax=1, extent=extent)
    axes[0].set(xlabel="time (ms)", ylabel="mossy fibre", title="clean CS trial")
    fig.colorbar(im, ax=axes[0])
    bound = max(r["epsilons"][-1], 1e-6)
    im = axes[1].imshow(delta.T, aspect="auto", cmap="RdBu_r", vmin=-bound, vmax=bound, extent=extent)
    axes[1].set(xlabel="time (ms)", title=f"PGD perturbation, ε = {r['epsilons'][-1]:g}")
    fig.colorbar(im, ax=axes[1])
    axes[2].plot(times, ex["clean"], label="clean")
    axes[2].plot(times, ex["adversarial"], label=f"adversarial (ε = {r['epsilons'][-1]:g})")
    axes[2].plot(times, r["target"], c="k", ls="--", lw=1, label="target")
    axes[2].axhline(r["threshold"], c="gray", lw=1, ls=":")
    axes[2].set(xlabel="time (ms)", ylabel="CR drive ŷ(t)", title="this trial's CR")
    axes[2].legend(fontsize=8)
    axes[2].grid(alpha=0.3)
    for ax in axes:
        ax.axvline(r["isi"], c="r", lw=1, alpha=0.6)
    return fig


# ----------------------------------------------------------------------------- render


def _steady_state_table(cfg: Config, ss: dict) -> Table:
    s = cfg.static
    row = [
        s.width,
        "dense",
        "yes" if s.ltd else "no",
        ss["n_test"],
        round(100 * ss["static_accuracy"], 2),
        round(100 * ss["ode_accuracy"], 2),
        round(100 * ss["agreement"], 2),
        f"{ss['max_error']:.1e}",
        round(ss["steps"], 1),
    ]
    columns = [
        "m",
        "connectivity",
        "LTD",
        "test images",
        "static acc. (%)",
        "ODE acc. (%)",
        "same prediction (%)",
        "max |ŷ_ODE − ŷ_static|",
        "solver steps / image",
    ]
    return Table("Steady state of the rate network vs the static model", columns, [row])


def _timing_table(cfg: Config, r: dict) -> Table:
    cr, success = np.asarray(r["attacked"]["cr"]), np.asarray(r["attacked"]["success"], bool)
    noisy, peak = np.asarray(r["noisy"]["cr"]), np.asarray(r["attacked"]["peak_time"])
    linear = np.asarray(r["first_order"]["cr"])
    rows = [
        [
            f"{e:g}",
            round(float(cr[i].mean()), 3),
            round(float(cr[i].min()), 3),
            round(100 * float(success[i].mean()), 1),
            round(float(linear[i].mean()), 3),
            round(float(noisy[i].mean()), 3),
            round(float(peak[i].mean()), 1),
            round(float(r["attacked"]["evaluations"][i]), 1),
        ]
        for i, e in enumerate(r["epsilons"])
    ]
    columns = [
        "ε",
        "mean CR at US",
        "min CR at US",
        "CR suppressed (%)",
        "first-order optimum",
        "mean CR, random ±ε",
        "mean CR peak time (ms)",
        "gradient evaluations",
    ]
    title = f"Conditioned response at the US under PGD-{cfg.attack.steps} on the CS (L∞, {cfg.timing.n_test} trials)"
    return Table(title, columns, rows)


def _summary(cfg: Config, ss: dict) -> str:
    s, t = cfg.static, cfg.timing
    return (
        f"(a) A cerebellum trained on {ss['source']} (dense, m = {s.width}, LTD {'on' if s.ltd else 'off'}, "
        f"{s.epochs} epochs) run as a rate network (τ_g from {s.granule_time[0]:g} to {s.granule_time[1]:g} "
        f"ms, τ_p = {s.purkinje_time:g} ms) on {ss['n_test']} test images held for "
        f"{s.horizon} τ_max: {steady_state_verdict(ss['max_error'], ss['agreement'])}. (b) Delay eyelid "
        f"conditioning: a tone onto {t.inputs} mossy fibres from t = 0, the US at ISI = {t.isi:g} ms; m = "
        f"{t.width} granule cells with τ_g from {t.granule_time[0]:g} to "
        f"{t.granule_time[1]:g} ms; the Purkinje readout fitted (ridge least squares) to a CR peaking at the "
        f"US; PGD-{cfg.attack.steps} (L∞ on every fibre in every {t.dt:g} ms bin, rates in [0, 1]) pushes the "
        f"CR at the US below {t.threshold:g} on {t.n_test} held-out trials."
    )


def _attack_note(r: dict) -> str:
    eps = r["epsilons"]
    cr, success = np.asarray(r["cr_mean"]), np.asarray(r["attacked"]["success"], bool)
    noisy, linear = np.asarray(r["noise_cr_mean"]), np.asarray(r["first_order_cr_mean"])
    return (
        f"Attack: at ε = {eps[-1]:g} the mean CR at the US falls from {cr[0]:.3f} to "
        f"{cr[-1]:.3f} and {100 * success[-1].mean():.0f} % of CRs are suppressed; the first CR to go "
        f"falls at ε = {first_suppression(eps, success)}. Random ±ε noise of the same size leaves the "
        f"mean CR at {noisy[-1]:.3f}: {noise_verdict(cr[0], cr[-1], noisy[-1])}. "
        f"‖∂CR/∂x‖₁ = {np.mean(r['first_order']['gradient_l1']):.1f} on clean trials; the first-order optimum "
        f"(every input moved by ε against its gradient, within the box) predicts a mean CR of "
        f"{linear[1]:.3f} at ε = {eps[1]:g} (PGD {cr[1]:.3f}) and {linear[-1]:.3f} at "
        f"ε = {eps[-1]:g} (PGD {cr[-1]:.3f}): {linearity_verdict(cr[0] - cr[1], linear[0] - linear[1])}."
    )


def _notes(cfg: Config, ss: dict, r: dict) -> list[str]:
    s, t = cfg.static, cfg.timing
    clean_cr = np.asarray(r["clean"]["cr"])
    peak = np.asarray(r["attacked"]["peak_time"])
    return [
        "Beyond the paper: Yuezhang et al. (2021) study only the static network; the rate network, its "
        "steady state, the CS–US timing task and attacks on temporal stimuli are our extensions.",
        f"Steady state: max |ŷ_ODE − ŷ_static| = {ss['max_error']:.1e} over {ss['n_test']} images × 10 outputs; "
        f"accuracy {100 * ss['static_accuracy']:.2f} % (static) vs {100 * ss['ode_accuracy']:.2f} % (ODE), "
        f"predictions agree on {100 * ss['agreement']:.2f} % of images; tolerance rtol = {s.rtol:g}, "
        f"atol = {s.atol:g} (float32).",
        f"Conditioned response (clean, held-out): CR at the US {clean_cr.mean():.3f} ± {clean_cr.std():.3f} "
        f"(present on {100 * np.mean(clean_cr > t.threshold):.0f} % of trials), peak at "
        f"{r['clean_peak_time']:.0f} ms (ISI {t.isi:g} ms), RMS error to the target "
        f"{r['rmse']:.3f}; readout ‖W‖₁ = {r['weight_l1']:.1f} (ridge {t.ridge:g}).",
        _attack_note(r),
        f"{causality_verdict(r['after_us_max'])} {peak_verdict(t.isi, r['clean_peak_time'], float(peak[-1].mean()))}",
        "Choices (ours; the papers leave them open): piecewise-constant stimuli (zero-order hold) on a fixed grid, "
        "read at the end of every bin; the network starts at rest (h = 0); LTD off in the timing network (a running "
        "mean of a single stimulus would only shift the baseline); the US is the teaching signal, used through the "
        "closed-form least-squares fixed point of the delta rule; the CR is the Purkinje output read directly as "
        "pause depth.",
    ]


def render(cfg: Config, facts: dict) -> Rendered:
    ss, r = facts["steady_state"], facts["timing"]
    return Rendered(
        summary=_summary(cfg, ss),
        tables=[_steady_state_table(cfg, ss), _timing_table(cfg, r)],
        figures={
            "steady_state.png": _plot_steady_state(ss, cfg.static),
            "conditioning.png": _plot_conditioning(r),
            "adversarial_stimulus.png": _plot_adversarial(r),
        },
        notes=_notes(cfg, ss, r),
    )


EXPERIMENT = register(
    Experiment(
        name="cerebellum-dynamics",
        title="Cerebellar rate network: steady state, CS–US timing, attacks on temporal stimuli",
        paper="beyond Yuezhang et al. 2021 (ours: the cerebellum as a rate network)",
        presets={
            "quick": Config(
                dataset="mnist-subset",
                static=StaticConfig(width=1000, epochs=5, n_test=500, bins=50),
                timing=TimingConfig(inputs=40, width=200, dt=20.0, n_train=20, n_test=16, rtol=1e-4),
                attack=PGDConfig(epsilons=(0.0, 0.01, 0.02, 0.03, 0.05, 0.1), steps=10, batch_size=16),
            ),
            "paper": Config(
                dataset="mnist",
                static=StaticConfig(width=5000, epochs=10, n_test=2000, bins=100),
                timing=TimingConfig(inputs=100, width=1000, dt=10.0, n_train=50, n_test=100, rtol=1e-5),
                attack=PGDConfig(epsilons=(0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1), steps=40, batch_size=64),
            ),
        },
        compute=compute,
        render=render,
        tags=("cerebellum", "dynamics"),
    )
)
