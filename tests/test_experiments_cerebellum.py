"""The cerebellum experiments end to end at tiny size, with one number recomputed by hand."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._report import write_report
from adprf.cerebellum import Cerebellum, CerebellumSpec, sparsity_width
from adprf.experiments import run_experiment
from adprf.experiments._cerebellum_ablation import ablation_verdict
from adprf.experiments._cerebellum_batch1 import (
    audit_verdict,
    batch_note,
    paper_pgd,
    robustness_drop,
    survival_cell,
    worst_curve,
)
from adprf.experiments._cerebellum_sparsity import scale_note, sparse_pgd_verdict
from adprf.experiments._cerebellum_width import ltd_fgsm_verdict, paper_ltd_gain

TINY = {"n_train": 800, "n_test": 60, "epochs": 3, "pgd": {"steps": 10, "step_size": 0.03}}


def _cached_model(root, spec):
    """The trained model of a cerebellar spec from the shared cache (its JSON names the spec)."""
    for path in (root / "_models").glob("*.json"):
        saved = json.loads(path.read_text())
        if saved.get("cerebellum") == spec:
            template = CerebellumSpec.from_dict(spec).build(jax.random.split(jax.random.PRNGKey(saved["seed"]))[0])
            return eqx.tree_deserialise_leaves(path.with_suffix(".eqx"), template)
    raise AssertionError(f"no cached model for {spec}")


def _fgsm_by_hand(model: Cerebellum, x, y, eps):
    """FGSM on the MSE to one-hot, written out: x' = clip(x + ε sign ∇L, 0, 1)."""

    def loss(img, label):
        return 0.5 * jnp.sum((model(img) - jax.nn.one_hot(label, 10)) ** 2)

    g = jax.vmap(jax.grad(loss))(x, y)
    adv = jnp.clip(x + eps * jnp.sign(g), 0, 1)
    clean_ok = jnp.argmax(jax.vmap(model)(x), -1) == y
    return float(jnp.mean(clean_ok & (jnp.argmax(jax.vmap(model)(adv), -1) == y)))


def test_width_experiment(tmp_path):
    record = run_experiment("cerebellum-width", "quick", root=tmp_path, overrides={**TINY, "widths": (300, 1000)})
    rows = record["tables"][0]["rows"]
    assert [r[:2] for r in rows] == [[300, "no"], [300, "yes"], [1000, "no"], [1000, "yes"]]
    assert rows[2][-2] == "94.1 / 20.4 / 10.5 / 9 / 1.3" and rows[0][-2] == "–"  # the paper's m = 1000 row
    for model in record["numbers"]["models"]:
        curves = model["curves"]
        fgsm, pgd = np.asarray(curves["FGSM"]), np.asarray(curves["PGD"])
        assert np.all(np.diff(pgd) <= 1e-9) and pgd[0] == fgsm[0] > 0.6
    assert all(r[2] > 70 for r in rows)  # clean accuracy (%) on the whole test split
    # an independent FGSM at ε = 0.1 on the cached dense m = 1000 LTD model gives the table's number
    from adprf.data import load_dataset

    test = load_dataset("mnist-subset", "test")
    model = _cached_model(tmp_path, {"width": 1000, "connectivity": "dense", "ltd": True})
    by_hand = _fgsm_by_hand(model, jnp.asarray(test.images[:60]), jnp.asarray(test.labels[:60]), 0.1)
    assert rows[3][3] == pytest.approx(round(100 * by_hand, 1), abs=1e-6)
    assert (tmp_path / "cerebellum-width" / record["hash"] / "width_curves.png").stat().st_size > 1000
    assert "Width sweep" in write_report(tmp_path).read_text()


@pytest.mark.slow
def test_sparsity_then_ablation_share_models(tmp_path):
    common = {**TINY, "synapses": 2.4e4}
    sparsity = run_experiment("cerebellum-sparsity", "quick", root=tmp_path, overrides={**common, "ks": (4, 784)})
    rows = sparsity["tables"][0]["rows"]
    assert [(r[0], r[1]) for r in rows] == [(4, 1000), (4, 1000), (784, 29), (784, 29)]  # m = ⌊2.4e4/(k+20)⌋
    assert sparsity_width(4, 2.4e4) == 1000
    assert sparsity["tables"][1]["columns"][0] == "k"
    models_before = set((tmp_path / "_models").glob("*.eqx"))
    ablation = run_experiment("cerebellum-ablation", "quick", root=tmp_path, overrides={**common, "cnn": {"epochs": 1}})
    by_name = {r[0]: r for r in ablation["tables"][0]["rows"]}
    assert set(by_name) == {"Baseline CNN (Madry)", "Base", "Base + LTD", "Base + RC", "Cerebellum (RC + LTD)"}
    sparse_rows = {(r[0], r[2]): r for r in rows}
    assert by_name["Cerebellum (RC + LTD)"][2:7] == sparse_rows[(4, "yes")][3:8]  # the same cached model and curves
    assert by_name["Base + RC"][2:7] == sparse_rows[(4, "no")][3:8]
    new = set((tmp_path / "_models").glob("*.eqx")) - models_before
    assert len(new) == 3  # dense Base, Base + LTD and the CNN; the RC models were reused
    assert by_name["Baseline CNN (Madry)"][2] > 80


def test_batch1_experiment_without_audit(tmp_path):
    record = run_experiment(
        "cerebellum-batch1",
        "quick",
        root=tmp_path,
        overrides={
            **TINY,
            "n_train": 300,
            "synapses": 2.4e4,
            "ks": (4,),
            "audit": {"ks": (), "n_test": 20, "batch_size": 16, "epsilons": (0.1, 0.3)},
        },
    )
    rows = record["tables"][0]["rows"]
    assert [(r[2], r[3]) for r in rows] == [("no", 1), ("no", 50), ("yes", 1), ("yes", 50)]
    assert rows[2][-2] == 95.2 and rows[3][-2] == 55.8  # the paper's PGD .1: batch 1 and batch 50, k = 4 + LTD
    assert rows[0][4] != rows[1][4] or rows[0][7] != rows[1][7]  # batch 1 and 50 train different models


@pytest.mark.slow
def test_batch1_experiment_audits_the_ltd_model(tmp_path):
    record = run_experiment(
        "cerebellum-batch1",
        "quick",
        root=tmp_path,
        overrides={
            **TINY,
            "n_train": 300,
            "synapses": 2.4e4,
            "ks": (4,),
            "audit": {"ks": (4,), "n_test": 30, "batch_size": 16, "epsilons": (0.1, 0.3)},
        },
    )
    (audit_row,) = record["tables"][1]["rows"]
    assert audit_row[0] == 4 and audit_row[-1].startswith(("survives", "does not survive"))
    (audit,) = record["tables"][0]["audits"].values()
    names = {c["name"] for c in audit["checks"]}
    assert {"cross-entropy", "margin-loss", "more-steps", "restarts", "larger-step"} <= names
    worst = [float(v) for v in audit_row[-2].split(" / ")]
    reference = [float(v) for v in audit_row[1].split(" / ")]
    assert all(w <= r for w, r in zip(worst, reference))


# --- verdict sentences, from hand-made facts -----------------------------------------------------


def test_width_verdict():
    assert paper_ltd_gain(None) == "–"
    from adprf.cerebellum import PAPER_WIDTH

    assert paper_ltd_gain(PAPER_WIDTH[200000]) == 16.8
    helps = ltd_fgsm_verdict(5000, 8.0, 4.3)
    assert "Yes here" in helps and "m = 5000" in helps and "ours +8 points" in helps and "paper +4.3 points" in helps
    hurts = ltd_fgsm_verdict(300, -1.5, "–")
    assert "Not here" in hurts and "ours -1.5 points" in hurts and "paper – points" in hurts


def test_sparsity_verdicts():
    yes = sparse_pgd_verdict((4, 2), 30.5, (784, 50), 12.0)
    assert "Yes here" in yes and "30.5 % at k ∈ [4, 2]" in yes and "12 % at k ∈ [784, 50]" in yes
    assert "Not here" in sparse_pgd_verdict((4,), 10.0, (50,), 12.0)
    assert "(the paper)" in scale_note(4.8e6) and "reduced" in scale_note(4.8e5) and "4.8e+05" in scale_note(4.8e5)


def test_ablation_verdict():
    assert ablation_verdict(40.0, 10.0, 30.0).endswith("ours beats both.")
    assert ablation_verdict(20.0, 10.0, 30.0).endswith("ours beats Base only.")
    assert ablation_verdict(20.0, 25.0, 15.0).endswith("ours beats the CNN only.")
    text = ablation_verdict(5.0, 10.0, 30.0)
    assert text.endswith("ours beats neither.") and "full cerebellum 5 %" in text


def test_batch1_verdicts():
    curves = {"PGD": [0.9, 0.5], "PGD-200": [0.88, 0.2], "FGSM": [0.95, 0.6], "unbounded": [0.0, 0.0]}
    worst = worst_curve(curves)
    assert worst == [0.88, 0.2]  # the unbounded attack does not count
    drop = robustness_drop(curves["PGD"], worst)
    assert drop == pytest.approx(30.0)
    assert survival_cell(True, 1.0) == "survives" and survival_cell(False, drop) == "does not survive (−30 points)"
    fails = audit_verdict(4, curves["PGD"], worst, (0.1, 0.3), False, drop)
    assert "90 % at ε = 0.1, 50 % at ε = 0.3" in fails and "88 %, 20 %" in fails
    assert "does not survive" in fails and "30 points" in fails and "gradient masking" in fails
    assert audit_verdict(4, [0.9], [0.89], (0.1,), True, 1.0).endswith("survives stronger attacks.")
    assert paper_pgd(4, True, 1) == 95.2 and paper_pgd(4, False, 1) == "15–34" and paper_pgd(4, True, 50) == 55.8
    assert paper_pgd(3, True, 1) == "–" and paper_pgd(3, True, 50) == "–"
    assert (
        batch_note(4, 80.0, 20.5)
        == "k = 4, LTD: PGD ε = 0.1 80 % with batch 1 vs 20.5 % with batch 50 (paper: 95.2 vs 55.8)."
    )


def test_presets_keep_the_old_values_and_take_overrides():
    from adprf.experiments._registry import get

    pgd = {"steps": 40, "step_size": 0.01}
    old_quick = {  # the dict presets before the typed configs
        "cerebellum-width": {"widths": [1000, 2000, 5000], "train_batch": 50},
        "cerebellum-sparsity": {"ks": [784, 50, 4, 2, 1], "synapses": 4.8e5, "train_batch": 50},
        "cerebellum-ablation": {"seed_cnn": 0, "synapses": 4.8e5, "train_batch": 50},
        "cerebellum-batch1": {"n_train": 2000, "ks": [4], "synapses": 2.4e5},
    }
    for name, specific in old_quick.items():
        config = get(name).config("quick", {"n_test": 7, "pgd": {"steps": 3}})
        assert config.n_test == 7 and config.pgd.steps == 3 and config.pgd.step_size == 0.01
        plain = get(name).presets["quick"].as_dict()
        expected = {"dataset": "mnist-subset", "n_test": 300, "seeds": [0], "epochs": 10, "pgd": pgd, **specific}
        plain["pgd"].pop("data_substituted", None)
        assert {k: plain[k] for k in expected} == expected
    batch1 = get("cerebellum-batch1").presets["paper"]
    assert batch1.audit.ks == (1, 2, 4, 10) and batch1.audit.n_test == 1000 and batch1.audit.tolerance == 0.03
    ablation = get("cerebellum-ablation").presets["paper"]
    assert ablation.cnn.classifier() == {"arch": "cnn", "epochs": 10, "batch_size": 128}
    assert get("cerebellum-ablation").presets["quick"].cnn.classifier() == {
        "arch": "cnn",
        "epochs": 3,
        "batch_size": 128,
    }
