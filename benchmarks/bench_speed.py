"""How fast is cnnlib? cnnlib's vectorised ops, its naive loops and PyTorch, in one run.

Usage:
    .venv/bin/pip install -r requirements-bench.txt      # PyTorch, for this script only
    .venv/bin/python benchmarks/bench_speed.py            # every section (about 2 minutes)
    .venv/bin/python benchmarks/bench_speed.py --sections conv pool net single
    .venv/bin/python benchmarks/bench_speed.py --sections epoch --threads 1
    .venv/bin/python benchmarks/bench_speed.py --against-ref d5c8cc4   # no PyTorch needed

--against-ref REF compares the working tree's cnnlib with cnnlib as it is at the git
revision REF (a commit, branch or tag), in one process: the LeNet step (forward + loss +
backward, batch 64) of both, interleaved round by round. It prints the ratio
working tree / REF for every round, their median and range, and the load average, and
runs nothing else.

Sections (each can run alone):
    gemm    NumPy's own float32 matrix-product rate (the yardstick for GFLOP/s)
    conv    (a) Conv2d forward+backward at the LeNet shapes, batch 64
    pool    (b) MaxPool2d forward+backward at the first pool's shape, batch 64
    net     (c) the LeNet-style net, forward+loss+backward, batch 64, and the naive loops
            (on a few images) against the vectorised path, per image
    single  one image: forward (what the widgets and draw-a-digit call), and forward+backward
    epoch   (d) one full-MNIST training epoch, batch 64, Adam, in both libraries

How we measure, on a shared and noisy machine:
* Everything is float32, with the same number of threads for NumPy's BLAS and PyTorch
  (``--threads``, default 2; set before NumPy is imported).
* cnnlib and PyTorch are measured in the same process and interleaved: each round runs a
  block of calls of one, then a block of the other (in alternating order), so both see
  the same machine load. We report each library's median over all timed calls, and as
  the ratio cnnlib / PyTorch the median over rounds of the two block medians' ratio (so
  load that comes and goes between rounds cancels out). Lower is better for cnnlib;
  1.0 means as fast.
* The epoch is interleaved too: chunks of batches from each library in turn, summed.
* GFLOP/s counts only the multiply-adds a convolution or linear layer needs (2 per MAC),
  the same count for both libraries, and is compared with the rate of one big NumPy
  matrix product measured in this run.

PyTorch is a benchmark-only dependency (requirements-bench.txt); the lessons never need it.
"""
import argparse
import importlib
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

SECTIONS = ("gemm", "conv", "pool", "net", "single", "epoch")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="which parts to run (default: all)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads for NumPy's BLAS and for PyTorch (default 2)")
    parser.add_argument("--rounds", type=int, default=15,
                        help="interleaved rounds per measurement (default 15)")
    parser.add_argument("--calls", type=int, default=10,
                        help="timed calls per library per round (default 10)")
    parser.add_argument("--naive-images", type=int, default=2,
                        help="images for the naive-loop measurements (default 2)")
    parser.add_argument("--data-dir", default=os.environ.get("CNNLIB_DATA_DIR"),
                        help="folder with the four MNIST IDX .gz files for the epoch (default: "
                             "$CNNLIB_DATA_DIR; without either, the epoch runs on the bundled sample)")
    parser.add_argument("--epoch-chunk", type=int, default=50,
                        help="batches per library per turn in the interleaved epoch (default 50)")
    parser.add_argument("--pause", type=float, default=0.2,
                        help="seconds of rest before each timed block (default 0.2; see interleaved)")
    parser.add_argument("--markdown", action="store_true", help="also print the results as a Markdown table")
    parser.add_argument("--against-ref", metavar="REF",
                        help="only compare the LeNet step with cnnlib at git revision REF (no PyTorch needed)")
    return parser.parse_args(argv)


ARGS = parse_args()
# BLAS reads its thread count when NumPy is imported, so we set it first.
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import numpy as np  # noqa: E402

from cnnlib.explore import loops  # noqa: E402
from cnnlib.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU  # noqa: E402
from cnnlib.losses import SoftmaxCrossEntropy  # noqa: E402
from cnnlib.model import Sequential, build_lenet  # noqa: E402
from cnnlib.optim import Adam  # noqa: E402
from cnnlib.train import Trainer, to_input  # noqa: E402

torch = F = None     # imported by import_torch(), only for the sections that compare with it
F32 = np.float32
BATCH = 64
RESULTS = []        # rows for the summary table


# ----------------------------------------------------------------------------- timing

def interleaved(fns, rounds=None, calls=None):
    """Time the functions in ``fns`` (a dict name -> fn) in interleaved blocks.

    Each round times ``calls`` calls of each function in turn; the order of the
    functions alternates from round to round. Before each block we rest ``--pause``
    seconds and make one untimed warm-up call. The rest matters: after a call, both
    libraries' worker threads keep spinning for a while, waiting for more work (OpenBLAS
    for up to about 0.1 s), and on two cores those spinning threads would slow down the
    other library's next block.

    Returns
    -------
    dict name -> {"median": seconds per call over all timed calls, "best": fastest call,
    "rounds": per-round medians, "cpu_rounds": per-round mean CPU time per call (all
    threads of this process)}. Comparing two libraries round by round (see :func:`ratio`)
    cancels load that comes and goes between rounds.
    """
    rounds = ARGS.rounds if rounds is None else rounds
    calls = ARGS.calls if calls is None else calls
    names = list(fns)
    times = {name: [] for name in names}
    per_round = {name: [] for name in names}
    cpu_rounds = {name: [] for name in names}
    for name in names:          # warm up caches, allocators and thread pools
        for _ in range(3):
            fns[name]()
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            fn = fns[name]
            time.sleep(ARGS.pause)
            fn()
            block = []
            cpu_start = time.process_time()
            for _ in range(calls):
                start = time.perf_counter()
                fn()
                block.append(time.perf_counter() - start)
            cpu_rounds[name].append((time.process_time() - cpu_start) / calls)
            times[name] += block
            per_round[name].append(float(np.median(block)))
    return {name: {"median": float(np.median(times[name])), "best": float(np.min(times[name])),
                   "rounds": per_round[name], "cpu_rounds": cpu_rounds[name]} for name in names}


def ratio(t, a="cnnlib", b="torch"):
    """Median over rounds of (a's block median / b's block median)."""
    return float(np.median(np.array(t[a]["rounds"]) / np.array(t[b]["rounds"])))


def once(fn, repeats=3):
    """Median of a few calls, for the slow naive loops."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def ms(seconds):
    return f"{seconds * 1e3:9.3f} ms"


def gflops(flops, seconds):
    """'12.3 (6% of GEMM)': the rate, and its share of NumPy's big-GEMM rate in this run."""
    rate = flops / seconds / 1e9
    peak = GEMM_RATE.get(1024)
    return f"{rate:.1f}" + (f" ({100 * rate / peak:.0f}% of GEMM)" if peak else "")


def report(name, t_cnnlib, t_torch, flops=None, note="", ratio=None):
    """Print one comparison; ``ratio`` defaults to t_cnnlib / t_torch."""
    ratio = t_cnnlib / t_torch if ratio is None else ratio
    line = f"  {name:<44} cnnlib {ms(t_cnnlib)}   torch {ms(t_torch)}   cnnlib/torch {ratio:5.2f}x"
    if flops:
        line += f"   GFLOP/s cnnlib {gflops(flops, t_cnnlib)}, torch {gflops(flops, t_torch)}"
    print(line + (f"   {note}" if note else ""), flush=True)
    RESULTS.append({"name": name, "cnnlib": t_cnnlib, "torch": t_torch, "ratio": ratio, "flops": flops})


def report_naive(t_naive, t_vectorised, target=None):
    """The naive loops against the vectorised path, both per image; added to the last row."""
    speedup = t_naive / t_vectorised
    verdict = f" (target >= {target}x: {'met' if speedup >= target else 'NOT met'})" if target else ""
    print(f"  {'   naive loops, per image':<44} {ms(t_naive)}   vectorised {ms(t_vectorised)} per image: "
          f"{speedup:6.0f}x faster{verdict}", flush=True)
    RESULTS[-1].update(naive=t_naive, speedup=speedup)


def conv_flops(N, C_in, C_out, H_out, W_out, k):
    """Multiply-adds of one convolution pass (forward, dw or dx), 2 FLOPs each."""
    return 2 * N * C_out * H_out * W_out * C_in * k * k


# ----------------------------------------------------------------------------- models

def torch_lenet():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(8, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(256, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))


def copy_weights_to_torch(model, tmodel):
    """Give the PyTorch net cnnlib's weights (Linear weights are stored transposed there)."""
    with torch.no_grad():
        for layer, tlayer in zip(model.layers, tmodel):
            if isinstance(layer, Conv2d):
                tlayer.weight.copy_(torch.from_numpy(layer.params["w"]))
                tlayer.bias.copy_(torch.from_numpy(layer.params["b"]))
            elif isinstance(layer, Linear):
                tlayer.weight.copy_(torch.from_numpy(layer.params["w"].T.copy()))
                tlayer.bias.copy_(torch.from_numpy(layer.params["b"]))


class LoopConv2d(Conv2d):
    """Conv2d on the loop kernels of cnnlib.explore.loops (the layers themselves run only the
    vectorised ones): the same checks, parameters and gradients, the slow arithmetic."""

    def forward(self, x):
        out, self._cache = loops.conv2d_forward_naive(self._check_input(x), self.params["w"], self.params["b"],
                                                      stride=self.stride, padding=self.padding)
        return out

    def backward(self, dout, *, input_grad=True):
        dx, dw, db = loops.conv2d_backward_naive(self._check_dout(dout), self._cache, input_grad=input_grad)
        self._store_grads(w=dw, b=db)
        return dx


class LoopMaxPool2d(MaxPool2d):
    """MaxPool2d on the loop kernels of cnnlib.explore.loops."""
    KERNELS = (loops.maxpool2d_forward_naive, loops.maxpool2d_backward_naive)


def naive_lenet(model):
    """The same net with the same weights, on the loop kernels."""
    layers = []
    for layer in model.layers:
        if isinstance(layer, Conv2d):
            new = LoopConv2d(layer.in_channels, layer.out_channels, layer.kernel_size)
        elif isinstance(layer, MaxPool2d):
            new = LoopMaxPool2d(layer.kernel_size)
        elif isinstance(layer, Linear):
            new = Linear(layer.in_features, layer.out_features)
        else:
            new = type(layer)()
        new.params = {k: v.copy() for k, v in layer.params.items()}
        new.grads = {k: np.zeros_like(v) for k, v in layer.params.items()}
        layers.append(new)
    return Sequential(*layers)


# LeNet's multiply-adds at batch N: forward, then backward (dw for every layer, dx for all
# but the first convolution).
def lenet_flops(N):
    c1 = conv_flops(N, 1, 8, 24, 24, 5)
    c2 = conv_flops(N, 8, 16, 8, 8, 5)
    f1, f2 = 2 * N * 256 * 128, 2 * N * 128 * 10
    forward = c1 + c2 + f1 + f2
    backward = c1 + 2 * c2 + 2 * f1 + 2 * f2
    return forward, forward + backward


# ----------------------------------------------------------------------------- sections

GEMM_RATE = {}          # n -> NumPy's float32 GFLOP/s on n x n matrices, this run
NAIVE_PER_IMAGE = {}    # LeNet forward+backward with the loop kernels, seconds per image


def section_gemm():
    print("\n[gemm] NumPy float32 matrix product (the yardstick)")
    rng = np.random.default_rng(0)
    for n in (256, 1024):
        a = rng.standard_normal((n, n)).astype(F32)
        b = rng.standard_normal((n, n)).astype(F32)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        t = interleaved({"numpy": lambda: a @ b, "torch": lambda: ta @ tb}, rounds=6, calls=5)
        # The yardstick is what the BLAS can do, so we take the fastest call.
        rate = 2 * n ** 3 / t["numpy"]["best"] / 1e9
        GEMM_RATE[n] = rate
        print(f"  {n}x{n} @ {n}x{n}: NumPy {rate:6.1f} GFLOP/s   PyTorch "
              f"{2 * n ** 3 / t['torch']['best'] / 1e9:6.1f} GFLOP/s (fastest of 30 calls)", flush=True)


def section_conv():
    print("\n[conv] (a) Conv2d forward+backward at the LeNet shapes, batch 64")
    rng = np.random.default_rng(1)
    cases = [("conv1 1->8 k5, 28x28 (no dx: first layer)", 1, 8, 28, False),
             ("conv2 8->16 k5, 12x12 (with dx)", 8, 16, 12, True)]
    for name, C_in, C_out, H, input_grad in cases:
        conv = Conv2d(C_in, C_out, 5, rng=rng).astype(F32)
        H_out = H - 4
        x = rng.random((BATCH, C_in, H, H), dtype=F32)
        dout = rng.standard_normal((BATCH, C_out, H_out, H_out)).astype(F32)

        def run_cnnlib():
            conv.forward(x)
            conv.backward(dout, input_grad=input_grad)

        tconv = torch.nn.Conv2d(C_in, C_out, 5)
        tx = torch.from_numpy(x).requires_grad_(input_grad)
        tdout = torch.from_numpy(dout)
        inputs = [tconv.weight, tconv.bias] + ([tx] if input_grad else [])

        def run_torch():
            torch.autograd.grad(tconv(tx), inputs, tdout)

        t = interleaved({"cnnlib": run_cnnlib, "torch": run_torch})
        flops = conv_flops(BATCH, C_in, C_out, H_out, H_out, 5) * (3 if input_grad else 2)
        report(name, t["cnnlib"]["median"], t["torch"]["median"], flops, ratio=ratio(t))

        # The naive loops on a few images, per image against the vectorised path.
        n = ARGS.naive_images
        naive = LoopConv2d(C_in, C_out, 5).astype(F32)
        naive.params = conv.params

        def run_naive():
            naive.forward(x[:n])
            naive.backward(dout[:n], input_grad=input_grad)

        report_naive(once(run_naive) / n, t["cnnlib"]["median"] / BATCH)


def section_pool():
    print("\n[pool] (b) MaxPool2d(2) forward+backward, input (64, 8, 24, 24)")
    rng = np.random.default_rng(2)
    pool = MaxPool2d(2)
    x = np.maximum(rng.standard_normal((BATCH, 8, 24, 24)), 0).astype(F32)   # ReLU output: many ties
    dout = rng.standard_normal((BATCH, 8, 12, 12)).astype(F32)

    def run_cnnlib():
        pool.forward(x)
        pool.backward(dout)

    tx = torch.from_numpy(x).requires_grad_(True)
    tdout = torch.from_numpy(dout)

    def run_torch():
        torch.autograd.grad(F.max_pool2d(tx, 2), [tx], tdout)

    t = interleaved({"cnnlib": run_cnnlib, "torch": run_torch})
    report("maxpool 2x2, (64, 8, 24, 24)", t["cnnlib"]["median"], t["torch"]["median"], ratio=ratio(t))

    n = ARGS.naive_images
    naive = LoopMaxPool2d(2)

    def run_naive():
        naive.forward(x[:n])
        naive.backward(dout[:n])

    report_naive(once(run_naive) / n, t["cnnlib"]["median"] / BATCH)


def lenet_pair(seed=0):
    model = build_lenet(rng=seed).astype(F32)
    tmodel = torch_lenet()
    copy_weights_to_torch(model, tmodel)
    return model, tmodel


def section_net():
    print("\n[net] (c) LeNet-style net: forward + cross-entropy + backward, batch 64")
    rng = np.random.default_rng(3)
    model, tmodel = lenet_pair()
    loss_fn = SoftmaxCrossEntropy()
    x = rng.random((BATCH, 1, 28, 28), dtype=F32)
    y = rng.integers(0, 10, BATCH)

    def step(m, xb, yb):
        loss_fn.forward(m.forward(xb), yb)
        m.backward(loss_fn.backward(), input_grad=False)

    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    tparams = list(tmodel.parameters())

    def run_torch():
        torch.autograd.grad(F.cross_entropy(tmodel(tx), ty), tparams)

    # Same weights, same data: the gradients must agree before the times mean anything.
    step(model, x, y)
    tgrads = torch.autograd.grad(F.cross_entropy(tmodel(tx), ty), tparams)
    np.testing.assert_allclose(model.layers[0].grads["w"], tgrads[0].numpy(), rtol=1e-3, atol=1e-5)

    t = interleaved({"cnnlib": lambda: step(model, x, y), "torch": run_torch})
    _, flops = lenet_flops(BATCH)
    r = ratio(t)
    report("LeNet fwd+bwd, batch 64", t["cnnlib"]["median"], t["torch"]["median"], flops, ratio=r)
    for target in (1.5, 1.2):
        print(f"    target <= {target}x PyTorch: {'met' if r <= target else 'NOT met'}")

    n = ARGS.naive_images
    naive = naive_lenet(model)
    t_naive = once(lambda: step(naive, x[:n], y[:n])) / n
    report_naive(t_naive, t["cnnlib"]["median"] / BATCH, target=100)
    NAIVE_PER_IMAGE["lenet"] = t_naive


def section_single():
    print("\n[single] one image (what the widgets and draw-a-digit call)")
    rng = np.random.default_rng(4)
    model, tmodel = lenet_pair()
    x = rng.random((1, 1, 28, 28), dtype=F32)
    tx = torch.from_numpy(x)

    def run_torch_forward():
        with torch.inference_mode():
            tmodel(tx)

    t = interleaved({"cnnlib": lambda: model.forward(x), "torch": run_torch_forward}, calls=50)
    flops, _ = lenet_flops(1)
    r = ratio(t)
    report("LeNet forward, 1 image", t["cnnlib"]["median"], t["torch"]["median"], flops, ratio=r,
           note=f"(target <= 1.0x: {'met' if r <= 1.0 else 'NOT met'})")

    loss_fn = SoftmaxCrossEntropy()
    y = np.array([3])
    ty = torch.from_numpy(y)
    tparams = list(tmodel.parameters())

    def run_cnnlib_step():
        loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward(), input_grad=False)

    t = interleaved({"cnnlib": run_cnnlib_step,
                     "torch": lambda: torch.autograd.grad(F.cross_entropy(tmodel(tx), ty), tparams)}, calls=50)
    report("LeNet fwd+bwd, 1 image", t["cnnlib"]["median"], t["torch"]["median"], lenet_flops(1)[1],
           ratio=ratio(t))


def load_training_set(data_dir):
    """Full MNIST from ``data_dir`` if given, else the bundled sample; None if neither loads."""
    from cnnlib.data import load_mnist
    try:
        if data_dir is None:
            (x_train, y_train), _ = load_mnist("sample")
            print("  no --data-dir and no $CNNLIB_DATA_DIR: one epoch of the bundled sample instead")
        else:
            (x_train, y_train), _ = load_mnist("full", data_dir=data_dir, download=False, progress=False)
    except Exception as e:  # noqa: BLE001 - any failure here just means: no epoch section
        print(f"  cannot load MNIST ({'the sample' if data_dir is None else repr(data_dir)}): {e}")
        return None
    return x_train, y_train


def section_epoch():
    print("\n[epoch] (d) one MNIST epoch, batch 64, Adam(lr=1e-3), interleaved in chunks")
    data = load_training_set(ARGS.data_dir)
    if data is None:
        return
    images, labels = data
    x = to_input(images)                                   # (60000, 1, 28, 28) float32
    order = np.random.default_rng(5).permutation(len(labels))
    batches = [order[i:i + BATCH] for i in range(0, len(order), BATCH)]

    model, tmodel = lenet_pair()
    trainer = Trainer(model, Adam(model, lr=1e-3), rng=0)
    topt = torch.optim.Adam(tmodel.parameters(), lr=1e-3)

    def cnnlib_batch(idx):
        return trainer.train_step(x[idx], labels[idx])

    def torch_batch(idx):
        xb, yb = torch.from_numpy(x[idx]), torch.from_numpy(labels[idx])
        topt.zero_grad(set_to_none=True)
        logits = tmodel(xb)
        loss = F.cross_entropy(logits, yb)
        loss.backward()
        topt.step()
        return loss.item(), (logits.detach().argmax(1) == yb).float().mean().item()

    totals = {"cnnlib": 0.0, "torch": 0.0}
    cpu = {"cnnlib": 0.0, "torch": 0.0}
    correct = {"cnnlib": 0.0, "torch": 0.0}
    runners = {"cnnlib": cnnlib_batch, "torch": torch_batch}
    chunk = ARGS.epoch_chunk
    for turn, start in enumerate(range(0, len(batches), chunk)):
        for name in (("cnnlib", "torch") if turn % 2 == 0 else ("torch", "cnnlib")):
            time.sleep(ARGS.pause)
            t0, c0 = time.perf_counter(), time.process_time()
            for idx in batches[start:start + chunk]:
                _, acc = runners[name](idx)
                correct[name] += acc * len(idx)
            totals[name] += time.perf_counter() - t0
            cpu[name] += time.process_time() - c0
    which = "sample" if ARGS.data_dir is None else "full-MNIST"
    report(f"{which} epoch ({len(batches)} batches)", totals["cnnlib"], totals["torch"],
           note=f"train acc during the epoch: cnnlib {correct['cnnlib'] / len(labels):.3f}, "
                f"torch {correct['torch'] / len(labels):.3f}")
    if "lenet" in NAIVE_PER_IMAGE:
        minutes = NAIVE_PER_IMAGE["lenet"] * len(labels) / 60
        print(f"    the naive loops would need about {minutes:.0f} minutes for this epoch "
              "(their per-image time from [net], times 60,000; not run)")
    print(f"    CPU time (all threads): cnnlib {cpu['cnnlib']:.2f} s, torch {cpu['torch']:.2f} s, "
          f"ratio {cpu['cnnlib'] / cpu['torch']:.2f}x")
    print(f"    target <= 1.5x PyTorch: {'met' if totals['cnnlib'] / totals['torch'] <= 1.5 else 'NOT met'}")


# ----------------------------------------------------------------------------- against a git revision

def load_ref_cnnlib(ref):
    """Import cnnlib as it is at git revision ``ref``, beside the working tree's.

    We unpack ``git archive REF cnnlib`` into a temporary folder and import it while the
    working tree's ``cnnlib`` modules are out of ``sys.modules``; then we put those back.
    Each copy's modules keep references to their own siblings, so the two never mix.

    Returns
    -------
    (model module, losses module) of the ``ref`` copy.
    """
    root = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(root), "archive", ref, "cnnlib"],
                             check=True, capture_output=True).stdout
    folder = tempfile.mkdtemp(prefix="cnnlib-ref-")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))

    def is_cnnlib(name):
        return name == "cnnlib" or name.startswith("cnnlib.")

    ours = {name: module for name, module in sys.modules.items() if is_cnnlib(name)}
    for name in ours:
        del sys.modules[name]
    sys.path.insert(0, folder)
    try:
        model, losses = importlib.import_module("cnnlib.model"), importlib.import_module("cnnlib.losses")
    finally:
        sys.path.remove(folder)
        for name in [name for name in sys.modules if is_cnnlib(name)]:
            del sys.modules[name]
        sys.modules.update(ours)
    if not model.__file__.startswith(folder):
        sys.exit(f"could not import cnnlib from {ref}: got {model.__file__}")
    return model, losses


def git(*args):
    root = Path(__file__).resolve().parent.parent
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True).stdout.strip()


def section_against_ref(ref):
    """The LeNet step (forward + loss + backward, batch 64): working tree against ``ref``."""
    print(f"[against-ref] LeNet fwd+bwd, batch 64, float32: working tree vs {ref} "
          f"({git('rev-parse', '--short', ref)})")
    changed = git("status", "--short", "--untracked-files=no", "--", "cnnlib")
    print(f"  working tree: HEAD {git('rev-parse', '--short', 'HEAD')}"
          + (f", with uncommitted changes in cnnlib:\n    " + changed.replace("\n", "\n    ") if changed else ""))
    ref_model, ref_losses = load_ref_cnnlib(ref)
    rng = np.random.default_rng(3)
    x = rng.random((BATCH, 1, 28, 28), dtype=F32)
    y = rng.integers(0, 10, BATCH)
    ours, theirs = build_lenet(rng=0).astype(F32), ref_model.build_lenet(rng=0).astype(F32)
    loss_ours, loss_theirs = SoftmaxCrossEntropy(), ref_losses.SoftmaxCrossEntropy()

    def step(model, loss_fn):
        loss_fn.forward(model.forward(x), y)
        model.backward(loss_fn.backward(), input_grad=False)

    # Same weights, same batch: both must compute the same gradients before times mean anything.
    step(ours, loss_ours)
    step(theirs, loss_theirs)
    for a, b in zip(ours.layers, theirs.layers):
        for name in a.params:
            np.testing.assert_array_equal(a.params[name], b.params[name])
            np.testing.assert_allclose(a.grads[name], b.grads[name], rtol=1e-4, atol=1e-6)

    t = interleaved({"ours": lambda: step(ours, loss_ours), "ref": lambda: step(theirs, loss_theirs)})
    wall = np.array(t["ours"]["rounds"]) / np.array(t["ref"]["rounds"])
    cpu = np.array(t["ours"]["cpu_rounds"]) / np.array(t["ref"]["cpu_rounds"])
    for r in range(len(wall)):
        print(f"  round {r + 1:2d}: working tree {ms(t['ours']['rounds'][r])}   {ref} {ms(t['ref']['rounds'][r])}"
              f"   ratio {wall[r]:.3f}   (CPU time ratio {cpu[r]:.3f})")
    print(f"  median per call: working tree {ms(t['ours']['median'])}, {ref} {ms(t['ref']['median'])}")
    for name, ratios in (("wall-clock", wall), ("CPU time", cpu)):
        print(f"  {name} ratio working tree / {ref}: median {np.median(ratios):.3f} over {len(ratios)} rounds "
              f"(range {ratios.min():.3f}-{ratios.max():.3f}); above 1 means the working tree is slower")


# ----------------------------------------------------------------------------- main

def import_torch():
    global torch, F
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        sys.exit("bench_speed.py compares with PyTorch: install it with\n"
                 "    .venv/bin/pip install -r requirements-bench.txt\n"
                 "(--against-ref REF needs no PyTorch)")
    torch.set_num_threads(ARGS.threads)


def print_header(title):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = f"numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else "")
    print(f"{title} | {versions}, python {platform.python_version()}")
    print(f"CPU: {cpu}, {os.cpu_count()} logical cores | threads: NumPy BLAS {ARGS.threads} "
          f"(OPENBLAS_NUM_THREADS)" + (f", PyTorch {torch.get_num_threads()}" if torch else ""))
    print_load("at start")


def print_load(when):
    if hasattr(os, "getloadavg"):
        load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
        print(f"load average {when} (1, 5, 15 min): {load} (near or above the core count means other "
              "work shares the CPU: compare ratios, not times)")


def print_markdown():
    print("\n| benchmark | cnnlib | PyTorch | cnnlib / PyTorch | GFLOP/s cnnlib | GFLOP/s PyTorch "
          "| naive loops, per image |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in RESULTS:
        unit = (lambda t: f"{t:.2f} s") if row["cnnlib"] > 1 else (lambda t: f"{t * 1e3:.3f} ms")
        rate = (lambda t: gflops(row["flops"], t)) if row["flops"] else (lambda t: "")
        naive = f"{row['naive'] * 1e3:.1f} ms ({row['speedup']:.0f}x slower)" if "naive" in row else ""
        print(f"| {row['name']} | {unit(row['cnnlib'])} | {unit(row['torch'])} | {row['ratio']:.2f}x | "
              f"{rate(row['cnnlib'])} | {rate(row['torch'])} | {naive} |")
    if GEMM_RATE:
        print("\nNumPy float32 GEMM in the same run: "
              + ", ".join(f"{n}x{n}: {rate:.1f} GFLOP/s" for n, rate in GEMM_RATE.items()))


def main():
    if ARGS.against_ref:
        print_header(f"cnnlib (working tree) vs cnnlib at {ARGS.against_ref}")
        section_against_ref(ARGS.against_ref)
        print_load("at the end")
        return
    import_torch()
    print_header("cnnlib vs PyTorch")
    for name in SECTIONS:
        if name in ARGS.sections:
            globals()[f"section_{name}"]()
    print_load("at the end")
    if ARGS.markdown:
        print_markdown()


if __name__ == "__main__":
    main()
