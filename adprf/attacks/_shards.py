"""The attack loop on every shard of the examples: in one compiled call, or in stages that
return to the host between them.

`run_shards` without a progress bar runs the whole loop (`AttackLoop.run`) in one call when its
pool never shrinks. With a bar, or a pool that shrinks, it runs the same loop as a sequence of
compiled stages, the loop's state left on the devices between them: `Start` (the empty pool,
which the first `Advance` fills), then for every pool `Shrink` (from the second on) and
`Advance` (repeatedly with a bar, at most `budget` steps each; once without), and `Finish`
(the records). A pool that would take no step (the runs in flight already fit the one after
it, or none is left) is skipped, so its stages are never compiled: the programs of the small
pools are paid only by attacks whose tail needs them. After each `Advance` the host reads how
many pairs are done and moves the bar. Every stage is a program without host callbacks, so
JAX's persistent compilation cache keeps all of them (it refuses programs that call back into
Python); the stages run the same steps as the one call, so the results are the same bit for
bit.
"""

import abc
import contextlib
import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from .. import sharding
from .._types import Array, Bool, Int, PyTree
from ._loop import AttackLoop, pool_sizes
from ._options import LoopOptions, Shard
from ._state import LoopState

UPDATES = 50
"""About how many times a progress bar moves over an attack: the chunks are sized (from the
pairs done per step so far) to finish about 1/UPDATES of the pairs each."""

UNLIMITED = np.iinfo(np.int32).max
"""The steps of one `Advance` without a bar: the pool runs to its end."""


class AbstractStage(eqx.Module):
    """One compiled step of the loop on one member's shard, from its state (ignored by the
    stages that begin the loop) to its next state, or (`per_example`) to its records."""

    per_example: eqx.AbstractClassVar[bool]

    @abc.abstractmethod
    def __call__(self, loop: AttackLoop, state: LoopState, budget: Int[Array, ""] | None) -> PyTree: ...


class Whole(AbstractStage):
    """The whole loop in one call: the records."""

    per_example: ClassVar[bool] = True

    def __call__(self, loop, state, budget):
        return loop.run()


class Start(AbstractStage):
    """The empty pool (`AttackLoop.initial_state`), nothing run; every leaf typed as the loop's
    iterations leave it (a weakly typed `inf` becomes the loss's dtype), so that the next
    `Advance` call finds the types of the ones after it and compiles once."""

    per_example: ClassVar[bool] = False

    def __call__(self, loop, state, budget):
        state = loop.initial_state()
        after = jax.eval_shape(lambda s: loop.cycle(s, 0)[0], state)  # the pool sizes do not change types
        return jax.tree.map(
            lambda a, b: jax.lax.convert_element_type(a, b.dtype) if a.weak_type and not b.weak_type else a,
            state,
            after,
        )


class Shrink(AbstractStage):
    """The pairs in flight moved to the next pool, of `size` slots."""

    size: int = eqx.field(static=True)
    per_example: ClassVar[bool] = False

    def __call__(self, loop, state, budget):
        return loop.shrink(state, self.size)


class Advance(AbstractStage):
    """At most `budget` steps of the current pool (see `AttackLoop.run_pool`); the state,
    whether the pool still runs, and how many pairs are in flight."""

    next_size: int = eqx.field(static=True)
    per_example: ClassVar[bool] = False

    def __call__(self, loop, state, budget) -> tuple[LoopState, Bool[Array, ""], Int[Array, ""]]:
        state = loop.run_pool(state, self.next_size, budget)
        in_flight = jnp.sum(state.slots.pair < loop.work, dtype=jnp.int32)
        return state, loop.running(self.next_size)(state), in_flight


class Finish(AbstractStage):
    """The records of the finished loop."""

    per_example: ClassVar[bool] = True

    def __call__(self, loop, state, budget):
        return loop.records(state)


def _attack_shard(replicated, batched, offset, n_valid, carry):
    """One stage of the attack loop on one shard of the examples (see
    `adprf.sharding.SplitBatch`), run on every member of the attacked models.

    Its `n_valid` first examples are real (the rest is padding and never queued), the first
    one is example `offset` of the whole batch (see `Shard`). A state stage returns the
    members' states with a leading axis of 1 (this shard's row of the carry); a record stage
    returns per-example records, leading axis `(n_local,)`, then the member axes, then
    `(n_eps,)`.
    """
    (members, keys, epsilons, objective, threat, method, options, n_global), (stage, budget) = replicated
    x, y = batched
    n_local = jax.tree.leaves(x)[0].shape[0]
    shard = Shard(offset=offset, n_valid=n_valid, n_global=n_global)

    def one(model, key, state):
        loop = AttackLoop(
            model=model,
            x=x,
            y=y,
            epsilons=epsilons,
            key=key,
            objective=objective,
            threat=threat,
            method=method,
            options=options,
            shard=shard,
        )
        return stage(loop, state, budget)

    state = None if carry is None else jax.tree.map(lambda a: a[0], carry)
    out = members.map(one, keys, state)
    if not stage.per_example:
        return jax.tree.map(lambda a: a[None], out)
    # ([members,] n_eps · n_local, ...) -> (n_local, [members,] n_eps, ...)
    lead = members.axes
    per_example = lambda a: jnp.moveaxis(
        a.reshape(a.shape[:lead] + (epsilons.shape[0], n_local) + a.shape[lead + 1 :]), lead + 1, 0
    )
    return jax.tree.map(per_example, out)


def one_call(options: LoopOptions, progress: str | None) -> bool:
    """Whether the loop runs as one compiled call (`Whole`): without a bar, for a pool that
    never shrinks. A shrinking pool runs in stages even without a bar (each pool to its end in
    one `Advance`), so that the pools its tail does not need are never compiled."""
    return progress is None and not options.shrink


def run_shards(split: sharding.SplitBatch, options: LoopOptions, progress: str | None, total: int):
    """The per-example records of the attack `split` holds (its replicated part: members,
    keys, radii, objective, threat, method, `options` and batch size), in one call (see
    `one_call`) or in stages through the pools `pool_sizes` gives the options; with a progress
    bar labelled `progress` over the `total` (ε, example) pairs, in chunks of steps."""
    if one_call(options, progress):
        records = split.examples(split.map(_attack_shard, (Whole(), None)))
        return jax.block_until_ready(records)
    bar = None if progress is None else tqdm(total=total, leave=False, unit="pair", desc=progress)
    with contextlib.nullcontext() if bar is None else bar:
        state = split.map(_attack_shard, (Start(), None))
        budget, in_flight, finished = (UNLIMITED if bar is None else 1), total, 0
        for size, next_size in pool_sizes(options.slots, options.shrink):
            if size != options.slots:
                if in_flight <= next_size:
                    continue  # the pool would take no step (see `AttackLoop.running`): not compiled
                state = split.map(_attack_shard, (Shrink(size), None), state)
            running = True
            while running:
                stage = (Advance(next_size), jnp.asarray(budget, jnp.int32))
                state, still, flight = split.map(_attack_shard, stage, state)
                still, done, flight = split.to_host((still, state.done, flight))
                running, done, in_flight = bool(np.any(still)), int(np.sum(done)), int(np.max(flight))
                if bar is not None:
                    bar.update(done - finished)
                    budget = _next_budget(budget, budget, done - finished, total)
                finished = done
        return split.examples(split.map(_attack_shard, (Finish(), None), state))


def _next_budget(budget: int, iterations: int, done: int, total: int) -> int:
    """Steps for the next chunk: enough for about 1/UPDATES of the pairs at the rate of the
    last chunk (`done` pairs finished in `iterations` steps; the tail of an early-stopping
    attack finishes pairs more slowly than its start), growing at most twofold from one chunk
    to the next. It depends only on values every process reads alike, so every process runs
    the same chunks."""
    if done == 0:
        return 2 * budget
    wanted = math.ceil(total / UPDATES * iterations / done)
    return max(1, min(wanted, 2 * budget))
