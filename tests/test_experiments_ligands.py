"""ligand-boundary, mtl-to-ml and digits-boundary-tilting end to end at tiny size, against
independent oracles: NumPy loops of the v1 descent (continuous and binned), the closed form of
the critical point, and scikit-learn's PCA + linear SVM written out again."""

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
from adprf.analysis import critical_point
from adprf.cells import AdaptiveProofreading, HistogramReadout, OneOf
from adprf.data import load_dataset
from adprf.experiments import run_experiment
from adprf.experiments._ligand_boundary import (
    boundary_descent,
    critical_binding_time,
    initial_distribution,
    proofreading_grid,
)
from adprf.experiments._mtl_to_ml import AGONIST, ANTAGONIST, SELF, letter_masks, mtl_classes, mtl_ligands


def numpy_descent(tau, N, m, max_iterations, tau_c=3.0, bin_width=None, dtype=np.float64):
    """The v1 descent in NumPy: (final τ, updates applied before the first T ≤ 1).

    Continuous: every ligand with clean τ < τ_c moves by −0.2 ∂T/∂τ_i. Binned (v1 scripts): the
    cell reads the histogram (bins of `bin_width` from 0, centres, counts as amounts) and every
    movable ligand moves by −0.2 ∂T/∂τ_b of its bin (which carries the count)."""
    tau = np.array(tau, dtype)
    movable = tau < tau_c
    scale = dtype(tau_c) ** (N - m)
    n_bins = int(np.floor(tau.max() / bin_width)) + 1 if bin_width else 0
    for iteration in range(max_iterations + 1):
        if bin_width:
            index = np.clip(np.floor(tau / bin_width).astype(int), 0, n_bins - 1)
            x, amount = (np.arange(n_bins) + 0.5) * bin_width, np.bincount(index, minlength=n_bins).astype(dtype)
        else:
            x, amount = tau, np.ones_like(tau)
        s_n, s_m = np.sum(amount * x**N), np.sum(amount * x**m)
        if s_n / s_m / scale <= 1 or iteration == max_iterations:
            return tau, iteration
        adaptive = m * x ** (m - 1) * s_n if m else 0
        grad = amount * (N * x ** (N - 1) * s_m - adaptive) / (s_m**2 * scale)
        step = grad[index] if bin_width else grad
        tau = np.where(movable, tau - dtype(0.2) * step, tau)
        tau = np.where(tau < 0, dtype(0.1), tau)


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


def test_critical_binding_time_matches_analysis():
    lig = v1_mixture(jax.random.PRNGKey(2), n=500)
    model = AdaptiveProofreading(4, 2)
    np.testing.assert_allclose(critical_binding_time(model, lig), float(critical_point(model, lig)), rtol=1e-3)
    assert np.isnan(critical_binding_time(AdaptiveProofreading(3, 0), lig))


# ----------------------------------------------------------------------------- descents


def test_float32_stops_with_float64_numpy_and_binned_variant_matches_v1():
    """float32 on a small R stops within one iteration of the float64 NumPy loop; the binned
    variant reproduces the v1 scripts' binned loop."""
    grid = [(2, 1), (4, 2), (5, 1)]
    lig = v1_mixture(jax.random.PRNGKey(0), n=400)
    descent = boundary_descent(lig, grid, max_iterations=20_000, share_compilation=False)
    assert descent.tau.dtype == jnp.float32
    for i, (n, m) in enumerate(grid):
        tau, k = numpy_descent(np.asarray(lig.tau), n, m, 20_000)
        assert abs(int(descent.iterations[i]) - k) <= 1 and bool(descent.reached[i])
        np.testing.assert_allclose(np.asarray(descent.tau[i]), tau, atol=2e-3)
    with jax.enable_x64(True):
        lig64 = Ligands(lig.tau.astype(jnp.float64), lig.amount.astype(jnp.float64))
        binned = boundary_descent(lig64, grid, max_iterations=2000, bin_width=0.2)
        for i, (n, m) in enumerate(grid):
            tau, k = numpy_descent(np.asarray(lig64.tau), n, m, 2000, bin_width=0.2)
            assert int(binned.iterations[i]) == k
            np.testing.assert_allclose(np.asarray(binned.tau[i]), tau, atol=1e-9)


def test_ligand_boundary_end_to_end(tmp_path):
    overrides = {"n_ligands": 400, "max_iterations": 3000, "share_compilation": True}
    record = run_experiment("ligand-boundary", "quick", root=tmp_path, overrides=overrides)
    folder = tmp_path / "ligand-boundary" / record["hash"]
    assert set(record["figures"]) == {"histograms.png", "images.png"}
    assert all((folder / f).stat().st_size > 1000 for f in record["figures"])
    saved = json.loads((folder / "descent.json").read_text())["value"]
    cfg = {**record["config"]}
    with jax.enable_x64(True):
        clean = np.asarray(initial_distribution(cfg).tau)
    numbers = record["numbers"]
    for i, (n, m) in enumerate(proofreading_grid(5)):
        tau, k = numpy_descent(clean, n, m, 3000)
        assert numbers["iterations"][f"{n},{m}"] == k == saved["iterations"][i]
        assert numbers["reached"][f"{n},{m}"] == (k < 3000)
        np.testing.assert_allclose(saved["tau"][i], tau, atol=1e-9)
        if m == 0:
            assert k == 0 and numbers["T_before"][f"{n},{m}"] <= 1
        elif k < 3000:
            assert numbers["T_after"][f"{n},{m}"] <= 1 < numbers["T_before"][f"{n},{m}"]
            np.testing.assert_allclose(numbers["tau_star_final"][f"{n},{m}"], 3 * (m / n) ** (1 / (n - m)), rtol=0.02)
    assert len(record["tables"][0]["rows"]) == 15


def test_mtl_to_ml_end_to_end(tmp_path):
    overrides = {"shape": [14, 36], "max_iterations": 4000}
    record = run_experiment("mtl-to-ml", "quick", root=tmp_path, overrides=overrides)
    folder = tmp_path / "mtl-to-ml" / record["hash"]
    assert (folder / "mtl_to_ml.png").stat().st_size > 1000
    classes, letters = mtl_classes((14, 36), record["config"]["margin"])
    with jax.enable_x64(True):
        clean = np.asarray(mtl_ligands(jax.random.PRNGKey(record["config"]["seed"]), classes, 3.0).tau, np.float64)
    numbers = record["numbers"]
    assert numbers["counts"]["antagonist"] == int((letters == 2).sum()) > 0
    for n, m in proofreading_grid(5, n_min=2, m_min=1):
        key = f"{n},{m}"
        _, k = numpy_descent(clean, n, m, 4000)
        assert numbers["iterations"][key] == k
        if k > 0:  # the descent dims the antagonists' T in the cell's view
            assert numbers["T_visibility_after"][key] < numbers["T_visibility_before"][key]
        if numbers["reads_ML"][key]:
            assert numbers["T_visibility_after"][key] <= 0.25 and numbers["reached"][key]


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
