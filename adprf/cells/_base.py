"""The interface of cellular decision models."""

import abc

import equinox as eqx

from .._types import Array, Bool, Float
from ..ligands import Ligands


class AbstractCellModel(eqx.Module):
    """A cell's decision: `model(ligands)` is a scalar output; the cell responds iff it
    exceeds `threshold`. Models act on one ligand distribution (vmap for several)."""

    @property
    @abc.abstractmethod
    def threshold(self) -> float:
        """The decision threshold on the output."""

    @abc.abstractmethod
    def __call__(self, ligands: Ligands) -> Float[Array, ""]:
        """The model's scalar output."""

    def decide(self, ligands: Ligands) -> Bool[Array, ""]:
        """Whether the cell responds (output > threshold)."""
        return self(ligands) > self.threshold
