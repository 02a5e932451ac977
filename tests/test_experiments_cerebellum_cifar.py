"""cerebellum-cifar end to end on small CIFAR-format files, and its skip when CIFAR-10 is absent."""

import json
import pickle

import numpy as np
import pytest

from adprf._report import write_report
from adprf.experiments import run_experiment
from adprf.experiments._cerebellum_cifar import COLUMNS, EXPERIMENT, HeadConfig, clean_gap_verdict, head_verdict

TRAIN_PER_BATCH, TEST_N = 40, 40
# Tiny: a 1/16-width VGG (channels 4…16, 256 features), one head (the paper's "Cerebellum", RC
# k = 4 + LTD) at 2·10⁴ synapses (m = 833), a 4-point ε grid with a large ε at which the attacks
# must bite. Most of the time is XLA compiling: each further head adds ~20 s on 2 busy cores.
TINY = {
    "n_train": None,
    "n_test": 24,
    "seeds": [0],
    "heads": [{"connectivity": "sparse", "k": 4, "ltd": True}],
    "vgg": {
        "width": 1 / 16,
        "epochs": 4,
        "batch_size": 20,
        "optimizer": "adam",
        "learning_rate": 3e-3,
        "weight_decay": 0.0,
        "schedule": "constant",
        "augment": True,
        "seed": 0,
    },
    "synapses": 2e4,
    "epsilons_255": [0, 2, 8, 64],
    "pgd": {"steps": 5, "step_size": None},
    "attack_batch": 24,
}


def write_cifar(root) -> None:
    """Five train batches of 40 and a test batch of 40 in the CIFAR-10 python format (extracted
    folder, Python 3 pickles), learnable: each class has its own colour, plus pixel noise."""
    rng = np.random.default_rng(0)
    palette = rng.uniform(0.15, 0.85, (10, 3))
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for index, name in enumerate(names):
        n = TEST_N if name == "test_batch" else TRAIN_PER_BATCH
        labels = [(i + 3 * index) % 10 for i in range(n)]
        images = palette[labels][:, None, None, :] + rng.uniform(-0.12, 0.12, (n, 32, 32, 3))
        pixels = np.rint(255 * np.clip(images, 0, 1)).astype(np.uint8).transpose(0, 3, 1, 2).reshape(n, 3072)
        (folder / name).write_bytes(pickle.dumps({b"data": pixels, b"labels": labels}, protocol=2))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Run once with an empty data folder (skipped), once after the files appear, once more (loaded)."""
    data, results = tmp_path_factory.mktemp("data"), tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ADPRF_DATA", str(data))
        skipped = run_experiment("cerebellum-cifar", "quick", root=results, overrides=TINY)
        skipped_report = write_report(results).read_text()
        write_cifar(data)
        computed = run_experiment("cerebellum-cifar", "quick", root=results, overrides=TINY)
        loaded = run_experiment("cerebellum-cifar", "quick", root=results, overrides=TINY)
    return {
        "data": data,
        "results": results,
        "skipped": skipped,
        "skipped_report": skipped_report,
        "computed": computed,
        "loaded": loaded,
    }


def test_absent_cifar_is_skipped_with_the_fetch_command_and_not_cached(runs):
    skipped, computed = runs["skipped"], runs["computed"]
    reason = f"CIFAR-10 not found in {runs['data'] / 'cifar10'}: run `adprf data fetch cifar10`"
    assert skipped["skipped"].startswith(reason) and skipped["summary"] == skipped["skipped"]
    assert not skipped["_loaded"] and "tables" not in skipped
    assert f"_Skipped: {reason}" in runs["skipped_report"]
    # The skip was not final: once the files exist the run computes, under a hash that now
    # includes the data's fingerprint...
    assert computed["hash"] != skipped["hash"] and not computed["_loaded"] and "skipped" not in computed
    assert computed["data"]["cifar10"]["sizes"] == {"train": 5 * TRAIN_PER_BATCH, "test": TEST_N}
    stored = json.loads((runs["results"] / "cerebellum-cifar" / computed["hash"] / "result.json").read_text())
    assert "skipped" not in stored and stored["tables"]
    # ...and a finished run is loaded, not recomputed.
    assert runs["loaded"]["_loaded"] and runs["loaded"]["numbers"] == computed["numbers"]


def test_table_structure_and_sanity(runs):
    record = runs["computed"]
    table = record["tables"][0]
    assert table["columns"] == ["model", "attack loss", *COLUMNS, "paper", "compute s"] and len(COLUMNS) == 5
    names = [row[0] for row in table["rows"]]
    assert names == ["VGG alone", "VGG + RC k=4 m=833 + LTD"]
    assert [row[1] for row in table["rows"]] == ["cross-entropy", "MSE"]
    assert table["rows"][0][7] == "93 / 54.4 / 43.1 / 35.7 / 15.4"
    assert all(row[7].startswith("92.7–92.9 / –") for row in table["rows"][1:])
    for row in table["rows"]:
        test, fgsm2, fgsm8, pgd2, pgd8 = row[2:7]
        assert all(0 <= v <= 100 for v in row[2:7])
        assert test > 40, row  # class colours are learnable (chance: 10 %)
        assert pgd2 <= fgsm2 + 10 and pgd8 <= fgsm8 + 10, row  # 24 attacked images: 10 points ≈ 2 images
    for name, curves in record["numbers"]["curves"].items():
        fgsm, pgd = np.asarray(curves["FGSM"]), np.asarray(curves["PGD"])
        assert fgsm[0] == pgd[0] and np.all(np.diff(pgd) <= 1e-9) and np.all(np.diff(fgsm) <= 1e-9), name
        assert pgd[-1] < pgd[0], name  # at ε = 64/255 the attack bites, through the encoder
        assert pgd[-1] <= fgsm[-1] + 0.1, name
    assert record["numbers"]["feature_factor"] > 0
    assert [row[0] for row in record["tables"][1]["rows"]] == names[1:]


def test_figures_report_and_shared_models(runs):
    record, results = runs["computed"], runs["results"]
    folder = results / "cerebellum-cifar" / record["hash"]
    assert set(record["figures"]) == {"cifar_curves.png", "cifar_examples.png"}
    assert all((folder / f).stat().st_size > 1000 for f in record["figures"])
    report = write_report(results).read_text()
    assert "**CIFAR-10 robust accuracy (%)**" in report and "_Skipped" not in report
    models = [json.loads(p.read_text()) for p in (results / "_models").glob("*.json") if p.with_suffix(".eqx").exists()]
    assert any(m.get("architecture") == "VGGClassifier" for m in models)
    assert sum("cerebellum" in m for m in models) == 1


def test_heads_become_specs_at_the_synapse_budget():
    cfg = EXPERIMENT.config("quick", {"heads": [{"connectivity": "sparse", "k": 4, "ltd": True}]})
    assert cfg.heads == (HeadConfig(connectivity="sparse", k=4, ltd=True),)
    assert cfg.heads[0].spec(1024, 2e4).label == "RC k=4 m=833 + LTD"  # ⌊2·10⁴ / 24⌋
    dense = HeadConfig(connectivity="dense", ltd=False).spec(4096, 4.8e6)
    assert (dense.width, dense.k, dense.label) == (1166, None, "FC m=1166")  # the paper's dense head
    assert HeadConfig(connectivity="dense", width=50).spec(4096, 4.8e6).width == 50
    quick = EXPERIMENT.presets["quick"].as_dict()
    assert quick["vgg"]["width"] == 0.25 and quick["pgd"] == {"steps": 40, "step_size": None}
    with pytest.raises(ValueError, match="runs on CIFAR-10"):
        EXPERIMENT.config("quick", {"dataset": "mnist"})


def test_clean_gap_verdict():
    below = clean_gap_verdict(65.0)
    assert below.startswith("28.0 points below the paper's 93 %") and "quick preset" in below
    assert clean_gap_verdict(93.5) == "at or above the paper's 93 %"


def test_head_verdict():
    robust = head_verdict("VGG + RC k=4 m=833 + LTD", 16.7, 0.0)
    assert "Best head under PGD 8/255: VGG + RC k=4 m=833 + LTD (16.7 % vs 0 % for the VGG)" in robust
    assert "re-checked" in robust
    plain = head_verdict("VGG + FC m=459 + LTD", 3.0, 5.0)
    assert plain.startswith("No head is more robust") and "re-checked" not in plain
