"""An Ensemble (one architecture, several seeds) attacked in one call equals its members
attacked one by one, and the closed form of linear classifiers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import LinearClassifier

from adprf.attacks import FGSM, PGD, Ensemble, attack, linf, robust_accuracy


def _linear_members(count=3, d=16):
    keys = jax.random.split(jax.random.PRNGKey(7), count)
    return [LinearClassifier(jax.random.normal(k, (d,)), jnp.asarray(0.1 * i)) for i, k in enumerate(keys)]


def test_stacking_checks_the_architecture():
    members = _linear_members()
    ensemble = Ensemble.of(members)
    assert ensemble.size == 3 and ensemble.models.w.shape == (3, 16)
    np.testing.assert_array_equal(ensemble.member(1).w, members[1].w)
    with pytest.raises(ValueError, match="model 1 differs"):
        Ensemble.of([members[0], LinearClassifier(jnp.ones(8), jnp.asarray(0.0))])
    with pytest.raises(ValueError, match="at least one"):
        Ensemble.of([])
    with pytest.raises(TypeError, match="run_attack or robust_accuracy"):
        attack(
            ensemble, jnp.zeros((2, 16)), jnp.zeros(2, int), method=FGSM(), threat=linf(0.1), key=jax.random.PRNGKey(0)
        )


def test_fgsm_on_linear_members_matches_the_closed_form(linear_problem):
    _, x, y, _ = linear_problem
    members = _linear_members()
    epsilons = [0.0, 0.02, 0.05, 0.1, 0.2, 0.4]
    r = robust_accuracy(
        Ensemble.of(members), x, y, epsilons, FGSM(), threat=linf(0.0, bounds=None), key=jax.random.PRNGKey(0)
    )
    assert r.accuracy.shape == (3, len(epsilons)) and r.success.shape == (3, len(epsilons), x.shape[0])
    for m, member in enumerate(members):
        s = np.asarray(x @ member.w + member.b)
        correct = (s > 0) == np.asarray(y, bool)
        radius = np.abs(s) / np.sum(np.abs(np.asarray(member.w)))  # L∞ distance to the boundary
        expected = [np.mean(correct & (radius > e)) for e in epsilons]
        np.testing.assert_allclose(r.accuracy[m], expected, atol=1e-6)


def test_members_with_their_own_keys_equal_separate_attacks(linear_problem):
    _, x, y, _ = linear_problem
    members = _linear_members()
    keys = jnp.stack([jax.random.PRNGKey(1000 + s) for s in range(3)])
    pgd = PGD(steps=5, step_size=0.02, random_start=True)
    epsilons = [0.05, 0.1, 0.2]
    together = robust_accuracy(Ensemble.of(members), x, y, epsilons, pgd, threat=linf(0.0, bounds=None), key=keys)
    for m, member in enumerate(members):
        alone = robust_accuracy(member, x, y, epsilons, pgd, threat=linf(0.0, bounds=None), key=keys[m])
        np.testing.assert_array_equal(together.success[m], alone.success)
    shared = robust_accuracy(Ensemble.of(members), x, y, epsilons, pgd, threat=linf(0.0, bounds=None), key=keys[0])
    first = robust_accuracy(members[0], x, y, epsilons, pgd, threat=linf(0.0, bounds=None), key=keys[0])
    np.testing.assert_array_equal(shared.success[0], first.success)


def test_members_that_finish_at_different_times_equal_separate_attacks(linear_problem):
    """A member fooled at once and a member never fooled (zero weights: it runs every step of
    every restart) share one vmapped loop; the first finishes long before the second and must
    wait without running on (a loop over a finished member's empty pool never ends)."""
    _, x, y, _ = linear_problem
    fooled, robust = _linear_members(2)
    robust = LinearClassifier(jnp.zeros_like(robust.w), jnp.asarray(0.0))
    pgd = PGD(steps=3, step_size=0.05, random_start=True, restarts=2)
    epsilons = [0.1, 0.5]
    together = robust_accuracy(
        Ensemble.of([fooled, robust]),
        x,
        y,
        epsilons,
        pgd,
        threat=linf(0.0, bounds=None),
        key=jax.random.PRNGKey(3),
        batch_size=8,
    )
    for m, member in enumerate([fooled, robust]):
        alone = robust_accuracy(
            member, x, y, epsilons, pgd, threat=linf(0.0, bounds=None), key=jax.random.PRNGKey(3), batch_size=8
        )
        np.testing.assert_array_equal(together.success[m], alone.success)
        np.testing.assert_array_equal(together.gradient_evaluations[m], alone.gradient_evaluations)
    # the zero model's clean mistakes aside, it is never fooled: it spends every step of both runs
    assert together.gradient_evaluations[1].sum() > together.gradient_evaluations[0].sum()
