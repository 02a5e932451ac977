"""Cerebellum at scale: adprf's sparse gather granule layer against a dense masked matrix.

What is compared. The cerebellum of Yuezhang et al. 2021 with random-sparse ("RC")
granule connectivity, k inputs per cell and m cells, computed two ways on the same weights:
- sparse: adprf's `SparseGranule`, which stores the (m, k) indices and weights and computes
  h = ReLU(Jᵀx) by a gather;
- dense: what a user would otherwise write, the same connectivity as a d × m matrix
  (`SparseGranule.as_dense()`, zeros off the k inputs of each cell) multiplied like
  `DenseGranule` (a `Cerebellum` whose granule is swapped by `eqx.tree_at` for a
  `DenseGranule` holding that matrix).
Before anything is timed, both models' logits and their input gradients of the MSE objective
(what PGD follows) are checked to agree to 1e-5 (max |difference| / max |value|).

Two tasks, each one compiled XLA executable timed on its own:
(a) one training epoch: adprf's compiled epoch (`adprf.cerebellum._train._epoch`, the one
    `train_cerebellum` runs: a `lax.scan` over batches of 50 of the delta rule on W with
    RMSprop, lr = 0.5/m, LTD mean updated) on `--n-train` images;
(b) PGD-40 L∞, ε = 0.1, step 0.01, uniform random start, box [0, 1], MSE-to-one-hot
    objective, through adprf's attack engine (the compiled loop behind `attack` /
    `robust_accuracy`, `--attack-batch` examples in flight, 256 as their default) on
    `--n-attack` images. The attack runs all 40 steps on every image
    (`stop_at_success=False`) so both layers do the same fixed work (41 gradient
    evaluations per image, the last one scoring the final iterate), labels being the
    model's own clean predictions.
Images are synthetic, uniform in [0, 1] with MNIST's shape (fixed seed); training labels are
random in 0..9. Each executable is compiled first (compile time reported apart), called
once as a warm-up, then `--repeats` times; the tables give the median. Times are also given
per 1,000 images (measured time × 1000 / n, an extrapolation when n < 1000, labelled so).

Memory. For every executable timed, XLA's compiled memory analysis
(`jax.jit(...).lower(...).compile().memory_analysis()`): argument + output + temporary bytes
minus aliased bytes. The model is an argument, so the granule parameters (indices and weights,
or the d × m matrix) are inside that figure, as are the images; the granule parameter bytes
are also shown on their own. The training epoch returns the whole model, so its output holds a
fresh copy of the granule parameters (for the dense path, a second d × m matrix). The PGD
figure grows with the examples in flight (min(`--attack-batch`, n)), not with n. XLA:CPU's own
`peak_memory_in_bytes` field leaves the temporaries out, so it is not used. On a GPU the
process's `peak_bytes_in_use` (cumulative over the run, JAX offers no reset) is printed as well.

Size. The issue's grid (`--full`: m ∈ {1000, 10000, 50000, 200000, 228571} × k ∈ {1, 4, 50,
784}, 60,000 training images, PGD on 1,000) is for a GPU: the dense 784 × 200,000 PGD-40 on
1,000 images alone is ~2.6·10¹³ FLOPs. The default grid, about 11 minutes on 2 shared CPU cores, is
the synapse-count-controlled sweep m = ⌊4.8·10⁶/(k + 20)⌋ for k ∈ {1, 4, 50, 784} plus
m ∈ {1000, 10000, 50000} at k = 4, with 1,000 training and 20 attacked images. The goal
(k = 4, m = 200,000: sparse ≤ 1/20 of the dense memory, ≥ 3× faster) is judged per task on
the sizes run. A dense configuration whose d × m matrix exceeds `--max-dense-gb`, and any
executable whose XLA memory exceeds `--max-gb`, is skipped and marked so.

Run: python benchmarks/cerebellum_scale.py                     # default grid, ~11 min on 2 cores
     python benchmarks/cerebellum_scale.py --m 200000 --k 4 --n-attack 100
     python benchmarks/cerebellum_scale.py --m synapse --k 1,4,50,784
     python benchmarks/cerebellum_scale.py --full               # the issue's grid (GPU)
     python benchmarks/cerebellum_scale.py --quick              # smoke test, < 1 min
"""

import argparse
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from _timing import machine, timed

from adprf.attacks import PGD, attack, linf
from adprf.attacks._loop import AttackLoop, run_compiled
from adprf.attacks._objectives import as_objective
from adprf.attacks._options import LoopOptions, Shard
from adprf.cerebellum import Cerebellum, DenseGranule
from adprf.cerebellum._train import _epoch, rmsprop

D = 784  # MNIST pixels
SYNAPSES = 4.8e6  # synapse-count control: m = ⌊4.8·10⁶ / (k + 20)⌋
BATCH = 50  # training batch (the paper's main setting)
EPS, STEPS, STEP_SIZE = 0.1, 40, 0.01
TOLERANCE = 1e-5
GOAL_M, GOAL_K, GOAL_MEMORY, GOAL_SPEED = 200_000, 4, 20.0, 3.0
FULL_M, FULL_K = (1000, 10000, 50000, 200000, 228571), (1, 4, 50, 784)
QUICK_GRID = ((1000, 4), (2000, 50))


def synapse_width(k: int) -> int:
    return int(SYNAPSES // (k + 20))


def default_grid():
    """The synapse-count-controlled sweep, plus a width sweep at the paper's k = 4."""
    return sorted({(synapse_width(k), k) for k in FULL_K} | {(m, 4) for m in (1000, 10000, 50000)})


def parse_grid(p, m_arg, k_arg):
    try:
        ks = [int(v) for v in k_arg.split(",")] if k_arg else list(FULL_K)
    except ValueError:
        p.error(f"--k must be comma-separated integers, got {k_arg!r}")
    if m_arg == "synapse":
        return sorted({(synapse_width(k), k) for k in ks})
    try:
        ms = [int(v) for v in m_arg.split(",")] if m_arg else [GOAL_M]
    except ValueError:
        p.error(f"--m must be comma-separated integers or 'synapse', got {m_arg!r}")
    if any(v < 1 for v in ms + ks):
        p.error("--m and --k must be positive")
    return sorted({(m, k) for m in ms for k in ks})


# ------------------------------------------------------------------------------------- memory
def xla_bytes(compiled) -> int | None:
    """Argument + output + temporary − aliased bytes of a compiled executable (None if unknown)."""
    ma = compiled.memory_analysis()
    if ma is None:
        return None
    return ma.argument_size_in_bytes + ma.output_size_in_bytes + ma.temp_size_in_bytes - ma.alias_size_in_bytes


def device_peak() -> int | None:
    """The accelerator's cumulative peak bytes in use, where the backend reports it (GPU)."""
    dev = jax.devices()[0]
    if dev.platform == "cpu":
        return None
    try:
        stats = dev.memory_stats() or {}
    except Exception:
        return None
    return stats.get("peak_bytes_in_use")


def memory_cap_bytes(cap_gb: float | None) -> float:
    if cap_gb is not None:
        return cap_gb * 1e9
    dev = jax.devices()[0]
    if dev.platform != "cpu":
        try:
            limit = (dev.memory_stats() or {}).get("bytes_limit")
            if limit:
                return 0.9 * limit
        except Exception:
            pass
    try:
        return 0.5 * os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 8e9


def nbytes(tree) -> int:
    return sum(a.size * a.dtype.itemsize for a in jax.tree.leaves(eqx.filter(tree, eqx.is_array)))


# ---------------------------------------------------------------------------------- the models
def models(m: int, k: int, with_dense: bool):
    """(sparse Cerebellum, dense-masked Cerebellum or None): the same weights, W and LTD state."""
    sparse = Cerebellum(D, m, connectivity="sparse", k=k, ltd=True, key=jax.random.PRNGKey(0))
    if not with_dense:
        return sparse, None
    # A DenseGranule of the right shape without drawing its random weights, then holding J.
    shell = eqx.filter_eval_shape(DenseGranule, D, m, key=jax.random.PRNGKey(0))
    granule = eqx.tree_at(lambda g: g.weight, shell, jax.block_until_ready(sparse.granule.as_dense()))
    return sparse, eqx.tree_at(lambda c: c.granule, sparse, granule)


@eqx.filter_jit
def _predict(model, x):
    return jnp.argmax(jax.vmap(model)(x), axis=-1).astype(jnp.int32)


@eqx.filter_jit
def _logits_and_gradients(model, x, y):
    objective = as_objective("mse")
    logits = jax.vmap(model)(x)
    grads = jax.vmap(jax.grad(lambda xi, yi: objective.loss(model(xi), yi)))(x, y)
    return logits, grads


def agreement(sparse, dense, x, y) -> float:
    """max over {logits, ∇ₓ MSE} of max |sparse − dense| / max |dense|, on up to 64 images."""
    x, y = x[:64], y[:64]
    ls, gs = _logits_and_gradients(sparse, x, y)
    ld, gd = _logits_and_gradients(dense, x, y)
    rel = lambda a, b: float(jnp.max(jnp.abs(a - b)) / jnp.maximum(jnp.max(jnp.abs(b)), 1e-30))
    return max(rel(ls, ld), rel(gs, gd))


# ------------------------------------------------------------------------------------ the tasks
def training_task(model, features, labels):
    """adprf's compiled training epoch, with its arguments."""
    optimizer = rmsprop(0.5 / model.width)
    opt_state = optimizer.init(model.purkinje.weight)
    args = (model, opt_state, features, labels, jax.random.PRNGKey(2), optimizer, BATCH, "delta")
    return _epoch, args


def pgd_task(model, images, labels, slots):
    """The attack engine's compiled loop as `attack` builds it, fixed 40 steps (no early stop)."""
    method = PGD(steps=STEPS, step_size=STEP_SIZE, random_start=True, stop_at_success=False)
    threat = linf(EPS)
    loop = AttackLoop(
        model=model,
        x=images,
        y=labels,
        epsilons=jnp.reshape(threat.epsilon, (1,)).astype(jnp.float32),
        key=jax.random.PRNGKey(3),
        objective=as_objective("mse"),
        threat=threat,
        method=method,
        options=LoopOptions(slots=min(slots, images.shape[0]), keep_adversarial=False),
        shard=Shard.whole(images.shape[0]),  # one shard holding every example: no offset, no padding
    )
    return run_compiled, (loop,)


def measure(fn, args, repeats, cap):
    """Compile, read XLA's memory analysis, skip if over the cap, else time (median)."""
    t0 = time.perf_counter()
    compiled = fn.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    mem = xla_bytes(compiled.compiled)
    if mem is not None and mem > cap:
        return dict(skipped=f"XLA needs {mem / 1e9:.3g} GB > cap {cap / 1e9:.3g} GB", mem=mem)
    first, median, out = timed(lambda: compiled(*args), repeats)
    return dict(time=median, first=first, compile=compile_s, mem=mem, out=out, peak=device_peak())


def check_engine_call(model, images, labels, slots):
    """The compiled loop timed here is what the public `attack` runs: same successes, evals."""
    fn, (loop,) = pgd_task(model, images, labels, slots)
    records = fn(loop)
    r = attack(
        model, images, labels, method=loop.method, threat=loop.threat, objective="mse", key=loop.key, batch_size=slots
    )
    same = bool(
        jnp.all(r.success == records.success[: images.shape[0]])
        and jnp.all(r.gradient_evaluations == records.evaluations)
    )
    print(
        f"check: the timed engine call equals adprf.attacks.attack(...) on m={model.width}: "
        f"{'PASS' if same else 'FAIL'}",
        flush=True,
    )


# --------------------------------------------------------------------------------------- output
def fmt_s(v):
    return "–" if v is None else (f"{v:.3g}" if v < 100 else f"{v:.0f}")


def fmt_mb(v):
    return "n/a" if v is None else f"{v / 1e6:.3g}" if v < 1e9 else f"{v / 1e6:,.0f}"


def ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def print_table(title, rows, n_key, on_gpu):
    print(f"\n### {title}\n")
    head = (
        "| m | k | n imgs | sparse s | dense s | dense/sparse | sparse s /1k imgs | dense s /1k imgs "
        "| sparse MB | dense MB | dense/sparse | granule params MB sparse / dense | compile s sparse / dense"
    )
    cols = 13
    if on_gpu:
        head += " | GPU peak_bytes_in_use MB (cumulative) sparse / dense"
        cols += 1
    head += " | extra | agreement ≤ 1e-5 |"
    cols += 2
    print(head)
    print("|" + "---|" * cols)
    for r in rows:
        s, d = r["sparse"], r["dense"]
        n = r[n_key]
        extrap = "" if n >= 1000 else " (extrap.)"
        st = s.get("time")
        dt = d.get("time") if d else None
        per_k = lambda t: "–" if t is None else f"{fmt_s(t * 1000 / n)}{extrap}"
        dense_s = fmt_s(dt) if dt is not None else f"skipped: {d['skipped'] if d else r['dense_skip']}"
        s_s = fmt_s(st) if st is not None else f"skipped: {s['skipped']}"
        tr, mr = ratio(dt, st), ratio(d.get("mem") if d and dt is not None else None, s.get("mem"))
        line = (
            f"| {r['m']:,} | {r['k']} | {n:,} | {s_s} | {dense_s} | "
            f"{'–' if tr is None else f'{tr:.2f}×'} | {per_k(st)} | {per_k(dt)} | "
            f"{fmt_mb(s.get('mem'))} | {fmt_mb(d.get('mem')) if d else '–'} | "
            f"{'–' if mr is None else f'{mr:.1f}×'} | {fmt_mb(r['params_sparse'])} / {fmt_mb(r['params_dense'])} | "
            f"{fmt_s(s.get('compile'))} / {fmt_s(d.get('compile') if d else None)}"
        )
        if on_gpu:
            line += f" | {fmt_mb(s.get('peak'))} / {fmt_mb(d.get('peak') if d else None)}"
        agree = r["agree"]
        verdict = "–" if agree is None else f"{agree:.1e} {'PASS' if agree <= TOLERANCE else 'FAIL'}"
        line += f" | {r.get(n_key + '_extra', '')} | {verdict} |"
        print(line)


def goal_lines(task, rows):
    goal = [r for r in rows if (r["m"], r["k"]) == (GOAL_M, GOAL_K)]
    name = f"goal ({task}, k = {GOAL_K}, m = {GOAL_M:,})"
    if not goal:
        print(f"- {name}: not measured (run with --m {GOAL_M} --k {GOAL_K})")
        return
    r = goal[0]
    s, d = r["sparse"], r["dense"]
    if d is None or d.get("time") is None or s.get("time") is None:
        print(f"- {name}: not measured (a path was skipped)")
        return
    mr, tr = ratio(d["mem"], s["mem"]), ratio(d["time"], s["time"])
    mem_ok = mr is not None and mr >= GOAL_MEMORY
    print(
        f"- {name}, memory: sparse {fmt_mb(s['mem'])} MB vs dense {fmt_mb(d['mem'])} MB = 1/{mr:.1f} "
        f"(goal ≤ 1/{GOAL_MEMORY:g}): {'PASS' if mem_ok else 'FAIL'}"
    )
    pr = ratio(r["params_dense"], r["params_sparse"])
    print(
        f"- {name}, granule-layer memory (its weights and connectivity): sparse {fmt_mb(r['params_sparse'])} MB vs "
        f"dense {fmt_mb(r['params_dense'])} MB = 1/{pr:.0f} (goal ≤ 1/{GOAL_MEMORY:g}): "
        f"{'PASS' if pr >= GOAL_MEMORY else 'FAIL'}; the whole executable above also holds what both paths share "
        f"(the m × 10 readout, its optimiser state, batch × m activations)"
    )
    print(
        f"- {name}, speed: sparse {fmt_s(s['time'])} s vs dense {fmt_s(d['time'])} s = {tr:.2f}× faster "
        f"(goal ≥ {GOAL_SPEED:g}×): {'PASS' if tr >= GOAL_SPEED else 'FAIL'}"
    )


# ----------------------------------------------------------------------------------------- main
def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--m",
        default=None,
        help="granule cells, comma-separated, or 'synapse' for m = ⌊4.8e6/(k+20)⌋ per k (default: the default grid)",
    )
    p.add_argument("--k", default=None, help="inputs per granule cell, comma-separated (default 1,4,50,784 with --m)")
    p.add_argument("--n-train", type=int, default=1000, help="images in the timed training epoch")
    p.add_argument("--n-attack", type=int, default=20, help="images attacked by PGD-40")
    p.add_argument(
        "--attack-batch",
        type=int,
        default=256,
        help="examples in flight in the attack engine (the default of attack / robust_accuracy)",
    )
    p.add_argument("--repeats", type=int, default=2, help="timed calls after the warm-up (median)")
    p.add_argument("--tasks", default="train,pgd", help="comma-separated subset of train,pgd")
    p.add_argument("--max-dense-gb", type=float, default=4.0, help="skip dense paths whose d×m matrix is larger")
    p.add_argument(
        "--max-gb",
        type=float,
        default=None,
        help="skip executables whose XLA memory is larger (default: half the RAM on CPU, 90%% of the GPU's memory)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="the issue's grid: m ∈ {1000, 10000, 50000, 200000, "
        "228571} × k ∈ {1, 4, 50, 784}, n-train 60000, n-attack 1000, repeats 3 (for a GPU)",
    )
    p.add_argument("--quick", action="store_true", help="smoke test: two small configurations, < 1 min")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic images and labels")
    args = p.parse_args()

    if args.full:
        grid = [(m, k) for m in FULL_M for k in FULL_K]
        args.n_train, args.n_attack, args.repeats = 60_000, 1000, 3
    elif args.quick:
        grid = list(QUICK_GRID)
        args.n_train, args.n_attack, args.repeats = 200, 8, 1
    elif args.m is None and args.k is None:
        grid = default_grid()
    else:
        grid = parse_grid(p, args.m or str(GOAL_M), args.k)
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks or any(t not in ("train", "pgd") for t in tasks):
        p.error(f"--tasks must be a comma-separated subset of train,pgd, got {args.tasks!r}")
    if args.n_train < BATCH or args.n_attack < 1 or args.repeats < 1 or args.attack_batch < 1:
        p.error(f"need --n-train ≥ {BATCH} (one batch), --n-attack ≥ 1, --repeats ≥ 1, --attack-batch ≥ 1")
    cap = memory_cap_bytes(args.max_gb)
    on_gpu = jax.devices()[0].platform != "cpu"

    print(machine(equinox=eqx.__version__, optax=optax.__version__, numpy=np.__version__))
    print(f"grid (m, k): {', '.join(f'({m:,}, {k})' for m, k in grid)}")
    print(
        f"training: one epoch, batch {BATCH}, delta rule + RMSprop, n = {args.n_train:,}; PGD-{STEPS} L∞ "
        f"ε = {EPS}, step {STEP_SIZE}, MSE objective, all {STEPS} steps on each of n = {args.n_attack:,} "
        f"images, {min(args.attack_batch, args.n_attack)} in flight; 1 warm-up + {args.repeats} timed "
        f"calls, median; synthetic uniform images (seed {args.seed})"
    )
    print(
        "memory measure: XLA compiled memory analysis of each timed executable, argument + output + "
        "temp − alias bytes (model and images are arguments, so included)"
        + ("; plus the GPU's cumulative peak_bytes_in_use" if on_gpu else "; no device counter on CPU")
        + f". Caps: dense matrix ≤ {args.max_dense_gb:g} GB, executable ≤ {cap / 1e9:.1f} GB\n",
        flush=True,
    )

    rng = np.random.default_rng(args.seed)
    n_max = max(args.n_train, args.n_attack)
    images = jnp.asarray(rng.random((n_max, 28, 28), dtype=np.float32))
    train_labels = jnp.asarray(rng.integers(0, 10, n_max), jnp.int32)
    features = images[: args.n_train].reshape(args.n_train, D)
    attack_images = images[: args.n_attack]

    rows = {t: [] for t in tasks}
    checked_engine = False
    t_start = time.perf_counter()
    for m, k in grid:
        dense_gb = D * m * 4 / 1e9
        with_dense = dense_gb <= args.max_dense_gb
        sparse, dense = models(m, k, with_dense)
        # the attack's labels: the model's clean predictions (the attack has work to do)
        attack_labels = _predict(sparse, attack_images)
        agree = agreement(sparse, dense, attack_images, attack_labels) if dense is not None else None
        base = dict(
            m=m,
            k=k,
            agree=agree,
            n_train=args.n_train,
            n_attack=args.n_attack,
            params_sparse=nbytes(sparse.granule),
            params_dense=nbytes(dense.granule) if dense else None,
            dense_skip=f"d×m matrix {dense_gb:.3g} GB > {args.max_dense_gb:g} GB",
        )
        if agree is not None and agree > TOLERANCE:
            print(f"  WARNING: sparse and dense disagree at m={m}, k={k}: {agree:.1e} > {TOLERANCE}", flush=True)
        for task in tasks:
            row = dict(base)
            for path, model in (("sparse", sparse), ("dense", dense)):
                if model is None:
                    row[path] = None
                    continue
                if task == "train":
                    fn, fargs = training_task(model, features, train_labels[: args.n_train])
                else:
                    fn, fargs = pgd_task(model, attack_images, attack_labels, args.attack_batch)
                res = measure(fn, fargs, args.repeats, cap)
                out = res.pop("out", None)
                if out is not None and task == "train":
                    res["loss"] = float(out[2])
                elif out is not None:
                    res["fooled"] = float(jnp.mean(out.success))
                    res["evals"] = float(jnp.mean(out.evaluations))
                row[path] = res
                del out
            s, d = row["sparse"], row["dense"]
            if task == "train":
                if d is not None and "loss" in d and "loss" in s:
                    row["n_train_extra"] = f"epoch loss {s['loss']:.4f} / {d['loss']:.4f}"
            else:
                fooled = lambda r: "–" if r is None or "fooled" not in r else f"{100 * r['fooled']:.0f}%"
                evals = s.get("evals")
                row["n_attack_extra"] = (
                    f"fooled {fooled(s)} / {fooled(d)}; {'–' if evals is None else f'{evals:.0f}'} grads/img"
                )
            rows[task].append(row)
            print(
                f"  done: m={m:,}, k={k}, {task}: sparse {fmt_s(s['time']) + ' s' if 'time' in s else 'skipped'}, "
                f"dense {fmt_s(d.get('time')) + ' s' if d and 'time' in d else 'skipped'} "
                f"({time.perf_counter() - t_start:.0f} s so far)",
                flush=True,
            )
        if "pgd" in tasks and not checked_engine:  # after timing, so the compile times are cold
            check_engine_call(sparse, attack_images, attack_labels, args.attack_batch)
            checked_engine = True
        del sparse, dense

    titles = {
        "train": f"(a) one training epoch (delta rule + RMSprop, batch {BATCH})",
        "pgd": f"(b) PGD-{STEPS} L∞ (ε = {EPS}, step {STEP_SIZE}, MSE objective)",
    }
    extras = {
        "train": "extra = final epoch loss sparse / dense",
        "pgd": "extra = fraction fooled sparse / dense; gradient evaluations per image. PGD memory "
        "grows with the examples in flight (min(--attack-batch, n), here "
        f"{min(args.attack_batch, args.n_attack)}), not with n",
    }
    for task in tasks:
        print_table(titles[task], rows[task], "n_train" if task == "train" else "n_attack", on_gpu)
        print(
            f"\n{extras[task]}; agreement = max relative |sparse − dense| over logits and ∇ₓ MSE "
            f"(64 images), checked before timing; 'extrap.' = time × 1000 / n"
        )
    print(f"\nGoals (k = {GOAL_K}, m = {GOAL_M:,}; memory by XLA's analysis, time by the medians above):")
    for task in tasks:
        goal_lines("training epoch" if task == "train" else "PGD-40", rows[task])
    print(f"\ntotal wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
