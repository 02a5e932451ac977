"""The critical point of the gradient and the two regimes of [R19].

For a cell model T and a ligand distribution, the *probe gradient* g(τ) is ∂T/∂τ per unit
amount of a ligand with binding time τ. Gradient descent on T (the v1 attack) moves every
ligand by −η L g(τ): where g changes sign from − to + at τ*, ligands below τ* move up and
ligands above move down, so descent piles non-agonist ligands up at τ* (the *critical
point*). For T_{N,m} (Rademaker et al. 2019),

    g(τ) = τ^(m−1) [N τ^(N−m) S_m − m S_N] / (S_m² τ_c^(N−m)),

so τ* solves N τ*^(N−m) S_m = m S_N, which on the boundary (T = 1) is τ_c (m/N)^(1/(N−m)),
for m ≥ 1; for m = 0, g > 0 everywhere and there is no critical point. For m > 1, g is flat
at τ = 0 and has an interior minimum where g' = 0 (an *inflection point* of T as a function
of one ligand's τ), at τ^(N−m) = m(m−1) S_N / (N(N−1) S_m).

[R19] speaks of "two regimes, with or without a critical point", governed by m; whether it
means the sign change of g (m = 0 vs m ≥ 1: broad vs non-broad antagonism) or the flat
start of g with an interior extremum (m ≤ 1 vs m > 1: "specialised" antagonism) is not
settled, so `regime` reports both diagnostics.

Everything here works for any `AbstractCellModel` through `jax.grad` and `jax.vmap`; the
closed forms above are the tests' oracles. Roots are located on a dense grid and refined on a
finer grids inside the bracket (`first_crossing`); "none" is NaN, never a number from outside
the search range.
"""

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands, concatenate
from .._types import Array, ArrayLike, Bool, Float, Scalar
from ..cells import AbstractCellModel

DIRECTIONS = ("up", "down", "any")

GRID_LEVELS = 3
"""Nested grids of `first_crossing`: each shrinks the bracket by a factor grid_size − 1."""

PROBE_FRACTION = 1e-6
"""Default probe amount, as a fraction of the distribution's total amount."""


def checked_grid_size(grid_size) -> int:
    """`grid_size` as a Python int, if it is an integer ≥ 3 (fewer points bracket nothing)."""
    if isinstance(grid_size, (bool, np.bool_)) or not isinstance(grid_size, (int, np.integer)) or grid_size < 3:
        raise ValueError(f"grid_size must be an integer ≥ 3 to bracket a root, got {grid_size!r}")
    return int(grid_size)


def _first_sign_change(values, resolution, direction: str):
    """The first change of sign of `values` in `direction`, skipping undecided values (|v| <
    `resolution`, or exactly 0): (whether there is one, index a of the last decided value before
    it, index b of the first decided value of the new sign). Every value strictly between a and
    b is undecided; a non-finite value counts as undecided here (the caller rejects it)."""
    decided = jnp.isfinite(values) & (jnp.abs(values) >= resolution) & (values != 0)
    sign = jnp.where(decided, jnp.sign(values), 0.0)
    index = jnp.arange(values.shape[0])
    last = jax.lax.cummax(jnp.where(decided, index, -1))  # last decided index ≤ i
    before = jnp.concatenate([jnp.asarray([-1]), last[:-1]])  # last decided index < i
    sign_before = jnp.where(before >= 0, sign[jnp.maximum(before, 0)], 0.0)
    up, down = (sign > 0) & (sign_before < 0), (sign < 0) & (sign_before > 0)
    crosses = {"up": up, "down": down, "any": up | down}[direction]
    b = jnp.argmax(crosses)
    return crosses.any(), jnp.maximum(before[b], 0), b


def first_crossing(
    fn, lower, upper, *, grid_size: int = 512, direction: str = "up", resolution: Float[ArrayLike, ""] = 0.0
) -> Scalar:
    """The smallest x in [lower, upper] where the scalar function `fn` changes sign.

    `fn` is evaluated on `grid_size` evenly spaced points (one `vmap`); the first pair of
    values of opposite signs in `direction` (with only zeros, or values within `resolution` of
    0, between them) brackets the root. `GRID_LEVELS` − 1 more grids of `grid_size` points, each
    inside the previous bracket (whose end values are reused, so that each bracket keeps its
    signs), narrow it to about (upper − lower)/(grid_size − 1)^3. The root is then a point of
    the last grid where `fn` is exactly 0, if there is one in the bracket, else the linear
    interpolation across it (error ~ width² |fn''/fn'|: float64 resolution for smooth fn and
    grid_size ≳ 100). A root that falls exactly on a grid point, at any level, is therefore
    found (fn = 0 there is no sign of its own). Nested grids rather than a bisection loop: no
    tolerance in fn's units (`optimistix.Bisection` stops on |fn| < atol), and a fixed cost of
    `GRID_LEVELS` · grid_size evaluations in batches of one shape. The levels are a
    `fori_loop`, so `fn` is traced and compiled once, not once per level. Traceable and
    vmappable; called eagerly it compiles the loop on every call (`critical_point` and
    `inflection_point` are compiled once per model structure instead).

    **Arguments:**
    - `fn`: scalar → scalar, traceable.
    - `lower`, `upper`: the search interval, finite with lower < upper (checked unless traced);
      fn's values are taken in its dtype.
    - `grid_size`: points of each grid; two roots closer than (upper − lower)/(grid_size − 1)
      can be missed.
    - `direction`: "up" (fn goes from < 0 to > 0, through zeros if any), "down" (from > 0 to
      < 0) or "any". A touch of 0 without a change of sign is no crossing.
    - `resolution`: values on the first grid with |fn| < resolution are undecided (rounding
      could flip their sign): a crossing needs decided values on both sides; default 0, i.e.
      every nonzero sign is trusted.

    **Returns:**
    The root, or NaN where no grid pair brackets one (a root exactly at `lower` or `upper` has
    no value of the other sign beyond it), or where `fn` is not finite at a grid point up to the
    bracket (a failed evaluation could hide an earlier crossing).
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    grid_size = checked_grid_size(grid_size)
    if not any(isinstance(x, jax.core.Tracer) for x in (lower, upper)):
        lo, hi = float(lower), float(upper)
        if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
            raise ValueError(f"need lower < upper, both finite, got lower={lo!r}, upper={hi!r}")

    index = jnp.arange(grid_size)

    def bracket(values, resolution):
        """(a sign change with finite values up to it, its bracket a, b)."""
        found, a, b = _first_sign_change(values, resolution, direction)
        return found & ~jnp.any(~jnp.isfinite(values) & (index <= b)), a, b

    def level(i, carry):
        """Grid i: [lower, upper] for i = 0, then the last bracket, whose two end values are kept
        (fn is evaluated there again, and that value dropped) so that it keeps its signs."""
        grid, values, valid, a, b = carry
        x0, x1, f0, f1 = grid[a], grid[b], values[a], values[b]
        refined = jnp.concatenate([x0[None], jnp.linspace(x0, x1, grid_size)[1:-1], x1[None]])
        grid = jnp.where(i == 0, grid, refined)
        fresh = jax.vmap(fn)(grid)
        if fresh.shape != grid.shape:
            raise ValueError(f"fn must map a scalar to a scalar, but it returned shape {fresh.shape[1:]}")
        fresh = fresh.astype(grid.dtype)
        values = jnp.where(i == 0, fresh, jnp.where(index == 0, f0, jnp.where(index == grid_size - 1, f1, fresh)))
        found, a, b = bracket(values, jnp.where(i == 0, resolution, 0.0))
        return grid, values, valid & found, a, b

    start = jnp.linspace(lower, upper, grid_size)
    zero = jnp.zeros((), int)
    carry = (start, jnp.zeros_like(start), jnp.ones((), bool), zero, zero)
    grid, values, valid, a, b = jax.lax.fori_loop(0, GRID_LEVELS, level, carry)
    x0, x1, f0, f1 = grid[a], grid[b], values[a], values[b]
    interpolated = jnp.clip(x0 - f0 * (x1 - x0) / (f1 - f0), x0, x1)
    root = jnp.where(b > a + 1, grid[a + 1], interpolated)  # between a and b every value is exactly 0
    return jnp.where(valid, root, jnp.nan)


def _moved_or_probed(ligands: Ligands, tau, species: int | None, probe_amount) -> tuple[Ligands, Scalar]:
    """The distribution with ligand `species` moved to τ, or with a probe (τ, probe_amount)
    appended; and the amount of the ligand whose τ is τ."""
    tau = jnp.asarray(tau, ligands.tau.dtype)
    if species is None:
        probe = Ligands(tau[None], jnp.asarray(probe_amount, ligands.amount.dtype)[None])
        return concatenate(ligands, probe), probe.amount[0]
    flat_tau, flat_amount = jnp.ravel(ligands.tau), jnp.ravel(ligands.amount)
    return Ligands(flat_tau.at[species].set(tau), flat_amount), flat_amount[species]


def _check_probe(ligands: Ligands, species: int | None, probe_amount):
    """Validated probe amount (default: `PROBE_FRACTION` of the total amount) or species index."""
    if species is not None:
        size = int(np.prod(jnp.shape(ligands.tau)))
        if not (isinstance(species, (int, np.integer)) and -size <= species < size):
            raise ValueError(f"species must be an index into the {size} ligands, got {species!r}")
        if probe_amount is not None:
            raise ValueError("pass either species (move an existing ligand) or probe_amount (append a probe), not both")
        return None
    if probe_amount is None:
        return PROBE_FRACTION * jnp.sum(ligands.amount)
    if not isinstance(probe_amount, jax.core.Tracer) and not (np.isfinite(probe_amount) and probe_amount > 0):
        raise ValueError(f"probe_amount must be finite and > 0, got {probe_amount!r}")
    return probe_amount


def probe_gradient(
    model: AbstractCellModel, ligands: Ligands, tau, *, species: int | None = None, probe_amount: float | None = None
) -> Float[Array, "*tau"]:
    """g(τ): the gradient ∂T/∂τ_j per unit amount L_j of a ligand j with binding time τ.

    By default j is a *probe*: a species of amount `probe_amount` appended to `ligands`, so
    that g is (up to O(probe_amount)) the gradient that a ligand at τ would feel in the given
    distribution; the default amount is `PROBE_FRACTION` (10^-6) of the distribution's total
    amount. With `species=j`, ligand j of `ligands` itself is moved to τ (its amount kept), so
    that g(τ) = T'(τ)/L_j where T(τ) is the output as a function of that ligand's τ.

    Computed with `jax.grad` for any model; for `AdaptiveProofreading` it equals
    τ^(m−1)[N τ^(N−m) S_m − m S_N]/(S_m² τ_c^(N−m)).

    **Arguments:**
    - `model`: any cell model, differentiable in τ.
    - `ligands`: the distribution.
    - `tau`: binding time(s) at which to evaluate g (any shape; vmapped).
    - `species`: move this ligand instead of appending a probe.
    - `probe_amount`: the probe's amount (default 10^-6 of the total amount).

    **Returns:**
    g at every `tau`, same shape.
    """
    amount = _check_probe(ligands, species, probe_amount)
    return _gradient_fn(model, ligands, species, amount, derivative=0)(tau)


def _gradient_fn(model, ligands, species, probe_amount, derivative: int):
    """τ ↦ g(τ) (derivative 0) or g'(τ) (derivative 1), vmapped over any shape of τ."""

    def g(tau):
        def output(t):
            moved, amount = _moved_or_probed(ligands, t, species, probe_amount)
            return model(moved) / amount

        return jax.grad(output)(tau)

    scalar_fn = jax.grad(g) if derivative else g

    def vectorised(tau):
        tau = jnp.asarray(tau, ligands.tau.dtype)
        return jax.vmap(scalar_fn)(jnp.ravel(tau)).reshape(jnp.shape(tau))

    return vectorised


def _search_interval(model, lower, upper) -> tuple[Float[ArrayLike, ""], Float[ArrayLike, ""]]:
    if upper is None:
        if not hasattr(model, "tau_c"):
            raise ValueError(f"{type(model).__name__} has no tau_c: pass upper= (the largest binding time to search)")
        if isinstance(model.tau_c, jax.core.Tracer):  # a model traced by jit/vmap: τ_c is data, not checked here
            return (1e-3 * model.tau_c if lower is None else lower), model.tau_c
        upper = float(model.tau_c)
    lower = 1e-3 * upper if lower is None else lower
    if not (np.isfinite(lower) and np.isfinite(upper) and 0 < lower < upper):
        raise ValueError(f"need 0 < lower < upper (both finite), got lower={lower!r}, upper={upper!r}")
    return float(lower), float(upper)


def _sign_change_of_gradient(model, ligands, lower, upper, grid_size, species, probe_amount, derivative):
    """The first − → + sign change of g (derivative 0) or g' (derivative 1)."""
    lower, upper = _search_interval(model, lower, upper)
    probe_amount = _check_probe(ligands, species, probe_amount)
    if probe_amount is not None:
        probe_amount = jnp.asarray(probe_amount, ligands.amount.dtype)
    dtype = ligands.tau.dtype
    lower, upper = jnp.asarray(lower, dtype), jnp.asarray(upper, dtype)
    return _first_rise(model, ligands, lower, upper, probe_amount, checked_grid_size(grid_size), species, derivative)


@eqx.filter_jit
def _first_rise(model, ligands, lower, upper, probe_amount, grid_size: int, species: int | None, derivative: int):
    """`first_crossing` of g or g' upwards, compiled once per model structure and grid: called
    eagerly over many models, distributions or intervals it is not traced again."""
    fn = _gradient_fn(model, ligands, species, probe_amount, derivative=derivative)
    return first_crossing(fn, lower, upper, grid_size=grid_size, direction="up")


def critical_point(
    model: AbstractCellModel,
    ligands: Ligands,
    *,
    lower: float | None = None,
    upper: float | None = None,
    grid_size: int = 512,
    species: int | None = None,
    probe_amount: float | None = None,
) -> Scalar:
    """τ*: where the probe gradient g changes sign from − to + (the attractor of gradient
    descent on T), searched in [lower, upper].

    For T_{N,m} (m ≥ 1): N τ*^(N−m) S_m = m S_N, i.e. τ_c (m/N)^(1/(N−m)) on the boundary;
    m = 0 has none. With `species=j` this is the minimum of T as a function of ligand j's τ.

    **Arguments:**
    - `model`, `ligands`, `species`, `probe_amount`: as in `probe_gradient`.
    - `lower`, `upper`: the search interval; `upper` defaults to `model.tau_c` (the search is
      then in (0, τ_c)), `lower` to 10^-3 · upper (g vanishes at τ = 0 for m > 1).
    - `grid_size`: points of the bracketing grid (see `first_crossing`).

    **Returns:**
    τ*, or NaN if g does not change sign from − to + in [lower, upper] (e.g. m = 0, or a
    distribution so far above the boundary that τ* > upper).
    """
    return _sign_change_of_gradient(model, ligands, lower, upper, grid_size, species, probe_amount, derivative=0)


def inflection_point(
    model: AbstractCellModel,
    ligands: Ligands,
    *,
    lower: float | None = None,
    upper: float | None = None,
    grid_size: int = 512,
    species: int | None = None,
    probe_amount: float | None = None,
) -> Scalar:
    """The interior minimum of the probe gradient g (g' from − to +): the inflection point of
    T as a function of one ligand's τ, where T turns from concave to convex.

    For T_{N,m} with m > 1: τ^(N−m) = m(m−1) S_N / (N(N−1) S_m), i.e. τ_c (m(m−1)/(N(N−1)))^(1/(N−m))
    on the boundary; for m ≤ 1, g is smallest at τ = 0 and there is none. g' is the second
    derivative of the model (`jax.grad` twice).

    **Arguments:** as in `critical_point`.

    **Returns:**
    The inflection point, or NaN if g has no interior minimum in [lower, upper].
    """
    return _sign_change_of_gradient(model, ligands, lower, upper, grid_size, species, probe_amount, derivative=1)


class Regime(eqx.Module):
    """Which of [R19]'s two regimes a (model, distribution) is in, by both readings.

    - `critical_point`: τ* (NaN if none): reading 1, "with or without a critical point" as a
      sign change of g — T_{N,m} with m ≥ 1 vs m = 0 (broad antagonism).
    - `inflection_point`: the interior minimum of g (NaN if none): reading 2, a flat g at small
      τ with the strongest antagonists at intermediate τ — T_{N,m} with m > 1 ("specialised").
    """

    critical_point: Float[Array, ""]
    inflection_point: Float[Array, ""]

    @property
    def has_critical_point(self) -> Bool[Array, ""]:
        return jnp.isfinite(self.critical_point)

    @property
    def has_inflection_point(self) -> Bool[Array, ""]:
        return jnp.isfinite(self.inflection_point)

    @property
    def label(self) -> str:
        """ "critical point" or "no critical point" (reading 1; needs concrete values)."""
        return "critical point" if bool(self.has_critical_point) else "no critical point"


def regime(model: AbstractCellModel, ligands: Ligands, **search) -> Regime:
    """Both diagnostics of the regime: the critical point and the inflection point.

    **Arguments:**
    - `model`, `ligands`: as in `critical_point`.
    - `search`: keyword arguments of `critical_point` (lower, upper, grid_size, species,
      probe_amount), used for both searches.

    **Returns:**
    A `Regime`.
    """
    return Regime(critical_point(model, ligands, **search), inflection_point(model, ligands, **search))
