"""SBML export of the ODE cell models, so that libRoadRunner, COPASI or Tellurium run them.

`to_sbml(model, ligands)` writes `KineticProofreading` (McKeithan 1995), `SHP1Feedback`
(François et al., PNAS 2013) or `KinaseFeedback` (adaptive sorting, Lalanne & François 2013)
with one ligand distribution as an SBML Level 3 Version 2 document of irreversible
mass-action reactions. Species are **amounts** (molecules per cell, `hasOnlySubstanceUnits`)
in the unit-volume compartment `cell`; time in seconds.

**Names.** Ligand i (0-based): parameters `L_{i}` (amount) and `tau_{i}` (binding time);
complexes `C_{i}_{n}` (ligand i bound, n proofreading steps done, 0 ≤ n ≤ N); `R` free
receptors, `Lfree_{i}` free ligand; `S` active SHP-1, `K` active kinase, `X` = Σ_i C_{i,m}
(the complexes driving the feedback). Rates are global parameters named after the model's
fields (`phi`, `kappa`, `b`, `gamma`, `S_T`, `C_star`, `alpha`, `K_tot`, `epsilon`, `delta`,
`tau_c`), `R_T` for `receptors`. `output` = Σ_i C_{i}_{N} (assignment rule, as
`model.output`); `threshold` is constant (for `KinaseFeedback` also an initial assignment,
α ε K_tot φ^(N−1−m) τ_c^(N−m)/δ).

**Reactions**, per ligand i (McKeithan's scheme, eq. 1 of `KineticProofreading`):
`bind_{i}`: Lfree_i + R → C_i_0 at κ Lfree_i R; `phos_{i}_{n}`: C_i_n → C_i_{n+1} at φ C_i_n
(at α K C_i_{N−1} for `KinaseFeedback`'s last step); `unbind_{i}_{n}`: C_i_n → Lfree_i + R at
C_i_n / tau_i. `SHP1Feedback` adds `dephos_{i}_{n}`: C_i_n → C_i_{n−1} at (b + γ S) C_i_n with
the quasi-steady S = S_T X/(X + C*) (a rule); `KinaseFeedback` adds `kinase_inactivation`
(K → ∅ at δ X K) and `kinase_reactivation` (∅ → K at ε (K_tot − K)).

**Conservation.** As in adprf, R = R_T − Σ_{i,n} C_{i,n} and Lfree_i = L_i − Σ_n C_{i,n} are
assignment rules (boundary species, which reactions list but do not change), so the
differential variables are adprf's state (the C_{i,n}, and K) and there is no conserved moiety:
steady-state solvers need no moiety reduction, whose dependent species (libRoadRunner picks,
say, C_{i,N}) lose the digits of tiny complexes to cancellation against L_i. With
`ligand_excess`, the rule is Lfree_i = L_i. Rules keep `L_{i}`, `R_T` live: set anew in a
simulator, they act at once, with no initial value to reset. The initial state is
`model.unbound_state`: no complexes, all kinase active (K = K_tot).
"""

import html
import importlib
from pathlib import Path

import jax
import numpy as np

from .._ligands import Ligands
from ._adaptive import KinaseFeedback
from ._kpr import KineticProofreading
from ._shp1 import SHP1Feedback
from ._steady_state import _checked_ligands, require_float64_parameters

_UNITS = {"per_second": (("second", -1),), "per_item_per_second": (("item", -1), ("second", -1))}
# SBO: 9 kinetic constant, 2 other parameter, 290 compartment, 252 protein, 253 complex,
# 240 material entity (peptide-MHC), 177 binding, 180 dissociation, 216 phosphorylation,
# 330 dephosphorylation.
_RATE, _QUANTITY = 9, 2


def _libsbml():
    """python-libsbml, an optional dependency (imported when a model is exported)."""
    try:
        return importlib.import_module("libsbml")
    except ImportError as error:
        raise ImportError("to_sbml needs python-libsbml, a dependency of adprf: pip install python-libsbml") from error


class _Writer:
    """An SBML L3V2 model under construction: the species of one cell, in amounts."""

    def __init__(self, model_id: str, notes: str):
        self.sbml = sbml = _libsbml()
        self.doc = sbml.SBMLDocument(3, 2)
        self.model = self.doc.createModel()
        body = f'<body xmlns="http://www.w3.org/1999/xhtml"><p>{html.escape(notes)}</p></body>'
        units = {"TimeUnits": "second", "SubstanceUnits": "item", "ExtentUnits": "item"}
        self.set(self.model, "the model", Id=model_id, Notes=body, **units)
        for unit_id, parts in _UNITS.items():
            definition = self.model.createUnitDefinition()
            self.set(definition, "a unit", Id=unit_id)
            for kind, exponent in parts:
                kind_code = sbml.UnitKind_forName(kind)
                self.set(definition.createUnit(), unit_id, Kind=kind_code, Exponent=exponent, Scale=0, Multiplier=1.0)
        cell = dict(Id="cell", Size=1.0, SpatialDimensions=3, Constant=True, Units="dimensionless", SBOTerm=290)
        self.set(self.model.createCompartment(), "the compartment", **cell)

    def ok(self, code, what: str):
        """Raise if a libsbml call failed (setters return codes, parsers None)."""
        if code is None or (isinstance(code, int) and code != self.sbml.LIBSBML_OPERATION_SUCCESS):
            message = self.sbml.OperationReturnValue_toString(code) if isinstance(code, int) else "no result"
            raise RuntimeError(f"to_sbml: libsbml could not {what} ({message}); please report this as a bug")
        return code

    def set(self, element, what: str, **attributes):
        """`element.setName(value)` for every `Name=value`, each return code checked."""
        for attribute, value in attributes.items():
            self.ok(getattr(element, f"set{attribute}")(value), f"set the {attribute} of {what} to {value!r}")

    def math(self, formula: str):
        return self.ok(self.sbml.parseL3Formula(formula), f"parse the formula {formula!r}")

    def parameter(self, pid: str, value, units: str, name: str, *, sbo: int = _RATE, constant: bool = True):
        """A global parameter; `value` None for one set by an assignment rule."""
        p = self.model.createParameter()
        self.set(p, f"parameter {pid}", Id=pid, Name=name, Units=units, Constant=constant, SBOTerm=sbo)
        if value is not None:
            self.set(p, f"parameter {pid}", Value=float(value))

    def species(self, sid: str, name: str, sbo: int, *, initial: str | None = "0"):
        """A species in amounts starting at `initial`: "0", a formula of parameters (an initial
        assignment), or None for a species set by an assignment rule (a boundary species: the
        reactions that list it do not change it)."""
        s = self.model.createSpecies()
        attributes = dict(Id=sid, Name=name, Compartment="cell", HasOnlySubstanceUnits=True, SubstanceUnits="item")
        self.set(s, f"species {sid}", **attributes, BoundaryCondition=initial is None, Constant=False, SBOTerm=sbo)
        if initial == "0":
            self.set(s, f"species {sid}", InitialAmount=0.0)
        elif initial is not None:
            self.assign(sid, initial, initial=True)

    def assign(self, variable: str, formula: str, *, initial: bool = False):
        """An assignment rule (or, with `initial`, an initial assignment) `variable = formula`."""
        if initial:
            self.set(self.model.createInitialAssignment(), variable, Symbol=variable, Math=self.math(formula))
        else:
            self.set(self.model.createAssignmentRule(), variable, Variable=variable, Math=self.math(formula))

    def reaction(self, rid: str, reactants, products, law: str, sbo: int | None = None, modifiers=()):
        """An irreversible reaction (stoichiometries 1) with kinetic law `law` (items per second)."""
        r = self.model.createReaction()
        self.set(r, f"reaction {rid}", Id=rid, Reversible=False, **({} if sbo is None else {"SBOTerm": sbo}))
        for add, ids in ((r.createReactant, reactants), (r.createProduct, products)):
            for sid in ids:
                self.set(add(), f"{sid} in {rid}", Species=sid, Stoichiometry=1.0, Constant=True)
        for sid in modifiers:
            self.set(r.createModifier(), f"modifier {sid} of {rid}", Species=sid)
        self.set(r.createKineticLaw(), f"the kinetic law of {rid}", Math=self.math(law))

    def finish(self) -> str:
        """The document as a string, after libsbml's consistency checks (errors raise)."""
        self.doc.checkInternalConsistency()
        self.doc.checkConsistency()
        log = self.doc.getErrorLog()
        errors = [log.getError(k) for k in range(log.getNumErrors())]
        errors = [e for e in errors if e.getSeverity() >= self.sbml.LIBSBML_SEV_ERROR]
        if errors:
            found = "; ".join(f"{e.getErrorId()}: {e.getShortMessage()} ({e.getMessage().strip()})" for e in errors)
            raise RuntimeError(
                f"to_sbml: the SBML document fails libsbml's checks: {found}; please report this as a bug"
            )
        return self.sbml.writeSBMLToString(self.doc)


def _value(model, name: str) -> float:
    """A parameter of `model` as a Python float (one model, not a stacked batch)."""
    value = getattr(model, name)
    if np.ndim(value) != 0:
        raise ValueError(
            f"{type(model).__name__}: {name} has shape {np.shape(value)}, a stacked batch of models: "
            f"to_sbml writes one model, so export each model of the batch on its own"
        )
    return float(value)


def _rates(w: _Writer, model, rates) -> None:
    """Global parameters named after the model's fields: (field, units, description) triples."""
    for field, units, name in rates:
        w.parameter(field, _value(model, field), units, name, sbo=_RATE if "per" in units else _QUANTITY)


def _cascade(w: _Writer, model, tau, amount, forward, backward=None) -> None:
    """Receptors, ligands and complexes, and per ligand i: binding, the proofreading steps
    C_i_n → C_i_{n+1} at `forward(n)` (a (rate, modifiers) pair), the steps back at `backward`
    (SHP-1), unbinding of every C_i_n at 1/tau_i; `output` = Σ_i C_i_N; `threshold`."""
    N, excess, count = model.N, model.ligand_excess, len(tau)
    _rates(w, model, [("kappa", "per_item_per_second", "κ, binding rate")])
    w.parameter("R_T", _value(model, "receptors"), "item", "R_T, receptors per cell", sbo=_QUANTITY)
    w.species("R", "free receptors, R_T − Σ C (rule)", 252, initial=None)
    w.assign("R", "R_T - (" + " + ".join(f"C_{i}_{n}" for i in range(count) for n in range(N + 1)) + ")")
    for i, (t, amt) in enumerate(zip(tau, amount)):
        C = [f"C_{i}_{n}" for n in range(N + 1)]
        w.parameter(f"L_{i}", amt, "item", f"L_{i}, amount of ligand {i}", sbo=_QUANTITY)
        w.parameter(f"tau_{i}", t, "second", f"τ_{i}, binding time of ligand {i}", sbo=_QUANTITY)
        state = "in excess, not depleted" if excess else f"free, L_{i} − Σ_n C_{i},n"
        w.species(f"Lfree_{i}", f"ligand {i} ({state}; rule)", 240, initial=None)
        w.assign(f"Lfree_{i}", f"L_{i}" if excess else f"L_{i} - (" + " + ".join(C) + ")")
        for n, c in enumerate(C):
            w.species(c, f"C_{i},{n}: ligand {i} bound, {n} proofreading steps done", 253)
        w.reaction(f"bind_{i}", [f"Lfree_{i}", "R"], [C[0]], f"kappa * Lfree_{i} * R", 177)
        for n in range(N):
            rate, modifiers = forward(n)
            w.reaction(f"phos_{i}_{n}", [C[n]], [C[n + 1]], f"{rate} * {C[n]}", 216, modifiers)
            if backward is not None:
                rate, modifiers = backward
                w.reaction(f"dephos_{i}_{n + 1}", [C[n + 1]], [C[n]], f"{rate} * {C[n + 1]}", 330, modifiers)
        for n, c in enumerate(C):
            w.reaction(f"unbind_{i}_{n}", [c], [f"Lfree_{i}", "R"], f"{c} / tau_{i}", 180)
    w.parameter("threshold", _value(model, "threshold"), "item", "decision threshold on the output", sbo=_QUANTITY)
    w.parameter("output", None, "item", "output Σ_i C_i,N", sbo=_QUANTITY, constant=False)
    w.assign("output", " + ".join(f"C_{i}_{N}" for i in range(count)))


def _feedback_sum(w: _Writer, model, count: int, what: str) -> list[str]:
    """X = Σ_i C_i_m, the complexes that drive the feedback (a parameter set by a rule)."""
    complexes = [f"C_{i}_{model.m}" for i in range(count)]
    w.parameter("X", None, "item", f"X = Σ_i C_i,{model.m}, the complexes that {what}", sbo=_QUANTITY, constant=False)
    w.assign("X", " + ".join(complexes))
    return complexes


def _kinetic_proofreading(w: _Writer, model: KineticProofreading, tau, amount) -> None:
    _rates(w, model, [("phi", "per_second", "φ, phosphorylation rate")])
    _cascade(w, model, tau, amount, lambda n: ("phi", ()))


def _shp1_feedback(w: _Writer, model: SHP1Feedback, tau, amount) -> None:
    _rates(
        w,
        model,
        [
            ("phi", "per_second", "φ, phosphorylation rate"),
            ("b", "per_second", "b, basal dephosphorylation rate"),
            ("gamma", "per_item_per_second", "γ, dephosphorylation rate per active SHP-1"),
            ("S_T", "item", "S_T, total SHP-1"),
            ("C_star", "item", "C*, SHP-1 activation constant"),
        ],
    )
    _feedback_sum(w, model, len(tau), "activate SHP-1")
    w.species("S", "active SHP-1 (quasi-steady)", 252, initial=None)
    w.assign("S", "S_T * X / (X + C_star)")
    _cascade(w, model, tau, amount, lambda n: ("phi", ()), ("(b + gamma * S)", ("S",)))


def _kinase_feedback(w: _Writer, model: KinaseFeedback, tau, amount) -> None:
    _rates(
        w,
        model,
        [
            ("phi", "per_second", "φ, phosphorylation rate"),
            ("alpha", "per_item_per_second", "α, catalytic rate of the kinase on the last step"),
            ("K_tot", "item", "K_tot, total kinase"),
            ("epsilon", "per_second", "ε, kinase reactivation rate"),
            ("delta", "per_item_per_second", "δ, kinase inactivation rate per complex C_m"),
            ("tau_c", "second", "τ_c, critical binding time of the T_{N+1,m+1} limit"),
        ],
    )
    complexes = _feedback_sum(w, model, len(tau), "inactivate the kinase")
    w.species("K", "active kinase", 252, initial="K_tot")
    w.reaction("kinase_inactivation", ["K"], [], "delta * X * K", None, complexes)
    w.reaction("kinase_reactivation", [], ["K"], "epsilon * (K_tot - K)")
    N, m = model.N, model.m
    _cascade(w, model, tau, amount, lambda n: ("phi", ()) if n < N - 1 else ("alpha * K", ("K",)))
    w.assign("threshold", f"alpha * epsilon * K_tot * phi^{N - 1 - m} * tau_c^{N - m} / delta", initial=True)


_EXPORTERS = {
    KineticProofreading: (_kinetic_proofreading, "kinetic proofreading, McKeithan, PNAS 92:5042 (1995)"),
    SHP1Feedback: (_shp1_feedback, "kinetic proofreading with SHP-1 feedback, François et al., PNAS 110:E888 (2013)"),
    KinaseFeedback: (
        _kinase_feedback,
        "adaptive sorting by kinase feedback, Lalanne & François, PRL 110:218102 (2013)",
    ),
}


def to_sbml(model, ligands: Ligands, path: str | Path | None = None) -> str:
    """The ODE cell model `model` with ligand distribution `ligands` as an SBML L3V2 document.

    **Arguments:**
    - `model`: a `KineticProofreading`, `SHP1Feedback` or `KinaseFeedback` built inside
      `with jax.enable_x64(True):` (float64 rates).
    - `ligands`: one distribution (1-D, every τ > 0, some L > 0); it fixes the number of ligand
      types, whose amounts and binding times become the parameters `L_{i}`, `tau_{i}`.
    - `path`: if given, the document is also written there.

    **Returns:** the SBML text, checked with libsbml's consistency checks (see the module
    docstring for its species, reactions and names). Its steady state and its `output` are
    `steady_state(model, ligands)`'s; its time course from the initial state is `time_course`'s.
    """
    exporter = next((e for kind, e in _EXPORTERS.items() if isinstance(model, kind)), None)
    if exporter is None:
        known = ", ".join(kind.__name__ for kind in _EXPORTERS)
        raise TypeError(
            f"to_sbml cannot export a {type(model).__name__}: it writes the ODE cell models {known}; "
            f"closed-form models (such as AdaptiveProofreading) have no reaction network to export"
        )
    require_float64_parameters(model)
    with jax.enable_x64(True):
        checked = _checked_ligands(model, ligands)
    tau, amount = (np.asarray(leaf, np.float64).tolist() for leaf in (checked.tau, checked.amount))
    build, source = exporter
    options = ", ".join(f"{k}={getattr(model, k)!r}" for k in ("N", "m", "ligand_excess") if hasattr(model, k))
    w = _Writer(
        type(model).__name__,
        f"adprf {type(model).__name__}({options}) with {len(tau)} ligand types: {source}. Species are amounts "
        f"(molecules per cell) in the unit-volume compartment cell; time in seconds. The cell responds iff "
        f"output = Σ_i C_i,N exceeds threshold.",
    )
    build(w, model, tau, amount)
    text = w.finish()
    if path is not None:
        Path(path).write_text(text)
    return text
