"""A mkdocs hook: writes the page `experiments.md` at build time from
`adprf.experiments.REGISTRY`, so the list of experiments is never out of date."""

import importlib.util
import inspect
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files


def _markdown_lists():
    spec = importlib.util.spec_from_file_location("markdown_lists", Path(__file__).with_name("markdown_lists.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_INTRO = """\
# Experiments

Every experiment below is registered in `adprf.experiments.REGISTRY` (this page is generated
from it when the documentation is built). Run one with `adprf run NAME [--preset quick|paper]`,
all of them with `adprf reproduce`; `adprf list` prints the same list. The `quick` preset runs on
the embedded 5,000-image MNIST subset in minutes on a laptop CPU; the `paper` preset uses the
papers' sizes (full MNIST or CIFAR-10, see `adprf data fetch`). The papers and the "v1" protocols
are described in [Papers and protocols](papers.md).

| experiment | what it reproduces | presets |
|---|---|---|
"""


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _protocol(experiment) -> str:
    """The experiment module's docstring without its first line (which repeats the title)."""
    function = getattr(experiment, "compute", None) or getattr(experiment, "run", None)
    module = sys.modules.get(getattr(function, "__module__", ""))
    doc = inspect.getdoc(module) or ""
    _, _, rest = doc.partition("\n\n")
    return _markdown_lists().to_markdown(rest.strip())


def experiments_markdown() -> str:
    """The page's Markdown: one row per registered experiment, then a section for each with
    its title, what it reproduces, its presets and its protocol (the module's docstring)."""
    from adprf.experiments import REGISTRY

    rows, sections = [], []
    for name in sorted(REGISTRY):
        experiment = REGISTRY[name]
        presets = ", ".join(f"`{p}`" for p in experiment.presets)
        rows.append(f"| [`{name}`](#{name}) | {_cell(experiment.paper) or '—'} | {presets} |")
        tags = ", ".join(getattr(experiment, "tags", ()) or ())
        sections.append(
            f"## `{name}` {{#{name}}}\n\n{_cell(experiment.title)}\n\n"
            f"- **Reproduces:** {_cell(experiment.paper) or '—'}\n"
            f"- **Presets:** {presets}" + (f"\n- **Tags:** {tags}" if tags else "") + "\n\n"
            f"```bash\nadprf run {name} --preset quick\n```\n"
            + (f"\n{protocol}\n" if (protocol := _protocol(experiment)) else "")
        )
    return _INTRO + "\n".join(rows) + "\n\n" + "\n".join(sections)


def on_files(files: Files, config) -> Files:
    files.append(File.generated(config, "experiments.md", content=experiments_markdown()))
    return files
