"""The outcome of a solve: one enumeration of results for every solver in adprf.

The steady states of the cell models (`adprf.cells.steady_state`) and the trajectories of the
cerebellar rate network (`adprf.cerebellum.CerebellarDynamics`) report how their solve ended
with an item of `RESULTS`, an `equinox.Enumeration` (as optimistix and lineax do): it passes
through `jit` and `vmap`, compares only with items of `RESULTS`, and reads as words with
`RESULTS[result]`.
"""

import equinox as eqx
import jax.numpy as jnp

from ._types import Array


class RESULTS(eqx.Enumeration):
    """How a solve ended: `successful`, or why it failed.

    Compare with `result == RESULTS.successful`; read the reason with `RESULTS[result]`.
    """

    successful = "successful"
    max_steps_reached = (
        "the ODE solver reached max_steps before the end of its integration: raise max_steps or loosen rtol/atol"
    )
    integration_failed = (
        "the ODE solver stopped early (diffrax reported a failure other than max_steps): loosen "
        "rtol/atol, or check the inputs for NaN or huge values"
    )
    nonlinear_divergence = (
        "the root finder did not converge (Newton's iterations, or a bracket that holds no root): "
        "raise max_steps, loosen rtol/atol, or try method='ode'"
    )
    nonfinite = (
        "the solution is not finite: check the inputs (the ligands' τ and L, the stimulus) and the parameters "
        "for NaN or huge values"
    )
    unphysical = (
        "the solver converged to an unphysical root (a negative species, or more bound than ligands or "
        "receptors): use method='ode', method='closed-form' (built-in models), or, for an SBML cell, "
        "leave out scale= so that Newton starts by continuation from the initial state"
    )


def error_if_failed(x: Array, result: RESULTS, where: str) -> Array:
    """`x`, with a run-time error attached if `result` is not `RESULTS.successful`.

    The check travels with `x` (equinox's `branched_error_if`): it fires wherever `x` is
    computed, under `jit`, `vmap` and `value_and_grad` alike.

    **Arguments:**
    - `x`: the array that carries the check (the solve's output).
    - `result`: the solve's result.
    - `where`: what was solved, prefixed to the message (e.g. `"SHP1Feedback steady state (ode)"`).

    **Returns:** `x`, unchanged when the solve succeeded.
    """
    # The enumeration's index and messages, prefixed; `result.error_if` would give the bare message.
    messages = [f"{where}: {message}" for message in RESULTS._index_to_message]
    return eqx.branched_error_if(x, result != RESULTS.successful, jnp.asarray(result._value), messages)
