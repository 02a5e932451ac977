"""`adprf reproduce --jobs N`: N experiments at once, each in a process of its own.

Much of a quick experiment's time is spent in one thread: XLA compiles a program on one core,
and the quick presets' small batches seldom fill two. Running experiments side by side uses
the cores that one process leaves idle (on 2 cores, the quick preset in 0.75 of the time).

Each experiment runs as `python -m adprf._jobs NAME OUTCOME OPTIONS`, which runs it as `adprf
run` would (the same results folder and compilation cache) with its output in
`OUT/_logs/<name>.log`, and writes a small outcome record (failed, skipped, loaded, hash) that
the parent reads. A worker that dies without one (killed, out of memory) is reported as
failed; the others go on. Models and stages two experiments share are built once: the second
process waits for the first (`adprf._results.exclusive`). On Ctrl-C or SIGTERM the workers stop
with the parent; what they finished is saved, and running the same command again resumes.

With more than one job, GPU memory is not preallocated (`XLA_PYTHON_CLIENT_PREALLOCATE=false`
unless set), so that the workers can share a device.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

OPTIONS = ("preset", "out", "force", "force_shared", "traceback", "no_compilation_cache", "allow_subset")
"""The command-line options a worker runs its experiment with."""

_POLL_S = 0.2


def run_in_workers(names: list[str], args: argparse.Namespace, jobs: int) -> dict[str, dict]:
    """Run each experiment of `names` (the options of `args`) in its own process, `jobs` at a
    time, in the order given, under a progress bar that names the running ones; returns each
    one's outcome (`{"failed": message}` for a failure)."""
    logs = Path(args.out) / "_logs"
    logs.mkdir(parents=True, exist_ok=True)
    options = json.dumps({k: getattr(args, k) for k in OPTIONS})
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    print(f"[adprf] {len(names)} experiments, {jobs} at a time; their output goes to {logs}/<name>.log", flush=True)
    pending, running, outcomes = list(names), {}, {}
    bar = tqdm(total=len(names), desc="reproduce", unit="experiment", dynamic_ncols=True)
    previous = signal.signal(signal.SIGTERM, _terminated)  # `kill` stops the workers too
    try:
        while pending or running:
            while pending and len(running) < jobs:
                name = pending.pop(0)
                running[name] = _start(name, logs, options, env)
                bar.write(f"[adprf] {name} ({args.preset}) started")
            now = time.perf_counter()
            bar.set_postfix_str(", ".join(f"{name} {now - w[3]:.0f} s" for name, w in running.items()), refresh=False)
            if time.time() - bar.last_print_t >= 1.0:  # tqdm keeps time.time()
                bar.refresh()
            done = [name for name, (process, *_) in running.items() if process.poll() is not None]
            if not done:
                time.sleep(_POLL_S)
            for name in done:
                process, outcome, log, start = running.pop(name)
                outcomes[name] = _collect(name, process.returncode, outcome, log, time.perf_counter() - start)
                line = _announce(name, outcomes[name], log, args.out, len(outcomes), len(names))
                bar.write(line, file=sys.stderr if outcomes[name].get("failed") else sys.stdout)
                bar.update(1)
    finally:
        bar.close()
        _stop(running)
        signal.signal(signal.SIGTERM, previous)
    return outcomes


def _terminated(signum, frame):
    """SIGTERM in the parent: unwind through `run_in_workers`' `finally`, which stops the workers."""
    print("\n[adprf] terminated: finished stages are saved; run the same command again to resume", file=sys.stderr)
    raise SystemExit(128 + signum)


def _start(name: str, logs: Path, options: str, env: dict) -> tuple[subprocess.Popen, Path, Path, float]:
    """Start experiment `name`'s worker: (process, its outcome file, its log, its start time)."""
    log, outcome = logs / f"{name}.log", logs / f".{name}.outcome.json"
    outcome.unlink(missing_ok=True)
    with open(log, "w") as stream:
        command = [sys.executable, "-m", "adprf._jobs", name, str(outcome), options]
        process = subprocess.Popen(command, stdout=stream, stderr=subprocess.STDOUT, env=env)
    return process, outcome, log, time.perf_counter()


def _collect(name: str, status: int, outcome: Path, log: Path, seconds: float) -> dict:
    """A worker's outcome record, or a failure that names its exit status and log."""
    try:
        record = json.loads(outcome.read_text())
    except (OSError, ValueError):
        how = f"killed by signal {-status}" if status < 0 else f"exit status {status}"
        record = {"failed": f"its process ended ({how}) without an outcome; see {log}"}
    outcome.unlink(missing_ok=True)
    return {**record, "seconds": seconds}


def _announce(name: str, record: dict, log: Path, out: str, finished: int, total: int) -> str:
    """The line that says how experiment `name` ended, with its log (a failure) or its count."""
    from ._cli import outcome_line

    line = outcome_line(name, record, record["seconds"], out)
    return f"{line} (log: {log})" if record.get("failed") else f"{line} [{finished}/{total}]"


def _stop(running: dict) -> None:
    """Interrupt the workers still running (they save what they finished and exit), then kill
    any that has not exited within a few seconds."""
    for process, *_ in running.values():
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 5.0
    for process, *_ in running.values():
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()


def _worker(name: str, outcome: str, options: str) -> int:
    """One experiment in this process, as `adprf run` runs it; writes its outcome record."""
    from ._cli import _run_one, prepare_process
    from ._interrupts import ExitOnInterrupt
    from ._results import atomic_write

    args = argparse.Namespace(**json.loads(options))
    with ExitOnInterrupt(f"\n[adprf] {name} interrupted: finished stages are saved", status=130):
        prepare_process(args)
        record = _run_one(name, args)
        summary = {k: record[k] for k in ("failed", "skipped", "_loaded", "hash") if k in record}
        atomic_write(Path(outcome), lambda f: json.dump(summary, f))
    return 0


if __name__ == "__main__":
    sys.exit(_worker(*sys.argv[1:]))
