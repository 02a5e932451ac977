"""Steady states of the ODE cell models, with implicit gradients, and their transients.

Three ways to the same steady state, all differentiable in every τ_i and L_i:

- `"closed-form"`: the model's own formula (1-D root finds where feedback couples species);
- `"newton"`: Newton's method on dC/dt = 0 (optimistix), gradients by the implicit
  function theorem (lineax solve with the Jacobian); from the estimate `model.scale`, or, for
  models that `relaxes_before_newton` (the SBML cells), from where a bounded pseudo-transient continuation
  (Kelley & Keyes 1998) leads from the initial state;
- `"ode"`: integrate from the unbound state until dC/dt ≈ 0 (diffrax, stiff `Kvaerno5`,
  `steady_state_event`), gradients by `diffrax.ImplicitAdjoint`.

Newton and the ODE work in units of the model's feedback-free estimate of the steady state
(`model.scale`, gradient stopped), so every variable is O(1) whatever the concentrations, and
measure residuals du_j/dt relative to each variable's own relaxation rate, so that a fast
variable (a kinase relaxing at 10^6/s) and a slow one (a complex at 1/τ) are converged to the
same relative precision. The ODE keeps the true dynamics; only its stopping test is rescaled.

**Precision.** These systems are stiff and span many orders of magnitude: the solvers need
float64. adprf never flips JAX's global configuration; call the models inside
`with jax.enable_x64(True):` (or set `JAX_ENABLE_X64=1` yourself). Without it they raise.

**Failures.** Every solve returns a result, an item of `adprf.RESULTS`.
`steady_state(..., throw=True)` (the default, and what `model(ligands)` does) raises at run
time when a solve fails; with `throw=False` the output is NaN and `Solution.result` says why.
"""

from collections.abc import Sequence

import diffrax as dfx
import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jax.flatten_util import ravel_pytree

from .._ligands import Ligands
from .._solution import RESULTS, error_if_failed
from .._types import Array, Bool, Float, Int, PyTree
from ._base import AbstractSteadyStateModel, check_integer, check_rate, integer

METHODS = ("closed-form", "newton", "ode")
RELAXATION_STEPS = 64  # pseudo-transient steps before Newton (`relaxes_before_newton`)


class Solution(eqx.Module):
    """A steady state.

    **Fields:**
    - `state`: the steady state (complexes `C[i, n]`, and feedback variables if any).
    - `output`: the model's output at that state (NaN if the solve failed and `throw=False`).
    - `result`: how the solve ended, an item of `adprf.RESULTS` (`RESULTS.successful`, or why
      it failed).
    - `steps`: solver steps taken (Newton iterations, ODE steps, or root-finder iterations).
    """

    state: PyTree
    output: Float[Array, ""]
    result: RESULTS
    steps: Int[Array, ""]

    @property
    def successful(self) -> Bool[Array, "*batch"]:
        """Whether the solve succeeded."""
        return self.result == RESULTS.successful

    def message(self) -> str:
        """The result in words (for concrete solutions)."""
        return RESULTS[self.result]


def require_float64(what: str = "this model"):
    """Raise a clear error when JAX's float64 is off (adprf never enables it globally)."""
    if not jax.enable_x64.value:
        raise RuntimeError(
            f"{what} solves a stiff steady state and needs float64, which JAX has off by default. "
            "Run it inside `with jax.enable_x64(True):` (adprf does not flip the global "
            "config), or set JAX_ENABLE_X64=1."
        )


def require_float64_parameters(model) -> None:
    """Raise unless every floating-point parameter of `model` is float64. The parameters are
    array leaves in the default float dtype at construction, so a model built outside
    `jax.enable_x64(True)` holds float32-rounded rates (0.09 → 0.0900000035): refused, not
    solved with silently different numbers."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(model):
        dtype = getattr(leaf, "dtype", None)
        if dtype is not None and jnp.issubdtype(dtype, jnp.floating) and dtype != jnp.float64:
            name = jax.tree_util.keystr(path).lstrip(".")
            raise RuntimeError(
                f"{type(model).__name__}: {name} is {np.dtype(dtype).name}, but the steady-state solves "
                f"run in float64: the model was built outside `jax.enable_x64(True)` (its rates "
                f"were rounded to float32); build it inside `with jax.enable_x64(True):`"
            )


def _as_float64(ligands: Ligands) -> Ligands:
    return Ligands(jnp.asarray(ligands.tau, jnp.float64), jnp.asarray(ligands.amount, jnp.float64))


def _checked_ligands(model, ligands: Ligands) -> Ligands:
    """The ligands as one 1-D float64 distribution, after the model's checks: at least one
    ligand with L > 0 (`AbstractCellModel.check_ligands`), one distribution (a scalar is one
    ligand; more than one axis is refused, shapes being static), and every binding time > 0 (the
    complexes unbind at 1/τ: τ = 0 is 0/0 in every solver). Value checks skip traced ligands."""
    model.check_ligands(ligands)
    name = type(model).__name__
    if jnp.ndim(ligands.tau) > 1:
        raise ValueError(
            f"{name} reads one ligand distribution (1-D), got ligands of shape "
            f"{jnp.shape(ligands.tau)}: vmap over the batch axes, or ravel one distribution's "
            f"species into one axis"
        )
    if jnp.ndim(ligands.tau) == 0:
        ligands = Ligands(jnp.reshape(ligands.tau, (1,)), jnp.reshape(ligands.amount, (1,)))
    tau = ligands.tau
    if not isinstance(tau, jax.core.Tracer) and getattr(tau, "is_fully_addressable", True):
        tau = np.asarray(tau)
        if np.any(tau <= 0):
            first = int(np.flatnonzero(tau <= 0)[0])
            raise ValueError(
                f"{name} needs binding times τ > 0 (its complexes unbind at rate 1/τ); ligand {first} "
                f"has τ = {tau[first].item()}: drop ligands that never bind, or give them a small "
                f"positive τ"
            )
    return _as_float64(ligands)


def _check_options(owner: str, rtol, atol, max_steps) -> None:
    check_rate(owner, "rtol", rtol, "the relative tolerance")
    check_rate(owner, "atol", atol, "the absolute tolerance")
    check_integer(owner, "max_steps", integer(max_steps), lowest=1)


class _Scaled(eqx.Module):
    """The model's vector field in units of `scale`: u = C / scale (a pytree, so that traced
    scales pass through diffrax and optimistix closures)."""

    model: AbstractSteadyStateModel
    scale: PyTree

    def __call__(self, t, u, ligands):
        state = jax.tree.map(jnp.multiply, self.scale, u)
        return jax.tree.map(jnp.divide, self.model.vector_field(t, state, ligands), self.scale)


def _units(model, ligands: Ligands) -> PyTree:
    """The solvers' units: the model's feedback-free estimate, floored at 1e-12 of each leaf's
    largest entry (so absent species, L = 0, do not divide by zero), gradient stopped."""
    scale = jax.lax.stop_gradient(model.scale(ligands))
    return jax.tree.map(lambda a: jnp.maximum(a, 1e-12 * jnp.max(a) + 1e-300), scale)


def _relaxation_rates(field: "_Scaled", u: PyTree, ligands: Ligands) -> PyTree:
    """|∂(du_j/dt)/∂u_j| at `u`: how fast each variable relaxes on its own (gradient stopped).
    Residuals divided by these are relative errors, comparable across fast and slow variables."""
    flat, unravel = ravel_pytree(u)
    jacobian = jax.jacfwd(lambda v: ravel_pytree(field(0.0, unravel(v), ligands))[0])(flat)
    return jax.lax.stop_gradient(unravel(jnp.abs(jnp.diagonal(jacobian)) + 1e-300))


class _SteadyEvent(eqx.Module):
    """Stop the integration once every |du_j/dt| / rate_j < atol + rtol |u_j|."""

    rates: PyTree
    rtol: float
    atol: float

    def __call__(self, t, u, ligands, *, terms, **kwargs):
        du = terms.vf(t, u, ligands)
        small = jax.tree.map(
            lambda d, r, y: jnp.all(jnp.abs(d) / r < self.atol + self.rtol * jnp.abs(y)), du, self.rates, u
        )
        return jnp.all(jnp.asarray(jax.tree.leaves(small)))


class _Residual(eqx.Module):
    """Newton's residual: du/dt relative to each variable's relaxation rate."""

    field: _Scaled
    rates: PyTree

    def __call__(self, u, ligands):
        return jax.tree.map(jnp.divide, self.field(0.0, u, ligands), self.rates)


def _stiff_solver(rtol: float, atol: float) -> dfx.Kvaerno5:
    """Kvaerno5 with full Newton in its implicit stages: diffrax's default chord iteration keeps
    a stale Jacobian and is rejected again and again on the fast kinase feedback (10× more
    steps); Newton's tolerances sit a decade below the step control's."""
    return dfx.Kvaerno5(root_finder=optx.Newton(rtol=rtol / 10, atol=atol))


def _continuation(model, field, rates, scale, start, ligands, steps: int):
    """Pseudo-transient continuation (Kelley & Keyes 1998) from `start`: implicit Euler steps
    (I/Δt − J) δ = g(u) on the relative residual g = du/dt / rate (Δt in units of each variable's
    relaxation time), Δt growing from 0.1 as the residual falls (switched evolution relaxation),
    at least twofold a step. It follows the dynamics where they are nonlinear, so Newton, started
    where it ends, meets the steady state the cell relaxes to rather than another root. A step
    that leaves a non-finite or unphysical state is refused and Δt cut tenfold. It stops once
    the residual is below 1e-3 or Δt above 1e4 (Newton takes over), after at most `steps` steps;
    returns Newton's start, gradient stopped."""
    residual = _Residual(field, rates)
    flat0, unravel = ravel_pytree(jax.lax.stop_gradient(start))

    def g(v):
        return ravel_pytree(residual(unravel(v), ligands))[0]

    def admissible(v):
        state = jax.tree.map(jnp.multiply, scale, unravel(v))
        return jnp.all(jnp.isfinite(v)) & jnp.asarray(model.physical(state, ligands))

    def step(carry):
        i, v, gv, dt = carry
        jacobian = jax.jacfwd(g)(v)
        delta = jnp.linalg.solve(jnp.eye(v.size) / dt - jacobian, gv)
        new = v + delta
        g_new = g(new)
        ok = admissible(new) & jnp.all(jnp.isfinite(g_new))
        norm, norm_new = jnp.linalg.norm(gv), jnp.linalg.norm(g_new)
        grown = jnp.clip(dt * norm / jnp.where(ok, norm_new, 1.0), 2 * dt, 1e3 * dt)
        return i + 1, jnp.where(ok, new, v), jnp.where(ok, g_new, gv), jnp.where(ok, grown, dt / 10)

    def going(carry):
        i, v, gv, dt = carry
        return (i < steps) & (jnp.max(jnp.abs(gv)) > 1e-3 * (1 + jnp.max(jnp.abs(v)))) & (dt < 1e4)

    init = (jnp.asarray(0), flat0, g(flat0), jnp.asarray(0.1, flat0.dtype))
    _, v, _, _ = jax.lax.while_loop(going, step, init)
    return jax.lax.stop_gradient(unravel(v))


def _newton(field, rates, start, ligands, rtol, atol, max_steps):
    """Newton's method on the scaled residual from `start`: `(u, result, steps)`."""
    sol = optx.root_find(
        _Residual(field, rates),
        optx.Newton(rtol=rtol, atol=atol),
        start,
        args=ligands,
        max_steps=max_steps,
        throw=False,
    )
    converged = sol.result == optx.RESULTS.successful
    return sol.value, RESULTS.where(converged, RESULTS.successful, RESULTS.nonlinear_divergence), sol.stats["num_steps"]


def _integrate(field, rates, start, ligands, rtol, atol, max_steps, integration_tolerances):
    """Integration of the scaled field from `start` to its steady-state event: `(u, result, steps)`."""
    step_rtol, step_atol = integration_tolerances
    sol = dfx.diffeqsolve(
        dfx.ODETerm(field),
        _stiff_solver(step_rtol, step_atol),
        0.0,
        jnp.inf,
        None,
        start,
        args=ligands,
        stepsize_controller=dfx.PIDController(rtol=step_rtol, atol=step_atol),
        event=dfx.Event(_SteadyEvent(rates, rtol, atol)),
        adjoint=dfx.ImplicitAdjoint(),
        max_steps=max_steps,
        throw=False,
    )
    reached = (sol.result == dfx.RESULTS.successful) | (sol.result == dfx.RESULTS.event_occurred)
    failure = RESULTS.where(
        sol.result == dfx.RESULTS.max_steps_reached, RESULTS.max_steps_reached, RESULTS.integration_failed
    )
    u = jax.tree.map(lambda y: y[-1], sol.ys)
    return u, RESULTS.where(reached, RESULTS.successful, failure), sol.stats["num_steps"]


def steady_state(
    model,
    ligands: Ligands,
    *,
    method: str | None = None,
    rtol: float = 1e-10,
    atol: float = 1e-12,
    max_steps: int = 16384,
    throw: bool = True,
    integration_tolerances: Sequence[float] = (1e-6, 1e-9),  # a pair, checked below
) -> Solution:
    """The steady state of an ODE cell model for one ligand distribution.

    **Arguments:**
    - `model`: a `KineticProofreading`, `SHP1Feedback`, `KinaseFeedback` (any
      `AbstractSteadyStateModel`).
    - `ligands`: one distribution (several species share receptors and feedback): 1-D, or a
      scalar for one ligand; at least one L > 0 and every τ > 0 (checked when concrete).
    - `method`: `"closed-form"`, `"newton"` or `"ode"` (see the module docstring); None (the
      default): the model's own `solver` (`"closed-form"` for the built-in models unless built
      otherwise; `"newton"` for an `SBMLCell`, which has no closed form).
    - `rtol`, `atol`: convergence tolerances (finite, > 0) on the scaled state u and on the relative residual
      |du_j/dt| / rate_j (Newton's stopping test; the ODE's steady-state event).
    - `integration_tolerances`: (rtol, atol) of the ODE's step-size control on the way to
      equilibrium. The transient need not be exact: accuracy at the end is set by the event.
    - `max_steps`: iteration cap; reaching it is a failure, never a silent number.
    - `throw`: raise on failure (default) or return NaN output with `result` set.

    **Returns:** a `Solution`. Vmap over ligand distributions; differentiate `output`.
    """
    if method is None:
        method = getattr(model, "solver", "closed-form")
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"unknown steady-state method {method!r}: use one of {METHODS}")
    _check_options("steady_state", rtol, atol, max_steps)
    if np.shape(integration_tolerances) != (2,):
        raise ValueError(f"integration_tolerances must be a pair (rtol, atol), got {integration_tolerances!r}")
    check_rate("steady_state", "integration_tolerances[0]", integration_tolerances[0], "the ODE's step rtol")
    check_rate("steady_state", "integration_tolerances[1]", integration_tolerances[1], "the ODE's step atol")
    require_float64(type(model).__name__)
    require_float64_parameters(model)
    ligands = _checked_ligands(model, ligands)
    if method == "closed-form":
        state, code, steps = model.closed_form(ligands)  # code 0: the formulas' root finds converged
        result = RESULTS.where(code == 0, RESULTS.successful, RESULTS.nonlinear_divergence)
    else:
        scale = _units(model, ligands)
        field = _Scaled(model, scale)
        rates = _relaxation_rates(field, jax.tree.map(jnp.ones_like, scale), ligands)
        if method == "newton":
            start = jax.tree.map(jnp.ones_like, scale)
            if model.relaxes_before_newton():  # from where the cell starts, along its dynamics
                initial = jax.tree.map(jnp.divide, model.unbound_state(ligands), scale)
                start = _continuation(model, field, rates, scale, initial, ligands, RELAXATION_STEPS)
            u, result, steps = _newton(field, rates, start, ligands, rtol, atol, max_steps)
        else:
            start = jax.tree.map(jnp.divide, model.unbound_state(ligands), scale)
            u, result, steps = _integrate(field, rates, start, ligands, rtol, atol, max_steps, integration_tolerances)
        state = jax.tree.map(jnp.multiply, scale, u)
    output = model.output(state, ligands)
    finite = jnp.all(jnp.asarray([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves(state)]))
    result = RESULTS.where((result == RESULTS.successful) & ~finite, RESULTS.nonfinite, result)
    physical = jnp.asarray(model.physical(state, ligands))
    result = RESULTS.where((result == RESULTS.successful) & ~physical, RESULTS.unphysical, result)
    if throw:
        output = error_if_failed(output, result, f"{type(model).__name__} steady state ({method})")
    else:
        output = jnp.where(result == RESULTS.successful, output, jnp.nan)
    return Solution(state, output, result, jnp.asarray(steps, jnp.int32))


def time_course(
    model, ligands: Ligands, times, *, rtol: float = 1e-8, atol: float = 1e-10, max_steps: int = 16384
) -> tuple[PyTree, Float[Array, " time"]]:
    """Transient dynamics from the unbound state: (states at `times`, outputs at `times`).

    **Arguments:**
    - `model`, `ligands`: as for `steady_state`.
    - `times`: increasing times ≥ 0 (seconds) at which to save the state.
    - `rtol`, `atol`, `max_steps`: integration controls (scaled units, as for `steady_state`).

    **Returns:** the states, each leaf with a leading time axis, and the model output at each time.
    """
    require_float64(type(model).__name__)
    require_float64_parameters(model)
    _check_options("time_course", rtol, atol, max_steps)
    times = np.asarray(times, dtype=np.float64)
    if (
        times.ndim != 1
        or times.size == 0
        or not np.all(np.isfinite(times))
        or np.any(np.diff(times) < 0)
        or times[0] < 0
    ):
        raise ValueError(f"times must be a non-empty increasing 1-D array of finite values ≥ 0, got {times!r}")
    ligands = _checked_ligands(model, ligands)
    scale = _units(model, ligands)
    sol = dfx.diffeqsolve(
        dfx.ODETerm(_Scaled(model, scale)),
        _stiff_solver(rtol, atol),
        0.0,
        float(times[-1]),
        None,
        jax.tree.map(jnp.divide, model.unbound_state(ligands), scale),
        args=ligands,
        saveat=dfx.SaveAt(ts=jnp.asarray(times)),
        stepsize_controller=dfx.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps,
    )
    states = jax.tree.map(lambda s, u: s * u, scale, sol.ys)
    return states, jax.vmap(model.output, in_axes=(0, None))(states, ligands)
