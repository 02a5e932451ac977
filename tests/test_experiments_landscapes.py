"""The loss-landscapes experiment end to end (quick preset, once), its numbers checked against an
independent evaluation: the trained networks reloaded from the shared cache and evaluated at the
FGSM points directly and through the attack engine, T_{N,m} in closed form at the displaced
ligands, τ* by adprf.analysis.critical_point."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._results import Run
from adprf.analysis import critical_point
from adprf.attacks import FGSM, attack, linf
from adprf.cells import AdaptiveProofreading
from adprf.data import load_dataset
from adprf.experiments import run_experiment
from adprf.nets import train_defence
from adprf.experiments._loss_landscapes import SATURATED, cell_mixtures

pytestmark = pytest.mark.slow  # ~1–2 min: the quick preset end to end (opt-in: pytest -m slow)


@pytest.fixture(scope="module")
def landscapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    record = run_experiment("loss-landscapes", "quick", root=root)
    folder = root / "loss-landscapes" / record["hash"]
    saved = json.loads((folder / "result.json").read_text())
    stages = {p.stem: json.loads(p.read_text()) for p in folder.glob("*.json") if p.stem != "result"}
    return root, folder, saved, stages


def _cross_entropy(logits, label):
    return float(jax.nn.logsumexp(logits) - logits[label])


def test_outputs(landscapes):
    _, folder, saved, _ = landscapes
    assert saved["figures"] == [
        "image_contours.png",
        "image_surfaces.png",
        "image_profiles.png",
        "cell_landscapes.png",
        "cell_profiles.png",
    ]
    assert all((folder / f).stat().st_size > 10_000 for f in saved["figures"])
    shape, fooled, cells = saved["tables"]
    names = list(saved["config"]["defences"])
    assert len(shape["rows"]) == len(fooled["rows"]) == len(names) == 5
    assert [r[0] for r in cells["rows"]] == ["(5,0)", "(5,1)", "(5,3)"]
    assert saved["summary"] and len(saved["notes"]) >= 8


def test_network_numbers_against_direct_evaluation(landscapes):
    root, _, saved, stages = landscapes
    cfg = saved["config"]
    test = load_dataset(cfg["dataset"], "test")
    n = cfg["images"]["n_test"]
    x, y = jnp.asarray(test.images[:n]), jnp.asarray(test.labels[:n])
    run = Run("check", "quick", {}, root)
    for row, (name, spec) in zip(saved["tables"][1]["rows"], cfg["defences"].items()):
        model, seconds = train_defence(run, spec, cfg["classifier"], cfg["dataset"], cfg["seed"])
        assert seconds == 0.0  # loaded from the shared cache
        stage = stages[f"images-{name}"]
        e = np.asarray(stage["e"])
        assert len(e) == 61 and e[-1] == pytest.approx(0.3) and e[30] == 0.0
        logits = jax.vmap(model)(x)
        clean = np.array([_cross_entropy(logits[i], int(y[i])) for i in range(n)])
        np.testing.assert_allclose(stage["origin_loss"], clean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(
            saved["numbers"]["images"][name]["clean_success"], np.mean(np.argmax(logits, 1) != y), atol=1e-9
        )
        np.testing.assert_allclose(saved["numbers"]["images"][name]["saturated_share"], np.mean(clean < SATURATED))
        # the saved directions of the first images: d₁ is the sign of an independently computed gradient wherever
        # that gradient is resolved (float32 sign noise: saturated losses, and denormal gradients through the
        # filters, which two compilations may flush to 0 differently), d₂ is ±1; the grid is the model evaluated
        # at clip(x + ε₁ d₁ + ε₂ d₂, 0, 1)
        d1, d2 = (np.asarray(stage["directions"][k][0]) for k in (0, 1))
        keep = d1.shape[0]
        grad = np.asarray(jax.vmap(jax.grad(lambda z, t: jax.nn.logsumexp(model(z)) - model(z)[t]))(x[:keep], y[:keep]))
        checked = 0
        for i in range(keep):
            if clean[i] >= 1e-4:
                # float32 noise of the cross-entropy gradient, relative to its largest entry: ~1e-7 / loss
                sure = np.abs(grad[i]) > 1e-6 / clean[i] * np.abs(grad[i]).max()
                assert sure.sum() >= 50
                np.testing.assert_array_equal(d1[i][sure], np.sign(grad[i][sure]))
                checked += 1
        assert checked >= 1
        assert np.all(np.abs(d2) == 1.0)
        grid = np.asarray(stage["grid_loss"])
        for i, a, b in [(0, 60, 30), (0, 40, 5), (1, 30, 60), (2, 0, 0), (2, 45, 50)]:
            z = jnp.clip(x[i] + e[a] * d1[i] + e[b] * d2[i], 0.0, 1.0)
            out = model(z)
            np.testing.assert_allclose(grid[i, a, b], _cross_entropy(out, int(y[i])), rtol=1e-4, atol=1e-5)
            assert bool(stage["grid_success"][i][a][b]) == bool(jnp.argmax(out) != y[i])
        np.testing.assert_allclose(grid[:, :, 30], np.asarray(stage["loss_gradient"])[:keep])
        np.testing.assert_allclose(grid[:, 30, :], np.asarray(stage["loss_random"])[:keep])
        # the table is the stage, and the engine's FGSM (its own compilation of the same gradient) agrees with the
        # ε₂ = 0 line up to the images whose gradient sign is rounding noise
        for column, eps in ((1, 0.1), (2, 0.3)):
            k = int(np.argmin(np.abs(e - eps)))
            hit = np.asarray(stage["success_gradient"], bool)[:, k]
            assert row[column] == pytest.approx(hit.mean(), abs=1e-3)
        result = attack(model, x, y, method=FGSM(), threat=linf(0.3), key=jax.random.PRNGKey(0))
        assert np.mean(np.asarray(result.success) != hit) <= 0.1, name


def test_cell_numbers_against_closed_forms(landscapes):
    _, _, saved, stages = landscapes
    cells = saved["config"]["cells"]
    mixes = cell_mixtures(cells, saved["config"]["seed"])
    for N, m in cells["models"]:
        stage = stages[f"cells-{N}-{m}"]
        model = AdaptiveProofreading(N, m, tau_c=cells["tau_c"])
        e = np.asarray(stage["e"])
        for j, mix in enumerate(mixes):
            tau, amount = np.asarray(mix.tau, np.float64), np.asarray(mix.amount, np.float64)

            def t_of(t):
                return np.sum(amount * t**N) / np.sum(amount * t**m) / cells["tau_c"] ** (N - m)

            np.testing.assert_allclose(1.0 - stage["origin_loss"][j], t_of(tau), rtol=1e-5)
            # the sign direction of the turn-off loss 1 − T: −sign ∂T/∂τ (closed form) on τ < τ_c, 0 elsewhere
            d1 = np.where(tau < cells["tau_c"], -np.sign(np.asarray(model.gradient(mix))), 0.0)
            for k in (0, 20, 40, 45, 60):
                displaced = np.maximum(tau + e[k] * d1, 0.0)
                np.testing.assert_allclose(1.0 - stage["loss_gradient"][j][k], t_of(displaced), rtol=1e-4)
        if m == 0:
            assert all(np.isnan(float(v)) for v in stage["critical_point"])
        else:
            np.testing.assert_allclose(
                float(stage["critical_point"][0]), float(critical_point(model, mixes[0])), rtol=1e-3
            )
    numbers = saved["numbers"]["cells"]
    assert numbers["5,0"]["pushed_up_share"] == 0.0 and numbers["5,1"]["pushed_up_share"] == 1.0
    np.testing.assert_allclose(
        numbers["5,1"]["T_at_origin"], np.mean([1 - v for v in stages["cells-5-1"]["origin_loss"]]), rtol=1e-9
    )
