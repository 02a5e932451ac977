"""The runnable example of docs/adding-an-experiment.md runs, and its numbers are the closed form's."""

import re
from pathlib import Path

import numpy as np

from adprf.experiments import REGISTRY

PAGE = Path(__file__).resolve().parents[1] / "docs" / "adding-an-experiment.md"


def test_the_documented_experiment_runs_and_matches_the_closed_form(tmp_path, monkeypatch):
    (code,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(), flags=re.S)
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    try:
        exec(compile(code, str(PAGE), "exec"), scope)
    finally:
        REGISTRY.pop("my-fold-change", None)
    record = scope["record"]
    assert record["figures"] == ["fold_change.png"] and (tmp_path / "results" / "my-fold-change").is_dir()
    l1, l2, t1 = 4000.0, 6000.0, 3.0
    for (N, m), row in zip(((2, 0), (3, 1), (5, 3)), record["tables"][0]["rows"]):
        t2 = np.array([0.1, 1.0, 2.0])
        closed = 1 - l2 * t2**m / (l1 * t1**m + l2 * t2**m) * (1 - (t2 / t1) ** (N - m))
        np.testing.assert_allclose(row[2:], closed, atol=1e-4)
    assert record["notes"][0].startswith("m = 0: the strongest antagonist of the grid sits at τ2 = 0.1")
