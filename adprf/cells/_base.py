"""The interface of cellular decision models."""

import abc

import equinox as eqx
import jax
import jax.numpy as jnp

from .._types import Array, Bool, Float
from ..ligands import Ligands
from .steady_state import steady_state as _steady_state


class AbstractCellModel(eqx.Module):
    """A cell's decision: `model(ligands)` is a scalar output; the cell responds iff it
    exceeds `threshold`. Models act on one ligand distribution (vmap for several)."""

    threshold: eqx.AbstractVar[float]   # the decision threshold on the output (a field or a property)

    @abc.abstractmethod
    def __call__(self, ligands: Ligands) -> Float[Array, ""]:
        """The model's scalar output."""

    def decide(self, ligands: Ligands) -> Bool[Array, ""]:
        """Whether the cell responds (output > threshold)."""
        return self(ligands) > self.threshold


class AbstractSteadyStateModel(AbstractCellModel):
    """A cell model whose output is read at the steady state of an ODE (`cells.steady_state`).

    Subclasses give the dynamics (`vector_field`), the readout (`output`), a feedback-free
    estimate of the steady state that sets the solvers' units (`scale`), and the closed form
    (`closed_form`). `solver` picks the route `model(ligands)` takes: "closed-form",
    "newton" or "ode" (all three agree; tests check it). The solves need float64: call the
    model inside `with jax.enable_x64(True):`.
    """

    solver: eqx.AbstractVar[str]

    @abc.abstractmethod
    def vector_field(self, t, state, ligands: Ligands):
        """d state / dt."""

    @abc.abstractmethod
    def output(self, state, ligands: Ligands) -> Float[Array, ""]:
        """The model's output read from a state."""

    @abc.abstractmethod
    def scale(self, ligands: Ligands):
        """A positive state of the right magnitude (the feedback-free steady state)."""

    @abc.abstractmethod
    def closed_form(self, ligands: Ligands):
        """(steady state, result code, root-finder steps) from the model's formulas."""

    def unbound_state(self, ligands: Ligands):
        """The state before any ligand binds (time courses and the ODE start here): zeros."""
        return jax.tree.map(jnp.zeros_like, self.scale(ligands))

    def physical(self, state, ligands: Ligands):
        """Whether a state is physically meaningful (a root finder may find other roots)."""
        return True

    def steady_state(self, ligands: Ligands, **options):
        """`cells.steady_state(self, ligands, method=self.solver, **options)`."""
        return _steady_state(self, ligands, **{"method": self.solver, **options})

    def __call__(self, ligands: Ligands) -> Float[Array, ""]:
        return self.steady_state(ligands).output
