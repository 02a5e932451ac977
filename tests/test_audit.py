"""The masking audit: it must flag models built to mask gradients and pass plain ones."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf._ligands import Ligands
from adprf.attacks import PGD, audit, move_binding_times, robust_accuracy, turn_off
from adprf.cells import AdaptiveProofreading
from adprf.nets import MLP, Filtered, HardThreshold, train_classifier

EPSILONS = [0.1, 0.3]
KEY = jax.random.PRNGKey(7)


def _by_name(result):
    return {c.name: c for c in result.checks}


@pytest.fixture(scope="module")
def test_set(mnist_small):
    _, _, x, y = mnist_small
    return x[:100], y[:100]


@pytest.fixture(scope="module")
def plain_audit(trained_mlp, test_set):
    return audit(trained_mlp, *test_set, epsilons=EPSILONS, key=KEY, batch_size=16)


def test_plain_model_is_not_flagged(plain_audit, trained_mlp, test_set):
    result = plain_audit
    assert result.verdict == "no masking found" and not result.masking, str(result)
    checks = _by_name(result)
    assert checks["straight-through"].verdict == "skip"  # nothing declared on a bare MLP
    assert checks["gradients"].verdict == "pass"
    assert checks["apgd-dlr"].verdict == "pass" and checks["square"].verdict == "pass"
    assert result.curves["unbounded"][0] <= 0.05  # the whole box: ~0 %
    # The reference curve is the PGD-40 robust accuracy, recomputed independently.
    again = robust_accuracy(trained_mlp, *test_set, EPSILONS, PGD(steps=40, step_size=0.01), key=KEY, batch_size=16)
    np.testing.assert_allclose(result.curves["PGD"], np.asarray(again.accuracy), atol=1e-6)
    # Restarts and more steps extend the reference run (same key): never higher accuracy.
    for name in ("PGD-200", "PGD ×5 restarts"):
        assert np.all(np.asarray(result.curves[name]) <= np.asarray(result.curves["PGD"]) + 1e-6)
    assert result.worst_case == np.min([v for k, v in result.curves.items() if k != "unbounded"], axis=0).tolist()
    assert "no masking found" in str(result) and result.table()["rows"]


@pytest.fixture(scope="module")
def hard_threshold_model(mnist_small):
    xtr, ytr, _, _ = mnist_small
    model = Filtered(MLP(width=64, depth=1, key=jax.random.PRNGKey(0)), HardThreshold(0.5))
    model, _ = train_classifier(model, xtr, ytr, key=jax.random.PRNGKey(1), epochs=5, batch_size=50, progress=False)
    return model


def test_hard_threshold_is_flagged(hard_threshold_model, test_set):
    result = audit(hard_threshold_model, *test_set, epsilons=EPSILONS, key=KEY, batch_size=16)
    checks = _by_name(result)
    assert result.verdict == "suspected masking"
    # Its input gradient is exactly zero everywhere, and attacking through the filter with an
    # identity stand-in (BPDA) finds what PGD cannot.
    assert checks["gradients"].verdict == "fail" and "all-zero 100.0 %" in checks["gradients"].measured
    assert checks["straight-through"].verdict == "fail"
    bpda = np.asarray(result.curves["BPDA through filter"])
    assert np.all(bpda < np.asarray(result.curves["PGD"]) - 0.03)
    assert any(r.startswith("straight-through:") for r in result.reasons)
    # The gradient-free Square attack needs no stand-in: it finds it too.
    assert checks["square"].verdict == "fail"
    assert np.all(np.asarray(result.curves["Square-1000"]) < np.asarray(result.curves["PGD"]) - 0.03)


class NonFiniteAtZero(eqx.Module):
    """A masking trick: the logits carry 0 · √x, whose gradient at dark pixels is 0 · ∞ = NaN."""

    classifier: eqx.Module

    def __call__(self, x):
        return self.classifier(x) + 0.0 * jnp.sum(jnp.sqrt(x))


@pytest.mark.slow
def test_non_finite_gradients_are_flagged(trained_mlp, test_set):
    result = audit(NonFiniteAtZero(trained_mlp), *test_set, epsilons=[0.3], key=KEY, batch_size=16)
    check = _by_name(result)["gradients"]
    assert check.verdict == "fail" and "non-finite 100.0 %" in check.measured
    assert result.masking


class OffGridSolver(eqx.Module):
    """Stands in for a solver that converges on the data (pixels k/255) and fails elsewhere:
    NaN outputs (`throw=False`) or a run-time error (`throw=True`)."""

    classifier: eqx.Module
    throw: bool = eqx.field(static=True, default=False)

    def __call__(self, x):
        off_grid = jnp.max(jnp.abs(x * 255 - jnp.round(x * 255))) > 1e-2
        logits = self.classifier(x)
        if self.throw:
            return eqx.error_if(logits, off_grid, "steady state did not converge")
        return jnp.where(off_grid, jnp.nan, logits)


def test_solver_failures_are_flagged(trained_mlp, test_set):
    x, y = test_set
    x = jnp.round(x * 255) / 255
    quiet = audit(OffGridSolver(trained_mlp), x, y, epsilons=[0.3], key=KEY, batch_size=16)
    solver = _by_name(quiet)["solver"]
    assert solver.verdict == "fail" and "clean 0.0 %" in solver.measured
    assert "non-finite outputs at attacked inputs" in solver.reason
    loud = audit(OffGridSolver(trained_mlp, throw=True), x, y, epsilons=[0.3], key=KEY, batch_size=16)
    assert loud.masking and "steady state did not converge" in " ".join(loud.reasons)


@pytest.mark.slow
def test_cell_model_in_tau_space_is_not_flagged():
    # Generic over models: T_{5,0} on ligand mixtures, turned off by moving binding times.
    model = AdaptiveProofreading(N=5, m=0, tau_c=3.0)
    key_tau, key_amount = jax.random.split(jax.random.PRNGKey(3))
    tau = jax.random.uniform(key_tau, (20, 30), minval=2.9, maxval=3.6)
    amount = jnp.full((20, 30), 120.0)
    ligands = Ligands(tau, amount)
    assert bool(jnp.all(jax.vmap(model)(ligands) > 1))
    result = audit(
        model,
        ligands,
        None,
        epsilons=[0.1, 0.3],
        key=KEY,
        threat=move_binding_times(0.1),
        objective=turn_off(model),
        pgd=PGD(steps=40),
        unbounded_epsilon=10.0,
        batch_size=16,
    )
    checks = _by_name(result)
    assert checks["unbounded"].verdict == "pass" and result.curves["unbounded"][0] == 0.0
    # T_{N,0} rises with every τ: the sign step is optimal, FGSM and PGD agree.
    np.testing.assert_allclose(result.curves["FGSM"], result.curves["PGD"], atol=0.05)
    assert checks["gradients"].verdict == "pass"
    assert not result.masking, str(result)


def test_bad_arguments():
    model = MLP(width=8, depth=1, key=KEY)
    x, y = jnp.zeros((4, 784)), jnp.zeros(4, jnp.int32)
    with pytest.raises(ValueError, match="ε > 0"):
        audit(model, x, y, epsilons=[0.0], key=KEY)
    with pytest.raises(ValueError, match="tolerance"):
        audit(model, x, y, epsilons=[0.1], key=KEY, tolerance=2.0)
    with pytest.raises(ValueError, match="no part named"):
        audit(model, x, y, epsilons=[0.1], key=KEY, straight_through="filter")
    with pytest.raises(ValueError, match="unknown threat"):
        audit(model, x, y, epsilons=[0.1], key=KEY, threat="l7")
