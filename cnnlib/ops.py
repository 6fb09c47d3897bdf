"""Pure kernels: convolution, pooling, ReLU and the affine map, forward and backward.

The contract
------------
* Every kernel is a plain function of NumPy arrays. Forward kernels return
  ``(out, cache)``; the matching backward kernel takes ``(dout, cache)`` and returns the
  gradients with respect to the forward's inputs, in the order they were passed.
* Convolution and pooling come twice, with the same signature: a ``*_naive`` version
  whose loops read like the maths, and a vectorised version that the layers run on.
  Tests assert that both agree. The vectorised convolution is the last step of lesson 2's
  path (loops -> im2col -> windows as a view): :func:`sliding_windows` gives every window
  without copying, and one matrix product with the kernels does the rest.
* Images are laid out ``(N, C, H, W)``: batch, channels, height, width. Convolution is
  cross-correlation, as in every framework. Output sizes follow PyTorch:
  ``H_out = floor((H + 2*padding - KH) / stride) + 1``; rows and columns that do not
  fit a last window are dropped.
* Kernels never write into their inputs or into ``dout``: they return new arrays. They
  compute in the input's floating dtype (float64 in, float64 out).
* Each kernel checks its arguments once, before any arithmetic, where a wrong shape would
  otherwise broadcast into a wrong answer; the layers in :mod:`cnnlib.layers` add their
  name to the message. :func:`check_int` is the one integer check of the whole library.
"""
import numpy as np

__all__ = [
    "check_int", "conv_output_size", "pad2d", "im2col", "sliding_windows",
    "conv2d_forward_naive", "conv2d_backward_naive", "conv2d_forward", "conv2d_backward",
    "maxpool2d_forward_naive", "maxpool2d_backward_naive", "maxpool2d_forward", "maxpool2d_backward",
    "avgpool2d_forward_naive", "avgpool2d_backward_naive", "avgpool2d_forward", "avgpool2d_backward",
    "relu_forward", "relu_backward", "linear_forward", "linear_backward",
]


# ----------------------------------------------------------------------------- checks and geometry

def check_int(name, value, low=0, high=None):
    """``value`` as an ``int``, if it is an integer (not a bool) of at least ``low`` (and at
    most ``high``, when given).

    Every integer argument in cnnlib (sizes, strides, counts) goes through here, so the
    rule and the message are the same everywhere.

    Raises
    ------
    ValueError
        Naming ``name``, the rule and the value given.

    Examples
    --------
    >>> check_int("stride", np.int64(2), low=1)
    2
    >>> check_int("stride", 2.0, low=1)
    Traceback (most recent call last):
    ...
    ValueError: stride must be an integer >= 1, got 2.0
    >>> check_int("class_index", 10, 0, 9)
    Traceback (most recent call last):
    ...
    ValueError: class_index must be an integer in [0, 9], got 10
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < low \
            or (high is not None and value > high):
        rule = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {rule}, got {value!r}")
    return int(value)


def conv_output_size(size, kernel_size, stride=1, padding=0):
    """Number of window positions along one axis.

    Parameters
    ----------
    size : int
        Input height or width.
    kernel_size, stride, padding : int
        Window size (>= 1), step (>= 1) and zeros added on each side (>= 0).

    Returns
    -------
    int
        ``floor((size + 2*padding - kernel_size) / stride) + 1``.

    Examples
    --------
    >>> conv_output_size(28, 5)
    24
    >>> conv_output_size(28, 3, stride=2, padding=1)
    14
    >>> conv_output_size(7, 2, stride=2)   # the last row does not fit a window: dropped
    3
    """
    size, kernel_size = check_int("size", size, 1), check_int("kernel_size", kernel_size, 1)
    stride, padding = check_int("stride", stride, 1), check_int("padding", padding, 0)
    padded = size + 2 * padding
    if padded < kernel_size:
        raise ValueError(f"input size {size} (padded: {padded}) is smaller than the kernel ({kernel_size})")
    return (padded - kernel_size) // stride + 1


def pad2d(x, padding):
    """Zero-pad the last two axes of ``x`` by ``padding`` on each side (a new array)."""
    if padding == 0:
        return x
    pad = [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)]
    return np.pad(x, pad)


def _unpad2d(x, padding):
    if padding == 0:
        return x
    return x[..., padding:-padding, padding:-padding]


def _float_dtype(x):
    """The dtype kernels compute in: ``x``'s, which must be floating."""
    if x.dtype.kind != "f":       # float16/32/64; same test as np.issubdtype(dtype, np.floating), faster
        raise ValueError(f"expected a floating-point array, got dtype {x.dtype}; "
                         "convert images with x.astype(np.float32) / 255")
    return x.dtype


def _check_conv_args(x, w, b, stride, padding):
    """The convolution's one shape check; returns ``(H_out, W_out)``."""
    if w.ndim != 4:
        raise ValueError(f"expected weights of shape (C_out, C_in, KH, KW), got shape {w.shape}")
    C_out, C_in, KH, KW = w.shape
    if x.ndim != 4:
        raise ValueError(f"expected input of shape (N, {C_in}, H, W), got shape {x.shape}")
    if x.shape[1] != C_in:
        raise ValueError(f"expected {C_in} input channel(s), got {x.shape[1]} "
                         f"(input shape {x.shape}, weight shape {w.shape})")
    if b.shape != (C_out,):
        raise ValueError(f"expected bias of shape ({C_out},), got shape {b.shape}")
    stride, padding = check_int("stride", stride, 1), check_int("padding", padding, 0)
    H, W = x.shape[2:]
    if H + 2 * padding < KH or W + 2 * padding < KW:
        raise ValueError(f"input {H}x{W} is smaller than the kernel {KH}x{KW}"
                         + (f" even with padding {padding}" if padding else ""))
    return conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)


def _check_pool_args(x, kernel_size, stride):
    """Pooling's one check; returns ``(stride, H_out, W_out)`` (stride defaults to the window)."""
    _float_dtype(x)
    if x.ndim != 4:
        raise ValueError(f"expected input of shape (N, C, H, W), got shape {x.shape}")
    k = check_int("kernel_size", kernel_size, 1)
    stride = k if stride is None else stride
    H, W = x.shape[2:]
    if H < k or W < k:
        raise ValueError(f"input {H}x{W} is smaller than the pooling window {k}x{k} (input shape {x.shape})")
    return stride, conv_output_size(H, k, stride), conv_output_size(W, k, stride)


def _check_dout(dout, expected_shape):
    if dout.shape != tuple(expected_shape):
        raise ValueError(f"dout has shape {dout.shape}, but the forward output had shape {tuple(expected_shape)}")


# ----------------------------------------------------------------------------- convolution

def conv2d_forward_naive(x, w, b, *, stride=1, padding=0):
    """Convolution (cross-correlation) with explicit loops: slow, but reads like the maths.

    Parameters
    ----------
    x : ndarray, shape (N, C_in, H, W)
    w : ndarray, shape (C_out, C_in, KH, KW)
    b : ndarray, shape (C_out,)
    stride, padding : int

    Returns
    -------
    out : ndarray, shape (N, C_out, H_out, W_out)
    cache : tuple
        What :func:`conv2d_backward_naive` needs.

    Notes
    -----
    .. math:: \\text{out}[n, o, i, j] = b[o] + \\sum_{c, p, q}
              x_{pad}[n, c, i s + p, j s + q] \\; w[o, c, p, q]

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> w = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])   # top-left minus bottom-right
    >>> out, _ = conv2d_forward_naive(x, w, np.zeros(1))
    >>> out[0, 0]
    array([[-4., -4.],
           [-4., -4.]])
    """
    dtype = _float_dtype(x)
    H_out, W_out = _check_conv_args(x, w, b, stride, padding)
    N, C_out, KH, KW = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    xp = pad2d(x, padding)
    out = np.zeros((N, C_out, H_out, W_out), dtype=dtype)
    for n in range(N):
        for o in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    window = xp[n, :, i * stride:i * stride + KH, j * stride:j * stride + KW]
                    out[n, o, i, j] = np.sum(window * w[o]) + b[o]
    return out, (x, w, b, stride, padding)


def conv2d_backward_naive(dout, cache, *, input_grad=True):
    """Gradients of the naive convolution, with the same loops as the forward pass.

    Returns
    -------
    dx : (N, C_in, H, W) or None (when ``input_grad`` is False),
    dw : (C_out, C_in, KH, KW), db : (C_out,)

    Notes
    -----
    Each output position ``(n, o, i, j)`` used one window of ``x`` and the whole kernel
    ``w[o]``, so it sends ``dout[n, o, i, j] * w[o]`` back to that window and
    ``dout[n, o, i, j] * window`` to ``dw[o]``.
    """
    x, w, b, stride, padding = cache
    N, C_out, H_out, W_out = dout.shape
    _check_dout(dout, (x.shape[0], w.shape[0], H_out, W_out))
    KH, KW = w.shape[2:]
    xp = pad2d(x, padding)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w, dtype=x.dtype)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for o in range(C_out):
            for i in range(H_out):
                for j in range(W_out):
                    rows = slice(i * stride, i * stride + KH)
                    cols = slice(j * stride, j * stride + KW)
                    dw[o] += dout[n, o, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, o, i, j] * w[o]
    return (_unpad2d(dxp, padding) if input_grad else None), dw, db


def im2col(x, KH, KW, *, stride=1, padding=0):
    """Gather every ``KH x KW`` window of ``x`` into the columns of one matrix per image.

    Lesson 2's middle step, between the loops and :func:`sliding_windows`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)

    Returns
    -------
    cols : ndarray, shape (N, C*KH*KW, H_out*W_out)
        Column ``i*W_out + j`` of ``cols[n]`` is the window under output position
        ``(i, j)``, flattened in ``(c, p, q)`` order, so ``w.reshape(C_out, -1) @ cols[n]``
        is the convolution of image ``n``.

    Notes
    -----
    We copy one kernel offset ``(p, q)`` at a time: each copy is a strided slice of the
    whole batch, so there are only ``KH*KW`` Python steps however big the images are.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> im2col(x, 2, 2, stride=2)[0]
    array([[ 0.,  2.,  8., 10.],
           [ 1.,  3.,  9., 11.],
           [ 4.,  6., 12., 14.],
           [ 5.,  7., 13., 15.]])
    """
    N, C, H, W = x.shape
    H_out = conv_output_size(H, KH, stride, padding)
    W_out = conv_output_size(W, KW, stride, padding)
    xp = pad2d(x, padding)
    cols = np.empty((N, C, KH, KW, H_out, W_out), dtype=x.dtype)
    for p in range(KH):
        for q in range(KW):
            cols[:, :, p, q] = xp[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride]
    return cols.reshape(N, C * KH * KW, H_out * W_out)


def sliding_windows(x, KH, KW, *, stride=1, padding=0):
    """Every ``KH x KW`` window of ``x``, as a view: nothing is copied.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)

    Returns
    -------
    windows : read-only ndarray view, shape (N, C, H_out, W_out, KH, KW)
        ``windows[n, c, i, j]`` is the ``KH x KW`` patch of the padded image under output
        position ``(i, j)``: ``xp[n, c, i*stride:i*stride + KH, j*stride:j*stride + KW]``.

    Notes
    -----
    A view is the same memory read with other steps. NumPy's ``strides`` say how many
    bytes one step along each axis moves. Going to the next window down is going
    ``stride`` rows down in the image, and going one row down inside a window is going one
    row down in the image; the same for columns. So the six axes need only the image's
    own four strides, and ``as_strided`` builds the view without touching the data. It
    is the view ``np.lib.stride_tricks.sliding_window_view(xp, (KH, KW), axis=(2, 3))``
    gives, every ``stride``-th window kept, built with less overhead per call.
    Neighbouring windows overlap (they share memory), which is why the view is read-only.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> windows = sliding_windows(x, 2, 2, stride=2)
    >>> windows.shape
    (1, 1, 2, 2, 2, 2)
    >>> windows[0, 0, 1, 0]              # output row 1, column 0: rows 2-3, columns 0-1
    array([[ 8.,  9.],
           [12., 13.]])
    """
    N, C, H, W = x.shape
    H_out, W_out = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    xp = pad2d(x, padding)                                              # (N, C, H + 2P, W + 2P)
    step_n, step_c, step_row, step_col = xp.strides                     # bytes to the next image, channel, row, column
    return np.lib.stride_tricks.as_strided(
        xp, shape=(N, C, H_out, W_out, KH, KW),                         # (N, C, H_out, W_out, KH, KW)
        strides=(step_n, step_c,
                 stride * step_row, stride * step_col,                  # next window: `stride` rows or columns on
                 step_row, step_col),                                   # inside a window: one row or column on
        writeable=False)


def conv2d_forward(x, w, b, *, stride=1, padding=0):
    """Vectorised convolution: every window as a view, then one matrix product.

    Same signature and result as :func:`conv2d_forward_naive`.

    Notes
    -----
    Lesson 2's last step. :func:`sliding_windows` gives the windows as a view; one
    reshape copies them into im2col's matrix ``cols`` (the only copy of the input), with
    the columns of all images side by side, and ``w.reshape(C_out, -1) @ cols``
    multiplies every kernel with every window of the batch in one product:

    .. math:: \\text{out}[o, (n, i, j)] = b[o] + \\sum_{(c, p, q)} w[o, (c, p, q)]\\;
              \\text{cols}[(c, p, q), (n, i, j)]

    One product for the whole batch, rather than one per image, is what lets BLAS share
    it between cores. The output comes out channels first, so we return the transposed
    view ``(N, C_out, H_out, W_out)`` of it (plus the bias): no extra copy.
    """
    dtype = _float_dtype(x)
    H_out, W_out = _check_conv_args(x, w, b, stride, padding)
    N, C_in, C_out, KH, KW = x.shape[0], x.shape[1], w.shape[0], w.shape[2], w.shape[3]
    windows = sliding_windows(x, KH, KW, stride=stride, padding=padding)   # (N, C_in, H_out, W_out, KH, KW), a view
    windows = windows.transpose(1, 4, 5, 0, 2, 3)                       # (C_in, KH, KW, N, H_out, W_out), a view
    cols = windows.reshape(C_in * KH * KW, N * H_out * W_out)           # im2col of the batch: this reshape copies
    w = w.astype(dtype, copy=False)
    out = w.reshape(C_out, C_in * KH * KW) @ cols                       # (C_out, N*H_out*W_out)
    out = out.reshape(C_out, N, H_out, W_out).transpose(1, 0, 2, 3)     # (N, C_out, H_out, W_out), a view
    return out + b.astype(dtype, copy=False)[:, None, None], (x.shape, w, cols, stride, padding)


def conv2d_backward(dout, cache, *, input_grad=True):
    """Gradients of :func:`conv2d_forward`, from the windows it cached.

    Parameters
    ----------
    dout : ndarray, shape (N, C_out, H_out, W_out)
    cache : tuple from :func:`conv2d_forward`
    input_grad : bool
        When False, ``dx`` is returned as None. The first layer of a network does not
        need the gradient of the image, and skipping it saves a third of the work.

    Returns
    -------
    dx : (N, C_in, H, W) or None, dw : (C_out, C_in, KH, KW), db : (C_out,)

    Notes
    -----
    ``db`` adds ``dout`` over images and positions. ``dw`` is every window times the
    ``dout`` of its position, added up over the batch: the forward's product turned
    round, ``dout_mat @ cols.T``. ``dx`` sends each ``dout[n, o, i, j] * w[o]`` back onto
    the window it came from; :func:`_conv2d_input_grad` does that for the whole batch.
    """
    x_shape, w, cols, stride, padding = cache
    N, C_in, H, W = x_shape
    C_out, KH, KW = w.shape[0], w.shape[2], w.shape[3]
    H_out, W_out = conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)
    _check_dout(dout, (N, C_out, H_out, W_out))
    db = dout.sum(axis=(0, 2, 3))                                       # (C_out,)
    dout_mat = dout.transpose(1, 0, 2, 3).reshape(C_out, N * H_out * W_out)   # (C_out, N*H_out*W_out), copied
    dw = dout_mat @ cols.T                                              # (C_out, C_in*KH*KW)
    dx = _conv2d_input_grad(dout, w, x_shape, stride, padding) if input_grad else None
    return dx, dw.reshape(w.shape), db


def _conv2d_input_grad(dout, w, x_shape, stride, padding):
    """``dx`` of the convolution: every ``dout`` sent back through the kernel to its window.

    Parameters
    ----------
    dout : ndarray, shape (N, C_out, H_out, W_out)
    w : ndarray, shape (C_out, C_in, KH, KW)
    x_shape : tuple (N, C_in, H, W)

    Returns
    -------
    dx : ndarray, shape (N, C_in, H, W)

    Notes
    -----
    Output ``(n, o, i, j)`` read the padded input at ``(s*i + p, s*j + q)`` with weight
    ``w[o, c, p, q]``, for every kernel offset ``(p, q)``, so

    .. math:: dx_{pad}[n, c, s i + p, s j + q] \\mathrel{+}= \\sum_o w[o, c, p, q]\\; dout[n, o, i, j]

    (lesson 5 shows this is the full convolution of ``dout`` with the flipped kernel).
    Done for all offsets at once, the product ``w_mat.T @ dout`` would be about
    ``KH*KW`` times the size of ``dx``, followed by ``KH*KW`` strided additions (im2col
    run backwards). We split the offset instead: the column shift ``q`` happens before
    one product, the row shift ``p`` after it: ``KW`` copies, one product about ``KH``
    times the size of ``dx``, and ``KH`` additions (several times faster at the LeNet
    shapes; benchmarks/README.md has the timings).
    """
    N, C_in, H, W = x_shape
    C_out, _, KH, KW = w.shape
    H_out, W_out = dout.shape[2:]
    Wp = W + 2 * padding
    # Channels first, as in the forward pass, so that step 2 is one product for the batch.
    # 1. Columns: shifted[o, q, n, i, s*j + q] = dout[n, o, i, j], zeros elsewhere.
    shifted = np.zeros((C_out, KW, N, H_out, Wp), dtype=dout.dtype)    # (C_out, KW, N, H_out, Wp)
    for q in range(KW):
        shifted[:, q, :, :, q:q + stride * W_out:stride] = dout.transpose(1, 0, 2, 3)
    # 2. One product over o and q: rows[p, c, n, i, v] = sum_{o, q} w[o, c, p, q] shifted[o, q, n, i, v].
    w_pc = w.transpose(2, 1, 0, 3).reshape(KH * C_in, C_out * KW)       # (KH*C_in, C_out*KW)
    rows = w_pc @ shifted.reshape(C_out * KW, N * H_out * Wp)           # (KH*C_in, N*H_out*Wp)
    rows = rows.reshape(KH, C_in, N, H_out, Wp)
    # 3. Rows: dx_pad[c, n, s*i + p, v] += rows[p, c, n, i, v].
    dxp = np.zeros((C_in, N, H + 2 * padding, Wp), dtype=rows.dtype)    # (C_in, N, H + 2P, W + 2P)
    for p in range(KH):
        dxp[:, :, p:p + stride * H_out:stride] += rows[p]
    return _unpad2d(dxp, padding).transpose(1, 0, 2, 3)                 # (N, C_in, H, W), a view


# ----------------------------------------------------------------------------- pooling

def maxpool2d_forward_naive(x, *, kernel_size=2, stride=None):
    """Max pooling with explicit loops.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size : int
    stride : int or None
        Defaults to ``kernel_size`` (windows that touch but do not overlap).

    Returns
    -------
    out : ndarray, shape (N, C, H_out, W_out)
    cache : tuple
        Includes, for each window, the flat index of its winner: the first maximum in
        row-major order. Only that one input receives the window's gradient, even when
        several inputs tie (as the zeros of a ReLU output often do).

    Examples
    --------
    >>> x = np.array([[[[1.0, 2.0], [4.0, 3.0]]]])
    >>> out, _ = maxpool2d_forward_naive(x)
    >>> out
    array([[[[4.]]]])
    """
    stride, H_out, W_out = _check_pool_args(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    winner = np.zeros((N, C, H_out, W_out), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size]
                    winner[n, c, i, j] = np.argmax(window)             # first maximum wins ties
                    out[n, c, i, j] = window.flat[winner[n, c, i, j]]
    return out, (x.shape, winner, kernel_size, stride)


def maxpool2d_backward_naive(dout, cache):
    """Gradient of max pooling: each window's ``dout`` goes to its winner alone."""
    x_shape, winner, k, stride = cache
    _check_dout(dout, winner.shape)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    p, q = divmod(int(winner[n, c, i, j]), k)
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dx


def _pool_view(x, p, q, stride, H_out, W_out):
    """The inputs at offset (p, q) of every pooling window: shape (N, C, H_out, W_out)."""
    return x[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride]


def maxpool2d_forward(x, *, kernel_size=2, stride=None):
    """Vectorised max pooling; same signature and result as the naive version.

    Notes
    -----
    We walk the ``k*k`` offsets of a window, not its positions: each offset is one
    strided view of the whole batch. We copy those views into one contiguous stack, so
    the slow strided reads happen once; the maximum over the stack is the pooled output.
    Each window's winner is the first offset holding that maximum (the naive version's
    tie rule). To find it, offset ``t`` scores ``k*k - t`` where it holds the maximum and
    0 elsewhere; the best score belongs to the first such offset, so
    ``winner = k*k - best score``. Masked assignment (``winner[mask] = t``), ``np.where``
    and ``argmax`` along the first axis are all several times slower here.
    """
    stride, H_out, W_out = _check_pool_args(x, kernel_size, stride)
    k = kernel_size
    stack = np.stack([_pool_view(x, p, q, stride, H_out, W_out)
                      for p in range(k) for q in range(k)])             # (k*k, N, C, H_out, W_out)
    out = stack.max(axis=0)                                           # (N, C, H_out, W_out)
    index_dtype = np.int8 if k * k < 128 else np.int64
    scores = np.arange(k * k, 0, -1, dtype=index_dtype).reshape(-1, 1, 1, 1, 1)   # k*k, ..., 2, 1
    winner = k * k - ((stack == out) * scores).max(axis=0)            # (N, C, H_out, W_out)
    return out, (x.shape, winner, k, stride)


def maxpool2d_backward(dout, cache):
    """Vectorised gradient of max pooling: route each window's ``dout`` to its winner.

    ``routed[t]`` is ``dout`` where offset ``t`` won and 0 elsewhere (a multiplication by
    the mask: ``np.where`` is several times slower); it goes to the inputs at offset
    ``t``. Windows that do not overlap (``stride >= k``) write each input at most once,
    so we assign; overlapping ones add up.
    """
    x_shape, winner, k, stride = cache
    _check_dout(dout, winner.shape)
    H_out, W_out = winner.shape[2:]
    offsets = np.arange(k * k, dtype=winner.dtype).reshape(-1, 1, 1, 1, 1)
    routed = dout * (winner == offsets)                               # (k*k, N, C, H_out, W_out)
    routed += 0.0                     # turns the -0.0 of (negative dout) * False into 0.0
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for t in range(k * k):
        view = _pool_view(dx, *divmod(t, k), stride, H_out, W_out)
        if stride >= k:
            view[...] = routed[t]
        else:
            view += routed[t]
    return dx


def avgpool2d_forward_naive(x, *, kernel_size=2, stride=None):
    """Average pooling with explicit loops (for comparison with max pooling)."""
    stride, H_out, W_out = _check_pool_args(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, H_out, W_out), dtype=x.dtype)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    out[n, c, i, j] = x[n, c, i * stride:i * stride + kernel_size,
                                        j * stride:j * stride + kernel_size].mean()
    return out, (x.shape, out.shape, kernel_size, stride)


def avgpool2d_backward_naive(dout, cache):
    """Gradient of average pooling: each window's ``dout`` is shared equally by its inputs."""
    x_shape, out_shape, k, stride = cache
    _check_dout(dout, out_shape)
    dx = np.zeros(x_shape, dtype=dout.dtype)
    N, C, H_out, W_out = dout.shape
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    dx[n, c, i * stride:i * stride + k, j * stride:j * stride + k] += dout[n, c, i, j] / (k * k)
    return dx


def avgpool2d_forward(x, *, kernel_size=2, stride=None):
    """Vectorised average pooling: the mean of the ``k*k`` strided views."""
    stride, H_out, W_out = _check_pool_args(x, kernel_size, stride)
    out = _pool_view(x, 0, 0, stride, H_out, W_out).copy()
    for t in range(1, kernel_size * kernel_size):
        out += _pool_view(x, *divmod(t, kernel_size), stride, H_out, W_out)
    out /= kernel_size * kernel_size
    return out, (x.shape, out.shape, kernel_size, stride)


def avgpool2d_backward(dout, cache):
    """Vectorised gradient of average pooling."""
    x_shape, out_shape, k, stride = cache
    _check_dout(dout, out_shape)
    H_out, W_out = out_shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    share = dout / (k * k)
    for t in range(k * k):
        _pool_view(dx, *divmod(t, k), stride, H_out, W_out)[...] += share
    return dx


# ----------------------------------------------------------------------------- ReLU and affine

def relu_forward(x):
    """``max(x, 0)`` elementwise; the cache is the mask of positive inputs.

    >>> relu_forward(np.array([-1.0, 0.0, 2.0]))[0]
    array([0., 0., 2.])
    """
    _float_dtype(x)
    # An array of zeros, not the scalar 0: NumPy's maximum has a fast vectorised loop only
    # for two arrays (with a scalar it is about three times slower on random signs).
    return np.maximum(x, np.zeros_like(x)), x > 0


def relu_backward(dout, mask):
    """Pass ``dout`` where the input was positive, zero elsewhere (a new array).

    ``dout * mask`` is a plain multiplication (``np.where`` is several times slower); the
    ``+ 0.0`` turns the ``-0.0`` that a negative ``dout`` times False gives into ``0.0``.
    """
    _check_dout(dout, mask.shape)
    dx = dout * mask
    dx += 0.0
    return dx


def linear_forward(x, w, b):
    """Affine map ``y = x @ w + b``.

    Parameters
    ----------
    x : (N, F_in), w : (F_in, F_out), b : (F_out,)

    Returns
    -------
    y : (N, F_out), cache
    """
    dtype = _float_dtype(x)
    if x.ndim != 2 or x.shape[1] != w.shape[0]:
        hint = "; put a Flatten() layer before this one" if x.ndim > 2 else ""
        raise ValueError(f"expected input of shape (N, {w.shape[0]}), got shape {x.shape}{hint}")
    if b.shape != (w.shape[1],):
        raise ValueError(f"expected bias of shape ({w.shape[1]},), got shape {b.shape}")
    w = w.astype(dtype, copy=False)
    return x @ w + b.astype(dtype, copy=False), (x, w)


def linear_backward(dout, cache, *, input_grad=True):
    """Gradients of ``y = x @ w + b``: ``dx = dout @ w.T``, ``dw = x.T @ dout``, ``db = sum(dout)``."""
    x, w = cache
    _check_dout(dout, (x.shape[0], w.shape[1]))
    dx = dout @ w.T if input_grad else None
    # np.dot, not @: for a batch of one image the product's inner dimension is 1, and
    # matmul then skips BLAS for a loop about 6x slower (what a widget's backward pays).
    dw = np.dot(x.T, dout)
    return dx, dw, dout.sum(axis=0)
