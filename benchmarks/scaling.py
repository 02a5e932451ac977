"""Scaling of the sharded attack engine: `robust_accuracy` throughput vs devices and images.

What is measured. `adprf.attacks.robust_accuracy` (PGD L∞, `--steps` steps of 0.01 (20), uniform
random start, box [0, 1], the nested sweep ε ∈ {0, 0.05, 0.1}) on the first n MNIST test images
(each n of `--n`), with the examples split across D devices by `devices=D` (D = 1, 2, 4, …) and
`--batch-size` slots on each device (adprf's per-device pool), for two models trained here once on the
4,000-image MNIST subset with fixed seeds:
(a) a cerebellum, `Cerebellum(784, 10000, connectivity="sparse", k=4, ltd=True)` trained one
    epoch (delta rule + RMSprop, batch 50), attacked with the MSE-to-one-hot objective as in the
    cerebellum experiments;
(b) the Madry CNN trained one epoch (Adam), attacked with cross-entropy.
Everything runs in one process; every (model, n, D) is its own compiled call, timed with
`_timing.timed`: the first call (compilation included) and the median of `--repeats` more.

Throughput is given two ways: (ε, image) pairs per second, and gradient evaluations per second
(the sum of `gradient_evaluations` / median time), since early stopping and the nested sweep
make pairs cost different amounts (an example fooled at 0.05 is not attacked at 0.1; under
`nested` the split can change which pairs are skipped, so the evaluations may differ slightly
with D). Efficiency relative to linear scaling is computed on gradient evaluations per second:
evals/s(D) / (D · evals/s(1)), same model and n. Each row checks that the accuracies at every ε
are bit-identical to the 1-device run (PASS/FAIL). Each device runs its own queue with a pool of
`--batch-size` slots (fewer when its share of the pairs is smaller). Pool size matters on a CPU:
a smaller pool can be faster per evaluation by itself (its per-slot arrays fit the caches), so
rows where the per-device pool shrinks (small n, many devices) mix that effect into the
speed-up; the slots/device column shows when it happens.

Devices. On a CPU JAX sees one device, so before JAX starts the script sets
XLA_FLAGS=--xla_force_host_platform_device_count=`--max-devices` (default 4), appended to any
XLA_FLAGS already set, unless they already set a count. Forced host devices share the same
physical cores: on C cores efficiency cannot exceed ~min(C, D)/D (and ~1/D where one device
already keeps every core busy, as XLA:CPU's multi-threaded convolutions can), so on a small CPU
the numbers measure the sharding overhead and the parallelism the cores allow, not a real
multi-device speed-up. On GPUs the device counts are the powers of two up to the GPUs present
(at most `--max-devices` when given); one GPU gives only the 1-device rows.

Run: python benchmarks/scaling.py                      # n = 32, 128, 512, D = 1, 2, 4; 3-5 min on 2 cores
     python benchmarks/scaling.py --models cnn --n 128 512 --repeats 3
     python benchmarks/scaling.py --quick               # smoke test, ~1 min
"""

import argparse
import os


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="cerebellum,cnn", help="comma-separated subset of cerebellum,cnn")
    p.add_argument(
        "--n", type=int, nargs="+", default=[32, 128, 512], help="images attacked (each ≤ 1000, the test subset)"
    )
    p.add_argument(
        "--max-devices",
        type=int,
        default=None,
        help="CPU: host devices to force (default 4); GPU: use at most this many (default all)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="slots on each device (the default of robust_accuracy)")
    p.add_argument("--steps", type=int, default=20, help="PGD steps")
    p.add_argument("--repeats", type=int, default=1, help="timed calls after the first (median)")
    p.add_argument("--width", type=int, default=10_000, help="granule cells m of the cerebellum")
    p.add_argument("--json", default=None, help="write the rows to this JSON file")
    p.add_argument("--quick", action="store_true", help="smoke test: n = 64, 10 PGD steps")
    args = p.parse_args()
    if args.quick:
        args.n, args.steps = [64], 10
    if not all(1 <= n <= 1000 for n in args.n) or args.repeats < 1 or args.steps < 1 or args.batch_size < 1:
        p.error("--n must lie in [1, 1000] (the test subset); --repeats, --steps, --batch-size ≥ 1")
    if args.max_devices is not None and args.max_devices < 1:
        p.error("--max-devices must be ≥ 1")
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not args.models or any(m not in ("cerebellum", "cnn") for m in args.models):
        p.error("--models must be a comma-separated subset of cerebellum,cnn")
    return args


if __name__ == "__main__":
    ARGS = parse_args()
    # before JAX starts: XLA:CPU reads its device count once (a count already in XLA_FLAGS wins)
    from adprf._xla_flags import add_xla_flags

    add_xla_flags({"xla_force_host_platform_device_count": ARGS.max_devices or 4})

import json  # noqa: E402
import time  # noqa: E402

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from _timing import machine, timed  # noqa: E402

from adprf.attacks import PGD, robust_accuracy  # noqa: E402
from adprf.cerebellum import Cerebellum, train_cerebellum  # noqa: E402
from adprf.data import load_mnist_subset  # noqa: E402
from adprf.nets import MadryCNN, accuracy, train_classifier  # noqa: E402

EPSILONS = [0.0, 0.05, 0.1]
STEP_SIZE = 0.01
OBJECTIVES = {"cerebellum": "mse", "cnn": "cross-entropy"}


def device_counts(max_devices):
    """1, 2, 4, … up to the devices JAX sees (and `max_devices`)."""
    available = len(jax.devices()) if max_devices is None else min(max_devices, len(jax.devices()))
    return [1 << i for i in range(available.bit_length()) if 1 << i <= available]


def train_models(names, width):
    train, test = load_mnist_subset("train"), load_mnist_subset("test")
    models = {}
    for name in names:
        t0 = time.perf_counter()
        if name == "cerebellum":
            model = Cerebellum(784, width, connectivity="sparse", k=4, ltd=True, key=jax.random.PRNGKey(0))
            model, _ = train_cerebellum(
                model, train.images, train.labels, key=jax.random.PRNGKey(1), epochs=1, select="last", progress=False
            )
            what = f"RC k=4 m={width:,} + LTD, 1 epoch"
        else:
            model, _ = train_classifier(
                MadryCNN(key=jax.random.PRNGKey(0)),
                train.images,
                train.labels,
                key=jax.random.PRNGKey(1),
                epochs=1,
                progress=False,
            )
            what = "Madry CNN, 1 epoch"
        acc = accuracy(model, test.images, test.labels, batch_size=250)
        print(
            f"trained {name} ({what}, {time.perf_counter() - t0:.0f} s): clean test accuracy {100 * acc:.1f}%",
            flush=True,
        )
        models[name] = model
    return models, test


def measure(model, objective, x, y, devices, args):
    """One (model, n, D): timings, throughputs and the result's accuracies and evaluations."""
    method = PGD(steps=args.steps, step_size=STEP_SIZE, random_start=True)
    run = lambda: robust_accuracy(
        model,
        x,
        y,
        EPSILONS,
        method,
        objective=objective,
        key=jax.random.PRNGKey(0),
        batch_size=args.batch_size,
        devices=devices,
    )
    first, median, r = timed(run, args.repeats)
    evals = int(np.asarray(r.gradient_evaluations, np.int64).sum())
    return dict(
        first_s=first,
        median_s=median,
        pairs_per_s=len(EPSILONS) * x.shape[0] / median,
        evals=evals,
        evals_per_s=evals / median,
        accuracy=np.asarray(r.accuracy).tolist(),
    )


def print_table(name, rows):
    print(f"\n### ({'a' if name == 'cerebellum' else 'b'}) {name}, objective {OBJECTIVES[name]}\n")
    print(
        "| n images | devices | slots/device | first call s | median s | pairs/s | grad evals | grad evals/s "
        "| speed-up | efficiency | robust acc % at ε = " + ", ".join(f"{e:g}" for e in EPSILONS) + " | acc = 1-device |"
    )
    print("|" + "---|" * 12)
    for r in rows:
        print(
            f"| {r['n']:,} | {r['devices']} | {r['slots_per_device']} | {r['first_s']:.2f} | {r['median_s']:.3f} "
            f"| {r['pairs_per_s']:,.0f} | {r['evals']:,} | {r['evals_per_s']:,.0f} | {r['speedup']:.2f}× "
            f"| {100 * r['efficiency']:.0f}% | {', '.join(f'{100 * a:.1f}' for a in r['accuracy'])} "
            f"| {'PASS' if r['same_accuracy'] else 'FAIL'} |"
        )


def main(args):
    on_cpu = jax.devices()[0].platform == "cpu"
    counts = device_counts(args.max_devices)
    print(machine(equinox=eqx.__version__, optax=optax.__version__, numpy=np.__version__))
    print(f"device counts {counts}")
    print(
        f"robust_accuracy: PGD-{args.steps} L∞, step {STEP_SIZE}, random start, nested ε ∈ {EPSILONS}, "
        f"batch_size={args.batch_size} slots per device; n ∈ {args.n}; first call + {args.repeats} timed, median"
    )
    if on_cpu and len(jax.devices()) > 1:
        print(
            f"note: the {len(jax.devices())} CPU devices are forced host devices sharing {os.cpu_count()} "
            f"physical cores: efficiency cannot exceed ~min({os.cpu_count()}, D)/D (~1/D where one device already "
            f"keeps every core busy). These numbers measure the sharding overhead and the parallelism the cores "
            f"allow, not a real multi-device speed-up."
        )
    if len(counts) == 1:
        print("note: one device, so only the 1-device rows: no scaling to measure.")
    print(flush=True)

    models, test = train_models(args.models, args.width)
    rows = []
    t_start = time.perf_counter()
    for name, model in models.items():
        for n in args.n:
            x, y = jnp.asarray(test.images[:n]), jnp.asarray(test.labels[:n])
            base = None
            for d in counts:
                r = dict(
                    model=name,
                    n=n,
                    devices=d,
                    slots_per_device=min(args.batch_size, len(EPSILONS) * -(-n // d)),
                    **measure(model, OBJECTIVES[name], x, y, d, args),
                )
                base = base or r
                r["speedup"] = r["evals_per_s"] / base["evals_per_s"]
                r["efficiency"] = r["speedup"] / d
                r["same_accuracy"] = r["accuracy"] == base["accuracy"]
                rows.append(r)
                print(
                    f"  done: {name}, n={n}, D={d}: {r['median_s']:.3f} s, {r['evals_per_s']:,.0f} grad evals/s "
                    f"({time.perf_counter() - t_start:.0f} s so far)",
                    flush=True,
                )

    for name in models:
        print_table(name, [r for r in rows if r["model"] == name])
    print(
        "\nspeed-up and efficiency on gradient evaluations per second: speed-up = evals/s(D) / evals/s(1), "
        "efficiency = speed-up / D (100% = linear scaling); pairs/s = (ε, image) pairs per second; "
        "acc = 1-device: accuracies at every ε bit-identical to the 1-device run of the same n."
    )
    if len(counts) > 1:
        print("\nEfficiency (grad evals/s(D) / (D · grad evals/s(1))) by images attacked:\n")
        print("| model | n images | " + " | ".join(f"D = {d}" for d in counts) + " |")
        print("|" + "---|" * (2 + len(counts)))
        for name in models:
            for n in args.n:
                effs = [r["efficiency"] for r in rows if r["model"] == name and r["n"] == n]
                print(f"| {name} | {n:,} | " + " | ".join(f"{100 * e:.0f}%" for e in effs) + " |")
    if any(r["efficiency"] > 1.05 for r in rows):
        print(
            "\nefficiency above 100%: where a device's pool is smaller than one device's (slots/device), "
            "it can be faster per evaluation by itself (caches), not by parallelism"
        )
    ok = all(r["same_accuracy"] for r in rows)
    print(f"\naccuracies identical for every device count: {'PASS' if ok else 'FAIL'}")
    print(f"total wall time of the attacks {time.perf_counter() - t_start:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                dict(
                    machine=dict(
                        cpu_count=os.cpu_count(), devices=[str(d) for d in jax.devices()], jax=jax.__version__
                    ),
                    epsilons=EPSILONS,
                    steps=args.steps,
                    batch_size=args.batch_size,
                    rows=rows,
                ),
                f,
                indent=1,
            )
        print(f"rows written to {args.json}")


if __name__ == "__main__":
    main(ARGS)
