"""The check on the learner's whole network (lesson 6): every layer of my_cnn.py gradient-checked, then the net.

May import: NumPy, the cnnlib core (the reference net, the gradient check), the learner's
layers from :mod:`cnnlib.explore.learner` and the checks' own ``_runner`` and ``_compare``.

The contract
------------
:func:`check_my_net` builds cnnlib's LeNet (``build_lenet(rng=0)``, float64) with every
layer computed by the learner's module (:class:`cnnlib.explore.learner.LearnerLayer`, as
:func:`~cnnlib.explore.learner.learner_net` builds them). Each call of a learner function
runs under :func:`._runner.call` (time limit, cnnlib's core locked out), while cnnlib's own
code around it (Sequential, the gradient check) runs as usual. It then

1. compares each layer's forward output with cnnlib's own layer (the forward pass named);
2. gradient-checks each layer on its own, on a random input of the shape that layer sees
   in a batch of two images (:func:`cnnlib.gradcheck.check_layer`, a sample of entries);
3. gradient-checks the whole net with the learner's loss (:func:`cnnlib.gradcheck.check_model`).

A failure names the layer ("layer 3, Conv2d(8→16, k=5, stride=1, padding=0) (yours)"),
the gradient (dx, dw or db), the relative error against the pass mark, and the function
of my_cnn.py to look at; a function still to be written says which lesson asks for it.
"""
import numpy as np

from cnnlib.gradcheck import TOLERANCE, check_layer, check_model
from cnnlib.explore.learner import LESSON_OF, LearnerLayer, LearnerLoss
from cnnlib.model import Sequential, build_lenet
from cnnlib.explore.checks._compare import distinct
from cnnlib.explore.checks._runner import CheckFailed, call, fail, passed, reports_output

__all__ = ["check_my_net"]

# Entries of each array the gradient checks estimate: enough to catch a wrong gradient
# (a planted bug moves most entries), few enough for a few seconds with loop solutions.
LAYER_SAMPLES = 16
NET_SAMPLES = 6

# How a gradient check's array names read in a message.
_GRADIENT = {"x": "dx", "w": "dw", "b": "db"}


class _NotWritten:
    """What a guarded call returns when the learner's function raised NotImplementedError."""


class _Guarded:
    """The learner's module as a layer sees it: each function runs under :func:`call`.

    ``label`` names the layer (or the loss) in every verdict.
    """

    def __init__(self, module, exercise, label):
        self._module, self._exercise, self._label = module, exercise, label

    def __getattr__(self, name):
        fn = getattr(self._module, name, None)
        if not callable(fn):
            fail(self._exercise, f"{self._label}: your module has no function {name}; lesson "
                                 f"{LESSON_OF.get(name, '?')} asks you to write it in my_cnn.py")

        def inner(*args):
            try:
                return fn(*args)
            except NotImplementedError:
                return _NotWritten

        def run(*args):
            result = call(self._exercise, inner, *args, case=f"{name} in {self._label}", quiet=True, learner=fn)
            if result is _NotWritten:
                fail(self._exercise, f"{self._label}: {name} is not written yet: lesson {LESSON_OF.get(name, '?')} "
                                     "asks for it")
            return result
        return run


def _run_layer(exercise, label, what, action):
    """``action()``, with the learner net's own ValueErrors (wrong shape, NaN) named by layer."""
    try:
        return action()
    except CheckFailed:
        raise
    except (ValueError, AssertionError) as e:
        fail(exercise, f"{label}, {what}: {e}")


@reports_output
def check_my_net(module, *, seed=None):
    """Gradient-check the LeNet made of the learner's functions, layer by layer, then whole.

    Parameters
    ----------
    module : module
        The learner's ``my_cnn`` (its conv2d_forward/backward, maxpool_forward/backward,
        relu_forward/backward, linear_forward/backward and softmax_cross_entropy are used).
    seed : None or int
        None: the lesson's inputs; an int: other random inputs and sampled entries.

    Notes
    -----
    Everything runs in float64 (finite differences need it; the learner's functions keep
    the dtype). A layer passes when each gradient's relative error is below
    :data:`cnnlib.gradcheck.TOLERANCE`.
    """
    exercise = "my net"
    hidden = seed is not None
    rng = np.random.default_rng(81 if not hidden else [int(seed), 81])
    reference = build_lenet(rng=0)
    labels = [f"layer {i}, {layer!r} (yours)" for i, layer in enumerate(reference.layers)]
    net = Sequential(*[LearnerLayer(layer, _Guarded(module, exercise, label))
                       for layer, label in zip(reference.layers, labels)])
    x = rng.standard_normal((2, 1, 28, 28))
    y = rng.integers(0, 10, size=2)

    # 1. forward passes against cnnlib's own layers, on the activations of the reference net
    inputs, h = [], x
    for i, (mine, theirs) in enumerate(zip(net.layers, reference.layers)):
        inputs.append(h)
        expected = theirs.forward(h)
        if mine.kind is not None:
            got = _run_layer(exercise, labels[i], "forward", lambda: mine.forward(h))
            if not np.allclose(got, expected, rtol=1e-7, atol=1e-10):
                idx = tuple(int(k) for k in np.argwhere(~np.isclose(got, expected, rtol=1e-7, atol=1e-10))[0])
                shown, right = distinct(got[idx], expected[idx])
                fail(exercise, f"{labels[i]}: the forward pass is wrong: {mine.kind}_forward gives {shown} at index "
                               f"{idx} of the output, cnnlib's layer {right}. Run its check on its own to see why")
        h = expected

    # 2. each layer's gradients, on fresh random inputs of the shape it sees (no ties for pooling)
    worst = 0.0
    for i, layer in enumerate(net.layers):
        if layer.kind is None:
            continue
        x_layer = rng.standard_normal(inputs[i].shape)
        errors = _run_layer(exercise, labels[i], "gradient check",
                            lambda: check_layer(layer, x_layer, rng=int(rng.integers(2 ** 31)),
                                                n_samples=LAYER_SAMPLES))
        for name, error in errors.items():
            if not error < TOLERANCE:
                grad = _GRADIENT.get(name, f"d{name}")
                fail(exercise, f"{labels[i]}: {grad} is wrong: its relative error against finite differences is "
                               f"{error:.2g}, the pass mark {TOLERANCE:g}. Look at {grad} in "
                               f"{layer.kind}_backward (its own check, on small cases, shows the first wrong value)")
            worst = max(worst, error)

    # 3. the whole net with the learner's loss
    loss = LearnerLoss(_Guarded(module, exercise, "the loss"))
    errors = _run_layer(exercise, "the whole net", "gradient check",
                        lambda: check_model(net, loss, x, y, rng=int(rng.integers(2 ** 31)), n_samples=NET_SAMPLES))
    for key, error in errors.items():
        if not error < TOLERANCE:
            if key == "input":
                where = "the gradient of the loss with respect to the input images"
            else:
                i, name = key.split(".")
                where = f"{_GRADIENT.get(name, 'd' + name)} of {labels[int(i)]}"
            fail(exercise, f"the whole net with your loss: {where} has relative error {error:.2g} against finite "
                           f"differences, the pass mark {TOLERANCE:g}; every layer passed on its own, so look at "
                           "softmax_cross_entropy's dlogits and at how the gradients pass from layer to layer")
    worst_net = max(errors.values())
    return passed(exercise, f"every layer's gradients match finite differences (largest relative error "
                            f"{worst:.1g}), and so does the whole net with your loss ({worst_net:.1g}); the "
                            f"pass mark is {TOLERANCE:g}")
