"""Threat models and objectives for attacks on ligand distributions (Rademaker et al. 2019).

The v1 protocols of Rademaker et al. 2019 (see the documentation's "Papers and protocols") and
our "beyond v1" extensions, written as `ThreatModel`s over a `Ligands(tau, amount)` input so
that the one attack engine runs them on any cell model (T_{N,m} or the ODE steady states): a
model is a function of one `Ligands` returning a scalar, the cell responds iff it exceeds the
model's threshold.

- `v1_descent(tau_c)`: the v1 gradient descent (raw gradient, only τ < τ_c moves, τ < 0 reset
  to 0.1), with `GradientDescent(step_size=0.2)` and `turn_off(model)`.
- `move_binding_times(ε, tau_c, norm)`: FGSM / PGD on the binding times inside a norm ball.
- `add_ligands(budget)`: add new ligand species (candidates from `with_candidates`) with at
  most `budget` total amount.
- `turn_on(model)` / `turn_off(model)`: the targeted objectives (make self look foreign,
  make foreign look self).

Example, a "turn on" attack (self ligands pushed across the boundary by PGD)::

    model = AdaptiveProofreading(2, 1, tau_c=3.0)          # adprf.cells
    self_ = jax.tree.map(lambda a: a[None], self_ligands(key, 100))   # adprf._ligands; a batch of one
    result = attack(model, self_, method=PGD(steps=100),
                    threat=move_binding_times(3.0), objective=turn_on(model), key=key)

and a budget attack (where do 1000 added ligands antagonise 4000 agonists most?)::

    mix = with_candidates(Ligands.of([3.5], [4000.0]), jnp.linspace(0.1, 3.0, 30))
    result = attack(model, jax.tree.map(lambda a: a[None], mix), method=PGD(steps=200),
                    threat=add_ligands(1000.0), objective=turn_off(model), key=key)
"""

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands
from .._types import ArrayLike, Float
from ._objectives import ScalarThreshold
from ._threats import Budget, L1Ball, L2Ball, LinfBall, Mask, NonNegative, ThreatModel, _check_radius
from ._values import Value, as_value, check_value, is_traced, like

# Module-level selectors and masks (not lambdas): equal threats built twice compare equal, so
# the engine's compiled attack is reused.


def _binding_times(ligands: Ligands):
    return ligands.tau


def _amounts(ligands: Ligands):
    return ligands.amount


def _ligands(clean: Any) -> Ligands:
    """`clean`, refused unless it is `Ligands` (a ligand threat on another input)."""
    if not isinstance(clean, Ligands):
        got = f"an array of shape {tuple(clean.shape)}" if hasattr(clean, "shape") else type(clean).__name__
        raise TypeError(
            f"this threat (move_binding_times, v1_descent or add_ligands) moves ligands: the attacked input must "
            f"be Ligands, got {got}; for images use linf, l2 or l1"
        )
    return clean


def _flags(clean: Any, tau: bool, amount: bool) -> Any:
    """A `Ligands`-shaped tree holding one Python boolean per field (see `fixed_leaves`)."""
    return jax.tree.unflatten(jax.tree.structure(_ligands(clean)), [tau, amount])


class _MovableBindingTimes(eqx.Module):
    """Binding times may move (all, or only where clean τ < τ_c); amounts never. τ_c is data
    (an array leaf): threats that differ only in it share one compiled attack."""

    tau_c: Float[ArrayLike, ""] | None = eqx.field(default=None, converter=as_value)

    def __call__(self, clean: Any) -> Ligands:  # any input: refused with a message unless Ligands
        clean = _ligands(clean)
        tau = jnp.ones(jnp.shape(clean.tau), bool) if self.tau_c is None else clean.tau < like(self.tau_c, clean.tau)
        return Ligands(tau, jnp.zeros(jnp.shape(clean.amount), bool))

    def fixed_leaves(self, clean: Any) -> Ligands:
        return _flags(clean, tau=False, amount=True)


class _AddableAmounts(eqx.Module):
    """Amounts of the candidate species (clean amount 0) may grow, or every amount with
    `existing`; binding times never move."""

    existing: bool = eqx.field(static=True, default=False)

    def __call__(self, clean: Any) -> Ligands:  # any input: refused with a message unless Ligands
        clean = _ligands(clean)
        amount = jnp.ones(jnp.shape(clean.amount), bool) if self.existing else clean.amount == 0
        return Ligands(jnp.zeros(jnp.shape(clean.tau), bool), amount)

    def fixed_leaves(self, clean: Any) -> Ligands:
        return _flags(clean, tau=True, amount=False)


_BALLS = {"linf": LinfBall, "l2": L2Ball, "l1": L1Ball}


def _check_tau_c(owner: str, tau_c, optional: bool) -> None:
    if tau_c is None and optional:
        return
    check_value(owner, "tau_c", as_value(tau_c), fix="the critical binding time" + (", or None" if optional else ""))


def move_binding_times(epsilon: Value, tau_c: Value | None = None, norm: str = "linf") -> ThreatModel:
    """Perturb binding times within a norm ball; amounts fixed; τ ≥ 0.

    Beyond v1 (ours; FGSM with sign, PGD): the attacker changes the quality τ of the
    ligands it controls, ‖τ' − τ‖ ≤ ε, never their amounts; binding times stay ≥ 0 (clipped,
    not reset: the ball stays exact). With `tau_c`, only ligands whose clean τ < τ_c move —
    the agonists are the foreign signal and stay fixed, as in the v1 protocol. Use with
    `FGSM()` (one sign step of ε for "linf") or `PGD(...)`, and `turn_off(model)` (or
    `turn_on(model)` to make self look foreign).

    For T_{N,m} with m ≥ 2, ∂T/∂τ_j = 0 at τ_j = 0 (the fold-change curve is flat there): a
    binding time that a random start clips to 0 is stranded, so prefer
    `PGD(random_start=False)` or restarts when ε exceeds the smallest binding times.

    **Arguments:**
    - `epsilon`: the radius ε (units of τ), ≥ 0.
    - `tau_c`: if given, only ligands with clean τ < `tau_c` may move.
    - `norm`: "linf" (default), "l2" or "l1" (the L1 ball moves one τ per step, see `L1Ball`).

    **Returns:** a `ThreatModel` on `Ligands` inputs.
    """
    _check_radius("move_binding_times", epsilon)
    _check_tau_c("move_binding_times", tau_c, optional=True)
    if norm not in _BALLS:
        raise ValueError(f"move_binding_times: unknown norm {norm!r}; use one of {sorted(_BALLS)}")
    ball = _BALLS[norm](jnp.asarray(epsilon, jnp.float32))
    return ThreatModel(ball, [Mask(_MovableBindingTimes(tau_c)), NonNegative(where=_binding_times)])


def v1_descent(tau_c: Value = 3.0, reset: Value = 0.1) -> ThreatModel:
    """The unbounded v1 threat of Rademaker et al. 2019 (v1 figure "ligand distribution at the
    boundary"): only ligands with clean τ < τ_c move, amounts fixed, and a binding time that
    falls below 0 is reset to `reset` (0.1 in v1). The reset acts on binding times only.

    Run it with `GradientDescent(step_size=0.2, steps=...)` (raw gradient, no sign) and
    `turn_off(model)` (stop at the first T ≤ 1).

    **Arguments:**
    - `tau_c`: the critical binding time (v1: 3).
    - `reset`: the value given to binding times pushed below 0 (v1: 0.1).

    **Returns:** an unbounded `ThreatModel` on `Ligands` inputs.
    """
    _check_tau_c("v1_descent", tau_c, optional=False)
    check_value("v1_descent", "reset", as_value(reset), positive=False, fix="v1 resets τ < 0 to 0.1")
    return ThreatModel(None, [Mask(_MovableBindingTimes(tau_c)), NonNegative(reset=reset, where=_binding_times)])


def add_ligands(budget: Value, existing: bool = False, coordinates: int = 1) -> ThreatModel:
    """Add ligands with at most `budget` total amount (beyond v1, ours: PGD under a
    ligand budget, adding ligands instead of moving them).

    The input carries candidate species with amount 0 (`with_candidates`); the attacker
    raises their amounts, never lowers any, Σ added ≤ `budget` (a `Budget`, the non-negative
    corner of the L1 ball on amounts; its projection is exact). Binding times never move. The
    steepest-ascent step puts its mass on the candidate whose addition lowers (for
    `turn_off`) the output fastest, and the projection shifts the budget towards it.

    **Arguments:**
    - `budget`: the total amount that may be added, ≥ 0.
    - `existing`: also allow adding more of the species already present (default: only
      species whose clean amount is 0, i.e. the candidates).
    - `coordinates`: how many species share each steepest-ascent step (see `Budget`).

    **Returns:** a `ThreatModel` on `Ligands` inputs.
    """
    _check_radius("add_ligands", budget)
    ball = Budget(jnp.asarray(budget, jnp.float32), coordinates=coordinates)
    return ThreatModel(ball, [Mask(_AddableAmounts(bool(existing))), NonNegative(where=_amounts)])


def with_candidates(ligands: Ligands, tau_grid) -> Ligands:
    """`ligands` followed by one candidate species per binding time of `tau_grid`, each with
    amount 0: the ligands an `add_ligands` attacker may add.

    Works on one distribution (1-D leaves) or a batch (the candidates are appended along the
    last axis of every example).

    **Arguments:**
    - `ligands`: the clean distribution(s).
    - `tau_grid`: 1-D binding times of the candidates, finite and ≥ 0.

    **Returns:** `Ligands` with `len(tau_grid)` more species on the last axis.
    """
    grid = np.asarray(tau_grid, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError(f"tau_grid must be a non-empty 1-D list of binding times, got shape {grid.shape}")
    bad = ~np.isfinite(grid) | (grid < 0)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(f"candidate binding times must be finite and ≥ 0; tau_grid[{first}] = {grid[first]}")
    tau, amount = jnp.asarray(ligands.tau), jnp.asarray(ligands.amount)
    if tau.ndim == 0 or tau.shape != amount.shape:
        raise ValueError(f"ligands need τ and L of one shape with a species axis, got {tau.shape} and {amount.shape}")
    batch = tau.shape[:-1]
    cand_tau = jnp.broadcast_to(jnp.asarray(grid, tau.dtype), batch + grid.shape)
    return Ligands(
        jnp.concatenate([tau, cand_tau], axis=-1),
        jnp.concatenate([amount, jnp.zeros(batch + grid.shape, amount.dtype)], axis=-1),
    )


def _threshold(model_or_threshold):
    """The model's threshold (or the number given): a Python float when concrete, a tracer as is
    (an objective built inside `jit`/`vmap`, e.g. over cell models)."""
    threshold = getattr(model_or_threshold, "threshold", model_or_threshold)
    if is_traced(threshold):
        return threshold
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise TypeError(f"pass a cell model (with a threshold) or a number, got {model_or_threshold!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"the decision threshold must be finite, got {value}")
    return value


def turn_on(model_or_threshold: Any = 1.0) -> ScalarThreshold:
    """The targeted "turn on" objective: push the output above the threshold (make a self
    distribution look foreign; success iff output > threshold).

    **Arguments:**
    - `model_or_threshold`: a cell model (its `threshold` is used) or the threshold itself.
    """
    return ScalarThreshold(_threshold(model_or_threshold), direction="above")


def turn_off(model_or_threshold: Any = 1.0) -> ScalarThreshold:
    """The "turn off" objective of the v1 attacks: push the output to the threshold or below
    (make a foreign distribution look self; success iff output ≤ threshold).

    **Arguments:**
    - `model_or_threshold`: a cell model (its `threshold` is used) or the threshold itself.
    """
    return ScalarThreshold(_threshold(model_or_threshold), direction="below")
