"""The random-sparse granule layer's kernel: Σ_j w[:, j] · x[idx[:, j]], optionally rectified,
with a hand-written VJP and a batched rule that keeps a batch in cell-major layout.

Autodiff of a per-example gather, vmapped over a batch, makes XLA:CPU gather into a
(cells, batch) layout and transpose every rectified (batch, cells) activity back, element by
element, once in the forward pass and again (fused with the ReLU's mask) in the backward pass;
its scatter-add then needs the cotangent transposed once more. At m = 20,000 cells, k = 4 and a
batch of 256, that transposition was two thirds of a gradient evaluation. The batched rule
(`jax.custom_batching.custom_vmap`) instead transposes the (batch, d) inputs once, gathers
whole rows of the (d, batch) transpose, rectifies in that layout, and transposes the result
once; the backward pass masks and scatter-adds whole rows. Each sum still runs over the k
slots in order from zero: the forward values are those of the plain per-example gather, and
the gradients agree with it to the last bit (XLA may round the same sum differently in two
programs).
"""

from functools import partial

import jax
import jax.numpy as jnp
from jax import lax
from jax.custom_batching import custom_vmap

from .._types import Array, Float, Int


def _unroll(k: int) -> int:
    """Unroll the k slots fully while few (XLA then fuses them; a CPU while loop costs ~µs a trip)."""
    return k if k <= 64 else 8


def _gather_rows(xt: Float[Array, "d b"], indices: Int[Array, "m k"], weights: Float[Array, "m k"]):
    """Σ_j weights[:, j] · xt[indices[:, j]] for a (d, batch) transpose: (m, batch), one gather of
    whole rows per slot."""

    def slot(j, total):
        return total + weights[:, j, None] * xt[indices[:, j]]

    zeros = jnp.zeros((indices.shape[0], xt.shape[1]), jnp.result_type(xt, weights))
    return lax.fori_loop(0, indices.shape[1], slot, zeros, unroll=_unroll(indices.shape[1]))


def _scatter_rows(ct: Float[Array, "m b"], indices: Int[Array, "m k"], weights: Float[Array, "m k"], d: int):
    """The transpose of `_gather_rows`: (d, batch), one scatter-add of whole rows per slot (O(d ·
    batch) memory)."""

    def slot(j, total):
        return total.at[indices[:, j]].add(weights[:, j, None] * ct)

    return lax.fori_loop(0, indices.shape[1], slot, jnp.zeros((d, ct.shape[1]), ct.dtype))


def _forward_rows(xt, indices, weights, rectify: bool):
    """The (m, batch) drive of a (d, batch) transpose, rectified or not, and where it is > 0."""
    drive = _gather_rows(xt, indices, weights)
    if not rectify:
        return drive, jnp.ones(drive.shape, bool)
    # Both materialised once, cell-major. The mask is an output of its own: recomputed in the
    # backward pass from the (batch, cells) activity, XLA fuses it with the gathers and the
    # transposition again (RC k = 4, m = 20,000, 256 images: 197 → 546 µs a gradient).
    return lax.optimization_barrier(jax.nn.relu(drive)), drive > 0


def _forward_one(x, indices, weights, *, rectify: bool):
    out, on = _forward_rows(x[:, None], indices, weights, rectify)
    return out[:, 0], on[:, 0]


def _backward_one(cotangent, on, indices, weights, like):
    return _scatter_rows(jnp.where(on, cotangent, 0)[:, None], indices, weights, like.shape[0])[:, 0]


def _batched(plain, rule, data: int):
    """`plain` (one example) with the batched `rule` when its first `data` arguments carry the
    batch and the connectivity (the next two) does not; any other batching (e.g. over models)
    vmaps `plain`."""
    function = custom_vmap(plain)

    @function.def_vmap
    def _(axis_size, in_batched, *args):
        batched, connectivity = in_batched[:data], in_batched[data : data + 2]
        if all(batched) and not any(connectivity):
            return rule(*args)
        axes = tuple(0 if b else None for b in in_batched)
        out = jax.vmap(plain, in_axes=axes, axis_size=axis_size)(*args)
        return out, jax.tree.map(lambda _: True, out)

    return function


def _forward_batch(x, indices, weights, *, rectify: bool):
    out, on = _forward_rows(x.T, indices, weights, rectify)
    return (out.T, on.T), (True, True)


def _backward_batch(cotangent, on, indices, weights, like):
    ct = jnp.where(on.T, cotangent.T, 0)
    return _scatter_rows(ct, indices, weights, like.shape[-1]).T, True


_FORWARD = {r: _batched(partial(_forward_one, rectify=r), partial(_forward_batch, rectify=r), 1) for r in (False, True)}
_BACKWARD = _batched(_backward_one, _backward_batch, 2)


@partial(jax.custom_vjp, nondiff_argnums=(3,))
def sparse_drive(
    x: Float[Array, " d"], indices: Int[Array, "m k"], weights: Float[Array, "m k"], rectify: bool = False
) -> Float[Array, " m"]:
    """Σ_j weights[:, j] · x[indices[:, j]] of one input (ReLU of it with `rectify`)."""
    return _FORWARD[rectify](x, indices, weights)[0]


def _sparse_drive_fwd(x, indices, weights, rectify):
    out, on = _FORWARD[rectify](x, indices, weights)
    return out, (x, on, indices, weights)


def _sparse_drive_bwd(rectify, residuals, cotangent):
    x, on, indices, weights = residuals
    dx = _BACKWARD(cotangent, on, indices, weights, x)
    dweights = jnp.where(on, cotangent, 0)[:, None] * x[indices]  # only kept when the weights learn
    return dx, None, dweights


sparse_drive.defvjp(_sparse_drive_fwd, _sparse_drive_bwd)
