"""Export then import: the built-in ODE cell models written to SBML (`to_sbml`) and read back as
`SBMLCell`s have the built-in models' steady states and gradients (their closed forms, an
independent route), and a Newton root with a negative species is reported, never returned."""

import jax
import numpy as np
import pytest

from adprf import RESULTS, Ligands
from adprf.cells import KinaseFeedback, KineticProofreading, SHP1Feedback, from_sbml, steady_state, to_sbml

MIXTURE = ([0.5, 5.0], [1e4, 300.0])  # self ligands and agonists
MODELS = {
    "kpr": lambda: KineticProofreading(),
    "shp1": lambda: SHP1Feedback(),
    "kinase": lambda: KinaseFeedback(3, 1),
}


def _imported(model, ligands: Ligands, **options):
    slots = [{"amount": f"L_{i}", "tau": f"tau_{i}"} for i in range(ligands.tau.size)]
    return from_sbml(to_sbml(model, ligands), ligands=slots, output="output", threshold=model.threshold, **options)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("solver", ["newton", "ode"])
def test_round_trip_keeps_steady_state_and_gradient(name, solver):
    with jax.enable_x64(True):
        model, ligands = MODELS[name](), Ligands.of(*MIXTURE)
        cell = _imported(model, ligands, solver=solver)
        value, grad = jax.value_and_grad(lambda lig: cell(lig))(ligands)
        expected, expected_grad = jax.value_and_grad(lambda lig: model(lig))(ligands)  # the closed form
        moved = Ligands.of([0.8, 4.0], [2e4, 500.0])  # other ligands through the same imported network
        np.testing.assert_allclose(cell(moved), model(moved), rtol=1e-6)
        assert float(cell.threshold) == pytest.approx(float(model.threshold), rel=1e-12)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(grad.tau, expected_grad.tau, rtol=1e-5)
    np.testing.assert_allclose(grad.amount, expected_grad.amount, rtol=1e-5)


def test_newton_root_with_negative_species_is_reported_not_returned():
    """Started from the estimate u = 1 (what a `scale=` hint asks for) rather than after continuation
    from the initial state, Newton meets a root of SHP-1's equations with negative free receptors and
    ligands (set by assignment rules, not state variables): `RESULTS.unphysical`, NaN output."""
    with jax.enable_x64(True):
        model, ligands = SHP1Feedback(), Ligands.of(*MIXTURE)
        estimate = float(_imported(model, ligands).scale(ligands)[0])
        hinted = _imported(model, ligands, scale={"C_0_0": estimate})
        solution = steady_state(hinted, ligands, method="newton", throw=False)
        observed = hinted.observe(solution.state, ligands)
        assert solution.result == RESULTS.unphysical and np.isnan(solution.output)
        assert float(observed["R"]) < 0  # the root Newton found: not a cell's state
        with pytest.raises(Exception, match="unphysical root"):
            hinted(ligands)
        for options in ({}, {"solver": "ode"}):  # the default: continuation, then Newton; and the ODE
            np.testing.assert_allclose(_imported(model, ligands, **options)(ligands), model(ligands), rtol=1e-6)
