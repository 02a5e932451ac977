"""ligand-boundary, mtl-to-ml and digits-boundary-tilting end to end at tiny size, against
independent oracles: a NumPy loop of the v1 descent, the closed form of the critical point, and
scikit-learn's PCA + linear SVM written out again; the verdict sentences on hand-made facts.
(The descent itself, `adprf.analysis.boundary_descent`, is tested in test_boundary_descent.py.)"""

import functools
import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.svm import LinearSVC

from adprf._ligands import Ligands, agonists, antagonists, ligand_image, self_ligands, v1_mixture
from adprf.cells import AdaptiveProofreading, HistogramReadout, OneOf, proofreading_grid
from adprf.data import load_dataset
from adprf.experiments import _ligand_boundary as ligand_boundary, _mtl_to_ml as mtl_to_ml, run_experiment
from adprf.experiments._mtl_to_ml import AGONIST, ANTAGONIST, SELF, letter_masks, mtl_classes, mtl_ligands


def numpy_descent(tau, N, m, max_iterations, tau_c=3.0):
    """The v1 descent in NumPy (float64): (final τ, updates applied before the first T ≤ 1);
    every ligand with clean τ < τ_c moves by −0.2 ∂T/∂τ_i, a τ below 0 is reset to 0.1."""
    tau = np.array(tau, np.float64)
    movable = tau < tau_c
    scale = tau_c ** (N - m)
    for iteration in range(max_iterations + 1):
        s_n, s_m = np.sum(tau**N), np.sum(tau**m)
        if s_n / s_m / scale <= 1 or iteration == max_iterations:
            return tau, iteration
        adaptive = m * tau ** (m - 1) * s_n if m else 0
        grad = (N * tau ** (N - 1) * s_m - adaptive) / (s_m**2 * scale)
        tau = np.where(movable, tau - 0.2 * grad, tau)
        tau = np.where(tau < 0, 0.1, tau)


# ----------------------------------------------------------------------------- builders


def test_antagonists_and_ligand_image():
    key = jax.random.PRNGKey(3)
    ant = antagonists(key, 500, tau_c=3.0)
    assert np.all(np.asarray(ant.tau) <= 3.0) and np.all(np.asarray(ant.tau) >= 0) and np.all(ant.amount == 1)
    np.testing.assert_allclose(np.mean(3.0 - np.asarray(ant.tau)), np.sqrt(2 / np.pi) / 3, rtol=0.15)
    classes = np.array([[0, 1, 2], [2, 1, 0]])
    image = ligand_image(
        key,
        classes,
        [
            self_ligands,
            functools.partial(agonists, mean=10.0, std=0.0),
            functools.partial(antagonists, tau_c=5.0, scale=0.0),
        ],
    )
    assert image.tau.shape == (2, 3)
    np.testing.assert_allclose(np.asarray(image.tau)[classes == 1], 10.0)
    np.testing.assert_allclose(np.asarray(image.tau)[classes == 2], 5.0)
    assert np.all(np.asarray(image.tau)[classes == 0] < 3)
    with pytest.raises(ValueError, match="one builder per class"):
        ligand_image(key, classes, [self_ligands])


def test_letter_masks_spell_mtl():
    masks = letter_masks("MTL", (20, 50))
    assert masks.shape == (3, 20, 50) and not np.any(masks.sum(0) > 1)
    assert all(mask.sum() > 30 for mask in masks)
    centres = [np.mean(np.nonzero(mask)[1]) for mask in masks]
    assert centres[0] < centres[1] < centres[2]  # M, then T, then L
    assert not masks[:, 0].any() and not masks[:, :, -1].any()  # the margin is background
    t_columns = np.nonzero(masks[1])[1]
    top_row = np.nonzero(masks[1].any(1))[0][0]
    assert masks[1][top_row].sum() > 2 * masks[1][-3].sum()  # T: a wide bar over a stem
    classes, letters = mtl_classes((20, 50))
    assert set(np.unique(classes)) == {SELF, AGONIST, ANTAGONIST}
    assert np.array_equal(classes == ANTAGONIST, letters == 2) and t_columns.size


# ----------------------------------------------------------------------------- models


def test_one_of_and_histogram_readout_gradients():
    with jax.enable_x64(True):
        lig = v1_mixture(jax.random.PRNGKey(1), n=300)
        lig = Ligands(lig.tau.astype(jnp.float64), lig.amount.astype(jnp.float64))
        members = [AdaptiveProofreading(n, m) for n, m in proofreading_grid(5)]
        value_and_grad = eqx.filter_jit(lambda model, x: jax.value_and_grad(model)(x))  # one compilation
        for index in (0, 9, 14):
            value, grad = value_and_grad(OneOf(members, index), lig)
            np.testing.assert_allclose(value, members[index](lig), rtol=1e-14)
            np.testing.assert_allclose(grad.tau, members[index].gradient(lig), rtol=1e-10)
        with pytest.raises(ValueError, match="out of range"):
            OneOf(members, 15)
        # binned: every ligand gets its bin's derivative, count_b · g(centre_b)
        model = AdaptiveProofreading(4, 2)
        readout = HistogramReadout.covering(model, 0.2, float(lig.tau.max()))
        index = np.floor(np.asarray(lig.tau) / 0.2).astype(int)
        counts = np.bincount(index, minlength=readout.n_bins)
        centres = Ligands((np.arange(readout.n_bins) + 0.5) * 0.2, counts.astype(np.float64))
        np.testing.assert_allclose(readout(lig), model(centres), rtol=1e-13)
        np.testing.assert_allclose(jax.grad(readout)(lig).tau, np.asarray(model.gradient(centres))[index], rtol=1e-10)


# ----------------------------------------------------------------------------- descents


def test_ligand_boundary_end_to_end(tmp_path):
    overrides = {"n_ligands": 400, "max_iterations": 3000, "share_compilation": True}
    record = run_experiment("ligand-boundary", "quick", root=tmp_path, overrides=overrides)
    folder = tmp_path / "ligand-boundary" / record["hash"]
    assert set(record["figures"]) == {"histograms.png", "images.png"}
    assert all((folder / f).stat().st_size > 1000 for f in record["figures"])
    saved = json.loads((folder / "descent.json").read_text())["value"]
    with jax.enable_x64(True):
        clean = np.asarray(ligand_boundary.initial_distribution(ligand_boundary.Config(**overrides)).tau)
    numbers = record["numbers"]
    assert numbers["grid"] == [list(p) for p in proofreading_grid(5)]
    rows = record["tables"][0]["rows"]
    for i, (n, m) in enumerate(proofreading_grid(5)):
        d = numbers["descents"][i]
        tau, k = numpy_descent(clean, n, m, 3000)
        assert (d["N"], d["m"]) == (n, m) and d["iterations"] == k == saved["iterations"][i] == rows[i][3]
        assert d["reached"] == (k < 3000)
        np.testing.assert_allclose(saved["tau"][i], tau, atol=1e-9)
        assert sum(d["fixed"]) + sum(d["movable"]) == 400 and np.shape(d["image"]) == (20, 20)
        if m == 0:
            assert k == 0 and d["T_before"] <= 1 and rows[i][4] == "already T ≤ 1"
        elif k < 3000:
            assert d["T_after"] <= 1 < d["T_before"] and rows[i][4] == "T ≤ 1"
            np.testing.assert_allclose(d["tau_star_final"], 3 * (m / n) ** (1 / (n - m)), rtol=0.02)
            np.testing.assert_allclose(d["tau_star_boundary"], 3 * (m / n) ** (1 / (n - m)), rtol=1e-15)
    assert len(rows) == 15


def test_ligand_boundary_verdicts():
    status = ligand_boundary.stop_status
    assert (status(0, True), status(12, True), status(400, False)) == ("already T ≤ 1", "T ≤ 1", "cap (T > 1)")
    assert ligand_boundary.already_note([], 0.3) is None
    note = ligand_boundary.already_note(["(1,0)", "(2,0)"], 0.3)
    assert "(1,0), (2,0)" in note and "30% agonists" in note
    assert ligand_boundary.capped_note([], 1000) is None
    assert "cap of 400,000 iterations with T > 1: (5,4)" in ligand_boundary.capped_note(["(5,4)"], 400_000)
    assert ligand_boundary.size_note(10201, 1_000_000) is None
    assert "R = 400 with cap 3,000 corresponds to a v1 cap of about 76,507" in ligand_boundary.size_note(400, 3000)
    assert "R = 10201 with cap 400,000" in ligand_boundary.size_note(10201, 400_000)


def test_mtl_to_ml_end_to_end(tmp_path):
    overrides = {"shape": (14, 36), "max_iterations": 4000}
    record = run_experiment("mtl-to-ml", "quick", root=tmp_path, overrides=overrides)
    folder = tmp_path / "mtl-to-ml" / record["hash"]
    assert (folder / "mtl_to_ml.png").stat().st_size > 1000
    classes, letters = mtl_classes((14, 36), record["config"]["margin"])
    with jax.enable_x64(True):
        clean = np.asarray(mtl_ligands(jax.random.PRNGKey(record["config"]["seed"]), classes, 3.0).tau, np.float64)
    numbers = record["numbers"]
    assert numbers["counts"]["antagonist"] == int((letters == 2).sum()) > 0
    rows = record["tables"][0]["rows"]
    for i, (n, m) in enumerate(proofreading_grid(5, n_min=2, m_min=1)):
        d = numbers["models"][i]
        _, k = numpy_descent(clean, n, m, 4000)
        assert (d["N"], d["m"]) == (n, m) and d["iterations"] == k
        assert np.shape(d["view_after"]) == np.shape(d["image_after"]) == (14, 36)
        if k > 0:  # the descent dims the antagonists' T in the cell's view
            assert d["T_visibility_after"] < d["T_visibility_before"]
        if rows[i][-1] == "yes":
            assert d["T_visibility_after"] <= 0.25 and d["reached"]


def test_mtl_to_ml_verdicts():
    assert mtl_to_ml.reads_ml(120, True, 0.2, 0.25)
    assert not mtl_to_ml.reads_ml(0, True, 0.2, 0.25)  # nothing moved
    assert not mtl_to_ml.reads_ml(120, False, 0.2, 0.25)  # stopped at the cap
    assert not mtl_to_ml.reads_ml(120, True, 0.3, 0.25)  # the T is still visible
    assert mtl_to_ml.reads_ml_note(["(4,2)", "(5,3)"], 0.25).endswith("Reads ML: (4,2), (5,3).")
    assert "≤ 0.25" in mtl_to_ml.reads_ml_note([], 0.25) and "Reads ML: none." in mtl_to_ml.reads_ml_note([], 0.25)
    assert mtl_to_ml.already_note([]) is None and "attack: (2,1)." in mtl_to_ml.already_note(["(2,1)"])
    assert mtl_to_ml.stop_status(3, False) == "cap (T > 1)"


def test_digits_boundary_tilting_end_to_end(tmp_path):
    record = run_experiment("digits-boundary-tilting", "quick", root=tmp_path, overrides={"limit": 300})
    scores = np.asarray(record["numbers"]["scores"])
    assert scores.shape == (2, 2) and np.all((scores >= 0) & (scores <= 1))
    chance = record["numbers"]["chance"]
    assert scores[0, 0] > chance + 0.3  # clean training, clean test: far above chance
    assert scores[0, 1] < scores[0, 0] - 0.1  # the perturbation hurts the clean classifier
    # oracle: the same protocol written out again with scikit-learn, for ε_train = ε_test = 0.4
    train, test = load_dataset("mnist-subset", "train"), load_dataset("mnist-subset", "test")
    pick = lambda d: np.flatnonzero(np.isin(d.labels, (3, 7)))[:300]
    xtr, ytr = train.images[pick(train)].reshape(-1, 784).astype(np.float64), train.labels[pick(train)]
    xte, yte = test.images[pick(test)].reshape(-1, 784).astype(np.float64), test.labels[pick(test)]
    everything = train.images.astype(np.float64)
    xtr, xte = (xtr - everything.mean()) / everything.std(), (xte - everything.mean()) / everything.std()
    delta = np.sign(xtr[ytr == 3].mean(0) - xtr[ytr == 7].mean(0))
    move = lambda x, y: x + 0.4 * np.where(y == 3, -1.0, 1.0)[:, None] * delta
    pca = PCA(2, random_state=0).fit(np.vstack([xtr, move(xtr, ytr)]))
    svm = LinearSVC(random_state=0).fit(pca.transform(move(xtr, ytr)), ytr)
    assert scores[1, 1] == pytest.approx(svm.score(pca.transform(move(xte, yte)), yte), abs=1e-12)
