"""Your network: cnnlib's layers, loss and optimisers computed by a learner's own functions.

Lessons 2-6 have the learner write the maths in one module of their own, ``my_cnn.py``
(conv2d_forward, maxpool_backward, softmax_cross_entropy, adam_step, ...: one function
each, NumPy arrays in and out). This module puts those functions where cnnlib's own ops
would be, so that everything else runs unchanged on the learner's code: ``Sequential``,
``Trainer``, the gradient checks and the dashboard.

May import: numpy and the cnnlib core (layers, model, optim). It lives on the upper floor
because it runs and checks the learner's code; the maths it stands in for is the core's.

The contract
------------
* :func:`learner_net` wraps every layer of a cnnlib ``Sequential`` in a
  :class:`LearnerLayer` that shares the layer's parameters (so the learner's net starts
  from exactly the weights of cnnlib's) and calls the module's functions in ``forward``
  and ``backward``. ``Flatten`` is a reshape, not an exercise: it stays cnnlib's.
* :class:`LearnerLoss`, :class:`LearnerSGD` and :class:`LearnerAdam` do the same for the
  loss and the optimisers.
* What the learner's function returns is checked before it is used: a wrong type or
  shape, or NaN from a finite input, raises ``ValueError`` naming the function, what it
  returned and what was expected. A function still to be written raises
  ``NotImplementedError`` naming the lesson that asks for it. Nothing is repaired silently.
"""
import numpy as np

from cnnlib.layers import Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU
from cnnlib.model import Sequential
from cnnlib.optim import _Optimizer

__all__ = ["LESSON_OF", "LearnerAdam", "LearnerLayer", "LearnerLoss", "LearnerSGD", "learner_net"]

#: Which lesson asks for each function of my_cnn.py.
LESSON_OF = {"conv2d_forward": 2, "maxpool_forward": 3, "softmax_cross_entropy": 4, "relu_forward": 5,
             "relu_backward": 5, "linear_forward": 5, "linear_backward": 5, "maxpool_backward": 5,
             "conv2d_backward": 5, "sgd_momentum_step": 6, "adam_step": 6}


def _run(module, name, *args):
    """Call ``module.name(*args)``; a function still to write says which lesson asks for it."""
    fn = getattr(module, name, None)
    if not callable(fn):
        raise AttributeError(f"{getattr(module, '__name__', module)!r} has no function {name}; "
                             f"lesson {LESSON_OF[name]} asks you to write it there")
    try:
        return fn(*args)
    except NotImplementedError:
        raise NotImplementedError(f"{name} in {getattr(module, '__file__', 'your module')} is not written yet: "
                                  f"lesson {LESSON_OF[name]}'s exercises ask for it") from None


def _checked(name, value, shape, dtype, what="it"):
    """``value`` as an array of ``shape``, or a ValueError saying what came back instead."""
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name} returned {type(value).__name__} for {what}; expected a NumPy array of "
                         f"shape {shape}")
    if value.shape != tuple(shape):
        raise ValueError(f"{name} returned {what} of shape {value.shape}; expected {tuple(shape)}")
    if not np.isfinite(value).all():
        raise ValueError(f"{name} returned NaN or infinity in {what} from finite inputs")
    return value.astype(dtype, copy=False)


def _parts(name, value, n):
    """A tuple of ``n`` results, or a ValueError naming what came back."""
    if not isinstance(value, tuple) or len(value) != n:
        got = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
        raise ValueError(f"{name} returned {got}; expected a tuple of {n} results")
    return value


class LearnerLayer(Layer):
    """A cnnlib layer whose forward and backward passes are the learner's functions.

    Parameters
    ----------
    layer : Conv2d, MaxPool2d, ReLU, Flatten or Linear
        Its ``params`` and ``grads`` are shared, not copied.
    module : module
        The learner's ``my_cnn`` (anything with the functions named in :data:`LESSON_OF`).
    """

    KINDS = {Conv2d: "conv2d", MaxPool2d: "maxpool", ReLU: "relu", Linear: "linear", Flatten: None}

    def __init__(self, layer, module):
        super().__init__()
        if type(layer) not in self.KINDS:
            raise ValueError(f"learner_net: no function of my_cnn.py computes {layer!r}; it knows "
                             f"{', '.join(k.__name__ for k in self.KINDS)}")
        self.layer, self.module, self.kind = layer, module, self.KINDS[type(layer)]
        self.params, self.grads = layer.params, layer.grads

    def __repr__(self):
        return f"{self.layer!r} (yours)" if self.kind else repr(self.layer)

    def config(self):
        return self.layer.config()

    def output_shape(self, input_shape):
        return self.layer.output_shape(input_shape)

    def forward(self, x):
        if self.kind is None:
            return self.layer.forward(x)
        x = self._check_input(x)
        name, p = f"{self.kind}_forward", self.params
        args = {"conv2d": (x, p.get("w"), p.get("b"), getattr(self.layer, "stride", 1),
                           getattr(self.layer, "padding", 0)),
                "maxpool": (x, getattr(self.layer, "kernel_size", 2), getattr(self.layer, "stride", 2)),
                "relu": (x,), "linear": (x, p.get("w"), p.get("b"))}[self.kind]
        shape = (x.shape[0],) + tuple(self.layer.output_shape(x.shape[1:]))
        out = _checked(name, _run(self.module, name, *args), shape, x.dtype, "the output")
        self._cache = (x, args[1:])
        return out

    def backward(self, dout, *, input_grad=True):
        if self.kind is None:
            return self.layer.backward(dout, input_grad=input_grad)
        dout = self._check_dout(dout)
        x, rest = self._cache
        name, p = f"{self.kind}_backward", self.params
        if self.kind == "conv2d":
            dx, dw, db = _parts(name, _run(self.module, name, dout, x, p["w"], *rest[2:]), 3)
        elif self.kind == "linear":
            dx, dw, db = _parts(name, _run(self.module, name, dout, x, p["w"]), 3)
        elif self.kind == "maxpool":
            dx = _run(self.module, name, dout, x, *rest)
        else:
            dx = _run(self.module, name, dout, x)
        if self.kind in ("conv2d", "linear"):
            self._store_grads(w=_checked(name, dw, p["w"].shape, p["w"].dtype, "dw"),
                              b=_checked(name, db, p["b"].shape, p["b"].dtype, "db"))
        return _checked(name, dx, x.shape, x.dtype, "dx")


def learner_net(module, net):
    """``net``'s layers, computed by ``module``'s functions; the parameters are shared.

    >>> import types
    >>> from cnnlib.layers import Linear
    >>> mine = types.SimpleNamespace(linear_forward=lambda x, w, b: x @ w + b)
    >>> model = learner_net(mine, Sequential(Linear(3, 2, rng=0)))
    >>> model
    Sequential(
      (0) Linear(3→2) (yours)
    )
    >>> model.forward(np.ones((4, 3))).shape
    (4, 2)
    """
    return Sequential(*[LearnerLayer(layer, module) for layer in net.layers])


class LearnerLoss:
    """Softmax cross-entropy computed by ``module.softmax_cross_entropy``."""

    def __init__(self, module):
        self.module = module
        self._grad = None

    def __repr__(self):
        return "SoftmaxCrossEntropy (yours)"

    def forward(self, logits, labels):
        name = "softmax_cross_entropy"
        loss, grad = _parts(name, _run(self.module, name, logits, np.asarray(labels)), 2)
        try:
            loss = float(loss)
        except (TypeError, ValueError):
            raise ValueError(f"{name} returned {type(loss).__name__} for the loss; expected one number") from None
        self._grad = _checked(name, grad, logits.shape, logits.dtype, "dlogits")
        return loss

    def backward(self):
        if self._grad is None:
            raise RuntimeError("LearnerLoss: call forward first")
        return self._grad


class LearnerSGD(_Optimizer):
    """SGD with momentum whose step is ``module.sgd_momentum_step``, one parameter at a time."""

    def __init__(self, target, module, lr=0.01, momentum=0.9):
        super().__init__(target, lr)
        self.module, self.momentum, self._velocity = module, momentum, {}

    def __repr__(self):
        return f"SGD(lr={self.lr:g}, momentum={self.momentum:g}) (yours)"

    def step(self):
        self.steps += 1
        name = "sgd_momentum_step"
        for key, p, g in self._pairs():
            v = self._velocity.get(key, np.zeros_like(p))
            new_p, new_v = _parts(name, _run(self.module, name, p, g, v, self.lr, self.momentum), 2)
            p[...] = _checked(name, new_p, p.shape, p.dtype, "the new parameter")
            self._velocity[key] = _checked(name, new_v, p.shape, p.dtype, "the new velocity")


class LearnerAdam(_Optimizer):
    """Adam whose step is ``module.adam_step``, one parameter at a time."""

    def __init__(self, target, module, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(target, lr)
        self.module, (self.beta1, self.beta2), self.eps = module, betas, eps
        self._m, self._v = {}, {}

    def __repr__(self):
        return f"Adam(lr={self.lr:g}, betas=({self.beta1:g}, {self.beta2:g})) (yours)"

    def step(self):
        self.steps += 1
        name = "adam_step"
        for key, p, g in self._pairs():
            m, v = self._m.get(key, np.zeros_like(p)), self._v.get(key, np.zeros_like(p))
            new = _parts(name, _run(self.module, name, p, g, m, v, self.steps, self.lr, self.beta1, self.beta2,
                                    self.eps), 3)
            p[...] = _checked(name, new[0], p.shape, p.dtype, "the new parameter")
            self._m[key] = _checked(name, new[1], p.shape, p.dtype, "the new m")
            self._v[key] = _checked(name, new[2], p.shape, p.dtype, "the new v")
