"""Data augmentation for digits: small random shifts, rotations and scalings of a batch.

The contract
------------
* :func:`warp` moves every image of a batch by its own affine map (rotation about the image
  centre, scaling about it, then a shift), in one vectorised pass: bilinear sampling, and
  zeros (background) wherever the source point falls outside the image.
* :class:`Augment` draws those parameters at random, a fresh set for every image, from its
  own ``rng`` (see :func:`cnnlib.init.as_rng`): the same seed gives the same batches.
* Images are ``(N, H, W)`` or ``(N, C, H, W)`` (every channel of an image moves together);
  the output has the input's shape and dtype, and the input is never written to.

Conventions (image rows go down the screen, as ``imshow`` draws them)
--------------------------------------------------------------------
* ``angle`` in degrees, positive turns the digit **counter-clockwise** on screen, as
  ``np.rot90`` does: ``warp(x, angle=90)`` equals ``np.rot90(x, axes=(-2, -1))`` for
  square images.
* ``shift = (dy, dx)`` in pixels, positive moves the digit **down** and **right**:
  ``warp(x, shift=(1, 0))[..., 1:, :]`` equals ``x[..., :-1, :]``.
* ``scale > 1`` enlarges the digit about the image centre.

Why these defaults for MNIST
----------------------------
MNIST's digits were size-normalised into a 20x20 box and centred in a 28x28 image, so
there are about 4 pixels of background on each side: shifts up to 2 px and scalings by
0.9-1.1 (at most 1 px more on each side of the box) keep the strokes inside the image.
People slant their digits by about 10 degrees either way; much more begins to turn a 1
into a 7's stroke or a 6 towards a 0 leaning over, which the labels would no longer fit.
"""
import math

import numpy as np

from cnnlib.init import as_rng

__all__ = ["warp", "Augment"]

# Source coordinates this close to a whole pixel are snapped to it, so that a 90-degree
# rotation or an integer shift copies pixels exactly (cos(pi/2) is 6e-17, not 0, in floats).
SNAP = 1e-6


def _check_images(owner, images):
    """``images`` as an array (N, C, H, W) and whether a channel axis was added."""
    images = np.asarray(images)
    if images.ndim not in (3, 4):
        hint = " For a single image use image[None]." if images.ndim == 2 else ""
        raise ValueError(f"{owner}: expected a batch of images of shape (N, H, W) or (N, C, H, W), "
                         f"got shape {images.shape}.{hint}")
    if 0 in images.shape:
        raise ValueError(f"{owner}: got an empty batch (shape {images.shape})")
    if not (np.issubdtype(images.dtype, np.floating) or np.issubdtype(images.dtype, np.integer)):
        raise ValueError(f"{owner}: expected numbers (float or integer images), got dtype {images.dtype}")
    if np.issubdtype(images.dtype, np.floating) and not np.isfinite(images).all():
        raise ValueError(f"{owner}: the images contain NaN or infinity; check the data before augmenting")
    added = images.ndim == 3
    return (images[:, None] if added else images), added


def _per_image(owner, name, value, n, width=None):
    """``value`` broadcast to (n,) (or (n, width)) finite float64s, else ValueError."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a number or an array of numbers, got {value!r}") from None
    shape = (n,) if width is None else (n, width)
    try:
        array = np.broadcast_to(array, shape)
    except ValueError:
        one = "a number" if width is None else f"{width} numbers"
        raise ValueError(f"{owner}: {name} must be {one} or one per image (shape {shape}), "
                         f"got shape {array.shape}") from None
    if not np.isfinite(array).all():
        raise ValueError(f"{owner}: {name} contains NaN or infinity")
    return array


def warp(images, angle=0.0, scale=1.0, shift=(0.0, 0.0)):
    """Rotate, scale and shift each image of a batch (bilinear, zeros outside).

    Parameters
    ----------
    images : ndarray, (N, H, W) or (N, C, H, W), float or integer
    angle : float or (N,) floats, degrees
        Counter-clockwise on screen (the sense of ``np.rot90``).
    scale : float or (N,) floats, > 0
        Size factor about the image centre (1.1 enlarges by 10%).
    shift : (dy, dx) or (N, 2) floats, pixels
        Positive ``dy`` moves the content down, positive ``dx`` right.

    Returns
    -------
    ndarray of the input's shape and dtype. Integer images are rounded to the nearest
    value and clipped to their dtype's range (uint8: 0..255).

    Notes
    -----
    Output pixel ``q = (row, col)`` reads the input at the point that the map sends to it:

    .. math:: p = c + \\frac{1}{s} R(-\\theta)\\,(q - c - t), \\qquad
              R(-\\theta) = \\begin{pmatrix}\\cos\\theta & \\sin\\theta \\\\ -\\sin\\theta & \\cos\\theta\\end{pmatrix}

    with ``c = ((H - 1) / 2, (W - 1) / 2)`` the centre and ``t = (dy, dx)``, then mixes the
    four pixels around ``p`` by bilinear weights; pixels outside the image count as 0.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 3, 3)
    >>> warp(x, angle=90)[0]
    array([[2., 5., 8.],
           [1., 4., 7.],
           [0., 3., 6.]])
    >>> warp(x, shift=(0, 1))[0]
    array([[0., 0., 1.],
           [0., 3., 4.],
           [0., 6., 7.]])
    """
    owner = "warp"
    x, added = _check_images(owner, images)
    out = _warp(owner, x, angle, scale, shift)
    return out[:, 0] if added else out


def _warp(owner, x, angle, scale, shift):
    """:func:`warp` on checked images ``x`` (N, C, H, W)."""
    N, C, H, W = x.shape
    angle = _per_image(owner, "angle", angle, N)
    scale = _per_image(owner, "scale", scale, N)
    if not (scale > 0).all():
        raise ValueError(f"{owner}: scale must be positive, got {scale[~(scale > 0)][0]}")
    shift = _per_image(owner, "shift", shift, N, width=2)

    # Output grid, centred and un-shifted: u down, v right.
    cy, cx = (H - 1) / 2, (W - 1) / 2
    rows = np.arange(H, dtype=np.float64)[None, :, None] - cy - shift[:, 0, None, None]  # (N, H, 1)
    cols = np.arange(W, dtype=np.float64)[None, None, :] - cx - shift[:, 1, None, None]  # (N, 1, W)
    theta = np.deg2rad(angle)[:, None, None]
    cos, sin = np.cos(theta) / scale[:, None, None], np.sin(theta) / scale[:, None, None]
    src_r = cos * rows + sin * cols + cy      # (N, H, W) source row of each output pixel
    src_c = -sin * rows + cos * cols + cx     # (N, H, W) source column
    for src in (src_r, src_c):
        nearest = np.rint(src)
        snap = np.abs(src - nearest) < SNAP
        src[snap] = nearest[snap]

    # Zero-pad by one pixel above/left and two below/right, and clamp the source points to
    # [-1, H] x [-1, W]: a point clamped there reads only padding, so it gives 0 as it should,
    # and all four neighbours of every point are inside the padded image (no masks needed).
    src_r = np.clip(src_r, -1, H)
    src_c = np.clip(src_c, -1, W)
    r0, c0 = np.floor(src_r), np.floor(src_c)
    fr, fc = src_r - r0, src_c - c0           # (N, H, W) in [0, 1)
    HP, WP = H + 3, W + 3
    work = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    padded = np.zeros((N, C, HP, WP), dtype=work)
    padded[:, :, 1:H + 1, 1:W + 1] = x
    # flat index of the top-left neighbour in the padded batch: (N, C, H*W)
    top_left = ((r0.astype(np.intp) + 1) * WP + (c0.astype(np.intp) + 1)).reshape(N, 1, H * W)
    top_left = top_left + (np.arange(N * C).reshape(N, C, 1) * (HP * WP))
    fr, fc = fr.astype(work).reshape(N, 1, H * W), fc.astype(work).reshape(N, 1, H * W)
    values = padded.ravel()
    top = values[top_left] * (1 - fc) + values[top_left + 1] * fc                 # (N, C, H*W)
    bottom = values[top_left + WP] * (1 - fc) + values[top_left + WP + 1] * fc
    out = top * (1 - fr) + bottom * fr

    out = out.reshape(N, C, H, W)
    if not np.issubdtype(x.dtype, np.floating):
        info = np.iinfo(x.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(x.dtype, copy=False)


class Augment:
    """Random small shifts, rotations and scalings, a fresh draw for every image.

    Parameters
    ----------
    shift : float, default 2
        Each image moves by ``dy`` and ``dx`` drawn uniformly from ``[-shift, shift]`` pixels.
    rotate : float, default 10
        Angle drawn uniformly from ``[-rotate, rotate]`` degrees.
    scale : (low, high), default (0.9, 1.1)
        Size factor drawn uniformly from ``[low, high]``, ``0 < low <= high``; ``(1, 1)`` for none.
    rng : np.random.Generator, int or None, default 0
        The only source of the random parameters (a stream: each call draws new ones).

    Examples
    --------
    >>> augment = Augment(shift=2, rotate=10, scale=(0.9, 1.1), rng=0)
    >>> batch = np.zeros((64, 1, 28, 28), dtype=np.float32)
    >>> out = augment(batch)
    >>> out.shape, out.dtype
    ((64, 1, 28, 28), dtype('float32'))
    >>> Augment(shift=0, rotate=0, scale=(1, 1))(np.ones((2, 3, 3))).tolist() == np.ones((2, 3, 3)).tolist()
    True
    """

    def __init__(self, shift=2.0, rotate=10.0, scale=(0.9, 1.1), rng=0):
        self.shift = self._check_limit("shift", shift, "pixels")
        self.rotate = self._check_limit("rotate", rotate, "degrees")
        try:
            low, high = (float(s) for s in scale)
        except (TypeError, ValueError):
            raise ValueError(f"Augment: scale must be a pair (low, high) such as (0.9, 1.1), got {scale!r}") from None
        if not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
            raise ValueError(f"Augment: scale must be (low, high) with 0 < low <= high, got {scale!r}; "
                             "use (1, 1) for no scaling")
        self.scale = (low, high)
        self.rng = as_rng(rng)

    @staticmethod
    def _check_limit(name, value, unit):
        if isinstance(value, bool):
            raise ValueError(f"Augment: {name} must be a number of {unit}, got {value!r}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"Augment: {name} must be a number of {unit}, got {value!r}") from None
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"Augment: {name} is the largest {unit} either way, so it must be 0 or more, "
                             f"got {value}")
        return value

    def __repr__(self):
        return f"Augment(shift={self.shift:g}, rotate={self.rotate:g}, scale=({self.scale[0]:g}, {self.scale[1]:g}))"

    def sample(self, n):
        """Draw parameters for ``n`` images: a dict with ``angle`` (n,), ``scale`` (n,), ``shift`` (n, 2)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"Augment.sample: n must be a whole number of images, at least 1, got {n!r}")
        u = self.rng.uniform(-1.0, 1.0, size=(n, 3))    # one draw per image for angle, dy, dx
        low, high = self.scale
        return {"angle": self.rotate * u[:, 0],
                "scale": self.rng.uniform(low, high, size=n) if high > low else np.full(n, low),
                "shift": self.shift * u[:, 1:]}

    def __call__(self, images):
        """Augment a batch (N, H, W) or (N, C, H, W); returns a new array of the same shape and dtype."""
        x, added = _check_images("Augment", images)
        out = _warp("Augment", x, **self.sample(x.shape[0]))
        return out[:, 0] if added else out
