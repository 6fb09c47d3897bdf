"""Exercise checks: run a learner's function on hidden cases and say in plain words what is wrong.

May import: NumPy, the cnnlib core (for reference answers) and its own modules. Nothing
that draws: the checks run in a bare kernel and under a grader.

The contract
------------
* Each ``check_*`` function takes the learner's function, runs it against cnnlib's own
  reference on cases the learner does not see, and either prints one line starting with
  ``"✓"`` and returns None (so a notebook cell shows only that line), or raises
  :class:`CheckFailed`, whose message starts with ``"✗"`` and names the case and what went
  wrong: not written yet, an exception (and the line of the learner's code that raised
  it), the wrong type or shape, or the first wrong value, where it is and the likely
  cause. In IPython a failure shows as its message alone.
* While the learner's function runs it gets :data:`_runner.TIME_LIMIT_SECONDS` per call
  (then it is stopped: "look for a loop that never ends"), cnnlib's core is switched off
  (calling it fails the check: "your function called cnnlib.ops.conv2d_forward: write it
  yourself with NumPy"), and what it prints is shown once, shortened, before the verdict.
* Checks never modify the learner's inputs and never depend on global state; their hidden
  cases come from fixed seeds, so a check gives the same verdict everywhere.

One module per topic (each check of a my_cnn.py function also takes ``seed=``: None for the
lesson's cases, an int for hidden cases of the same kinds drawn from it):

=================  ===========================================================
``shapes``         parameter count of an MLP, output size of a convolution
``convolution``    sliding windows: one-image convolution and max pooling of one map,
                   and my_cnn.py's batched conv2d_forward and maxpool_forward
``softmax``        stable softmax, the mean cross-entropy's gradient, my_cnn.py's
                   softmax_cross_entropy (loss and dlogits)
``backprop``       the layers' passes of lesson 5: ReLU forward/backward, Linear
                   forward/backward, max-pool backward, conv backward (dx, dw, db)
``training``       one shuffled epoch of minibatches, one SGD-with-momentum step, one Adam step
``network``        the learner's whole LeNet, gradient-checked layer by layer, then whole
``deeper``         batch norm and dropout (lesson 7): forward and backward, training mode
``_runner``        calling the learner's function: time limit, output, verdicts
``_lockout``       cnnlib's core switched off while the learner's code runs
``_compare``       comparing results; numbers printed with the digits that differ
``_cases``         visible and hidden cases; judging a result of several parts (dx, dw, db)
=================  ===========================================================
"""
from cnnlib.explore.checks._runner import CheckFailed
from cnnlib.explore.checks.backprop import (check_conv2d_backward, check_linear_backward, check_linear_forward,
                                            check_maxpool_backward, check_relu_backward, check_relu_forward)
from cnnlib.explore.checks.convolution import (check_conv2d_forward, check_conv2d_single, check_maxpool,
                                               check_maxpool_forward)
from cnnlib.explore.checks.deeper import (check_batchnorm_backward, check_batchnorm_forward, check_dropout_backward,
                                          check_dropout_forward)
from cnnlib.explore.checks.network import check_my_net
from cnnlib.explore.checks.shapes import check_mlp_param_count, check_output_shape
from cnnlib.explore.checks.softmax import check_cross_entropy_grad, check_softmax, check_softmax_cross_entropy
from cnnlib.explore.checks.training import (check_adam_step, check_minibatches, check_momentum_step,
                                            check_sgd_momentum_step)

__all__ = ["CheckFailed", "check_adam_step", "check_batchnorm_backward", "check_batchnorm_forward",
           "check_conv2d_backward", "check_conv2d_forward", "check_conv2d_single", "check_dropout_backward",
           "check_dropout_forward",
           "check_cross_entropy_grad", "check_linear_backward", "check_linear_forward", "check_maxpool",
           "check_maxpool_backward", "check_maxpool_forward", "check_minibatches", "check_mlp_param_count",
           "check_momentum_step", "check_my_net", "check_output_shape", "check_relu_backward", "check_relu_forward",
           "check_sgd_momentum_step", "check_softmax", "check_softmax_cross_entropy"]
