"""How every check runs the learner's code (issue 12 items 5 and 9, issue 10 item 2).

A stuck loop is stopped with a plain message; an endless generator is read a bounded
number of times; printed output is shortened; numbers show the digits that differ;
diagnoses fit the mistake; and cnnlib's core cannot answer for the learner.
"""
import re
import signal
import sys
import threading
import time

import numpy as np
import pytest

import cnnlib.losses
import cnnlib.ops
from check_helpers import conv2d_single, fails_with, passes, stable_softmax
from cnnlib import ops
from cnnlib.explore.checks import (CheckFailed, check_conv2d_single, check_linear_forward, check_minibatches,
                                   check_mlp_param_count, check_momentum_step, check_relu_backward, check_softmax)
from cnnlib.explore.checks import _runner
from cnnlib.explore.checks._compare import distinct
from cnnlib.losses import SoftmaxCrossEntropy, softmax
from cnnlib.ops import conv2d_forward
from cnnlib.train import iterate_minibatches

LIMIT = 0.5     # seconds: short, so the tests are quick; the real limit is 5 s


@pytest.fixture
def short_limit(monkeypatch):
    monkeypatch.setattr(_runner, "TIME_LIMIT_SECONDS", LIMIT)


# ----------------------------------------------------------------------------- time limit

def endless(image, kernel):
    while True:
        pass


def forever():
    n = 0
    while True:
        yield n
        n += 1


def sums_an_endless_generator(image, kernel):
    return sum(forever()) * image[:1, :1]


@pytest.mark.parametrize("fn, lines", [(endless, ["while True:"]),
                                       (sums_an_endless_generator, ["while True:", "yield n", "n += 1"])])
def test_a_loop_that_never_ends_is_stopped_with_a_plain_message(short_limit, fn, lines):
    start = time.monotonic()
    message = fails_with(check_conv2d_single, fn, f"ran for more than {LIMIT:g} s", "(image 5x5, kernel 3x3)",
                         "loop that never ends", "it was running your code at line")
    assert time.monotonic() - start < LIMIT + 3
    where = message.splitlines()[-1]
    assert any(where.endswith(f"`{line}`") for line in lines), where      # a line of the endless loop


def test_the_alarm_keeps_ringing_when_the_learner_catches_it(short_limit):
    """A bare ``except`` around the first loop does not buy the second loop unlimited time."""
    def stubborn(image, kernel):
        try:
            while True:
                pass
        except BaseException:
            pass
        give_up = time.monotonic() + 10      # without a repeated alarm this test fails after 10 s
        while time.monotonic() < give_up:
            pass
        return conv2d_single(image, kernel) + 1
    start = time.monotonic()
    fails_with(check_conv2d_single, stubborn, "ran for more than")
    assert time.monotonic() - start < LIMIT + 3


def test_a_loop_is_stopped_outside_the_main_thread_too(short_limit):
    outcome = {}

    def run():
        try:
            check_conv2d_single(endless)
        except CheckFailed as e:
            outcome["message"] = str(e)

    thread = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(LIMIT + 10)
    assert not thread.is_alive(), "the watchdog did not stop the loop"
    assert "ran for more than" in outcome["message"] and "loop that never ends" in outcome["message"]
    assert time.monotonic() - start < LIMIT + 3


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM here")
def test_someone_elses_alarm_is_put_back():
    rang = []

    def theirs(signum, frame):
        rang.append(True)
    previous = signal.signal(signal.SIGALRM, theirs)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        check_conv2d_single(conv2d_single)
        assert signal.getsignal(signal.SIGALRM) is theirs
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 20 < left <= 30
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        time.sleep(0.3)
        assert rang == [True]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="no SIGALRM here")
def test_no_alarm_is_left_armed_after_a_check(short_limit, capsys):
    check_conv2d_single(conv2d_single)
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    time.sleep(LIMIT + 0.3)             # nothing goes off later either
    assert capsys.readouterr().out.startswith("✓ conv2d_single")


# ----------------------------------------------------------------------------- endless generators

def test_a_generator_that_forgets_to_move_on_is_read_a_bounded_number_of_times():
    yields = []

    def forgot_step(x, y, batch_size, rng):
        order = rng.permutation(len(y))
        start = 0
        while start < len(y):
            idx = order[start:start + batch_size]
            yields.append(1)
            yield x[idx], y[idx]            # forgot: start += batch_size

    message = fails_with(check_minibatches, forgot_step, "same batch again and again", "start += batch_size",
                         "(N=10 examples, batch_size=4)")
    assert len(yields) <= 3 + 3          # an epoch of 10 examples in batches of 4 has 3 batches
    assert "3 batches" in message


def test_a_generator_that_runs_past_the_end_is_named():
    def no_end(x, y, batch_size, rng):
        order = rng.permutation(len(y))
        start = 0
        while True:
            idx = order[start:start + batch_size]
            yield x[idx], y[idx]
            start += batch_size

    fails_with(check_minibatches, no_end, "does not stop", "one epoch has 3 batches")


def test_a_list_built_by_a_loop_that_never_ends_is_stopped(short_limit):
    def list_forever(x, y, batch_size, rng):
        order, batches, start = rng.permutation(len(y)), [], 0
        while start < len(y):
            batches.append(None)
            del batches[:]                  # keeps memory flat: the time limit must stop it
        return batches

    fails_with(check_minibatches, list_forever, "ran for more than", "(N=10 examples, batch_size=4)")


def test_minibatches_wants_something_iterable():
    fails_with(check_minibatches, lambda x, y, b, rng: 3, "returned int", "list of (xb, yb) pairs")


# ----------------------------------------------------------------------------- printed output

def test_a_flood_of_output_is_cut_to_a_few_lines(capsys):
    calls = []

    def chatty(image, kernel):
        if not calls:                       # the first hidden case only: the test stays quick
            for i in range(200_000):
                print(f"step {i}")
        calls.append(1)
        return conv2d_single(image, kernel)

    assert check_conv2d_single(chatty) is None
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) <= 25
    assert lines[0].startswith("Your function printed")
    assert lines[1] == "step 0" and lines[-2] == "step 199999"       # first and last lines kept
    assert "... 199,980 lines cut: your function printed 200,000 lines in all ..." in lines
    assert lines[-1].startswith("✓ conv2d_single")


def test_one_line_cut_is_counted_in_the_singular(capsys):
    def prints_21_lines(image, kernel):
        for i in range(_runner.OUTPUT_HEAD_LINES + _runner.OUTPUT_TAIL_LINES + 1):
            print(f"step {i}")
        return conv2d_single(image, kernel)
    _runner.call("demo", prints_21_lines, np.zeros((3, 3)), np.ones((2, 2)))
    assert "... 1 line cut: your function printed 21 lines in all ..." in capsys.readouterr().out.splitlines()


def test_count_puts_the_noun_in_the_singular_for_one_only():
    assert [_runner.count(n, "row") for n in (0, 1, 2, 1000)] == ["0 rows", "1 row", "2 rows", "1,000 rows"]
    assert _runner.count(1, "batch", "batches") == "1 batch" and _runner.count(3, "batch", "batches") == "3 batches"


def test_output_comes_before_a_failure_and_long_lines_are_cut(capsys):
    def talks_then_fails(image, kernel):
        print("x" * 100_000)
        print("to stderr", file=sys.stderr)
        sys.stdout.write("no newline at the end")
        return conv2d_single(image, kernel) + 1

    fails_with(check_conv2d_single, talks_then_fails, "is wrong at index (0, 0)")
    out = capsys.readouterr().out
    assert "99,700 more characters" in out and "to stderr" in out
    assert out.splitlines()[-1] == "no newline at the end"
    assert max(len(line) for line in out.splitlines()) < 400


def test_nothing_printed_means_only_the_verdict(capsys):
    out = passes(check_conv2d_single, conv2d_single, capsys, "conv2d_single")
    assert out.splitlines() == [out.strip()]


# ----------------------------------------------------------------------------- digits and diagnoses

def test_distinct_uses_the_digits_that_differ():
    got, expected = distinct(np.float32(0.40988299), 0.409882987)
    assert got != expected and float(got) == pytest.approx(0.40988299, abs=1e-8)
    assert distinct(1.5, 2.5) == ("1.5", "2.5")


def test_a_float32_answer_prints_different_numbers_and_names_the_dtype():
    message = fails_with(check_linear_forward, lambda x, w, b: (x @ w + b).astype(np.float32), "float32", "float64")
    got, expected = re.search(r"got (\S+), expected (\S+)", message).groups()
    assert got != expected, message
    assert "significant digits" in message


def test_a_softmax_cast_to_int_is_told_it_returned_integers():
    def cast(z):
        return stable_softmax(z).astype(int)
    message = fails_with(check_softmax, cast, "returned integers", "int64", "cast", "//")
    assert "divide exp(z) by its sum" not in message


def test_a_softmax_with_floor_division_is_told_its_decimals_were_cut():
    def floor_division(z):
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e // e.sum(axis=-1, keepdims=True)
    message = fails_with(check_softmax, floor_division, "whole numbers", "integer division")
    assert "divide exp(z) by its sum" not in message


def test_a_softmax_that_forgets_to_divide_still_gets_that_hint():
    fails_with(check_softmax, lambda z: np.exp(z - z.max(axis=-1, keepdims=True)), "divide exp(z) by its sum")


# ----------------------------------------------------------------------------- cnnlib switched off

def test_a_conv_that_calls_cnnlib_ops_fails_and_an_honest_one_passes(capsys):
    def via_module(image, kernel):
        return ops.conv2d_forward(image[None, None], kernel[None, None], np.zeros(1))[0][0, 0]

    def via_name(image, kernel):
        return conv2d_forward(image[None, None], kernel[None, None], np.zeros(1))[0][0, 0]

    for fn in (via_module, via_name):
        fails_with(check_conv2d_single, fn, "your function called cnnlib.ops.conv2d_forward: write it yourself "
                                            "with NumPy")
    passes(check_conv2d_single, conv2d_single, capsys, "conv2d_single")


def test_the_library_is_whole_again_after_the_check():
    original = cnnlib.ops.conv2d_forward

    def via_name(image, kernel):
        return conv2d_forward(image[None, None], kernel[None, None], np.zeros(1))[0][0, 0]
    with pytest.raises(CheckFailed):
        check_conv2d_single(via_name)
    assert cnnlib.ops.conv2d_forward is original and conv2d_forward is original
    assert SoftmaxCrossEntropy.forward.__name__ == "forward" and not hasattr(SoftmaxCrossEntropy.forward,
                                                                             "__locked_original__")
    out, _ = conv2d_forward(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.zeros(1))
    assert out.shape == (1, 1, 2, 2)


def test_calls_hidden_in_helpers_defaults_closures_and_objects_are_caught():
    def helper(z):
        return softmax(z)

    def through_a_helper(z):
        return helper(z)

    def through_a_default(z, f=softmax):
        return f(z)

    loss = SoftmaxCrossEntropy()

    def through_an_object(logits):
        loss.forward(logits, np.zeros(len(logits), dtype=int))
        return stable_softmax(logits)

    def swallowed(z):
        try:
            return cnnlib.losses.softmax(z)
        except BaseException:
            return stable_softmax(z)

    for fn in (through_a_helper, through_a_default, swallowed):
        fails_with(check_softmax, fn, "your function called cnnlib.losses.softmax")
    fails_with(check_softmax, lambda z: through_an_object(np.atleast_2d(z)).reshape(z.shape),
               "cnnlib.losses.SoftmaxCrossEntropy.forward")
    fails_with(check_softmax, softmax, "you passed cnnlib.losses.softmax itself")


def test_every_exercise_is_locked_against_its_library_twin():
    from cnnlib.layers import Flatten, Linear
    from cnnlib.model import Sequential
    from cnnlib.optim import SGD

    def count_with_sequential(input_shape, hidden_sizes, n_classes):
        sizes = [int(np.prod(input_shape))] + list(hidden_sizes) + [n_classes]
        return Sequential(Flatten(), *[Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]).n_params

    def with_iterate_minibatches(x, y, batch_size, rng):
        return list(iterate_minibatches(x, y, batch_size, rng=rng))

    class Holder:
        def __init__(self, p):
            self.params, self.grads = {"p": p.copy()}, {"p": np.zeros_like(p)}

    def momentum_with_sgd(param, grad, velocity, lr, momentum):
        holder = Holder(param)
        SGD(holder, lr=lr, momentum=momentum)
        return param, velocity

    fails_with(check_mlp_param_count, count_with_sequential, "called cnnlib.layers.")
    fails_with(check_minibatches, with_iterate_minibatches, "called cnnlib.train.iterate_minibatches")
    fails_with(check_momentum_step, momentum_with_sgd, "called cnnlib.optim.")


def test_other_threads_keep_the_library_while_a_check_runs():
    """A training dashboard in the background must not break while the learner's code is checked."""
    seen = []

    def honest_but_busy(dout, x):
        worker = threading.Thread(target=lambda: seen.append(cnnlib.ops.relu_forward(np.array([-1.0, 2.0]))))
        worker.start()
        worker.join(5)
        return np.where(x > 0, dout, 0.0)

    check_relu_backward(honest_but_busy)
    assert len(seen) == 4 and np.array_equal(seen[0][0], [0.0, 2.0])     # one call per case


def test_a_file_that_no_longer_compiles_is_named_not_its_old_code_checked(tmp_path, monkeypatch):
    """A syntax error saved into my_cnn.py keeps the old module loaded; the check says so first."""
    import importlib

    from cnnlib.explore.checks import check_relu_forward
    (tmp_path / "my_cnn_syntax.py").write_text("import numpy as np\n\ndef relu_forward(x):\n"
                                               "    return np.maximum(x, 0)\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("my_cnn_syntax")
    check_relu_forward(module.relu_forward)           # the version loaded: right
    (tmp_path / "my_cnn_syntax.py").write_text("import numpy as np\n\ndef relu_forward(x)\n"
                                               "    return np.maximum(x, 0)\n", encoding="utf-8")
    with pytest.raises(CheckFailed, match=r"relu_forward: your file does not compile \(my_cnn_syntax\.py, line 3: "
                                          r".*`def relu_forward\(x\)`\)\. Until it does, Python keeps running"):
        check_relu_forward(module.relu_forward)
