"""Steady state + gradient of an SBML network over a batch of perturbed parameter sets: adprf's SBML
import (vmap, implicit gradients) against libRoadRunner's steady-state solver with finite differences.

What is compared. The SHP-1 feedback model (François et al. 2013, adprf's `SHP1Feedback()` rates)
with one ligand mixture (10^4 self ligands at τ = 0.5 s and 300 agonists at τ = 5 s), exported to
SBML by `adprf.cells.to_sbml` and read back by `read_sbml`: the same document for both sides. A
batch of `--n` (default 1,000) parameter sets: the six rates φ, b, γ, κ, S_T and C* each multiplied
by an independent log-normal factor (σ = `--spread`, default 0.3, seed `SEED`). For every set each
path computes the steady-state `output` (Σ_i C_{i,N}) and its gradient in the six rates:

- adprf: `SBMLResponse(network, inputs=rates, output="output")`, one `eqx.filter_jit`'d
  `jax.vmap(jax.value_and_grad(response))` over the batch, rtol 1e-10, atol 1e-12 (adprf's
  defaults), `throw=False` (a failed solve counts, NaN), by both routes: "newton" (the default:
  at most 64 steps of pseudo-transient continuation from the SBML initial state, then optimistix's
  Newton, implicit-function gradients; a root with a negative species counts as failed) and "ode"
  (diffrax Kvaerno5 from the SBML initial state to a steady-state event, implicit adjoint). A
  warm-up call (its excess over the median is the
  compile time), then the median of `--repeats`.
- libRoadRunner 2.x: one `RoadRunner` on the document, per set the six rates assigned and a
  steady state solved by NLEQ2 (relative tolerance 1e-12, conserved-moiety analysis off: the
  document has none; each solve starts from the previous steady state, a warm start), the gradient
  by central differences with relative step `--fd-step` (1e-4): 13 solves per set. Two ways in:
  `rr.steadyState()`, the documented call, and `rr.steadyStateSolver.solve()`, the solver alone
  (the same results; measured here, `steadyState()` spends ~0.1 s a call around a solve of
  ~0.1 ms). Run on the first `--rr-n` sets (default 200; 20 for `steadyState()`), once; its time
  per set is extrapolated to the batch and labelled so. The speed-up column is against the
  faster, `solve()`.

Agreement, against an independent reference: adprf's own closed form of `SHP1Feedback` (the
published formula, not the SBML path) at the same rates, its gradient by `jax.grad`. Output:
relative error. Gradient: normwise in elasticity units, max_k |(g − g_ref)_k x_k| / max_k |g_ref,k x_k|.
Max and median over the sets each path solved. Goal: adprf ≥ 50× faster on the batch at equal
accuracy.

Run: python benchmarks/sbml_steady_state.py              # about a minute on 2 cores
     python benchmarks/sbml_steady_state.py --n 200 --rr-n 50
     python benchmarks/sbml_steady_state.py --n 100000 --rr-n 0   # adprf alone (a GPU without libRoadRunner)
"""

import argparse
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _timing import machine, timed

from adprf import Ligands
from adprf.cells import SBMLResponse, SHP1Feedback, read_sbml, to_sbml

SEED = 20261204
RATES = ("phi", "b", "gamma", "kappa", "S_T", "C_star")
MIXTURE = ([0.5, 5.0], [1e4, 300.0])  # self ligands, agonists
GOAL = 50.0


def parameter_sets(n: int, spread: float) -> np.ndarray:
    """(n, 6) rates: SHP1Feedback's defaults × independent log-normal factors."""
    with jax.enable_x64(True):
        default = SHP1Feedback()
        base = np.array([float(getattr(default, name)) for name in RATES])
    factors = np.exp(spread * np.random.default_rng(SEED).standard_normal((n, len(RATES))))
    return base * factors


def reference(rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SHP1Feedback's closed form and its jax.grad at every set (outputs, gradients)."""

    def output(x):
        model = SHP1Feedback(**{name: x[k] for k, name in enumerate(RATES)})
        return model(Ligands.of(*MIXTURE))

    with jax.enable_x64(True):
        values, grads = jax.jit(jax.vmap(jax.value_and_grad(output)))(jnp.asarray(rates))
    return np.asarray(values), np.asarray(grads)


def adprf_path(sbml: str, rates: np.ndarray, repeats: int, solver: str):
    """(first-call s, median s, outputs, gradients, failures) of the vmapped SBMLResponse."""
    with jax.enable_x64(True):
        network = read_sbml(sbml)
        threshold = float(network.values[network.names.index("threshold")])
        response = SBMLResponse(network, inputs=RATES, output="output", threshold=threshold, solver=solver)

        def solve(x):
            return response.steady_state(x, throw=False).output

        batched = eqx.filter_jit(jax.vmap(jax.value_and_grad(solve)))
        x = jnp.asarray(rates)
        first, median, (values, grads) = timed(lambda: batched(x), repeats)
    values, grads = np.asarray(values), np.asarray(grads)
    return first, median, values, grads, int(np.sum(~np.isfinite(values)))


def roadrunner_path(sbml: str, rates: np.ndarray, fd_step: float, bare: bool):
    """(seconds, outputs, gradients, failures) of libRoadRunner + central differences, set by set:
    `steadyState()` (its documented call), or with `bare` its solver's `solve()` alone."""
    import roadrunner

    rr = roadrunner.RoadRunner(sbml)
    solver = rr.steadyStateSolver
    solver.relative_tolerance = 1e-12
    solver.auto_moiety_analysis = False  # the document has no conserved moiety (rules hold R, L_free)
    solve = solver.solve if bare else rr.steadyState

    def steady(x) -> float:
        for name, value in zip(RATES, x):
            rr[name] = float(value)
        try:
            solve()
        except RuntimeError:
            return float("nan")
        return float(rr["output"])

    start = time.perf_counter()
    values, grads = [], []
    for x in rates:
        values.append(steady(x))
        g = []
        for k in range(len(RATES)):
            h = fd_step * x[k]
            up, down = x.copy(), x.copy()
            up[k], down[k] = x[k] + h, x[k] - h
            g.append((steady(up) - steady(down)) / (2 * h))
        grads.append(g)
    seconds = time.perf_counter() - start
    values = np.asarray(values)
    return seconds, values, np.asarray(grads), int(np.sum(~np.isfinite(values)))


def errors(values, grads, rates, ref_values, ref_grads) -> tuple[float, float, float, float]:
    """(max, median) output relative error and (max, median) normwise elasticity gradient error."""
    ok = np.isfinite(values) & np.all(np.isfinite(grads), axis=1)
    if not ok.any():
        return (float("nan"),) * 4
    out = np.abs(values[ok] - ref_values[ok]) / np.abs(ref_values[ok])
    scale = np.max(np.abs(ref_grads[ok] * rates[ok]), axis=1)
    grad = np.max(np.abs((grads[ok] - ref_grads[ok]) * rates[ok]), axis=1) / scale
    return float(out.max()), float(np.median(out)), float(grad.max()), float(np.median(grad))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="parameter sets in the batch")
    parser.add_argument(
        "--rr-n", type=int, default=200, help="sets libRoadRunner solves (extrapolated); 0: adprf only (e.g. on a GPU)"
    )
    parser.add_argument("--spread", type=float, default=0.3, help="σ of the log-normal rate factors")
    parser.add_argument("--fd-step", type=float, default=1e-4, help="relative finite-difference step")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if args.rr_n < 0 or args.n < 1:
        parser.error(f"--n must be ≥ 1 and --rr-n ≥ 0, got --n {args.n}, --rr-n {args.rr_n}")

    print(machine(equinox=eqx.__version__, numpy=np.__version__))  # before the work: the load it found
    with jax.enable_x64(True):
        sbml = to_sbml(SHP1Feedback(), Ligands.of(*MIXTURE))
    rates = parameter_sets(args.n, args.spread)
    ref_values, ref_grads = reference(rates)
    rr_n = min(args.rr_n, args.n)
    rows, compile_s = [], {}
    for solver in ("newton", "ode"):
        first, median, values, grads, failed = adprf_path(sbml, rates, args.repeats, solver)
        compile_s[solver] = first - median
        label = f"adprf SBMLResponse, vmap + implicit grad ({solver})"
        rows.append((label, args.n, median, errors(values, grads, rates, ref_values, ref_grads), failed))
    for bare, label in ((True, "steadyStateSolver.solve()"), (False, "steadyState()")) if rr_n > 0 else ():
        n = rr_n if bare else min(rr_n, 20)  # steadyState() costs ~0.1 s a call
        seconds, values, grads, failed = roadrunner_path(sbml, rates[:n], args.fd_step, bare)
        e = errors(values, grads, rates[:n], ref_values[:n], ref_grads[:n])
        rows.append((f"libRoadRunner {label} + central FD (13 solves/set)", n, seconds / n * args.n, e, failed))
    peer = rows[2][2] if rr_n > 0 else float("nan")  # the faster libRoadRunner route, its batch time

    print(f"SHP-1 feedback (N = 5, m = 1) from SBML, {args.n} parameter sets (6 rates, log-normal σ = {args.spread})")
    print("steady-state output + gradient in the 6 rates; reference: the closed form of SHP1Feedback (jax.grad)\n")
    print(
        "| path | sets solved | time per set | batch time | speed-up vs libRoadRunner solve() "
        "| output err max / median | gradient err max / median | failed |"
    )
    print("|" + "---|" * 8)
    for name, n, batch, e, fail in rows:
        label = f"{batch:.2f} s" + (" (extrapolated)" if n < args.n else "")
        per_set = 1e3 * batch / args.n
        speed = f"{peer / batch:.1f}×" if rr_n > 0 else "—"
        print(
            f"| {name} | {n} | {per_set:.3f} ms | {label} | {speed} | {e[0]:.1e} / {e[1]:.1e} | "
            f"{e[2]:.1e} / {e[3]:.1e} | {fail} |"
        )
    print("\nadprf compile (first call − median): " + ", ".join(f"{k} {v:.1f} s" for k, v in compile_s.items()))
    if rr_n == 0:
        print("goal: not judged (--rr-n 0: libRoadRunner not run; compare with a CPU run's solve() row)")
        return
    default = rows[0]
    accurate = default[4] == 0 and default[3][2] <= max(rows[2][3][2], 1e-6)
    verdict = "PASS" if peer / default[2] >= GOAL and accurate else "FAIL"
    print(
        f"goal: adprf (newton, the default) ≥ {GOAL:.0f}× faster than libRoadRunner's solver at equal or better "
        f"accuracy: {verdict} ({peer / default[2]:.1f}×)"
    )


if __name__ == "__main__":
    main()
