"""The Square attack (Andriushchenko et al., ECCV 2020): random search with square updates.

Gradient-free: each query evaluates the loss at one candidate (one forward pass, no gradient;
the method's `uses_gradient` is false) and keeps it when the loss rose. A candidate changes
one random window of the current best point; the window's area is a fraction p of the input
(0.8 at the start, halved after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 queries of a
10,000-query budget, rescaled to the budget given).

**Windows on any pytree.** Each leaf of the input gets its own window in every candidate:
- a leaf of two or more axes is an image, its first two axes spatial (channels last, any
  further axes are channels): the window is a square of side √(p·H·W), as in the paper;
- a leaf of one axis (ligand binding times or amounts, a temporal stimulus) gets a contiguous
  block of p·n coordinates (a square of a one-axis image);
- a scalar leaf is its own window.

**L∞** (paper's Algorithm 2): start from vertical stripes δ = ±ε (one random sign per column
and channel; per coordinate for a one-axis leaf); a candidate sets its window to a random
vertex of the ball, x_clean ± ε, one sign per channel (per window on a one-axis leaf). When
that changes nothing (the window already there, or held by the box), the opposite vertex
is proposed instead.

**L2** (paper's Algorithm 3): start from a grid of bumps of side H/5 with random signs,
scaled to ‖δ‖₂ = ε; a candidate adds to its window a pseudo-Gaussian bump (two halves of
opposite sign, centred peaks, the window's old direction added), scales it so the window
takes the budget left unspent plus its own and a second random window's share, empties the
second window, and rescales δ to ‖δ‖₂ = ε. The norm is over the whole pytree; each leaf's
windows are drawn and scaled on their own.

The threat's constraints (box, masks) are applied to every candidate, as to any iterate.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .._types import Array, Float, Input, Int, PRNGKeyArray, Scalar
from ._methods import AbstractMethod
from ._threats import L2Ball, LinfBall, ThreatModel

SCHEDULE = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
"""The query counts (of a 10,000-query budget) after which the window's area p is halved."""


def _grid(shape: tuple[int, ...]) -> tuple[int, int, tuple[int, ...]]:
    """A leaf's spatial height and width and its channel axes (see the module)."""
    if len(shape) == 0:
        return 1, 1, ()
    if len(shape) == 1:
        return shape[0], 1, ()
    return shape[0], shape[1], shape[2:]


def _side(p: Scalar, height: int, width: int) -> Int[Array, ""]:
    """The window's side for area fraction p: √(p·H·W) on an image, p·n on one axis; at least 1
    and, where there is room, less than the side of the leaf."""
    area = p * height * width
    side = jnp.round(jnp.sqrt(area) if width > 1 else area).astype(jnp.int32)
    return jnp.clip(side, 1, max(height - 1, 1))


def _window(key: PRNGKeyArray, side: Int[Array, ""], height: int, width: int) -> tuple[Array, Array, Array]:
    """A random window of `side` (× `side` on an image): its mask over the H × W grid, and each
    point's row and column inside it."""
    k_row, k_col = jax.random.split(key)
    side_w = side if width > 1 else jnp.asarray(1, jnp.int32)
    top = jax.random.randint(k_row, (), 0, height - side + 1)
    left = jax.random.randint(k_col, (), 0, width - side_w + 1)
    rows, cols = jnp.arange(height)[:, None] - top, jnp.arange(width)[None, :] - left
    inside = (rows >= 0) & (rows < side) & (cols >= 0) & (cols < side_w)
    return inside, rows, cols


def _on_leaf(grid: Array, leaf: Array) -> Array:
    """An H × W grid laid on `leaf` (broadcast over its channels)."""
    if leaf.ndim >= 2:
        return jnp.reshape(grid, grid.shape + (1,) * (leaf.ndim - 2))
    return jnp.reshape(grid, leaf.shape)


def _signs(key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
    return jnp.where(jax.random.bernoulli(key, 0.5, shape), 1.0, -1.0)


def _channel_signs(key: PRNGKeyArray, leaf: Array) -> Array:
    """One random sign per channel of `leaf` (one in all for a leaf without channels)."""
    _, _, channels = _grid(leaf.shape)
    return _signs(key, (1, 1) + channels) if leaf.ndim >= 2 else _signs(key, (1,) * leaf.ndim)


def _tail_sums(size: int) -> Array:
    """T[m] = Σ_{c < m} 1/(c+1)², m = 0..size: the nested squares of a pseudo-Gaussian bump."""
    return jnp.concatenate([jnp.zeros(1), jnp.cumsum(1.0 / jnp.arange(1, size + 1) ** 2)])


def _bump(rows: Array, cols: Array, inside: Array, side: Int[Array, ""], flip: Array, width: int) -> Array:
    """The paper's pseudo-Gaussian bump on a window (zero outside): the window's two halves
    carry nested squares of weight 1/(c+1)² centred on their middles, with opposite signs,
    the whole of unit L2 norm; `flip` swaps the window's axes (an image's window only)."""
    if width > 1:
        rows, cols = jnp.where(flip, cols, rows), jnp.where(flip, rows, cols)
    half = side // 2
    upper = rows < half
    height_of_half = jnp.where(upper, half, side - half)
    r = jnp.where(upper, rows, rows - half)
    side_w = side if width > 1 else jnp.asarray(1, jnp.int32)
    distance = jnp.maximum(jnp.abs(r - height_of_half // 2), jnp.abs(cols - side_w // 2))
    rings = jnp.maximum(height_of_half // 2 + 1, side_w // 2 + 1)
    tails = _tail_sums(max(rows.shape[0], cols.shape[1]) + 2)
    value = tails[jnp.clip(rings, 0, tails.shape[0] - 1)] - tails[jnp.clip(distance, 0, tails.shape[0] - 1)]
    value = jnp.where(inside & (distance < rings), value, 0.0) * jnp.where(upper, 1.0, -1.0)
    return value / jnp.maximum(jnp.sqrt(jnp.sum(value**2)), 1e-12)


class SquareState(eqx.Module):
    """Square's state for one example: the best point so far and its loss, the PRNG key of
    the next candidates, and the queries made."""

    best: Input
    best_loss: Scalar
    key: PRNGKeyArray
    queries: Int[Array, ""]


class Square(AbstractMethod):
    """The Square attack (Andriushchenko et al. 2020): gradient-free random search, one forward
    pass per query; for L∞ and L2 threats (see the module for the windows on any pytree).

    Use it with `Margin` (the paper's loss) or any objective; it stops an example at its first
    success. `gradient_evaluations` then counts queries.

    **Arguments:**
    - `queries`: the budget per run (default 5,000, AutoAttack's), the start included.
    - `p_init`: the window's first area fraction (default 0.8, the paper's for L∞ and L2).
    - `restarts`: runs from new random starts (default 1).
    """

    queries: int = eqx.field(static=True)
    p_init: float = eqx.field(static=True)
    restarts: int = eqx.field(static=True)
    steps: int = eqx.field(static=True)

    uses_gradient = False

    def __init__(self, queries: int = 5000, p_init: float = 0.8, restarts: int = 1):
        if not (isinstance(queries, int) and queries >= 2):
            raise ValueError(f"Square: queries must be an integer ≥ 2 (the start and a candidate), got {queries!r}")
        if isinstance(p_init, int) and not isinstance(p_init, bool):
            p_init = float(p_init)
        if not (isinstance(p_init, float) and 0 < p_init <= 1):
            raise ValueError(f"Square: p_init is the window's area fraction, in (0, 1]; got {p_init!r}")
        self.queries, self.p_init, self.restarts = queries, p_init, restarts
        self.steps = queries - 1  # the engine evaluates steps + 1 points: the start and each candidate

    def fraction(self, query: Int[Array, ""]) -> Float[Array, ""]:
        """The window's area fraction p at `query`."""
        rescaled = (query * 10_000) // self.queries
        halvings = jnp.sum(rescaled > jnp.asarray(SCHEDULE))
        return self.p_init / 2.0 ** halvings.astype(jnp.float32)

    @staticmethod
    def _ball(threat: ThreatModel) -> LinfBall | L2Ball:
        if not isinstance(threat.ball, (LinfBall, L2Ball)):
            raise ValueError(
                f"Square searches an L∞ or L2 ball; this threat's ball is {type(threat.ball).__name__}: use "
                f"linf(ε) or l2(ε), or a gradient attack (PGD, APGD) for this threat"
            )
        return threat.ball

    def init(self, key, x_clean, threat):
        ball = self._ball(threat)
        k_start, k_next = jax.random.split(key)
        keys = jax.random.split(k_start, len(jax.tree.leaves(x_clean)))
        leaves, treedef = jax.tree.flatten(x_clean)
        if isinstance(ball, LinfBall):
            delta = [self._stripes(k, leaf) * jnp.asarray(ball.epsilon, leaf.dtype) for k, leaf in zip(keys, leaves)]
        else:
            delta = [self._bumps(k, leaf) for k, leaf in zip(keys, leaves)]
            delta = _scaled(delta, ball.epsilon)
        x = threat.project(jax.tree.map(jnp.add, x_clean, jax.tree.unflatten(treedef, delta)), x_clean)
        state = SquareState(best=x, best_loss=jnp.asarray(-jnp.inf), key=k_next, queries=jnp.asarray(0, jnp.int32))
        return x, state

    @staticmethod
    def _stripes(key: PRNGKeyArray, leaf: Array) -> Array:
        """Vertical stripes of ±1: one sign per column and channel (per coordinate on one axis)."""
        shape = (1,) + leaf.shape[1:] if leaf.ndim >= 2 else leaf.shape
        return jnp.broadcast_to(_signs(key, shape), leaf.shape).astype(leaf.dtype)

    @staticmethod
    def _bumps(key: PRNGKeyArray, leaf: Array) -> Array:
        """A grid of bumps of side H/5 (at least 1) with a random sign per bump and channel."""
        height, width, _ = _grid(leaf.shape)
        side = max(height // 5, 1)
        side_w = max(width // 5, 1) if width > 1 else 1
        rows, cols = jnp.arange(height)[:, None] % side, jnp.arange(width)[None, :] % side_w
        pattern = _bump(rows, cols, jnp.ones((height, width), bool), jnp.asarray(side), jnp.asarray(False), width)
        cells = (height // side + 1, max(width // side_w, 1) + 1)
        signs = _signs(key, cells + leaf.shape[2:] if leaf.ndim >= 2 else cells)
        cell = signs[jnp.arange(height) // side][:, jnp.arange(width) // side_w]
        if leaf.ndim < 2:
            return (pattern * cell).reshape(leaf.shape).astype(leaf.dtype)
        return (_on_leaf(pattern, leaf) * cell).astype(leaf.dtype)

    def update(self, x, state: SquareState, loss, grad, x_clean, threat):
        ball = self._ball(threat)
        accept = loss > state.best_loss
        best = jax.tree.map(lambda a, b: jnp.where(accept, a, b), x, state.best)
        best_loss = jnp.where(accept, loss, state.best_loss)
        key, k_leaves = jax.random.split(state.key)
        p = self.fraction(state.queries + 1)
        leaves, treedef = jax.tree.flatten(best)
        keys = jax.random.split(k_leaves, len(leaves))
        clean = jax.tree.leaves(x_clean)
        if isinstance(ball, LinfBall):
            pairs = [_linf_candidates(k, b, c, ball.epsilon, p) for k, b, c in zip(keys, leaves, clean)]
            candidate = threat.project(jax.tree.unflatten(treedef, [c for c, _ in pairs]), x_clean)
            opposite = jax.tree.unflatten(treedef, [o for _, o in pairs])
            unchanged = jnp.all(jnp.stack([jnp.all(a == b) for a, b in zip(jax.tree.leaves(candidate), leaves)]))
            candidate = jax.tree.map(lambda o, a: jnp.where(unchanged, o, a), opposite, candidate)
        else:
            delta = [_l2_delta(k, b - c, ball.epsilon, p) for k, b, c in zip(keys, leaves, clean)]
            delta = _scaled(delta, ball.epsilon)
            candidate = jax.tree.unflatten(treedef, [c + d for c, d in zip(clean, delta)])
        state = SquareState(best=best, best_loss=best_loss, key=key, queries=state.queries + 1)
        return threat.project(candidate, x_clean), state


def _linf_candidates(key: PRNGKeyArray, best: Array, clean: Array, epsilon: Scalar, p: Scalar) -> tuple[Array, Array]:
    """`best` with one random window set to a random vertex x_clean ± ε (one sign per channel),
    and the same window set to the opposite vertex."""
    height, width, _ = _grid(best.shape)
    k_window, k_sign = jax.random.split(key)
    inside, _, _ = _window(k_window, _side(p, height, width), height, width)
    inside = _on_leaf(inside, best)
    step = jnp.asarray(epsilon, best.dtype) * _channel_signs(k_sign, best).astype(best.dtype)
    return jnp.where(inside, clean + step, best), jnp.where(inside, clean - step, best)


def _l2_delta(key: PRNGKeyArray, delta: Array, epsilon: Scalar, p: Scalar) -> Array:
    """One leaf's L2 proposal (see the module), before the whole δ is rescaled to ε."""
    height, width, channels = _grid(delta.shape)
    k_one, k_two, k_sign, k_flip = jax.random.split(key, 4)
    side = _side(p, height, width)
    side = jnp.where((side < 3) & (height >= 3), 3, side)
    side = jnp.where((side % 2 == 0) & (side + 1 < height), side + 1, side)
    one, rows, cols = _window(k_one, side, height, width)
    two, _, _ = _window(k_two, side, height, width)
    one_l, both_l = _on_leaf(one, delta), _on_leaf(one | two, delta)
    axes = (0, 1) if delta.ndim >= 2 else tuple(range(delta.ndim))
    norm_one = jnp.sqrt(jnp.sum(jnp.where(one_l, delta, 0.0) ** 2, axis=axes, keepdims=True))
    norm_both = jnp.sqrt(jnp.sum(jnp.where(both_l, delta, 0.0) ** 2, axis=axes, keepdims=True))
    norm_all = jnp.sqrt(jnp.sum(delta**2))
    bump = _on_leaf(_bump(rows, cols, one, side, jax.random.bernoulli(k_flip), width), delta)
    new = bump * _channel_signs(k_sign, delta) + jnp.where(one_l, delta, 0.0) / (1e-10 + norm_one)
    n_channels = math.prod(channels)
    eps = jnp.asarray(epsilon, delta.dtype)
    share = jnp.sqrt(jnp.maximum(eps**2 - norm_all**2, 0.0) / n_channels + norm_both**2)
    new = new / jnp.maximum(jnp.sqrt(jnp.sum(jnp.where(one_l, new, 0.0) ** 2, axis=axes, keepdims=True)), 1e-12)
    return jnp.where(one_l, new * share, jnp.where(_on_leaf(two, delta), 0.0, delta)).astype(delta.dtype)


def _scaled(delta: list[Array], epsilon: Scalar) -> list[Array]:
    """δ rescaled to L2 norm ε over all its leaves."""
    norm = optax.tree_utils.tree_norm(delta)
    return [d * (jnp.asarray(epsilon, d.dtype) / jnp.maximum(norm, 1e-12)).astype(d.dtype) for d in delta]
