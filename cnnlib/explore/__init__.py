"""The upper floor: everything that draws or explains (pictures, explorers, exercise checks,
digit preprocessing, model analysis). It imports the NumPy core; the core never imports it.

May import: numpy, matplotlib, Pillow, ipywidgets, ipycanvas, IPython and :mod:`cnnlib`.

One module per topic, not per lesson:

===============  ==========================================================================
``picture``      the Picture base class: build a figure once, update its artists, PNG bytes
``explorer``     the Explorer base class: controls above a picture, in one widget
``images``       digits, kernels and weights as images (show_image, plot_digit_grid)
``colour``       a photo as channels: 3-channel and 1x1 convolutions drawn channel by channel
``convolution``  sliding windows, kernels, padding and stride (FilterExplorer, ...)
``pooling``      max and average pooling and their winners (PoolingExplorer)
``softmax``      logits to probabilities, overflow and the max trick (SoftmaxExplorer, ...)
``gradients``    gradient checks and backward passes step by step (GradCheckExplorer, ...)
``training``     loss and accuracy curves, the training dashboard
``analysis``     what a trained net does: confusion, feature maps, filters, saliency
``receptive``    the input region a unit can see, by formula and by a backward pass (ReceptiveFieldExplorer)
``deeper``       going deeper: activations and gradients layer by layer (layer_statistics, DepthExplorer),
                 augmented digits (AugmentExplorer)
``preprocess``   a drawn digit made to look like MNIST (crop, scale, centre of mass)
``drawing``      draw a digit with the mouse and see the net's answer (DrawDigit)
``loops``        the loop versions of convolution and pooling the lessons explain and the tests
                 compare cnnlib.ops against (conv2d_forward_naive, ...; slow on purpose, NumPy only)
``learner``      the learner's my_cnn.py run inside Sequential and Trainer (learner_net, ...)
``checks``       the exercises' checks (a subpackage, one module per topic)
===============  ==========================================================================

The lessons import what they show from here, e.g. ``from cnnlib.explore import plot_pooling``
(the checks: ``from cnnlib.explore.checks import check_softmax``).
"""
from cnnlib.explore.analysis import (ConfusionExplorer, FeatureMapExplorer, layer_outputs, plot_confusion_matrix,
                                     plot_feature_maps, plot_filters, plot_saliency_grid, saliency_map)
from cnnlib.explore.convolution import (KERNEL_PRESETS, ConvGeometryExplorer, FilterExplorer, SlidingWindowStepper,
                                        plot_conv_geometry, plot_convolution, plot_sliding_window)
from cnnlib.explore.deeper import (AugmentExplorer, DepthExplorer, LayerStats, layer_statistics,
                                   plot_augmented_digits, plot_layer_stats)
from cnnlib.explore.drawing import DrawDigit
from cnnlib.explore.explorer import Explorer
from cnnlib.explore.gradients import BackwardStepper, GradCheckExplorer, plot_backward_step, plot_eps_sweep, \
    plot_value_grid
from cnnlib.explore.images import plot_digit_grid, plot_unit_weights, show_image
from cnnlib.explore.picture import Picture, figure_to_png
from cnnlib.explore.pooling import PoolingExplorer, plot_pooling
from cnnlib.explore.preprocess import draw_stroke, preprocess_digit, preprocess_steps
from cnnlib.explore.receptive import (ReceptiveFieldExplorer, influence_map, plot_receptive_field,
                                       receptive_field_box, receptive_fields)
from cnnlib.explore.softmax import SoftmaxExplorer, StabilityLab, plot_probabilities, plot_softmax_stability
from cnnlib.explore.training import TrainingDashboard, plot_curves

__all__ = [
    "Explorer", "Picture", "figure_to_png",
    "show_image", "plot_digit_grid", "plot_unit_weights",
    "KERNEL_PRESETS", "plot_convolution", "plot_sliding_window", "plot_conv_geometry",
    "FilterExplorer", "SlidingWindowStepper", "ConvGeometryExplorer",
    "plot_pooling", "PoolingExplorer",
    "plot_probabilities", "plot_softmax_stability", "SoftmaxExplorer", "StabilityLab",
    "plot_value_grid", "plot_eps_sweep", "plot_backward_step", "GradCheckExplorer", "BackwardStepper",
    "plot_curves", "TrainingDashboard",
    "saliency_map", "layer_outputs", "plot_confusion_matrix", "plot_filters", "plot_feature_maps",
    "plot_saliency_grid", "FeatureMapExplorer", "ConfusionExplorer",
    "receptive_fields", "receptive_field_box", "influence_map", "plot_receptive_field", "ReceptiveFieldExplorer",
    "LayerStats", "layer_statistics", "plot_layer_stats", "DepthExplorer", "plot_augmented_digits", "AugmentExplorer",
    "draw_stroke", "preprocess_steps", "preprocess_digit", "DrawDigit",
]
