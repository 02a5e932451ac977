"""Ctrl-C in `adprf run`: a real SIGINT sent to a subprocess mid-work must end it promptly with
status 130 and the resume message, never a crash (see `adprf._interrupts`).

The unguarded CLI failed these in two ways: a SIGINT while XLA compiled the attack printed the
message, then the process segfaulted seconds later (interpreter finalisation under XLA's
compiler threads); a SIGINT while the compiled attack or ODE solve ran went unanswered until
the program finished (minutes here). Each test therefore waits for the process to end (up to
`WAIT_S`, longer than the crashes took to come) and checks its status, output and timing.
"""

import gc
import inspect
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

import pytest

from adprf._interrupts import ExitOnInterrupt
from adprf._results import Run
from adprf.experiments import AbstractConfig

WAIT_S = 30.0  # how long the process may take to end before the test gives up
PROMPT_S = 5.0  # how soon after the signal it must have ended (the guard's grace is 1 s)
RESUME = "run the same command again to resume"


@dataclass(frozen=True, kw_only=True)
class Config(AbstractConfig):
    """The fake experiment's one setting: the work to interrupt ("attack", "train" or "ode")."""

    mode: str


# The experiment `interrupt-<mode>`: one finished stage, then minutes of work that the test
# interrupts; a marker file says when the long call starts. Its config class is this module's
# `Config`, copied into the script.
CHILD = r"""
import pathlib, signal, sys

signal.signal(signal.SIGINT, signal.default_int_handler)   # also when pytest runs in the background
mode, out = sys.argv[1], pathlib.Path(sys.argv[2])

from dataclasses import dataclass

import jax
import jax.numpy as jnp

from adprf._cli import main
from adprf.experiments import AbstractConfig, Experiment, Rendered, register

CONFIG


def compute(run, cfg):
    run.stage("before", lambda: {"value": 1})
    started = out / "started"
    if cfg.mode == "attack":
        from adprf.attacks import PGD, robust_accuracy
        from adprf.nets import MLP
        model = MLP(16, 4, width=32, depth=8, key=jax.random.key(0))
        x = jax.random.uniform(jax.random.key(1), (64, 16))
        y = jax.random.randint(jax.random.key(2), (64,), 0, 4)
        started.touch()
        # Misclassified examples stop at once (the bar moves); the others run 10^7 steps.
        robust_accuracy(model, x, y, [1e-4], PGD(steps=10**7, step_size=1e-6), key=jax.random.key(3),
                        batch_size=64, progress=True)
    elif cfg.mode == "train":
        from adprf.nets import MLP, train_classifier
        x = jax.random.uniform(jax.random.key(1), (4096, 64))
        y = jax.random.randint(jax.random.key(2), (4096,), 0, 10)
        started.touch()
        train_classifier(MLP(64, 10, width=256, key=jax.random.key(0)), x, y, key=jax.random.key(3),
                         epochs=10**4, batch_size=32)
    elif cfg.mode == "ode":
        from adprf.cells import SHP1Feedback
        from adprf._ligands import Ligands
        with jax.enable_x64(True):
            ligands = Ligands(jnp.linspace(1.0, 10.0, 64)[:, None] * jnp.ones((64, 3)), jnp.full((64, 3), 1e4))
            model = SHP1Feedback(solver="ode")
            # Tolerances it never meets: 10^6 stiff steps for each of 64 ligand sets.
            solve = jax.jit(jax.vmap(lambda l: model.steady_state(
                l, method="ode", rtol=1e-300, atol=1e-300, max_steps=10**6, throw=False).output))
            started.touch()
            solve(ligands).block_until_ready()
    return {"interrupted": False}


def render(cfg, facts):
    return Rendered(summary="not interrupted")


register(Experiment(name="interrupt-" + mode, title="interrupt", paper="none (a test of Ctrl-C)",
                    presets={"quick": Config(mode=mode), "paper": Config(mode=mode)}, compute=compute, render=render))
sys.exit(main(["run", "interrupt-" + mode, "--out", str(out)]))
""".replace("CONFIG", inspect.getsource(Config))


# A JAX program whose host callback sends the SIGINT itself: XLA runs this small loop, and
# calls back, on the main thread, so the Python-level handler runs inside the callback.
CALLBACK_CHILD = r"""
import os, signal, sys

signal.signal(signal.SIGINT, signal.default_int_handler)
import jax
import jax.numpy as jnp

from adprf._interrupts import ExitOnInterrupt


def tick(i):
    if int(i) == 1000:
        os.kill(os.getpid(), signal.SIGINT)
    sum(range(1000))


@jax.jit
def loop(x):
    def body(i, c):
        jax.debug.callback(tick, i)
        return jnp.sin(c) + 1e-3
    return jax.lax.fori_loop(0, 10**8, body, x)


with ExitOnInterrupt("interrupted: " + "RESUME"):
    loop(jnp.ones(4)).block_until_ready()
""".replace("RESUME", RESUME)


def _interrupt(tmp_path, mode: str, ready, signals: int = 1):
    """Run experiment `interrupt-<mode>`, wait until `ready(stderr_so_far)`, send `signals`
    SIGINTs 50 ms apart; returns (exit status, stderr, seconds from the first signal to the end)."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), mode, str(tmp_path)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    err = bytearray()

    def read():
        while chunk := os.read(proc.stderr.fileno(), 4096):
            err.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        start = time.monotonic()
        while not ready(bytes(err)):
            assert proc.poll() is None, f"the experiment ended before it was interrupted:\n{err.decode()}"
            assert time.monotonic() - start < 180, f"the work never started:\n{err.decode()}"
            time.sleep(0.05)
        sent = time.monotonic()
        for _ in range(signals):
            proc.send_signal(signal.SIGINT)
            time.sleep(0.05)
        try:
            proc.wait(timeout=WAIT_S)
        except subprocess.TimeoutExpired:
            pass
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=5)
    return proc.returncode, err.decode(errors="replace"), took


def _started(tmp_path, delay: float):
    """Ready `delay` s after the experiment's marker file appears."""
    since = None

    def ready(_):
        nonlocal since
        if since is None and (tmp_path / "started").exists():
            since = time.monotonic()
        return since is not None and time.monotonic() - since >= delay

    return ready


def _bar_moved(err: bytes) -> bool:
    """The attack's progress bar counts finished pairs: the compiled loop is running."""
    return re.search(rb"\b[1-9]\d*/64 \[", err) is not None


def _assert_clean_exit(tmp_path, mode, status, err, took):
    assert status == 130, f"exit status {status} (-11/139: segfault, -6: abort), stderr:\n{err[-3000:]}"
    assert took < PROMPT_S, f"ended {took:.1f} s after the signal"
    assert RESUME in err
    for crash in ("Segmentation fault", "Fatal Python error", "Traceback", "Exception ignored", "terminate called"):
        assert crash not in err, f"{crash!r} in stderr:\n{err[-3000:]}"
    # The finished stage is kept, in place and whole; no temporary file and no result.
    assert not list(tmp_path.rglob(".*.tmp"))
    run = Run("interrupt-" + mode, "quick", Config(mode=mode).as_dict(), tmp_path)
    assert run.stage("before", lambda: pytest.fail("the finished stage was lost")) == {"value": 1}
    assert not run.finished()


def test_ctrl_c_while_the_attack_runs(tmp_path):
    """The main thread waits in XLA while the compiled loop runs: the watcher thread ends it."""
    status, err, took = _interrupt(tmp_path, "attack", _bar_moved)
    _assert_clean_exit(tmp_path, "attack", status, err, took)


def test_ctrl_c_in_a_garbage_collector_callback_or_a_finaliser_is_left_to_the_watcher():
    """Python prints, and otherwise ignores, an exception raised in a gc callback (JAX registers
    one) or in `__del__`: the handler must not raise there, and must still record the interrupt
    (it once printed "Exception ignored in: <function _xla_gc_callback>" with a traceback)."""
    guard = ExitOnInterrupt("resume")
    outcomes = []

    def signal_here():
        try:
            guard._on_signal(signal.SIGINT, sys._getframe())
            outcomes.append("left to the watcher")
        except KeyboardInterrupt:
            outcomes.append("raised")

    class Finalised:
        def __del__(self):
            signal_here()

    def collector_callback(phase, info):
        if phase == "start" and not outcomes:
            signal_here()

    gc.callbacks.append(collector_callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(collector_callback)
    Finalised()  # dropped at once: __del__ runs here
    assert outcomes == ["left to the watcher"] * 2 and guard.interrupted.is_set()
    with pytest.raises(KeyboardInterrupt):  # in plain Python code it unwinds
        guard._on_signal(signal.SIGINT, sys._getframe())


def test_ctrl_c_while_the_attack_compiles(tmp_path):
    """A second after the attack starts, XLA is still compiling it (~3 s here): the interrupted
    wait must not leave the compiler threads to crash the process on its way out."""
    status, err, took = _interrupt(tmp_path, "attack", _started(tmp_path, 1.0))
    _assert_clean_exit(tmp_path, "attack", status, err, took)


def test_double_ctrl_c_during_training(tmp_path):
    """Training runs Python between jitted steps: the first Ctrl-C unwinds, the second one,
    50 ms later, lands during the exit and must not add a traceback."""
    status, err, took = _interrupt(tmp_path, "train", _started(tmp_path, 2.0), signals=2)
    _assert_clean_exit(tmp_path, "train", status, err, took)


def test_ctrl_c_during_an_ode_steady_state_solve(tmp_path):
    """A vmapped diffrax solve (float64, Kvaerno5) compiling or running: no callbacks at all."""
    status, err, took = _interrupt(tmp_path, "ode", _started(tmp_path, 4.0))
    _assert_clean_exit(tmp_path, "ode", status, err, took)


def test_ctrl_c_inside_a_host_callback_on_the_main_thread(tmp_path):
    """Raising KeyboardInterrupt inside the callback would only fail it (JAX logs "callback
    failed" with a traceback); the guard leaves the process to the watcher instead."""
    script = tmp_path / "callback.py"
    script.write_text(CALLBACK_CHILD)
    start = time.monotonic()
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130, done.stderr
    assert RESUME in done.stderr and "Traceback" not in done.stderr and "callback failed" not in done.stderr
    assert time.monotonic() - start < 30  # uninterrupted: over an hour
