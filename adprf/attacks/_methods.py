"""Attack step rules. A method says how to start and how to move; the engine runs it.

Every method acts on one example: `init(key, x_clean, threat) -> (x, state)` and
`update(x, state, loss, grad, x_clean, threat) -> (x, state)`, where `loss` and `grad`
are the objective and its gradient at `x`. The engine evaluates them, checks success,
stops finished examples, handles restarts and keeps the worst case.
"""

import abc
import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .._types import ArrayLike, Float, Input, PRNGKeyArray, Scalar
from ._threats import ThreatModel
from ._values import Value, as_value, check_value, like, shown


class AbstractMethod(eqx.Module):
    """A step rule with `steps` iterations per run and `restarts` runs (worst case kept).

    With `stop_at_success` an example stops at its first success (per-example early
    stopping); otherwise it runs all steps and the engine keeps, among its successful
    iterates, the smallest perturbation (`keep_smallest`, minimal-perturbation attacks) or
    the highest loss (e.g. PGD for adversarial training). A method with `uses_gradient`
    false (Square) asks for the loss only: the engine evaluates the model forward, and
    `update` gets `grad=None`.
    """

    steps: eqx.AbstractVar[int]
    restarts: eqx.AbstractVar[int]

    stop_at_success = True
    keep_smallest = False
    uses_gradient = True

    @abc.abstractmethod
    def init(self, key: PRNGKeyArray, x_clean: Input, threat: ThreatModel) -> tuple[Input, Any]: ...

    @abc.abstractmethod
    def update(
        self, x: Input, state: Any, loss: Scalar, grad: Input, x_clean: Input, threat: ThreatModel
    ) -> tuple[Input, Any]: ...

    def budget_as_data(self) -> "AbstractMethod":
        """This method with `steps` and `restarts` as int32 array leaves where they are plain
        fields (data), so that attacks differing only in them share one compiled loop; the
        engine calls it at the compile boundary. Methods whose schedule is built from them in
        Python (APGD's checkpoints, Square's) hold them static and come back as they are."""
        static = {field.name for field in dataclasses.fields(self) if field.metadata.get("static", False)}
        names = [name for name in ("steps", "restarts") if name not in static]
        if not names:
            return self
        counts = [np.asarray(getattr(self, name), np.int32) for name in names]
        return eqx.tree_at(lambda method: [getattr(method, name) for name in names], self, counts)

    def __check_init__(self):
        if not (isinstance(self.steps, int) and self.steps >= 1):
            raise ValueError(f"{type(self).__name__}: steps must be an integer ≥ 1, got {self.steps!r}")
        if not (isinstance(self.restarts, int) and self.restarts >= 1):
            raise ValueError(f"{type(self).__name__}: restarts must be an integer ≥ 1, got {self.restarts!r}")


def _ascend(x: Input, direction: Input, step: float | Scalar) -> Input:
    return jax.tree.map(lambda a, d: a + step * d, x, direction)


class PGD(AbstractMethod):
    """Projected gradient ascent in the threat's geometry (Madry et al. 2018).

    x ← Π(x + α · d(∇L)), with d the threat's steepest-ascent direction (the sign for L∞,
    the normalised gradient for L2, a sparse step for L1 and budgets), computed on the
    coordinates the threat lets move.
    `random_start=False` gives BIM (Kurakin et al.). Restarts draw new random starts and
    keep the first success (or, if none succeeds, the last run).

    The step α is data (an array leaf): attacks that differ only in it share one compiled
    loop, and `jax.vmap` can sweep it. Give it as an absolute `step_size`, or as
    `relative_step` k, so that α = k · ε at each radius of a sweep (`run_attack`,
    `robust_accuracy` run every radius in one call; with an absolute step they would all take
    the same α). Neither: α = 2.5 ε / steps (Madry et al.'s rule of thumb). The engine
    passes `steps` and `restarts` as data too (`budget_as_data`): PGD-40 and PGD-200, or one
    and five restarts, run one compiled loop.

    **Arguments:**
    - `steps`: iterations per run (default 40).
    - `step_size`: α, one number > 0; `None` (default) uses `relative_step`, or 2.5 ε / steps.
    - `random_start`: start uniformly in the ball (default True).
    - `restarts`: number of runs (default 1).
    - `stop_at_success`: stop an example at its first success (default True, the cheapest
      evaluation); `False` runs every step and keeps the highest-loss iterate (Madry's
      adversarial training attacks this way).
    - `relative_step`: k > 0, the step as a multiple of the radius: α = k · ε at each pair's ε
      (`relative_step=2.5 / steps` is the default rule; needs a norm-ball threat). Keyword
      only; exclusive with `step_size`.
    """

    steps: int = 40
    step_size: Float[ArrayLike, ""] | None = eqx.field(default=None, converter=as_value)
    random_start: bool = eqx.field(static=True, default=True)
    restarts: int = 1
    stop_at_success: bool = eqx.field(static=True, default=True)
    relative_step: Float[ArrayLike, ""] | None = eqx.field(default=None, converter=as_value, kw_only=True)

    def __check_init__(self):
        if self.step_size is not None and self.relative_step is not None:
            raise ValueError(
                f"PGD: give step_size (α, absolute) or relative_step (α = relative_step · ε), not both; "
                f"got step_size={shown(self.step_size)}, relative_step={shown(self.relative_step)}"
            )
        if self.step_size is not None:
            check_value(
                "PGD",
                "step_size",
                self.step_size,
                fix="a negative step descends the loss and overstates robustness; None uses 2.5 ε / steps",
            )
        if self.relative_step is not None:
            check_value(
                "PGD",
                "relative_step",
                self.relative_step,
                fix="the step is relative_step · ε, e.g. 2.5 / steps; a negative step descends the loss",
            )

    def step_length(self, threat: ThreatModel) -> Scalar:
        """α at `threat`'s radius ε: `step_size`, `relative_step` · ε, or 2.5 ε / steps (float32)."""
        if self.step_size is not None:
            return jnp.asarray(self.step_size, jnp.float32)
        if threat.ball is None:
            rule = "relative_step · ε" if self.relative_step is not None else "2.5 ε / steps"
            raise ValueError(
                f"PGD without step_size needs a norm-ball threat (its step is {rule}): give step_size for an "
                f"unbounded threat"
            )
        if self.relative_step is not None:
            return jnp.asarray(self.relative_step, jnp.float32) * jnp.asarray(threat.epsilon, jnp.float32)
        return 2.5 * threat.epsilon / self.steps

    def init(self, key, x_clean, threat):
        x = threat.random_start(key, x_clean) if self.random_start else x_clean
        return x, None

    def update(self, x, state, loss, grad, x_clean, threat):
        x = _ascend(x, threat.steepest_ascent(grad, x_clean), self.step_length(threat))
        return threat.project(x, x_clean), state


class FGSM(AbstractMethod):
    """Fast gradient sign method (Goodfellow et al. 2015): one step of size ε.

    In the L2 geometry this is the fast gradient method (normalised gradient).
    """

    steps: int = eqx.field(static=True, default=1, init=False)
    restarts: int = eqx.field(static=True, default=1, init=False)

    def init(self, key, x_clean, threat):
        if threat.ball is None:
            raise ValueError("FGSM needs a norm-ball threat (its step is ε)")
        return x_clean, None

    def update(self, x, state, loss, grad, x_clean, threat):
        x = _ascend(x, threat.steepest_ascent(grad, x_clean), threat.epsilon)
        return threat.project(x, x_clean), state


def BIM(steps: int = 10, step_size: Value | None = None) -> PGD:
    """Basic iterative method: PGD without random start."""
    return PGD(steps=steps, step_size=step_size, random_start=False)


class GradientDescent(AbstractMethod):
    """Raw gradient ascent on the objective, x ← Π(x + α ∇L), stopping at success.

    No sign, no normalisation: this is the v1 ligand protocol of Rademaker et al.
    (τ ← τ − 0.2 ∂T/∂τ with the `ScalarThreshold` objective, until T ≤ 1).

    **Arguments:**
    - `step_size`: α.
    - `steps`: maximum number of iterations.
    """

    step_size: Float[ArrayLike, ""] = eqx.field(default=0.2, converter=as_value)
    steps: int = 1000
    restarts: int = eqx.field(static=True, default=1, init=False)

    def __check_init__(self):
        check_value(
            "GradientDescent",
            "step_size",
            self.step_size,
            fix="the attack ascends the objective; a negative step would descend it",
        )

    def init(self, key, x_clean, threat):
        return threat.project(x_clean, x_clean), None

    def update(self, x, state, loss, grad, x_clean, threat):
        x = jax.tree.map(lambda a, g: a + like(self.step_size, g) * g, x, grad)
        return threat.project(x, x_clean), state


_ADAM = optax.adam(0.01)
"""`Minimal`'s default optimiser, one object: the optimiser is structure (its functions), and
`Minimal()` built twice must compare equal to share a compiled loop."""


class Minimal(AbstractMethod):
    """Minimal-perturbation attack with an optax optimiser (Carlini–Wagner style).

    Minimises ‖δ‖₂² − c · min(L(x_clean + δ), κ) over δ with `optimizer` (default Adam),
    projecting onto the threat after every step; runs all `steps` and the engine keeps the
    successful iterate of smallest norm. Use it with the `Margin` objective for CW-L2.
    The constant c is fixed (no binary search).

    **Arguments:**
    - `optimizer`: an `optax.GradientTransformation` (default `optax.adam(0.01)`). It is
      structure: its learning rate is a constant of its functions, so another learning rate
      is another compiled loop (share one optimiser object between attacks to share it).
    - `steps`: iterations (default 200).
    - `c`: weight of the objective against the squared L2 norm (default 1.0).
    - `confidence`: κ, the loss beyond which the objective stops pulling (default 0).
    """

    optimizer: optax.GradientTransformation = eqx.field(static=True, default=_ADAM)
    steps: int = 200
    c: Float[ArrayLike, ""] = eqx.field(default=1.0, converter=as_value)
    confidence: Float[ArrayLike, ""] = eqx.field(default=0.0, converter=as_value)
    restarts: int = eqx.field(static=True, default=1, init=False)

    stop_at_success = False
    keep_smallest = True

    def __check_init__(self):
        if not isinstance(self.optimizer, optax.GradientTransformation):
            raise TypeError(
                f"Minimal: optimizer must be an optax.GradientTransformation (e.g. optax.adam(0.01)), "
                f"got {self.optimizer!r}"
            )
        check_value("Minimal", "c", self.c, fix="c weighs the objective against ‖δ‖²")
        check_value("Minimal", "confidence", self.confidence, positive=False)

    def init(self, key, x_clean, threat):
        delta = jax.tree.map(jnp.zeros_like, x_clean)
        return x_clean, self.optimizer.init(delta)

    def update(self, x, state, loss, grad, x_clean, threat):
        delta = jax.tree.map(jnp.subtract, x, x_clean)
        pull = jnp.where(loss < like(self.confidence, loss), like(self.c, loss), 0.0)
        total = jax.tree.map(lambda d, g: 2.0 * d - pull * g, delta, grad)
        updates, state = self.optimizer.update(total, state, delta)
        x = jax.tree.map(jnp.add, x_clean, optax.apply_updates(delta, updates))
        return threat.project(x, x_clean), state
