"""Granule layers h = ReLU(Jᵀ x): dense, or random-sparse with k inputs per cell, fixed weights.

Yuezhang et al. (2021) draw J once and never train it: dense ("FC") J ~ N(0, 1/d), or random
connectivity ("RC") where each granule cell reads k input pixels drawn uniformly (with
replacement in their code) with weights N(0, 1/k). The sparse layer stores only the k indices
and k weights of every cell and computes h by a gather, so at m = 228,571 cells and k = 4 it
holds 0.9 M weights instead of the 179 M entries of a dense d × m matrix.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Float, Int, PRNGKeyArray
from ._sparse_kernel import sparse_drive


class AbstractGranule(eqx.Module):
    """A granule layer: maps one flattened input `x` of size `inputs` to `width` rates ≥ 0."""

    inputs: eqx.AbstractVar[int]
    width: eqx.AbstractVar[int]

    def drive(self, x: Float[Array, " d"]) -> Float[Array, " m"]:
        """The synaptic input Jᵀ x before the rectification."""
        raise NotImplementedError

    def as_dense(self) -> Float[Array, "d m"]:
        """The connectivity as a dense d × m matrix J (for tests and benchmarks)."""
        raise NotImplementedError

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " m"]:
        return jax.nn.relu(self.drive(x))


class DenseGranule(AbstractGranule):
    """Fully connected granule layer ("FC"): J ~ N(0, 1/d), no bias.

    **Arguments:**
    - `inputs`: d, the input size (784 for MNIST).
    - `width`: m, the number of granule cells.
    - `key`: PRNG key of the random weights.
    """

    weight: Float[Array, "d m"]
    inputs: int = eqx.field(static=True)
    width: int = eqx.field(static=True)

    def __init__(self, inputs: int, width: int, *, key: PRNGKeyArray):
        _check_sizes(inputs, width)
        self.inputs, self.width = inputs, width
        self.weight = jax.random.normal(key, (inputs, width)) / math.sqrt(inputs)

    def drive(self, x: Float[Array, " d"]) -> Float[Array, " m"]:
        return x @ self.weight

    def as_dense(self) -> Float[Array, "d m"]:
        return self.weight


class SparseGranule(AbstractGranule):
    """Random-sparse granule layer ("RC"): cell i reads pixels `indices[i]` with `weights[i]`.

    `h_i = ReLU(Σ_j weights[i, j] · x[indices[i, j]])`. With replacement (the original code)
    a pixel may be drawn twice by one cell, and its two weights then add up. Two ways to
    compute it (`method`):

    - "gather": k gathers of m values, accumulated, with a hand-written VJP that
      scatter-adds k times into the d inputs, and a batched rule that keeps a batch cell-major
      (`adprf.cerebellum._sparse_kernel`); memory O(batch · m), no d × m matrix and no
      (batch, m, k) array (which a single fancy-indexing gather and its autodiff transpose
      write out in full).
    - "dense": the d × m matrix `as_dense()`, built once per call (not per example), then a
      matmul; faster when k is a sizeable fraction of d.
    - "auto" (default): "gather" while k < d / 16, else "dense" (at d = 784: k ≤ 48 gathers).

    **Arguments:**
    - `inputs`: d, the input size.
    - `width`: m, the number of granule cells.
    - `k`: inputs per cell (1 ≤ k; without replacement also k ≤ d).
    - `replace`: draw each cell's inputs with replacement (default, as the original code).
    - `method`: "auto", "gather" or "dense" (see above).
    - `key`: PRNG key of the connectivity and weights.
    """

    indices: Int[Array, "m k"]
    weights: Float[Array, "m k"]
    inputs: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    replace: bool = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(
        self, inputs: int, width: int, k: int, *, replace: bool = True, method: str = "auto", key: PRNGKeyArray
    ):
        if method not in SPARSE_METHODS:
            raise ValueError(f"method must be one of {SPARSE_METHODS}, got {method!r}")
        _check_sizes(inputs, width)
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k (inputs per granule cell) must be a positive integer, got {k!r}")
        if not replace and k > inputs:
            raise ValueError(
                f"cannot draw k = {k} distinct inputs out of d = {inputs}: use k ≤ {inputs} or replace=True"
            )
        self.inputs, self.width, self.replace = inputs, width, replace
        self.method = ("gather" if k * DENSE_FRACTION < inputs else "dense") if method == "auto" else method
        k_idx, k_w = jax.random.split(key)
        self.indices = _draw_inputs(k_idx, inputs, width, k, replace)
        self.weights = jax.random.normal(k_w, (width, k)) / math.sqrt(k)

    @property
    def k(self) -> int:
        return self.indices.shape[1]

    def drive(self, x: Float[Array, " d"]) -> Float[Array, " m"]:
        if self.method == "dense":
            return x @ self.as_dense()
        return sparse_drive(x, self.indices, self.weights, False)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " m"]:
        if self.method == "gather":  # rectified inside the kernel, which then keeps its layout
            return sparse_drive(x, self.indices, self.weights, True)
        return super().__call__(x)

    def as_dense(self) -> Float[Array, "d m"]:
        cells = jnp.broadcast_to(jnp.arange(self.width)[:, None], self.indices.shape)
        return jnp.zeros((self.inputs, self.width), self.weights.dtype).at[self.indices, cells].add(self.weights)


SPARSE_METHODS = ("auto", "gather", "dense")
DENSE_FRACTION = 16  # "auto" gathers while k < d / DENSE_FRACTION


def _check_sizes(inputs: int, width: int) -> None:
    for name, value in (("inputs", inputs), ("width", width)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _draw_inputs(key: PRNGKeyArray, inputs: int, width: int, k: int, replace: bool) -> Int[Array, "m k"]:
    """Each cell's k input indices, uniform over 0..d−1."""
    if replace:
        return jax.random.randint(key, (width, k), 0, inputs, dtype=jnp.int32)
    # Without replacement: one draw of k distinct pixels per cell, in chunks of cells so that
    # the d-long permutations never exist for all m cells at once.
    draw = lambda kc: jax.random.choice(kc, inputs, (k,), replace=False)
    chunk = max(1, min(width, (1 << 22) // inputs))
    return jax.lax.map(draw, jax.random.split(key, width), batch_size=chunk).astype(jnp.int32)
