"""A model is a list of layers run in order: :class:`Sequential`, :class:`Residual`, and the nets we train.

The contract
------------
* ``model.forward(x)`` runs every layer; ``model.backward(dout)`` runs them in reverse and
  fills every layer's ``grads``. ``model.train()`` / ``model.eval()`` set every layer's mode.
* A :class:`Residual` is a layer holding layers: its ``params``, ``grads`` and ``buffers`` show
  theirs under dotted names (``"body.0.w"``), read and written through.
* ``model.save(path)`` writes one ``.npz``, atomically; ``Sequential.load(path)`` rebuilds the
  model, never unpickling and checking the whole file first (:mod:`cnnlib.modelfile`).
"""
from collections.abc import MutableMapping

import numpy as np

from cnnlib import layers as _layers
from cnnlib import modelfile
from cnnlib.init import as_rng
from cnnlib.layers import BatchNorm2d, Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU

__all__ = ["Sequential", "Residual", "residual_block", "build_seed_net", "build_lenet", "LAYER_TYPES"]


class Sequential:
    """Layers applied one after another.

    >>> from cnnlib.layers import Linear, ReLU
    >>> model = Sequential(Linear(4, 3, rng=0), ReLU(), Linear(3, 2, rng=1))
    >>> model(np.ones((5, 4))).shape
    (5, 2)
    >>> model.n_params
    23
    """

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Sequential: item {i} is {layer!r}, not a cnnlib layer")
        self.layers = list(layers)
        self.training = True

    def train(self, mode=True):
        """Every layer in training mode (``mode=False``: evaluation); returns self."""
        for layer in self.layers:
            layer.train(mode)
        self.training = mode
        return self

    def eval(self):
        """Every layer in evaluation mode (BatchNorm2d's running statistics, no dropout); returns self."""
        return self.train(False)

    def __repr__(self):
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"Sequential({inner}\n)"

    def __len__(self):
        return len(self.layers)

    def __getitem__(self, i):
        return self.layers[i]

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout, *, input_grad=True):
        """Backpropagate ``dout`` through every layer; returns dL/dx (None if not asked for).

        ``input_grad=False`` skips the input image's gradient, which training never uses, so the
        first convolution saves a whole col2im.
        """
        for i in range(len(self.layers) - 1, -1, -1):
            dout = self.layers[i].backward(dout, input_grad=input_grad or i > 0)
            if dout is None:
                break
        return dout

    def predict(self, x, batch_size=256):
        """Logits for ``x`` in batches of ``batch_size`` (keeps memory flat for big x)."""
        x = np.asarray(x)
        if x.shape[0] == 0:
            raise ValueError("Sequential.predict: got an empty batch")
        return np.concatenate([self.forward(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])

    @property
    def n_params(self):
        return int(sum(p.size for layer in self.layers for p in layer.params.values()))

    def named_parameters(self):
        """``("0.w", array)`` pairs, in layer order."""
        return [(f"{i}.{name}", p) for i, layer in enumerate(self.layers) for name, p in layer.params.items()]

    def named_buffers(self):
        """``("1.running_mean", array)`` pairs: saved state that is not trained."""
        return [(f"{i}.{name}", b) for i, layer in enumerate(self.layers) for name, b in layer.buffers.items()]

    def astype(self, dtype):
        """Convert every parameter to ``dtype`` (we train in float32); returns self."""
        for layer in self.layers:
            layer.astype(dtype)
        return self

    def summary(self, input_shape):
        """A table of each layer's output shape and parameter count.

        >>> print(build_seed_net(rng=0).summary((1, 28, 28)))
        layer                                  output shape    params
        Conv2d(1→8, k=3, stride=1, padding=0)  (8, 26, 26)         80
        MaxPool2d(k=2, stride=2)               (8, 13, 13)          0
        Flatten()                              (1352,)              0
        Linear(1352→10)                        (10,)            13530
        total                                                   13610
        """
        shape, table = tuple(input_shape), []
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
            table.append((repr(layer), str(shape), sum(p.size for p in layer.params.values())))
        width = max(len(name) for name, _, _ in table) + 2
        rows = [f"{'layer':<{width}}{'output shape':<14}{'params':>8}"]
        rows += [f"{name:<{width}}{shape:<14}{n:>8}" for name, shape, n in table]
        rows.append(f"{'total':<{width + 14}}{self.n_params:>8}")
        return "\n".join(rows)

    # ------------------------------------------------------------------ save / load
    def save(self, path, *, overwrite=True):
        """Write the architecture and parameters to ``path`` (.npz), atomically.

        ``overwrite=False`` refuses a file already there; :func:`cnnlib.modelfile.save` has the format.
        """
        modelfile.save(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path):
        """Rebuild a model saved by :meth:`save`, never unpickling (:func:`cnnlib.modelfile.load`).

        The whole file is checked first; anything wrong with it raises ValueError naming the problem.
        """
        return modelfile.load(path, cls, LAYER_TYPES)


class _Joined(MutableMapping):
    """The ``params``, ``grads`` or ``buffers`` (``attr``) of models' layers under dotted names:
    ``joined["body.0.w"]`` is ``parts["body"][0].params["w"]``, and assigning to it sets that."""

    def __init__(self, parts, attr):
        self._parts, self._attr = parts, attr

    def _locate(self, key):
        try:
            part, i, name = key.split(".", 2)
            owner = getattr(self._parts[part].layers[int(i)], self._attr)
        except (AttributeError, ValueError, KeyError, IndexError):
            raise KeyError(key) from None
        if name not in owner:
            raise KeyError(key)
        return owner, name

    def __getitem__(self, key):
        owner, name = self._locate(key)
        return owner[name]

    def __setitem__(self, key, value):
        owner, name = self._locate(key)
        owner[name] = value

    def __delitem__(self, key):
        raise TypeError("a Residual's parameters are its layers'; they cannot be deleted")

    def __iter__(self):
        for part, model in self._parts.items():
            for i, layer in enumerate(model.layers if model is not None else ()):
                yield from (f"{part}.{i}.{name}" for name in getattr(layer, self._attr))

    def __len__(self):
        return sum(1 for _ in self)


def _as_sequential(layers, what):
    if isinstance(layers, Layer):
        layers = [layers]
    model = layers if isinstance(layers, Sequential) else Sequential(*layers)
    if not model.layers:
        raise ValueError(f"Residual: the {what} has no layers")
    return model


class Residual(Layer):
    """A residual block: ``y = body(x) + shortcut(x)``, the shortcut the identity when None.

    ``body`` and ``shortcut`` are a layer, a list of layers or a Sequential, and must give
    the same shape. When the body changes the shape (stride 2, more channels), the shortcut
    is a 1x1 convolution with its stride and output channels: :func:`residual_block`.
    Backward adds both paths' ``dx``: the identity passes ``dout`` through unchanged, which is
    why gradients reach the first layers of a deep residual net.
    """

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = _as_sequential(body, "body")
        self.shortcut = None if shortcut is None else _as_sequential(shortcut, "shortcut")
        parts = {"body": self.body, "shortcut": self.shortcut}
        self.params, self.grads, self.buffers = (_Joined(parts, a) for a in ("params", "grads", "buffers"))

    def __repr__(self):
        short = "identity" if self.shortcut is None else " → ".join(map(repr, self.shortcut.layers))
        return f"Residual({' → '.join(map(repr, self.body.layers))}; shortcut: {short})"

    def config(self):
        """The numbers of layers in body and shortcut (the model file lists them after this one)."""
        return {"body": len(self.body), "shortcut": 0 if self.shortcut is None else len(self.shortcut)}

    def train(self, mode=True):
        super().train(mode)
        for part in (self.body, self.shortcut):
            if part is not None:
                part.train(mode)
        return self

    def _same_shape(self, body_shape, short_shape):
        if tuple(body_shape) != tuple(short_shape):
            raise ValueError(f"Residual: the body gives shape {tuple(body_shape)} but the shortcut "
                             f"{tuple(short_shape)}; when the body changes the shape, give the shortcut a 1x1 "
                             "convolution with the body's stride and output channels (see residual_block)")

    def output_shape(self, input_shape):
        shapes = []
        for part in (self.body, self.shortcut):
            shape = tuple(input_shape)
            for layer in (part.layers if part is not None else ()):
                shape = tuple(layer.output_shape(shape))
            shapes.append(shape)
        self._same_shape(*shapes)
        return shapes[0]

    def forward(self, x):
        x = self._check_input(x)
        out = self.body.forward(x)
        short = x if self.shortcut is None else self.shortcut.forward(x)
        self._same_shape(out.shape, short.shape)
        self._cache = True
        return out + short

    def backward(self, dout, *, input_grad=True):
        dout = self._check_dout(dout)
        dx = self.body.backward(dout, input_grad=input_grad)
        dx_short = dout if self.shortcut is None else self.shortcut.backward(dout, input_grad=input_grad)
        return dx + dx_short if input_grad else None


def residual_block(in_channels, out_channels, *, stride=1, rng=None):
    """Conv3x3(stride) BN ReLU Conv3x3 BN, plus a shortcut: ``Residual``; put a ReLU after it.

    The shortcut is the identity when the shape stays, else Conv1x1(stride) BN (He et al., 2015).

    >>> residual_block(8, 16, stride=2, rng=0).output_shape((8, 14, 14))
    (16, 7, 7)
    """
    rng = as_rng(rng)
    body = [Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, rng=rng), BatchNorm2d(out_channels),
            ReLU(), Conv2d(out_channels, out_channels, 3, padding=1, rng=rng), BatchNorm2d(out_channels)]
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = [Conv2d(in_channels, out_channels, 1, stride=stride, rng=rng), BatchNorm2d(out_channels)]
    return Residual(body, shortcut)


#: Every type a model file may name: the layers, and Residual.
LAYER_TYPES = {**_layers.LAYER_TYPES, "Residual": Residual}


def build_seed_net(rng=None):
    """The classic tutorial net: Conv2d(1,8,3) MaxPool2d(2) Flatten Linear(1352,10), no ReLU."""
    rng = as_rng(rng)
    return Sequential(Conv2d(1, 8, 3, rng=rng), MaxPool2d(2), Flatten(), Linear(13 * 13 * 8, 10, rng=rng))


def build_lenet(rng=None):
    """The LeNet-style net we train to 99% on MNIST; input (N, 1, 28, 28)."""
    rng = as_rng(rng)
    return Sequential(
        Conv2d(1, 8, 5, rng=rng), ReLU(), MaxPool2d(2),       # 28 -> 24 -> 12
        Conv2d(8, 16, 5, rng=rng), ReLU(), MaxPool2d(2),      # 12 -> 8 -> 4
        Flatten(),                                            # 16*4*4 = 256
        Linear(256, 128, rng=rng), ReLU(),
        Linear(128, 10, rng=rng),
    )
