"""Softmax and cross-entropy, numerically stable.

The contract
------------
* :func:`softmax` and :func:`log_softmax` subtract each row's maximum before exponentiating,
  so logits like ``[10000, 10010, 10]`` give finite results.
* :class:`SoftmaxCrossEntropy`: logits (N, K) and integer labels (N,) in ``[0, K)`` in, the
  mean loss out as a float; ``backward()`` gives its gradient, ``(probs - onehot) / N``.
* float16 is computed in float32: it holds numbers only up to 65504, so the shift by the
  maximum alone can overflow (``-60000 - 60000``). :func:`softmax` and the gradient come back
  as float16, :func:`log_softmax` as float32 (-120000 does not fit in float16).
"""
import numpy as np

__all__ = ["softmax", "log_softmax", "SoftmaxCrossEntropy"]

MIN_COMPUTE_ITEMSIZE = 4  # bytes: floats narrower than float32 are computed in float32


def _computable(z):
    """``z`` as an array, with float16 widened to float32 (see the module's contract)."""
    z = np.asarray(z)
    if z.dtype.kind == "f" and z.dtype.itemsize < MIN_COMPUTE_ITEMSIZE:
        return z.astype(np.float32)
    return z


def log_softmax(logits, axis=-1):
    """``log(softmax(logits))``, computed without overflow.

    .. math:: \\log \\mathrm{softmax}(z)_k = (z_k - m) - \\log \\sum_j e^{z_j - m},
              \\quad m = \\max_j z_j

    Subtracting :math:`m` cancels between numerator and denominator, and keeps every exponent
    at most 0, so nothing overflows.
    """
    z = _computable(logits)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(logits, axis=-1):
    """Probabilities from logits, stable for any finite logits.

    >>> softmax(np.array([10000.0, 10010.0, 10.0])).round(6).tolist()
    [4.5e-05, 0.999955, 0.0]
    """
    given = np.asarray(logits)
    z = _computable(given)
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    p = e / e.sum(axis=axis, keepdims=True)
    return p.astype(given.dtype) if p.dtype != given.dtype and given.dtype.kind == "f" else p


class SoftmaxCrossEntropy:
    """Softmax followed by the mean cross-entropy with integer labels.

    For one example with logits :math:`z`, :math:`p = \\mathrm{softmax}(z)` and true class :math:`y`:

    .. math:: L = -\\log p_y, \\qquad \\frac{\\partial L}{\\partial z} = p - \\mathrm{onehot}(y)

    The batch loss is the mean over the N examples, so its gradient is divided by N.

    >>> loss_fn = SoftmaxCrossEntropy()
    >>> round(loss_fn.forward(np.zeros((2, 4)), np.array([0, 3])), 6)   # log(4)
    1.386294
    >>> loss_fn.backward()
    array([[-0.375,  0.125,  0.125,  0.125],
           [ 0.125,  0.125,  0.125, -0.375]])
    """

    def __init__(self):
        self._cache = None

    def __repr__(self):
        return "SoftmaxCrossEntropy()"

    def __call__(self, logits, labels):
        return self.forward(logits, labels)

    def forward(self, logits, labels):
        logits = np.asarray(logits)
        labels = np.asarray(labels)
        if logits.ndim != 2 or logits.shape[0] == 0:
            raise ValueError(f"{self!r}: expected logits of shape (N, K), got shape {logits.shape}")
        if not np.issubdtype(logits.dtype, np.floating):
            raise ValueError(f"{self!r}: expected floating-point logits, got dtype {logits.dtype}")
        N, K = logits.shape
        if labels.shape != (N,):
            raise ValueError(f"{self!r}: expected labels of shape ({N},), one per row of the logits, "
                             f"got shape {labels.shape}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"{self!r}: labels must be integer class indices, got dtype {labels.dtype}")
        if labels.min() < 0 or labels.max() >= K:
            bad = labels[(labels < 0) | (labels >= K)]
            raise ValueError(f"{self!r}: labels must be in [0, {K - 1}] for {K} classes, "
                             f"got {bad[:5].tolist()}")
        if not np.isfinite(logits).all():
            raise ValueError(f"{self!r}: logits contain NaN or infinity; the network has diverged "
                             "(try a smaller learning rate)")
        logp = log_softmax(logits, axis=1)                     # (N, K), float16 widened to float32
        loss = -logp[np.arange(N), labels].mean()
        self._cache = (np.exp(logp), labels, logits.dtype)
        return float(loss)

    def backward(self):
        """The gradient of the mean loss with respect to the logits, in their dtype."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: call forward first; backward needs its probabilities")
        probs, labels, dtype = self._cache
        N = probs.shape[0]
        dlogits = probs.copy()
        dlogits[np.arange(N), labels] -= 1
        dlogits /= N
        return dlogits.astype(dtype, copy=False)                # the logits' dtype

    @property
    def probs(self):
        """The softmax probabilities of the last forward call, ``(N, K)``."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: call forward first")
        probs, _, dtype = self._cache
        return probs.astype(dtype, copy=False)
