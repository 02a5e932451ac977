"""An SBML reaction network as differentiable JAX functions (`SBMLNetwork`).

**Quantities.** Every compartment, species and parameter has an id. The *free* ones (`names`:
those that no initial assignment or assignment rule defines) carry the numbers written in the
SBML, `values`, one float array (an array leaf: vmap over it, differentiate by it); a species'
entry is its `initialConcentration` or `initialAmount` as written. From `values`, the initial
assignments and assignment rules give every quantity's value at t = 0 (`initial_values`, SBML
L3V2 §4.8 and §4.11.3).

**State.** The dynamic variables (`state`) are the species that reactions change (neither
boundary nor constant, no rule), the species and parameters with a rate rule, in model order.
Each is in the units its id has in formulas: a concentration (amount / compartment size) unless
the species has only substance units. A reaction's rate is in substance per time, so
d[S]/dt = Σ_j n_Sj v_j / size and d(amount)/dt = Σ_j n_Sj v_j (§4.11.7); a rate rule gives
d/dt of its variable directly (§4.11.3). Compartment sizes are constant (rules on them are
refused). Assignment rules and reaction ids in formulas are expanded symbolically, so every
formula is a function of (time, state, values).

**Conservation.** When reactions only move matter around (a closed network), the stoichiometry
matrix N (species × reactions, in amounts) has a left null space: each row ℓ of its basis gives
a conserved total T = Σ_S ℓ_S amount_S, and dC/dt = 0 has a singular Jacobian. As libRoadRunner
does with its conserved-moiety analysis, the laws are put in reduced row echelon form (exact
rationals, SymPy); each law's pivot species is *dependent*, computed from its total and the
others; the rest (`independent`) is the reduced state that the solvers see. The totals come
from the initial state, so they are differentiable in `values`.
"""

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import sympy as sp
import sympy2jax

from .._types import Array, Float
from ._sbml_math import TIME, SBMLError, compile_expressions, evaluate, evaluate_each, parse_formula, substitute
from ._sbml_read import Parts

_LEAF = "@"  # prefix of the symbols that read `values` ('@' cannot occur in an SBML id)


class Expression(eqx.Module):
    """A formula over the network's ids (an output), compiled; `text` is as the user wrote it."""

    text: str = eqx.field(static=True)
    module: sympy2jax.SymbolicModule


def _initial_definition(parts: Parts, quantity: str) -> sp.Basic:
    """A quantity's value at t = 0 before expansion: its initial assignment, its assignment rule,
    or its written number (a species' amount ↔ concentration converted by its compartment)."""
    if quantity in parts.initial_assignments:
        return parts.initial_assignments[quantity]
    if quantity in parts.assignment_rules:
        return parts.assignment_rules[quantity]
    leaf = sp.Symbol(_LEAF + quantity)
    if quantity in parts.compartment_of:
        size = sp.Symbol(parts.compartment_of[quantity])
        as_amount, is_amount = quantity in parts.written_as_amount, quantity in parts.amount_species
        if as_amount and not is_amount:
            return leaf / size
        if is_amount and not as_amount:
            return leaf * size
    return leaf


def _expanded(expressions: list[sp.Basic], definitions: dict, allowed: set, where: list[str]) -> list[sp.Basic]:
    """The expressions with the definitions expanded; refuses symbols outside `allowed`."""
    expanded = []
    for expr, name in zip(expressions, where):
        expr = substitute(sp.sympify(expr), definitions, name)
        unknown = sorted(str(s) for s in expr.free_symbols - allowed)
        if unknown:
            raise SBMLError(f"{name} reads {unknown}, which the model does not define: define them")
        expanded.append(expr)
    return expanded


def _state(parts: Parts) -> list[str]:
    """The dynamic variables, in model order."""
    state = []
    for quantity in [*parts.species, *parts.parameters]:
        ruled = quantity in parts.assignment_rules
        driven = quantity in parts.species and quantity not in parts.boundary and not ruled
        if quantity in parts.rate_rules or driven:
            state.append(quantity)
    return state


def _stoichiometry(parts: Parts, state: list[str]) -> tuple[tuple[float, ...], ...]:
    """The net stoichiometry n_Sj of each state variable (rows) in each reaction (columns);
    rows of rate-rule variables are 0 (reactions do not change them)."""
    return tuple(
        tuple(0.0 if q in parts.rate_rules else float(parts.stoichiometry.get((q, r), 0)) for r in parts.reactions)
        for q in state
    )


def _conservation(parts: Parts, state: list[str], fluxes: list[sp.Basic]) -> tuple[list[list[float]], list[int]]:
    """The conservation laws over `state` (rows ℓ in reduced row echelon form, in amounts) and
    each law's dependent variable (its pivot, an index into `state`).

    Pivots are taken first among the species whose own rate does not read them (e.g. the end
    product of a closed chain): kept independent, such a species would have no relaxation rate
    of its own (∂ḟ_S/∂S = 0), which the solvers' relative stopping tests divide by."""
    reads = [
        any(
            sp.Symbol(q) in fluxes[j].free_symbols
            for j, r in enumerate(parts.reactions)
            if (q, r) in parts.stoichiometry
        )
        for q in state
    ]
    driven = sorted((i for i, q in enumerate(state) if q not in parts.rate_rules), key=lambda i: (reads[i], i))
    if not driven:
        return [], []
    matrix = sp.zeros(len(driven), max(len(parts.reactions), 1))
    for row, i in enumerate(driven):
        for column, reaction in enumerate(parts.reactions):
            matrix[row, column] = parts.stoichiometry.get((state[i], reaction), 0)
    basis = matrix.T.nullspace()
    if not basis:
        return [], []
    laws, pivots = sp.Matrix.hstack(*basis).T.rref()
    rows = []
    for k in range(len(pivots)):
        row = [0.0] * len(state)
        for j, i in enumerate(driven):
            row[i] = float(laws[k, j])
        rows.append(row)
    return rows, [driven[p] for p in pivots]


class SBMLNetwork(eqx.Module):
    """An SBML model's reaction network: `read_sbml` or `read_antimony` builds one.

    **Fields** (ids are static tuples in model order; see the module docstring):
    - `compartments`, `species`, `parameters`, `reactions`: the model's ids.
    - `names`: the free quantities; `values`: their numbers (an array leaf, float64 when read
      inside `jax.enable_x64(True)`, the solvers' requirement).
    - `state`: the dynamic variables; `independent`: those the solvers see (the others follow
      from the conservation laws, `laws` over `state`, one `dependent` index per law).
    - `weights`: per state variable, the compartment whose size turns it into an amount
      (None for amounts and parameters).
    - `stoichiometry`: n_Sj per state variable and reaction (0 for rate-rule variables, whose
      positions in `state` are `ruled`); `autonomous`: whether no rate reads `time` (steady
      states need it).
    - `initial`, `fluxes`, `rate_rules`, `observables`: the compiled formulas (sympy2jax
      modules): every quantity at t = 0 from `values`; the reactions' rates; the rate rules;
      every id's value at (t, state).

    **Methods** take `values` (e.g. `network.values`, or a perturbed copy) and act on one state:
    `initial_values`, `initial_state`, `vector_field`, `observe` (every id's value), and their
    reduced forms `totals`, `full_state`, `reduced_state`, `reduced_vector_field`, `scale`.
    """

    compartments: tuple[str, ...] = eqx.field(static=True)
    species: tuple[str, ...] = eqx.field(static=True)
    parameters: tuple[str, ...] = eqx.field(static=True)
    reactions: tuple[str, ...] = eqx.field(static=True)
    names: tuple[str, ...] = eqx.field(static=True)
    values: Float[Array, " names"]
    state: tuple[str, ...] = eqx.field(static=True)
    independent: tuple[str, ...] = eqx.field(static=True)
    laws: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    dependent: tuple[int, ...] = eqx.field(static=True)
    weights: tuple[str | None, ...] = eqx.field(static=True)
    autonomous: bool = eqx.field(static=True)
    timed: tuple[str, ...] = eqx.field(static=True)  # ids whose value reads `time`
    initial: sympy2jax.SymbolicModule  # every quantity's value at t = 0, from `values`
    stoichiometry: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    ruled: tuple[int, ...] = eqx.field(static=True)
    fluxes: sympy2jax.SymbolicModule  # the reactions' rates (substance / time)
    rate_rules: sympy2jax.SymbolicModule  # d/dt of the rate-rule variables (`state[ruled]`)
    observables: sympy2jax.SymbolicModule  # every id's value (reactions: their rates)

    @property
    def ids(self) -> tuple[str, ...]:
        """Every id a formula may use: compartments, species, parameters, reactions (their rates)."""
        return (*self.compartments, *self.species, *self.parameters, *self.reactions)

    def index(self, name: str, role: str) -> int:
        """The position of a free quantity in `values`; refuses other ids, saying why."""
        if name in self.names:
            return self.names.index(name)
        if name in self.ids:
            why = "is a reaction (its rate)" if name in self.reactions else "is set by an initial assignment or rule"
            raise SBMLError(
                f"{role}: {name!r} {why}, so it has no value of its own to set; the model's free quantities "
                f"are {list(self.names)}"
            )
        raise SBMLError(f"{role}: unknown id {name!r}; the model's free quantities are {list(self.names)}")

    def initial_values(self, values: Float[Array, " names"]) -> dict[str, Array]:
        """Every compartment's, species' and parameter's value at t = 0."""
        quantities = (*self.compartments, *self.species, *self.parameters)
        leaves = {_LEAF + name: values[i] for i, name in enumerate(self.names)}
        return dict(zip(quantities, evaluate_each(self.initial, leaves)))

    def _namespace(self, t, y, constants: dict[str, Array]) -> dict[str, Array]:
        return {**constants, **dict(zip(self.state, y)), TIME.name: jnp.asarray(t, jnp.result_type(float))}

    def _initial_state(self, constants: dict[str, Array]) -> Array:
        return jnp.stack([constants[q] for q in self.state]) if self.state else jnp.zeros((0,))

    def initial_state(self, values: Float[Array, " names"]) -> Float[Array, " state"]:
        """The state at t = 0 (initial values, initial assignments, assignment rules)."""
        return self._initial_state(self.initial_values(values))

    def _vector_field(self, t, y, constants: dict[str, Array]) -> Array:
        namespace = self._namespace(t, y, constants)
        stoichiometry = jnp.asarray(self.stoichiometry, jnp.result_type(float)).reshape(len(self.state), -1)
        dy = stoichiometry @ evaluate(self.fluxes, namespace) / self._amount_weights(constants)
        if self.ruled:
            dy = dy.at[np.asarray(self.ruled)].set(evaluate(self.rate_rules, namespace))
        return dy

    def vector_field(self, t, y: Float[Array, " state"], values: Float[Array, " names"]) -> Float[Array, " state"]:
        """d state / dt at time t: Σ_j n_Sj v_j, over the compartment's size for a
        concentration; a rate rule's value for its variable."""
        return self._vector_field(t, y, self.initial_values(values))

    def observe(self, t, y: Float[Array, " state"], values: Float[Array, " names"]) -> dict[str, Array]:
        """Every id's value at (t, y): compartments, species, parameters, reaction rates."""
        namespace = self._namespace(t, y, self.initial_values(values))
        return dict(zip(self.ids, evaluate_each(self.observables, namespace)))

    def expression(self, text: str, where: str) -> Expression:
        """A user's formula over `ids` (e.g. an output), compiled."""
        expr = parse_formula(text, list(self.ids), where)
        timed = sorted({str(s) for s in expr.free_symbols} & set(self.timed))
        if timed:
            raise SBMLError(f"{where}: {text!r} reads {timed}, which depend on time; a steady-state output cannot")
        return Expression(text, compile_expressions([expr], [f"{where} {text!r}"]))

    def evaluate(
        self, expression: Expression, t, y: Float[Array, " state"], values: Float[Array, " names"]
    ) -> Float[Array, ""]:
        """An `Expression`'s value at (t, y)."""
        return evaluate(expression.module, self.observe(t, y, values))[0]

    def _amount_weights(self, constants: dict[str, Array]) -> Array:
        one = jnp.ones((), jnp.result_type(float))
        return jnp.stack([one if c is None else constants[c] for c in self.weights]) if self.state else one[None][:0]

    def _totals(self, constants: dict[str, Array]) -> Array:
        laws = jnp.asarray(self.laws).reshape(-1, len(self.state))
        return laws @ (self._amount_weights(constants) * self._initial_state(constants))

    def totals(self, values: Float[Array, " names"]) -> Float[Array, " laws"]:
        """The conserved totals T_k = Σ_S ℓ_kS amount_S(0)."""
        return self._totals(self.initial_values(values))

    def _full_state(self, z, constants: dict[str, Array]) -> Array:
        if not self.laws:
            return z
        weights, laws, dependent = self._amount_weights(constants), jnp.asarray(self.laws), np.asarray(self.dependent)
        free = np.asarray([i for i in range(len(self.state)) if i not in self.dependent], int)
        y = jnp.zeros(len(self.state), z.dtype).at[free].set(z)
        amounts = self._totals(constants) - laws @ (weights * y)  # pivots hold 0 in y, and ℓ_kp = 1
        return y.at[dependent].set(amounts / weights[dependent])

    def full_state(self, z: Float[Array, " independent"], values: Float[Array, " names"]) -> Float[Array, " state"]:
        """The state from its independent part, each dependent variable from its law's total."""
        return self._full_state(z, self.initial_values(values))

    def reduced_state(self, y: Float[Array, " state"]) -> Float[Array, " independent"]:
        """The independent variables of a state."""
        return y[np.asarray([self.state.index(q) for q in self.independent], int)]

    def reduced_vector_field(
        self, t, z: Float[Array, " independent"], values: Float[Array, " names"]
    ) -> Float[Array, " independent"]:
        """d z / dt, the dependent variables following their conservation laws."""
        constants = self.initial_values(values)
        y = self._full_state(z, constants)
        return self.reduced_state(self._vector_field(t, y, constants))

    def scale(self, values: Float[Array, " names"]) -> Float[Array, " independent"]:
        """The solvers' units for z, and Newton's start (u = 1): a feasible point of the right
        magnitude. A variable in conservation laws with non-negative coefficients gets the
        smallest equal share of their totals, min_k T_k / (ℓ_kS m_k) over the laws k it enters
        (m_k: their members), so the start leaves every dependent species ≥ 0; any other
        variable its initial magnitude, or else the largest initial species value (else 1)."""
        constants = self.initial_values(values)
        y0 = jnp.abs(self._initial_state(constants))
        typical = jnp.max(jnp.abs(jnp.stack([constants[s] * 1.0 for s in self.species])), initial=0.0)
        magnitude = jnp.where(y0 > 0, y0, jnp.where(typical > 0, typical, 1.0))
        if self.laws:
            laws = np.asarray(self.laws)
            usable = np.all(laws >= 0, axis=1, keepdims=True) & (laws > 0)
            members = np.sum(laws != 0, axis=1, keepdims=True)
            coefficients = jnp.asarray(laws * members) * self._amount_weights(constants)
            share = jnp.where(usable, self._totals(constants)[:, None] / jnp.where(usable, coefficients, 1.0), jnp.inf)
            share = jnp.min(share, axis=0)
            magnitude = jnp.where(jnp.isfinite(share) & (share > 0), share, magnitude)
        return self.reduced_state(magnitude)


def build(parts: Parts, origin: str) -> SBMLNetwork:
    """Compile a model's `Parts` (from `_sbml_read.parts`) into an `SBMLNetwork`."""
    quantities = [*parts.compartments, *parts.species, *parts.parameters]
    ids = [*quantities, *parts.reactions]
    state = _state(parts)
    definitions = {
        **{sp.Symbol(q): e for q, e in parts.assignment_rules.items()},
        **{sp.Symbol(r): e for r, e in parts.rates.items()},
        **parts.reference_ids,
    }
    allowed = {sp.Symbol(q) for q in quantities} | {TIME}
    where = [f"{origin}: the kinetic law of reaction {r!r}" for r in parts.reactions]
    fluxes = _expanded([parts.rates[r] for r in parts.reactions], definitions, allowed, where)
    ruled = [i for i, q in enumerate(state) if q in parts.rate_rules]
    where = [f"{origin}: the rate rule for {state[i]!r}" for i in ruled]
    rules = _expanded([parts.rate_rules[state[i]] for i in ruled], definitions, allowed, where)
    where = [f"{origin}: {i!r}" for i in ids]
    observables = _expanded([sp.Symbol(i) for i in ids], definitions, allowed, where)
    names = [q for q in quantities if q in parts.value and q not in parts.initial_assignments]
    names = [q for q in names if q not in parts.assignment_rules]
    initial_definitions = {**definitions, **{sp.Symbol(q): _initial_definition(parts, q) for q in quantities}}
    leaves = {sp.Symbol(_LEAF + q) for q in names} | {TIME}
    where = [f"{origin}: the initial value of {q!r}" for q in quantities]
    initial = _expanded([sp.Symbol(q) for q in quantities], initial_definitions, leaves, where)
    initial = [e.xreplace({TIME: sp.Integer(0)}) for e in initial]
    laws, dependent = _conservation(parts, state, fluxes)
    return SBMLNetwork(
        compartments=tuple(parts.compartments),
        species=tuple(parts.species),
        parameters=tuple(parts.parameters),
        reactions=tuple(parts.reactions),
        names=tuple(names),
        values=jnp.asarray([parts.value[q] for q in names], jnp.result_type(float)).reshape(len(names)),
        state=tuple(state),
        independent=tuple(q for i, q in enumerate(state) if i not in dependent),
        laws=tuple(tuple(row) for row in laws),
        dependent=tuple(dependent),
        weights=tuple(
            parts.compartment_of[q] if q in parts.species and q not in parts.amount_species else None for q in state
        ),
        stoichiometry=_stoichiometry(parts, state),
        ruled=tuple(ruled),
        autonomous=not any(TIME in e.free_symbols for e in [*fluxes, *rules]),
        timed=tuple(i for i, e in zip(ids, observables) if TIME in e.free_symbols),
        initial=compile_expressions(initial, [f"{origin}: the initial value of {q!r}" for q in quantities]),
        fluxes=compile_expressions(fluxes, [f"{origin}: the kinetic law of reaction {r!r}" for r in parts.reactions]),
        rate_rules=compile_expressions(rules, [f"{origin}: the rate rule for {state[i]!r}" for i in ruled]),
        observables=compile_expressions(observables, [f"{origin}: {i!r}" for i in ids]),
    )
