"""Pure kernels: convolution, pooling, ReLU and the affine map, forward and backward.

The contract
------------
* Every kernel is a plain function of NumPy arrays. Forward kernels return
  ``(out, cache)``; the matching backward kernel takes ``(dout, cache)`` and returns the
  gradients with respect to the forward's inputs, in the order they were passed.
* Convolution and pooling come twice, with the same signature: a ``*_naive`` version
  whose loops read like the maths (the lessons teach with it), and a vectorised version
  that everything else runs on. Tests assert that both agree.
* Images are laid out ``(N, C, H, W)``: batch, channels, height, width. Convolution is
  cross-correlation, as in every framework. Output sizes follow PyTorch:
  ``H_out = floor((H + 2*padding - KH) / stride) + 1``; rows and columns that do not
  fit a last window are dropped.
* Kernels never write into their inputs or into ``dout``: they return new arrays. They
  compute in the input's floating dtype (float64 in, float64 out).

Shapes are checked where a wrong one would otherwise broadcast into a wrong answer; the
layers in :mod:`cnnlib.layers` add the layer's name to those messages.
"""
import numpy as np

__all__ = [
    "conv_output_size", "pad2d",
    "im2col", "col2im",
    "conv2d_forward_naive", "conv2d_backward_naive", "conv2d_forward", "conv2d_backward",
    "maxpool2d_forward_naive", "maxpool2d_backward_naive", "maxpool2d_forward", "maxpool2d_backward",
    "avgpool2d_forward_naive", "avgpool2d_backward_naive", "avgpool2d_forward", "avgpool2d_backward",
    "relu_forward", "relu_backward", "linear_forward", "linear_backward",
]


# ----------------------------------------------------------------------------- geometry

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
    for name, value, low in (("size", size, 1), ("kernel_size", kernel_size, 1),
                             ("stride", stride, 1), ("padding", padding, 0)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if value < low:
            raise ValueError(f"{name} must be at least {low}, got {value}")
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


def _float_dtype(*arrays):
    """The dtype kernels compute in: the first array's, which must be floating."""
    dtype = arrays[0].dtype
    if dtype.kind != "f":       # float16/32/64; same test as np.issubdtype(dtype, np.floating), faster
        raise ValueError(f"expected a floating-point array, got dtype {dtype}; "
                         "convert images with x.astype(np.float32) / 255")
    return dtype


def _check_conv_args(x, w, b, stride, padding):
    if x.ndim != 4:
        raise ValueError(f"expected input of shape (N, C_in, H, W), got shape {x.shape}")
    if w.ndim != 4:
        raise ValueError(f"expected weights of shape (C_out, C_in, KH, KW), got shape {w.shape}")
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"input has {x.shape[1]} channels but the weights expect {w.shape[1]} "
                         f"(input shape {x.shape}, weight shape {w.shape})")
    if b.shape != (w.shape[0],):
        raise ValueError(f"expected bias of shape ({w.shape[0]},), got shape {b.shape}")
    H, W = x.shape[2:]
    KH, KW = w.shape[2:]
    if H + 2 * padding < KH or W + 2 * padding < KW:
        raise ValueError(f"input {H}x{W} (padding {padding}) is smaller than the kernel {KH}x{KW}")
    return conv_output_size(H, KH, stride, padding), conv_output_size(W, KW, stride, padding)


def _check_pool_args(x, kernel_size, stride):
    if x.ndim != 4:
        raise ValueError(f"expected input of shape (N, C, H, W), got shape {x.shape}")
    H, W = x.shape[2:]
    if H < kernel_size or W < kernel_size:
        raise ValueError(f"input {H}x{W} is smaller than the pooling window {kernel_size}x{kernel_size}")
    return conv_output_size(H, kernel_size, stride), conv_output_size(W, kernel_size, stride)


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


def conv2d_backward_naive(dout, cache):
    """Gradients of the naive convolution, with the same loops as the forward pass.

    Returns
    -------
    dx : (N, C_in, H, W), dw : (C_out, C_in, KH, KW), db : (C_out,)

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
    return _unpad2d(dxp, padding), dw, db


def im2col(x, KH, KW, *, stride=1, padding=0):
    """Gather every ``KH x KW`` window of ``x`` into the columns of one matrix per image.

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


def col2im(cols, x_shape, KH, KW, *, stride=1, padding=0):
    """The adjoint of :func:`im2col`: add every column back onto the window it came from.

    Parameters
    ----------
    cols : ndarray, shape (N, C*KH*KW, H_out*W_out)
    x_shape : tuple (N, C, H, W)

    Returns
    -------
    ndarray, shape (N, C, H, W)
        Overlapping windows add up, which is what the chain rule asks for.
    """
    N, C, H, W = x_shape
    H_out = conv_output_size(H, KH, stride, padding)
    W_out = conv_output_size(W, KW, stride, padding)
    cols = cols.reshape(N, C, KH, KW, H_out, W_out)
    dxp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=cols.dtype)
    for p in range(KH):
        for q in range(KW):
            dxp[:, :, p:p + stride * H_out:stride, q:q + stride * W_out:stride] += cols[:, :, p, q]
    return _unpad2d(dxp, padding)


def _flat_windows(x, KH, KW, stride, padding, H_out):
    """Every window of ``x`` as one column of a single matrix, read from flattened images.

    This is :func:`im2col` rearranged for speed; :func:`conv2d_forward` uses it.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    KH, KW, stride, padding, H_out : int

    Returns
    -------
    cols : ndarray, shape (C*KH*KW, N*H_out*Wp)
        ``Wp = W + 2*padding``. Column ``(n, i, j)`` (index ``(n*H_out + i)*Wp + j``)
        holds the window under output position ``(i, j)`` of image ``n``, in ``(c, p, q)``
        order. Only columns with ``j < W_out`` are real windows; the other ``Wp - W_out``
        columns of each output row hold values that wrap round the image's edge, and the
        caller drops what they produce.
    Wp : int

    Notes
    -----
    Flatten each padded image row by row into a vector ``f``. The input under offset
    ``(p, q)`` of window ``(i, j)`` is ``xp[i*s + p, j*s + q] = f[p*Wp + q + s*(i*Wp + j)]``:
    for a fixed offset, the values for every output position ``u = i*Wp + j`` are the
    slice ``f[p*Wp + q + s*u]``, contiguous when ``s = 1``. So the whole matrix is one
    strided view of ``f`` (steps ``Wp`` for ``p``, 1 for ``q``, ``s`` for ``u``), and one
    copy makes it, moving whole rows instead of the ``W_out``-long pieces of
    :func:`im2col`. We pay for a few thrown-away columns. Images sit side by side in the
    columns, so the convolution of the whole batch is one matrix product.
    """
    N, C, H, W = x.shape
    Hp, Wp = H + 2 * padding, W + 2 * padding
    L = H_out * Wp                                                    # wide output positions per image
    # Long enough for the last offset's last (thrown-away) position.
    flat_len = max(Hp * Wp, (KH - 1) * Wp + KW + stride * (L - 1))
    flat = np.zeros((C, N, flat_len), dtype=x.dtype)                  # (C, N, Hp*Wp + spare)
    images = flat[:, :, :Hp * Wp].reshape(C, N, Hp, Wp)
    images[:, :, padding:padding + H, padding:padding + W] = x.transpose(1, 0, 2, 3)
    item = flat.itemsize
    windows = np.lib.stride_tricks.as_strided(                        # windows[c, p, q, n, u] = f[c, n, p*Wp + q + s*u]
        flat, shape=(C, KH, KW, N, L),
        strides=(flat.strides[0], Wp * item, item, flat.strides[1], stride * item), writeable=False)
    return windows.reshape(C * KH * KW, N * L), Wp                    # reshape copies: (C*KH*KW, N*L)


def _conv2d_input_grad(dout_mat, w, x_shape, stride, padding, H_out):
    """``dx = col2im(w_mat.T @ dout_mat)``, without forming that big matrix.

    Parameters
    ----------
    dout_mat : ndarray, shape (C_out, N*H_out*Wp)
        ``dout`` laid out like :func:`_flat_windows`'s columns, zero in the thrown-away ones.
    w : ndarray, shape (C_out, C_in, KH, KW)
    x_shape : tuple (N, C_in, H, W)

    Returns
    -------
    dx : ndarray, shape (N, C_in, H, W) (a transposed view)

    Notes
    -----
    On the flattened padded image, ``dx_flat[c, n, p*Wp + q + s*u]`` collects
    ``w[o, c, p, q] * dout_wide[o, n, u]`` for every offset ``(p, q)``. Doing that
    directly means ``w_mat.T @ dout_mat`` (``KH*KW`` times the size of ``dx``) and then
    ``KH*KW`` strided adds. We split the offset instead. The column shift ``q`` comes
    before the product: ``E[(o, q), n, q + s*u] = dout_wide[o, n, u]`` (``KW`` copies).
    One product with ``A[(p, c), (o, q)] = w[o, c, p, q]`` gives ``G = A @ E``, and the
    row shift ``p*Wp`` comes after: ``dx_flat[c, n, p*Wp:] += G[p, c, n]`` (``KH`` adds).
    Same arithmetic, ``KH + KW`` copies instead of ``KH*KW``, and a ``KW`` times smaller
    intermediate; at the LeNet shapes it halves the cost of ``dx``.
    """
    N, C, H, W = x_shape
    C_out, _, KH, KW = w.shape
    Hp, Wp = H + 2 * padding, W + 2 * padding
    L = H_out * Wp
    G_len = stride * (L - 1) + KW                                     # q + s*u for every q and u
    E = np.zeros((C_out, KW, N, G_len), dtype=dout_mat.dtype)
    for q in range(KW):
        E[:, q, :, q:q + stride * L:stride] = dout_mat.reshape(C_out, N, L)
    A = w.transpose(2, 1, 0, 3).reshape(KH * C, C_out * KW)           # (KH*C_in, C_out*KW)
    G = (A @ E.reshape(C_out * KW, N * G_len)).reshape(KH, C, N, G_len)
    dflat = np.zeros((C, N, max(Hp * Wp, (KH - 1) * Wp + G_len)), dtype=G.dtype)
    for p in range(KH):
        dflat[:, :, p * Wp:p * Wp + G_len] += G[p]
    dxp = dflat[:, :, :Hp * Wp].reshape(C, N, Hp, Wp)
    return dxp[:, :, padding:padding + H, padding:padding + W].transpose(1, 0, 2, 3)


def conv2d_forward(x, w, b, *, stride=1, padding=0):
    """Vectorised convolution: gather the windows, then one matrix product for the batch.

    Same signature and result as :func:`conv2d_forward_naive`.

    Notes
    -----
    With ``cols`` from :func:`_flat_windows` (the im2col matrix of the whole batch, shape
    ``(C_in*KH*KW, N*H_out*Wp)``), the output is ``w.reshape(C_out, -1) @ cols + b``.
    One final pass adds the bias, drops the thrown-away columns and moves the channel
    axis behind the batch axis, giving ``(N, C_out, H_out, W_out)``.
    """
    dtype = _float_dtype(x)
    H_out, W_out = _check_conv_args(x, w, b, stride, padding)
    N, C_out, KH, KW = x.shape[0], w.shape[0], w.shape[2], w.shape[3]
    w_mat = w.reshape(C_out, -1).astype(dtype, copy=False)            # (C_out, C_in*KH*KW)
    cols, Wp = _flat_windows(x, KH, KW, stride, padding, H_out)       # (C_in*KH*KW, N*H_out*Wp)
    wide = (w_mat @ cols).reshape(C_out, N, H_out, Wp)                # (C_out, N, H_out, Wp)
    out = np.empty((N, C_out, H_out, W_out), dtype=dtype)
    np.add(wide[:, :, :, :W_out].transpose(1, 0, 2, 3), b.astype(dtype, copy=False)[:, None, None], out=out)
    return out, (x.shape, w_mat, w.shape, cols, stride, padding, (H_out, W_out, Wp))


def conv2d_backward(dout, cache, *, input_grad=True):
    """Gradients of :func:`conv2d_forward`.

    Parameters
    ----------
    dout : ndarray, shape (N, C_out, H_out, W_out)
    cache : tuple from :func:`conv2d_forward`
    input_grad : bool
        When False, ``dx`` is returned as None. The first layer of a network does not
        need the gradient of the image, and skipping it saves a whole col2im.

    Returns
    -------
    dx : (N, C_in, H, W) or None, dw : (C_out, C_in, KH, KW), db : (C_out,)

    Notes
    -----
    We lay ``dout`` out like the forward's wide output, with zeros in the thrown-away
    columns, as a matrix ``dout_mat`` of shape ``(C_out, N*H_out*Wp)``. Then
    ``dw = dout_mat @ cols.T`` (the input correlated with ``dout``) and
    ``dx = col2im(w_mat.T @ dout_mat)``, which is the full convolution of ``dout`` with
    the flipped kernel; :func:`_conv2d_input_grad` computes it in a cheaper order.
    """
    x_shape, w_mat, w_shape, cols, stride, padding, (H_out, W_out, Wp) = cache
    N, C_out = x_shape[0], w_shape[0]
    _check_dout(dout, (N, C_out, H_out, W_out))
    db = dout.sum(axis=(0, 2, 3))
    dout_wide = np.zeros((C_out, N, H_out, Wp), dtype=dout.dtype)
    dout_wide[:, :, :, :W_out] = dout.transpose(1, 0, 2, 3)           # zeros stay in the wrapped columns
    dout_mat = dout_wide.reshape(C_out, N * H_out * Wp)
    dw = (cols @ dout_mat.T).T.reshape(w_shape)                       # one GEMM over the whole batch
    dx = None
    if input_grad:
        dx = np.ascontiguousarray(_conv2d_input_grad(dout_mat, w_mat.reshape(w_shape), x_shape,
                                                     stride, padding, H_out))
    return dx, dw, db


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
    stride = kernel_size if stride is None else stride
    dtype = _float_dtype(x)
    H_out, W_out = _check_pool_args(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, H_out, W_out), dtype=dtype)
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
    stride = kernel_size if stride is None else stride
    _float_dtype(x)
    H_out, W_out = _check_pool_args(x, kernel_size, stride)
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
    stride = kernel_size if stride is None else stride
    dtype = _float_dtype(x)
    H_out, W_out = _check_pool_args(x, kernel_size, stride)
    N, C = x.shape[:2]
    out = np.zeros((N, C, H_out, W_out), dtype=dtype)
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
    stride = kernel_size if stride is None else stride
    _float_dtype(x)
    H_out, W_out = _check_pool_args(x, kernel_size, stride)
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
    if x.ndim != 2:
        raise ValueError(f"expected input of shape (N, {w.shape[0]}), got shape {x.shape}")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"expected input of shape (N, {w.shape[0]}), got shape {x.shape}")
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
