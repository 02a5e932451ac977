"""The proofreading cascade shared by the ODE models: receptor binding and the chain C_0 → … → C_N.

Every ligand species i binds free receptors into C_{i,0} and is modified step by step
(C_{i,n} → C_{i,n+1} at a forward rate, back at a backward rate); every complex unbinds at
1/τ_i. The models (`KineticProofreading`, `SHP1Feedback`, `KinaseFeedback`) differ only in
the rates, which feedback sets. States are arrays `C[i, n]` of shape (species, N + 1).
"""

import jax
import jax.numpy as jnp

from .._ligands import Ligands
from .._types import Array, ArrayLike, Float


def binding_flux(
    C: Float[Array, "species steps"], ligands: Ligands, kappa, receptors, ligand_excess: bool
) -> Float[Array, " species"]:
    """κ (L_i − C_{T,i})(R − Σ_j C_{T,j}): species share one receptor pool.

    With `ligand_excess`, ligands are not depleted: κ L_i (R − Σ_j C_{T,j}).
    """
    bound = jnp.sum(C, axis=1)
    free_ligand = ligands.amount if ligand_excess else ligands.amount - bound
    return kappa * free_ligand * (receptors - jnp.sum(bound))


def bound_at_equilibrium(
    ligands: Ligands, kappa, receptors, ligand_excess: bool
) -> tuple[Float[Array, " species"], Array]:
    """Total bound complexes C_{T,i} at equilibrium, and a result code (0 = converged).

    Binding balance κ (L_i − C_{T,i}) R_f = C_{T,i}/τ_i gives C_{T,i} = L_i x_i/(1 + x_i) with
    x_i = κ R_f τ_i, and the free receptors solve R_f + Σ_i C_{T,i}(R_f) = R: a monotone 1-D
    root, bracketed by R/(1 + κ Σ_i L_i τ_i) ≤ R_f ≤ R and bisected in log R_f (implicit
    gradient). One species recovers the quadratic
    C_T = ½[(L + R + 1/(κτ)) − √((L + R + 1/(κτ))² − 4LR)]. With `ligand_excess` the free
    receptors are explicit: R_f = R / (1 + κ Σ_i L_i τ_i), C_{T,i} = κ L_i R_f τ_i.
    """
    tau, amount = ligands.tau, ligands.amount
    least_free = receptors / (1 + kappa * jnp.sum(amount * tau))
    if ligand_excess:
        return kappa * amount * least_free * tau, jnp.asarray(0, jnp.int32)

    def balance(log_free, lig):
        free = jnp.exp(log_free)
        x = kappa * free * lig.tau
        return jnp.log(free + jnp.sum(lig.amount * x / (1 + x))) - jnp.log(receptors)

    log_free, result, _ = bisect(balance, jnp.log(least_free), jnp.log(receptors), ligands)
    x = kappa * jnp.exp(log_free) * tau
    return amount * x / (1 + x), result


def bisect(fn, lower, upper, args=None, iterations: int = 96):
    """The root of a scalar `fn(y, args)` that changes sign once on [lower, upper]:
    (root, result code, iterations).

    Bisection on values with the gradient stopped (a fixed number of halvings: the bracket
    shrinks by 2^−96, to float64 resolution), then one Newton step from that point with `args`
    live, so the root's first derivatives are the implicit-function-theorem ones,
    dy*/dθ = −(∂f/∂θ)/(∂f/∂y). Code 2 if [lower, upper] does not bracket a root.
    """
    frozen = jax.lax.stop_gradient(args)
    lower, upper = jax.lax.stop_gradient(jnp.asarray(lower)), jax.lax.stop_gradient(jnp.asarray(upper))
    sign_lower = jnp.sign(fn(lower, frozen))

    def halve(_, bracket):
        lo, hi = bracket
        mid = (lo + hi) / 2
        below = jnp.sign(fn(mid, frozen)) == sign_lower
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = jax.lax.fori_loop(0, iterations, halve, (lower, upper))
    y = (lo + hi) / 2
    value, slope = jax.jvp(lambda z: fn(z, args), (y,), (jnp.ones_like(y),))
    root = y - value / slope
    brackets = sign_lower * jnp.sign(fn(upper, frozen)) <= 0
    code = jnp.where(brackets & jnp.isfinite(root), 0, 2).astype(jnp.int32)
    return root, code, jnp.asarray(iterations)


def bound_estimate(ligands: Ligands, kappa, receptors) -> Float[Array, " species"]:
    """A one-shot estimate of C_{T,i} that respects both depletions: free receptors as if
    ligands were in excess, R_f = R / (1 + κ Σ_j L_j τ_j), then C_{T,i} = L_i x_i/(1 + x_i) with
    x_i = κ R_f τ_i, so that C_{T,i} < L_i and Σ_i C_{T,i} < R. Sets the solvers' units and the
    start of Newton (a physical point, so Newton finds the physical root)."""
    free = receptors / (1 + kappa * jnp.sum(ligands.amount * ligands.tau))
    x = kappa * free * ligands.tau
    return ligands.amount * x / (1 + x)


def is_physical(
    C: Float[Array, "species steps"], ligands: Ligands, receptors, ligand_excess: bool, rtol: float = 1e-8
) -> Array:
    """No complex negative, no more bound than receptors, and (unless ligands are taken to be
    in excess) no species more bound than present."""
    bound = jnp.sum(C, axis=1)
    slack = rtol * (1 + jnp.max(jnp.abs(C)))
    ok = jnp.all(C >= -slack) & (jnp.sum(bound) <= receptors * (1 + rtol))
    return ok if ligand_excess else ok & jnp.all(bound <= ligands.amount * (1 + rtol) + slack)


def cascade_vector_field(
    C: Float[Array, "species steps"],
    flux_in: Float[Array, " species"],
    tau: Float[Array, " species"],
    forward: Float[ArrayLike, "..."],
    backward: Float[ArrayLike, "..."] = 0.0,
) -> Float[Array, "species steps"]:
    """dC/dt of the chain: inflow into C_0, steps n → n+1 at `forward` (shape (N,) or
    (species, N), or a scalar), steps n+1 → n at `backward`, unbinding of every C_n at 1/τ."""
    up = forward * C[:, :-1]  # flux n → n+1
    down = backward * C[:, 1:]  # flux n+1 → n
    net = up - down
    dC = -C / tau[:, None]
    dC = dC.at[:, :-1].add(-net).at[:, 1:].add(net)
    return dC.at[:, 0].add(flux_in)


def irreversible_cascade(
    bound: Float[Array, " species"], tau: Float[Array, " species"], forward: Float[Array, "*#species N"]
) -> Float[Array, "species steps"]:
    """Steady state of a chain without backward steps holding C_{T,i} = `bound[i]` in all:
    (f_n + 1/τ) C_n = f_{n−1} C_{n−1}, so C_n ∝ Π_{k<n} f_k / (f_k + 1/τ) · 1/(f_n + 1/τ)."""
    forward = jnp.broadcast_to(forward, (tau.shape[0], jnp.shape(forward)[-1]))
    rate_out = jnp.concatenate([forward, jnp.zeros_like(forward[:, :1])], axis=1) + 1 / tau[:, None]
    passing = jnp.concatenate([jnp.ones_like(forward[:, :1]), jnp.cumprod(forward / rate_out[:, :-1], axis=1)], axis=1)
    weights = passing / rate_out
    return bound[:, None] * weights / jnp.sum(weights, axis=1, keepdims=True)


def output_complex(C: Float[Array, "species steps"]) -> Float[Array, ""]:
    """The output Σ_i C_{i,N}: the last complex of every species."""
    return jnp.sum(C[:, -1])
