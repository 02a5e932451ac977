"""cerebellum-dynamics: the cerebellum as a rate network (SPEC §5.4, beyond Yuezhang et al. 2021).

Yuezhang et al. study a static network, ŷ = Wᵀ(ReLU(Jᵀ x) − μ). Here it is the steady state of
τ_g dh/dt = −h + ReLU(Jᵀ x(t)), τ_p dŷ/dt = −ŷ + Wᵀ(h − μ) (`CerebellarDynamics`, diffrax), and
two things follow.

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
"""

import time

import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from tqdm import tqdm

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from .._results import Run
from ..attacks import PGD, linf, run_attack
from ..cerebellum._conditioning import EyelidConditioning
from ..cerebellum._dynamics import CerebellarDynamics, spread_time_constants
from ..cerebellum._model import Cerebellum, evaluation_batch
from ..cerebellum._train import train_cerebellum
from ..data import load_dataset
from ._registry import LegacyExperiment as Experiment, register

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


def steady_state(run: Run, cfg: dict, seed: int) -> dict:
    """Train the static model (cached) and compare it with its rate network on test images."""
    s = cfg["static"]
    train, test = load_dataset(cfg["dataset"], "train"), load_dataset(cfg["dataset"], "test")
    n_test = min(s["n_test"], len(test))
    images, labels = test.images[:n_test], np.asarray(test.labels[:n_test])
    k_init, k_train = jax.random.split(jax.random.PRNGKey(seed))
    template = Cerebellum(
        int(np.prod(train.images.shape[1:])), s["width"], connectivity="dense", ltd=s["ltd"], key=k_init
    )
    model = run.model(
        "cerebellum",
        template,
        lambda: train_cerebellum(
            template,
            train.images,
            train.labels,
            key=k_train,
            epochs=s["epochs"],
            batch_size=s["batch_size"],
            select="last",
            description=f"cerebellum m={s['width']}",
        )[0],
    )

    def compare():
        fastest, slowest = s["granule_time"]
        dynamics = CerebellarDynamics(
            model,
            spread_time_constants(model.width, fastest, slowest),
            s["purkinje_time"],
            dt=s["horizon"] * slowest / s["bins"],
            rtol=s["rtol"],
            atol=s["atol"],
        )
        batch = min(evaluation_batch(model.width * s["bins"], budget=1 << 22), n_test)
        start = time.perf_counter()
        static = np.asarray(_static(model, images, min(evaluation_batch(model.width), n_test)))
        ode, steps = settle(dynamics, images, s["bins"], batch)  # (n, bins, 10), (n,)
        error = np.abs(ode - static[:, None]).max(axis=(0, 2))  # per read-out time
        accuracy = (ode.argmax(-1) == labels[:, None]).mean(0)
        return {
            "times": np.asarray(dynamics.times(s["bins"])),
            "error": error,
            "accuracy_t": accuracy,
            "static_accuracy": float((static.argmax(-1) == labels).mean()),
            "ode_accuracy": float(accuracy[-1]),
            "max_error": float(error[-1]),
            "agreement": float((static.argmax(-1) == ode[:, -1].argmax(-1)).mean()),
            "steps": float(steps.mean()),
            "n_test": n_test,
            "seconds": time.perf_counter() - start,
            "source": test.source,
        }

    return run.stage("steady-state", compare)


def _plot_steady_state(result: dict, cfg: dict):
    times, s = np.asarray(result["times"]), cfg["static"]
    error = np.asarray(result["error"])
    fig, (ax_err, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
    ax_err.semilogy(times, np.maximum(error, 1e-12), marker=".", label="ODE")
    ax_err.semilogy(
        times, error[0] * np.exp(-(times - times[0]) / s["granule_time"][1]), ls="--", c="gray", label="e^(−t/τ_max)"
    )
    ax_err.set_ylim(max(1e-9, 0.1 * error.min()), 2 * error.max())
    ax_err.set(
        xlabel="time after image onset (ms)", ylabel="max |ŷ(t) − ŷ_static|", title="approach to the static model"
    )
    ax_err.legend()
    ax_acc.semilogx(times, 100 * np.asarray(result["accuracy_t"]), marker=".", label="argmax ŷ(t)")
    ax_acc.axhline(100 * result["static_accuracy"], ls="--", c="k", label="static model")
    ax_acc.set(
        xlabel="time after image onset (ms)",
        ylabel="test accuracy (%)",
        ylim=(0, 100),
        title=f"{result['n_test']} test images, m = {s['width']}",
    )
    ax_acc.legend(loc="lower right")
    for ax in (ax_err, ax_acc):
        ax.grid(alpha=0.3)
    return fig


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


def timing(run: Run, cfg: dict, seed: int) -> dict:
    """Fit the CR, attack it over the ε grid, measure everything in one batch of trajectories."""
    t_cfg, a_cfg = cfg["timing"], cfg["attack"]
    task = EyelidConditioning(
        isi=t_cfg["isi"],
        duration=t_cfg["duration"],
        dt=t_cfg["dt"],
        sharpness=t_cfg["sharpness"],
        threshold=t_cfg["threshold"],
        noise=t_cfg["noise"],
    )
    k_model, k_tone, k_train, k_test, k_attack, k_noise = jax.random.split(jax.random.PRNGKey(seed + 1), 6)
    model = Cerebellum(t_cfg["inputs"], t_cfg["width"], connectivity="dense", ltd=False, outputs=1, key=k_model)
    fastest, slowest = t_cfg["granule_time"]
    dynamics = CerebellarDynamics(
        model,
        spread_time_constants(model.width, fastest, slowest),
        t_cfg["purkinje_time"],
        dt=task.dt,
        rtol=t_cfg["rtol"],
    )
    tone = task.tone(t_cfg["inputs"], key=k_tone)
    start = time.perf_counter()
    trained = task.fit(dynamics, task.trials(tone, t_cfg["n_train"], key=k_train), ridge=t_cfg["ridge"])
    fit_s = time.perf_counter() - start
    test = task.trials(tone, t_cfg["n_test"], key=k_test)
    epsilons = [float(e) for e in a_cfg["epsilons"]]
    method = PGD(
        steps=a_cfg["steps"], restarts=a_cfg["restarts"], random_start=a_cfg["random_start"], stop_at_success=False
    )
    start = time.perf_counter()
    result = run_attack(
        task.response(trained),
        test,
        None,
        epsilons,
        method=method,
        threat=linf(0.0),
        objective=task.objective(),
        key=k_attack,
        batch_size=a_cfg["batch_size"],
        progress=f"PGD-{a_cfg['steps']} on CS trials ({len(epsilons)} ε)",
    )
    attack_s = time.perf_counter() - start
    adversarial = np.asarray(result.adversarial)  # (E, n, T, d)
    eps = np.asarray(epsilons)[:, None, None, None]
    signs = np.asarray(jax.random.rademacher(k_noise, adversarial.shape, jnp.float32))
    noisy = np.clip(np.asarray(test)[None] + eps * signs, 0.0, 1.0)
    n, n_eps = t_cfg["n_test"], len(epsilons)
    value, gradient = (np.asarray(a, np.float64) for a in _gradients(task.response(trained), test))
    linear = np.stack([first_order_optimum(value, gradient, np.asarray(test, np.float64), e) for e in epsilons])
    start = time.perf_counter()
    batch = np.concatenate(
        [np.asarray(test), adversarial.reshape(-1, *test.shape[1:]), noisy.reshape(-1, *test.shape[1:])]
    )
    cr_t, granule = _trajectories(trained, jnp.asarray(batch))
    cr_t, granule = np.asarray(cr_t), np.asarray(granule)
    evaluate_s = time.perf_counter() - start
    clean_t = cr_t[:n]
    attacked_t = cr_t[n : n + n_eps * n].reshape(n_eps, n, -1)
    noisy_t = cr_t[n + n_eps * n :].reshape(n_eps, n, -1)
    us, times = task.us_bin, np.asarray(task.times())
    target = np.asarray(task.target())
    perturbation = adversarial[-1, 0] - np.asarray(test[0])
    active = np.flatnonzero(granule[0, -1] > 0)  # cells the tone drives, by τ_g
    cells = active[np.unique(np.linspace(0, len(active) - 1, min(6, len(active))).round().astype(int))]
    return {
        "epsilons": epsilons,
        "times": times,
        "target": target,
        "us_bin": us,
        "isi": task.isi,
        "threshold": task.threshold,
        "tone": np.asarray(tone),
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
            "stimulus": np.asarray(test[0]),
            "perturbation": perturbation,
            "clean": clean_t[0],
            "adversarial": attacked_t[-1, 0],
            "after_us_max": float(np.abs(adversarial[:, :, us + 1 :] - np.asarray(test)[None, :, us + 1 :]).max())
            if us + 1 < task.bins
            else 0.0,
        },
        "granule": {"cells": cells, "tau": np.asarray(trained.granule_time)[cells], "trace": granule[0][:, cells].T},
        "weight_l1": float(np.abs(np.asarray(trained.cerebellum.purkinje.weight)).sum()),
        "seconds": {"fit": fit_s, "attack": attack_s, "evaluate": evaluate_s},
    }


def _plot_conditioning(r: dict):
    times, us_t, eps = np.asarray(r["times"]), r["isi"], r["epsilons"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), layout="constrained")
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
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(eps)))
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


def _plot_adversarial(r: dict):
    ex, times = r["example"], np.asarray(r["times"])
    stimulus, delta = np.asarray(ex["stimulus"]), np.asarray(ex["perturbation"])
    extent = (0, times[-1], stimulus.shape[1] - 0.5, -0.5)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8), layout="constrained")
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


# ----------------------------------------------------------------------------- the run


def _first_suppression(epsilons, success) -> str:
    """The smallest ε at which some trial's CR is suppressed, as text."""
    hit = [e for e, row in zip(epsilons, np.asarray(success)) if np.any(row)]
    return f"{hit[0]:g}" if hit else f"> {epsilons[-1]:g} (none)"


def run(run: Run) -> dict:
    cfg = run.config
    s = cfg["static"]
    ss = steady_state(run, cfg, cfg["seed"])
    r = run.stage("timing", lambda: timing(run, cfg, cfg["seed"]))
    run.save_figure(_plot_steady_state(ss, cfg), "steady_state.png")
    run.save_figure(_plot_conditioning(r), "conditioning.png")
    run.save_figure(_plot_adversarial(r), "adversarial_stimulus.png")

    static_rows = [
        [
            s["width"],
            "dense",
            "yes" if s["ltd"] else "no",
            ss["n_test"],
            round(100 * ss["static_accuracy"], 2),
            round(100 * ss["ode_accuracy"], 2),
            round(100 * ss["agreement"], 2),
            f"{ss['max_error']:.1e}",
            round(ss["steps"], 1),
        ]
    ]
    cr, success = np.asarray(r["attacked"]["cr"]), np.asarray(r["attacked"]["success"], bool)
    noisy, peak = np.asarray(r["noisy"]["cr"]), np.asarray(r["attacked"]["peak_time"])
    linear = np.asarray(r["first_order"]["cr"])
    timing_rows = [
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
    t_cfg, a_cfg = cfg["timing"], cfg["attack"]
    clean_cr = np.asarray(r["clean"]["cr"])
    summary = (
        f"(a) A cerebellum trained on {ss['source']} (dense, m = {s['width']}, LTD {'on' if s['ltd'] else 'off'}, "
        f"{s['epochs']} epochs) run as a rate network (τ_g from {s['granule_time'][0]:g} to {s['granule_time'][1]:g} "
        f"ms, τ_p = {s['purkinje_time']:g} ms) on {ss['n_test']} test images held for "
        f"{s['horizon']} τ_max: its steady state is the static model. (b) Delay eyelid conditioning: "
        f"a tone onto {t_cfg['inputs']} mossy fibres from t = 0, the US at ISI = {t_cfg['isi']:g} ms; m = "
        f"{t_cfg['width']} granule cells with τ_g from {t_cfg['granule_time'][0]:g} to "
        f"{t_cfg['granule_time'][1]:g} ms; the Purkinje readout fitted (ridge least squares) to a CR peaking at the "
        f"US; PGD-{a_cfg['steps']} (L∞ on every fibre in every {t_cfg['dt']:g} ms bin, rates in [0, 1]) pushes the "
        f"CR at the US below {t_cfg['threshold']:g} on {t_cfg['n_test']} held-out trials."
    )
    notes = [
        "Beyond the paper: Yuezhang et al. (2021) study only the static network; the rate network, its "
        "steady state, the CS–US timing task and attacks on temporal stimuli are SPEC §5.4 extensions.",
        f"Steady state: max |ŷ_ODE − ŷ_static| = {ss['max_error']:.1e} over {ss['n_test']} images × 10 outputs; "
        f"accuracy {100 * ss['static_accuracy']:.2f} % (static) vs {100 * ss['ode_accuracy']:.2f} % (ODE), "
        f"predictions agree on {100 * ss['agreement']:.2f} % of images; tolerance rtol = {s['rtol']:g}, "
        f"atol = {s['atol']:g} (float32).",
        f"Conditioned response (clean, held-out): CR at the US {clean_cr.mean():.3f} ± {clean_cr.std():.3f} "
        f"(present on {100 * np.mean(clean_cr > t_cfg['threshold']):.0f} % of trials), peak at "
        f"{np.mean(r['clean']['peak_time']):.0f} ms (ISI {t_cfg['isi']:g} ms), RMS error to the target "
        f"{r['clean']['rmse']:.3f}; readout ‖W‖₁ = {r['weight_l1']:.1f} (ridge {t_cfg['ridge']:g}).",
        f"Attack: at ε = {r['epsilons'][-1]:g} the mean CR at the US falls from {cr[0].mean():.3f} to "
        f"{cr[-1].mean():.3f} and {100 * success[-1].mean():.0f} % of CRs are suppressed; the first CR to go "
        f"falls at ε = {_first_suppression(r['epsilons'], success)}. Random ±ε noise of the same size leaves the "
        f"mean CR at {noisy[-1].mean():.3f}: the CR is robust to noise and fragile to the worst direction. "
        f"‖∂CR/∂x‖₁ = {np.mean(r['first_order']['gradient_l1']):.1f} on clean trials; the first-order optimum "
        f"(every input moved by ε against its gradient, within the box) predicts a mean CR of "
        f"{linear[1].mean():.3f} at ε = {r['epsilons'][1]:g} (PGD {cr[1].mean():.3f}) and {linear[-1].mean():.3f} at "
        f"ε = {r['epsilons'][-1]:g} (PGD {cr[-1].mean():.3f}): near-linear at small ε; where PGD goes below the "
        f"first-order optimum, granule cells switching on or off (ReLU) add to the drop.",
        f"Causality: ŷ(ISI) cannot depend on input after the US; its gradient there is exactly 0 and PGD "
        f"(started at the clean trial) leaves those bins untouched (largest change after the US: "
        f"{r['example']['after_us_max']:.3g}). The adversarial CR is not merely scaled down: PGD carves a notch at the "
        f"US and the peak moves away from it (mean peak time in the table).",
        "Choices (open in the spec): piecewise-constant stimuli (zero-order hold) on a fixed grid, read at the end "
        "of every bin; the network starts at rest (h = 0); LTD off in the timing network (a running mean of a single "
        "stimulus would only shift the baseline); the US is the teaching signal, used through the closed-form "
        "least-squares fixed point of the delta rule; the CR is the Purkinje output read directly as pause depth.",
    ]
    return {
        "summary": summary,
        "tables": [
            {
                "title": "Steady state of the rate network vs the static model",
                "columns": [
                    "m",
                    "connectivity",
                    "LTD",
                    "test images",
                    "static acc. (%)",
                    "ODE acc. (%)",
                    "same prediction (%)",
                    "max |ŷ_ODE − ŷ_static|",
                    "solver steps / image",
                ],
                "rows": static_rows,
            },
            {
                "title": f"Conditioned response at the US under PGD-{a_cfg['steps']} on the CS (L∞, {t_cfg['n_test']} "
                f"trials)",
                "columns": [
                    "ε",
                    "mean CR at US",
                    "min CR at US",
                    "CR suppressed (%)",
                    "first-order optimum",
                    "mean CR, random ±ε",
                    "mean CR peak time (ms)",
                    "gradient evaluations",
                ],
                "rows": timing_rows,
            },
        ],
        "numbers": {
            "steady_state": {k: ss[k] for k in ("max_error", "static_accuracy", "ode_accuracy", "agreement")},
            "timing": {
                "epsilons": r["epsilons"],
                "cr_mean": cr.mean(1),
                "suppressed": success.mean(1),
                "noise_cr_mean": noisy.mean(1),
                "first_order_cr_mean": linear.mean(1),
                "clean_cr_mean": float(clean_cr.mean()),
                "clean_peak_time": float(np.mean(r["clean"]["peak_time"])),
                "rmse": r["clean"]["rmse"],
                "after_us_max": r["example"]["after_us_max"],
            },
            "seconds": {"steady_state": ss["seconds"], **r["seconds"]},
        },
        "notes": notes,
    }


register(
    Experiment(
        name="cerebellum-dynamics",
        title="Cerebellar rate network: steady state, CS–US timing, attacks on temporal stimuli",
        paper="beyond Yuezhang et al. 2021 (SPEC §5.4)",
        presets={
            "quick": {
                "dataset": "mnist-subset",
                "seed": 0,
                "static": {
                    "width": 1000,
                    "ltd": True,
                    "epochs": 5,
                    "batch_size": 50,
                    "n_test": 500,
                    "granule_time": [5.0, 50.0],
                    "purkinje_time": 10.0,
                    "horizon": 20,
                    "bins": 50,
                    "rtol": 1e-6,
                    "atol": 1e-7,
                },
                "timing": {
                    "inputs": 40,
                    "width": 200,
                    "granule_time": [10.0, 1000.0],
                    "purkinje_time": 10.0,
                    "dt": 20.0,
                    "isi": 300.0,
                    "duration": 500.0,
                    "sharpness": 4.0,
                    "threshold": 0.5,
                    "noise": 0.05,
                    "ridge": 1e-5,
                    "n_train": 20,
                    "n_test": 16,
                    "rtol": 1e-4,
                },
                "attack": {
                    "epsilons": [0.0, 0.01, 0.02, 0.03, 0.05, 0.1],
                    "steps": 10,
                    "restarts": 1,
                    "random_start": False,
                    "batch_size": 16,
                },
            },
            "paper": {
                "dataset": "mnist",
                "seed": 0,
                "static": {
                    "width": 5000,
                    "ltd": True,
                    "epochs": 10,
                    "batch_size": 50,
                    "n_test": 2000,
                    "granule_time": [5.0, 50.0],
                    "purkinje_time": 10.0,
                    "horizon": 20,
                    "bins": 100,
                    "rtol": 1e-6,
                    "atol": 1e-7,
                },
                "timing": {
                    "inputs": 100,
                    "width": 1000,
                    "granule_time": [10.0, 1000.0],
                    "purkinje_time": 10.0,
                    "dt": 10.0,
                    "isi": 300.0,
                    "duration": 500.0,
                    "sharpness": 4.0,
                    "threshold": 0.5,
                    "noise": 0.05,
                    "ridge": 1e-5,
                    "n_train": 50,
                    "n_test": 100,
                    "rtol": 1e-5,
                },
                "attack": {
                    "epsilons": [0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1],
                    "steps": 40,
                    "restarts": 1,
                    "random_start": False,
                    "batch_size": 64,
                },
            },
        },
        run=run,
    )
)
