"""Ligand distributions: binding times τ and amounts L of the ligands a T cell sees.

A `Ligands` is a pytree with two leaves of the same shape: `tau` (binding time, the
ligand's quality) and `amount` (L, its quantity). It is the "image" that cellular decision
models read and that attacks perturb (v1 ligand attacks move τ only; budget attacks move L).
"""

from collections.abc import Sequence
from typing import TYPE_CHECKING

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from ._types import Array, ArrayLike, Bool, Float, PRNGKeyArray, Real


def _check_values(name: str, values) -> None:
    """Raise unless every entry of `values` (a NumPy array) is finite and ≥ 0, naming the first
    bad ligand: the one check behind `Ligands.of` and `Ligands.__check_init__`."""
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        first = np.flatnonzero(bad.ravel())[0]
        raise ValueError(
            f"{name} must be finite and ≥ 0; ligand {first} has {values.ravel()[first]!s} "
            f"({int(bad.sum())} bad values in all): pass finite binding times and amounts ≥ 0"
        )


def _is_concrete_number(leaf) -> bool:
    """A leaf whose values can be checked now: a concrete floating-point or integer array or
    number (not a tracer, not the boolean masks that threat models build, not an array sharded
    over several hosts)."""
    if isinstance(leaf, (jax.core.Tracer, bool)) or not getattr(leaf, "is_fully_addressable", True):
        return False
    if isinstance(leaf, (int, float)):
        return True
    dtype = getattr(leaf, "dtype", None)
    return dtype is not None and (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer))


class Ligands(eqx.Module):
    """Ligand species i with binding time `tau[i]` and amount `amount[i]`.

    Construct through `Ligands.of(tau, amount)` (converts and broadcasts) or the builders below.
    The bare constructor checks concrete numbers (finite, ≥ 0) and matching shapes, but leaves
    tracers unchecked (no cost under `jit`/`vmap`/`grad`) and booleans alone (the threat models
    build `Ligands` of masks). Transformations rebuild a `Ligands` without the check:
    `jax.grad(model)(ligands)` is a `Ligands` of gradients, negative ones included; to hold other
    values that are no ligands (a direction, a step), map over existing ones
    (`jax.tree.map(f, ligands)`) or use `eqx.tree_at`.
    """

    # At run time (jaxtyping's checks): numbers (a concrete array or number, or a tracer), or the
    # boolean masks that threat models build; one shape for both, checked by `__check_init__` with
    # a message that says so. Static checkers see the arrays every model reads.
    if TYPE_CHECKING:
        tau: Float[Array, "*_species"]
        amount: Float[Array, "*_species"]
    else:
        tau: Real[ArrayLike, "*_species"] | Bool[ArrayLike, "*_species"]
        amount: Real[ArrayLike, "*_species"] | Bool[ArrayLike, "*_species"]

    def __check_init__(self):
        tau_shape, amount_shape = getattr(self.tau, "shape", None), getattr(self.amount, "shape", None)
        if tau_shape is not None and amount_shape is not None and tuple(tau_shape) != tuple(amount_shape):
            raise ValueError(
                f"binding times have shape {tuple(tau_shape)} but amounts {tuple(amount_shape)}: pass "
                f"one amount per ligand (or use Ligands.of, which broadcasts a single amount)"
            )
        for name, leaf in (("binding time τ", self.tau), ("amount L", self.amount)):
            if _is_concrete_number(leaf):
                _check_values(name, np.asarray(leaf))

    @classmethod
    def of(cls, tau: ArrayLike | Sequence, amount: ArrayLike | Sequence = 1.0) -> "Ligands":
        """Validated ligands: τ and L finite, non-negative, of one shape (a scalar L broadcasts).

        **Arguments:**
        - `tau`: binding times (seconds, or units of τ_c's choosing).
        - `amount`: amounts L (a scalar is broadcast to every ligand).

        **Returns:**
        `Ligands` of JAX's default float dtype at the time of the call: float64 inside
        `jax.enable_x64(True)`, float32 otherwise (a value beyond float32's range is refused
        there, not turned into inf).
        """
        dtype = jnp.result_type(float)
        tau, amount = np.asarray(tau, dtype=np.float64), np.asarray(amount, dtype=np.float64)
        if tau.size == 0:
            raise ValueError(
                "no ligands: Ligands.of needs at least one binding time (and a cell model needs at "
                "least one ligand with amount L > 0)"
            )
        if amount.ndim == 0:
            amount = np.full_like(tau, amount)
        if tau.shape != amount.shape:
            raise ValueError(
                f"binding times have shape {tau.shape} but amounts {amount.shape}: pass one amount "
                f"per ligand (or a single amount for all)"
            )
        for name, values in (("binding time τ", tau), ("amount L", amount)):
            _check_values(name, values)
            if np.any(np.abs(values) > np.finfo(dtype).max):
                raise ValueError(
                    f"{name} {values.max()} is beyond the range of {np.dtype(dtype).name} (JAX's "
                    f"default float): use smaller units, or build the ligands inside "
                    f"`with jax.enable_x64(True):`"
                )
        return cls(jnp.asarray(tau, dtype), jnp.asarray(amount, dtype))

    @property
    def size(self) -> int:
        return int(np.prod(self.tau.shape))

    def moment(self, k: int) -> Float[Array, ""]:
        """S_k = Σ_i L_i τ_i^k."""
        return jnp.sum(self.amount * self.tau**k)

    def histogram(self, bins=50, range=None) -> tuple[np.ndarray, np.ndarray]:
        """Amount-weighted histogram of binding times: (counts, bin edges)."""
        return np.histogram(np.ravel(self.tau), bins=bins, range=range, weights=np.ravel(self.amount))

    def as_image(self) -> np.ndarray:
        """The binding times on a √R × √R grid (R must be a perfect square), for plots."""
        side = int(round(np.sqrt(self.size)))
        if side * side != self.size:
            raise ValueError(f"{self.size} ligands do not fill a square grid")
        return np.asarray(self.tau).reshape(side, side)


def self_ligands(key: PRNGKeyArray, n: int, scale: float = 1 / 3) -> Ligands:
    """`n` self ligands with τ = |N(0, scale)| (v1: scale 1/3), amount 1 each."""
    return Ligands(jnp.abs(scale * jax.random.normal(key, (n,))), jnp.ones(n))


def agonists(key: PRNGKeyArray, n: int, mean: float = 3.5, std: float = 0.1) -> Ligands:
    """`n` agonists with τ ~ mean + N(0, std) (v1: 3.5 ± 0.1, above τ_c = 3), amount 1 each."""
    return Ligands(jnp.abs(mean + std * jax.random.normal(key, (n,))), jnp.ones(n))


def concatenate(*groups: Ligands) -> Ligands:
    """One distribution holding every ligand of `groups`, in order."""
    return Ligands(
        jnp.concatenate([jnp.ravel(g.tau) for g in groups]), jnp.concatenate([jnp.ravel(g.amount) for g in groups])
    )


def v1_mixture(key: PRNGKeyArray, n: int = 10201, agonist_fraction: float = 0.3) -> Ligands:
    """The v1 ligand distribution of Rademaker et al.: 30% agonists (τ ~ 3.5 + N(0, 0.1)),
    the rest self (τ = |N(0, 1/3)|); R = 10201 ligands (a 101 × 101 image)."""
    k_ag, k_self = jax.random.split(key)
    n_ag = int(round(agonist_fraction * n))
    return concatenate(agonists(k_ag, n_ag), self_ligands(k_self, n - n_ag))


def antagonists(key: PRNGKeyArray, n: int, tau_c: float = 3.0, scale: float = 1 / 3) -> Ligands:
    """`n` antagonists just below the critical binding time: τ = τ_c − |N(0, scale)| (the v1
    "MTL → ML" antagonists: τ_c = 3, scale 1/3), floored at 0, amount 1 each."""
    return Ligands(jnp.maximum(tau_c - jnp.abs(scale * jax.random.normal(key, (n,))), 0.0), jnp.ones(n))


def ligand_image(key: PRNGKeyArray, classes, builders) -> Ligands:
    """A ligand image: pixel (i, j) holds one ligand drawn from the builder of its class.

    Used to write pictures in ligands (v1 "MTL → ML": letter pixels are agonists or
    antagonists, the background self ligands). Every class draws its ligands with its own
    key (`fold_in(key, class)`), in row-major order of its pixels.

    **Arguments:**
    - `key`: PRNG key.
    - `classes`: integer array, the class of every pixel (any shape, e.g. rows × columns),
      with values in `0 … len(builders) − 1`.
    - `builders`: one function `(key, n) -> Ligands` per class, e.g. `self_ligands` or
      `functools.partial(agonists, mean=3 + 1/3, std=0.01)`.

    **Returns:**
    `Ligands` with leaves of the shape of `classes`.
    """
    classes = np.asarray(classes)
    if not np.issubdtype(classes.dtype, np.integer) or classes.size == 0:
        raise ValueError(
            f"classes must be a non-empty integer array, got dtype {classes.dtype} and shape {classes.shape}"
        )
    if classes.min() < 0 or classes.max() >= len(builders):
        raise ValueError(
            f"class values span [{classes.min()}, {classes.max()}] but {len(builders)} builders were "
            f"given: pass one builder per class 0 … {classes.max()}"
        )
    tau, amount = np.zeros(classes.shape, np.float32), np.zeros(classes.shape, np.float32)
    for index, build in enumerate(builders):
        where = classes == index
        if where.any():
            group = build(jax.random.fold_in(key, index), int(where.sum()))
            tau[where], amount[where] = np.asarray(group.tau), np.asarray(group.amount)
    return Ligands(jnp.asarray(tau), jnp.asarray(amount))
