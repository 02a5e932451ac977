"""two-regimes end to end (the quick preset, run once) against independent oracles: T_{N,m}
written out in NumPy for the m = 0 optimum (every movable τ down by ε), the closed form of τ*,
random points of the ball against the exact minimal radius, FGSM written out with `jax.grad`
for one defended network."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adprf._results import Run
from adprf.data import load_dataset
from adprf.experiments import REGISTRY, run_experiment
from adprf.nets import train_defence
from adprf.experiments._two_regimes import agonist_amount, minimal_radius

NAME = "two-regimes"


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    record = run_experiment(NAME, "quick", root=root)
    config = REGISTRY[NAME].presets["quick"]
    run = Run(NAME, "quick", config, root, data=record["data"])
    cells = json.loads((root / NAME / record["hash"] / "cells.json").read_text())["value"]
    return {"record": record, "cells": cells, "config": config, "run": run}


def _proofreading(tau, amount, N, m, tau_c):
    """T_{N,m} in NumPy, float64, over the last axis."""
    return np.sum(amount * tau**N, -1) / np.sum(amount * tau**m, -1) / tau_c ** (N - m)


def _clean(cells, m):
    tau = np.asarray(cells["tau"], np.float64)
    amount = np.ones_like(tau)
    n_ag = np.asarray(cells["tau"]).shape[1] - len(cells["antagonist"][0])
    amount[:, :n_ag] = np.asarray(cells["per_m"][str(m)]["agonist_amount"], np.float64)[:, None]
    return tau, amount, np.asarray(cells["movable"], bool)


def test_record_has_tables_figures_and_runs_in_time(quick):
    record = quick["record"]
    assert record["figures"] == ["cells_success.png", "cells_histograms.png", "networks.png"]
    for figure in record["figures"]:
        assert (quick["run"].directory / figure).stat().st_size > 10_000
    assert len(record["tables"]) == 5 and record["notes"]
    print(f"two-regimes quick: {record['wall_time_s']} s")


def test_clean_distributions_start_on(quick):
    cells, cfg = quick["cells"], quick["config"]["cells"]
    for m in range(cfg["N"]):
        tau, amount, _ = _clean(cells, m)
        t = _proofreading(tau, amount, cfg["N"], m, cfg["tau_c"])
        np.testing.assert_allclose(t, np.asarray(cells["T_target"]), rtol=1e-10)
        assert np.all(t > 1.0)


def test_m0_fgsm_is_the_optimum(quick):
    """T_{N,0} increases with every τ: moving every movable τ down by ε (FGSM's step) is the best
    point of the ball, so FGSM, every PGD and the NumPy optimum succeed at exactly the same (ε,
    distribution) pairs, and the smallest successful ε is the closed form's."""
    cells, cfg = quick["cells"], quick["config"]["cells"]
    N, tau_c = cfg["N"], cfg["tau_c"]
    eps = np.asarray(cells["epsilons"], np.float64)
    tau, amount, movable = _clean(cells, 0)
    lowered = np.where(movable[None], np.maximum(tau[None] - eps[:, None, None], 0.0), tau[None])
    oracle = _proofreading(lowered, amount[None], N, 0, tau_c) <= 1.0  # (E, D)
    methods = cells["per_m"]["0"]["methods"]
    fgsm = np.asarray(methods["FGSM"]["success"], bool)
    np.testing.assert_array_equal(fgsm, oracle)
    for name, spec in cfg["methods"].items():
        if not spec.get("random_start", False):
            np.testing.assert_array_equal(np.asarray(methods[name]["success"], bool), fgsm, err_msg=name)
    assert 0 < oracle[-1].mean() and oracle[0].mean() == 0  # the grid brackets the transition
    # The smallest successful ε per distribution: the first grid ε at or above the exact radius.
    radius = minimal_radius(tau, amount, movable, N, 0, tau_c)
    found = fgsm.any(0)
    np.testing.assert_array_equal(found, np.isfinite(radius) & (radius <= eps[-1]))
    first = eps[np.argmax(fgsm, 0)][found]
    expected = np.array([eps[eps >= r][0] for r in radius[found]])
    np.testing.assert_array_equal(first, expected)
    # The bisection's root: moving every τ down by the radius puts T on the boundary.
    at_root = np.where(movable, np.maximum(tau - radius[:, None], 0.0), tau)[np.isfinite(radius)]
    np.testing.assert_allclose(_proofreading(at_root, amount[np.isfinite(radius)], N, 0, tau_c), 1.0, atol=1e-9)
    # And the reported medians agree with the per-distribution numbers.
    numbers = quick["record"]["numbers"]["cells"]
    smallest = np.asarray(numbers["smallest_epsilon"]["0"]["FGSM"], np.float64)
    np.testing.assert_array_equal(smallest[found], first)


def test_tau_star_in_the_table(quick):
    cfg = quick["config"]["cells"]
    N, tau_c = cfg["N"], cfg["tau_c"]
    table = quick["record"]["tables"][0]
    col_b, col_cp = (
        table["columns"].index("τ_b = τ_c (m/N)^(1/(N−m))"),
        table["columns"].index("τ* boundary (critical_point)"),
    )
    for row in table["rows"]:
        m = row[0]
        closed = tau_c * (m / N) ** (1 / (N - m))
        assert row[col_b] == pytest.approx(closed, abs=1e-4)
        if m == 0:
            assert row[col_cp] == "none"
        else:
            assert row[col_cp] == pytest.approx(closed, abs=2e-4)
    # τ* of every clean distribution: τ_c (m T/N)^(1/(N−m)) (T ≠ 1 off the boundary).
    cells = quick["cells"]
    for m in range(1, N):
        star = np.asarray(cells["per_m"][str(m)]["tau_star_clean"], np.float64)
        t = np.asarray(cells["per_m"][str(m)]["T_clean"], np.float64)
        np.testing.assert_allclose(star, tau_c * (m * t / N) ** (1 / (N - m)), rtol=1e-6)


def test_pgd_at_least_fgsm_and_nothing_beats_the_optimum(quick):
    cells, cfg = quick["cells"], quick["config"]["cells"]
    N = cfg["N"]
    eps = np.asarray(cells["epsilons"], np.float64)
    for m in range(N):
        per = cells["per_m"][str(m)]
        fgsm = np.asarray(per["methods"]["FGSM"]["success"], bool)
        ref = np.asarray(per["methods"][cfg["reference"]]["success"], bool)
        assert np.all(ref.mean(1) >= fgsm.mean(1)), m
        radius = np.asarray(per["minimal_radius"], np.float64)
        for name in cfg["methods"]:
            success = np.asarray(per["methods"][name]["success"], bool)
            # No attack turns a distribution off inside a ball smaller than the exact minimal radius.
            assert not np.any(success & (eps[:, None] < radius[None] * (1 - 1e-9))), (m, name)
        # FGSM's step as recorded: the engine's FGSM succeeds exactly where that step has T ≤ 1.
        np.testing.assert_array_equal(fgsm, np.asarray(per["fgsm_step"]["T"], np.float64) <= 1.0)
    # m ≥ 3: the sign step fails where PGD succeeds (the claim of the experiment, on this data).
    for m in (3, 4):
        per = cells["per_m"][str(m)]
        gap = np.asarray(per["methods"][cfg["reference"]]["success"], bool).mean(1) - np.asarray(
            per["methods"]["FGSM"]["success"], bool
        ).mean(1)
        assert gap.max() >= 0.5, m


def test_minimal_radius_against_random_points_of_the_ball():
    """Inside a ball slightly smaller than the exact radius no point turns T off; the optimum's
    construction at the radius does (random distributions, every m)."""
    rng = np.random.default_rng(0)
    N, tau_c = 5, 3.0
    tau = np.concatenate([rng.normal(3.5, 0.1, (6, 5)), rng.uniform(0.0, tau_c, (6, 12))], axis=1)
    movable = tau < tau_c
    for m in range(N):
        amount = np.ones_like(tau)
        amount[:, :5] = agonist_amount(tau, 5, N, m, tau_c, np.full(6, 1.05))[:, None]  # T = 1.05
        radius = minimal_radius(tau, amount, movable, N, m, tau_c)
        ok = np.isfinite(radius)
        assert ok.sum() >= 3 and np.all(radius[ok] > 0), (m, radius)
        inner = 0.98 * radius[ok]
        delta = rng.uniform(-1, 1, (4000,) + tau[ok].shape) * inner[None, :, None]
        points = np.where(movable[ok][None], np.maximum(tau[ok][None] + delta, 0.0), tau[ok][None])
        corners = np.where(
            movable[ok][None], np.maximum(tau[ok][None] + np.sign(delta) * inner[None, :, None], 0.0), tau[ok][None]
        )
        for sample in (points, corners):
            assert np.all(_proofreading(sample, amount[ok][None], N, m, tau_c) > 1.0), m
        tau_b = tau_c * (m / N) ** (1 / (N - m))
        lo, hi = np.maximum(tau[ok] - radius[ok, None], 0), tau[ok] + radius[ok, None]
        best = np.where(movable[ok], np.clip(tau_b, lo, hi), tau[ok])
        assert np.all(_proofreading(best, amount[ok], N, m, tau_c) <= 1.0 + 1e-9), m


def test_network_accuracy_recomputed_with_a_written_out_fgsm(quick):
    """FGSM robust accuracy of the Hill n = 4 model (nested over ε, as reported), recomputed with
    `jax.grad` of the cross-entropy, one sign step and a clip to [0, 1]."""
    cfg = quick["config"]["networks"]
    spec = {"filter": "hill", "threshold": cfg["threshold"], "steepness": 4}
    model, seconds = train_defence(quick["run"], spec, cfg["classifier"], cfg["dataset"], cfg["seed"])
    assert seconds == 0.0  # loaded from the shared cache the run wrote
    test = load_dataset(cfg["dataset"], "test")
    x, y = jnp.asarray(test.images[: cfg["n_test"]]), jnp.asarray(test.labels[: cfg["n_test"]])

    def loss(image, label):
        return optax.softmax_cross_entropy_with_integer_labels(model(image), label)

    grad = jax.vmap(jax.grad(loss))(x, y)
    correct = jnp.argmax(jax.vmap(model)(x), -1) == y
    accuracy = []
    for eps in cfg["epsilons"]:
        adversarial = jnp.clip(x + eps * jnp.sign(grad), 0.0, 1.0)
        correct = correct & (jnp.argmax(jax.vmap(model)(adversarial), -1) == y)
        accuracy.append(float(correct.mean()))
    reported = quick["record"]["numbers"]["networks"]["accuracy"]["Hill n=4"]["FGSM"]
    np.testing.assert_allclose(reported, accuracy, atol=1.5 / cfg["n_test"])
    # The table shows the same numbers (in %).
    table = next(t for t in quick["record"]["tables"] if t["title"].startswith("Networks: robust"))
    row = next(r for r in table["rows"] if r[0] == "Hill n=4")
    assert row[1] == pytest.approx(100 * accuracy[0], abs=0.15)
    assert row[table["columns"].index("FGSM ε=0.3")] == pytest.approx(100 * accuracy[-1], abs=0.35)
