"""The v1 gradient descent of a ligand distribution to the decision boundary of T_{N,m}, for a
grid of (N, m) (Rademaker et al. 2019, v1 figure "ligand distribution at the boundary").

The protocol: while T_{N,m} > 1, τ_i ← τ_i − 0.2 ∂T/∂τ_i for the ligands whose clean τ_i < τ_c
(the raw gradient, no sign), a τ pushed below 0 is reset to 0.1; the descent stops at the first
T ≤ 1 or at a cap. It runs through adprf's one attack engine: `GradientDescent(step_size=0.2)`,
the `turn_off` objective (success iff T ≤ 1) and the `v1_descent` threat (mask + reset).

Implementation choices (measured on CPU):

- **Compilations** (`share_compilation`). Each (N, m) is one engine call on
  `AdaptiveProofreading(N, m)`, whose exponents are known at compile time (τ^N is a few fused
  multiplications). With `share_compilation=True` (for small distributions) the models are
  wrapped in `OneOf(models, index)`, a `lax.switch` whose index is data, so the calls of a grid
  share one compiled engine: compiling costs ~1–3 s per model on 2 busy cores, more than all the
  iterations of a small distribution. The switch is not free for large ones: on CPU it copies
  its operands and the union of the branches' autodiff residuals every iteration (79 µs per
  iteration against 41 µs for the bare model at 10201 ligands; no difference at 1681).
  Exponents as data inside one model were 2–3× slower per iteration (every possible power is
  computed and selected), and batching the grid in one call saves nothing on CPU: a batch runs
  until its longest descent stops and the work per iteration grows with the batch.
- **Precision.** The ligands' dtype sets it. At 10201 ligands a step moves a τ by ~10⁻⁶, and
  over 10⁵ iterations float32 rounding shifts the stopping iteration by several steps (measured
  against a float64 NumPy loop): create the ligands inside `jax.enable_x64(True)` for float64.
- **Binned variant** (`bin_width`; v1: 0.2). The v1 scripts keep every ligand's τ but let the
  cell read the histogram: `HistogramReadout` counts the ligands in bins of `bin_width` from 0,
  evaluates T on the bin centres with the counts as amounts and gives every ligand its bin's
  derivative (so binned steps are count_b times the continuous ones). Unlike v1 (whose bins
  stop at 3.5 and so drop the agonists above it), the bins cover every ligand.
"""

import time
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands
from .._types import Array, Bool, Float, Int, PRNGKeyArray, Scalar
from ..attacks import GradientDescent, attack, turn_off, v1_descent
from ..cells import AbstractCellModel, AdaptiveProofreading, HistogramReadout, OneOf


class BoundaryDescent(eqx.Module):
    """The v1 descent of one ligand distribution under each (N, m) of a grid.

    **Arguments:**
    - `grid`: the (N, m) pairs, in order.
    - `tau`: the final binding times, shape `(len(grid), *ligand shape)`.
    - `iterations`: updates applied before the first T ≤ 1 (0 if the clean distribution already
      has T ≤ 1; the cap if T ≤ 1 is never reached). The v1 script prints this number + 2 (its
      loop tests the T of the previous iterate and starts at 1).
    - `output`: T_{N,m} of the final distribution (as the cell reads it: binned if binned). The
      final distribution is the first with T ≤ 1 (v1's is one update past it), or the last,
      lowest-T one when the cap stops the descent.
    - `output_clean`: T_{N,m} of the clean distribution.
    - `reached`: whether T ≤ 1 was reached within the cap.
    - `seconds`: wall time of each model's engine call (the first includes the compilation).

    The arrays are JAX arrays from `boundary_descent` and NumPy arrays from `from_json`.
    """

    grid: tuple[tuple[int, int], ...] = eqx.field(static=True)
    tau: Float[Array | np.ndarray, " models *species"]
    iterations: Int[Array | np.ndarray, " models"]
    output: Float[Array | np.ndarray, " models"]
    output_clean: Float[Array | np.ndarray, " models"]
    reached: Bool[Array | np.ndarray, " models"]
    seconds: Float[np.ndarray, " models"]

    def to_json(self) -> dict:
        """The arrays as a JSON-able dict (for `Run.stage`)."""
        return {
            "tau": np.asarray(self.tau),
            "iterations": np.asarray(self.iterations),
            "output": np.asarray(self.output, np.float64),
            "output_clean": np.asarray(self.output_clean, np.float64),
            "reached": np.asarray(self.reached),
            "seconds": np.asarray(self.seconds),
        }

    @classmethod
    def from_json(cls, grid: Sequence[Sequence[int]], saved: dict) -> "BoundaryDescent":
        """The descent back from `to_json`'s dict (NumPy arrays, float64 binding times)."""
        return cls(
            tuple((int(n), int(m)) for n, m in grid),
            np.asarray(saved["tau"], np.float64),
            np.asarray(saved["iterations"]),
            np.asarray(saved["output"], np.float64),
            np.asarray(saved["output_clean"], np.float64),
            np.asarray(saved["reached"], bool),
            np.asarray(saved["seconds"], np.float64),
        )


def boundary_descent(
    ligands: Ligands,
    grid: Sequence[tuple[int, int]],
    *,
    tau_c: float = 3.0,
    step_size: float = 0.2,
    reset: float = 0.1,
    max_iterations: int = 1_000_000,
    bin_width: float | None = None,
    share_compilation: bool = True,
    key: PRNGKeyArray | None = None,
) -> BoundaryDescent:
    """Run the v1 gradient descent of `ligands` under every T_{N,m} of `grid` through the engine.

    One `attack` per (N, m): `GradientDescent(step_size)` (raw gradient, stop at success), the
    `v1_descent(tau_c, reset)` threat and the `turn_off` objective (success iff T ≤ 1).

    **Arguments:**
    - `ligands`: one distribution (any leaf shape, e.g. an image); its dtype sets the precision
      (create it inside `jax.enable_x64(True)` for float64).
    - `grid`: the (N, m) pairs, integers with 0 ≤ m < N (e.g. `adprf.cells.proofreading_grid()`).
    - `tau_c`, `step_size`, `reset`: the v1 protocol (3, 0.2, 0.1).
    - `max_iterations`: the cap on updates per model (v1: 10⁶).
    - `bin_width`: `None` for continuous τ, or the bin width of the binned variant (v1: 0.2),
      read through `HistogramReadout`.
    - `share_compilation`: compile the engine once for the whole grid (`OneOf`; best for short
      descents) or once per model (cheaper iterations for large distributions, see the module
      docstring).
    - `key`: PRNG key for the engine (the descent itself is deterministic).

    **Returns:** a `BoundaryDescent`.
    """
    grid = tuple((int(n), int(m)) for n, m in grid)
    if not grid or any(not 0 <= m < n for n, m in grid):
        raise ValueError(f"grid must be a non-empty list of (N, m) with 0 ≤ m < N, got {grid!r}")
    if not (isinstance(max_iterations, int) and max_iterations >= 1):
        raise ValueError(f"max_iterations must be an integer ≥ 1, got {max_iterations!r}")
    batch = jax.tree.map(lambda a: jnp.asarray(a)[None], ligands)
    key = jax.random.PRNGKey(0) if key is None else key
    method = GradientDescent(step_size=float(step_size), steps=max_iterations)
    threat = v1_descent(float(tau_c), float(reset))
    members = [AdaptiveProofreading(n, m, tau_c=float(tau_c)) for n, m in grid]
    if bin_width is not None:
        tau_max = float(jnp.max(batch.tau))
        members = [HistogramReadout.covering(model, bin_width, tau_max) for model in members]
    taus, iterations, outputs, outputs_clean, reached, seconds = [], [], [], [], [], []
    for index in range(len(grid)):
        model = OneOf(members, index) if share_compilation else members[index]
        start = time.perf_counter()
        result = attack(
            model,
            batch,
            None,
            method=method,
            threat=threat,
            objective=turn_off(float(np.asarray(model.threshold))),
            key=key,
        )
        seconds.append(time.perf_counter() - start)  # attack blocks until the result is ready
        final = jax.tree.map(lambda a: a[0], result.adversarial)
        taus.append(final.tau)
        iterations.append(result.gradient_evaluations[0] - 1)
        outputs.append(_output(model, final))  # OneOf: one compilation for every member
        outputs_clean.append(_output(model, ligands))
        reached.append(result.success[0])
    return BoundaryDescent(
        grid,
        jnp.stack(taus),
        jnp.stack(iterations),
        jnp.stack(outputs),
        jnp.stack(outputs_clean),
        jnp.stack(reached),
        np.asarray(seconds),
    )


@eqx.filter_jit
def _output(model: AbstractCellModel, ligands: Ligands) -> Scalar:
    """A model's output, compiled once for all members of a `OneOf`."""
    return model(ligands)
