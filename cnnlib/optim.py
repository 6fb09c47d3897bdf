"""Optimisers: SGD with momentum and weight decay, Adam and AdamW, as PyTorch defines them.

The contract
------------
An optimiser is built from a model (anything with ``layers``), one layer, or a list of
layers. ``step()`` reads ``layer.params[k]`` and ``layer.grads[k]`` and updates the
parameters in place. The learning rate ``lr`` may change between steps (a schedule). Every
hyperparameter is checked whenever it is set (``optimizer.lr = float("nan")`` raises
``ValueError``), so a bad value never reaches the parameters.
"""
import numpy as np

__all__ = ["SGD", "Adam", "AdamW"]


def _parameter_layers(target):
    if hasattr(target, "layers"):
        layers = list(target.layers)
    elif hasattr(target, "params"):
        layers = [target]
    else:
        layers = list(target)
    return [layer for layer in layers if getattr(layer, "params", None)]


def _check_hyper(owner, name, value, low, high, *, low_open=False):
    """``value`` as a float if ``low <= value < high`` (``low < value`` if ``low_open``), else ValueError."""
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}") from None
    ok = np.isfinite(value) and (value > low if low_open else value >= low) and value < high
    if not ok:
        side = "(" if low_open else "["
        raise ValueError(f"{owner}: {name} must be in {side}{low}, {high}), got {value}")
    return value


def _hyperparameter(name, low, high, *, low_open=False):
    """A property that checks every value assigned to it (see :func:`_check_hyper`)."""
    attr = "_" + name

    def get(self):
        return getattr(self, attr)

    def set_(self, value):
        setattr(self, attr, _check_hyper(type(self).__name__, name, value, low, high, low_open=low_open))

    return property(get, set_, doc=f"{name}, checked on every assignment: in "
                                   f"{'(' if low_open else '['}{low}, {high}).")


class _Optimizer:
    lr = _hyperparameter("lr", 0, np.inf, low_open=True)

    def __init__(self, target, lr):
        self.layers = _parameter_layers(target)
        if not self.layers:
            raise ValueError(f"{type(self).__name__}: found no parameters to optimise in {target!r}")
        self.lr = lr
        self.steps = 0

    def _pairs(self):
        """(state key, parameter, gradient) for every parameter, in a fixed order."""
        for i, layer in enumerate(self.layers):
            for name, p in layer.params.items():
                yield (i, name), p, layer.grads[name]

    def zero_grad(self):
        for layer in self.layers:
            layer.zero_grad()


class SGD(_Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum: ``lr`` in (0, inf), ``momentum`` in [0, 1).

    .. math:: v \\leftarrow \\mu v - \\eta\\, g, \\qquad \\theta \\leftarrow \\theta + v

    With ``momentum=0`` this is the plain step :math:`\\theta \\leftarrow \\theta - \\eta g`.
    ``weight_decay`` (L2, as ``torch.optim.SGD``) first adds :math:`\\lambda \\theta` to ``g``.
    """

    momentum = _hyperparameter("momentum", 0, 1)
    weight_decay = _hyperparameter("weight_decay", 0, np.inf)

    def __init__(self, target, lr=0.01, momentum=0.0, weight_decay=0.0):
        super().__init__(target, lr)
        self.momentum = momentum
        self.weight_decay = weight_decay
        self._velocity = {}

    def __repr__(self):
        decay = f", weight_decay={self.weight_decay:g}" if self.weight_decay else ""
        return f"SGD(lr={self.lr:g}, momentum={self.momentum:g}{decay})"

    def step(self):
        self.steps += 1
        for key, p, g in self._pairs():
            if self.weight_decay:
                g = g + self.weight_decay * p           # a new array: layer.grads stays dL/dp
            if self.momentum == 0:
                p -= self.lr * g
                continue
            v = self._velocity.get(key)
            if v is None or v.shape != p.shape:
                v = self._velocity[key] = np.zeros_like(p)
            v *= self.momentum
            v -= self.lr * g
            p += v


class Adam(_Optimizer):
    """Adam: momentum on the gradient, scaled by a running estimate of its size.

    ``lr`` and ``eps`` in (0, inf) (``eps`` keeps the division finite where ``v`` is 0);
    ``betas = (beta1, beta2)``, each in [0, 1), also settable one at a time.

    .. math::
        m \\leftarrow \\beta_1 m + (1-\\beta_1) g, \\quad
        v \\leftarrow \\beta_2 v + (1-\\beta_2) g^2, \\quad
        \\theta \\leftarrow \\theta - \\eta \\frac{m / (1-\\beta_1^t)}{\\sqrt{v / (1-\\beta_2^t)} + \\epsilon}
    """

    beta1 = _hyperparameter("beta1", 0, 1)
    beta2 = _hyperparameter("beta2", 0, 1)
    eps = _hyperparameter("eps", 0, np.inf, low_open=True)

    def __init__(self, target, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
        super().__init__(target, lr)
        self.betas = betas
        self.eps = eps
        self._m, self._v = {}, {}

    @property
    def betas(self):
        """``(beta1, beta2)``; assigning a pair checks both before changing either."""
        return (self.beta1, self.beta2)

    @betas.setter
    def betas(self, betas):
        try:
            beta1, beta2 = betas
        except (TypeError, ValueError):
            raise ValueError(f"Adam: betas must be a pair (beta1, beta2) such as (0.9, 0.999), "
                             f"got {betas!r}") from None
        _check_hyper("Adam", "betas[0]", beta1, 0, 1)   # both checked first: all or nothing
        _check_hyper("Adam", "betas[1]", beta2, 0, 1)
        self.beta1, self.beta2 = beta1, beta2

    def __repr__(self):
        return f"Adam(lr={self.lr:g}, betas=({self.beta1:g}, {self.beta2:g}))"

    def step(self):
        self.steps += 1
        t = self.steps
        correct1, correct2 = 1 - self.beta1 ** t, 1 - self.beta2 ** t   # bias corrections
        for key, p, g in self._pairs():
            m, v = self._m.get(key), self._v.get(key)
            if m is None or m.shape != p.shape:
                m = self._m[key] = np.zeros_like(p)
                v = self._v[key] = np.zeros_like(p)
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * (g * g)
            p -= (self.lr / correct1) * m / (np.sqrt(v / correct2) + self.eps)


class AdamW(Adam):
    """Adam with decoupled weight decay (``torch.optim.AdamW``): each step first shrinks
    :math:`\\theta \\leftarrow \\theta - \\eta \\lambda \\theta`, then takes Adam's step on ``g`` alone.
    ``weight_decay`` in [0, inf)."""

    weight_decay = _hyperparameter("weight_decay", 0, np.inf)

    def __init__(self, target, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(target, lr, betas, eps)
        self.weight_decay = weight_decay

    def __repr__(self):
        return f"AdamW(lr={self.lr:g}, betas=({self.beta1:g}, {self.beta2:g}), weight_decay={self.weight_decay:g})"

    def step(self):
        for _, p, _ in self._pairs():
            p *= 1 - self.lr * self.weight_decay        # Adam's step below does not depend on p
        super().step()
