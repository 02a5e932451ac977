"""`HistogramReadout`: a cell model read through the ligands' binding-time histogram (the
binned variant of Rademaker et al. 2019, v1 figure "ligand distribution at the boundary")."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp

from .._ligands import Ligands
from .._types import Array, ArrayLike, Float, Scalar
from ._base import AbstractCellModel, check_rate, parameter


class HistogramReadout(AbstractCellModel):
    """A cell model that reads the ligands through their histogram (the v1 binned variant).

    The ligands are counted in bins [k w, (k+1) w) of width w = `bin_width` (binding times
    beyond the last bin count in it), and `model` reads one species per bin at the bin centre
    with the bin's total amount. Every ligand receives the derivative of its bin's binding time,
    ∂T/∂τ_b, which carries the bin's amount (as in the v1 scripts, where each ligand moves by the
    gradient of its bin): τ_b = centre_b + Σ_{i∈b} (τ_i − stop_gradient(τ_i)).

    **Arguments:**
    - `model`: the cell model reading the histogram, e.g. `AdaptiveProofreading(N, m)`.
    - `bin_width`: w (v1: 0.2), finite and > 0: an array leaf (readouts that differ only in w
      share one compiled program), stored as a weakly typed JAX scalar of the default float
      dtype at construction (float64 inside `jax.enable_x64(True)`, float32 otherwise, as
      `adprf.Ligands`).
    - `n_bins`: the number of bins from 0 (see `HistogramReadout.covering`), a static integer
      (it sets the histogram's shape).
    """

    model: AbstractCellModel
    bin_width: Float[Array, ""] = eqx.field(converter=parameter)
    n_bins: int = eqx.field(static=True)

    def __check_init__(self):
        if not (isinstance(self.n_bins, int) and not isinstance(self.n_bins, bool) and self.n_bins >= 1):
            raise ValueError(f"HistogramReadout needs an integer n_bins ≥ 1, got n_bins={self.n_bins!r}")
        check_rate(self, "bin_width", self.bin_width, "the bin width w")

    @classmethod
    def covering(cls, model: AbstractCellModel, bin_width: float, tau_max: float) -> "HistogramReadout":
        """The readout whose bins of width `bin_width` reach binding times up to `tau_max`."""
        return cls(model, float(bin_width), int(math.floor(tau_max / bin_width)) + 1)

    @property
    def threshold(self) -> Float[ArrayLike, ""]:
        return self.model.threshold

    def histogram(self, ligands: Ligands) -> Ligands:
        """One species per bin: the bin centres (carrying their ligands' derivatives) and the
        amount in each bin."""
        tau, amount = jnp.ravel(ligands.tau), jnp.ravel(ligands.amount)
        index = jnp.clip(jnp.floor(jax.lax.stop_gradient(tau) / self.bin_width), 0, self.n_bins - 1).astype(jnp.int32)
        centres = (jnp.arange(self.n_bins, dtype=tau.dtype) + 0.5) * self.bin_width
        moved = jax.ops.segment_sum(tau - jax.lax.stop_gradient(tau), index, num_segments=self.n_bins)
        counts = jax.ops.segment_sum(jax.lax.stop_gradient(amount), index, num_segments=self.n_bins)
        return Ligands(centres + moved, counts)

    def __call__(self, ligands: Ligands) -> Scalar:
        return self.model(self.histogram(ligands))
