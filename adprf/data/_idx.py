"""Reading and writing IDX files, the format of the MNIST family of data sets.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number
of dimensions), one big-endian uint32 per dimension, then the values in C order,
big-endian. The standard files are distributed gzip-compressed; `read_idx`
recognises compression by the gzip magic bytes, whatever the file is called.
"""

from __future__ import annotations

import gzip as gzip_module
import os
import uuid
import zlib
from pathlib import Path

import numpy as np

__all__ = ["DataAbsent", "DataError", "read_idx", "read_idx_bytes", "parse_idx", "write_idx"]

GZIP_MAGIC = b"\x1f\x8b"

# IDX type code -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

DEFAULT_REMEDY = (
    "Delete it and download it again (for the standard data sets: "
    "`adprf data fetch mnist` or `adprf data fetch fashion-mnist`)."
)


class DataError(Exception):
    """A data file is missing, truncated, corrupt or not the expected one.

    The message names the file, says what is wrong and how to fix it.
    """


class DataAbsent(DataError):
    """A data set is not there, or only some of its files are.

    The message names the folders searched, the files missing, and the command
    that fetches them (`adprf data fetch NAME`).
    """


def read_idx_bytes(path: str | os.PathLike[str], *, remedy: str = DEFAULT_REMEDY) -> bytes:
    """Read a file's IDX payload, decompressing it if it is gzip-compressed.

    **Arguments:**

    - `path`: the file; compression is detected from the gzip magic bytes.
    - `remedy`: what the user should do if the file is corrupt, appended to errors.

    **Returns:**

    The uncompressed bytes (not yet checked to be valid IDX).

    **Raises:**

    `DataError` if the gzip stream is truncated or corrupt.
    """
    path = Path(path)
    raw = path.read_bytes()
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip_module.decompress(raw)
    except EOFError as error:
        raise DataError(
            f"{path}: the gzip stream ends early ({len(raw):,} bytes on disk), "
            f"so the file is truncated, probably by an interrupted download. {remedy}"
        ) from error
    except (OSError, zlib.error) as error:
        raise DataError(f"{path}: corrupt gzip stream ({error}). {remedy}") from error


def parse_idx(data: bytes, path: str | os.PathLike[str], *, remedy: str = DEFAULT_REMEDY) -> np.ndarray:
    """Decode uncompressed IDX bytes into an array, checking the header against the size.

    **Arguments:**

    - `data`: uncompressed IDX bytes.
    - `path`: where they came from, for error messages.
    - `remedy`: what the user should do if the data are corrupt, appended to errors.

    **Returns:**

    A writable, native-endian array with the shape given in the header.

    **Raises:**

    `DataError` on a bad magic number, an unknown type code, or a payload whose
    size does not match the header (truncated or with trailing bytes).
    """
    if len(data) < 4:
        raise DataError(f"{path}: only {len(data)} bytes, too short for an IDX header. {remedy}")
    if data[0] != 0 or data[1] != 0:
        raise DataError(
            f"{path}: bad magic number 0x{data[:4].hex()} (an IDX file starts with two zero "
            f"bytes), so this is not an IDX file or it is corrupt. {remedy}"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        raise DataError(
            f"{path}: bad magic number 0x{data[:4].hex()}: unknown IDX type code 0x{code:02x} "
            f"(known: {', '.join(f'0x{c:02x}' for c in IDX_DTYPES)}). {remedy}"
        )
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise DataError(
            f"{path}: truncated header: {ndim} dimensions need {header_size} bytes, the file has {len(data)}. {remedy}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = header_size + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{path}: size does not match the header: shape {shape} of {dtype.name} needs "
            f"{expected:,} bytes, the (uncompressed) data have {len(data):,}; the file is "
            f"{what}. {remedy}"
        )
    values = np.frombuffer(data, dtype, offset=header_size)
    return values.astype(dtype.newbyteorder("="), copy=True).reshape(shape)


def read_idx(path: str | os.PathLike[str], *, remedy: str = DEFAULT_REMEDY) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not.

    **Arguments:**

    - `path`: the file; compression is detected from the gzip magic bytes, not the suffix.
    - `remedy`: what the user should do if the file is corrupt, appended to errors.

    **Returns:**

    A writable, native-endian array with the shape and type given in the header
    (`uint8` for the MNIST files).

    **Raises:**

    `DataError` (naming the file) if it is truncated or corrupt.
    """
    return parse_idx(read_idx_bytes(path, remedy=remedy), path, remedy=remedy)


def write_idx(path: str | os.PathLike[str], array: np.ndarray, gzip: bool | None = None) -> Path:
    """Write an array as an IDX file, atomically (temporary file, then rename).

    **Arguments:**

    - `path`: destination.
    - `array`: values of type uint8, int8, int16, int32, float32 or float64, at
        least one dimension, each below 2**32.
    - `gzip`: compress with gzip (reproducibly: no timestamp); by default, when
        `path` ends in `.gz`.

    **Returns:**

    The path written.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = {dtype.newbyteorder("="): code for code, dtype in IDX_DTYPES.items()}
    native = array.dtype.newbyteorder("=")
    if native not in codes:
        known = ", ".join(d.name for d in codes)
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {known}")
    if not 1 <= array.ndim <= 255 or any(d >= 2**32 for d in array.shape):
        raise ValueError(f"IDX cannot store shape {array.shape}")
    header = bytes([0, 0, codes[native], array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    data = header + np.ascontiguousarray(array, native.newbyteorder(">")).tobytes()
    if gzip if gzip is not None else path.suffix == ".gz":
        data = gzip_module.compress(data, mtime=0)
    temp = partial_path(path)
    try:
        with open(temp, "xb") as file:
            file.write(data)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return path


def partial_path(path: Path) -> Path:
    """A fresh hidden name beside `path` for writing it atomically (then `os.replace`)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
