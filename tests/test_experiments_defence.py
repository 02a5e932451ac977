"""biomimetic-defence end to end at a reduced size: numbers recomputed independently, audit
verdicts in the result and printed beside the robust-accuracy table of the report."""

import json

import jax
import numpy as np
import pytest

from adprf._report import write_report
from adprf._results import Run
from adprf.attacks import FGSM, PGD, robust_accuracy
from adprf.data import load_dataset
from adprf.experiments import run_experiment
from adprf.experiments._biomimetic_defence import EPSILONS
from adprf.nets import train_defence

SMALL = {
    "n_test": 60,
    "defences": {"natural": {}, "hard-threshold": {"filter": "hard", "threshold": 0.5}},
    "classifier": {"arch": "mlp", "width": 64, "depth": 1, "epochs": 3, "batch_size": 128},
}


@pytest.fixture(scope="module")
def defence(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    record = run_experiment("biomimetic-defence", "quick", root=root, overrides=SMALL)
    return root, record


def test_numbers_recomputed_independently(defence):
    root, record = defence
    cfg = record["config"]
    models = {
        name: train_defence(Run("check", "quick", {}, root), spec, cfg["classifier"], cfg["dataset"], cfg["seed"])[0]
        for name, spec in cfg["defences"].items()
    }
    test = load_dataset(cfg["dataset"], "test")
    x, y = test.images[: cfg["n_test"]], test.labels[: cfg["n_test"]]
    key = jax.random.PRNGKey(cfg["seed"] + 1)
    for name, model in models.items():
        numbers = record["numbers"][name]
        pgd = robust_accuracy(model, x, y, EPSILONS[1:], PGD(steps=40), key=key, batch_size=16).accuracy
        fgsm = robust_accuracy(model, x, y, EPSILONS[1:], FGSM(), key=key, batch_size=16).accuracy
        np.testing.assert_allclose(numbers["curves"]["PGD"], pgd, atol=1e-6)
        np.testing.assert_allclose(numbers["curves"]["FGSM"], fgsm, atol=1e-6)
        assert numbers["clean"] == pytest.approx(float(np.mean(np.argmax(jax.vmap(model)(x), 1) == y)))
        assert all(w <= p + 1e-9 for w, p in zip(numbers["worst"], numbers["curves"]["PGD"]))


def test_audit_flags_the_hard_threshold_not_the_natural_network(defence):
    _, record = defence
    natural, hard = record["numbers"]["natural"], record["numbers"]["hard-threshold"]
    assert natural["verdict"] == "no masking found", natural["reasons"]
    assert hard["verdict"] == "suspected masking"
    assert any(r.startswith("gradients:") for r in hard["reasons"])
    # BPDA sees through the threshold: it beats PGD at the largest radius.
    assert hard["curves"]["BPDA through filter"][-1] < hard["curves"]["PGD"][-1]
    verdicts = {row[0]: row for row in record["tables"][1]["rows"]}
    assert verdicts["natural"][6] == "no masking found"


def test_report_prints_the_audit_beside_the_table(defence):
    root, record = defence
    text = write_report(root).read_text()
    table = text.index("Robust accuracy (%) under FGSM, PGD, BPDA")
    audit_line = text.index("**Audit: suspected masking**")
    next_table = text.index("Which defences hold")
    assert table < audit_line < next_table
    assert "<details><summary>audit checks</summary>" in text
    saved = json.loads((root / "biomimetic-defence" / record["hash"] / "result.json").read_text())
    assert saved["figures"] == ["robust_accuracy.png", "filters.png"]
