"""How fast do the lesson explorers respond? The time from a control change to a new picture.

Usage:  OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_widgets.py [--repeats 15] [--only NAME]
        OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/bench_widgets.py --before d5c8cc4 [--rounds 2]

``--before REF`` measures the explorers of the working tree and those of cnnlib at a git
revision in one run: each side runs in its own process (the revision's cnnlib is
exported to a temporary folder with ``git archive``), the two sides take turns for
``--rounds`` rounds, and the table gives each side's median over all its rounds.

For each explorer we build it on the bundled MNIST sample (and a small trained LeNet where
it needs a model), then move each of its sliders (or click its buttons, or draw a stroke)
`repeats` times. Setting a control's value runs its observers synchronously, so the wall
time of that assignment is the whole kernel-side response: compute, draw, encode the PNG
and hand it to the Output widget. The browser then only shows a ready-made image. Our
target is about 100 ms per response on this machine; the report prints the median and the
slowest of each, and the median CPU time of the same responses: on a shared, loaded
machine the wall time grows with the load, the CPU time much less, so compare runs made
in the same conditions (the load average is printed before and after).

Rows: "DrawDigit" clears the canvas and draws one stroke (two pictures per response);
"DrawDigit (stroke)" adds strokes to a drawing. "TrainingDashboard" times one redraw of
the curves during training (after a few more batches each time). "DepthExplorer" runs a
deep net forward and backward on every move (its default 30 layers of 64 at most, 256
examples); checkboxes are ticked and unticked, range sliders move their window. An
explorer that the measured cnnlib does not have (with --before) is left out.
"""
import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("IPYTHONDIR", tempfile.mkdtemp(prefix="bench-ipython-"))

import ipywidgets as widgets  # noqa: E402
import numpy as np  # noqa: E402

try:                       # the explorers: cnnlib.explore now, cnnlib.widgets before the move (for --before)
    import cnnlib.explore as cw  # noqa: E402
except ImportError:
    from cnnlib import widgets as cw  # noqa: E402
from cnnlib.data import load_mnist  # noqa: E402
from cnnlib.model import build_lenet  # noqa: E402
from cnnlib.optim import Adam  # noqa: E402
from cnnlib.train import Trainer, to_input  # noqa: E402

TARGET_SECONDS = 0.100


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from _walk(child)


def _controls(explorer):
    """Sliders and dropdowns a learner would move, found in the explorer's widget tree."""
    kinds = (widgets.IntSlider, widgets.FloatSlider, widgets.FloatLogSlider, widgets.Dropdown,
             widgets.ToggleButtons, widgets.Checkbox, widgets.FloatRangeSlider)
    return [w for w in _walk(explorer.widget) if isinstance(w, kinds) and not w.disabled]


def _next_value(control, i):
    if isinstance(control, widgets.Checkbox):
        return not control.value
    if isinstance(control, widgets.FloatRangeSlider):      # the window keeps its width and walks across
        lo, hi = control.min, control.max
        width = control.value[1] - control.value[0]
        start = lo + (hi - lo - width) * ((i % 7) + 1) / 8
        return (start, start + width)
    if isinstance(control, (widgets.Dropdown, widgets.ToggleButtons)):
        values = [v if not isinstance(v, tuple) else v[1] for v in control.options]
        return values[(values.index(control.value) + 1) % len(values)] if len(values) > 1 else None
    lo, hi = control.min, control.max
    if hi <= lo:
        return None
    if isinstance(control, widgets.IntSlider):
        return lo + (control.value - lo + 1) % (hi - lo + 1)
    # Float sliders: walk across the range in 7 steps.
    return lo + (hi - lo) * ((i % 7) + 1) / 8 if not isinstance(control, widgets.FloatLogSlider) \
        else control.base ** (lo + (hi - lo) * ((i % 7) + 1) / 8)


@contextmanager
def timed(times, cpu_times):
    """Append the wall and CPU seconds the block takes."""
    start, cpu = time.perf_counter(), time.process_time()
    yield
    times.append(time.perf_counter() - start)
    cpu_times.append(time.process_time() - cpu)


def measure_controls(explorer, repeats):
    times, cpu_times = [], []
    for control in _controls(explorer):
        for i in range(repeats):
            value = _next_value(control, i)
            if value is None or value == control.value:
                continue
            before = explorer.draw_count
            wall, cpu = [], []
            with timed(wall, cpu):
                control.value = value
            if explorer.draw_count > before:
                times += wall
                cpu_times += cpu
    return times, cpu_times


def measure_calls(explorer, action, repeats):
    times, cpu_times = [], []
    for i in range(repeats):
        with timed(times, cpu_times):
            action(i)
    return times, cpu_times


def all_channels(explorer):
    """The feature-map explorer with "all channels" ticked (a grid of every channel)."""
    explorer.show_all.value = True
    return explorer


def dashboard(x, y):
    """A training dashboard on a fresh LeNet, a few batches in."""
    model = build_lenet(rng=0).astype(np.float32)
    dash = cw.TrainingDashboard(Trainer(model, Adam(model, lr=2e-3), rng=0), to_input(x[:2000]), y[:2000],
                                epochs=1, batch_size=64, redraw_every=10_000)
    for _ in range(5):
        dash._advance()
    return dash


def trained_lenet(x, y):
    model = build_lenet(rng=0).astype(np.float32)
    trainer = Trainer(model, Adam(model, lr=2e-3), rng=0)
    trainer.fit(x, y, epochs=1, batch_size=64, progress=False)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--only", default="", help="run only the explorers whose name contains this")
    parser.add_argument("--before", metavar="REF", help="also measure cnnlib at this git revision, side by side")
    parser.add_argument("--rounds", type=int, default=2, help="with --before: turns each side takes")
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)   # one side, for --before
    args = parser.parse_args()
    if args.before:
        return compare(args)
    if not args.json:
        print(f"load average {os.getloadavg()[0]:.1f} at the start", flush=True)

    (x_train, y_train), (x_test, y_test) = load_mnist()
    digit = x_train[0] / 255.0
    model = trained_lenet(to_input(x_train), y_train)
    rng = np.random.default_rng(0)
    small = to_input(x_test[:8]).astype(np.float64)

    cases = {
        "FilterExplorer": lambda: cw.FilterExplorer(x_train[:50], y_train[:50]),
        "SlidingWindowStepper": lambda: cw.SlidingWindowStepper(digit[8:16, 8:16], np.eye(3)),
        "ConvGeometryExplorer": lambda: cw.ConvGeometryExplorer(size=7, kernel_size=3, padding=1, stride=2),
        "PoolingExplorer": lambda: cw.PoolingExplorer(digit[6:18, 6:18]),
        "SoftmaxExplorer": lambda: cw.SoftmaxExplorer(np.array([2.0, 1.0, 0.1, -1.0]), 0),
        "StabilityLab": lambda: cw.StabilityLab(np.array([1.0, 1.01, 0.001]) * 10),
        "GradCheckExplorer": lambda: cw.GradCheckExplorer(build_lenet(rng=1), small[:2], y_test[:2]),
        "BackwardStepper (conv)": lambda: cw.BackwardStepper(digit[10:17, 10:17], rng.standard_normal((5, 5)),
                                                             kernel=np.ones((3, 3))),
        "BackwardStepper (pool)": lambda: cw.BackwardStepper(digit[10:18, 10:18], rng.standard_normal((4, 4)),
                                                             pool_size=2),
        "FeatureMapExplorer": lambda: cw.FeatureMapExplorer(model, x_test[:20], y_test[:20]),
        "FeatureMapExplorer (all)": lambda: all_channels(cw.FeatureMapExplorer(model, x_test[:20], y_test[:20])),
        "ConfusionExplorer": lambda: cw.ConfusionExplorer(model, x_test, y_test),
        "DrawDigit": lambda: cw.DrawDigit(model),
        "DrawDigit (stroke)": lambda: cw.DrawDigit(model),
        "TrainingDashboard": lambda: dashboard(x_train, y_train),
        "ReceptiveFieldExplorer": lambda: cw.ReceptiveFieldExplorer(digit, build_lenet(rng=0)[:6]),
        "DepthExplorer": lambda: cw.DepthExplorer(),
        "AugmentExplorer": lambda: cw.AugmentExplorer(x_train[:4]),
    }
    rows = []
    for name, make in cases.items():
        if args.only not in name or not hasattr(cw, name.split()[0]):
            continue
        start = time.perf_counter()
        explorer = make()
        build = time.perf_counter() - start
        if name == "DrawDigit":
            def stroke(i, ex=explorer):
                ex.clear() if hasattr(ex, "clear") else None
                ex.draw_stroke([(100 + 5 * i, 60), (140, 140), (120 + 3 * i, 220)])
            times, cpu_times = measure_calls(explorer, stroke, args.repeats)
        elif name == "DrawDigit (stroke)":
            explorer.draw_stroke([(60, 50), (220, 50)])
            times, cpu_times = measure_calls(explorer, lambda i, ex=explorer: ex.draw_stroke(
                [(100 + 5 * i, 60), (140, 140), (120 + 3 * i, 220)]), args.repeats)
        elif name == "ConfusionExplorer":
            buttons = [w for w in _walk(explorer.widget) if isinstance(w, widgets.Button)]
            times, cpu_times = measure_calls(explorer, lambda i, b=buttons: b[(7 * i + 1) % len(b)].click(),
                                             args.repeats)
        elif name == "TrainingDashboard":
            times, cpu_times = [], []
            for i in range(args.repeats):
                for _ in range(5):          # a few more batches (not timed), then the redraw
                    explorer._advance()
                with timed(times, cpu_times):
                    explorer.refresh()
        else:
            times, cpu_times = measure_controls(explorer, args.repeats)
        explorer.close()
        if not times:
            print(f"{name}: no control produced a redraw", file=sys.stderr)
            continue
        rows.append((name, build, statistics.median(times), max(times), statistics.median(cpu_times), len(times)))
        if args.json:
            print(json.dumps({"name": name, "times": times, "cpu": cpu_times}), flush=True)
            continue
        print(f"  {name}: median {rows[-1][2] * 1e3:.1f} ms", file=sys.stderr, flush=True)
    if args.json:
        return

    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{'explorer':<26}{'build ms':>10}{'median ms':>11}{'max ms':>9}{'cpu ms':>8}{'n':>5}   "
          f"target {TARGET_SECONDS * 1e3:.0f} ms")
    for name, build, median, worst, cpu, n in rows:
        verdict = "ok" if median <= TARGET_SECONDS else "SLOW"
        print(f"{name:<26}{build * 1e3:10.0f}{median * 1e3:11.1f}{worst * 1e3:9.1f}{cpu * 1e3:8.1f}{n:5d}   {verdict}")
    slow = [r[0] for r in rows if r[2] > TARGET_SECONDS]
    print(f"\n{len(rows) - len(slow)} of {len(rows)} explorers respond within {TARGET_SECONDS * 1e3:.0f} ms (median)"
          + (f"; slow: {', '.join(slow)}" if slow else ""))


def _side(python_path, args):
    """Run this script for one side (PYTHONPATH = python_path) and collect its timings."""
    cmd = [sys.executable, __file__, "--json", "--repeats", str(args.repeats), "--only", args.only]
    env = dict(os.environ, PYTHONPATH=str(python_path))
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=tempfile.gettempdir()).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def compare(args):
    """The working tree's explorers against those of a git revision, in turns, in one run."""
    repo = pathlib.Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="bench-before-") as old:
        archive = subprocess.run(["git", "archive", "--format=tar", args.before, "cnnlib", "resources"],
                                 cwd=repo, capture_output=True, check=True).stdout
        with tarfile.open(fileobj=__import__("io").BytesIO(archive)) as tar:
            tar.extractall(old, filter="data")
        sides = {"before": pathlib.Path(old), "now": repo}
        times = {side: {} for side in sides}
        loads = [os.getloadavg()[0]]
        for r in range(args.rounds):
            for side, path in (sides.items() if r % 2 == 0 else reversed(sides.items())):
                for row in _side(path, args):
                    times[side].setdefault(row["name"], []).extend(row["times"])
                loads.append(os.getloadavg()[0])
    print(f"{args.before} (before) against the working tree (now), {args.rounds} rounds taking turns; "
          f"load average {min(loads):.1f}-{max(loads):.1f} during the run")
    print(f"{'explorer':<26}{'before ms':>11}{'now ms':>9}{'now max':>9}{'now/before':>12}   target {TARGET_SECONDS * 1e3:.0f} ms")
    for name, now in times["now"].items():
        before = times["before"].get(name)
        b = statistics.median(before) if before else float("nan")
        n = statistics.median(now)
        print(f"{name:<26}{b * 1e3:11.1f}{n * 1e3:9.1f}{max(now) * 1e3:9.1f}{n / b:12.2f}   "
              f"{'ok' if n <= TARGET_SECONDS else 'SLOW'}")


if __name__ == "__main__":
    main()
