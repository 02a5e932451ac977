"""The compiled attack loop on one shard of the examples and one model.

The (ε, example) pairs wait in a queue and run through a fixed pool of `slots` inside one
`lax.while_loop`. Each iteration (`AttackLoop.step`) is a row of named steps:

1. `evaluate`: the objective, its gradient and the success criterion at every slot's iterate;
2. `keep_worst`: each pair's worst case so far (a success beats a failure);
3. `run_over`, `retire`: a pair whose run is over and that succeeded or has no restart left
   is finished and writes its records; the others restart;
4. `refill`: finished slots take the next pairs of the queue (under `nested`, skipping pairs
   whose example is already fooled at a smaller ε);
5. `advance`: every slot takes a step of the method, or starts its pair's next run.

Once the queue is drained the pairs still in flight move to a pool a quarter the size
(`shrink`), so the tail of the work does not pay for empty slots.
"""

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import optax

from .._types import Array, Bool, Float, Input, Int, PRNGKeyArray, PyTree
from ._methods import AbstractMethod
from ._objectives import AbstractObjective
from ._options import LoopOptions, Shard
from ._state import Evaluation, LoopState, Records, Slots
from ._threats import ThreatModel


def _select(mask: Bool[Array, " slots"], a: PyTree, b: PyTree) -> PyTree:
    """Leaf-wise where with a per-slot mask broadcast over the trailing axes."""
    return jax.tree.map(lambda u, v: jnp.where(mask.reshape(mask.shape + (1,) * (u.ndim - 1)), u, v), a, b)


class AttackLoop(eqx.Module):
    """One attack of one model on one shard's examples at every radius of `epsilons`.

    **Arguments:**
    - `model`: a function of one unbatched input.
    - `x`, `y`: the shard's examples and targets (leading axis `n`).
    - `epsilons`: the radii, shape `(n_eps,)`.
    - `key`: the PRNG key of the random starts (see `start`).
    - `objective`, `threat`, `method`: what the attack pursues, where it may go, how it steps.
    - `options`: the loop's static configuration (`LoopOptions`).
    - `shard`: which examples of the whole batch these are (`Shard`).
    """

    model: Callable
    x: Input
    y: PyTree
    epsilons: Float[Array, " eps"]
    key: PRNGKeyArray
    objective: AbstractObjective
    threat: ThreatModel
    method: AbstractMethod
    options: LoopOptions
    shard: Shard

    # --- the queue: pair p = e · n_valid + i, its record at e · n + i ----------------------

    @property
    def n(self) -> int:
        """Examples on this shard, padding included."""
        return jax.tree.leaves(self.x)[0].shape[0]

    @property
    def total(self) -> int:
        """Records (pairs, padding included); also the queue index of an empty slot."""
        return self.epsilons.shape[0] * self.n

    @property
    def stride(self) -> Int[Array, ""]:
        return jnp.maximum(self.shard.n_valid, 1)

    @property
    def work(self) -> Int[Array, ""]:
        """The real pairs: queue indices below it are work."""
        return self.epsilons.shape[0] * self.shard.n_valid

    def gather(self, p):
        """The clean example, target, threat and radius of pair `p`."""
        pc = jnp.clip(p, 0, jnp.maximum(self.work - 1, 0))
        i, e = pc % self.stride, pc // self.stride
        return (
            jax.tree.map(lambda a: a[i], self.x),
            jax.tree.map(lambda a: a[i], self.y),
            self.threat.with_epsilon(self.epsilons[e]),
            self.epsilons[e],
        )

    def record_index(self, p):
        """Where pair `p` writes its record (`total`, dropped, for an empty slot)."""
        return jnp.where(p < self.work, (p // self.stride) * self.n + p % self.stride, self.total)

    def start(self, p, r):
        """The random start of run `r` of pair `p`, keyed by the pair's global index (so the
        slot or device that runs it does not matter)."""
        xc, _, thr, _ = self.gather(p)
        pair = (p // self.stride) * self.shard.n_global + self.shard.offset + p % self.stride
        return self.method.init(jax.random.fold_in(jax.random.fold_in(self.key, pair), r), xc, thr)

    def value_and_grad(self, xi, yi):
        """Loss, success (only where everything is finite), input gradient, and finiteness of
        the output, loss and gradient, at one input."""

        def loss_fn(z):
            output = self.model(z)
            return self.objective.loss(output, yi), output

        (loss, output), grad = jax.value_and_grad(loss_fn, has_aux=True)(xi)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves((loss, output, grad))]))
        return loss, self.objective.success(output, yi) & finite, grad, finite

    def distance(self, xi, xc, thr):
        """The threat's norm of the perturbation (L2 without a ball)."""
        delta = jax.tree.map(jnp.subtract, xi, xc)
        return thr.ball.norm(delta) if thr.ball is not None else optax.tree_utils.tree_norm(delta)

    # --- the loop --------------------------------------------------------------------------

    def initial_state(self) -> LoopState:
        """The first `slots` pairs of the queue started, nothing recorded."""
        slots = self.options.slots
        p0 = jnp.arange(slots, dtype=jnp.int32)
        p0 = jnp.where(p0 < self.work, p0, self.total)
        x0, s0 = jax.vmap(self.start)(p0, jnp.zeros(slots, jnp.int32))
        zeros = jnp.zeros(slots, jnp.int32)
        pool = Slots(
            pair=p0,
            restart=zeros,
            step=zeros,
            evaluations=zeros,
            x=x0,
            method_state=s0,
            best_x=x0,
            found=jnp.zeros(slots, bool),
            nonfinite=jnp.zeros(slots, bool),
            best_distance=jnp.full(slots, jnp.inf),
            best_loss=jnp.full(slots, -jnp.inf),
        )
        return LoopState(
            slots=pool,
            head=jnp.minimum(slots, self.work).astype(jnp.int32),
            done=jnp.asarray(0, jnp.int32),
            fooled_epsilon=jnp.full(self.n, jnp.inf),
            records=Records.empty(self.total, self.x, self.options.keep_adversarial),
        )

    def evaluate(self, slots: Slots) -> Evaluation:
        """Step 1: the objective and its gradient at every slot's iterate."""
        active = slots.pair < self.work
        x_clean, target, threat, epsilon = jax.vmap(self.gather)(slots.pair)
        loss, success, gradient, finite = jax.vmap(self.value_and_grad)(slots.x, target)
        return Evaluation(
            active=active,
            x_clean=x_clean,
            threat=threat,
            epsilon=epsilon,
            loss=loss,
            success=success & active,
            gradient=gradient,
            finite=finite,
            distance=jax.vmap(self.distance)(slots.x, x_clean, threat),
        )

    def keep_worst(self, slots: Slots, evaluation: Evaluation) -> Slots:
        """Step 2: count the evaluation and keep each pair's worst case so far: a success beats
        a failure; among successes the smaller perturbation (minimal attacks) or the higher
        loss; among failures the higher loss."""
        ev = evaluation
        among_found = ev.distance < slots.best_distance if self.method.keep_smallest else ev.loss > slots.best_loss
        better = jnp.where(slots.found, ev.success & among_found, ev.success | (ev.loss > slots.best_loss))
        return dataclasses.replace(
            slots,
            evaluations=slots.evaluations + 1,
            nonfinite=slots.nonfinite | (ev.active & ~ev.finite),
            best_x=_select(better, slots.x, slots.best_x),
            best_distance=jnp.where(better, ev.distance, slots.best_distance),
            best_loss=jnp.where(better, ev.loss, slots.best_loss),
            found=slots.found | ev.success,
        )

    def run_over(self, slots: Slots, evaluation: Evaluation) -> tuple[Bool[Array, " slots"], Bool[Array, " slots"]]:
        """Which pairs are finished (their run is over and they succeeded or have no restart
        left) and which restart."""
        over = slots.step >= self.method.steps
        if self.threat.ball is not None:
            over = over | (evaluation.epsilon <= 0)
        if self.method.stop_at_success:
            over = over | evaluation.success
        finished = evaluation.active & over & (slots.found | (slots.restart + 1 >= self.method.restarts))
        restart = evaluation.active & over & ~finished
        return finished, restart

    def retire(self, state: LoopState, slots: Slots, finished, epsilon) -> tuple[Records, Float[Array, " n"]]:
        """Step 3: the finished pairs write their records, and the smallest ε at which each
        example has been fooled so far is updated."""
        drop = jnp.where(finished, self.record_index(slots.pair), self.total)
        old = state.records
        adversarial = old.adversarial
        if self.options.keep_adversarial:
            adversarial = jax.tree.map(lambda o, b: o.at[drop].set(b, mode="drop"), adversarial, slots.best_x)
        records = Records(
            success=old.success.at[drop].set(slots.found, mode="drop"),
            nonfinite=old.nonfinite.at[drop].set(slots.nonfinite, mode="drop"),
            distance=old.distance.at[drop].set(slots.best_distance, mode="drop"),
            evaluations=old.evaluations.at[drop].set(slots.evaluations, mode="drop"),
            adversarial=adversarial,
        )
        fooled = jnp.where(finished & slots.found, slots.pair % self.stride, self.n)
        return records, state.fooled_epsilon.at[fooled].min(epsilon, mode="drop")

    def refill(self, state: LoopState, finished, fooled_epsilon) -> tuple[Int[Array, " slots"], Int[Array, ""]]:
        """Step 4: the next pairs of the queue for the finished slots, and the new head."""
        rank = jnp.cumsum(finished) - 1
        taken = jnp.sum(finished, dtype=jnp.int32)
        if self.options.nested:
            # Skip queued pairs whose example is already fooled at a radius ≤ theirs: the
            # adversarial found there lies in their (larger) ball too.
            slots, pair = self.options.slots, jnp.arange(self.total)
            radius = self.epsilons[jnp.minimum(pair // self.stride, self.epsilons.shape[0] - 1)]
            pending = (pair >= state.head) & (pair < self.work) & (fooled_epsilon[pair % self.stride] > radius)
            queue = jnp.nonzero(pending, size=slots, fill_value=self.total)[0].astype(jnp.int32)
            refill = queue[jnp.clip(rank, 0, slots - 1)]
            head = jnp.where(taken > 0, queue[jnp.maximum(taken - 1, 0)] + 1, state.head)
        else:
            refill = state.head + rank
            head = state.head + taken
        new_pair = jnp.where(finished, jnp.where(refill < self.work, refill, self.total), state.slots.pair)
        return new_pair.astype(jnp.int32), jnp.minimum(head, self.work).astype(jnp.int32)

    def advance(self, slots: Slots, evaluation: Evaluation, finished, restart, pair) -> Slots:
        """Every slot takes a step of the method, or starts its (new) pair's next run."""
        ev = evaluation
        x_step, s_step = jax.vmap(self.method.update)(
            slots.x, slots.method_state, ev.loss, ev.gradient, ev.x_clean, ev.threat
        )
        new_r = jnp.where(finished, 0, jnp.where(restart, slots.restart + 1, slots.restart))
        need_init = finished | restart
        x_new, s_new = jax.lax.cond(
            jnp.any(need_init),
            lambda: _select(need_init, jax.vmap(self.start)(pair, new_r), (x_step, s_step)),
            lambda: (x_step, s_step),
        )
        return Slots(
            pair=pair,
            restart=new_r,
            step=jnp.where(need_init, 0, slots.step + 1),
            evaluations=jnp.where(finished, 0, slots.evaluations),
            x=x_new,
            method_state=s_new,
            best_x=_select(finished, x_new, slots.best_x),
            found=slots.found & ~finished,
            nonfinite=slots.nonfinite & ~finished,
            best_distance=jnp.where(finished, jnp.inf, slots.best_distance),
            best_loss=jnp.where(finished, -jnp.inf, slots.best_loss),
        )

    def step(self, state: LoopState) -> LoopState:
        """One iteration of the loop: evaluate, keep the worst case, retire, refill."""
        evaluation = self.evaluate(state.slots)
        slots = self.keep_worst(state.slots, evaluation)
        finished, restart = self.run_over(slots, evaluation)
        records, fooled_epsilon = self.retire(state, slots, finished, evaluation.epsilon)
        pair, head = self.refill(state, finished, fooled_epsilon)
        done = head - jnp.sum(pair < self.work, dtype=jnp.int32)
        if self.options.progress is not None:
            jax.debug.callback(self.options.progress.tick, self.shard.token, self.shard.offset, self.shard.member, done)
        return LoopState(
            slots=self.advance(slots, evaluation, finished, restart, pair),
            head=head,
            done=done,
            fooled_epsilon=fooled_epsilon,
            records=records,
        )

    def running(self, next_slots: int) -> Callable[[LoopState], Bool[Array, ""]]:
        """Run this pool while work remains, until the queue is drained and the pairs still in
        flight fit the next, smaller pool (of `next_slots`)."""

        def cond(state: LoopState):
            active = jnp.sum(state.slots.pair < self.work)
            return (active > 0) & ((state.head < self.work) | (active > next_slots))

        return cond

    def shrink(self, state: LoopState, size: int) -> LoopState:
        """The pairs in flight moved to a pool of `size` slots."""
        in_flight = state.slots.pair < self.work
        keep = jnp.nonzero(in_flight, size=size, fill_value=0)[0]
        filled = jnp.arange(size) < jnp.sum(in_flight)
        slots = state.slots.take(keep)
        slots = dataclasses.replace(slots, pair=jnp.where(filled, slots.pair, self.total))
        return dataclasses.replace(state, slots=slots)

    def run(self) -> Records:
        """Attack every pair of the queue. **Returns:** the records, laid out as `e · n + i`;
        under `nested`, an example fooled at some ε counts as a success at every larger ε."""
        state = self.initial_state()
        pools = [self.options.slots]
        while pools[-1] > 16:
            pools.append(pools[-1] // 4)
        for size, next_size in zip(pools, pools[1:] + [0]):
            if size != state.slots.pair.shape[0]:
                state = self.shrink(state, size)
            # The body is a plain function: a bound method of this module would be hashed with
            # its traced arrays.
            state = jax.lax.while_loop(self.running(next_size), lambda state: self.step(state), state)
        records = state.records
        if self.options.nested:
            fooled = state.fooled_epsilon[None, :] <= self.epsilons[:, None]
            records = dataclasses.replace(records, success=records.success | fooled.reshape(self.total))
        return records


@eqx.filter_jit
def run_compiled(loop: AttackLoop) -> Records:
    """`loop.run()`, compiled."""
    return loop.run()
