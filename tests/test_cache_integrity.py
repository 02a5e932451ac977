"""The results store under damage and change: truncated or altered files, stale stages, data that
appear later, --force, interrupted writes, permissions. Every number must come from the data and
models it names, or be recomputed."""

import json
import os
import socket
import stat
import subprocess
import sys
import warnings
from dataclasses import dataclass

import equinox as eqx
import jax
import numpy as np
import pytest

from adprf._cli import main
from adprf._report import write_report
from adprf._results import CacheWarning, Run, check_json, clean_temporaries, write_model
from adprf.data import write_idx
from adprf.experiments import REGISTRY, AbstractConfig, Experiment, Rendered, register, run_experiment


def _linear(seed):
    return eqx.nn.Linear(3, 2, key=jax.random.PRNGKey(seed))


@pytest.fixture
def toy():
    """A registered experiment on MNIST: trains a (toy) model of its own and a shared one, and
    reports a stage computed from them and the size of the data it loaded."""
    state = {"runs": 0, "trained": 0, "shared_trained": 0, "stage_calls": 0, "seed": 0}

    @dataclass(frozen=True, kw_only=True)
    class Config(AbstractConfig):
        dataset: str

    def compute(r: Run, cfg: Config) -> dict:
        from adprf.data import load_dataset

        state["runs"] += 1
        test = load_dataset(cfg.dataset, "test")

        def train():
            state["trained"] += 1
            return _linear(state["seed"])

        def train_shared():
            state["shared_trained"] += 1
            return _linear(100)

        model = r.model("lin", _linear(0), train)
        shared = r.shared_model({"dataset": r.config["dataset"], "arch": "lin"}, _linear(0), train_shared)

        def evaluate():
            state["stage_calls"] += 1
            return {"weight_sum": float(np.sum(model.weight)), "shared_sum": float(np.sum(shared.weight))}

        value = r.stage("evaluate", evaluate)
        return {**value, "n_test": len(test), "source": test.source}

    def render(cfg: Config, facts: dict) -> Rendered:
        return Rendered(f"toy on {facts['source']}")

    presets = {"quick": Config(dataset="mnist-subset"), "paper": Config(dataset="mnist")}
    register(Experiment("toy-cache", "Toy cache", "", presets, compute, render))
    yield state
    REGISTRY.pop("toy-cache")


def _folder(root, record):
    return root / "toy-cache" / record["hash"]


def _unfinish(folder):
    """Remove a finished run's record and its cached facts, as if it had been interrupted
    after its stages and models were saved (the stages and models are then read back)."""
    (folder / "result.json").unlink()
    (folder / "facts.json").unlink()


def _caught(action):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = action()
    return result, [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


# --- damaged files ----------------------------------------------------------------------


def test_truncated_result_is_moved_aside_and_recomputed(tmp_path, toy):
    first = run_experiment("toy-cache", "quick", root=tmp_path)
    result = _folder(tmp_path, first) / "result.json"
    result.write_text(result.read_text()[:40])
    again, messages = _caught(lambda: run_experiment("toy-cache", "quick", root=tmp_path))
    assert not again["_loaded"] and again["numbers"] == first["numbers"]
    assert len(messages) == 1 and str(result) in messages[0] and "unreadable" in messages[0]
    assert list(result.parent.glob("result.json.corrupt-*"))
    assert toy["stage_calls"] == 1  # its stages were intact: reused
    assert run_experiment("toy-cache", "quick", root=tmp_path)["_loaded"]


def test_report_survives_a_damaged_result(tmp_path, toy):
    run_experiment("toy-cache", "quick", root=tmp_path)
    other = run_experiment("toy-cache", "paper", root=tmp_path, allow_subset=True)
    bad = _folder(tmp_path, other) / "result.json"
    bad.write_bytes(b"\x00" * 10)
    report, messages = _caught(lambda: write_report(tmp_path).read_text())
    assert "preset `quick`" in report and "preset `paper`" not in report
    assert any(str(bad) in m and "left out of the report" in m for m in messages)


def test_stage_altered_in_place_is_detected(tmp_path, toy):
    first = run_experiment("toy-cache", "quick", root=tmp_path)
    stage = _folder(tmp_path, first) / "evaluate.json"
    record = json.loads(stage.read_text())
    record["value"]["weight_sum"] = 123.0  # valid JSON, plausible number: only its digest can tell
    stage.write_text(json.dumps(record))
    _unfinish(_folder(tmp_path, first))
    again, messages = _caught(lambda: run_experiment("toy-cache", "quick", root=tmp_path))
    assert again["numbers"]["weight_sum"] == first["numbers"]["weight_sum"] != 123.0
    assert toy["stage_calls"] == 2 and any("does not match its sha256" in m for m in messages)


def test_model_overwritten_in_place_same_size_is_retrained(tmp_path, toy):
    first = run_experiment("toy-cache", "quick", root=tmp_path)
    model = _folder(tmp_path, first) / "lin.eqx"
    data = bytearray(model.read_bytes())
    data[-5] ^= 0xFF  # same size, one weight changed
    model.write_bytes(bytes(data))
    _unfinish(_folder(tmp_path, first))
    again, messages = _caught(lambda: run_experiment("toy-cache", "quick", root=tmp_path))
    assert toy["trained"] == 2 and any(str(model) in m and "sha256" in m for m in messages)
    # retrained to the same bytes, so the stage computed from it still holds and is reused
    assert toy["stage_calls"] == 1 and again["numbers"] == first["numbers"]


def test_stage_from_a_model_that_changed_is_recomputed(tmp_path, toy):
    first = run_experiment("toy-cache", "quick", root=tmp_path)
    folder = _folder(tmp_path, first)
    (folder / "lin.eqx").write_bytes(b"garbage")
    _unfinish(folder)
    toy["seed"] = 7  # the retrained model differs (as on a GPU)
    again, messages = _caught(lambda: run_experiment("toy-cache", "quick", root=tmp_path))
    assert toy["trained"] == 2 and toy["stage_calls"] == 2
    assert again["numbers"]["weight_sum"] == pytest.approx(float(np.sum(_linear(7).weight)))
    assert any("changed since" in m and "lin.eqx" in m for m in messages)


def test_model_without_its_digest_is_not_trusted(tmp_path, toy):
    first = run_experiment("toy-cache", "quick", root=tmp_path)
    folder = _folder(tmp_path, first)
    (folder / "lin.eqx.sha256").unlink()
    _unfinish(folder)
    _, messages = _caught(lambda: run_experiment("toy-cache", "quick", root=tmp_path))
    assert toy["trained"] == 2 and any("no sha256 recorded" in m for m in messages)


def test_check_json_names_each_problem(tmp_path):
    path = tmp_path / "x.json"
    assert check_json(path) == (None, "missing")
    path.write_text('{"a": 1}')
    assert "no sha256" in check_json(path)[1]
    path.write_text("[1, 2]")
    assert check_json(path)[1] == "not a JSON object"


# --- data provenance ----------------------------------------------------------------------


def _write_small_mnist(folder, n_train=30, n_test=12):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", (np.arange(n) % 10).astype(np.uint8))


def test_paper_preset_without_its_data_is_skipped_then_computed_on_the_real_data(tmp_path, monkeypatch, toy):
    data, results = tmp_path / "data", tmp_path / "results"
    monkeypatch.setenv("ADPRF_DATA", str(data))
    skipped = run_experiment("toy-cache", "paper", root=results)
    assert "adprf data fetch mnist" in skipped["skipped"] and "--allow-subset" in skipped["skipped"]
    assert toy["runs"] == 0 and "numbers" not in skipped
    # Asked for explicitly: the subset, keyed and labelled as such
    fallback = run_experiment("toy-cache", "paper", root=results, allow_subset=True)
    assert fallback["numbers"]["n_test"] == 1000 and fallback["config"]["data_substituted"] == {"mnist": "mnist-subset"}
    assert set(fallback["data"]) == {"mnist-subset"}
    report = write_report(results).read_text()
    assert "Data substituted on request (--allow-subset): mnist-subset in place of mnist" in report
    # The real data arrive: the paper preset is computed on them, not served from the subset run
    _write_small_mnist(data / "mnist")
    real = run_experiment("toy-cache", "paper", root=results)
    assert not real["_loaded"] and real["numbers"]["n_test"] == 12 and real["hash"] != fallback["hash"]
    assert set(real["data"]) == {"mnist"} and real["data"]["mnist"]["sizes"] == {"train": 30, "test": 12}
    assert toy["shared_trained"] == 2  # the shared model is keyed by its data too
    # One byte of the data changes: a new run, never the old numbers
    labels = data / "mnist" / "t10k-labels-idx1-ubyte"
    raw = bytearray(labels.read_bytes())
    raw[-1] = (raw[-1] + 1) % 10
    labels.write_bytes(bytes(raw))
    changed = run_experiment("toy-cache", "paper", root=results)
    assert not changed["_loaded"] and changed["hash"] != real["hash"]


def test_cli_run_skipped_for_lack_of_data_exits_1(tmp_path, monkeypatch, toy, capsys):
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path / "data"))
    assert main(["run", "toy-cache", "--preset", "paper", "--out", str(tmp_path / "r")]) == 1
    err = capsys.readouterr().err
    assert "toy-cache was skipped" in err and "adprf data fetch mnist" in err
    assert main(["run", "toy-cache", "--preset", "paper", "--allow-subset", "--out", str(tmp_path / "r")]) == 0


# --- --force ------------------------------------------------------------------------------


def test_force_recomputes_own_stages_and_models_but_not_shared_ones(tmp_path, toy):
    run_experiment("toy-cache", "quick", root=tmp_path)
    forced = run_experiment("toy-cache", "quick", root=tmp_path, force=True)
    assert not forced["_loaded"] and toy["trained"] == 2 and toy["stage_calls"] == 2
    assert toy["shared_trained"] == 1
    run_experiment("toy-cache", "quick", root=tmp_path, force=True, force_shared=True)
    assert toy["shared_trained"] == 2 and toy["trained"] == 3


def test_cli_force_flags(tmp_path, toy, capsys):
    out = str(tmp_path)
    assert main(["run", "toy-cache", "--out", out]) == 0
    assert main(["run", "toy-cache", "--out", out, "--force"]) == 0
    assert (toy["trained"], toy["shared_trained"]) == (2, 1)
    assert main(["run", "toy-cache", "--out", out, "--force", "--force-shared"]) == 0
    assert (toy["trained"], toy["shared_trained"]) == (3, 2)
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    assert "--force-shared" in capsys.readouterr().out


# --- writes ---------------------------------------------------------------------------------


def test_unwritable_out_is_refused_before_any_computation(tmp_path, toy, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as err:
        main(["run", "toy-cache", "--out", str(blocker / "results")])
    assert "cannot write results to" in str(err.value) and "--out" in str(err.value)
    assert toy["runs"] == 0


def test_files_honour_the_umask(tmp_path, toy):
    old = os.umask(0o022)
    try:
        record = run_experiment("toy-cache", "quick", root=tmp_path / "a")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in _folder(tmp_path / "a", record).iterdir()}
        assert set(modes.values()) == {0o644}, modes
        os.umask(0o077)
        record = run_experiment("toy-cache", "quick", root=tmp_path / "b")
        assert {stat.S_IMODE(p.stat().st_mode) for p in _folder(tmp_path / "b", record).iterdir()} == {0o600}
    finally:
        os.umask(old)


def test_temporaries_of_killed_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = socket.gethostname()
    folder = tmp_path / "exp" / "hash"
    folder.mkdir(parents=True)
    left = folder / f".model.eqx.{host}.{dead_pid}.abc123.tmp"
    alive = folder / f".model.eqx.{host}.{os.getpid()}.def456.tmp"
    elsewhere = folder / f".model.eqx.other-host.{dead_pid}.ghi789.tmp"
    for path in (left, alive, elsewhere):
        path.write_bytes(b"half a model")
    assert clean_temporaries(folder) == [left]
    assert alive.exists() and elsewhere.exists()
    old = os.path.getmtime(elsewhere) - 2 * 24 * 3600
    os.utime(elsewhere, (old, old))
    assert clean_temporaries(folder) == [elsewhere]


def test_sigkill_during_a_model_write_leaves_nothing_behind(tmp_path):
    """A writer killed mid-write leaves its temporary file; the next run in that folder removes it
    and the target was never in place half-written."""
    folder = tmp_path / "run"
    script = (
        f"import time, equinox as eqx, jax\n"
        f"from pathlib import Path\n"
        f"import adprf._results as results\n"
        f"def slow(f):\n"
        f"    f.write(b'partial'); f.flush(); print('writing', flush=True); time.sleep(60)\n"
        f"results.atomic_write(Path({str(folder / 'model.eqx')!r}), slow, mode='wb')\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.kill()
    proc.wait()
    assert not (folder / "model.eqx").exists() and len(list(folder.glob(".*.tmp"))) == 1
    Run("exp", "quick", {}, tmp_path)  # a run opening another folder leaves it alone ...
    assert len(list(folder.glob(".*.tmp"))) == 1
    assert len(clean_temporaries(folder)) == 1 and not list(folder.iterdir())


def test_write_model_round_trip(tmp_path):
    model = _linear(3)
    value = write_model(tmp_path / "m.eqx", model)
    line = (tmp_path / "m.eqx.sha256").read_text()
    assert line.split() == [value, "m.eqx"]  # `sha256sum -c` format
    loaded = eqx.tree_deserialise_leaves(tmp_path / "m.eqx", _linear(0))  # still a plain equinox file
    np.testing.assert_array_equal(loaded.weight, model.weight)


def test_cli_reports_a_failing_experiment_without_a_raw_traceback(tmp_path, capsys):
    from adprf.attacks._engine import NonFiniteError

    @dataclass(frozen=True, kw_only=True)
    class Config(AbstractConfig):
        pass

    def compute(r: Run, cfg: Config) -> dict:
        raise NonFiniteError("3 of 3 (ε, example) pairs met a NaN")

    def render(cfg: Config, facts: dict) -> Rendered:
        return Rendered("never")

    register(Experiment("toy-failing", "Failing", "", {"quick": Config(), "paper": Config()}, compute, render))
    try:
        assert main(["run", "toy-failing", "--out", str(tmp_path)]) == 1
        err = capsys.readouterr().err
        assert "adprf: error: toy-failing failed" in err and "NonFiniteError: 3 of 3" in err
        assert "Traceback" not in err and "--traceback" in err
        assert main(["run", "toy-failing", "--out", str(tmp_path), "--traceback"]) == 1
        assert "Traceback (most recent call last)" in capsys.readouterr().err
        assert not list(tmp_path.glob("toy-failing/*/result.json"))
    finally:
        REGISTRY.pop("toy-failing")


def test_optional_presets_are_run_where_they_exist_and_named_in_the_report(tmp_path, capsys):
    @dataclass(frozen=True, kw_only=True)
    class Config(AbstractConfig):
        size: int

    def compute(r: Run, cfg: Config) -> dict:
        return {"size": cfg.size}

    def render(cfg: Config, facts: dict) -> Rendered:
        return Rendered(f"size {facts['size']}")

    with pytest.raises(ValueError, match=r"unknown presets \['bigger'\].*OPTIONAL_PRESETS"):
        register(
            Experiment(
                "toy-odd",
                "",
                "",
                {"quick": Config(size=1), "paper": Config(size=2), "bigger": Config(size=3)},
                compute,
                render,
            )
        )
    assert "toy-odd" not in REGISTRY
    presets = {"quick": Config(size=1), "paper": Config(size=2), "paper-subset": Config(size=3)}
    register(Experiment("toy-optional", "Optional", "", presets, compute, render))
    try:
        out = str(tmp_path / "r")
        assert main(["run", "toy-optional", "--preset", "paper-subset", "--out", out]) == 0
        report = (tmp_path / "r" / "report.md").read_text()
        assert "size 3" in report and "Preset `paper-subset`: the paper's model sizes" in report
        with pytest.raises(SystemExit):  # an experiment without the preset: the parser says which have it
            main(["run", "mnist-baseline", "--preset", "paper-subset", "--out", out])
        err = capsys.readouterr().err
        assert "mnist-baseline has no preset 'paper-subset'" in err and "toy-optional" in err
    finally:
        REGISTRY.pop("toy-optional")
