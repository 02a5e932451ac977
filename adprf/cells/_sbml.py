"""SBML and Antimony networks as cell models: read any biochemical network, attack it.

- `read_sbml(source)`, `read_antimony(text)`: an `SBMLNetwork` (differentiable dynamics, see
  `_sbml_network`); `_sbml_read` lists what is supported and what is refused.
- `SBMLCell` (`from_sbml`, `from_antimony`): a cell model whose ligands set some of the network's
  quantities; its output is read at the steady state (`steady_state`, methods "newton" and
  "ode"), so attacks on ligand distributions run on it as on the built-in models.
- `SBMLResponse`: the steady-state output as a function of named quantities (rates, totals,
  initial amounts), for attacks that perturb parameters directly.

The solvers see the network reduced by its conservation laws, in units of `SBMLNetwork.scale`;
every quantity is float64: read the model inside `with jax.enable_x64(True):`.
"""

import abc
import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._ligands import Ligands
from .._types import Array, ArrayLike, Bool, Float
from ._base import AbstractSteadyStateModel, check_choice, is_concrete, parameter
from ._sbml_math import SBMLError
from ._sbml_network import Expression, SBMLNetwork, build
from ._sbml_read import load, parts
from ._steady_state import Solution, steady_state, time_course

SOLVERS = ("newton", "ode")


def read_sbml(source: str | Path, *, origin: str | None = None) -> SBMLNetwork:
    """Read an SBML model (a path, or the SBML text itself) as an `SBMLNetwork`.

    The document is validated with libsbml (its errors, with line numbers, are raised as an
    `SBMLError`), normalised to SBML Level 3 Version 2, and refused if it uses a construct that
    adprf does not support (events, delays, algebraic rules, fast reactions, variable
    stoichiometries, …; the message names it). Read it inside `with jax.enable_x64(True):`
    so that `values` are float64. `origin` names the source in messages.
    """
    doc, name = load(source)
    return build(parts(doc, origin or name), origin or name)


def read_antimony(text: str) -> SBMLNetwork:
    """Read a model written in Antimony (converted to SBML by the `antimony` package)."""
    import antimony

    if not isinstance(text, str):
        raise TypeError(f"read_antimony takes the model's text (a str), got {type(text).__name__}")
    antimony.clearPreviousLoads()
    if antimony.loadAntimonyString(text) < 0:
        raise SBMLError(f"antimony could not read the model: {(antimony.getLastError() or '').strip()}")
    sbml = antimony.getSBMLString(antimony.getMainModuleName())
    if not sbml:
        raise SBMLError(f"antimony wrote no SBML for the model: {(antimony.getLastError() or '').strip()}")
    return read_sbml(sbml, origin="the Antimony model")


@dataclasses.dataclass(frozen=True)
class LigandSlot:
    """Where one ligand species enters the network: `amount` is the id whose value becomes
    the ligand's amount L (a parameter, or a ligand species' initial amount or concentration as
    the SBML writes it); its binding time τ becomes either the value of `tau`, or 1/τ becomes
    the value of `off_rate` (an unbinding rate k_off = 1/τ). Give exactly one of the two."""

    amount: str
    tau: str | None = None
    off_rate: str | None = None

    def __post_init__(self):
        if (self.tau is None) == (self.off_rate is None):
            raise SBMLError(
                f"LigandSlot(amount={self.amount!r}) needs exactly one of tau= (the id of a binding time) or "
                f"off_rate= (the id of an unbinding rate 1/τ), got tau={self.tau!r}, off_rate={self.off_rate!r}"
            )

    @classmethod
    def of(cls, slot: "LigandSlot | Mapping[str, str]") -> "LigandSlot":
        """A `LigandSlot`, or a dict such as `{"amount": "L1", "off_rate": "koff1"}`."""
        if isinstance(slot, LigandSlot):
            return slot
        if isinstance(slot, Mapping) and set(slot) <= {"amount", "tau", "off_rate"} and "amount" in slot:
            return cls(**slot)
        raise SBMLError(
            f"a ligand slot is a LigandSlot or a dict with keys 'amount' and 'tau' or 'off_rate', got {slot!r}"
        )


def _check_threshold(owner: str, threshold) -> None:
    if is_concrete(threshold) and not (np.shape(threshold) == () and np.isfinite(np.asarray(threshold, float))):
        raise ValueError(f"{owner}: threshold must be a finite real number, got {threshold!r}")


def _typical(owner: str, network: SBMLNetwork, scale: Mapping[str, Any] | None) -> Array:
    """`scale={id: value}` as an array over `network.independent`, NaN where not given."""
    typical = np.full(len(network.independent), np.nan)
    for name, value in (scale or {}).items():
        if name not in network.independent:
            raise SBMLError(
                f"{owner}: scale names {name!r}, which is no independent state variable; give typical values of "
                f"{list(network.independent)}"
            )
        if not (np.isfinite(value) and value > 0):
            raise ValueError(f"{owner}: scale[{name!r}] must be finite and > 0, got {value!r}")
        typical[network.independent.index(name)] = value
    return jnp.asarray(typical, jnp.result_type(float))


def _check_network(owner: str, network: SBMLNetwork, solver: str) -> None:
    """The checks shared by `SBMLCell` and `SBMLResponse`."""
    if not isinstance(network, SBMLNetwork):
        raise TypeError(f"{owner} takes an SBMLNetwork (read_sbml, read_antimony), got {type(network).__name__}")
    if solver == "closed-form":
        raise ValueError(f"{owner}: an SBML network has no closed-form steady state; use solver='newton' or 'ode'")
    check_choice(owner, "solver", solver, SOLVERS)
    if not network.autonomous:
        raise SBMLError(
            f"{owner}: the network's rates read `time`, so it has no steady state; remove the explicit time "
            f"dependence (time courses work on the network itself)"
        )
    if not network.independent:
        raise SBMLError(
            f"{owner}: the network has no independent dynamic variable (state {list(network.state)}, all "
            f"fixed by conservation laws or constant): its steady state is its initial state"
        )


class _AbstractSBMLModel(AbstractSteadyStateModel):
    """A network at the quantities `quantities(ligands)`; the state is its independent part."""

    network: eqx.AbstractVar[SBMLNetwork]
    readout: eqx.AbstractVar[Expression]
    typical: eqx.AbstractVar[Float[Array, " independent"]]  # NaN: `SBMLNetwork.scale`'s estimate
    relax: eqx.AbstractVar[bool]  # Newton starts where the dynamics lead from the initial state

    @abc.abstractmethod
    def quantities(self, ligands: Ligands) -> Float[Array, " names"]:
        """The network's `values` with the inputs set."""

    def vector_field(self, t, state: Float[Array, " independent"], ligands: Ligands) -> Float[Array, " independent"]:
        return self.network.reduced_vector_field(t, state, self.quantities(ligands))

    def full_state(self, state: Float[Array, " independent"], ligands: Ligands) -> Float[Array, " state"]:
        """Every dynamic variable (`network.state`), the dependent ones from their totals."""
        return self.network.full_state(state, self.quantities(ligands))

    def observe(self, state: Float[Array, " independent"], ligands: Ligands) -> dict[str, Array]:
        """Every id's value at a (reduced) state: species, parameters, compartments, reaction rates."""
        values = self.quantities(ligands)
        return self.network.observe(0.0, self.network.full_state(state, values), values)

    def output(self, state: Float[Array, " independent"], ligands: Ligands) -> Float[Array, ""]:
        values = self.quantities(ligands)
        return self.network.evaluate(self.readout, 0.0, self.network.full_state(state, values), values)

    def scale(self, ligands: Ligands) -> Float[Array, " independent"]:
        """The typical values given by `scale=` at construction, else `SBMLNetwork.scale`'s
        estimate (a feasible share of the conserved totals, or initial magnitudes)."""
        return jnp.where(jnp.isnan(self.typical), self.network.scale(self.quantities(ligands)), self.typical)

    def unbound_state(self, ligands: Ligands) -> Float[Array, " independent"]:
        """The SBML initial state (with the inputs set): where the ODE and time courses start."""
        values = self.quantities(ligands)
        return self.network.reduced_state(self.network.initial_state(values))

    def relaxes_before_newton(self) -> bool:
        """True unless `scale=` gave Newton its start."""
        return self.relax

    def closed_form(self, ligands: Ligands):
        raise ValueError(f"{type(self).__name__}: an SBML network has no closed form; use method='newton' or 'ode'")

    def physical(self, state: Float[Array, " independent"], ligands: Ligands) -> Bool[Array, ""]:
        """No species below zero beyond round-off (1e-7 of the largest), those that assignment rules
        set included (free receptors R = R_T − Σ C, say): Newton can converge to such a root,
        which is then reported as `RESULTS.unphysical`, never returned as a steady state."""
        observed = self.observe(state, ligands)
        species = jnp.stack([observed[name] for name in self.network.species])
        return jnp.all(species >= -1e-7 * jnp.max(jnp.abs(species)))


def _slot_indices(network: SBMLNetwork, slots: tuple[LigandSlot, ...]) -> None:
    """Refuse unknown or repeated ids in the ligand slots."""
    used = []
    for i, slot in enumerate(slots):
        for role in ("amount", "tau", "off_rate"):
            name = getattr(slot, role)
            if name is not None:
                network.index(name, f"SBMLCell: ligand slot {i}'s {role}")
                used.append(name)
    repeated = sorted({n for n in used if used.count(n) > 1})
    if repeated:
        raise SBMLError(f"SBMLCell: the ligand slots use {repeated} more than once; give each input its own id")


class SBMLCell(_AbstractSBMLModel):
    """A cell model from an SBML network: ligand i sets the quantities of slot i (its amount
    L_i and binding time τ_i, or off-rate 1/τ_i), the network relaxes to its steady state, and
    `output` (an id or a formula over ids, read at that state) is the cell's response; the cell
    responds iff it exceeds `threshold`.

    **Arguments:**
    - `network`: an `SBMLNetwork` (`read_sbml`, `read_antimony`).
    - `ligands`: one `LigandSlot` (or dict `{"amount": id, "tau": id}` / `{"amount": id,
      "off_rate": id}`) per ligand species; `Ligands` given to the cell have that length.
    - `output`: an id (species: its concentration, or amount if it has only substance units;
      parameter; reaction: its rate) or a formula over ids such as `"C5 / (R + C0)"`.
    - `threshold`: the decision threshold on the output (finite; an array leaf).
    - `solver`: `"newton"` (default) or `"ode"`; a network has no closed form. Newton starts
      where the cell's own dynamics lead from the SBML initial state: a bounded run of
      pseudo-transient continuation (implicit Euler steps growing to Newton's), so it meets the
      steady state the dynamics lead to (inside an oscillator's cycle, the unstable one) rather
      than a far root of the equations; a root with a negative species is reported as
      `RESULTS.unphysical`, never returned. `"ode"` integrates the whole transient (slower; it
      cannot reach an unstable steady state).
    - `scale`: optional typical values `{id: value}` of independent state variables: the
      solvers' units, and then Newton's start (u = 1, no continuation; the others from
      `SBMLNetwork.scale`'s estimate). Give them to pick one of several steady states.

    Vmap over ligand distributions, differentiate the output in τ and L (implicit gradients),
    run `time_course` from the SBML initial state: as the built-in models. `state` is the
    network's independent variables (`network.independent`); `full_state` and `observe` give
    the rest.
    """

    network: SBMLNetwork
    slots: tuple[LigandSlot, ...] = eqx.field(static=True)
    readout: Expression
    threshold: Float[Array, ""] = eqx.field(converter=parameter)
    solver: str = eqx.field(static=True)
    typical: Float[Array, " independent"]
    relax: bool = eqx.field(static=True)

    def __init__(
        self,
        network: SBMLNetwork,
        *,
        ligands: Sequence[LigandSlot | Mapping[str, str]],
        output: str,
        threshold: Any,
        solver: str = "newton",
        scale: Mapping[str, Any] | None = None,
    ):
        _check_network("SBMLCell", network, solver)
        if isinstance(ligands, (LigandSlot, Mapping, str)) or not isinstance(ligands, Sequence) or not ligands:
            raise SBMLError(
                f"SBMLCell: ligands must be a non-empty list of ligand slots, got {ligands!r}; for a network "
                f"without ligands, use SBMLResponse"
            )
        self.slots = tuple(LigandSlot.of(slot) for slot in ligands)
        _slot_indices(network, self.slots)
        self.network = network
        self.readout = network.expression(output, "SBMLCell: output")
        self.threshold = threshold
        self.solver = solver
        self.typical = _typical("SBMLCell", network, scale)
        self.relax = not scale

    def __check_init__(self):
        _check_threshold("SBMLCell", self.threshold)

    def check_ligands(self, ligands: Ligands) -> None:
        """The base checks, and at most one ligand per slot (a static shape): a distribution with
        fewer species than slots leaves the last slots empty (amount 0), as when agonists alone
        are compared with agonists plus a second species (`analysis.fold_change`)."""
        super().check_ligands(ligands)
        if np.size(ligands.amount) > len(self.slots) or jnp.ndim(ligands.amount) > 1:
            raise ValueError(
                f"SBMLCell has {len(self.slots)} ligand slot(s) ({[s.amount for s in self.slots]}) but got ligands "
                f"of shape {jnp.shape(ligands.amount)}: pass one distribution of at most {len(self.slots)} species, "
                f"in slot order"
            )

    def quantities(self, ligands: Ligands) -> Float[Array, " names"]:
        tau, amount = jnp.ravel(jnp.asarray(ligands.tau)), jnp.ravel(jnp.asarray(ligands.amount))
        values = self.network.values
        for i, slot in enumerate(self.slots):
            if i >= amount.size:  # an empty slot: no ligand of that species (its binding time is moot)
                values = values.at[self.network.names.index(slot.amount)].set(0.0)
                continue
            values = values.at[self.network.names.index(slot.amount)].set(amount[i])
            if slot.tau is not None:
                values = values.at[self.network.names.index(slot.tau)].set(tau[i])
            else:
                values = values.at[self.network.names.index(str(slot.off_rate))].set(1 / tau[i])
        return values


class SBMLSystem(_AbstractSBMLModel):
    """A network at fixed quantities (`SBMLResponse`'s steady states): ligands are ignored."""

    network: SBMLNetwork
    pinned: Float[Array, " names"]
    readout: Expression
    threshold: Float[Array, ""]
    solver: str = eqx.field(static=True)
    typical: Float[Array, " independent"]
    relax: bool = eqx.field(static=True)

    def quantities(self, ligands: Ligands) -> Float[Array, " names"]:
        return self.pinned


def _no_ligands() -> Ligands:
    one = jnp.ones((1,), jnp.float64)
    return Ligands(one, one)


class SBMLResponse(eqx.Module):
    """The steady-state output of an SBML network as a function of some of its quantities:
    `response(x)` sets the quantities `inputs` (rates, totals, initial amounts: free ids of
    `network.names`) to `x` and returns the output at the steady state, for attacks that
    perturb parameters directly (no ligands). `response.decide(x)`: output > `threshold`.

    **Arguments:**
    - `network`: an `SBMLNetwork`.
    - `inputs`: the ids that `x` sets, in order; `x` is a 1-D array of that length, or a dict
      `{id: value}` (ids left out keep their SBML values, `defaults`).
    - `output`, `threshold`, `solver`, `scale`: as for `SBMLCell`.

    `steady_state(x, **options)` returns the `Solution` (options as for `cells.steady_state`:
    `rtol`, `atol`, `max_steps`, `throw`; a failure raises, or with `throw=False` gives a NaN
    output and `result`, an item of `RESULTS`). Act on one `x`; vmap for several.
    """

    network: SBMLNetwork
    inputs: tuple[str, ...] = eqx.field(static=True)
    readout: Expression
    threshold: Float[Array, ""] = eqx.field(converter=parameter)
    solver: str = eqx.field(static=True)
    typical: Float[Array, " independent"]
    relax: bool = eqx.field(static=True)

    def __init__(
        self,
        network: SBMLNetwork,
        *,
        inputs: Sequence[str],
        output: str,
        threshold: Any,
        solver: str = "newton",
        scale: Mapping[str, Any] | None = None,
    ):
        _check_network("SBMLResponse", network, solver)
        if isinstance(inputs, str) or not isinstance(inputs, Sequence) or not inputs:
            raise SBMLError(f"SBMLResponse: inputs must be a non-empty list of ids, got {inputs!r}")
        for name in inputs:
            network.index(name, "SBMLResponse: inputs")
        if len(set(inputs)) != len(inputs):
            raise SBMLError(f"SBMLResponse: inputs {list(inputs)} repeat an id; list each once")
        self.network, self.inputs = network, tuple(inputs)
        self.readout = network.expression(output, "SBMLResponse: output")
        self.threshold, self.solver = threshold, solver
        self.typical = _typical("SBMLResponse", network, scale)
        self.relax = not scale

    def __check_init__(self):
        _check_threshold("SBMLResponse", self.threshold)

    @property
    def defaults(self) -> Float[Array, " inputs"]:
        """The inputs' values in the SBML (the unperturbed point)."""
        return self.network.values[jnp.asarray([self.network.names.index(n) for n in self.inputs], int)]

    def _array(self, x) -> Array:
        if isinstance(x, Mapping):
            unknown = sorted(set(x) - set(self.inputs))
            if unknown:
                raise SBMLError(f"SBMLResponse: unknown inputs {unknown}; the inputs are {list(self.inputs)}")
            array = self.defaults
            for name, value in x.items():
                array = array.at[self.inputs.index(name)].set(value)
            return self._finite(array)
        array = jnp.asarray(x, jnp.float64 if jax.enable_x64.value else None)
        if array.shape != (len(self.inputs),):
            raise ValueError(
                f"SBMLResponse takes one value per input {list(self.inputs)} (shape ({len(self.inputs)},)), got "
                f"shape {array.shape}: vmap over batches"
            )
        return self._finite(array)

    def _finite(self, array: Array) -> Array:
        """`array`, after refusing a concrete NaN or infinite input by name (traced ones pass)."""
        if is_concrete(array) and not np.all(np.isfinite(np.asarray(array))):
            bad = int(np.flatnonzero(~np.isfinite(np.asarray(array)))[0])
            raise ValueError(
                f"SBMLResponse: input {self.inputs[bad]!r} is {float(array[bad])}: pass finite values for "
                f"{list(self.inputs)}"
            )
        return array

    def system(self, x: Float[ArrayLike, " inputs"] | Mapping[str, Any]) -> SBMLSystem:
        """The network at inputs `x`, as an `AbstractSteadyStateModel` (whose ligands are ignored)."""
        indices = jnp.asarray([self.network.names.index(n) for n in self.inputs], int)
        pinned = self.network.values.at[indices].set(self._array(x))
        return SBMLSystem(
            network=self.network,
            pinned=pinned,
            readout=self.readout,
            threshold=self.threshold,
            solver=self.solver,
            typical=self.typical,
            relax=self.relax,
        )

    def full_state(
        self, x: Float[ArrayLike, " inputs"] | Mapping[str, Any], state: Float[Array, " independent"]
    ) -> Float[Array, " state"]:
        """Every variable of `network.state` from a solution's (independent) `state` at inputs `x`."""
        return self.system(x).full_state(state, _no_ligands())

    def observe(
        self, x: Float[ArrayLike, " inputs"] | Mapping[str, Any], state: Float[Array, " independent"]
    ) -> dict[str, Array]:
        """Every id's value (species, parameters, compartments, reaction rates) at a solution's
        `state` at inputs `x`."""
        return self.system(x).observe(state, _no_ligands())

    def steady_state(self, x: Float[ArrayLike, " inputs"] | Mapping[str, Any], **options) -> Solution:
        """The steady state at inputs `x` (`options` as for `cells.steady_state`)."""
        return steady_state(self.system(x), _no_ligands(), **{"method": self.solver, **options})

    def __call__(self, x: Float[ArrayLike, " inputs"] | Mapping[str, Any]) -> Float[Array, ""]:
        return self.steady_state(x).output

    def decide(self, x: Float[ArrayLike, " inputs"] | Mapping[str, Any]) -> Bool[Array, ""]:
        """Whether the output exceeds the threshold."""
        return self(x) > self.threshold

    def time_course(
        self, x: Float[ArrayLike, " inputs"] | Mapping[str, Any], times: ArrayLike, **options
    ) -> tuple[Float[Array, "time state"], Float[Array, " time"]]:
        """(states, outputs) at `times` from the SBML initial state (`cells.time_course`, its
        `options`); each state holds every variable of `network.state`."""
        system = self.system(x)
        states, outputs = time_course(system, _no_ligands(), times, **options)
        return jax.vmap(system.full_state, in_axes=(0, None))(states, _no_ligands()), outputs


def from_sbml(
    source: str | Path,
    *,
    ligands: Sequence[LigandSlot | Mapping[str, str]],
    output: str,
    threshold: Any,
    solver: str = "newton",
    scale: Mapping[str, Any] | None = None,
) -> SBMLCell:
    """An `SBMLCell` from an SBML file or string (`read_sbml`); the arguments as for `SBMLCell`."""
    network = read_sbml(source)
    return SBMLCell(network, ligands=ligands, output=output, threshold=threshold, solver=solver, scale=scale)


def from_antimony(
    text: str,
    *,
    ligands: Sequence[LigandSlot | Mapping[str, str]],
    output: str,
    threshold: Any,
    solver: str = "newton",
    scale: Mapping[str, Any] | None = None,
) -> SBMLCell:
    """An `SBMLCell` from an Antimony model (`read_antimony`); the arguments as for `SBMLCell`."""
    network = read_antimony(text)
    return SBMLCell(network, ligands=ligands, output=output, threshold=threshold, solver=solver, scale=scale)
