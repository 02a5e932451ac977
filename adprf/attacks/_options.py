"""How the compiled attack loop runs: the options that shape it, and the shard it works on."""

import equinox as eqx
import jax.numpy as jnp

from .._types import Array, Int


class LoopOptions(eqx.Module):
    """What configures one run of the compiled loop. Every field is structure (static): a
    change compiles a new loop.

    **Arguments:**
    - `slots`: the pool size, how many (ε, example) pairs are attacked at once (the public
      `batch_size`, capped by the work). It sets the shapes of the model's batched matrix
      products, so results are bit-identical for a fixed value.
    - `keep_adversarial`: keep the worst-case input of every pair (else `None`).
    - `nested`: threat sets grow with ε: an example fooled at some ε counts as fooled at
      every larger ε, and those pairs are skipped.
    - `shrink`: once the queue is drained, move the pairs in flight to smaller pools
      (`adprf.attacks._loop.pool_sizes`; the engine sets it for long runs, `shrinks`).
    """

    slots: int = eqx.field(static=True)
    keep_adversarial: bool = eqx.field(static=True, default=True)
    nested: bool = eqx.field(static=True, default=False)
    shrink: bool = eqx.field(static=True, default=False)


class Shard(eqx.Module):
    """Which examples of the whole batch the loop works on.

    The loop's examples are examples `offset, offset + 1, ...` of a batch of `n_global`; its
    first `n_valid` are real (the rest is padding and never queued). A pair's random start
    is keyed by its global index, so results do not depend on how the batch is split.

    **Arguments:**
    - `offset`: the global index of the shard's first example.
    - `n_valid`: how many of the shard's examples are real.
    - `n_global`: the number of examples of the whole batch.
    """

    offset: Int[Array, ""]
    n_valid: Int[Array, ""]
    n_global: Int[Array, ""]

    @classmethod
    def whole(cls, n: int) -> "Shard":
        """All `n` examples of a batch, on one device."""
        n_valid = jnp.asarray(n, jnp.int32)
        return cls(offset=jnp.asarray(0, jnp.int32), n_valid=n_valid, n_global=n_valid)
