"""SBML and Antimony networks as differentiable cell models, checked against libRoadRunner
(steady states and time courses of its shipped test models, a two-ligand kinetic-proofreading
model with conserved receptors), central finite differences, the Newton and ODE routes against
each other, vmap against a loop, and every refusal with its message."""

import os
import subprocess
import sys

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._ligands import Ligands
from adprf.cells import (
    SBMLCell,
    SBMLError,
    SBMLResponse,
    from_antimony,
    from_sbml,
    read_antimony,
    read_sbml,
    steady_state,
    time_course,
)


def _roadrunner():
    """libRoadRunner (the test skips without it)."""
    return pytest.importorskip("roadrunner")


def _shipped(name: str) -> str:
    """A test model shipped in libRoadRunner's wheel."""
    path = os.path.join(os.path.dirname(_roadrunner().__file__), "tests", name)
    if not os.path.exists(path):
        pytest.skip(f"libRoadRunner ships no {name}")
    return path


def _rr(source: str):
    """libRoadRunner on `source` with tight tolerances (steady state 1e-15; CVODE 1e-12, 1e-14)
    and its conserved-moiety analysis, which its steady-state solver needs on closed networks."""
    rr = _roadrunner().RoadRunner(source)
    rr.conservedMoietyAnalysis = True
    rr.getSteadyStateSolver().setValue("relative_tolerance", 1e-15)
    rr.getSteadyStateSolver().setValue("maximum_iterations", 1000)
    rr.integrator.relative_tolerance = 1e-12
    rr.integrator.absolute_tolerance = 1e-14
    return rr


def _rr_steady(rr, ids: tuple[str, ...]) -> np.ndarray:
    rr.steadyState()
    return np.array([rr[f"[{i}]"] for i in ids])


def _antimony_sbml(text: str) -> str:
    """The SBML that the antimony package writes for `text` (what libRoadRunner loads)."""
    import antimony

    antimony.clearPreviousLoads()
    assert antimony.loadAntimonyString(text) >= 0, antimony.getLastError()
    return antimony.getSBMLString(antimony.getMainModuleName())


def _kpr(tau=(5.0, 1.0), amount=(3e3, 2e4)) -> str:
    """Two ligands L1, L2 binding receptors R (R_T conserved), two proofreading steps each."""
    lines = ["model kpr", "  compartment cell = 1", "  species R in cell, L1 in cell, L2 in cell"]
    for i in (1, 2):
        lines += [f"  species C{i}0 in cell, C{i}1 in cell, C{i}2 in cell", f"  bind{i}: L{i} + R -> C{i}0; kon*L{i}*R"]
        lines += [f"  step{i}{n}: C{i}{n} -> C{i}{n + 1}; phi*C{i}{n}" for n in (0, 1)]
        lines += [f"  off{i}{n}: C{i}{n} -> L{i} + R; koff{i}*C{i}{n}" for n in (0, 1, 2)]
        lines += [f"  L{i}T = {amount[i - 1]}; koff{i} = {1 / tau[i - 1]}; L{i} = L{i}T"]
        lines += [f"  C{i}{n} = 0" for n in (0, 1, 2)]
    return "\n".join([*lines, "  kon = 1e-4; phi = 0.1; RT = 1e4; R = RT", "end"])


SLOTS = [{"amount": "L1T", "off_rate": "koff1"}, {"amount": "L2T", "off_rate": "koff2"}]
LIGANDS = ([4.0, 0.5], [5e3, 1e4])


def _lig(tau, amount) -> Ligands:
    return Ligands(jnp.asarray(tau, jnp.float64), jnp.asarray(amount, jnp.float64))


@eqx.filter_jit
def _value_and_grad(cell, ligands, method):
    return jax.value_and_grad(lambda lig: steady_state(cell, lig, method=method).output)(ligands)


# file, output, input; feedback.xml oscillates: its steady state is unstable, which Newton (after
# continuation from the initial state) finds and the ODE cannot reach
SHIPPED = {
    "linearPathwayClosed.xml": ("S3", "k1"),
    "linearPathwayOpen.xml": ("S2", "k1"),
    "test_1.xml": ("S3", "k1"),
    "feedback.xml": ("S4", "J0_VM1"),
}


@pytest.mark.parametrize("name", SHIPPED)
def test_steady_states_match_roadrunner(name):
    output, parameter = SHIPPED[name]
    with jax.enable_x64(True):
        network = read_sbml(_shipped(name))
    expected = _rr_steady(_rr(_shipped(name)), network.state)
    for solver in ("newton",) if name == "feedback.xml" else ("newton", "ode"):  # the ODE: stable ones only
        with jax.enable_x64(True):
            response = SBMLResponse(network, inputs=[parameter], output=output, threshold=1.0, solver=solver)
            solution = response.steady_state(response.defaults)
            state = response.full_state(response.defaults, solution.state)
        np.testing.assert_allclose(state, expected, rtol=1e-6, atol=1e-9 * np.max(np.abs(expected)), err_msg=solver)
        np.testing.assert_allclose(solution.output, expected[network.state.index(output)], rtol=1e-6)
    if name == "linearPathwayClosed.xml":  # S1 + S2 + S3 is conserved: one species follows from the others
        # S3, which no rate reads, is the dependent one: independent, its relaxation rate would be 0
        assert network.laws == ((1.0, 1.0, 1.0),) and network.independent == ("S1", "S2")


def test_time_course_of_an_oscillator_matches_roadrunner():
    name = "feedback.xml"
    times = np.linspace(0.0, 20.0, 11)
    with jax.enable_x64(True):
        network = read_sbml(_shipped(name))
        response = SBMLResponse(network, inputs=[SHIPPED[name][1]], output=SHIPPED[name][0], threshold=1.0)
        states, outputs = response.time_course(response.defaults, times, rtol=1e-11, atol=1e-13)
    rr = _rr(_shipped(name))
    expected = rr.simulate(0.0, 20.0, 11, ["time", *(f"[{s}]" for s in network.state)])
    np.testing.assert_allclose(expected[:, 0], times)
    np.testing.assert_allclose(states, expected[:, 1:], rtol=1e-6, atol=1e-9 * np.max(np.abs(expected[:, 1:])))
    np.testing.assert_allclose(outputs, states[:, network.state.index(SHIPPED[name][0])])


def test_kinetic_proofreading_matches_roadrunner_and_finite_differences():
    with jax.enable_x64(True):
        cell = from_antimony(_kpr(), ligands=SLOTS, output="C12 + C22", threshold=100.0)
        lig = _lig(*LIGANDS)
        value, grad = _value_and_grad(cell, lig, "newton")
        ode_value, ode_grad = _value_and_grad(cell, lig, "ode")
        assert cell.network.independent == ("C10", "C11", "C12", "C20", "C21", "C22")  # R, L1, L2 conserved
        # central finite differences (float64, relative step 1e-6)
        for leaf in ("tau", "amount"):
            for i in (0, 1):
                x = getattr(lig, leaf)
                h = 1e-6 * float(x[i])
                plus = eqx.tree_at(lambda l: getattr(l, leaf), lig, x.at[i].add(h))
                minus = eqx.tree_at(lambda l: getattr(l, leaf), lig, x.at[i].add(-h))
                fd = (_value_and_grad(cell, plus, "newton")[0] - _value_and_grad(cell, minus, "newton")[0]) / (2 * h)
                np.testing.assert_allclose(getattr(grad, leaf)[i], fd, rtol=1e-5, atol=1e-9 * abs(value) / h)
    rr = _rr(_antimony_sbml(_kpr(*LIGANDS)))
    expected = _rr_steady(rr, ("C12", "C22")).sum()
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    np.testing.assert_allclose(ode_value, value, rtol=1e-8)
    np.testing.assert_allclose(ode_grad.tau, grad.tau, rtol=1e-6)
    np.testing.assert_allclose(ode_grad.amount, grad.amount, rtol=1e-6)


def test_vmap_over_ligand_distributions_equals_the_loop_and_time_course():
    batch = ([[4.0, 0.5], [2.0, 1.0], [8.0, 0.1]], [[5e3, 1e4], [1e3, 3e4], [2e4, 2e3]])
    with jax.enable_x64(True):
        cell = from_sbml(_antimony_sbml(_kpr()), ligands=SLOTS, output="C12 + C22", threshold=100.0)
        outputs = eqx.filter_jit(lambda b: jax.vmap(cell)(b))(_lig(*batch))
        loop = [_value_and_grad(cell, _lig(t, a), cell.solver)[0] for t, a in zip(*batch)]
        np.testing.assert_allclose(outputs, loop, rtol=1e-12)
        times = np.array([0.0, 5.0, 50.0])
        states, course = time_course(cell, _lig(*LIGANDS), times, rtol=1e-10, atol=1e-12)
        full = jax.vmap(cell.full_state, in_axes=(0, None))(states, _lig(*LIGANDS))
    rr = _rr(_antimony_sbml(_kpr(*LIGANDS)))
    expected = rr.simulate(0.0, 50.0, 11, ["time", *(f"[{s}]" for s in cell.network.state)])[[0, 1, 10], 1:]
    np.testing.assert_allclose(full, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(course, np.asarray(full)[:, [5, 8]].sum(axis=1))


def _output_and_state(response):
    def solve(x):
        solution = response.steady_state(x)
        return solution.output, solution.state

    return solve


SEMANTICS = """
function hill(x, K, n)
  x^n/(K^n + x^n)
end
model semantics
  compartment big = 2, small = 0.5
  species A in big, B in small, P in big
  substanceOnly species S in small
  J1: A -> B; kf*hill(A, K, 2)*big
  J2: B -> A + S; kb*B*small
  J3: S -> ; piecewise(kd*S, S > 0.2, 0.5*kd*S)
  J4: -> P; v*big
  J5: P -> ; p*P*big
  A = A0; A0 = 3; B = 0.5; S = 0; P = 0
  kf = 1.2; K = 1; kb = 0.4; kd = 0.3; v = 0.2
  p' = -0.05*(p - 0.3)
  p = 1
  total := A*big + B*small
end
"""


def test_sbml_semantics_match_roadrunner():
    """Compartments of sizes 2 and 0.5 (concentrations), an amount species, a function
    definition, piecewise, a rate rule, an assignment rule, an initial assignment from a
    parameter, and a conservation law weighted by compartment sizes (2 A + 0.5 B); the
    gradient in the inputs against central finite differences."""
    with jax.enable_x64(True):
        network = read_antimony(SEMANTICS)
        assert network.state == ("A", "B", "P", "S", "p") and network.independent == ("B", "P", "S", "p")
        assert "A" not in network.names and "A0" in network.names  # A is set by its initial assignment
        response = SBMLResponse(network, inputs=["A0", "kf"], output="S / total", threshold=1.0)
        solve = eqx.filter_jit(jax.value_and_grad(_output_and_state(response), has_aux=True))
        x = response.defaults
        (value, reduced), grad = solve(x)
        for i in (0, 1):
            h = 1e-6 * float(x[i])
            fd = (solve(x.at[i].add(h))[0][0] - solve(x.at[i].add(-h))[0][0]) / (2 * h)
            np.testing.assert_allclose(grad[i], fd, rtol=1e-6)
        state = response.full_state({"A0": 3.0}, reduced)  # a dict sets the inputs it names
        states, outputs = response.time_course(x, np.linspace(0.0, 10.0, 6), rtol=1e-11, atol=1e-13)
    rr = _rr(_antimony_sbml(SEMANTICS))
    selections = ["[A]", "[B]", "[P]", "S", "p"]  # S has only substance units: an amount
    expected = rr.simulate(0.0, 10.0, 6, ["time", *selections])[:, 1:]
    np.testing.assert_allclose(states, expected, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(outputs, expected[:, 3] / (2 * 3.0 + 0.5 * 0.5), rtol=1e-6)  # total is conserved
    rr.reset()
    rr.steadyState()
    np.testing.assert_allclose(state, [rr[s] for s in selections], rtol=1e-6)
    np.testing.assert_allclose(value, rr["S"] / rr["total"], rtol=1e-6)


L3V1 = """<?xml version="1.0" encoding="UTF-8"?>
<sbml xmlns="http://www.sbml.org/sbml/level3/version1/core" level="3" version="1">
  <model id="m">
    <listOfCompartments><compartment id="c" size="2" spatialDimensions="3" constant="true"/></listOfCompartments>
    <listOfSpecies>
      <species id="A" compartment="c" initialConcentration="1" hasOnlySubstanceUnits="false"
               boundaryCondition="false" constant="false"/>
      <species id="B" compartment="c" initialAmount="0" hasOnlySubstanceUnits="true"
               boundaryCondition="false" constant="false"/>
    </listOfSpecies>
    <listOfParameters><parameter id="k" value="0.5" constant="true"/></listOfParameters>
    <listOfReactions>
      <reaction id="R1" reversible="false" fast="false">
        <listOfReactants><speciesReference species="A" stoichiometry="1" constant="true"/></listOfReactants>
        <listOfProducts><speciesReference id="n" species="B" stoichiometry="2" constant="true"/></listOfProducts>
        <kineticLaw>
          <math xmlns="http://www.w3.org/1998/Math/MathML">
            <apply><times/><ci> c </ci><ci> kl </ci><ci> A </ci><ci> n </ci><cn> 0.5 </cn></apply>
          </math>
          <listOfLocalParameters><localParameter id="kl" value="0.3"/></listOfLocalParameters>
        </kineticLaw>
      </reaction>
    </listOfReactions>
  </model>
</sbml>"""


def test_local_parameters_and_substance_semantics():
    """v = c kl [A] n/2 = 0.6 substance/s (n: B's stoichiometry, 2, by its species reference's id):
    d[A]/dt = −v/c = −0.3, dB/dt = 2v = 1.2 (B has only substance units: an amount)."""
    with jax.enable_x64(True):
        network = read_sbml(L3V1)
        assert "R1_kl" in network.names and network.state == ("A", "B")
        y0 = network.initial_state(network.values)
        np.testing.assert_allclose(network.vector_field(0.0, y0, network.values), [-0.3, 1.2], rtol=1e-14)
        values = network.values.at[network.index("R1_kl", "test")].set(0.6)
        np.testing.assert_allclose(network.observe(0.0, y0, values)["R1"], 1.2, rtol=1e-14)
        assert network.laws == ((2.0, 1.0),)  # 2 amount(A) + amount(B), amount(A) = 2 [A]


BASE = "model m\n compartment c = 2\n species A in c, B in c\n J: A -> B; k*A\n A = 1; B = 0; k = 0.5\n"
REFUSED = {
    "event": (BASE + " at (time > 1): k = 2\nend", "events"),
    "delay": (BASE.replace("k*A", "k*delay(A, 0.5)") + "end", "'delay'"),
    "algebraic rule": (BASE + " x = 1\n 0 = x - A\nend", "algebraic rule"),
    "rateOf": (BASE + " x := rateOf(A)\nend", "'rateOf'"),
    "compartment rule": (BASE + " c' = 0.1\nend", "compartment 'c' has a rate rule"),
}


@pytest.mark.parametrize("construct", REFUSED)
def test_refused_constructs_name_themselves(construct):
    text, message = REFUSED[construct]
    with pytest.raises(SBMLError, match=message):
        read_antimony(text)


def test_refused_sbml_constructs_name_the_element():
    with pytest.raises(SBMLError, match="reaction 'R1' is fast"):
        read_sbml(L3V1.replace('fast="false"', 'fast="true"'))
    variable = L3V1.replace(
        'id="n" species="B" stoichiometry="2" constant="true"', 'id="n" species="B" constant="false"'
    )
    variable = variable.replace(
        "</listOfReactions>",
        '</listOfReactions><listOfRules><assignmentRule variable="n"><math xmlns="http://www.w3.org/1998/Math/'
        'MathML"><cn> 2 </cn></assignmentRule></listOfRules>'.replace("</assignmentRule>", "</math></assignmentRule>"),
    )
    with pytest.raises(SBMLError, match="stoichiometry 'n' is set by a rule"):
        read_sbml(variable)
    with pytest.raises(SBMLError, match=r"reads \['x'\], which depend on time"):
        SBMLResponse(read_antimony(BASE + " x := k*time\nend"), inputs=["k"], output="B + x", threshold=1.0)
    with pytest.raises(SBMLError, match="function that adprf cannot translate"):
        read_antimony(BASE.replace("k*A", "k*factorial(A)") + "end")


def test_invalid_documents_raise_libsbml_and_antimony_messages(tmp_path):
    with pytest.raises(SBMLError, match=r"(?s)not valid SBML.*line \d+: Element tag mismatch"):
        read_sbml(L3V1.replace("</listOfSpecies>", ""))
    with pytest.raises(SBMLError, match=r"line \d+: .*compartment"):  # a species in an unknown compartment
        read_sbml(L3V1.replace('compartment="c" initialAmount', 'compartment="nowhere" initialAmount'))
    with pytest.raises(SBMLError, match="antimony could not read the model: .*line 6"):
        read_antimony(BASE + " J2: -> ; = \nend")
    with pytest.raises(FileNotFoundError, match="no SBML file"):
        read_sbml(tmp_path / "missing.xml")
    path = tmp_path / "model.xml"
    path.write_text(L3V1)
    assert read_sbml(path).species == ("A", "B")


def test_unknown_ids_and_bad_options_are_refused_with_the_valid_ids():
    with jax.enable_x64(True):
        network = read_antimony(_kpr())
    names = r"free quantities are \[.*'L1T'"
    with pytest.raises(SBMLError, match=r"unknown ids \['C99'\]; the model's ids are \[.*'C12'"):
        SBMLCell(network, ligands=SLOTS, output="C12 + C99", threshold=1.0)
    with pytest.raises(SBMLError, match=r"unknown id 'L3T'; the model's " + names):
        SBMLCell(network, ligands=[{"amount": "L3T", "tau": "koff1"}], output="C12", threshold=1.0)
    with pytest.raises(SBMLError, match=r"'L1' is set by an initial assignment or rule.*" + names):
        SBMLCell(network, ligands=[{"amount": "L1", "off_rate": "koff1"}], output="C12", threshold=1.0)
    with pytest.raises(SBMLError, match="exactly one of tau= .* or off_rate="):
        SBMLCell(network, ligands=[{"amount": "L1T"}], output="C12", threshold=1.0)
    with pytest.raises(SBMLError, match=r"unknown id 'kx'.*" + names):
        SBMLResponse(network, inputs=["kon", "kx"], output="C12", threshold=1.0)
    with pytest.raises(ValueError, match="no closed-form steady state; use solver='newton' or 'ode'"):
        SBMLCell(network, ligands=SLOTS, output="C12", threshold=1.0, solver="closed-form")
    with pytest.raises(SBMLError, match=r"scale names 'R'.*independent state variable"):
        SBMLCell(network, ligands=SLOTS, output="C12", threshold=1.0, scale={"R": 1.0})
    single = SBMLCell(read_antimony(_kpr()), ligands=SLOTS, output="C12", threshold=1.0)  # outside enable_x64
    with jax.enable_x64(True), pytest.raises(RuntimeError, match="network.values is float32"):
        single(_lig(*LIGANDS))
    with jax.enable_x64(True):
        cell = SBMLCell(network, ligands=SLOTS, output="C12", threshold=1.0)
        with pytest.raises(ValueError, match=r"2 ligand slot\(s\) .* got ligands of shape \(3,\)"):
            cell(_lig([1.0, 2.0, 3.0], [1.0, 1.0, 1.0]))
        response = SBMLResponse(network, inputs=["kon"], output="C12", threshold=1.0)
        with pytest.raises(SBMLError, match=r"unknown inputs \['phi'\]; the inputs are \['kon'\]"):
            response({"phi": 1.0})
        with pytest.raises(ValueError, match=r"one value per input \['kon'\]"):
            response(jnp.ones(2))


def test_response_refuses_non_finite_inputs_by_name():
    with jax.enable_x64(True):
        network = read_sbml(_antimony_sbml(_kpr()))
        response = SBMLResponse(network, inputs=["phi", "kon"], output="C12", threshold=1.0)
        with pytest.raises(ValueError, match="input 'kon' is nan"):
            response(jnp.asarray([0.1, jnp.nan]))
        with pytest.raises(ValueError, match="input 'phi' is inf"):
            response({"phi": jnp.inf})


def test_the_sbml_stack_is_imported_on_first_use():
    """`import adprf` and every experiment leave libsbml, sbmlmath and sympy unimported (0.7 s
    of every command's start); the first SBML name asked of `adprf.cells` imports them."""
    code = (
        "import sys, adprf, adprf.experiments, adprf.cells as cells\n"
        "stack = ('libsbml', 'sbmlmath', 'sympy', 'sympy2jax')\n"
        "print(sorted(m for m in stack if m in sys.modules))\n"
        "print(cells.from_sbml.__module__, cells.SBMLError.__module__, 'SBMLCell' in dir(cells))\n"
        "print(sorted(m for m in stack if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == [
        "[]",
        "adprf.cells._sbml adprf.cells._sbml_math True",
        "['libsbml', 'sbmlmath', 'sympy', 'sympy2jax']",
    ]
    with pytest.raises(AttributeError, match="no attribute 'SBMLCel'"):
        import adprf.cells

        adprf.cells.SBMLCel  # noqa: B018
