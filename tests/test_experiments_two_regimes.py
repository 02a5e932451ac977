"""two-regimes end to end (the quick preset, run once) against independent oracles: T_{N,m}
written out in NumPy for the m = 0 optimum (every movable τ down by ε), the closed form of τ*,
random points of the ball against the exact minimal radius, FGSM written out with `jax.grad`
for one defended network; the verdict sentences on hand-made facts."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from adprf._results import Run
from adprf.analysis import minimal_radius
from adprf.cells import AdaptiveProofreading
from adprf.data import load_dataset
from adprf.experiments import REGISTRY, _two_regimes as two_regimes, run_experiment
from adprf.nets import train_defence

NAME = "two-regimes"


LIGHTER = {"networks": {"n_test": 100, "steepness": [1, 4]}}
"""The quick preset with two Hill filters (n = 1, 4) instead of five and the networks attacked on
100 images instead of 250 (their training and suites are most of the run; the tests recompute
the n = 4 network's numbers); the cells part is the preset's own."""


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    record = run_experiment(NAME, "quick", root=root, overrides=LIGHTER)
    config = REGISTRY[NAME].config("quick", LIGHTER)
    run = Run(NAME, "quick", config.as_dict(), root, data=record["data"])
    cells = json.loads((root / NAME / record["hash"] / "cells.json").read_text())["value"]
    return {"record": record, "cells": cells, "config": config, "run": run}


def _proofreading(tau, amount, N, m, tau_c):
    """T_{N,m} in NumPy, float64, over the last axis."""
    return np.sum(amount * tau**N, -1) / np.sum(amount * tau**m, -1) / tau_c ** (N - m)


def _clean(cells, m):
    tau = np.asarray(cells["tau"], np.float64)
    amount = np.ones_like(tau)
    n_ag = np.asarray(cells["tau"]).shape[1] - len(cells["antagonist"][0])
    amount[:, :n_ag] = np.asarray(cells["per_m"][m]["agonist_amount"], np.float64)[:, None]
    return tau, amount, np.asarray(cells["movable"], bool)


def test_record_has_tables_figures_and_runs_in_time(quick):
    record = quick["record"]
    assert record["figures"] == ["cells_success.png", "cells_histograms.png", "networks.png"]
    for figure in record["figures"]:
        assert (quick["run"].directory / figure).stat().st_size > 10_000
    assert len(record["tables"]) == 6 and record["notes"]
    print(f"two-regimes quick: {record['wall_time_s']} s")


def test_clean_distributions_start_on(quick):
    cells, cfg = quick["cells"], quick["config"].cells
    for m in range(cfg.N):
        tau, amount, _ = _clean(cells, m)
        t = _proofreading(tau, amount, cfg.N, m, cfg.tau_c)
        np.testing.assert_allclose(t, np.asarray(cells["T_target"]), rtol=1e-10)
        assert np.all(t > 1.0)


def test_m0_fgsm_is_the_optimum(quick):
    """T_{N,0} increases with every τ: moving every movable τ down by ε (FGSM's step) is the best
    point of the ball, so FGSM, every PGD and the NumPy optimum succeed at exactly the same (ε,
    distribution) pairs, and the smallest successful ε is the closed form's."""
    cells, cfg = quick["cells"], quick["config"].cells
    N, tau_c = cfg.N, cfg.tau_c
    eps = np.asarray(cells["epsilons"], np.float64)
    tau, amount, movable = _clean(cells, 0)
    lowered = np.where(movable[None], np.maximum(tau[None] - eps[:, None, None], 0.0), tau[None])
    oracle = _proofreading(lowered, amount[None], N, 0, tau_c) <= 1.0  # (E, D)
    methods = cells["per_m"][0]["methods"]
    fgsm = np.asarray(methods["FGSM"]["success"], bool)
    np.testing.assert_array_equal(fgsm, oracle)
    for spec in cfg.methods:
        if not spec.random_start:
            np.testing.assert_array_equal(np.asarray(methods[spec.name]["success"], bool), fgsm, err_msg=spec.name)
    assert 0 < oracle[-1].mean() and oracle[0].mean() == 0  # the grid brackets the transition
    # The smallest successful ε per distribution: the first grid ε at or above the exact radius.
    radius = minimal_radius(AdaptiveProofreading(N, 0, tau_c=tau_c), tau, amount, movable)
    found = fgsm.any(0)
    np.testing.assert_array_equal(found, np.isfinite(radius) & (radius <= eps[-1]))
    first = eps[np.argmax(fgsm, 0)][found]
    expected = np.array([eps[eps >= r][0] for r in radius[found]])
    np.testing.assert_array_equal(first, expected)
    # The bisection's root: moving every τ down by the radius puts T on the boundary.
    at_root = np.where(movable, np.maximum(tau - radius[:, None], 0.0), tau)[np.isfinite(radius)]
    np.testing.assert_allclose(_proofreading(at_root, amount[np.isfinite(radius)], N, 0, tau_c), 1.0, atol=1e-9)
    # And the reported medians agree with the per-distribution numbers.
    facts = quick["record"]["numbers"]["cells"]
    smallest = np.asarray(facts["per_m"][0]["smallest_epsilon"]["FGSM"], np.float64)
    np.testing.assert_array_equal(smallest[found], first)


def test_tau_star_in_the_table(quick):
    cfg = quick["config"].cells
    N, tau_c = cfg.N, cfg.tau_c
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
        star = np.asarray(cells["per_m"][m]["tau_star_clean"], np.float64)
        t = np.asarray(cells["per_m"][m]["T_clean"], np.float64)
        np.testing.assert_allclose(star, tau_c * (m * t / N) ** (1 / (N - m)), rtol=1e-6)


def test_pgd_at_least_fgsm_and_nothing_beats_the_optimum(quick):
    cells, cfg = quick["cells"], quick["config"].cells
    N = cfg.N
    eps = np.asarray(cells["epsilons"], np.float64)
    for m in range(N):
        per = cells["per_m"][m]
        fgsm = np.asarray(per["methods"]["FGSM"]["success"], bool)
        ref = np.asarray(per["methods"][cfg.reference]["success"], bool)
        assert np.all(ref.mean(1) >= fgsm.mean(1)), m
        radius = np.asarray(per["minimal_radius"], np.float64)
        for name in (spec.name for spec in cfg.methods):
            success = np.asarray(per["methods"][name]["success"], bool)
            # No attack turns a distribution off inside a ball smaller than the exact minimal radius.
            assert not np.any(success & (eps[:, None] < radius[None] * (1 - 1e-9))), (m, name)
        # FGSM's step as recorded: the engine's FGSM succeeds exactly where that step has T ≤ 1.
        np.testing.assert_array_equal(fgsm, np.asarray(per["fgsm_step"]["T"], np.float64) <= 1.0)
    # m ≥ 3: the sign step fails where PGD succeeds (the claim of the experiment, on this data).
    for m in (3, 4):
        per = cells["per_m"][m]
        gap = np.asarray(per["methods"][cfg.reference]["success"], bool).mean(1) - np.asarray(
            per["methods"]["FGSM"]["success"], bool
        ).mean(1)
        assert gap.max() >= 0.5, m


def test_network_accuracy_recomputed_with_a_written_out_fgsm(quick):
    """FGSM robust accuracy of the Hill n = 4 model (nested over ε, as reported), recomputed with
    `jax.grad` of the cross-entropy, one sign step and a clip to [0, 1]."""
    cfg = quick["config"].networks
    spec = {"filter": "hill", "threshold": cfg.threshold, "steepness": 4}
    model, seconds = train_defence(quick["run"], spec, dict(cfg.classifier), cfg.dataset, cfg.seed)
    assert seconds == 0.0  # loaded from the shared cache the run wrote
    test = load_dataset(cfg.dataset, "test")
    x, y = jnp.asarray(test.images[: cfg.n_test]), jnp.asarray(test.labels[: cfg.n_test])

    def loss(image, label):
        return optax.softmax_cross_entropy_with_integer_labels(model(image), label)

    grad = jax.vmap(jax.grad(loss))(x, y)
    correct = jnp.argmax(jax.vmap(model)(x), -1) == y
    accuracy = []
    for eps in cfg.epsilons:
        adversarial = jnp.clip(x + eps * jnp.sign(grad), 0.0, 1.0)
        correct = correct & (jnp.argmax(jax.vmap(model)(adversarial), -1) == y)
        accuracy.append(float(correct.mean()))
    (hill4,) = [m for m in quick["record"]["numbers"]["networks"]["models"] if m["label"] == "Hill n=4"]
    np.testing.assert_allclose(hill4["attacks"]["FGSM"]["accuracy"], accuracy, atol=1.5 / cfg.n_test)
    # The table shows the same numbers (in %).
    table = next(t for t in quick["record"]["tables"] if t["title"].startswith("Networks: robust"))
    row = next(r for r in table["rows"] if r[0] == "Hill n=4")
    assert row[1] == pytest.approx(100 * accuracy[0], abs=0.15)
    assert row[table["columns"].index("FGSM ε=0.3")] == pytest.approx(100 * accuracy[-1], abs=0.35)


# ----------------------------------------------------------------------------- verdicts on hand-made facts


def test_regime_label():
    nan = float("nan")
    assert two_regimes.regime_label(nan, nan) == "no critical point"
    assert two_regimes.regime_label(2.0, nan) == "critical point"
    assert two_regimes.regime_label(2.3, 1.7) == "critical point + inflection"


def test_no_critical_point_verdict():
    rate = [0.0, 0.5, 1.0]
    text = two_regimes.no_critical_point_verdict(rate, rate, rate)
    assert "0–100%" in text and "exactly as often as" in text and "NOT" not in text
    text = two_regimes.no_critical_point_verdict(rate, [0.0, 0.75, 1.0], [0.25, 0.5, 1.0])
    assert "NOT exactly as often as" in text and "and NOT exactly where" in text


def test_overshoot_note():
    success = {"FGSM": [0.0, 1.0, 0.5, 0.0], "PGD-10": [0.0, 1.0, 1.0, 1.0], "PGD-100": [0.0, 1.0, 1.0, 1.0]}
    medians = {"FGSM": 0.2, "PGD-10": 0.2, "PGD-100": 0.2}
    text = two_regimes.overshoot_note(2, 2.2104, success, medians, 0.15, 3.0)
    # the best PGD: the smallest median ε, then the highest rates, then the first listed
    assert text.startswith("m = 2 (τ* = 2.210)") and "PGD-10 0.2" in text and "exact minimum 0.15" in text
    assert "drops 2 time(s)" in text and "more often than the best PGD" not in text
    success = {"FGSM": [0.0, 0.75, 1.0], "PGD-10": [0.0, 0.25, 1.0], "PGD-100": [0.0, 0.5, 1.0]}
    medians = {"FGSM": float("inf"), "PGD-10": 0.3, "PGD-100": 0.3}
    text = two_regimes.overshoot_note(1, 2.0, success, medians, float("inf"), 3.0)
    assert "FGSM > 3" in text and "PGD-100 0.3" in text and "exact minimum > 3" in text
    assert "drops" not in text and "at some ε FGSM succeeds more often than the best PGD" in text


def test_fgsm_verdict_branches():
    best = np.array([0.0, 0.5, 1.0, 1.0])
    kind, text = two_regimes.fgsm_verdict(best, best, best, 1.0, 3.0)
    assert (kind, text) == ("optimal", "FGSM is optimal")
    kind, text = two_regimes.fgsm_verdict([0.0, 0.5, 0.97, 0.0], best, best, 0.95, 3.0)
    assert kind == "late" and "for 95% of the distributions" in text and "down to 0% at ε = 3" in text
    kind, text = two_regimes.fgsm_verdict([0.0, 0.25, 0.4, 0.1], best, best, 0.95, 3.0)  # best rate too low
    assert kind == "fails" and "at most 40% against 100% for PGD" in text and "for 95%" in text
    kind, _ = two_regimes.fgsm_verdict([0.0, 0.5, 1.0, 0.5], best, best, 0.5, 3.0)  # agrees too rarely
    assert kind == "fails"


def test_optimal_pgd_and_claim_verdicts():
    assert two_regimes.optimal_pgd_clause([]) == "no PGD reaches the exact optimum at every ε"
    assert two_regimes.optimal_pgd_clause(["PGD-100"]) == "PGD-100 reaches the exact optimum at every ε"
    assert two_regimes.optimal_pgd_clause(["PGD-10", "PGD-100"]).startswith("PGD-10, PGD-100 reach ")
    text = two_regimes.claim_verdict(["m = 0: a", "m = 3: b"], [3, 4], [])
    assert text.startswith("Verdict (cells) — m = 0: a; m = 3: b.")
    assert "holds for m = 3, 4 against m = 0" in text and "for m = none the sign step" in text


def test_antagonist_verdict():
    tau_b = [2.0, 2.2, 2.3, 2.4]
    text = two_regimes.antagonist_verdict([1.8, 1.9, 2.1, 2.2], tau_b, [2.1, 2.3, 2.4, 2.5], True, 80, "PGD-100")
    assert "τ2 = 1.800, 1.900, 2.100, 2.200 for m = 1 … 4" in text
    assert "below τ* on the boundary, moving towards τ_c as m grows" in text and "NOT" not in text
    assert "falls towards τ2 → 0" in text and "lies above" in text and "PGD-100's adversarials" in text
    text = two_regimes.antagonist_verdict([1.8, 2.3, 2.1, 2.5], tau_b, [2.1, 2.1, 2.4, 2.5], False, 80, "PGD-100")
    assert "NOT always below" in text and "NOT moving monotonically" in text
    assert "interior minimum (unexpected)" in text and "does NOT always lie above" in text


def test_gap_trend():
    assert two_regimes.gap_trend([0.1, 2.0, 2.0, 5.0]) == "grows monotonically with steepness"
    assert two_regimes.gap_trend([5.0, 2.0, 1.0]).startswith("does NOT grow with steepness: it shrinks")
    assert two_regimes.gap_trend([0.4, 21.0, 0.8]) == "does NOT grow monotonically with steepness"


def test_steepest_filter_verdict():
    text = two_regimes.steepest_filter_verdict("Hill n=16", 0.3, 0.47, 0.488, 0.484, "PGD-40", 0.062, 0.01)
    assert "FGSM 47.0%, PGD-40 48.8%, BPDA 48.4%" in text and "PGD is weaker than FGSM" in text
    assert "BPDA does not lower it further" in text and "(6.2% of the test pixels)" in text
    text = two_regimes.steepest_filter_verdict("Hill n=16", 0.3, 0.40, 0.30, 0.10, "PGD-40", 0.062, 0.01)
    assert "weaker" not in text and "BPDA lowers it further" in text
