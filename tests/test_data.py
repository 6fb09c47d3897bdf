"""Tests for cnnlib.data and cnnlib.download: the bundled sample, the IDX parser, the downloader, full MNIST.

The downloader is tested against a local HTTP server on 127.0.0.1 serving small files
made here; an autouse fixture points the default mirrors at a closed loopback port and
clears proxy variables, so no test can reach any other address (both from tests/servers.py).
"""

import gzip
import hashlib
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from servers import QuietHandler, closed_port, idx_bytes, keep_downloads_local, server_fixture

from cnnlib import data, download
from cnnlib.data import DATA_DIR_ENV, MNISTError, load_mnist, load_sample, mnist_dir, parse_idx, read_idx
from cnnlib.download import download_file, fetch_mnist

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Whatever a test does, a download can only go to a refused loopback port."""
    keep_downloads_local(monkeypatch)


def sha256(content):
    return hashlib.sha256(content).hexdigest()


def small_mnist(n_train=5, n_test=3, seed=0):
    """Four tiny IDX files in MNIST's layout: file name -> uncompressed content."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train),
              "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test)}
    return {name: idx_bytes(array) for name, array in arrays.items()}


def write_gz(directory, contents):
    for name, content in contents.items():
        (directory / name).write_bytes(gzip.compress(content, mtime=0))


# ---------------------------------------------------------------------------- the sample

def test_sample_shapes_dtypes_and_balance():
    (x_train, y_train), (x_test, y_test) = load_mnist()
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(y_train), np.full(10, 400))
    np.testing.assert_array_equal(np.bincount(y_test), np.full(10, 100))
    # real digits in 0-255, not 0-1 floats cast to uint8: ink in the middle, blank borders
    assert x_train.max() == 255 and 20 < x_train.mean() < 50
    assert x_train[:, 10:18, 10:18].mean() > 80 and x_train[:, :2].mean() < 1
    assert x_train.flags.writeable and y_train.flags.writeable


def test_sample_train_and_test_are_disjoint_and_have_no_duplicates():
    (x_train, _), (x_test, _) = load_mnist("sample")
    train = {image.tobytes() for image in x_train}
    test = {image.tobytes() for image in x_test}
    assert len(train) == 4000 and len(test) == 1000
    assert not train & test


def test_sample_is_deterministic_and_matches_its_hash():
    first, second = load_mnist(), load_mnist()
    for a, b in zip([*first[0], *first[1]], [*second[0], *second[1]]):
        np.testing.assert_array_equal(a, b)
    arrays = dict(zip(data.SAMPLE_ARRAYS, [*first[0], *first[1]]))
    assert data.arrays_sha256(arrays) == data.SAMPLE_SHA256
    # the training set is shuffled, so a mini-batch holds many digits, not a run of one
    assert len(np.unique(first[0][1][:32])) >= 6


def test_sample_missing_gives_clear_error(tmp_path, monkeypatch):
    missing = tmp_path / "mnist_sample.npz"
    monkeypatch.setattr(data, "SAMPLE_PATH", missing)
    with pytest.raises(MNISTError, match="missing") as info:
        load_mnist()
    assert str(missing) in str(info.value) and "build_sample.py" in str(info.value)


def test_sample_corrupt_bytes_give_clear_error(tmp_path, monkeypatch):
    corrupt = tmp_path / "mnist_sample.npz"
    raw = bytearray(data.SAMPLE_PATH.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)  # zero a stretch of compressed data
    corrupt.write_bytes(bytes(raw))
    monkeypatch.setattr(data, "SAMPLE_PATH", corrupt)
    with pytest.raises(MNISTError, match="corrupt") as info:
        load_mnist()
    assert str(corrupt) in str(info.value) and "git checkout" in str(info.value)
    corrupt.write_bytes(b"not a zip file at all")
    with pytest.raises(MNISTError, match="corrupt"):
        load_sample(corrupt)


def test_sample_with_changed_pixel_fails_its_hash(tmp_path):
    (x_train, y_train), (x_test, y_test) = load_sample()
    x_train[0, 14, 14] ^= 1  # one pixel, one bit: a valid npz, the wrong data
    altered = tmp_path / "altered.npz"
    np.savez_compressed(altered, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    with pytest.raises(MNISTError, match="SHA-256"):
        load_sample(altered)


def _build_sample_module():
    script = REPO_ROOT / "resources" / "build_sample.py"
    spec = importlib.util.spec_from_file_location("build_sample", script)
    build_sample = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_sample)
    return build_sample


def test_build_sample_draws_stratified_distinct_and_seeded():
    build_sample = _build_sample_module()
    labels = np.repeat(np.arange(10), 7)  # (70,)
    chosen = build_sample.draw_stratified(labels, 2, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(labels[chosen]), np.full(10, 2))
    assert len(np.unique(chosen)) == len(chosen) == 20
    assert not np.all(np.diff(labels[chosen]) >= 0)          # shuffled: batches mix the digits
    np.testing.assert_array_equal(chosen, build_sample.draw_stratified(labels, 2, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="digit 3 has 1 images, need 2"):
        build_sample.draw_stratified(np.array([0, 0, 1, 1, 2, 2, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]), 2,
                                     np.random.default_rng(0))


def test_build_sample_takes_its_test_images_from_the_test_set():
    build_sample = _build_sample_module()
    rng = np.random.default_rng(1)
    n_train, n_test = 10 * (build_sample.N_TRAIN_PER_CLASS + 1), 10 * (build_sample.N_TEST_PER_CLASS + 1)
    x_train = np.full((n_train, 28, 28), 1, dtype=np.uint8)     # training images are all 1s,
    x_test = np.full((n_test, 28, 28), 2, dtype=np.uint8)       # test images all 2s
    y_train, y_test = rng.permutation(np.arange(n_train) % 10), rng.permutation(np.arange(n_test) % 10)
    arrays = build_sample.build(((x_train, y_train), (x_test, y_test)))
    assert arrays["x_train"].shape == (4000, 28, 28) and arrays["x_test"].shape == (1000, 28, 28)
    assert np.all(arrays["x_test"] == 2) and np.all(arrays["x_train"] == 1)


@pytest.mark.slow
def test_the_bundled_sample_is_a_stratified_draw_of_full_mnist():
    """Rebuilding from the full MNIST gives exactly the arrays that ship (and their hash)."""
    from cnnlib.data import SAMPLE_SHA256, arrays_sha256
    build_sample = _build_sample_module()
    arrays = build_sample.build(load_mnist("full", data_dir=full_mnist_dir(), download=False, progress=False))
    assert arrays_sha256(arrays) == SAMPLE_SHA256
    assert np.bincount(arrays["y_train"]).tolist() == [400] * 10
    assert np.bincount(arrays["y_test"]).tolist() == [100] * 10


def test_unknown_dataset_name_suggests_the_right_one():
    with pytest.raises(ValueError, match=r"Unknown MNIST dataset 'fulll'.*Did you mean 'full'"):
        load_mnist("fulll")
    with pytest.raises(ValueError, match="'sample', 'full'"):
        load_mnist("cifar10")


# ---------------------------------------------------------------------------- the IDX parser

def test_read_idx_round_trip_gz_and_raw(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28) % 251
    (tmp_path / "images.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (tmp_path / "labels.idx").write_bytes(idx_bytes([3, 1, 4, 1, 5]))
    np.testing.assert_array_equal(read_idx(tmp_path / "images.gz"), images)
    labels = read_idx(tmp_path / "labels.idx", sha256=sha256(idx_bytes([3, 1, 4, 1, 5])))
    np.testing.assert_array_equal(labels, [3, 1, 4, 1, 5])
    assert labels.dtype == np.uint8 and labels.flags.writeable


@pytest.mark.parametrize("content, message", [
    (idx_bytes(np.zeros((3, 28, 28)))[:-100], r"truncated: .* promises 2352 bytes .* holds 2252"),
    (idx_bytes([1, 2, 3]) + b"\x00", "corrupt: its header promises 3 bytes"),
    (bytes([0, 0, 8, 3, 0, 0]), "ends inside its 16-byte header"),
    (b"\x00\x00", "not an IDX file"),
    (b"PK\x03\x04" + bytes(20), "not an IDX file"),
    (bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + bytes(4), r"magic number 00 00 0d 01"),  # float32 data
    (bytes([0, 0, 0x08, 0]), r"magic number 00 00 08 00"),
], ids=["truncated", "trailing-bytes", "short-header", "tiny", "zip-not-idx", "float-dtype",
        "zero-dims"])
def test_read_idx_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(content))
    with pytest.raises(MNISTError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def gz_truncated(content):
    return gzip.compress(content)[:-12]


def gz_bad_deflate(content):
    raw = bytearray(gzip.compress(content))
    raw[12:40] = b"\xff" * 28
    return bytes(raw)


def gz_bad_crc(content):
    raw = bytearray(gzip.compress(content))
    raw[-8] ^= 0xFF  # the CRC-32 of the trailer
    return bytes(raw)


@pytest.mark.parametrize("corrupt", [gz_truncated, gz_bad_deflate, gz_bad_crc, lambda c: b"hello"],
                         ids=["truncated", "bad-deflate", "bad-crc", "not-gzip"])
def test_read_idx_corrupt_gzip_is_a_clear_error_and_the_file_is_kept(tmp_path, corrupt):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(corrupt(idx_bytes(np.arange(200) % 10)))
    with pytest.raises(MNISTError, match="not a valid gzip file, or is truncated") as info:
        read_idx(path)
    assert str(path) in str(info.value) and "re-download" in str(info.value)
    assert path.exists()  # it may be the user's own copy: we say what to do, we do not delete


def test_parse_idx_returns_the_header_shape():
    array = parse_idx(idx_bytes(np.ones((4, 2, 3))))
    assert array.shape == (4, 2, 3) and array.dtype == np.uint8


# ---------------------------------------------------------------------------- "full" on small files

@pytest.fixture
def small_files(monkeypatch):
    """Small MNIST-shaped files, and MNIST_FILES pointed at their hashes."""
    contents = small_mnist()
    monkeypatch.setattr(data, "MNIST_FILES", {name: sha256(c) for name, c in contents.items()})
    return contents


def test_load_full_from_a_directory(tmp_path, small_files):
    write_gz(tmp_path, small_files)
    (x_train, y_train), (x_test, y_test) = load_mnist("full", data_dir=tmp_path, download=False)
    assert x_train.shape == (5, 28, 28) and x_test.shape == (3, 28, 28)
    assert x_train.dtype == np.uint8 and y_train.dtype == y_test.dtype == np.int64
    np.testing.assert_array_equal(y_train, parse_idx(small_files["train-labels-idx1-ubyte.gz"]))


def test_load_full_reads_the_env_var(tmp_path, small_files, monkeypatch):
    write_gz(tmp_path, small_files)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    (x_train, _), _ = load_mnist("full", download=False)
    assert x_train.shape == (5, 28, 28)


def test_image_and_label_counts_must_match(tmp_path, monkeypatch):
    contents = small_mnist()
    contents["t10k-labels-idx1-ubyte.gz"] = idx_bytes([1, 2])  # 3 test images, 2 labels
    monkeypatch.setattr(data, "MNIST_FILES", {name: sha256(c) for name, c in contents.items()})
    write_gz(tmp_path, contents)
    with pytest.raises(MNISTError, match="3 images but t10k-labels-idx1-ubyte.gz holds 2 labels"):
        load_mnist("full", data_dir=tmp_path, download=False)


@pytest.mark.parametrize("name, array, message", [
    ("train-images-idx3-ubyte.gz", np.zeros((5, 27, 28)), r"28x28 images, .*\(5, 27, 28\)"),
    ("train-labels-idx1-ubyte.gz", np.zeros((5, 1, 1)), r"one label per image, .*\(5, 1, 1\)"),
    ("train-labels-idx1-ubyte.gz", [0, 1, 2, 3, 10], "a label 10"),
], ids=["image-size", "label-dims", "label-range"])
def test_load_full_checks_dimensions_and_labels(tmp_path, monkeypatch, name, array, message):
    contents = small_mnist()
    contents[name] = idx_bytes(array)
    monkeypatch.setattr(data, "MNIST_FILES", {n: sha256(c) for n, c in contents.items()})
    write_gz(tmp_path, contents)
    with pytest.raises(MNISTError, match=message):
        load_mnist("full", data_dir=tmp_path, download=False)


def test_a_file_on_disk_with_other_content_fails_its_checksum(tmp_path, small_files):
    write_gz(tmp_path, small_files)
    other = tmp_path / "t10k-images-idx3-ubyte.gz"
    other.write_bytes(gzip.compress(idx_bytes(np.ones((3, 28, 28)))))  # valid IDX, wrong numbers
    with pytest.raises(MNISTError, match="is not the expected file: the SHA-256") as info:
        load_mnist("full", data_dir=tmp_path, download=False)
    assert str(other) in str(info.value) and "move it out of the folder" in str(info.value)
    assert "Delete" not in str(info.value)   # an offline user may hold no other copy


def test_download_false_without_files_names_the_directory_and_env_var(tmp_path):
    where = tmp_path / "nowhere"
    with pytest.raises(MNISTError) as info:
        load_mnist("full", data_dir=where, download=False)
    message = str(info.value)
    assert str(where) in message and DATA_DIR_ENV in message and "data_dir" in message
    assert "train-images-idx3-ubyte.gz" in message and "download=False" in message
    assert not where.exists()  # download=False writes nothing, not even the directory


def test_no_network_and_no_files_is_a_clear_error(tmp_path, small_files):
    with pytest.raises(MNISTError, match="Could not download train-images-idx3-ubyte.gz") as info:
        load_mnist("full", data_dir=tmp_path, progress=False)
    message = str(info.value)
    assert str(tmp_path) in message and DATA_DIR_ENV in message and "127.0.0.1" in message
    assert os.listdir(tmp_path) == []


def test_mnist_dir_resolution_order(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert mnist_dir() == tmp_path / "xdg" / "cnnlib" / "mnist"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mnist_dir() == tmp_path / "home" / ".cache" / "cnnlib" / "mnist"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "env"))
    assert mnist_dir() == tmp_path / "env"
    assert mnist_dir(tmp_path / "arg") == tmp_path / "arg"


@pytest.mark.parametrize("system, environ, expected", [
    ("Linux", {}, "H/.cache/cnnlib"),
    ("Linux", {"XDG_CACHE_HOME": "/x"}, "/x/cnnlib"),
    ("Linux", {"XDG_CACHE_HOME": "relative"}, "H/.cache/cnnlib"),
    ("Darwin", {"XDG_CACHE_HOME": "/x"}, "H/Library/Caches/cnnlib"),
    ("Windows", {"LOCALAPPDATA": "/C/Users/ada/AppData/Local"}, "/C/Users/ada/AppData/Local/cnnlib/Cache"),
    ("Windows", {}, "H/AppData/Local/cnnlib/Cache"),
])
def test_user_cache_dir_follows_each_systems_convention(system, environ, expected):
    from cnnlib.data import user_cache_dir
    assert user_cache_dir(system, environ, home="H").as_posix() == expected


# ---------------------------------------------------------------------------- the downloader

class Handler(QuietHandler):
    """/good/NAME serves a file; /missing/ 404s; /cut/ hangs up halfway; /stall/ waits."""

    def do_GET(self):
        self.server.requests.append(self.path)
        route, _, name = self.path.strip("/").partition("/")
        body = self.server.files.get(name)
        if route == "missing" or body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if route == "cut":
            self.wfile.write(body[: len(body) // 2])  # then the connection closes (HTTP/1.0)
        elif route == "stall":
            time.sleep(0.5)
        else:
            self.wfile.write(body)


server = server_fixture(Handler)     # a local HTTP server on 127.0.0.1: .files, .requests, .url


@pytest.fixture
def served(server):
    """One small gzipped IDX file on the server: (server, name, content SHA-256)."""
    content = idx_bytes(np.arange(300) % 10)
    server.files["labels-idx1-ubyte.gz"] = gzip.compress(content)
    return server, "labels-idx1-ubyte.gz", sha256(content)


def test_download_lands_verified_and_is_cached(tmp_path, served):
    server, name, digest = served
    mirrors = [f"{server.url}/good/"]
    for _ in range(2):
        directory = fetch_mnist(tmp_path, mirrors=mirrors, files={name: digest}, progress=False)
    assert directory == tmp_path
    assert server.requests == [f"/good/{name}"]  # the second call found the file
    np.testing.assert_array_equal(read_idx(tmp_path / name, sha256=digest), np.arange(300) % 10)
    assert os.listdir(tmp_path) == [name]  # no temporary files left


@pytest.mark.parametrize("first", ["refused", "404"])
def test_a_mirror_that_is_down_falls_through_to_the_next(tmp_path, served, first):
    server, name, digest = served
    down = f"http://127.0.0.1:{closed_port()}/" if first == "refused" else f"{server.url}/missing/"
    dest = download_file([down + name, f"{server.url}/good/{name}"], tmp_path / name, digest,
                         progress=False)
    assert dest.is_file() and os.listdir(tmp_path) == [name]
    expected = ([f"/missing/{name}"] if first == "404" else []) + [f"/good/{name}"]
    assert server.requests == expected


def test_wrong_checksum_is_a_clear_error_and_leaves_nothing(tmp_path, served):
    server, name, _ = served
    with pytest.raises(MNISTError, match="wrong content .* discarded") as info:
        download_file([f"{server.url}/good/{name}"], tmp_path / name, "0" * 64, progress=False)
    assert f"Could not download {name} into {tmp_path}" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_connection_cut_mid_file_is_a_clear_error_and_leaves_nothing(tmp_path, served):
    server, name, digest = served
    size = len(server.files[name])
    with pytest.raises(MNISTError, match=f"closed after {size // 2:,} of {size:,} bytes"):
        download_file([f"{server.url}/cut/{name}"], tmp_path / name, digest, progress=False)
    assert os.listdir(tmp_path) == []


def test_a_stalled_server_times_out(tmp_path, served):
    server, name, digest = served
    with pytest.raises(MNISTError, match="timed out"):
        download_file([f"{server.url}/stall/{name}"], tmp_path / name, digest, timeout=0.1,
                      progress=False)
    assert os.listdir(tmp_path) == []


def test_a_served_file_that_is_not_gzip_is_discarded(tmp_path, server):
    server.files["x.gz"] = b"<html>Service Unavailable</html>"
    with pytest.raises(MNISTError, match="not a valid gzip file"):
        download_file([f"{server.url}/good/x.gz"], tmp_path / "x.gz", "0" * 64, progress=False)
    assert os.listdir(tmp_path) == []


def test_ctrl_c_during_download_leaves_nothing(tmp_path, served, monkeypatch):
    server, name, digest = served

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "_content_sha256", interrupted)
    with pytest.raises(KeyboardInterrupt):
        download_file([f"{server.url}/good/{name}"], tmp_path / name, digest, progress=False)
    assert os.listdir(tmp_path) == []


def test_a_directory_that_cannot_be_made_is_a_clear_error(tmp_path, served):
    server, name, digest = served
    blocker = tmp_path / "file"
    blocker.write_text("a file where the directory should go")
    with pytest.raises(MNISTError, match="Cannot create the directory"):
        download_file([f"{server.url}/good/{name}"], blocker / "mnist" / name, digest, progress=False)


def test_load_full_downloads_all_four_files_with_a_progress_bar(tmp_path, server, small_files,
                                                                monkeypatch, capsys):
    for name, content in small_files.items():
        server.files[name] = gzip.compress(content)
    monkeypatch.setattr(download, "MNIST_MIRRORS", (f"{server.url}/missing/", f"{server.url}/good/"))
    (x_train, y_train), (x_test, y_test) = load_mnist("full", data_dir=tmp_path / "cache")
    assert x_train.shape == (5, 28, 28) and x_test.shape == (3, 28, 28)
    np.testing.assert_array_equal(y_train, parse_idx(small_files["train-labels-idx1-ubyte.gz"]))
    np.testing.assert_array_equal(y_test, parse_idx(small_files["t10k-labels-idx1-ubyte.gz"]))
    assert sorted(os.listdir(tmp_path / "cache")) == sorted(small_files)
    # the first file: a 404, then the good mirror; the failed mirror goes last for the others
    assert server.requests[:2] == ["/missing/train-images-idx3-ubyte.gz", "/good/train-images-idx3-ubyte.gz"]
    assert len(server.requests) == 5 and all(r.startswith("/good/") for r in server.requests[1:])
    load_mnist("full", data_dir=tmp_path / "cache")
    assert len(server.requests) == 5  # cached: no network the second time
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # tqdm's bar names the file


def test_download_works_without_tqdm(tmp_path, served, monkeypatch):
    server, name, digest = served
    monkeypatch.setitem(sys.modules, "tqdm", None)  # makes `import tqdm...` raise ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    download_file(f"{server.url}/good/{name}", tmp_path / name, digest, progress=True)
    assert (tmp_path / name).is_file()


def test_importing_cnnlib_data_does_not_import_tqdm():
    code = "import sys, cnnlib.data; assert 'tqdm' not in sys.modules, 'tqdm imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------- the real full MNIST

def full_mnist_dir():
    """$CNNLIB_DATA_DIR, else ../shared/data/mnist beside the repo; skip if neither (fail in CI)."""
    if os.environ.get(DATA_DIR_ENV):
        return Path(os.environ[DATA_DIR_ENV])
    fallback = REPO_ROOT.parent / "shared" / "data" / "mnist"
    if fallback.is_dir():
        return fallback
    reason = f"full MNIST not found: set {DATA_DIR_ENV} or provide {fallback}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI must run this test)")
    pytest.skip(reason)


@pytest.mark.slow
def test_full_mnist():
    (x_train, y_train), (x_test, y_test) = load_mnist("full", data_dir=full_mnist_dir(), download=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert y_train[:5].tolist() == [5, 0, 4, 1, 9] and y_test[:5].tolist() == [7, 2, 1, 0, 4]
    assert int(x_train.sum(dtype=np.int64)) == 1567298545
    assert int(x_test.sum(dtype=np.int64)) == 264923200
