"""Execute every notebook in notebooks/ at smoke-test size (ADPRF_NOTEBOOK_SMALL=1)."""

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is needed to run the notebooks (pip install adprf[test])")
nbclient = pytest.importorskip("nbclient", reason="nbclient is needed to run the notebooks (pip install adprf[test])")

NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
KERNEL = "python3"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def _kernel_missing_reason() -> str | None:
    """Why the "python3" kernel cannot be started, or None if it can."""
    try:
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
    except ImportError:
        return "jupyter_client is not installed"
    try:
        # Finds installed kernelspecs, and ipykernel's built-in "python3" when it is importable.
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        return f"no {KERNEL!r} Jupyter kernel: pip install ipykernel (or python -m ipykernel install --user)"
    return None


# Opt-in (pytest -m slow): the heaviest notebooks, whose content the default suite already covers
# through their experiments' tests, keeping the default suite under 15 minutes on 2 cores; the
# quickstart runs by default.
SLOW = {"defence_and_landscapes.ipynb", "cerebellum.ipynb", "cellular_antagonism.ipynb"}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in NOTEBOOKS],
    ids=[p.name for p in NOTEBOOKS],
)
def test_notebook_runs(path: Path, monkeypatch):
    reason = _kernel_missing_reason()
    if reason is not None:
        pytest.skip(reason)
    # The kernel is a subprocess that inherits this environment.
    monkeypatch.setenv("ADPRF_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name=KERNEL, resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
    )
    failure = None
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as error:
        failure = ANSI_ESCAPE.sub("", str(error))  # the failing cell's source and traceback
    if failure is not None:
        pytest.fail(f"{path.name}: a cell raised\n{failure}", pytrace=False)
