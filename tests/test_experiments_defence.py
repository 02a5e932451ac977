"""biomimetic-defence end to end at a reduced size: numbers recomputed independently, audit
verdicts in the result and printed beside the robust-accuracy table of the report; the verdict
sentences on hand-made numbers."""

import json

import jax
import numpy as np
import pytest

from adprf._report import write_report
from adprf._results import Run
from adprf.attacks import FGSM, PGD, robust_accuracy
from adprf.data import load_dataset
from adprf.experiments import run_experiment
from adprf.experiments._biomimetic_defence import defence_note, holds_rule, reading, worst_case
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
    epsilons = cfg["epsilons"][1:]
    assert [d["name"] for d in record["numbers"]["defences"]] == list(models)
    for numbers, model in zip(record["numbers"]["defences"], models.values()):
        curves = numbers["audit"]["curves"]
        pgd = robust_accuracy(model, x, y, epsilons, PGD(steps=40), key=key, batch_size=16).accuracy
        fgsm = robust_accuracy(model, x, y, epsilons, FGSM(), key=key, batch_size=16).accuracy
        np.testing.assert_allclose(curves["PGD"], pgd, atol=1e-6)
        np.testing.assert_allclose(curves["FGSM"], fgsm, atol=1e-6)
        assert numbers["clean"] == pytest.approx(float(np.mean(np.argmax(jax.vmap(model)(x), 1) == y)))
        assert all(w <= p + 1e-9 for w, p in zip(numbers["worst"], curves["PGD"]))


def test_audit_flags_the_hard_threshold_not_the_natural_network(defence):
    _, record = defence
    natural, hard = (d["audit"] for d in record["numbers"]["defences"])
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


# --- verdict sentences on hand-made numbers (accuracies in %) ---------------------------


def test_reading_covers_every_branch():
    # worst case 30 points above the natural one, PGD agrees: holds
    assert reading(pgd=42.0, worst=40.0, natural_pgd=5.0, natural_worst=10.0, margin=10.0) == "holds"
    # the gain is exactly the margin: still holds
    assert reading(pgd=20.0, worst=20.0, natural_pgd=10.0, natural_worst=10.0, margin=10.0) == "holds"
    # holds, but PGD overstates it by 47 points: in part, masking
    sentence = reading(pgd=89.2, worst=42.3, natural_pgd=0.0, natural_worst=0.0, margin=10.0)
    assert sentence.startswith("holds in part") and "47 points" in sentence and "masking" in sentence
    # only PGD clears the bar: masks gradients
    sentence = reading(pgd=60.0, worst=5.0, natural_pgd=1.0, natural_worst=1.0, margin=10.0)
    assert sentence.startswith("masks gradients")
    # neither clears it
    assert reading(pgd=8.0, worst=5.0, natural_pgd=1.0, natural_worst=1.0, margin=10.0) == "no gain"


def test_holds_rule_and_defence_note():
    rule = holds_rule(10.0)
    assert "**holds**" in rule and "≥ 10 points" in rule and "**masks gradients**" in rule
    note = defence_note(
        "Hill θ=0.5 n=4",
        (0.1, 0.3),
        ["holds", "no gain"],
        pgd=[81.5, 2.5],
        worst=[81.25, 0.5],
        natural_worst=[5.5, 0.0],
        verdict="suspected masking",
    )
    assert note == (
        "Hill θ=0.5 n=4: at ε = 0.1 holds (PGD 81.5 %, worst 81.2 %); at ε = 0.3 no gain (PGD 2.5 %, "
        "worst 0.5 %); natural worst case 5.5 / 0.0 %; audit: suspected masking."
    )


def test_worst_case_leaves_out_the_unbounded_check():
    curves = {"FGSM": [0.5, 0.3], "PGD": [0.4, 0.35], "BPDA through filter": [0.45, 0.2], "unbounded": [0.0]}
    assert worst_case(curves) == [0.4, 0.2]
