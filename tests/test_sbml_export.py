"""`to_sbml` against libRoadRunner, an independent simulator of the exported documents: their
steady states, outputs and time courses are adprf's (relative 1e-6), they pass libsbml's
consistency checks (units included), and they keep the names the SBML importer reads."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._ligands import Ligands
from adprf.cells import (
    AdaptiveProofreading,
    KinaseFeedback,
    KineticProofreading,
    SHP1Feedback,
    steady_state,
    time_course,
    to_sbml,
)

roadrunner = pytest.importorskip("roadrunner", reason="libRoadRunner is the oracle here: pip install adprf[test]")
import libsbml  # noqa: E402  (after the oracle check)

SELF_AGONIST = ([0.1, 0.3, 0.6, 3.5, 3.7], [1e4, 1e4, 1e4, 300.0, 100.0])  # self ligands + a few agonists
CROWDED = ([1.5, 4.0], [3e4, 2e4])  # more ligand than receptors: depletion matters
SINGLE = ([4.0], [1e4])
CASES = {  # id: (model factory, run inside jax.enable_x64; ligands)
    "kpr": (lambda: KineticProofreading(), SELF_AGONIST),
    "kpr-excess": (lambda: KineticProofreading(N=3, phi=0.3, kappa=3e-5, receptors=1e4, ligand_excess=True), CROWDED),
    "kpr-crowded": (lambda: KineticProofreading(N=2, kappa=1e-3), CROWDED),
    "shp1": (lambda: SHP1Feedback(), SELF_AGONIST),
    "shp1-excess": (lambda: SHP1Feedback(N=4, m=2, b=0.1, gamma=5e-6, ligand_excess=True), CROWDED),
    "shp1-crowded": (lambda: SHP1Feedback(N=3, m=3), CROWDED),
    "kinase": (lambda: KinaseFeedback(3, 1), SELF_AGONIST),
    "kinase-excess": (lambda: KinaseFeedback(4, 3, ligand_excess=True), CROWDED),
    "kinase-single": (lambda: KinaseFeedback(1, 0, kappa=1e-5), SINGLE),
}
TIMES = np.array([0.0, 0.5, 2.0, 10.0, 60.0])  # seconds; row 0 is the unbound state


def _build(case: str):
    """The model and ligands of a case, in float64."""
    factory, (tau, amount) = CASES[case]
    return factory(), Ligands.of(tau, amount)


def _state(model, state, ligands: Ligands) -> dict[str, np.ndarray]:
    """adprf's state (leaves with any leading axes) under the exported species ids, R, Lfree_i and
    S from the model's conservations and quasi-steady phosphatase."""
    C = np.asarray(state[0] if isinstance(model, KinaseFeedback) else state)
    tau, amount = np.asarray(ligands.tau), np.asarray(ligands.amount)
    values = {f"C_{i}_{n}": C[..., i, n] for i in range(tau.size) for n in range(model.N + 1)}
    values["R"] = float(model.receptors) - C.sum(axis=(-2, -1))
    for i in range(tau.size):
        values[f"Lfree_{i}"] = (
            np.full(C.shape[:-2], amount[i]) if model.ligand_excess else amount[i] - C[..., i, :].sum(-1)
        )
    if isinstance(model, KinaseFeedback):
        values["K"] = np.asarray(state[1])
    if isinstance(model, SHP1Feedback):
        x = C[..., model.m].sum(-1)
        values["S"] = float(model.S_T) * x / (x + float(model.C_star))
    return values


def _relative(got, expected) -> float:
    return float(np.max(np.abs(np.asarray(got) - expected) / np.abs(expected)))


@pytest.mark.parametrize("case", CASES)
def test_steady_state_matches_roadrunner(case):
    """libRoadRunner's steady state (NLEQ2, its default relative tolerance 1e-12) is adprf's closed
    form, species by species, and so is `output`. NLEQ2 scales its convergence test by its
    starting point, the unbound state (K = K_tot): a second solve, from the first's result,
    resolves the variables that end far below their start, such as the inhibited kinase."""
    with jax.enable_x64(True):
        model, ligands = _build(case)
        solution = steady_state(model, ligands)
        rr = roadrunner.RoadRunner(to_sbml(model, ligands))
        expected = _state(model, solution.state, ligands)
        threshold = float(model.threshold)
    rr.steadyState(), rr.steadyState()
    assert _relative(rr["output"], float(solution.output)) < 1e-6
    assert rr["threshold"] == pytest.approx(threshold, rel=1e-14)
    for name, value in expected.items():
        assert _relative(rr[name], value) < 1e-6, f"{case}: species {name} is {rr[name]}, adprf {value}"


@pytest.mark.parametrize("case", ["kpr", "shp1-crowded", "kinase"])
def test_time_course_matches_roadrunner(case):
    """CVODE (BDF, relative tolerance 1e-12, absolute 1e-20 molecules) from the unbound state
    against adprf's `time_course` (Kvaerno5, rtol 1e-10): every species and `output` at 0.5 s
    to 60 s, the transient through the feedback."""
    with jax.enable_x64(True):
        model, ligands = _build(case)
        states, outputs = time_course(model, ligands, TIMES, rtol=1e-10, atol=1e-12)
        rr = roadrunner.RoadRunner(to_sbml(model, ligands))
        expected = _state(model, states, ligands)
    rr.integrator.relative_tolerance, rr.integrator.absolute_tolerance = 1e-12, 1e-20
    rr.integrator.maximum_num_steps = 100_000
    names = list(expected)
    result = rr.simulate(times=TIMES, selections=["time", "output", *names])
    np.testing.assert_allclose(result["time"], TIMES)
    assert _relative(result["output"][1:], np.asarray(outputs)[1:]) < 1e-6
    for name in names:
        got, want = result[name], expected[name]
        np.testing.assert_allclose(got[0], want[0], atol=1e-12, err_msg=f"{case}: initial {name}")
        assert _relative(got[1:], want[1:]) < 1e-6, f"{case}: {name} over time: {got}, adprf {want}"


@pytest.mark.parametrize("case", ["shp1", "kpr-excess"])
def test_ligand_parameters_drive_the_network(case):
    """L_i and tau_i are live parameters: changed in libRoadRunner, the steady state follows adprf's
    for the changed ligands (free ligand and receptors are rules, no initial value to reset)."""
    with jax.enable_x64(True):
        model, ligands = _build(case)
        rr = roadrunner.RoadRunner(to_sbml(model, ligands))
        changed = Ligands(ligands.tau.at[1].set(5.0), ligands.amount.at[0].set(3e4))
        expected = float(steady_state(model, changed).output)
    rr["tau_1"], rr["L_0"] = 5.0, 3e4
    rr.steadyState(), rr.steadyState()
    assert _relative(rr["output"], expected) < 1e-6


def _issues(text: str) -> list[str]:
    """libsbml's findings on a document (every check category, units included), as text."""
    doc = libsbml.readSBMLFromString(text)
    doc.checkConsistency()
    found = [doc.getError(k) for k in range(doc.getNumErrors())]
    return [f"{e.getSeverityAsString()} {e.getErrorId()}: {e.getMessage().strip()}" for e in found]


@pytest.mark.parametrize("case", ["kpr-excess", "shp1", "kinase"])
def test_document_is_valid_and_keeps_the_names(case, tmp_path):
    """SBML L3V2 without a single libsbml warning; the importer's names: L_{i} and tau_{i} hold the
    ligands, unbinding runs at 1/tau_{i}, `output` is Σ_i C_{i}_{N} (rule), `threshold` constant."""
    with jax.enable_x64(True):
        model, ligands = _build(case)
        text = to_sbml(model, ligands, path=tmp_path / "cell.xml")
        threshold = float(model.threshold)
    assert (tmp_path / "cell.xml").read_text() == text
    assert _issues(text) == []
    doc = libsbml.readSBMLFromString(text)
    sbml = doc.getModel()
    assert (doc.getLevel(), doc.getVersion(), sbml.getId()) == (3, 2, type(model).__name__)
    count, N = ligands.tau.size, model.N
    for i in range(count):
        assert sbml.getParameter(f"L_{i}").getValue() == pytest.approx(float(ligands.amount[i]), rel=1e-14)
        assert sbml.getParameter(f"tau_{i}").getValue() == pytest.approx(float(ligands.tau[i]), rel=1e-14)
        law = sbml.getReaction(f"unbind_{i}_{N}").getKineticLaw().getMath()
        assert libsbml.formulaToL3String(law) == f"C_{i}_{N} / tau_{i}"
    output = sbml.getAssignmentRuleByVariable("output")
    assert libsbml.formulaToL3String(output.getMath()) == " + ".join(f"C_{i}_{N}" for i in range(count))
    assert not sbml.getParameter("output").getConstant()
    assert sbml.getParameter("threshold").getConstant()
    assert sbml.getParameter("threshold").getValue() == pytest.approx(threshold, rel=1e-14)
    for species in sbml.getListOfSpecies():
        assert libsbml.SyntaxChecker.isValidSBMLSId(species.getId())
        assert species.getHasOnlySubstanceUnits() and species.getCompartment() == "cell"
    assert sbml.getCompartment("cell").getSize() == 1.0


def test_refusals_name_the_problem():
    """Models without a reaction network, stacked batches, float32 rates and unbinding ligands."""
    with jax.enable_x64(True):
        ligands = Ligands.of(*SINGLE)
        with pytest.raises(TypeError, match="AdaptiveProofreading.*KineticProofreading, SHP1Feedback, KinaseFeedback"):
            to_sbml(AdaptiveProofreading(3, 1), ligands)
        stacked = eqx.tree_at(lambda m: m.phi, KineticProofreading(), jnp.array([0.05, 0.09]))
        with pytest.raises(ValueError, match="phi has shape"):
            to_sbml(stacked, ligands)
        with pytest.raises(ValueError, match="τ > 0"):
            to_sbml(KineticProofreading(), Ligands.of([0.0, 1.0], 1.0))
    float32 = KineticProofreading()
    with pytest.raises(RuntimeError, match="enable_x64"):
        to_sbml(float32, ligands)
