"""The header every benchmark prints (`benchmarks/_timing.machine`) names the conditions of its
figures: the XLA flags they were measured under, or XLA's defaults."""

import importlib.util
from pathlib import Path

import jax

SPEC = importlib.util.spec_from_file_location("_timing", Path(__file__).parents[1] / "benchmarks" / "_timing.py")
assert SPEC is not None and SPEC.loader is not None
_timing = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(_timing)


def test_the_header_names_the_xla_flags_or_the_defaults(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", " --xla_cpu_use_fusion_emitters=false ")
    line = _timing.machine(numpy="2.0", adprf="0.1")
    assert line.startswith("machine: os.cpu_count()=")
    assert "load average " in line and f"jax {jax.__version__}" in line
    assert line.endswith("numpy 2.0, adprf 0.1, XLA_FLAGS='--xla_cpu_use_fusion_emitters=false'")
    for unset in ("", "  "):
        monkeypatch.setenv("XLA_FLAGS", unset)
        assert _timing.machine().endswith(f"jax {jax.__version__}, XLA's default flags")
    monkeypatch.delenv("XLA_FLAGS")
    assert _timing.machine().endswith("XLA's default flags")


def test_the_header_does_without_a_load_average(monkeypatch):
    monkeypatch.delattr(_timing.os, "getloadavg")  # Windows has none
    assert ", load average n/a, " in _timing.machine()
