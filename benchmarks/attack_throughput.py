"""PGD-40 L∞ throughput: adprf against foolbox 3 (JAX backend) on MNIST.

What is compared. For an MLP and the Madry et al. CNN (trained here once, on the 4,000-image
MNIST subset, with fixed seeds), both libraries run PGD with 40 steps of size 0.01, a
uniform random start in the ε-ball, no restarts, cross-entropy loss and the box [0, 1], on
the same `--n` test images, for (a) one radius ε = 0.1 and (b) the sweep ε ∈ {0, 0.05, …, 0.3}.
Each (model, task, library) gets one warm-up call, then `--repeats` timed calls; the table
reports the median, the ratio foolbox / adprf, adprf's compile time (first call minus the
median) and both robust accuracies.

Why it is fair. Both attack the same model function (the same trained equinox module:
adprf calls it per example, foolbox calls `jax.jit(jax.vmap(model))`, as a user would),
with the same step rule (x ← clip_box(Π_ε(x + α·sign ∇CE))), step size, step count, random
start distribution, ε grid and images, and both count an example as robust iff it is not
fooled. The differences are the point of the benchmark: adprf compiles the whole attack
(all ε and all examples) into one XLA loop and stops each (ε, example) pair at its first
success, refilling its slot with new work; in a sweep it does not attack again an example
already fooled at a smaller ε (`nested=True`: that adversarial lies in every larger ball).
foolbox runs its 40 steps eagerly from Python, one ε after another, for every example, and
judges success on the last iterate only.
The mean number of gradient evaluations per (ε, image) is printed (foolbox: 40 gradients
plus one forward pass for the success check, counted as 41) so readers see where the
speed comes from. adprf counts a success at any iterate and foolbox only at the last one
(from the same start adprf is at least as strong), and the random draws differ, so robust
accuracies may differ slightly; they must agree within 1 point. foolbox's warm-up extra
is mostly jit compilation of the batched model and its gradient (shared by both tasks).

Run: python benchmarks/attack_throughput.py [--models mlp,cnn] [--n 1000] [--repeats 3]
     python benchmarks/attack_throughput.py --quick --models mlp     # smoke test
"""

import argparse
import warnings

import jax
import jax.numpy as jnp
import numpy as np

with warnings.catch_warnings():  # foolbox imports scipy.ndimage.filters (deprecated)
    warnings.simplefilter("ignore", DeprecationWarning)
    import foolbox

from _mnist_models import train_mnist_models
from _timing import machine, timed

from adprf.attacks import PGD, robust_accuracy

STEPS, STEP_SIZE = 40, 0.01
TASKS = {"one ε (0.1)": [0.1], "7-ε sweep": [round(0.05 * i, 2) for i in range(7)]}
GOALS = {"one ε (0.1)": 5.0, "7-ε sweep": 20.0}


def run_adprf(model, x, y, eps, batch_size):
    r = robust_accuracy(
        model,
        x,
        y,
        eps,
        PGD(steps=STEPS, step_size=STEP_SIZE, random_start=True),
        key=jax.random.PRNGKey(0),
        batch_size=batch_size,
    )
    return r.success, r.gradient_evaluations  # r.accuracy = 1 - r.success.mean(axis=1)


def make_foolbox(model):
    # The user's batched model: foolbox calls it on a batch, so jit the vmapped module.
    fmodel = foolbox.JAXModel(jax.jit(jax.vmap(model)), bounds=(0, 1))
    attack = foolbox.attacks.LinfPGD(abs_stepsize=STEP_SIZE, steps=STEPS, random_start=True)

    def run(x, y, eps):
        _, _, success = attack(fmodel, x, y, epsilons=eps)  # success: (n_eps, n)
        return success

    return run


def train_models(names, epochs_mlp, epochs_cnn):
    return train_mnist_models({name: {"mlp": epochs_mlp, "cnn": epochs_cnn}[name] for name in names})


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="mlp,cnn", help="comma-separated subset of mlp,cnn")
    p.add_argument("--n", type=int, default=1000, help="test images attacked (≤ 1000)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls after the warm-up")
    p.add_argument("--batch-size", type=int, default=256, help="adprf's slots (examples in flight)")
    p.add_argument("--epochs-mlp", type=int, default=10)
    p.add_argument("--epochs-cnn", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smoke test: n=200, repeats=1")
    args = p.parse_args()
    if args.quick:
        args.n, args.repeats = 200, 1
    if not (1 <= args.n <= 1000 and args.repeats >= 1):
        p.error("--n must be in [1, 1000] (the test subset) and --repeats ≥ 1")
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names or any(m not in ("mlp", "cnn") for m in names):
        p.error(f"--models must be a comma-separated subset of mlp,cnn, got {args.models!r}")

    print(machine(foolbox=foolbox.__version__))
    print(
        f"PGD-{STEPS} L∞, step {STEP_SIZE}, random start, no restarts; n={args.n}, "
        f"adprf batch_size={args.batch_size}; 1 warm-up + {args.repeats} timed runs, median reported\n"
    )
    models, test = train_models(names, args.epochs_mlp, args.epochs_cnn)
    x, y = jnp.asarray(test.images[: args.n]), jnp.asarray(test.labels[: args.n])

    rows, sweeps = [], {}
    for name, model in models.items():
        foolbox_run = make_foolbox(model)
        for task, eps in TASKS.items():
            a_first, a_med, (a_succ, a_evals) = timed(
                lambda: run_adprf(model, x, y, eps, args.batch_size), args.repeats
            )
            f_first, f_med, f_succ = timed(lambda: foolbox_run(x, y, eps), args.repeats)
            # robust accuracy in points, per ε, in float64 (exact counts, no float32 rounding)
            a_acc, f_acc = (100 * (1 - np.asarray(s, np.float64).mean(axis=-1)) for s in (a_succ, f_succ))
            diff = a_acc - f_acc
            worst = float(diff[np.argmax(np.abs(diff))])
            rows.append(
                dict(
                    model=name,
                    task=task,
                    a=a_med,
                    f=f_med,
                    ratio=f_med / a_med,
                    compile=a_first - a_med,
                    f_warm=f_first - f_med,
                    evals=float(np.mean(a_evals)),
                    a_acc=a_acc,
                    f_acc=f_acc,
                    diff=worst,
                    ok=bool(np.all(np.abs(diff) <= 1.0 + 1e-9)),
                )
            )
            if len(eps) > 1:
                sweeps[name] = (eps, a_acc, f_acc, np.asarray(a_evals).mean(axis=1))
            print(f"  done: {name}, {task}: adprf {a_med:.2f} s, foolbox {f_med:.2f} s", flush=True)

    print(
        "\n| model | task | adprf s (median) | foolbox s (median) | ratio fb/adprf | goal "
        "| adprf compile s | foolbox warm-up extra s | grad evals/(ε,img) adprf / fb "
        "| robust acc % adprf | robust acc % foolbox | Δ pts (max abs) | agree ≤ 1 pt |"
    )
    print("|" + "---|" * 13)
    acc = lambda v: f"{v[0]:.1f}" if len(v) == 1 else f"{v.mean():.1f} (mean)"
    for r in rows:
        goal = GOALS[r["task"]]
        print(
            f"| {r['model']} | {r['task']} | {r['a']:.2f} | {r['f']:.2f} | {r['ratio']:.1f}× "
            f"| ≥{goal:g}×: {'met' if r['ratio'] >= goal else 'NOT met'} | {r['compile']:.2f} "
            f"| {r['f_warm']:.2f} | {r['evals']:.1f} / {STEPS + 1} | {acc(r['a_acc'])} "
            f"| {acc(r['f_acc'])} | {r['diff']:+.1f} | {'PASS' if r['ok'] else 'FAIL'} |"
        )

    for name, (eps, a_acc, f_acc, evals) in sweeps.items():
        print(f"\nPer-ε robust accuracy, {name} (n={args.n}):\n")
        print("| ε | adprf % | foolbox % | Δ pts | adprf grad evals/img |\n|---|---|---|---|---|")
        for e, a, f, g in zip(eps, a_acc, f_acc, evals):
            print(f"| {e:.2f} | {a:.1f} | {f:.1f} | {a - f:+.1f} | {g:.1f} |")

    ok = all(r["ok"] for r in rows)
    print(
        f"\naccuracy agreement (≤ 1 point = {args.n / 100:g} images, every row and ε; random "
        f"starts differ between the libraries): {'PASS' if ok else 'FAIL'}"
    )
    for r in rows:
        goal = GOALS[r["task"]]
        print(
            f"goal {r['model']}, {r['task']}: ratio {r['ratio']:.1f}× vs ≥ {goal:g}× -> "
            f"{'met' if r['ratio'] >= goal else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
