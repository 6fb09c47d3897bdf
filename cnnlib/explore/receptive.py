"""Receptive fields: which input pixels can reach a unit of a stack of convolutions and
poolings (lesson 3), measured with a backward pass and predicted by a formula.

May import: numpy, matplotlib, ipywidgets, :mod:`cnnlib.layers` (the region is computed by
the library's own backward passes) and the explore modules ``picture``, ``explorer`` and
``images``.

The contract
------------
* :func:`receptive_fields` is the formula, layer by layer: a unit of layer ``l`` sees a
  square of ``r`` input pixels a side, and neighbouring units' squares start ``j`` pixels
  apart, with

      r_out = r_in + (k - 1) * j_in,    j_out = j_in * s,    start_out = start_in - p * j_in

  for a layer with kernel ``k``, stride ``s`` and padding ``p`` (``r = j = 1``, ``start = 0``
  for the input). Element-wise layers (ReLU, ...) change none of them.
* :func:`influence_map` measures the same region without the formula: it backpropagates a
  1 from one unit to the input through a *probe* copy of the stack, built from cnnlib's own
  layers, with every convolution weight 1 and max pooling replaced by average pooling (same
  windows). Everything in the probe is non-negative, so nothing cancels, and a pixel's
  gradient is non-zero exactly when some path of windows links it to the unit. Max pooling
  itself would pass the gradient to each window's winner only: that says which pixels *do*
  influence the unit for one image, not which *can*.
* :class:`ReceptiveFieldPicture` draws both, beside the chosen layer's feature map;
  :func:`plot_receptive_field` returns its first drawing and :class:`ReceptiveFieldExplorer`
  updates a live one for a layer (menu) and a unit (two sliders).
"""
from collections import namedtuple

import ipywidgets as widgets
import numpy as np
from matplotlib.patches import Rectangle

from cnnlib.explore.explorer import Explorer
from cnnlib.explore.images import DIGIT_CMAP, SIGNED_CMAP, as_float_image
from cnnlib.explore.picture import Picture, animate, finite_limit, fit_layout, no_ticks, set_image, set_text
from cnnlib.layers import AvgPool2d, Conv2d, MaxPool2d

__all__ = ["ReceptiveField", "receptive_fields", "receptive_field_box", "influence_map", "plot_receptive_field",
           "ReceptiveFieldPicture", "ReceptiveFieldExplorer"]

#: One row of :func:`receptive_fields`: the layer's index in the stack and the layer, the
#: size (H_out, W_out) of its output, its kernel, stride and padding (1, 1, 0 for an
#: element-wise layer), the receptive field's side ``r``, the ``jump`` between neighbouring
#: units' fields, and ``start``, the input row (and column) where unit (0, 0)'s field starts
#: (negative when it begins in the padding).
ReceptiveField = namedtuple("ReceptiveField", "index layer size kernel stride padding r jump start")
#: The shade over the input outside the field (a dark blue veil that dims the strokes the
#: unit cannot see), and the frame around the field: yellow inside a black rim stands out
#: on black, white, red and blue cells alike (by lightness, not only by hue).
SHADE = (0.05, 0.05, 0.2)
SHADE_ALPHA = 0.7
FRAME_EDGE, FRAME_INNER = "black", "yellow"
#: Colour map of the influence (how many paths link a pixel to the unit), 0 to its maximum.
INFLUENCE_CMAP = "magma"


def _window(layer):
    """(kernel, stride, padding) of a convolution or pooling layer, None for any other."""
    if isinstance(layer, Conv2d):
        return layer.kernel_size, layer.stride, layer.padding
    if isinstance(layer, (MaxPool2d, AvgPool2d)):
        return layer.kernel_size, layer.stride, 0
    return None


def _shapes(owner, layers, input_shape):
    """Check the stack and return its layers and every layer's output shape (C, H, W).

    Convolutions and poolings move and shrink the fields; any other layer must keep the
    shape of its input (element-wise: ReLU, batch norm, dropout), else it is refused.
    """
    layers = list(layers)
    if not layers:
        raise ValueError(f"{owner}: the stack is empty; pass a list of Conv2d / MaxPool2d / AvgPool2d layers "
                         "(and element-wise ones such as ReLU)")
    shapes, shape = [], tuple(input_shape)
    for i, layer in enumerate(layers):
        try:
            if hasattr(layer, "output_shape"):
                out = tuple(layer.output_shape(shape))
            else:
                out = tuple(layer.forward(np.zeros((1,) + shape)).shape[1:])
        except ValueError as e:
            raise ValueError(f"{owner}: layer {i}, {layer!r}, does not take a {'x'.join(map(str, shape))} input "
                             f"(channels x height x width): {e}") from None
        if _window(layer) is None and out != shape:
            raise ValueError(f"{owner}: layer {i}, {layer!r}, is not a convolution, pooling or element-wise layer "
                             f"(it turns {shape} into {out}); pass only the layers before it, e.g. model[:{i}]")
        shapes.append(out)
        shape = out
    return layers, shapes


def receptive_fields(layers, input_size):
    """The receptive field of every layer of a stack, by the formula.

    Parameters
    ----------
    layers : sequence of Layer
        Convolutions, poolings and element-wise layers (a ``Sequential`` or a list). The
        input has as many channels as the first convolution's ``in_channels``.
    input_size : (int, int)
        The input's height and width.

    Returns
    -------
    list of ReceptiveField
        One row per layer, in order.

    Notes
    -----
    With ``r = j = 1`` and ``start = 0`` for the input, a layer with kernel ``k``, stride
    ``s`` and padding ``p`` gives ``r_out = r_in + (k - 1) j_in``, ``j_out = j_in s`` and
    ``start_out = start_in - p j_in``: unit ``i`` of its output sees input rows
    ``start + i j`` to ``start + i j + r - 1``.

    Examples
    --------
    >>> from cnnlib.layers import Conv2d, MaxPool2d
    >>> rows = receptive_fields([Conv2d(1, 2, 5), MaxPool2d(2), Conv2d(2, 2, 5), MaxPool2d(2)], (28, 28))
    >>> [(row.r, row.jump) for row in rows]
    [(5, 1), (6, 2), (14, 2), (16, 4)]
    """
    H, W = _input_size("receptive_fields", input_size)
    first = next((layer for layer in layers if isinstance(layer, Conv2d)), None)
    channels = first.in_channels if first is not None else 1
    layers, shapes = _shapes("receptive_fields", layers, (channels, H, W))
    rows, r, jump, start = [], 1, 1, 0
    for i, (layer, shape) in enumerate(zip(layers, shapes)):
        k, s, p = _window(layer) or (1, 1, 0)
        r, jump, start = r + (k - 1) * jump, jump * s, start - p * jump     # start uses j_in: update it last
        rows.append(ReceptiveField(i, layer, shape[1:], k, s, p, r, jump, start))
    return rows


def _input_size(owner, input_size):
    try:
        H, W = (int(v) for v in input_size)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: input_size must be a pair (height, width), got {input_size!r}") from None
    if H < 1 or W < 1:
        raise ValueError(f"{owner}: input_size must be positive, got {input_size!r}")
    return H, W


def _check_unit(owner, row, unit):
    try:
        i, j = (int(v) for v in unit)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: unit must be a pair (row, column), got {unit!r}") from None
    H_out, W_out = row.size
    if not (0 <= i < H_out and 0 <= j < W_out):
        raise ValueError(f"{owner}: unit {(i, j)} is outside layer {row.index}'s {H_out}x{W_out} output; "
                         f"rows go from 0 to {H_out - 1}, columns from 0 to {W_out - 1}")
    return i, j


def _check_index(owner, rows, layer):
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < len(rows):
        raise ValueError(f"{owner}: layer must be an index into the stack, 0 to {len(rows) - 1}, got {layer!r}")
    return int(layer)


def receptive_field_box(rows, layer, unit, input_size):
    """The input rows and columns one unit can see, by the formula, cut to the image.

    Parameters
    ----------
    rows : list of ReceptiveField
        From :func:`receptive_fields`.
    layer : int
        Index of the layer in the stack.
    unit : (int, int)
        (row, column) of the unit in that layer's output.
    input_size : (int, int)

    Returns
    -------
    (top, bottom, left, right) : tuple of int
        The field is ``image[top:bottom, left:right]`` (the part in the padding left out).
    """
    H, W = _input_size("receptive_field_box", input_size)
    row = rows[_check_index("receptive_field_box", rows, layer)]
    i, j = _check_unit("receptive_field_box", row, unit)
    top, left = row.start + i * row.jump, row.start + j * row.jump
    return max(top, 0), min(top + row.r, H), max(left, 0), min(left + row.r, W)


def _probe(layer):
    """The layer's single-channel stand-in: weights 1, average pooling for max pooling."""
    window = _window(layer)
    if window is None:
        return None                                       # element-wise: changes no field
    k, s, p = window
    if isinstance(layer, Conv2d):
        probe = Conv2d(1, 1, k, stride=s, padding=p)
        probe.params["w"] = np.ones((1, 1, k, k))
        return probe
    return AvgPool2d(k, stride=s)


def influence_map(layers, input_size, layer, unit):
    """d(unit) / d(input) of a probe stack: non-zero exactly on the unit's receptive field.

    Parameters
    ----------
    layers : sequence of Layer
        The stack (convolutions, poolings, element-wise layers).
    input_size : (int, int)
    layer : int
        Index of the layer in the stack.
    unit : (int, int)
        (row, column) of the unit in that layer's output.

    Returns
    -------
    ndarray, shape (H, W)
        The gradient of the unit with respect to every input pixel, through cnnlib's own
        backward passes of a copy of the stack with every convolution weight 1 and max
        pooling replaced by average pooling (the same windows). It counts the paths from
        each pixel to the unit (each average pool divides by its window's size): larger in
        the middle of the field, 0 outside it.

    Examples
    --------
    >>> from cnnlib.layers import Conv2d
    >>> influence_map([Conv2d(1, 1, 2), Conv2d(1, 1, 2)], (4, 4), layer=1, unit=(0, 0))
    array([[1., 2., 1., 0.],
           [2., 4., 2., 0.],
           [1., 2., 1., 0.],
           [0., 0., 0., 0.]])
    """
    rows = receptive_fields(layers, input_size)
    index = _check_index("influence_map", rows, layer)
    i, j = _check_unit("influence_map", rows[index], unit)
    probes = [p for p in map(_probe, list(layers)[:index + 1]) if p is not None]
    H, W = _input_size("influence_map", input_size)
    x = np.zeros((1, 1, H, W))
    for probe in probes:                                  # forward: each layer keeps what its backward needs
        x = probe.forward(x)
    dout = np.zeros_like(x)                               # (1, 1, H_out, W_out)
    dout[0, 0, i, j] = 1.0
    for probe in reversed(probes):
        dout = probe.backward(dout)
    return dout[0, 0]


def plot_receptive_field(image, layers, *, layer=None, unit=None, title=None):
    """A unit's receptive field on an image, the influence of each pixel, and the layer's map.

    Parameters
    ----------
    image : array-like, shape (H, W)
        One-channel input (uint8 digits are scaled to [0, 1]).
    layers : sequence of Layer
        Convolutions, poolings and element-wise layers.
    layer : int, optional
        Index of the layer in the stack (default: the last).
    unit : (int, int), optional
        (row, column) in that layer's output (default: the middle one).
    title : str, optional

    Returns
    -------
    Figure
    """
    return ReceptiveFieldPicture(image, layers, layer=layer, unit=unit, title=title).fig


def _frame(ax, zorder):
    """A black-rimmed yellow square frame (two rectangles), returned as a pair."""
    rim = ax.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=FRAME_EDGE, linewidth=3.5,
                                 joinstyle="miter", zorder=zorder))
    line = ax.add_patch(Rectangle((-0.5, -0.5), 1, 1, fill=False, edgecolor=FRAME_INNER, linewidth=1.4,
                                  joinstyle="miter", zorder=zorder + 0.1))
    return rim, line


def _place(frame, top, bottom, left, right):
    for rect in frame:
        rect.set_bounds(left - 0.5, top - 0.5, right - left, bottom - top)


class ReceptiveFieldPicture(Picture):
    """What :func:`plot_receptive_field` draws; :meth:`update` takes a new layer and unit.

    Three panels: the input with everything outside the unit's receptive field shaded and
    the field framed (unshaded is where :func:`influence_map` is non-zero, the frame is the
    formula's box: they agree), the influence
    of each pixel (how many paths lead from it to the unit), and the chosen layer's output
    (channel 0 of the real stack run on the image) with the unit framed. In a live picture
    the input image is drawn once; the shade, frames, influence and the whole output panel
    are animated.

    Attributes
    ----------
    rows : list of ReceptiveField
    layer : int
    unit : (int, int)
    influence : ndarray, shape (H, W)
        :func:`influence_map` for the layer and unit shown.
    box : (top, bottom, left, right)
        :func:`receptive_field_box` for them.
    maps : list of ndarray
        Each layer's output for the image, (C, H_out, W_out).

    Examples
    --------
    >>> from cnnlib.layers import Conv2d, MaxPool2d
    >>> pic = ReceptiveFieldPicture(np.zeros((12, 12)), [Conv2d(1, 2, 3, rng=0), MaxPool2d(2)], live=True)
    >>> pic.layer, pic.unit, pic.box
    (1, (2, 2), (4, 8, 4, 8))
    """

    def __init__(self, image, layers, *, layer=None, unit=None, title=None, figsize=(9, 3.5), live=False, fig=None):
        self.image = image = as_float_image("ReceptiveFieldPicture", image)
        self.layers = list(layers)
        self.rows = receptive_fields(self.layers, image.shape)
        x = image[None, None]                                                 # (1, 1, H, W)
        self.maps = []
        for stage in self.layers:
            x = stage.forward(x)
            self.maps.append(x[0])
        fig = self._start(figsize, live=live, fig=fig)
        # The shade is a second image over the input. matplotlib would merge the two into one
        # image before drawing (placing its edges a pixel differently from two separate ones,
        # as the live picture draws them): draw each image on its own, always.
        fig.suppressComposite = True
        ax_in, ax_inf, ax_map = self.axes = fig.subplots(1, 3)
        ax_in.imshow(image, cmap=DIGIT_CMAP, vmin=0, vmax=finite_limit(image), interpolation="nearest")
        H, W = image.shape
        # zorder 2.6: over the spines (2.5) in a static picture too, as when it is animated
        self.shade = ax_in.imshow(np.zeros((H, W, 4)), interpolation="nearest", zorder=2.6)
        self.input_frame = _frame(ax_in, 3)
        self.influence_image = ax_inf.imshow(np.zeros((H, W)), cmap=INFLUENCE_CMAP, vmin=0, vmax=1,
                                             interpolation="nearest")
        self.influence_frame = _frame(ax_inf, 3)
        self.map_image = ax_map.imshow(np.zeros((1, 1)), cmap=SIGNED_CMAP, vmin=-1, vmax=1, interpolation="nearest")
        self.unit_frame = _frame(ax_map, 3)
        for ax in self.axes:
            no_ticks(ax)
            ax.set_title(" \n ", fontsize=9)
        if title:
            fig.suptitle(title, fontsize=10)
        self.update(layer, unit)
        fit_layout(fig) if live else fig.tight_layout()
        # The two input titles change with the layer only (a full redraw then): not animated,
        # they cost no text drawing when only the unit moves.
        animate(self, self.shade, *self.input_frame, self.influence_image, *self.influence_frame, ax_map)

    def default_unit(self, layer):
        """The middle unit of a layer's output."""
        H_out, W_out = self.rows[layer].size
        return (H_out - 1) // 2, (W_out - 1) // 2

    def update(self, layer=None, unit=None):
        """Show another layer (index into the stack; default the last) and unit (default the middle)."""
        layer = len(self.rows) - 1 if layer is None else _check_index("ReceptiveFieldPicture", self.rows, layer)
        row = self.rows[layer]
        unit = self.default_unit(layer) if unit is None else _check_unit("ReceptiveFieldPicture", row, unit)
        self.layer, self.unit = layer, unit
        H, W = self.image.shape
        self.influence = influence_map(self.layers, (H, W), layer, unit)
        self.box = top, bottom, left, right = receptive_field_box(self.rows, layer, unit, (H, W))
        ax_in, ax_inf, ax_map = self.axes

        shade = np.zeros((H, W, 4))
        shade[..., :3] = SHADE
        shade[..., 3] = SHADE_ALPHA * (self.influence == 0)          # outside the field
        set_image(self.shade, shade)
        set_image(self.influence_image, self.influence / self.influence.max())
        for frame in (self.input_frame, self.influence_frame):
            _place(frame, top, bottom, left, right)
        side = f"{bottom - top}x{right - left}"
        cut = "" if (bottom - top, right - left) == (row.r, row.r) else f" (of {row.r}x{row.r}; the rest is padding)"
        set_text(ax_in.title, f"input {H}x{W}: the {side} pixels\nthat can reach the unit{cut}")
        set_text(ax_inf.title, f"influence of each pixel\n(paths to the unit; r = {row.r}, jump {row.jump})")

        fmap = self.maps[layer][0]                                            # channel 0, (H_out, W_out)
        limit = finite_limit(fmap)
        if self.map_image.get_array().shape != fmap.shape:
            set_image(self.map_image, fmap)
            ax_map.set_xlim(-0.5, fmap.shape[1] - 0.5)
            ax_map.set_ylim(fmap.shape[0] - 0.5, -0.5)
        set_image(self.map_image, fmap, clim=(-limit, limit))
        _place(self.unit_frame, unit[0], unit[0] + 1, unit[1], unit[1] + 1)
        name = type(row.layer).__name__
        set_text(ax_map.title, f"layer {layer} ({name}), channel 0: {fmap.shape[0]}x{fmap.shape[1]}\n"
                               f"unit ({unit[0]}, {unit[1]})")


class ReceptiveFieldExplorer(Explorer):
    """Pick a layer of a conv/pool stack and one of its units; see the input it can see.

    Parameters
    ----------
    image : array-like, shape (H, W)
        One-channel input, e.g. a digit (uint8 is scaled to [0, 1]).
    layers : sequence of Layer
        Convolutions, poolings and element-wise layers, e.g. ``build_lenet(rng=0)[:6]``.
    layer : int, optional
        Index of the layer shown first (default: the last convolution or pooling).
    unit : (int, int), optional
        The unit shown first (default: the middle one).

    Attributes
    ----------
    layer : Dropdown
        The convolutions and poolings of the stack (an element-wise layer changes no field).
    row, column : IntSlider
        The unit. When the layer changes, they move to the unit whose field has its centre
        nearest the previous one's, so the field grows (or shrinks) around the same place.
    x : ndarray, shape (H, W)
        The input, float.
    rows : list of ReceptiveField
    influence : ndarray, shape (H, W)
    box : (top, bottom, left, right)

    Examples
    --------
    >>> from cnnlib.layers import Conv2d, MaxPool2d
    >>> ex = ReceptiveFieldExplorer(np.zeros((12, 12)), [Conv2d(1, 2, 3, rng=0), MaxPool2d(2)])
    >>> ex.box
    (4, 8, 4, 8)
    >>> ex.layer.value = 0
    >>> (ex.row.value, ex.column.value), ex.box
    ((5, 5), (5, 8, 5, 8))
    """

    def __init__(self, image, layers, *, layer=None, unit=None):
        self.x = as_float_image("ReceptiveFieldExplorer", image)
        self.layers = list(layers)
        self.rows = receptive_fields(self.layers, self.x.shape)
        choices = [(f"{row.index}: {row.layer!r} → {row.size[0]}x{row.size[1]}", row.index)
                   for row in self.rows if _window(row.layer) is not None]
        if not choices:
            raise ValueError("ReceptiveFieldExplorer: the stack has no convolution or pooling layer to explore")
        if layer is None:
            layer = choices[-1][1]
        layer = _check_index("ReceptiveFieldExplorer", self.rows, layer)
        if layer not in [index for _, index in choices]:
            raise ValueError(f"ReceptiveFieldExplorer: layer {layer} ({self.rows[layer].layer!r}) is element-wise; "
                             f"pick a convolution or pooling: {[index for _, index in choices]}")
        row = self.rows[layer]
        H_out, W_out = row.size
        i, j = ((H_out - 1) // 2, (W_out - 1) // 2) if unit is None else \
            _check_unit("ReceptiveFieldExplorer", row, unit)
        self.layer = widgets.Dropdown(options=choices, value=layer, description="layer")
        self.row = widgets.IntSlider(value=i, min=0, max=H_out - 1, description="unit row")
        self.column = widgets.IntSlider(value=j, min=0, max=W_out - 1, description="unit column")
        self._moving = False
        super().__init__([self.layer, self.row, self.column], title="Receptive field: what one unit can see",
                         observe=False)
        self.layer.observe(self._layer_changed, names="value")
        for slider in (self.row, self.column):
            slider.observe(self._unit_changed, names="value")

    def _layer_changed(self, change):
        old, new = self.rows[change["old"]], self.rows[change["new"]]
        self._moving = True                       # one picture for the whole move, not one per slider
        try:
            for slider, size in ((self.row, new.size[0]), (self.column, new.size[1])):
                centre = old.start + slider.value * old.jump + (old.r - 1) / 2        # input coordinate
                nearest = int(np.clip(np.floor((centre - new.start - (new.r - 1) / 2) / new.jump + 0.5), 0, size - 1))
                if nearest > slider.max:          # widen first: a value above max would be clamped
                    slider.max = size - 1
                    slider.value = nearest
                else:
                    slider.value = nearest
                    slider.max = size - 1
        finally:
            self._moving = False
        self.refresh()

    def _unit_changed(self, _):
        if not self._moving:
            self.refresh()

    def _values(self):
        return {"layer": self.layer.value, "unit": (self.row.value, self.column.value)}

    def build_picture(self):
        picture = ReceptiveFieldPicture(self.x, self.layers, live=True, **self._values())
        self.influence, self.box = picture.influence, picture.box
        return picture

    def update_picture(self):
        self.picture.update(**self._values())
        self.influence, self.box = self.picture.influence, self.picture.box
