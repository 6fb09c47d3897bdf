"""Planted bugs: layers with the classic backward-pass slips of published tutorials.

May import: NumPy and the cnnlib core.

Lesson 5 shows what a gradient check says about each one. They live here, not in the
lesson, because each is a correct solution of one of the learner's exercises with one line
changed: the lesson describes the wrong line, and the learner writes the right version
in ``my_cnn.py`` themselves.

* :class:`MaxPoolOffsetTypo`: max-pool backward that puts window ``(i, j)``'s gradient at
  row ``i + p`` instead of ``i * stride + p`` (the stride forgotten).
* :class:`ConvHWTypo`: a loop convolution backward whose row loop runs to the output
  *width*; on square inputs nothing is wrong.
"""
import numpy as np

from cnnlib import ops
from cnnlib.layers import Conv2d, MaxPool2d

__all__ = ["ConvHWTypo", "MaxPoolOffsetTypo"]


class MaxPoolOffsetTypo(MaxPool2d):
    """MaxPool2d whose backward pass forgets the stride when it places the winner's gradient.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> layer = MaxPoolOffsetTypo(2)
    >>> layer.backward(np.ones_like(layer.forward(x)))[0, 0]
    array([[0., 0., 0., 0.],
           [0., 1., 1., 0.],
           [0., 1., 1., 0.],
           [0., 0., 0., 0.]])

    (The four winners sit at rows and columns 1 and 3; the gradient lands at 1 and 2.)
    """

    def forward(self, x):
        out, self._typo_cache = ops.maxpool2d_forward(x, kernel_size=self.kernel_size, stride=self.stride)
        return out

    def backward(self, dout, *, input_grad=True):
        x_shape, winner, k, _ = self._typo_cache
        dx = np.zeros(x_shape)
        for n, c, i, j in np.ndindex(*dout.shape):
            p, q = divmod(int(winner[n, c, i, j]), k)
            dx[n, c, i + p, j + q] += dout[n, c, i, j]          # the slip: i + p, not i * stride + p
        return dx


class ConvHWTypo(Conv2d):
    """Conv2d whose loop backward pass runs its row loop to W_out instead of H_out.

    On a tall input the bottom rows of ``dout`` are never sent back (``dx`` and ``dw`` come
    out wrong); on a square one the slip changes nothing.
    """

    def forward(self, x):
        self._typo_x = x
        return super().forward(x)

    def backward(self, dout, *, input_grad=True):
        x, w, s, pad = self._typo_x, self.params["w"], self.stride, self.padding
        N, C_out, _, W_out = dout.shape
        KH, KW = w.shape[2:]
        xp = ops.pad2d(x, pad)
        dxp, dw = np.zeros_like(xp), np.zeros_like(w)
        for n, o, i, j in np.ndindex(N, C_out, W_out, W_out):   # the slip: W_out where H_out belongs
            window = (n, slice(None), slice(i * s, i * s + KH), slice(j * s, j * s + KW))
            dw[o] += dout[n, o, i, j] * xp[window]
            dxp[window] += dout[n, o, i, j] * w[o]
        self.grads["w"], self.grads["b"] = dw, dout.sum(axis=(0, 2, 3))
        return dxp[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]]
