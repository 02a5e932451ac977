"""adprf's attack engine against the bare jitted loop a user would write, per gradient evaluation.

What is compared. The same work done two ways, on one CPU/GPU, timed the same way (one warm-up
call, whose extra time over the median is the compile time, then `--repeats` timed calls):

- PGD-40 L∞ (ε = 0.1, step 0.01, uniform random start, cross-entropy, box [0, 1]) on the first
  `--n` MNIST test images, for the quick presets' MLP (width 256, depth 2) and the Madry CNN,
  trained briefly here on the 4,000-image subset (fixed seeds). The bare loop is what a user of
  JAX would write: one `jax.jit` (equinox's `filter_jit`, so the model is an argument) holding
  `vmap(grad(cross-entropy))` and a `lax.fori_loop` of 40 sign steps, each clipped to the ball
  and the box, every image at once; it spends 40·n gradient evaluations. adprf runs
  `run_attack(..., method=PGD(steps=40, step_size=0.01, stop_at_success=False), threat=linf(ε),
  objective="cross-entropy", batch_size=n)`, every image in one pool like the bare loop, and
  counts the sum of its `gradient_evaluations` (41 per image: it also evaluates the last
  iterate, where the bare loop only predicts). A third row per model runs adprf's default
  (`stop_at_success=True`, each image stops at its first success): fewer evaluations, so its
  total time is lower, and its time per evaluation shows what the bookkeeping of a pool that
  drains costs. The bare loop has no early stop; that row compares with its all-steps time.
  Both all-steps attacks must find the same robust accuracy within `--tolerance` points (the
  random starts differ; adprf counts a success at any iterate, the bare loop at the last).
- The v1 ligand descent of Rademaker et al. 2019 (T_{N,m}, R ligands, τ ← τ − 0.2 ∂T/∂τ on the
  ligands with clean τ < τ_c = 3, τ < 0 reset to 0.1, stop at the first T ≤ 1) on one
  distribution, in float64: the bare loop is a `lax.while_loop` of that update with the
  model's autodiff gradient of τ; adprf runs its engine as `adprf.analysis.boundary_descent`
  does (`GradientDescent`, `v1_descent`, `turn_off`; the engine differentiates the whole
  `Ligands`, amounts included). Both stop at T ≤ 1 (or the cap): their iteration counts are
  printed and must agree within one; the table gives microseconds per iteration.

The ratio is adprf µs / bare µs per gradient evaluation; the goals are ≤ 1.15× for the MLP with
all steps run and ≤ 1.5× for the descent (issue 15).

Run: python benchmarks/engine_overhead.py                  # n = 500, 5 repeats (a few minutes)
     python benchmarks/engine_overhead.py --quick          # smoke test: n = 100, 2 repeats
"""

import argparse

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _mnist_models import train_mnist_models
from _timing import machine, timed
from ligand_descent import initial_distribution

import adprf
from adprf import Ligands
from adprf.attacks import PGD, GradientDescent, attack, linf, run_attack, turn_off, v1_descent
from adprf.cells import AdaptiveProofreading

STEPS, STEP_SIZE, EPS = 40, 0.01, 0.1
TAU_C, DESCENT_STEP, RESET = 3.0, 0.2, 0.1
GOAL_PGD, GOAL_DESCENT = 1.15, 1.5


def make_bare_pgd():
    """PGD-40 L∞ as a user writes it: one jitted function, all images at once. Returns whether
    each image is still classified correctly at the last iterate."""

    @eqx.filter_jit
    def run(model, x, y, key):
        def loss(xi, yi):
            logits = model(xi)
            return jax.nn.logsumexp(logits) - logits[yi]

        grad = jax.vmap(jax.grad(loss))
        x0 = jnp.clip(x + jax.random.uniform(key, x.shape, x.dtype, -EPS, EPS), 0.0, 1.0)

        def step(_, xa):
            xa = xa + STEP_SIZE * jnp.sign(grad(xa, y))
            return jnp.clip(jnp.clip(xa, x - EPS, x + EPS), 0.0, 1.0)

        xa = jax.lax.fori_loop(0, STEPS, step, x0)
        return jnp.argmax(jax.vmap(model)(xa), axis=-1) == y

    return run


def run_adprf_pgd(model, x, y, stop_at_success):
    r = run_attack(
        model,
        x,
        y,
        [EPS],
        method=PGD(steps=STEPS, step_size=STEP_SIZE, stop_at_success=stop_at_success),
        threat=linf(EPS),
        objective="cross-entropy",
        key=jax.random.PRNGKey(0),
        batch_size=x.shape[0],
    )
    return r.success, r.gradient_evaluations


def make_bare_descent(model, cap):
    """The v1 descent as a `lax.while_loop` (float64 when the inputs are): returns the final τ,
    T and the number of updates applied."""

    @jax.jit
    def run(tau, amount):
        movable = tau < TAU_C
        value_and_grad = jax.value_and_grad(lambda t: model(Ligands(t, amount)))

        def body(carry):
            t, _, g, i = carry
            t = jnp.where(movable, t - DESCENT_STEP * g, t)
            t = jnp.where(t < 0, RESET, t)
            return (t, *value_and_grad(t), i + 1)

        t, T, _, i = jax.lax.while_loop(
            lambda c: (c[1] > model.threshold) & (c[3] < cap), body, (tau, *value_and_grad(tau), 0)
        )
        return t, T, i

    return run


def run_adprf_descent(model, clean, cap):
    batch = jax.tree.map(lambda a: a[None], clean)
    r = attack(
        model,
        batch,
        None,
        method=GradientDescent(step_size=DESCENT_STEP, steps=cap),
        threat=v1_descent(TAU_C, RESET),
        objective=turn_off(model.threshold),
        key=jax.random.PRNGKey(0),
    )
    assert r.adversarial is not None
    return r.adversarial.tau[0], r.gradient_evaluations[0] - 1  # updates applied, as boundary_descent


def train_models(epochs_mlp, epochs_cnn):
    return train_mnist_models({"MLP": epochs_mlp, "CNN": epochs_cnn})


def pgd_rows(name, model, x, y, repeats, tolerance):
    """The all-steps and early-stop rows of one classifier, and its accuracy check line."""
    n = x.shape[0]
    bare = make_bare_pgd()
    key = jax.random.PRNGKey(0)
    b_first, b_med, b_robust = timed(lambda: bare(model, x, y, key), repeats)
    b_evals = STEPS * n
    rows, acc = [], {"bare": 100 * float(np.mean(np.asarray(b_robust)))}
    for task, stop in [("PGD-40, all steps", False), ("PGD-40, early stop", True)]:
        a_first, a_med, (success, evals) = timed(lambda: run_adprf_pgd(model, x, y, stop), repeats)
        a_evals = int(np.sum(np.asarray(evals)))
        acc[task] = 100 * (1 - float(np.mean(np.asarray(success, np.float64))))
        b_us, a_us = 1e6 * b_med / b_evals, 1e6 * a_med / a_evals
        goal = GOAL_PGD if (name == "MLP" and not stop) else None
        rows.append(
            _row(name, task, f"{b_evals:,} / {a_evals:,}", (b_first, b_med), (a_first, a_med), b_us, a_us, goal)
        )
        print(f"  done: {name}, {task}: adprf {a_med:.3f} s, bare {b_med:.3f} s", flush=True)
    diff = acc["PGD-40, all steps"] - acc["bare"] + 0.0  # + 0.0: no "-0.0"
    ok = abs(diff) <= tolerance
    check = (
        f"{name}: robust accuracy at ε = {EPS} (n = {n}): bare {acc['bare']:.1f}%, adprf all steps "
        f"{acc['PGD-40, all steps']:.1f}% (Δ {diff:+.1f} pts, agree within {tolerance:g}: "
        f"{'PASS' if ok else 'FAIL'}), adprf early stop {acc['PGD-40, early stop']:.1f}%"
    )
    return rows, check, ok


def _row(model, task, evals, bare, adprf_, bare_us, adprf_us, goal):
    """A table row from the (first call, median) seconds of both sides and their µs per evaluation."""
    return dict(
        model=model,
        task=task,
        evals=evals,
        bare_s=bare[1],
        adprf_s=adprf_[1],
        bare_us=bare_us,
        adprf_us=adprf_us,
        ratio=adprf_us / bare_us,
        compile=(adprf_[0] - adprf_[1], bare[0] - bare[1]),
        goal=goal,
    )


def descent_row(n_ligands, N, m, cap, repeats, seed):
    """The T_{N,m} descent row (float64) and its agreement line."""
    model = AdaptiveProofreading(N, m, tau_c=TAU_C)
    with jax.enable_x64(True):
        clean = initial_distribution(seed, n_ligands)
        bare = make_bare_descent(model, cap)
        b_first, b_med, (b_tau, b_T, b_k) = timed(lambda: bare(clean.tau, clean.amount), repeats)
        a_first, a_med, (a_tau, a_k) = timed(lambda: run_adprf_descent(model, clean, cap), repeats)
    b_k, a_k = int(b_k), int(a_k)
    iterations = max(a_k, 1)
    b_us, a_us = 1e6 * b_med / max(b_k, 1), 1e6 * a_med / iterations
    dtau = float(np.max(np.abs(np.asarray(a_tau) - np.asarray(b_tau))))
    ok = abs(a_k - b_k) <= 1
    task = f"v1 descent, R = {n_ligands}, float64"
    row = _row(
        f"T_{{{N},{m}}}", task, f"{b_k:,} / {a_k:,} it.", (b_first, b_med), (a_first, a_med), b_us, a_us, GOAL_DESCENT
    )
    check = (
        f"T_{{{N},{m}}} descent: iterations bare {b_k:,}, adprf {a_k:,} (cap {cap:,}; final T bare "
        f"{float(b_T):.6f}), max |Δτ| {dtau:.1e}: same stopping iteration (±1) {'PASS' if ok else 'FAIL'}"
    )
    print(f"  done: T_{{{N},{m}}} descent: adprf {a_med:.3f} s, bare {b_med:.3f} s", flush=True)
    return row, check, ok


def main():
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--n", type=int, default=500, help="test images attacked (≤ 1000)")
    p.add_argument("--repeats", type=int, default=5, help="timed calls after the warm-up")
    p.add_argument("--repeats-cnn", type=int, default=3, help="timed calls for the CNN (its calls take seconds)")
    p.add_argument("--epochs-mlp", type=int, default=5)
    p.add_argument("--epochs-cnn", type=int, default=1)
    p.add_argument("--models", default="mlp,cnn", help="comma-separated subset of mlp,cnn (the descent always runs)")
    p.add_argument("--tolerance", type=float, default=2.0, help="allowed robust-accuracy gap, points")
    p.add_argument("--n-ligands", type=int, default=10201, help="R of the descent (v1: 10201)")
    p.add_argument("--descent-model", type=int, nargs=2, default=(3, 1), metavar=("N", "m"))
    p.add_argument("--max-iterations", type=int, default=100_000, help="the descent's cap")
    p.add_argument("--seed", type=int, default=0, help="the ligand distribution's seed")
    p.add_argument("--quick", action="store_true", help="smoke test: n = 100, repeats = 2")
    args = p.parse_args()
    if args.quick:
        args.n, args.repeats, args.repeats_cnn = 100, 2, 2
    names = [m.strip().upper() for m in args.models.split(",") if m.strip()]
    if not (
        1 <= args.n <= 1000
        and min(args.repeats, args.repeats_cnn) >= 1
        and args.n_ligands >= 4
        and args.max_iterations >= 1
    ):
        p.error("--n must be in [1, 1000], --repeats ≥ 1, --n-ligands ≥ 4, --max-iterations ≥ 1")
    if any(m not in ("MLP", "CNN") for m in names):
        p.error(f"--models must be a comma-separated subset of mlp,cnn, got {args.models!r}")
    N, m = args.descent_model
    if not 0 <= m < N:
        p.error("--descent-model needs 0 ≤ m < N")

    print(machine(equinox=eqx.__version__, adprf=adprf.__version__))
    print(
        f"PGD-{STEPS} L∞ ε = {EPS}, step {STEP_SIZE}, random start; n = {args.n}, one pool of n slots; "
        f"1 warm-up + {args.repeats} timed runs ({args.repeats_cnn} for the CNN), median reported\n"
    )
    rows, checks, oks = [], [], []
    if names:
        models, test = train_models(args.epochs_mlp, args.epochs_cnn)
        x, y = jnp.asarray(test.images[: args.n]), jnp.asarray(test.labels[: args.n])
        for name in names:
            repeats = args.repeats_cnn if name == "CNN" else args.repeats
            r, check, ok = pgd_rows(name, models[name], x, y, repeats, args.tolerance)
            rows += r
            checks.append(check)
            oks.append(ok)
    row, check, ok = descent_row(args.n_ligands, N, m, args.max_iterations, args.repeats, args.seed)
    rows.append(row)
    checks.append(check)
    oks.append(ok)

    print(
        "\n| model | task | grad evals bare / adprf | bare s | adprf s | bare µs/eval | adprf µs/eval "
        "| ratio adprf/bare | compile s adprf / bare | goal | verdict |"
    )
    print("|" + "---|" * 11)
    for r in rows:
        goal = f"≤ {r['goal']:g}×" if r["goal"] else "—"
        verdict = ("PASS" if r["ratio"] <= r["goal"] else "FAIL") if r["goal"] else "—"
        print(
            f"| {r['model']} | {r['task']} | {r['evals']} | {r['bare_s']:.3f} | {r['adprf_s']:.3f} "
            f"| {r['bare_us']:.2f} | {r['adprf_us']:.2f} | {r['ratio']:.2f}× "
            f"| {r['compile'][0]:.2f} / {r['compile'][1]:.2f} | {goal} | {verdict} |"
        )
    print(
        "\n(early-stop rows: the bare columns are the bare all-steps loop, which has no early stop; "
        "descent row: per iteration)"
    )
    for check in checks:
        print(check)
    print(f"\nchecks: {'PASS' if all(oks) else 'FAIL'}")


if __name__ == "__main__":
    main()
