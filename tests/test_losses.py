"""cnnlib.losses: stable softmax, cross-entropy values, its gradient, and label checks."""
import numpy as np
import pytest

from cnnlib.gradcheck import TOLERANCE, numerical_gradient, relative_error
from cnnlib.losses import SoftmaxCrossEntropy, log_softmax, softmax


def test_softmax_known_values_and_stability():
    np.testing.assert_allclose(softmax(np.array([0.0, np.log(3.0)])), [0.25, 0.75])
    p = softmax(np.array([[10000.0, 10010.0, 10.0]]))
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p, [[1 / (1 + np.exp(10)), 1 / (1 + np.exp(-10)), 0.0]], atol=1e-15)
    np.testing.assert_allclose(log_softmax(np.array([[10000.0, 10010.0, 10.0]])),
                               [[-10 - np.log1p(np.exp(-10)), -np.log1p(np.exp(-10)), -10000 - np.log1p(np.exp(-10))]])


def test_softmax_is_shift_invariant_and_sums_to_one(rng):
    z = rng.standard_normal((5, 7)) * 20
    np.testing.assert_allclose(softmax(z), softmax(z + 123.4))
    np.testing.assert_allclose(softmax(z).sum(axis=1), 1.0)


def test_cross_entropy_literal_value_and_gradient():
    loss_fn = SoftmaxCrossEntropy()
    logits = np.array([[0.0, np.log(3.0)], [np.log(3.0), 0.0]])
    # p = [0.25, 0.75] for row 0 (label 1) and [0.75, 0.25] for row 1 (label 1)
    loss = loss_fn.forward(logits, np.array([1, 1]))
    assert isinstance(loss, float)
    assert loss == pytest.approx((-np.log(0.75) - np.log(0.25)) / 2)
    np.testing.assert_allclose(loss_fn.backward(), [[0.125, -0.125], [0.375, -0.375]])


def test_huge_logits_give_finite_loss_and_gradient():
    loss_fn = SoftmaxCrossEntropy()
    loss = loss_fn.forward(np.array([[10000.0, 10010.0, 10.0]]), np.array([0]))
    assert loss == pytest.approx(10 + np.log1p(np.exp(-10)))
    assert np.isfinite(loss_fn.backward()).all()


def test_cross_entropy_gradient_check(rng):
    logits = rng.standard_normal((4, 6)) * 3
    labels = np.array([0, 5, 2, 2])
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    analytic = loss_fn.backward()
    numeric = numerical_gradient(lambda: loss_fn.forward(logits, labels), logits)
    assert relative_error(analytic, numeric) < TOLERANCE


def test_forward_and_backward_do_not_modify_inputs(rng):
    logits, labels = rng.standard_normal((3, 4)), np.array([0, 1, 3])
    before = logits.copy()
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits, labels)
    d1 = loss_fn.backward()
    d1 += 100
    np.testing.assert_array_equal(logits, before)
    assert np.abs(loss_fn.backward()).max() < 1      # a fresh array each call


@pytest.mark.parametrize("logits, labels, message", [
    (np.zeros((2, 3)), np.array([0, 3]), r"labels must be in \[0, 2\] for 3 classes, got \[3\]"),
    (np.zeros((2, 3)), np.array([-1, 0]), r"labels must be in \[0, 2\].*got \[-1\]"),
    (np.zeros((2, 3)), np.array([0, 1, 2]), r"expected labels of shape \(2,\).*got shape \(3,\)"),
    (np.zeros((2, 3)), np.array([[0], [1]]), r"expected labels of shape \(2,\)"),
    (np.zeros((2, 3)), np.array([0.0, 1.0]), "labels must be integer class indices"),
    (np.zeros(3), np.array([0]), r"expected logits of shape \(N, K\)"),
    (np.array([[0.0, np.nan]]), np.array([0]), "NaN or infinity"),
    (np.zeros((2, 3), dtype=int), np.array([0, 1]), "floating-point logits"),
])
def test_bad_labels_and_logits_get_clear_errors(logits, labels, message):
    with pytest.raises(ValueError, match=message):
        SoftmaxCrossEntropy().forward(logits, labels)


def test_backward_before_forward():
    with pytest.raises(RuntimeError, match="call forward first"):
        SoftmaxCrossEntropy().backward()
