"""Training time of the learner's LeNet (notebooks/my_cnn.py, the teacher's solutions) next to cnnlib's.

Usage:  python benchmarks/bench_learner.py [--rounds 3] [--epochs 1]

Both nets start from build_lenet(rng=0) in float32 and train with Adam (lr 1e-3, batch 64,
seed 0) on the bundled sample, taking turns in one process, one BLAS thread; prints each
round's seconds, the test accuracies and the median ratio (learner / cnnlib).
"""
import argparse
import importlib.util
import pathlib
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

from cnnlib import Adam, Trainer, build_lenet, load_mnist, to_input
from cnnlib.explore.learner import LearnerAdam, LearnerLoss, learner_net

MY_CNN = pathlib.Path(__file__).resolve().parent.parent / "notebooks" / "my_cnn.py"


def load_module(path):
    spec = importlib.util.spec_from_file_location("my_cnn", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(who, module, data, epochs):
    (x, y), (x_test, y_test) = data
    net = build_lenet(rng=0).astype(np.float32)
    if who == "learner":
        net = learner_net(module, net)
        trainer = Trainer(net, LearnerAdam(net, module, lr=1e-3), LearnerLoss(module), rng=0)
    else:
        trainer = Trainer(net, Adam(net, lr=1e-3), rng=0)
    start = time.perf_counter()
    history = trainer.fit(x, y, epochs=epochs, batch_size=64, x_val=x_test, y_val=y_test, progress=False)
    return time.perf_counter() - start, history["val_acc"][-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--module", type=pathlib.Path, default=MY_CNN, help="the learner's my_cnn.py")
    args = parser.parse_args()
    module = load_module(args.module)
    (x, y), (x_test, y_test) = load_mnist("sample")
    data = ((to_input(x), y), (to_input(x_test), y_test))
    ratios = []
    with threadpool_limits(1, user_api="blas"):
        for r in range(1, args.rounds + 1):
            t_lib, acc_lib = train("cnnlib", module, data, args.epochs)
            t_mine, acc_mine = train("learner", module, data, args.epochs)
            ratios.append(t_mine / t_lib)
            print(f"round {r}: cnnlib {t_lib:.2f} s (test acc {acc_lib:.4f})   learner {t_mine:.2f} s "
                  f"(test acc {acc_mine:.4f})   ratio {t_mine / t_lib:.2f}")
    print(f"median ratio learner / cnnlib over {args.rounds} rounds: {statistics.median(ratios):.2f} "
          f"(range {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    main()
