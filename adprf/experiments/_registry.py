"""The registry of experiments: each reproduces a paper's figure or table, with presets."""

import time
from typing import Any

from .._results import Run, data_names
from ._experiment import AbstractConfig, Experiment

PRESETS = ("quick", "paper")
"""The presets every experiment has."""
OPTIONAL_PRESETS = ("paper-subset",)
"""Presets only some experiments have: "paper-subset" keeps the paper's model sizes and attacks
but trains and attacks on the embedded MNIST subset (for the questions whose answer depends on
the model's size, on a machine without full MNIST)."""
PRESET_HELP = {
    "quick": "embedded data, minutes on a laptop CPU",
    "paper": "the papers' sizes and data",
    "paper-subset": "the paper's model sizes and attacks on the embedded 5,000-image MNIST subset (some "
    "experiments only; labelled as subset data, not comparable value for value with the paper)",
}


REGISTRY: dict[str, Experiment] = {}


def register(experiment: Experiment) -> Experiment:
    if experiment.name in REGISTRY:
        raise ValueError(f"experiment {experiment.name!r} is registered twice")
    missing = set(PRESETS) - set(experiment.presets)
    if missing:
        raise ValueError(f"experiment {experiment.name!r} lacks presets {sorted(missing)}")
    unknown = set(experiment.presets) - set(PRESETS) - set(OPTIONAL_PRESETS)
    if unknown:
        raise ValueError(
            f"experiment {experiment.name!r} has unknown presets {sorted(unknown)}: name presets from "
            f"{PRESETS + OPTIONAL_PRESETS} (or add the new name to OPTIONAL_PRESETS)"
        )
    REGISTRY[experiment.name] = experiment
    return experiment


def get(name: str) -> Experiment:
    if name not in REGISTRY:
        raise KeyError(f"unknown experiment {name!r}; registered: {', '.join(REGISTRY)}")
    return REGISTRY[name]


SUBSTITUTES = {"mnist": "mnist-subset"}
"""The embedded stand-in for a data set that may be absent, used only when asked for
(`allow_subset=True`, `adprf run --allow-subset`)."""


def resolve_data(config: AbstractConfig, allow_subset: bool = False) -> tuple[AbstractConfig, dict[str, dict]]:
    """The config a run will actually use and the fingerprints of the data sets it names.

    A data set that is absent raises `DataAbsent` (its message says how to fetch it), unless
    `allow_subset` and it has an embedded stand-in (`SUBSTITUTES`): then the config names the
    stand-in everywhere and records the substitution in `data_substituted`, so the run's
    identity, its shared models and its report all say which data it used.
    """
    from ..data import DataAbsent, fingerprint

    data, substituted = {}, {}
    for name in data_names(config.as_dict()):
        try:
            data[name] = fingerprint(name).as_dict()
        except DataAbsent:
            if not (allow_subset and name in SUBSTITUTES):
                raise
            used = SUBSTITUTES[name]
            config = config.substitute(name, used)
            substituted[name] = used
            data[used] = fingerprint(used).as_dict()
    if substituted:
        config = config.replace(data_substituted=substituted)
    return config, data


def run_experiment(
    name: str,
    preset: str = "quick",
    root="results",
    force: bool = False,
    overrides: dict | None = None,
    *,
    force_shared: bool = False,
    allow_subset: bool = False,
) -> dict:
    """Run (or load, if already finished) one experiment's preset; returns its result record.

    **Arguments:**
    - `name`, `preset`: the experiment and its preset ("quick", "paper", or one of
      `OPTIONAL_PRESETS` where the experiment has it).
    - `root`: the results folder.
    - `force`: recompute the run's own stages and models (its shared models are reused).
    - `overrides`: config entries replacing the preset's (tests, sweeps).
    - `force_shared`: also recompute the models and stages it shares with other experiments.
    - `allow_subset`: run on the embedded 5,000-image MNIST subset where the config names full
      MNIST and it is absent; the run is then labelled with the data it used. Without it, such
      a run is skipped with the command that fetches the data.

    A preset whose data are absent or damaged is skipped: its record says why and how to fix
    it. A stored result with `"skipped"` set (the experiment could not run, e.g. its data were
    absent) is recorded for the report but is not final: it is run again, so that once the
    data are fetched `adprf reproduce` computes it.
    """
    from ..data import DataAbsent, DataError

    experiment = get(name)
    config = experiment.config(preset, overrides)
    try:
        config, data = resolve_data(config, allow_subset)
    except DataError as problem:  # absent, partial or damaged data: never run on something else
        reason = str(problem)
        if isinstance(problem, DataAbsent) and "mnist" in data_names(config.as_dict()):
            reason += " (or run the preset on the embedded 5,000-image subset with --allow-subset)"
        run = Run(name, preset, config.as_dict(), root)
        record = run.write_result(
            {"title": experiment.title, "paper": experiment.paper, "skipped": reason, "summary": reason}, 0.0
        )
        return {**record, "_loaded": False}
    run = Run(name, preset, config.as_dict(), root, data=data, force=force, force_shared=force_shared)
    stored = run.load()
    if stored is not None and not stored.get("skipped"):
        return {**stored, "_loaded": True}
    start = time.perf_counter()
    result = _compute_and_render(experiment, run, config)
    record = run.write_result(
        {"title": experiment.title, "paper": experiment.paper, **result}, time.perf_counter() - start
    )
    return {**record, "_loaded": False}


_NON_FINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _revive(value: Any) -> Any:
    """Stored facts with their non-finite floats back (the store writes them as strings)."""
    if isinstance(value, dict):
        return {k: _revive(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v) for v in value]
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    return value


def _compute_and_render(experiment: Experiment, run: Run, config: AbstractConfig) -> dict:
    """The facts (cached as the run's `facts` stage, so a changed render step re-renders
    without recomputing), rendered into the record's summary, tables, figures and notes."""
    facts = _revive(run.stage("facts", lambda: experiment.compute(run, config)))
    rendered = experiment.render(config, facts)
    for filename, figure in rendered.figures.items():
        run.save_figure(figure, filename)
    return {
        "summary": rendered.summary,
        "tables": [table.as_dict() for table in rendered.tables],
        "notes": list(rendered.notes),
        "numbers": facts,
    }
