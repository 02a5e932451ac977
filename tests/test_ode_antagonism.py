"""Attacks on the ODE models through their steady states, and the ode-antagonism experiment."""

import jax
import jax.numpy as jnp
import numpy as np

from adprf._ligands import Ligands
from adprf.attacks import FGSM, attack, move_binding_times, turn_off
from adprf.cells import SHP1Feedback
from adprf.experiments import run_experiment
from adprf.experiments._ode_antagonism import antagonism_kind, budget_verdict, kinds_note, limit_note


def test_fgsm_on_binding_times_through_two_steady_state_solvers():
    """The same sign attack through the closed form and through Newton: same perturbation,
    same decisions, and success is the attacked model's own decision."""
    with jax.enable_x64(True):
        clean = Ligands(
            jnp.asarray([[8.0, 4.0], [8.0, 4.0], [8.0, 0.3]]), jnp.asarray([[1e3, 1e4], [1e3, 3e3], [1e3, 1e3]])
        )
        results = {}
        for solver in ("closed-form", "newton"):
            model = SHP1Feedback(solver=solver)
            results[solver] = attack(
                model,
                clean,
                None,
                method=FGSM(),
                threat=move_binding_times(2.0, tau_c=5.0),
                objective=turn_off(model),
                key=jax.random.PRNGKey(0),
            )
        a, b = results["closed-form"], results["newton"]
        np.testing.assert_allclose(a.adversarial.tau, b.adversarial.tau, rtol=1e-12)
        assert list(a.success) == list(b.success)
        model = SHP1Feedback()
        # agonists (τ ≥ 5) never move; the weaker species moves by ε (or to 0), or the engine
        # keeps the clean point when the step does not raise the loss
        assert np.asarray(jax.vmap(model.decide)(clean)).all()
        moved = np.asarray(a.adversarial.tau - clean.tau)
        np.testing.assert_array_equal(moved[:, 0], 0.0)
        assert np.all(
            np.isclose(np.abs(moved[:, 1]), 2.0) | (np.asarray(a.adversarial.tau[:, 1]) == 0) | (moved[:, 1] == 0)
        )
        off = ~np.asarray(jax.vmap(model.decide)(a.adversarial))
        assert list(off) == list(np.asarray(a.success)) == [True, False, False]
        np.testing.assert_allclose(a.adversarial.tau[0], [8.0, 2.0])  # 10^4 ligands 4 s → 2 s: off


def test_ode_antagonism_experiment(tmp_path):
    overrides = {"n_tau2": 40, "t_end": 1e3, "candidates": (0.5, 1.0, 2.0, 3.0), "pgd_steps": 40}
    record = run_experiment("ode-antagonism", "quick", root=tmp_path, overrides=overrides)
    rows = {r[0]: r for r in record["tables"][0]["rows"]}
    assert rows["KPR (N=5)"][5] == "no"  # no antagonism, only receptor competition
    assert rows["SHP-1 (N=5, m=1)"][5] == "yes" and rows["SHP-1 (N=5, m=1)"][6] == "specialised"
    assert rows["T_{5,0}"][6] == "broad (weakest ligands)"
    kinase, limit = rows["kinase feedback (N=4, m=2)"], rows["T_{5,3} (its limit)"]
    assert abs(kinase[3] - limit[3]) < 0.05 and kinase[4] == limit[4]  # min FC and where it sits
    # the engine's budget attack flips the decision exactly across the numeric boundary L2*
    attack_rows = record["tables"][1]["rows"]
    assert [r[2] for r in attack_rows] == [False, True]
    courses = record["numbers"]["time_courses"]["outputs"]
    assert (
        courses["agonists"][-1] > record["numbers"]["time_courses"]["threshold"] > courses["agonists + antagonists"][-1]
    )
    models = record["numbers"]["antagonism"]["models"]
    assert [c["name"] for c in models] == [r[0] for r in record["tables"][0]["rows"]]
    attacks = record["numbers"]["budget_attack"]["attacks"]
    assert [a["switched_off"] for a in attacks] == [False, True] and "succeeds above it" in record["notes"][2]


def test_ode_antagonism_verdicts():
    assert antagonism_kind(0, 0.3) == "broad (weakest ligands)"
    assert antagonism_kind(12, 0.3) == "specialised" and antagonism_kind(12, 0.95) == "–"
    note = kinds_note(["KPR", "SHP-1", "T_{5,0}"], ["–", "specialised", "broad (weakest ligands)"])
    assert "specialised (the strongest antagonist at an intermediate τ2): SHP-1" in note
    assert "broad (the weakest ligands antagonise most): T_{5,0}" in note and "no antagonism" in note
    assert "no antagonism" not in kinds_note(["SHP-1"], ["specialised"])
    assert "follows its limit" in limit_note("kinase", "T_{5,3}", (0.393, 0.408), (2.92, 2.92))
    assert "departs from its limit" in limit_note("kinase", "T_{5,3}", (0.393, 0.5), (2.92, 2.92))
    assert "departs from its limit" in limit_note("kinase", "T_{5,3}", (0.393, 0.408), (2.92, 3.1))
    assert budget_verdict([0.9, 1.1], [False, True]) == "fails below min L2* and succeeds above it"
    assert "[0.9]" in budget_verdict([0.9, 1.1], [True, True])
