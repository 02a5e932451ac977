"""CIFAR-10 (the "python version" release) as a `Dataset`, and downloading it.

Storage: `adprf data fetch cifar10` (or `fetch_cifar10()`) downloads
`cifar-10-python.tar.gz` into `<data_dir()>/cifar10/` and keeps it as it is,
not extracted: `load_cifar10` streams the split's batches out of the tarball in
one pass (decompressing it all, a few seconds), reading into memory only the
regular-file members with the expected names (`cifar-10-batches-py/data_batch_1`
... `data_batch_5`, `test_batch`); nothing from the archive is written to disk,
so no member path can escape the folder. An extracted `cifar-10-batches-py/`
folder placed in `cifar10/` is read too, and preferred when it holds the
split's batches (it is faster to read).

Checksum policy, like the IDX one (`adprf.data._fetch`): a tarball of the
standard size (170,498,071 bytes) claims to be the standard file and must match
its MD5; so must an extracted batch file of its standard size. Files of other
sizes (say small batches written in the same format by a test, or a user's own
data) get the structural checks only (keys, shapes (k, 3072), uint8 pixels,
labels in 0..9, as many labels as images) and the `Dataset.source` says they
were not MD5-verified.

Pickles: each batch is a Python pickle, and `pickle.load` can run arbitrary
code. Only files in the data folder are read, and through an unpickler that
resolves nothing but the numpy functions rebuilding an array, so a file that is
not a genuine batch fails to load (`DataError`) without running anything.
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._dataset import Dataset
from ._fetch import UNVERIFIED, DownloadFailed, data_dir, download_first, file_md5
from ._idx import DataAbsent, DataError

__all__ = [
    "BASE_URLS",
    "CIFAR10_CLASSES",
    "FOLDER",
    "MEMBER_FOLDER",
    "TARBALL",
    "absent_error",
    "cifar10_available",
    "cifar10_dir",
    "fetch_cifar10",
    "load_cifar10",
    "locate_cifar10",
    "parse_batch",
    "read_batch_file",
    "read_tarball_members",
    "tarball_member",
]

TITLE = "CIFAR-10"
FOLDER = "cifar10"  # sub-folder of the data directory
TARBALL = "cifar-10-python.tar.gz"
TARBALL_MD5 = "c58f30108f718f92721af3b95e74349a"
TARBALL_SIZE = 170_498_071
BASE_URLS = ("https://www.cs.toronto.edu/~kriz/",)
MEMBER_FOLDER = "cifar-10-batches-py"  # the folder inside the tarball
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (32, 32, 3)
REMEDY = "Delete it and run `adprf data fetch cifar10`."


@dataclass(frozen=True)
class BatchFile:
    """One pickled batch of the standard release, as extracted from the tarball."""

    name: str
    md5: str
    size: int


# The MD5s are torchvision's (and other public loaders'); the sizes agree across
# several public listings of the extracted folder.
BATCH_FILES: dict[str, BatchFile] = {
    spec.name: spec
    for spec in (
        BatchFile("data_batch_1", "c99cafc152244af753f735de768cd75f", 31_035_704),
        BatchFile("data_batch_2", "d4bba439e000b95fd0a9bffe97cbabec", 31_035_320),
        BatchFile("data_batch_3", "54ebc095f3ab1f0389bbae665268c751", 31_035_999),
        BatchFile("data_batch_4", "634d18415352ddfa80567beed471001a", 31_035_696),
        BatchFile("data_batch_5", "482c414d41f54cd18b22e5b47cb7c3cb", 31_035_623),
        BatchFile("test_batch", "40351d587109b95175f43aff81a1287e", 31_035_526),
    )
}
SPLIT_BATCHES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"data_batch_{i}" for i in range(1, 6)),
    "test": ("test_batch",),
}


def cifar10_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of the CIFAR-10 files: `<root or data_dir()>/cifar10`."""
    return Path(root if root is not None else data_dir()) / FOLDER


def _present_batches(folder: Path) -> set[str]:
    return {name for name in BATCH_FILES if (folder / name).is_file()}


def locate_cifar10(split: str, root: str | os.PathLike[str] | None = None) -> Path | None:
    """Where loading `split` reads its batches from.

    **Arguments:**

    - `split`: `"train"` or `"test"`.
    - `root`: data directory; default `data_dir()`.

    **Returns:**

    The extracted `cifar-10-batches-py/` folder if it holds all the split's
    batches, else `cifar-10-python.tar.gz` if it is there, else None.
    """
    directory = cifar10_dir(root)
    folder, tarball = directory / MEMBER_FOLDER, directory / TARBALL
    if set(SPLIT_BATCHES[split]) <= _present_batches(folder):
        return folder
    if tarball.is_file():
        return tarball
    return None


def absent_error(root: str | os.PathLike[str] | None = None) -> DataAbsent:
    """The error for CIFAR-10 missing, wholly or in part (an extracted folder lacking batches, no tarball).

    **Arguments:**

    - `root`: data directory; default `data_dir()`.

    **Returns:**

    A `DataAbsent` naming the folder, the batches the extracted folder lacks
    if it is there, and how to get the data (`adprf data fetch cifar10`).
    """
    directory = cifar10_dir(root)
    folder = directory / MEMBER_FOLDER
    lacking = ""
    if folder.is_dir():
        lacking = f" ({MEMBER_FOLDER}/ lacks {', '.join(sorted(set(BATCH_FILES) - _present_batches(folder)))})"
    return DataAbsent(
        f"CIFAR-10 not found in {directory}{lacking}: run `adprf data fetch cifar10` (163 MiB), or copy "
        f"{TARBALL} (or its extracted {MEMBER_FOLDER}/ folder) there, or set ADPRF_DATA"
    )


def cifar10_available(root: str | os.PathLike[str] | None = None) -> bool:
    """Whether the CIFAR-10 files are present (not whether they are valid: `inspect_dataset("cifar10")` checks that).

    **Arguments:**

    - `root`: data directory; default `data_dir()`.

    **Returns:**

    True if `cifar10/` holds `cifar-10-python.tar.gz` or a `cifar-10-batches-py/`
    folder with all six batches.
    """
    directory = cifar10_dir(root)
    return (directory / TARBALL).is_file() or _present_batches(directory / MEMBER_FOLDER) == set(BATCH_FILES)


# Reading batches


def _array_globals() -> dict[tuple[str, str], Any]:
    reconstruct = np.zeros(1).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    scalar = np.int64(0).__reduce__()[0]  # numpy scalars, e.g. labels written as np.int64
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("numpy.core", "numpy._core"):  # numpy 1 and numpy 2 names
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
        allowed[(f"{core}.multiarray", "scalar")] = scalar
    allowed[("_codecs", "encode")] = codecs.encode  # how Python 3 writes bytes in protocol-2 pickles
    return allowed


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles plain data and numpy arrays only; any other global is refused."""

    ALLOWED = _array_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self.ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def parse_batch(blob: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Unpickle one batch and check its structure.

    **Arguments:**

    - `blob`: the batch file's bytes.
    - `where`: how errors name it (a path, or a tarball member).

    **Returns:**

    The uint8 pixels, shape (k, 3072), and int32 labels, shape (k,).

    **Raises:**

    `DataError` if it is not a readable pickle of a dict with `b"data"` and
    `b"labels"` of those shapes, labels in 0..9.
    """
    stream = io.BytesIO(blob)
    try:
        batch = _BatchUnpickler(stream, encoding="bytes").load()
    except Exception as error:  # a damaged pickle can fail in many ways
        raise DataError(
            f"{where}: not a readable CIFAR-10 batch ({type(error).__name__}: {error}). {REMEDY}"
        ) from error
    if stream.tell() != len(blob):
        raise DataError(f"{where}: {len(blob) - stream.tell():,} bytes follow the pickled batch. {REMEDY}")
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = f"keys {', '.join(sorted(map(repr, batch)))}" if isinstance(batch, dict) else type(batch).__name__
        raise DataError(f"{where}: expected a dict with keys b'data' and b'labels', found {found}. {REMEDY}")
    data, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        found = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataError(f"{where}: b'data' should be uint8 of shape (k, 3072), found {found}. {REMEDY}")
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError) as error:
        raise DataError(f"{where}: b'labels' should be a list of ints ({error}). {REMEDY}") from error
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise DataError(f"{where}: b'labels' should be a list of ints, found {labels.dtype} {labels.shape}. {REMEDY}")
    if len(labels) != len(data):
        raise DataError(f"{where}: {len(data):,} images but {len(labels):,} labels. {REMEDY}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{where}: labels range over {labels.min()}..{labels.max()}, expected 0..9. {REMEDY}")
    return data, labels.astype(np.int32)


class _HashingReader:
    """A binary file that updates an MD5 with what is read from it."""

    def __init__(self, file: io.BufferedReader) -> None:
        self.file = file
        self.md5 = hashlib.md5()

    def read(self, size: int = -1) -> bytes:
        chunk = self.file.read(size)
        self.md5.update(chunk)
        return chunk

    def seek(self, offset: int, /) -> int:
        """Refused: the MD5 needs every byte read once, in order (a gzip stream read forward
        never seeks; only a rewind would)."""
        raise io.UnsupportedOperation("a hashing reader reads forward only")


def read_tarball_members(path: Path, names: tuple[str, ...], *, size: int, md5: str) -> tuple[dict[str, bytes], bool]:
    """Read batches out of the tarball in one streaming pass, nothing written to disk.

    **Arguments:**

    - `path`: the tarball.
    - `names`: the batches wanted, e.g. `("test_batch",)`.
    - `size`, `md5`: the standard tarball's; a file of that size must have that MD5.

    **Returns:**

    Each wanted batch's bytes by name, and whether the tarball is the
    MD5-verified standard file (False: another size, see the module docstring).

    **Raises:**

    `DataError` if the archive is truncated or corrupt, fails its MD5, holds a
    wanted member twice or not as a regular file, or lacks one.
    """
    wanted = {f"{MEMBER_FOLDER}/{name}": name for name in names}
    blobs: dict[str, bytes] = {}
    with open(path, "rb") as file:
        reader = _HashingReader(file)
        try:
            unzipped = gzip.GzipFile(fileobj=reader, mode="rb")  # checks the CRC, unlike tarfile's "r|gz"
            with tarfile.open(fileobj=unzipped, mode="r|", bufsize=1 << 20) as archive:
                for member in archive:
                    name = wanted.get(member.name)
                    if name is None:
                        continue
                    if name in blobs:
                        raise DataError(f"{path}: member {member.name} appears twice. {REMEDY}")
                    source = archive.extractfile(member) if member.isfile() else None
                    if source is None:
                        raise DataError(f"{path}: member {member.name} is not a regular file. {REMEDY}")
                    blobs[name] = source.read()
            while unzipped.read(1 << 20):  # the rest: the gzip trailer is checked at its end
                pass
            while reader.read(1 << 20):  # anything after it, for the MD5
                pass
        except (EOFError, tarfile.ReadError) as error:
            raise DataError(
                f"{path}: the archive ends early or is not a gzipped tar file ({error}); it is truncated "
                f"(probably by an interrupted download) or corrupt. {REMEDY}"
            ) from error
        except (OSError, zlib.error, tarfile.TarError) as error:
            raise DataError(f"{path}: corrupt archive ({error}). {REMEDY}") from error
    verified = path.stat().st_size == size
    if verified and reader.md5.hexdigest() != md5:
        raise DataError(
            f"{path}: checksum mismatch: MD5 {reader.md5.hexdigest()}, the standard {TARBALL} has "
            f"{md5}; the file is corrupt or not the standard one. {REMEDY}"
        )
    missing = [f"{MEMBER_FOLDER}/{name}" for name in names if name not in blobs]
    if missing:
        raise DataError(f"{path}: no member {', '.join(missing)} in the archive. {REMEDY}")
    return {name: blobs[name] for name in names}, verified


def tarball_member(path: Path, name: str) -> str:
    """How errors name batch `name` inside the tarball at `path`."""
    return f"{path} (member {MEMBER_FOLDER}/{name})"


def read_batch_file(path: Path, spec: BatchFile) -> tuple[bytes, bool]:
    """Read one extracted batch file, checking its MD5 if it has the standard size.

    **Arguments:**

    - `path`: the file.
    - `spec`: the standard batch it stands for.

    **Returns:**

    Its bytes, and whether they are the MD5-verified standard file (False:
    another size, structural checks only).

    **Raises:**

    `DataError` if it has the standard size but not the standard MD5.
    """
    blob = path.read_bytes()
    if len(blob) != spec.size:
        return blob, False
    digest = hashlib.md5(blob).hexdigest()
    if digest != spec.md5:
        raise DataError(
            f"{path}: checksum mismatch: MD5 {digest}, the standard {spec.name} has {spec.md5}; "
            f"the file is corrupt or not the standard one. {REMEDY}"
        )
    return blob, True


def _read_batches(location: Path, names: tuple[str, ...]) -> tuple[list[tuple[np.ndarray, np.ndarray]], bool]:
    """The batches `names` from the tarball or the extracted folder at `location`, and whether all are MD5-verified."""
    if location.name == TARBALL:
        blobs, verified = read_tarball_members(location, names, size=TARBALL_SIZE, md5=TARBALL_MD5)
        return [parse_batch(blobs[name], tarball_member(location, name)) for name in names], verified
    batches, verified = [], True
    for name in names:
        blob, file_verified = read_batch_file(location / name, BATCH_FILES[name])
        verified &= file_verified
        batches.append(parse_batch(blob, str(location / name)))
    return batches, verified


def load_cifar10(split: str = "train", *, root: str | os.PathLike[str] | None = None) -> Dataset:
    """CIFAR-10 (50,000 train / 10,000 test 32×32 colour images, classes `CIFAR10_CLASSES`).

    Read from `<root or data_dir()>/cifar10/`: the extracted `cifar-10-batches-py/`
    folder if it holds the split's batches, else `cifar-10-python.tar.gz`. Train is `data_batch_1` to
    `data_batch_5` in that order; test is `test_batch`. See the module docstring
    for the checksum policy.

    **Arguments:**

    - `split`: `"train"` or `"test"`.
    - `root`: data directory; default `data_dir()`.

    **Returns:**

    A `Dataset` named `"cifar10"`: float32 pixels in [0, 1] of shape
    (n, 32, 32, 3), channel-last (R, G, B), and int32 labels in 0..9.

    **Raises:**

    `DataAbsent` if the split's batches are missing (see `absent_error`);
    `DataError` if they are truncated, corrupt, fail their checksum, or are not
    CIFAR-10 batches; the message names the file and the fix.
    """
    if split not in SPLIT_BATCHES:
        raise ValueError(f"unknown split {split!r}; use 'train' or 'test'")
    names = SPLIT_BATCHES[split]
    location = locate_cifar10(split, root)
    if location is None:
        raise absent_error(root)
    batches, verified = _read_batches(location, names)
    where = str(location) if location.name == TARBALL else f"{', '.join(names)} in {location}"
    pixels = np.concatenate([data for data, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    # Each row is 1024 R, 1024 G, then 1024 B values, each plane row-major 32×32.
    images = pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float32, order="C")
    images /= np.float32(255)
    check = "MD5-verified" if verified else UNVERIFIED
    return Dataset(images=images, labels=labels, name=FOLDER, split=split, source=f"{TITLE} {where} ({check})")


# Downloading


def _tarball_verified(path: Path, md5: str) -> bool:
    return path.is_file() and file_md5(path) == md5


def _folder_verified(folder: Path) -> bool:
    return all(
        (folder / spec.name).is_file()
        and (folder / spec.name).stat().st_size == spec.size
        and file_md5(folder / spec.name) == spec.md5
        for spec in BATCH_FILES.values()
    )


def fetch_cifar10(
    *,
    root: str | os.PathLike[str] | None = None,
    force: bool = False,
    timeout: float = 30,
    progress: bool = True,
    base_urls: list[str] | tuple[str, ...] | None = None,
    md5: str | None = None,
) -> Path:
    """Download `cifar-10-python.tar.gz` (163 MiB) into `<root or data_dir()>/cifar10/`.

    Skipped if the tarball is already there with the right MD5, or the extracted
    folder with all six standard batches. The download goes to a temporary file
    in the same folder, is checked against the MD5, and only then renamed into
    place, so an interrupted or bad download leaves nothing behind. The tarball
    is kept as it is (`load_cifar10` reads it without extracting).

    **Arguments:**

    - `root`: data directory; default `data_dir()`.
    - `force`: download even if verified files are there.
    - `timeout`: seconds before a stalled connection counts as a failure.
    - `progress`: show a tqdm progress bar.
    - `base_urls`: mirrors to use instead of `BASE_URLS` (the file's URL is a base
        URL plus `cifar-10-python.tar.gz`), e.g. a local `file://` folder.
    - `md5`: the tarball's expected MD5 instead of the standard one (for mirrors
        of other files, such as tests').

    **Returns:**

    The folder holding the tarball.

    **Raises:**

    `DataError` if no mirror could be reached (offline), or the data received
    failed the MD5 check.
    """
    directory = cifar10_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    expected = md5 if md5 is not None else TARBALL_MD5
    target = directory / TARBALL
    if not force and (_tarball_verified(target, expected) or _folder_verified(directory / MEMBER_FOLDER)):
        return directory
    urls = [base.rstrip("/") + "/" + TARBALL for base in (base_urls if base_urls is not None else BASE_URLS)]
    try:
        download_first(urls, target, expected, timeout=timeout, progress=progress)
    except DownloadFailed as failed:
        by_hand = (
            f"To proceed, copy {TARBALL} (or its extracted {MEMBER_FOLDER}/ folder) into {directory} "
            f"by hand, or set ADPRF_DATA to a directory whose {FOLDER}/ sub-folder holds it"
        )
        raise failed.error(TARBALL, TITLE, by_hand) from None
    return directory
