"""Checks on sliding windows (lessons 2-3): right answers pass, typical wrong answers fail in plain words."""
import numpy as np

from check_helpers import conv2d_single, fails_with, not_written, passes
from cnnlib.explore.checks import check_conv2d_single, check_maxpool


# ---------------------------------------------------------------- lesson 2: one-image convolution
# (the right answer, conv2d_single, is in check_helpers: test_checks_runner.py uses it too)

def test_conv2d_single_passes_a_correct_solution(capsys):
    passes(check_conv2d_single, conv2d_single, capsys, "conv2d_single")


def test_conv2d_single_not_written_yet():
    fails_with(check_conv2d_single, not_written, "not written yet")


def test_conv2d_single_names_off_by_one():
    def short_loops(image, kernel):
        H, W = image.shape
        KH, KW = kernel.shape
        out = np.zeros((H - KH, W - KW))
        for i in range(H - KH):
            for j in range(W - KW):
                out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
        return out
    fails_with(check_conv2d_single, short_loops, "off by one", "H - KH + 1")


def test_conv2d_single_names_swapped_axes():
    fails_with(check_conv2d_single, lambda image, kernel: conv2d_single(image, kernel).T, "swapped")


def test_conv2d_single_names_a_flipped_kernel():
    fails_with(check_conv2d_single, lambda image, kernel: conv2d_single(image, kernel[::-1, ::-1]),
               "flipped", "cross-correlation")


def test_conv2d_single_names_wrong_values_and_in_place_edits():
    def plus_one(image, kernel):
        return conv2d_single(image, kernel) + 1.0
    message = fails_with(check_conv2d_single, plus_one, "wrong at index (0, 0)")
    assert "image 5x5, kernel 3x3" in message

    def scribbles(image, kernel):
        image[0, 0] = 99.0
        return conv2d_single(image, kernel)
    fails_with(check_conv2d_single, scribbles, "changed its first argument")


def test_conv2d_single_names_same_padding_as_wrong_shape():
    def same_size(image, kernel):
        return np.zeros_like(image)
    fails_with(check_conv2d_single, same_size, "shape (5, 5), expected (3, 3)")


# ---------------------------------------------------------------- lesson 3: max pooling

def maxpool(x, kernel_size, stride):
    H_out = (x.shape[0] - kernel_size) // stride + 1
    W_out = (x.shape[1] - kernel_size) // stride + 1
    out = np.empty((H_out, W_out))
    for i in range(H_out):
        for j in range(W_out):
            out[i, j] = x[i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size].max()
    return out


def test_maxpool_passes_a_correct_solution(capsys):
    passes(check_maxpool, maxpool, capsys, "maxpool")


def test_maxpool_not_written_yet():
    fails_with(check_maxpool, not_written, "not written yet")


def test_maxpool_names_average_pooling():
    def average(x, kernel_size, stride):
        H_out = (x.shape[0] - kernel_size) // stride + 1
        W_out = (x.shape[1] - kernel_size) // stride + 1
        return np.array([[x[i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size].mean()
                          for j in range(W_out)] for i in range(H_out)])
    fails_with(check_maxpool, average, "average")


def test_maxpool_names_ceil_sizes_as_off_by_one():
    def ceil_sizes(x, kernel_size, stride):
        H_out = -(-(x.shape[0] - kernel_size) // stride) + 1
        W_out = -(-(x.shape[1] - kernel_size) // stride) + 1
        return np.array([[x[i * stride:i * stride + kernel_size, j * stride:j * stride + kernel_size].max()
                          for j in range(W_out)] for i in range(H_out)])
    fails_with(check_maxpool, ceil_sizes, "off by one", "dropped")


def test_maxpool_names_swapped_axes_and_zero_start():
    fails_with(check_maxpool, lambda x, k, s: maxpool(x, k, s).T, "swapped")
    fails_with(check_maxpool, lambda x, k, s: np.maximum(maxpool(x, k, s), 0), "start the running maximum")


def test_maxpool_names_a_wrong_value():
    def wrong_corner(x, kernel_size, stride):
        out = maxpool(x, kernel_size, stride)
        out[-1, -1] += 0.5
        return out
    fails_with(check_maxpool, wrong_corner, "wrong at index (1, 1)", "x 4x4")


def test_an_answer_that_calls_the_loop_versions_is_named_and_fails():
    # The loops the lessons show moved out of cnnlib.ops into cnnlib.explore.loops; the
    # lockout still switches them off, and names them (not the argument check they call first).
    from cnnlib.explore import loops

    def conv_via_loops(image, kernel):
        return loops.conv2d_forward_naive(image[None, None], kernel[None, None], np.zeros(1))[0][0, 0]

    def pool_via_loops(x, kernel_size, stride):
        return loops.maxpool2d_forward_naive(x[None, None], kernel_size=kernel_size, stride=stride)[0][0, 0]
    fails_with(check_conv2d_single, conv_via_loops,
               "your function called cnnlib.explore.loops.conv2d_forward_naive: write it yourself with NumPy")
    fails_with(check_maxpool, pool_via_loops,
               "your function called cnnlib.explore.loops.maxpool2d_forward_naive: write it yourself with NumPy")


def test_checks_reject_non_functions():
    for check in (check_conv2d_single, check_maxpool):
        fails_with(check, 42, "expected a function")


def test_conv2d_single_names_an_int_output_array():
    def int_output(image, kernel):
        H, W = image.shape
        KH, KW = kernel.shape
        out = np.zeros((H - KH + 1, W - KW + 1), dtype=int)
        for i in range(H - KH + 1):
            for j in range(W - KW + 1):
                out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
        return out
    fails_with(check_conv2d_single, int_output, "is wrong at index", "whole numbers", "int array")


def test_a_right_answer_with_a_small_mistake_gets_no_int_hint():
    def off_a_bit(image, kernel):
        return conv2d_single(image, kernel) + 0.01
    message = fails_with(check_conv2d_single, off_a_bit, "is wrong at index")
    assert "int array" not in message


# ---------------------------------------------------------------- a broadcasting error, in this lesson's words

def test_a_window_cut_short_gets_the_window_words_not_lesson_4s():
    """A loop over every pixel slices short windows at the edge; the hint is about windows, not keepdims."""
    def every_pixel(image, kernel):
        H, W = image.shape
        KH, KW = kernel.shape
        out = np.zeros((H, W))
        for i in range(H):
            for j in range(W):
                out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
        return out
    message = fails_with(check_conv2d_single, every_pixel, "raised ValueError", "window (i, j) is image[i:i + KH, "
                         "j:j + KW]", "H - KH + 1 windows down")
    assert "keepdims" not in message


def test_a_pooled_map_of_the_wrong_size_gets_the_window_words():
    def too_many_windows(x, k, stride):
        H_out, W_out = x.shape[0] // stride, x.shape[1] // stride
        out = x[:stride * H_out:stride, :stride * W_out:stride]
        for p in range(k):
            for q in range(k):
                out = np.maximum(out, x[p:p + stride * H_out:stride, q:q + stride * W_out:stride])
        return out
    message = fails_with(check_maxpool, too_many_windows, "raised ValueError",
                         "a window is x[i*stride:i*stride + k, j*stride:j*stride + k]", "(H - k)//stride + 1")
    assert "keepdims" not in message
