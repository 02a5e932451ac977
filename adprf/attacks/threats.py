"""Threat models: the set of inputs an attacker may reach, as composed projections.

A `ThreatModel` is an optional norm ball around the clean input (L∞ or L2, radius ε)
followed by constraints applied in order (box bounds, non-negativity, masks of the
coordinates allowed to move). Everything acts leaf-wise on pytree inputs; ball norms are
taken over the whole pytree (one example). The intersection of an L∞ ball and a box is a
box, so `linf` + `Box` is the exact projection; for L2 + box the sequential projection is
the usual approximation (as in foolbox and cleverhans).
"""

import abc
import math
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import optax.projections as projections  # noqa: F401  (the L∞ ball)

from .._types import Input, PRNGKeyArray, Scalar


def _tree_random_like(key: PRNGKeyArray, tree: Input, sampler) -> Input:
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [sampler(k, leaf) for k, leaf in zip(keys, leaves)])


class AbstractBall(eqx.Module):
    """A norm ball of radius `epsilon` around the clean input."""

    epsilon: Scalar

    @abc.abstractmethod
    def project(self, x: Input, x_clean: Input) -> Input:
        """Nearest point of the ball to `x`."""

    @abc.abstractmethod
    def steepest_ascent(self, grad: Input) -> Input:
        """Unit-norm direction of steepest ascent for this norm (sign for L∞, normalised for L2)."""

    @abc.abstractmethod
    def random_start(self, key: PRNGKeyArray, x_clean: Input) -> Input:
        """A point drawn uniformly from the ball."""

    @abc.abstractmethod
    def norm(self, delta: Input) -> Scalar:
        """The ball's norm of a perturbation."""


class LinfBall(AbstractBall):
    """‖x − x_clean‖∞ ≤ ε."""

    def project(self, x, x_clean):
        delta = jax.tree.map(jnp.subtract, x, x_clean)
        return jax.tree.map(jnp.add, x_clean, projections.projection_linf_ball(delta, self.epsilon))

    def steepest_ascent(self, grad):
        return jax.tree.map(jnp.sign, grad)

    def random_start(self, key, x_clean):
        noise = _tree_random_like(key, x_clean, lambda k, a: jax.random.uniform(
            k, a.shape, a.dtype, -1.0, 1.0))
        radius = jnp.where(jnp.isfinite(self.epsilon), self.epsilon, 0.0)  # ε = ∞: start clean
        return jax.tree.map(lambda a, n: a + radius * n, x_clean, noise)

    def norm(self, delta):
        return optax.tree_utils.tree_norm(delta, ord="inf")


class L2Ball(AbstractBall):
    """‖x − x_clean‖₂ ≤ ε (the norm over all leaves of one example)."""

    def project(self, x, x_clean):
        # optax's projection_l2_ball divides 0 by 0 at ε = 0; scale by min(1, ε/‖δ‖) safely.
        delta = jax.tree.map(jnp.subtract, x, x_clean)
        norm = optax.tree_utils.tree_norm(delta)
        scale = jnp.where(norm > self.epsilon, self.epsilon / jnp.where(norm > 0, norm, 1.0), 1.0)
        return jax.tree.map(lambda c, d: c + scale * d, x_clean, delta)

    def steepest_ascent(self, grad):
        norm = optax.tree_utils.tree_norm(grad)
        scale = jnp.where(norm > 0, 1.0 / jnp.where(norm > 0, norm, 1.0), 0.0)
        return jax.tree.map(lambda g: g * scale, grad)

    def random_start(self, key, x_clean):
        k_dir, k_rad = jax.random.split(key)
        direction = _tree_random_like(k_dir, x_clean, lambda k, a: jax.random.normal(k, a.shape, a.dtype))
        size = sum(math.prod(a.shape) for a in jax.tree.leaves(x_clean))
        epsilon = jnp.where(jnp.isfinite(self.epsilon), self.epsilon, 0.0)  # ε = ∞: start clean
        radius = epsilon * jax.random.uniform(k_rad) ** (1.0 / size)
        unit = self.steepest_ascent(direction)
        return jax.tree.map(lambda a, u: a + radius * u, x_clean, unit)

    def norm(self, delta):
        return optax.tree_utils.tree_norm(delta)


class AbstractConstraint(eqx.Module):
    """A projection applied after the ball: `constraint(x, x_clean) -> x`."""

    @abc.abstractmethod
    def __call__(self, x: Input, x_clean: Input) -> Input:
        ...


class Box(AbstractConstraint):
    """lower ≤ x ≤ upper, leaf-wise (e.g. pixels in [0, 1])."""

    lower: float = eqx.field(static=True, default=0.0)
    upper: float = eqx.field(static=True, default=1.0)

    def __check_init__(self):
        if not self.lower < self.upper:
            raise ValueError(f"Box needs lower < upper, got lower={self.lower}, upper={self.upper}")

    def __call__(self, x, x_clean):
        return jax.tree.map(lambda a: jnp.clip(a, self.lower, self.upper), x)


class NonNegative(AbstractConstraint):
    """x ≥ floor leaf-wise; with `reset`, coordinates that fall below `floor` are set to
    `reset` instead of clipped (the v1 ligand protocol resets τ < 0 to 0.1)."""

    floor: float = eqx.field(static=True, default=0.0)
    reset: float | None = eqx.field(static=True, default=None)

    def __call__(self, x, x_clean):
        if self.reset is None:
            return jax.tree.map(lambda a: jnp.maximum(a, self.floor), x)
        return jax.tree.map(lambda a: jnp.where(a < self.floor, self.reset, a), x)


class Mask(AbstractConstraint):
    """Only coordinates where the mask is True may move; the others keep their clean value.

    `mask` is a pytree of booleans shaped like one example (broadcastable leaf-wise), or a
    function of the clean example returning one (e.g. "only ligands with τ < τ_c").
    """

    mask: Any = eqx.field(static=True)

    def __call__(self, x, x_clean):
        mask = self.mask(x_clean) if callable(self.mask) else self.mask
        return jax.tree.map(jnp.where, mask, x, x_clean)


class ThreatModel(eqx.Module):
    """A norm ball (or none) followed by constraints, applied in order.

    **Arguments:**
    - `ball`: `LinfBall`, `L2Ball`, or `None` for an unbounded perturbation.
    - `constraints`: projections applied after the ball, e.g. `(Box(0, 1),)`.
    """

    ball: AbstractBall | None
    constraints: tuple[AbstractConstraint, ...] = ()

    def __init__(self, ball: AbstractBall | None = None,
                 constraints: Sequence[AbstractConstraint] = ()):
        self.ball = ball
        self.constraints = tuple(constraints)

    @property
    def epsilon(self) -> Scalar:
        return jnp.asarray(jnp.inf) if self.ball is None else self.ball.epsilon

    def with_epsilon(self, epsilon) -> "ThreatModel":
        """The same threat with radius `epsilon` (a no-op without a ball)."""
        if self.ball is None:
            return self
        return eqx.tree_at(lambda t: t.ball.epsilon, self, jnp.asarray(epsilon, jnp.float32))

    def project(self, x: Input, x_clean: Input) -> Input:
        if self.ball is not None:
            x = self.ball.project(x, x_clean)
        for constraint in self.constraints:
            x = constraint(x, x_clean)
        return x

    def random_start(self, key: PRNGKeyArray, x_clean: Input) -> Input:
        """A uniform draw from the ball, projected onto the constraints."""
        if self.ball is None:
            return x_clean
        return self.project(self.ball.random_start(key, x_clean), x_clean)

    def steepest_ascent(self, grad: Input) -> Input:
        """The ball's steepest-ascent direction; the raw gradient without a ball."""
        return grad if self.ball is None else self.ball.steepest_ascent(grad)

    def bounds(self) -> tuple[float, float] | None:
        """The (lower, upper) of the tightest `Box` constraint, if any."""
        boxes = [c for c in self.constraints if isinstance(c, Box)]
        if not boxes:
            return None
        return max(b.lower for b in boxes), min(b.upper for b in boxes)


def linf(epsilon: float, bounds: tuple[float, float] | None = (0.0, 1.0),
         constraints: Sequence[AbstractConstraint] = ()) -> ThreatModel:
    """L∞ ball of radius `epsilon`, then box `bounds` (None: no box), then `constraints`."""
    box = () if bounds is None else (Box(*bounds),)
    return ThreatModel(LinfBall(jnp.asarray(epsilon, jnp.float32)), (*box, *constraints))


def l2(epsilon: float, bounds: tuple[float, float] | None = (0.0, 1.0),
       constraints: Sequence[AbstractConstraint] = ()) -> ThreatModel:
    """L2 ball of radius `epsilon`, then box `bounds` (None: no box), then `constraints`."""
    box = () if bounds is None else (Box(*bounds),)
    return ThreatModel(L2Ball(jnp.asarray(epsilon, jnp.float32)), (*box, *constraints))


def unbounded(constraints: Sequence[AbstractConstraint] = ()) -> ThreatModel:
    """No norm ball: only `constraints` (e.g. non-negativity and a mask for ligand attacks)."""
    return ThreatModel(None, tuple(constraints))


THREATS: dict[str, Callable[..., ThreatModel]] = {"linf": linf, "l2": l2}
