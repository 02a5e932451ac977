"""`OneOf`: one of several cell models, chosen at run time, sharing one compiled attack."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands
from .._types import Array, ArrayLike, Float, Int, Scalar
from ._base import AbstractCellModel, is_concrete


class OneOf(AbstractCellModel):
    """One of several cell models, chosen at run time by `index`.

    `index` is an array, so attacks on every member share one compilation of the engine (a
    `lax.switch` over the members, which stays a real branch: the index is not batched). Each
    member keeps its own compiled form, e.g. `AdaptiveProofreading` with its exponents known at
    compile time. The switch copies its operands and the branches' autodiff residuals on every
    call, which shows for large inputs (~2× per engine iteration at 10⁴ ligands on CPU). A
    dynamic (N, m) form (every power up to a static maximum, selected by index) was measured as
    its replacement and kept out: not bit-identical to the static form, and 2.4–2.5× slower per
    value-and-gradient at 10⁴ ligands in float64 (OneOf: 0.9–1.4×).

    **Arguments:**
    - `members`: the models (same threshold).
    - `index`: which member this is, an integer array (or int) in `0 … len(members) − 1`.
    """

    members: tuple[AbstractCellModel, ...]
    index: Int[Array, ""]

    def __init__(self, members: Sequence[AbstractCellModel], index=0):
        members = tuple(members)
        thresholds = [model.threshold for model in members]
        if not members or (
            all(map(is_concrete, thresholds)) and len({float(np.asarray(threshold)) for threshold in thresholds}) != 1
        ):
            raise ValueError("OneOf needs at least one model, all with the same threshold")
        if is_concrete(index) and not 0 <= int(index) < len(members):
            raise ValueError(f"index {int(index)} is out of range for {len(members)} models")
        self.members = members
        self.index = jnp.asarray(index, jnp.int32)

    @property
    def threshold(self) -> Float[ArrayLike, ""]:
        return self.members[0].threshold

    def __call__(self, ligands: Ligands) -> Scalar:
        return jax.lax.switch(self.index, [lambda x, model=model: model(x) for model in self.members], ligands)
