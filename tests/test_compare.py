"""`adprf compare OLD NEW`: two results folders, experiment by experiment, timings aside.

Real runs of a registered toy experiment (two runs of one experiment agree whatever their
timings; a changed number, config or data is found and named), and hand-written records for
the cases runs rarely produce (damaged files, lists of another length, tolerances)."""

import time
from dataclasses import dataclass

import numpy as np
import pytest

from adprf._cli import main
from adprf._compare import compare_records, compare_results, is_timing
from adprf._results import Run, write_json
from adprf.experiments import REGISTRY, AbstractConfig, Experiment, Rendered, Table, register, run_experiment


@pytest.fixture
def toy():
    """A registered experiment whose numbers come from `state["scale"]` and which records how
    long it took in the three places timings go: a `seconds` key, a `*_seconds` key and a
    table column ending in " s"."""
    state = {"scale": 1.0}

    @dataclass(frozen=True, kw_only=True)
    class Config(AbstractConfig):
        n: int

    def compute(run: Run, cfg: Config) -> dict:
        start = time.perf_counter()
        values = (state["scale"] * np.linspace(0.0, 1.0, cfg.n) ** 2).tolist()
        time.sleep(0.01)
        return {"values": values, "seconds": time.perf_counter() - start, "train_seconds": time.perf_counter()}

    def render(cfg: Config, facts: dict) -> Rendered:
        rows = [[f"x{i}", v, facts["seconds"]] for i, v in enumerate(facts["values"])]
        return Rendered(f"{cfg.n} values", tables=[Table("Values", ["name", "value", "compute s"], rows)])

    register(
        Experiment("toy-compare", "Toy compare", "", {"quick": Config(n=5), "paper": Config(n=6)}, compute, render)
    )
    yield state
    REGISTRY.pop("toy-compare")


def _compare_cli(capsys, *args) -> tuple[int, str, str]:
    status = main(["compare", *map(str, args)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_two_runs_of_one_experiment_agree_whatever_their_timings(tmp_path, toy, capsys):
    first = run_experiment("toy-compare", "quick", root=tmp_path / "a")
    second = run_experiment("toy-compare", "quick", root=tmp_path / "b")
    assert first["numbers"]["seconds"] != second["numbers"]["seconds"]
    status, out, _ = _compare_cli(capsys, tmp_path / "a", tmp_path / "b")
    assert status == 0, out
    assert "| toy-compare | quick | identical | 10 |" in out and "all 1 agree" in out


def test_a_moved_number_is_named_with_both_values(tmp_path, toy, capsys):
    run_experiment("toy-compare", "quick", root=tmp_path / "a")
    toy["scale"] = 1.0 + 1e-12
    run_experiment("toy-compare", "quick", root=tmp_path / "b")
    status, out, _ = _compare_cli(capsys, tmp_path / "a", tmp_path / "b", "--limit", "0")
    assert status == 1 and "| toy-compare | quick | differs |" in out and "1 of 1 differ" in out
    # The numbers and the table cells, each with both values in full precision.
    assert "numbers.values[4]: 1.0 -> 1.000000000001" in out
    assert "table 'Values' row 4 (x4) · 'value': 1.0 -> 1.000000000001" in out
    # x0 = 0 moves nowhere: 8 numbers moved (4 values, 4 cells), relative 1e-12 at most.
    comparison = compare_results(tmp_path / "a", tmp_path / "b")
    (e,) = comparison.experiments
    assert len(e.values) == 8 and e.max_rel == pytest.approx(1e-12, rel=1e-3)
    assert _compare_cli(capsys, tmp_path / "a", tmp_path / "b", "--rtol", "1e-11")[0] == 0
    assert _compare_cli(capsys, tmp_path / "a", tmp_path / "b", "--rtol", "1e-13")[0] == 1
    status, out, _ = _compare_cli(capsys, tmp_path / "a", tmp_path / "b", "--atol", "1e-11")
    assert status == 0 and "| toy-compare | quick | within tolerance | 10 | 8 |" in out


def test_another_config_or_preset_is_not_taken_for_a_rerun(tmp_path, toy, capsys):
    run_experiment("toy-compare", "quick", root=tmp_path / "a")
    run_experiment("toy-compare", "quick", root=tmp_path / "b", overrides={"n": 6})
    run_experiment("toy-compare", "paper", root=tmp_path / "b")
    status, out, _ = _compare_cli(capsys, tmp_path / "a", tmp_path / "b", "--limit", "0")
    assert status == 1
    assert "the configs differ (1): not two runs of one experiment" in out and "config.n: 5 -> 6" in out
    assert "numbers.values#length: 5 -> 6" in out and "numbers.values[5]: '(absent)' -> 1.0" in out
    assert "| toy-compare | paper | only in new |" in out


def _record(tmp_path, folder, **changes):
    record = {
        "experiment": "e",
        "preset": "quick",
        "config": {"n_test": 200},
        "data": {"mnist-subset": {"sha256": "aa", "sizes": {"test": 1000}}},
        "hash": "h1",
        "adprf": "0.1.0",
        "finished": "2026-12-06 08:00:00",
        "wall_time_s": 3.0,
        "figures": ["f.png"],
        "summary": "A curve on 200 images with τ1 = 4 s.",
        "notes": ["It holds."],
        "numbers": {"curve": [0.5, float("nan"), 2], "seconds": 1.0, "training_seconds": 2.0, "count": 3},
        "tables": [{"title": "T", "columns": ["model", "acc", "train s"], "rows": [["a", 0.5, 1.0]]}],
    }
    record.update(changes)
    path = tmp_path / folder / "e" / record["hash"] / "result.json"
    path.parent.mkdir(parents=True)
    return write_json(path, record)


def test_records_timings_identity_and_nan_are_left_alone(tmp_path):
    old = _record(tmp_path, "a")
    new = _record(
        tmp_path,
        "b",
        hash="h2",
        adprf="0.2.0",
        finished="later",
        wall_time_s=9.0,
        figures=["g.png"],
        numbers={"curve": [0.5, float("nan"), 2.0], "seconds": 7.0, "training_seconds": 8.0, "count": 3},
        tables=[{"title": "T", "columns": ["model", "acc", "train s"], "rows": [["a", 0.5, 99.0]]}],
    )
    result = compare_records({**old, "_dir": "x"}, {**new, "_dir": "y"})
    # Five numbers, but the store writes NaN as text: four are compared as numbers.
    assert result.status == "identical" and result.compared == 4, result


@pytest.mark.parametrize(
    "change, path",
    [
        ({"summary": "A curve on 200 images with τ1 = 5 s."}, "summary"),
        ({"notes": ["It holds.", "More."]}, "notes#length"),
        ({"data": {"mnist-subset": {"sha256": "bb", "sizes": {"test": 1000}}}}, "data.mnist-subset.sha256"),
        ({"numbers": {"curve": [0.5, 1.0, 2], "count": 3}}, "numbers.curve[1]"),
        ({"numbers": {"curve": [0.5, float("nan"), 2], "count": True}}, "numbers.count"),
        ({"tables": [{"title": "T", "columns": ["model", "accuracy"], "rows": [["a", 0.5]]}]}, "table 'T' columns"),
    ],
)
def test_any_measured_change_is_named(tmp_path, change, path):
    old, new = _record(tmp_path, "a"), _record(tmp_path, "b", **change)
    result = compare_records(old, new)
    assert result.status == "differs" and path in [d.path for d in result.config + result.data + result.values]


def test_damaged_results_are_named_and_never_compared(tmp_path, capsys):
    _record(tmp_path, "a")
    _record(tmp_path, "b")
    damaged = tmp_path / "b" / "e" / "h1" / "result.json"
    damaged.write_text(damaged.read_text().replace('"It holds."', '"It fails."'))
    status, out, _ = _compare_cli(capsys, tmp_path / "a", tmp_path / "b")
    assert status == 1 and "| e | quick | only in old |" in out
    assert f"unreadable, not compared: {damaged} (content does not match its sha256" in out


def test_runs_skipped_for_lack_of_data_agree_whatever_folder_they_name(tmp_path, capsys):
    _record(tmp_path, "a", skipped="CIFAR-10 not found in /home/a", numbers={}, tables=[])
    _record(tmp_path, "b", skipped="CIFAR-10 not found in /home/b", numbers={}, tables=[])
    status, out, _ = _compare_cli(capsys, tmp_path / "a", tmp_path / "b")
    assert status == 0 and "| e | quick | skipped in both |" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["{a}", "{missing}"], "no such results folder"),
        (["{a}", "{a}", "--only", "nope"], "no finished run of nope in either folder (found: e)"),
        (["{empty}", "{empty}"], "no finished run in"),
        (["{a}", "{a}", "--only", ","], "--only: give experiment names separated by commas"),
    ],
)
def test_bad_input_is_refused_by_name(tmp_path, capsys, args, message):
    _record(tmp_path, "a")
    (tmp_path / "empty").mkdir()
    paths = {"a": tmp_path / "a", "missing": tmp_path / "missing", "empty": tmp_path / "empty"}
    status, _, err = _compare_cli(capsys, *[arg.format(**paths) for arg in args])
    assert status == 2 and message in err


@pytest.mark.parametrize("option, value", [("--rtol", "-1"), ("--atol", "inf"), ("--rtol", "x"), ("--limit", "-2")])
def test_bad_tolerances_are_refused(tmp_path, capsys, option, value):
    with pytest.raises(SystemExit) as exit_:
        main(["compare", str(tmp_path), str(tmp_path), option, value])
    assert exit_.value.code == 2 and repr(value) in capsys.readouterr().err
    with pytest.raises(ValueError, match="rtol must be a finite number"):
        compare_results(tmp_path, tmp_path, rtol=float("nan"))


def test_timing_names():
    assert all(map(is_timing, ["seconds", "train_seconds", "wall_time_s", "train s", "evaluate + audit s"]))
    assert not any(map(is_timing, ["peak_time", "times", "mean CR peak time (ms)", "τ2 at min FC", "steps"]))


def test_tolerance_is_relative_to_the_old_value(tmp_path):
    old = _record(tmp_path, "a", numbers={"big": 1000.0, "small": 1e-3})
    new = _record(tmp_path, "b", numbers={"big": 1000.0001, "small": 1.0001e-3})
    # Relative gaps 1e-7 (big) and 1e-4 (small); absolute gaps 1e-4 and 1e-7.
    assert compare_records(old, new, rtol=1e-3).values == []
    (moved,) = compare_records(old, new, rtol=1e-6).values
    assert moved.path == "numbers.small" and compare_records(old, new, atol=1e-6).values[0].path == "numbers.big"


def test_a_list_of_another_length_is_structure_not_a_moved_number(tmp_path):
    old = _record(tmp_path, "a", notes=["a", "b"])
    new = _record(tmp_path, "b", notes=["a"])
    result = compare_records(old, new, atol=5.0)
    assert [d.path for d in result.values] == ["notes#length", "notes[1]"] and result.max_abs == 0.0


def test_an_experiment_or_run_folder_is_refused_with_the_results_folder_above_it(tmp_path):
    _record(tmp_path, "a")
    with pytest.raises(
        ValueError, match=f"one experiment's folder: give the results folder that holds it, {tmp_path / 'a'}$"
    ):
        compare_results(tmp_path / "a" / "e", tmp_path / "a")
    with pytest.raises(ValueError, match=f"one run's folder: give the results folder that holds it, {tmp_path / 'a'}$"):
        compare_results(tmp_path / "a", tmp_path / "a" / "e" / "h1")


def test_a_duration_in_the_config_is_compared(tmp_path):
    old = _record(tmp_path, "a", config={"n_test": 200, "t_max_s": 10.0})
    new = _record(tmp_path, "b", config={"n_test": 200, "t_max_s": 20.0})
    assert [d.path for d in compare_records(old, new).config] == ["config.t_max_s"]
