"""Issue 12, case 9 (the parts outside the checks): float16 logits and optimiser hyperparameters.

* float16 logits ``[60000, 0, -60000]`` gave a loss of inf: now computed in float32.
* ``Adam(betas=(0.9,))`` raised IndexError: now a ValueError that says what a pair is.
* ``optimizer.lr = float("nan")`` after construction turned every parameter into NaN:
  every hyperparameter is now checked whenever it is set.
"""
import math

import numpy as np
import pytest

from cnnlib.layers import Linear
from cnnlib.losses import SoftmaxCrossEntropy, log_softmax, softmax
from cnnlib.model import Sequential
from cnnlib.optim import SGD, Adam

HALF_EXTREMES = np.array([[60000, 0, -60000]], dtype=np.float16)


@pytest.mark.parametrize("label, expected", [(0, 0.0), (1, 60000.0), (2, 120000.0)])
def test_float16_extreme_logits_give_the_exact_finite_loss(label, expected):
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(HALF_EXTREMES, np.array([label]))
    assert math.isfinite(loss) and loss == pytest.approx(expected, abs=1e-3)
    # the same logits in float64 are the reference
    assert loss == pytest.approx(SoftmaxCrossEntropy().forward(HALF_EXTREMES.astype(np.float64),
                                                               np.array([label])), abs=1e-3)
    grad = loss_fn.backward()
    assert grad.dtype == np.float16 and np.isfinite(grad).all()
    onehot = np.eye(3)[label]
    np.testing.assert_array_equal(grad[0], (np.array([1.0, 0.0, 0.0]) - onehot).astype(np.float16))
    assert loss_fn.probs.dtype == np.float16


def test_float16_softmax_and_log_softmax_do_not_overflow():
    with np.errstate(over="raise", invalid="raise"):   # no overflow on the way either
        p = softmax(HALF_EXTREMES)
        logp = log_softmax(HALF_EXTREMES)
    assert p.dtype == np.float16 and p.tolist() == [[1.0, 0.0, 0.0]]
    assert logp.dtype == np.float32 and logp.tolist() == [[0.0, -60000.0, -120000.0]]
    # float32 and float64 keep their own dtype, as before
    assert softmax(np.zeros(3, dtype=np.float32)).dtype == np.float32
    assert log_softmax(np.zeros(3)).dtype == np.float64


def _model():
    return Sequential(Linear(2, 1, rng=0))


@pytest.mark.parametrize("betas", [(0.9,), (0.9, 0.999, 0.5), 0.9, {"beta1": 0.9}, None])
def test_adam_betas_that_are_not_a_pair_get_a_clear_error(betas):
    with pytest.raises(ValueError, match=r"betas must be a pair \(beta1, beta2\)"):
        Adam(_model(), betas=betas)


@pytest.mark.parametrize("make, attribute, bad", [
    (lambda m: SGD(m, lr=0.1), "lr", float("nan")),
    (lambda m: SGD(m, lr=0.1), "lr", 0.0),
    (lambda m: SGD(m, lr=0.1), "lr", -1e-3),
    (lambda m: SGD(m, lr=0.1), "lr", float("inf")),
    (lambda m: SGD(m, lr=0.1), "lr", "fast"),
    (lambda m: SGD(m, lr=0.1, momentum=0.9), "momentum", 1.0),
    (lambda m: SGD(m, lr=0.1, momentum=0.9), "momentum", float("nan")),
    (lambda m: Adam(m), "lr", float("nan")),
    (lambda m: Adam(m), "beta1", 1.0),
    (lambda m: Adam(m), "beta2", -0.1),
    (lambda m: Adam(m), "eps", 0.0),
    (lambda m: Adam(m), "betas", (0.9, float("nan"))),
    (lambda m: Adam(m), "betas", (0.9,)),
], ids=lambda v: v if isinstance(v, str) else None)
def test_setting_a_bad_hyperparameter_later_raises_and_changes_nothing(make, attribute, bad):
    model = _model()
    opt = make(model)
    before = getattr(opt, attribute)
    with pytest.raises(ValueError, match=f"{type(opt).__name__}: .*(must be in|must be a)"):
        setattr(opt, attribute, bad)
    assert getattr(opt, attribute) == before            # the old value stays
    for layer in model.layers:                          # and a step still gives finite numbers
        for g in layer.grads.values():
            g[...] = 1.0
    opt.step()
    assert all(np.isfinite(p).all() for _, p in model.named_parameters())


def test_good_values_set_later_take_effect():
    model = _model()
    opt = SGD(model, lr=0.1)
    opt.lr = np.float32(0.5)                             # a schedule may hand back NumPy scalars
    assert opt.lr == 0.5 and type(opt.lr) is float
    model[0].params["b"][:] = 0.0
    model[0].grads["w"][:] = 0.0
    model[0].grads["b"][:] = 1.0
    opt.step()
    np.testing.assert_allclose(model[0].params["b"], [-0.5])
    adam = Adam(model)
    adam.betas = (0.5, 0.6)
    assert (adam.beta1, adam.beta2) == (0.5, 0.6) and adam.betas == (0.5, 0.6)
    assert repr(adam) == "Adam(lr=0.001, betas=(0.5, 0.6))"
