"""Reading SBML with libsbml: validation, normalisation to SBML Level 3 Version 2, refusals,
and the model's parts as SymPy expressions (`Parts`), before `SBMLNetwork` compiles them.

**Normalisation.** The document is validated (libsbml's consistency checks, units excepted:
adprf does no unit conversion), hierarchical models (`comp`) are flattened, the document is
converted to SBML Level 3 Version 2, local parameters are promoted to global ones (libsbml names
them `<reaction id>_<parameter id>`) and function definitions are expanded (SBML L3V2 §4.3).

**Refused**, with the construct and the element's id: events (§4.12), algebraic rules
(§4.11.4), fast reactions, stoichiometry math and variable stoichiometries (§4.11.7),
rules on compartments (a size that changes in time), conversion factors, constraints, delays
and `rateOf` (in `_sbml_math`), required SBML packages other than `comp`, reactions without a
kinetic law, and quantities without a value. Nothing is dropped silently.
"""

import dataclasses
from pathlib import Path

import libsbml
import sympy as sp

from ._sbml_math import SBMLError, to_sympy

_SHOWN = 8  # errors listed in a message


def _errors(doc: libsbml.SBMLDocument, origin: str, stage: str) -> None:
    """Raise an `SBMLError` listing libsbml's errors (with line numbers), if any."""
    errors = [doc.getError(i) for i in range(doc.getNumErrors())]
    errors = [e for e in errors if e.getSeverity() >= libsbml.LIBSBML_SEV_ERROR]
    if errors:
        lines = [f"  line {e.getLine()}: {e.getMessage().strip()}" for e in errors[:_SHOWN]]
        more = f"\n  … and {len(errors) - _SHOWN} more" if len(errors) > _SHOWN else ""
        raise SBMLError(
            f"{origin} is not valid SBML ({len(errors)} error(s) found by libsbml while {stage}):\n"
            + "\n".join(lines)
            + more
            + "\nfix the document (e.g. with libsbml's or sbml.org's validator)"
        )


def _convert(doc: libsbml.SBMLDocument, option: str, origin: str) -> None:
    properties = libsbml.ConversionProperties()
    properties.addOption(option, True)
    if doc.convert(properties) != libsbml.LIBSBML_OPERATION_SUCCESS:
        _errors(doc, origin, f"applying libsbml's converter {option!r}")
        raise SBMLError(f"{origin}: libsbml's converter {option!r} failed; simplify the model")


def load(source: str | Path) -> tuple[libsbml.SBMLDocument, str]:
    """A validated SBML Level 3 Version 2 document from a path or an SBML string, and the
    source in words (for messages)."""
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("<")):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"read_sbml: no SBML file at {str(path)!r}: pass a path, or the SBML text itself")
        doc, origin = libsbml.readSBMLFromFile(str(path)), path.name
    elif isinstance(source, str):
        doc, origin = libsbml.readSBMLFromString(source), "the SBML string"
    else:
        raise TypeError(f"read_sbml takes a path or an SBML string, got {type(source).__name__}")
    _errors(doc, origin, "reading")
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_UNITS_CONSISTENCY, False)
    doc.setConsistencyChecks(libsbml.LIBSBML_CAT_MODELING_PRACTICE, False)
    doc.checkConsistency()
    _errors(doc, origin, "validating")
    if doc.getModel() is None:
        raise SBMLError(f"{origin} holds no <model>: add one")
    if doc.isPackageEnabled("comp"):
        _convert(doc, "flatten comp", origin)
    for i in range(doc.getNumPlugins()):
        package = doc.getPlugin(i).getPackageName()
        if doc.getLevel() == 3 and package not in ("l3v2extendedmath", "comp") and doc.getPackageRequired(package):
            raise SBMLError(f"{origin} requires the SBML package {package!r}, which adprf does not support")
    _refuse_before_conversion(doc.getModel(), origin)
    if not doc.setLevelAndVersion(3, 2, False):
        _errors(doc, origin, "converting to SBML Level 3 Version 2")
        raise SBMLError(f"{origin}: libsbml could not convert it to SBML Level 3 Version 2")
    _convert(doc, "promoteLocalParameters", origin)
    _convert(doc, "expandFunctionDefinitions", origin)
    return doc, origin


def _refuse_before_conversion(model: libsbml.Model, origin: str) -> None:
    """The constructs that the conversion to Level 3 Version 2 would rewrite or drop."""
    for reaction in model.getListOfReactions():
        if reaction.isSetFast() and reaction.getFast():
            raise SBMLError(
                f"{origin}: reaction {reaction.getId()!r} is fast (fast='true'), a quasi-steady-state "
                f"constraint that adprf does not support; set fast='false' or eliminate it by hand"
            )
        for reference in [*reaction.getListOfReactants(), *reaction.getListOfProducts()]:
            if reference.isSetStoichiometryMath():
                raise SBMLError(
                    f"{origin}: reaction {reaction.getId()!r} gives species {reference.getSpecies()!r} "
                    f"stoichiometry math (a variable stoichiometry), which adprf does not support; use a number"
                )


@dataclasses.dataclass
class Parts:
    """A model's parts as SymPy, before compilation (ids in model order)."""

    compartments: list[str]
    species: list[str]
    parameters: list[str]
    reactions: list[str]
    compartment_of: dict[str, str]
    amount_species: set[str]  # hasOnlySubstanceUnits: the id is an amount (else a concentration)
    written_as_amount: set[str]  # species whose initial value is an initialAmount
    value: dict[str, float]  # the numbers written in the SBML (sizes, initial values, values)
    boundary: set[str]  # boundary or constant species: reactions do not change them
    initial_assignments: dict[str, sp.Basic]
    assignment_rules: dict[str, sp.Basic]
    rate_rules: dict[str, sp.Basic]
    rates: dict[str, sp.Basic]  # kinetic laws
    stoichiometry: dict[tuple[str, str], sp.Rational]  # (species, reaction) → net stoichiometry
    reference_ids: dict[sp.Symbol, sp.Basic]  # species references' ids → their stoichiometry


def _refuse(model: libsbml.Model, origin: str) -> None:
    """Events, algebraic rules, constraints and conversion factors."""
    if model.getNumEvents():
        ids = [model.getEvent(i).getId() or f"#{i}" for i in range(model.getNumEvents())]
        raise SBMLError(
            f"{origin} has events {ids} (discontinuous changes, SBML L3V2 §4.12), which adprf does not "
            f"support: remove them, or model the switch with a smooth rate"
        )
    for rule in model.getListOfRules():
        if rule.isAlgebraic():
            raise SBMLError(
                f"{origin} has an algebraic rule ({libsbml.formulaToL3String(rule.getMath())} = 0, SBML "
                f"L3V2 §4.11.4), which adprf does not support: rewrite it as an assignment rule"
            )
    if model.getNumConstraints():
        raise SBMLError(f"{origin} has constraints, which adprf does not check: remove them")
    if model.isSetConversionFactor():
        raise SBMLError(f"{origin}: the model's conversionFactor is not supported; fold it into the rate laws")
    for species in model.getListOfSpecies():
        if species.isSetConversionFactor():
            raise SBMLError(
                f"{origin}: species {species.getId()!r} has a conversionFactor, which adprf does not support"
            )


def _written(element, attributes: tuple[str, ...], origin: str, defined: set[str]) -> tuple[str, float | None]:
    """(attribute, value) of the first of `attributes` (e.g. "InitialAmount") that the element
    sets, or (None, None) when an initial assignment or assignment rule defines it instead."""
    for attribute in attributes:
        if getattr(element, f"isSet{attribute}")():
            return attribute, float(getattr(element, f"get{attribute}")())
    if element.getId() in defined:
        return "", None
    raise SBMLError(
        f"{origin}: {element.getElementName()} {element.getId()!r} has no "
        f"{' or '.join(a[0].lower() + a[1:] for a in attributes)}, initial assignment or rule: give it a value"
    )


def _rules(model: libsbml.Model, origin: str) -> tuple[dict, dict, dict]:
    """(initial assignments, assignment rules, rate rules) as {target id: SymPy expression}."""
    initial = {
        a.getSymbol(): to_sympy(a.getMath(), f"{origin}: the initial assignment to {a.getSymbol()!r}")
        for a in model.getListOfInitialAssignments()
    }
    assignment, rate = {}, {}
    for rule in model.getListOfRules():
        kind = "assignment" if rule.isAssignment() else "rate"
        target = rule.getVariable()
        (assignment if rule.isAssignment() else rate)[target] = to_sympy(
            rule.getMath(), f"{origin}: the {kind} rule for {target!r}"
        )
        if model.getCompartment(target) is not None:
            raise SBMLError(
                f"{origin}: compartment {target!r} has a {kind} rule (a size that changes in time), which "
                f"adprf does not support: give it a constant size"
            )
    return initial, assignment, rate


def _reactions(model: libsbml.Model, origin: str, targets: set[str]) -> tuple[dict, dict, dict]:
    """(kinetic laws, net stoichiometries, species references' ids → stoichiometry)."""
    rates, stoichiometry, references = {}, {}, {}
    for reaction in model.getListOfReactions():
        rid = reaction.getId()
        law = reaction.getKineticLaw()
        if law is None or not law.isSetMath():
            raise SBMLError(f"{origin}: reaction {rid!r} has no kinetic law: give it a rate formula")
        rates[rid] = to_sympy(law.getMath(), f"{origin}: the kinetic law of reaction {rid!r}")
        for sign, listed in ((-1, reaction.getListOfReactants()), (1, reaction.getListOfProducts())):
            for reference in listed:
                if reference.isSetId() and reference.getId() in targets:
                    raise SBMLError(
                        f"{origin}: reaction {rid!r}: the stoichiometry {reference.getId()!r} is set by a rule or "
                        f"initial assignment (a variable stoichiometry), which adprf does not support"
                    )
                if not reference.isSetStoichiometry():
                    raise SBMLError(
                        f"{origin}: reaction {rid!r} gives species {reference.getSpecies()!r} no stoichiometry"
                    )
                number = sp.nsimplify(reference.getStoichiometry(), rational=True)
                key = (reference.getSpecies(), rid)
                stoichiometry[key] = stoichiometry.get(key, 0) + sign * number
                if reference.isSetId():
                    references[sp.Symbol(reference.getId())] = number
    return rates, stoichiometry, references


def parts(doc: libsbml.SBMLDocument, origin: str) -> Parts:
    """The model's parts, after the refusals."""
    model = doc.getModel()
    if model is None:
        raise SBMLError(f"{origin} holds no <model>: add one")
    _refuse(model, origin)
    initial, assignment, rate = _rules(model, origin)
    defined = set(initial) | set(assignment)
    rates, stoichiometry, references = _reactions(model, origin, defined | set(rate))
    value, compartment_of, amount_species, written_as_amount, boundary = {}, {}, set(), set(), set()
    for compartment in model.getListOfCompartments():
        value[compartment.getId()] = _written(compartment, ("Size",), origin, defined)[1]
    for species in model.getListOfSpecies():
        sid = species.getId()
        written, value[sid] = _written(species, ("InitialConcentration", "InitialAmount"), origin, defined)
        compartment_of[sid] = species.getCompartment()
        if species.getHasOnlySubstanceUnits():
            amount_species.add(sid)
        if written == "InitialAmount":
            written_as_amount.add(sid)
        if species.getBoundaryCondition() or species.getConstant():
            boundary.add(sid)
    for parameter in model.getListOfParameters():
        value[parameter.getId()] = _written(parameter, ("Value",), origin, defined)[1]
    return Parts(
        compartments=[c.getId() for c in model.getListOfCompartments()],
        species=[s.getId() for s in model.getListOfSpecies()],
        parameters=[p.getId() for p in model.getListOfParameters()],
        reactions=list(rates),
        compartment_of=compartment_of,
        amount_species=amount_species,
        written_as_amount=written_as_amount,
        value={k: v for k, v in value.items() if v is not None},
        boundary=boundary,
        initial_assignments=initial,
        assignment_rules=assignment,
        rate_rules=rate,
        rates=rates,
        stoichiometry=stoichiometry,
        reference_ids=references,
    )
