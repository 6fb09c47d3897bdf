"""Issue 13's layers: BatchNorm2d, Dropout, train/eval, Residual, saving them, SGD's weight decay, AdamW.

PyTorch is not installed here, so each expected value comes from PyTorch's documented
definitions, worked out by hand (the literal arrays) or written out in NumPy beside the test.
"""
import io
import json
import pathlib
import zipfile

import numpy as np
import pytest

import cnnlib
from cnnlib.gradcheck import TOLERANCE, check_layer, numerical_gradient, relative_error
from cnnlib.layers import LAYER_TYPES, AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU
from cnnlib.model import Residual, Sequential, residual_block
from cnnlib.optim import SGD, Adam, AdamW

DATA = pathlib.Path(__file__).parent / "data"


def assert_gradients_pass(errors, layer, grads=None, *, zero=()):
    """Every relative error below TOLERANCE, except the gradients named in ``zero``, which must be 0:
    a bias just before a BatchNorm2d in training is subtracted again with the batch mean, so its
    true gradient is 0 and the relative error of two roundings of 0 means nothing."""
    for name, err in errors.items():
        if name in zero:
            assert np.abs(grads[name]).max() < 1e-12, f"{layer!r}: gradient of {name} should be 0"
        else:
            assert err < TOLERANCE, f"{layer!r}: relative error for {name} is {err:.2e}"


# ---------------------------------------------------------------------------- BatchNorm2d

# Two channels, each with four values of mean and biased variance worked out by hand:
# channel 0: -3, 1, 1, 1 -> mean 0, var (9 + 1 + 1 + 1) / 4 = 3; channel 1: 4, 4, 4, 0 -> mean 3, var 3.
BN_X = np.array([[[[-3.0, 1.0]], [[4.0, 4.0]]],
                 [[[1.0, 1.0]], [[4.0, 0.0]]]])            # (N=2, C=2, H=1, W=2)


def test_batchnorm_training_forward_by_hand():
    bn = BatchNorm2d(2, eps=1.0)                           # sqrt(var + eps) = sqrt(4) = 2
    bn.params["gamma"] = np.array([2.0, -1.0])
    bn.params["beta"] = np.array([0.5, 0.0])
    out = bn(BN_X)
    # x_hat: channel 0 (-1.5, .5, .5, .5), channel 1 (.5, .5, .5, -1.5); out = gamma * x_hat + beta
    np.testing.assert_allclose(out, [[[[-2.5, 1.5]], [[-0.5, -0.5]]],
                                     [[[1.5, 1.5]], [[-0.5, 1.5]]]])
    # running = 0.9 * running + 0.1 * batch, the variance unbiased: 3 * 4/3 = 4
    np.testing.assert_allclose(bn.running_mean, [0.0, 0.3])
    np.testing.assert_allclose(bn.running_var, [0.9 + 0.4, 0.9 + 0.4])


def test_batchnorm_evaluation_forward_by_hand():
    bn = BatchNorm2d(2, eps=1.0).eval()
    bn.params["gamma"] = np.array([2.0, -1.0])
    bn.params["beta"] = np.array([0.5, 0.0])
    bn.buffers["running_mean"] = np.array([1.0, 2.0])
    bn.buffers["running_var"] = np.array([3.0, 8.0])        # sqrt(var + 1): 2 and 3
    out = bn(BN_X)
    # channel 0: (x - 1) / 2 * 2 + 0.5 = x - 0.5; channel 1: -(x - 2) / 3
    np.testing.assert_allclose(out, [[[[-3.5, 0.5]], [[-2 / 3, -2 / 3]]],
                                     [[[0.5, 0.5]], [[-2 / 3, 2 / 3]]]])
    np.testing.assert_array_equal(bn.running_mean, [1.0, 2.0])   # evaluation leaves them alone


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batchnorm_gradients(training):
    data = np.random.default_rng(10)
    bn = BatchNorm2d(3, momentum=0.2).train(training)
    bn.params["gamma"] = data.standard_normal(3)
    bn.params["beta"] = data.standard_normal(3)
    bn.buffers["running_mean"] = data.standard_normal(3)
    bn.buffers["running_var"] = data.random(3) + 0.5
    x = data.standard_normal((3, 3, 5, 7)) * 2 + 1
    errors = check_layer(bn, x, rng=1)
    assert set(errors) == {"x", "gamma", "beta"}
    assert_gradients_pass(errors, bn)


def test_batchnorm_running_statistics_over_three_batches_match_the_formula():
    data = np.random.default_rng(11)
    momentum = 0.3
    bn = BatchNorm2d(4, momentum=momentum)
    mean, var = np.zeros(4), np.ones(4)
    for shape in [(5, 4, 3, 2), (2, 4, 6, 5), (7, 4, 1, 3)]:
        x = data.standard_normal(shape) * np.array([1.0, 2.0, 0.5, 3.0])[:, None, None] - 2.0
        bn(x)
        mean = (1 - momentum) * mean + momentum * x.mean(axis=(0, 2, 3))
        var = (1 - momentum) * var + momentum * x.var(axis=(0, 2, 3), ddof=1)      # unbiased
    np.testing.assert_allclose(bn.running_mean, mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var, var, rtol=1e-12)


def test_batchnorm_train_uses_the_batch_and_eval_the_running_statistics():
    data = np.random.default_rng(12)
    bn = BatchNorm2d(2)
    for _ in range(20):
        bn(data.standard_normal((8, 2, 4, 4)) * 3 + 1)
    x = data.standard_normal((4, 2, 4, 4)) * 3 + 1
    train_out = bn(x)
    # In training each image's output depends on the rest of the batch ...
    assert not np.allclose(bn(x[:1]), train_out[:1])
    # ... in evaluation it does not, and the running statistics stay put.
    bn.eval()
    before = bn.running_mean.copy(), bn.running_var.copy()
    np.testing.assert_allclose(bn(x[:1]), bn(x)[:1], rtol=1e-12)
    np.testing.assert_array_equal(bn.running_mean, before[0])
    np.testing.assert_array_equal(bn.running_var, before[1])
    expected = (x - bn.running_mean[:, None, None]) / np.sqrt(bn.running_var[:, None, None] + 1e-5)
    np.testing.assert_allclose(bn(x), expected, rtol=1e-12)


@pytest.mark.parametrize("make, x, words", [
    (lambda: BatchNorm2d(3), np.zeros((2, 4, 5, 5)), "BatchNorm2d(3): expected input of shape (N, 3, H, W), "
                                                     "got shape (2, 4, 5, 5)"),
    (lambda: BatchNorm2d(3).eval(), np.zeros((2, 4, 5, 5)), "expected input of shape (N, 3, H, W)"),
    (lambda: BatchNorm2d(3), np.zeros((2, 3)), "got shape (2, 3)"),
    (lambda: BatchNorm2d(1), np.full((2, 1, 3, 3), np.nan), "BatchNorm2d(1): input contains NaN"),
    (lambda: BatchNorm2d(2), np.zeros((1, 2, 1, 1)), "more than one value per channel"),
], ids=["channels", "channels-eval", "2d", "nan", "one-value"])
def test_batchnorm_bad_inputs(make, x, words):
    with pytest.raises(ValueError) as error:
        make()(x)
    assert words in str(error.value)


def test_batchnorm_one_value_per_channel_is_fine_in_evaluation():
    assert BatchNorm2d(2).eval()(np.ones((1, 2, 1, 1))).shape == (1, 2, 1, 1)


@pytest.mark.parametrize("kwargs, words", [
    (dict(num_features=0), "num_features must be an integer >= 1"),
    (dict(num_features=2, momentum=-0.1), r"momentum must be a number in [0, 1]"),
    (dict(num_features=2, momentum=1.5), r"momentum must be a number in [0, 1]"),
    (dict(num_features=2, momentum=float("nan")), "momentum must be a number"),
    (dict(num_features=2, eps=0.0), "eps must be a number in (0, inf)"),
    (dict(num_features=2, eps="1e-5"), "eps must be a number"),
])
def test_batchnorm_bad_arguments(kwargs, words):
    with pytest.raises(ValueError) as error:
        BatchNorm2d(**kwargs)
    assert words in str(error.value)


def test_batchnorm_float32_stays_float32():
    data = np.random.default_rng(13)
    bn = BatchNorm2d(3)
    x = data.standard_normal((2, 3, 4, 5)).astype(np.float32)
    out = bn(x)
    assert out.dtype == np.float32 and bn.backward(np.ones_like(out)).dtype == np.float32
    bn.astype(np.float32)
    out = bn(x)
    dx = bn.backward(np.ones_like(out))
    assert out.dtype == dx.dtype == np.float32
    assert {a.dtype for a in [*bn.params.values(), *bn.grads.values(), bn.running_mean, bn.running_var]} == \
        {np.dtype(np.float32)}
    assert bn.eval()(x).dtype == np.float32


# ---------------------------------------------------------------------------- Dropout

def test_dropout_forward_and_backward_by_the_definition():
    x = np.arange(1.0, 13.0).reshape(3, 4)
    layer = Dropout(0.25, rng=5)
    out = layer(x)
    keep = np.random.default_rng(5).random(x.shape) >= 0.25    # the same draws: the layer's rng
    np.testing.assert_allclose(out, np.where(keep, x / 0.75, 0.0), rtol=1e-15)
    dout = np.full(x.shape, 3.0)
    np.testing.assert_array_equal(layer.backward(dout), np.where(keep, 4.0, 0.0))   # 3 / 0.75, same mask
    assert 0 < keep.sum() < keep.size


def test_dropout_keeps_the_expected_value_and_drops_a_fraction_p():
    x = np.ones((200, 500))
    out = Dropout(0.3, rng=0)(x)
    assert abs((out == 0).mean() - 0.3) < 0.01
    assert abs(out.mean() - 1.0) < 0.02
    assert set(np.unique(out)) == {0.0, 1 / 0.7}


def test_dropout_gradient_with_a_fixed_mask():
    class FixedMaskDropout(Dropout):
        """Draws the same mask on every forward, so finite differences see one function."""

        def forward(self, x):
            self.rng = np.random.default_rng(7)
            return super().forward(x)

    layer = FixedMaskDropout(0.4)
    x = np.random.default_rng(14).standard_normal((3, 2, 5, 3))
    errors = check_layer(layer, x, rng=1)
    assert set(errors) == {"x"}
    assert_gradients_pass(errors, layer)


def test_dropout_in_evaluation_and_with_p_0_is_the_identity():
    x = np.random.default_rng(15).standard_normal((4, 6))
    layer = Dropout(0.5, rng=0).eval()
    out = layer(x)
    np.testing.assert_array_equal(out, x)
    assert out is not x
    dout = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(dout), dout)
    np.testing.assert_array_equal(Dropout(0.0, rng=0)(x), x)


def test_dropout_is_seeded():
    x = np.ones((5, 7))
    np.testing.assert_array_equal(Dropout(rng=3)(x), Dropout(rng=3)(x))
    assert not np.array_equal(Dropout(rng=3)(x), Dropout(rng=4)(x))


@pytest.mark.parametrize("p, words", [
    (1.0, "p must be a number in [0, 1), got 1.0"), (-0.1, "p must be a number in [0, 1)"),
    (float("nan"), "p must be a number"), (True, "got True"), ("0.5", "got '0.5'"),
])
def test_dropout_refuses_p_out_of_range(p, words):
    with pytest.raises(ValueError) as error:
        Dropout(p)
    assert words in str(error.value)


def test_dropout_bad_inputs():
    with pytest.raises(ValueError, match=r"Dropout\(p=0.5\): input contains NaN"):
        Dropout()(np.array([[1.0, np.nan]]))
    layer = Dropout().eval()
    layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"dout has shape \(3, 2\)"):
        layer.backward(np.ones((3, 2)))
    with pytest.raises(RuntimeError, match="call forward first"):
        Dropout().backward(np.ones((2, 3)))


def test_dropout_float32_stays_float32():
    x = np.ones((3, 4), dtype=np.float32)
    layer = Dropout(0.5, rng=0)
    out = layer(x)
    assert out.dtype == layer.backward(np.ones_like(out)).dtype == np.float32


# ---------------------------------------------------------------------------- train() and eval()

def every_layer():
    return [Conv2d(1, 2, 3, rng=0), MaxPool2d(2), AvgPool2d(2), ReLU(), Flatten(), Linear(2, 3, rng=0),
            BatchNorm2d(2), Dropout(rng=0), Residual(ReLU())]


def test_every_layer_type_has_train_and_eval():
    assert set(LAYER_TYPES) <= {type(layer).__name__ for layer in every_layer()}
    for layer in every_layer():
        assert layer.training is True
        assert layer.eval() is layer and layer.training is False
        assert layer.train() is layer and layer.training is True
        assert layer.train(False) is layer and layer.training is False
    with pytest.raises(ValueError, match="train.mode. takes True or False"):
        ReLU().train("no")


def test_sequential_train_and_eval_reach_every_layer_and_residual_bodies():
    inner = Residual([BatchNorm2d(2), Dropout(rng=0)])
    block = Residual([Conv2d(2, 2, 3, padding=1, rng=0), inner], shortcut=[BatchNorm2d(2)])
    model = Sequential(BatchNorm2d(2), block, Dropout(rng=1))
    nested = [model[0], block, *block.body.layers, *inner.body.layers, *block.shortcut.layers, model[2]]
    assert model.training and all(layer.training for layer in nested)
    assert model.eval() is model
    assert not model.training and not any(layer.training for layer in nested)
    assert model.train() is model and all(layer.training for layer in nested)


# ---------------------------------------------------------------------------- Residual

def test_residual_forward_by_hand():
    fc = Linear(2, 2, rng=0)
    fc.params["w"] = np.array([[1.0, 2.0], [3.0, 4.0]])
    fc.params["b"] = np.array([0.5, -0.5])
    x = np.array([[1.0, 1.0], [0.0, -1.0]])
    # body: x @ w + b = [4.5, 5.5] and [-2.5, -4.5]; plus x
    np.testing.assert_allclose(Residual(fc)(x), [[5.5, 6.5], [-2.5, -5.5]])
    double = Linear(2, 2, rng=0)
    double.params["w"] = np.array([[2.0, 0.0], [0.0, 2.0]])
    double.params["b"] = np.zeros(2)
    np.testing.assert_allclose(Residual(fc, shortcut=double)(x), [[6.5, 7.5], [-2.5, -6.5]])


@pytest.mark.parametrize("case", ["identity", "1x1-stride-2", "block-with-batchnorm"])
def test_residual_gradients(case):
    data = np.random.default_rng(16)
    if case == "identity":
        layer = Residual([Conv2d(3, 3, 3, padding=1, rng=0), ReLU(), Conv2d(3, 3, 3, padding=1, rng=1)])
    elif case == "1x1-stride-2":
        layer = Residual(Conv2d(3, 4, 3, stride=2, padding=1, rng=0), shortcut=Conv2d(3, 4, 1, stride=2, rng=1))
    else:
        layer = residual_block(3, 4, stride=2, rng=2)
    for name, p in layer.params.items():
        layer.params[name] = p + 0.1 * data.standard_normal(p.shape)    # non-zero biases, non-unit gammas
    x = data.standard_normal((2, 3, 7, 9))
    if case == "identity":
        x[np.abs(x) < 1e-3] = 0.5
    errors = check_layer(layer, x, rng=1)
    assert set(errors) == {"x"} | set(layer.params) and any(k.startswith("body.0.") for k in errors)
    zero = {"body.0.b", "body.3.b", "shortcut.0.b"} if case == "block-with-batchnorm" else ()
    assert_gradients_pass(errors, layer, layer.grads, zero=zero)


def test_residual_backward_adds_both_paths():
    data = np.random.default_rng(17)
    body = Conv2d(2, 2, 3, padding=1, rng=0)
    block = Residual(body)
    x = data.standard_normal((2, 2, 5, 4))
    dout = data.standard_normal((2, 2, 5, 4))
    block(x)
    dx = block.backward(dout)
    body(x)
    np.testing.assert_allclose(dx, body.backward(dout) + dout)
    assert block.backward(dout, input_grad=False) is None


def test_residual_parameters_reach_optimisers_named_parameters_and_dtype():
    block = residual_block(2, 3, stride=2, rng=0)
    model = Sequential(block, ReLU(), Flatten(), Linear(3 * 3 * 3, 2, rng=1))
    names = [name for name, _ in model.named_parameters()]
    assert names[:4] == ["0.body.0.w", "0.body.0.b", "0.body.1.gamma", "0.body.1.beta"]
    assert "0.shortcut.0.w" in names and [n for n, _ in model.named_buffers()][0] == "0.body.1.running_mean"
    assert model.n_params == sum(p.size for _, p in model.named_parameters())
    x = np.random.default_rng(18).standard_normal((4, 2, 5, 5))
    model.backward(np.ones_like(model(x)))
    conv_w = block.body[0].params["w"]
    before = conv_w.copy()
    SGD(model, lr=0.1).step()
    assert block.body[0].params["w"] is conv_w
    np.testing.assert_allclose(conv_w, before - 0.1 * block.body[0].grads["w"])
    model.astype(np.float32)
    assert block.body[0].params["w"].dtype == block.body[1].running_var.dtype == np.float32
    assert model(x.astype(np.float32)).dtype == np.float32


def test_residual_shape_mismatch_names_both_shapes():
    block = Residual(Conv2d(2, 4, 3, stride=2, padding=1, rng=0))
    with pytest.raises(ValueError) as error:
        block(np.zeros((1, 2, 6, 6)))
    assert "body gives shape (1, 4, 3, 3) but the shortcut (1, 2, 6, 6)" in str(error.value)
    assert "1x1" in str(error.value)
    with pytest.raises(ValueError, match=r"\(4, 3, 3\) but the shortcut \(2, 6, 6\)"):
        Sequential(block).summary((2, 6, 6))
    assert residual_block(2, 4, stride=2, rng=0).output_shape((2, 6, 6)) == (4, 3, 3)


def test_residual_bad_arguments():
    with pytest.raises(ValueError, match="the body has no layers"):
        Residual([])
    with pytest.raises(TypeError, match="not a cnnlib layer"):
        Residual([ReLU(), "relu"])
    with pytest.raises(RuntimeError, match="call forward first"):
        Residual(ReLU()).backward(np.ones((1, 2)))
    with pytest.raises(KeyError):
        Residual(ReLU()).params["body.0.w"]


def test_residual_block_uses_the_identity_when_the_shape_stays():
    assert residual_block(4, 4, rng=0).shortcut is None
    assert repr(residual_block(4, 8, rng=0).shortcut[0]) == "Conv2d(4→8, k=1, stride=1, padding=0)"


# ---------------------------------------------------------------------------- save and load

def deep_model(dtype=np.float64):
    rng = np.random.default_rng(19)
    model = Sequential(
        Conv2d(1, 4, 3, padding=1, rng=rng), BatchNorm2d(4, momentum=0.2), ReLU(),
        residual_block(4, 4, rng=rng),                                   # identity shortcut
        residual_block(4, 6, stride=2, rng=rng), ReLU(),                 # 1x1 conv shortcut
        Residual(Residual([BatchNorm2d(6, eps=1e-3), ReLU()])),          # a Residual inside a Residual
        Dropout(0.3, rng=rng), Flatten(), Linear(6 * 4 * 4, 10, rng=rng)).astype(dtype)
    for _ in range(3):                                                   # move the running statistics
        model(rng.standard_normal((8, 1, 8, 8)).astype(dtype))
    return model


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_saved_and_loaded_model_predicts_bit_identically_in_evaluation(tmp_path, dtype):
    model = deep_model(dtype)
    model.save(tmp_path / "deep.npz")
    loaded = Sequential.load(tmp_path / "deep.npz")
    assert repr(loaded) == repr(model)
    for (name, a), (name_b, b) in zip(model.named_buffers() + model.named_parameters(),
                                      loaded.named_buffers() + loaded.named_parameters()):
        assert name == name_b and a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    assert len(loaded.named_buffers()) == 2 * 7                    # seven BatchNorm2d, nested ones included
    x = np.random.default_rng(20).standard_normal((5, 1, 8, 8)).astype(dtype)
    np.testing.assert_array_equal(loaded.eval().predict(x), model.eval().predict(x))
    assert loaded.eval()[6].body[0].body[0].eps == 1e-3


def test_the_saved_architecture_lists_residual_layers_after_them(tmp_path):
    Sequential(residual_block(2, 3, rng=0), ReLU()).save(tmp_path / "m.npz")
    with zipfile.ZipFile(tmp_path / "m.npz") as zf:
        spec = json.loads(str(np.lib.format.read_array(zf.open("architecture.npy"))))
        names = set(zf.namelist())
    assert [(e["type"], e["config"].get("body"), e["config"].get("shortcut")) for e in spec["layers"][:1]] == \
        [("Residual", 5, 2)]
    assert [e["type"] for e in spec["layers"]] == ["Residual", "Conv2d", "BatchNorm2d", "ReLU", "Conv2d",
                                                   "BatchNorm2d", "Conv2d", "BatchNorm2d", "ReLU"]
    assert spec["layers"][2]["config"] == {"num_features": 3, "eps": 1e-5, "momentum": 0.1}
    assert "buffer/0.body.1.running_var.npy" in names and "param/0.shortcut.0.w.npy" in names


def test_a_file_saved_before_issue_13_still_loads():
    """tests/data/model_saved_before_issue13.npz was written by `Sequential.save` as of commit
    a87202d (before buffers and the new layers): Sequential(Conv2d(1, 2, 3, rng=0), ReLU(),
    MaxPool2d(2), Flatten(), Linear(8, 3, rng=1)), conv bias set to (0.25, -0.5)."""
    path = DATA / "model_saved_before_issue13.npz"
    loaded = Sequential.load(path)
    assert [type(layer).__name__ for layer in loaded] == ["Conv2d", "ReLU", "MaxPool2d", "Flatten", "Linear"]
    with np.load(path) as stored:
        for name, p in loaded.named_parameters():
            np.testing.assert_array_equal(p, stored[f"param/{name}"])
        rebuilt = Sequential(Conv2d(1, 2, 3), ReLU(), MaxPool2d(2), Flatten(), Linear(8, 3))
        for layer, i in ((rebuilt[0], 0), (rebuilt[4], 4)):
            layer.params.update(w=stored[f"param/{i}.w"], b=stored[f"param/{i}.b"])
    np.testing.assert_array_equal(loaded[0].params["b"], [0.25, -0.5])
    x = np.random.default_rng(21).standard_normal((3, 1, 6, 6))
    np.testing.assert_array_equal(loaded.eval().predict(x), rebuilt.predict(x))


def rewrite(path, *, spec_change=None, drop=(), arrays=None):
    """A copy of the model file at ``path`` with its architecture or entries changed."""
    with zipfile.ZipFile(path) as zf:
        entries = {name: zf.read(name) for name in zf.namelist() if name not in drop}
    if spec_change is not None:
        spec = json.loads(str(np.lib.format.read_array(zipfile.ZipFile(path).open("architecture.npy"))))
        spec_change(spec)
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, np.array(json.dumps(spec)))
        entries["architecture.npy"] = buffer.getvalue()
    for name, array in (arrays or {}).items():
        buffer = io.BytesIO()
        np.lib.format.write_array(buffer, array)
        entries[name] = buffer.getvalue()
    out = path.with_name("changed.npz")
    with zipfile.ZipFile(out, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return out


def set_config(i, key, value):
    def change(spec):
        spec["layers"][i]["config"][key] = value
    return change


@pytest.mark.parametrize("change, words", [
    (dict(spec_change=set_config(0, "body", 9)), "layer 0 (Residual) counts more body and shortcut layers"),
    (dict(spec_change=set_config(2, "eps", "1e-5")), "layer 2 (BatchNorm2d): eps should be a number"),
    (dict(spec_change=set_config(2, "momentum", 2.0)), "momentum = 2.0 is outside the allowed range"),
    (dict(spec_change=set_config(2, "eps", 0.0)), "layer 2 (BatchNorm2d) cannot be built: BatchNorm2d: eps"),
    (dict(spec_change=set_config(9, "p", 1.0)), "layer 9 (Dropout) cannot be built: Dropout: p must be"),
    (dict(drop=["buffer/0.body.1.running_var.npy"]), "running statistics ['0.body.1.running_var']"),
    (dict(arrays={"buffer/0.body.1.running_var.npy": -np.ones(3)}), "running variance 0.body.1.running_var"),
    (dict(arrays={"buffer/0.body.1.running_mean.npy": np.full(3, np.nan)}), "statistic 0.body.1.running_mean "
                                                                          "contains NaN"),
    (dict(arrays={"buffer/0.body.1.running_mean.npy": np.zeros(4)}), "has shape (4,), expected (3,)"),
    (dict(arrays={"buffer/0.extra.npy": np.zeros(4)}), "unknown entries ['buffer/0.extra.npy']"),
], ids=["residual-overrun", "eps-string", "momentum-range", "eps-zero", "p-one", "missing-buffer",
        "negative-var", "nan-buffer", "buffer-shape", "unknown-buffer"])
def test_bad_files_with_the_new_layers_are_refused(tmp_path, change, words):
    model = Sequential(residual_block(2, 3, rng=0), ReLU(), Dropout(0.5, rng=0))
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError) as error:
        Sequential.load(rewrite(tmp_path / "m.npz", **change))
    assert words in str(error.value) and "changed.npz" in str(error.value)


# ---------------------------------------------------------------------------- weight decay

def layer_with(w, g):
    fc = Linear(len(w), 1, rng=0)
    fc.params["w"] = np.array(w, dtype=float).reshape(-1, 1)
    fc.params["b"] = np.zeros(1)
    fc.grads["w"] = np.array(g, dtype=float).reshape(-1, 1)
    fc.grads["b"] = np.zeros(1)
    return fc


def test_sgd_weight_decay_one_and_two_steps_by_hand():
    # torch.optim.SGD: g <- g + wd * p; with momentum, buf <- mu * buf + g (buf = g at first); p <- p - lr * buf
    fc = layer_with([1.0, -2.0], [0.5, 0.25])
    opt = SGD(fc, lr=0.1, weight_decay=0.01)
    opt.step()          # g = (0.51, 0.23); p = (0.949, -2.023)
    np.testing.assert_allclose(fc.params["w"].ravel(), [0.949, -2.023], rtol=1e-14)
    np.testing.assert_array_equal(fc.grads["w"].ravel(), [0.5, 0.25])   # the gradient itself is not changed
    opt.step()          # g = (0.50949, 0.22977); p = (0.898051, -2.045977)
    np.testing.assert_allclose(fc.params["w"].ravel(), [0.898051, -2.045977], rtol=1e-14)

    fc = layer_with([1.0, -2.0], [0.5, 0.25])
    opt = SGD(fc, lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.step()          # buf = (0.51, 0.23); p = (0.949, -2.023)
    np.testing.assert_allclose(fc.params["w"].ravel(), [0.949, -2.023], rtol=1e-14)
    opt.step()          # g = (0.50949, 0.22977); buf = 0.9 * (0.51, 0.23) + g = (0.96849, 0.43677)
    np.testing.assert_allclose(fc.params["w"].ravel(), [0.852151, -2.066677], rtol=1e-14)
    assert repr(opt) == "SGD(lr=0.1, momentum=0.9, weight_decay=0.01)"


def test_adamw_one_and_two_steps_by_hand():
    # torch.optim.AdamW: p <- p * (1 - lr * wd); m, v as Adam; p <- p - lr * m_hat / (sqrt(v_hat) + eps)
    fc = layer_with([1.0, -2.0], [0.5, 0.25])
    opt = AdamW(fc, lr=0.1, weight_decay=0.1)
    opt.step()
    # decay: (0.99, -1.98); m_hat = g, v_hat = g^2: step 0.1 * g / (|g| + 1e-8) = (0.099999998, 0.099999996)
    np.testing.assert_allclose(fc.params["w"].ravel(), [0.890000002, -2.079999996], rtol=1e-13)
    fc.grads["w"] = np.array([[-0.5], [1.0]])
    opt.step()
    # decay: (0.88110000198, -2.05919999604); m = (-0.005, 0.1225), v = (0.00049975, 0.0010624375);
    # m_hat = m / 0.19, v_hat = v / 0.001999 = (0.25, 0.531484...): step (-0.0052631578, 0.0884376478)
    np.testing.assert_allclose(fc.params["w"].ravel(), [0.8863631597694736, -2.1476376438845124], rtol=1e-13)


def test_adamw_defaults_and_decay_is_decoupled():
    fc = layer_with([1.0, -2.0], [0.0, 0.0])
    opt = AdamW(fc)
    assert (opt.lr, opt.betas, opt.eps, opt.weight_decay) == (1e-3, (0.9, 0.999), 1e-8, 1e-2)
    opt.step()          # a zero gradient: Adam's step is 0, only the decay acts
    np.testing.assert_allclose(fc.params["w"].ravel(), [1.0 - 1e-5, -2.0 + 2e-5], rtol=1e-15)
    plain, decayed = layer_with([1.0], [0.3]), layer_with([1.0], [0.3])
    Adam(plain, lr=0.01).step()
    AdamW(decayed, lr=0.01, weight_decay=0.0).step()
    np.testing.assert_array_equal(plain.params["w"], decayed.params["w"])


@pytest.mark.parametrize("make, words", [
    (lambda m: SGD(m, weight_decay=-0.1), r"weight_decay must be in \[0, inf\)"),
    (lambda m: AdamW(m, weight_decay=float("nan")), "weight_decay must be"),
])
def test_bad_weight_decay(make, words):
    with pytest.raises(ValueError, match=words):
        make(Sequential(Linear(2, 1, rng=0)))


def test_the_new_names_come_from_the_top():
    for name in ["BatchNorm2d", "Dropout", "Residual", "residual_block", "AdamW"]:
        assert name in cnnlib.__all__ and getattr(cnnlib, name) is not None


def test_gradcheck_of_a_whole_deep_model_in_training_mode():
    from cnnlib.gradcheck import check_model
    from cnnlib.losses import SoftmaxCrossEntropy
    model = Sequential(Conv2d(1, 3, 3, padding=1, rng=0), BatchNorm2d(3), ReLU(), residual_block(3, 4, stride=2, rng=1),
                       Flatten(), Linear(4 * 3 * 3, 5, rng=2))
    x = np.random.default_rng(22).standard_normal((4, 1, 5, 6))
    errors = check_model(model, SoftmaxCrossEntropy(), x, np.array([0, 1, 2, 4]), n_samples=8)
    grads = {f"{i}.{name}": g for i, layer in enumerate(model) for name, g in layer.grads.items()}
    assert_gradients_pass(errors, model, grads, zero={"0.b", "3.body.0.b", "3.body.3.b", "3.shortcut.0.b"})


def test_numerical_gradient_agrees_with_batchnorm_kernel_directly():
    data = np.random.default_rng(23)
    x = data.standard_normal((2, 2, 3, 3))
    gamma, beta, dout = data.standard_normal(2), data.standard_normal(2), data.standard_normal((2, 2, 3, 3))

    def f():
        out, _ = cnnlib.ops.batchnorm2d_forward(x, gamma, beta, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)))
        return float((out * dout).sum())

    _, cache = cnnlib.ops.batchnorm2d_forward(x, gamma, beta, x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)))
    dx, _, _ = cnnlib.ops.batchnorm2d_backward(dout, cache)
    assert relative_error(dx, numerical_gradient(f, x)) < TOLERANCE
