"""Turn a hand-drawn digit into an MNIST-style 28x28 image, in plain NumPy.

May import: numpy only (no drawing: the draw-a-digit widget in
:mod:`cnnlib.explore.drawing` and the lesson's pictures call these functions).

The contract
------------
MNIST's digits were prepared in three steps (LeCun, Cortes and Burges): each digit was
scaled so that it fits a 20x20 box keeping its aspect ratio (anti-aliasing gives grey
edges), then placed in a 28x28 field so that its centre of mass sits in the middle. A net
trained on MNIST has only ever seen digits like that, so a drawing must go through the
same steps before the net can read it:

1. crop to the ink's bounding box (pixels brighter than ``ink_threshold``, 0 by default:
   a canvas background is exactly black);
2. scale the longer side to 20 px, keeping the aspect ratio (area averaging when
   shrinking, bilinear when enlarging: :func:`resize`);
3. paste into a black 28x28 field, shifted by whole pixels so that the centre of mass
   lands on pixel (14, 14) -- where it is in MNIST on average (13.99, 14.00 on our
   sample), as long as the box stays inside the field.

A check that these are MNIST's own conventions: an MNIST digit enlarged ten times and
preprocessed comes back exactly, pixel for pixel (tests/test_explore_preprocess.py).

Input: a 2-D array, white ink on black, either integers 0..255 or floats in [0, 1].
Output: float32 (28, 28) in [0, 1]. Bad input (wrong shape, no ink, dark ink on white)
raises ``ValueError`` saying what to do. :func:`draw_stroke` rasterises a mouse stroke the
way the draw-a-digit canvas shows it, so widgets and tests build drawings the same way.
"""
import numpy as np

__all__ = ["resize", "center_of_mass", "draw_stroke", "preprocess_steps", "preprocess_digit"]

MNIST_SIZE = 28        # the field
MNIST_BOX = 20         # the longer side of the digit after scaling
MNIST_CENTER = 14.0    # row/column index of the centre of mass in MNIST (measured: 13.99, 14.00)
INK_THRESHOLD = 0.0    # brighter than this counts as ink; raise it for noisy scans or photos


def _area_weights(n_in, n_out):
    """(n_out, n_in) matrix: output pixel i is the mean of the input it covers (shrinking)."""
    edges = np.arange(n_out + 1) * (n_in / n_out)          # output pixel i covers [edges[i], edges[i+1])
    lo, hi = edges[:-1, None], edges[1:, None]              # (n_out, 1)
    j = np.arange(n_in)[None, :]                            # (1, n_in): input pixel j covers [j, j+1)
    overlap = np.clip(np.minimum(hi, j + 1) - np.maximum(lo, j), 0.0, None)  # (n_out, n_in)
    return overlap / (n_in / n_out)


def _linear_weights(n_in, n_out):
    """(n_out, n_in) matrix: bilinear interpolation between pixel centres (enlarging)."""
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5   # output centres in input index units
    pos = np.clip(pos, 0, n_in - 1)
    left = np.minimum(np.floor(pos).astype(int), n_in - 1)
    right = np.minimum(left + 1, n_in - 1)
    frac = pos - left
    weights = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(weights, (rows, left), 1 - frac)
    np.add.at(weights, (rows, right), frac)
    return weights


def resize(image, out_h, out_w):
    """Resample a 2-D image to (out_h, out_w): area averaging to shrink, bilinear to enlarge.

    Each axis is a matrix product, ``A_rows @ image @ A_cols.T``, whose rows sum to 1, so
    a constant image stays constant and total brightness per area is kept when shrinking.

    >>> resize(np.array([[0., 1., 2., 3.]]), 1, 2)
    array([[0.5, 2.5]])
    >>> resize(np.ones((5, 7)), 3, 2)
    array([[1., 1.],
           [1., 1.],
           [1., 1.]])
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"resize expects a non-empty 2-D image, got shape {image.shape}")
    if out_h < 1 or out_w < 1:
        raise ValueError(f"resize: the output size must be at least 1x1, got {out_h}x{out_w}")
    H, W = image.shape
    rows = _area_weights(H, out_h) if out_h < H else _linear_weights(H, out_h)   # (out_h, H)
    cols = _area_weights(W, out_w) if out_w < W else _linear_weights(W, out_w)   # (out_w, W)
    return rows @ image @ cols.T                                                 # (out_h, out_w)


def center_of_mass(image):
    """(row, column) of the brightness-weighted mean position, in pixel index units.

    >>> center_of_mass(np.array([[0., 0.], [1., 3.]]))
    (1.0, 0.75)
    """
    image = np.asarray(image, dtype=np.float64)
    total = image.sum()
    if total <= 0:
        raise ValueError("center_of_mass: the image has no ink (all pixels are 0)")
    rows = image.sum(axis=1) @ np.arange(image.shape[0]) / total
    cols = image.sum(axis=0) @ np.arange(image.shape[1]) / total
    return float(rows), float(cols)


def draw_stroke(raster, points, *, width):
    """Return a copy of ``raster`` with a round-capped white line through ``points``.

    Parameters
    ----------
    raster : (H, W) float array in [0, 1]
        The drawing so far (0 is black); it is not modified.
    points : sequence of (x, y)
        Canvas coordinates in pixels, x to the right and y down, as the mouse reports
        them; pixel (row i, column j) covers [j, j+1) x [i, i+1). One point draws a dot.
    width : float
        Line width in pixels (the canvas draws with the same width).

    Notes
    -----
    A pixel's brightness is its coverage, ``clip(width/2 + 0.5 - d, 0, 1)``, where ``d``
    is the distance from the pixel centre to the polyline: solid inside, a one-pixel
    anti-aliased edge. Overlapping strokes keep the brighter value.

    >>> draw_stroke(np.zeros((5, 5)), [(2.5, 2.5)], width=3).round(2)   # a dot
    array([[0.  , 0.  , 0.  , 0.  , 0.  ],
           [0.  , 0.59, 1.  , 0.59, 0.  ],
           [0.  , 1.  , 1.  , 1.  , 0.  ],
           [0.  , 0.59, 1.  , 0.59, 0.  ],
           [0.  , 0.  , 0.  , 0.  , 0.  ]])
    """
    raster = np.array(raster, dtype=np.float64)
    if raster.ndim != 2:
        raise ValueError(f"draw_stroke: the raster must be 2-D (H, W), got shape {raster.shape}")
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        raise ValueError("draw_stroke: a stroke needs at least one (x, y) point")
    if not np.isfinite(pts).all():
        raise ValueError("draw_stroke: the points contain NaN or infinity")
    H, W = raster.shape
    reach = width / 2 + 0.5
    segments = zip(pts, pts[1:]) if len(pts) > 1 else [(pts[0], pts[0])]
    for (x0, y0), (x1, y1) in segments:
        # Only the pixels near this segment can change.
        c_lo, c_hi = max(int(np.floor(min(x0, x1) - reach)), 0), min(int(np.ceil(max(x0, x1) + reach)), W)
        r_lo, r_hi = max(int(np.floor(min(y0, y1) - reach)), 0), min(int(np.ceil(max(y0, y1) + reach)), H)
        if c_lo >= c_hi or r_lo >= r_hi:
            continue                                          # the segment lies off the canvas
        px = np.arange(c_lo, c_hi)[None, :] + 0.5             # (1, w) pixel centres
        py = np.arange(r_lo, r_hi)[:, None] + 0.5             # (h, 1)
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = np.zeros((1, 1)) if length2 == 0 else np.clip(((px - x0) * dx + (py - y0) * dy) / length2, 0, 1)
        dist = np.hypot(px - (x0 + t * dx), py - (y0 + t * dy))   # (h, w)
        coverage = np.clip(reach - dist, 0.0, 1.0)
        window = raster[r_lo:r_hi, c_lo:c_hi]
        raster[r_lo:r_hi, c_lo:c_hi] = np.maximum(window, coverage)
    return raster


def _as_unit_float(image):
    """Check the image and return it as float64 in [0, 1]."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        raise ValueError(f"expected a 2-D grayscale image (H, W), got a colour image of shape {image.shape}; "
                         "take its brightness first, e.g. image[..., :3].mean(axis=-1)")
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D grayscale image (H, W) with white ink on black, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"the image is empty (shape {image.shape})")
    if image.dtype == bool:
        return image.astype(np.float64)
    if np.issubdtype(image.dtype, np.integer):
        if image.min() < 0 or image.max() > 255:
            raise ValueError(f"integer images must hold 0..255, got values from {image.min()} to {image.max()}")
        return image.astype(np.float64) / 255.0
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"expected a numeric image, got dtype {image.dtype}")
    image = image.astype(np.float64)
    if not np.isfinite(image).all():
        raise ValueError("the image contains NaN or infinity")
    if image.min() < 0 or image.max() > 1:
        raise ValueError(f"float images must lie in [0, 1], got values from {image.min():.4g} to "
                         f"{image.max():.4g}; for 0..255 data divide by 255")
    return image


def preprocess_steps(image, *, ink_threshold=INK_THRESHOLD):
    """MNIST-style preprocessing, keeping every step (for pictures and tests).

    Returns
    -------
    dict with
        ``"cropped"`` : the ink's bounding box, float64 in [0, 1];
        ``"scaled"``  : the crop resized so its longer side is 20 px, aspect ratio kept;
        ``"offset"``  : (row, column) where the scaled crop's top-left corner goes;
        ``"digit"``   : the (28, 28) float32 result in [0, 1];
        ``"center_of_mass"`` : the result's centre of mass, (row, column).
    """
    image = _as_unit_float(image)
    ink = image > ink_threshold
    if not ink.any():
        raise ValueError(f"the canvas is empty: no pixel is brighter than ink_threshold={ink_threshold}; "
                         "draw a digit first (white on black)")
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    if image.shape[0] > 2 and image.shape[1] > 2 and border.mean() > 0.5:
        raise ValueError("the image's border is mostly bright: MNIST digits are white ink on a black "
                         "background; pass 1 - image (or 255 - image) for dark ink on white")
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    cropped = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]      # (h, w)
    h, w = cropped.shape
    scale = MNIST_BOX / max(h, w)
    new_h, new_w = max(1, int(round(h * scale))), max(1, int(round(w * scale)))
    scaled = np.clip(resize(cropped, new_h, new_w), 0.0, 1.0)       # (new_h, new_w), longer side 20
    cy, cx = center_of_mass(scaled)
    # Whole-pixel shift that puts the centre of mass on (14, 14), kept inside the field.
    top = int(np.clip(np.floor(MNIST_CENTER - cy + 0.5), 0, MNIST_SIZE - new_h))
    left = int(np.clip(np.floor(MNIST_CENTER - cx + 0.5), 0, MNIST_SIZE - new_w))
    digit = np.zeros((MNIST_SIZE, MNIST_SIZE), dtype=np.float32)
    digit[top:top + new_h, left:left + new_w] = scaled
    return {"cropped": cropped, "scaled": scaled, "offset": (top, left), "digit": digit,
            "center_of_mass": center_of_mass(digit)}


def preprocess_digit(image, *, ink_threshold=INK_THRESHOLD):
    """A drawing (white on black, any size) -> the (28, 28) float32 image an MNIST net expects.

    >>> canvas = draw_stroke(np.zeros((280, 280)), [(140, 40), (140, 240)], width=20)
    >>> digit = preprocess_digit(canvas)
    >>> digit.shape, digit.dtype, float(digit.max())
    ((28, 28), dtype('float32'), 1.0)
    >>> center_of_mass(digit)         # whole-pixel shifts: within half a pixel of (14, 14)
    (14.5, 14.5)
    """
    return preprocess_steps(image, ink_threshold=ink_threshold)["digit"]
