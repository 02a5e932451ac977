"""The state the compiled attack loop carries from one iteration to the next.

The loop attacks a queue of (ε, example) pairs through a pool of slots: `Slots` is the pool
(one pair in flight per slot), `Records` the per-pair results written when a pair finishes,
and `LoopState` both, with the queue's position; `Evaluation` is what one iteration sees.
Pairs are numbered in queue order `p = e · n_valid + i` (radius e, example i); a slot
holding `p = total` is empty.
"""

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Bool, Float, Input, Int, PyTree


class Slots(eqx.Module):
    """The pairs in flight, one per slot (leading axis `slots` on every field).

    - `pair`: the queue index of the slot's pair (`total`: empty slot).
    - `x_clean`, `target`, `epsilon`: the pair's clean input, target and radius (gathered
      from the queue when the pair enters the slot, not at every step).
    - `restart`, `step`: which run of the pair, and the steps taken in it.
    - `evaluations`: objective evaluations spent on the pair so far (with the gradient, or a
      forward pass alone for methods that ask for the loss only).
    - `x`, `method_state`: the current iterate and the method's state.
    - `best_x`, `best_distance`, `best_loss`, `found`: the worst case so far (see
      `keep_worst`), whether it is a success; `best_distance` is tracked only by methods that
      keep the smallest perturbation (the others measure `best_x` when the pair finishes).
    - `nonfinite`: whether the model's output, the loss or its gradient (on the coordinates
      the threat lets the attack move) was ever NaN or infinite for the pair.
    """

    pair: Int[Array, " slots"]
    x_clean: Input
    target: PyTree
    epsilon: Float[Array, " slots"]
    restart: Int[Array, " slots"]
    step: Int[Array, " slots"]
    evaluations: Int[Array, " slots"]
    x: Input
    method_state: PyTree
    best_x: Input
    found: Bool[Array, " slots"]
    nonfinite: Bool[Array, " slots"]
    best_distance: Float[Array, " slots"]
    best_loss: Float[Array, " slots"]

    def take(self, index: Int[Array, " size"]) -> "Slots":
        """The slots at `index`, in that order (a pool of another size)."""
        return jax.tree.map(lambda a: a[index], self)


class Records(eqx.Module):
    """What the attack found per pair, laid out as `e · n + i` (leading axis `pairs`).

    - `success`, `nonfinite`, `distance`, `evaluations`: as in `AttackResult`.
    - `adversarial`: the kept worst-case inputs, or `None` when they are not kept.
    """

    success: Bool[Array, " pairs"]
    nonfinite: Bool[Array, " pairs"]
    distance: Float[Array, " pairs"]
    evaluations: Int[Array, " pairs"]
    adversarial: Input | None

    @classmethod
    def empty(cls, total: int, x: Input, keep_adversarial: bool) -> "Records":
        """No pair finished yet; `x` (batched examples) gives the adversarials' shapes."""
        adversarial = (
            jax.tree.map(lambda a: jnp.zeros((total,) + a.shape[1:], a.dtype), x) if keep_adversarial else None
        )
        return cls(
            success=jnp.zeros(total, bool),
            nonfinite=jnp.zeros(total, bool),
            distance=jnp.full(total, jnp.inf),
            evaluations=jnp.zeros(total, jnp.int32),
            adversarial=adversarial,
        )


class Evaluation(eqx.Module):
    """One iteration's look at every slot's iterate (leading axis `slots`), not carried.

    - `active`: whether the slot holds a pair.
    - `loss`, `gradient`: the objective and its input gradient at the iterate (`None` for
      methods that ask for the loss only).
    - `success`: whether the iterate meets the objective's criterion (only in active slots,
      and only where everything is finite).
    - `finite`: whether the model's output, the loss and the gradient (on the coordinates the
      threat lets the attack move) are finite.
    - `distance`: the threat's norm of the perturbation (L2 without a ball), for methods that
      keep the smallest perturbation; `None` for the others.
    """

    active: Bool[Array, " slots"]
    loss: Float[Array, " slots"]
    success: Bool[Array, " slots"]
    gradient: Input | None
    finite: Bool[Array, " slots"]
    distance: Float[Array, " slots"] | None


class LoopState(eqx.Module):
    """The loop's carry.

    - `slots`: the pairs in flight.
    - `head`: the next queue index to hand out (pairs before it are started or skipped).
    - `done`: pairs finished or skipped (what the progress bar shows).
    - `fooled_epsilon`: per example, the smallest ε at which it has been fooled so far.
    - `records`: the results of the finished pairs.
    """

    slots: Slots
    head: Int[Array, ""]
    done: Int[Array, ""]
    fooled_epsilon: Float[Array, " n"]
    records: Records
