"""The cerebellar classifier: granule layer → LTD centring → Purkinje readout, one equinox module."""

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Float, Logits, PRNGKeyArray
from ._granule import AbstractGranule, DenseGranule, SparseGranule
from ._ltd import LTD
from ._purkinje import Purkinje

CONNECTIVITIES = ("dense", "sparse")


class Cerebellum(eqx.Module):
    """ŷ = Wᵀ (ReLU(Jᵀ x) − μ), the model of Yuezhang et al. (2021), of one unbatched input.

    The input (an image of any shape) is flattened, or first passed through a frozen
    `encoder` (e.g. a VGG feature extractor for CIFAR-10). Attack it like any classifier:
    `robust_accuracy(model, x, y, ...)` differentiates through the granule layer and the
    encoder with μ frozen.

    **Arguments:**
    - `inputs`: d, the size of the flattened input (784 for MNIST; the encoder's output size).
    - `width`: m, the number of granule cells.
    - `connectivity`: "dense" (FC, J ~ N(0, 1/d)) or "sparse" (RC, `k` inputs per cell).
    - `k`: inputs per granule cell, for "sparse".
    - `replace`: sparse inputs drawn with replacement (default, as the original code).
    - `ltd`: centre granule activity by its running mean (trained by `train_cerebellum`);
      without it the model holds `LTD.off` (β = 1, μ = 0), the same structure.
    - `momentum`: β of the LTD running mean (0.99).
    - `outputs`: Purkinje cells, one per class (10).
    - `encoder`: optional frozen feature extractor applied before the granule layer.
    - `key`: PRNG key of the random granule and Purkinje weights.
    """

    granule: AbstractGranule
    ltd: LTD
    purkinje: Purkinje
    encoder: Callable | None

    def __init__(
        self,
        inputs: int = 784,
        width: int = 5000,
        *,
        connectivity: str = "dense",
        k: int | None = None,
        replace: bool = True,
        ltd: bool = True,
        momentum: float = 0.99,
        outputs: int = 10,
        encoder: Callable | None = None,
        key: PRNGKeyArray,
    ):
        if connectivity not in CONNECTIVITIES:
            raise ValueError(f"connectivity must be one of {CONNECTIVITIES}, got {connectivity!r}")
        k_granule, k_purkinje = jax.random.split(key)
        if connectivity == "dense":
            if k is not None:
                raise ValueError(f"k = {k} is for sparse connectivity; use connectivity='sparse' or drop k")
            self.granule = DenseGranule(inputs, width, key=k_granule)
        else:
            if k is None:
                raise ValueError("sparse connectivity needs k, the number of inputs per granule cell")
            self.granule = SparseGranule(inputs, width, k, replace=replace, key=k_granule)
        self.ltd = LTD.init(width, momentum) if ltd else LTD.off(width)
        self.purkinje = Purkinje(width, outputs, key=k_purkinje)
        self.encoder = encoder

    @property
    def width(self) -> int:
        return self.granule.width

    def features(self, x: Float[Array, "..."]) -> Float[Array, " d"]:
        """What the granule layer reads: the flattened input, or the flattened encoder output."""
        if self.encoder is not None:
            x = self.encoder(x)
        x = jnp.ravel(x)
        if x.shape[0] != self.granule.inputs:
            raise ValueError(
                f"the granule layer reads {self.granule.inputs} inputs but got an input of "
                f"{x.shape[0]} values: build the Cerebellum with inputs={x.shape[0]}"
            )
        return x

    def granule_activity(self, x: Float[Array, "..."]) -> Float[Array, " m"]:
        """h = ReLU(Jᵀ x)."""
        return self.granule(self.features(x))

    def centred(self, activity: Float[Array, "*batch m"]) -> Float[Array, "*batch m"]:
        """z = h − μ (μ frozen; μ = 0 without LTD)."""
        return self.ltd(activity)

    def __call__(self, x: Float[Array, "..."]) -> Logits:
        return self.purkinje(self.centred(self.granule_activity(x)))


def evaluation_batch(width: int, budget: int = 1 << 24) -> int:
    """Examples per vmapped chunk so that a chunk's granule activity stays near `budget` floats."""
    return int(max(1, min(1000, budget // max(width, 1))))
