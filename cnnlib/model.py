"""A model is a list of layers run in order: :class:`Sequential`, and the two nets we train.

The contract
------------
* ``model.forward(x)`` runs every layer; ``model.backward(dout)`` runs them in reverse and
  fills every layer's ``grads``.
* ``model.save(path)`` writes one ``.npz``, atomically; ``Sequential.load(path)`` rebuilds the
  model, never unpickling and checking the whole file first (:mod:`cnnlib.modelfile`).
"""
import numpy as np

from cnnlib import modelfile
from cnnlib.init import as_rng
from cnnlib.layers import Conv2d, Flatten, Layer, Linear, MaxPool2d, ReLU

__all__ = ["Sequential", "build_seed_net", "build_lenet"]


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
        return modelfile.load(path, cls)


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
