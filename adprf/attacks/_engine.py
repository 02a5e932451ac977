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
On one device the examples are padded to the next power of two (`adprf.sharding.bucket`; the
padding is never queued) and their number is data, so attacks on batches of nearby sizes, such
as the still-robust subsets the standard suite's attacks take up, share one compiled loop.

This module is the public boundary: it checks the arguments, turns the model (or `Ensemble`)
into its members once (`members_of`), splits the examples across devices and shows progress.
The loop itself is `AttackLoop` (its steps are named there), its carry a `LoopState`.
"""

from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .. import sharding
from .._types import Array, Bool, Float, Input, Int, PRNGKeyArray
from ._ensemble import Ensemble, MemberKeys
from ._loop import AttackLoop, run_compiled, shrinks
from ._members import members_of
from ._methods import AbstractMethod
from ._objectives import AbstractObjective, as_objective
from ._options import LoopOptions, Shard
from ._shards import run_shards
from ._threats import ThreatModel


class AttackResult(eqx.Module):
    """What an attack found, per (ε, example) pair.

    - `adversarial`: the worst-case input found per example (the first success, the
      smallest successful perturbation for minimal attacks, else the highest-loss point);
      `None` when not kept. Leading axes `(n,)` for `attack`, `(n_eps, n)` for sweeps.
    - `success`: whether the objective's success criterion was met.
    - `distance`: the threat norm (L2 without a ball) of the kept perturbation.
    - `gradient_evaluations`: objective-gradient evaluations spent on each pair (for a method
      that asks for the loss only, such as `Square`: queries, each one forward pass).
    - `nonfinite`: whether the model's output, the loss or its gradient was NaN or infinite at
      some point evaluated for the pair (the gradient on the coordinates the threat lets the
      attack move: a derivative with respect to a fixed coordinate is never used). Such a
      pair is never counted as a success (nor, by `robust_accuracy`, as robust): it is a
      failed evaluation. By default `attack` and
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


def validate_batch(x: Input, y, threat: ThreatModel, owner: str = "attack") -> int:
    """Check a batch at the public boundary: one leading axis shared by every leaf, floating
    point, finite, one target per input, inside the threat's box. Returns the batch size."""
    leaves = jax.tree.leaves(x)
    if not leaves:
        raise ValueError(f"{owner}: the input pytree has no arrays")
    shapes = [np.shape(a) for a in leaves]
    n = shapes[0][0] if shapes[0] else -1  # no leading axis: the check below raises
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


def promoted(x: Input, model) -> Input:
    """`x` with each floating leaf promoted to the widest floating dtype among the model's
    arrays, as the model's arithmetic promotes it anyway: float32 ligands given to a float64 cell
    model are attacked in float64 (the iterate must keep one dtype through the loop). Inputs are
    only widened, never narrowed."""
    widest = [a.dtype for a in jax.tree.leaves(model) if eqx.is_inexact_array(a)]
    if not widest:
        return x
    return jax.tree.map(
        lambda a: a.astype(jnp.result_type(a.dtype, *widest)) if jnp.issubdtype(a.dtype, jnp.floating) else a, x
    )


def as_targets(y):
    """Targets as given, except that a Python list or tuple of labels becomes one array (not a
    pytree of scalars)."""
    return np.asarray(y) if isinstance(y, (list, tuple)) else y


def _validate(x, y, epsilons, threat: ThreatModel, batch_size: int, owner: str = "attack"):
    n = validate_batch(x, y, threat, owner)
    eps = np.asarray(epsilons, dtype=np.float64)
    if eps.ndim != 1 or eps.size == 0 or np.any(np.isnan(eps)) or np.any(eps < 0):
        raise ValueError(f"epsilons must be a non-empty 1-D list of values ≥ 0 (inf allowed), got {epsilons!r}")
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return n


def run_attack(
    model: Callable | Ensemble,
    x: Input,
    y,
    epsilons,
    *,
    method: AbstractMethod,
    threat: ThreatModel,
    objective: AbstractObjective | str,
    key: PRNGKeyArray | MemberKeys,
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
    shows a bar over the (ε, example) pairs, the loop returning to the host about 50 times
    to move it (see `adprf.attacks._shards`). With
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

    A pair at which the model's output, the loss or its gradient (on the coordinates the
    threat lets move) is ever NaN or infinite is never a success, even if it was fooled
    before: with `nonfinite="raise"` (default) the call raises `NonFiniteError`
    naming those examples; with `"report"` it returns them flagged in `nonfinite`.
    """
    members = members_of(model)
    objective = _check_parts(method, threat, objective, nonfinite)
    y = as_targets(y)
    n = _validate(x, y, epsilons, threat, batch_size)
    objective.check_targets(members.first(), jax.tree.map(lambda a: jnp.asarray(a[0]), x), y)
    if y is None:
        y = jnp.zeros(n, jnp.int32)
    if straight_through:
        members = members.through(straight_through)
    keys = members.keys(key)
    x = promoted(jax.tree.map(jnp.asarray, x), model)
    y = jax.tree.map(jnp.asarray, y)
    epsilons = jnp.asarray(epsilons, jnp.float32)
    n_eps = epsilons.shape[0]
    mesh = sharding.batch_mesh(devices)
    shards = 1 if mesh is None else mesh.size
    slots = min(batch_size, n_eps * -(-n // shards))
    options = LoopOptions(slots=slots, keep_adversarial=keep_adversarial, nested=nested, shrink=shrinks(method, slots))
    dynamic = method.budget_as_data()  # attacks differing only in steps or restarts share a loop
    replicated = (members, keys, epsilons, objective, threat, dynamic, options, jnp.asarray(n, jnp.int32))
    split = sharding.SplitBatch(replicated, (x, y), devices=mesh, bucketed=True)
    label = (progress if isinstance(progress, str) else type(method).__name__) if progress else None
    records = run_shards(split, options, label, total=n_eps * n * members.count)
    # Back from per-example records (n, [members,] n_eps, ...) to the ([members,] n_eps, n, ...)
    # layout of results.
    records = _pairs_after_members(records, members.axes + 1)
    check_finite(records.nonfinite, nonfinite)
    return AttackResult(records.adversarial, records.success, records.distance, records.evaluations, records.nonfinite)


@eqx.filter_jit
def _pairs_after_members(records, axis: int):
    """The example axis of every record moved from the front to `axis`, in one compiled call."""
    return jax.tree.map(lambda a: jnp.moveaxis(a, 0, axis), records)


def _check_parts(method, threat, objective, nonfinite: str) -> AbstractObjective:
    """Check the method, threat and nonfinite policy at the public boundary; the objective
    as an `AbstractObjective`."""
    if not isinstance(method, AbstractMethod):
        raise TypeError(f"method must be an attack method such as PGD() or FGSM(), got {method!r}")
    if not isinstance(threat, ThreatModel):
        raise TypeError(f"threat must be a ThreatModel (e.g. adprf.attacks.linf(0.3)), got {threat!r}")
    objective = as_objective(objective)
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
    return objective


def attack(
    model: Callable | Ensemble,
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
    if members_of(model).axes:
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
    loop = AttackLoop(
        model=eqx.combine(jax.lax.stop_gradient(params), static),
        x=jax.lax.stop_gradient(promoted(x, model)),
        y=y,
        epsilons=jnp.reshape(jnp.asarray(threat.epsilon, jnp.float32), (1,)),
        key=key,
        objective=objective,
        threat=threat,
        method=method,
        options=LoopOptions(slots=n, keep_adversarial=True, shrink=shrinks(method, n)),
        shard=Shard.whole(n),
    )
    return jax.lax.stop_gradient(run_compiled(loop).adversarial)
