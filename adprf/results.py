"""The results store: atomic writes, keyed by the hash of an experiment's config, resumable.

Layout: `<root>/<experiment>/<config hash>/` holds `result.json` (written last, so its
presence means the run finished), the figures (PNG), and cached intermediate artefacts
(trained models, arrays) that let an interrupted run resume where it stopped.

Under `jax.distributed` (several hosts, see `adprf.distributed`) only process 0 writes, and
process 0 decides for every process whether a cached file exists, so all hosts take the
same path through a run; the folder must be on a filesystem they share.
"""

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from typing import Any
from pathlib import Path

import equinox as eqx
import numpy as np

from . import distributed

FORMAT = 1


def config_hash(name: str, config: dict) -> str:
    """A short stable hash of an experiment's name and config (JSON, sorted keys)."""
    blob = json.dumps({"experiment": name, "config": config, "format": FORMAT}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def atomic_write(path: Path, write: Callable[[Any], None], mode: str = "w") -> Path:
    """Write `path` through a temporary file in the same folder and `os.replace` it into place
    (on process 0 only, under `jax.distributed`)."""
    path = Path(path)
    if not distributed.is_writer():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def cached(path: Path) -> bool:
    """Whether `path` exists, as process 0 sees it (every process gets the same answer)."""
    path = Path(path)
    exists = distributed.agree(path.exists())
    if exists and not path.exists():
        raise RuntimeError(f"process 0 has {path} but this process does not see it: under jax.distributed the "
                           f"results folder (--out) must be on a filesystem every host shares")
    return exists


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)) or hasattr(value, "__array__"):
        return _jsonable(np.asarray(value).tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


class Run:
    """One experiment run: its config, its folder, and cached stages.

    **Arguments:**
    - `name`: the experiment's registered name.
    - `preset`: "quick" or "paper".
    - `config`: the preset's config (JSON-serialisable).
    - `root`: the results folder (default "results").
    """

    def __init__(self, name: str, preset: str, config: dict, root: str | Path = "results"):
        self.name, self.preset, self.config = name, preset, config
        self.hash = config_hash(name, config)
        self.root = Path(root)
        self.directory = self.root / name / self.hash
        self.figures: list[str] = []

    @property
    def result_path(self) -> Path:
        return self.directory / "result.json"

    def finished(self) -> bool:
        return cached(self.result_path)

    def load(self) -> dict:
        return json.loads(self.result_path.read_text())

    def model(self, tag: str, template: eqx.Module, build: Callable[[], eqx.Module]) -> eqx.Module:
        """A trained module cached as `<tag>.eqx`: loaded into `template` if present, else built and saved."""
        path = self.directory / f"{tag}.eqx"
        if cached(path):
            return eqx.tree_deserialise_leaves(path, template)
        model = distributed.broadcast(build())
        atomic_write(path, lambda f: eqx.tree_serialise_leaves(f, model), mode="wb")
        return model

    def shared_model(self, spec: dict, template: eqx.Module, build: Callable[[], eqx.Module]) -> eqx.Module:
        """A trained module shared between experiments: cached under `<root>/_models/` by the
        hash of `spec` (which must say everything that determines it: architecture, data,
        training, seed)."""
        path = self.root / "_models" / f"{config_hash('model', spec)}.eqx"
        if cached(path):
            return eqx.tree_deserialise_leaves(path, template)
        model = distributed.broadcast(build())
        atomic_write(path, lambda f: eqx.tree_serialise_leaves(f, model), mode="wb")
        atomic_write(path.with_suffix(".json"), lambda f: json.dump(spec, f, indent=1, default=str))
        return model

    def _shared_stage_path(self, spec: dict) -> Path:
        return self.root / "_models" / f"{config_hash('stage', spec)}.json"

    def has_shared_stage(self, spec: dict) -> bool:
        """Whether `shared_stage(spec, ...)` would load from the cache."""
        return cached(self._shared_stage_path(spec))

    def shared_stage(self, spec: dict, build: Callable[[], dict]) -> dict:
        """A JSON-able result shared between experiments (e.g. one model's robustness curve),
        cached under `<root>/_models/` by the hash of `spec`, which must say everything that
        determines it."""
        path = self._shared_stage_path(spec)
        if cached(path):
            return json.loads(path.read_text())["value"]
        value = _jsonable(build())
        atomic_write(path, lambda f: json.dump({"spec": _jsonable(spec), "value": value}, f, indent=1))
        return value

    def stage(self, tag: str, build: Callable[[], dict]) -> dict:
        """A JSON-able stage result cached as `<tag>.json`."""
        path = self.directory / f"{tag}.json"
        if cached(path):
            return json.loads(path.read_text())
        value = _jsonable(build())
        atomic_write(path, lambda f: json.dump(value, f, indent=1))
        return value

    def save_figure(self, figure, filename: str) -> str:
        """Save a matplotlib figure as PNG (atomically) and record it for the report."""
        import matplotlib.pyplot as plt

        atomic_write(self.directory / filename, lambda f: figure.savefig(f, format="png", dpi=110,
                                                                        bbox_inches="tight"), mode="wb")
        plt.close(figure)
        self.figures.append(filename)
        return filename

    def write_result(self, result: dict, wall_time: float) -> dict:
        """Write `result.json` last: the run is complete once it exists."""
        record = _jsonable({
            "experiment": self.name, "preset": self.preset, "config": self.config, "hash": self.hash,
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_time_s": round(wall_time, 2),
            "figures": self.figures, **result,
        })
        atomic_write(self.result_path, lambda f: json.dump(record, f, indent=1))
        return record
