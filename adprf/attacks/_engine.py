"""The attack engine: one compiled loop shared by every model and every method.

An attack is (model, input pytree, objective, threat, method). The engine flattens the
work into a queue of (ε, example) pairs and runs it through a fixed pool of `batch_size`
slots inside a single `lax.while_loop`: each iteration evaluates the objective and its
gradient for every slot (`vmap` of `jax.value_and_grad`), stops examples that succeeded
(per-example early stopping as a mask), restarts those that failed with restarts left,
and refills finished slots with the next pairs of the queue. A slot therefore never
idles while work remains, so early stopping saves compute rather than only masking it.
Every pair's random start comes from `fold_in(fold_in(key, pair), restart)`, so which
slot or device runs a pair does not change its attack. The pool's size does set the shapes
of the batched matrix products inside the model, and with them the floating-point summation
order: changing `batch_size` can move results in the last bit, which a sign step (FGSM) can
turn into a different step for an example on the edge (measured: 1 image in 1,000 at some ε
for the paper-preset MLP, batch 512 vs 128). A fixed `batch_size` gives bit-identical results.
"""

import itertools
import threading
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from .. import sharding
from .._types import Array, Bool, Float, Input, Int, PRNGKeyArray
from ._ensemble import Ensemble
from ._methods import AbstractMethod
from ._objectives import AbstractObjective, as_objective
from ._straight_through import straight_through as _straight_through
from ._threats import ThreatModel


class AttackResult(eqx.Module):
    """What an attack found, per (ε, example) pair.

    - `adversarial`: the worst-case input found per example (the first success, the
      smallest successful perturbation for minimal attacks, else the highest-loss point);
      `None` when not kept. Leading axes `(n,)` for `attack`, `(n_eps, n)` for sweeps.
    - `success`: whether the objective's success criterion was met.
    - `distance`: the threat norm (L2 without a ball) of the kept perturbation.
    - `gradient_evaluations`: objective-gradient evaluations spent on each pair.
    - `nonfinite`: whether the model's output, the loss or its gradient was NaN or infinite at
      some point evaluated for the pair. Such a pair is never counted as a success (nor, by
      `robust_accuracy`, as robust): it is a failed evaluation. By default `attack` and
      `run_attack` raise `NonFiniteError` instead of returning one (`nonfinite="report"`).
    """

    adversarial: Input | None
    success: Bool[Array, "*pairs"]
    distance: Float[Array, "*pairs"]
    gradient_evaluations: Int[Array, "*pairs"]
    nonfinite: Bool[Array, "*pairs"]


class NonFiniteError(FloatingPointError):
    """The model's output, the loss or its gradient was NaN or infinite during an attack, so
    the attack's verdict on those examples would be meaningless (e.g. the argmax of NaN
    logits is class 0)."""


NONFINITE_POLICIES = ("raise", "report")


def check_finite(nonfinite, policy: str, what: str = "(ε, example) pairs") -> None:
    """Raise `NonFiniteError` when any pair of `nonfinite` (..., n_eps, n) is set and the policy
    is "raise"; the message says how many, which examples and at which ε index."""
    if policy not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {policy!r}")
    flags = np.asarray(nonfinite)
    if policy == "report" or not flags.any():
        return
    examples = np.flatnonzero(flags.reshape(-1, flags.shape[-1]).any(axis=0))
    shown = ", ".join(map(str, examples[:8])) + (", ..." if len(examples) > 8 else "")
    raise NonFiniteError(
        f"{int(flags.sum())} of {flags.size} {what} met a NaN or infinite model output, loss or gradient "
        f"(examples {shown}): adprf counts them neither as robust nor as fooled. Check the model on those "
        f"inputs (a failed solver, log(0), an overflow), or pass nonfinite='report' to get them as failed "
        f"evaluations (`nonfinite` / `failed` in the result)"
    )


_BARS: dict[int, tqdm] = {}
_TOKENS = itertools.count()


_DONE: dict[int, dict[int, int]] = {}
_LOCK = threading.Lock()


def _tick(token, shard, member, done):
    """Host callback from inside the compiled loop: advance that attack's progress bar by the
    pairs done on every shard and ensemble member (devices call back concurrently; under an
    Ensemble's vmap, once per member)."""
    with _LOCK:
        bar = _BARS.get(int(token))
        if bar is not None:
            counts = _DONE.setdefault(int(token), {})
            counts[int(shard), int(member)] = int(done)
            bar.update(sum(counts.values()) - bar.n)


def _select(mask, a, b):
    """Leaf-wise where with a per-slot mask broadcast over the trailing axes."""
    return jax.tree.map(lambda u, v: jnp.where(mask.reshape(mask.shape + (1,) * (u.ndim - 1)), u, v), a, b)


def _attack_shard(replicated, batched, offset, n_valid):
    """The attack loop on one shard of the examples (see `adprf.sharding.map_batch`).

    Its `n_valid` first examples are real (the rest is padding and never queued), the first
    one is example `offset` of the whole batch, which has `n_global` examples: a pair's random
    start is keyed by its global index `e · n_global + offset + i`, so results do not depend
    on how the batch is split across devices. Returns per-example outputs, leading axis
    `(n_local,)`, then `(n_eps,)`.
    """
    (model, epsilons, objective, threat, method, key, slots, keep_adversarial, token, progress, nested, n_global) = (
        replicated
    )
    x, y = batched
    n_local = jax.tree.leaves(x)[0].shape[0]

    def one(member, member_key, lane=0):
        return _loop(
            member,
            x,
            y,
            epsilons,
            objective,
            threat,
            method,
            member_key,
            slots,
            keep_adversarial,
            token,
            progress,
            nested,
            n_global,
            offset,
            n_valid,
            lane,
        )

    if isinstance(model, Ensemble):
        # Every member on this shard's examples: the loop vmapped over the stacked models.
        params, static = eqx.partition(model.models, eqx.is_array)
        outputs = jax.vmap(lambda p, k, lane: one(eqx.combine(p, static), k, lane))(params, key, jnp.arange(model.size))
        # (members, n_eps · n_local, ...) -> (n_local, members, n_eps, ...)
        per_example = lambda a: jnp.moveaxis(a.reshape((model.size, epsilons.shape[0], n_local) + a.shape[2:]), 2, 0)
    else:
        outputs = one(model, key)
        per_example = lambda a: jnp.swapaxes(a.reshape((epsilons.shape[0], n_local) + a.shape[1:]), 0, 1)
    return jax.tree.map(per_example, outputs)


def _loop(
    model,
    x,
    y,
    epsilons,
    objective: AbstractObjective,
    threat: ThreatModel,
    method: AbstractMethod,
    key,
    slots: int,
    keep_adversarial: bool,
    token,
    progress: bool,
    nested: bool,
    n_global,
    offset,
    n_valid,
    lane=0,
):
    n = jax.tree.leaves(x)[0].shape[0]
    total = epsilons.shape[0] * n
    # Real work: the pairs (e, i) with i < n_valid, numbered p = e · n_valid + i in queue
    # order; `total` (≥ work) marks an empty slot. Outputs are laid out as e · n + i.
    stride = jnp.maximum(n_valid, 1)
    work = epsilons.shape[0] * n_valid
    restarts, steps = method.restarts, method.steps

    def value_and_grad(xi, yi):
        def loss_fn(z):
            output = model(z)
            return objective.loss(output, yi), output

        (loss, output), grad = jax.value_and_grad(loss_fn, has_aux=True)(xi)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in jax.tree.leaves((loss, output, grad))]))
        return loss, objective.success(output, yi) & finite, grad, finite

    def gather(p):
        pc = jnp.clip(p, 0, jnp.maximum(work - 1, 0))
        i, e = pc % stride, pc // stride
        return (
            jax.tree.map(lambda a: a[i], x),
            jax.tree.map(lambda a: a[i], y),
            threat.with_epsilon(epsilons[e]),
            epsilons[e],
        )

    def out_index(p):
        return jnp.where(p < work, (p // stride) * n + p % stride, total)

    def distance(xi, xc, thr):
        delta = jax.tree.map(jnp.subtract, xi, xc)
        return thr.ball.norm(delta) if thr.ball is not None else optax.tree_utils.tree_norm(delta)

    def start(p, r):
        xc, _, thr, _ = gather(p)
        pair = (p // stride) * n_global + offset + p % stride
        return method.init(jax.random.fold_in(jax.random.fold_in(key, pair), r), xc, thr)

    p0 = jnp.arange(slots, dtype=jnp.int32)
    p0 = jnp.where(p0 < work, p0, total)
    x0, s0 = jax.vmap(start)(p0, jnp.zeros(slots, jnp.int32))
    zeros_i = jnp.zeros(slots, jnp.int32)
    out_x = jax.tree.map(lambda a: jnp.zeros((total,) + a.shape[1:], a.dtype), x) if keep_adversarial else None
    carry = dict(
        p=p0,
        r=zeros_i,
        t=zeros_i,
        evals=zeros_i,
        x=x0,
        state=s0,
        best_x=x0,
        found=jnp.zeros(slots, bool),
        bad=jnp.zeros(slots, bool),
        best_dist=jnp.full(slots, jnp.inf),
        best_loss=jnp.full(slots, -jnp.inf),
        head=jnp.minimum(slots, work).astype(jnp.int32),
        done=jnp.asarray(0, jnp.int32),
        fooled_eps=jnp.full(n, jnp.inf),
        out_success=jnp.zeros(total, bool),
        out_bad=jnp.zeros(total, bool),
        out_dist=jnp.full(total, jnp.inf),
        out_evals=jnp.zeros(total, jnp.int32),
        out_x=out_x,
    )

    def cond_for(next_slots):
        # Run this pool while work remains, until the queue is drained and the examples still
        # in flight fit the next, smaller pool.
        def cond(c):
            active = jnp.sum(c["p"] < work)
            return (active > 0) & ((c["head"] < work) | (active > next_slots))

        return cond

    def body(c):
        p, active = c["p"], c["p"] < work
        xc, yc, thr, eps = jax.vmap(gather)(p)
        loss, success, grad, finite = jax.vmap(value_and_grad)(c["x"], yc)
        success = success & active
        bad = c["bad"] | (active & ~finite)
        evals = c["evals"] + 1
        dist = jax.vmap(distance)(c["x"], xc, thr)
        # Worst case so far: a success beats a failure; among successes the smaller
        # perturbation (minimal attacks) or the higher loss; among failures the higher loss.
        among_found = dist < c["best_dist"] if method.keep_smallest else loss > c["best_loss"]
        better = jnp.where(c["found"], success & among_found, success | (loss > c["best_loss"]))
        best_x = _select(better, c["x"], c["best_x"])
        best_dist = jnp.where(better, dist, c["best_dist"])
        best_loss = jnp.where(better, loss, c["best_loss"])
        found = c["found"] | success

        run_over = c["t"] >= steps
        if threat.ball is not None:
            run_over = run_over | (eps <= 0)
        if method.stop_at_success:
            run_over = run_over | success
        finished = active & run_over & (found | (c["r"] + 1 >= restarts))
        restart = active & run_over & ~finished

        drop = jnp.where(finished, out_index(p), total)
        out_success = c["out_success"].at[drop].set(found, mode="drop")
        out_bad = c["out_bad"].at[drop].set(bad, mode="drop")
        out_dist = c["out_dist"].at[drop].set(best_dist, mode="drop")
        out_evals = c["out_evals"].at[drop].set(evals, mode="drop")
        out_x = c["out_x"]
        if keep_adversarial:
            out_x = jax.tree.map(lambda o, b: o.at[drop].set(b, mode="drop"), out_x, best_x)

        # The smallest ε at which each example has been fooled so far.
        fooled_eps = c["fooled_eps"].at[jnp.where(finished & found, p % stride, n)].min(eps, mode="drop")

        x_step, s_step = jax.vmap(method.update)(c["x"], c["state"], loss, grad, xc, thr)
        rank = jnp.cumsum(finished) - 1
        taken = jnp.sum(finished, dtype=jnp.int32)
        if nested:
            # Skip queued pairs whose example is already fooled at a radius ≤ theirs: the
            # adversarial found there lies in their (larger) ball too.
            pair = jnp.arange(total)
            pending = (
                (pair >= c["head"])
                & (pair < work)
                & (fooled_eps[pair % stride] > epsilons[jnp.minimum(pair // stride, epsilons.shape[0] - 1)])
            )
            queue = jnp.nonzero(pending, size=slots, fill_value=total)[0].astype(jnp.int32)
            refill = queue[jnp.clip(rank, 0, slots - 1)]
            head = jnp.where(taken > 0, queue[jnp.maximum(taken - 1, 0)] + 1, c["head"])
        else:
            refill = c["head"] + rank
            head = c["head"] + taken
        new_p = jnp.where(finished, jnp.where(refill < work, refill, total), p).astype(jnp.int32)
        head = jnp.minimum(head, work).astype(jnp.int32)
        done = head - jnp.sum(new_p < work, dtype=jnp.int32)
        if progress:
            jax.debug.callback(_tick, token, offset, lane, done)
        new_r = jnp.where(finished, 0, jnp.where(restart, c["r"] + 1, c["r"]))
        need_init = finished | restart
        x_new, s_new = jax.lax.cond(
            jnp.any(need_init),
            lambda: _select(need_init, jax.vmap(start)(new_p, new_r), (x_step, s_step)),
            lambda: (x_step, s_step),
        )
        return dict(
            p=new_p,
            r=new_r,
            t=jnp.where(need_init, 0, c["t"] + 1),
            evals=jnp.where(finished, 0, evals),
            x=x_new,
            state=s_new,
            best_x=_select(finished, x_new, best_x),
            found=found & ~finished,
            bad=bad & ~finished,
            best_dist=jnp.where(finished, jnp.inf, best_dist),
            best_loss=jnp.where(finished, -jnp.inf, best_loss),
            head=head,
            done=done,
            fooled_eps=fooled_eps,
            out_success=out_success,
            out_bad=out_bad,
            out_dist=out_dist,
            out_evals=out_evals,
            out_x=out_x,
        )

    # A cascade of shrinking pools: once the queue is drained, the few examples still in
    # flight (robust ones run all their steps) move to a pool a quarter the size, so the tail
    # of the work does not pay for empty slots.
    pools = [slots]
    while pools[-1] > 16:
        pools.append(pools[-1] // 4)
    per_slot = ("p", "r", "t", "evals", "x", "state", "best_x", "found", "bad", "best_dist", "best_loss")
    for size, next_size in zip(pools, pools[1:] + [0]):
        if size != carry["p"].shape[0]:
            keep = jnp.nonzero(carry["p"] < work, size=size, fill_value=0)[0]
            filled = jnp.arange(size) < jnp.sum(carry["p"] < work)
            carry = {**carry, **{k: jax.tree.map(lambda a: a[keep], carry[k]) for k in per_slot}}
            carry["p"] = jnp.where(filled, carry["p"], total)
        carry = jax.lax.while_loop(cond_for(next_size), body, carry)
    c = carry
    success = c["out_success"]
    if nested:
        success = success | (c["fooled_eps"][None, :] <= epsilons[:, None]).reshape(total)
    return success, c["out_dist"], c["out_evals"], c["out_x"], c["out_bad"]


_loop_jit = eqx.filter_jit(_loop)


def validate_batch(x: Input, y, threat: ThreatModel, owner: str = "attack") -> int:
    """Check a batch at the public boundary: one leading axis shared by every leaf, floating
    point, finite, one target per input, inside the threat's box. Returns the batch size."""
    leaves = jax.tree.leaves(x)
    if not leaves:
        raise ValueError(f"{owner}: the input pytree has no arrays")
    shapes = [np.shape(a) for a in leaves]
    n = shapes[0][0] if shapes[0] else None
    if any(len(s) == 0 or s[0] != n for s in shapes):
        raise ValueError(
            f"{owner}: every input leaf needs the same leading batch axis; got shapes {shapes}: "
            f"add a batch axis (x[None]) for one example"
        )
    if n == 0:
        raise ValueError(f"{owner}: empty batch, pass at least one example")
    for leaf in leaves:
        if not np.issubdtype(np.asarray(leaf).dtype, np.floating):
            raise ValueError(f"{owner}: inputs must be floating point, got dtype {np.asarray(leaf).dtype}")
        if not np.all(np.isfinite(leaf)):
            raise ValueError(f"{owner}: the inputs contain NaN or infinite values: clean the data first")
    if y is not None:
        y_leaves = jax.tree.leaves(y)
        if not y_leaves or np.ndim(y_leaves[0]) == 0 or np.shape(y_leaves[0])[0] != n:
            got = np.shape(y_leaves[0]) if y_leaves else "nothing"
            raise ValueError(f"{owner}: {n} inputs need {n} targets (leading axis), got shape {got}")
    bounds = threat.bounds()
    if bounds is not None:
        lo, hi = min(float(np.min(a)) for a in leaves), max(float(np.max(a)) for a in leaves)
        if lo < bounds[0] - 1e-6 or hi > bounds[1] + 1e-6:
            raise ValueError(
                f"{owner}: inputs span [{lo:.4g}, {hi:.4g}] but the threat's box is {list(bounds)}: "
                f"rescale the inputs (e.g. pixels / 255) or pass matching bounds"
            )
    return n


def as_targets(y):
    """Targets as given, except that a Python list or tuple of labels becomes one array (not a
    pytree of scalars)."""
    return np.asarray(y) if isinstance(y, (list, tuple)) else y


def _validate(x, y, epsilons, threat: ThreatModel, batch_size: int):
    n = validate_batch(x, y, threat)
    eps = np.asarray(epsilons, dtype=np.float64)
    if eps.ndim != 1 or eps.size == 0 or np.any(np.isnan(eps)) or np.any(eps < 0):
        raise ValueError(f"epsilons must be a non-empty 1-D list of values ≥ 0 (inf allowed), got {epsilons!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return n


def run_attack(
    model: Callable,
    x: Input,
    y,
    epsilons,
    *,
    method: AbstractMethod,
    threat: ThreatModel,
    objective: AbstractObjective | str,
    key: PRNGKeyArray,
    batch_size: int = 256,
    straight_through: str | Sequence[str] = (),
    keep_adversarial: bool = True,
    progress: bool | str = False,
    nested: bool = False,
    devices=None,
    nonfinite: str = "raise",
) -> AttackResult:
    """Attack a batch of examples at every radius of `epsilons` in one compiled call.

    The low-level entry point behind `attack` and `robust_accuracy`. Results carry a
    leading `(n_eps,)` axis before the example axis. `progress` (True or a description)
    shows a bar over the (ε, example) pairs, fed from inside the compiled loop. With
    `nested` (valid when the threat sets grow with ε, as norm balls do), an example fooled
    at some ε counts as fooled at every larger ε and those pairs are not attacked again
    (their `gradient_evaluations` are 0 and their `adversarial`/`distance` are not filled).

    `model` may be an `Ensemble` (models of one architecture, e.g. several seeds): every
    member is attacked in the same call (the loop `vmap`ped over members, `batch_size` slots
    each), results gain a leading `(members,)` axis, and `key` may hold one key per member.

    With several devices (`devices`: `None` for all of `jax.devices()`, an integer k for
    the first k, or a list; see `adprf.sharding`) the examples are split across them, each
    device running its own queue with `batch_size` slots (fewer when its share of the pairs is
    smaller). Every pair's random start is keyed by its global index, so the results are
    those of one device, bit for bit, whenever each device's pool is as large as the single
    device's (each device has ≥ `batch_size` pairs), and up to floating-point rounding
    otherwise (see the module docstring). Under `nested`, which pairs are skipped can differ
    with the split, so `gradient_evaluations`, `adversarial` and `distance` of skipped pairs
    may differ; `success` does not.

    A pair at which the model's output, the loss or its gradient is ever NaN or infinite is
    never a success: with `nonfinite="raise"` (default) the call raises `NonFiniteError`
    naming those examples; with `"report"` it returns them flagged in `nonfinite`.
    """
    members = model.size if isinstance(model, Ensemble) else None
    if members is None and not callable(model):
        raise TypeError(f"model must be callable on one example (or an Ensemble), got {type(model).__name__}")
    if not isinstance(method, AbstractMethod):
        raise TypeError(f"method must be an attack method such as PGD() or FGSM(), got {method!r}")
    if not isinstance(threat, ThreatModel):
        raise TypeError(f"threat must be a ThreatModel (e.g. adprf.attacks.linf(0.3)), got {threat!r}")
    objective = as_objective(objective)
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
    y = as_targets(y)
    n = _validate(x, y, epsilons, threat, batch_size)
    objective.check_targets(
        model.member(0) if members is not None else model, jax.tree.map(lambda a: jnp.asarray(a[0]), x), y
    )
    if y is None:
        y = jnp.zeros(n, jnp.int32)
    if straight_through:
        if members is not None:
            raise ValueError(
                "straight_through is not supported for an Ensemble: wrap each model with "
                "adprf.attacks._straight_through before stacking them"
            )
        model = _straight_through(model, straight_through)
    if members is not None:
        key = model.member_keys(key)
    x = jax.tree.map(jnp.asarray, x)
    y = jax.tree.map(jnp.asarray, y)
    epsilons = jnp.asarray(epsilons, jnp.float32)
    n_eps = epsilons.shape[0]
    mesh = sharding.batch_mesh(devices)
    shards = 1 if mesh is None else mesh.size
    slots = min(batch_size, n_eps * -(-n // shards))
    token = next(_TOKENS)
    if progress:
        _BARS[token] = tqdm(
            total=n_eps * n * (members or 1),
            leave=False,
            unit="pair",
            desc=progress if isinstance(progress, str) else type(method).__name__,
        )
    try:
        replicated = (
            model,
            epsilons,
            objective,
            threat,
            method,
            key,
            slots,
            keep_adversarial,
            jnp.asarray(token),
            bool(progress),
            nested,
            jnp.asarray(n, jnp.int32),
        )
        success, dist, evals, adv, bad = sharding.map_batch(_attack_shard, replicated, (x, y), devices=mesh)
        jax.block_until_ready(success)
    finally:
        bar = _BARS.pop(token, None)
        _DONE.pop(token, None)
        if bar is not None:
            bar.close()
    # Back from per-example outputs (n, [members,] n_eps, ...) to the ([members,] n_eps, n, ...)
    # layout of results.
    layout = lambda a: jnp.moveaxis(a, 0, 1 if members is None else 2)
    success, dist, evals, adv, bad = jax.tree.map(layout, (success, dist, evals, adv, bad))
    check_finite(bad, nonfinite)
    return AttackResult(adv, success, dist, evals, bad)


def attack(
    model: Callable,
    x: Input,
    y=None,
    *,
    method: AbstractMethod,
    threat: ThreatModel,
    objective: AbstractObjective | str = "cross-entropy",
    key: PRNGKeyArray,
    batch_size: int = 256,
    straight_through: str | Sequence[str] = (),
    progress: bool | str = False,
    devices=None,
    nonfinite: str = "raise",
) -> AttackResult:
    """Attack a batch of inputs: one jitted call, vmapped over examples, sharded over devices.

    **Arguments:**
    - `model`: a function (e.g. an equinox module) of ONE unbatched input pytree.
    - `x`: the inputs, a pytree whose leaves share a leading batch axis.
    - `y`: the targets (labels; `None` for scalar-threshold objectives).
    - `method`: `FGSM()`, `PGD(...)`, `GradientDescent(...)`, `Minimal(...)`.
    - `threat`: the perturbation set, e.g. `linf(0.3)` or `unbounded([NonNegative()])`.
    - `objective`: an objective or "cross-entropy" | "margin" | "mse".
    - `key`: PRNG key; results are deterministic for a given key.
    - `batch_size`: number of examples processed at once.
    - `straight_through`: names of sub-modules of `model` to attack through with an
      identity stand-in on the backward pass (BPDA); see `straight_through`.
    - `progress`: show a progress bar (True, or its description).
    - `devices`: the devices the examples are split across (`None`: all of `jax.devices()`;
      an integer k: the first k); results do not depend on it.
    - `nonfinite`: "raise" (default) raises `NonFiniteError` if the model's output, the loss
      or its gradient is NaN or infinite for some example; "report" returns those examples
      as failed evaluations (`nonfinite` set, `success` False).

    **Returns:** an `AttackResult` with a leading example axis.
    """
    if isinstance(model, Ensemble):
        raise TypeError("attack takes one model; attack an Ensemble with run_attack or robust_accuracy")
    result = run_attack(
        model,
        x,
        y,
        jnp.reshape(threat.epsilon, (1,)),
        method=method,
        threat=threat,
        objective=objective,
        key=key,
        batch_size=batch_size,
        straight_through=straight_through,
        progress=progress,
        devices=devices,
        nonfinite=nonfinite,
    )
    return jax.tree.map(lambda a: a[0], result)


def perturb(
    model: Callable,
    x: Input,
    y=None,
    *,
    method: AbstractMethod,
    threat: ThreatModel,
    objective: AbstractObjective | str = "cross-entropy",
    key: PRNGKeyArray,
) -> Input:
    """The adversarial inputs `attack` would return, traceable inside `jit` (no host-side
    checks, no progress bar), e.g. inside a training step.

    Gradients do not flow through the attack into the model's parameters: the attack sees
    the model with its arrays wrapped in `stop_gradient`, as adversarial training wants
    (Madry et al. 2018: the inner maximisation is solved, then the outer loss is
    differentiated at its solution).
    """
    objective = as_objective(objective)
    n = jax.tree.leaves(x)[0].shape[0]
    if y is None:
        y = jnp.zeros(n, jnp.int32)
    params, static = eqx.partition(model, eqx.is_array)
    frozen = eqx.combine(jax.lax.stop_gradient(params), static)
    epsilons = jnp.reshape(jnp.asarray(threat.epsilon, jnp.float32), (1,))
    n_valid = jnp.asarray(n, jnp.int32)
    _, _, _, adversarial, _ = _loop_jit(
        frozen,
        jax.lax.stop_gradient(x),
        y,
        epsilons,
        objective,
        threat,
        method,
        key,
        n,
        True,
        jnp.asarray(-1),
        False,
        False,
        n_valid,
        jnp.asarray(0, jnp.int32),
        n_valid,
    )
    return jax.lax.stop_gradient(adversarial)
