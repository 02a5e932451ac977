"""A second implementation as oracle: foolbox 3's PGD on the same model function.

Without random start both libraries run the same deterministic iteration (BIM), so every
example foolbox fools adprf fools too; adprf may fool a few more, because it also counts a
success at an intermediate iterate (it stops there) where foolbox judges the last iterate.
"""

import warnings

import jax
import numpy as np
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    foolbox = pytest.importorskip("foolbox", reason="foolbox is the oracle here: pip install adprf[test]")

from adprf.attacks import PGD, robust_accuracy


def test_bim_agrees_with_foolbox(trained_mlp, mnist_small):
    _, _, x, y = mnist_small
    eps = [0.0, 0.03, 0.06, 0.1]
    ours = robust_accuracy(
        trained_mlp, x, y, eps, PGD(steps=10, step_size=0.01, random_start=False), key=jax.random.PRNGKey(0)
    )
    fmodel = foolbox.JAXModel(jax.jit(jax.vmap(trained_mlp)), bounds=(0, 1))
    attack = foolbox.attacks.LinfPGD(abs_stepsize=0.01, steps=10, random_start=False)
    _, _, theirs = attack(fmodel, jax.numpy.asarray(x), jax.numpy.asarray(y), epsilons=eps)
    ours, theirs = np.asarray(ours.success), np.asarray(theirs)
    assert not np.any(theirs & ~ours)  # nothing foolbox finds escapes adprf
    assert np.all((ours & ~theirs).sum(axis=1) <= 0.02 * len(y))
    assert ours[1:].sum() > 0.2 * ours[1:].size  # the attack does something
