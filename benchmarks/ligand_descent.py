"""The v1 ligand descent on the full (N, m) grid: adprf's engine against a plain NumPy loop.

What is compared. Rademaker et al. 2019, v1 figure "ligand distribution at the boundary": R = 10201
ligands (30% agonists at 3.5 ± 0.1, the rest self |N(0, 1/3)|), τ_c = 3, for every (N, m) with
0 ≤ m < N ≤ 5: τ ← τ − 0.2 ∂T/∂τ on the ligands with clean τ < τ_c, τ < 0 reset to 0.1, until the
first T ≤ 1, at most 10⁶ iterations. adprf runs it as the `ligand-boundary` experiment's paper
preset does (`adprf.analysis.boundary_descent`: one engine call per (N, m), one
compilation per model, float64). The reference is what a user would write: a NumPy loop in float64,
vectorised over the ligands, with the closed-form gradient, one (N, m) after another.

Checks. Both must stop at the same iteration (±1) with close final binding times (max |Δτ|).
The NumPy loop may be cut after `--max-numpy-seconds` per model: its time is then an *estimate*
(seconds per iteration so far × adprf's iteration count, marked "est."), and the distributions
are compared at the cut: adprf is run again with its cap set to the iterations NumPy completed.

Timing. adprf's compilation (15 models) is measured first, by a call with the same cap on a
distribution that needs no iteration (self ligands only: T ≤ 1 from the start); every timed call
is then warm.
Each row's adprf time is that model's engine call; the grid row is the sum (one Python loop over
the 15 calls). The ratio is NumPy s / adprf s; the median is taken over the models that iterate
(m = 0 needs no iteration: both sides only evaluate T once).

Where the time goes. A last table gives microseconds per iteration for one model: the NumPy loop,
a bare `lax.fori_loop` of the same closed-form update (a floor for XLA on this machine, not an
alternative implementation: no stopping test, no engine), the engine with a constant model (its
own bookkeeping per iteration) and the engine on T_{N,m} (autodiff gradient of τ and L): in
float64, with float32 ligands (over 10⁵ iterations float32 rounding moves the stopping iteration
by several steps, so the comparison above is float64), and wrapped in `OneOf` as the quick preset
runs it (one compilation for the grid; its `lax.switch` copies operands every iteration).

Run: python benchmarks/ligand_descent.py                      # full grid, R = 10201, cap 10⁶
     python benchmarks/ligand_descent.py --max-numpy-seconds 60   # cut long NumPy runs, estimate
     python benchmarks/ligand_descent.py --quick              # smoke test: R = 1681, cap 40,000
"""

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
from _timing import machine

from adprf import Ligands, v1_mixture
from adprf.analysis import boundary_descent
from adprf.cells import proofreading_grid

TAU_C, STEP, RESET = 3.0, 0.2, 0.1
GOAL = 10.0  # issue 15: the median over the models that iterate, against the NumPy loop


def initial_distribution(seed: int, n_ligands: int) -> Ligands:
    """The v1 distribution at random positions of the image, as the `ligand-boundary` experiment
    draws it (call inside `jax.enable_x64(True)`: float64)."""
    key = jax.random.PRNGKey(seed)
    ligands = v1_mixture(key, n_ligands, 0.3)
    order = jax.random.permutation(jax.random.fold_in(key, 1), ligands.size)
    return Ligands(ligands.tau[order].astype(jnp.float64), ligands.amount[order].astype(jnp.float64))


def numpy_descent(tau, amount, N, m, *, max_iterations, max_seconds=float("inf")):
    """The v1 descent as a user would write it in NumPy (float64, vectorised over ligands).

    Returns (final τ, iterations applied, reached T ≤ 1, seconds, finished): `finished` is False
    when `max_seconds` cut the loop before it stopped or reached `max_iterations`.
    """
    tau = np.array(tau, np.float64)
    amount = np.asarray(amount, np.float64)
    movable = tau < TAU_C
    scale = TAU_C ** (N - m)
    start = time.perf_counter()
    for iteration in range(max_iterations):
        s_n, s_m = np.sum(amount * tau**N), np.sum(amount * tau**m)
        if s_n / s_m / scale <= 1.0:
            return tau, iteration, True, time.perf_counter() - start, True
        adaptive = m * tau ** (m - 1) * s_n if m >= 1 else 0.0
        grad = amount * (N * tau ** (N - 1) * s_m - adaptive) / (s_m**2 * scale)
        tau = np.where(movable, tau - STEP * grad, tau)
        tau[tau < 0] = RESET
        if iteration % 1000 == 999 and time.perf_counter() - start > max_seconds:
            return tau, iteration + 1, False, time.perf_counter() - start, False
    s_n, s_m = np.sum(amount * tau**N), np.sum(amount * tau**m)
    return tau, max_iterations, bool(s_n / s_m / scale <= 1.0), time.perf_counter() - start, True


def _closed_form_step(tau, amount, movable, N, m):
    """One v1 update with the closed-form gradient (jnp; used by the floor below)."""
    scale = TAU_C ** (N - m)
    s_n, s_m = jnp.sum(amount * tau**N), jnp.sum(amount * tau**m)
    adaptive = m * tau ** (m - 1) * s_n if m >= 1 else 0.0
    tau = jnp.where(movable, tau - STEP * amount * (N * tau ** (N - 1) * s_m - adaptive) / (s_m**2 * scale), tau)
    return jnp.where(tau < 0, RESET, tau)


def where_the_time_goes(clean: Ligands, N: int, m: int, iterations: int) -> dict:
    """Microseconds per iteration, for one model and a fixed number of iterations (no stopping):
    NumPy; a bare `lax.fori_loop` of the closed-form update (the floor for XLA on this machine:
    no engine, no autodiff, only τ in the carry); the engine with a constant model (its own
    per-iteration bookkeeping); and the engine on T_{N,m}."""
    import equinox as eqx

    from adprf.attacks import GradientDescent, attack, turn_off, v1_descent
    from adprf.cells import AdaptiveProofreading, OneOf

    tau, amount = jnp.asarray(clean.tau), jnp.asarray(clean.amount)
    out = {}
    t0 = time.perf_counter()
    numpy_descent(np.asarray(tau), np.asarray(amount), N, m, max_iterations=iterations, max_seconds=float("inf"))
    out["NumPy loop"] = time.perf_counter() - t0

    bare = jax.jit(
        lambda t: jax.lax.fori_loop(0, iterations, lambda _, x: _closed_form_step(x, amount, t < TAU_C, N, m), t)
    )
    jax.block_until_ready(bare(tau))
    t0 = time.perf_counter()
    jax.block_until_ready(bare(tau))
    out["bare lax loop (floor)"] = time.perf_counter() - t0

    class Constant(eqx.Module):
        def __call__(self, ligands):
            return 2.0 + 0.0 * jnp.sum(ligands.tau)

    batch = jax.tree.map(lambda a: a[None], clean)
    batch32 = jax.tree.map(lambda a: np.asarray(a, np.float32), batch)
    method, threat = GradientDescent(step_size=STEP, steps=iterations), v1_descent(TAU_C, RESET)
    model = AdaptiveProofreading(N, m)
    family = OneOf([AdaptiveProofreading(n, k) for n, k in proofreading_grid(5)], proofreading_grid(5).index((N, m)))
    for name, f, x, x64 in [
        ("engine, constant model", Constant(), batch, True),
        (f"engine, T_{{{N},{m}}}", model, batch, True),
        (f"engine, T_{{{N},{m}}}, float32", model, batch32, False),
        (f"engine, T_{{{N},{m}}} in OneOf (one compilation for the grid)", family, batch, True),
    ]:
        with jax.enable_x64(x64):  # float32: the engine's own arrays in float32 too
            attack(f, x, method=method, threat=threat, objective=turn_off(1.0), key=jax.random.PRNGKey(0))
            t0 = time.perf_counter()
            attack(f, x, method=method, threat=threat, objective=turn_off(1.0), key=jax.random.PRNGKey(0))
            out[name] = time.perf_counter() - t0
    return {name: 1e6 * seconds / iterations for name, seconds in out.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n-ligands", type=int, default=10201, help="R, a perfect square (v1: 10201)")
    p.add_argument("--max-iterations", type=int, default=1_000_000, help="cap per model (v1: 10⁶)")
    p.add_argument(
        "--max-numpy-seconds",
        type=float,
        default=float("inf"),
        help="cut a NumPy run after this many seconds and estimate its time (default: never)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--profile-model",
        type=int,
        nargs=2,
        default=(5, 4),
        metavar=("N", "m"),
        help="the model of the per-iteration breakdown (default 5 4)",
    )
    p.add_argument("--profile-iterations", type=int, default=5000, help="iterations of the breakdown")
    p.add_argument("--quick", action="store_true", help="smoke test: R = 1681, cap 40,000")
    args = p.parse_args()
    if args.quick:
        args.n_ligands, args.max_iterations = 1681, 40_000
    if not (args.n_ligands >= 4 and args.max_iterations >= 1 and args.max_numpy_seconds > 0):
        p.error("--n-ligands must be ≥ 4, --max-iterations ≥ 1 and --max-numpy-seconds > 0")

    print(machine(numpy=np.__version__))
    print(
        f"v1 descent, R = {args.n_ligands}, τ_c = {TAU_C}, step {STEP}, reset {RESET}, cap {args.max_iterations:,}, "
        f"float64 on both sides; NumPy cut after {args.max_numpy_seconds:g} s per model\n"
    )
    grid = proofreading_grid(5)
    with jax.enable_x64(True):
        clean = initial_distribution(args.seed, args.n_ligands)
        self_only = Ligands(jnp.minimum(clean.tau, 1.0), clean.amount)  # T ≤ 1 for every (N, m)
        t0 = time.perf_counter()
        boundary_descent(self_only, grid, max_iterations=args.max_iterations, share_compilation=False)
        compile_s = time.perf_counter() - t0
        print(f"adprf compilation (15 models, no iterations): {compile_s:.2f} s", flush=True)
        t0 = time.perf_counter()
        descent = boundary_descent(clean, grid, max_iterations=args.max_iterations, share_compilation=False)
        adprf_total = time.perf_counter() - t0
        print(f"adprf grid: {adprf_total:.1f} s, {int(np.sum(descent.iterations)):,} iterations", flush=True)

        tau0, amount0 = np.asarray(clean.tau), np.asarray(clean.amount)
        rows = []
        for i, (n, m) in enumerate(grid):
            k_adprf = int(descent.iterations[i])
            tau_np, k_np, reached_np, np_s, finished = numpy_descent(
                tau0, amount0, n, m, max_iterations=args.max_iterations, max_seconds=args.max_numpy_seconds
            )
            if finished:
                reference = np.asarray(descent.tau[i])
                estimate = False
            else:  # compare at the cut, estimate the full NumPy time from its rate
                cut = boundary_descent(clean, [(n, m)], max_iterations=k_np, share_compilation=False)
                reference = np.asarray(cut.tau[0])
                np_s = np_s / k_np * k_adprf
                estimate = True
            a_s = float(descent.seconds[i])
            rows.append(
                dict(
                    n=n,
                    m=m,
                    k_adprf=k_adprf,
                    k_np=k_np,
                    finished=finished,
                    dtau=float(np.max(np.abs(reference - tau_np))),
                    np_s=np_s,
                    a_s=a_s,
                    ratio=np_s / a_s,
                    estimate=estimate,
                    reached=bool(descent.reached[i]),
                    reached_np=reached_np,
                )
            )
            print(
                f"  done ({n},{m}): {k_adprf:,} iterations, NumPy {np_s:.2f} s{' (est.)' if estimate else ''}, "
                f"adprf {a_s:.2f} s",
                flush=True,
            )

    print(
        "\n| N | m | iterations adprf | iterations NumPy | stopped at | max |Δτ| "
        "| NumPy s | adprf s | ratio NumPy/adprf |"
    )
    print("|" + "---|" * 9)
    for r in rows:
        k_np = f"{r['k_np']:,}" + ("" if r["finished"] else " (cut)")
        stop = "T ≤ 1" if r["reached"] else "cap"
        est = " est." if r["estimate"] else ""
        print(
            f"| {r['n']} | {r['m']} | {r['k_adprf']:,} | {k_np} | {stop} | {r['dtau']:.1e} | {r['np_s']:.2f}{est} "
            f"| {r['a_s']:.3f} | {r['ratio']:.2f}×{est} |"
        )
    np_total = sum(r["np_s"] for r in rows)
    a_total = sum(r["a_s"] for r in rows)
    iterating = [r["ratio"] for r in rows if r["k_adprf"] > 0]
    median = statistics.median(iterating) if iterating else float("nan")
    any_est = any(r["estimate"] for r in rows)
    est = " (incl. est.)" if any_est else ""
    print(
        f"| all | | {sum(r['k_adprf'] for r in rows):,} | | | {max(r['dtau'] for r in rows):.1e} | {np_total:.1f}{est} "
        f"| {a_total:.1f} | {np_total / a_total:.2f}×{est} |"
    )
    print(
        f"\nadprf compilation: {compile_s:.2f} s (not in the table); "
        f"whole grid call incl. Python loop: {adprf_total:.1f} s"
    )
    print(
        f"median ratio over the {len(iterating)} models that iterate: {median:.2f}×{est}; "
        f"goal ≥ {GOAL:g}× -> {'met' if median >= GOAL else 'NOT met'}"
    )
    ok = all(abs(r["k_adprf"] - r["k_np"]) <= 1 or not r["finished"] for r in rows) and all(
        r["dtau"] < 1e-6 for r in rows
    )
    print(f"same final distributions (iterations ±1 where NumPy finished, max |Δτ| < 1e-6): {'PASS' if ok else 'FAIL'}")

    n, m = args.profile_model
    with jax.enable_x64(True):
        per_iteration = where_the_time_goes(clean, n, m, args.profile_iterations)
    print(
        f"\nWhere the time goes (T_{{{n},{m}}}, R = {args.n_ligands}, "
        f"{args.profile_iterations:,} iterations, float64):\n"
    )
    print("| loop | µs per iteration |\n|---|---|")
    for name, us in per_iteration.items():
        print(f"| {name} | {us:.1f} |")


if __name__ == "__main__":
    main()
