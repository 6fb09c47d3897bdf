"""Build ``cnnlib/resources/mnist_sample.npz``, the small MNIST sample that ships with cnnlib.

The source is the full MNIST (the four standard IDX files, read and verified by
``cnnlib.data.load_mnist("full")``). For each digit we draw, with a seeded
``np.random.default_rng``, 400 images from MNIST's *training* set and 100 from its *test*
set: 4,000 training and 1,000 test images, stratified, and the sample's test images are
never among the images a model trained on the full training set has seen. Every build
gives the same arrays.

Usage, from the project root, in the project's environment (``pip install -e .``)::

    python resources/build_sample.py --data-dir ../shared/data/mnist
    CNNLIB_DATA_DIR=/path/to/mnist python resources/build_sample.py

The script prints the SHA-256 of the arrays and compares it with
``cnnlib.data.SAMPLE_SHA256``, the value the loader checks.
"""
import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# Package data: it lives inside the package so that `pip install .` and the wheel carry it.
OUTPUT = HERE.parent / "cnnlib" / "resources" / "mnist_sample.npz"
SEED = 0                # the draw's seed: changing it changes the sample, and SAMPLE_SHA256 with it
N_CLASSES = 10
N_TRAIN_PER_CLASS = 400
N_TEST_PER_CLASS = 100


def draw_stratified(labels, n_per_class, rng):
    """``n_per_class`` indices of each digit, drawn without replacement, then shuffled.

    Parameters
    ----------
    labels : ndarray, (N,)
    n_per_class : int
    rng : np.random.Generator

    Returns
    -------
    ndarray of int, (N_CLASSES * n_per_class,): sorted within no class; shuffled so that
    any slice (a mini-batch) mixes all digits.

    >>> idx = draw_stratified(np.repeat(np.arange(10), 5), 2, np.random.default_rng(0))
    >>> np.bincount(np.repeat(np.arange(10), 5)[idx]).tolist()
    [2, 2, 2, 2, 2, 2, 2, 2, 2, 2]
    """
    chosen = []
    for digit in range(N_CLASSES):
        idx = np.flatnonzero(labels == digit)
        if len(idx) < n_per_class:
            raise ValueError(f"digit {digit} has {len(idx)} images, need {n_per_class}")
        chosen.append(rng.choice(idx, size=n_per_class, replace=False))
    return rng.permutation(np.concatenate(chosen))


def build(full, seed=SEED):
    """The four arrays of the sample, from the full MNIST ``((x_train, y_train), (x_test, y_test))``."""
    (x_train, y_train), (x_test, y_test) = full
    rng = np.random.default_rng(seed)
    train_idx = draw_stratified(y_train, N_TRAIN_PER_CLASS, rng)
    test_idx = draw_stratified(y_test, N_TEST_PER_CLASS, rng)
    return {"x_train": x_train[train_idx], "y_train": y_train[train_idx].astype(np.int64),
            "x_test": x_test[test_idx], "y_test": y_test[test_idx].astype(np.int64)}


def main(argv=None):
    from cnnlib.data import SAMPLE_SHA256, arrays_sha256, load_mnist  # the project's env: pip install -e .

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="folder with the four MNIST IDX files "
                                                      "(default: $CNNLIB_DATA_DIR, else cnnlib's cache)")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    args = parser.parse_args(argv)

    arrays = build(load_mnist("full", data_dir=args.data_dir, download=False, progress=False))
    np.savez_compressed(args.output, **arrays)
    digest = arrays_sha256(arrays)
    for name, array in arrays.items():
        print(f"{name}: {array.shape} {array.dtype}")
    print(f"wrote {args.output}\narrays SHA-256: {digest}")
    if digest == SAMPLE_SHA256:
        print("matches cnnlib.data.SAMPLE_SHA256")
        return 0
    print(f"differs from cnnlib.data.SAMPLE_SHA256 ({SAMPLE_SHA256}): "
          "if the change is intended, update that constant", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
