"""cnnlib.layers: gradient checks for every input and parameter, and clear errors for bad input."""
import numpy as np
import pytest

from cnnlib.gradcheck import TOLERANCE, check_layer
from cnnlib.layers import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU

# Non-square, odd sizes; stride 1 and 2; padding 0 and 1; even and odd kernels.
CONV_CASES = [
    dict(stride=1, padding=0, k=3), dict(stride=1, padding=1, k=3),
    dict(stride=2, padding=0, k=3), dict(stride=2, padding=1, k=3),
    dict(stride=2, padding=1, k=2), dict(stride=1, padding=0, k=1),
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"k{c['k']}-s{c['stride']}-p{c['padding']}")
def test_conv2d_gradients(case, rng):
    layer = Conv2d(3, 4, case["k"], stride=case["stride"], padding=case["padding"], rng=rng)
    layer.params["b"] = rng.standard_normal(4)          # non-zero, asymmetric values everywhere
    x = rng.standard_normal((2, 3, 7, 9))
    errors = check_layer(layer, x, rng=1)
    assert set(errors) == {"x", "w", "b"}
    for name, err in errors.items():
        assert err < TOLERANCE, f"{layer!r}: relative error for {name} is {err:.2e}"


@pytest.mark.parametrize("layer_cls", [MaxPool2d, AvgPool2d])
@pytest.mark.parametrize("k, stride", [(2, None), (3, 2), (2, 1), (3, 3)])
def test_pooling_gradients(layer_cls, k, stride, rng):
    layer = layer_cls(k, stride)
    x = rng.standard_normal((2, 3, 7, 9))               # odd sizes: last rows/columns may be dropped
    errors = check_layer(layer, x, rng=1)
    assert errors["x"] < TOLERANCE, f"{layer!r}: relative error {errors['x']:.2e}"


@pytest.mark.parametrize("make_layer, shape", [
    (lambda rng: ReLU(), (3, 2, 5, 7)),
    (lambda rng: Flatten(), (3, 2, 5, 7)),
    (lambda rng: Linear(7, 5, rng=rng), (4, 7)),
], ids=["relu", "flatten", "linear"])
def test_other_layer_gradients(make_layer, shape, rng):
    layer = make_layer(rng)
    if "b" in layer.params:
        layer.params["b"] = rng.standard_normal(layer.params["b"].shape)
    # Keep ReLU inputs away from the kink at 0, where the derivative is undefined.
    x = rng.standard_normal(shape)
    x[np.abs(x) < 1e-3] = 0.5
    errors = check_layer(layer, x, rng=1)
    assert set(errors) == {"x"} | set(layer.params)
    for name, err in errors.items():
        assert err < TOLERANCE, f"{layer!r}: relative error for {name} is {err:.2e}"


def test_layers_keep_the_input_dtype_and_parameter_dtype(rng):
    conv = Conv2d(1, 2, 3, rng=rng)
    for dtype in (np.float32, np.float64):
        out = conv(rng.standard_normal((1, 1, 6, 6)).astype(dtype))
        assert out.dtype == dtype
        conv.backward(np.ones_like(out))
        assert conv.grads["w"].dtype == conv.params["w"].dtype == np.float64
    conv.astype(np.float32)
    assert conv.params["w"].dtype == conv.grads["w"].dtype == np.float32


def test_layers_read_parameters_updated_in_place(rng):
    fc = Linear(3, 2, rng=rng)
    x = rng.standard_normal((4, 3))
    before = fc(x)
    fc.params["b"] += 1.0                       # what an optimiser does
    np.testing.assert_allclose(fc(x), before + 1.0)


def test_forward_and_backward_never_modify_x_or_dout(rng):
    layers = [Conv2d(2, 3, 3, padding=1, rng=rng), MaxPool2d(2), AvgPool2d(2), ReLU(), Flatten()]
    x = rng.standard_normal((2, 2, 6, 5))
    for layer in layers:
        x_before = x.copy()
        out = layer(x)
        dout = rng.standard_normal(out.shape)
        dout_before = dout.copy()
        layer.backward(dout)
        np.testing.assert_array_equal(x, x_before, err_msg=repr(layer))
        np.testing.assert_array_equal(dout, dout_before, err_msg=repr(layer))


def test_reprs_are_readable():
    assert repr(Conv2d(1, 8, 3, padding=1, rng=0)) == "Conv2d(1→8, k=3, stride=1, padding=1)"
    assert repr(MaxPool2d(2)) == "MaxPool2d(k=2, stride=2)"
    assert repr(Linear(256, 10, rng=0)) == "Linear(256→10)"


def test_parameter_shapes_follow_the_api():
    conv = Conv2d(3, 8, 5, rng=0)
    assert conv.params["w"].shape == (8, 3, 5, 5) and conv.params["b"].shape == (8,)
    assert set(conv.grads) == set(conv.params)
    fc = Linear(256, 128, rng=0)
    assert fc.params["w"].shape == (256, 128) and fc.params["b"].shape == (128,)


def test_seeded_initialisation_is_reproducible_and_he_scaled():
    a, b = Conv2d(8, 16, 5, rng=3), Conv2d(8, 16, 5, rng=3)
    np.testing.assert_array_equal(a.params["w"], b.params["w"])
    big = Linear(2000, 500, rng=0).params["w"]
    assert abs(big.std() - np.sqrt(2 / 2000)) < 0.01 * np.sqrt(2 / 2000)


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("make, x, message", [
    (lambda: Conv2d(1, 8, 3, rng=0), np.zeros((1, 28, 28)), r"Conv2d\(1→8.*expected input of shape \(N, 1, H, W\), got shape \(1, 28, 28\)"),
    (lambda: Conv2d(1, 8, 3, rng=0), np.zeros((2, 3, 28, 28)), r"expected 1 input channel\(s\), got 3"),
    (lambda: Conv2d(1, 8, 5, rng=0), np.zeros((1, 1, 4, 4)), r"Conv2d\(1→8, k=5.*input 4x4 is smaller than the kernel 5x5"),
    (lambda: Conv2d(1, 8, 3, rng=0), np.full((1, 1, 5, 5), np.nan), "NaN or infinity"),
    (lambda: Conv2d(1, 8, 3, rng=0), np.zeros((1, 1, 5, 5), dtype=np.uint8), r"Conv2d\(1→8.*floating-point array, got dtype uint8"),
    (lambda: Conv2d(1, 8, 3, rng=0), np.zeros((0, 1, 5, 5)), "empty batch"),
    (lambda: MaxPool2d(2), np.zeros((1, 1, 1, 5)), r"MaxPool2d\(k=2.*smaller than the pooling window"),
    (lambda: MaxPool2d(2), np.zeros((5, 5)), r"expected input of shape \(N, C, H, W\)"),
    (lambda: MaxPool2d(2), np.array([[[[np.inf, 0.0], [0.0, 0.0]]]]), "NaN or infinity"),
    (lambda: Linear(256, 10, rng=0), np.zeros((2, 16, 4, 4)), "Flatten"),
    (lambda: Linear(256, 10, rng=0), np.zeros((2, 255)), r"Linear\(256→10\): expected input of shape \(N, 256\), got shape \(2, 255\)"),
    (lambda: ReLU(), np.array([[1.0, np.nan]]), "NaN or infinity"),
    (lambda: ReLU(), np.array([1.0, 2.0]), r"expected input of shape \(N, ...\)"),
])
def test_bad_input_gets_a_clear_error(make, x, message):
    layer = make()
    with pytest.raises(ValueError, match=message):
        layer.forward(x)


@pytest.mark.parametrize("make, message", [
    (lambda: Conv2d(1, 8, 0), "Conv2d: kernel_size must be an integer >= 1, got 0"),
    (lambda: Conv2d(1, 8, 3, stride=0), "Conv2d: stride must be an integer >= 1"),
    (lambda: Conv2d(1, 8, 3, padding=-1), "Conv2d: padding must be an integer >= 0"),
    (lambda: Conv2d(0, 8, 3), "Conv2d: in_channels must be an integer >= 1"),
    (lambda: Conv2d(1, 8, 2.5), "Conv2d: kernel_size must be an integer >= 1, got 2.5"),
    (lambda: Conv2d(1, True, 3), "Conv2d: out_channels must be an integer >= 1, got True"),
    (lambda: MaxPool2d(0), "MaxPool2d: kernel_size must be an integer >= 1"),
    (lambda: AvgPool2d(2, stride=0), "AvgPool2d: stride must be an integer >= 1"),
    (lambda: Linear(0, 3), "Linear: in_features must be an integer >= 1"),
])
def test_bad_constructor_arguments_get_a_clear_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("layer", [Conv2d(1, 2, 3, rng=0), MaxPool2d(2), AvgPool2d(2), ReLU(), Flatten(), Linear(3, 2, rng=0)],
                         ids=repr)
def test_backward_before_forward_is_a_runtime_error(layer):
    with pytest.raises(RuntimeError, match="call forward first"):
        layer.backward(np.zeros((1, 2)))


def test_backward_rejects_dout_of_the_wrong_shape_or_nan(rng):
    conv = Conv2d(1, 2, 3, rng=rng)
    out = conv(rng.standard_normal((2, 1, 6, 7)))
    with pytest.raises(ValueError, match=r"dout has shape \(2, 2, 4, 4\), but the forward output had shape \(2, 2, 4, 5\)"):
        conv.backward(np.zeros((2, 2, 4, 4)))
    with pytest.raises(ValueError, match="NaN or infinity"):
        conv.backward(np.full(out.shape, np.nan))
