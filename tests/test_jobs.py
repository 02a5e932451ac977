"""`adprf reproduce --jobs N`: experiments side by side in their own processes, shared models
built once, the same numbers as one after the other."""

import json
import subprocess
import sys
import time

import pytest

from adprf._cli import main
from adprf._jobs import _collect

# Two processes ask for the same shared model at once; the build is slow and leaves a mark.
SHARED_MODEL = r"""
import sys, time
import equinox as eqx
import jax
from adprf._results import Run, exclusive

root, marks = sys.argv[1], sys.argv[2]
run = Run("demo", "quick", {}, root)
with exclusive(run.shared_directory / "x"), exclusive(run.shared_directory / "x"):  # re-entrant
    pass


def build():
    with open(marks, "a") as f:
        f.write("built\n")
    time.sleep(2.0)
    return eqx.nn.Linear(3, 2, key=jax.random.PRNGKey(int(time.time_ns() % 1000)))


spec = {"arch": "linear", "seed": 0}
model = run.shared_model(spec, eqx.nn.Linear(3, 2, key=jax.random.PRNGKey(0)), build)
print(float(model.weight.sum()).hex())
"""


def test_a_shared_model_asked_for_by_two_processes_is_built_once(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(SHARED_MODEL)
    command = [sys.executable, str(script), str(tmp_path / "out"), str(tmp_path / "marks")]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.2)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    (out1, err1), (out2, err2) = first.communicate(timeout=120), second.communicate(timeout=120)
    assert first.returncode == second.returncode == 0, err1 + err2
    # Built once; the other process waited, then loaded the same weights (bit for bit).
    assert (tmp_path / "marks").read_text() == "built\n"
    assert out1 == out2
    assert "waiting for another process to finish" in err1 + err2


def _numbers(root):
    return {p.parent.parent.name: json.loads(p.read_text()) for p in root.glob("*/*/result.json")}


def test_reproduce_with_two_jobs_gives_the_numbers_of_one(tmp_path, capsys):
    only = "digits-boundary-tilting,immune-boundary-tilting,cerebellum-cifar"
    assert main(["reproduce", "--only", only, "--jobs", "2", "--out", str(tmp_path / "two")]) == 0
    printed = capsys.readouterr().out
    assert main(["reproduce", "--only", only, "--out", str(tmp_path / "one")]) == 0
    two, one = _numbers(tmp_path / "two"), _numbers(tmp_path / "one")
    assert set(two) == set(one) == set(only.split(","))
    for name in one:
        assert two[name]["hash"] == one[name]["hash"]
        assert two[name].get("numbers") == one[name].get("numbers"), name
    assert one["cerebellum-cifar"]["skipped"] and two["cerebellum-cifar"]["skipped"]  # no CIFAR-10 here
    for name in only.split(","):
        assert f"[adprf] {name} (quick) started" in printed
        assert (tmp_path / "two" / "_logs" / f"{name}.log").stat().st_size > 0
    assert "skipped (" in printed and "[3/3]" in printed
    report = (tmp_path / "two" / "report.md").read_text()
    assert "digits-boundary-tilting" in report and "immune-boundary-tilting" in report


def test_a_worker_that_dies_without_an_outcome_is_a_failure(tmp_path):
    record = _collect("x", -9, tmp_path / "missing.json", tmp_path / "x.log", 1.5)
    assert record["failed"].startswith("its process ended (killed by signal 9) without an outcome")
    assert str(tmp_path / "x.log") in record["failed"] and record["seconds"] == 1.5
    assert "exit status 1" in _collect("x", 1, tmp_path / "missing.json", tmp_path / "x.log", 0.0)["failed"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reproduce", "--jobs", "0"], "give a whole number of experiments to run at once, 1 or more"),
        (["reproduce", "--jobs", "two"], "give a whole number"),
        (["reproduce", "--only", "mtl-to-ml,nope"], "--only nope: not an experiment"),
        (["reproduce", "--only", ","], "not an experiment"),
        (["reproduce", "--only", "mtl-to-ml", "--preset", "paper-subset"], "none has the paper-subset preset"),
    ],
)
def test_bad_jobs_and_only_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_jobs_refuse_a_multi_host_launch(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("JAX_COORDINATOR_ADDRESS", "host0:1234")
    with pytest.raises(SystemExit):
        main(["reproduce", "--jobs", "2", "--out", str(tmp_path)])
    assert "a multi-host launch takes --jobs 1" in capsys.readouterr().err


def test_a_folder_it_cannot_write_is_read_unlocked(tmp_path, monkeypatch):
    import builtins

    import equinox as eqx
    import jax

    import adprf._results as results

    template = eqx.nn.Linear(3, 2, key=jax.random.PRNGKey(0))
    trained = results.Run("demo", "quick", {}, tmp_path).shared_model({"seed": 1}, template, lambda: template)

    def read_only(file, mode="r", *args, **kwargs):
        if str(file).endswith(".lock"):
            raise PermissionError(13, "Permission denied", str(file))
        return builtins.open(file, mode, *args, **kwargs)

    monkeypatch.setattr(results, "open", read_only, raising=False)

    def build():
        raise AssertionError("the cached model must be read, not built again")

    loaded = results.Run("demo", "quick", {}, tmp_path).shared_model({"seed": 1}, template, build)
    assert all(bool((a == b).all()) for a, b in zip(jax.tree.leaves(loaded), jax.tree.leaves(trained)))


def _workers_of(out) -> list[int]:
    """The pids of live processes whose command line names the results folder `out`."""
    import os

    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                command = f.read().decode(errors="replace")
        except (OSError, ValueError):
            continue
        if "adprf._jobs" in command and str(out) in command:
            pids.append(int(entry))
    return pids


# `adprf reproduce` with Python's own SIGINT handler: a pytest-xdist worker ignores SIGINT, and
# its children would inherit that.
LAUNCH = r"""
import signal, sys
signal.signal(signal.SIGINT, signal.default_int_handler)
from adprf._cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("signame", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_or_kill_stops_every_worker(tmp_path, signame, status):
    import signal

    out = tmp_path / "out"
    command = [sys.executable, "-c", LAUNCH, "reproduce", "--out", str(out), "--jobs", "2"]
    command += ["--only", "cerebellum-width,ode-antagonism"]
    parent = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # SIGINT goes to the parent alone, not to a process group
    )
    logs = [out / "_logs" / f"{name}.log" for name in ("cerebellum-width", "ode-antagonism")]
    start = time.monotonic()
    while not all(log.exists() and log.stat().st_size > 0 for log in logs):  # both experiments under way
        assert parent.poll() is None and time.monotonic() - start < 120
        time.sleep(0.2)
    time.sleep(3.0)
    parent.send_signal(getattr(signal, signame))
    got = parent.wait(timeout=30)
    err = parent.stderr.read().decode() if parent.stderr else ""
    assert got == status and "finished stages are saved" in err, err
    deadline = time.monotonic() + 15
    while _workers_of(out) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _workers_of(out), "a worker outlived the interrupted parent"
    for log in logs:
        assert "interrupted: finished stages are saved" in log.read_text(errors="replace"), log
    assert not list(out.glob("*/*/result.json"))  # neither had finished
