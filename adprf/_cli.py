"""Command line: `adprf list | run NAME | reproduce | report | compare OLD NEW | data fetch NAME | data info`."""

import argparse
import os
import sys
import time
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    from .experiments import OPTIONAL_PRESETS, PRESET_HELP, PRESETS

    parser = argparse.ArgumentParser(prog="adprf", description="Adversarial attacks on biological decision-makers.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the registered experiments")
    run = sub.add_parser("run", help="run one experiment")
    run.add_argument("name", help="experiment name (see `adprf list`)")
    reproduce = sub.add_parser("reproduce", help="run every experiment's preset, then write the report")
    reproduce.add_argument(
        "--jobs",
        type=_jobs_count,
        default=1,
        metavar="N",
        help="run N experiments at once, each in its own process with its output in OUT/_logs/NAME.log "
        "(default 1: one after the other, in this process); on a CPU, the number of cores is a good choice",
    )
    reproduce.add_argument(
        "--only",
        type=_names,
        default=None,
        metavar="NAME[,NAME...]",
        help="run only these experiments (comma-separated; see `adprf list`); the report covers every finished one",
    )
    for p in (run, reproduce):
        p.add_argument(
            "--preset",
            choices=PRESETS + OPTIONAL_PRESETS,
            default="quick",
            help="; ".join(f"{name}: {text}" for name, text in PRESET_HELP.items())
            + " (reproduce runs the experiments that have the preset)",
        )
        p.add_argument("--out", default="results", help="results folder (default: ./results)")
        p.add_argument(
            "--force",
            action="store_true",
            help="recompute the experiment's own stages and models instead of loading them (the models "
            "and stages it shares with other experiments under OUT/_models are reused: add "
            "--force-shared to recompute those too)",
        )
        p.add_argument(
            "--force-shared",
            action="store_true",
            help="also recompute the shared models and stages it uses (OUT/_models), e.g. after a change "
            "that a cache key cannot see",
        )
        p.add_argument(
            "--traceback",
            action="store_true",
            help="print the full traceback of an experiment that fails (default: its error message)",
        )
        p.add_argument(
            "--no-compilation-cache",
            action="store_true",
            help="do not keep compiled programs on disk (default: JAX's persistent compilation cache in "
            "$ADPRF_COMPILATION_CACHE or ~/.cache/adprf/jax-compilation; ADPRF_COMPILATION_CACHE=off "
            "turns it off too)",
        )
        p.add_argument(
            "--allow-subset",
            action="store_true",
            help="where a preset names full MNIST and it is absent, run it on the embedded 5,000-image "
            "subset instead of skipping it; the run is keyed and labelled by the data it used",
        )
    report = sub.add_parser("report", help="rewrite report.md from finished results")
    report.add_argument("--out", default="results", help="results folder (default: ./results)")
    _add_compare(sub)
    data = sub.add_parser("data", help="data sets: fetch or inspect")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    fetch = data_sub.add_parser("fetch", help="download a data set into the cache (ADPRF_DATA)")
    fetch.add_argument("name", help="mnist | fashion-mnist | cifar10")
    fetch.add_argument("--root", default=None, help="data folder (default: $ADPRF_DATA or ~/.cache/adprf)")
    fetch.add_argument("--force", action="store_true", help="download again even if verified files exist")
    data_sub.add_parser(
        "info",
        help="where the data live, and whether each set is present, partial, corrupt or "
        "absent (checks every file: MD5 where known, else structure)",
    )
    return parser


def _whole_number(minimum: int, what: str):
    """An argparse type: a whole number ≥ `minimum`, else an error asking for `what`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: give {what}")
        return value

    return parse


def _names(text: str) -> list[str]:
    """Comma-separated experiment names, blanks dropped (an empty list is for the caller to refuse)."""
    return [name.strip() for name in text.split(",") if name.strip()]


_jobs_count = _whole_number(1, "a whole number of experiments to run at once, 1 or more")


def _add_compare(sub) -> None:
    """`adprf compare OLD NEW [--rtol R] [--atol A] [--only NAMES] [--limit N]`."""
    compare = sub.add_parser(
        "compare",
        help="compare the finished runs of two results folders, experiment by experiment, timings aside; "
        "exit 0 when every number agrees",
    )
    compare.add_argument("old", help="the results folder to compare against (e.g. a reference run)")
    compare.add_argument("new", help="the results folder to check")
    compare.add_argument(
        "--rtol", type=_tolerance, default=0.0, help="relative tolerance (default 0: numbers must be equal)"
    )
    compare.add_argument("--atol", type=_tolerance, default=0.0, help="absolute tolerance (default 0)")
    compare.add_argument("--only", type=_names, default=None, help="compare only these experiments (comma-separated)")
    compare.add_argument(
        "--limit",
        type=_whole_number(0, "a whole number ≥ 0 (0 shows every difference)"),
        default=5,
        help="differences shown per experiment (default 5; 0: all)",
    )


def _tolerance(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r}: give a finite number ≥ 0, e.g. 1e-6")
    return value


def _compare(args) -> int:
    """`adprf compare OLD NEW`: 0 when every experiment agrees, 1 when one differs, is missing
    from a folder or cannot be read."""
    from ._compare import compare_results, format_comparison

    if args.only == []:
        print("adprf: error: --only: give experiment names separated by commas", file=sys.stderr)
        return 2
    try:
        comparison = compare_results(args.old, args.new, rtol=args.rtol, atol=args.atol, experiments=args.only)
    except ValueError as error:
        print(f"adprf: error: {error}", file=sys.stderr)
        return 2
    if not comparison.experiments and not comparison.unreadable:
        print(f"adprf: error: no finished run in {args.old} or {args.new}", file=sys.stderr)
        return 2
    rule = f"--rtol {args.rtol:g} --atol {args.atol:g}" if args.rtol or args.atol else "numbers must be equal"
    print(f"[adprf] {args.new} against {args.old}, timings aside ({rule})")
    print("\n".join(format_comparison(comparison, args.old, args.new, limit=args.limit)))
    differ = [e.experiment for e in comparison.experiments if not e.same]
    if comparison.same:
        print(f"[adprf] all {len(comparison.experiments)} agree")
        return 0
    print(
        f"[adprf] {len(differ)} of {len(comparison.experiments)} differ"
        + (f"; {len(comparison.unreadable)} result files unreadable" if comparison.unreadable else "")
    )
    return 1


def _run_one(name: str, args) -> dict:
    """Run one experiment and say how it went; an experiment that raises is reported (its
    error, or with --traceback the whole traceback) as `{"failed": message}`, so that
    `reproduce` goes on with the others."""
    import traceback

    from .experiments import run_experiment

    start = time.perf_counter()
    preset, out = args.preset, args.out
    print(f"[adprf] {name} ({preset}) ...", flush=True)
    try:
        record = run_experiment(
            name, preset, root=out, force=args.force, force_shared=args.force_shared, allow_subset=args.allow_subset
        )
    except Exception as error:
        if args.traceback:
            traceback.print_exc()
        record = {"failed": f"{type(error).__name__}: {error}"}
        hint = "" if args.traceback else " (--traceback shows where)"
        print(outcome_line(name, record, time.perf_counter() - start, out) + hint, file=sys.stderr, flush=True)
        return record
    print(outcome_line(name, record, time.perf_counter() - start, out), flush=True)
    return record


def outcome_line(name: str, record: dict, seconds: float, out: str) -> str:
    """The line that says how experiment `name` ended: failed (`record["failed"]`), skipped,
    loaded or done, and where its result is."""
    if record.get("failed"):
        return f"adprf: error: {name} failed after {seconds:.1f} s: {record['failed']}"
    state = "already finished, loaded" if record.get("_loaded") else "done"
    if record.get("skipped"):
        state = f"skipped ({record['skipped']})"
    return f"[adprf] {name}: {state} in {seconds:.1f} s -> {Path(out) / name / record['hash']}"


def prepare_process(args) -> None:
    """What a process that runs experiments does first: the compilation cache (unless
    `args.no_compilation_cache`), then joining the hosts of a multi-host launch."""
    if not args.no_compilation_cache:
        from ._compilation_cache import enable_compilation_cache

        enable_compilation_cache()
    _start_hosts()


def _start_hosts() -> None:
    """Join a multi-host run when the launch variables are set (see `adprf.distributed`) and
    say what the run is sharded over."""
    from . import distributed

    try:
        distributed.initialize_from_environment()
    except ValueError as err:
        raise SystemExit(f"adprf: error: {err}") from None
    import jax

    devices = jax.devices()
    if len(devices) > 1 or jax.process_count() > 1:
        print(
            f"[adprf] process {jax.process_index()} of {jax.process_count()}: attacks and evaluations sharded "
            f"over {len(devices)} {devices[0].platform} devices",
            flush=True,
        )


def _check_writable(out: str) -> None:
    """Refuse a results folder that cannot be written before anything is computed."""
    from ._results import atomic_write

    folder = Path(out)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = atomic_write(folder / ".adprf-write-test", lambda f: f.write("ok"))
        probe.unlink(missing_ok=True)
    except OSError as error:
        raise SystemExit(
            f"adprf: error: cannot write results to {folder} ({error.strerror or error}): choose "
            f"another folder with --out, or fix its permissions"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit status.

    Ctrl-C ends the process at once with status 130 and the resume message, without
    interpreter finalisation: XLA may still be compiling or running on its own threads, and
    finalising under them crashes (see `adprf._interrupts`). A `KeyboardInterrupt` raised by
    code, not by a signal, returns 130 instead.
    """
    from ._interrupts import ExitOnInterrupt

    parser = _parser()
    args = parser.parse_args(argv)
    message = "\n[adprf] interrupted: finished stages are saved; run the same command again to resume"
    try:
        with ExitOnInterrupt(message, status=130):
            return _dispatch(args, parser)
    except KeyboardInterrupt:
        print(message, file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into a reader that stopped (`adprf data info | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _dispatch(args, parser) -> int:
    if args.command == "data":
        return _data(args, parser)
    if args.command == "compare":
        return _compare(args)
    parallel = args.command == "reproduce" and args.jobs > 1
    if parallel and os.environ.get("JAX_COORDINATOR_ADDRESS", "").strip():
        parser.error("--jobs runs experiments side by side on one host; a multi-host launch takes --jobs 1")
    if args.command in ("run", "reproduce"):
        _check_writable(args.out)
    if args.command in ("run", "reproduce") and not parallel:  # with --jobs, each worker does this itself
        prepare_process(args)
    from ._report import write_report
    from .experiments import REGISTRY

    if args.command == "list":
        for exp in REGISTRY.values():
            print(f"{exp.name:28s} {exp.title}")
        return 0
    if args.command == "run":
        if args.name not in REGISTRY:
            parser.error(f"unknown experiment {args.name!r}; registered: {', '.join(REGISTRY)}")
        if args.preset not in REGISTRY[args.name].presets:
            having = [name for name, exp in REGISTRY.items() if args.preset in exp.presets]
            parser.error(
                f"{args.name} has no preset {args.preset!r} (its presets: {', '.join(REGISTRY[args.name].presets)}); "
                f"the experiments with it: {', '.join(having)}"
            )
        record = _run_one(args.name, args)
        if record.get("failed"):
            return 1
        if record.get("skipped"):
            write_report(args.out, order=list(REGISTRY))
            print(f"adprf: error: {args.name} was skipped: {record['skipped']}", file=sys.stderr)
            return 1
    elif args.command == "reproduce":
        start = time.perf_counter()
        records = {}
        unknown = [name for name in args.only or [] if name not in REGISTRY]
        if unknown or args.only == []:
            parser.error(f"--only {','.join(unknown)}: not an experiment; registered: {', '.join(REGISTRY)}")
        chosen = [name for name in REGISTRY if args.only is None or name in args.only]
        names = [name for name in chosen if args.preset in REGISTRY[name].presets]
        if args.only is not None and not names:
            having = [name for name, exp in REGISTRY.items() if args.preset in exp.presets]
            parser.error(
                f"--only {','.join(chosen)}: none has the {args.preset} preset; those with it: {', '.join(having)}"
            )
        for name in chosen:
            if name not in names:
                print(f"[adprf] {name}: has no {args.preset} preset, not run", flush=True)
        if parallel:
            from ._jobs import run_in_workers

            records = run_in_workers(names, args, args.jobs)
        for name in [] if parallel else names:
            records[name] = _run_one(name, args)
            # One process compiles hundreds of programs; their code mappings can exhaust the
            # kernel's map count (LLVM "Cannot allocate memory"). Each experiment starts afresh,
            # reading back from the persistent cache what it shares with the others.
            _release_compiled_programs()
        skipped = [name for name, record in records.items() if record.get("skipped")]
        failed = [name for name, record in records.items() if record.get("failed")]
        print(
            f"[adprf] reproduce finished in {time.perf_counter() - start:.1f} s"
            + (f"; skipped for lack of data: {', '.join(skipped)}" if skipped else "")
            + (f"; FAILED: {', '.join(failed)}" if failed else ""),
            flush=True,
        )
        if failed:
            report = write_report(args.out, order=list(REGISTRY))
            print(f"[adprf] report (without the failed experiments): {report}")
            return 1
    report = write_report(args.out, order=list(REGISTRY))
    print(f"[adprf] report: {report}")
    return 0


def _release_compiled_programs() -> None:
    import gc

    import jax

    jax.clear_caches()
    gc.collect()


def _data(args, parser) -> int:
    from .data import DATASET_NAMES, DATASETS, DataError, data_dir, fetch, fetch_cifar10, inspect_dataset

    if args.data_command == "info":
        # Informational, so it exits 0 whatever it finds; "present" only once every file passed its checks.
        print(f"data folder: {data_dir()} (set ADPRF_DATA to change)")
        indent = " " * 17
        for name in DATASET_NAMES:
            status = inspect_dataset(name)
            print(f"  {name:14s} {status.state}: {status.reason}")
            if status.state != "absent":
                for file in status.files:
                    size = "" if file.size is None else f" ({file.size:,} bytes)"
                    print(f"{indent}{file.path}{size}: {file.check.removeprefix(f'{file.path}: ')}")
            if status.fix:
                print(f"{indent}fix: {status.fix}")
        return 0
    fetchable = [*DATASETS, "cifar10"]
    if args.name not in fetchable:
        parser.error(f"unknown data set {args.name!r}: choose from {', '.join(fetchable)}")
    try:
        if args.name == "cifar10":
            path = fetch_cifar10(root=args.root, force=args.force)
        else:
            path = fetch(args.name, root=args.root, force=args.force)
    except DataError as err:
        print(f"adprf: error: {err}", file=sys.stderr)
        return 1
    print(f"{args.name}: verified files in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
