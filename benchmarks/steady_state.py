"""Steady states of the ODE cell models: adprf (Newton, ODE) against scipy's BDF with finite differences.

What is compared. A batch of `--n` (default 4,096) two-species mixtures, agonists (τ1, L1) plus
a second species (τ2, L2) that shares the receptors and the feedback, drawn from a fixed seed
(`SEED`): τ1 ~ U[3, 10] s, L1 ~ log-U[1e2, 1e4], τ2 ~ U[0.05, 3] s, L2 ~ log-U[1e2, 1e5]
(agonists at or above τ_c with anything from self-like to near-threshold ligands in up to 1000-fold
excess: the antagonism regime). Two models: `SHP1Feedback()` (the default rates of François et al.
2013, N = 5, m = 1) and `KinaseFeedback(4, 2)` (default rates; the strong-feedback limit is
T_{5,3}). For every mixture each path computes the steady-state output Σ_i C_{i,N} and its gradient
with respect to the four inputs (τ1, τ2, L1, L2):

- adprf: one `eqx.filter_jit`'d `jax.vmap(jax.value_and_grad(...))` over the batch, for
  `method="newton"` (optimistix Newton, implicit-function gradients) and `method="ode"` (diffrax
  Kvaerno5 to a steady-state event, implicit adjoint), and `method="closed-form"` as a reference
  row; rtol = 1e-10, atol = 1e-12 (adprf's defaults), `throw=False` so that a failed solve is
  counted (result code ≠ 0, NaN output) instead of raising. One warm-up call (its excess over
  the median is reported as compile time), then the median of `--repeats` timed calls.
- scipy, as a user would write it without adprf: the same ODEs, written here in NumPy from the
  published equations (François et al. 2013; Lalanne & François 2013; no adprf code: the rates
  are restated as numbers and only compared with the adprf models' fields), integrated by
  `solve_ivp(method="BDF")` with the analytic Jacobian (checked against finite differences at
  start-up), rtol = 1e-10 and
  atol = 1e-12 × a per-component magnitude (the feedback-free chain, `Reference.magnitude`; a
  single absolute atol would be meaningless for the kinase model, whose output is ~1e-9
  molecules, and adprf applies its atol in the same kind of units), from the unbound state (no
  complexes, kinase fully active) to t_end = `T_END` s, 10^4 times the slowest relaxation time
  met in these ranges (steps near equilibrium grow 10× each, so the tail costs a few steps, and
  the end point is the BDF Newton fixed point, i.e. the steady state to within its Newton
  tolerance, which keeps finite differences clean). Each end point is checked: the Newton
  correction |J⁻¹f| must be below atol_j + rtol |y_j| in every component, else the solve counts
  as not steady. Gradient: central finite differences in each input, step h·x_k with relative
  h = `--fd-step` (default 1e-4; truncation error ~h² ≈ 1e-8; the BDF end points agree with the
  closed form to ~1e-15, so rounding noise is ~1e-15/h ≈ 1e-11), so
  9 solves per mixture. scipy runs on the first `--scipy-n` mixtures only, once; its time per
  mixture is extrapolated to the batch and labelled so.

Agreement. Output: relative error |y_a − y_b| / |y_b|. Gradient: normwise relative error in
elasticity units, max_k |(g_a − g_b)_k x_k| / max_k |g_b,k x_k| (the four inputs have different
units, and a componentwise error would blow up where a sensitivity is nearly zero, e.g. the
agonist amount under near-absolute discrimination). Each is reported as max and median over the
mixtures compared (failed solves excluded and counted), PASS iff the max ≤ 1e-6. The adprf paths
are compared with adprf's closed form over the whole batch; scipy with everything on its
subsample; and "closed-form FD" (the same central differences applied to adprf's closed form)
measures the finite-difference error alone, so that scipy's gradient rows can be read.

Run: python benchmarks/steady_state.py [--n 4096] [--scipy-n 48] [--repeats 3] [--fd-step 1e-4]
     python benchmarks/steady_state.py --quick          # smoke test: n=256, scipy-n=4, 1 repeat
"""

import argparse
import time

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optimistix
import scipy
from _timing import machine, timed
from scipy.integrate import solve_ivp

from adprf import RESULTS, Ligands
from adprf.cells import KinaseFeedback, SHP1Feedback, steady_state

SEED = 20240607
RTOL, ATOL = 1e-10, 1e-12
T_END = 1e5  # s; slowest relaxation time in these ranges ≈ 10 s (1/τ1)
TOLERANCE = 1e-6  # agreement goal (relative)
GOALS = {"newton": 1000.0, "ode": 50.0}
INPUTS = ("τ1", "τ2", "L1", "L2")


def mixtures(n: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """`n` two-species mixtures: (tau, amount), each of shape (n, 2), float64."""
    rng = np.random.default_rng(seed)
    tau = np.stack([rng.uniform(3.0, 10.0, n), rng.uniform(0.05, 3.0, n)], axis=1)
    amount = np.stack([10 ** rng.uniform(2.0, 4.0, n), 10 ** rng.uniform(2.0, 5.0, n)], axis=1)
    return tau, amount


# ---------------------------------------------------------------------------------------------
# The scipy reference: the ODEs in NumPy, written from the published equations (flat state y).
# ---------------------------------------------------------------------------------------------


def single_species_bound(tau, amount, kappa, receptors):
    """C_T = ½[(L + R + 1/(κτ)) − √((L + R + 1/(κτ))² − 4LR)] (one species alone), for magnitudes."""
    a = amount + receptors + 1 / (kappa * tau)
    return 0.5 * (a - np.sqrt(a * a - 4 * amount * receptors))


def chain_weights(tau, forward):
    """Fractions C_n / C_T of an irreversible chain with forward rates `forward` (N,) and
    unbinding 1/τ: Π_{k<n} f_k τ/(1 + f_k τ) · 1/(1 + f_n τ), f_N = 0."""
    f = np.concatenate([forward, [0.0]])
    passing = np.concatenate([[1.0], np.cumprod(forward * tau / (1 + forward * tau))])
    return passing / (1 + f * tau)


class Reference:
    """A model's ODE in NumPy: `rhs(t, y, tau, amount)`, `jacobian(...)`, `start`, `magnitude`
    (per-component size, for the absolute tolerance) and `output`, on a flat state y."""

    def binding(self, C, amount):
        """κ (L_i − C_{T,i})(R − Σ_j C_{T,j}) and its derivative blocks ∂flux_i/∂C_{j,n}."""
        bound = C.sum(axis=1)
        free = self.R - bound.sum()
        flux = self.kappa * (amount - bound) * free
        k = len(amount)
        dflux = -self.kappa * (amount - bound)[:, None] * np.ones((k, k)) - self.kappa * free * np.eye(k)
        return flux, dflux  # dflux[i, j]: the same for every n of species j


class SHP1Reference(Reference):
    """SHP-1 feedback (François et al. 2013): dC_0 = κ(L − C_T)(R − ΣC_T) − (φ + 1/τ)C_0 + βC_1,
    dC_n = φC_{n−1} − (φ + 1/τ + β)C_n + βC_{n+1}, dC_N = φC_{N−1} − (1/τ + β)C_N,
    β = b + γS, S = S_T X/(X + C*), X = Σ_i C_{i,m}; y = C.ravel()."""

    def __init__(self, N=5, m=1, phi=0.09, b=0.04, gamma=1.2e-6, kappa=1e-4, R=3e4, S_T=6e5, C_star=500.0):
        self.N, self.m, self.phi, self.b, self.gamma = N, m, phi, b, gamma
        self.kappa, self.R, self.S_T, self.C_star = kappa, R, S_T, C_star

    def _beta(self, C):
        X = C[:, self.m].sum()
        return self.b + self.gamma * self.S_T * X / (X + self.C_star), self.gamma * self.S_T * self.C_star / (
            X + self.C_star
        ) ** 2

    def rhs(self, t, y, tau, amount):
        C = y.reshape(len(tau), self.N + 1)
        flux, _ = self.binding(C, amount)
        beta, _ = self._beta(C)
        up, down = self.phi * C[:, :-1], beta * C[:, 1:]
        dC = -C / tau[:, None]
        dC[:, 0] += flux
        dC[:, :-1] += down - up
        dC[:, 1:] += up - down
        return dC.ravel()

    def jacobian(self, t, y, tau, amount):
        k, n1 = len(tau), self.N + 1
        C = y.reshape(k, n1)
        _, dflux = self.binding(C, amount)
        beta, dbeta = self._beta(C)
        J = np.zeros((k, n1, k, n1))
        J[:, 0, :, :] += dflux[:, :, None]
        steps = np.arange(self.N)
        for i in range(k):
            block = np.diag(np.full(n1, -1 / tau[i]))
            block[steps, steps] -= self.phi
            block[steps + 1, steps] += self.phi
            block[steps, steps + 1] += beta
            block[steps + 1, steps + 1] -= beta
            J[i, :, i, :] += block
            dbeta_rhs = np.zeros(n1)  # ∂(dC_{i,·})/∂β
            dbeta_rhs[:-1] += C[i, 1:]
            dbeta_rhs[1:] -= C[i, 1:]
            J[i, :, :, self.m] += dbeta_rhs[:, None] * dbeta
        return J.reshape(k * n1, k * n1)

    def start(self, tau, amount):
        return np.zeros(len(tau) * (self.N + 1))

    def magnitude(self, tau, amount):
        bound = single_species_bound(tau, amount, self.kappa, self.R)
        return np.concatenate([c * chain_weights(t, np.full(self.N, self.phi)) for c, t in zip(bound, tau)])

    def output(self, y, tau):
        return y.reshape(len(tau), self.N + 1)[:, -1].sum()


class KinaseReference(Reference):
    """Kinase feedback (Lalanne & François 2013): a KPR chain per species (forward φ,
    unbinding 1/τ) whose last step C_{N−1} → C_N runs at αK; dK = ε(K_tot − K) − δ(Σ_i C_{i,m})K;
    binding as for SHP-1; y = [C.ravel(), K]."""

    def __init__(self, N=4, m=2, phi=0.01, kappa=1e-6, R=1e4, alpha=0.1, K_tot=1.0, epsilon=1e-3, delta=1e4):
        self.N, self.m, self.phi, self.kappa, self.R = N, m, phi, kappa, R
        self.alpha, self.K_tot, self.epsilon, self.delta = alpha, K_tot, epsilon, delta

    def _forward(self, K):
        return np.concatenate([np.full(self.N - 1, self.phi), [self.alpha * K]])

    def rhs(self, t, y, tau, amount):
        C, K = y[:-1].reshape(len(tau), self.N + 1), y[-1]
        flux, _ = self.binding(C, amount)
        up = self._forward(K) * C[:, :-1]
        dC = -C / tau[:, None]
        dC[:, 0] += flux
        dC[:, :-1] -= up
        dC[:, 1:] += up
        dK = self.epsilon * (self.K_tot - K) - self.delta * C[:, self.m].sum() * K
        return np.concatenate([dC.ravel(), [dK]])

    def jacobian(self, t, y, tau, amount):
        k, n1 = len(tau), self.N + 1
        C, K = y[:-1].reshape(k, n1), y[-1]
        _, dflux = self.binding(C, amount)
        forward = self._forward(K)
        steps = np.arange(self.N)
        JC = np.zeros((k, n1, k, n1))
        JC[:, 0, :, :] += dflux[:, :, None]
        JK = np.zeros((k, n1))  # ∂(dC)/∂K
        for i in range(k):
            block = np.diag(np.full(n1, -1 / tau[i]))
            block[steps, steps] -= forward
            block[steps + 1, steps] += forward
            JC[i, :, i, :] += block
            JK[i, self.N - 1] -= self.alpha * C[i, self.N - 1]
            JK[i, self.N] += self.alpha * C[i, self.N - 1]
        J = np.zeros((k * n1 + 1, k * n1 + 1))
        J[:-1, :-1] = JC.reshape(k * n1, k * n1)
        J[:-1, -1] = JK.ravel()
        J[-1, self.m : -1 : n1] = -self.delta * K
        J[-1, -1] = -self.epsilon - self.delta * C[:, self.m].sum()
        return J

    def start(self, tau, amount):
        return np.concatenate([np.zeros(len(tau) * (self.N + 1)), [self.K_tot]])

    def magnitude(self, tau, amount):
        bound = single_species_bound(tau, amount, self.kappa, self.R)
        free_chain = [c * chain_weights(t, self._forward(self.K_tot)) for c, t in zip(bound, tau)]
        K = self.K_tot / (1 + self.delta * sum(c[self.m] for c in free_chain) / self.epsilon)
        chain = [c * chain_weights(t, self._forward(K)) for c, t in zip(bound, tau)]
        return np.concatenate(chain + [[K]])

    def output(self, y, tau):
        return y[:-1].reshape(len(tau), self.N + 1)[:, -1].sum()


def check_jacobian(ref, tau, amount, seed=0):
    """Max difference between the analytic Jacobian and central differences of rhs (relative
    step 1e-6) at a random positive state y of the right magnitude, in scaled units: entries
    J_ij y_j, relative to the largest |J_ik y_k| of their row (absolute entries would be drowned
    by rounding where a tiny C_N sits beside C_0 ~ 10^4)."""
    y = ref.magnitude(tau, amount) * np.random.default_rng(seed).uniform(0.5, 1.5, len(ref.start(tau, amount)))
    J = ref.jacobian(0.0, y, tau, amount)
    numeric = np.empty_like(J)
    for j in range(len(y)):
        h = 1e-6 * y[j]
        e = np.zeros_like(y)
        e[j] = h
        numeric[:, j] = (ref.rhs(0.0, y + e, tau, amount) - ref.rhs(0.0, y - e, tau, amount)) / (2 * h)
    scaled = np.abs(J * y)
    return float(np.max(np.abs(J - numeric) * y / np.max(scaled, axis=1, keepdims=True)))


def scipy_output(ref, tau, amount):
    """(output, steady?, BDF steps) from the unbound state to T_END."""
    atol = ATOL * ref.magnitude(tau, amount)
    sol = solve_ivp(
        ref.rhs,
        (0.0, T_END),
        ref.start(tau, amount),
        method="BDF",
        rtol=RTOL,
        atol=atol,
        jac=ref.jacobian,
        args=(tau, amount),
    )
    y = sol.y[:, -1]
    correction = np.linalg.solve(ref.jacobian(0.0, y, tau, amount), ref.rhs(0.0, y, tau, amount))
    steady = bool(sol.success and np.all(np.abs(correction) <= atol + RTOL * np.abs(y)))
    return ref.output(y, tau), steady, len(sol.t) - 1


def scipy_value_and_grad(ref, tau, amount, h):
    """Output, central-difference gradient in (τ1, τ2, L1, L2), all 9 solves steady?, mean steps."""
    value, steady, steps = scipy_output(ref, tau, amount)
    x = np.concatenate([tau, amount])
    grad = np.empty(4)
    for k in range(4):
        ends = []
        for sign in (1, -1):
            xk = x.copy()
            xk[k] += sign * h * x[k]
            out, ok, st = scipy_output(ref, xk[:2], xk[2:])
            ends.append(out)
            steady, steps = steady and ok, steps + st
        grad[k] = (ends[0] - ends[1]) / (2 * h * x[k])
    return value, grad, steady, steps / 9


def run_scipy(ref, tau, amount, h):
    """All mixtures of the subsample: values, gradients, steady flags, steps, seconds."""
    t0 = time.perf_counter()
    rows = [scipy_value_and_grad(ref, t, a, h) for t, a in zip(tau, amount)]
    seconds = time.perf_counter() - t0
    values, grads, steady, steps = (np.asarray(c) for c in zip(*rows))
    return values, grads, steady, steps, seconds


# ---------------------------------------------------------------------------------------------
# adprf
# ---------------------------------------------------------------------------------------------


def adprf_value_and_grad(model, method):
    """One compiled call: value, gradient (n, 4) in (τ1, τ2, L1, L2), whether each solve succeeded, steps."""

    def output(ligands):
        sol = steady_state(model, ligands, method=method, rtol=RTOL, atol=ATOL, throw=False)
        return sol.output, (sol.result == RESULTS.successful, sol.steps)

    batched = jax.vmap(jax.value_and_grad(output, has_aux=True))

    @eqx.filter_jit
    def run(ligands):
        (value, (result, steps)), grad = batched(ligands)
        return value, jnp.concatenate([grad.tau, grad.amount], axis=1), result, steps

    return run


def adprf_closed_form_fd(model, tau, amount, h):
    """Central differences of adprf's closed form, with the scipy side's step: the FD error alone."""
    out = eqx.filter_jit(jax.vmap(lambda lig: steady_state(model, lig, throw=False).output))
    x = np.concatenate([tau, amount], axis=1)
    grad = np.empty_like(x)
    for k in range(4):
        ends = []
        for sign in (1, -1):
            xk = x.copy()
            xk[:, k] += sign * h * x[:, k]
            ends.append(np.asarray(out(Ligands(jnp.asarray(xk[:, :2]), jnp.asarray(xk[:, 2:])))))
        grad[:, k] = (ends[0] - ends[1]) / (2 * h * x[:, k])
    return grad


# ---------------------------------------------------------------------------------------------
# Agreement
# ---------------------------------------------------------------------------------------------


def agreement(a, b, x):
    """((value errors), (gradient errors)) over the mixtures where both are finite.
    a, b: (values (n,), gradients (n, 4)); x: inputs (n, 4)."""
    (va, ga), (vb, gb) = a, b
    ok = np.isfinite(va) & np.isfinite(vb) & np.all(np.isfinite(ga), axis=1) & np.all(np.isfinite(gb), axis=1)
    value_err = np.abs(va[ok] - vb[ok]) / np.abs(vb[ok])
    grad_err = np.max(np.abs((ga[ok] - gb[ok]) * x[ok]), axis=1) / np.max(np.abs(gb[ok] * x[ok]), axis=1)
    return value_err, grad_err, int(ok.sum())


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=4096, help="mixtures in the batch")
    p.add_argument("--scipy-n", type=int, default=48, help="mixtures solved by scipy (time extrapolated)")
    p.add_argument("--repeats", type=int, default=3, help="timed adprf calls after the warm-up")
    p.add_argument("--fd-step", type=float, default=1e-4, help="relative step of scipy's central differences")
    p.add_argument("--models", default="shp1,kinase", help="comma-separated subset of shp1,kinase")
    p.add_argument("--quick", action="store_true", help="smoke test: n=256, scipy-n=4, repeats=1")
    args = p.parse_args()
    if args.quick:
        args.n, args.scipy_n, args.repeats = 256, 4, 1
    if not (args.n >= 1 and 1 <= args.scipy_n <= args.n and args.repeats >= 1 and 0 < args.fd_step < 0.1):
        p.error("need --n ≥ 1, 1 ≤ --scipy-n ≤ --n, --repeats ≥ 1 and 0 < --fd-step < 0.1")
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    if not names or any(m not in ("shp1", "kinase") for m in names):
        p.error(f"--models must be a comma-separated subset of shp1,kinase, got {args.models!r}")

    print(
        machine(
            equinox=eqx.__version__,
            diffrax=diffrax.__version__,
            optimistix=optimistix.__version__,
            scipy=scipy.__version__,
            numpy=np.__version__,
        )
    )
    print(
        f"{args.n} two-species mixtures (seed {SEED}): τ1 ~ U[3, 10] s, L1 ~ logU[1e2, 1e4], "
        f"τ2 ~ U[0.05, 3] s, L2 ~ logU[1e2, 1e5]; output Σ C_N and its gradient in (τ1, τ2, L1, L2)"
    )
    print(
        f"tolerances rtol={RTOL:g}, atol={ATOL:g}; adprf: 1 warm-up + {args.repeats} timed calls, median; "
        f"scipy: solve_ivp BDF, analytic Jacobian, t_end={T_END:g} s, central FD (relative step "
        f"{args.fd_step:g}, 9 solves/mixture) on the first {args.scipy_n} mixtures, time extrapolated\n"
    )

    tau, amount = mixtures(args.n)
    x = np.concatenate([tau, amount], axis=1)
    sub = slice(0, args.scipy_n)
    with jax.enable_x64(True):  # the models' rates are array leaves: float64 when built here
        specs = {
            "shp1": ("SHP1Feedback()", SHP1Feedback(), SHP1Reference()),
            "kinase": ("KinaseFeedback(4, 2)", KinaseFeedback(4, 2), KinaseReference(N=4, m=2)),
        }
    timing_rows, agreement_rows = [], []
    for name in names:
        label, model, ref = specs[name]
        # the reference restates the rates; make sure they are the model's
        for field, value in vars(ref).items():
            ours = getattr(model, {"R": "receptors"}.get(field, field))
            assert float(ours) == value, f"{label}.{field} = {ours}, but the scipy reference uses {value}"
        print(
            f"{label}: analytic Jacobian vs finite differences, max rel. diff "
            f"{check_jacobian(ref, tau[0], amount[0]):.1e}",
            flush=True,
        )

        results = {}
        with jax.enable_x64(True):
            ligands = Ligands(jnp.asarray(tau), jnp.asarray(amount))
            for method in ("closed-form", "newton", "ode"):
                run = adprf_value_and_grad(model, method)
                first, median, out = timed(lambda: run(ligands), args.repeats)
                value, grad, succeeded, steps = jax.tree.map(np.asarray, out)
                failed = ~succeeded | ~np.isfinite(value) | ~np.all(np.isfinite(grad), axis=1)
                results[method] = (value, grad)
                timing_rows.append(
                    dict(
                        model=label,
                        method=method,
                        a=median,
                        compile=first - median,
                        failed=int(failed.sum()),
                        steps=(float(steps.mean()), int(steps.max())),
                    )
                )
                print(
                    f"  done: {label}, adprf {method}: {median:.3f} s (first call {first:.1f} s), "
                    f"{int(failed.sum())} failed",
                    flush=True,
                )
                if failed.any():
                    i = int(np.flatnonzero(failed)[0])
                    print(
                        f"    first failure: mixture {i}, τ={tau[i].tolist()}, L={amount[i].tolist()}, "
                        f"solve succeeded: {bool(succeeded[i])}, output {value[i]}"
                    )
            fd_closed = adprf_closed_form_fd(model, tau[sub], amount[sub], args.fd_step)

        s_value, s_grad, s_steady, s_steps, s_seconds = run_scipy(ref, tau[sub], amount[sub], args.fd_step)
        s_value = np.where(s_steady, s_value, np.nan)
        s_grad = np.where(s_steady[:, None], s_grad, np.nan)
        per_mixture = s_seconds / args.scipy_n
        print(
            f"  done: {label}, scipy: {s_seconds:.1f} s for {args.scipy_n} mixtures "
            f"({1e3 * per_mixture / 9:.1f} ms per solve, {s_steps.mean():.0f} BDF steps per solve), "
            f"{int((~s_steady).sum())} not steady at t_end",
            flush=True,
        )
        for r in timing_rows:
            if r["model"] == label:
                r.update(s=per_mixture * args.n, s_failed=int((~s_steady).sum()))

        closed, scipy_ = results["closed-form"], (s_value, s_grad)
        at = lambda pair: (pair[0][sub], pair[1][sub])
        comparisons = [
            ("adprf Newton vs adprf closed form", results["newton"], closed, x),
            ("adprf ODE vs adprf closed form", results["ode"], closed, x),
            ("scipy BDF (+FD) vs adprf closed form", scipy_, at(closed), x[sub]),
            ("adprf Newton vs scipy BDF (+FD)", at(results["newton"]), scipy_, x[sub]),
            ("adprf ODE vs scipy BDF (+FD)", at(results["ode"]), scipy_, x[sub]),
            ("closed-form FD (same step) vs closed-form gradient", (closed[0][sub], fd_closed), at(closed), x[sub]),
        ]
        for what, a, b, xs in comparisons:
            v_err, g_err, count = agreement(a, b, xs)
            agreement_rows.append(
                dict(
                    model=label,
                    what=what,
                    count=count,
                    total=len(xs),
                    v=(v_err.max(), np.median(v_err)),
                    g=(g_err.max(), np.median(g_err)),
                    fd_only="closed-form FD" in what,
                )
            )

    print(
        f"\nTiming: value + gradient of {args.n} mixtures (adprf: one compiled vmap call; scipy: "
        f"9 BDF solves per mixture, measured on {args.scipy_n} and EXTRAPOLATED to {args.n})\n"
    )
    print(
        "| model | adprf path | adprf s (median) | adprf compile s | adprf steps mean / max "
        "| adprf failed | scipy s (extrapolated) | scipy not steady | ratio scipy/adprf | goal |"
    )
    print("|" + "---|" * 10)
    for r in timing_rows:
        ratio = r["s"] / r["a"]
        goal = GOALS.get(r["method"])
        met = f"≥{goal:g}×: {'met' if ratio >= goal else 'NOT met'}" if goal else "—"
        print(
            f"| {r['model']} | {r['method']} | {r['a']:.3f} | {r['compile']:.1f} | {r['steps'][0]:.1f} / "
            f"{r['steps'][1]} | {r['failed']}/{args.n} | {r['s']:.0f} | {r['s_failed']}/{args.scipy_n} "
            f"| {ratio:.0f}× | {met} |"
        )

    print(
        f"\nAgreement (relative; gradient: normwise in elasticity units, max_k |Δg_k x_k| / max_k |g_k x_k|; "
        f"PASS iff max ≤ {TOLERANCE:g})\n"
    )
    print(
        "| model | comparison | mixtures | output max | output median | output ≤ 1e-6 "
        "| gradient max | gradient median | gradient ≤ 1e-6 |"
    )
    print("|" + "---|" * 9)
    verdict = lambda e: "PASS" if e <= TOLERANCE else "FAIL"
    for r in agreement_rows:
        print(
            f"| {r['model']} | {r['what']} | {r['count']}/{r['total']} | {r['v'][0]:.1e} | {r['v'][1]:.1e} "
            f"| {verdict(r['v'][0]) if not r['fd_only'] else '(same)'} | {r['g'][0]:.1e} | {r['g'][1]:.1e} "
            f"| {verdict(r['g'][0])} |"
        )

    print()
    for r in timing_rows:
        goal = GOALS.get(r["method"])
        if goal:
            ratio = r["s"] / r["a"]
            print(
                f"goal {r['model']}, {r['method']}: ratio {ratio:.0f}× (scipy extrapolated) vs ≥ {goal:g}× -> "
                f"{'met' if ratio >= goal else 'NOT met'}"
            )


if __name__ == "__main__":
    main()
