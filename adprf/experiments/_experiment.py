"""An experiment as data: a typed, frozen config per preset, cached stages that compute facts,
and a pure render step that turns facts into a summary, tables, figures and notes.

A new experiment is one module with three parts:

1. a config: a frozen dataclass deriving from `AbstractConfig` (one instance per preset);
2. `compute(run, config) -> facts`: the science, built from the library; expensive pieces go
   through `run.stage` / `run.model` / `run.shared_model` so an interrupted run resumes. Facts
   are JSON-able numbers and lists (arrays as lists), never prose;
3. `render(config, facts) -> Rendered`: tables, `matplotlib.figure.Figure`s (no pyplot, no
   backend switch) and notes; verdict sentences come from small functions of facts, tested on
   their own.

The runner (`adprf.experiments.run_experiment`) does the rest: data provenance, the results
store, caching the facts (a changed render re-renders without recomputing) and the record the
report reads.
"""

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

_Config = TypeVar("_Config", bound="AbstractConfig")


@dataclass(frozen=True, kw_only=True)
class AbstractConfig:
    """Base of every experiment's config: a frozen, typed dataclass.

    Fields are plain values (numbers, strings, tuples, nested configs); any field named
    `dataset` names a data set, which the runner fingerprints and, on request, substitutes.
    `data_substituted` is set by the runner only: which data sets it replaced, and by what.
    """

    data_substituted: Mapping[str, str] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The config as JSON-able data (tuples as lists, `data_substituted` only where set): what
        a run is keyed by and records."""
        return _plain(dataclasses.asdict(self))

    def replace(self: _Config, **changes: Any) -> _Config:
        """A copy with `changes`; a dict given for a nested config updates that config's fields, a
        list for a tuple becomes a tuple (of configs of the field's kind, where its items are
        configs and dicts are given).

        Unknown names raise a `TypeError` naming them and the fields that exist.
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            fields = sorted(names - {"data_substituted"})
            raise TypeError(f"{type(self).__name__} has no field(s) {unknown}; its fields are {fields}")
        updates = {name: _like(getattr(self, name), value) for name, value in changes.items()}
        return dataclasses.replace(self, **updates)

    def substitute(self: _Config, absent: str, used: str) -> _Config:
        """A copy with every `dataset == absent`, at any depth, replaced by `used`."""
        updates = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "dataset" and value == absent:
                updates[f.name] = used
            elif isinstance(value, AbstractConfig):
                updates[f.name] = value.substitute(absent, used)
        return dataclasses.replace(self, **updates) if updates else self


def _like(current: Any, value: Any) -> Any:
    """`value` in the form of the field it replaces (see `AbstractConfig.replace`)."""
    if isinstance(current, AbstractConfig) and isinstance(value, Mapping):
        return current.replace(**value)
    if isinstance(current, tuple) and isinstance(value, list):
        kinds = {type(item) for item in current if isinstance(item, AbstractConfig)}
        if len(kinds) == 1:
            (kind,) = kinds
            return tuple(kind(**item) if isinstance(item, Mapping) else item for item in value)
        return tuple(value)
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not (k == "data_substituted" and v is None)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Table:
    """One table of a report: its title, column names and rows (cells are numbers or short
    strings); `audits` holds the masking-audit records (`Audit.as_dict()`) of the models the
    table's robustness claims are about, by model name."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    audits: Mapping[str, dict] = field(default_factory=dict)

    def __post_init__(self):
        for i, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError(
                    f"table {self.title!r}: row {i} has {len(row)} cells for {len(self.columns)} columns "
                    f"({list(self.columns)})"
                )

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"title": self.title, "columns": list(self.columns), "rows": _plain(list(self.rows))}
        if self.audits:
            out["audits"] = dict(self.audits)
        return out


@dataclass(frozen=True)
class Rendered:
    """What a render step returns: the summary paragraph, tables, figures by file name
    (`matplotlib.figure.Figure`, saved as PNG by the runner) and notes (one sentence or
    short paragraph each)."""

    summary: str
    tables: Sequence[Table] = ()
    figures: Mapping[str, Any] = field(default_factory=dict)
    notes: Sequence[str] = ()


ConfigT = TypeVar("ConfigT", bound=AbstractConfig)


@dataclass(frozen=True)
class Experiment(Generic[ConfigT]):
    """A registered experiment.

    **Arguments:**
    - `name`: the CLI name, e.g. "mnist-baseline".
    - `title`: one line for the report.
    - `paper`: what it reproduces (paper, figure or table), or "beyond …".
    - `presets`: the config of each preset ("quick": embedded data, minutes on a laptop CPU;
      "paper": the papers' sizes).
    - `compute`: `compute(run, config) -> facts` (see the module's docstring).
    - `render`: `render(config, facts) -> Rendered`.
    - `tags`: free labels (e.g. "cells", "cerebellum").
    """

    name: str
    title: str
    paper: str
    presets: Mapping[str, ConfigT]
    compute: Callable[[Any, ConfigT], dict]
    render: Callable[[ConfigT, dict], Rendered]
    tags: tuple[str, ...] = ()

    def __post_init__(self):
        for preset, config in self.presets.items():
            if not isinstance(config, AbstractConfig):
                raise TypeError(
                    f"experiment {self.name!r}: preset {preset!r} is a {type(config).__name__}, not a config "
                    f"(a frozen dataclass deriving from AbstractConfig)"
                )

    def config(self, preset: str, overrides: Mapping[str, Any] | None = None) -> ConfigT:
        """The config of `preset` with `overrides` applied (see `AbstractConfig.replace`)."""
        if preset not in self.presets:
            raise KeyError(f"experiment {self.name!r} has no preset {preset!r}; presets: {sorted(self.presets)}")
        return self.presets[preset].replace(**(overrides or {}))
