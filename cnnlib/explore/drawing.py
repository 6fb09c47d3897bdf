"""Draw a digit with the mouse and watch a trained net read it.

May import: numpy, matplotlib, ipywidgets, ipycanvas (the drawing square), the cnnlib core
(the model is only run forward), :mod:`cnnlib.explore.preprocess` (MNIST's own
preprocessing), :mod:`cnnlib.explore.analysis` (layer outputs, the feature-map picture),
:mod:`cnnlib.explore.softmax` (the probability bars), :mod:`cnnlib.explore.picture` and
:mod:`cnnlib.explore.explorer`.

The contract
------------
* The kernel keeps its own NumPy copy of the drawing (``DrawDigit.raster``), drawn
  stroke by stroke with :func:`cnnlib.explore.preprocess.draw_stroke` in step with the
  browser's canvas, so it never reads pixels back from the browser.
* When the pen lifts, the drawing goes through :func:`preprocess_digit` and the net; one
  :class:`DigitPicture` (built once, the same size before and after the first stroke)
  shows the 28x28 input, the ten probabilities and the first convolution's feature maps.
* Errors in a mouse callback (an empty canvas, a NaN coordinate) appear in the
  explorer's ``status`` line, never as a silent failure.
"""
import html

import ipywidgets as widgets
import numpy as np
from ipycanvas import Canvas, hold_canvas

from cnnlib.explore.analysis import FeatureMapsPicture, axes_at, layer_outputs, model_dtype
from cnnlib.explore.explorer import Explorer
from cnnlib.explore.picture import Picture, animate, no_ticks, set_image
from cnnlib.explore.preprocess import MNIST_SIZE, draw_stroke, preprocess_digit
from cnnlib.explore.softmax import ProbabilitiesPicture
from cnnlib.ops import check_int
from cnnlib.losses import softmax

__all__ = ["DigitPicture", "DrawDigit"]

#: At most this many feature maps are shown (two rows of eight).
MAX_MAPS = 16


class DigitPicture(Picture):
    """What the draw-a-digit widget shows: the 28x28 image the net receives, its ten
    probabilities (:class:`cnnlib.explore.softmax.ProbabilitiesPicture`, the winner in
    orange) and the first convolution's feature maps (:class:`FeatureMapsPicture`).

    Parameters
    ----------
    digit : ndarray, (28, 28), or None
        The preprocessed drawing; None (nothing drawn yet) shows empty panels.
    probs : ndarray, (K,), or None
    maps : ndarray, (C, H, W), or None
        With ``n_maps`` given, None shows that many empty maps.
    maps_title : str
        Above the maps (drawn once: it names the layer).
    """

    WIDTH, TOP = 6.0, 2.45                   # inches: the figure, the digit-and-bars part
    MAP_CELL = 0.62                          # inches per feature map

    def __init__(self, digit=None, probs=None, maps=None, *, n_classes=10, n_maps=None, map_shape=(24, 24),
                 maps_title="", live=False):
        n_maps = len(maps) if maps is not None else n_maps
        if not n_maps:
            raise ValueError("DigitPicture: pass the feature maps (C, H, W), or n_maps when there are none yet")
        n_maps = min(n_maps, MAX_MAPS)
        grid_size = FeatureMapsPicture.size(n_maps, n_cols=8, cell_size=self.MAP_CELL)
        self._start((self.WIDTH, self.TOP + grid_size[1]), live=live)
        top, bottom = self.fig.subfigures(2, 1, height_ratios=[self.TOP, grid_size[1]])
        self.n_classes, self.n_maps, self.map_shape = n_classes, n_maps, tuple(map_shape)
        # The digit, as the net receives it: white ink on black.
        self.ax_digit = axes_at(top, 0.25, 0.45, 1.65, 1.65)
        no_ticks(self.ax_digit)
        self.digit_image = self.ax_digit.imshow(np.zeros((MNIST_SIZE, MNIST_SIZE)), cmap="gray", vmin=0, vmax=1,
                                                interpolation="nearest")
        self.ax_digit.set_title("what the net sees\n(28x28)", fontsize=9)
        # The probabilities: lesson 4's bars, without the values written above them (the
        # answer is the orange bar, and the line above the picture says how sure): ten
        # changing numbers would cost more to draw than everything else.
        self.ax_probs = axes_at(top, 2.55, 0.45, 3.25, 1.6)
        self.probabilities = ProbabilitiesPicture(np.zeros(n_classes), ax=self.ax_probs,
                                                  title="probabilities (the answer in orange)", show_values=False,
                                                  live=live)
        self.bars = self.probabilities.bars
        self.maps = FeatureMapsPicture(np.zeros((n_maps,) + self.map_shape), fig=bottom, title=maps_title,
                                       cell_size=self.MAP_CELL, live=live)
        # The frame is animated with the digit, so that it stays on top of it.
        animate(self, self.digit_image, *self.ax_digit.spines.values())
        self.update(digit, probs, maps)

    def update(self, digit=None, probs=None, maps=None):
        digit = np.zeros((MNIST_SIZE, MNIST_SIZE)) if digit is None else np.asarray(digit, dtype=float)
        if digit.shape != (MNIST_SIZE, MNIST_SIZE):
            raise ValueError(f"DigitPicture: expected a (28, 28) digit, got shape {digit.shape}")
        set_image(self.digit_image, digit)
        shown = probs is not None
        probs = np.zeros(self.n_classes) if probs is None else np.asarray(probs, dtype=float)
        if probs.shape != (self.n_classes,):
            raise ValueError(f"DigitPicture: expected {self.n_classes} probabilities, got shape {probs.shape}")
        self.probabilities.update(probs)
        winner = int(np.argmax(probs)) if shown else -1
        for k, bar in enumerate(self.bars):
            bar.set_color("tab:orange" if k == winner else "tab:blue")     # animated: no full redraw
        maps = np.zeros((self.n_maps,) + self.map_shape) if maps is None else np.asarray(maps)[:self.n_maps]
        self.maps.update(maps)
        return self


class DrawDigit(Explorer):
    """Draw a digit with the mouse; see what the trained net sees, its probabilities and feature maps.

    Hold the mouse button down on the black square and draw; when you let go, the drawing
    goes through MNIST's own preprocessing (:func:`cnnlib.explore.preprocess.preprocess_digit`:
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

    Attributes
    ----------
    raster : ndarray, (canvas_size, canvas_size)
        The kernel's copy of the drawing, in [0, 1].
    strokes : list of lists of (x, y)
    digit, probs, feature_maps, predicted
        The last prediction's input (28, 28), probabilities (10,), first-convolution
        maps (C_out, H, W) and winning class; None while nothing is drawn.
    prediction : ipywidgets.HTML
        "The net says <b>7</b> (98% sure)." (or the prompt to draw).

    Notes
    -----
    :meth:`draw_stroke` runs exactly what the mouse handlers run, for tests and for
    notebooks that want to draw from code.
    """

    _PROMPT = "Hold the mouse button down on the black square and draw a digit."

    def __init__(self, model, *, canvas_size=280, line_width=20, title="Draw a digit"):
        owner = "DrawDigit"
        if not hasattr(model, "layers"):
            raise TypeError(f"{owner}: expected a cnnlib Sequential model, got {type(model).__name__}")
        self.conv_index = next((i for i, layer in enumerate(model.layers) if type(layer).__name__ == "Conv2d"), None)
        if self.conv_index is None:
            raise ValueError(f"{owner}: the model has no Conv2d layer, so there are no feature maps to show")
        probe = layer_outputs(model, np.zeros((1, 1, MNIST_SIZE, MNIST_SIZE), dtype=model_dtype(model)))
        if probe[-1].shape != (1, 10):
            raise ValueError(f"{owner}: the model should map (N, 1, 28, 28) images to 10 logits, "
                             f"but it gives shape {probe[-1].shape}")
        self._maps_shape = probe[self.conv_index].shape[1:]           # (C_out, H_out, W_out)
        canvas_size = check_int(f"{owner}: canvas_size", canvas_size, 1)
        if not (isinstance(line_width, (int, float, np.integer, np.floating)) and 0 < line_width <= canvas_size / 2):
            raise ValueError(f"{owner}: line_width must be a number in (0, {canvas_size / 2}], got {line_width!r}")
        self.model, self.canvas_size, self.line_width = model, canvas_size, float(line_width)
        self.raster = np.zeros((canvas_size, canvas_size))   # (H, W) in [0, 1], the kernel's copy
        self.strokes = []          # finished strokes, each a list of (x, y)
        self._stroke = None        # the stroke being drawn, or None
        self.probs = self.digit = self.feature_maps = self.predicted = None

        self.canvas = Canvas(width=canvas_size, height=canvas_size,
                             layout=widgets.Layout(width=f"{canvas_size}px", height=f"{canvas_size}px",
                                                   border="1px solid #888", flex="0 0 auto"))
        self.clear_button = widgets.Button(description="Clear", icon="eraser", tooltip="Start a new drawing")
        # The prediction has the whole line beside the button: it never wraps into a column.
        self.prediction = widgets.HTML(value=self._PROMPT, layout=widgets.Layout(margin="0 0 0 12px"))
        self.clear_button.on_click(lambda _: self.clear())
        self.canvas.on_mouse_down(self._guard(self._pen_down))
        self.canvas.on_mouse_move(self._guard(self._pen_move))
        self.canvas.on_mouse_up(self._guard(self._pen_up))
        self.canvas.on_mouse_out(self._guard(self._pen_up))
        self.canvas.on_touch_start(self._guard(lambda touches: touches and self._pen_down(*touches[0])))
        self.canvas.on_touch_move(self._guard(lambda touches: touches and self._pen_move(*touches[0])))
        self.canvas.on_touch_end(self._guard(lambda touches: self._pen_up(*(touches[0] if touches else (None, None)))))
        self.canvas.on_client_ready(self._guard(self._repaint))
        super().__init__([self.clear_button, self.prediction], title=title, observe=False)
        # The drawing square on the left, the picture it changes on the right.
        self._row = widgets.HBox([self.canvas, self.image], layout=widgets.Layout(align_items="flex-start"))
        children = list(self.widget.children)
        children[children.index(self.image)] = self._row
        self.widget.children = children
        self._repaint()

    # ---------------------------------------------------------------- pen (mouse and touch)
    def _show_error(self, e):
        self.status.value = (f"<span style='color:#b00020'>Could not draw this: {html.escape(type(e).__name__)}: "
                             f"{html.escape(str(e))}</span>")

    def _guard(self, handler):
        """Mouse callbacks must never fail silently: show the error in the status line."""
        def guarded(*args):
            try:
                handler(*args)
            except Exception as e:   # noqa: BLE001 - shown to the learner
                self._show_error(e)
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
            self._show_error(ValueError("a stroke needs at least one (x, y) point"))
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
        x = digit[None, None].astype(model_dtype(self.model))         # (1, 1, 28, 28)
        outputs = layer_outputs(self.model, x)
        probs = softmax(outputs[-1].astype(np.float64))[0]            # (10,)
        self.digit, self.probs = digit, probs
        self.feature_maps = outputs[self.conv_index][0]               # (C_out, 24, 24) for LeNet
        self.predicted = int(np.argmax(probs))
        return probs

    def _maps_title(self):
        C = self._maps_shape[0]
        shown = f"{min(C, MAX_MAPS)} of {C}" if C > MAX_MAPS else f"all {C}"
        return f"first convolution's feature maps (layer {self.conv_index}, {shown} channels)"

    def _current(self):
        """Predict (when something is drawn) and say it in the line above the picture."""
        if not self.strokes:
            self.probs = self.digit = self.feature_maps = self.predicted = None
            self.prediction.value = self._PROMPT
            return None, None, None
        probs = self.predict()
        k = self.predicted
        self.prediction.value = (f"<span style='font-size:1.25em'>The net says <b>{k}</b> "
                                 f"({probs[k]:.0%} sure).</span>")
        return self.digit, probs, self.feature_maps

    def build_picture(self):
        digit, probs, maps = self._current()
        return DigitPicture(digit, probs, maps, n_maps=self._maps_shape[0], map_shape=self._maps_shape[1:],
                            maps_title=self._maps_title(), live=True)

    def update_picture(self):
        self.picture.update(*self._current())

    def close(self):
        for w in (self.canvas, self.prediction, self._row):
            w.close()
        super().close()
