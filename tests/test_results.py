"""Results store, report and CLI: atomic writes, config-hash keys, resume, exit codes."""

import json
import subprocess
import sys
from dataclasses import dataclass

import equinox as eqx
import jax
import numpy as np
import pytest

from adprf._cli import main
from adprf._report import markdown_table, write_report
from adprf._results import Run, atomic_write, config_hash
from adprf.experiments import REGISTRY, AbstractConfig, Experiment, Rendered, Table, register, run_experiment


def test_config_hash_is_stable_and_order_free():
    assert config_hash("a", {"x": 1, "y": [1, 2]}) == config_hash("a", {"y": [1, 2], "x": 1})
    assert config_hash("a", {"x": 1}) != config_hash("a", {"x": 2})
    assert config_hash("a", {"x": 1}) != config_hash("b", {"x": 1})


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "r.json"
    atomic_write(target, lambda f: f.write("old"))

    def boom(f):
        f.write("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, boom)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_stages_and_models_are_cached(tmp_path):
    run = Run("demo", "quick", {"a": 1}, tmp_path)
    calls = []
    assert run.stage("s", lambda: calls.append(1) or {"v": np.arange(3)}) == {"v": [0, 1, 2]}
    assert run.stage("s", lambda: calls.append(1) or {"v": 0}) == {"v": [0, 1, 2]}
    template = eqx.nn.Linear(2, 2, key=jax.random.PRNGKey(0))
    trained = eqx.nn.Linear(2, 2, key=jax.random.PRNGKey(5))
    assert run.model("lin", template, lambda: trained) is trained
    loaded = run.model("lin", template, lambda: pytest.fail("should be cached"))
    np.testing.assert_array_equal(loaded.weight, trained.weight)
    assert calls == [1]


@pytest.fixture
def toy_experiment():
    """A registered experiment that counts its runs and can be interrupted once."""
    state = {"runs": 0, "stage_calls": 0, "interrupt": False}

    @dataclass(frozen=True, kw_only=True)
    class Config(AbstractConfig):
        n: int

    def compute(r: Run, cfg: Config) -> dict:
        state["runs"] += 1
        value = r.stage("first", lambda: state.__setitem__("stage_calls", state["stage_calls"] + 1) or {"x": 2})
        if state["interrupt"]:
            state["interrupt"] = False
            raise KeyboardInterrupt
        return value

    def render(cfg: Config, facts: dict) -> Rendered:
        return Rendered("toy", tables=[Table("t", ["a", "b"], [[1, 0.5]])])

    presets = {"quick": Config(n=1), "paper": Config(n=2)}
    register(Experiment("toy-test", "Toy", "", presets, compute, render))
    yield state
    REGISTRY.pop("toy-test")


def test_interrupted_run_resumes_and_finished_run_is_loaded(tmp_path, toy_experiment):
    toy_experiment["interrupt"] = True
    with pytest.raises(KeyboardInterrupt):
        run_experiment("toy-test", "quick", root=tmp_path)
    assert not list(tmp_path.glob("toy-test/*/result.json"))
    record = run_experiment("toy-test", "quick", root=tmp_path)  # resumes: the stage is cached
    assert toy_experiment["stage_calls"] == 1 and record["numbers"] == {"x": 2}
    run_experiment("toy-test", "quick", root=tmp_path)  # finished: loaded, not re-run
    assert toy_experiment["runs"] == 2
    report = write_report(tmp_path, order=["toy-test"]).read_text()
    assert "| a | b |" in report and "| 1 | 0.5 |" in report


def test_a_run_without_its_record_is_rendered_again_from_its_facts(tmp_path, toy_experiment):
    first = run_experiment("toy-test", "quick", root=tmp_path)
    folder = tmp_path / "toy-test" / first["hash"]
    assert json.loads((folder / "facts.json").read_text())["value"] == {"x": 2}
    (folder / "result.json").unlink()  # e.g. removed after a change of the render step
    again = run_experiment("toy-test", "quick", root=tmp_path)
    assert toy_experiment["runs"] == 1 and not again["_loaded"]  # rendered, not recomputed
    assert again["tables"] == first["tables"] and again["numbers"] == {"x": 2}


def test_config_replace_names_unknown_fields_and_updates_nested_configs():
    @dataclass(frozen=True, kw_only=True)
    class Inner(AbstractConfig):
        steps: int
        dataset: str = "mnist"

    @dataclass(frozen=True, kw_only=True)
    class Outer(AbstractConfig):
        inner: Inner
        seeds: tuple[int, ...] = (0,)

    cfg = Outer(inner=Inner(steps=40))
    assert cfg.replace(inner={"steps": 5}).inner == Inner(steps=5)
    assert cfg.as_dict() == {"inner": {"steps": 40, "dataset": "mnist"}, "seeds": [0]}
    swapped = cfg.substitute("mnist", "mnist-subset").replace(data_substituted={"mnist": "mnist-subset"})
    assert swapped.inner.dataset == "mnist-subset" and swapped.as_dict()["data_substituted"] == {
        "mnist": "mnist-subset"
    }
    with pytest.raises(TypeError, match=r"no field\(s\) \['step'\]"):
        cfg.replace(step=3)
    with pytest.raises(TypeError, match="not a config|presets"):  # ours, or the runtime type check
        Experiment("bad", "Bad", "", {"quick": {"steps": 1}}, lambda r, c: {}, lambda c, f: Rendered(""))


def test_markdown_table():
    assert markdown_table(["x"], [[1.23456]]) == "| x |\n|---|\n| 1.235 |"


def test_cli_errors_exit_2(capsys):
    for argv in (
        ["run", "no-such-experiment"],
        ["run", "mnist-baseline", "--preset", "huge"],
        ["frobnicate"],
        ["data", "fetch", "cifar-100"],
    ):
        with pytest.raises(SystemExit) as err:
            main(argv)
        assert err.value.code == 2
    assert "unknown data set" in capsys.readouterr().err


def test_cli_list_and_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "adprf", "list"], capture_output=True, text=True, check=True).stdout
    assert "mnist-baseline" in out


def test_cli_data_fetch_offline_fails_clearly(tmp_path, monkeypatch, capsys):
    from adprf.data import DATASETS

    release = DATASETS["mnist"]
    monkeypatch.setitem(DATASETS, "mnist", type(release)(**{**release.__dict__, "base_urls": ("http://127.0.0.1:9/",)}))
    assert main(["data", "fetch", "mnist", "--root", str(tmp_path)]) == 1
    assert "could not download" in capsys.readouterr().err.lower()


def test_cli_run_writes_result_and_report(tmp_path, toy_experiment):
    assert main(["run", "toy-test", "--out", str(tmp_path)]) == 0
    (result,) = tmp_path.glob("toy-test/*/result.json")
    assert json.loads(result.read_text())["preset"] == "quick"
    assert "Toy" in (tmp_path / "report.md").read_text()
