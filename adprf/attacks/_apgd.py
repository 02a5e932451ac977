"""Auto-PGD (Croce & Hein, ICML 2020): PGD with momentum and a step size that adapts itself.

The step starts at 2ε and is halved at checkpoints w_j = ⌈p_j N⌉ (p_0 = 0, p_1 = 0.22,
p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)) when, since the previous checkpoint, the
loss rose in fewer than a fraction ρ = 0.75 of the steps (condition 1), or the step was not
halved at the previous checkpoint and the best loss has not improved since (condition 2).
A halving also moves the iterate back to the best point found so far (with its gradient).
Each step is

    z = Π(x_k + η d(∇L(x_k))),   x_{k+1} = Π(x_k + α (z − x_k) + (1 − α)(x_k − x_{k−1}))

with α = 0.75 (α = 1 for the first step) and d the threat's steepest-ascent direction (the
sign for L∞, the normalised gradient for L2, a sparse step for L1 and budgets), so APGD runs
on every threat the engine knows, ligand distributions included.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, ArrayLike, Bool, Float, Input, Int, Scalar
from ._methods import AbstractMethod
from ._values import as_value, check_value, is_traced, like, shown


def _select(condition: Bool[Array, ""], a: Input, b: Input) -> Input:
    return jax.tree.map(lambda u, v: jnp.where(condition, u, v), a, b)


class APGDState(eqx.Module):
    """APGD's state for one example, between two evaluations.

    - `previous`, `previous_loss`: the iterate before the current one, and its loss.
    - `step`: η, the current step size.
    - `best`, `best_loss`, `best_gradient`: the highest-loss point of the run, and the
      gradient there (a halving restarts from it).
    - `increases`, `since`, `interval`: steps whose loss rose since the last checkpoint, the
      steps taken since it, and the length of the current interval between checkpoints.
    - `best_at_check`, `halved_at_check`: the best loss at the last checkpoint, and whether
      the step was halved there.
    - `k`: evaluations of the run so far, minus one.
    """

    previous: Input
    previous_loss: Scalar
    step: Float[Array, ""]
    best: Input
    best_loss: Scalar
    best_gradient: Input
    increases: Int[Array, ""]
    since: Int[Array, ""]
    interval: Int[Array, ""]
    best_at_check: Scalar
    halved_at_check: Bool[Array, ""]
    k: Int[Array, ""]


class APGD(AbstractMethod):
    """Auto-PGD (Croce & Hein 2020): momentum 0.75 and a self-adapting step (see the module).

    Use it with `CrossEntropy` (APGD-CE), `DLR` (APGD-DLR) or `TargetedDLR` (APGD-T, one
    target class per example; `evaluate_robustness` runs the top classes). Restarts draw a new
    random start; the engine keeps the worst case over them.

    **Arguments:**
    - `steps`: N, the iterations per run (default 100); N + 1 evaluations.
    - `restarts`: runs from new random starts (default 1).
    - `relative_step`: the first step as a multiple of ε (default 2.0, the paper's 2ε).
    - `step_size`: the first step, absolute (for threats without a radius); exclusive with
      `relative_step`.
    - `random_start`: start uniformly in the ball (default True) or at the clean input.
    - `momentum`: α (default 0.75). `rho`: ρ, condition 1's fraction (default 0.75).
    - `stop_at_success`: stop an example at its first success (default True).
    """

    steps: int = eqx.field(static=True, default=100)
    restarts: int = eqx.field(static=True, default=1)
    relative_step: Float[ArrayLike, ""] | None = eqx.field(default=2.0, converter=as_value)
    step_size: Float[ArrayLike, ""] | None = eqx.field(default=None, converter=as_value, kw_only=True)
    random_start: bool = eqx.field(static=True, default=True, kw_only=True)
    momentum: Float[ArrayLike, ""] = eqx.field(default=0.75, converter=as_value, kw_only=True)
    rho: Float[ArrayLike, ""] = eqx.field(default=0.75, converter=as_value, kw_only=True)
    stop_at_success: bool = eqx.field(static=True, default=True, kw_only=True)

    def __check_init__(self):
        if (self.step_size is None) == (self.relative_step is None):
            raise ValueError(
                f"APGD: give relative_step (η₀ = relative_step · ε, default 2) or step_size (η₀ absolute, with "
                f"relative_step=None); got step_size={shown(self.step_size)}, relative_step={shown(self.relative_step)}"
            )
        for name in ("step_size", "relative_step"):
            if getattr(self, name) is not None:
                check_value("APGD", name, getattr(self, name), fix="the first step must be positive")
        check_value("APGD", "momentum", self.momentum, fix="α in (0, 1]; 0.75 is the paper's")
        check_value("APGD", "rho", self.rho, fix="ρ in (0, 1); 0.75 is the paper's")
        for name, high in (("momentum", 1.0), ("rho", 1.0)):
            value = getattr(self, name)
            if not is_traced(value) and float(value) > high:
                raise ValueError(f"APGD: {name} must be at most 1 (0.75 is the paper's), got {shown(value)}")

    @property
    def checkpoint_intervals(self) -> tuple[int, int, int]:
        """The first interval between checkpoints (0.22 N), its decrease per checkpoint
        (0.03 N) and its minimum (0.06 N), in steps (at least 1 each)."""
        n = self.steps
        return max(int(0.22 * n), 1), max(int(0.03 * n), 1), max(int(0.06 * n), 1)

    def first_step(self, threat) -> Float[Array, ""]:
        if self.step_size is not None:
            return jnp.asarray(self.step_size, jnp.float32)
        if threat.ball is None:
            raise ValueError("APGD's first step is relative_step · ε: give step_size for a threat without a radius")
        return jnp.asarray(self.relative_step, jnp.float32) * jnp.asarray(threat.epsilon, jnp.float32)

    def init(self, key, x_clean, threat):
        x = threat.random_start(key, x_clean) if self.random_start else threat.project(x_clean, x_clean)
        zero = jnp.asarray(0, jnp.int32)
        state = APGDState(
            previous=x,
            previous_loss=jnp.asarray(-jnp.inf),
            step=self.first_step(threat),
            best=x,
            best_loss=jnp.asarray(-jnp.inf),  # weakly typed: takes the loss's dtype
            best_gradient=jax.tree.map(jnp.zeros_like, x),
            increases=zero,
            since=zero,
            interval=jnp.asarray(self.checkpoint_intervals[0], jnp.int32),
            best_at_check=jnp.asarray(-jnp.inf),
            halved_at_check=jnp.asarray(False),
            k=zero,
        )
        return x, state

    def update(self, x, state: APGDState, loss, grad, x_clean, threat):
        _, decrease, shortest = self.checkpoint_intervals
        first = state.k == 0
        improved = loss > state.best_loss
        best = _select(improved, x, state.best)
        best_gradient = _select(improved, grad, state.best_gradient)
        best_loss = jnp.where(improved, loss, state.best_loss)
        increases = state.increases + jnp.where(first, 0, (loss > state.previous_loss).astype(jnp.int32))
        since = state.since + jnp.where(first, 0, 1)
        check = since >= state.interval
        rarely_rising = increases < like(self.rho, loss) * state.interval.astype(jnp.float32)
        stalled = ~state.halved_at_check & (state.best_at_check >= best_loss)
        halve = check & (rarely_rising | stalled)
        step = jnp.where(halve, state.step / 2, state.step)
        here, grad = _select(halve, (best, best_gradient), (x, grad))
        direction = threat.steepest_ascent(grad, x_clean)
        z = threat.project(jax.tree.map(lambda a, d: a + step * d, here, direction), x_clean)
        alpha = jnp.where(first, 1.0, jnp.asarray(self.momentum, jnp.float32))
        moved = jax.tree.map(
            lambda a, b, p: a + like(alpha, a) * (b - a) + like(1.0 - alpha, a) * (a - p), here, z, state.previous
        )
        state = APGDState(
            previous=here,
            previous_loss=loss,
            step=step,
            best=best,
            best_loss=best_loss,
            best_gradient=best_gradient,
            increases=jnp.where(check, 0, increases),
            since=jnp.where(check, 0, since),
            interval=jnp.where(check, jnp.maximum(state.interval - decrease, shortest), state.interval),
            best_at_check=jnp.where(check, best_loss, state.best_at_check),
            halved_at_check=jnp.where(check, halve, state.halved_at_check),
            k=state.k + 1,
        )
        return threat.project(moved, x_clean), state
