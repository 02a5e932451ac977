"""The registry of experiments: each reproduces a paper's figure or table, with presets."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..results import Run

PRESETS = ("quick", "paper")


@dataclass(frozen=True)
class Experiment:
    """A registered experiment.

    - `name`: the CLI name, e.g. "mnist-baseline".
    - `title`: one line for the report.
    - `presets`: config per preset ("quick": embedded data, minutes on a laptop CPU;
      "paper": the papers' sizes).
    - `run`: `run(run: Run) -> dict` with `tables`, `summary`, `notes`, `numbers`; or, when
      it cannot run here (its data are absent), `{"skipped": reason, "summary": reason}`.
    """

    name: str
    title: str
    presets: dict[str, dict]
    run: Callable[[Run], dict]
    paper: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    if experiment.name in REGISTRY:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    missing = set(PRESETS) - set(experiment.presets)
    if missing:
        raise ValueError(f"experiment {experiment.name!r} lacks presets {sorted(missing)}")
    REGISTRY[experiment.name] = experiment
    return experiment


def get(name: str) -> Experiment:
    if name not in REGISTRY:
        raise KeyError(f"unknown experiment {name!r}; registered: {', '.join(REGISTRY)}")
    return REGISTRY[name]


def run_experiment(name: str, preset: str = "quick", root="results", force: bool = False,
                   overrides: dict | None = None) -> dict:
    """Run (or load, if already finished) one experiment's preset; returns its result record.

    A stored result with `"skipped"` set (the experiment could not run, e.g. its data were
    absent) is recorded for the report but is not final: it is run again, so that once the
    data are fetched `adprf reproduce` computes it.
    """
    experiment = get(name)
    if preset not in experiment.presets:
        raise KeyError(f"experiment {name!r} has no preset {preset!r}; presets: {sorted(experiment.presets)}")
    config = {**experiment.presets[preset], **(overrides or {})}
    run = Run(name, preset, config, root)
    if run.finished() and not force:
        stored = run.load()
        if not stored.get("skipped"):
            return {**stored, "_loaded": True}
    start = time.perf_counter()
    result = experiment.run(run)
    record = run.write_result({"title": experiment.title, "paper": experiment.paper, **result},
                              time.perf_counter() - start)
    return {**record, "_loaded": False}
