"""Going deeper (lesson 7): what happens to activations and gradients layer after layer of
a plain deep net, and what augmentation does to digits.

May import: numpy, matplotlib, ipywidgets, the cnnlib core (the net is built from
:mod:`cnnlib.layers`, the augmentation is :mod:`cnnlib.augment`) and the explore modules
``picture``, ``explorer`` and ``images``.

The contract
------------
* :func:`layer_statistics` builds a plain deep net of ``depth`` hidden ``Linear`` layers of
  one ``width`` (each followed by an optional ``BatchNorm2d`` and the activation), then a
  ``Linear`` to 10 classes and a softmax cross-entropy, all in float32 and seeded by ``rng``.
  It runs one forward and one backward pass on a seeded batch (standard normal inputs,
  random labels) and returns a :class:`LayerStats`: per hidden layer the mean and standard
  deviation of its output (after the activation) and the standard deviation of the gradient
  of its weights. The layers are fully connected so that every unit has exactly ``width``
  inputs, as in the variance argument (a convolution's zero padding gives the border units
  fewer inputs, which blurs it).
* :class:`LayerStatsPicture` draws both per layer on a log axis; :func:`plot_layer_stats`
  returns its first drawing and :class:`DepthExplorer` updates a live one for a depth
  (slider), an initialisation and an activation (menus) and batch norm (checkbox).
* :class:`AugmentPicture` shows digits (first column) beside augmented copies drawn by an
  :class:`cnnlib.augment.Augment` (each copy labelled with its angle, scale and shift);
  :func:`plot_augmented_digits` returns its first drawing and :class:`AugmentExplorer`
  redraws it for new limits (sliders) and a new seed (slider or "new draw" button), the
  numbers under the copies shown or not (checkbox).

The initialisations (weights ``w`` of shape (fan_in, fan_out), biases 0)
------------------------------------------------------------------------
* ``"small"``: ``N(0, 0.01^2)``, the classic "small random numbers".
* ``"xavier"`` (Glorot): ``N(0, 2 / (fan_in + fan_out))``: keeps the variance of a layer
  without an activation (``1 / width`` for square layers).
* ``"he"`` (Kaiming): ``N(0, 2 / fan_in)``, :func:`cnnlib.init.he_normal`: ReLU zeroes half
  of its inputs, so the weights' variance is doubled to give that half back.
"""
from dataclasses import dataclass

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullLocator

from cnnlib.augment import Augment, warp
from cnnlib.explore.explorer import Explorer
from cnnlib.explore.picture import FONT_SIZE, Picture, animate, fit_layout, set_image, set_text
from cnnlib.init import as_rng
from cnnlib.layers import BatchNorm2d, Linear, ReLU
from cnnlib.losses import SoftmaxCrossEntropy
from cnnlib.ops import check_int

__all__ = ["INITS", "ACTIVATIONS", "LayerStats", "init_std", "layer_statistics", "plot_layer_stats",
           "LayerStatsPicture", "DepthExplorer", "plot_augmented_digits", "AugmentPicture", "AugmentExplorer"]

#: The initialisations :func:`layer_statistics` knows (see the module's docstring).
INITS = ("small", "xavier", "he")
#: The activations after each hidden layer: ReLU, or none at all (a linear net).
ACTIVATIONS = ("relu", "none")
#: The standard deviation of the "small" initialisation.
SMALL_STD = 0.01
#: Classes of the output layer (as MNIST's digits).
N_CLASSES = 10
#: The menu entries of :class:`DepthExplorer`.
INIT_CHOICES = (("small: N(0, 0.01²)", "small"), ("Xavier: N(0, 2/(fan_in+fan_out))", "xavier"),
                ("He: N(0, 2/fan_in)", "he"))
ACTIVATION_CHOICES = (("ReLU", "relu"), ("none (linear)", "none"))
#: Colours of the two curves.
ACT_COLOUR, GRAD_COLOUR = "tab:blue", "tab:orange"


# ---------------------------------------------------------------------------- the statistics

@dataclass(frozen=True, eq=False)
class LayerStats:
    """What :func:`layer_statistics` measured, one entry per hidden layer (layer 1 first).

    Attributes
    ----------
    depth, width, n : int
        Hidden layers, units per layer, examples in the batch.
    init, activation : str
    batchnorm : bool
    act_mean, act_std : ndarray, shape (depth,)
        Mean and standard deviation of each hidden layer's output (after the activation),
        over the batch and the units.
    grad_std : ndarray, shape (depth,)
        Standard deviation of dL/dw, the gradient of each hidden layer's weights.
    act_grad_std : ndarray, shape (depth,)
        Standard deviation of dL/da, the gradient of each hidden layer's output.
    input_std : float
        Standard deviation of the input batch (about 1).
    loss : float
        The cross-entropy of the batch (about log 10 = 2.30 for an untrained net).
    """
    depth: int
    width: int
    n: int
    init: str
    activation: str
    batchnorm: bool
    act_mean: np.ndarray
    act_std: np.ndarray
    grad_std: np.ndarray
    act_grad_std: np.ndarray
    input_std: float
    loss: float

    def describe(self):
        """The net in one line, depth left out: ``"64 units a layer, He init, ReLU, batch norm"``."""
        init = {"small": "small (0.01)", "xavier": "Xavier", "he": "He"}[self.init]
        act = {"relu": "ReLU", "none": "no activation"}[self.activation]
        return (f"{self.width} units a layer, {init} init, {act}"
                + (", batch norm" if self.batchnorm else ""))


def _check_choice(owner, name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{owner}: {name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def init_std(init, fan_in, fan_out):
    """The standard deviation of the weights for an initialisation named in :data:`INITS`.

    Examples
    --------
    >>> [round(init_std(name, 100, 300), 4) for name in INITS]     # 0.01, sqrt(2/400), sqrt(2/100)
    [0.01, 0.0707, 0.1414]
    """
    _check_choice("init_std", "init", init, INITS)
    if init == "small":
        return SMALL_STD
    return float(np.sqrt(2.0 / (fan_in + fan_out) if init == "xavier" else 2.0 / fan_in))


def _linear(init, fan_in, fan_out, rng):
    """A float32 ``Linear(fan_in, fan_out)`` with ``init``'s weights: the layer draws He's
    (:func:`cnnlib.init.he_normal`, a standard normal times sqrt(2 / fan_in)) and we rescale
    them to ``init``'s standard deviation, so every initialisation uses the same draw."""
    linear = Linear(fan_in, fan_out, rng=rng)
    linear.params["w"] = linear.params["w"] * (init_std(init, fan_in, fan_out) / init_std("he", fan_in, fan_out))
    return linear.astype(np.float32)


def layer_statistics(depth, init, *, width=64, activation="relu", batchnorm=False, n=256, rng=0):
    """Activation and gradient statistics, layer by layer, of a plain deep net at its start.

    Parameters
    ----------
    depth : int, >= 1
        Hidden layers: ``Linear(width, width)``, then ``BatchNorm2d(width)`` if ``batchnorm``
        (on the features as a (N, width, 1, 1) batch: the statistics are over the N
        examples), then the activation. A ``Linear(width, 10)`` and a softmax cross-entropy
        follow.
    init : {"small", "xavier", "he"}
        How every ``Linear``'s weights are drawn (biases are 0).
    width : int, >= 2
    activation : {"relu", "none"}
    batchnorm : bool
    n : int, >= 2
        Examples in the batch: inputs ``N(0, 1)`` of shape (n, width), labels uniform in 0..9.
    rng : np.random.Generator, int or None
        Seeds the weights, the inputs and the labels.

    Returns
    -------
    LayerStats

    Notes
    -----
    A layer's pre-activation ``z_j = sum_i a_i w_ij`` has variance ``width Var(w) E[a^2]``.
    With ReLU, ``E[a^2]`` is half of the previous pre-activation's variance, so He's
    ``Var(w) = 2 / width`` keeps the variance the same from layer to layer; 0.01 multiplies
    the standard deviation by ``0.01 sqrt(width / 2)`` (0.057 for 64) at every layer.
    Backward, ``dL/da = dL/dz w^T`` scales the same way. Layer 1's input is not a ReLU's
    output: its pre-activation variance is ``2 E[x^2] = 2``, so He's layer outputs have
    standard deviation ``sqrt(2) sqrt(1/2 - 1/(2 pi)) = 0.83`` (a ReLU of N(0, 2)), give or
    take what a finite width lets the layers wobble.

    Examples
    --------
    >>> he = layer_statistics(20, "he")                    # layers 1, 10 and 20
    >>> [f"{s:.2f}" for s in he.act_std[[0, 9, 19]]]
    ['0.82', '0.87', '0.57']
    >>> small = layer_statistics(20, "small")
    >>> f"{small.act_std[-1] / small.act_std[0]:.0e}"     # 0.057 ** 19
    '1e-24'
    """
    owner = "layer_statistics"
    depth = check_int(f"{owner}: depth", depth, 1)
    _check_choice(owner, "init", init, INITS)
    width = check_int(f"{owner}: width", width, 2)
    _check_choice(owner, "activation", activation, ACTIVATIONS)
    if not isinstance(batchnorm, (bool, np.bool_)):
        raise ValueError(f"{owner}: batchnorm must be True or False, got {batchnorm!r}")
    n = check_int(f"{owner}: n", n, 2)
    rng = as_rng(rng)

    x = rng.standard_normal((n, width)).astype(np.float32)                 # (n, width)
    labels = rng.integers(0, N_CLASSES, size=n)
    blocks = []
    for _ in range(depth):
        blocks.append((_linear(init, width, width, rng), BatchNorm2d(width).astype(np.float32) if batchnorm else None,
                       ReLU() if activation == "relu" else None))
    head = _linear(init, width, N_CLASSES, rng)
    loss_fn = SoftmaxCrossEntropy()

    act_mean, act_std = np.zeros(depth), np.zeros(depth)
    h = x
    for l, (linear, bn, act) in enumerate(blocks):
        h = linear.forward(h)                                               # (n, width)
        if bn is not None:
            h = bn.forward(h[:, :, None, None])[:, :, 0, 0]                 # (n, width, 1, 1) and back
        if act is not None:
            h = act.forward(h)
        act_mean[l], act_std[l] = h.mean(dtype=np.float64), h.std(dtype=np.float64)
    loss = loss_fn.forward(head.forward(h), labels)

    grad_std, act_grad_std = np.zeros(depth), np.zeros(depth)
    d = head.backward(loss_fn.backward())                                   # (n, width): dL/da of the last layer
    for l in reversed(range(depth)):
        linear, bn, act = blocks[l]
        act_grad_std[l] = d.std(dtype=np.float64)
        if act is not None:
            d = act.backward(d)
        if bn is not None:
            d = bn.backward(d[:, :, None, None])[:, :, 0, 0]
        d = linear.backward(d, input_grad=l > 0)
        grad_std[l] = linear.grads["w"].std(dtype=np.float64)
    return LayerStats(depth=depth, width=width, n=n, init=init, activation=activation, batchnorm=bool(batchnorm),
                      act_mean=act_mean, act_std=act_std, grad_std=grad_std, act_grad_std=act_grad_std,
                      input_std=float(x.std(dtype=np.float64)), loss=float(loss))


# ---------------------------------------------------------------------------- the picture

def _log_limits(values, *, around=None):
    """Whole decades around the positive values (and ``around``, if given): one to spare
    below, and above one more for every 8 decades shown (room for the labels up there)."""
    values = np.asarray(values, dtype=float)
    positive = list(values[np.isfinite(values) & (values > 0)]) + ([around] if around else [])
    low, high = (min(positive), max(positive)) if positive else (1.0, 1.0)
    low, high = np.floor(np.log10(low)) - 1, np.ceil(np.log10(high))
    return 10.0 ** low, 10.0 ** (high + max(1, np.ceil((high - low) / 8)))


def _decade_label(value, _position):
    """A log axis' tick label: ``1``, ``0.1``, ``10`` near 1, ``1e-20`` further away."""
    exponent = int(np.round(np.log10(value)))
    return f"{value:g}" if -2 <= exponent <= 2 else f"1e{exponent}"


def _ratio_text(values, what):
    """``"last / first layer: ×2.1e-20"`` (or why there is no ratio)."""
    values = np.asarray(values, dtype=float)
    if values.size < 2:
        return f"{what}: one layer"
    if not (values > 0).all():
        return f"{what}: {int((values == 0).sum())} layer(s) exactly 0 (underflow)"
    return f"{what}, last / first layer: ×{values[-1] / values[0]:.2g}"


def plot_layer_stats(stats, *, max_depth=None, title=None):
    """Activation and weight-gradient standard deviation per layer, on log axes.

    Parameters
    ----------
    stats : LayerStats
        From :func:`layer_statistics`.
    max_depth : int, optional
        Layers the x axis spans (default ``stats.depth``).
    title : str, optional
        Default: what the net is (``stats.describe()``).

    Returns
    -------
    Figure
    """
    return LayerStatsPicture(stats, max_depth=max_depth, title=title).fig


class LayerStatsPicture(Picture):
    """What :func:`plot_layer_stats` draws; :meth:`update` takes new :class:`LayerStats`.

    Two panels, layer on the x axis: the standard deviation of each layer's output (forward,
    a dashed line at the input's) and of its weights' gradient (backward), on log axes of
    whole decades. A layer whose value underflowed to exactly 0 is left out (a log axis has
    no 0) and the panel says how many. In a live picture the curves and the ratio texts are
    animated; a change of the axis limits or the title redraws the whole figure.

    Attributes
    ----------
    stats : LayerStats
    act_line, grad_line : Line2D
    act_text, grad_text : Text
        ``"last / first layer: ×..."`` in each panel.
    """

    def __init__(self, stats, *, max_depth=None, title=None, figsize=(9, 3.4), live=False, fig=None):
        self._check("LayerStatsPicture", stats)
        self.max_depth = stats.depth if max_depth is None else check_int("LayerStatsPicture: max_depth",
                                                                           max_depth, stats.depth)
        self.title = title
        self._grown = {}
        fig = self._start(figsize, live=live, fig=fig)
        self.axes = ax_act, ax_grad = fig.subplots(1, 2)
        self.input_line = ax_act.axhline(1.0, color="0.4", ls="--", lw=1)
        self.act_line, = ax_act.plot([], [], "o-", ms=3, color=ACT_COLOUR)
        self.grad_line, = ax_grad.plot([], [], "o-", ms=3, color=GRAD_COLOUR)
        ax_act.set_title("forward: std of each layer's output", fontsize=10)
        ax_grad.set_title("backward: std of dL/dw of each layer", fontsize=10)
        texts = []
        for ax in self.axes:
            ax.set_yscale("log")
            # plain "1e-20" labels, major ticks only: mathtext and minor ticks over 40 decades
            # would make every full drawing several times slower
            ax.yaxis.set_major_locator(LogLocator(numticks=7))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_formatter(FuncFormatter(_decade_label))
            ax.set_xlabel("layer", fontsize=FONT_SIZE + 1)
            ax.set_xlim(0.5, self.max_depth + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.tick_params(labelsize=FONT_SIZE)
            ax.grid(alpha=0.3, which="major")
            texts.append(ax.text(0.02, 0.03, "", transform=ax.transAxes, fontsize=FONT_SIZE, va="bottom",
                                 bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.8", alpha=0.9)))
        self.act_text, self.grad_text = texts
        ax_act.set_ylabel("standard deviation", fontsize=FONT_SIZE + 1)
        self.input_label = ax_act.text(0.98, 1.0, "input", transform=ax_act.get_yaxis_transform(), ha="right",
                                       va="bottom", fontsize=FONT_SIZE, color="0.3")
        self.suptitle = fig.suptitle(" ", fontsize=10)
        self.update(stats)
        fit_layout(fig) if live else fig.tight_layout()
        animate(self, self.act_line, self.grad_line, *texts)

    @staticmethod
    def _check(owner, stats):
        if not isinstance(stats, LayerStats):
            raise ValueError(f"{owner}: expected the LayerStats that layer_statistics returns, "
                             f"got {type(stats).__name__}")

    def update(self, stats):
        """Show new statistics (at most ``max_depth`` layers)."""
        self._check("LayerStatsPicture", stats)
        if stats.depth > self.max_depth:
            raise ValueError(f"LayerStatsPicture: {stats.depth} layers do not fit an axis of {self.max_depth}; "
                             f"build the picture with max_depth={stats.depth} or more")
        self.stats = stats
        layers = np.arange(1, stats.depth + 1)
        ax_act, ax_grad = self.axes
        for ax, line, text, values, what in ((ax_act, self.act_line, self.act_text, stats.act_std, "output std"),
                                             (ax_grad, self.grad_line, self.grad_text, stats.grad_std, "dL/dw std")):
            shown = np.where(values > 0, values, np.nan)                  # log axis: 0 (underflow) left out
            line.set_data(layers, shown)
            limits = _log_limits(values, around=stats.input_std if ax is ax_act else None)
            if self.live and ax in self._grown:              # a live picture only widens its limits
                limits = (min(limits[0], self._grown[ax][0]), max(limits[1], self._grown[ax][1]))
            self._grown[ax] = limits
            if ax.get_ylim() != limits:
                ax.set_ylim(*limits)
            set_text(text, _ratio_text(values, what))
        if self.input_line.get_ydata()[0] != stats.input_std:
            self.input_line.set_ydata([stats.input_std] * 2)
            self.input_label.set_y(stats.input_std)
        set_text(self.suptitle, self.title or stats.describe())
        return self


class DepthExplorer(Explorer):
    """A plain deep net at initialisation: pick the depth, the initialisation, the activation
    and batch norm; see the spread of the activations and gradients layer by layer.

    Parameters
    ----------
    depth, init, activation, batchnorm : the first values of the controls
    max_depth : int
        The depth slider's range (and the x axis): 1 to ``max_depth``.
    width, n : passed to :func:`layer_statistics` (fixed)
    seed : int
        Its ``rng``: every setting is measured on the same seeded weights and batch.

    Attributes
    ----------
    depth : IntSlider
    init, activation : Dropdown
    batchnorm : Checkbox
    stats : LayerStats
        What the picture shows now.

    Examples
    --------
    >>> ex = DepthExplorer(depth=10, init="he")
    >>> f"{ex.stats.act_std[-1]:.2f}"
    '0.87'
    >>> ex.init.value = "small"
    >>> f"{ex.stats.act_std[-1]:.0e}"
    '3e-13'
    >>> ex.batchnorm.value = True
    >>> f"{ex.stats.act_std[-1]:.2f}"
    '0.59'
    """

    def __init__(self, *, depth=20, init="small", activation="relu", batchnorm=False, max_depth=30,
                 width=64, n=256, seed=0):
        owner = "DepthExplorer"
        max_depth = check_int(f"{owner}: max_depth", max_depth, 1)
        depth = check_int(f"{owner}: depth", depth, 1, max_depth)
        _check_choice(owner, "init", init, INITS)
        _check_choice(owner, "activation", activation, ACTIVATIONS)
        self.settings = {"width": check_int(f"{owner}: width", width, 2), "n": check_int(f"{owner}: n", n, 2),
                         "rng": check_int(f"{owner}: seed", seed, 0)}
        self.max_depth = max_depth
        self._measured = {}                     # (depth, init, activation, batchnorm) -> LayerStats
        # wider than slider_layout's 440 px: the long label would leave the track under 250 px
        self.depth = widgets.IntSlider(value=depth, min=1, max=max_depth, description="depth (hidden layers)",
                                       layout=widgets.Layout(width="520px"))
        self.init = widgets.Dropdown(options=INIT_CHOICES, value=init, description="initialisation")
        self.activation = widgets.Dropdown(options=ACTIVATION_CHOICES, value=activation, description="activation")
        self.batchnorm = widgets.Checkbox(value=bool(batchnorm), description="batch norm after each Linear",
                                          indent=False)
        super().__init__([self.depth, self.init, self.activation, self.batchnorm],
                         title="Activations and gradients through a deep net, before any training")

    def _stats(self, depth=None):
        # The numbers depend on the controls only (the seed is fixed): each setting is
        # measured once, and moving back to it costs only the drawing.
        key = (depth or self.depth.value, self.init.value, self.activation.value, self.batchnorm.value)
        if key not in self._measured:
            depth, init, activation, batchnorm = key
            self._measured[key] = layer_statistics(depth, init, activation=activation, batchnorm=batchnorm,
                                                   **self.settings)
        return self._measured[key]

    def picture_key(self):
        # one picture per kind of net, kept: moving the depth redraws only its curves
        return self.init.value, self.activation.value, self.batchnorm.value

    def build_picture(self):
        # drawn first for the deepest net and the shallowest, so that its axes already span
        # what the depth slider can show (a live picture only widens them; the gradients of a
        # badly initialised net shrink with its depth): moving it then redraws the curves only
        picture = LayerStatsPicture(self._stats(self.max_depth), max_depth=self.max_depth, live=True)
        picture.update(self._stats(1))
        self.stats = self._stats()
        return picture.update(self.stats)

    def update_picture(self):
        self.stats = self._stats()
        self.picture.update(self.stats)


# ---------------------------------------------------------------------------- augmentation

#: At most this many digits (rows) in an augmentation picture, and copies (columns) beside them.
MAX_DIGITS, MAX_COPIES = 6, 8


def _check_digits(owner, images):
    """Digits (N, H, W) as float64, uint8 pixels scaled to [0, 1]."""
    images = np.asarray(images)
    if images.ndim == 2:
        raise ValueError(f"{owner}: expected digits of shape (N, H, W), got one image {images.shape}; "
                         "use image[None] for a single digit")
    if images.ndim != 3 or 0 in images.shape:
        raise ValueError(f"{owner}: expected digits of shape (N, H, W) with N >= 1, got shape {images.shape}")
    if len(images) > MAX_DIGITS:
        raise ValueError(f"{owner}: got {len(images)} digits; show at most {MAX_DIGITS}, e.g. images[:{MAX_DIGITS}]")
    if not (np.issubdtype(images.dtype, np.integer) or np.issubdtype(images.dtype, np.floating)):
        raise ValueError(f"{owner}: expected real numbers, got dtype {images.dtype}")
    images = images / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)
    if not np.isfinite(images).all():
        raise ValueError(f"{owner}: the digits contain NaN or infinity")
    return images


def _cell_label(angle, scale):
    """The line under a copy: its angle and scale, ``"+11° ×1.06"`` (0° without a sign)."""
    turn = format(angle, "+.0f")
    turn = "0" if float(turn) == 0 else turn.replace("-", "−")
    return f"{turn}° ×{scale:.2f}"


def _rgba(values):
    """Grey levels in [0, 1] (NaN: nothing there) as RGBA bytes: white ink on black, NaN
    transparent. An RGBA image skips the colour map and resamples as bytes: faster."""
    grey = (np.clip(np.nan_to_num(values), 0, 1) * 255).round().astype(np.uint8)
    return np.stack([grey, grey, grey, np.where(np.isnan(values), 0, 255).astype(np.uint8)], axis=-1)


def plot_augmented_digits(images, augment=None, *, copies=5, rng=0, numbers=True, title=None):
    """Digits in the first column and augmented copies of each beside them.

    Parameters
    ----------
    images : array-like, shape (N, H, W), 1 <= N <= 6
        uint8 pixels (0-255) or floats.
    augment : cnnlib.augment.Augment, optional
        Draws the copies (its stream moves on: a second call draws new ones). Default
        ``Augment(rng=rng)``: shifts up to 2 px, rotations up to 10 degrees, scale 0.9-1.1.
    copies : int, 1 to 8
    rng : np.random.Generator, int or None
        Seeds the default ``augment`` (ignored when one is given).
    numbers : bool
        Write each copy's angle and scale under it.
    title : str, optional

    Returns
    -------
    Figure
    """
    return AugmentPicture(images, augment, copies=copies, rng=rng, numbers=numbers, title=title).fig


class AugmentPicture(Picture):
    """What :func:`plot_augmented_digits` draws; :meth:`update` draws new copies.

    The copies are ``augment(np.repeat(digits, copies, axis=0))`` (copy ``c`` of digit ``i``
    is row ``i * copies + c``), each labelled (when ``numbers``) with the angle (degrees,
    positive counter-clockwise) and scale it was drawn with; the shifts are in
    :attr:`params`. Text is what costs most in a redraw (20 labels: about 30 ms, three
    times the copies' image), hence no third number and the option to hide them. All
    digits sit in one RGBA image (a mosaic with transparent gaps), the originals framed in
    blue: one image to draw instead of one per digit. In a live picture the copies' image
    (transparent over the originals) and the labels are animated.

    Attributes
    ----------
    digits : ndarray, shape (N, H, W)
        The originals, float.
    augmented : ndarray, shape (N, copies, H, W)
    params : dict of ndarray
        ``angle`` (N, copies), ``scale`` (N, copies), ``shift`` (N, copies, 2).
    augment : Augment
        The last one used.
    mosaic : ndarray
        The grey levels shown: digits in their cells, NaN (nothing) between them.
    """

    #: Inches: a cell at most, the height and the widest width of the labels under a row, the
    #: least gap between columns (and the one after the originals), the margin (a label may
    #: stick out of the last column a little), the title's room.
    CELL, LABEL, LABEL_WIDTH, GAP, AFTER_ORIGINALS, MARGIN, TITLE = 0.95, 0.22, 0.85, 0.3, 0.5, 0.15, 0.3

    def __init__(self, images, augment=None, *, copies=5, rng=0, numbers=True, title=None, live=False, fig=None):
        owner = "AugmentPicture"
        self.digits = _check_digits(owner, images)
        self.copies = check_int(f"{owner}: copies", copies, 1, MAX_COPIES)
        N, H, W = self.digits.shape
        # the cell's size: at most CELL, the figure at most 9 inches wide and 4.6 tall
        top = self.MARGIN + (self.TITLE if title else 0)
        cell = min(self.CELL, (9 - 2 * self.MARGIN - self.AFTER_ORIGINALS - (self.copies - 1) * self.GAP)
                   / (self.copies + 1), (4.6 - top - self.MARGIN) / N - self.LABEL)
        gap = max(self.GAP, self.LABEL_WIDTH - cell)                     # small cells: labels still apart
        unit = cell / max(H, W)                                          # inches per pixel of a digit
        gap, after, label = (round(v / unit) for v in (gap, self.AFTER_ORIGINALS, self.LABEL))
        self._rows = [i * (H + label) for i in range(N)]                 # top row of each digit in the mosaic
        self._cols = [0] + [W + after + c * (W + gap) for c in range(self.copies)]
        self.mosaic = np.full((N * (H + label), self._cols[-1] + W), np.nan)
        originals = self.mosaic.copy()
        for i, r in enumerate(self._rows):
            self.mosaic[r:r + H, :W] = originals[r:r + H, :W] = self.digits[i]
        height, width = self.mosaic.shape
        figsize = (width * unit + 2 * self.MARGIN, height * unit + top + self.MARGIN)
        fig = self._start(figsize, live=live, fig=fig)
        ax = self.ax = fig.add_axes((self.MARGIN / figsize[0], self.MARGIN / figsize[1],
                                     width * unit / figsize[0], height * unit / figsize[1]))
        ax.axis("off")
        # Two images of the mosaic's size: the originals (drawn once, framed) and the copies
        # (animated; transparent over the originals and their frames). Each is drawn on its
        # own (matplotlib would otherwise merge them into one), as in the live picture.
        fig.suppressComposite = True
        ax.imshow(_rgba(originals), interpolation="nearest")
        self.image = ax.imshow(_rgba(np.full_like(originals, np.nan)), interpolation="nearest")
        self.labels, self.frames = [], []
        for i, r in enumerate(self._rows):
            self.frames.append(ax.add_patch(Rectangle((-0.5, r - 0.5), W, H, fill=False, edgecolor="tab:blue",
                                                      linewidth=2, zorder=3)))
            ax.text((W - 1) / 2, r + H, "original", ha="center", va="top", fontsize=FONT_SIZE)
            for c in self._cols[1:]:
                self.labels.append(ax.text(c + (W - 1) / 2, r + H, " ", ha="center", va="top", fontsize=FONT_SIZE))
        if title:
            fig.suptitle(title, fontsize=10, y=1 - 0.05 / figsize[1], va="top")
        self.update(augment if augment is not None else Augment(rng=rng), numbers=numbers)
        animate(self, self.image, *self.labels)

    def update(self, augment, *, numbers=None):
        """New copies drawn by ``augment`` (an :class:`~cnnlib.augment.Augment`); ``numbers``:
        show or hide the labels (None: as before)."""
        if numbers is not None:
            if not isinstance(numbers, (bool, np.bool_)):
                raise ValueError(f"AugmentPicture: numbers must be True or False, got {numbers!r}")
            self.numbers = bool(numbers)
        if not isinstance(augment, Augment):
            raise ValueError(f"AugmentPicture: augment must be a cnnlib.augment.Augment, "
                             f"got {type(augment).__name__}")
        self.augment = augment
        N, H, W = self.digits.shape
        batch = np.repeat(self.digits, self.copies, axis=0)              # (N * copies, H, W)
        params = augment.sample(len(batch))                              # what augment(batch) draws
        out = warp(batch, **params)                                      # (N * copies, H, W)
        self.augmented = out.reshape(N, self.copies, H, W)
        self.params = {"angle": params["angle"].reshape(N, self.copies),
                       "scale": params["scale"].reshape(N, self.copies),
                       "shift": params["shift"].reshape(N, self.copies, 2)}
        mosaic = self.mosaic.copy()
        copies = np.full_like(mosaic, np.nan)
        for k, label in enumerate(self.labels):
            i, c = divmod(k, self.copies)
            r, col = self._rows[i], self._cols[c + 1]
            mosaic[r:r + H, col:col + W] = copies[r:r + H, col:col + W] = out[k]
            if self.numbers:
                set_text(label, _cell_label(params["angle"][k], params["scale"][k]), visible=True)
            elif label.get_visible():
                label.set_visible(False)
        self.mosaic = mosaic
        set_image(self.image, _rgba(copies))
        return self


class AugmentExplorer(Explorer):
    """Augmented copies of digits for limits set by sliders, and a new draw at a click.

    Parameters
    ----------
    images : array-like, shape (N, H, W), 1 <= N <= 6
        The digits (uint8 or float).
    copies : int, 1 to 8
    shift, rotate, scale, seed, numbers : the first values of the controls (``Augment``'s
        defaults); shift up to 6 px, rotate up to 45 degrees, scale within 0.5-1.5

    Attributes
    ----------
    shift : FloatSlider
        Largest shift, pixels, either way.
    rotate : FloatSlider
        Largest rotation, degrees, either way.
    scale : FloatRangeSlider
        The range the scale factor is drawn from.
    seed : IntSlider
        Seeds the ``Augment``: the same values always give the same copies.
    new_draw : Button
        Moves the seed on by one (a fresh draw).
    numbers : Checkbox
        Angle and scale under each copy (off at first: text makes a redraw about twice as slow).
    augment : Augment
        The last one drawn with.
    """

    def __init__(self, images, *, copies=5, shift=2.0, rotate=10.0, scale=(0.9, 1.1), seed=0, numbers=False):
        owner = "AugmentExplorer"
        self.digits = _check_digits(owner, images)
        self.copies = check_int(f"{owner}: copies", copies, 1, MAX_COPIES)
        limits = Augment(shift=shift, rotate=rotate, scale=scale, rng=0)    # bad limits refused in Augment's words
        for name, value, top in (("shift", limits.shift, 6), ("rotate", limits.rotate, 45)):
            if value > top:
                raise ValueError(f"{owner}: {name} goes up to {top} on its slider, got {value:g}")
        if not 0.5 <= limits.scale[0] <= limits.scale[1] <= 1.5:
            raise ValueError(f"{owner}: scale must lie within 0.5-1.5 (its slider's range), got {scale!r}")
        seed = check_int(f"{owner}: seed", seed, 0, 999)
        if not isinstance(numbers, (bool, np.bool_)):
            raise ValueError(f"{owner}: numbers must be True or False, got {numbers!r}")
        # 480 px: a track of at least 250 px beside these labels and the range readout
        wide = "480px"
        self.shift = widgets.FloatSlider(value=shift, min=0, max=6, step=0.5, description="max shift (px)",
                                         layout=widgets.Layout(width=wide))
        self.rotate = widgets.FloatSlider(value=rotate, min=0, max=45, step=1, description="max rotation (°)",
                                          layout=widgets.Layout(width=wide))
        self.scale = widgets.FloatRangeSlider(value=tuple(scale), min=0.5, max=1.5, step=0.05, description="scale",
                                              layout=widgets.Layout(width=wide))
        self.seed = widgets.IntSlider(value=seed, min=0, max=999, description="seed")
        self.new_draw = widgets.Button(description="new draw", tooltip="the next seed: new random copies")
        self.new_draw.on_click(lambda _: self._next_seed())
        self.numbers = widgets.Checkbox(value=bool(numbers), description="angle and scale under each copy",
                                        indent=False)
        super().__init__([self.shift, self.rotate, self.scale, self.seed, self.new_draw, self.numbers],
                         title="Data augmentation: each copy gets its own random shift, rotation and scale")

    def _next_seed(self):
        self.seed.value = (self.seed.value + 1) % (self.seed.max + 1)

    def _augment(self):
        self.augment = Augment(shift=self.shift.value, rotate=self.rotate.value, scale=self.scale.value,
                               rng=self.seed.value)
        return self.augment

    def build_picture(self):
        return AugmentPicture(self.digits, self._augment(), copies=self.copies, numbers=self.numbers.value, live=True)

    def update_picture(self):
        self.picture.update(self._augment(), numbers=self.numbers.value)
