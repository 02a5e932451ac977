"""Registered experiments run end to end at tiny size and leave results and a report."""

import json

import numpy as np

from adprf.experiments import REGISTRY, run_experiment
from adprf.report import write_report


def test_every_experiment_has_both_presets():
    for experiment in REGISTRY.values():
        assert {"quick", "paper"} <= set(experiment.presets)


def test_mnist_baseline_end_to_end(tmp_path):
    overrides = {"n_test": 40, "models": {"mlp": {"width": 64, "depth": 1, "epochs": 2}, "cnn": {"epochs": 1}},
                 "pgd": {"steps": 10, "step_size": 0.03}}
    record = run_experiment("mnist-baseline", "quick", root=tmp_path, overrides=overrides)
    folder = tmp_path / "mnist-baseline" / record["hash"]
    saved = json.loads((folder / "result.json").read_text())
    assert set(saved["figures"]) == {"robust_accuracy.png", "examples.png"}
    assert all((folder / f).stat().st_size > 1000 for f in saved["figures"])
    for arch, curves in saved["numbers"]["curves"].items():
        fgsm, pgd = np.asarray(curves["FGSM"]), np.asarray(curves["PGD-10"])
        assert fgsm[0] == pgd[0] > 0.5                     # ε = 0 is the clean accuracy
        assert np.all(np.diff(pgd) <= 1e-9) and pgd[-1] < fgsm[0]
    report = write_report(tmp_path, order=list(REGISTRY)).read_text()
    assert "mnist-baseline" in report and "| CNN | PGD-10 |" in report
