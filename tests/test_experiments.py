"""Registered experiments run end to end at tiny size and leave results and a report."""

import json
import subprocess
import sys

import numpy as np
import pytest

from adprf._report import write_report
from adprf.experiments import REGISTRY, run_experiment


def test_every_experiment_has_both_presets():
    for experiment in REGISTRY.values():
        assert {"quick", "paper"} <= set(experiment.presets)


@pytest.mark.slow
def test_mnist_baseline_end_to_end(tmp_path):
    """Opt-in (about a minute and a half on 2 cores, for the default suite's 15-minute budget); the
    slow CLI test below and `adprf reproduce` run the same experiment end to end."""
    overrides = {
        "n_test": 40,
        "models": {"mlp": {"width": 64, "depth": 1, "epochs": 2}, "cnn": {"epochs": 1}},
        "pgd": {"steps": 10, "step_size": 0.03},
    }
    record = run_experiment("mnist-baseline", "quick", root=tmp_path, overrides=overrides)
    folder = tmp_path / "mnist-baseline" / record["hash"]
    saved = json.loads((folder / "result.json").read_text())
    assert set(saved["figures"]) == {"robust_accuracy.png", "examples.png"}
    assert all((folder / f).stat().st_size > 1000 for f in saved["figures"])
    for arch, curves in saved["numbers"]["curves"].items():
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
    curves = json.loads(result.read_text())["numbers"]["curves"]
    assert curves["cnn"]["PGD-40"][0] > 0.9 and curves["cnn"]["PGD-40"][-1] < 0.05
    assert curves["mlp"]["PGD-40"][0] > 0.9 and curves["mlp"]["PGD-40"][2] < 0.2
    assert "Robust accuracy" in (tmp_path / "report.md").read_text()
