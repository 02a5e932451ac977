"""Registered experiments run end to end at tiny size and leave results and a report."""

import json
import subprocess
import sys

import numpy as np
import pytest

from adprf._report import write_report
from adprf.experiments import REGISTRY, run_experiment
from adprf.experiments._mnist_baseline import REFERENCE_CNN, cnn_note, reference_note


def test_every_experiment_has_both_presets():
    for experiment in REGISTRY.values():
        assert {"quick", "paper"} <= set(experiment.presets)


def test_mnist_baseline_notes():
    reference = reference_note(REFERENCE_CNN)
    assert reference.startswith("Reference (Yuezhang et al. 2021, natural CNN")
    assert "clean 99.2" in reference and "PGD 0.1 48.2" in reference and reference.endswith("PGD 0.3 0.0.")
    epsilons = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    ours = cnn_note(epsilons, [0.968, 0.894, 0.67, 0.332, 0.078, 0.006, 0.0])
    assert ours == "Ours (CNN): clean 96.8, PGD 0.1 67.0, PGD 0.3 0.0."
    assert cnn_note([0.0, 0.2], [0.9, 0.1]) is None  # the reference's radii were not attacked


@pytest.mark.slow
def test_mnist_baseline_end_to_end(tmp_path):
    """Opt-in (about a minute and a half on 2 cores, for the default suite's 15-minute budget); the
    slow CLI test below and `adprf reproduce` run the same experiment end to end."""
    overrides = {
        "n_test": 40,
        "classifiers": ({"arch": "mlp", "width": 64, "depth": 1, "epochs": 2}, {"arch": "cnn", "epochs": 1}),
        "pgd": {"steps": 10, "step_size": 0.03},
    }
    record = run_experiment("mnist-baseline", "quick", root=tmp_path, overrides=overrides)
    folder = tmp_path / "mnist-baseline" / record["hash"]
    saved = json.loads((folder / "result.json").read_text())
    assert set(saved["figures"]) == {"robust_accuracy.png", "examples.png"}
    assert all((folder / f).stat().st_size > 1000 for f in saved["figures"])
    for model in saved["numbers"]["models"]:
        curves = {a["method"]: a["accuracy"] for a in model["attacks"]}
        fgsm, pgd = np.asarray(curves["FGSM"]), np.asarray(curves["PGD-10"])
        assert fgsm[0] == pgd[0] > 0.5  # ε = 0 is the clean accuracy
        assert np.all(np.diff(pgd) <= 1e-9) and pgd[-1] < fgsm[0]
    report = write_report(tmp_path, order=list(REGISTRY)).read_text()
    assert "mnist-baseline" in report and "| CNN | PGD-10 |" in report


@pytest.mark.slow
def test_reproduce_quick_preset_from_the_command_line(tmp_path):
    """The README's main job: `adprf reproduce` on the quick preset (about 100 s on 2 cores)."""
    subprocess.run([sys.executable, "-m", "adprf", "reproduce", "--out", str(tmp_path)], check=True)
    (result,) = tmp_path.glob("mnist-baseline/*/result.json")
    models = json.loads(result.read_text())["numbers"]["models"]
    pgd = {m["arch"]: next(a["accuracy"] for a in m["attacks"] if a["method"] == "PGD-40") for m in models}
    assert pgd["cnn"][0] > 0.9 and pgd["cnn"][-1] < 0.05
    assert pgd["mlp"][0] > 0.9 and pgd["mlp"][2] < 0.2
    assert "Robust accuracy" in (tmp_path / "report.md").read_text()
