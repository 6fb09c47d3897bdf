"""How fast do the lesson explorers respond? The time from a control change to a new picture.

Usage:  .venv/bin/python benchmarks/bench_widgets.py [--repeats 15]

For each explorer we build it on the bundled MNIST sample (and a small trained LeNet where
it needs a model), then move each of its sliders (or click its buttons, or draw a stroke)
`repeats` times. Setting a control's value runs its observers synchronously, so the wall
time of that assignment is the whole kernel-side response: compute, draw, encode the PNG
and hand it to the Output widget. The browser then only shows a ready-made image. Our
target is about 100 ms per response on this machine; the report prints the median and the
slowest of each.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("IPYTHONDIR", tempfile.mkdtemp(prefix="bench-ipython-"))

import ipywidgets as widgets  # noqa: E402
import numpy as np  # noqa: E402

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
             widgets.ToggleButtons)
    return [w for w in _walk(explorer.widget) if isinstance(w, kinds) and not w.disabled]


def _next_value(control, i):
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


def measure_controls(explorer, repeats):
    times = []
    for control in _controls(explorer):
        for i in range(repeats):
            value = _next_value(control, i)
            if value is None or value == control.value:
                continue
            before = explorer.draw_count
            start = time.perf_counter()
            control.value = value
            elapsed = time.perf_counter() - start
            if explorer.draw_count > before:
                times.append(elapsed)
    return times


def measure_calls(explorer, action, repeats):
    times = []
    for i in range(repeats):
        start = time.perf_counter()
        action(i)
        times.append(time.perf_counter() - start)
    return times


def trained_lenet(x, y):
    model = build_lenet(rng=0).astype(np.float32)
    trainer = Trainer(model, Adam(model, lr=2e-3), rng=0)
    trainer.fit(x, y, epochs=1, batch_size=64, progress=False)
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()

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
        "ConfusionExplorer": lambda: cw.ConfusionExplorer(model, x_test, y_test),
        "DrawDigit": lambda: cw.DrawDigit(model),
    }
    rows = []
    for name, make in cases.items():
        start = time.perf_counter()
        explorer = make()
        build = time.perf_counter() - start
        if name == "DrawDigit":
            def stroke(i, ex=explorer):
                ex.clear() if hasattr(ex, "clear") else None
                ex.draw_stroke([(100 + 5 * i, 60), (140, 140), (120 + 3 * i, 220)])
            times = measure_calls(explorer, stroke, args.repeats)
        elif name == "ConfusionExplorer":
            buttons = [w for w in _walk(explorer.widget) if isinstance(w, widgets.Button)]
            times = measure_calls(explorer, lambda i, b=buttons: b[(7 * i + 1) % len(b)].click(), args.repeats)
        else:
            times = measure_controls(explorer, args.repeats)
        explorer.close()
        if not times:
            print(f"{name}: no control produced a redraw", file=sys.stderr)
            continue
        rows.append((name, build, statistics.median(times), max(times), len(times)))

    print(f"{'explorer':<24}{'build ms':>10}{'median ms':>11}{'max ms':>9}{'n':>5}   target {TARGET_SECONDS * 1e3:.0f} ms")
    for name, build, median, worst, n in rows:
        verdict = "ok" if median <= TARGET_SECONDS else "SLOW"
        print(f"{name:<24}{build * 1e3:10.0f}{median * 1e3:11.1f}{worst * 1e3:9.1f}{n:5d}   {verdict}")
    slow = [r[0] for r in rows if r[2] > TARGET_SECONDS]
    print(f"\n{len(rows) - len(slow)} of {len(rows)} explorers respond within {TARGET_SECONDS * 1e3:.0f} ms (median)"
          + (f"; slow: {', '.join(slow)}" if slow else ""))


if __name__ == "__main__":
    main()
