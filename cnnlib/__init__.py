"""cnnlib: a convolutional network from scratch in NumPy.

This package is the core, the afternoon read: NumPy only, no pictures. The names a lesson
needs come from here::

    from cnnlib import Conv2d, MaxPool2d, ReLU, Flatten, Linear, Sequential, SoftmaxCrossEntropy, Adam

Each module opens with its contract:

=============  ==========================================================================
``ops``        the vectorised kernels: convolution, pooling, ReLU, affine map, batch norm,
               dropout, forward and backward (loop versions: ``cnnlib.explore.loops``)
``layers``     Conv2d, MaxPool2d, AvgPool2d, ReLU, Flatten, Linear, BatchNorm2d, Dropout:
               parameters, gradients, cache, train/eval
``losses``     softmax, log_softmax, SoftmaxCrossEntropy
``optim``      SGD (momentum, weight decay), Adam and AdamW
``model``      Sequential (save and load), Residual, residual_block, build_seed_net, build_lenet
``modelfile``  the model file Sequential saves and loads: its format, limits and checks
``init``       He initialisation, and the one way randomness enters: an ``rng`` argument
``gradcheck``  finite-difference gradient checks, for tests and lessons alike
``data``       MNIST: the bundled sample and the full set, verified
``download``   fetching the full MNIST: mirrors, time limits, size caps, no half files
``train``      minibatches, the Trainer, learning-rate schedules
``__main__``   the command line, ``python -m cnnlib train``
=============  ==========================================================================

``modelfile`` and ``download`` are infrastructure (a defensive file format, a careful
downloader): the maths is in the others, and a reader of it can skip these two.

Everything that draws or explains lives one floor up, in :mod:`cnnlib.explore`, which
imports this core; the core never imports it. ``import cnnlib`` loads neither matplotlib
nor ipywidgets nor tqdm (a progress bar imports tqdm when it is first shown).

>>> from cnnlib import Conv2d
>>> Conv2d(1, 8, 5, rng=0)
Conv2d(1→8, k=5, stride=1, padding=0)
"""
from cnnlib import ops
from cnnlib.data import load_mnist
from cnnlib.gradcheck import check_layer, check_model, numerical_gradient, relative_error
from cnnlib.layers import AvgPool2d, BatchNorm2d, Conv2d, Dropout, Flatten, Layer, Linear, MaxPool2d, ReLU
from cnnlib.losses import SoftmaxCrossEntropy, log_softmax, softmax
from cnnlib.model import Residual, Sequential, build_lenet, build_seed_net, residual_block
from cnnlib.optim import SGD, Adam, AdamW
from cnnlib.train import Trainer, iterate_minibatches, to_input

__all__ = [
    "ops",
    "Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Flatten", "Linear", "BatchNorm2d", "Dropout",
    "softmax", "log_softmax", "SoftmaxCrossEntropy",
    "SGD", "Adam", "AdamW",
    "Sequential", "Residual", "residual_block", "build_seed_net", "build_lenet",
    "numerical_gradient", "relative_error", "check_layer", "check_model",
    "load_mnist",
    "Trainer", "iterate_minibatches", "to_input",
]
