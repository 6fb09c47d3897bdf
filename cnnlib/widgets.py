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
  fast a slider responds.
"""
import base64
import time

import ipywidgets as widgets
import matplotlib.pyplot as plt
from IPython.display import Image

from cnnlib.viz import figure_to_png

__all__ = ["Explorer"]


class Explorer:
    """Base class: a row of controls above a picture and a status line.

    Subclasses build their controls, call ``super().__init__(controls)``, and implement
    :meth:`figure`, which returns a new matplotlib figure for the current control values.
    Every control's ``value`` change triggers a redraw.
    """

    def __init__(self, controls, *, title=None, observe=True):
        self.controls = list(controls)
        self.out = widgets.Output()
        self.status = widgets.Label(value="")
        self.draw_count = 0
        self.last_draw_seconds = None
        header = [widgets.HTML(f"<b>{title}</b>")] if title else []
        self.widget = widgets.VBox(header + [widgets.HBox(self.controls) if self.controls else widgets.HBox(),
                                             self.out, self.status])
        if observe:
            for control in self.controls:
                if hasattr(control, "value"):
                    control.observe(self.refresh, names="value")
        self.refresh()

    def figure(self):
        raise NotImplementedError

    def refresh(self, *_):
        """Redraw the picture from the controls' current values."""
        start = time.perf_counter()
        try:
            png = figure_to_png(self.figure())
        except Exception as e:     # shown in the widget: a callback must not fail silently
            plt.close("all")
            self.status.value = f"error: {type(e).__name__}: {e}"
            return
        self.out.outputs = ()
        self.out.append_display_data(Image(data=png, format="png"))
        self.draw_count += 1
        self.last_draw_seconds = time.perf_counter() - start
        self.status.value = f"drawn #{self.draw_count}"

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

    def figure(self):
        image = self.images[self.digit.value]
        self.feature_map = _conv_single(image, self.kernel)
        label = f" (label {self.labels[self.digit.value]})" if self.labels is not None else ""
        fm = self.feature_map
        return viz.plot_convolution(image, self.kernel, fm, titles=(
            f"input #{self.digit.value}{label}", f"kernel: {self.preset.value}",
            f"feature map {fm.shape[0]}x{fm.shape[1]}, range [{fm.min():.2f}, {fm.max():.2f}]"))


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

    def figure(self):
        step = self.step.value
        i, j = divmod(step, self.W_out)
        s, (KH, KW) = self.stride, self.kernel.shape
        self.position = (i, j)
        self.products = self.image[i * s:i * s + KH, j * s:j * s + KW] * self.kernel
        self.value = float(self.products.sum())
        output = np.full((self.H_out, self.W_out), np.nan)
        output.ravel()[:step + 1] = self.full_output.ravel()[:step + 1]
        self.output = output
        return viz.plot_sliding_window(self.image, self.kernel, step, stride=s)


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

    def figure(self):
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
        return viz.plot_conv_geometry(n, k, p, s)


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
        self.mode = widgets.ToggleButtons(options=["max", "average"], value=mode, description="pooling")
        self.kernel_size = widgets.IntSlider(value=kernel_size, min=1, max=max(max_k, kernel_size),
                                             description="kernel")
        self.stride = widgets.IntSlider(value=kernel_size if stride is None else stride, min=1,
                                        max=max(max_k, stride or 1), description="stride")
        super().__init__([self.mode, self.kernel_size, self.stride], title="Pooling explorer")

    def figure(self):
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
        return viz.plot_pooling(self.x, kernel_size=k, stride=s, mode=mode)


# ============================================================================ lessons 4-5
# (softmax, stability lab, gradient-check and backward-pass explorers go here)


# ============================================================================ lesson 6
# (training dashboard, feature maps, confusion matrix, draw-a-digit go here)
