"""Sharding a batch axis across devices and hosts, with JAX's own machinery.

adprf's batched work (attacks over (ε, example) pairs, loss-landscape grids) is data-parallel
over examples: no example's result depends on another's. `map_batch` runs a per-shard function
on every device's slice of the examples with `jax.shard_map` over a one-axis `Mesh`, the inputs
placed with `NamedSharding` (examples split along the mesh axis, everything else replicated). A
batch that does not divide evenly is padded with copies of its last example, which the shard
function is told to skip (`n_valid`), and the padding is cut from the results. The shard
function also receives the global index of its first example (`offset`), so that anything
keyed by an example's index (random starts, random directions) is the same whichever device
runs it: results do not depend on the number of devices.

With one device (a laptop CPU) the same function runs unsharded under `jit`. With several
processes (`jax.distributed`, see `adprf.distributed`), the mesh spans every host's devices,
every process passes the same inputs (process 0's values are broadcast, so a host whose
inputs differ in the last bits, e.g. from non-deterministic GPU training, cannot mix two
models), and every process receives the whole result.
"""

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

AXIS = "batch"
"""The name of the mesh axis that examples are split along."""


# jaxlib ships no type stubs, so type checkers cannot see that `jax.Device` is a class
def batch_mesh(devices: int | Sequence[jax.Device] | None = None) -> Mesh | None:  # pyright: ignore[reportInvalidTypeForm]
    """The one-axis mesh that batched work is sharded over, or `None` for one device.

    **Arguments:**
    - `devices`: `None` for every device `jax.devices()` lists (all hosts' devices under
      `jax.distributed`); an integer k for the first k of them; a sequence of devices; or a
      `Mesh` (returned as it is).

    **Returns:** a `Mesh` with axis `"batch"`, or `None` when there is a single device (the
    work then runs unsharded, on the default device of each process).
    """
    if isinstance(devices, Mesh):
        if devices.axis_names != (AXIS,):
            raise ValueError(f"a batch mesh has the one axis {AXIS!r}, got axes {devices.axis_names}")
        return devices
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, (int, np.integer)) and not isinstance(devices, bool):
        if not 1 <= devices <= len(available):
            raise ValueError(
                f"devices={devices!r}: choose between 1 and {len(available)} (the devices JAX "
                f"sees: {available}); on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N "
                f"set before JAX starts gives N devices"
            )
        chosen = available[: int(devices)]
    else:
        try:
            if isinstance(devices, bool):  # an int, but no count of devices
                raise TypeError
            chosen = list(devices)
        except TypeError:
            raise TypeError(f"devices must be None, an integer or a sequence of jax devices, got {devices!r}") from None
        if not chosen or not all(isinstance(d, jax.Device) for d in chosen):
            raise ValueError(
                f"devices must be a non-empty sequence of jax devices (e.g. jax.devices()[:2]), got {devices!r}"
            )
        if len({d.id for d in chosen}) != len(chosen):
            raise ValueError(f"devices lists a device twice: {chosen}")
    if len(chosen) == 1:
        return None
    if jax.process_count() > 1 and {d.process_index for d in chosen} != set(range(jax.process_count())):
        raise ValueError(
            f"under jax.distributed every process must own a device of the mesh; devices={devices!r} "
            f"leaves some out: pass devices=None (or devices=1 to compute unsharded on each process)"
        )
    return Mesh(np.asarray(chosen), (AXIS,))


def bucket(n: int) -> int:
    """The padded size of a batch of `n` examples that runs on one device: the next power of two.
    Batches of 33 to 64 examples then share one compiled program (e.g. the still-robust subsets
    that successive attacks of the standard suite take up)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"bucket needs a count of examples ≥ 1, got {n!r}")
    return 1 << (int(n) - 1).bit_length()


def _pad(a, n_padded: int):
    """Pad the leading axis to `n_padded` with copies of the last row (a valid input)."""
    extra = n_padded - a.shape[0]
    if extra == 0:
        return a
    return jnp.concatenate([a, jnp.repeat(a[-1:], extra, axis=0)])


@eqx.filter_jit
def _padded(tree, n_padded: int):
    """Every leaf padded to `n_padded` rows (see `_pad`), in one compiled call."""
    return jax.tree.map(lambda a: _pad(a, n_padded), tree)


@eqx.filter_jit
def _first(tree, n: int):
    """Every leaf's first `n` rows, in one compiled call."""
    return jax.tree.map(lambda a: a[:n], tree)


def _place(tree, sharding: NamedSharding):
    """Global arrays laid out by `sharding`, from values every process holds in full."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(a):
        host = np.asarray(a)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return _through_key_data(lambda leaves: [put(a) for a in leaves], tree)


def _through_key_data(transform, tree):
    """`transform` (a function of the list of leaves) applied to `tree`, typed PRNG keys
    passing through their key data (the multi-host utilities take plain arrays only)."""
    leaves, treedef = jax.tree.flatten(tree)
    is_key = [jnp.issubdtype(a.dtype, jax.dtypes.prng_key) for a in leaves]
    data = transform([jax.random.key_data(a) if k else a for a, k in zip(leaves, is_key)])
    return jax.tree.unflatten(
        treedef,
        [jax.random.wrap_key_data(d, impl=jax.random.key_impl(a)) if k else d for a, d, k in zip(leaves, data, is_key)],
    )


def _from_process_zero(tree):
    """Process 0's values of every array in `tree`."""
    from jax.experimental import multihost_utils

    return _through_key_data(multihost_utils.broadcast_one_to_all, tree)


def _to_host_global(tree):
    """Whole arrays on every process (an all-gather across hosts when needed)."""

    def gather(a):
        if a.is_fully_addressable:
            return a
        from jax.experimental import multihost_utils

        return jnp.asarray(multihost_utils.process_allgather(a, tiled=True))

    return jax.tree.map(gather, tree)


@eqx.filter_jit
def _unsharded(local, replicated, batched, n, carry):
    return local(replicated, batched, jnp.asarray(0, jnp.int32), jnp.asarray(n, jnp.int32), carry)


@eqx.filter_jit
def _sharded(local, mesh: Mesh, replicated, batched, n, carry):
    dynamic, static = eqx.partition((replicated, batched, carry), eqx.is_array)
    n_local = jax.tree.leaves(batched)[0].shape[0] // mesh.size

    def body(dyn_replicated, dyn_batched, dyn_carry):
        rep, bat, car = eqx.combine((dyn_replicated, dyn_batched, dyn_carry), static)
        offset = jax.lax.axis_index(AXIS).astype(jnp.int32) * n_local
        n_valid = jnp.clip(n - offset, 0, n_local).astype(jnp.int32)
        return local(rep, bat, offset, n_valid, car)

    specs = (P(), P(AXIS), P(AXIS))
    return jax.shard_map(body, mesh=mesh, in_specs=specs, out_specs=P(AXIS), check_vma=False)(*dynamic)


def _batch_size(batched) -> int:
    """The shared leading axis of the batch's arrays; a clear error when there is none."""
    shapes = [np.shape(a) for a in jax.tree.leaves(batched)]
    if not shapes:
        raise ValueError("the batch has no arrays: pass a pytree of arrays with a leading example axis")
    if any(len(s) == 0 or s[0] != shapes[0][0] for s in shapes):
        raise ValueError(f"every array of the batch needs the same leading example axis; got shapes {shapes}")
    if shapes[0][0] == 0:
        raise ValueError("the batch is empty: pass at least one example")
    return shapes[0][0]


class _WithoutCarry(eqx.Module):
    """A shard function of `map_batch` called as `SplitBatch.map` calls its own."""

    local: Callable = eqx.field(static=True)

    def __call__(self, replicated, batched, offset, n_valid, carry):
        return self.local(replicated[0], batched, offset, n_valid)


class SplitBatch:
    """A batch laid out across devices once, for a sequence of calls on it.

    `map_batch` is one call; `SplitBatch` serves work that returns to the host between
    calls (e.g. to report progress) and carries per-shard state from one call to the next,
    left on the devices. `map(local, replicated, carry)` runs
    `local(replicated, batched, offset, n_valid, carry)` on every shard, as `map_batch` does,
    with `carry` the shard's slice of a pytree whose leaves have a leading `(shards,)` axis
    (`None` on a first call). Outputs are concatenated along their leading axis: a leading
    axis of 1 per shard gives the next call's carry; a leading `(n_local,)` axis gives
    per-example outputs, which `examples` cuts to the batch.

    **Arguments:**
    - `replicated`, `batched`, `devices`: as in `map_batch`; `replicated` is placed here
      once, and `map` adds its own (small) `replicated` values to it.
    - `bucketed`: on one device, pad the batch to `bucket(n)` examples (the padding skipped
      like a shard's), so that batches of nearby sizes share compiled programs. For work that
      never touches the padding (the attack queue); `local` must not batch its work in shapes
      that depend on the batch's size.
    """

    def __init__(self, replicated, batched, *, devices=None, bucketed: bool = False):
        self.n = _batch_size(batched)
        mesh = batch_mesh(devices)
        self.mesh = None if self.n == 1 else mesh  # one example: nothing to split (each process runs it)
        if self.mesh is None:
            self.n_padded = bucket(self.n) if bucketed else self.n
            self.replicated = replicated
            self.batched = batched if self.n_padded == self.n else _padded(batched, self.n_padded)
            return
        self.n_padded = math.ceil(self.n / self.mesh.size) * self.mesh.size
        batched = jax.tree.map(lambda a: _pad(jnp.asarray(a), self.n_padded), batched)
        dyn_replicated, static_replicated = eqx.partition(replicated, eqx.is_array)
        if jax.process_count() > 1:
            dyn_replicated, batched = _from_process_zero((dyn_replicated, batched))
        self.replicated = eqx.combine(_place(dyn_replicated, NamedSharding(self.mesh, P())), static_replicated)
        self.batched = _place(batched, NamedSharding(self.mesh, P(AXIS)))

    @property
    def shards(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    def map(self, local: Callable, extra=None, carry=None):
        """`local((replicated, extra), batched, offset, n_valid, carry)` on every shard; the
        outputs concatenated along their leading axis, left on the devices. `extra` is the
        same on every process (it is not broadcast from process 0)."""
        if self.mesh is None:  # `n` as data: bucketed batches of different sizes share a program
            n = jnp.asarray(self.n, jnp.int32)
            return _unsharded(local, (self.replicated, extra), self.batched, n, carry)
        dyn_extra, static_extra = eqx.partition(extra, eqx.is_array)
        extra = eqx.combine(_place(dyn_extra, NamedSharding(self.mesh, P())), static_extra)
        return _sharded(local, self.mesh, (self.replicated, extra), self.batched, self.n, carry)

    def to_host(self, tree):
        """Whole arrays on every process (an all-gather across hosts when needed)."""
        return _to_host_global(tree)

    def examples(self, out):
        """Per-example outputs of `map` (leading `(n_local,)` axis per shard) for the batch's
        `n` examples, on every process."""
        if self.mesh is None:
            return out if self.n_padded == self.n else _first(out, self.n)
        return jax.tree.map(lambda a: a[: self.n], _to_host_global(out))


def map_batch(local: Callable, replicated, batched, *, devices=None):
    """Run `local` on every device's share of a batch; concatenate and return its outputs.

    **Arguments:**
    - `local`: a module-level function `local(replicated, batched, offset, n_valid)` of one
      shard. `batched` holds that shard's examples (leading axis `n_local`); `offset` is the
      global index of its first example and `n_valid` how many of them are real (the rest is
      padding to skip); both are traced `int32` scalars. It returns a pytree of arrays with a
      leading `(n_local,)` axis.
    - `replicated`: a pytree every shard receives whole (the model, the objective, radii;
      non-array leaves are static).
    - `batched`: a pytree of arrays sharing a leading example axis `(n,)`.
    - `devices`: as in `batch_mesh`.

    **Returns:** `local`'s outputs for all `n` examples, leading axis `(n,)`, identical to
    one unsharded call of `local` on the whole batch when `local` treats examples
    independently, keys any randomness by the global example index `offset + i`, and
    batches its work in shapes that do not depend on the shard's size (shapes set the
    floating-point summation order of batched matrix products).
    """
    split = SplitBatch(replicated, batched, devices=devices)
    return split.examples(split.map(_WithoutCarry(local)))
