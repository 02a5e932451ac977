"""Loss landscapes: the attacker's loss on a 2-D slice through input space (Rademaker et al. 2019,
loss landscapes; the slice is our choice).

Around a clean input x the slice is z(ε₁, ε₂) = x + ε₁ d₁ + ε₂ d₂ with

- d₁ the threat's steepest-ascent direction of the loss at x (for an L∞ threat the
  gradient sign, the FGSM direction), and
- d₂ a random ±1 (Rademacher) direction,

both restricted to the coordinates the threat lets move (its masks: e.g.
`move_binding_times(ε, tau_c)` moves only the binding times of the non-agonists, never an
amount) and both of unit norm in the threat's geometry (a ±1 vector has L∞ norm 1; for L2 or
L1 threats d₂ is rescaled to unit L2 or L1 norm), so ε₁ and ε₂ are distances in that norm.
A flat loss along d₁ next to a steep rise along d₂, or a loss that rises much faster than its
gradient predicts, is the signature of gradient masking (Madry et al. 2018, Tramèr et al. 2018);
a smooth, nearly linear rise along d₁ says that single gradient steps find the adversarial.

**Constraints, not the ball.** With `project=True` (default) every grid point is passed
through the threat's constraints (box [0, 1] for images, τ ≥ 0 for ligands, masks), but not
through its norm ball: the slice is reported as far as `span` reaches, whatever the threat's
radius. A point is then a valid input of the model (no pixel outside [0, 1], no negative
binding time, whose τ^k would be meaningless) and the ε₂ = 0 line is exactly the FGSM
adversarial clip(x + ε₁ sign ∇L) of radius ε₁. The price: where the constraint bites the
surface flattens (a dark pixel pushed below 0 stays 0), and the grid's corners lie at L∞
distance up to |ε₁| + |ε₂| from x, outside the ball of radius `span`. `project=False` reports
the raw affine slice (e.g. to compare with a closed form outside the domain).

Everything — the gradients, both directions and every grid point of every input — is one
`eqx.filter_jit` call: the directions are a `vmap` over inputs, the grid a `jax.lax.map`
over (input, point) pairs in batches of `batch_size` (a bound on memory for large models).
"""

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import sharding
from .._types import Array, Bool, Float, Input, PRNGKeyArray
from ..attacks import AbstractObjective, ThreatModel, as_objective, as_targets, linf, validate_batch

AXIS_LABELS = ("ε₁ (gradient sign)", "ε₂ (random ±1)")


class Landscape(eqx.Module):
    """The loss on a `points × points` grid around each of `n` inputs.

    - `e1`, `e2`: the grid's coefficients along d₁ (gradient) and d₂ (random), shape `(points,)`.
    - `loss`: `loss[i, a, b]` is the attacker's loss at x_i + e1[a] d₁ + e2[b] d₂ (rows
      along ε₁, columns along ε₂).
    - `success`: whether the objective's success criterion holds there (for a classifier:
      the prediction differs from the label).
    - `origin_loss`, `origin_success`: the same at the clean input (ε₁ = ε₂ = 0), shape `(n,)`.
    - `slopes`: the directional derivatives ⟨∇L(x_i), d₁⟩ and ⟨∇L(x_i), d₂⟩, shape `(n, 2)`:
      the first-order rise per unit ε along each direction (for the L∞ sign direction the
      first is the L1 norm of the movable gradient).
    - `directions`: `(d₁, d₂)`, pytrees like the inputs with a leading `(n,)` axis.
    - `projected`: whether the grid points were passed through the threat's constraints.
    """

    e1: Float[Array, " points"]
    e2: Float[Array, " points"]
    loss: Float[Array, "n points points"]
    success: Bool[Array, "n points points"]
    origin_loss: Float[Array, " n"]
    origin_success: Bool[Array, " n"]
    slopes: Float[Array, "n 2"]
    directions: tuple[Input, Input]
    projected: bool = eqx.field(static=True, default=True)


def _rademacher(key: PRNGKeyArray, like: Input) -> Input:
    """Independent ±1 entries shaped like every leaf of `like` (one key per leaf)."""
    leaves, treedef = jax.tree.flatten(like)
    keys = jax.random.split(key, len(leaves))
    return jax.tree.unflatten(treedef, [jax.random.rademacher(k, a.shape, a.dtype) for k, a in zip(keys, leaves)])


def _constrain(threat: ThreatModel, z: Input, x_clean: Input) -> Input:
    """The threat's constraints in order (box, non-negativity, masks), without its ball."""
    for constraint in threat.constraints:
        z = constraint(z, x_clean)
    return z


def _landscape_shard(replicated, batched, offset, n_valid):
    """The landscapes of one shard of the inputs (see `adprf.sharding.map_batch`); input i's
    random direction is keyed by its global index `offset + i`. Padding inputs (past
    `n_valid`) are evaluated like the others and cut by the caller."""
    model, objective, threat, e1, e2, key, project, batch_size = replicated
    x, y = batched
    n = jax.tree.leaves(x)[0].shape[0]

    def evaluate(z, target):
        output = model(z)
        return objective.loss(output, target), objective.success(output, target)

    def directions(xi, yi, ki):
        (loss, success), grad = jax.value_and_grad(evaluate, has_aux=True)(xi, yi)
        d1 = threat.steepest_ascent(grad, xi)
        d2 = threat.restrict(_rademacher(ki, xi), xi)
        norm = threat.ball.norm(d2)
        d2 = jax.tree.map(lambda d: d / jnp.where(norm > 0, norm, 1.0).astype(d.dtype), d2)
        slopes = jnp.stack([optax.tree_utils.tree_vdot(grad, d1), optax.tree_utils.tree_vdot(grad, d2)])
        return d1, d2, loss, success, slopes

    keys = jax.vmap(jax.random.fold_in, (None, 0))(key, offset + jnp.arange(n))
    d1, d2, origin_loss, origin_success, slopes = jax.vmap(directions)(x, y, keys)

    points = e1.shape[0]
    grid_a, grid_b = jnp.meshgrid(e1, e2, indexing="ij")
    pair_input = jnp.repeat(jnp.arange(n), points * points)
    pair_a = jnp.tile(grid_a.ravel(), n)
    pair_b = jnp.tile(grid_b.ravel(), n)

    def at_point(args):
        i, a, b = args
        take = lambda tree: jax.tree.map(lambda leaf: leaf[i], tree)
        xi, yi, u, v = take(x), take(y), take(d1), take(d2)
        z = jax.tree.map(lambda c, p, q: c + (a * p + b * q).astype(c.dtype), xi, u, v)
        if project:
            z = _constrain(threat, z, xi)
        return evaluate(z, yi)

    loss, success = jax.lax.map(at_point, (pair_input, pair_a, pair_b), batch_size=batch_size)
    shape = (n, points, points)
    return (loss.reshape(shape), success.reshape(shape), origin_loss, origin_success, slopes, (d1, d2))


def _check_landscape(model, x, objective, threat, span, points, batch_size):
    """`(span as a float, objective, threat)` once every argument of `loss_landscape` is checked
    (the default threat for arrays: `linf(span)` with box [0, 1])."""
    if not callable(model):
        raise TypeError(f"loss_landscape: model must be callable on one input, got {type(model).__name__}")
    try:
        span_value = float(span)
    except (TypeError, ValueError):
        span_value = math.nan
    if not (math.isfinite(span_value) and span_value > 0):
        raise ValueError(f"loss_landscape: span must be a finite number > 0, got {span!r}")
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 2:
        raise ValueError(f"loss_landscape: points must be an integer ≥ 2, got {points!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"loss_landscape: batch_size must be a positive integer, got {batch_size!r}")
    objective = as_objective(objective)
    if threat is None:
        if not isinstance(x, (jax.Array, np.ndarray)):
            raise ValueError(
                "loss_landscape: pass a threat for pytree inputs (e.g. "
                "adprf.attacks.move_binding_times(0.3, tau_c) for Ligands); the default "
                "linf(span) with box [0, 1] is for image arrays"
            )
        threat = linf(span_value)
    if not isinstance(threat, ThreatModel):
        raise TypeError(f"loss_landscape: threat must be a ThreatModel (e.g. adprf.attacks.linf(0.3)), got {threat!r}")
    if threat.ball is None:
        raise ValueError(
            "loss_landscape: the threat needs a norm ball (linf, l2, l1, a budget): it sets the "
            "steepest-ascent direction and the unit of ε; an unbounded threat has neither"
        )
    return span_value, objective, threat


def loss_landscape(
    model: Callable,
    x: Input,
    y=None,
    *,
    objective: AbstractObjective | str = "cross-entropy",
    threat: ThreatModel | None = None,
    span: float = 0.3,
    points: int = 41,
    key: PRNGKeyArray,
    project: bool = True,
    batch_size: int = 1024,
    devices=None,
) -> Landscape:
    """The attacker's loss on a 2-D grid along the gradient-sign and a random ±1 direction.

    For each input x_i (leading batch axis), the loss `objective.loss(model(z), y_i)` at
    z = x_i + ε₁ d₁ + ε₂ d₂ for ε₁, ε₂ on `points` evenly spaced values of [−span, span]:
    d₁ = `threat.steepest_ascent(∇L(x_i), x_i)` (the gradient sign for L∞), d₂ a Rademacher
    ±1 direction drawn from `fold_in(key, i)`, restricted by `threat.restrict` and scaled to
    unit norm of the threat's ball. See the module docstring for the geometry and `project`.
    One compiled call for every input and grid point, the inputs split across devices.

    **Arguments:**
    - `model`: a function of ONE unbatched input (an image, a `Ligands`) returning the output
      the objective reads (logits, or a scalar such as T_{N,m}).
    - `x`: the clean inputs, a pytree whose leaves share a leading batch axis `(n, ...)`.
    - `y`: the targets, leading axis `(n,)` (labels); `None` for objectives that ignore them
      (`turn_off`, `turn_on`).
    - `objective`: the attacker's objective (its loss is maximised): an `AbstractObjective`
      or "cross-entropy" | "margin" | "mse".
    - `threat`: the `ThreatModel` giving the geometry (ball: steepest-ascent direction and
      norm; masks: which coordinates move; constraints: what `project` applies). It needs a
      norm ball; its radius does not matter. Default for array inputs: `linf(span)` with box
      [0, 1]; pytree inputs (e.g. `Ligands`) must pass one, e.g. `move_binding_times(0.3, tau_c)`.
    - `span`: the half-width of the grid, > 0.
    - `points`: grid points per axis, ≥ 2 (odd counts put the clean input on the grid).
    - `key`: PRNG key of the random directions (keyword-only).
    - `project`: pass grid points through the threat's constraints (default True).
    - `batch_size`: (input, point) pairs evaluated at once by `jax.lax.map` (memory bound),
      per device.
    - `devices`: the devices the inputs are split across (`None`: all of `jax.devices()`;
      an integer k: the first k; see `adprf.sharding`). Results do not depend on it.

    **Returns:**
    A `Landscape` with `loss` and `success` of shape `(n, points, points)`.
    """
    span_value, objective, threat = _check_landscape(model, x, objective, threat, span, points, batch_size)
    y = as_targets(y)
    n = validate_batch(x, y, threat, owner="loss_landscape")
    objective.check_targets(model, jax.tree.map(lambda a: jnp.asarray(a[0]), x), y, owner="loss_landscape")
    x = jax.tree.map(jnp.asarray, x)
    y = jnp.zeros(n, jnp.int32) if y is None else jax.tree.map(jnp.asarray, y)
    dtype = jax.tree.leaves(x)[0].dtype
    grid = jnp.asarray(np.linspace(-span_value, span_value, int(points)), dtype)
    replicated = (model, objective, threat, grid, grid, key, bool(project), int(batch_size))
    loss, success, origin_loss, origin_success, slopes, directions = sharding.map_batch(
        _landscape_shard, replicated, (x, y), devices=devices
    )
    return Landscape(grid, grid, loss, success, origin_loss, origin_success, slopes, directions, bool(project))


def _grid(landscape: Landscape, index: int):
    n = landscape.loss.shape[0]
    if not (isinstance(index, (int, np.integer)) and -n <= index < n):
        raise ValueError(f"index {index!r} out of range for a landscape of {n} inputs")
    e1, e2 = np.asarray(landscape.e1), np.asarray(landscape.e2)
    # rows of `loss` run along ε₁; plots put ε₁ on the x axis, hence the transpose
    loss = np.asarray(landscape.loss[index]).T
    success = np.asarray(landscape.success[index]).T
    return e1, e2, loss, success


def plot_landscape_contour(
    landscape: Landscape,
    index: int = 0,
    *,
    ax=None,
    levels: int | Sequence[float] | np.ndarray = 20,
    title: str | None = None,
    colorbar: bool = True,
    zlabel: str = "loss",
):
    """Filled contours of one input's loss over (ε₁, ε₂), the clean input marked "+", the
    region where the attack succeeds hatched and outlined in red.

    **Arguments:**
    - `landscape`: a `Landscape`.
    - `index`: which input.
    - `ax`: a matplotlib Axes to draw into (default: a new figure).
    - `levels`: the number of contour levels, or the levels themselves; `title`, `colorbar`, `zlabel`: decoration.

    **Returns:** the matplotlib `Figure`.
    """
    from matplotlib.figure import Figure

    e1, e2, loss, success = _grid(landscape, index)
    if ax is None:
        ax = Figure(figsize=(4.2, 3.6)).add_subplot()
    filled = ax.contourf(e1, e2, loss, levels=levels, cmap="viridis")
    if success.any() and not success.all():
        ax.contourf(e1, e2, success.astype(float), levels=[0.5, 1.5], colors="none", hatches=["//"])
        ax.contour(e1, e2, success.astype(float), levels=[0.5], colors="red", linewidths=1.2)
    ax.plot([0.0], [0.0], "+", color="white" if not bool(landscape.origin_success[index]) else "red", ms=10, mew=2)
    ax.set_xlabel(AXIS_LABELS[0])
    ax.set_ylabel(AXIS_LABELS[1])
    if title is not None:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(filled, ax=ax, label=zlabel)
    return ax.figure


def plot_landscape_surface(
    landscape: Landscape, index: int = 0, *, ax=None, title: str | None = None, zlabel: str = "loss"
):
    """A 3-D surface of one input's loss over (ε₁, ε₂), the clean input as a black dot, the
    boundary of the region where the attack succeeds drawn in red on the floor.

    **Arguments:**
    - `landscape`: a `Landscape`.
    - `index`: which input.
    - `ax`: a 3-D Axes (`projection="3d"`) to draw into (default: a new figure).
    - `title`, `zlabel`: decoration.

    **Returns:** the matplotlib `Figure`.
    """
    from matplotlib.figure import Figure

    e1, e2, loss, success = _grid(landscape, index)
    if ax is None:
        ax = Figure(figsize=(5.0, 4.2)).add_subplot(projection="3d")
    grid_1, grid_2 = np.meshgrid(e1, e2)
    ax.plot_surface(grid_1, grid_2, loss, cmap="viridis", linewidth=0, antialiased=True, alpha=0.9)
    floor = float(np.min(loss))
    if success.any() and not success.all():
        ax.contour(grid_1, grid_2, success.astype(float), levels=[0.5], colors="red", offset=floor)
    # matplotlib leaves `Axes3D.scatter`'s `zs` unannotated; pyright takes its default 0 for its type (int)
    origin = [float(landscape.origin_loss[index])]
    ax.scatter([0.0], [0.0], origin, color="black", s=25, depthshade=False)  # pyright: ignore[reportArgumentType]
    ax.set_xlabel(AXIS_LABELS[0])
    ax.set_ylabel(AXIS_LABELS[1])
    ax.set_zlabel(zlabel)
    if title is not None:
        ax.set_title(title, fontsize=9)
    return ax.figure
