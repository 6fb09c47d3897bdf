"""Checks on backward passes (lesson 5): right answers pass, stubs and typical mistakes fail clearly."""
import numpy as np

from check_helpers import fails_with, not_written as stub, passes
from cnnlib.explore.checks import check_maxpool_backward, check_relu_backward


# ----------------------------------------------------------------------------- ReLU backward

def test_relu_backward_passes_new_array_versions(capsys):
    check_relu_backward(lambda dout, x: np.where(x > 0, dout, 0.0))
    check_relu_backward(lambda dout, x: dout * (x > 0))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("✓ relu_backward") for line in lines)


def test_relu_backward_stub():
    fails_with(check_relu_backward, stub, "not written yet")


def test_relu_backward_that_zeroes_dout_in_place():
    def in_place(dout, x):
        dout[x <= 0] = 0          # the classic tutorial line
        return dout
    message = fails_with(check_relu_backward, in_place, "changed dout in place", "new array",
                         "don't assign into dout")
    assert "np.where" not in message and "dout * (x > 0)" not in message     # no solution given away


def test_relu_backward_passing_the_gradient_at_zero():
    fails_with(check_relu_backward, lambda dout, x: np.where(x >= 0, dout, 0.0), "x == 0", "x > 0")


def test_relu_backward_typical_mix_ups():
    fails_with(check_relu_backward, lambda dout, x: (x > 0).astype(float), "mask itself")
    fails_with(check_relu_backward, lambda dout, x: np.where(dout > 0, dout, 0.0), "sign of dout")
    fails_with(check_relu_backward, lambda dout, x: np.maximum(x, 0), "forward output")
    fails_with(check_relu_backward, lambda dout, x: np.where(x > 0, 0.0, dout), "inverted")


def test_relu_backward_wrong_shape():
    fails_with(check_relu_backward, lambda dout, x: np.where(x > 0, dout, 0.0).ravel(), "shape")


# ----------------------------------------------------------------------------- max-pool backward

def maxpool_backward(dout, x, k, stride):
    N, C, H_out, W_out = dout.shape
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(H_out):
                for j in range(W_out):
                    window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
                    p, q = divmod(int(np.argmax(window)), k)
                    dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
    return dx


def test_maxpool_backward_passes_the_loop_version(capsys):
    passes(check_maxpool_backward, maxpool_backward, capsys, "maxpool_backward")


def test_maxpool_backward_that_calls_cnnlib_fails(capsys):
    """Issue 10: delegating to cnnlib gave a ✓; now the check names the call."""
    from cnnlib.ops import maxpool2d_backward, maxpool2d_forward

    def with_cnnlib(dout, x, k, stride):
        return maxpool2d_backward(dout, maxpool2d_forward(x, kernel_size=k, stride=stride)[1])
    fails_with(check_maxpool_backward, with_cnnlib,
               "your function called cnnlib.ops.maxpool2d_forward: write it yourself with NumPy")
    assert "✓" not in capsys.readouterr().out


def test_maxpool_backward_stub():
    fails_with(check_maxpool_backward, stub, "not written yet")


def test_maxpool_backward_giving_every_tie_the_gradient():
    def every_tie(dout, x, k, stride):
        N, C, H_out, W_out = dout.shape
        dx = np.zeros_like(x)
        for i in range(H_out):
            for j in range(W_out):
                rows, cols = slice(i * stride, i * stride + k), slice(j * stride, j * stride + k)
                window = x[:, :, rows, cols]
                mask = window == window.max(axis=(2, 3), keepdims=True)
                dx[:, :, rows, cols] += mask * dout[:, :, i:i + 1, j:j + 1]
        return dx
    fails_with(check_maxpool_backward, every_tie, "ALL of them", "first maximum")


def test_maxpool_backward_that_forgets_the_stride_is_named():
    def offset_typo(dout, x, k, stride):
        N, C, H_out, W_out = dout.shape
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(N, C, H_out, W_out):
            window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
            p, q = divmod(int(np.argmax(window)), k)
            dx[n, c, i + p, j + q] += dout[n, c, i, j]      # forgot "* stride"
        return dx
    fails_with(check_maxpool_backward, offset_typo, "i * stride + p", "Bug 1", "forgotten stride")


def test_maxpool_backward_that_ignores_the_stride_argument():
    def stride_is_k(dout, x, k, stride):     # right for stride == k, which is all a first try tests
        return maxpool_backward(dout, x, k, k)
    fails_with(check_maxpool_backward, stride_is_k, "overlap")


def test_maxpool_backward_that_overwrites_overlapping_windows():
    def overwrite(dout, x, k, stride):
        dx = np.zeros_like(x)
        for n, c, i, j in np.ndindex(*dout.shape):
            window = x[n, c, i * stride:i * stride + k, j * stride:j * stride + k]
            p, q = divmod(int(np.argmax(window)), k)
            dx[n, c, i * stride + p, j * stride + q] = dout[n, c, i, j]     # = instead of +=
        return dx
    fails_with(check_maxpool_backward, overwrite, "windows overlap", "`+=`")


def test_maxpool_backward_with_height_and_width_swapped():
    def swapped(dout, x, k, stride):
        N, C, W_out, H_out = dout.shape          # unpacked in the wrong order
        dx = np.zeros_like(x)
        for i in range(min(H_out, dout.shape[2])):
            for j in range(min(W_out, dout.shape[3])):
                window = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k].reshape(N, C, -1)
                win = window.argmax(axis=2)
                for n in range(N):
                    for c in range(C):
                        p, q = divmod(int(win[n, c]), k)
                        dx[n, c, i * stride + p, j * stride + q] += dout[n, c, i, j]
        return dx
    # Square cases pass; the first non-square one (6x8 after ReLU) exposes it.
    fails_with(check_maxpool_backward, swapped, "(2, 3, 6, 8)")


def test_maxpool_backward_that_writes_into_dout():
    def in_place(dout, x, k, stride):
        dx = maxpool_backward(dout, x, k, stride)
        dout *= 0
        return dx
    fails_with(check_maxpool_backward, in_place, "changed dout in place")


def test_maxpool_backward_that_raises_names_the_case_and_the_line():
    def broken(dout, x, k, stride):
        return x[10, 10, 10, 10]
    fails_with(check_maxpool_backward, broken, "IndexError", "(on one 4x4 image", "return x[10, 10, 10, 10]")
