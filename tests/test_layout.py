"""The package's shape, checked on its source: experiments import the library only, no private
module of a sibling package is imported, nothing switches matplotlib's backend or uses pyplot's
global state, and no function grows past about 80 lines."""

import ast
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "adprf"
SOURCES = sorted(PACKAGE.rglob("*.py"))
EXPERIMENT_SUPPORT = {"_experiment", "_registry"}  # the framework, not experiments (nor are shared configs)
LONGEST = 80


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _imports(path: Path) -> list[str]:
    """The absolute module names a file imports (`from . import x` counts as `package.x`)."""
    tree = ast.parse(path.read_text())
    package = _module(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module(path)[: -len(".__init__")]
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.append(module)
            names += [f"{module}.{alias.name}" for alias in node.names]
    return names


def test_experiments_import_the_library_only():
    experiments = {p.stem for p in (PACKAGE / "experiments").glob("_*.py") if "register(" in p.read_text()}
    experiments -= EXPERIMENT_SUPPORT
    assert len(experiments) >= 16
    for stem in experiments:
        path = PACKAGE / "experiments" / f"{stem}.py"
        others = {
            name
            for name in _imports(path)
            if name.startswith("adprf.experiments.") and name.split(".")[2] in experiments
        }
        assert not others, f"{path.name} imports another experiment: {sorted(others)}"


def test_notebooks_and_benchmarks_import_the_library_only():
    for path in [*ROOT.glob("notebooks/*.ipynb"), *ROOT.glob("benchmarks/*.py")]:
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"] if c["cell_type"] == "code")
        assert "adprf.experiments._" not in text, f"{path.name} imports an experiment's internals"


def test_no_private_module_of_a_sibling_package_is_imported():
    for path in SOURCES:
        own = _module(path).split(".")
        for name in _imports(path):
            parts = name.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")]
            if not private or parts[0] != "adprf":
                continue
            owner = parts[: private[0]]  # the package holding the private module
            assert own[: len(owner)] == owner, f"{_module(path)} imports {name}, private to {'.'.join(owner)}"


def test_no_backend_switch_or_pyplot_in_the_package():
    for path in SOURCES:
        text = path.read_text()
        assert "matplotlib.use(" not in text, f"{path} switches matplotlib's backend on import"
        pyplot = [name for name in _imports(path) if name.startswith("matplotlib.pyplot")]
        assert not pyplot, f"{path} imports pyplot (global figure state): build a matplotlib.figure.Figure instead"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_functions_stay_short(path):
    tree = ast.parse(path.read_text())
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > LONGEST
    ]
    assert not long, f"split these into named steps: {long}"
