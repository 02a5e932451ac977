"""Shared fixtures: small real-MNIST data and tiny trained models, built once per session."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from adprf import enable_compilation_cache
from adprf._xla_flags import fast_compile

# The suite is compile-bound: XLA compiling thousands of small programs, each run a few times.
# These flags compile about four times faster and run up to twice slower (see adprf._xla_flags);
# ADPRF_XLA_DEFAULTS=1 runs the tests with XLA's defaults. JAX's backend starts lazily, at the
# first computation, so the imports above leave time to set them.
fast_compile()

# JAX's persistent cache (set before anything compiles): the programs a module compiles are read
# back when a later module (after `_release_compiled_code`), another worker or a later run needs
# them. ADPRF_COMPILATION_CACHE=off turns it off.
enable_compilation_cache()


class LinearClassifier(eqx.Module):
    """Two-class linear model: logits (−s/2, s/2) with s = w·x + b; the decision flips at s = 0."""

    w: jax.Array
    b: jax.Array

    def __call__(self, x):
        s = jnp.sum(self.w * x) + self.b
        return jnp.stack([-s / 2, s / 2])


@pytest.fixture(scope="session")
def linear_problem():
    """A linear classifier, inputs, their labels and the score s = w·x + b."""
    k1, k2 = jax.random.split(jax.random.PRNGKey(42))
    d = 16
    model = LinearClassifier(jax.random.normal(k1, (d,)), jnp.asarray(0.3))
    x = jax.random.uniform(k2, (64, d), minval=-1.0, maxval=1.0)
    s = x @ model.w + model.b
    y = (s > 0).astype(jnp.int32)
    return model, x, y, s


@pytest.fixture(scope="session")
def mnist_small():
    """300 train / 200 test images of the embedded real-MNIST subset."""
    from adprf.data import load_mnist_subset

    train, test = load_mnist_subset("train"), load_mnist_subset("test")
    return train.images[:1500], train.labels[:1500], test.images[:200], test.labels[:200]


@pytest.fixture(scope="session")
def trained_mlp(mnist_small):
    from adprf.nets import MLP, train_classifier

    xtr, ytr, _, _ = mnist_small
    model, _ = train_classifier(
        MLP(width=64, depth=1, key=jax.random.PRNGKey(0)),
        xtr,
        ytr,
        key=jax.random.PRNGKey(1),
        epochs=5,
        batch_size=50,
        progress=False,
    )
    return model


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_code():
    """Drop JAX's compiled executables after each test module. A full run compiles thousands of
    programs; kept alive in one process, their JIT code mappings approach the kernel's
    `vm.max_map_count` (65,530 here) and XLA's compiler segfaulted late in the suite
    (test_ode_antagonism, twice) while the same tests passed on their own."""
    yield
    import gc

    jax.clear_caches()
    gc.collect()


HEAVIEST_FIRST = (
    "test_experiments_two_regimes",
    "test_sharding",
    "test_art_oracle",
    "test_attacks",
    "test_sbml_round_trip",
    "test_apgd_square",
    "test_experiments_defence",
    "test_notebooks",
    "test_steady_state",
    "test_experiments_sbml",
    "test_jobs",
    "test_ligand_attacks",
    "test_audit",
)
"""Test modules of 35 s or more (summed test time, 2 workers, empty compilation cache; measured
2026-12-06), longest first."""


def pytest_collection_modifyitems(items):
    """Run the heaviest modules first. Workers take whole modules (`--dist loadfile`) in
    collection order; a long module drawn last leaves the other worker idle at the end."""
    rank = {name: i for i, name in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.module.__name__ if item.module else "", len(rank)))
