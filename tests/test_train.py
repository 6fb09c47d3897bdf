"""Tests for cnnlib.train (to_input, minibatches, Trainer) and the `python -m cnnlib train` CLI."""
import math
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

from cnnlib.data import load_mnist
from cnnlib.augment import Augment
from cnnlib.layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, ReLU
from cnnlib.model import Sequential, build_lenet, build_seed_net
from cnnlib.optim import SGD, Adam
from cnnlib.train import (Trainer, accuracy, cosine_schedule, iterate_minibatches, step_schedule,
                          to_input)

from conftest import ROOT


@pytest.fixture(scope="module")
def sample():
    (x_train, y_train), (x_test, y_test) = load_mnist()
    return (x_train, y_train), (x_test, y_test)


# ---------------------------------------------------------------------------- to_input

def test_to_input_scales_and_adds_channel():
    images = np.array([[[0, 51], [255, 102]]], dtype=np.uint8)   # (1, 2, 2)
    x = to_input(images)
    assert x.shape == (1, 1, 2, 2) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0], [[0.0, 0.2], [1.0, 0.4]], rtol=1e-6)
    assert images[0, 0, 1] == 51  # input untouched


def test_to_input_accepts_channel_axis_and_float64(sample):
    (x_train, _), _ = sample
    a = to_input(x_train[:5])
    b = to_input(x_train[:5, None], dtype=np.float64)
    assert a.shape == b.shape == (5, 1, 28, 28) and b.dtype == np.float64
    np.testing.assert_allclose(a, b, rtol=1e-6)
    assert 0.0 == a.min() and a.max() == 1.0


@pytest.mark.parametrize("images, words", [
    (np.zeros((2, 28, 28), dtype=np.float32), "uint8"),
    (np.zeros((2, 28, 28), dtype=np.int64), "uint8"),
    (np.zeros((28, 28), dtype=np.uint8), "images[None]"),
    (np.zeros((2, 3, 28, 28), dtype=np.uint8), "(N, H, W) or (N, 1, H, W)"),
    (np.zeros((0, 28, 28), dtype=np.uint8), "no images"),
])
def test_to_input_rejects_bad_input(images, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        to_input(images)


def test_to_input_rejects_integer_dtype():
    with pytest.raises(ValueError, match="floating"):
        to_input(np.zeros((1, 28, 28), dtype=np.uint8), dtype=np.int32)


# ---------------------------------------------------------------------------- minibatches

def test_minibatches_cover_every_example_once_per_epoch():
    x = np.arange(23 * 2).reshape(23, 2)
    y = np.arange(23)
    batches = list(iterate_minibatches(x, y, 5, rng=1))
    assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
    seen = np.concatenate([yb for _, yb in batches])
    assert sorted(seen.tolist()) == list(range(23))
    assert seen.tolist() != list(range(23))  # really shuffled
    for xb, yb in batches:  # x rows stay with their labels
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_minibatches_seeded_and_unshuffled():
    x, y = np.zeros((50, 3)), np.arange(50)
    first = [yb.tolist() for _, yb in iterate_minibatches(x, y, 8, rng=7)]
    again = [yb.tolist() for _, yb in iterate_minibatches(x, y, 8, rng=np.random.default_rng(7))]
    other = [yb.tolist() for _, yb in iterate_minibatches(x, y, 8, rng=8)]
    assert first == again and first != other
    in_order = np.concatenate([yb for _, yb in iterate_minibatches(x, y, 8, shuffle=False)])
    assert in_order.tolist() == list(range(50))


def test_minibatches_errors():
    with pytest.raises(ValueError, match="x has 5 examples .* y has 4 labels"):
        next(iterate_minibatches(np.zeros((5, 2)), np.zeros(4, dtype=int), 2))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        next(iterate_minibatches(np.zeros((5, 2)), np.zeros(5, dtype=int), 0))
    with pytest.raises(ValueError, match="labels of shape"):
        next(iterate_minibatches(np.zeros((5, 2)), np.zeros((5, 1), dtype=int), 2))


def test_accuracy():
    logits = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert accuracy(logits, np.array([1, 0, 0, 0])) == 0.75
    with pytest.raises(ValueError, match="shapes"):
        accuracy(logits, np.array([1, 0]))


def test_schedules():
    cos = cosine_schedule(1e-3, epochs=10)
    assert cos(0) == pytest.approx(1e-3) and cos(5) == pytest.approx(5e-4) and cos(10) == pytest.approx(0)
    assert all(cos(t) >= cos(t + 0.5) for t in np.arange(0, 10, 0.5))
    step = step_schedule(0.1, every=3, gamma=0.1)
    assert [step(t) for t in (0, 2.9, 3, 6)] == pytest.approx([0.1, 0.1, 0.01, 0.001])


# ---------------------------------------------------------------------------- the Trainer

def _seed_trainer(seed=0, lr=0.05, optimizer=SGD):
    model = build_seed_net(rng=seed).astype(np.float32)
    return Trainer(model, optimizer(model, lr=lr), rng=seed)


def test_train_step_returns_loss_and_acc_and_changes_params(sample):
    (x_train, y_train), _ = sample
    trainer = _seed_trainer()
    before = trainer.model[0].params["w"].copy()
    loss, acc = trainer.train_step(to_input(x_train[:32]), y_train[:32])
    assert isinstance(loss, float) and isinstance(acc, float)
    assert 1.0 < loss < 4.0 and 0.0 <= acc <= 1.0  # ~log(10) = 2.3 at the start
    assert not np.array_equal(before, trainer.model[0].params["w"])
    assert trainer.global_step == 1


def test_fit_reduces_loss_on_a_few_hundred_images(sample):
    (x_train, y_train), (x_test, y_test) = sample
    x, y = to_input(x_train[:300]), y_train[:300]
    x_val, y_val = to_input(x_test[:200]), y_test[:200]
    trainer = _seed_trainer()
    loss0, acc0 = trainer.evaluate(x_val, y_val)
    history = trainer.fit(x, y, epochs=3, batch_size=32, x_val=x_val, y_val=y_val, progress=False)
    assert history["epoch"] == [1, 2, 3]
    assert set(history) == {"epoch", "loss", "train_acc", "val_loss", "val_acc", "seconds"}
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    assert history["val_loss"][-1] < 0.5 * loss0
    assert history["val_acc"][-1] > acc0 + 0.3 and history["val_acc"][-1] > 0.6
    assert all(s > 0 for s in history["seconds"])
    assert trainer.evaluate(x_val, y_val) == pytest.approx((history["val_loss"][-1], history["val_acc"][-1]))


def test_same_seed_gives_identical_history(sample):
    (x_train, y_train), (x_test, y_test) = sample
    x, y = to_input(x_train[:200]), y_train[:200]
    x_val, y_val = to_input(x_test[:100]), y_test[:100]

    def run(seed):
        h = _seed_trainer(seed, lr=1e-3, optimizer=Adam).fit(x, y, epochs=2, batch_size=50, x_val=x_val,
                                                              y_val=y_val, progress=False)
        del h["seconds"]
        return h
    first = run(0)
    assert first == run(0)
    assert first != run(1)


def test_shuffling_comes_from_the_trainer_rng_only(sample):
    (x_train, y_train), _ = sample
    x, y = to_input(x_train[:100]), y_train[:100]
    a, b = _seed_trainer(0), _seed_trainer(0)
    np.random.seed(123)  # the global state must not matter
    ha = a.fit(x, y, epochs=1, batch_size=25, progress=False)
    np.random.seed(456)
    hb = b.fit(x, y, epochs=1, batch_size=25, progress=False)
    assert ha["loss"] == hb["loss"]
    np.testing.assert_array_equal(a.model[3].params["w"], b.model[3].params["w"])


def test_callbacks_schedule_and_stop(sample):
    (x_train, y_train), _ = sample
    x, y = to_input(x_train[:100]), y_train[:100]
    trainer = _seed_trainer()
    steps, ends = [], []
    history = trainer.fit(x, y, epochs=2, batch_size=30, progress=False, on_step=steps.append,
                          on_epoch_end=ends.append, lr_schedule=step_schedule(0.1, every=1, gamma=0.5))
    assert [(s["epoch"], s["step"]) for s in steps] == [(e, i) for e in (1, 2) for i in (1, 2, 3, 4)]
    assert [s["batch_size"] for s in steps[:4]] == [30, 30, 30, 10]
    assert [s["lr"] for s in steps] == [0.1] * 4 + [0.05] * 4
    assert [e["epoch"] for e in ends] == [1, 2] and ends[-1]["history"] is history
    assert math.isnan(history["val_acc"][0])

    # a callback can stop fit; a partial epoch is not recorded
    trainer2 = _seed_trainer()
    h = trainer2.fit(x, y, epochs=5, batch_size=30, progress=False,
                     on_step=lambda info: info["global_step"] == 6 and trainer2.stop())
    assert h["epoch"] == [1] and trainer2.global_step == 6 and trainer2.epoch == 1


def test_steps_generator_pauses_and_resumes_with_same_numbers(sample):
    (x_train, y_train), _ = sample
    x, y = to_input(x_train[:120]), y_train[:120]
    fitted = _seed_trainer()
    losses = []
    fitted.fit(x, y, epochs=2, batch_size=40, progress=False, on_step=lambda info: losses.append(info["loss"]))
    stepped = _seed_trainer()
    stepper = stepped.steps(x, y, batch_size=40)
    first = [next(stepper)["loss"] for _ in range(4)]
    # "pause": run the model for something else in between, then resume
    stepped.evaluate(x[:10], y[:10])
    rest = [next(stepper)["loss"] for _ in range(2)]
    assert first + rest == losses
    assert stepped.epoch == 2 and stepped.global_step == 6
    assert list(_seed_trainer().steps(x, y, 40, epochs=1)) and len(list(_seed_trainer().steps(x, y, 40, epochs=2))) == 6


def test_fit_errors(sample):
    (x_train, y_train), _ = sample
    x, y = to_input(x_train[:10]), y_train[:10]
    trainer = _seed_trainer()
    with pytest.raises(ValueError, match="epochs must be an integer >= 1"):
        trainer.fit(x, y, epochs=0, progress=False)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        trainer.fit(x, y, epochs=1, batch_size=0, progress=False)
    with pytest.raises(ValueError, match="x has 10 examples .* y has 9 labels"):
        trainer.fit(x, y[:9], epochs=1, progress=False)
    with pytest.raises(ValueError, match="both x_val and y_val"):
        trainer.fit(x, y, epochs=1, x_val=x, progress=False)


def test_batches_follow_the_model_dtype(sample):
    (x_train, y_train), _ = sample
    model = Sequential(Flatten(), Linear(784, 10, rng=0))  # float64 parameters
    trainer = Trainer(model, SGD(model, lr=0.1))
    trainer.train_step(to_input(x_train[:8]), y_train[:8])  # float32 batch, float64 model
    assert model[1].params["w"].dtype == np.float64 and model[1].grads["w"].dtype == np.float64


# ---------------------------------------------------------------------------- augmentation and modes

def _bn_trainer(augment=None):
    """A tiny conv net with batch norm and dropout: its output depends on the mode."""
    model = Sequential(Conv2d(1, 4, 3, padding=1, rng=0), BatchNorm2d(4), ReLU(), Flatten(),
                       Dropout(0.5, rng=1), Linear(4 * 28 * 28, 10, rng=2)).astype(np.float32)
    return Trainer(model, SGD(model, lr=0.01), rng=0, augment=augment)


def test_augment_changes_training_batches_only_and_never_the_callers_array(sample):
    (x_train, y_train), _ = sample
    xb, yb = to_input(x_train[:16]), y_train[:16]
    original = xb.copy()
    seen = []

    def spy(batch):
        seen.append((batch.shape, batch.flags.writeable))
        return batch[..., ::-1]        # mirror: a new view of the same shape

    trainer = _seed_trainer()
    trainer.augment = spy
    trainer.train_step(xb, yb)
    assert seen == [((16, 1, 28, 28), False)]
    trainer.evaluate(xb, yb)
    assert len(seen) == 1, "evaluation data must never be augmented"
    np.testing.assert_array_equal(xb, original)


def test_augment_that_works_in_place_fails_loudly_and_wrong_shapes_are_named(sample):
    (x_train, y_train), _ = sample
    xb, yb = to_input(x_train[:8]), y_train[:8]

    def in_place(batch):
        batch += 1.0
        return batch

    with pytest.raises(ValueError, match="read-only"):
        Trainer(build_seed_net(rng=0), SGD(build_seed_net(rng=0), lr=0.1), augment=in_place).train_step(xb, yb)
    model = build_seed_net(rng=0)
    with pytest.raises(ValueError, match=r"shape \(8, 1, 28, 28\) into shape \(8, 1, 26, 26\)"):
        Trainer(model, SGD(model, lr=0.1), augment=lambda b: b[:, :, 1:-1, 1:-1]).train_step(xb, yb)
    with pytest.raises(TypeError, match="augment must be a function"):
        Trainer(model, SGD(model, lr=0.1), augment="shift")


def test_augmented_training_is_repeatable_and_differs_from_plain(sample):
    (x_train, y_train), _ = sample
    x, y = to_input(x_train[:256]), y_train[:256]

    def history(augment):
        trainer = _seed_trainer()
        trainer.augment = augment
        return [trainer.train_step(xb, yb)[0] for xb, yb in iterate_minibatches(x, y, 64, rng=0)]

    first, again = history(Augment(rng=3)), history(Augment(rng=3))
    plain = history(None)
    assert first == again
    assert first != plain


def test_training_runs_in_training_mode_and_evaluation_in_eval_mode(sample):
    (x_train, y_train), _ = sample
    x, y = to_input(x_train[:64]), y_train[:64]
    trainer = _bn_trainer()
    bn = trainer.model[1]
    trainer.train_step(x, y)
    assert trainer.model.training
    stats = bn.running_mean.copy(), bn.running_var.copy()
    assert not np.array_equal(stats[0], np.zeros(4)), "a training step updates the running statistics"
    # Evaluation: running statistics untouched, dropout off (two evaluations agree), mode put back.
    first = trainer.evaluate(x, y)
    assert first == trainer.evaluate(x, y)
    np.testing.assert_array_equal(bn.running_mean, stats[0])
    np.testing.assert_array_equal(bn.running_var, stats[1])
    assert trainer.model.training and all(layer.training for layer in trainer.model)
    # Same numbers as switching to eval by hand and back.
    trainer.model.eval()
    logits = trainer.model.forward(x)
    assert trainer.evaluate(x, y)[1] == accuracy(logits, y)
    assert not trainer.model.training, "a model the caller put in eval mode stays there"
    trainer.train_step(x, y)
    assert not trainer.model.training and not bn.training
    assert not np.array_equal(bn.running_mean, stats[0]), "the step itself ran in training mode"


def test_saved_model_gives_identical_predictions(sample, tmp_path):
    (x_train, y_train), (x_test, _) = sample
    trainer = _seed_trainer()
    trainer.fit(to_input(x_train[:100]), y_train[:100], epochs=1, batch_size=25, progress=False)
    path = tmp_path / "model.npz"
    trainer.model.save(path)
    loaded = Sequential.load(path)
    x = to_input(x_test[:50])
    np.testing.assert_array_equal(loaded.predict(x), trainer.model.predict(x))


# ---------------------------------------------------------------------------- the CLI

def run_cli(*args, timeout=120, env=None):
    """Run `python -m cnnlib ...` in a fresh process; returns (exit code, stdout, stderr, seconds)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnnlib", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})
    return done.returncode, done.stdout, done.stderr, time.perf_counter() - start


FINAL_LINE = re.compile(r"^test accuracy: (\d\.\d{4})$")


def final_accuracy(stdout):
    last = stdout.strip().splitlines()[-1]
    match = FINAL_LINE.match(last)
    assert match, f"last line is not 'test accuracy: 0.XXXX': {last!r}"
    return float(match.group(1))


def test_cli_trains_the_seed_net_on_the_sample(tmp_path):
    save = tmp_path / "seed.npz"
    code, out, err, _ = run_cli("train", "--model", "seed", "--epochs", "1", "--no-progress",
                                "--save", str(save))
    assert code == 0, err
    epoch_lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 1
    assert re.match(r"epoch 1/1  loss \d\.\d{4}  train acc \d\.\d{4}  test acc \d\.\d{4}  \d+\.\d s$",
                    epoch_lines[0])
    acc = final_accuracy(out)
    assert acc > 0.8  # one epoch on 4,000 images already gets most digits right
    assert f"test acc {acc:.4f}" in epoch_lines[0]

    # the saved model gives exactly the accuracy the CLI reported
    _, (x_test, y_test) = load_mnist()
    model = Sequential.load(save)
    assert model[0].params["w"].dtype == np.float32
    assert round(accuracy(model.predict(to_input(x_test)), y_test), 4) == acc

    # same seed, same numbers; another seed, other numbers
    code2, out2, _, _ = run_cli("train", "--model", "seed", "--epochs", "1", "--no-progress")
    assert code2 == 0 and epoch_lines[0].rsplit("  ", 1)[0] in out2 and final_accuracy(out2) == acc
    _, out3, _, _ = run_cli("train", "--model", "seed", "--epochs", "1", "--no-progress", "--seed", "1")
    assert epoch_lines[0].rsplit("  ", 1)[0] not in out3


@pytest.mark.parametrize("args, words", [
    (["--epochs", "0"], "--epochs: must be at least 1"),
    (["--epochs", "two"], "--epochs: expected a whole number"),
    (["--batch-size", "0"], "--batch-size: must be at least 1"),
    (["--lr", "-1"], "--lr: must be a positive number"),
    (["--lr", "nan"], "--lr: must be a positive number"),
    (["--model", "vgg"], "invalid choice: 'vgg'"),
    (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    (["--data", "imagenet"], "invalid choice: 'imagenet'"),
    (["--seed", "-3"], "--seed: must be at least 0"),
    (["--data-dir", "/tmp"], "--data-dir applies to --data full only"),
])
def test_cli_bad_options_exit_2_with_a_message(args, words, capsys):
    from cnnlib.__main__ import main
    with pytest.raises(SystemExit) as exit_info:
        main(["train", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "usage: python -m cnnlib train" in err


def test_cli_bad_option_in_a_real_process():
    code, out, err, _ = run_cli("train", "--epochs", "0")
    assert code == 2 and out == "" and "argument --epochs: must be at least 1" in err


def test_cli_without_a_command_prints_help():
    code, _, err, _ = run_cli()
    assert code == 2 and "train" in err


def test_cli_unwritable_save_fails_before_training(tmp_path):
    missing = tmp_path / "no" / "such" / "folder" / "model.npz"
    # --data full --model lenet would take minutes: it must not get that far
    code, out, err, seconds = run_cli("train", "--data", "full", "--model", "lenet", "--save", str(missing))
    assert code == 2 and out == "" and seconds < 30
    assert f"the folder {missing.parent} does not exist" in err
    code, out, err, _ = run_cli("train", "--save", str(tmp_path))
    assert code == 2 and "is a folder" in err

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    target = locked if not os.access(locked, os.W_OK) else "/proc"  # root may write anywhere but /proc
    code, out, err, seconds = run_cli("train", "--data", "full", "--model", "lenet",
                                      "--save", os.path.join(target, "model.npz"))
    assert code == 2 and out == "" and seconds < 30
    assert f"cannot write into the folder {target}" in err


def _write_gz(path, data):
    import gzip
    with gzip.open(path, "wb") as f:
        f.write(data)


def test_cli_data_errors_exit_1_without_a_traceback(tmp_path):
    from cnnlib.data import MNIST_FILES
    # well-formed IDX files with the wrong content: the checksum must catch them
    for name in MNIST_FILES:
        if "labels" in name:
            _write_gz(tmp_path / name, bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + bytes([3, 4]))
        else:
            _write_gz(tmp_path / name, bytes([0, 0, 8, 3]) + b"".join(n.to_bytes(4, "big") for n in (2, 28, 28))
                      + bytes(2 * 28 * 28))
    code, out, err, _ = run_cli("train", "--data", "full", "--data-dir", str(tmp_path), "--no-progress")
    assert code == 1 and "Traceback" not in err
    assert err.startswith("error: could not load the MNIST data.") and "SHA-256" in err
    assert "epoch" not in out

    # a data dir that cannot exist (its parent is a file): no download is even tried
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, out, err, _ = run_cli("train", "--data", "full", "--data-dir", str(blocker / "mnist"), "--no-progress")
    assert code == 1 and "Traceback" not in err and str(blocker) in err


def _full_mnist_dir():
    """CNNLIB_DATA_DIR, else the shared copy beside the project; None if neither holds MNIST."""
    from cnnlib.data import MNIST_FILES
    folder = os.environ.get("CNNLIB_DATA_DIR") or str(ROOT.parent / "shared" / "data" / "mnist")
    if all(os.path.isfile(os.path.join(folder, name)) for name in MNIST_FILES):
        return folder
    message = f"full MNIST not found in {folder} (set CNNLIB_DATA_DIR)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.mark.slow
def test_cli_lenet_on_full_mnist_reaches_99_percent():
    folder = _full_mnist_dir()
    code, out, err, seconds = run_cli("train", "--data", "full", "--model", "lenet", timeout=3600, env={"CNNLIB_DATA_DIR": folder})
    assert code == 0, err
    print(out, f"({seconds:.0f} s)")
    assert final_accuracy(out) >= 0.99



def test_cli_data_error_names_the_cli_option_not_the_python_argument(tmp_path, capsys):
    """The loader's advice says data_dir=...; the CLI's says --data-dir (issue 11 item 20)."""
    from cnnlib.__main__ import EXIT_DATA, _data_error
    from cnnlib.data import MNISTError
    missing = tmp_path / "no-such-folder"
    with pytest.raises(MNISTError) as info:        # download=False: no network is touched
        load_mnist("full", data_dir=missing, download=False)
    assert "data_dir" in str(info.value)
    assert _data_error(str(info.value)) == EXIT_DATA
    err = capsys.readouterr().err
    assert "--data-dir" in err and "data_dir" not in err, err
    assert not missing.exists()
