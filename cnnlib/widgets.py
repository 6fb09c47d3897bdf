"""Interactive explorers for the lessons, built on ipywidgets.

The contract
------------
* An explorer takes all its data as arguments (no globals) and is shown by leaving it
  as the last expression of a cell (or with ``display(explorer)``).
* Pictures are drawn on the kernel side: each redraw renders a matplotlib figure to PNG
  and puts it into an ``Output`` widget with ``append_display_data``. That works the same
  in JupyterLab, in Voila, under nbval and in plain pytest, where a test can read the PNG
  from ``explorer.out.outputs``.
* A callback never fails silently: an exception is shown in the explorer's ``status``
  label (and the previous picture stays). After each successful redraw, ``status`` reads
  ``"drawn #k"``; browser tests wait for that marker rather than for pixels to change.
* ``explorer.draw_count`` and ``explorer.last_draw_seconds`` let benchmarks measure how
  fast a slider responds (``benchmarks/bench_widgets.py``; the target is about 100 ms).

Fast redraws
------------
Making a matplotlib figure is slow (creating axes and laying them out cost more than
drawing them), so an explorer builds its figure once and then only changes what moved:

* :meth:`Explorer.build_figure` makes the figure (with :func:`cnnlib.viz.widget_figure`,
  usually through one of :mod:`cnnlib.viz`'s ``*Picture`` classes, the same code that
  draws the lesson's static picture) and lays it out once;
* :meth:`Explorer.update_figure` changes its artists for the current control values;
* :meth:`Explorer.figure_key` says what the layout depends on (say, the number of
  channels): when it changes, the figure is built again.

Artists that change on most moves are marked ``animated``: the rest of the figure is
drawn once and kept as a background, and each redraw pastes the background and draws
only the animated artists on top (matplotlib's "blitting"). When anything that is not
animated changes, matplotlib marks the figure stale and we draw it all again, so a
forgotten mark costs time, never a wrong picture. Explorers that only implement
:meth:`Explorer.figure` (a new figure per change) still work, slowly.
"""
import base64
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Image

from cnnlib.viz import animated_artists, canvas_to_png, figure_to_png

__all__ = ["Explorer"]


class Explorer:
    """Base class: a row of controls above a picture and a status line.

    Subclasses build their controls, call ``super().__init__(controls)``, and implement
    either :meth:`build_figure` and :meth:`update_figure` (a figure built once and
    updated in place: fast) or :meth:`figure` (a new figure per change: slow). Every
    control's ``value`` change triggers a redraw.

    Attributes
    ----------
    fig : Figure or None
        The live figure of an explorer that updates in place (the same object from one
        redraw to the next, until :meth:`figure_key` changes).
    draw_count : int
        Pictures drawn so far; ``status`` reads ``"drawn #<draw_count>"``.
    full_draw_count : int
        How many of them had to draw the whole figure; the others drew only the
        animated artists over the kept background.
    last_draw_seconds : float
        Wall time of the last redraw.
    """

    def __init__(self, controls, *, title=None, observe=True):
        self.controls = list(controls)
        self.out = widgets.Output()
        self.status = widgets.Label(value="")
        self.draw_count = 0
        self.full_draw_count = 0
        self.last_draw_seconds = None
        self.fig = None
        self._figure_key = None
        self._background = None     # the figure without its animated artists, as pixels
        self._animated = []         # the artists drawn over the background, in z-order
        self._kept = {}             # id(figure) -> (figure, background, animated) of figures not shown now
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        self.widget = widgets.VBox(header + [widgets.HBox(self.controls) if self.controls else widgets.HBox(),
                                             self.out, self.status])
        if observe:
            for control in self.controls:
                if hasattr(control, "value"):
                    control.observe(self.refresh, names="value")
        self.refresh()

    # -- the two ways to draw
    def figure(self):
        """Return a new matplotlib figure for the current control values (the slow way)."""
        raise NotImplementedError

    def build_figure(self):
        """Return a new figure (from :func:`cnnlib.viz.widget_figure`) for the current values."""
        raise NotImplementedError

    def update_figure(self):
        """Change :attr:`fig`'s artists to show the current values."""
        raise NotImplementedError

    def figure_key(self):
        """Whatever the figure's layout depends on; when it changes, the figure is rebuilt."""
        return None

    @property
    def _updates_in_place(self):
        return type(self).update_figure is not Explorer.update_figure

    def refresh(self, *_):
        """Redraw the picture from the controls' current values."""
        start = time.perf_counter()
        try:
            png = self._draw_png()
        except Exception as e:     # shown in the widget: a callback must not fail silently
            if self._updates_in_place:
                self.fig = None    # possibly half updated: build it afresh next time
                self._kept = {}
            else:
                plt.close("all")
            self.status.value = f"error: {type(e).__name__}: {e}"
            return
        self._show_png(png)
        self.draw_count += 1
        self.last_draw_seconds = time.perf_counter() - start
        self.status.value = f"drawn #{self.draw_count}"

    def _show_png(self, png):
        self.out.outputs = ()
        self.out.append_display_data(Image(data=png, format="png"))

    def _draw_png(self):
        if not self._updates_in_place:
            self.full_draw_count += 1
            return figure_to_png(self.figure())
        key = self.figure_key()
        if self.fig is None or key != self._figure_key:
            if self.fig is not None:     # an explorer may keep its figures: keep their backgrounds too
                self._kept[id(self.fig)] = (self.fig, self._background, self._animated)
            self.fig = self.build_figure()
            self._figure_key = key
            kept = self._kept.get(id(self.fig))
            if kept is not None and kept[0] is self.fig:
                _, self._background, self._animated = kept
            else:
                self._background = None
        else:
            self.update_figure()
        return self._render()

    def _render(self):
        """Draw :attr:`fig` (all of it if needed, else background + animated artists) to PNG."""
        fig = self.fig
        canvas = fig.canvas
        if self._background is None or fig.stale:
            # (Listing the artists first: asking an axis for its children can make ticks,
            # which marks the figure stale; the drawing then clears that.)
            self._animated = animated_artists(fig)
            canvas.draw()                                   # animated artists are left out
            self._background = canvas.copy_from_bbox(fig.bbox)
            self.full_draw_count += 1
        else:
            canvas.restore_region(self._background)
        renderer = canvas.get_renderer()
        for artist in self._animated:
            artist.draw(renderer)
        return canvas_to_png(canvas)

    @property
    def png(self):
        """The PNG bytes currently shown (for tests)."""
        for item in self.out.outputs:
            data = item.get("data", {})
            if "image/png" in data:
                return base64.b64decode(data["image/png"])
        return None

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def close(self):
        """Close the explorer's widgets (tests call this to free them)."""
        for w in self.controls + [self.out, self.status, self.widget]:
            w.close()
        self.fig = self._background = None
        self._animated, self._kept = [], {}


# ============================================================================ lessons 1-3
# (motivation, convolution, pooling explorers go here)
import numpy as np  # noqa: E402

from cnnlib import ops, viz  # noqa: E402

__all__ += ["KERNEL_PRESETS", "FilterExplorer", "SlidingWindowStepper", "ConvGeometryExplorer",
            "PoolingExplorer"]

#: 3x3 kernels to try on a digit. "vertical edge" answers where brightness changes from
#: left to right (so it finds vertical strokes); "horizontal edge" from top to bottom.
KERNEL_PRESETS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "vertical edge": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "horizontal edge": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
}
CUSTOM = "custom"   # what the preset menu shows once a kernel box has been edited by hand


def _as_float_image(owner, image):
    """A 2-D float image; uint8 pixels (0-255, as MNIST stores them) are scaled to [0, 1]."""
    image = np.asarray(image)
    if image.ndim != 2 or 0 in image.shape:
        raise ValueError(f"{owner}: expected one 2-D image of shape (H, W), got shape {image.shape}")
    if not (np.issubdtype(image.dtype, np.number) and not np.issubdtype(image.dtype, np.complexfloating)):
        raise ValueError(f"{owner}: expected numbers, got dtype {image.dtype}")
    scaled = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
    if not np.isfinite(scaled).all():
        raise ValueError(f"{owner}: the image contains NaN or infinity")
    return scaled


def _conv_single(image, kernel, *, stride=1, padding=0):
    """One image, one kernel: the (H_out, W_out) feature map, computed by cnnlib.ops."""
    out, _ = ops.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1),
                                 stride=stride, padding=padding)
    return out[0, 0]


class FilterExplorer(Explorer):
    """Pick a digit and a 3x3 kernel; see the input, the kernel and the feature map.

    Parameters
    ----------
    images : array, shape (N, H, W) or (H, W)
        uint8 images (scaled to [0, 1]) or float images.
    labels : array of shape (N,), optional
        Shown in the input's title.
    kernel : str, default "vertical edge"
        The preset selected at the start (see :data:`KERNEL_PRESETS`).

    Attributes
    ----------
    digit : IntSlider
        The image index (the first control).
    preset : Dropdown
        A preset kernel; choosing one fills the nine boxes.
    kernel_boxes : list of 9 FloatText
        The kernel, row by row; editing one sets the menu to "custom".
    feature_map : ndarray
        The last feature map drawn, from ``cnnlib.ops.conv2d_forward``.

    Examples
    --------
    >>> import numpy as np
    >>> ex = FilterExplorer(np.eye(6)[None] * 255)
    >>> ex.feature_map.shape
    (4, 4)
    >>> ex.preset.value = "identity"
    >>> ex.status.value
    'drawn #2'
    """

    def __init__(self, images, labels=None, *, kernel="vertical edge"):
        images = np.asarray(images)
        if images.ndim == 2:
            images = images[None]
        if images.ndim != 3 or images.shape[0] == 0:
            raise ValueError(f"FilterExplorer: expected images of shape (N, H, W), got shape {images.shape}")
        if min(images.shape[1:]) < 3:
            raise ValueError(f"FilterExplorer: images of {images.shape[1]}x{images.shape[2]} are smaller "
                             "than the 3x3 kernel")
        self.images = np.stack([_as_float_image("FilterExplorer", im) for im in images])
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (len(images),):
                raise ValueError(f"FilterExplorer: expected one label per image, shape ({len(images)},), "
                                 f"got shape {labels.shape}")
        self.labels = labels
        if kernel not in KERNEL_PRESETS:
            raise ValueError(f"FilterExplorer: unknown kernel {kernel!r}; choose one of {sorted(KERNEL_PRESETS)}")
        self.feature_map = None
        self._filling = False
        self.digit = widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="digit",
                                       continuous_update=False)
        self.preset = widgets.Dropdown(options=list(KERNEL_PRESETS) + [CUSTOM], value=kernel,
                                       description="kernel")
        box_layout = widgets.Layout(width="62px")
        self.kernel_boxes = [widgets.FloatText(value=float(v), layout=box_layout, step=0.5)
                             for v in np.ravel(KERNEL_PRESETS[kernel])]
        grid = widgets.GridBox(self.kernel_boxes, layout=widgets.Layout(
            grid_template_columns="repeat(3, 64px)", grid_gap="2px"))
        self.digit.observe(self.refresh, names="value")
        self.preset.observe(self._on_preset, names="value")
        for box in self.kernel_boxes:
            box.observe(self._on_box, names="value")
        super().__init__([self.digit, self.preset, grid], title="Filter explorer: image ⋆ kernel",
                         observe=False)

    @property
    def kernel(self):
        """The 3x3 kernel in the boxes, as a float array."""
        return np.array([box.value for box in self.kernel_boxes], dtype=np.float64).reshape(3, 3)

    def set_kernel(self, kernel):
        """Fill the nine boxes from a 3x3 array-like and redraw once."""
        kernel = np.asarray(kernel, dtype=np.float64)
        if kernel.shape != (3, 3):
            raise ValueError(f"FilterExplorer: the kernel must be 3x3, got shape {kernel.shape}")
        if not np.isfinite(kernel).all():
            raise ValueError("FilterExplorer: the kernel contains NaN or infinity")
        self._filling = True
        try:
            for box, v in zip(self.kernel_boxes, kernel.ravel()):
                box.value = float(v)
        finally:
            self._filling = False
        self.refresh()

    def _on_preset(self, change):
        if change["new"] != CUSTOM:
            self.set_kernel(KERNEL_PRESETS[change["new"]])

    def _on_box(self, change):
        if self._filling:
            return
        self._filling = True
        try:
            self.preset.value = CUSTOM
        finally:
            self._filling = False
        self.refresh()

    def _picture_args(self):
        image = self.images[self.digit.value]
        self.feature_map = _conv_single(image, self.kernel)
        label = f" (label {self.labels[self.digit.value]})" if self.labels is not None else ""
        fm = self.feature_map
        return (image, self.kernel, fm), {"titles": (
            f"input #{self.digit.value}{label}", f"kernel: {self.preset.value}",
            f"feature map {fm.shape[0]}x{fm.shape[1]}, range [{fm.min():.2f}, {fm.max():.2f}]")}

    def build_figure(self):
        args, kwargs = self._picture_args()
        self._picture = viz.ConvolutionPicture(viz.widget_figure((9, 3)), *args, live=True, **kwargs)
        return self._picture.fig

    def update_figure(self):
        args, kwargs = self._picture_args()
        self._picture.update(*args, **kwargs)


class SlidingWindowStepper(Explorer):
    """Step the window over a small image: the window, the products and their sum, the output so far.

    Parameters
    ----------
    image : (H, W) array
    kernel : (KH, KW) array
    stride : int, default 1

    Attributes
    ----------
    step : IntSlider
        Output position, counted row by row from 0 to ``H_out*W_out - 1``.
    position : (i, j)
        The output position of the current step.
    products : ndarray (KH, KW)
        ``window * kernel`` at the current step; ``value`` is their sum.
    output : ndarray (H_out, W_out)
        The output filled up to the current step (NaN where the window has not been yet).

    Examples
    --------
    >>> import numpy as np
    >>> st = SlidingWindowStepper(np.arange(12.0).reshape(3, 4), np.ones((2, 2)))
    >>> st.step.max, st.position, st.value
    (5, (0, 0), 10.0)
    """

    def __init__(self, image, kernel, *, stride=1):
        self.image = _as_float_image("SlidingWindowStepper", image)
        kernel = np.asarray(kernel, dtype=np.float64)
        if kernel.ndim != 2 or 0 in kernel.shape:
            raise ValueError(f"SlidingWindowStepper: expected a 2-D kernel (KH, KW), got shape {kernel.shape}")
        H, W = self.image.shape
        if kernel.shape[0] > H or kernel.shape[1] > W:
            raise ValueError(f"SlidingWindowStepper: the kernel {kernel.shape[0]}x{kernel.shape[1]} does not "
                             f"fit in the image {H}x{W}")
        self.kernel = kernel
        self.stride = int(stride)
        self.H_out = ops.conv_output_size(H, kernel.shape[0], self.stride)
        self.W_out = ops.conv_output_size(W, kernel.shape[1], self.stride)
        self.full_output = _conv_single(self.image, kernel, stride=self.stride)
        self.step = widgets.IntSlider(value=0, min=0, max=self.H_out * self.W_out - 1, description="step",
                                      continuous_update=False)
        super().__init__([self.step], title="Sliding window, one step at a time")

    def _compute(self):
        step = self.step.value
        i, j = divmod(step, self.W_out)
        s, (KH, KW) = self.stride, self.kernel.shape
        self.position = (i, j)
        self.products = self.image[i * s:i * s + KH, j * s:j * s + KW] * self.kernel
        self.value = float(self.products.sum())
        output = np.full((self.H_out, self.W_out), np.nan)
        output.ravel()[:step + 1] = self.full_output.ravel()[:step + 1]
        self.output = output
        return step

    def build_figure(self):
        self._picture = viz.SlidingWindowPicture(viz.widget_figure((10, 3.6)), self.image, self.kernel,
                                                 self._compute(), stride=self.stride, live=True)
        return self._picture.fig

    def update_figure(self):
        self._picture.update(self._compute())


class ConvGeometryExplorer(Explorer):
    """Input size, kernel size, padding and stride -> the window positions and the output size.

    Attributes
    ----------
    size, kernel_size, padding, stride : IntSlider
    output_size : int or None
        ``floor((size + 2*padding - kernel_size) / stride) + 1``, or None when the kernel
        does not fit.
    message : HTML
        The formula with the numbers, or why there is no output.

    Examples
    --------
    >>> ex = ConvGeometryExplorer(size=7, kernel_size=3, padding=1, stride=2)
    >>> ex.output_size
    4
    """

    def __init__(self, *, size=7, kernel_size=3, padding=0, stride=1, max_size=16):
        for name, value, low in (("size", size, 1), ("kernel_size", kernel_size, 1), ("padding", padding, 0),
                                 ("stride", stride, 1), ("max_size", max_size, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"ConvGeometryExplorer: {name} must be an integer >= {low}, got {value!r}")
        if size > max_size:
            raise ValueError(f"ConvGeometryExplorer: size {size} is larger than max_size {max_size}")
        self.size = widgets.IntSlider(value=size, min=1, max=max_size, description="input size")
        self.kernel_size = widgets.IntSlider(value=kernel_size, min=1, max=max(7, kernel_size), description="kernel")
        self.padding = widgets.IntSlider(value=padding, min=0, max=max(3, padding), description="padding")
        self.stride = widgets.IntSlider(value=stride, min=1, max=max(4, stride), description="stride")
        self.message = widgets.HTML()
        self.output_size = None
        super().__init__([self.size, self.kernel_size, self.padding, self.stride],
                         title="Padding, stride and the output size")
        self.widget.children = self.widget.children[:2] + (self.message,) + self.widget.children[2:]
        self.widget.children[1].layout = widgets.Layout(flex_flow="row wrap")

    def _compute(self):
        n, k, p, s = self.size.value, self.kernel_size.value, self.padding.value, self.stride.value
        if n + 2 * p < k:
            self.output_size = None
            self.message.value = (f"<span style='color:#c00'>The kernel ({k}) does not fit: the padded input is "
                                  f"only {n} + 2·{p} = {n + 2 * p} wide. Add padding or use a smaller kernel."
                                  "</span>")
        else:
            self.output_size = ops.conv_output_size(n, k, s, p)
            self.message.value = (f"H_out = floor(({n} + 2·{p} − {k}) / {s}) + 1 = "
                                  f"floor({n + 2 * p - k} / {s}) + 1 = <b>{self.output_size}</b>")
        return n, k, p, s

    def build_figure(self):
        self._picture = viz.ConvGeometryPicture(viz.widget_figure((9, 4.4)), *self._compute(), live=True)
        return self._picture.fig

    def update_figure(self):
        self._picture.update(*self._compute())


class PoolingExplorer(Explorer):
    """Max or average pooling of one 2-D map: the windows, the winners and the output.

    Parameters
    ----------
    x : (H, W) array
        A feature map, or an image (uint8 images are scaled to [0, 1]).

    Attributes
    ----------
    mode : ToggleButtons ("max" / "average")
    kernel_size, stride : IntSlider
    output : ndarray (H_out, W_out)
        The pooled map last drawn (from ``cnnlib.ops``).
    winners : ndarray (H_out, W_out, 2) or None
        For max pooling, the input (row, col) that won each window: the first maximum in
        row-major order. None for average pooling, where every input counts.

    Examples
    --------
    >>> import numpy as np
    >>> ex = PoolingExplorer(np.array([[1.0, 2.0], [4.0, 3.0]]))
    >>> ex.output.tolist(), ex.winners.tolist()
    ([[4.0]], [[[1, 0]]])
    """

    def __init__(self, x, *, kernel_size=2, stride=None, mode="max"):
        self.x = _as_float_image("PoolingExplorer", x)
        if mode not in ("max", "average"):
            raise ValueError(f"PoolingExplorer: mode must be 'max' or 'average', got {mode!r}")
        max_k = min(min(self.x.shape), 6)   # slider range: windows that fit, at most 6x6
        if not 1 <= kernel_size <= min(self.x.shape):
            raise ValueError(f"PoolingExplorer: kernel_size {kernel_size} does not fit the "
                             f"{self.x.shape[0]}x{self.x.shape[1]} input")
        self.mode = widgets.ToggleButtons(options=["max", "average"], value=mode,
                                          tooltips=["max pooling", "average pooling"],
                                          style={"button_width": "90px"})
        self.kernel_size = widgets.IntSlider(value=kernel_size, min=1, max=max(max_k, kernel_size),
                                             description="kernel")
        self.stride = widgets.IntSlider(value=kernel_size if stride is None else stride, min=1,
                                        max=max(max_k, stride or 1), description="stride")
        super().__init__([self.mode, self.kernel_size, self.stride], title="Pooling explorer")

    def _compute(self):
        k, s, mode = self.kernel_size.value, self.stride.value, self.mode.value
        forward = ops.maxpool2d_forward if mode == "max" else ops.avgpool2d_forward
        out, cache = forward(self.x[None, None], kernel_size=k, stride=s)
        self.output = out[0, 0]
        if mode == "max":
            p, q = np.divmod(cache[1][0, 0].astype(int), k)     # winner's offset inside its window
            rows = np.arange(out.shape[2])[:, None] * s + p
            cols = np.arange(out.shape[3])[None, :] * s + q
            self.winners = np.stack([rows, cols], axis=-1)
        else:
            self.winners = None
        return {"kernel_size": k, "stride": s, "mode": mode}

    def build_figure(self):
        self._picture = viz.PoolingPicture(viz.widget_figure((9, 4.2)), self.x, live=True, **self._compute())
        return self._picture.fig

    def update_figure(self):
        self._picture.update(**self._compute())


# ============================================================================ lessons 4-5
# Softmax, the stability lab, the gradient-check explorer and the backward stepper.
# They compute with cnnlib's own functions, so what a learner sees is what the library does.
import copy as _copy  # noqa: E402

import numpy as np  # noqa: E402

from cnnlib import ops as _ops  # noqa: E402
from cnnlib import viz as _viz  # noqa: E402
from cnnlib.losses import SoftmaxCrossEntropy as _SoftmaxCrossEntropy  # noqa: E402
from cnnlib.losses import softmax as _softmax  # noqa: E402

__all__ += ["SoftmaxExplorer", "StabilityLab", "GradCheckExplorer", "BackwardStepper"]

MAX_CLASSES = 10  # one slider per logit: more than ten do not fit on a screen


def _logit_vector(owner, logits):
    """A 1-D float64 array of 2..MAX_CLASSES finite logits, or a clear ValueError."""
    try:
        z = np.array(logits, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: logits must be a list or 1-D array of numbers, got {logits!r}") from None
    if z.ndim != 1 or not 2 <= z.size <= MAX_CLASSES:
        raise ValueError(f"{owner}: logits must be a 1-D array of 2 to {MAX_CLASSES} numbers, "
                         f"got shape {z.shape}")
    if not np.isfinite(z).all():
        raise ValueError(f"{owner}: logits must be finite numbers, got {z.tolist()}")
    return z


def _naive_softmax(z):
    """``exp(z) / sum(exp(z))`` without the max trick; overflow gives inf and nan, silently."""
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(z)
        return e / e.sum()


def _relayout_controls(explorer, box):
    """Put the controls in ``box`` instead of the base class's single row."""
    children = list(explorer.widget.children)
    children[-3] = box          # [header,] controls row, out, status
    explorer.widget.children = tuple(children)


class SoftmaxExplorer(Explorer):
    """Drag the logits and the temperature; watch the probabilities and the loss.

    .. math:: p_k = \\frac{e^{z_k / T}}{\\sum_j e^{z_j / T}}, \\qquad L = -\\ln p_y

    Parameters
    ----------
    logits : sequence of 2 to 10 numbers
        Starting values of the sliders, one per class.
    true_class : int
        The label ``y``; its bar is orange and the loss is ``-ln p_y``.
    class_labels : sequence of str, optional
    logit_range : float
        Each slider runs over ``[-logit_range, logit_range]`` (widened to fit the logits).

    Attributes
    ----------
    logits, temperature : the current slider values
    probs, loss : what the last picture shows (``cnnlib.losses.softmax`` of ``logits / T``)
    """

    def __init__(self, logits, true_class, *, class_labels=None, logit_range=10.0):
        z = _logit_vector("SoftmaxExplorer", logits)
        K = z.size
        if isinstance(true_class, (bool, np.bool_)) or not isinstance(true_class, (int, np.integer)):
            raise ValueError(f"SoftmaxExplorer: true_class must be an integer class index, got {true_class!r}")
        if not 0 <= true_class < K:
            raise ValueError(f"SoftmaxExplorer: true_class must be in [0, {K - 1}] for {K} logits, "
                             f"got {true_class}")
        if class_labels is not None and len(class_labels) != K:
            raise ValueError(f"SoftmaxExplorer: {len(class_labels)} class_labels for {K} logits")
        if not logit_range > 0:
            raise ValueError(f"SoftmaxExplorer: logit_range must be positive, got {logit_range!r}")
        self.true_class = int(true_class)
        self.class_labels = list(class_labels) if class_labels is not None else None
        limit = float(max(logit_range, np.ceil(np.abs(z).max())))
        self.logit_sliders = [widgets.FloatSlider(value=float(v), min=-limit, max=limit, step=0.1,
                                                  description=f"z{k}", continuous_update=True,
                                                  layout=widgets.Layout(width="300px"))
                              for k, v in enumerate(z)]
        self.temperature_slider = widgets.FloatLogSlider(value=1.0, base=10, min=-1, max=1, step=0.02,
                                                         description="T", readout_format=".2f",
                                                         layout=widgets.Layout(width="300px"))
        self.probs = self.loss = None
        controls = self.logit_sliders + [self.temperature_slider]
        super().__init__(controls, title="Softmax: logits → probabilities")
        _relayout_controls(self, widgets.GridBox(controls, layout=widgets.Layout(
            grid_template_columns="repeat(3, 310px)")))

    @property
    def logits(self):
        return np.array([s.value for s in self.logit_sliders])

    @property
    def temperature(self):
        return float(self.temperature_slider.value)

    def _compute(self):
        T = self.temperature
        self.probs = _softmax(self.logits / T)
        y = self.true_class
        self.loss = float(-np.log(self.probs[y]))
        return f"T = {T:.2f}:  p(true class {y}) = {self.probs[y]:.3f},  loss = -ln p = {self.loss:.3f}"

    def build_figure(self):
        title = self._compute()
        fig = _viz.widget_figure((6, 3.2))
        self._picture = _viz.ProbabilitiesPicture(fig.add_subplot(), self.probs, true_class=self.true_class,
                                                  class_labels=self.class_labels, title=title, live=True)
        _viz.fit_layout(fig)
        return fig

    def update_figure(self):
        title = self._compute()
        self._picture.update(self.probs, title=title)


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
    scaled_logits, naive, stable : the arrays the last picture shows
    overflowed : bool, whether the naive softmax has a value that is not finite
    """

    def __init__(self, logits, *, max_log10_scale=3.0):
        self.base_logits = _logit_vector("StabilityLab", logits)
        if not 0 < max_log10_scale <= 6:
            raise ValueError(f"StabilityLab: max_log10_scale must be in (0, 6], got {max_log10_scale!r}")
        self.scale_slider = widgets.FloatSlider(value=0.0, min=0.0, max=float(max_log10_scale), step=0.05,
                                                description="log10 scale", readout_format=".2f")
        self.dtype_dropdown = widgets.Dropdown(options=["float64", "float32"], value="float64",
                                               description="dtype")
        self.scaled_logits = self.naive = self.stable = None
        super().__init__([self.scale_slider, self.dtype_dropdown], title="Softmax overflow and the max trick")

    @property
    def overflowed(self):
        return bool(not np.isfinite(self.naive).all())

    def _compute(self):
        dtype = np.dtype(self.dtype_dropdown.value)
        scale = 10.0 ** self.scale_slider.value
        self.scaled_logits = (self.base_logits * scale).astype(dtype)
        self.naive = _naive_softmax(self.scaled_logits)
        self.stable = _softmax(self.scaled_logits)
        return dtype.name, (f"logits × {scale:.4g}   (exp overflows {dtype.name} above "
                            f"{np.log(np.finfo(dtype).max):.1f})")

    def build_figure(self):
        dtype_name, heading = self._compute()
        fig = _viz.widget_figure((10, 3.6))
        self._picture = _viz.StabilityPicture(fig, self.scaled_logits, self.naive, self.stable, dtype_name=dtype_name,
                                              live=True)
        _viz._set_suptitle(fig, heading)
        _viz.fit_layout(fig)
        return fig

    def update_figure(self):
        dtype_name, heading = self._compute()
        self._picture.update(self.scaled_logits, self.naive, self.stable, dtype_name=dtype_name)
        _viz._set_suptitle(self.fig, heading)


def _scalar_relative_error(a, b):
    """``|a - b| / (|a| + |b|)``, and 0 when both are 0 (as cnnlib.gradcheck.relative_error)."""
    scale = abs(a) + abs(b)
    return 0.0 if scale == 0 else abs(a - b) / scale


class GradCheckExplorer(Explorer):
    """One parameter entry: its analytic gradient, finite differences, and the error vs eps.

    Pick a layer, a parameter and an index; slide ``eps``. We nudge that one entry by
    ``±eps`` and compare ``(L(+eps) - L(-eps)) / (2 eps)`` with what ``backward`` gave, in
    float64 and in a float32 copy of the model. The curve of the error against ``eps``
    shows the classic V: truncation on the right, rounding on the left.

    Parameters
    ----------
    model : cnnlib.model.Sequential
        Copied (twice: float64 and float32); the caller's model is never modified.
    x : array (N, ...)
        A batch the model accepts.
    labels : int array (N,)
    loss_fn : optional, default ``SoftmaxCrossEntropy()``
    n_eps : int
        Points on the curve, log-spaced over ``[1e-10, 1e-1]``.

    Attributes
    ----------
    analytic64, analytic32 : the backward pass's value for the picked entry
    numeric64, numeric32 : the central difference at the current eps
    error64, error32 : their relative errors
    sweep : ``{"eps": ..., "float64": ..., "float32": ...}``, the curve
    """

    EPS_MIN, EPS_MAX = 1e-10, 1e-1

    def __init__(self, model, x, labels, *, loss_fn=None, n_eps=37):
        from cnnlib.model import Sequential
        if not isinstance(model, Sequential):
            raise ValueError(f"GradCheckExplorer: model must be a cnnlib Sequential, got {type(model).__name__}")
        self._param_layers = [i for i, layer in enumerate(model.layers) if layer.params]
        if not self._param_layers:
            raise ValueError("GradCheckExplorer: the model has no parameters to check")
        x = np.asarray(x)
        labels = np.asarray(labels)
        if not np.issubdtype(x.dtype, np.floating) or x.ndim < 2:
            raise ValueError(f"GradCheckExplorer: x must be a floating-point batch (N, ...), got dtype "
                             f"{x.dtype} and shape {x.shape}")
        if labels.shape != (x.shape[0],):
            raise ValueError(f"GradCheckExplorer: expected {x.shape[0]} labels (one per image), "
                             f"got shape {labels.shape}")
        if not isinstance(n_eps, (int, np.integer)) or n_eps < 3:
            raise ValueError(f"GradCheckExplorer: n_eps must be an integer >= 3, got {n_eps!r}")
        loss_fn = _SoftmaxCrossEntropy() if loss_fn is None else loss_fn
        self._eps_grid = np.logspace(np.log10(self.EPS_MIN), np.log10(self.EPS_MAX), int(n_eps))
        self._setups = {}
        for dtype in (np.float64, np.float32):
            net = _copy.deepcopy(model).astype(dtype)
            xd = x.astype(dtype)
            fn = _copy.deepcopy(loss_fn)
            fn.forward(net.forward(xd), labels)          # a bad model/x/labels fails here, clearly
            net.backward(fn.backward())
            grads = {(i, k): net.layers[i].grads[k].astype(np.float64) for i in self._param_layers
                     for k in net.layers[i].params}
            self._setups[np.dtype(dtype).name] = (net, xd, labels, fn, grads)
        self._sweeps = {}
        self._layer_inputs = {}
        first = self._param_layers[0]
        self.layer_dropdown = widgets.Dropdown(
            options=[(f"{i}: {model.layers[i]!r}", i) for i in self._param_layers], value=first,
            description="layer", layout=widgets.Layout(width="340px"))
        self.param_dropdown = widgets.Dropdown(options=list(model.layers[first].params), description="param",
                                               layout=widgets.Layout(width="160px"))
        self.index_slider = widgets.IntSlider(value=0, min=0, max=1, description="index")
        self.eps_slider = widgets.FloatLogSlider(value=1e-6, base=10, min=np.log10(self.EPS_MIN),
                                                 max=np.log10(self.EPS_MAX), step=0.25, description="eps",
                                                 readout_format=".0e")
        self._busy = False
        self._pick_param(refresh=False)
        super().__init__([self.layer_dropdown, self.param_dropdown, self.index_slider, self.eps_slider],
                         title="Gradient check: finite differences vs backward", observe=False)
        self.layer_dropdown.observe(self._on_layer, names="value")
        self.param_dropdown.observe(self._on_param, names="value")
        self.index_slider.observe(self.refresh, names="value")
        self.eps_slider.observe(self.refresh, names="value")

    # -- control logic: a new layer lists its parameters, a new parameter starts at its largest gradient
    def _pick_param(self, refresh=True):
        grad = self._setups["float64"][4][(self.layer_dropdown.value, self.param_dropdown.value)]
        self._busy = True
        try:
            self.index_slider.max = grad.size - 1
            self.index_slider.value = int(np.argmax(np.abs(grad)))
        finally:
            self._busy = False
        if refresh:
            self.refresh()

    def _on_layer(self, change):
        self._busy = True
        try:
            self.param_dropdown.options = list(self._setups["float64"][0].layers[change["new"]].params)
        finally:
            self._busy = False
        self._pick_param()

    def _on_param(self, change):
        if not self._busy:
            self._pick_param()

    def refresh(self, *args):
        if not self._busy:
            super().refresh(*args)

    # -- the numbers
    def _layer_input(self, dtype_name, layer_index):
        """What the layers before ``layer_index`` make of x: it does not depend on the nudged
        parameter, so we compute it once (a nudge in the last layer then costs one small
        forward pass instead of the whole net's)."""
        cache_key = (dtype_name, layer_index)
        if cache_key not in self._layer_inputs:
            net, xd = self._setups[dtype_name][:2]
            h = xd
            for layer in net.layers[:layer_index]:
                h = layer.forward(h)
            self._layer_inputs[cache_key] = h.copy()    # a copy: layers may reuse their buffers
        return self._layer_inputs[cache_key]

    def _numeric(self, dtype_name, key, flat_index, eps):
        net, _, labels, fn, _ = self._setups[dtype_name]
        h = self._layer_input(dtype_name, key[0])
        p = net.layers[key[0]].params[key[1]]
        idx = np.unravel_index(flat_index, p.shape)
        old = p[idx].copy()

        def loss():      # the same numbers as fn.forward(net.forward(x), labels)
            out = h
            for layer in net.layers[key[0]:]:
                out = layer.forward(out)
            return fn.forward(out, labels)
        try:
            p[idx] = old + eps
            f_plus = loss()
            p[idx] = old - eps
            f_minus = loss()
        finally:
            p[idx] = old
        return (f_plus - f_minus) / (2 * eps)

    def _analytic(self, dtype_name, key, flat_index):
        return float(self._setups[dtype_name][4][key].flat[flat_index])

    def _sweep(self, key, flat_index):
        cache_key = (key, flat_index)
        if cache_key not in self._sweeps:
            curves = {"eps": self._eps_grid}
            for name in ("float64", "float32"):
                a = self._analytic(name, key, flat_index)
                curves[name] = np.array([_scalar_relative_error(a, self._numeric(name, key, flat_index, e))
                                         for e in self._eps_grid])
            self._sweeps[cache_key] = curves
        return self._sweeps[cache_key]

    def _compute(self):
        key = (self.layer_dropdown.value, self.param_dropdown.value)
        index, eps = int(self.index_slider.value), float(self.eps_slider.value)
        self.analytic64 = self._analytic("float64", key, index)
        self.analytic32 = self._analytic("float32", key, index)
        self.numeric64 = self._numeric("float64", key, index, eps)
        self.numeric32 = self._numeric("float32", key, index, eps)
        self.error64 = _scalar_relative_error(self.analytic64, self.numeric64)
        self.error32 = _scalar_relative_error(self.analytic32, self.numeric32)
        self.sweep = self._sweep(key, index)
        shape = self._setups["float64"][0].layers[key[0]].params[key[1]].shape
        entry = tuple(int(i) for i in np.unravel_index(index, shape))
        lines = [f"eps = {eps:.0e}", "",
                 "            analytic       numeric     rel. error",
                 f"float64  {self.analytic64: .6e} {self.numeric64: .6e}  {self.error64:.1e}",
                 f"float32  {self.analytic32: .6e} {self.numeric32: .6e}  {self.error32:.1e}", "",
                 "numeric = (L(w+eps) - L(w-eps)) / (2 eps)",
                 "right of the V: truncation (~eps²)",
                 "left of the V: rounding (~machine eps / eps)"]
        return (key, index), f"layer {key[0]}, {key[1]}{list(entry)}: error vs eps", "\n".join(lines), eps

    def _curves(self):
        return {"float64": self.sweep["float64"], "float32": self.sweep["float32"]}

    def build_figure(self):
        self._shown_entry, title, text, eps = self._compute()
        fig = _viz.widget_figure((10, 3.8))
        ax, text_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.5, 1]})
        self._picture = _viz.EpsSweepPicture(ax, self.sweep["eps"], self._curves(), current_eps=eps, title=title,
                                             live=True)
        text_ax.axis("off")
        self._text = text_ax.text(0, 0.95, text, family="monospace", fontsize=8.5, va="top", animated=True)
        _viz.fit_layout(fig)
        return fig

    def update_figure(self):
        entry, title, text, eps = self._compute()
        if entry != self._shown_entry:          # a new curve; moving eps only moves the marks
            self._picture.update(self._curves(), title=title)
            self._shown_entry = entry
        self._picture.mark(eps)
        self._text.set_text(text)


class BackwardStepper(Explorer):
    """Step through a backward pass one output position at a time (one channel, stride 1 conv).

    Give ``kernel=`` for a convolution (stride 1, no padding) or ``pool_size=`` for max
    pooling (stride = pool_size). At each step the picture shows which inputs the output
    position ``(i, j)`` read in the forward pass and what it sends back to ``dx``:

    * convolution: ``dout[i, j] * w`` added onto the whole window;
    * max pooling: ``dout[i, j]`` to the window's winner only, the first maximum in
      row-major order, even when several inputs tie.

    The last panel sums the steps so far; at the last step it is the full ``dx``, equal to
    ``cnnlib.ops``'s backward pass.

    Parameters
    ----------
    x : (H, W) array
    dout : (H_out, W_out) array
    kernel : (KH, KW) array, optional
    pool_size : int, optional

    Attributes
    ----------
    position : (i, j); contribution, total : (H, W) arrays; winner, tied : for max pooling
    dx : the full dx from cnnlib.ops
    """

    def __init__(self, x, dout, *, kernel=None, pool_size=None):
        if (kernel is None) == (pool_size is None):
            raise ValueError("BackwardStepper: give kernel= for a convolution or pool_size= for max pooling "
                             "(exactly one of them)")
        x = np.asarray(x, dtype=np.float64)
        dout = np.asarray(dout, dtype=np.float64)
        if x.ndim != 2 or 0 in x.shape:
            raise ValueError(f"BackwardStepper: x must be a 2-D array (H, W), got shape {x.shape}")
        if not (np.isfinite(x).all() and np.isfinite(dout).all()):
            raise ValueError("BackwardStepper: x and dout must be finite")
        if kernel is not None:
            kernel = np.asarray(kernel, dtype=np.float64)
            if kernel.ndim != 2 or 0 in kernel.shape:
                raise ValueError(f"BackwardStepper: kernel must be a 2-D array (KH, KW), got shape {kernel.shape}")
            if kernel.shape[0] > x.shape[0] or kernel.shape[1] > x.shape[1]:
                raise ValueError(f"BackwardStepper: kernel {kernel.shape} is bigger than x {x.shape}")
            self.kind, (KH, KW), stride = "conv", kernel.shape, 1
            _, cache = _ops.conv2d_forward(x[None, None], kernel[None, None], np.zeros(1))
            backward = lambda d: _ops.conv2d_backward(d, cache)[0]  # noqa: E731
        else:
            if isinstance(pool_size, (bool, np.bool_)) or not isinstance(pool_size, (int, np.integer)) \
                    or not 1 <= pool_size <= min(x.shape):
                raise ValueError(f"BackwardStepper: pool_size must be an integer from 1 to {min(x.shape)} "
                                 f"for x of shape {x.shape}, got {pool_size!r}")
            self.kind, KH, KW, stride = "maxpool", int(pool_size), int(pool_size), int(pool_size)
            _, cache = _ops.maxpool2d_forward(x[None, None], kernel_size=KH)
            backward = lambda d: _ops.maxpool2d_backward(d, cache)  # noqa: E731
        H_out = _ops.conv_output_size(x.shape[0], KH, stride)
        W_out = _ops.conv_output_size(x.shape[1], KW, stride)
        if dout.shape != (H_out, W_out):
            raise ValueError(f"BackwardStepper: dout must have the forward output's shape ({H_out}, {W_out}), "
                             f"got {dout.shape}")
        self.x, self.dout, self.kernel = x, dout, kernel
        self.KH, self.KW, self.stride = KH, KW, stride
        self.dx = backward(dout[None, None])[0, 0]
        self.step_slider = widgets.IntSlider(value=0, min=0, max=H_out * W_out - 1, description="step")
        self.play = widgets.Play(value=0, min=0, max=H_out * W_out - 1, interval=700, description="play")
        widgets.jslink((self.play, "value"), (self.step_slider, "value"))
        name = "convolution" if self.kind == "conv" else "max pooling"
        super().__init__([self.step_slider], title=f"Backward pass of {name}, one output position at a time")
        _relayout_controls(self, widgets.HBox([self.play, self.step_slider]))

    def _share(self, i, j):
        """What output position (i, j) sends back to dx, and (for pooling) its winner and ties."""
        r0, c0 = i * self.stride, j * self.stride
        share = np.zeros_like(self.x)
        window = self.x[r0:r0 + self.KH, c0:c0 + self.KW]
        if self.kind == "conv":
            share[r0:r0 + self.KH, c0:c0 + self.KW] = self.dout[i, j] * self.kernel
            return share, None, []
        p, q = divmod(int(np.argmax(window)), self.KW)          # the first maximum, row-major
        share[r0 + p, c0 + q] = self.dout[i, j]
        tied = [(r0 + int(a), c0 + int(b)) for a, b in np.argwhere(window == window.max())]
        return share, (r0 + p, c0 + q), tied

    def _compute(self):
        W_out = self.dout.shape[1]
        step = int(self.step_slider.value)
        i, j = divmod(step, W_out)
        self.position = (i, j)
        self.contribution, self.winner, self.tied = self._share(i, j)
        self.total = sum(self._share(*divmod(k, W_out))[0] for k in range(step + 1))
        return dict(position=(i, j), window=(i * self.stride, j * self.stride, self.KH, self.KW),
                    winner=self.winner, tied=self.tied)

    def build_figure(self):
        self._picture = _viz.BackwardStepPicture(_viz.widget_figure((13, 3.6)), self.x, self.dout, kind=self.kind,
                                                 window_shape=(self.KH, self.KW), live=True)
        self.update_figure()
        return self._picture.fig

    def update_figure(self):
        where = self._compute()
        self._picture.update(self.contribution, self.total, **where)



# ============================================================================ lesson 6
# (training dashboard, feature maps, confusion matrix, draw-a-digit go here)
import math  # noqa: E402
import threading  # noqa: E402

import numpy as np  # noqa: E402

from cnnlib import viz  # noqa: E402
from cnnlib.losses import softmax  # noqa: E402

__all__ += ["saliency_map", "TrainingDashboard", "FeatureMapExplorer", "ConfusionExplorer"]


def _model_dtype(model):
    """The dtype of the model's first parameter (inputs are cast to it), float64 if none."""
    for layer in model.layers:
        for p in layer.params.values():
            return p.dtype
    return np.dtype(np.float64)


def _as_model_input(owner, model, images):
    """Images -> the model's input ``(N, C, H, W)`` in the model's dtype.

    uint8 images (N, H, W), as ``load_mnist`` returns them, are scaled to [0, 1] with
    :func:`cnnlib.train.to_input`; float arrays must already be ``(N, C, H, W)``.
    """
    images = np.asarray(images)
    if images.dtype == np.uint8:
        from cnnlib.train import to_input
        images = to_input(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(f"{owner}: expected a batch of model inputs (N, C, H, W), e.g. to_input(x_test), "
                         f"got shape {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{owner}: expected float inputs (from to_input) or uint8 images, got dtype {images.dtype}")
    return images.astype(_model_dtype(model), copy=False)


def saliency_map(model, image, class_index):
    """How strongly each pixel can move one class score: ``|d logits[c] / d x|``.

    We run the model forward on the single image, then backward with a one-hot ``dout``
    on the logits, so the backward pass returns the gradient of the score of class ``c``
    with respect to every input pixel. Its absolute value is the saliency map.

    Parameters
    ----------
    model : Sequential
    image : ndarray, (C, H, W) or (H, W)
        One model input (float, already scaled), without the batch axis.
    class_index : int
        Which logit to explain (the predicted class, or the true one).

    Returns
    -------
    ndarray, float, (H, W)
        The largest ``|gradient|`` over the input channels at each pixel.

    Notes
    -----
    .. math:: S_{ij} = \\max_c \\left| \\frac{\\partial z_k}{\\partial x_{c,i,j}} \\right|

    The forward and backward passes overwrite the layers' caches and ``grads``, as a
    training step would; do not call it between a backward pass and ``optimizer.step()``.

    >>> from cnnlib.model import build_seed_net
    >>> saliency_map(build_seed_net(rng=0), np.zeros((1, 28, 28)), 3).shape
    (28, 28)
    """
    x = np.asarray(image)
    if x.ndim == 2:
        x = x[None]   # (1, H, W)
    if x.ndim != 3 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"saliency_map: expected one float image of shape (C, H, W) or (H, W), got shape "
                         f"{np.shape(image)} and dtype {np.asarray(image).dtype}")
    logits = model.forward(x[None].astype(_model_dtype(model), copy=False))   # (1, K)
    K = logits.shape[1]
    if isinstance(class_index, bool) or not isinstance(class_index, (int, np.integer)) \
            or not 0 <= class_index < K:
        raise ValueError(f"saliency_map: class_index must be an integer in [0, {K}), got {class_index!r}")
    dout = np.zeros_like(logits)
    dout[0, class_index] = 1.0
    dx = model.backward(dout, input_grad=True)   # (1, C, H, W)
    return np.abs(dx[0]).max(axis=0)             # (H, W)


# ---------------------------------------------------------------------------- training dashboard

def _positive_int(owner, name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: {name} must be a positive integer, got {value!r}")
    return int(value)


class TrainingDashboard(Explorer):
    """Loss and accuracy curves that grow while a model trains, with a progress bar.

    Two ways to drive it:

    * ``dashboard.run()`` trains the whole plan in the calling cell, redrawing the curves
      every ``redraw_every`` steps and at the end of each epoch. The notebook uses this:
      it is deterministic, and the front end shows the updates live. But a busy cell
      cannot receive button clicks (the kernel handles one message at a time), so
      *Pause* has no effect during ``run()``.
    * The **Start** button trains in a background thread, one batch at a time, so the
      kernel stays free: **Pause** takes effect after the current batch and **Resume**
      continues exactly where training stopped (the same batches, the same numbers).

    Parameters
    ----------
    trainer : cnnlib.train.Trainer
    x, y : training inputs (N, C, H, W) and labels (N,)
    x_val, y_val : optional data evaluated after every epoch (both or neither)
    epochs, batch_size : the plan: ``epochs`` passes over ``(x, y)``
    redraw_every : redraw the curves every this many steps (a redraw costs ~0.05 s: the same figure,
        its lines extended)

    Attributes
    ----------
    history : dict of lists, per epoch, in :meth:`Trainer.fit`'s format
    step_log : dict of lists ``t`` (epochs, fractional), ``loss``, ``acc``, per batch
    steps_done : int
    state : "ready", "running", "paused", "done" or "error"
    """

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
        self.epochs = _positive_int(owner, "epochs", epochs)
        self.batch_size = _positive_int(owner, "batch_size", batch_size)
        self.redraw_every = _positive_int(owner, "redraw_every", redraw_every)
        self.smooth = _positive_int(owner, "smooth", smooth)
        self.steps_per_epoch = math.ceil(len(y) / self.batch_size)
        self.total_steps = self.epochs * self.steps_per_epoch
        self.first_epoch = trainer.epoch   # the curves start where the trainer stands
        self.history = {key: [] for key in ("epoch", "loss", "train_acc", "val_loss", "val_acc", "seconds")}
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
        self._draw_lock = threading.Lock()

        self.start_button = widgets.Button(description="Start", icon="play", layout=widgets.Layout(width="100px"))
        self.pause_button = widgets.Button(description="Pause", icon="pause", disabled=True,
                                           layout=widgets.Layout(width="100px"))
        self.resume_button = widgets.Button(description="Resume", icon="play", disabled=True,
                                            layout=widgets.Layout(width="100px"))
        self.progress = widgets.IntProgress(value=0, min=0, max=self.total_steps, description="steps",
                                            layout=widgets.Layout(width="260px"))
        self.info = widgets.Label(value=f"ready: {self.epochs} epoch(s) of {self.steps_per_epoch} steps")
        self.start_button.on_click(self._on_start)
        self.pause_button.on_click(self._on_pause)
        self.resume_button.on_click(self._on_resume)
        super().__init__([self.start_button, self.pause_button, self.resume_button, self.progress],
                         title=title, observe=False)
        # The running numbers get a line of their own, between the buttons and the curves.
        children = list(self.widget.children)
        children.insert(children.index(self.out), self.info)
        self.widget.children = tuple(children)

    # -- drawing (also from the training thread, so no pyplot: widget_figure is outside it)
    def build_figure(self):
        fig = viz.widget_figure((9, 3.2))
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.16, top=0.9, wspace=0.22)  # fixed: no re-layout
        self._curves = viz.CurvesPicture(fig.subplots(1, 2), smooth=self.smooth)
        self.update_figure()
        return fig

    def update_figure(self):
        self._curves.update(self.history, steps=self.step_log)
        for ax in self._curves.axes:
            ax.set_xlim(self.first_epoch, self.first_epoch + self.epochs)

    def refresh(self, *_):
        """Redraw the curves (thread-safe: never touches pyplot's list of open figures)."""
        with self._draw_lock:
            start = time.perf_counter()
            try:
                png = self._draw_png()     # the same figure, its lines extended
            except Exception as e:     # shown in the widget: a callback must not fail silently
                self.fig = None
                self.status.value = f"error: {type(e).__name__}: {e}"
                return
            self.out.outputs = ()
            self.out.append_display_data(Image(data=png, format="png"))
            self.draw_count += 1
            self.last_draw_seconds = time.perf_counter() - start
            self.status.value = f"drawn #{self.draw_count}"

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
        super().close()


# ---------------------------------------------------------------------------- feature maps

#: Layers whose output is a stack of feature maps (N, C, H, W).
FEATURE_MAP_LAYERS = ("Conv2d", "ReLU", "MaxPool2d", "AvgPool2d")


def layer_outputs(model, x):
    """Every layer's output for the batch ``x``: a list as long as the model."""
    outputs = []
    for layer in model.layers:
        x = layer.forward(x)
        outputs.append(x)
    return outputs


class FeatureMapExplorer(Explorer):
    """Pick an image, a layer and a channel: see the input and that channel's feature map.

    Parameters
    ----------
    model : Sequential (trained)
    images : uint8 (N, H, W) images or float model inputs (N, C, H, W)
    labels : optional (N,) labels, shown in the input's title

    The layer menu lists the layers whose output is a stack of maps (Conv2d, ReLU,
    pooling). Tick "all channels" to see every channel of the layer in a grid, with the
    chosen one framed.
    """

    def __init__(self, model, images, labels=None, *, title="Feature maps"):
        owner = "FeatureMapExplorer"
        self.model = model
        self.images = _as_model_input(owner, model, images)
        self.labels = None if labels is None else np.asarray(labels)
        if self.labels is not None and self.labels.shape != (len(self.images),):
            raise ValueError(f"{owner}: expected {len(self.images)} labels, got shape {self.labels.shape}")
        outputs = layer_outputs(model, self.images[:1])
        self.layer_indices = [i for i, layer in enumerate(model.layers)
                              if type(layer).__name__ in FEATURE_MAP_LAYERS and outputs[i].ndim == 4]
        if not self.layer_indices:
            raise ValueError(f"{owner}: the model has no Conv2d, ReLU or pooling layer with feature maps")
        self._channels = {i: outputs[i].shape[1] for i in self.layer_indices}
        self._cache = {}
        first = self.layer_indices[0]
        slider = dict(continuous_update=False, layout=widgets.Layout(width="250px"))
        self.image_slider = widgets.IntSlider(value=0, min=0, max=len(self.images) - 1, description="image",
                                              **slider)
        names = [(f"{i}: {model.layers[i]!r}".replace(", stride=1, padding=0", ""), i) for i in self.layer_indices]
        self.layer_menu = widgets.Dropdown(options=names, value=first, description="layer",
                                           layout=widgets.Layout(width="250px"))
        self.channel_slider = widgets.IntSlider(value=0, min=0, max=self._channels[first] - 1,
                                                description="channel", **slider)
        self.show_all = widgets.Checkbox(value=False, description="all channels", indent=False,
                                         layout=widgets.Layout(width="120px"))
        # Registered before the base class's redraw, so the channel range fits the layer
        # by the time the picture is drawn.
        self.layer_menu.observe(self._fit_channel_range, names="value")
        self._figures = {}     # figure_key -> (figure, input axes, map axes, grid picture)
        super().__init__([self.image_slider, self.layer_menu, self.channel_slider, self.show_all], title=title)

    def _fit_channel_range(self, change):
        self.channel_slider.max = self._channels[change["new"]] - 1   # clamps value if needed

    def activations(self, image_index):
        """All layers' outputs for one image (cached: the widgets redraw often)."""
        if image_index not in self._cache:
            if len(self._cache) > 64:
                self._cache.clear()
            self._cache[image_index] = [out[0] for out in
                                        layer_outputs(self.model, self.images[image_index:image_index + 1])]
        return self._cache[image_index]

    def figure_key(self):
        # All channels: a grid with one cell per channel; one channel: the same two panels
        return (True, self._channels[self.layer_menu.value]) if self.show_all.value else (False, None)

    def _compute(self):
        i, layer, c = self.image_slider.value, self.layer_menu.value, self.channel_slider.value
        maps = self.activations(i)[layer]   # (C, H, W)
        c = min(c, maps.shape[0] - 1)
        label = f" (label {self.labels[i]})" if self.labels is not None else ""
        titles = (f"input #{i}{label}",
                  f"layer {layer} {self.model.layers[layer]!r}\nchannel {c}, {maps.shape[1]}x{maps.shape[2]}",
                  f"all {maps.shape[0]} channels of layer {layer}")
        return i, c, maps, titles

    def build_figure(self):
        # Each layout is built once and kept (switching back and forth re-uses it).
        key = self.figure_key()
        if key not in self._figures:
            self._figures[key] = self._build()
        self.fig, self._ax_in, self._ax_map, self._grid = self._figures[key]
        self.update_figure()
        return self.fig

    def _build(self):
        i, c, maps, titles = self._compute()
        fig = viz.widget_figure((8, 6.2 if self.show_all.value else 3.0))
        top, self._grid = fig, None
        if self.show_all.value:
            top, bottom = fig.subfigures(2, 1, height_ratios=[1, 1.1])
            self._grid = viz.FeatureMapsPicture(bottom, maps, highlight=c, title=titles[2], live=True)
        ax_in, ax_map = top.subplots(1, 2)
        viz.show_image(self.images[i, 0], ax=ax_in, title=titles[0], cmap="gray_r")
        viz.show_image(maps[c], ax=ax_map, symmetric=bool(maps.min() < 0), colorbar=True, cmap="gray",
                       title=titles[1])
        # What a new image or channel changes; the rest (frames, titles of the grid) is kept.
        for artist in (ax_map, ax_map.images[0].colorbar.ax, ax_in.images[0], ax_in.title, *ax_in.spines.values()):
            artist.set_animated(True)
        viz.fit_layout(fig, tight=False)
        return fig, ax_in, ax_map, self._grid

    def update_figure(self):
        i, c, maps, titles = self._compute()
        image = self.images[i, 0]
        viz._set_image(self._ax_in.images[0], image, (image.min(), image.max()))
        viz._set_text(self._ax_in.title, titles[0])
        # as show_image draws it: signed maps centred on 0 in red/blue, others grey from min to max
        im, values = self._ax_map.images[0], maps[c]
        if maps.min() < 0:
            limit = float(np.abs(values).max()) or 1.0
            cmap, clim = "RdBu_r", (-limit, limit)
        else:
            cmap, clim = "gray", (values.min(), values.max())
        if im.get_cmap().name != cmap:
            im.set_cmap(cmap)
        viz._set_image(im, values, clim)
        viz._set_text(self._ax_map.title, titles[1])
        if self._grid is not None:
            self._grid.update(maps, highlight=c, title=titles[2])


# ---------------------------------------------------------------------------- confusion matrix

def _blend(hex_color, strength):
    """Mix white with ``hex_color``: strength 0 -> white, 1 -> the colour."""
    rgb = np.array([int(hex_color[k:k + 2], 16) for k in (1, 3, 5)], dtype=float)
    mixed = 255 - strength * (255 - rgb)
    return "#" + "".join(f"{int(round(v)):02x}" for v in mixed)


class ConfusionExplorer(Explorer):
    """A clickable confusion matrix: click a cell to see its digits and their saliency maps.

    Row = true digit, column = predicted digit; the number on each button is the count.
    Off-diagonal cells (mistakes) are red, the diagonal is green, darker = more. Below,
    the clicked cell's digits, most confident first, each above its saliency map: the
    gradient of the predicted (or true) class score with respect to the pixels, from
    our own backward pass (:func:`saliency_map`).

    Parameters
    ----------
    model : Sequential (trained)
    x : uint8 images (N, H, W) or float model inputs (N, C, H, W)
    y : int labels (N,)
    max_shown : how many digits of a cell to show
    """

    def __init__(self, model, x, y, *, max_shown=8, title="Confusion matrix: click a cell"):
        owner = "ConfusionExplorer"
        self.model = model
        self.x = _as_model_input(owner, model, x)
        self.y = np.asarray(y)
        if self.y.shape != (len(self.x),) or not np.issubdtype(self.y.dtype, np.integer):
            raise ValueError(f"{owner}: expected {len(self.x)} integer labels, got shape {self.y.shape} "
                             f"and dtype {self.y.dtype}")
        self.max_shown = _positive_int(owner, "max_shown", max_shown)
        logits = model.predict(self.x)                     # (N, K)
        self.probs = softmax(logits.astype(np.float64))    # (N, K)
        self.pred = self.probs.argmax(axis=1)
        K = self.n_classes = logits.shape[1]
        if self.y.min() < 0 or self.y.max() >= K:
            raise ValueError(f"{owner}: labels must be in [0, {K}), got {self.y.min()}..{self.y.max()}")
        self.cm = np.bincount(self.y * K + self.pred, minlength=K * K).reshape(K, K)
        off = self.cm * (1 - np.eye(K, dtype=int))
        self.selected = tuple(int(v) for v in np.unravel_index(off.argmax(), off.shape)) if off.any() else (0, 0)

        def cell():   # a Layout per button: they are mutable, and the selected one gets a frame
            return widgets.Layout(width="38px", height="26px", padding="0px")
        header = widgets.Layout(width="38px", height="26px")
        diag_max, off_max = max(int(np.diag(self.cm).max()), 1), max(int(off.max()), 1)
        self.buttons = []
        children = [widgets.Label("true\\pred", layout=widgets.Layout(width="60px"))]
        children += [widgets.Label(str(j), layout=header) for j in range(K)]
        for i in range(K):
            children.append(widgets.Label(str(i), layout=widgets.Layout(width="60px")))
            row = []
            for j in range(K):
                n = int(self.cm[i, j])
                strength = math.sqrt(n / (diag_max if i == j else off_max))
                b = widgets.Button(description=str(n), layout=cell(), tooltip=f"true {i}, predicted {j}: {n}")
                b.style.button_color = _blend("#2e9e44" if i == j else "#d62728", strength) if n else "#f5f5f5"
                b.style.text_color = "white" if strength > 0.6 else "black"
                b.on_click(lambda _b, i=i, j=j: self.select(i, j))
                row.append(b)
                children.append(b)
            self.buttons.append(row)
        self.grid = widgets.GridBox(children, layout=widgets.Layout(
            grid_template_columns=f"60px repeat({K}, 38px)", grid_gap="2px"))
        self.explain = widgets.ToggleButtons(options=[("predicted class", "pred"), ("true class", "true")],
                                             value="pred", description="saliency of",
                                             style={"button_width": "130px"})
        self._mark(self.selected, True)
        self._figures = {}       # number of columns -> (figure, picture)
        super().__init__([widgets.VBox([self.grid, self.explain])], title=title)
        self.explain.observe(self.refresh, names="value")

    def _mark(self, cell, on):
        b = self.buttons[cell[0]][cell[1]]
        b.style.font_weight = "bold" if on else "normal"
        b.layout.border = "2px solid black" if on else ""

    def select(self, true_class, predicted_class):
        """Show the cell (true_class, predicted_class), as a click on its button does."""
        K = self.n_classes
        if not (0 <= true_class < K and 0 <= predicted_class < K):
            raise ValueError(f"ConfusionExplorer.select: classes must be in [0, {K}), got "
                             f"({true_class}, {predicted_class})")
        self._mark(self.selected, False)
        self.selected = (int(true_class), int(predicted_class))
        self._mark(self.selected, True)
        self.refresh()

    def examples(self, true_class, predicted_class):
        """Indices of the examples in that cell, most confident prediction first."""
        idx = np.flatnonzero((self.y == true_class) & (self.pred == predicted_class))
        confidence = self.probs[idx, predicted_class]
        return idx[np.argsort(-confidence, kind="stable")]

    def figure_key(self):
        return min(len(self.examples(*self.selected)), self.max_shown)     # how many columns

    def build_figure(self):
        # One figure per number of columns, kept: clicking around re-uses them.
        n = self.figure_key()
        if n not in self._figures:
            if n == 0:
                fig = viz.widget_figure((6, 1.2))
                ax = fig.add_subplot()
                ax.axis("off")
                picture = ax.text(0.5, 0.5, " ", ha="center", va="center", fontsize=11, animated=True)
            else:
                fig = viz.widget_figure((max(n, 4) * 1.2, 3.2))
                images, maps, titles, heading = self._compute()
                picture = viz.SaliencyGridPicture(fig, images, maps, titles, live=True)
                viz._set_suptitle(fig, heading).set_animated(True)
                viz.fit_layout(fig, tight=False)
            self._figures[n] = fig, picture
        self.fig, self._picture = self._figures[n]
        self.update_figure()
        return self.fig

    def _compute(self):
        i, j = self.selected
        idx = self.examples(i, j)
        what = "correct" if i == j else "mistakes"
        heading = f"true {i}, predicted {j}: {len(idx)} {what}"
        if len(idx) == 0:
            return None, None, None, heading + " - nothing to show"
        shown = idx[:self.max_shown]
        target = {"pred": j, "true": i}[self.explain.value]
        maps = np.stack([saliency_map(self.model, self.x[k], target) for k in shown])   # (n, H, W)
        titles = [f"#{k}\np({j})={self.probs[k, j]:.2f}" for k in shown]
        shown_note = f" (the {len(shown)} most confident)" if len(idx) > len(shown) else ""
        return (self.x[shown].max(axis=1), maps, titles,
                f"{heading}{shown_note}; saliency of class {target}")

    def update_figure(self):
        images, maps, titles, heading = self._compute()
        if images is None:                   # the picture is the note
            viz._set_text(self._picture, heading)
        else:
            self._picture.update(images, maps, titles)
            viz._set_suptitle(self.fig, heading)

    def close(self):
        for row in self.buttons:
            for b in row:
                b.close()
        for w in (self.grid, self.explain):
            w.close()
        super().close()


# ---------------------------------------------------------------------------- draw a digit

from cnnlib.preprocess import draw_stroke, preprocess_digit  # noqa: E402

__all__ += ["DrawDigit"]


class DrawDigit(Explorer):
    """Draw a digit with the mouse; see what the trained net sees, its probabilities and feature maps.

    Hold the mouse button down on the black square and draw; when you let go, the drawing
    goes through MNIST's own preprocessing (:func:`cnnlib.preprocess.preprocess_digit`:
    crop, scale to 20 px, centre by mass in 28x28), then through the net. The picture
    shows the 28x28 image the net receives, its ten probabilities and the first
    convolution's feature maps. "Clear" starts again; strokes add up until then.

    Parameters
    ----------
    model : Sequential (trained)
        Maps (N, 1, 28, 28) images in [0, 1] to 10 logits and has a Conv2d layer.
    canvas_size : int
        Side of the drawing square in pixels (280 = ten canvas pixels per MNIST pixel).
    line_width : float
        Pen width in canvas pixels; 20 on a 280 canvas gives MNIST-like 2-px strokes.

    Notes
    -----
    The kernel keeps its own NumPy copy of the drawing (``raster``), drawn stroke by stroke
    with :func:`cnnlib.preprocess.draw_stroke` in step with the canvas, so it never has to
    read pixels back from the browser. :meth:`draw_stroke` runs exactly what the mouse
    handlers run, for tests and for notebooks that want to draw from code. Errors (an empty
    canvas, say) appear in ``status`` as ``"error: ..."``; after each prediction ``status``
    reads ``"drawn #k"`` and ``prediction`` names the digit.
    """

    def __init__(self, model, *, canvas_size=280, line_width=20, title="Draw a digit"):
        from ipycanvas import Canvas   # only this widget needs ipycanvas

        owner = "DrawDigit"
        if not hasattr(model, "layers"):
            raise TypeError(f"{owner}: expected a cnnlib Sequential model, got {type(model).__name__}")
        self.conv_index = next((i for i, layer in enumerate(model.layers) if type(layer).__name__ == "Conv2d"), None)
        if self.conv_index is None:
            raise ValueError(f"{owner}: the model has no Conv2d layer, so there are no feature maps to show")
        probe = layer_outputs(model, np.zeros((1, 1, 28, 28), dtype=_model_dtype(model)))[-1]
        if probe.shape != (1, 10):
            raise ValueError(f"{owner}: the model should map (N, 1, 28, 28) images to 10 logits, "
                             f"but it gives shape {probe.shape}")
        canvas_size = _positive_int(owner, "canvas_size", canvas_size)
        if not (isinstance(line_width, (int, float, np.integer, np.floating)) and 0 < line_width <= canvas_size / 2):
            raise ValueError(f"{owner}: line_width must be a number in (0, {canvas_size / 2}], got {line_width!r}")
        self.model, self.canvas_size, self.line_width = model, canvas_size, float(line_width)
        self.raster = np.zeros((canvas_size, canvas_size))   # (H, W) in [0, 1], the kernel's copy
        self.strokes = []          # finished strokes, each a list of (x, y)
        self._stroke = None        # the stroke being drawn, or None
        self.probs = self.digit = self.feature_maps = self.predicted = None
        self._figures = {}         # the note (nothing drawn yet) and the pictures, each built once

        self.canvas = Canvas(width=canvas_size, height=canvas_size,
                             layout=widgets.Layout(width=f"{canvas_size}px", height=f"{canvas_size}px",
                                                   border="1px solid #888"))
        self.clear_button = widgets.Button(description="Clear", icon="eraser", tooltip="Start a new drawing")
        self.prediction = widgets.HTML(value=self._PROMPT)
        self.clear_button.on_click(lambda _: self.clear())
        self.canvas.on_mouse_down(self._guard(self._pen_down))
        self.canvas.on_mouse_move(self._guard(self._pen_move))
        self.canvas.on_mouse_up(self._guard(self._pen_up))
        self.canvas.on_mouse_out(self._guard(self._pen_up))
        self.canvas.on_touch_start(self._guard(lambda touches: touches and self._pen_down(*touches[0])))
        self.canvas.on_touch_move(self._guard(lambda touches: touches and self._pen_move(*touches[0])))
        self.canvas.on_touch_end(self._guard(lambda touches: self._pen_up(*(touches[0] if touches else (None, None)))))
        self.canvas.on_client_ready(self._guard(self._repaint))
        super().__init__([self.clear_button], title=title, observe=False)
        # Canvas and buttons on the left, the picture on the right, the status below.
        header = [w for w in self.widget.children if isinstance(w, widgets.HTML)]
        old_row = self.widget.children[len(header)]
        self._left = widgets.VBox([self.canvas, widgets.HBox([self.clear_button, self.prediction])])
        self._row = widgets.HBox([self._left, self.out])
        self.widget.children = header + [self._row, self.status]
        old_row.close()
        self._repaint()

    _PROMPT = "Hold the mouse button down on the black square and draw a digit."

    # ---------------------------------------------------------------- pen (mouse and touch)
    def _guard(self, handler):
        """Mouse callbacks must never fail silently: show the error in the status line."""
        def guarded(*args):
            try:
                handler(*args)
            except Exception as e:   # noqa: BLE001 - shown to the learner
                self.status.value = f"error: {type(e).__name__}: {e}"
        return guarded

    def _pen_down(self, x, y):
        self._stroke = [(float(x), float(y))]
        self.raster = draw_stroke(self.raster, self._stroke, width=self.line_width)
        self.canvas.fill_circle(x, y, self.line_width / 2)

    def _pen_move(self, x, y):
        if self._stroke is None:
            return
        x0, y0 = self._stroke[-1]
        self._stroke.append((float(x), float(y)))
        self.raster = draw_stroke(self.raster, [(x0, y0), (x, y)], width=self.line_width)
        self.canvas.stroke_line(x0, y0, x, y)

    def _pen_up(self, x=None, y=None):
        if self._stroke is None:
            return
        if x is not None and (float(x), float(y)) != self._stroke[-1]:
            self._pen_move(x, y)
        self.strokes.append(self._stroke)
        self._stroke = None
        self.refresh()

    def draw_stroke(self, points):
        """Draw one stroke through ``points`` [(x, y), ...] exactly as the mouse would, then predict."""
        points = [(float(x), float(y)) for x, y in points]
        if not points:
            self.status.value = "error: ValueError: a stroke needs at least one (x, y) point"
            return
        self._guard(self._pen_down)(*points[0])
        for x, y in points[1:]:
            self._guard(self._pen_move)(x, y)
        self._guard(self._pen_up)(*points[-1])

    def clear(self):
        """Wipe the drawing and the prediction."""
        self.raster = np.zeros_like(self.raster)
        self.strokes, self._stroke = [], None
        self.probs = self.digit = self.feature_maps = self.predicted = None
        self._repaint()
        self.refresh()

    def _repaint(self):
        """Paint the canvas from the strokes (also when a new browser tab connects)."""
        from ipycanvas import hold_canvas
        with hold_canvas():
            self.canvas.clear()
            self.canvas.fill_style = "black"
            self.canvas.fill_rect(0, 0, self.canvas_size, self.canvas_size)
            self.canvas.fill_style = self.canvas.stroke_style = "white"
            self.canvas.line_width = self.line_width
            self.canvas.line_cap = self.canvas.line_join = "round"
            for stroke in self.strokes:
                x, y = stroke[0]
                self.canvas.fill_circle(x, y, self.line_width / 2)
                if len(stroke) > 1:
                    self.canvas.stroke_lines(stroke)

    # ---------------------------------------------------------------- prediction and picture
    def predict(self):
        """Preprocess the drawing and run the net: sets ``digit``, ``probs``, ``feature_maps``, ``predicted``."""
        digit = preprocess_digit(self.raster)                         # (28, 28) float32, raises if empty
        x = digit[None, None].astype(_model_dtype(self.model))         # (1, 1, 28, 28)
        outputs = layer_outputs(self.model, x)
        probs = softmax(outputs[-1].astype(np.float64))[0]            # (10,)
        self.digit, self.probs = digit, probs
        self.feature_maps = outputs[self.conv_index][0]               # (C_out, 24, 24) for LeNet
        self.predicted = int(np.argmax(probs))
        return probs

    def figure_key(self):
        return bool(self.strokes)          # the note, or the pictures of a drawing

    def _titles(self):
        k, n = self.predicted, min(len(self.feature_maps), 16)
        return (f"probabilities: {k} wins with {self.probs[k]:.2f}",
                f"first convolution's feature maps (layer {self.conv_index}, {n} of "
                f"{self.feature_maps.shape[0]} channels)")

    def build_figure(self):
        # Both figures are built once and kept: Clear and the next stroke re-use them.
        drawn = self.figure_key()
        if drawn not in self._figures:
            if not drawn:
                fig = viz.widget_figure((5, 1.2))
                ax = fig.add_subplot()
                ax.axis("off")
                ax.text(0, 0.5, "The 28x28 image the net sees, its probabilities\nand its first feature maps "
                                "appear here.", fontsize=10, va="center")
                parts = None
            else:
                self.predict()
                probs_title, maps_title = self._titles()
                fig = viz.widget_figure((8, 4.4))
                top, bottom = fig.subfigures(2, 1, height_ratios=[1.7, 1])
                ax_in, ax_probs = top.subplots(1, 2, width_ratios=[1, 2.3])
                viz.show_image(self.digit, ax=ax_in, title="what the net sees (28x28)")
                probs = viz.ProbabilitiesPicture(ax_probs, self.probs, title=probs_title, live=True)
                ax_probs.set_xlabel("")                     # the digits under the bars say it; keeps room
                for label in ax_probs.texts:                # ten value labels side by side: keep them apart
                    label.set_fontsize(6.5)
                maps = viz.FeatureMapsPicture(bottom, self.feature_maps[:16], title=maps_title, live=True)
                for artist in (ax_in.images[0], *ax_in.spines.values()):    # a stroke changes these
                    artist.set_animated(True)
                parts = ax_in.images[0], probs, maps
            self._figures[drawn] = fig, parts
        self.fig, self._parts = self._figures[drawn]
        self.update_figure()
        return self.fig

    def update_figure(self):
        if not self.strokes:
            self.probs = self.digit = self.feature_maps = self.predicted = None
            self.prediction.value = self._PROMPT
            return
        probs = self.predict()
        k = self.predicted
        self.prediction.value = f"The net says <b>{k}</b> ({probs[k]:.0%} sure)."
        digit_image, probs_picture, maps_picture = self._parts
        probs_title, maps_title = self._titles()
        viz._set_image(digit_image, self.digit, (self.digit.min(), self.digit.max()))   # as imshow scales it
        probs_picture.update(probs, title=probs_title)
        maps_picture.update(self.feature_maps[:16], title=maps_title)

    def close(self):
        for w in (self.canvas, self.prediction, self._left, self._row):
            w.close()
        super().close()
