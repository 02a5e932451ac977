"""The interface of cellular decision models, and the checks of their parameters and inputs."""

import abc
import numbers
import operator
from typing import TYPE_CHECKING, Any, ClassVar

import equinox as eqx
import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands
from .._types import Array, ArrayLike, Bool, Float, Int, PyTree


def _owner(model) -> str:
    """Who a parameter belongs to, for messages: a model's class name, or a function's name."""
    return model if isinstance(model, str) else type(model).__name__


def integer(value: Any) -> Any:
    """Converter of integer fields: NumPy integers (and whole floats such as 4.0) become Python
    ints; anything else is left as it is for `check_integer` to refuse with its name (hence the
    return type `Any`: the field holds an int once `check_integer` has passed)."""
    if isinstance(value, (bool, np.bool_)):
        return value
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else value
    try:
        return operator.index(value)
    except TypeError:
        return value


def parameter(value: Any) -> Any:
    """Converter of continuous fields (rates, τ_c, thresholds, bin widths): a real number (Python
    or NumPy, integers included) becomes a weakly typed JAX scalar of JAX's default float dtype at
    the time of construction — float64 inside `jax.enable_x64(True)`, float32 otherwise, the
    convention of `adprf.Ligands` — so that models differing only in values share one compiled
    program and can be vmapped and differentiated. JAX arrays (tracers included) are kept as they
    are; anything else is left for `check_rate` to refuse with its name."""
    if isinstance(value, (bool, np.bool_)) or isinstance(value, jax.Array):
        return value
    if isinstance(value, numbers.Real) or (
        isinstance(value, (np.ndarray, np.generic))
        and np.shape(value) == ()
        and (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer))
    ):
        return jnp.asarray(float(value))
    return value


def is_concrete(value: Any) -> bool:
    """Whether a field's value can be checked in Python now: not a tracer (a model built inside
    `jit`, `vmap` or `grad`) and not an array spread over several hosts."""
    return not isinstance(value, jax.core.Tracer) and getattr(value, "is_fully_addressable", True)


def check_integer(
    model,
    name: str,
    value,
    *,
    lowest: int,
    below: tuple[str, int] | None = None,
    at_most: tuple[str, int] | None = None,
) -> None:
    """Raise unless `value` (after `integer`) is an int ≥ `lowest`, and < `below` or ≤ `at_most`
    (each a (field name, value) pair); the message names the model, the field and the value."""
    owner = _owner(model)
    if isinstance(value, bool) or not isinstance(value, int):
        kind = ValueError if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) else TypeError
        raise kind(
            f"{owner}: {name} must be an integer, got {name}={value!r} ({type(value).__name__}): pass a "
            f"whole number (Python or NumPy int)"
        )
    rule, got, fits = f"{lowest} ≤ {name}", f"{name}={value!r}", value >= lowest
    for sign, other, within in (("<", below, lambda o: value < o), ("≤", at_most, lambda o: value <= o)):
        if other is not None:
            rule, got, fits = f"{rule} {sign} {other[0]}", f"{got}, {other[0]}={other[1]!r}", fits and within(other[1])
    if not fits:
        raise ValueError(f"{owner} needs integers {rule}, got {got}: pick {name} in that range")


def check_rate(model, name: str, value, what: str, *, zero: str | None = None) -> None:
    """Raise unless `value` is a finite real number > 0 (≥ 0 when `zero` says what 0 means).

    **Arguments:**
    - `model`: the model being built, or the name of the function checking its options (named
      in the message).
    - `name`: the field's name; `value`: its value.
    - `what`: the parameter in words, e.g. "the binding rate κ".
    - `zero`: None if 0 is invalid, else what 0 means, e.g. "0 turns the feedback off".
    """
    owner = _owner(model)
    if not is_concrete(value):
        return
    dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
    numeric = np.shape(value) == () and (np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer))
    if isinstance(value, (bool, np.bool_)) or not (isinstance(value, numbers.Real) or numeric):
        raise TypeError(
            f"{owner}: {name} ({what}) must be a real number, got {name}={value!r} ({type(value).__name__})"
        )
    number = float(value)
    if not (np.isfinite(number) and (number >= 0 if zero else number > 0)):
        rule = f"≥ 0 ({zero})" if zero else "> 0"
        raise ValueError(
            f"{owner}: {name} ({what}) must be finite and {rule}, got {name}={number!r}: pass a "
            f"finite {'non-negative' if zero else 'positive'} number"
        )


def check_choice(model, name: str, value, choices) -> None:
    """Raise unless `value` is one of `choices`, or a bool where `choices` is `bool`."""
    owner = _owner(model)
    if choices is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{owner}: {name} must be True or False, got {name}={value!r}")
    elif not isinstance(value, str) or value not in choices:
        raise ValueError(f"{owner}: unknown {name} {value!r}: use one of {tuple(choices)}")


class AbstractCellModel(eqx.Module):
    """A cell's decision: `model(ligands)` is a scalar output; the cell responds iff it
    exceeds `threshold`. Models act on one ligand distribution (vmap for several).

    Continuous parameters (rates, τ_c, thresholds) are array leaves (see `parameter`): models
    that differ only in them share one compiled program, and a batch of them (e.g. built with
    `eqx.filter_vmap`) can be vmapped over and differentiated. Integers that set the equations
    (N, m) and the choices of code path (`solver`, `ligand_excess`) are static."""

    if TYPE_CHECKING:
        # Type checkers read an `AbstractVar` as a dataclass field and would put it first in every
        # subclass's `__init__` (equinox issues #1123, #1256); a `ClassVar` they leave out of it.
        threshold: ClassVar[Float[ArrayLike, ""]]
    else:
        # the decision threshold on the output (a field or a property): an array leaf, or a constant
        threshold: eqx.AbstractVar[Float[ArrayLike, ""]]

    @abc.abstractmethod
    def __call__(self, ligands: Ligands) -> Float[Array, ""]:
        """The model's scalar output. Implementations start with `self.check_ligands(ligands)`."""

    def decide(self, ligands: Ligands) -> Bool[Array, ""]:
        """Whether the cell responds (output > threshold)."""
        return self(ligands) > self.threshold

    def check_ligands(self, ligands: Ligands) -> None:
        """Raise a `ValueError` if `ligands` give the model nothing to read: no ligands at all
        (a static shape, checked under tracing too), or, for concrete ligands, no ligand with a
        positive amount (T_{N,m} would be 0/0; a cell without ligands decides nothing). Traced
        ligands (inside jit, vmap, grad) are not looked at, at no cost; their output may be NaN."""
        amount = ligands.amount
        if np.size(amount) == 0:
            raise ValueError(f"{type(self).__name__} got no ligands (an empty set): add at least one ligand with L > 0")
        if isinstance(amount, jax.core.Tracer) or not getattr(amount, "is_fully_addressable", True):
            return
        if not np.any(np.asarray(amount) > 0):
            raise ValueError(
                f"{type(self).__name__}: no ligand has a positive amount (all {np.size(amount)} "
                f"amounts L are 0), so the output is undefined: add at least one ligand with L > 0"
            )


class AbstractSteadyStateModel(AbstractCellModel):
    """A cell model whose output is read at the steady state of an ODE (`cells.steady_state`).

    Subclasses give the dynamics (`vector_field`), the readout (`output`), a feedback-free
    estimate of the steady state that sets the solvers' units (`scale`), and the closed form
    (`closed_form`). `solver` picks the route `model(ligands)` takes: "closed-form",
    "newton" or "ode" (all three agree; tests check it). The solves need float64: call the
    model inside `with jax.enable_x64(True):`. Ligands are one distribution, 1-D (a single
    ligand may be a scalar), every binding time > 0.
    """

    if TYPE_CHECKING:  # as for `AbstractCellModel.threshold`
        solver: ClassVar[str]
    else:
        solver: eqx.AbstractVar[str]

    @abc.abstractmethod
    def vector_field(self, t, state: PyTree[Array], ligands: Ligands) -> PyTree[Array]:
        """d state / dt."""

    @abc.abstractmethod
    def output(self, state: PyTree[Array], ligands: Ligands) -> Float[Array, ""]:
        """The model's output read from a state."""

    @abc.abstractmethod
    def scale(self, ligands: Ligands) -> PyTree[Array]:
        """A positive state of the right magnitude (the feedback-free steady state)."""

    @abc.abstractmethod
    def closed_form(self, ligands: Ligands) -> tuple[PyTree[Array], Int[Array, ""], Int[Array, ""]]:
        """(steady state, result code, root-finder steps) from the model's formulas."""

    def unbound_state(self, ligands: Ligands) -> PyTree[Array]:
        """The state before any ligand binds (time courses and the ODE start here): zeros."""
        return jax.tree.map(jnp.zeros_like, self.scale(ligands))

    def physical(self, state: PyTree[Array], ligands: Ligands) -> bool | Bool[Array, ""]:
        """Whether a state is physically meaningful (a root finder may find other roots)."""
        return True

    def relaxes_before_newton(self) -> bool:
        """Whether Newton starts where a pseudo-transient continuation from `unbound_state` leads
        (True: networks without a reliable estimate, the SBML cells) or at `scale` (False)."""
        return False

    def steady_state(self, ligands: Ligands, **options):
        """`cells.steady_state(self, ligands, method=self.solver, **options)`."""
        from ._steady_state import steady_state  # the solvers use this module's checks

        return steady_state(self, ligands, **{"method": self.solver, **options})

    def __call__(self, ligands: Ligands) -> Float[Array, ""]:
        return self.steady_state(ligands).output


def check_steady_state_fields(model) -> None:
    """The checks every ODE model shares: `ligand_excess` (a bool) and `solver` (one of `METHODS`)
    of an `AbstractSteadyStateModel` that has both fields."""
    from ._steady_state import METHODS

    check_choice(model, "ligand_excess", model.ligand_excess, bool)
    check_choice(model, "solver", model.solver, METHODS)
