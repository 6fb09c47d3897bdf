"""The exercise checks of lessons 1-3: right answers pass, typical wrong answers fail in plain words."""
import numpy as np
import pytest

from cnnlib.checks import (CheckFailed, check_conv2d_single, check_maxpool, check_mlp_param_count,
                           check_output_shape)


def not_written(*args):
    raise NotImplementedError


def fails_with(check, fn, *fragments):
    """Run ``check(fn)``; assert it fails and its message contains every fragment."""
    with pytest.raises(CheckFailed) as info:
        check(fn)
    message = str(info.value)
    assert message.startswith("✗"), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return message


# ---------------------------------------------------------------- lesson 1: parameter count

def mlp_params(input_shape, hidden_sizes, n_classes):
    sizes = [int(np.prod(input_shape))] + list(hidden_sizes) + [n_classes]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def test_mlp_param_count_passes_a_correct_solution(capsys):
    assert check_mlp_param_count(mlp_params) is None
    out = capsys.readouterr().out
    assert out.startswith("✓ mlp_param_count") and "5 test networks (not shown)" in out


def test_mlp_param_count_not_written_yet():
    fails_with(check_mlp_param_count, not_written, "not written yet")


def test_mlp_param_count_names_forgotten_biases():
    def weights_only(input_shape, hidden_sizes, n_classes):
        sizes = [int(np.prod(input_shape))] + list(hidden_sizes) + [n_classes]
        return sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    fails_with(check_mlp_param_count, weights_only, "weights alone", "bias")


def test_mlp_param_count_names_a_missing_width():
    def height_squared(input_shape, hidden_sizes, n_classes):
        C, H, W = input_shape
        return mlp_params((C, H, H), hidden_sizes, n_classes)
    fails_with(check_mlp_param_count, height_squared, "H*H*C", "C*H*W")


def test_mlp_param_count_names_missing_channels():
    def no_channels(input_shape, hidden_sizes, n_classes):
        return mlp_params((1,) + tuple(input_shape[1:]), hidden_sizes, n_classes)
    fails_with(check_mlp_param_count, no_channels, "channels are missing")


def test_mlp_param_count_rejects_floats_and_wrong_numbers():
    fails_with(check_mlp_param_count, lambda *a: float(mlp_params(*a)), "should be an int", "float")
    fails_with(check_mlp_param_count, lambda *a: mlp_params(*a) + 1, "expected 79,510", "n_in*n_out")
    fails_with(check_mlp_param_count, lambda *a: None, "None", "return")


# ---------------------------------------------------------------- lesson 2: output shape

def output_shape(H, W, KH, KW, stride=1, padding=0):
    return (H + 2 * padding - KH) // stride + 1, (W + 2 * padding - KW) // stride + 1


def test_output_shape_passes_a_correct_solution(capsys):
    assert check_output_shape(output_shape) is None
    assert "✓ output_shape" in capsys.readouterr().out


def test_output_shape_not_written_yet():
    fails_with(check_output_shape, not_written, "not written yet")


def test_output_shape_names_swapped_height_and_width():
    fails_with(check_output_shape, lambda *a: output_shape(*a)[::-1], "swapped")


def test_output_shape_names_off_by_one():
    def no_plus_one(H, W, KH, KW, stride, padding):
        return (H + 2 * padding - KH) // stride, (W + 2 * padding - KW) // stride
    fails_with(check_output_shape, no_plus_one, "off by one", "+ 1")


def test_output_shape_names_true_division_and_single_padding():
    def true_division(H, W, KH, KW, stride, padding):
        return (H + 2 * padding - KH) / stride + 1, (W + 2 * padding - KW) / stride + 1
    fails_with(check_output_shape, true_division, "//")

    def padding_once(H, W, KH, KW, stride, padding):
        return (H + padding - KH) // stride + 1, (W + padding - KW) // stride + 1
    fails_with(check_output_shape, padding_once, "both sides")


def test_output_shape_wants_a_pair():
    fails_with(check_output_shape, lambda H, W, KH, KW, s, p: (H - KH) // s + 1, "pair (H_out, W_out)")


# ---------------------------------------------------------------- lesson 2: one-image convolution

def conv2d_single(image, kernel):
    H, W = image.shape
    KH, KW = kernel.shape
    out = np.zeros((H - KH + 1, W - KW + 1))
    for i in range(H - KH + 1):
        for j in range(W - KW + 1):
            out[i, j] = np.sum(image[i:i + KH, j:j + KW] * kernel)
    return out


def test_conv2d_single_passes_a_correct_solution(capsys):
    assert check_conv2d_single(conv2d_single) is None
    assert "✓ conv2d_single" in capsys.readouterr().out


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
    assert check_maxpool(maxpool) is None
    assert "✓ maxpool" in capsys.readouterr().out


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


def test_checks_reject_non_functions():
    for check in (check_mlp_param_count, check_output_shape, check_conv2d_single, check_maxpool):
        fails_with(check, 42, "expected a function")


def test_a_crash_names_the_case():
    def first_hidden(input_shape, hidden_sizes, n_classes):
        n_in = int(np.prod(input_shape))
        return mlp_params(input_shape, hidden_sizes, n_classes) + 0 * hidden_sizes[0] * n_in
    message = fails_with(check_mlp_param_count, first_hidden, "IndexError",
                         "(input_shape=(1, 5, 7), hidden_sizes=[], n_classes=3)",
                         "in your code, line")
    assert "hidden_sizes[0]" in message


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
