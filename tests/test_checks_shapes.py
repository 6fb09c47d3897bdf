"""Checks on sizes (lessons 1-2): right answers pass, typical wrong answers fail in plain words."""
import numpy as np

from check_helpers import fails_with, not_written, passes
from cnnlib.explore.checks import check_mlp_param_count, check_output_shape


# ---------------------------------------------------------------- lesson 1: parameter count

def mlp_params(input_shape, hidden_sizes, n_classes):
    sizes = [int(np.prod(input_shape))] + list(hidden_sizes) + [n_classes]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def test_mlp_param_count_passes_a_correct_solution(capsys):
    out = passes(check_mlp_param_count, mlp_params, capsys, "mlp_param_count")
    assert "5 test networks (not shown)" in out


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
    passes(check_output_shape, output_shape, capsys, "output_shape")


def test_output_shape_not_written_yet():
    fails_with(check_output_shape, not_written, "not written yet")


def test_output_shape_names_swapped_height_and_width():
    fails_with(check_output_shape, lambda *a: output_shape(*a)[::-1], "swapped")


def test_output_shape_names_off_by_one():
    def no_plus_one(H, W, KH, KW, stride, padding):
        return (H + 2 * padding - KH) // stride, (W + 2 * padding - KW) // stride
    message = fails_with(check_output_shape, no_plus_one, "off by one", "count the windows")
    assert "// stride + 1" not in str(message), "a wrong try must not be answered with the formula it asks for"


def test_output_shape_names_true_division_and_single_padding():
    def true_division(H, W, KH, KW, stride, padding):
        return (H + 2 * padding - KH) / stride + 1, (W + 2 * padding - KW) / stride + 1
    fails_with(check_output_shape, true_division, "//")

    def padding_once(H, W, KH, KW, stride, padding):
        return (H + padding - KH) // stride + 1, (W + padding - KW) // stride + 1
    fails_with(check_output_shape, padding_once, "both sides")


def test_output_shape_wants_a_pair():
    fails_with(check_output_shape, lambda H, W, KH, KW, s, p: (H - KH) // s + 1, "pair (H_out, W_out)")


def test_checks_reject_non_functions():
    for check in (check_mlp_param_count, check_output_shape):
        fails_with(check, 42, "expected a function")


def test_a_crash_names_the_case():
    def first_hidden(input_shape, hidden_sizes, n_classes):
        n_in = int(np.prod(input_shape))
        return mlp_params(input_shape, hidden_sizes, n_classes) + 0 * hidden_sizes[0] * n_in
    message = fails_with(check_mlp_param_count, first_hidden, "IndexError",
                         "(input_shape=(1, 5, 7), hidden_sizes=[], n_classes=3)",
                         "in your code, line")
    assert "hidden_sizes[0]" in message
