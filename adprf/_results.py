"""The results store: atomic, verified, keyed by what a run actually used, resumable.

Layout: `<root>/<experiment>/<run hash>/` holds `result.json` (written last, so its presence
means the run finished), the figures (PNG), and cached intermediate artefacts (stage JSON
files, trained models `<tag>.eqx`) that let an interrupted run resume where it stopped.
Models and stages shared between experiments live in `<root>/_models/`.

**Identity.** A run's hash covers the experiment's name, preset and config, the adprf
version, and the content fingerprint of every data set its config names
(`adprf.data._fingerprint`: name, sizes, SHA-256), so a run on the 5,000-image MNIST subset
and one on full MNIST can never share a folder, nor a new adprf read an old one's cache.
Shared models and stages are keyed the same way by their spec.

**Integrity.** Every file that is read back carries its SHA-256: JSON files in a `"sha256"`
field over their canonical content, models in a `<file>.sha256` line beside them
(`sha256sum -c` format). A file that is truncated, altered or unverifiable is named in a
`CacheWarning`, moved aside (`<name>.corrupt-<time>`) and recomputed: never used, never
fatal. A stage also records the digests of the models the run had loaded when it was
computed; if one of those model files has changed since (retrained), the stage is stale
and recomputed, so a table never mixes numbers from two versions of a model.

**Writes** go through a temporary file in the same folder and `os.replace`, with the
permissions the umask gives; temporary files left by a killed process are removed by the
next run that opens the folder.

Under `jax.distributed` (several hosts, see `adprf.distributed`) only process 0 writes, and
process 0 decides for every process whether a cached file is valid, so all hosts take the
same path through a run; the folder must be on a filesystem they share.
"""

import contextlib
import hashlib
import io
import json
import os
import socket
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, overload

import equinox as eqx
import jax
import numpy as np

from . import __version__, distributed

FORMAT = 2
_TEMPORARY_MAX_AGE_S = 24 * 3600


class CacheWarning(UserWarning):
    """A cached file was corrupt, unverifiable or stale: it is not used, and is recomputed."""


def config_hash(name: str, config: dict) -> str:
    """A short stable hash of a name and a JSON-able config (sorted keys)."""
    blob = json.dumps({"experiment": name, "config": config, "format": FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def digest(data: bytes) -> str:
    """The SHA-256 of `data`, hex."""
    return hashlib.sha256(data).hexdigest()


# --- writing ---------------------------------------------------------------------------

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process's umask (read by setting and restoring it, under a lock)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def _temporary_prefix(name: str) -> str:
    return f".{name}.{socket.gethostname()}.{os.getpid()}."


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> Path:
    """Write `path` through a temporary file in the same folder, give it the permissions the
    umask allows (as `open` would), and `os.replace` it into place, so `path` is always
    either the old file or the whole new one (on process 0 only, under `jax.distributed`)."""
    path = Path(path)
    if not distributed.is_writer():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temporary_prefix(path.name), suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files `atomic_write` left in `folder` when its process was killed
    (SIGKILL, power loss): those of this host whose process is gone, and any older than a
    day. Returns the files removed."""
    folder = Path(folder)
    if not folder.is_dir() or not distributed.is_writer():
        return []
    host, removed, now = socket.gethostname(), [], time.time()
    for tmp in folder.glob(".*.tmp"):
        parts = tmp.name.split(".")
        try:
            pid = int(parts[-3])
            mine = parts[-4] == host
            old = now - tmp.stat().st_mtime > _TEMPORARY_MAX_AGE_S
        except (ValueError, IndexError, OSError):
            continue
        if (mine and pid != os.getpid() and not _process_alive(pid)) or old:
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


_HELD: set[Path] = set()  # the locks this process holds (`flock` is not re-entrant across opens)


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold an advisory lock on `path` for the block (`flock` on a hidden `.<name>.lock` beside
    it), so that processes sharing a results folder (`adprf reproduce --jobs N`) build a shared
    model or stage once: the second waits for the first, then reads its file. Says so when it
    has to wait. Re-entrant within a process; unlocked where `fcntl` is absent (Windows), where
    the folder is read-only and under `jax.distributed`."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path).absolute()
    # Under jax.distributed the hosts take every step together (process 0 decides and writes):
    # a host waiting on another's lock would stall their collectives.
    if path in _HELD or jax.process_count() > 1:
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(path.parent / f".{path.name}.lock", "a")
    except OSError:  # a folder this process cannot write: it only reads, and files appear whole
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[adprf] waiting for another process to finish {path} ...", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        _HELD.add(path)
        try:
            yield
        finally:
            _HELD.discard(path)
            fcntl.flock(lock, fcntl.LOCK_UN)


# --- verified files --------------------------------------------------------------------


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


@overload
def _jsonable(value: dict) -> dict[str, Any]: ...
@overload
def _jsonable(value: Any) -> Any: ...
def _jsonable(value):
    """`value` as JSON: dict keys as strings, tuples and arrays as lists, non-finite floats as strings."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
        return _jsonable(np.asarray(value).tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def quarantine(path: Path, reason: str) -> Path | None:
    """Move a bad cached file (and its `.sha256` line) aside as `<name>.corrupt-<time>` and
    warn, naming it and why; returns where it went (None if it vanished meanwhile)."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    if distributed.is_writer():
        try:
            os.replace(path, target)
        except FileNotFoundError:
            target = None
        sidecar = _sidecar(path)
        if sidecar.exists():
            os.replace(sidecar, sidecar.with_name(f"{sidecar.name}.corrupt-{stamp}"))
    where = f"moved aside to {target.name}" if target is not None else "already gone"
    warnings.warn(
        f"adprf: cached file {path} is not usable ({reason}); {where}, recomputing", CacheWarning, stacklevel=3
    )
    return target


def write_json(path: Path, value: dict) -> dict:
    """Write a JSON object with a `"sha256"` field over its canonical content; returns what
    was written."""
    value = _jsonable(value)
    if not isinstance(value, dict):
        raise TypeError(f"write_json stores JSON objects (dicts), got {type(value).__name__}")
    value.pop("sha256", None)
    record = {**value, "sha256": digest(_canonical(value))}
    atomic_write(path, lambda f: json.dump(record, f, indent=1, ensure_ascii=False))
    return record


def check_json(path: Path) -> tuple[dict | None, str]:
    """Read and verify a JSON object written by `write_json`: (the object without its digest,
    "") or (None, why it is not usable). Never raises for a bad file."""
    try:
        record = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        return None, "missing"
    except (OSError, ValueError) as error:  # unreadable, truncated, not UTF-8, not JSON
        return None, f"unreadable: {error}"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    expected = record.pop("sha256", None)
    if expected is None:
        return None, "no sha256 recorded (written by another version, or by hand)"
    if digest(_canonical(record)) != expected:
        return None, "content does not match its sha256 (altered or damaged)"
    return record, ""


def finished_results(root: Path) -> tuple[dict[tuple[str, str], dict], list[tuple[Path, str]]]:
    """The newest verified `result.json` of every (experiment, preset) under `root` (each with
    `"_dir"`, its folder relative to `root`), and the result files that could not be used, each
    with the reason (damaged, altered, not a result record)."""
    latest: dict[tuple[str, str], tuple[float, dict]] = {}
    problems: list[tuple[Path, str]] = []
    for path in sorted(Path(root).glob("*/*/result.json")):
        record, problem = check_json(path)
        if record is None or "experiment" not in record or "preset" not in record:
            problems.append((path, problem or "not a result record"))
            continue
        record["_dir"] = path.parent.relative_to(root).as_posix()
        key = (record["experiment"], record["preset"])
        mtime = path.stat().st_mtime
        if key not in latest or mtime > latest[key][0]:
            latest[key] = (mtime, record)
    return {k: v for k, (_, v) in latest.items()}, problems


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def write_model(path: Path, model: eqx.Module) -> str:
    """Serialise `model`'s leaves (equinox) to `path`, with its SHA-256 in `<path>.sha256`;
    returns the digest."""
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, model)
    data = buffer.getvalue()
    value = digest(data)
    atomic_write(path, lambda f: f.write(data), mode="wb")
    atomic_write(_sidecar(path), lambda f: f.write(f"{value}  {Path(path).name}\n"))
    return value


def recorded_digest(path: Path) -> str | None:
    """The SHA-256 recorded beside a model file (None if there is none)."""
    try:
        return _sidecar(Path(path)).read_text().split()[0]
    except (OSError, IndexError):
        return None


def check_model(path: Path, template: eqx.Module) -> tuple[eqx.Module | None, str, str]:
    """Read and verify a model written by `write_model` into `template`'s structure:
    (model, digest, "") or (None, "", why it is not usable). Never raises for a bad file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, "", "missing"
    except OSError as error:
        return None, "", f"unreadable: {error}"
    expected = recorded_digest(path)
    if expected is None:
        return None, "", f"no sha256 recorded beside it ({_sidecar(path).name})"
    actual = digest(data)
    if actual != expected:
        return None, "", "content does not match its sha256 (altered or damaged)"
    try:
        model = eqx.tree_deserialise_leaves(io.BytesIO(data), template)
    except Exception as error:  # a verified file that does not fit the template
        return None, "", f"does not fit the model it should hold: {error}"
    return model, actual, ""


# --- runs ------------------------------------------------------------------------------


def data_names(config) -> list[str]:
    """The data sets a config names: every string value of a `"dataset"` key, at any depth."""
    found: list[str] = []

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "dataset" and isinstance(item, str):
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item)

    walk(config)
    return sorted(set(found))


def _content(fingerprint: dict) -> dict:
    """What identifies a data set's content in a key: its name, sizes and SHA-256 (not where
    its files lie, so the same data give the same key on every machine)."""
    return {k: fingerprint.get(k) for k in ("name", "sizes", "sha256")}


class Run:
    """One experiment run: its identity, its folder, and its cached stages and models.

    **Arguments:**
    - `name`: the experiment's registered name.
    - `preset`: "quick" or "paper".
    - `config`: the preset's config (JSON-serialisable).
    - `root`: the results folder (default "results").
    - `data`: the fingerprint (`DataFingerprint.as_dict()`) of every data set the config
      names, by name; part of the run's identity and of every shared key.
    - `force`: recompute this run's own stages and models instead of loading them.
    - `force_shared`: recompute the models and stages shared with other experiments too.
    """

    def __init__(
        self,
        name: str,
        preset: str,
        config: dict,
        root: str | Path = "results",
        *,
        data: dict[str, dict] | None = None,
        force: bool = False,
        force_shared: bool = False,
    ):
        self.name, self.preset, self.config = name, preset, config
        self.data = dict(data or {})
        self.force, self.force_shared = force, force_shared
        self.identity = {
            "preset": preset,
            "config": config,
            "adprf": __version__,
            "data": {n: _content(fp) for n, fp in self.data.items()},
        }
        self.hash = config_hash(name, self.identity)
        self.root = Path(root)
        self.directory = self.root / name / self.hash
        self.shared_directory = self.root / "_models"
        self.figures: list[str] = []
        self._inputs: dict[str, str] = {}  # model file (relative to root) -> digest, as loaded by this run
        for folder in (self.directory, self.shared_directory):
            clean_temporaries(folder)

    @property
    def result_path(self) -> Path:
        return self.directory / "result.json"

    def _forced(self, path: Path) -> bool:
        shared = path.parent == self.shared_directory
        return self.force_shared if shared else self.force

    def _agree(self, path: Path, valid: bool) -> bool:
        """Process 0's verdict on a cached file, for every process."""
        verdict = distributed.agree(valid)
        if verdict and not valid:
            raise RuntimeError(
                f"process 0 has a valid {path} but this process cannot read it: under "
                f"jax.distributed the results folder (--out) must be on a filesystem every host shares"
            )
        return verdict

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def load(self) -> dict | None:
        """The stored result of this run if it is there and verified (else None; a damaged one is
        moved aside with a warning)."""
        if self.force:
            return None
        record, problem = check_json(self.result_path)
        if record is None and problem != "missing":
            quarantine(self.result_path, problem)
        return record if self._agree(self.result_path, record is not None) else None

    def finished(self) -> bool:
        return self.load() is not None

    # models -------------------------------------------------------------------------
    def _model(
        self,
        path: Path,
        template: eqx.Module,
        build: Callable[[], eqx.Module],
        describe: Callable[[], object] | None = None,
    ) -> eqx.Module:
        model = None
        if not self._forced(path):
            model, value, problem = check_model(path, template)
            if model is None and problem != "missing":
                quarantine(path, problem)
            if not self._agree(path, model is not None):
                model = None
        if model is None:
            model = distributed.broadcast(build())
            value = write_model(path, model)
            if describe is not None:
                describe()
        self._inputs[self._relative(path)] = value
        return model

    def model(self, tag: str, template: eqx.Module, build: Callable[[], eqx.Module]) -> eqx.Module:
        """A trained module cached as `<tag>.eqx`: loaded into `template` if present and verified,
        else built and saved."""
        return self._model(self.directory / f"{tag}.eqx", template, build)

    def _shared_path(self, kind: str, spec: dict, suffix: str) -> Path:
        key = {
            "spec": spec,
            "data": {n: _content(self._fingerprint(n)) for n in data_names(spec)},
            "adprf": __version__,
        }
        return self.shared_directory / f"{config_hash(kind, key)}{suffix}"

    def _fingerprint(self, name: str) -> dict:
        """The fingerprint of a data set a spec names (resolved now if the config did not name it)."""
        if name not in self.data:
            from .data import fingerprint

            self.data[name] = fingerprint(name).as_dict()
        return self.data[name]

    def shared_model(self, spec: dict, template: eqx.Module, build: Callable[[], eqx.Module]) -> eqx.Module:
        """A trained module shared between experiments: cached under `<root>/_models/` by the
        hash of `spec` (which must say everything that determines it: architecture, data,
        training, seed), of the named data sets' fingerprints and of the adprf version."""
        path = self._shared_path("model", spec, ".eqx")
        described = {
            **_jsonable(spec),
            "_data": {n: self._fingerprint(n) for n in data_names(spec)},
            "_adprf": __version__,
        }
        with exclusive(path):
            return self._model(
                path,
                template,
                build,
                describe=lambda: atomic_write(
                    path.with_suffix(".json"), lambda f: json.dump(described, f, indent=1, default=str)
                ),
            )

    # stages -------------------------------------------------------------------------
    def _stale_inputs(self, inputs: dict[str, str]) -> list[str]:
        return [name for name, value in inputs.items() if recorded_digest(self.root / name) != value]

    def _stage(self, path: Path, build: Callable[[], dict], extra: dict | None = None) -> dict:
        if not self._forced(path):
            record, problem = check_json(path)
            if record is not None and "value" not in record:
                record, problem = None, "not a stage record"
            if record is None and problem != "missing":
                quarantine(path, problem)
            elif record is not None and (stale := self._stale_inputs(record.get("inputs", {}))):
                warnings.warn(
                    f"adprf: cached stage {path} was computed from model files that have changed since "
                    f"({', '.join(stale)}); recomputing",
                    CacheWarning,
                    stacklevel=3,
                )
                record = None
            # `_agree` is True only where this process holds a valid record too (else it raises)
            if self._agree(path, record is not None) and record is not None:
                return record["value"]
        value = _jsonable(build())
        write_json(path, {**(extra or {}), "value": value, "inputs": dict(self._inputs)})
        return value

    def stage(self, tag: str, build: Callable[[], dict]) -> dict:
        """A JSON-able stage result cached as `<tag>.json` (recomputed if damaged, or if a model it
        was computed from has changed)."""
        return self._stage(self.directory / f"{tag}.json", build)

    def has_shared_stage(self, spec: dict) -> bool:
        """Whether `shared_stage(spec, ...)` would load from the cache."""
        path = self._shared_path("stage", spec, ".json")
        if self.force_shared:
            return False
        record, _ = check_json(path)
        valid = record is not None and "value" in record and not self._stale_inputs(record.get("inputs", {}))
        return distributed.agree(valid)

    def shared_stage(self, spec: dict, build: Callable[[], dict]) -> dict:
        """A JSON-able result shared between experiments (e.g. one model's robustness curve),
        cached under `<root>/_models/` by the hash of `spec` (which must say everything that
        determines it), of the named data sets' fingerprints and of the adprf version."""
        path = self._shared_path("stage", spec, ".json")
        with exclusive(path):
            return self._stage(path, build, extra={"spec": _jsonable(spec)})

    @contextlib.contextmanager
    def holding_shared_stages(self, specs: list[dict]) -> Iterator[None]:
        """Hold the locks of the shared stages of `specs` (in one order, so two processes cannot
        deadlock) for the block: a process that computes several of them at once (checking
        `has_shared_stage`, then computing what is missing) does so while no other does."""
        paths = sorted({self._shared_path("stage", spec, ".json") for spec in specs})
        with contextlib.ExitStack() as stack:
            for path in paths:
                stack.enter_context(exclusive(path))
            yield

    # outputs ------------------------------------------------------------------------
    def save_figure(self, figure, filename: str) -> str:
        """Save a matplotlib figure as PNG (atomically) and record it for the report.

        A `matplotlib.figure.Figure` made without pyplot needs no backend; one made with
        pyplot is closed once saved."""
        atomic_write(
            self.directory / filename,
            lambda f: figure.savefig(f, format="png", dpi=110, bbox_inches="tight"),
            mode="wb",
        )
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(figure)
        self.figures.append(filename)
        return filename

    def write_result(self, result: dict, wall_time: float) -> dict:
        """Write `result.json` last (verified like every cached file): the run is complete once
        it exists. It records the run's provenance: preset, config, adprf version and the
        fingerprints of the data it used."""
        record = {
            "experiment": self.name,
            "preset": self.preset,
            "config": self.config,
            "hash": self.hash,
            "adprf": __version__,
            "data": self.data,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
            "wall_time_s": round(wall_time, 2),
            "figures": self.figures,
            **result,
        }
        return write_json(self.result_path, record)
