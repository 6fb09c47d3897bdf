"""Time cnnlib.augment.Augment on a batch of MNIST digits (prints; asserts nothing).

Usage:  OPENBLAS_NUM_THREADS=1 python benchmarks/bench_augment.py [--batch 64] [--rounds 50]

Prints the median and the fastest of ``--rounds`` calls of ``Augment()`` (defaults: shifts up
to 2 px, rotations up to 10 degrees, scalings 0.9-1.1) on a float32 batch (N, 1, 28, 28) from
the bundled sample, and the load average, since the machines we measure on are shared.
"""
import argparse
import os
import statistics
import time

from cnnlib.augment import Augment
from cnnlib.data import load_mnist
from cnnlib.train import to_input


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    (x_train, _), _ = load_mnist()
    batch = to_input(x_train[:args.batch])   # (batch, 1, 28, 28) float32
    augment = Augment(rng=0)
    augment(batch)   # warm up
    times = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        augment(batch)
        times.append(time.perf_counter() - start)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Augment() on {args.batch} images 28x28 float32: median {1000 * statistics.median(times):.2f} ms, "
          f"fastest {1000 * min(times):.2f} ms over {args.rounds} calls (load {load:.1f})")


if __name__ == "__main__":
    main()
