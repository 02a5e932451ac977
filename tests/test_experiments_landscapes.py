"""The loss-landscapes experiment end to end (quick preset, once), its numbers checked against an
independent evaluation: the trained networks reloaded from the shared cache and evaluated at the
FGSM points directly and through the attack engine, T_{N,m} in closed form at the displaced
ligands, τ* by adprf.analysis.critical_point; and the verdict sentences on hand-made facts."""

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
from adprf.experiments import REGISTRY, _loss_landscapes as landscapes_module, run_experiment
from adprf.experiments._loss_landscapes import SATURATED, cell_mixtures
from adprf.nets import train_defence

slow = pytest.mark.slow  # ~1–2 min: the quick preset end to end (opt-in: pytest -m slow)


@pytest.fixture(scope="module")
def landscapes(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    record = run_experiment("loss-landscapes", "quick", root=root)
    folder = root / "loss-landscapes" / record["hash"]
    saved = json.loads((folder / "result.json").read_text())
    stages = {p.stem: json.loads(p.read_text())["value"] for p in folder.glob("*.json") if p.stem != "result"}
    return root, folder, saved, stages


def _cross_entropy(logits, label):
    return float(jax.nn.logsumexp(logits) - logits[label])


@slow
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


@slow
def test_network_numbers_against_direct_evaluation(landscapes):
    root, _, saved, stages = landscapes
    cfg = saved["config"]
    test = load_dataset(cfg["dataset"], "test")
    n = cfg["images"]["n_test"]
    x, y = jnp.asarray(test.images[:n]), jnp.asarray(test.labels[:n])
    run = Run("check", "quick", {}, root)
    networks = saved["numbers"]["images"]["networks"]
    assert [network["name"] for network in networks] == list(cfg["defences"])
    for row, network, (name, spec) in zip(saved["tables"][1]["rows"], networks, cfg["defences"].items()):
        model, seconds = train_defence(run, spec, cfg["classifier"], cfg["dataset"], cfg["seed"])
        assert seconds == 0.0  # loaded from the shared cache
        stage = stages[f"images-{name}"]
        e = np.asarray(stage["e"])
        assert len(e) == 61 and e[-1] == pytest.approx(0.3) and e[30] == 0.0
        logits = jax.vmap(model)(x)
        clean = np.array([_cross_entropy(logits[i], int(y[i])) for i in range(n)])
        np.testing.assert_allclose(stage["origin_loss"], clean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(network["measures"]["clean_success"], np.mean(np.argmax(logits, 1) != y), atol=1e-9)
        np.testing.assert_allclose(network["measures"]["saturated_share"], np.mean(clean < SATURATED))
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


@slow
def test_cell_numbers_against_closed_forms(landscapes):
    _, _, saved, stages = landscapes
    cells = saved["config"]["cells"]
    mixes = cell_mixtures(REGISTRY["loss-landscapes"].presets["quick"].cells, saved["config"]["seed"])
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
    numbers = {record["name"]: record["measures"] for record in saved["numbers"]["cells"]}
    assert numbers["5,0"]["pushed_up_share"] == 0.0 and numbers["5,1"]["pushed_up_share"] == 1.0
    np.testing.assert_allclose(
        numbers["5,1"]["T_at_origin"], np.mean([1 - v for v in stages["cells-5-1"]["origin_loss"]]), rtol=1e-9
    )


# ----------------------------------------------------------------------------- verdicts on hand-made facts

NAN = float("nan")


def _radius(**values):
    base = dict(
        rise_gradient=1.0,
        rise_random=0.5,
        gradient_over_random=2.0,
        rise_over_linear=1.5,
        fgsm_success=0.5,
        random_success=0.1,
        grid_success=0.0,
    )
    return {**base, **values}


def test_network_note():
    numbers = dict(
        slope_gradient=1.76,
        clean_success=0.03,
        zero_gradient_share=0.8,
        by_lo=_radius(rise_over_linear=1.74, fgsm_success=0.19),
        by_hi=_radius(rise_gradient=2.776, rise_random=0.456, gradient_over_random=6.08, fgsm_success=0.56),
    )
    text = landscapes_module.network_note("Hill θ=0.5 n=4", numbers, 0.1, 0.3, 15.2)
    assert text.startswith("Hill θ=0.5 n=4: slope along the gradient sign 1.76, loss rise within ε ≤ 0.3 2.78")
    assert "FGSM misclassifies 19% / 56% at 0.1 / 0.3 (clean: 3%)" in text
    assert "80% of the pixels have an exactly zero gradient" in text and "0.12× the natural network's" in text
    text = landscapes_module.network_note("natural", {**numbers, "zero_gradient_share": 0.0}, 0.1, 0.3, None)
    assert "zero gradient" not in text and "natural network's" not in text and text.endswith(".")


def test_saturation_and_masking_verdicts():
    assert landscapes_module.saturation_note({"natural": 0.0, "Hill": 0.0}) is None
    text = landscapes_module.saturation_note({"natural": 0.031, "Hill": 0.0, "proofreading": 0.156})
    assert "3% for natural, 16% for proofreading" in text and "Hill" not in text
    text = landscapes_module.masking_verdict({"natural": 8.3, "Hill": 6.1}, 0.3)
    assert text.startswith("For every network") and "no landscape shows the masking signature" in text
    text = landscapes_module.masking_verdict({"natural": 8.3, "Hill": 0.9, "adversarial": NAN}, 0.3)
    assert "for Hill, adversarial: the gradient at the image misleads" in text


def test_flattening_note():
    text = landscapes_module.flattening_note({"Hill": (0.053, 0.13), "adversarial": (0.046, 0.044)}, 0.1, 0.3)
    assert "within ε ≤ 0.1 / 0.3: Hill 0.053 / 0.13, adversarial 0.046 / 0.044." in text
    assert "Hill flatten the landscape most near the image" in text
    text = landscapes_module.flattening_note({"adversarial": (0.046, 0.044)}, 0.1, 0.3)
    assert "flatten" not in text


def _cell(**values):
    base = dict(
        T_at_origin=1.735,
        slope_gradient=0.46,
        pushed_up_share=1.0,
        critical_point=2.303,
        peak_gradient_e=1.8,
        peak_gradient_loss=1.0 - 1.266,
        by_lo=_radius(rise_gradient=0.1276, rise_over_linear=0.92),
        by_mid=_radius(rise_over_linear=0.77),
        by_span=_radius(rise_random=0.2527, gradient_over_random=1.86, grid_success=0.0),
    )
    return {**base, **values}


def test_cell_descent_clause_branches():
    text = landscapes_module.cell_descent_clause(1, _cell(), 0.3, 1.0, 3.0)
    assert "(all lie below the probe critical point τ* = 2.3)" in text
    assert "T falls 0.13 within ε ≤ 0.3 (0.92× the first-order prediction; 0.77× at ε = 1)" in text
    assert "lowest, 1.27, at ε₁ = 1.8, then rises again" in text and "gradient vanishes" not in text
    text = landscapes_module.cell_descent_clause(
        3, _cell(pushed_up_share=0.9, peak_gradient_e=3.0, by_mid=_radius(rise_over_linear=5.38)), 0.3, 1.0, 3.0
    )
    assert "all lie below" not in text and "rises again" not in text
    assert "For m = 3 > 1 the gradient vanishes like τ^(m−1)" in text and "a 5.4× smaller fall at ε = 1" in text
    flat = _cell(peak_gradient_e=NAN, peak_gradient_loss=1.0 - 1.089, critical_point=NAN)
    text = landscapes_module.cell_descent_clause(0, flat, 0.3, 1.0, 3.0)
    assert text.startswith(" and T does not fall along it (lowest 1.089)") and "when m = 0" in text
    assert "when m = 0" not in landscapes_module.cell_descent_clause(2, flat, 0.3, 1.0, 3.0)


def test_cell_random_clause_and_note():
    text = landscapes_module.cell_random_clause(_cell(), 3.0)
    assert "T falls 0.25 within ε ≤ 3 (∇/random 1.9); 0% of the grid turns the cell off." in text
    quiet = _cell(by_span=_radius(rise_random=1e-5, grid_success=0.25))
    text = landscapes_module.cell_random_clause(quiet, 3.0)
    assert "T does not fall; 25% of the grid turns the cell off." in text
    text = landscapes_module.cell_note("5,1", 1, _cell(), 0.3, 1.0, 3.0)
    assert text.startswith("T_{5,1}: T = 1.74 at the mixture, dT/dε₁ = -0.46; the sign direction pushes 100%")


def test_unreachable_verdict():
    assert landscapes_module.unreachable_verdict([0.0, 0.1], 0.5, 3.0) is None
    text = landscapes_module.unreachable_verdict([0.0, 0.0], 0.5, 3.0)
    assert "With 50% agonists held fixed" in text and "by up to 3 (and up to 6 at the corners)" in text
