"""The test suite's fast-compile XLA flags (adprf._xla_flags): set before JAX starts, never over a
caller's own, and changing no decision: records computed here (under the flags, see conftest)
equal those of a fresh process with XLA's defaults, floats to a few float32 ulps."""

import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf import _xla_flags
from adprf._xla_flags import FAST_COMPILE, add_xla_flags, fast_compile


def test_flags_are_appended_and_the_callers_own_win(monkeypatch):
    monkeypatch.setattr(_xla_flags.xla_bridge, "backends_are_initialized", lambda: False)
    monkeypatch.delenv("ADPRF_XLA_DEFAULTS", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=2 --xla_force_host_platform_device_count=2")
    flags = add_xla_flags(FAST_COMPILE)
    assert flags == (
        "--xla_backend_optimization_level=2 --xla_force_host_platform_device_count=2 "
        "--xla_cpu_use_fusion_emitters=false"
    )
    assert os.environ["XLA_FLAGS"] == flags
    monkeypatch.delenv("XLA_FLAGS")
    assert fast_compile() == "--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0"
    monkeypatch.setenv("XLA_FLAGS", "")
    monkeypatch.setenv("ADPRF_XLA_DEFAULTS", "1")
    assert fast_compile() is None and os.environ["XLA_FLAGS"] == ""


def test_a_flag_after_the_backend_started_is_refused(monkeypatch):
    jax.devices()  # the backend has started
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_use_fusion_emitters=false")
    assert add_xla_flags({"xla_cpu_use_fusion_emitters": "false"}) == "--xla_cpu_use_fusion_emitters=false"
    with pytest.raises(RuntimeError, match=r"cannot set --xla_backend_optimization_level=0: JAX's backend"):
        add_xla_flags({"xla_backend_optimization_level": 0})
    assert os.environ["XLA_FLAGS"] == "--xla_cpu_use_fusion_emitters=false"


@pytest.mark.parametrize(
    "flags, match",
    [
        (
            {"--xla_cpu_use_fusion_emitters": "false"},
            r"flag name '--xla_cpu_use_fusion_emitters'.*without the leading --",
        ),
        ({"xla_cpu_use_fusion_emitters=false": "false"}, r"flag name 'xla_cpu_use_fusion_emitters=false'"),
        ({"xla_cpu_enable_fast_math": None}, r"xla_cpu_enable_fast_math=None: give a string, a number"),
        ({"xla_dump_to": "/tmp/a b"}, r"xla_dump_to='/tmp/a b'.*space"),
    ],
)
def test_malformed_flags_are_refused(flags, match):
    before = os.environ.get("XLA_FLAGS")
    with pytest.raises(ValueError, match=match):
        add_xla_flags(flags)
    assert os.environ.get("XLA_FLAGS") == before


def records() -> dict[str, np.ndarray]:
    """An image attack (PGD on an MLP), a ligand descent and an ODE steady state with its gradient:
    the kinds of program the suite compiles."""
    from adprf import Ligands
    from adprf.attacks import PGD, GradientDescent, attack, linf, turn_off, v1_descent
    from adprf.cells import AdaptiveProofreading, KineticProofreading, steady_state
    from adprf.nets import MLP

    out = {}
    mlp = MLP(width=32, depth=1, key=jax.random.PRNGKey(0))
    x = jax.random.uniform(jax.random.PRNGKey(1), (24, 784))
    y = jnp.arange(24) % 10
    result = attack(mlp, x, y, method=PGD(steps=10), threat=linf(0.004), key=jax.random.PRNGKey(2))
    out |= {"pgd_success": result.success, "pgd_distance": result.distance, "pgd_adversarial": result.adversarial}
    rng = np.random.default_rng(5)
    mixtures = [
        Ligands.of(np.concatenate([a + 0.1 * rng.normal(size=30), rng.uniform(1.5, 2.9, 10)]), rng.uniform(0.5, 2, 40))
        for a in np.linspace(3.0, 3.5, 4)
    ]
    lig = jax.tree.map(lambda *a: jnp.stack(a), *mixtures)
    cell = AdaptiveProofreading(3, 1, tau_c=3.0)
    result = attack(
        cell,
        lig,
        None,
        method=GradientDescent(step_size=2.0, steps=200),
        threat=v1_descent(3.0, 0.1),
        objective=turn_off(cell),
        key=jax.random.PRNGKey(3),
    )
    out |= {"descent_success": result.success, "descent_steps": result.gradient_evaluations}
    out["descent_tau"] = result.adversarial.tau
    with jax.enable_x64(True):
        ligands = Ligands.of([4.0, 2.0], [1e3, 3e3])
        output, grad = jax.value_and_grad(lambda lig: steady_state(KineticProofreading(), lig).output)(ligands)
        out |= {"ode_output": output, "ode_grad_tau": grad.tau, "ode_grad_amount": grad.amount}
    return {name: np.asarray(value) for name, value in out.items()}


def test_the_flags_change_no_decision(tmp_path):
    if "--xla_backend_optimization_level=0" not in os.environ.get("XLA_FLAGS", ""):
        pytest.skip("the suite runs with XLA's defaults (ADPRF_XLA_DEFAULTS=1): nothing to compare")
    here = records()
    env = {**os.environ, "XLA_FLAGS": "", "ADPRF_XLA_DEFAULTS": "1", "ADPRF_COMPILATION_CACHE": "off"}
    script = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from test_xla_flags import records; "
        "np.savez(sys.argv[2], **records())"
    )
    target = tmp_path / "defaults.npz"
    done = subprocess.run(
        [sys.executable, "-c", script, str(Path(__file__).parent), str(target)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    defaults = np.load(target)
    assert sorted(defaults.files) == sorted(here)
    for name in ("pgd_success", "descent_success"):
        assert 0 < here[name].sum() < here[name].size, name  # successes and failures both compared
    for name, value in here.items():
        assert value.dtype == defaults[name].dtype, name
        if value.dtype.kind in "biu" or value.dtype == np.float64:  # decisions, steps; the float64 ODE
            assert value.tobytes() == defaults[name].tobytes(), name
        else:  # float32: last-bit differences (other kernels, same operations)
            np.testing.assert_allclose(value, defaults[name], rtol=4e-7, atol=1e-7, err_msg=name)
