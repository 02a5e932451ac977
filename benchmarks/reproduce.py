"""`adprf reproduce --preset quick` per experiment: wall time, XLA compilations and compile seconds,
with a cold and a warm persistent compilation cache.

What is measured. Every experiment of the registry (in the registry's order, as `adprf reproduce`
runs them, so that the shared models under OUT/_models are trained by the experiment that
reproduce would train them in) runs in its own Python process, `adprf run NAME --out DIR`, with
`ADPRF_COMPILATION_CACHE` pointing at the pass's cache folder: each experiment starts with fresh
JAX state, as `reproduce` now gives it (it clears JAX's in-memory caches between experiments).
A small driver (`python -c`) registers `jax.monitoring` listeners, imports adprf, then calls
`adprf._cli.main(["run", NAME, "--out", DIR])` and writes what it saw to a JSON file:

- wall s: the time of that call (imports excluded: `reproduce` pays them once);
- compilations: programs XLA compiled, i.e. the "/jax/core/compile/backend_compile_duration"
  events minus the persistent-cache hits ("/jax/compilation_cache/cache_hits"; a hit is read
  back, not compiled, but still passes through the backend-compile event);
- compile s: the time spent tracing ("/jax/core/compile/jaxpr_trace_duration"), lowering
  ("/jax/core/compile/jaxpr_to_mlir_module_duration") and compiling or reading back from the
  cache (backend_compile_duration), as the union of those events' time spans (a jit traced
  inside another's trace is nested in it; a sum of durations would count it twice). The JSON
  keeps each event's count and summed duration, and the cache-retrieval seconds;
- compile share: compile s / wall s.

Two passes. **cold**: an empty cache folder and an empty results folder; **warm**: a new empty
results folder and the cache the cold pass filled, so everything is recomputed but programs are
read back (adprf writes every program, however quick to compile; tracing and lowering still
run, so a warm pass still spends some compile seconds). Goals (issue 15, 2 quiet cores): total cold ≤ 8 min, total
warm ≤ 4 min, every experiment's compile share ≤ 15 %. After both passes it says whether the
warm pass, whose programs were read back from the cache, gave the cold pass's numbers exactly
(`adprf compare`, timings aside), and lists the differences if not.

With `--jobs N` (as `adprf reproduce --jobs N`) N experiments run at once; each row's wall s
then includes the slowdown of sharing the cores, and the pass's total is its elapsed time from
the first process's start to the last one's end (imports included), which is what the goals
compare.

Run: python benchmarks/reproduce.py                             # every experiment, cold and warm
     python benchmarks/reproduce.py --jobs 2                    # two at a time, as on 2 cores
     python benchmarks/reproduce.py --only mtl-to-ml --keep /tmp/rep   # one experiment, keep folders
     python benchmarks/reproduce.py --passes warm --keep /tmp/rep      # warm again on a kept cache
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _timing import machine

import adprf
from adprf._compare import compare_results, format_comparison
from adprf.experiments import REGISTRY

GOAL_COLD_S, GOAL_WARM_S, GOAL_SHARE = 8 * 60, 4 * 60, 0.15

DRIVER = r"""
import json, sys, time
import jax.monitoring as monitoring

name, out, report = sys.argv[1], sys.argv[2], sys.argv[3]
COMPILE = (
    "/jax/core/compile/backend_compile_duration",
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
)
RETRIEVAL = "/jax/compilation_cache/cache_retrieval_time_sec"
spans, counts, seconds = [], {}, {}


def on_span(event, start, end, **kwargs):
    if event in COMPILE:
        spans.append((start, end))


def on_duration(event, duration, **kwargs):
    if event in COMPILE or event == RETRIEVAL:
        counts[event] = counts.get(event, 0) + 1
        seconds[event] = seconds.get(event, 0.0) + duration


def on_event(event, **kwargs):
    if event.startswith("/jax/compilation_cache/"):
        counts[event] = counts.get(event, 0) + 1


monitoring.register_event_time_span_listener(on_span)
monitoring.register_event_duration_secs_listener(on_duration)
monitoring.register_event_listener(on_event)
t0 = time.perf_counter()
import jax
import adprf.experiments
from adprf._cli import main
import_s = time.perf_counter() - t0
spans.clear()
counts.clear()
seconds.clear()
t0 = time.time()
status = main(["run", name, "--out", out])
t1 = time.time()
union, end = 0.0, float("-inf")
for a, b in sorted(spans):
    a = max(a, end)
    if b > a:
        union += b - a
        end = b
with open(report, "w") as f:
    json.dump(
        dict(
            status=status,
            wall_s=t1 - t0,
            import_s=import_s,
            compile_s=union,
            counts=counts,
            seconds=seconds,
            cache_dir=jax.config.jax_compilation_cache_dir,
        ),
        f,
    )
sys.exit(status)
"""

BACKEND = "/jax/core/compile/backend_compile_duration"
HITS = "/jax/compilation_cache/cache_hits"


def run_one(name: str, results: Path, cache: Path, logs: Path, pass_name: str) -> dict:
    """One experiment in its own process; returns its measured row (or why it failed)."""
    report = logs / f"{pass_name}-{name}.json"
    log = logs / f"{pass_name}-{name}.log"
    env = dict(os.environ, ADPRF_COMPILATION_CACHE=str(cache))
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # it would win over adprf's setting
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-c", DRIVER, name, str(results), str(report)], stdout=f, stderr=subprocess.STDOUT, env=env
        )
    process_s = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    skipped = f"[adprf] {name}: skipped" in text  # no data: `adprf run` exits 1 and says why
    if not report.exists() or (proc.returncode != 0 and not skipped):
        tail = "\n".join(text.replace("\r", "\n").splitlines()[-15:])
        print(f"  {pass_name} {name}: FAILED (exit {proc.returncode}); log {log}:\n{tail}", flush=True)
        return dict(name=name, failed=True, process_s=process_s)
    got = json.loads(report.read_text())
    if got["cache_dir"] != str(cache):
        print(f"  warning: {name} used the compilation cache {got['cache_dir']!r}, not {str(cache)!r}")
    hits = got["counts"].get(HITS, 0)
    row = dict(
        name=name,
        failed=False,
        skipped=skipped,
        wall_s=got["wall_s"],
        process_s=process_s,
        import_s=got["import_s"],
        compilations=got["counts"].get(BACKEND, 0) - hits,
        cache_hits=hits,
        compile_s=got["compile_s"],
        share=got["compile_s"] / got["wall_s"] if got["wall_s"] > 0 else 0.0,
        counts=got["counts"],
        seconds=got["seconds"],
    )
    print(
        f"  {pass_name} {name}: {row['wall_s']:.1f} s, {row['compilations']} compilations, "
        f"{hits} cache hits, compile {row['compile_s']:.1f} s ({100 * row['share']:.0f} %)"
        + (" (skipped)" if row["skipped"] else ""),
        flush=True,
    )
    return row


def fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def total(rows: list[dict], elapsed: float | None = None) -> dict:
    """The pass's sums; with `elapsed` (several at a time) its wall s is that elapsed time."""
    ok = [r for r in rows if not r["failed"]]
    summed = sum(r["wall_s"] for r in ok)
    wall = summed if elapsed is None else elapsed
    compile_s = sum(r["compile_s"] for r in ok)
    return dict(
        name="TOTAL",
        failed=len(ok) < len(rows),
        wall_s=wall,
        compilations=sum(r["compilations"] for r in ok),
        cache_hits=sum(r["cache_hits"] for r in ok),
        compile_s=compile_s,
        share=compile_s / summed if summed > 0 else 0.0,
    )


def cells(row: dict | None) -> list[str]:
    if row is None:
        return ["—"] * 5
    if row["failed"] and row["name"] != "TOTAL":
        return ["failed"] + ["—"] * 4
    return [
        f"{row['wall_s']:.1f}",
        str(row["compilations"]),
        str(row["cache_hits"]),
        f"{row['compile_s']:.1f}",
        f"{100 * row['share']:.0f} %",
    ]


def print_tables(names: list[str], passes: dict[str, list[dict]], elapsed: dict[str, float], jobs: int) -> None:
    by_pass = {p: {r["name"]: r for r in rows} for p, rows in passes.items()}
    totals = {p: total(rows, elapsed[p] if jobs > 1 else None) for p, rows in passes.items()}
    header = []
    for p in ("cold", "warm"):
        header += [f"{p} wall s", f"{p} compilations", f"{p} cache hits", f"{p} compile s", f"{p} compile share"]
    print("\n| experiment | " + " | ".join(header) + " |")
    print("|" + "---|" * (1 + len(header)))
    for name in names + ["TOTAL"]:
        skipped = any(by_pass.get(p, {}).get(name, {}).get("skipped") for p in passes)
        row = [("**TOTAL**" if name == "TOTAL" else name) + (" (skipped)" if skipped else "")]
        for p in ("cold", "warm"):
            r = totals.get(p) if name == "TOTAL" else by_pass.get(p, {}).get(name)
            row += cells(r)
        print("| " + " | ".join(row) + " |")
    imports = sorted(r["import_s"] for rows in passes.values() for r in rows if not r["failed"])
    if jobs > 1:
        print(
            f"\n{jobs} experiments at a time: TOTAL wall s is the pass's elapsed time, imports included; its "
            f"compile s is the sum over the experiments, its share that over the sum of their walls ("
            + ", ".join(f"{p} {sum(r['wall_s'] for r in passes[p] if not r['failed']):.1f} s" for p in passes)
            + ")"
        )
    elif imports:
        print(
            f"\nwall s is `adprf._cli.main` alone: each process's imports (median {imports[len(imports) // 2]:.1f} s) "
            f"are left out, as `adprf reproduce` pays them once"
        )

    print("\n| goal | measured | target | verdict |\n|---|---|---|---|")
    for p, goal in (("cold", GOAL_COLD_S), ("warm", GOAL_WARM_S)):
        if p in totals:
            t = totals[p]
            incomplete = " (some failed)" if t["failed"] else ""
            if len(names) < len(REGISTRY):
                incomplete += f" ({len(names)} of {len(REGISTRY)} experiments)"
            verdict = "PASS" if t["wall_s"] <= goal and not t["failed"] else "FAIL"
            print(f"| total {p} | {t['wall_s'] / 60:.1f} min{incomplete} | ≤ {goal / 60:g} min | {verdict} |")
    for p in passes:
        ok = [r for r in passes[p] if not r["failed"]]
        if ok:
            worst = max(ok, key=lambda r: r["share"])
            verdict = "PASS" if worst["share"] <= GOAL_SHARE else "FAIL"
            print(
                f"| max compile share, {p} | {100 * worst['share']:.0f} % ({worst['name']}) "
                f"| ≤ {100 * GOAL_SHARE:g} % | {verdict} |"
            )


def print_agreement(cold: Path, warm: Path) -> None:
    """Whether the warm pass, whose programs came from the cache, gave the cold pass's numbers
    (`adprf compare`: exactly, timings aside)."""
    comparison = compare_results(cold, warm)
    differ = [e for e in comparison.experiments if not e.same]
    if comparison.same:
        print(
            f"\nnumbers: the warm pass gives the cold pass's, exactly, in all {len(comparison.experiments)} experiments"
        )
        return
    print(f"\nnumbers: {len(differ)} experiments differ between the passes (adprf compare):\n")
    print("\n".join(format_comparison(comparison, "cold", "warm")))


def main():
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments (registry order kept)")
    p.add_argument("--skip", nargs="+", metavar="NAME", default=[], help="leave these experiments out")
    p.add_argument("--passes", nargs="+", choices=("cold", "warm"), default=["cold", "warm"])
    p.add_argument(
        "--keep",
        metavar="DIR",
        help="put the cache, results and log folders here and keep them (default: a temporary folder, "
        "removed at the end); --passes warm alone reuses DIR/cache",
    )
    p.add_argument("--json", metavar="PATH", help="write the rows here")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="run N experiments at once (default 1)")
    args = p.parse_args()
    if args.jobs < 1:
        p.error(f"--jobs {args.jobs}: give 1 or more")
    unknown = [n for n in (args.only or []) + args.skip if n not in REGISTRY]
    if unknown:
        p.error(f"unknown experiments {unknown}: see `adprf list`")
    names = [n for n in REGISTRY if (args.only is None or n in args.only) and n not in args.skip]
    args.passes = [q for q in ("cold", "warm") if q in args.passes]  # cold first: warm reads its cache
    if not names:
        p.error("no experiment left to run")

    root = Path(args.keep or tempfile.mkdtemp(prefix="adprf-reproduce-")).resolve()
    root.mkdir(parents=True, exist_ok=True)
    cache, logs = root / "cache", root / "logs"
    logs.mkdir(exist_ok=True)
    if "cold" in args.passes:
        fresh(cache)
    elif not cache.is_dir() or not any(cache.iterdir()):
        p.error(f"--passes warm needs the cache of a cold pass in {cache} (run with --keep DIR)")

    print(machine(adprf=adprf.__version__))
    print(
        f"adprf run NAME --out DIR --preset quick, one process per experiment, {args.jobs} at a time, "
        f"{len(names)} experiments, "
        f"passes {' and '.join(args.passes)}; folders in {root}\n"
    )
    passes, elapsed = {}, {}
    for pass_name in args.passes:
        results = fresh(root / f"results-{pass_name}")
        start = time.perf_counter()
        with ThreadPoolExecutor(args.jobs) as pool:  # started in registry order, as `adprf reproduce --jobs`
            passes[pass_name] = list(pool.map(lambda n: run_one(n, results, cache, logs, pass_name), names))
        elapsed[pass_name] = time.perf_counter() - start
    print_tables(names, passes, elapsed, args.jobs)
    if len(passes) == 2:
        print_agreement(root / "results-cold", root / "results-warm")
    if args.json:
        Path(args.json).write_text(json.dumps(passes, indent=1))
        print(f"\nrows written to {args.json}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    else:
        print(f"\nfolders kept in {root} (cache, results-<pass>, logs)")


if __name__ == "__main__":
    main()
