"""Issue 12, case 8: files already in the data folder, and a data folder that is a file.

Before: every file was read whole before any check (a 2 MB gzip bomb cost 4.2 GB),
already gunzipped files with the right content were called "not a valid gzip file" with
the advice "Delete it", and ``CNNLIB_DATA_DIR`` pointing at a file gave "Cannot create
the directory ... File exists". Peak memory is measured in a fresh process.
"""
import gzip
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest

from cnnlib import data, download
from cnnlib.data import DATA_DIR_ENV, MNIST_FILES, MNISTError, load_mnist, read_idx
from cnnlib.download import fetch_mnist

from conftest import ROOT

MEMORY_LIMIT = 100 * 2**20


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()


@pytest.fixture
def small_files(monkeypatch):
    """Four tiny MNIST-shaped files (name -> content), with MNIST_FILES pointed at their hashes."""
    rng = np.random.default_rng(0)
    contents = {"train-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (5, 28, 28))),
                "train-labels-idx1-ubyte.gz": idx_bytes(rng.integers(0, 10, 5)),
                "t10k-images-idx3-ubyte.gz": idx_bytes(rng.integers(0, 256, (3, 28, 28))),
                "t10k-labels-idx1-ubyte.gz": idx_bytes(rng.integers(0, 10, 3))}
    monkeypatch.setattr(data, "MNIST_FILES", {n: hashlib.sha256(c).hexdigest() for n, c in contents.items()})
    monkeypatch.setattr(download, "MNIST_MIRRORS", ("http://127.0.0.1:9/nowhere/",))
    return contents


# ---------------------------------------------------------------------------- gunzipped copies

def test_gunzipped_files_still_called_gz_are_recognised_and_used(tmp_path, small_files):
    for name, content in small_files.items():
        (tmp_path / name).write_bytes(content)                  # a browser gunzipped them on the way
    (x_train, y_train), (x_test, y_test) = load_mnist("full", data_dir=tmp_path, download=False)
    assert x_train.shape == (5, 28, 28) and y_test.shape == (3,)
    np.testing.assert_array_equal(x_train.reshape(-1), np.frombuffer(small_files["train-images-idx3-ubyte.gz"][16:],
                                                                     np.uint8))
    assert sorted(os.listdir(tmp_path)) == sorted(small_files)  # nothing renamed, nothing deleted


def test_gunzipped_files_without_the_gz_suffix_are_used(tmp_path, small_files):
    for name, content in small_files.items():
        (tmp_path / name[:-3]).write_bytes(content)             # train-images-idx3-ubyte, as gunzip leaves it
    fetch_mnist(tmp_path, download=False)                       # no "file not found"
    (x_train, y_train), _ = load_mnist("full", data_dir=tmp_path, download=False)
    np.testing.assert_array_equal(y_train, np.frombuffer(small_files["train-labels-idx1-ubyte.gz"][8:], np.uint8))


def test_a_wrong_gunzipped_file_is_explained_without_telling_to_delete_it(tmp_path, small_files):
    for name, content in small_files.items():
        (tmp_path / name).write_bytes(gzip.compress(content))
    other = tmp_path / "t10k-labels-idx1-ubyte.gz"
    other.write_bytes(idx_bytes([1, 2, 3]))                     # plain IDX, but other numbers
    with pytest.raises(MNISTError, match="is not the expected file: the SHA-256 of its content") as error:
        load_mnist("full", data_dir=tmp_path, download=False)
    message = str(error.value)
    assert str(other) in message and "Replace it with a good copy" in message
    assert "Delete" not in message and "not a valid gzip" not in message
    assert other.read_bytes() == idx_bytes([1, 2, 3])


# ---------------------------------------------------------------------------- gzip bombs

LOAD_AND_MEASURE = textwrap.dedent("""
    import json, resource, sys, tracemalloc
    from cnnlib.data import MNISTError, load_mnist
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        load_mnist("full", data_dir=sys.argv[1], download=False, progress=False)
        outcome = "loaded"
    except MNISTError as error:
        outcome = "MNISTError: " + str(error)
    peak = tracemalloc.get_traced_memory()[1]
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024
    print(json.dumps({"outcome": outcome, "traced_peak": peak, "rss_growth": grown}))
""")


def gzip_bomb(path, header, n_zero_bytes):
    """``header`` then ``n_zero_bytes`` zeros, gzipped (level 1, so it is quick to make)."""
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(header)
        block = bytes(1 << 20)
        for _ in range(n_zero_bytes >> 20):
            f.write(block)
    return path


def idx_header(*shape):
    return bytes([0, 0, 0x08, len(shape)]) + b"".join(n.to_bytes(4, "big") for n in shape)


@pytest.mark.parametrize("header, words", [
    (idx_header(60000, 28, 28), "is corrupt: its header promises 47040000 bytes of data (shape (60000, 28, 28)), "
                                "but it holds more"),
    (idx_header(1_000_000, 28, 28), "is not an MNIST file: its header promises 784,000,000 bytes of data"),
    (idx_header(4_000_000_000, 28, 28), "is not an MNIST file: its header promises"),
    (b"", "has magic number 00 00 00 00: expected 00 00 08 01 (labels) or 00 00 08 03 (images)"),
], ids=["right-header-then-more", "header-promises-too-much", "header-promises-terabytes", "no-header"])
def test_a_gzip_bomb_in_the_data_folder_is_refused_with_little_memory(tmp_path, header, words):
    bomb = gzip_bomb(tmp_path / "train-images-idx3-ubyte.gz", header, 512 << 20)   # 512 MB of zeros
    assert bomb.stat().st_size < 4 * 2**20
    for name in MNIST_FILES:                                    # the other three: never reached
        if name != bomb.name:
            (tmp_path / name).write_bytes(gzip.compress(idx_header(0)))
    done = subprocess.run([sys.executable, "-c", LOAD_AND_MEASURE, str(tmp_path)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["outcome"].startswith("MNISTError") and words in result["outcome"], result
    assert str(bomb) in result["outcome"]
    assert result["traced_peak"] < MEMORY_LIMIT and result["rss_growth"] < MEMORY_LIMIT, result


def test_read_idx_checks_before_it_allocates(tmp_path, monkeypatch):
    """The array is allocated only after the streaming pass verified the file."""
    content = idx_bytes(np.arange(50) % 10)
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(content))
    allocations = []
    real_empty = np.empty
    monkeypatch.setattr(np, "empty", lambda *a, **k: allocations.append(a) or real_empty(*a, **k))
    with pytest.raises(MNISTError, match="SHA-256"):
        read_idx(path, sha256="0" * 64)
    assert allocations == []
    np.testing.assert_array_equal(read_idx(path, sha256=hashlib.sha256(content).hexdigest()), np.arange(50) % 10)
    assert len(allocations) == 1


def test_a_corrupt_deflate_stream_is_still_called_a_bad_gzip(tmp_path):
    raw = bytearray(gzip.compress(idx_bytes(np.arange(200) % 10)))
    raw[12:40] = b"\xff" * 28
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(bytes(raw))
    with pytest.raises(MNISTError, match="not a valid gzip file, or is truncated"):
        read_idx(path)
    with pytest.raises((EOFError, zlib.error, OSError)):       # (the file really is broken)
        gzip.decompress(bytes(raw))


# ---------------------------------------------------------------------------- the folder is a file

def test_a_data_dir_that_is_a_file_gets_a_clear_error(tmp_path, monkeypatch):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    monkeypatch.setenv(DATA_DIR_ENV, str(a_file))
    with pytest.raises(MNISTError) as error:
        load_mnist("full", progress=False)
    message = str(error.value)
    assert f"{a_file} (given by ${DATA_DIR_ENV}) is a file, not a folder" in message
    assert "File exists" not in message and "Cannot create" not in message
    assert a_file.read_text() == "not a folder"


def test_pointing_at_one_of_the_mnist_files_names_its_folder(tmp_path, monkeypatch):
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(b"whatever")
    monkeypatch.setenv(DATA_DIR_ENV, str(images))
    with pytest.raises(MNISTError, match=f"that is one of the MNIST files; its folder is {tmp_path}"):
        load_mnist("full", progress=False, download=False)
