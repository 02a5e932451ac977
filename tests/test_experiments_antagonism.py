"""The antagonism-potential and immune-boundary-tilting experiments end to end, against the
closed forms of T_{N,m}."""

import json

import numpy as np
import pytest

from adprf.experiments import run_experiment


def _saved(tmp_path, name):
    record = run_experiment(name, "quick", root=tmp_path)
    folder = tmp_path / name / record["hash"]
    saved = json.loads((folder / "result.json").read_text())
    assert all((folder / f).stat().st_size > 1000 for f in saved["figures"])
    assert saved["tables"] and saved["summary"] and saved["notes"]
    return saved


def _float(value):
    return float(value)  # NaN is stored as the string "nan"


@pytest.fixture(scope="module")
def antagonism_potential(tmp_path_factory):
    return _saved(tmp_path_factory.mktemp("results"), "antagonism-potential")


@pytest.fixture(scope="module")
def boundary_tilting(tmp_path_factory):
    return _saved(tmp_path_factory.mktemp("results"), "immune-boundary-tilting")


def test_antagonism_potential_against_closed_forms(antagonism_potential):
    saved = antagonism_potential
    cfg, numbers = saved["config"], saved["numbers"]
    assert saved["figures"] == ["antagonism_potential.png"]
    l1, l2, t1, tau_c = cfg["amount1"], cfg["amount2"], cfg["tau1"], cfg["tau_c"]
    tau2 = np.asarray(numbers["tau2"])
    spacing = tau2[1] - tau2[0]
    rows = saved["tables"][0]["rows"]
    assert len(rows) == 15 and [r[:2] for r in rows] == [[n, m] for n in range(1, 6) for m in range(n)]
    fine = np.linspace(0.05, t1 - 0.05, 20_001)
    for N in range(1, 6):
        for m in range(N):
            (c,) = [c for c in numbers["curves"] if (c["N"], c["m"]) == (N, m)]

            def fc(t):
                return 1 - l2 * t**m / (l1 * t1**m + l2 * t**m) * (1 - (t / t1) ** (N - m))

            np.testing.assert_allclose(c["T"], fc(tau2), rtol=1e-5)
            np.testing.assert_allclose(c["T_at_zero"], l1 / (l1 + l2) if m == 0 else 1.0, rtol=1e-6)
            if m == 0:
                # broad antagonism: T increases with τ2, the minimum is the left end of the range
                assert not c["interior_minimum"] and c["argmin"] == pytest.approx(tau2[0])
                assert np.isnan(_float(c["probe_critical_point"]))
            else:
                # the strongest antagonist: the root of (N−m) L2 τ^N + N L1 τ1^m τ^(N−m) − m L1 τ1^N
                poly = np.zeros(N + 1)
                poly[0], poly[m], poly[N] = (N - m) * l2, N * l1 * t1**m, -m * l1 * t1**N
                (root,) = [r.real for r in np.roots(poly) if abs(r.imag) < 1e-9 and 0 < r.real < t1]
                assert c["interior_minimum"]
                np.testing.assert_allclose(c["argmin"], root, rtol=1e-4)
                assert abs(tau2[np.argmin(c["T"])] - root) <= spacing  # the plotted curve agrees
                np.testing.assert_allclose(c["min_T"], fc(root), rtol=1e-5)
                np.testing.assert_allclose(c["probe_critical_point"], tau_c * (m / N) ** (1 / (N - m)), rtol=1e-4)
                assert root < c["probe_critical_point"]
            np.testing.assert_allclose(c["fold_change_at_min"], c["min_T"], rtol=1e-6)  # T(agonists) = 1
            # the inflection point: central second differences of the closed form change sign − → +
            h = 1e-3
            second = (fc(fine + h) - 2 * fc(fine) + fc(fine - h)) / h**2
            up = np.flatnonzero((second[:-1] < 0) & (second[1:] >= 0))
            if m > 1:
                assert abs(c["inflection"] - fine[up[0]]) < 1e-3
                assert c["inflection"] < c["argmin"]
            else:
                assert np.isnan(_float(c["inflection"]))


def test_boundary_tilting_against_closed_form(boundary_tilting):
    saved = boundary_tilting
    cfg, numbers = saved["config"], saved["numbers"]
    assert saved["figures"] == ["boundary_tilting.png"]
    tau1, log_l1 = np.asarray(numbers["tau1"]), np.asarray(numbers["log10_amount1"])
    assert tau1[0] == 4.0 and tau1[-1] == 6.0 and log_l1[0] == 0.0 and log_l1[-1] == 4.0
    tau_c = cfg["tau_c"]
    assert len(numbers["boundaries"]) == 4 and len(saved["tables"][0]["rows"]) == 4
    for panel in numbers["boundaries"]:
        N, m, tau2 = panel["N"], panel["m"], panel["tau2"]
        ratio = -(tau1**N - tau1**m * tau_c ** (N - m)) / (tau2**N - tau2**m * tau_c ** (N - m))
        np.testing.assert_allclose(panel["L2_over_L1"], ratio, rtol=1e-5, atol=1e-12)
        assert panel["zero_cells"] == len(log_l1) and panel["nan_cells"] == 0  # the τ1 = τ_c column
        np.testing.assert_allclose(panel["log10_L2_min"], np.log10(ratio[1]) + log_l1[0], atol=1e-4)
        np.testing.assert_allclose(panel["log10_L2_max"], np.log10(ratio[-1]) + log_l1[-1], atol=1e-4)
        np.testing.assert_allclose(panel["L2_at_corners"][:2], ratio[-1] * 10.0 ** log_l1[[0, -1]], rtol=1e-5)
        assert panel["numeric_vs_closed_max_rel_diff"] < 1e-4
        surface = np.asarray([[_float(v) for v in row] for row in panel["log10_L2"]])
        assert surface.shape == (len(tau1), len(log_l1)) and np.all(surface[0] == -np.inf)
        np.testing.assert_allclose(surface[1:], np.log10(ratio[1:, None]) + log_l1[None, :], atol=1e-4)
    assert [tuple(p) for p in cfg["models"]] == [(1, 0), (5, 3)]
    self_over_antagonist = numbers["self_over_antagonist"]
    assert self_over_antagonist[0] == pytest.approx((4 - 3) / (4 - 0.1), rel=1e-5)
    assert self_over_antagonist[1] > 1e4  # (5, 3) ignores self


def test_boundary_tilting_verdicts():
    from adprf.experiments._immune_boundary_tilting import agreement_note, cheaper_species

    sentence = cheaper_species(["(1, 0)", "(5, 3)"], [0.256, 1.2e4])
    assert "(1, 0) is fooled more cheaply by self ligands (0.256×" in sentence
    assert "(5, 3) is fooled more cheaply by antagonists (self needs 1.2e+04×" in sentence
    assert "equally" in cheaper_species(["(2, 1)"], [1.0])
    assert "agrees with" in agreement_note(1.1e-5) and "1.1e-05" in agreement_note(1.1e-5)
    assert "departs from" in agreement_note(3e-2)
