"""cnnlib.model: end-to-end gradient checks, the two nets, save/load."""
import os

import numpy as np
import pytest

from cnnlib.gradcheck import TOLERANCE, check_model
from cnnlib.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU
from cnnlib.losses import SoftmaxCrossEntropy
from cnnlib.model import Sequential, build_lenet, build_seed_net


def _small_cnn(rng):
    return Sequential(Conv2d(2, 3, 3, padding=1, rng=rng), ReLU(), MaxPool2d(2),
                      Conv2d(3, 4, 3, stride=2, rng=rng), ReLU(), Flatten(), Linear(4 * 1 * 2, 5, rng=rng))


def test_whole_small_network_gradient_check(rng):
    model = _small_cnn(rng)
    for layer in model.layers:
        if "b" in layer.params:
            layer.params["b"] = rng.standard_normal(layer.params["b"].shape) * 0.1
    x = rng.standard_normal((3, 2, 9, 13))          # 9x13 -> 9x13 -> 4x6 -> 1x2
    errors = check_model(model, SoftmaxCrossEntropy(), x, np.array([0, 4, 2]))
    assert set(errors) == {"input"} | {name for name, _ in model.named_parameters()}
    for name, err in errors.items():
        assert err < TOLERANCE, f"{name}: relative error {err:.2e}"


@pytest.mark.parametrize("build", [build_seed_net, build_lenet])
def test_the_two_nets_gradient_check_on_real_sized_input(build, rng):
    model = build(rng=0)
    x = rng.random((2, 1, 28, 28))
    errors = check_model(model, SoftmaxCrossEntropy(), x, np.array([3, 7]), n_samples=25, rng=1)
    for name, err in errors.items():
        assert err < TOLERANCE, f"{name}: relative error {err:.2e}"


def test_net_shapes_and_parameter_counts():
    lenet = build_lenet(rng=0)
    assert lenet(np.zeros((3, 1, 28, 28))).shape == (3, 10)
    assert lenet.n_params == 208 + 3216 + 32896 + 1290
    seed = build_seed_net(rng=0)
    assert seed(np.zeros((3, 1, 28, 28))).shape == (3, 10)
    assert seed.n_params == 80 + 13530
    assert "Linear(1352→10)" in seed.summary((1, 28, 28))


def test_backward_without_input_gradient_gives_the_same_parameter_gradients(rng):
    model = build_lenet(rng=0)
    x = rng.random((4, 1, 28, 28))
    dout = rng.standard_normal((4, 10))
    model.forward(x)
    assert model.backward(dout).shape == x.shape
    full = {(i, name): g.copy() for i, layer in enumerate(model.layers) for name, g in layer.grads.items()}
    model.forward(x)
    assert model.backward(dout, input_grad=False) is None
    for i, layer in enumerate(model.layers):
        for name, g in layer.grads.items():
            np.testing.assert_allclose(g, full[i, name])


def test_same_seed_same_model():
    a, b = build_lenet(rng=42), build_lenet(rng=42)
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p, q)


def test_predict_in_batches_equals_one_forward(rng):
    model = build_seed_net(rng=0)
    x = rng.random((10, 1, 28, 28))
    np.testing.assert_allclose(model.predict(x, batch_size=3), model.forward(x))


def test_save_load_round_trip_gives_identical_predictions(tmp_path, rng):
    model = build_lenet(rng=0).astype(np.float32)
    x = rng.random((5, 1, 28, 28)).astype(np.float32)
    path = tmp_path / "lenet.npz"
    model.save(path)
    loaded = Sequential.load(path)
    assert repr(loaded) == repr(model)
    np.testing.assert_array_equal(loaded.forward(x), model.forward(x))
    assert loaded[0].params["w"].dtype == np.float32
    assert os.listdir(tmp_path) == ["lenet.npz"]          # no temporary files left behind


def test_load_rejects_corrupt_and_foreign_files(tmp_path):
    missing = tmp_path / "missing.npz"
    with pytest.raises(FileNotFoundError, match="no model file"):
        Sequential.load(missing)
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="not a readable cnnlib model file"):
        Sequential.load(garbage)
    good = tmp_path / "good.npz"
    build_seed_net(rng=0).save(good)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good.read_bytes()[:500])
    with pytest.raises(ValueError, match="not a readable cnnlib model file"):
        Sequential.load(truncated)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros(3))
    with pytest.raises(ValueError, match="does not describe a cnnlib model"):
        Sequential.load(foreign)
    # Right architecture text, wrong parameter shapes.
    with np.load(good) as f:
        data = {k: f[k] for k in f.files}
    data["param/3.w"] = np.zeros((10, 10))
    mismatched = tmp_path / "mismatched.npz"
    np.savez(mismatched, **data)
    with pytest.raises(ValueError, match=r"parameter 3.w of Linear\(1352→10\) has shape \(10, 10\)"):
        Sequential.load(mismatched)


def test_save_into_a_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError):
        build_seed_net(rng=0).save(tmp_path / "no" / "such" / "dir" / "m.npz")
    assert list(tmp_path.iterdir()) == []


def test_sequential_rejects_non_layers():
    with pytest.raises(TypeError, match="item 1 is 'relu'"):
        Sequential(Linear(2, 2, rng=0), "relu")
