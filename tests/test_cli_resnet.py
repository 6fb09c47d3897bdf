"""``python -m cnnlib train --model resnet`` (issue 13, part 4): the net, its options, one short run.

The full training (its accuracy and wall time) is measured by benchmarks/bench_resnet.py, not here.
"""
import doctest
import re
import subprocess
import sys

import numpy as np
import pytest

from cnnlib.__main__ import MODEL_DEFAULTS, _weight_decay_for, build_parser, build_resnet, main
from cnnlib.data import load_mnist
from cnnlib.layers import BatchNorm2d, Conv2d, Linear
from cnnlib.model import Residual, Sequential
from cnnlib.train import accuracy, to_input

from conftest import ROOT


def run_cli(*args, timeout=300):
    """`python -m cnnlib ...` in a fresh process; returns (exit status, stdout, stderr)."""
    done = subprocess.run([sys.executable, "-m", "cnnlib", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)
    return done.returncode, done.stdout, done.stderr


def conv_params(c_in, c_out, k):
    return c_out * c_in * k * k + c_out


# ------------------------------------------------------------------ the net

def test_the_resnet_has_the_shapes_and_parameters_its_docstring_states():
    model = build_resnet(rng=0)
    rows = model.summary((1, 28, 28)).splitlines()[1:-1]
    shapes = [re.search(r"(\([\d, ]+\))\s+\d+$", row).group(1) for row in rows]
    assert shapes == ["(16, 28, 28)", "(16, 28, 28)", "(16, 28, 28)", "(16, 14, 14)",    # stem, pool
                      "(16, 14, 14)", "(16, 14, 14)",                                    # block at 14x14
                      "(32, 7, 7)", "(32, 7, 7)",                                        # block 14 -> 7
                      "(1568,)", "(10,)"]
    # counted by hand: conv 3x3 + BN per layer, the second block's 1x1 shortcut conv + BN
    stem = conv_params(1, 16, 3) + 2 * 16
    block1 = 2 * (conv_params(16, 16, 3) + 2 * 16)
    block2 = conv_params(16, 32, 3) + conv_params(32, 32, 3) + conv_params(16, 32, 1) + 3 * 2 * 32
    head = 32 * 7 * 7 * 10 + 10
    assert model.n_params == stem + block1 + block2 + head == 35210

    residuals = [layer for layer in model.layers if isinstance(layer, Residual)]
    assert len(residuals) == 2
    assert residuals[0].shortcut is None                                 # same shape: the identity
    assert [type(layer) for layer in residuals[1].shortcut.layers] == [Conv2d, BatchNorm2d]
    assert residuals[1].shortcut.layers[0].stride == 2
    assert isinstance(model.layers[1], BatchNorm2d) and isinstance(model.layers[-1], Linear)


def test_the_builders_docstring_example_holds():
    # pytest --doctest-modules does not collect __main__.py, so we run this one ourselves.
    import cnnlib.__main__ as cli
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(verbose=False)
    for test in finder.find(build_resnet, "build_resnet", globs=vars(cli)):
        runner.run(test)
    assert runner.tries >= 1 and runner.failures == 0


def test_the_resnet_runs_forward_and_backward_on_a_batch():
    model = build_resnet(rng=0, width=4).astype(np.float32)
    x = np.random.default_rng(1).random((3, 1, 28, 28), dtype=np.float32)
    logits = model(x)
    assert logits.shape == (3, 10) and logits.dtype == np.float32
    dx = model.backward(np.ones_like(logits))
    assert dx.shape == x.shape
    first = model.layers[0].grads["w"]
    assert first.shape == (4, 1, 3, 3) and np.abs(first).sum() > 0       # the gradient reaches the stem


def test_the_resnet_is_seeded_and_its_width_is_checked():
    a, b, c = build_resnet(rng=5, width=4), build_resnet(rng=5, width=4), build_resnet(rng=6, width=4)
    for (name, p), (_, q), (_, r) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        assert np.array_equal(p, q), name
    assert not np.array_equal(a.layers[0].params["w"], c.layers[0].params["w"])
    for bad in (0, 2.5, "8"):
        with pytest.raises(ValueError, match="build_resnet: width"):
            build_resnet(rng=0, width=bad)


# ------------------------------------------------------------------ options

def parse(*args):
    return build_parser().parse_args(["train", *args])


@pytest.mark.parametrize("args, optimizer, expected", [
    (["--model", "resnet"], "adamw", MODEL_DEFAULTS["resnet"]["weight_decay"]),   # its own default
    (["--model", "resnet", "--optimizer", "sgd"], "sgd", 0.0),       # 0.05 is AdamW's scale, not SGD's
    (["--model", "resnet", "--weight-decay", "0"], "adamw", 0.0),
    (["--model", "lenet", "--optimizer", "sgd", "--weight-decay", "5e-4"], "sgd", 5e-4),
    (["--model", "seed"], "adam", 0.0),
])
def test_weight_decay_comes_from_the_option_else_the_model_with_its_own_optimizer(args, optimizer, expected):
    args = parse(*args)
    assert _weight_decay_for(args, MODEL_DEFAULTS[args.model], args.optimizer or optimizer) == expected


def test_the_resnet_defaults_turn_on_augmentation_and_weight_decay():
    d = MODEL_DEFAULTS["resnet"]
    assert d["augment"] and d["optimizer"] == "adamw" and d["weight_decay"] > 0
    assert not MODEL_DEFAULTS["seed"]["augment"] and not MODEL_DEFAULTS["lenet"]["augment"]
    assert parse().augment is None                  # None: the model decides
    assert parse("--augment").augment is True and parse("--no-augment").augment is False


@pytest.mark.parametrize("args, words", [
    (["--weight-decay", "-1"], "--weight-decay: must be 0 (none) or a positive number"),
    (["--weight-decay", "lots"], "--weight-decay: expected a number such as 0.05"),
    (["--weight-decay", "inf"], "--weight-decay: must be 0 (none) or a positive number"),
    (["--optimizer", "adam", "--weight-decay", "0.01"], "--weight-decay applies to --optimizer sgd or adamw"),
    (["--model", "seed", "--weight-decay", "0.01"], "use --optimizer adamw"),       # seed's default is adam
    (["--optimizer", "lbfgs"], "invalid choice: 'lbfgs'"),
])
def test_bad_weight_decay_options_exit_2_with_a_message(args, words, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "usage: python -m cnnlib train" in err


def test_help_states_the_resnet_defaults_and_the_new_options():
    code, out, _ = run_cli("train", "--help")
    assert code == 0
    text = " ".join(out.split())                    # argparse wraps lines
    assert "resnet: 10 epochs, batch 64, adamw lr 0.003 weight decay 0.05, augmented batches" in text
    assert "resnet: a small residual net with batch norm" in text
    for option in ("--optimizer {sgd,adam,adamw}", "--weight-decay", "--augment, --no-augment"):
        assert option in text, option


# ------------------------------------------------------------------ a short run

def test_one_resnet_epoch_on_the_sample_trains_augmented_and_saves_a_model_that_evaluates_the_same(tmp_path):
    save = tmp_path / "resnet.npz"
    code, out, err = run_cli("train", "--model", "resnet", "--epochs", "1", "--no-progress", "--save", str(save))
    assert code == 0, err
    assert "model: resnet (35,210 parameters)" in out
    assert "AdamW(lr=0.003, betas=(0.9, 0.999), weight_decay=0.05)" in out
    assert "Augment(shift=2, rotate=10, scale=(0.9, 1.1))" in out
    acc = float(re.search(r"^test accuracy: (\d\.\d{4})$", out, re.MULTILINE).group(1))
    assert acc > 0.8                                # one augmented epoch on 4,000 images (seed 0: 0.922)

    # the saved net, in evaluation mode (running statistics), gives exactly the reported accuracy
    _, (x_test, y_test) = load_mnist()
    model = Sequential.load(save).eval()
    assert round(accuracy(model.predict(to_input(x_test)), y_test), 4) == acc


def test_no_augment_and_sgd_weight_decay_reach_the_trainer():
    code, out, err = run_cli("train", "--model", "seed", "--epochs", "1", "--no-progress", "--optimizer", "sgd",
                             "--lr", "0.01", "--weight-decay", "5e-4", "--augment")
    assert code == 0, err
    assert "SGD(lr=0.01, momentum=0.9, weight_decay=0.0005)" in out and "Augment(shift=2" in out
    code, out, err = run_cli("train", "--model", "seed", "--epochs", "1", "--no-progress")
    assert code == 0, err
    assert "Adam(lr=0.005, betas=(0.9, 0.999)), cosine learning rate, no augmentation" in out
