"""cnnlib.optim: literal steps for SGD, momentum and Adam, and convergence on a quadratic."""
import numpy as np
import pytest

from cnnlib.layers import Linear, ReLU
from cnnlib.model import Sequential
from cnnlib.optim import SGD, Adam


def _layer_with_grad(w, g):
    fc = Linear(len(w), 1, rng=0)
    fc.params["w"] = np.array(w, dtype=float).reshape(-1, 1)
    fc.grads["w"] = np.array(g, dtype=float).reshape(-1, 1)
    fc.grads["b"] = np.zeros(1)
    return fc


def test_sgd_step_literal():
    fc = _layer_with_grad([1.0, -2.0], [0.5, 1.0])
    SGD(fc, lr=0.1).step()
    np.testing.assert_allclose(fc.params["w"].ravel(), [0.95, -2.1])


def test_sgd_momentum_two_steps_literal():
    fc = _layer_with_grad([0.0], [1.0])
    opt = SGD(fc, lr=0.1, momentum=0.9)
    opt.step()          # v = -0.1,          w = -0.1
    opt.step()          # v = -0.09 - 0.1,   w = -0.29
    np.testing.assert_allclose(fc.params["w"].ravel(), [-0.29])


def test_adam_first_step_moves_each_weight_by_about_lr():
    fc = _layer_with_grad([0.0, 0.0, 0.0], [1e-3, -5.0, 200.0])
    Adam(fc, lr=0.01).step()
    # After one step, m_hat = g and v_hat = g^2, so the step is lr * sign(g).
    np.testing.assert_allclose(fc.params["w"].ravel(), [-0.01, 0.01, -0.01], rtol=1e-4)


@pytest.mark.parametrize("make", [lambda m: SGD(m, lr=0.1), lambda m: SGD(m, lr=0.05, momentum=0.9),
                                  lambda m: Adam(m, lr=0.05)], ids=["sgd", "momentum", "adam"])
def test_optimisers_minimise_a_least_squares_problem(make, rng):
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    fc = Linear(3, 1, rng=rng)
    model = Sequential(fc)
    opt = make(model)
    for _ in range(300):
        err = model.forward(x) - y
        model.backward(2 * err / len(x))
        opt.step()
    np.testing.assert_allclose(fc.params["w"].ravel(), [1.0, -2.0, 0.5], atol=1e-2)
    np.testing.assert_allclose(fc.params["b"], [0.3], atol=1e-2)


def test_optimisers_update_in_place_and_keep_dtype():
    model = Sequential(Linear(2, 2, rng=0), ReLU(), Linear(2, 1, rng=1)).astype(np.float32)
    w = model[0].params["w"]
    for opt in (SGD(model, lr=0.1, momentum=0.5), Adam(model)):
        for layer in opt.layers:
            for g in layer.grads.values():
                g[...] = 1
        opt.step()
        assert model[0].params["w"] is w and w.dtype == np.float32


@pytest.mark.parametrize("make, message", [
    (lambda m: SGD(m, lr=0), r"lr must be in \(0"),
    (lambda m: SGD(m, lr=float("nan")), "lr must be"),
    (lambda m: SGD(m, lr=0.1, momentum=1.0), r"momentum must be in \[0, 1\)"),
    (lambda m: Adam(m, betas=(0.9, 1.5)), r"betas\[1\] must be in"),
    (lambda m: SGD([ReLU()], lr=0.1), "no parameters to optimise"),
])
def test_bad_hyperparameters_get_clear_errors(make, message):
    with pytest.raises(ValueError, match=message):
        make(Sequential(Linear(2, 1, rng=0)))
