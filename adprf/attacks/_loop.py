"""The compiled attack loop on one shard of the examples and one model.

The (ε, example) pairs wait in a queue and run through a fixed pool of `slots`, in two nested
`lax.while_loop`s. The inner loop (`AttackLoop.steps`) repeats, for every slot at once,

1. `evaluate`: the objective, its gradient and the success criterion at every slot's iterate;
2. `keep_worst`: each pair's worst case so far (a success beats a failure);
3. `run_over`, `advance`: which runs are over; every slot takes a step of the method;

until some slot's run is over (once the queue is drained, until a run restarts or none is left:
a finished pair is parked until then). The outer loop (`AttackLoop.cycle`) then does the
bookkeeping once (`turnover`), so most iterations of a PGD pay for none of it:

4. `retire`: a pair whose run is over and that succeeded or has no restart left is finished
   and writes its records; the others restart;
5. `refill`: finished slots take the next pairs of the queue (under `nested`, skipping pairs
   whose example is already fooled at a smaller ε);
6. `restart_runs`: the new pairs and the restarting ones start a run (discarding step 3's step).

The pool starts empty: the first outer iteration takes no step, and its turnover fills every
slot (`fill`). A slot carries its pair's clean input, target and radius, gathered from the
queue once, when the pair enters. Once the queue is drained the pairs still in flight move to a
pool half the size, and so on (`shrink`), so the tail of a long attack does not pay for empty
slots (short ones, and pools of at most `SMALLEST_POOL` slots, keep one pool: see `shrinks`).
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
from ._threats import ThreatModel, keep_fixed


def _select(mask: Bool[Array, " slots"], a: PyTree, b: PyTree) -> PyTree:
    """Leaf-wise where with a per-slot mask broadcast over the trailing axes."""
    return jax.tree.map(lambda u, v: jnp.where(mask.reshape(mask.shape + (1,) * (u.ndim - 1)), u, v), a, b)


SHRINK_AFTER = 100
"""Runs of at least this many evaluations per pair ((steps + 1) · restarts) shrink the pool for
the tail of the work; shorter ones keep one pool. Without shrinking, the tail costs at most one
run of the whole pool; each further pool size compiles another copy of the loop (about a second
of XLA on a CPU), which for short runs (FGSM, PGD-40) is the larger cost."""


SMALLEST_POOL = 16
"""A pool shrinks while above this size."""


def pool_sizes(slots: int, shrink: bool) -> list[tuple[int, int]]:
    """The pool sizes the work moves through (`slots`, then, if it `shrink`s, half at a
    time while above `SMALLEST_POOL`), each with the next one's (0 after the last)."""
    sizes = [slots]
    while shrink and sizes[-1] > SMALLEST_POOL:
        sizes.append(sizes[-1] // 2)
    return list(zip(sizes, sizes[1:] + [0]))


def run_length(method: AbstractMethod) -> int:
    """The most evaluations one pair can take: (steps + 1) per run, `restarts` runs (of a
    method built outside `jit`, whose counts are concrete)."""
    return (int(method.steps) + 1) * int(method.restarts)


def shrinks(method: AbstractMethod, slots: int) -> bool:
    """Whether a pool of `slots` shrinks for the tail of `method`'s work: for runs of at least
    `SHRINK_AFTER` evaluations per pair (`run_length`), from a pool above `SMALLEST_POOL`. (A
    pool that would not shrink says so, and shares its program with shorter runs'.)"""
    return slots > SMALLEST_POOL and run_length(method) >= SHRINK_AFTER


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
        """The clean example, target and radius of pair `p`."""
        pc = jnp.clip(p, 0, jnp.maximum(self.work - 1, 0))
        i, e = pc % self.stride, pc // self.stride
        return jax.tree.map(lambda a: a[i], self.x), jax.tree.map(lambda a: a[i], self.y), self.epsilons[e]

    def record_index(self, p):
        """Where pair `p` writes its record (`total`, dropped, for an empty slot)."""
        return jnp.where(p < self.work, (p // self.stride) * self.n + p % self.stride, self.total)

    def start(self, p, r, x_clean, epsilon):
        """The random start of run `r` of pair `p` (clean input `x_clean`, radius `epsilon`),
        keyed by the pair's global index (so the slot or device that runs it does not matter)."""
        pair = (p // self.stride) * self.shard.n_global + self.shard.offset + p % self.stride
        key = jax.random.fold_in(jax.random.fold_in(self.key, pair), r)
        x, state = self.method.init(key, x_clean, self.threat.with_epsilon(epsilon))
        return keep_fixed(self.fixed, x, x_clean), state

    @property
    def fixed(self):
        """The input's leaves that the threat fixes whole (Python booleans, see
        `ThreatModel.fixed_leaves`): they hold the clean values from the start, and the steps
        carry them through untouched (`keep_worst`, `advance`), where a select or a copy of
        the clean leaf would cost a pass over it at every step (the amounts of a ligand descent
        that moves binding times)."""
        return self.threat.fixed_leaves(self.x)

    def value_and_grad(self, xi, yi, xc):
        """Loss, success (only where everything is finite), input gradient, and finiteness of
        the output, the loss and the gradient, at one input whose clean input is `xc`. For a
        method that asks for the loss only (`uses_gradient` false) the gradient is `None`.

        The gradient counts only on the coordinates the threat lets the attack move: a
        derivative with respect to a fixed coordinate is 0 (a method's step there is undone by
        the projection, which restores the clean value) and never checked, so XLA does not
        compute it (the amounts of a ligand descent that moves binding times: half the
        gradient). The method gets the gradient that was checked: one array, which XLA computes
        once, where a check of a restricted copy had XLA compute the gradient twice."""

        def loss_fn(z):
            output = self.model(z)
            return self.objective.loss(output, yi), output

        if self.method.uses_gradient:
            (loss, output), grad = jax.value_and_grad(loss_fn, has_aux=True)(xi)
            grad = self.threat.restrict(grad, xc)
            checked = (loss, output, grad)
        else:  # a query: one forward pass, no gradient
            (loss, output), grad = loss_fn(xi), None
            checked = (loss, output)
        # Σ (a − a) is 0 when every entry of a is finite and NaN otherwise: one fused reduction
        # per leaf, where `all(isfinite(a))` costs XLA three passes (and 0·a, a pass more on
        # CPU, where XLA writes the 0 out as an array for the reduction to read). Integer and
        # boolean leaves are finite.
        inexact = [a for a in jax.tree.leaves(checked) if jnp.issubdtype(jnp.result_type(a), jnp.inexact)]
        finite = jnp.isfinite(sum((jnp.sum(a - a) for a in inexact), jnp.zeros(())))
        return loss, self.objective.success(output, yi) & finite, grad, finite

    def distance(self, xi, xc, epsilon):
        """The threat's norm (at radius `epsilon`) of the perturbation (L2 without a ball)."""
        delta = jax.tree.map(jnp.subtract, xi, xc)
        ball = self.threat.with_epsilon(epsilon).ball
        return ball.norm(delta) if ball is not None else optax.tree_utils.tree_norm(delta)

    def update(self, x, state, loss, grad, x_clean, epsilon):
        """One step of the method for one slot, in the threat at radius `epsilon`."""
        return self.method.update(x, state, loss, grad, x_clean, self.threat.with_epsilon(epsilon))

    # --- the loop --------------------------------------------------------------------------

    def initial_state(self) -> LoopState:
        """Every slot empty, nothing recorded: the first cycle's turnover fills the pool from
        the queue (see `fill`), with the code that refills it later, so the random starts
        compile once (they are much of a small loop's compile time)."""
        slots = self.options.slots
        p0 = jnp.full(slots, self.total, jnp.int32)
        x_clean, target, epsilon = jax.vmap(self.gather)(p0)
        zeros = jnp.zeros(slots, jnp.int32)
        started = jax.eval_shape(jax.vmap(self.start), p0, zeros, x_clean, epsilon)  # no random numbers drawn
        x0, s0 = jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), started)
        pool = Slots(
            pair=p0,
            x_clean=x_clean,
            target=target,
            epsilon=epsilon,
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
            head=jnp.asarray(0, jnp.int32),
            done=jnp.asarray(0, jnp.int32),
            fooled_epsilon=jnp.full(self.n, jnp.inf),
            records=Records.empty(self.total, self.x, self.options.keep_adversarial),
        )

    def evaluate(self, slots: Slots, parked: Bool[Array, " slots"]) -> Evaluation:
        """Step 1: the objective and its gradient at every slot's iterate (and the distance,
        for methods that keep the smallest perturbation). A `parked` slot counts as inactive
        (see `steps`)."""
        target = jax.vmap(self.objective.for_restart)(slots.target, slots.restart)
        loss, success, gradient, finite = jax.vmap(self.value_and_grad)(slots.x, target, slots.x_clean)
        active = (slots.pair < self.work) & ~parked
        distance = jax.vmap(self.distance)(slots.x, slots.x_clean, slots.epsilon) if self.method.keep_smallest else None
        return Evaluation(
            active=active,
            loss=loss,
            success=success & active,
            gradient=gradient,
            finite=finite,
            distance=distance,
        )

    def keep_worst(self, slots: Slots, evaluation: Evaluation) -> Slots:
        """Step 2: count the evaluation and keep each pair's worst case so far: a success beats
        a failure; among successes the smaller perturbation (minimal attacks) or the higher
        loss; among failures the higher loss."""
        ev = evaluation
        best_distance = slots.best_distance
        if ev.distance is not None:
            among_found = ev.distance < slots.best_distance
        else:
            among_found = ev.loss > slots.best_loss
        better = jnp.where(slots.found, ev.success & among_found, ev.success | (ev.loss > slots.best_loss))
        better = better & ev.active  # a parked pair's worst case is final (see `steps`)
        if ev.distance is not None:
            best_distance = jnp.where(better, ev.distance, slots.best_distance)
        return dataclasses.replace(
            slots,
            evaluations=slots.evaluations + ev.active.astype(jnp.int32),
            nonfinite=slots.nonfinite | (ev.active & ~ev.finite),
            best_x=keep_fixed(self.fixed, _select(better, slots.x, slots.best_x), slots.best_x),
            best_distance=best_distance,
            best_loss=jnp.where(better, ev.loss, slots.best_loss),
            found=slots.found | ev.success,
        )

    def run_over(self, slots: Slots, evaluation: Evaluation) -> tuple[Bool[Array, " slots"], Bool[Array, " slots"]]:
        """Which pairs are finished (their run is over and they succeeded or have no restart
        left) and which restart."""
        over = slots.step >= self.method.steps
        if self.threat.ball is not None:
            over = over | (slots.epsilon <= 0)
        if self.method.stop_at_success:
            over = over | evaluation.success
        finished = evaluation.active & over & (slots.found | (slots.restart + 1 >= self.method.restarts))
        restart = evaluation.active & over & ~finished
        return finished, restart

    def advance(self, slots: Slots, evaluation: Evaluation) -> Slots:
        """Step 3: every slot takes a step of the method (the slots whose run is over are
        restarted by `turnover`, which discards that step)."""
        ev = evaluation
        x, method_state = jax.vmap(self.update)(
            slots.x, slots.method_state, ev.loss, ev.gradient, slots.x_clean, slots.epsilon
        )
        x = keep_fixed(self.fixed, x, slots.x)  # equal to the projection's clean leaf
        return dataclasses.replace(slots, x=x, method_state=method_state, step=slots.step + 1)

    def kept_distance(self, slots: Slots) -> Float[Array, " slots"]:
        """The distance of each slot's kept input: tracked by minimal methods, measured here for
        the others (`inf` while nothing was kept, as when every loss so far was NaN)."""
        if self.method.keep_smallest:
            return slots.best_distance
        distance = jax.vmap(self.distance)(slots.best_x, slots.x_clean, slots.epsilon)
        return jnp.where(slots.found | (slots.best_loss > -jnp.inf), distance, jnp.inf)

    def retire(self, state: LoopState, finished) -> tuple[Records, Float[Array, " n"]]:
        """Step 4: the finished pairs write their records, and the smallest ε at which each
        example has been fooled so far is updated."""
        slots = state.slots
        drop = jnp.where(finished, self.record_index(slots.pair), self.total)
        success = slots.found & ~slots.nonfinite  # a pair that met a NaN or infinity is never a success
        old = state.records
        adversarial = old.adversarial
        if self.options.keep_adversarial:
            adversarial = jax.tree.map(lambda o, b: o.at[drop].set(b, mode="drop"), adversarial, slots.best_x)
        records = Records(
            success=old.success.at[drop].set(success, mode="drop"),
            nonfinite=old.nonfinite.at[drop].set(slots.nonfinite, mode="drop"),
            distance=old.distance.at[drop].set(self.kept_distance(slots), mode="drop"),
            evaluations=old.evaluations.at[drop].set(slots.evaluations, mode="drop"),
            adversarial=adversarial,
        )
        fooled = jnp.where(finished & success, slots.pair % self.stride, self.n)
        return records, state.fooled_epsilon.at[fooled].min(slots.epsilon, mode="drop")

    def refill(self, state: LoopState, finished, fooled_epsilon) -> tuple[Int[Array, " slots"], Int[Array, ""]]:
        """Step 5: the next pairs of the queue for the finished slots, and the new head."""
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

    def restart_runs(self, slots: Slots, finished, restart, pair) -> Slots:
        """Step 6: the finished slots take their new pairs, and they and the restarting slots
        start a run."""
        x_clean, target, epsilon = jax.vmap(self.gather)(pair)
        new_r = jnp.where(finished, 0, jnp.where(restart, slots.restart + 1, slots.restart))
        need_init = finished | restart

        def started(_):
            return _select(
                need_init, jax.vmap(self.start)(pair, new_r, x_clean, epsilon), (slots.x, slots.method_state)
            )

        # Random starts cost as much as a step: skipped when no slot starts a real run (the
        # queue drained, nothing restarting); a slot left empty keeps its old iterate, unused.
        x_new, s_new = jax.lax.cond(
            jnp.any(need_init & (pair < self.work)), started, lambda _: (slots.x, slots.method_state), None
        )
        return Slots(
            pair=pair,
            x_clean=x_clean,
            target=target,
            epsilon=epsilon,
            restart=new_r,
            step=jnp.where(need_init, 0, slots.step),
            evaluations=jnp.where(finished, 0, slots.evaluations),
            x=x_new,
            method_state=s_new,
            best_x=_select(finished, x_new, slots.best_x),
            found=slots.found & ~finished,
            nonfinite=slots.nonfinite & ~finished,
            best_distance=jnp.where(finished, jnp.inf, slots.best_distance),
            best_loss=jnp.where(finished, -jnp.inf, slots.best_loss),
        )

    def turnover(self, state: LoopState, finished, restart) -> LoopState:
        """Steps 4–6, once some pair's run is over: retire, refill and restart."""
        records, fooled_epsilon = self.retire(state, finished)
        pair, head = self.refill(state, finished, fooled_epsilon)
        return LoopState(
            slots=self.restart_runs(state.slots, finished, restart, pair),
            head=head,
            done=head - jnp.sum(pair < self.work, dtype=jnp.int32),
            fooled_epsilon=fooled_epsilon,
            records=records,
        )

    def fill(self, state: LoopState) -> Bool[Array, " slots"]:
        """The empty slots while the queue holds pairs: every slot of `initial_state`, none
        later (a turnover refills every finished slot while the queue lasts)."""
        return (state.slots.pair >= self.work) & (state.head < self.work)

    def steps(
        self,
        slots: Slots,
        fill: Bool[Array, " slots"],
        drained: Bool[Array, ""],
        next_slots: int,
        limit: Int[Array, ""] | None = None,
    ) -> tuple[Slots, Bool[Array, " slots"], Bool[Array, " slots"], Int[Array, ""]]:
        """Steps 1–3, repeated until some slot's run is over (at least once, unless some slot
        is to `fill`: then none), or `limit` steps were taken; the slots, which pairs are
        finished (or filled) and which restart, and the steps taken.

        Once the queue is `drained`, a finished pair has no successor to make room for: it is
        parked (its worst case and evaluations frozen, its slot's steps ignored) and the other
        runs go on, so that one turnover retires every pair that finished meanwhile. The steps
        then stop when a run restarts, when no run is left, or when the runs left fit the next
        pool (`next_slots`), at the step where a turnover after every finish would have stopped
        the pool: the records and the pools are those of one turnover per finish."""

        def step(carry):
            slots, parked, _, taken = carry
            evaluation = self.evaluate(slots, parked)
            slots = self.keep_worst(slots, evaluation)
            finished, restart = self.run_over(slots, evaluation)
            return self.advance(slots, evaluation), parked | finished, restart, taken + 1

        def going(carry):
            # Stop too when no run is left: under `vmap` (ensemble members) this loop also runs
            # for a member whose work is done, and none of its runs would ever end.
            slots, finished, restart, taken = carry
            runs = (slots.pair < self.work) & ~finished
            turnover = jnp.any(restart) | (
                jnp.any(finished) & (~drained | (jnp.sum(runs, dtype=jnp.int32) <= next_slots))
            )
            if limit is not None:
                turnover = turnover | (taken >= limit)
            return ~turnover & jnp.any(runs)

        none = jnp.zeros(slots.pair.shape[0], bool)
        return jax.lax.while_loop(going, step, (slots, fill, none, jnp.asarray(0, jnp.int32)))

    def cycle(
        self, state: LoopState, next_slots: int, limit: Int[Array, ""] | None = None
    ) -> tuple[LoopState, Int[Array, ""]]:
        """The runs in flight step until one is over (once the queue is drained: see `steps`)
        or `limit` steps were taken, then the turnover (a turnover with nothing finished or
        restarting changes nothing): one iteration of the outer loop (the first one only fills
        the empty pool, taking no step). `next_slots`: the size of the next, smaller pool (0
        after the last). **Returns:** the state and the steps taken."""
        drained = state.head >= self.work
        slots, finished, restart, taken = self.steps(state.slots, self.fill(state), drained, next_slots, limit)
        return self.turnover(dataclasses.replace(state, slots=slots), finished, restart), taken

    def running(self, next_slots: int) -> Callable[[LoopState], Bool[Array, ""]]:
        """Run this pool while work remains, until the queue is drained and the pairs still in
        flight fit the next, smaller pool (of `next_slots`)."""

        def cond(state: LoopState):
            active = jnp.sum(state.slots.pair < self.work)
            return (state.head < self.work) | (active > next_slots)

        return cond

    def shrink(self, state: LoopState, size: int) -> LoopState:
        """The pairs in flight moved to a pool of `size` slots."""
        in_flight = state.slots.pair < self.work
        keep = jnp.nonzero(in_flight, size=size, fill_value=0)[0]
        filled = jnp.arange(size) < jnp.sum(in_flight)
        slots = state.slots.take(keep)
        slots = dataclasses.replace(slots, pair=jnp.where(filled, slots.pair, self.total))
        return dataclasses.replace(state, slots=slots)

    def run_pool(self, state: LoopState, next_size: int, budget: Int[Array, ""] | None = None) -> LoopState:
        """Run the pool of `state` until it is done (see `running`), or for at most `budget`
        steps (the first outer iteration, which only fills the empty pool, takes none), after
        which a call on the returned state goes on where this one stopped: the same records,
        whichever the budgets. A budget ends with a turnover, which retires the pairs parked
        meanwhile, so that a progress bar moves as pairs finish."""
        # The bodies are plain functions: a bound method of this module would be hashed with
        # its traced arrays.
        if budget is None:
            return jax.lax.while_loop(self.running(next_size), lambda state: self.cycle(state, next_size)[0], state)
        running = self.running(next_size)

        def cycle(carry):
            state, taken = self.cycle(carry[0], next_size, budget - carry[1])
            return state, carry[1] + taken

        state, _ = jax.lax.while_loop(
            lambda carry: running(carry[0]) & (carry[1] < budget), cycle, (state, jnp.asarray(0, jnp.int32))
        )
        return state

    def records(self, state: LoopState) -> Records:
        """The records of a finished loop, laid out as `e · n + i`; under `nested`, an example
        fooled at some ε counts as a success at every larger ε."""
        records = state.records
        if self.options.nested:
            fooled = state.fooled_epsilon[None, :] <= self.epsilons[:, None]
            records = dataclasses.replace(records, success=records.success | fooled.reshape(self.total))
        return records

    def run(self) -> Records:
        """Attack every pair of the queue. **Returns:** the records (see `records`)."""
        state = self.initial_state()
        for size, next_size in pool_sizes(self.options.slots, self.options.shrink):
            if size != state.slots.pair.shape[0]:
                state = self.shrink(state, size)
            state = self.run_pool(state, next_size)
        return self.records(state)


@eqx.filter_jit
def run_compiled(loop: AttackLoop) -> Records:
    """`loop.run()`, compiled."""
    return loop.run()
