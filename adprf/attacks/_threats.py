"""Threat models: the set of inputs an attacker may reach, as composed projections.

A `ThreatModel` is an optional ball around the clean input (L∞, L2, L1 of radius ε, or a
`Budget`: at most ε added in total, nothing removed) followed by constraints applied in
order (box bounds, non-negativity, masks of the coordinates allowed to move). Everything
acts leaf-wise on pytree inputs; ball norms are taken over the whole pytree (one example).

Masks also act *before* the ball: the coordinates they fix are reset to their clean value
before the ball projection, are left out of random starts, and get no share of the
steepest-ascent direction, so the ball's radius is spent only on coordinates that may move
(this is the exact projection onto ball ∩ mask for every ball here). The intersection of an
L∞ ball and a box is a box, so `linf` + `Box` is the exact projection; for L2 or L1 + box
the sequential projection is the usual approximation (as in foolbox and cleverhans). A
`Budget` followed by non-negativity of the same coordinates is exact.
"""

import abc
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeAlias

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np
import optax
import optax.projections as projections  # the L∞ and L1 balls, the simplex
from jax.flatten_util import ravel_pytree

from .._types import ArrayLike, Float, Input, PRNGKeyArray, PyTree, Scalar
from ._values import Value, as_mask, as_value, check_value, is_traced, like, number, shown


def _tree_random_like(key: PRNGKeyArray, tree: Input, sampler) -> Input:
    leaves, treedef = jax.tree.flatten(tree)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [sampler(k, leaf) for k, leaf in zip(keys, leaves)])


def _on_support(tree: Input, support: Input | None) -> Input:
    """Zero `tree` outside `support` (a pytree of 0/1 like `tree`; None: everywhere allowed)."""
    return tree if support is None else jax.tree.map(jnp.multiply, tree, support)


def _check_radius(owner: str, epsilon) -> None:
    """Reject a radius that is not a single number ≥ 0 (NaN, negative, an array) when it is
    concrete (traced radii pass). ε = ∞ is allowed: the whole space (or box)."""
    if isinstance(epsilon, jax.core.Tracer):
        return
    try:
        value = np.asarray(epsilon, dtype=np.float64)
    except (TypeError, ValueError):
        value = None
    if value is None or value.ndim != 0 or np.isnan(value) or value < 0:
        raise ValueError(f"{owner} needs a radius ε ≥ 0 (a single number, inf allowed), got {epsilon!r}")


class AbstractBall(eqx.Module):
    """A norm ball of radius `epsilon` around the clean input."""

    epsilon: Scalar

    def __check_init__(self):
        _check_radius(type(self).__name__, self.epsilon)

    @abc.abstractmethod
    def project(self, x: Input, x_clean: Input) -> Input:
        """Nearest point of the ball to `x`."""

    @abc.abstractmethod
    def steepest_ascent(self, grad: Input) -> Input:
        """Unit-norm direction of steepest ascent for this norm (sign for L∞, normalised for L2,
        sparse for L1 and budgets)."""

    @abc.abstractmethod
    def random_start(self, key: PRNGKeyArray, x_clean: Input, support: Input | None = None) -> Input:
        """A point drawn uniformly from the ball; with `support` (a 0/1 pytree like `x_clean`),
        uniformly from the ball's section where only the coordinates with support 1 move."""

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

    def random_start(self, key, x_clean, support=None):
        noise = _on_support(
            _tree_random_like(key, x_clean, lambda k, a: jax.random.uniform(k, a.shape, a.dtype, -1.0, 1.0)), support
        )
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

    def random_start(self, key, x_clean, support=None):
        k_dir, k_rad = jax.random.split(key)
        direction = _tree_random_like(k_dir, x_clean, lambda k, a: jax.random.normal(k, a.shape, a.dtype))
        if support is None:
            size = sum(math.prod(a.shape) for a in jax.tree.leaves(x_clean))
        else:
            direction = _on_support(direction, support)
            size = jnp.maximum(optax.tree_utils.tree_sum(support), 1.0)
        epsilon = jnp.where(jnp.isfinite(self.epsilon), self.epsilon, 0.0)  # ε = ∞: start clean
        radius = epsilon * jax.random.uniform(k_rad) ** (1.0 / size)
        unit = self.steepest_ascent(direction)
        return jax.tree.map(lambda a, u: a + radius * u, x_clean, unit)

    def norm(self, delta):
        return optax.tree_utils.tree_norm(delta)


def _sparse_direction(grad: Input, coordinates: int, one_sided: bool) -> Input:
    """Unit L1 mass spread evenly over the `coordinates` entries of largest |grad| (of largest
    positive grad when `one_sided`), with the gradient's sign; zero where the gradient is."""
    flat, unravel = ravel_pytree(grad)
    k = min(coordinates, flat.size)
    top, index = jax.lax.top_k(flat if one_sided else jnp.abs(flat), k)
    picked = top > 0
    share = jnp.where(picked, jnp.sign(flat[index]), 0.0) / jnp.maximum(jnp.sum(picked), 1)
    return unravel(jnp.zeros_like(flat).at[index].set(share.astype(flat.dtype)))


def _scale_into(delta: Input, epsilon: Scalar) -> Input:
    """Rescale `delta` by min(1, ε/‖δ‖₁): absorbs the float32 rounding (~1e-5 relative) of the
    sort-based projections so that the L1 radius (a budget) is never exceeded."""
    norm = optax.tree_utils.tree_norm(delta, ord=1)
    scale = jnp.where(norm > epsilon, epsilon / jnp.where(norm > 0, norm, 1.0), 1.0)
    return jax.tree.map(lambda d: d * scale.astype(d.dtype), delta)


def _sparse_random_start(
    key: PRNGKeyArray, x_clean: Input, support: Input | None, epsilon: Scalar, signed: bool
) -> Input:
    """Uniform draw from the L1 ball (`signed`) or from its non-negative corner {δ ≥ 0, Σδ ≤ ε}.

    Exponential magnitudes normalised by their sum plus one more exponential (the slack) are
    uniform on the corner {δ ≥ 0, Σδ ≤ 1} (a flat Dirichlet with the slack dropped); random
    signs spread that uniformly over the 2^d orthants of the L1 ball.
    """
    k_mag, k_slack, k_sign = jax.random.split(key, 3)
    magnitude = _on_support(
        _tree_random_like(k_mag, x_clean, lambda k, a: jax.random.exponential(k, a.shape, a.dtype)), support
    )
    slack = jax.random.exponential(k_slack, ())
    total = optax.tree_utils.tree_sum(magnitude) + slack
    if signed:
        signs = _tree_random_like(k_sign, x_clean, lambda k, a: jax.random.rademacher(k, a.shape, a.dtype))
        magnitude = jax.tree.map(jnp.multiply, magnitude, signs)
    radius = jnp.where(jnp.isfinite(epsilon), epsilon, 0.0) / total  # ε = ∞: start clean
    return jax.tree.map(lambda a, d: a + (radius * d).astype(a.dtype), x_clean, magnitude)


class AbstractSparseBall(AbstractBall):
    """A ball whose steepest-ascent steps are sparse: `coordinates` of them share each step."""

    coordinates: int = eqx.field(static=True, default=1, kw_only=True)

    def __check_init__(self):
        if not (isinstance(self.coordinates, int) and self.coordinates >= 1):
            raise ValueError(f"{type(self).__name__}: coordinates must be an integer ≥ 1, got {self.coordinates!r}")

    def _admissible(self, delta: Input) -> Input:
        """The part of a perturbation the ball can hold before its radius applies."""
        return delta

    @abc.abstractmethod
    def _onto(self, delta: Input, radius: Scalar) -> Input:
        """The projection of an admissible perturbation onto the ball of finite `radius` > 0."""

    def project(self, x, x_clean):
        delta = self._admissible(jax.tree.map(jnp.subtract, x, x_clean))
        finite = jnp.isfinite(self.epsilon)
        usable = finite & (self.epsilon > 0)
        # optax divides by ε: feed it a harmless radius where ε is 0 or ∞ and select afterwards.
        radius = jnp.where(usable, self.epsilon, 1.0)
        inside = self._onto(delta, radius)
        return jax.tree.map(lambda c, p, d: c + jnp.where(usable, p, jnp.where(finite, 0.0, d)), x_clean, inside, delta)

    def norm(self, delta):
        return optax.tree_utils.tree_norm(delta, ord=1)


class L1Ball(AbstractSparseBall):
    """‖x − x_clean‖₁ ≤ ε (the norm over all leaves of one example).

    The projection is optax's `projection_l1_ball` (sort-based soft thresholding, Duchi et
    al. 2008), made safe at ε = 0 and ε = ∞ and rescaled so that float rounding never leaves
    the ball. The steepest-ascent direction is *sparse*: with `coordinates=1` (default) it is
    the exact maximiser of ⟨∇L, d⟩ over ‖d‖₁ ≤ 1, a unit step along the single coordinate of
    largest |∂L| with its sign (ties: the first in pytree order); with `coordinates=k` the unit
    mass is shared evenly by the k coordinates of largest |∂L| (a top-k sign step, as in
    SLIDE, Tramèr & Boneh 2019), which lets PGD move many coordinates per step.

    **Arguments:**
    - `epsilon`: the radius ε.
    - `coordinates`: how many coordinates share each steepest-ascent step (default 1).
    """

    def _onto(self, delta, radius):
        return _scale_into(projections.projection_l1_ball(delta, radius), radius)

    def steepest_ascent(self, grad):
        return _sparse_direction(grad, self.coordinates, one_sided=False)

    def random_start(self, key, x_clean, support=None):
        return _sparse_random_start(key, x_clean, support, self.epsilon, signed=True)


class Budget(AbstractSparseBall):
    """At most ε added in total, nothing removed: δ ≥ 0 and Σ δ ≤ ε (x = x_clean + δ).

    The non-negative corner of the L1 ball, i.e. a scaled simplex with slack: the threat of
    an attacker who can only *add* (ligands, an amount budget). The projection of δ is
    max(δ, 0) when that sums to at most ε, else optax's `projection_simplex(δ, ε)` — the exact
    Euclidean projection onto {δ ≥ 0, Σ δ ≤ ε}. The steepest-ascent direction is a unit step
    on the coordinate of largest *positive* ∂L (the addition that raises the loss fastest; zero
    if no addition helps), or shared by the top `coordinates` of them; at the budget's edge the
    projection then moves mass from the other coordinates to that one.

    **Arguments:**
    - `epsilon`: the budget ε (total amount that may be added).
    - `coordinates`: how many coordinates share each steepest-ascent step (default 1).
    """

    def _admissible(self, delta):
        return jax.tree.map(lambda d: jnp.maximum(d, 0.0), delta)

    def _onto(self, delta, radius):  # delta ≥ 0: what is added
        over = optax.tree_utils.tree_sum(delta) > radius
        on_simplex = _scale_into(projections.projection_simplex(delta, radius), radius)
        return jax.tree.map(lambda p, a: jnp.where(over, p, a), on_simplex, delta)

    def steepest_ascent(self, grad):
        return _sparse_direction(grad, self.coordinates, one_sided=True)

    def random_start(self, key, x_clean, support=None):
        return _sparse_random_start(key, x_clean, support, self.epsilon, signed=False)


def keep_fixed(fixed: PyTree[bool], new: Input, old: Input) -> Input:
    """`new`, with the leaves marked in `fixed` (Python booleans) taken from `old`."""
    return jax.tree.map(lambda f, a, b: b if f else a, fixed, new, old)


class AbstractConstraint(eqx.Module):
    """A projection applied after the ball: `constraint(x, x_clean) -> x`.

    A constraint that fixes coordinates outright (`restricts = True`, e.g. `Mask`) also says
    so through `restrict`, so that the threat keeps those coordinates out of the ball, the
    random start and the steepest-ascent direction.
    """

    restricts: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(self, x: Input, x_clean: Input) -> Input: ...

    def restrict(self, direction: Input, x_clean: Input) -> Input:
        """Zero the components of a perturbation direction on coordinates this constraint fixes
        (identity for constraints that only bound)."""
        return direction

    def fixed_leaves(self, x_clean: Input) -> PyTree[bool]:
        """Per leaf of the input, whether this constraint fixes the whole leaf, as Python
        booleans read from the input's structure alone (none, unless it says so; asked of the
        constraints that restrict)."""
        return jax.tree.map(lambda _: False, x_clean)


class Box(AbstractConstraint):
    """lower ≤ x ≤ upper, leaf-wise (e.g. pixels in [0, 1]); the bounds are data (array leaves).

    **Arguments:**
    - `lower`, `upper`: the bounds, one number each, lower < upper (default 0 and 1).
    """

    lower: Float[ArrayLike, ""] = eqx.field(default=0.0, converter=as_value)
    upper: Float[ArrayLike, ""] = eqx.field(default=1.0, converter=as_value)

    def __check_init__(self):
        if is_traced((self.lower, self.upper)):
            return
        try:
            ordered = np.ndim(self.lower) == np.ndim(self.upper) == 0 and number(self.lower) < number(self.upper)
        except (TypeError, ValueError):
            ordered = False
        if not ordered:  # also for NaN
            raise ValueError(
                f"Box needs lower < upper, one number each, got lower={shown(self.lower)}, "
                f"upper={shown(self.upper)}: swap them, or drop the box (bounds=None) for an unbounded input"
            )

    def __call__(self, x, x_clean):
        return jax.tree.map(lambda a: jnp.clip(a, like(self.lower, a), like(self.upper, a)), x)


class NonNegative(AbstractConstraint):
    """x ≥ floor leaf-wise; with `reset`, coordinates that fall below `floor` are set to
    `reset` instead of clipped (the v1 ligand protocol of Rademaker et al. 2019 resets τ < 0
    to 0.1). `floor` and `reset` are data (array leaves); whether there is a reset is
    structure.

    **Arguments:**
    - `floor`: the lower bound (default 0).
    - `reset`: the value given to coordinates below `floor` (default `None`: clip to `floor`).
    - `where`: which part of the input it acts on, a function of the input returning a leaf
      or a subtree as in `eqx.tree_at` (e.g. `lambda ligands: ligands.tau`, so that a reset
      of binding times never touches amounts); `None` (default): every leaf.
    """

    floor: Float[ArrayLike, ""] = eqx.field(default=0.0, converter=as_value)
    reset: Float[ArrayLike, ""] | None = eqx.field(default=None, converter=as_value)
    where: Callable[[Input], Any] | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_value("NonNegative", "floor", self.floor, positive=None)
        if self.reset is not None:
            check_value("NonNegative", "reset", self.reset, positive=None)

    def _bound(self, a):
        if self.reset is None:
            return jnp.maximum(a, like(self.floor, a))
        return jnp.where(a < like(self.floor, a), like(self.reset, a), a)

    def __call__(self, x, x_clean):
        if self.where is None:
            return jax.tree.map(self._bound, x)
        return eqx.tree_at(self.where, x, replace_fn=lambda part: jax.tree.map(self._bound, part))


class Mask(AbstractConstraint):
    """Only coordinates where the mask is True may move; the others keep their clean value.

    `mask` is a pytree of booleans shaped like one example (broadcastable leaf-wise), or a
    function of the clean example returning one (e.g. "only ligands with τ < τ_c"). A mask
    of booleans is data (array leaves), and so are the array fields of a function that is an
    equinox module (such as τ_c); a plain function is structure.
    """

    mask: Any = eqx.field(converter=as_mask)

    restricts: ClassVar[bool] = True

    def _mask(self, x_clean):
        return self.mask(x_clean) if callable(self.mask) else self.mask

    def __call__(self, x, x_clean):
        return jax.tree.map(jnp.where, self._mask(x_clean), x, x_clean)

    def restrict(self, direction, x_clean):
        return jax.tree.map(lambda m, d: jnp.where(m, d, jnp.zeros_like(d)), self._mask(x_clean), direction)

    def fixed_leaves(self, x_clean):
        """What a mask function declares with a `fixed_leaves(x_clean)` method of its own (the
        ligand threats' masks: amounts, or binding times); none for a mask of booleans."""
        declared = getattr(self.mask, "fixed_leaves", None)
        return declared(x_clean) if callable(declared) else super().fixed_leaves(x_clean)


class ThreatModel(eqx.Module):
    """A norm ball (or none) followed by constraints, applied in order.

    Constraints that fix coordinates (masks) are applied before the ball as well, and keep
    those coordinates out of random starts and (given `x_clean`) out of the steepest-ascent
    direction: the radius is spent only on what may move.

    **Arguments:**
    - `ball`: `LinfBall`, `L2Ball`, `L1Ball`, `Budget`, or `None` for an unbounded
      perturbation.
    - `constraints`: projections applied after the ball, e.g. `(Box(0, 1),)`.
    """

    ball: AbstractBall | None
    constraints: tuple[AbstractConstraint, ...] = ()

    def __init__(self, ball: AbstractBall | None = None, constraints: Sequence[AbstractConstraint] = ()):
        if ball is not None and not isinstance(ball, AbstractBall):
            raise TypeError(
                f"ThreatModel: ball must be an AbstractBall (LinfBall(ε), L2Ball(ε), ...) or None, got {ball!r}"
            )
        if isinstance(constraints, AbstractConstraint):
            constraints = (constraints,)
        for constraint in constraints:
            if not isinstance(constraint, AbstractConstraint):
                raise TypeError(
                    f"ThreatModel: constraints must be AbstractConstraints (Box, NonNegative, Mask), got {constraint!r}"
                )
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

    @property
    def _restricting(self) -> tuple[AbstractConstraint, ...]:
        return tuple(c for c in self.constraints if c.restricts)

    def restrict(self, direction: Input, x_clean: Input) -> Input:
        """Zero the components of a perturbation direction that the constraints fix."""
        for constraint in self._restricting:
            direction = constraint.restrict(direction, x_clean)
        return direction

    def fixed_leaves(self, x_clean: Input) -> PyTree[bool]:
        """Per leaf of the input, whether the constraints fix it whole (Python booleans, from
        the input's structure alone): `project` returns the clean leaf there, and the attack
        loop carries such a leaf through its steps untouched instead of recomputing it."""
        fixed = jax.tree.map(lambda _: False, x_clean)
        for constraint in self._restricting:
            fixed = jax.tree.map(operator.or_, fixed, constraint.fixed_leaves(x_clean))
        return fixed

    def project(self, x: Input, x_clean: Input) -> Input:
        if self.ball is not None:
            for constraint in self._restricting:
                x = constraint(x, x_clean)
            x = self.ball.project(x, x_clean)
        for constraint in self.constraints:
            x = constraint(x, x_clean)
        return keep_fixed(self.fixed_leaves(x_clean), x, x_clean)

    def random_start(self, key: PRNGKeyArray, x_clean: Input) -> Input:
        """A uniform draw from the ball (its section through the coordinates that may move),
        projected onto the constraints."""
        if self.ball is None:
            return x_clean
        support = None
        if self._restricting:
            support = self.restrict(jax.tree.map(jnp.ones_like, x_clean), x_clean)
        return self.project(self.ball.random_start(key, x_clean, support), x_clean)

    def steepest_ascent(self, grad: Input, x_clean: Input | None = None) -> Input:
        """The ball's steepest-ascent direction; the raw gradient without a ball. Given the
        clean input, the gradient is first restricted to the coordinates that may move (this
        matters for the L2, L1 and budget geometries, whose steps are shared across
        coordinates)."""
        if x_clean is not None:
            grad = self.restrict(grad, x_clean)
        return grad if self.ball is None else self.ball.steepest_ascent(grad)

    def bounds(self) -> tuple[float, float] | None:
        """The (lower, upper) of the tightest `Box` constraint, if any, as Python numbers (a
        host-side question, asked at the public boundary: the bounds must be concrete)."""
        boxes = [c for c in self.constraints if isinstance(c, Box)]
        if not boxes:
            return None
        if is_traced(boxes):
            raise ValueError("ThreatModel.bounds() needs concrete box bounds, not traced ones (a host-side check)")
        return max(number(b.lower) for b in boxes), min(number(b.upper) for b in boxes)


Radius: TypeAlias = float | Float[ArrayLike, ""]
"""A radius ε: one number, a Python, NumPy or JAX scalar (traced radii pass)."""


def linf(
    epsilon: Radius, bounds: tuple[Value, Value] | None = (0.0, 1.0), constraints: Sequence[AbstractConstraint] = ()
) -> ThreatModel:
    """L∞ ball of radius `epsilon`, then box `bounds` (None: no box), then `constraints`."""
    _check_radius("linf", epsilon)
    box = () if bounds is None else (Box(*bounds),)
    return ThreatModel(LinfBall(jnp.asarray(epsilon, jnp.float32)), (*box, *constraints))


def l2(
    epsilon: Radius, bounds: tuple[Value, Value] | None = (0.0, 1.0), constraints: Sequence[AbstractConstraint] = ()
) -> ThreatModel:
    """L2 ball of radius `epsilon`, then box `bounds` (None: no box), then `constraints`."""
    _check_radius("l2", epsilon)
    box = () if bounds is None else (Box(*bounds),)
    return ThreatModel(L2Ball(jnp.asarray(epsilon, jnp.float32)), (*box, *constraints))


def l1(
    epsilon: Radius,
    bounds: tuple[Value, Value] | None = (0.0, 1.0),
    constraints: Sequence[AbstractConstraint] = (),
    coordinates: int = 1,
) -> ThreatModel:
    """L1 ball of radius `epsilon`, then box `bounds` (None: no box), then `constraints`;
    `coordinates` is the number of coordinates each steepest-ascent step moves (see `L1Ball`)."""
    _check_radius("l1", epsilon)
    box = () if bounds is None else (Box(*bounds),)
    return ThreatModel(L1Ball(jnp.asarray(epsilon, jnp.float32), coordinates=coordinates), (*box, *constraints))


def budget(epsilon: Radius, constraints: Sequence[AbstractConstraint] = (), coordinates: int = 1) -> ThreatModel:
    """Add at most `epsilon` in total, remove nothing (a `Budget`), then `constraints`
    (typically a `Mask` of the coordinates that may grow)."""
    _check_radius("budget", epsilon)
    return ThreatModel(Budget(jnp.asarray(epsilon, jnp.float32), coordinates=coordinates), tuple(constraints))


def unbounded(constraints: Sequence[AbstractConstraint] = ()) -> ThreatModel:
    """No norm ball: only `constraints` (e.g. non-negativity and a mask for ligand attacks)."""
    return ThreatModel(None, tuple(constraints))


THREATS: dict[str, Callable[..., ThreatModel]] = {"linf": linf, "l2": l2, "l1": l1}


class _DefaultBounds:
    """The default of `bounds` beside a `threat` argument: the box (0, 1) for a threat name;
    a `ThreatModel` keeps its own constraints."""

    def __repr__(self) -> str:
        return "(0.0, 1.0)"


DEFAULT_BOUNDS: Any = _DefaultBounds()


def as_threat(
    threat: "ThreatModel | str", bounds: tuple[float, float] | None | _DefaultBounds = DEFAULT_BOUNDS
) -> ThreatModel:
    """Accept a `ThreatModel` or one of the names in `THREATS` (radius 0, to be set per ε).

    `bounds` is the box of a named threat (default (0, 1); `None`: no box). A `ThreatModel`
    carries its own box, so passing `bounds` with one is an error unless they agree: the
    box is never silently ignored.
    """
    if isinstance(threat, ThreatModel):
        if (
            not isinstance(bounds, _DefaultBounds)
            and (None if bounds is None else tuple(map(float, bounds))) != threat.bounds()
        ):
            raise ValueError(
                f"bounds={bounds!r} was passed with a ThreatModel whose box is {threat.bounds()!r}: "
                f"put the box in the threat (e.g. linf(ε, bounds=...)) and drop `bounds`"
            )
        return threat
    if isinstance(threat, str) and threat in THREATS:
        return THREATS[threat](0.0, bounds=(0.0, 1.0) if isinstance(bounds, _DefaultBounds) else bounds)
    raise ValueError(f"unknown threat {threat!r}: use one of {sorted(THREATS)} or a ThreatModel")
