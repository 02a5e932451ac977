"""Models of one architecture (e.g. trained from several seeds), attacked together."""

from collections.abc import Sequence
from typing import TypeAlias

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Key, UInt32

from .._types import Array, PRNGKeyArray

MemberKeys: TypeAlias = Key[Array, " members"] | UInt32[Array, "members _"]
"""One PRNG key per member of an `Ensemble` (typed keys, or raw `uint32` key data)."""


class Ensemble(eqx.Module):
    """Models with the same structure, their arrays stacked along a leading member axis.

    `run_attack` and `robust_accuracy` attack every member on the same inputs in one compiled
    call: the engine's loop is `vmap`ped over the members, and the examples are still split
    across devices. Results gain a leading `(members,)` axis. Each member draws its random
    starts from its own key (`keys`, e.g. one per seed) or from a shared one.

    Build it with `Ensemble.of(models)`; `ensemble.member(i)` is model i again.
    """

    models: eqx.Module
    size: int = eqx.field(static=True)

    @classmethod
    def of(cls, models: Sequence) -> "Ensemble":
        """Stack `models` (a non-empty sequence of modules with the same structure and shapes)."""
        models = list(models)
        if not models:
            raise ValueError("Ensemble.of needs at least one model")
        params, statics = zip(*(eqx.partition(m, eqx.is_array) for m in models))
        structure = jax.tree.structure(params[0])
        shapes = [a.shape for a in jax.tree.leaves(params[0])]
        for i, (p, s) in enumerate(zip(params, statics)):
            if (
                jax.tree.structure(p) != structure
                or [a.shape for a in jax.tree.leaves(p)] != shapes
                or not eqx.tree_equal(s, statics[0])
            ):
                raise ValueError(
                    f"Ensemble.of: model {i} differs from model 0 in structure, shapes or "
                    f"hyper-parameters; an ensemble stacks models of one architecture "
                    f"(e.g. the same configuration trained from several seeds)"
                )
        stacked = jax.tree.map(lambda *a: jnp.stack(a), *params)
        return cls(eqx.combine(stacked, statics[0]), len(models))

    def member(self, i: int):
        """Member `i` as a model of one input."""
        return jax.tree.map(lambda a: a[i] if eqx.is_array(a) else a, self.models)

    def member_keys(self, key: PRNGKeyArray | MemberKeys) -> MemberKeys:
        """One key per member: `key` itself if it already holds `size` keys, else `key` repeated
        (every member then starts from the same random points)."""
        typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
        per_member = key.ndim == (1 if typed else 2) and key.shape[0] == self.size
        return key if per_member else jnp.stack([key] * self.size)
