"""Scale-out: batched work sharded across devices and hosts gives the single-device results.

Several devices on a CPU need `XLA_FLAGS=--xla_force_host_platform_device_count=N` before JAX
starts, and several hosts need `jax.distributed`: both run in subprocesses
(`tests/_sharded_worker.py`) that print their results as JSON. The oracle is the same
computation on one device, compared exactly (accuracies, success flags, adversarials,
landscapes, a resumed sweep's table).
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adprf import _results as results, distributed, sharding
from adprf._cli import main

WORKER = Path(__file__).with_name("_sharded_worker.py")


def _env(devices: int | None, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_")}
    flags = env.get("XLA_FLAGS", "").replace("--xla_force_host_platform_device_count", "--ignored")
    if devices:
        flags = f"{flags} --xla_force_host_platform_device_count={devices}"
    env.update(XLA_FLAGS=flags.strip(), JAX_PLATFORMS="cpu", **extra)
    return env


def _result(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, f"the worker printed no result:\n{stdout[-3000:]}"
    return json.loads(lines[-1][len("RESULT ") :])


def _worker(*args, devices: int | None = None, timeout: int = 600) -> dict:
    proc = subprocess.run(
        [sys.executable, str(WORKER), *map(str, args)],
        env=_env(devices),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=WORKER.parent.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return _result(proc.stdout)


def _hosts(*args, processes: int = 2, devices: int = 2, timeout: int = 600) -> list[dict]:
    """The worker as `processes` jax.distributed processes on this machine, `devices` each."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=WORKER.parent.parent,
            env=_env(
                devices,
                JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
                JAX_NUM_PROCESSES=str(processes),
                JAX_PROCESS_ID=str(i),
            ),
        )
        for i in range(processes)
    ]
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=timeout)
            assert p.returncode == 0, stderr[-3000:]
            outs.append(_result(stdout))
    finally:
        for p in procs:
            p.kill()
    return outs


# --- in this process (one device) ------------------------------------------------------


def test_one_device_runs_unsharded():
    assert len(jax.devices()) == 1 and sharding.batch_mesh() is None and sharding.batch_mesh(1) is None


def test_bad_device_requests_are_named():
    with pytest.raises(ValueError, match=r"devices=5.*xla_force_host_platform_device_count"):
        sharding.batch_mesh(5)
    with pytest.raises(ValueError, match="non-empty sequence"):
        sharding.batch_mesh([])
    with pytest.raises(ValueError, match="twice"):
        sharding.batch_mesh([jax.devices()[0]] * 2)
    with pytest.raises(TypeError, match="devices must be|parameter .devices."):  # ours, or the runtime type check
        sharding.batch_mesh(0.5)


def _double_shard(replicated, batched, offset, n_valid):
    (scale,) = replicated
    return {"y": batched * scale, "index": offset + jnp.arange(batched.shape[0]), "valid": n_valid + 0 * batched[:, 0]}


def test_map_batch_on_one_device_is_the_plain_call():
    x = jnp.arange(12.0).reshape(6, 2)
    out = sharding.map_batch(_double_shard, (3.0,), x)
    np.testing.assert_array_equal(out["y"], 3 * x)
    np.testing.assert_array_equal(out["index"], np.arange(6))
    np.testing.assert_array_equal(out["valid"], 6)


def test_a_batch_without_a_shared_leading_axis_is_named():
    for bad, match in [
        ((), "no arrays"),
        ({"a": jnp.ones((3, 2)), "b": jnp.ones((4,))}, r"same leading example axis; got shapes \[\(3, 2\), \(4,\)\]"),
        (jnp.ones(()), "same leading example axis"),
        (jnp.ones((0, 2)), "empty"),
    ]:
        with pytest.raises(ValueError, match=match):
            sharding.map_batch(_double_shard, (3.0,), bad)
        with pytest.raises(ValueError, match=match):
            sharding.SplitBatch((3.0,), bad)


def test_launch_environment_is_validated():
    assert distributed.initialize_from_environment({}) is False
    base = {"JAX_COORDINATOR_ADDRESS": "host0:1234", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "0"}
    with pytest.raises(ValueError, match="JAX_NUM_PROCESSES='two'.*integer"):
        distributed.initialize_from_environment({**base, "JAX_NUM_PROCESSES": "two"})
    with pytest.raises(ValueError, match="JAX_PROCESS_ID=2 with JAX_NUM_PROCESSES=2"):
        distributed.initialize_from_environment({**base, "JAX_PROCESS_ID": "2"})
    with pytest.raises(ValueError, match="host:port"):
        distributed.initialize_from_environment({**base, "JAX_COORDINATOR_ADDRESS": "host0"})


def test_cli_names_a_bad_launch_variable(monkeypatch, capsys):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "localhost:1")
    monkeypatch.setenv("JAX_NUM_PROCESSES", "2")
    monkeypatch.setenv("JAX_PROCESS_ID", "")
    with pytest.raises(SystemExit, match="JAX_PROCESS_ID=''"):
        main(["run", "mnist-baseline"])


def test_only_process_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "is_writer", lambda: False)
    run = results.Run("demo", "quick", {"a": 1}, tmp_path)
    assert run.stage("s", lambda: {"value": 2}) == {"value": 2}  # computed, not written
    run.write_result({"x": 1}, 0.0)
    assert not any(tmp_path.rglob("*"))


def test_a_cache_process_zero_has_must_be_shared(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "agree", lambda flag: True)  # process 0 has the file
    run = results.Run("demo", "quick", {"a": 1}, tmp_path)
    with pytest.raises(RuntimeError, match="shares"):
        run.stage("s", lambda: {"value": 2})


# --- several devices (forced CPU devices, in a subprocess) -----------------------------


@pytest.fixture(scope="module")
def four_devices():
    return _worker("engine", devices=4)


def test_every_entry_point_matches_one_device(four_devices):
    r = four_devices
    assert r["devices"] == 4
    assert set(r["curve_identical"]) == {"1", "None"}  # 1 and all 4 (103 = 26 + 26 + 26 + 25)
    assert all(r["curve_identical"].values()), r["accuracy"]
    assert all(r["pairs_identical"].values())
    assert max(r["pairs_max_difference"].values()) == 0.0
    accuracy = r["accuracy"]["1"]
    assert accuracy[0] == 1.0 and accuracy[-1] < 0.6  # the attack does work
    assert r["fewer_than_devices_identical"]
    assert r["ligands_success"][0] == r["ligands_success"][1] and 0 < sum(r["ligands_success"][0]) < 13
    assert r["ligands_max_difference"] == 0.0
    assert r["landscape_max_difference"] == 0.0
    assert r["landscape_success_identical"] and r["landscape_directions_identical"]
    assert r["suite_identical"] and r["suite_accuracy"][-1] <= accuracy[-1]


def test_sharded_sweep_resumes_after_interruption_with_the_unsharded_numbers(tmp_path):
    reference = _worker("sweep", tmp_path / "one", devices=None)
    assert reference["devices"] == 1 and reference["built"] == 4  # LTD on/off × 2 seeds
    root = tmp_path / "four"
    stopped = _worker("sweep", root, "--interrupt-after", 2, devices=4)
    assert stopped["interrupted"] and stopped["built"] == 2
    resumed = _worker("sweep", root, devices=4)
    assert resumed["devices"] == 4 and not resumed["interrupted"]
    assert resumed["built"] == 2  # the two stored stages were reused
    assert resumed["rows"] == reference["rows"]
    assert resumed["numbers"] == reference["numbers"]


# --- several hosts (jax.distributed processes on this machine) --------------------------


@pytest.mark.slow
def test_two_hosts_shard_over_all_their_devices():
    outs = _hosts("engine", processes=2, devices=2)
    for r in outs:
        assert r["devices"] == 4 and r["processes"] == 2
        assert all(r["curve_identical"].values()) and all(r["pairs_identical"].values())
        assert max(r["pairs_max_difference"].values()) == 0.0
        assert r["fewer_than_devices_identical"] and r["ligands_max_difference"] == 0.0
        assert r["landscape_max_difference"] == 0.0 and r["suite_identical"]
    assert outs[0]["accuracy"] == outs[1]["accuracy"]


@pytest.mark.slow
def test_two_hosts_sweep_is_written_once_by_process_zero(tmp_path):
    reference = _worker("sweep", tmp_path / "one", devices=None)
    outs = _hosts("sweep", tmp_path / "hosts", processes=2, devices=2)
    assert [r["process"] for r in outs] == [0, 1]
    assert outs[0]["writes"] > 0 and outs[1]["writes"] == 0
    for r in outs:
        assert r["rows"] == reference["rows"] and r["numbers"] == reference["numbers"]
    assert len(list((tmp_path / "hosts" / "cerebellum-width").glob("*/result.json"))) == 1
