"""cerebellum-dynamics end to end, small: the rate network's steady state is the static model (its
accuracy recomputed here from the cached model), and PGD through the engine lowers the
conditioned response at the US monotonically in ε while noise of the same size does not."""

import jax
import numpy as np
import pytest

from adprf._results import Run
from adprf.cerebellum import Cerebellum
from adprf.data import load_dataset
from adprf.experiments._cerebellum_dynamics import (
    EXPERIMENT,
    causality_verdict,
    first_suppression,
    linearity_verdict,
    noise_verdict,
    peak_verdict,
    steady_state_verdict,
)
from adprf.experiments._registry import run_experiment

NAME = "cerebellum-dynamics"
SMALL = {
    "static": {"width": 300, "epochs": 2, "n_test": 100, "bins": 20},
    "timing": {"inputs": 20, "width": 100, "n_train": 10, "n_test": 6},
    "attack": {"epsilons": (0.0, 0.02, 0.05, 0.1), "steps": 5},
}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    record = run_experiment(NAME, "quick", root=root, overrides=SMALL)
    config = EXPERIMENT.config("quick", SMALL)
    return {
        "record": record,
        "run": Run(NAME, "quick", config.as_dict(), root, data=record["data"]),
        "config": config,
    }


def test_record_has_tables_and_figures(small):
    record, run = small["record"], small["run"]
    assert record["figures"] == ["steady_state.png", "conditioning.png", "adversarial_stimulus.png"]
    for figure in record["figures"]:
        assert (run.directory / figure).stat().st_size > 10_000
    assert len(record["tables"]) == 2 and len(record["notes"]) >= 5
    assert "Beyond the paper" in record["notes"][0]
    print(f"cerebellum-dynamics (small): {record['wall_time_s']} s")


def test_steady_state_is_the_static_model(small):
    numbers, cfg = small["record"]["numbers"]["steady_state"], small["config"]
    assert numbers["max_error"] < 1e-4
    assert numbers["agreement"] == 1.0 and numbers["ode_accuracy"] == numbers["static_accuracy"]
    # the static accuracy, recomputed from the cached trained model
    test = load_dataset(cfg.dataset, "test")
    n = cfg.static.n_test
    template = Cerebellum(784, cfg.static.width, ltd=cfg.static.ltd, key=jax.random.PRNGKey(0))
    model = small["run"].model("cerebellum", template, lambda: pytest.fail("the trained model was not cached"))
    predictions = np.asarray(jax.vmap(model)(test.images[:n])).argmax(-1)
    assert np.mean(predictions == test.labels[:n]) == pytest.approx(numbers["static_accuracy"])
    assert numbers["static_accuracy"] > 0.5


def test_attack_lowers_the_conditioned_response_monotonically(small):
    t = small["record"]["numbers"]["timing"]
    cr, suppressed = np.asarray(t["cr_mean"]), np.asarray(t["suppressed"])
    noise = np.asarray(t["noise_cr_mean"])
    assert t["clean_cr_mean"] > 0.5 and cr[0] == pytest.approx(t["clean_cr_mean"], rel=1e-5)
    assert abs(t["clean_peak_time"] - small["config"].timing.isi) <= 2 * small["config"].timing.dt
    assert np.all(np.diff(cr) < 0), cr
    assert suppressed[0] == 0 and np.all(np.diff(suppressed) >= 0) and suppressed[-1] == 1
    assert np.all(np.abs(noise - cr[0]) < 0.5 * (cr[0] - cr[-1]))  # noise of the same size does far less
    # near-linear at the smallest ε: PGD's drop is close to the first-order optimum's
    linear = np.asarray(t["first_order_cr_mean"])
    assert (cr[0] - cr[1]) == pytest.approx(linear[0] - linear[1], rel=0.2)
    assert t["after_us_max"] == 0.0  # causality


def test_table_rows_match_the_numbers(small):
    table = small["record"]["tables"][1]
    t = small["record"]["numbers"]["timing"]
    assert [row[0] for row in table["rows"]] == [f"{e:g}" for e in small["config"].attack.epsilons]
    np.testing.assert_allclose([row[1] for row in table["rows"]], t["cr_mean"], atol=1e-3)
    np.testing.assert_allclose([row[3] for row in table["rows"]], 100 * np.asarray(t["suppressed"]), atol=0.1)


def test_presets_keep_the_old_values():
    quick = EXPERIMENT.presets["quick"].as_dict()
    assert quick["static"]["granule_time"] == [5.0, 50.0] and quick["static"]["bins"] == 50
    assert quick["timing"]["granule_time"] == [10.0, 1000.0] and quick["timing"]["rtol"] == 1e-4
    assert quick["attack"]["epsilons"] == [0.0, 0.01, 0.02, 0.03, 0.05, 0.1] and not quick["attack"]["random_start"]
    paper = EXPERIMENT.presets["paper"]
    assert (paper.dataset, paper.static.width, paper.timing.dt, paper.attack.steps) == ("mnist", 5000, 10.0, 40)


def test_steady_state_verdict():
    assert steady_state_verdict(3e-7, 1.0) == "its steady state is the static model"
    departs = steady_state_verdict(2e-3, 0.99)
    assert "departs" in departs and "2.0e-03" in departs and "99.00 %" in departs
    assert "departs" in steady_state_verdict(1e-6, 0.998)  # one prediction differs


def test_first_suppression():
    success = [[False, False], [False, True], [True, True]]
    assert first_suppression([0.0, 0.02, 0.05], success) == "0.02"
    assert first_suppression([0.0, 0.02, 0.05], [[False]] * 3) == "> 0.05 (none)"


def test_noise_verdict():
    assert "robust to noise" in noise_verdict(clean_cr=1.0, pgd_cr=0.2, noise_cr=0.95)
    assert "comparably" in noise_verdict(clean_cr=1.0, pgd_cr=0.2, noise_cr=0.5)


def test_linearity_verdict():
    assert linearity_verdict(0.11, 0.1).startswith("near-linear")
    worse = linearity_verdict(0.3, 0.1)
    assert worse.startswith("not linear") and "0.300" in worse and "0.100" in worse


def test_causality_verdict():
    assert "leaves those bins untouched" in causality_verdict(0.0)
    moved = causality_verdict(0.05)
    assert "yet PGD changed those bins by up to 0.05" in moved


def test_peak_verdict():
    assert "moves away" in peak_verdict(isi=300.0, clean_peak=300.0, attacked_peak=220.0)
    assert "without moving" in peak_verdict(isi=300.0, clean_peak=300.0, attacked_peak=300.0)
