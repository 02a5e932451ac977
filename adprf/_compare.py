"""Two results folders, experiment by experiment: do they hold the same numbers?

`adprf compare OLD NEW` pairs the newest finished run of every (experiment, preset) in each
folder and compares what the run measured: its `numbers`, every table cell, the summary and
the notes. Timings are left out of these (keys `seconds`, `*_seconds`, `*_s`; table columns
named `seconds` or ending in " s"), not of the config; so are the run's identity fields (hash,
adprf version, finish time, digest) and the figures' file names. What the runs were asked to
do is compared first: a different config or other data (their fingerprints) is named, since
numbers from two different runs are not a reproduction of one another.

Numbers are equal when they are the same float (both NaN counts as equal), or, with a
tolerance, when |new − old| ≤ atol + rtol·|old| (NumPy's `isclose` rule); text and structure
(a missing key, a list of another length) must match exactly. Used to check that a refactor
kept every experiment's numbers, or that another machine reproduced a run.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._results import finished_results

IDENTITY = frozenset({"hash", "adprf", "finished", "sha256", "_dir", "figures", "wall_time_s"})
"""Top-level fields of a result record that say which run it was, not what it measured."""


def is_timing(name: str) -> bool:
    """Whether a key or table column holds a duration in seconds (left out of comparisons)."""
    return name == "seconds" or name.endswith(("_seconds", "_s", " s"))


@dataclass(frozen=True)
class Difference:
    """One place where the two runs differ: `path` (e.g. `numbers.curves.PGD[2]`, or a table
    cell `table 'Title' row 3 (natural) · 'ε=0.1'`), the old and the new value (`MISSING` where
    one run has nothing there)."""

    path: str
    old: Any
    new: Any


MISSING = "(absent)"


@dataclass(frozen=True)
class ExperimentComparison:
    """One (experiment, preset) in both folders, or in one only (`old_dir` or `new_dir` None).

    - `config`, `data`: differences in what the runs were asked to do and the data they used;
    - `values`: measured values (numbers, table cells, summary, notes) that differ beyond the
      tolerance, or whose text or structure differs;
    - `compared`: how many numbers were compared; `within_tolerance`: how many differ but
      within it; `max_abs`, `max_rel`: the largest differences over all numbers that differ.
    """

    experiment: str
    preset: str
    old_dir: str | None
    new_dir: str | None
    config: list[Difference] = field(default_factory=list)
    data: list[Difference] = field(default_factory=list)
    values: list[Difference] = field(default_factory=list)
    compared: int = 0
    within_tolerance: int = 0
    max_abs: float = 0.0
    max_rel: float = 0.0
    skipped: bool = False

    @property
    def status(self) -> str:
        """ "identical", "within tolerance", "differs", "skipped in both", "only in old" or "only in new"."""
        if self.new_dir is None:
            return "only in old"
        if self.old_dir is None:
            return "only in new"
        if self.values or self.config or self.data:
            return "differs"
        if self.skipped:
            return "skipped in both"
        return "within tolerance" if self.within_tolerance else "identical"

    @property
    def same(self) -> bool:
        """Whether the two runs agree (identical, within tolerance, or both skipped)."""
        return self.status in ("identical", "within tolerance", "skipped in both")


def _flatten(value: Any, path: str, out: dict[str, Any], *, timings: bool = False) -> dict[str, Any]:
    """Leaves of a JSON value by path; timing keys left out unless `timings` (a config's
    durations are what the run was asked to do, and are compared)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if timings or not is_timing(str(key)):
                _flatten(item, f"{path}.{key}" if path else str(key), out, timings=timings)
    elif isinstance(value, list):
        out[f"{path}#length"] = len(value)
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out, timings=timings)
    else:
        out[path] = value
    return out


def _table_cells(tables: list[dict]) -> dict[str, Any]:
    """Every cell of every table, keyed `table 'Title' row i (label) · 'column'`; timing columns
    are left out, and a table or row that one run lacks shows up as absent cells."""
    out: dict[str, Any] = {}
    seen: dict[str, int] = {}
    for table in tables:
        title = str(table.get("title", ""))
        seen[title] = seen.get(title, 0) + 1
        name = f"table {title!r}" + (f" ({seen[title]})" if seen[title] > 1 else "")
        columns = [str(c) for c in table.get("columns", [])]
        out[f"{name} columns"] = " | ".join(c for c in columns if not is_timing(c))
        for i, row in enumerate(table.get("rows", [])):
            label = f" ({row[0]})" if row and isinstance(row[0], str) else ""
            for column, cell in zip(columns, row):
                if not is_timing(column):
                    out[f"{name} row {i}{label} · {column!r}"] = cell
    return out


def _measured(record: dict) -> dict[str, Any]:
    """The measured values of a result record, flattened by path."""
    rest = {k: v for k, v in record.items() if k not in IDENTITY | {"config", "data", "tables"}}
    return {**_flatten(rest, "", {}), **_table_cells(record.get("tables") or [])}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(a: Any, b: Any) -> bool:
    """Exact agreement: numbers by value (1 == 1.0, NaN equals NaN), anything else by type and value."""
    if _is_number(a) and _is_number(b):
        return a == b or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _diff(old: dict[str, Any], new: dict[str, Any]) -> list[Difference]:
    """Paths whose values are not exactly the same, in the old run's order, then the new run's."""
    paths = [*old, *(p for p in new if p not in old)]
    return [
        Difference(p, old.get(p, MISSING), new.get(p, MISSING))
        for p in paths
        if not _same(old.get(p, MISSING), new.get(p, MISSING))
    ]


def compare_records(old: dict, new: dict, *, rtol: float = 0.0, atol: float = 0.0) -> ExperimentComparison:
    """Compare two result records of one (experiment, preset): see the module docstring."""
    config, data = (
        _diff(_flatten(old.get(part), part, {}, timings=True), _flatten(new.get(part), part, {}, timings=True))
        for part in ("config", "data")
    )
    skipped = bool(old.get("skipped")) and bool(new.get("skipped"))
    # A run skipped for lack of data measured nothing; its message names a local folder.
    measured_old, measured_new = ({}, {}) if skipped else (_measured(old), _measured(new))
    values, within, max_abs, max_rel = [], 0, 0.0, 0.0
    for d in _diff(measured_old, measured_new):
        if not (_is_number(d.old) and _is_number(d.new)) or d.path.endswith("#length"):  # text, structure
            values.append(d)
            continue
        gap = abs(d.new - d.old)
        max_abs = max(max_abs, gap) if not math.isnan(gap) else math.inf
        max_rel = max(max_rel, gap / abs(d.old) if d.old else math.inf) if not math.isnan(gap) else math.inf
        if gap <= atol + rtol * abs(d.old):
            within += 1
        else:
            values.append(d)
    compared = sum(1 for p, v in measured_old.items() if _is_number(v) and not p.endswith("#length"))
    return ExperimentComparison(
        experiment=str(old.get("experiment")),
        preset=str(old.get("preset")),
        old_dir=old.get("_dir", ""),
        new_dir=new.get("_dir", ""),
        config=config,
        data=data,
        values=values,
        compared=compared,
        within_tolerance=within,
        max_abs=max_abs,
        max_rel=max_rel,
        skipped=skipped,
    )


@dataclass(frozen=True)
class Comparison:
    """Every (experiment, preset) of two results folders, and the result files that could not
    be read (damaged or altered: named, never compared)."""

    experiments: list[ExperimentComparison]
    unreadable: list[tuple[Path, str]]

    @property
    def same(self) -> bool:
        """Whether every experiment agrees and every result file could be read."""
        return not self.unreadable and all(e.same for e in self.experiments)


def _check_root(root: Path) -> None:
    """Refuse what is not a results folder, naming the folder that would be."""
    if not root.is_dir():
        raise ValueError(f"{root}: no such results folder (give the folder `adprf reproduce --out` wrote)")
    for depth, above in ((0, root.parent.parent), (1, root.parent)):
        if not any(root.glob("*/*/result.json")) and any(root.glob("*/" * depth + "result.json")):
            what = "one run's folder" if depth == 0 else "one experiment's folder"
            raise ValueError(f"{root} is {what}: give the results folder that holds it, {above}")


def compare_results(
    old: str | Path,
    new: str | Path,
    *,
    rtol: float = 0.0,
    atol: float = 0.0,
    experiments: list[str] | None = None,
) -> Comparison:
    """Compare the finished runs of two results folders (as `adprf reproduce --out` writes them).

    **Arguments:**
    - `old`, `new`: the two results folders.
    - `rtol`, `atol`: how far two numbers may be apart and still agree (default: exactly equal).
    - `experiments`: compare only these experiments (default: every one found in either folder).

    **Returns:** a `Comparison`. Raises `ValueError` for a folder that does not exist, a negative
    or non-finite tolerance, or an experiment named in `experiments` that neither folder holds.
    """
    for name, value in (("rtol", rtol), ("atol", atol)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number ≥ 0, got {value!r}")
    roots = [Path(old), Path(new)]
    for root in roots:
        _check_root(root)
    (runs_old, bad_old), (runs_new, bad_new) = finished_results(roots[0]), finished_results(roots[1])
    keys = sorted(set(runs_old) | set(runs_new))
    if experiments is not None:
        unknown = sorted(set(experiments) - {name for name, _ in keys})
        if unknown:
            found = ", ".join(sorted({name for name, _ in keys})) or "none"
            raise ValueError(f"no finished run of {', '.join(unknown)} in either folder (found: {found})")
        keys = [k for k in keys if k[0] in experiments]
    out = []
    for key in keys:
        a, b = runs_old.get(key), runs_new.get(key)
        if a is None or b is None:
            present = a if a is not None else b
            assert present is not None
            where = present["_dir"]
            out.append(ExperimentComparison(*key, where if a is not None else None, where if b is not None else None))
        else:
            out.append(compare_records(a, b, rtol=rtol, atol=atol))
    return Comparison(out, bad_old + bad_new)


def _shown(old: Any, new: Any) -> tuple[str, str]:
    """Two differing values as printed: numbers in full precision; texts around their first
    difference (60 characters either side); anything else cut at 100 characters."""
    if isinstance(old, str) and isinstance(new, str):
        start = next((i for i, (a, b) in enumerate(zip(old, new)) if a != b), min(len(old), len(new)))
        lo, hi = max(0, start - 60), start + 60

        def window(text: str) -> str:
            return repr(("..." if lo else "") + text[lo:hi] + ("..." if len(text) > hi else ""))

        return window(old), window(new)

    def cut(text: str) -> str:
        return text if len(text) <= 100 else text[:97] + "..."

    return cut(repr(old)), cut(repr(new))


def format_comparison(comparison: Comparison, old: str, new: str, *, limit: int = 5) -> list[str]:
    """The comparison as lines: one table row per experiment, then up to `limit` differences of
    each that differs (0: all), then the result files that could not be read."""
    lines = [
        "| experiment | preset | status | numbers compared | within tolerance | largest Δ | largest relative Δ |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in comparison.experiments:
        gaps = f"{e.max_abs:.3g} | {e.max_rel:.3g}" if e.max_abs or e.max_rel else "– | –"
        lines.append(f"| {e.experiment} | {e.preset} | {e.status} | {e.compared:,} | {e.within_tolerance:,} | {gaps} |")
    for e in comparison.experiments:
        if e.old_dir is None or e.new_dir is None:
            lines += [
                "",
                f"{e.experiment} ({e.preset}): only in {old if e.new_dir is None else new}/{e.old_dir or e.new_dir}",
            ]
            continue
        if e.same:
            continue
        lines += ["", f"{e.experiment} ({e.preset}): {old}/{e.old_dir} -> {new}/{e.new_dir}"]
        if e.config:
            lines.append(f"  the configs differ ({len(e.config)}): not two runs of one experiment")
        if e.data:
            lines.append(f"  the data differ ({len(e.data)}): the runs used other data")
        if e.values:
            lines.append(f"  {len(e.values):,} measured values differ")
        shown = [*e.config, *e.data, *e.values]
        for d in shown[: limit or None]:
            lines.append("    {}: {} -> {}".format(d.path, *_shown(d.old, d.new)))
        if limit and len(shown) > limit:
            lines.append(f"    ... and {len(shown) - limit:,} more (--limit 0 shows all)")
    for path, problem in comparison.unreadable:
        lines += ["", f"unreadable, not compared: {path} ({problem})"]
    return lines
