"""The persistent compilation cache: where it lives, how it is turned off, and that a second
process reads back what the first compiled (each check in a fresh process: JAX opens its cache
once per process)."""

import json
import subprocess
import sys
import textwrap

import pytest

from adprf import compilation_cache_dir

PROGRAM = textwrap.dedent(
    """
    import json, sys
    import jax, jax.numpy as jnp
    import jax.monitoring as monitoring
    import adprf

    events = []
    monitoring.register_event_listener(lambda name, **kw: events.append(name))
    folder = adprf.enable_compilation_cache(*sys.argv[1:])
    f = jax.jit(lambda x: jnp.sin(x) @ jnp.cos(x).T + 1.0)
    value = float(f(jnp.arange(12.0).reshape(3, 4)).sum())
    print(json.dumps({"folder": None if folder is None else str(folder), "value": value,
                      "hits": events.count("/jax/compilation_cache/cache_hits"),
                      "configured": jax.config.jax_compilation_cache_dir}))
    """
)


def _run(env, *args):
    out = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args], env=env, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("ADPRF_COMPILATION_CACHE", "JAX_COMPILATION_CACHE_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "xdg")
    return env


def test_where_the_cache_lives(monkeypatch, tmp_path):
    monkeypatch.delenv("ADPRF_COMPILATION_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert compilation_cache_dir() == tmp_path / "adprf" / "jax-compilation"
    monkeypatch.setenv("ADPRF_COMPILATION_CACHE", str(tmp_path / "elsewhere"))
    assert compilation_cache_dir() == tmp_path / "elsewhere"
    for off in ("off", "0", "False", " no "):
        monkeypatch.setenv("ADPRF_COMPILATION_CACHE", off)
        assert compilation_cache_dir() is None


def test_a_second_process_reads_back_what_the_first_compiled(clean_env, tmp_path):
    cold = _run(clean_env)
    folder = tmp_path / "xdg" / "adprf" / "jax-compilation"
    assert cold["folder"] == str(folder) == cold["configured"] and cold["hits"] == 0
    assert any(p.name.endswith("-cache") for p in folder.iterdir())
    warm = _run(clean_env)
    assert warm["hits"] >= 1 and warm["value"] == cold["value"]


def test_turned_off_it_writes_nothing(clean_env, tmp_path):
    clean_env["ADPRF_COMPILATION_CACHE"] = "off"
    result = _run(clean_env)
    assert result["folder"] is None and not result["configured"]
    assert not (tmp_path / "xdg" / "adprf").exists()
    # an explicit folder wins over the environment
    explicit = _run(clean_env, str(tmp_path / "explicit"))
    assert explicit["folder"] == str(tmp_path / "explicit") and any((tmp_path / "explicit").iterdir())


def test_an_unwritable_folder_is_named(clean_env, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    clean_env["ADPRF_COMPILATION_CACHE"] = str(blocker / "cache")
    out = subprocess.run([sys.executable, "-c", PROGRAM], env=clean_env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert str(blocker / "cache") in out.stderr and "ADPRF_COMPILATION_CACHE" in out.stderr


def test_the_command_line_can_turn_it_off():
    from adprf._cli import _parser

    assert _parser().parse_args(["run", "mtl-to-ml", "--no-compilation-cache"]).no_compilation_cache
    assert not _parser().parse_args(["reproduce"]).no_compilation_cache


def test_an_empty_folder_is_refused():
    from adprf import enable_compilation_cache

    with pytest.raises(ValueError, match="the folder is empty"):
        enable_compilation_cache("  ")
