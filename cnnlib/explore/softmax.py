"""Softmax and cross-entropy: probability bars, the overflow of a naive softmax, and their explorers.

May import: numpy, matplotlib, ipywidgets, :mod:`cnnlib.losses` (the softmax we show is
the library's own), :mod:`cnnlib.explore.picture` and :mod:`cnnlib.explore.explorer`.

The contract
------------
* Every value we draw is computed by :mod:`cnnlib.losses` (``softmax``, ``log_softmax``),
  except the deliberately naive softmax of the stability lab, which is written out here
  (:func:`naive_softmax`) so that a learner can watch it overflow.
* One drawing code path per picture: ``plot_probabilities(...)`` is
  ``ProbabilitiesPicture(...).fig`` and ``plot_softmax_stability(...)`` is
  ``StabilityPicture(...).fig``; :class:`SoftmaxExplorer` and :class:`StabilityLab` build
  the same classes with ``live=True`` and call their ``update`` on every slider move.
* Numbers are written as a reader expects them: ``-0`` as ``0``, ``nan`` and ``inf``
  spelled out, and a probability too small for three decimals in scientific notation
  (``3.2e-09``), never as a misleading ``0.000``.
"""
import ipywidgets as widgets
import numpy as np
from matplotlib.transforms import ScaledTranslation

from cnnlib.explore.explorer import Explorer
from cnnlib.explore.picture import FONT_SIZE, Picture, animate, fit_layout, format_value, set_text
from cnnlib.losses import log_softmax, softmax
from cnnlib.ops import check_int

__all__ = ["MAX_CLASSES", "naive_softmax", "probability_text", "plot_probabilities", "ProbabilitiesPicture",
           "plot_softmax_stability", "StabilityPicture", "SoftmaxExplorer", "StabilityLab"]

#: One slider per logit: more than ten do not fit on a screen.
MAX_CLASSES = 10
#: Titles are one point larger than the other text.
TITLE_SIZE = FONT_SIZE + 1
#: Below this, a probability written with three decimals would read "0.000".
SMALLEST_DECIMAL = 0.0005
#: The true-class triangle's height in data units (8 pt on a bar axis of about 2.4 in, 0 to 1.12).
TRUE_MARKER_HEIGHT = 0.05
#: Values per line in the stability picture's ``exp(z) = [...]`` line (ten do not fit in a panel).
EXP_VALUES_PER_LINE = 5


def naive_softmax(z):
    """``exp(z) / sum(exp(z))`` without the max trick: overflow gives ``inf`` and ``nan``, silently.

    Parameters
    ----------
    z : array (K,)

    Returns
    -------
    array (K,), the dtype of ``z``

    Examples
    --------
    >>> naive_softmax(np.array([0.0, 0.0]))
    array([0.5, 0.5])
    >>> naive_softmax(np.array([1000.0, 0.0]))            # exp(1000) is inf; inf / inf is nan
    array([nan,  0.])
    """
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        return e / e.sum()


def probability_text(p):
    """A probability as a label: three decimals, or scientific notation when that would read 0.

    >>> probability_text(0.25), probability_text(3.2e-9), probability_text(0.0), probability_text(-0.0)
    ('0.250', '3.2e-09', '0.000', '0.000')
    >>> probability_text(float("nan"))
    'nan'
    """
    fmt = "{:.1e}" if 0 < abs(p) < SMALLEST_DECIMAL else "{:.3f}"
    return format_value(p, fmt)


def _probability_vector(owner, probs):
    """``probs`` as a non-empty 1-D float array, or a ValueError naming ``owner``."""
    probs = np.asarray(probs, dtype=float)
    if probs.ndim != 1 or probs.size == 0:
        raise ValueError(f"{owner}: expected a 1-D array of probabilities (K,), got shape {probs.shape}")
    return probs


def _logit_vector(owner, logits):
    """A 1-D float64 array of 2..MAX_CLASSES finite logits, or a ValueError naming ``owner``."""
    try:
        z = np.array(logits, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: logits must be a list or 1-D array of numbers, got {logits!r}") from None
    if z.ndim != 1 or not 2 <= z.size <= MAX_CLASSES:
        raise ValueError(f"{owner}: logits must be a 1-D array of 2 to {MAX_CLASSES} numbers, got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError(f"{owner}: logits must be finite numbers, got {z.tolist()}")
    return z


def _figure_of(owner, ax):
    """The figure of a caller's ``ax`` (the caller lays it out), or None when the picture
    makes its own figure."""
    if ax is None:
        return None
    if not hasattr(ax, "bar"):
        raise ValueError(f"{owner}: ax must be a matplotlib Axes, got {type(ax).__name__}")
    return ax.figure.canvas.figure            # the root figure, also for an ax in a subfigure


# ----------------------------------------------------------------------------- probability bars

def plot_probabilities(probs, *, true_class=None, class_labels=None, ax=None, title=None, show_values=True,
                       figsize=(5, 3)):
    """Bar chart of class probabilities, each bar labelled with its value.

    Parameters
    ----------
    probs : array (K,)
        Probabilities (a softmax output).
    true_class : int, optional
        Its bar is orange (the others blue), its tick label bold and orange, and a triangle
        on the axis marks it even when its probability is 0.
    class_labels : list of K str, optional
        Tick labels (default ``0, 1, ...``).
    ax : matplotlib Axes, optional
        Draw into this axes (the caller lays out its figure); by default a new figure of
        ``figsize`` inches.
    show_values : bool
        Write each probability above its bar (turn off for small panels with many classes;
        the true class's value is always written).

    Returns
    -------
    Figure
        ``ProbabilitiesPicture(...).fig`` (``ax``'s figure when ``ax`` is given).
    """
    return ProbabilitiesPicture(probs, true_class=true_class, class_labels=class_labels, ax=ax, title=title,
                                show_values=show_values, figsize=figsize).fig


class ProbabilitiesPicture(Picture):
    """What :func:`plot_probabilities` draws; :meth:`update` moves the bars and their labels
    to new probabilities (same number of classes).

    With ``live=True`` the bars, their labels, the true-class triangle and the title are
    animated: the axes, ticks and axis labels are drawn once.

    Attributes
    ----------
    ax : Axes
    bars : list of K Rectangle
    labels : list of K Text
        The values written above the bars.
    true_marker : Line2D or None
        The triangle on the axis under the true class.
    """

    def __init__(self, probs, *, true_class=None, class_labels=None, title=None, show_values=True, ax=None,
                 figsize=(5, 3), live=False):
        probs = _probability_vector("ProbabilitiesPicture", probs)
        K = probs.size
        if true_class is not None:
            true_class = check_int(f"ProbabilitiesPicture ({K} probabilities): true_class", true_class, 0, K - 1)
        if class_labels is not None and len(class_labels) != K:
            raise ValueError(f"ProbabilitiesPicture: {len(class_labels)} class_labels for {K} probabilities")
        own_figure = ax is None
        fig = self._start(figsize, live=live, fig=_figure_of("ProbabilitiesPicture", ax))
        self.ax = ax = fig.add_subplot() if own_figure else ax
        self.show_values, self.true_class = show_values, true_class
        colors = ["tab:orange" if k == true_class else "tab:blue" for k in range(K)]
        self.bars = list(ax.bar(np.arange(K), np.zeros(K), color=colors).patches)
        self.labels = [ax.text(k, 0.0, "", ha="center", va="bottom", fontsize=FONT_SIZE) for k in range(K)]
        ax.set_xticks(np.arange(K))
        ax.set_xticklabels(class_labels if class_labels is not None else [str(k) for k in range(K)])
        ax.tick_params(labelsize=FONT_SIZE)
        ax.set_ylim(0, 1.12)
        ax.set_xlabel("class", fontsize=FONT_SIZE)
        ax.set_ylabel("probability", fontsize=FONT_SIZE)
        ax.set_title("", fontsize=TITLE_SIZE)
        self.true_marker = None
        if true_class is not None:
            tick = ax.get_xticklabels()[true_class]
            tick.set_color("tab:orange")
            tick.set_fontweight("bold")
            # A triangle standing on the axis under the true class: visible however small its bar is.
            lift = ScaledTranslation(0, 4 / 72, fig.dpi_scale_trans)             # half the marker, in inches
            self.true_marker, = ax.plot([true_class], [0.0], marker="^", markersize=8, color="tab:orange",
                                        markeredgecolor="black", markeredgewidth=0.6, linestyle="none",
                                        clip_on=False, zorder=4, transform=ax.transData + lift)
        self.update(probs, title=title)
        animate(self, *self.bars, *self.labels, ax.title, *ax.spines.values(),
                *([self.true_marker] if self.true_marker is not None else []))
        if own_figure:
            fit_layout(fig)

    def update(self, probs, *, title=None):
        """Show new probabilities (same K); ``title`` replaces the title when given."""
        probs = _probability_vector("ProbabilitiesPicture", probs)
        if probs.size != len(self.bars):
            raise ValueError(f"ProbabilitiesPicture: this picture shows {len(self.bars)} classes, got {probs.size}")
        heights = np.where(np.isfinite(probs), probs, 0.0)
        for k, (bar, label, p, h) in enumerate(zip(self.bars, self.labels, probs, heights)):
            if bar.get_height() != h:
                bar.set_height(h)
            shown = bool(self.show_values or k == self.true_class or not np.isfinite(p))
            set_text(label, probability_text(p) if shown else "", visible=shown)
            y = max(h, TRUE_MARKER_HEIGHT) + 0.02 if k == self.true_class else h + 0.02   # above the triangle
            if label.get_position()[1] != y:
                label.set_y(y)
        if title is not None:
            set_text(self.ax.title, title)
        return self


# ----------------------------------------------------------------------------- naive vs stable softmax

def plot_softmax_stability(logits, naive, stable, *, dtype_name="float64", title=None, figsize=(9, 3.6)):
    """The naive softmax next to the max-shifted one, with every value written out.

    Parameters
    ----------
    logits : array (K,)
        The (scaled) logits both were computed from; ``exp`` is evaluated in their dtype.
    naive, stable : arrays (K,)
        ``exp(z) / sum(exp(z))`` and ``exp(z - max z) / sum(exp(z - max z))``. A value that
        is not finite is drawn as a red hatched full-height bar labelled ``nan`` or ``inf``.
    dtype_name : str
        Named in each panel's title (``"float64"``, ``"float32"``).
    title : str, optional
        A heading above both panels.

    Returns
    -------
    Figure
        ``StabilityPicture(...).fig``.
    """
    return StabilityPicture(logits, naive, stable, dtype_name=dtype_name, title=title, figsize=figsize).fig


class StabilityPicture(Picture):
    """What :func:`plot_softmax_stability` draws; :meth:`update` shows new logits (same
    count) and their two softmaxes.

    Nearly everything changes with the logits: the bars, their values, the logits written
    under them, the ``exp`` values. These are all our own artists (the logits are texts, not
    tick labels), so a live picture animates them and keeps the axes as a background; the
    titles change only when the verdict or the heading does, and stay in it.

    Attributes
    ----------
    axes : 2 Axes (naive, max trick)
    finite_bars, broken_bars, labels, logit_labels : per panel, lists of K artists
    exp_labels : per panel, the Text listing ``exp`` of the (shifted) logits and their sum
    """

    PANELS = (("naive: exp(z) / sum exp(z)", "exp(z)"),
              ("max trick: exp(z - max z) / sum exp(z - max z)", "exp(z - max z)"))

    def __init__(self, logits, naive, stable, *, dtype_name="float64", title=None, figsize=(9, 3.6), live=False):
        K = self._check(logits, naive, stable)[0].size
        fig = self._start(figsize, live=live)
        self.K = K
        self.axes = fig.subplots(1, 2, sharey=True)
        self.finite_bars, self.broken_bars, self.labels, self.logit_labels, self.exp_labels = [], [], [], [], []
        # With many classes the values stand upright, so that neighbours do not overlap.
        rotation = 90 if K > 5 else 0
        for ax in self.axes:
            # Each class has a blue bar (finite value) and a red hatched one (nan or inf); one is hidden.
            self.finite_bars.append(list(ax.bar(np.arange(K), np.zeros(K), color="tab:blue").patches))
            self.broken_bars.append(list(ax.bar(np.arange(K), np.ones(K), color="none", edgecolor="tab:red",
                                                hatch="//").patches))
            self.labels.append([ax.text(k, 0.0, "", ha="center", va="bottom", rotation=rotation,
                                        fontsize=FONT_SIZE) for k in range(K)])
            ax.set_xticks(np.arange(K))
            ax.set_xticklabels([])
            ax.tick_params(labelsize=FONT_SIZE)
            ax.set_xlim(-0.6, K - 0.4)
            ax.set_ylim(0, 1.3 if rotation else 1.15)
            # The logits under their bars, and the exp values under those: texts we update.
            self.logit_labels.append([ax.annotate("", xy=(k, 0), xycoords=("data", "axes fraction"),
                                                  xytext=(0, -5), textcoords="offset points", ha="center",
                                                  va="top", fontsize=FONT_SIZE) for k in range(K)])
            self.exp_labels.append(ax.annotate("", xy=(0.5, 0), xycoords="axes fraction",
                                               xytext=(0, -32), textcoords="offset points", ha="center",
                                               va="top", fontsize=FONT_SIZE))
            ax.set_title("", fontsize=TITLE_SIZE)
        self.axes[0].set_ylabel("probability", fontsize=FONT_SIZE)
        self.title = fig.suptitle(title or "", fontsize=TITLE_SIZE + 1)
        self.update(logits, naive, stable, dtype_name=dtype_name)
        # The titles change only when the verdict or the heading does: they stay in the
        # background, and such a move draws the whole figure once.
        animate(self, *(spine for ax in self.axes for spine in ax.spines.values()),
                *(a for panel in (self.finite_bars + self.broken_bars + self.labels + self.logit_labels)
                  for a in panel), *self.exp_labels)
        fit_layout(fig)

    @staticmethod
    def _check(logits, naive, stable):
        logits = np.asarray(logits)
        if not np.issubdtype(logits.dtype, np.floating):
            logits = logits.astype(np.float64)      # exp below must overflow in the logits' own dtype
        naive, stable = (np.asarray(a, dtype=float) for a in (naive, stable))
        if not (logits.ndim == naive.ndim == stable.ndim == 1) or not (logits.size == naive.size == stable.size) \
                or logits.size == 0:
            raise ValueError("StabilityPicture: logits, naive and stable must be 1-D arrays (K,) of the same "
                             f"length, got shapes {logits.shape}, {naive.shape}, {stable.shape}")
        return logits, naive, stable

    def _logit_text(self, z):
        """A logit under its bar: six digits, or at most five characters when ten logits share a panel."""
        if self.K <= 5:
            return format_value(z, "{:.6g}")
        return format_value(z, "{:.0f}" if abs(z) >= 100 else "{:.3g}")

    def update(self, logits, naive, stable, *, dtype_name="float64", title=None):
        """Show new logits (same K) and their naive and max-shifted softmaxes."""
        logits, naive, stable = self._check(logits, naive, stable)
        if logits.size != self.K:
            raise ValueError(f"StabilityPicture: this picture shows {self.K} logits, got {logits.size}")
        with np.errstate(over="ignore", invalid="ignore"):     # overflow is what we want to show
            exps = (np.exp(logits), np.exp(logits - logits.max()))
        for panel, (probs, e, (name, exp_name)) in enumerate(zip((naive, stable), exps, self.PANELS)):
            ok = np.isfinite(probs)
            for k, p in enumerate(probs):
                finite_bar, broken_bar, label = (self.finite_bars[panel][k], self.broken_bars[panel][k],
                                                 self.labels[panel][k])
                if finite_bar.get_visible() != ok[k]:
                    finite_bar.set_visible(bool(ok[k]))
                if broken_bar.get_visible() == ok[k]:
                    broken_bar.set_visible(not ok[k])
                if ok[k] and finite_bar.get_height() != p:
                    finite_bar.set_height(p)
                set_text(label, format_value(p, "{:.6g}"), color="black" if ok[k] else "tab:red",
                         fontweight="normal" if ok[k] else "bold")
                y = min(p, 1.0) + 0.02 if ok[k] else 0.5
                if label.get_position()[1] != y:
                    label.set_y(y)
                set_text(self.logit_labels[panel][k], f"z{k}\n{self._logit_text(logits[k])}")
            with np.errstate(over="ignore", invalid="ignore"):
                total = e.sum()
            values = [format_value(v, "{:.4g}") for v in e]
            rows = [", ".join(values[i:i + EXP_VALUES_PER_LINE]) for i in range(0, len(values), EXP_VALUES_PER_LINE)]
            set_text(self.exp_labels[panel], f"{exp_name} = [" + ",\n".join(rows) + "]\n"
                     f"sum = {format_value(total, '{:.4g}')}")
            verdict = "all finite" if ok.all() else f"{(~ok).sum()} of {self.K} values not finite"
            set_text(self.axes[panel].title, f"{name}\n{dtype_name}: {verdict}",
                     color="black" if ok.all() else "tab:red")
        if title is not None:
            set_text(self.title, title)
        return self


# ----------------------------------------------------------------------------- explorers

class SoftmaxExplorer(Explorer):
    """Drag the logits and the temperature; watch the probabilities and the loss.

    .. math:: p_k = \\frac{e^{z_k / T}}{\\sum_j e^{z_j / T}}, \\qquad L = -\\ln p_y

    Parameters
    ----------
    logits : sequence of 2 to 10 numbers
        Starting values of the sliders, one per class.
    true_class : int
        The label ``y``; its bar is orange, a triangle marks it on the axis, and the loss
        is ``-ln p_y``.
    class_labels : sequence of str, optional
    logit_range : float
        Each slider runs over ``[-logit_range, logit_range]`` (widened to fit the logits).

    Attributes
    ----------
    logits, temperature : the current slider values
    probs : array (K,), ``cnnlib.losses.softmax(logits / T)``, what the last picture shows
    loss : float, ``-log_softmax(logits / T)[y]`` (finite even when ``p_y`` underflows to 0)
    """

    def __init__(self, logits, true_class, *, class_labels=None, logit_range=10.0):
        z = _logit_vector("SoftmaxExplorer", logits)
        K = z.size
        true_class = check_int(f"SoftmaxExplorer ({K} logits): true_class", true_class, 0, K - 1)
        if class_labels is not None and len(class_labels) != K:
            raise ValueError(f"SoftmaxExplorer: {len(class_labels)} class_labels for {K} logits")
        if not logit_range > 0:
            raise ValueError(f"SoftmaxExplorer: logit_range must be positive, got {logit_range!r}")
        self.true_class = int(true_class)
        self.class_labels = list(class_labels) if class_labels is not None else None
        limit = float(max(logit_range, np.ceil(np.abs(z).max())))
        self.logit_sliders = [widgets.FloatSlider(value=float(v), min=-limit, max=limit, step=0.1,
                                                  description=f"z{k}") for k, v in enumerate(z)]
        self.temperature_slider = widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.02,
                                                         description="T", readout_format=".2f")
        self.probs = self.loss = None
        super().__init__(self.logit_sliders + [self.temperature_slider], title="Softmax: logits → probabilities")

    @property
    def logits(self):
        return np.array([s.value for s in self.logit_sliders])

    @property
    def temperature(self):
        return float(self.temperature_slider.value)

    def _compute(self):
        """Probabilities, loss and the title for the current sliders."""
        T, y = self.temperature, self.true_class
        scaled = self.logits / T
        self.probs = softmax(scaled)
        self.loss = float(-log_softmax(scaled)[y]) + 0.0       # + 0.0: -(-0.0) would print as "-0.000"
        return (f"T = {T:.2f}:  p(true class {y}) = {probability_text(self.probs[y])},  "
                f"loss = -ln p = {format_value(self.loss, '{:.3f}')}")

    def build_picture(self):
        title = self._compute()
        return ProbabilitiesPicture(self.probs, true_class=self.true_class, class_labels=self.class_labels,
                                    title=title, figsize=(6, 3.2), live=True)

    def update_picture(self):
        title = self._compute()
        self.picture.update(self.probs, title=title)


class StabilityLab(Explorer):
    """Scale the logits up until the naive softmax overflows; the max-shifted one does not.

    Parameters
    ----------
    logits : sequence of 2 to 10 numbers
        Multiplied by ``10**scale``, where the slider runs ``scale`` from 0 to
        ``max_log10_scale`` (3 makes logits of a few thousand: ``exp`` overflows float64
        above 709.8 and float32 above 88.7).

    Attributes
    ----------
    scaled_logits, naive, stable : arrays (K,) the last picture shows
    overflowed : bool, whether the naive softmax has a value that is not finite
    """

    def __init__(self, logits, *, max_log10_scale=3.0):
        self.base_logits = _logit_vector("StabilityLab", logits)
        if not 0 < max_log10_scale <= 6:
            raise ValueError(f"StabilityLab: max_log10_scale must be in (0, 6], got {max_log10_scale!r}")
        self.scale_slider = widgets.FloatSlider(value=0.0, min=0.0, max=float(max_log10_scale), step=0.05,
                                                description="log10 scale", readout_format=".2f")
        self.dtype_dropdown = widgets.Dropdown(options=["float64", "float32"], value="float64", description="dtype")
        self.scaled_logits = self.naive = self.stable = None
        super().__init__([self.scale_slider, self.dtype_dropdown], title="Softmax overflow and the max trick")

    @property
    def overflowed(self):
        return bool(not np.isfinite(self.naive).all())

    def _compute(self):
        """The arrays for the current controls; returns (dtype name, heading)."""
        dtype = np.dtype(self.dtype_dropdown.value)
        self.scaled_logits = (self.base_logits * 10.0 ** self.scale_slider.value).astype(dtype)
        self.naive = naive_softmax(self.scaled_logits)
        self.stable = softmax(self.scaled_logits)
        # The logits under the bars show the scale; the heading changes only with the dtype.
        return dtype.name, f"exp overflows {dtype.name} above {np.log(np.finfo(dtype).max):.1f}"

    def build_picture(self):
        dtype_name, heading = self._compute()
        return StabilityPicture(self.scaled_logits, self.naive, self.stable, dtype_name=dtype_name, title=heading,
                                live=True)

    def update_picture(self):
        dtype_name, heading = self._compute()
        self.picture.update(self.scaled_logits, self.naive, self.stable, dtype_name=dtype_name, title=heading)
