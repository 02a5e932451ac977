"""Tests of adprf.data._cifar on small files in the CIFAR-10 "python version" format (no network)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import pickletools
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

import adprf.data as data
from adprf._cli import main
from adprf.data import _cifar as cifar

UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: nothing listens there
TRAIN_N, TEST_N = 7, 5
# One pixel set by hand: image 3 of data_batch_2 (train index 7 + 3), row 5, column 17.
PIXEL_BATCH, PIXEL_IMAGE, PIXEL_ROW, PIXEL_COL, PIXEL_RGB = "data_batch_2", 3, 5, 17, (200, 100, 50)


class Py2Pickler(pickle._Pickler):
    """Pickles bytes and str as Python 2 `str` (SHORT_BINSTRING/BINSTRING), as the cPickle that wrote CIFAR-10 did."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def py2_pickle(obj) -> bytes:
    """`obj` pickled like the real batches: protocol 2, Python 2 strings, numpy 1's module names."""
    out = io.BytesIO()
    Py2Pickler(out, protocol=2).dump(obj)
    return out.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def make_batches(seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Five train batches of 7 images and a test batch of 5: random pixels, known labels, one pixel set."""
    rng = np.random.default_rng(seed)
    batches = {}
    for index, name in enumerate(cifar.BATCH_FILES):
        n = TEST_N if name == "test_batch" else TRAIN_N
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        batches[name] = (pixels, [(i + 3 * index) % 10 for i in range(n)])
    pixels = batches[PIXEL_BATCH][0]
    for channel, value in enumerate(PIXEL_RGB):
        pixels[PIXEL_IMAGE, channel * 1024 + PIXEL_ROW * 32 + PIXEL_COL] = value
    return batches


def batch_blob(pixels, labels) -> bytes:
    return py2_pickle(
        {b"batch_label": b"a batch", b"labels": labels, b"data": pixels, b"filenames": [b"x.png"] * len(labels)}
    )


def standard_blobs(seed: int = 0) -> dict[str, bytes]:
    return {name: batch_blob(*batch) for name, batch in make_batches(seed).items()}


def write_tarball(path: Path, blobs: dict[str, bytes], extra: tuple[tarfile.TarInfo, ...] = ()) -> Path:
    """A gzipped tar with the blobs as `cifar-10-batches-py/<name>` members (plus `extra` members)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        meta = py2_pickle({b"label_names": [name.encode() for name in cifar.CIFAR10_CLASSES], b"num_vis": 3072})
        members = {"batches.meta": meta, **blobs, "readme.html": b"<html></html>"}
        for name, blob in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(blob)
            archive.addfile(info, io.BytesIO(blob))
        for info in extra:
            archive.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


def write_folder(folder: Path, blobs: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in blobs.items():
        (folder / name).write_bytes(blob)
    return folder


def write_layout(root: Path, layout: str, blobs: dict[str, bytes]) -> Path:
    """Write the batches under `root/cifar10/` as the tarball or the extracted folder; returns the path written."""
    if layout == "tarball":
        return write_tarball(root / "cifar10" / cifar.TARBALL, blobs)
    return write_folder(root / "cifar10" / cifar.MEMBER_FOLDER, blobs)


def where(root: Path, layout: str, name: str) -> str:
    """How an error message names batch `name`."""
    if layout == "tarball":
        return f"{root / 'cifar10' / cifar.TARBALL} (member cifar-10-batches-py/{name})"
    return str(root / "cifar10" / cifar.MEMBER_FOLDER / name)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def mirror(tmp_path) -> tuple[Path, str]:
    """A folder holding a small cifar-10-python.tar.gz, and the tarball's MD5."""
    tarball = write_tarball(tmp_path / "mirror" / cifar.TARBALL, standard_blobs())
    return tarball.parent, md5(tarball)


# The helper writes what the real files hold


def test_test_pickles_look_like_the_real_batches():
    blob = batch_blob(*make_batches()["test_batch"])
    opcodes = {
        op.name: arg for op, arg, _ in pickletools.genops(blob) if op.name in ("GLOBAL", "SHORT_BINSTRING", "PROTO")
    }
    assert opcodes["PROTO"] == 2
    assert "numpy.core.multiarray _reconstruct" in [
        arg for op, arg, _ in pickletools.genops(blob) if op.name == "GLOBAL"
    ]
    assert "BINUNICODE" not in {op.name for op, _, _ in pickletools.genops(blob)}
    loaded = pickle.loads(blob, encoding="bytes")
    assert set(loaded) == {b"batch_label", b"labels", b"data", b"filenames"}


# Loading


@pytest.mark.parametrize("layout", ["tarball", "folder"])
def test_load_values_and_layout(tmp_path, layout):
    batches = make_batches()
    write_layout(tmp_path, layout, standard_blobs())
    train = data.load_cifar10("train", root=tmp_path)
    test = data.load_cifar10("test", root=tmp_path)
    assert (len(train), len(test)) == (5 * TRAIN_N, TEST_N)
    for dataset, split in ((train, "train"), (test, "test")):
        assert dataset.images.shape == (len(dataset), 32, 32, 3) and dataset.images.dtype == np.float32
        assert dataset.labels.shape == (len(dataset),) and dataset.labels.dtype == np.int32
        assert dataset.images.flags.c_contiguous
        assert 0.0 <= dataset.images.min() and dataset.images.max() <= 1.0
        assert (dataset.name, dataset.split) == ("cifar10", split)
        assert "not MD5-verified" in dataset.source and str(tmp_path / "cifar10") in dataset.source
    # The pixel set by hand: R, G, B at [image, row, column, :].
    index = TRAIN_N * (int(PIXEL_BATCH[-1]) - 1) + PIXEL_IMAGE
    np.testing.assert_array_equal(
        train.images[index, PIXEL_ROW, PIXEL_COL], np.array(PIXEL_RGB, np.float32) / np.float32(255)
    )
    # Every pixel: channel c of image i is the c-th 1024 values of its row, row-major.
    order = [f"data_batch_{i}" for i in range(1, 6)]
    raw = np.concatenate([batches[name][0] for name in order])
    for channel in range(3):
        plane = raw[:, channel * 1024 : (channel + 1) * 1024].reshape(-1, 32, 32)
        np.testing.assert_array_equal(train.images[..., channel], plane.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(train.labels, np.concatenate([batches[name][1] for name in order]))
    np.testing.assert_array_equal(test.labels, batches["test_batch"][1])
    np.testing.assert_array_equal(
        np.rint(test.images * 255), batches["test_batch"][0].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    )


@pytest.mark.parametrize("labels_as", ["ints", "numpy ints", "array"])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_python3_pickles_load(tmp_path, protocol, labels_as):
    pixels, labels = make_batches()["test_batch"]
    stored = {"ints": labels, "numpy ints": list(np.array(labels, np.int64)), "array": np.array(labels, np.uint8)}[
        labels_as
    ]
    blob = pickle.dumps({b"data": pixels, b"labels": stored}, protocol=protocol)
    write_folder(tmp_path / "cifar10" / cifar.MEMBER_FOLDER, {"test_batch": blob})
    test = data.load_cifar10("test", root=tmp_path)
    np.testing.assert_array_equal(np.rint(test.images[:, 0, 0, 0] * 255), pixels[:, 0])
    np.testing.assert_array_equal(test.labels, labels)


def test_load_dataset_and_adprf_data(tmp_path, monkeypatch):
    write_layout(tmp_path, "tarball", standard_blobs())
    assert len(data.load_dataset("cifar10", "test", root=tmp_path)) == TEST_N
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path))
    assert data.cifar10_available()
    assert len(data.load_dataset("cifar10", "train")) == 5 * TRAIN_N
    with pytest.raises(ValueError, match="split"):
        data.load_cifar10("validation", root=tmp_path)


def test_dataset_accepts_channel_last_images():
    labels = np.zeros(2, np.int32)
    assert data.Dataset(np.zeros((2, 32, 32, 3), np.float32), labels, "cifar10", "test", "-").images.ndim == 4
    assert data.Dataset(np.zeros((2, 28, 28), np.float32), labels, "mnist", "test", "-").images.ndim == 3
    for shape in ((2, 784), (2, 1, 32, 32, 3), (3, 32, 32, 3)):
        with pytest.raises(ValueError, match="do not match"):
            data.Dataset(np.zeros(shape, np.float32), labels, "x", "test", "-")


def test_folder_preferred_over_tarball(tmp_path):
    blobs = standard_blobs(seed=1)
    del blobs["test_batch"]
    folder = write_layout(tmp_path, "folder", blobs)
    tarball = write_layout(tmp_path, "tarball", standard_blobs(seed=0))
    train = data.load_cifar10("train", root=tmp_path)
    assert str(folder) in train.source and str(tarball) not in train.source
    np.testing.assert_array_equal(
        np.rint(train.images[:TRAIN_N, 0, 0, 0] * 255), make_batches(1)["data_batch_1"][0][:, 0]
    )
    # The folder lacks test_batch: the tarball has it.
    test = data.load_cifar10("test", root=tmp_path)
    assert str(tarball) in test.source
    np.testing.assert_array_equal(np.rint(test.images[:, 0, 0, 0] * 255), make_batches(0)["test_batch"][0][:, 0])


def test_missing(tmp_path):
    directory = tmp_path / "cifar10"
    assert not data.cifar10_available(tmp_path)
    with pytest.raises(data.DataError) as error:
        data.load_cifar10("train", root=tmp_path)
    assert str(error.value) == (
        f"CIFAR-10 not found in {directory}: run `adprf data fetch cifar10` (163 MiB), or copy "
        f"cifar-10-python.tar.gz (or its extracted cifar-10-batches-py/ folder) there, or set ADPRF_DATA"
    )


def test_partial_folder(tmp_path):
    blobs = standard_blobs()
    del blobs["test_batch"]
    write_layout(tmp_path, "folder", blobs)
    assert not data.cifar10_available(tmp_path)
    assert len(data.load_cifar10("train", root=tmp_path)) == 5 * TRAIN_N
    with pytest.raises(data.DataError, match="not found") as error:
        data.load_cifar10("test", root=tmp_path)
    assert "cifar-10-batches-py/ lacks test_batch" in str(error.value)
    (tmp_path / "cifar10" / cifar.MEMBER_FOLDER / "test_batch").write_bytes(b"")
    assert data.cifar10_available(tmp_path)


def test_available_with_tarball_only(tmp_path):
    write_layout(tmp_path, "tarball", standard_blobs())
    assert data.cifar10_available(tmp_path)
    assert not data.cifar10_available(tmp_path / "elsewhere")


# Damaged and wrong files


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_tarball(tmp_path, keep):
    tarball = write_layout(tmp_path, "tarball", standard_blobs())
    blob = tarball.read_bytes()
    tarball.write_bytes(blob[: int(len(blob) * keep)])
    with pytest.raises(data.DataError, match="truncated") as error:
        data.load_cifar10("test", root=tmp_path)
    assert str(tarball) in str(error.value) and "adprf data fetch cifar10" in str(error.value)


@pytest.mark.parametrize("damage", ["middle", "crc", "not-gzip"])
def test_corrupt_tarball(tmp_path, damage):
    tarball = write_layout(tmp_path, "tarball", standard_blobs())
    blob = bytearray(tarball.read_bytes())
    if damage == "middle":
        blob[len(blob) // 2 : len(blob) // 2 + 64] = bytes(64)
    elif damage == "crc":
        blob[-8] ^= 0xFF  # the gzip trailer's CRC-32
    else:
        blob = bytearray(b"<html>404 Not Found</html>" * 100)
    tarball.write_bytes(bytes(blob))
    with pytest.raises(data.DataError) as error:
        data.load_cifar10("train", root=tmp_path)
    assert str(tarball) in str(error.value) and "adprf data fetch cifar10" in str(error.value)


def _mutations():
    pixels, labels = make_batches()["test_batch"]
    good = {b"data": pixels, b"labels": labels}
    return {
        "wrong shape": (
            py2_pickle({**good, b"data": pixels[:, :3000]}),
            r"uint8 of shape \(k, 3072\), found uint8 \(5, 3000\)",
        ),
        "float pixels": (
            py2_pickle({**good, b"data": pixels.astype(np.float32)}),
            r"uint8 of shape \(k, 3072\), found float32",
        ),
        "label 10": (py2_pickle({**good, b"labels": [0, 1, 2, 3, 10]}), r"labels range over 0..10, expected 0..9"),
        "label -1": (py2_pickle({**good, b"labels": [0, -1, 2, 3, 4]}), r"labels range over -1..4"),
        "label count": (py2_pickle({**good, b"labels": labels[:-1]}), "5 images but 4 labels"),
        "float labels": (py2_pickle({**good, b"labels": [0.0, 1.5, 2.0, 3.0, 4.0]}), "list of ints"),
        "ragged labels": (py2_pickle({**good, b"labels": [0, [1, 2], 2, 3, 4]}), "list of ints"),
        "no labels": (py2_pickle({b"data": pixels}), "keys b'data' and b'labels'"),
        "str keys": (
            pickle.dumps({"data": pixels, "labels": labels}),
            "keys b'data' and b'labels', found keys 'data', 'labels'",
        ),
        "not a dict": (py2_pickle([pixels, labels]), "keys b'data' and b'labels', found list"),
        "truncated pickle": (py2_pickle(good)[:-100], "not a readable CIFAR-10 batch"),
        "trailing bytes": (py2_pickle(good) + b"junk", "4 bytes follow the pickled batch"),
        "not a pickle": (b"\x00" * 100, "not a readable CIFAR-10 batch"),
    }


@pytest.mark.parametrize("layout", ["tarball", "folder"])
@pytest.mark.parametrize("mutation", list(_mutations()))
def test_bad_batch(tmp_path, layout, mutation):
    blob, message = _mutations()[mutation]
    write_layout(tmp_path, layout, {**standard_blobs(), "test_batch": blob})
    assert len(data.load_cifar10("train", root=tmp_path)) == 5 * TRAIN_N  # the other batches are fine
    with pytest.raises(data.DataError, match=message) as error:
        data.load_cifar10("test", root=tmp_path)
    assert str(error.value).startswith(where(tmp_path, layout, "test_batch") + ": ")
    assert "adprf data fetch cifar10" in str(error.value)


class _Payload:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return os.mkdir, (str(self.path),)


@pytest.mark.parametrize("layout", ["tarball", "folder"])
def test_pickled_code_is_not_run(tmp_path, layout):
    marker = tmp_path / "pwned"
    blob = pickle.dumps({b"data": _Payload(marker), b"labels": []}, protocol=2)
    write_layout(tmp_path, layout, {"test_batch": blob})
    with pytest.raises(data.DataError, match="refusing to load global .*mkdir"):
        data.load_cifar10("test", root=tmp_path)
    assert not marker.exists()
    assert pickle.loads(blob)[b"data"] is None and marker.is_dir()  # what plain pickle.loads does


def test_tarball_members(tmp_path):
    blobs = standard_blobs()
    escape = tarfile.TarInfo("../escape")
    escape.size = 3
    absolute = tarfile.TarInfo(str(tmp_path / "absolute"))
    absolute.size = 3
    del blobs["data_batch_4"]
    tarball = write_tarball(tmp_path / "cifar10" / cifar.TARBALL, blobs, extra=(escape, absolute))
    assert len(data.load_cifar10("test", root=tmp_path)) == TEST_N  # unexpected members are ignored
    assert not (tmp_path / "escape").exists() and not (tmp_path / "cifar10" / "escape").exists()
    assert not (tmp_path / "absolute").exists()
    assert sorted(path.name for path in (tmp_path / "cifar10").iterdir()) == [cifar.TARBALL]  # nothing extracted
    with pytest.raises(data.DataError, match="no member cifar-10-batches-py/data_batch_4 in the archive") as error:
        data.load_cifar10("train", root=tmp_path)
    assert str(tarball) in str(error.value)


def test_tarball_member_not_a_regular_file(tmp_path):
    blobs = standard_blobs()
    del blobs["test_batch"]
    link = tarfile.TarInfo("cifar-10-batches-py/test_batch")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    write_tarball(tmp_path / "cifar10" / cifar.TARBALL, blobs, extra=(link,))
    with pytest.raises(data.DataError, match="member cifar-10-batches-py/test_batch is not a regular file"):
        data.load_cifar10("test", root=tmp_path)


def test_tarball_duplicate_member(tmp_path):
    blobs = standard_blobs()
    again = tarfile.TarInfo("cifar-10-batches-py/test_batch")
    again.size = 10
    write_tarball(tmp_path / "cifar10" / cifar.TARBALL, blobs, extra=(again,))
    with pytest.raises(data.DataError, match="appears twice"):
        data.load_cifar10("test", root=tmp_path)


# Checksum policy


def test_standard_size_tarball_is_md5_checked(tmp_path, monkeypatch):
    tarball = write_layout(tmp_path, "tarball", standard_blobs())
    monkeypatch.setattr(cifar, "TARBALL_SIZE", tarball.stat().st_size)
    monkeypatch.setattr(cifar, "TARBALL_MD5", md5(tarball))
    test = data.load_cifar10("test", root=tmp_path)
    assert test.source == f"CIFAR-10 {tarball} (MD5-verified)"
    monkeypatch.setattr(cifar, "TARBALL_MD5", "0" * 32)
    with pytest.raises(data.DataError, match="checksum mismatch") as error:
        data.load_cifar10("test", root=tmp_path)
    assert str(tarball) in str(error.value) and "adprf data fetch cifar10" in str(error.value)


def _register_folder(monkeypatch, folder: Path) -> None:
    """Register the batch files in `folder` as the standard ones (their sizes and MD5s)."""
    registry = {
        name: cifar.BatchFile(name, md5(folder / name), (folder / name).stat().st_size) for name in cifar.BATCH_FILES
    }
    monkeypatch.setattr(cifar, "BATCH_FILES", registry)


def test_standard_size_batches_are_md5_checked(tmp_path, monkeypatch):
    folder = write_layout(tmp_path, "folder", standard_blobs())
    _register_folder(monkeypatch, folder)
    assert "(MD5-verified)" in data.load_cifar10("train", root=tmp_path).source
    # One batch of another size: structural checks only.
    path = folder / "data_batch_3"
    pixels, labels = make_batches()["data_batch_3"]
    path.write_bytes(batch_blob(pixels[:6], labels[:6]))
    train = data.load_cifar10("train", root=tmp_path)
    assert len(train) == 5 * TRAIN_N - 1 and "not MD5-verified" in train.source
    # The standard size with other content: rejected.
    blob = bytearray(batch_blob(pixels, labels))
    blob[len(blob) // 2] ^= 1  # a pixel value
    path.write_bytes(bytes(blob))
    with pytest.raises(data.DataError, match="checksum mismatch") as error:
        data.load_cifar10("train", root=tmp_path)
    assert str(error.value).startswith(f"{path}: ")


def test_registry():
    assert cifar.TARBALL == "cifar-10-python.tar.gz"
    assert (cifar.TARBALL_MD5, cifar.TARBALL_SIZE) == ("c58f30108f718f92721af3b95e74349a", 170_498_071)
    assert cifar.BASE_URLS[0] + cifar.TARBALL == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert [spec.md5 for spec in cifar.BATCH_FILES.values()] == [
        "c99cafc152244af753f735de768cd75f",
        "d4bba439e000b95fd0a9bffe97cbabec",
        "54ebc095f3ab1f0389bbae665268c751",
        "634d18415352ddfa80567beed471001a",
        "482c414d41f54cd18b22e5b47cb7c3cb",
        "40351d587109b95175f43aff81a1287e",
    ]
    assert [spec.size for spec in cifar.BATCH_FILES.values()] == [
        31_035_704,
        31_035_320,
        31_035_999,
        31_035_696,
        31_035_623,
        31_035_526,
    ]
    assert cifar.SPLIT_BATCHES == {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}


# fetch


def test_fetch_from_file_mirror_is_idempotent(mirror, tmp_path):
    folder, digest = mirror
    root = tmp_path / "root"
    directory = data.fetch_cifar10(root=root, base_urls=[folder.as_uri()], md5=digest, progress=False)
    assert directory == root / "cifar10"
    assert [path.name for path in directory.iterdir()] == [cifar.TARBALL]
    assert (directory / cifar.TARBALL).read_bytes() == (folder / cifar.TARBALL).read_bytes()
    assert len(data.load_cifar10("train", root=root)) == 5 * TRAIN_N
    stamp = (directory / cifar.TARBALL).stat().st_mtime_ns
    # Present and verified: no download is tried, so an unreachable mirror is fine.
    assert data.fetch_cifar10(root=root, base_urls=[UNREACHABLE], md5=digest, progress=False) == directory
    assert (directory / cifar.TARBALL).stat().st_mtime_ns == stamp
    with pytest.raises(data.DataError, match="could not download"):
        data.fetch_cifar10(root=root, base_urls=[UNREACHABLE], md5=digest, force=True, timeout=5, progress=False)
    assert (directory / cifar.TARBALL).stat().st_mtime_ns == stamp  # a failed download keeps the file
    assert [path.name for path in directory.iterdir()] == [cifar.TARBALL]


def test_fetch_replaces_unverified_tarball(mirror, tmp_path):
    folder, digest = mirror
    stale = tmp_path / "cifar10" / cifar.TARBALL
    stale.parent.mkdir()
    stale.write_bytes(b"garbage")
    data.fetch_cifar10(
        root=tmp_path, base_urls=[UNREACHABLE, folder.as_uri() + "/"], md5=digest, timeout=5, progress=False
    )
    assert stale.read_bytes() == (folder / cifar.TARBALL).read_bytes()


def test_fetch_skips_verified_folder(tmp_path, monkeypatch):
    folder = write_layout(tmp_path, "folder", standard_blobs())
    _register_folder(monkeypatch, folder)
    assert data.fetch_cifar10(root=tmp_path, base_urls=[UNREACHABLE], progress=False) == tmp_path / "cifar10"
    (folder / "test_batch").write_bytes(b"other")
    with pytest.raises(data.DataError, match="could not download"):
        data.fetch_cifar10(root=tmp_path, base_urls=[UNREACHABLE], timeout=5, progress=False)


def test_fetch_wrong_md5_leaves_nothing(mirror, tmp_path):
    folder, _ = mirror
    with pytest.raises(data.DataError, match="failed the MD5 check") as error:
        data.fetch_cifar10(root=tmp_path, base_urls=[folder.as_uri()], md5="0" * 32, progress=False)
    message = str(error.value)
    assert "could not download a valid cifar-10-python.tar.gz for CIFAR-10" in message
    assert "expected " + "0" * 32 in message
    assert list((tmp_path / "cifar10").iterdir()) == []


def test_fetch_offline(tmp_path):
    with pytest.raises(data.DataError) as error:
        data.fetch_cifar10(root=tmp_path, base_urls=[UNREACHABLE], timeout=5, progress=False)
    message = str(error.value)
    assert "could not download cifar-10-python.tar.gz for CIFAR-10" in message and "offline" in message
    assert UNREACHABLE + cifar.TARBALL in message
    assert (
        f"copy cifar-10-python.tar.gz (or its extracted cifar-10-batches-py/ folder) into {tmp_path / 'cifar10'}"
        in message
    )
    assert "ADPRF_DATA" in message
    assert list((tmp_path / "cifar10").iterdir()) == []


def test_generic_fetch_points_to_fetch_cifar10():
    with pytest.raises(ValueError, match="fetch_cifar10"):
        data.fetch("cifar10")


# Command line


def test_cli_fetch_offline(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cifar, "BASE_URLS", (UNREACHABLE,))
    assert main(["data", "fetch", "cifar10", "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("adprf: error: could not download cifar-10-python.tar.gz for CIFAR-10")
    assert "offline" in err and str(tmp_path / "cifar10") in err


def test_cli_fetch_and_info(mirror, tmp_path, monkeypatch, capsys):
    folder, digest = mirror
    monkeypatch.setattr(cifar, "BASE_URLS", (folder.as_uri(),))
    monkeypatch.setattr(cifar, "TARBALL_MD5", digest)
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path / "data"))
    assert main(["data", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        "  cifar10        absent: no cifar-10-python.tar.gz or cifar-10-batches-py/ batches in "
        f"{tmp_path / 'data' / 'cifar10'}" in lines
    )
    assert main(["data", "fetch", "cifar10"]) == 0
    assert f"cifar10: verified files in {tmp_path / 'data' / 'cifar10'}" in capsys.readouterr().out
    assert main(["data", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    tarball = tmp_path / "data" / "cifar10" / cifar.TARBALL
    assert (
        f"  cifar10        present: {5 * TRAIN_N} train / {TEST_N} test images, structure checked, "
        "non-standard size, not MD5-verified" in lines
    )
    assert (
        f"                 {tarball} ({tarball.stat().st_size:,} bytes): structure checked, "
        "non-standard size, not MD5-verified" in lines
    )


def test_cli_unknown_data_set_lists_cifar10(capsys):
    with pytest.raises(SystemExit) as error:
        main(["data", "fetch", "cifar-100"])
    assert error.value.code == 2
    assert "choose from mnist, fashion-mnist, cifar10" in capsys.readouterr().err
