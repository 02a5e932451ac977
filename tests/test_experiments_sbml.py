"""sbml-antagonism end to end at small size: the SHP-1 model through SBML gives the built-in model's
fold-change curve and budget attack; the verdict sentences on hand-made facts; and an SBML cell
reads distributions with fewer species than slots (the analysis functions compare agonists alone
with agonists plus one species) but refuses more."""

import jax
import numpy as np
import pytest

from adprf import Ligands
from adprf.analysis import decision_boundary, fold_change
from adprf.cells import SHP1Feedback
from adprf.experiments import run_experiment
from adprf.experiments._sbml_antagonism import _sbml_cell, agreement_note, attack_note


def test_sbml_antagonism_end_to_end(tmp_path):
    overrides = {"n_tau2": 4, "candidates": (1.0, 2.0), "budget_factors": (0.5, 1.5), "pgd_steps": 20}
    record = run_experiment("sbml-antagonism", "quick", root=tmp_path, overrides=overrides)
    facts = record["numbers"]
    built_in, sbml = (np.asarray(c) for c in facts["curves"]["curves"].values())
    np.testing.assert_allclose(sbml, built_in, rtol=1e-6)
    assert np.all(built_in[:2] < 1)  # short-lived ligands antagonise: FC < 1
    attacks = list(facts["attacks"]["attacks"].values())
    assert [a["switched_off"] for a in attacks[0]] == [False, True]  # fails below L2*, succeeds above
    for a, b in zip(*attacks):
        assert a["switched_off"] == b["switched_off"] and a["tau2_chosen"] == b["tau2_chosen"]
        assert a["output_after"] == pytest.approx(b["output_after"], rel=1e-5)
    assert "the same curve" in " ".join(record["notes"])


def test_verdicts_name_a_disagreement():
    curves = {"curves": {"a": [0.5, 1.0], "b": [0.5, 1.1]}}
    assert "NOT the same curve" in agreement_note(curves)
    one = {"switched_off": True, "tau2_chosen": 1.0}
    attacks = {"boundary": [10.0], "attacks": {"a": [one], "b": [{**one, "tau2_chosen": 2.0}]}}
    assert "DISAGREE" in attack_note(attacks)


def test_sbml_cell_leaves_missing_species_empty_and_refuses_extra_ones():
    with jax.enable_x64(True):
        model = SHP1Feedback()
        cell = _sbml_cell(model, 2)
        agonists = Ligands.of([8.0], [1000.0])
        np.testing.assert_allclose(cell(agonists), model(agonists), rtol=1e-6)  # slot 2 empty: L = 0
        np.testing.assert_allclose(
            fold_change(cell, agonists, 1.0, 3e4), fold_change(model, agonists, 1.0, 3e4), rtol=1e-6
        )
        boundary = decision_boundary(cell, 8.0, 1000.0, 1.0, method="numeric")
        np.testing.assert_allclose(boundary, decision_boundary(model, 8.0, 1000.0, 1.0, method="numeric"), rtol=1e-5)
        with pytest.raises(ValueError, match=r"2 ligand slot\(s\).*at most 2 species"):
            cell(Ligands.of([8.0, 1.0, 2.0], [1.0, 1.0, 1.0]))
