"""Watching training: loss and accuracy curves, and a dashboard that draws them while a
model trains (in the cell, or in a background thread with Start, Pause and Resume).

May import: numpy, matplotlib, ipywidgets, the cnnlib core (:class:`cnnlib.train.Trainer`
is driven through its ``steps`` generator and ``evaluate``), :mod:`cnnlib.explore.picture`,
:mod:`cnnlib.explore.explorer` and :mod:`cnnlib.explore.learner` (the learner's net).

The contract
------------
* ``plot_curves(history)`` is :class:`CurvesPicture`'s first drawing: the lesson's static
  picture. The dashboard keeps one live ``CurvesPicture`` and extends its lines.
* The dashboard may draw from its training thread. Its figure is made by
  :func:`cnnlib.explore.picture.new_figure` (outside pyplot, so no global state is
  touched), redraws are serialised by a lock, and setting a widget's value from a thread
  is safe in ipywidgets.
* In a live picture the curves are animated and the axis limits only ever grow: most
  redraws then draw the lines over the kept background, and a full redraw happens only
  when a limit grows or a new line (and its legend entry) appears.
"""
import collections
import math
import threading
import time

import ipywidgets as widgets
import numpy as np

from cnnlib.explore.explorer import Explorer
from cnnlib.explore.learner import LearnerLayer, LearnerLoss
from cnnlib.explore.picture import FONT_SIZE, Picture, animate
from cnnlib.ops import check_int

__all__ = ["plot_curves", "CurvesPicture", "TrainingDashboard", "trailing_mean", "estimate_my_training"]

HISTORY_KEYS = ("epoch", "loss", "train_acc", "val_loss", "val_acc")
#: Inches around the two panels of a figure the picture makes: room for the tick labels,
#: the axis labels and the titles at FONT_SIZE and 10 pt.
MARGINS = {"left": 0.65, "right": 0.15, "bottom": 0.5, "top": 0.3, "between": 0.75}


def trailing_mean(values, window):
    """Mean of the last ``window`` values at each position (shorter at the start).

    >>> trailing_mean([2.0, 1.0, 0.0, 1.0], 2)
    array([2. , 1.5, 0.5, 0.5])
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    csum = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, values.size + 1)
    starts = np.maximum(ends - window, 0)
    return (csum[ends] - csum[starts]) / (ends - starts)


def plot_curves(history, *, steps=None, axes=None, label=None, smooth=20, color=None, figsize=(9, 3.2)):
    """Loss and accuracy against epochs: the two pictures that tell how training goes.

    Parameters
    ----------
    history : dict of lists, or None
        Per-epoch numbers as :meth:`cnnlib.train.Trainer.fit` returns them: ``epoch``,
        ``loss``, ``train_acc``, ``val_loss``, ``val_acc`` (NaN when there was no
        validation data). Lists may be empty (nothing trained yet); None draws ``steps`` only.
    steps : dict of lists, optional
        Per-batch numbers: ``t`` (epochs done, fractional), ``loss`` and ``acc``. Drawn
        faint, with their trailing mean over ``smooth`` batches drawn on top.
    axes : pair of Axes, optional
        Draw into these (loss left, accuracy right); default a new figure. Several runs
        drawn into the same axes (each with its own ``label`` and ``color``) compare them.
    label : str, optional
        Prefix for the legend entries.

    Returns
    -------
    Figure
    """
    return CurvesPicture(history, steps=steps, axes=axes, label=label, smooth=smooth, color=color,
                         figsize=figsize).fig


def _check_history(history):
    if history is None:
        return {key: [] for key in HISTORY_KEYS}
    for key in HISTORY_KEYS:
        if key not in history:
            raise ValueError(f"CurvesPicture: history has no {key!r} list; pass what Trainer.fit returns")
    return history


def _data_range(ax, axis):
    """(smallest, largest) finite x (axis 0) or y (axis 1) of the visible lines in ``ax``."""
    parts = [np.asarray(line.get_data()[axis], dtype=float) for line in ax.lines if line.get_visible()]
    values = np.concatenate(parts) if parts else np.array([])
    values = values[np.isfinite(values)]
    return (float(values.min()), float(values.max())) if values.size else None


class CurvesPicture(Picture):
    """What :func:`plot_curves` draws; :meth:`update` gives the lines their new data (making
    a line the first time it has data) and redoes the legend only when a line appeared.

    Parameters
    ----------
    xlim : (float, float), optional
        Fixed epoch range (a dashboard knows its plan); default from 0 to the last epoch.
    """

    def __init__(self, history=None, steps=None, *, axes=None, label=None, smooth=20, color=None,
                 figsize=(9, 3.2), xlim=None, live=False):
        own_figure = axes is None
        self._start(figsize, live=live, fig=None if own_figure else axes[0].figure)
        if own_figure:
            W, H = self.fig.get_size_inches()
            m = MARGINS
            axes = self.fig.subplots(1, 2, gridspec_kw=dict(
                left=m["left"] / W, right=1 - m["right"] / W, bottom=m["bottom"] / H, top=1 - m["top"] / H,
                wspace=m["between"] / ((W - m["left"] - m["right"] - m["between"]) / 2)))
        self.axes = ax_loss, ax_acc = tuple(axes)
        self.label, self.smooth, self.color, self.xlim = label, smooth, color, xlim
        self.lines = {}
        self._grown = {}            # axes -> (x limits, y limits) shown so far (live pictures only grow them)
        ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss")
        ax_loss.set_title("loss", fontsize=10)
        ax_acc.set(xlabel="epoch", ylabel="accuracy")
        ax_acc.set_title("accuracy", fontsize=10)
        for ax in self.axes:
            ax.grid(alpha=0.3)
            ax.tick_params(labelsize=FONT_SIZE)
            # The frames are drawn over the (animated) curves, as in a plain drawing: a marker
            # on the last epoch sits on the frame.
            animate(self, *ax.spines.values())
        self.update(history, steps)

    def _line(self, name, ax, x, y, *args, **kwargs):
        if name not in self.lines:
            self.lines[name], = ax.plot(x, y, *args, **kwargs)
            animate(self, self.lines[name])
            self._new_lines = True
        else:
            self.lines[name].set_data(x, y)
        self._updated.add(name)

    def update(self, history, steps=None):
        history = _check_history(history)
        ax_loss, ax_acc = self.axes
        label, color, smooth = self.label, self.color, self.smooth
        prefix = f"{label}: " if label else ""
        self._new_lines, self._updated = False, set()
        epochs = np.asarray(history["epoch"], dtype=float)
        if steps is not None and len(steps.get("t", ())):
            t = np.asarray(steps["t"], dtype=float)
            for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
                values = np.asarray(steps[key], dtype=float)
                self._line(f"{key} batches", ax, t, values, color=color or "tab:blue", alpha=0.2, lw=0.8)
                self._line(f"{key} mean", ax, t, trailing_mean(values, smooth), color=color or "tab:blue", lw=1.5,
                           label=label or f"train (batches, mean of {smooth})")
        elif epochs.size:
            self._line("loss train", ax_loss, epochs, history["loss"], "o-", color=color or "tab:blue",
                       label=f"{prefix}train")
            self._line("acc train", ax_acc, epochs, history["train_acc"], "o-", color=color or "tab:blue",
                       label=f"{prefix}train")
        val_acc = np.asarray(history["val_acc"], dtype=float)
        if epochs.size and np.isfinite(val_acc).any():
            self._line("loss test", ax_loss, epochs, history["val_loss"], "s--", color=color or "tab:orange",
                       label=f"{prefix}test")
            self._line("acc test", ax_acc, epochs, val_acc, "s--", color=color or "tab:orange", label=f"{prefix}test")
        for name, line in self.lines.items():
            if line.get_visible() != (name in self._updated):
                line.set_visible(name in self._updated)
        self._set_limits()
        if self._new_lines:
            for ax, where in ((ax_loss, "upper right"), (ax_acc, "lower right")):   # where the curves are not
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(fontsize=FONT_SIZE, loc=where)
        return self

    def _set_limits(self):
        """Epochs from 0 (or ``xlim``); loss from 0 up, accuracy up to 1, each with a margin.

        All lines of the axes count (other runs drawn into them too). A live picture only
        widens its limits, so that most redraws leave the axes alone."""
        for ax, kind in zip(self.axes, ("loss", "acc")):
            xs, ys = _data_range(ax, 0), _data_range(ax, 1)
            if self.xlim is not None:
                x_lim = tuple(float(v) for v in self.xlim)
            else:
                x_lim = (0.0, max(xs[1], 0.0) * 1.03 if xs and xs[1] > 0 else 1.0)
            if kind == "loss":
                y_lim = (0.0, ys[1] * 1.05 if ys and ys[1] > 0 else 1.0)
            else:
                low = ys[0] if ys else 0.0
                y_lim = (max(0.0, low - 0.05 * (1.0 - low)), 1.02)
            if self.live and ax in self._grown:
                (x0, x1), (y0, y1) = self._grown[ax]
                x_lim = (min(x_lim[0], x0), max(x_lim[1], x1)) if self.xlim is None else x_lim
                y_lim = (min(y_lim[0], y0), max(y_lim[1], y1))
            if ax.get_xlim() != x_lim:
                ax.set_xlim(*x_lim)
            if ax.get_ylim() != y_lim:
                ax.set_ylim(*y_lim)
            self._grown[ax] = (x_lim, y_lim)


class TrainingDashboard(Explorer):
    """Loss and accuracy curves that grow while a model trains, with a progress bar.

    Two ways to drive it:

    * ``dashboard.run()`` trains the whole plan in the calling cell, redrawing the curves
      every ``redraw_every`` steps and at the end of each epoch. The notebook uses this:
      it is deterministic, and the front end shows the updates live. But a busy cell
      cannot receive button clicks (the kernel handles one message at a time), so the
      buttons are hidden and one line says why.
    * The **Start** button trains in a background thread, one batch at a time, so the
      kernel stays free: **Pause** takes effect after the current batch and **Resume**
      continues exactly where training stopped (the same batches, the same numbers).

    Parameters
    ----------
    trainer : cnnlib.train.Trainer
    x, y : training inputs (N, C, H, W) and labels (N,)
    x_val, y_val : optional data evaluated after every epoch (both or neither)
    epochs, batch_size : the plan: ``epochs`` passes over ``(x, y)``
    redraw_every : redraw the curves every this many steps (most redraws only draw the
        lines over the kept background: a few ms)

    Attributes
    ----------
    history : dict of lists, per epoch, in :meth:`Trainer.fit`'s format
    step_log : dict of lists ``t`` (epochs, fractional), ``loss``, ``acc``, per batch
    steps_done : int
    state : "ready", "running", "paused", "done", "stopped" or "error"
    info : ipywidgets.Label, the running numbers (epoch, step, loss, accuracy)
    """

    #: Shown instead of the buttons while (and after) :meth:`run` trains in the cell.
    RUN_NOTE = ("Training runs in this cell (run()), so there are no buttons: a dashboard shown "
                "without run() has Start, Pause and Resume.")

    def __init__(self, trainer, x, y, x_val=None, y_val=None, epochs=1, batch_size=64, *,
                 redraw_every=20, smooth=20, title="Training dashboard"):
        owner = "TrainingDashboard"
        if not hasattr(trainer, "steps"):
            raise ValueError(f"{owner}: expected a cnnlib.train.Trainer, got {type(trainer).__name__}")
        x, y = np.asarray(x), np.asarray(y)
        if y.ndim != 1 or len(x) != len(y) or len(y) == 0:
            raise ValueError(f"{owner}: x and y must hold the same number (> 0) of examples, got shapes "
                             f"{x.shape} and {y.shape}")
        if (x_val is None) != (y_val is None):
            raise ValueError(f"{owner}: pass both x_val and y_val, or neither")
        self.trainer, self.x, self.y, self.x_val, self.y_val = trainer, x, y, x_val, y_val
        self.epochs = check_int(f"{owner}: epochs", epochs, 1)
        self.batch_size = check_int(f"{owner}: batch_size", batch_size, 1)
        self.redraw_every = check_int(f"{owner}: redraw_every", redraw_every, 1)
        self.smooth = check_int(f"{owner}: smooth", smooth, 1)
        self.steps_per_epoch = math.ceil(len(y) / self.batch_size)
        self.total_steps = self.epochs * self.steps_per_epoch
        self.first_epoch = trainer.epoch   # the curves start where the trainer stands
        self.history = {key: [] for key in HISTORY_KEYS + ("seconds",)}
        self.step_log = {"t": [], "loss": [], "acc": []}
        self.steps_done = 0
        self.state = "ready"
        self.error = None
        self._stepper = None
        self._epoch_sums = [0.0, 0.0, 0]   # loss * n, correct, n
        self._epoch_start = None
        self._thread = None
        self._cond = threading.Condition()   # guards the pause/stop flags below
        self._pause_requested = False
        self._stop_requested = False
        self._idle = False                   # True while the thread waits in a pause
        self._draw_lock = threading.Lock()   # one redraw at a time (the thread and the kernel)

        self.start_button = widgets.Button(description="Start", icon="play", layout=widgets.Layout(width="100px"))
        self.pause_button = widgets.Button(description="Pause", icon="pause", disabled=True,
                                           layout=widgets.Layout(width="100px"))
        self.resume_button = widgets.Button(description="Resume", icon="play", disabled=True,
                                            layout=widgets.Layout(width="100px"))
        self.run_note = widgets.HTML(value=f"<i>{self.RUN_NOTE}</i>", layout=widgets.Layout(display="none"))
        self.progress = widgets.IntProgress(value=0, min=0, max=self.total_steps, description="steps",
                                            layout=widgets.Layout(width="260px"))
        self.info = widgets.Label(value=f"ready: {self.epochs} epoch(s) of {self.steps_per_epoch} steps")
        self.start_button.on_click(self._on_start)
        self.pause_button.on_click(self._on_pause)
        self.resume_button.on_click(self._on_resume)
        super().__init__([self.start_button, self.pause_button, self.resume_button, self.run_note, self.progress],
                         title=title, observe=False)
        # The running numbers get a line of their own, between the buttons and the curves.
        children = list(self.widget.children)
        children.insert(children.index(self.image), self.info)
        self.widget.children = tuple(children)

    # -- drawing (also from the training thread: the live figure is outside pyplot)
    def build_picture(self):
        return CurvesPicture(self.history, steps=self.step_log, smooth=self.smooth,
                             xlim=(self.first_epoch, self.first_epoch + self.epochs), live=True)

    def update_picture(self):
        self.picture.update(self.history, steps=self.step_log)

    def refresh(self, *_):
        """Redraw the curves (from the kernel or the training thread, one at a time)."""
        with self._draw_lock:
            super().refresh()

    # -- one step
    def _advance(self):
        """Train one batch and record it; False once the plan is complete."""
        if self._stepper is None:
            self._stepper = self.trainer.steps(self.x, self.y, self.batch_size, epochs=self.epochs)
            self._epoch_start = time.perf_counter()
        try:
            info = next(self._stepper)
        except StopIteration:
            return False
        self._record(info)
        return True

    def _record(self, info):
        self.steps_done += 1
        self.progress.value = self.steps_done
        self.step_log["t"].append(info["epoch"] - 1 + info["step"] / info["steps_per_epoch"])
        self.step_log["loss"].append(info["loss"])
        self.step_log["acc"].append(info["acc"])
        sums = self._epoch_sums
        sums[0] += info["loss"] * info["batch_size"]
        sums[1] += info["acc"] * info["batch_size"]
        sums[2] += info["batch_size"]
        epoch_in_plan = info["epoch"] - self.first_epoch
        line = (f"epoch {epoch_in_plan}/{self.epochs}  step {info['step']}/{info['steps_per_epoch']}  "
                f"loss {sums[0] / sums[2]:.4f}  train acc {sums[1] / sums[2]:.4f}")
        if info["step"] == info["steps_per_epoch"]:
            if self.x_val is not None:
                val_loss, val_acc = self.trainer.evaluate(self.x_val, self.y_val)
                line += f"  test acc {val_acc:.4f}"
            else:
                val_loss = val_acc = math.nan
            row = {"epoch": info["epoch"], "loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
                   "val_loss": float(val_loss), "val_acc": float(val_acc),
                   "seconds": time.perf_counter() - self._epoch_start}
            for key, value in row.items():
                self.history[key].append(value)
            self._epoch_sums = [0.0, 0.0, 0]
            self._epoch_start = time.perf_counter()
            self.info.value = line
            self.refresh()
        else:
            self.info.value = line
            if self.steps_done % self.redraw_every == 0:
                self.refresh()

    def _set_state(self, state):
        self.state = state
        self.start_button.disabled = state != "ready"
        self.pause_button.disabled = state != "running" or self._thread is None
        self.resume_button.disabled = state != "paused"

    # -- blocking
    def run(self):
        """Train the whole plan in this cell (blocking) and return :attr:`history`."""
        if self.state != "ready":
            raise RuntimeError(f"TrainingDashboard.run: the dashboard is {self.state}; make a new "
                               "dashboard for a new run (Start and run() share one plan)")
        # Buttons cannot be clicked while the cell runs: hide them and say why.
        for b in (self.start_button, self.pause_button, self.resume_button):
            b.layout.display = "none"
        self.run_note.layout.display = None
        self._set_state("running")
        try:
            while self._advance():
                pass
        except Exception as e:
            self.error = e
            self._set_state("error")
            self.info.value = f"error: {type(e).__name__}: {e}"
            raise
        self._set_state("done")
        return self.history

    # -- in the background: Start / Pause / Resume
    def _on_start(self, _button=None):
        if self.state != "ready":
            return
        self._thread = threading.Thread(target=self._background_loop, name="TrainingDashboard", daemon=True)
        self._set_state("running")
        self._thread.start()

    def _on_pause(self, _button=None):
        with self._cond:
            if self.state != "running" or self._thread is None:
                return
            self._pause_requested = True
            self._set_state("paused")
            self.info.value += "  (pausing after this batch)"

    def _on_resume(self, _button=None):
        with self._cond:
            if self.state != "paused":
                return
            self._pause_requested = False
            self._idle = False
            self._set_state("running")
            self._cond.notify_all()

    def _background_loop(self):
        try:
            while True:
                with self._cond:
                    while self._pause_requested and not self._stop_requested:
                        if not self._idle:
                            self._idle = True
                            self.info.value = f"paused after step {self.steps_done} of {self.total_steps}"
                            self._cond.notify_all()
                        self._cond.wait()
                    if self._stop_requested:
                        return
                if not self._advance():
                    break
            with self._cond:
                self._set_state("done")
        except Exception as e:   # shown in the widget: a thread must not fail silently
            self.error = e
            self._set_state("error")
            self.info.value = f"error: {type(e).__name__}: {e}"
        finally:
            with self._cond:
                self._cond.notify_all()

    def wait_until_paused(self, timeout=10):
        """Block until the training thread sits in its pause (or has ended); True if so."""
        with self._cond:
            return self._cond.wait_for(lambda: self._idle or not self.training, timeout)

    @property
    def training(self):
        """True while the background thread is alive (running or paused)."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout=None):
        """Wait for the background training to finish (or ``timeout`` seconds)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.training

    def stop(self, timeout=10):
        """End background training after the current batch and wait for the thread."""
        with self._cond:
            self._stop_requested = True
            self._cond.notify_all()
        self.join(timeout)
        if self.state in ("running", "paused"):
            self._set_state("stopped")

    def close(self):
        self.stop()
        self.info.close()
        self.run_note.close()
        super().close()


# ---------------------------------------------------------------------------- how long training will take

def _duration(seconds):
    """'42 s', '3.5 minutes' or '1.2 hours'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} minutes" if seconds < 5400 else f"{seconds / 3600:.1f} hours"


def estimate_my_training(net, module, x, y, *, epochs, batch_size=64, n_val=0, optimizer="adam_step",
                         budget=300.0):
    """Time one mini-batch through the learner's functions and say how long training will take.

    One batch of ``batch_size`` examples goes forward through ``net``, through the
    learner's loss, backward, and through ``optimizer`` on copies of the parameters, each
    function timed on its own. The estimate is that batch's time for every training step
    plus the forward passes of the evaluation after each epoch. ``net``'s parameters are
    not changed, so the training that follows is the one it would have been.

    Parameters
    ----------
    net : Sequential
        :func:`cnnlib.explore.learner.learner_net`'s net (its layers are ``LearnerLayer``).
    module : module
        The learner's ``my_cnn``.
    x, y : arrays (N, C, H, W) and (N,)
        The training data (its first ``batch_size`` examples are timed).
    epochs : int
    batch_size : int, default 64
    n_val : int, default 0
        Examples evaluated after each epoch.
    optimizer : {"adam_step", "sgd_momentum_step"}
    budget : float or None, default 300
        Seconds the lesson allows; a longer estimate raises before anything trains.

    Returns
    -------
    dict
        ``batch_seconds``, ``seconds`` (the estimate) and ``functions`` (name -> seconds
        in the timed batch, slowest first).

    Raises
    ------
    RuntimeError
        If the estimate exceeds ``budget``: it names the slowest functions and what to do.
    """
    if optimizer not in ("adam_step", "sgd_momentum_step"):
        raise ValueError(f"estimate_my_training: optimizer must be 'adam_step' or 'sgd_momentum_step', "
                         f"not {optimizer!r}")
    if not all(isinstance(layer, LearnerLayer) for layer in net.layers):
        raise ValueError("estimate_my_training: net must be learner_net(my_cnn, ...)'s net")
    epochs = check_int("estimate_my_training: epochs", epochs, 1)
    batch_size = check_int("estimate_my_training: batch_size", batch_size, 1)
    times = collections.Counter()

    def timed(name, fn, *args):
        start = time.perf_counter()
        result = fn(*args)
        times[name] += time.perf_counter() - start
        return result

    def name(layer, direction):
        return f"{layer.kind}_{direction}" if layer.kind else f"{layer.layer!r} (cnnlib's)"

    h, yb = x[:batch_size], np.asarray(y[:batch_size])
    for layer in net.layers:
        h = timed(name(layer, "forward"), layer.forward, h)
    forward_seconds = sum(times.values())
    loss = LearnerLoss(module)
    timed("softmax_cross_entropy", loss.forward, h, yb)
    dout = loss.backward()
    for layer in reversed(net.layers):
        dout = timed(name(layer, "backward"), layer.backward, dout)
    step = getattr(module, optimizer)
    for layer in net.layers:
        for key, p in layer.params.items():
            zeros = np.zeros_like(p)
            args = (zeros.copy(), 1, 1e-3) if optimizer == "adam_step" else (0.01, 0.9)
            timed(optimizer, step, p.copy(), layer.grads[key], zeros, *args)
    batch_seconds = sum(times.values())
    steps = epochs * math.ceil(len(y) / batch_size)
    seconds = steps * batch_seconds + epochs * n_val / len(yb) * forward_seconds
    functions = dict(times.most_common())
    slowest = ", ".join(f"{k} {v / batch_seconds:.0%}" for k, v in list(functions.items())[:3])
    print(f"One batch of {len(yb)} through your functions: {batch_seconds:.3f} s (slowest: {slowest}).")
    print(f"Training {epochs} epoch(s) of {len(y):,} images ({steps} steps) with a test of {n_val:,} "
          f"images after each: about {_duration(seconds)}.")
    if budget is not None and seconds > budget:
        top, top_seconds = next(iter(functions.items()))
        raise RuntimeError(
            f"Training your network would take about {_duration(seconds)}, longer than the "
            f"{_duration(budget)} this cell allows. Most of each batch is {top} ({top_seconds:.2f} s of "
            f"{batch_seconds:.2f} s): it probably still loops over images or positions in Python. Write it "
            "with array operations (lesson 2 section 5 shows how for the convolution), save my_cnn.py and "
            "run this cell again; to wait anyway, pass budget=None.")
    return {"batch_seconds": batch_seconds, "seconds": seconds, "functions": functions}
