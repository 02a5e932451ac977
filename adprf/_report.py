"""report.md: every experiment's tables and figures, with our numbers beside the paper's."""

import warnings
from pathlib import Path

from ._results import CacheWarning, atomic_write, check_json


def markdown_table(columns: list[str], rows: list[list]) -> str:
    """A GitHub-flavoured markdown table; floats printed with 4 significant digits."""

    def cell(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _latest_results(root: Path) -> dict[tuple[str, str], dict]:
    latest: dict[tuple[str, str], tuple[float, dict]] = {}
    for path in root.glob("*/*/result.json"):
        record, problem = check_json(path)
        if record is None or "experiment" not in record or "preset" not in record:
            warnings.warn(
                f"adprf: {path} is left out of the report ({problem or 'not a result record'}); "
                f"`adprf run` recomputes it",
                CacheWarning,
                stacklevel=2,
            )
            continue
        record["_dir"] = path.parent.relative_to(root).as_posix()
        key = (record["experiment"], record["preset"])
        mtime = path.stat().st_mtime
        if key not in latest or mtime > latest[key][0]:
            latest[key] = (mtime, record)
    return {k: v for k, (_, v) in latest.items()}


def render_audits(audits: dict[str, dict]) -> list[str]:
    """The masking-audit verdicts printed under a robust-accuracy table (one line per model,
    the checks folded away): see `adprf.attacks._audit`."""
    if not audits:
        return []
    out = []
    for model, audit in audits.items():
        out += [f"- *{model}* — {audit['summary']}"]
    out += ["", "<details><summary>audit checks</summary>", ""]
    for model, audit in audits.items():
        rows = [[c["name"], c["verdict"], c["measured"], c["reason"]] for c in audit["checks"]]
        size = f", {audit['examples']} examples" if audit.get("examples") else ""
        out += [
            f"*{model}* (ε = {', '.join(f'{e:g}' for e in audit['epsilons'])}{size})",
            "",
            markdown_table(["check", "verdict", "measured", "reason"], rows),
            "",
        ]
    return out + ["</details>", ""]


def render_data(record: dict) -> str:
    """The data a run used, from its fingerprints: name, sizes and the start of the SHA-256."""
    parts = []
    for name, fp in sorted((record.get("data") or {}).items()):
        sizes = " / ".join(f"{n:,} {split}" for split, n in (fp.get("sizes") or {}).items())
        parts.append(f"{name} ({sizes}; sha256 {str(fp.get('sha256', ''))[:12]})")
    return ", ".join(parts)


def render(record: dict) -> str:
    """One experiment's section of the report."""
    out = [
        f"## {record.get('title', record['experiment'])} (`{record['experiment']}`, preset `{record['preset']}`)",
        "",
    ]
    from .experiments import OPTIONAL_PRESETS, PRESET_HELP

    if record["preset"] in OPTIONAL_PRESETS:
        out += [f"**Preset `{record['preset']}`: {PRESET_HELP[record['preset']]}.**", ""]
    substituted = (record.get("config") or {}).get("data_substituted")
    if substituted and not record.get("skipped"):
        swaps = ", ".join(f"{used} in place of {wanted}" for wanted, used in substituted.items())
        out += [
            f"**Data substituted on request (--allow-subset): {swaps}. These numbers do not follow the "
            f"preset's protocol and are not comparable with the paper's.**",
            "",
        ]
    if record.get("skipped"):  # could not run here (e.g. its data are absent): its reason only
        return "\n".join(out + [f"_Skipped: {record['skipped']}_", ""])
    if record.get("summary"):
        out += [record["summary"], ""]
    for table in record.get("tables", []):
        out += [f"**{table['title']}**", "", markdown_table(table["columns"], table["rows"]), ""]
        out += render_audits(table.get("audits", {}))
    for fig in record.get("figures", []):
        out += [f"![{fig}]({record['_dir']}/{fig})", ""]
    for note in record.get("notes", []):
        out += [f"- {note}"]
    data = render_data(record)
    out += [
        "",
        f"_run {record['hash']}, adprf {record.get('adprf', '?')}, finished {record['finished']}, wall time "
        f"{record['wall_time_s']} s" + (f"; data: {data}" if data else "") + "_",
        "",
    ]
    return "\n".join(out)


def write_report(root: str | Path = "results", order: list[str] | None = None) -> Path:
    """Gather the latest result of every (experiment, preset) under `root` into `root/report.md`."""
    root = Path(root)
    results = _latest_results(root)
    rank = {name: i for i, name in enumerate(order or [])}
    keys = sorted(results, key=lambda k: (rank.get(k[0], len(rank)), k[0], k[1]))
    body = [
        "# adprf report",
        "",
        "Generated by `adprf reproduce` / `adprf report` from the results under this folder.",
        "",
    ]
    if not keys:
        body += ["No finished experiment yet: run `adprf reproduce`.", ""]
    body += [render(results[k]) for k in keys]
    return atomic_write(root / "report.md", lambda f: f.write("\n".join(body)))
